//! `qiao secrets rotate`: every secret at rest moves from the master key in use to a new one — the store's
//! (subscriber secrets, connector kv values; one transaction) and the config file's `qenc:` values (rewritten in
//! place, the rest of the file kept byte for byte, written aside then renamed).
//!
//! Nothing is changed unless every value opens with the current key first. Values already sealed with the new
//! key are left as they are, so a rotation cut short (e.g. the config could not be written after the store was
//! re-sealed) is finished by running it again. The server must be stopped meanwhile: one still running would
//! go on sealing with the old key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use qiao_config::{ConfigFile, SecretSource};
use qiao_store::{Db, Resealed};
use qiao_store::DB_FILE;
use qiao_secrets::{self as secrets, MasterKey};

/// What a rotation did to the config file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConfigResealed {
    /// Encrypted secrets rewritten for the new key.
    pub resealed: usize,
    /// Encrypted secrets already under the new key.
    pub already: usize,
    /// `qenc:` values under the old key left where they are: not a connection's secret (in a comment, say).
    pub left: usize,
}

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Rotation {
    /// The store and what was re-sealed in it; `None` when there is no store yet.
    pub store: Option<(PathBuf, Resealed)>,
    /// The config file and what was rewritten in it; `None` when none was given.
    pub config: Option<(PathBuf, ConfigResealed)>,
}

/// Re-seals the store in `data_dir` and the `qenc:` values of `config` with `new`.
pub fn rotate(
    data_dir: &Path,
    config: Option<&Path>,
    current: &MasterKey,
    new: &MasterKey,
) -> Result<Rotation> {
    if current.id() == new.id() {
        bail!(
            "the new key is the master key in use ({}): make a new one with `qiao secrets keygen`",
            new.id()
        );
    }
    // The config first, in memory: every value must open before anything is changed.
    let config = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let (rewritten, counts) = reseal_config_text(&text, current, new)
                .with_context(|| format!("config file {}", path.display()))?;
            Some((path.to_path_buf(), text, rewritten, counts))
        }
        None => None,
    };
    let db_path = data_dir.join(DB_FILE);
    let store = if db_path.exists() {
        Some((db_path.clone(), Db::reseal(&db_path, current, new)?))
    } else {
        None
    };
    let mut rotation = Rotation {
        store,
        config: None,
    };
    if let Some((path, text, rewritten, counts)) = config {
        if rewritten != text {
            replace_file(&path, &rewritten).with_context(|| {
                format!(
                    "{}cannot rewrite config file {}: run the same command again (values already under the new \
                     key are skipped)",
                    if rotation.store.is_some() { "the store was re-sealed, but " } else { "" },
                    path.display()
                )
            })?;
        }
        rotation.config = Some((path, counts));
    }
    Ok(rotation)
}

/// The config text with each connection's encrypted secrets re-encrypted with `new`, everything else as it was.
pub fn reseal_config_text(
    text: &str,
    current: &MasterKey,
    new: &MasterKey,
) -> Result<(String, ConfigResealed)> {
    let file: ConfigFile = toml::from_str(text).context("invalid config file")?;
    let mut out = text.to_string();
    let mut done = ConfigResealed::default();
    for (name, spec) in &file.connections {
        for (key, source) in &spec.secrets {
            let SecretSource::Inline(sealed) = source else {
                continue;
            };
            if !secrets::is_sealed(sealed) {
                continue;
            }
            let place = secrets::config_place(name, key);
            let what = || format!("connection {name}: secret {key}");
            if secrets::sealed_key_id(sealed) == Some(new.id()) {
                new.open(sealed, &place)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
                done.already += 1;
                continue;
            }
            let plaintext = current
                .open(sealed, &place)
                .map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
            // A sealed value has no character TOML escapes, so it is in the file as it was parsed.
            if !out.contains(sealed.as_str()) {
                bail!(
                    "{}: the value is not written as a plain string in the file; write it as `qiao secrets \
                     encrypt` printed it",
                    what()
                );
            }
            out = out.replace(sealed.as_str(), &new.seal(&plaintext, &place));
            done.resealed += 1;
        }
    }
    done.left = out.matches(&format!("qenc:v1:{}:", current.id())).count();
    Ok((out, done))
}

/// Replaces a file's contents through a file written aside (same directory, same permissions) and renamed over
/// it, so the file is never seen half-written. A symlink is followed: its target is replaced.
fn replace_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = std::fs::canonicalize(path)?;
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o7777;
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().context("the config file has no name")?);
    name.push(".rotate-tmp");
    let tmp = path.with_file_name(name);
    // Left by a run that was cut short.
    let _ = std::fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key: &MasterKey) -> String {
        format!(
            "# the HQ tenant\n[connections.hq]\nconnector = \"dingtalk\"   # keep\nsecrets = {{ app_secret = \"{}\", \
             plain = \"p\", env = {{ env = \"X\" }} }}\n\n[connections.b]\nconnector = 'x'\nsecrets = {{ s = '{}' }}\n\
             # old: {}\n",
            key.seal(b"s3cret", &secrets::config_place("hq", "app_secret")),
            key.seal(b"other", &secrets::config_place("b", "s")),
            key.seal(b"stale", "nowhere"),
        )
    }

    #[test]
    fn config_values_are_rewritten_in_place() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let text = config(&old);
        let (out, done) = reseal_config_text(&text, &old, &new).unwrap();
        assert_eq!(
            done,
            ConfigResealed {
                resealed: 2,
                already: 0,
                left: 1
            }
        );
        // Everything but the two values is as it was.
        let strip = |t: &str, key: &MasterKey| {
            t.split(&format!("qenc:v1:{}:", key.id()))
                .map(|part| {
                    part.trim_start_matches(|c: char| {
                        c.is_ascii_alphanumeric() || c == '-' || c == '_'
                    })
                })
                .collect::<Vec<_>>()
                .join("<v>")
        };
        let comment = text.lines().last().unwrap();
        assert!(
            out.ends_with(&format!("{comment}\n")),
            "the comment is left"
        );
        assert_eq!(
            strip(&out.replace(comment, ""), &new),
            strip(&text.replace(comment, ""), &old)
        );
        let file: ConfigFile = toml::from_str(&out).unwrap();
        let conns = file.connections(|_| Some("e".into()), Some(&new)).unwrap();
        assert_eq!(conns[1].values["app_secret"], "s3cret");
        assert_eq!(conns[0].values["s"], "other");

        // Run again (after a cut-short rotation): nothing more to do.
        let (again, done) = reseal_config_text(&out, &old, &new).unwrap();
        assert_eq!((again == out, done.resealed, done.already), (true, 0, 2));
        // The wrong current key: an error naming the connection and key, nothing rewritten.
        let stranger = MasterKey::generate();
        let err = format!(
            "{:#}",
            reseal_config_text(&text, &stranger, &new).unwrap_err()
        );
        assert!(
            err.contains("connection b: secret s: encrypted with master key"),
            "{err}"
        );
    }

    #[test]
    fn rotate_rewrites_the_file_atomically_and_refuses_the_same_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let path = dir.path().join("qiao.toml");
        std::fs::write(&path, config(&old)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = rotate(dir.path(), Some(&path), &old, &old.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the new key is the master key in use"),
            "{err}"
        );
        let rotation = rotate(dir.path(), Some(&path), &old, &new).unwrap();
        assert!(rotation.store.is_none(), "no store in this data dir");
        assert_eq!(rotation.config.unwrap().1.resealed, 2);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("qenc:v1:{}:", new.id())));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
