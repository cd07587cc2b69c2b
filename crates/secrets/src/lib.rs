//! qiao-secrets: secrets at rest — the master key, and sealing a secret value with it. Must not know about the
//! store, the config file or anything that runs: it seals and opens bytes for a named place.
//!
//! A sealed value is text: `qenc:v1:<key id>:<base64url(nonce || ciphertext)>`, made with XChaCha20-Poly1305
//! (a random 24-byte nonce per value). The key id is the first 8 hex digits of sha256(master key), so a value
//! opened with another key fails with an error naming both ids instead of a bare "decryption failed".
//!
//! Each value is bound (as AEAD associated data) to the place it lives: `config:<connection>:<key>`,
//! `subscription:<id>`, `kv:<connection>:<key>` (see [`config_place`], [`subscription_place`], [`kv_place`]).
//! A value copied to another place does not open.
//!
//! The master key comes, in order, from `QIAO_MASTER_KEY` (base64 of 32 bytes), a key file
//! (`--master-key-file` / `QIAO_MASTER_KEY_FILE`), or `<data_dir>/master.key`, which `qiao serve` creates on
//! first start (see [`load_master_key`]). Nothing here ever prints key material or a secret: not in `Debug`,
//! not in an error.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every sealed value starts with this; a config string with it is decrypted at load.
pub const PREFIX: &str = "qenc:";
/// The format this version writes and reads.
const V1: &str = "qenc:v1:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The environment variable holding the master key itself (base64).
pub const KEY_ENV: &str = "QIAO_MASTER_KEY";
/// The key file `qiao serve` uses (and creates) in its data directory when no other source is given.
pub const DATA_DIR_KEY_FILE: &str = "master.key";

/// The 32-byte key every secret at rest is sealed with. Cloning copies the key; every copy is wiped on drop.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
    id: String,
}

impl fmt::Debug for MasterKey {
    // By hand: the key id only, never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// Why a sealed value did not open. Never carries the value, sealed or not.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("not an encrypted value (those start with {V1})")]
    NotSealed,
    #[error("encrypted in a format this version does not read ({0}; it reads qenc:v1)")]
    UnknownFormat(String),
    #[error("the encrypted value is malformed ({0})")]
    Malformed(&'static str),
    #[error("encrypted with master key {sealed_with}, but the master key in use is {in_use}")]
    WrongKey { sealed_with: String, in_use: String },
    #[error(
        "does not decrypt with master key {0}: the value was altered, or it was encrypted for another place \
         (each value is bound to where it is stored)"
    )]
    Refused(String),
    #[error("the decrypted value is not UTF-8 text")]
    NotText,
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> MasterKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        MasterKey::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        MasterKey { bytes, id }
    }

    /// Reads base64 (standard or URL-safe, padded or not, surrounding whitespace ignored) of exactly 32 bytes.
    /// The error says what is wrong, never what was read.
    pub fn decode(text: &str) -> Result<MasterKey, String> {
        let text = text.trim();
        let decoded = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or("not valid base64 (a master key is base64 of 32 random bytes)")?;
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            format!(
                "the key is {} bytes, a master key is 32 (make one with `qiao secrets keygen`)",
                decoded.len()
            )
        })?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Base64 (standard, padded): what key files and `QIAO_MASTER_KEY` hold.
    pub fn encode(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// First 8 hex digits of sha256(key): names the key in sealed values and errors without revealing it.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.bytes))
    }

    /// Seals `plaintext` for `place` (see the module doc): `qenc:v1:<key id>:<base64url(nonce || ciphertext)>`.
    pub fn seal(&self, plaintext: &[u8], place: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: place.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any in-memory message");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{V1}{}:{}", self.id, URL_SAFE_NO_PAD.encode(blob))
    }

    /// Opens a value sealed for `place`.
    pub fn open(&self, sealed: &str, place: &str) -> Result<Vec<u8>, SecretError> {
        let (key_id, blob) = parse(sealed)?;
        if key_id != self.id {
            return Err(SecretError::WrongKey {
                sealed_with: key_id.to_string(),
                in_use: self.id.clone(),
            });
        }
        let blob = URL_SAFE_NO_PAD
            .decode(blob)
            .map_err(|_| SecretError::Malformed("not base64url"))?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Malformed("too short"));
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: place.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Refused(self.id.clone()))
    }

    /// [`MasterKey::open`] for a value that is text (config secrets, subscriber secrets).
    pub fn open_string(&self, sealed: &str, place: &str) -> Result<String, SecretError> {
        String::from_utf8(self.open(sealed, place)?).map_err(|_| SecretError::NotText)
    }
}

/// Whether `text` is a sealed value (of any version): starts with `qenc:`.
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The id of the key a sealed value was sealed with (`None` when it is not a well-formed v1 value).
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    parse(sealed).ok().map(|(id, _)| id)
}

/// `qenc:v1:<id>:<blob>` → (id, blob).
fn parse(sealed: &str) -> Result<(&str, &str), SecretError> {
    let Some(rest) = sealed.strip_prefix(PREFIX) else {
        return Err(SecretError::NotSealed);
    };
    let Some(rest) = rest.strip_prefix("v1:") else {
        let version = rest.split(':').next().unwrap_or_default();
        // The version is short and chosen by us; anything longer is not worth echoing.
        let version: String = version.chars().take(8).collect();
        return Err(SecretError::UnknownFormat(format!("{PREFIX}{version}")));
    };
    let (id, blob) = rest
        .split_once(':')
        .ok_or(SecretError::Malformed("no key id"))?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SecretError::Malformed("the key id is not 8 hex digits"));
    }
    Ok((id, blob))
}

/// Where a connection's secret written in the config lives.
pub fn config_place(connection: &str, key: &str) -> String {
    format!("config:{connection}:{key}")
}

/// Where a subscriber's signing secret lives.
pub fn subscription_place(id: i64) -> String {
    format!("subscription:{id}")
}

/// Where a connector's key-value entry lives.
pub fn kv_place(connection: &str, key: &str) -> String {
    format!("kv:{connection}:{key}")
}

/// Where the master key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `QIAO_MASTER_KEY`.
    Env,
    /// `--master-key-file` / `QIAO_MASTER_KEY_FILE`.
    File(PathBuf),
    /// `<data_dir>/master.key`, which existed.
    DataDir(PathBuf),
    /// `<data_dir>/master.key`, created now.
    Generated(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env => write!(f, "{KEY_ENV}"),
            KeySource::File(path) => write!(f, "key file {}", path.display()),
            KeySource::DataDir(path) => write!(f, "{}", path.display()),
            KeySource::Generated(path) => write!(f, "{} (generated now)", path.display()),
        }
    }
}

/// The master key, from (in order) `QIAO_MASTER_KEY`, `key_file`, or `<data_dir>/master.key`. When none of them
/// gives one and `create` is set, a new key is written to `<data_dir>/master.key` (mode 0600) with a warning;
/// otherwise that is an error.
pub fn load_master_key(
    key_file: Option<&Path>,
    data_dir: &Path,
    create: bool,
) -> Result<(MasterKey, KeySource)> {
    let env = match std::env::var(KEY_ENV) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            bail!("{KEY_ENV} is not valid base64 (a master key is base64 of 32 random bytes)")
        }
    };
    load_master_key_from(env, key_file, data_dir, create)
}

/// [`load_master_key`] with the value of `QIAO_MASTER_KEY` passed in (so tests need not set the environment).
pub fn load_master_key_from(
    env: Option<String>,
    key_file: Option<&Path>,
    data_dir: &Path,
    create: bool,
) -> Result<(MasterKey, KeySource)> {
    if let Some(value) = env.filter(|v| !v.trim().is_empty()) {
        if let Some(file) = key_file {
            tracing::warn!(
                ignored = %file.display(),
                "{KEY_ENV} is set, so it is the master key; the master key file is ignored"
            );
        }
        let key = MasterKey::decode(&value).map_err(|e| anyhow::anyhow!("{KEY_ENV}: {e}"))?;
        return Ok((key, KeySource::Env));
    }
    if let Some(file) = key_file {
        let key = read_key_file(file)?
            .with_context(|| format!("master key file {} does not exist", file.display()))?;
        return Ok((key, KeySource::File(file.to_path_buf())));
    }
    let default = data_dir.join(DATA_DIR_KEY_FILE);
    if let Some(key) = read_key_file(&default)? {
        return Ok((key, KeySource::DataDir(default)));
    }
    if !create {
        bail!(
            "no master key: {KEY_ENV} and --master-key-file (QIAO_MASTER_KEY_FILE) are not set and {} does \
             not exist",
            default.display()
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let key = MasterKey::generate();
    match write_new_key_file(&default, &key) {
        Ok(()) => {}
        // Made meanwhile by another process on the same data dir: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Some(key) = read_key_file(&default)? {
                return Ok((key, KeySource::DataDir(default)));
            }
        }
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", default.display())),
    }
    tracing::warn!(
        key_id = %key.id(),
        "generated a master key in {}; keep it outside the data dir in production (--master-key-file or \
         {KEY_ENV}), and back it up: the secrets in the store cannot be read without it",
        default.display()
    );
    Ok((key, KeySource::Generated(default)))
}

/// A key file's key; `None` when the file does not exist. Warns when other users can read it.
fn read_key_file(path: &Path) -> Result<Option<MasterKey>> {
    use std::os::unix::fs::PermissionsExt;
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read master key file {}", path.display()));
        }
    };
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o007 != 0
    {
        tracing::warn!(
            "master key file {} can be read by every user on this machine: chmod 600 it",
            path.display()
        );
    }
    let text = String::from_utf8(text).map_err(|_| {
        anyhow::anyhow!(
            "master key file {}: not valid base64 (a master key is base64 of 32 random bytes)",
            path.display()
        )
    })?;
    MasterKey::decode(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("master key file {}: {e}", path.display()))
}

/// Writes a new key file (mode 0600); never replaces an existing file (`AlreadyExists`).
pub fn write_new_key_file(path: &Path, key: &MasterKey) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{}\n", key.encode()).as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"s3cret", "config:hq:app_secret");
        assert!(
            sealed.starts_with(&format!("qenc:v1:{}:", key.id())),
            "{sealed}"
        );
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            key.open(&sealed, "config:hq:app_secret").unwrap(),
            b"s3cret"
        );
        assert_eq!(
            key.open_string(&sealed, "config:hq:app_secret").unwrap(),
            "s3cret"
        );
        assert_ne!(
            key.seal(b"s3cret", "p"),
            key.seal(b"s3cret", "p"),
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&key.seal(b"", "p"), "p").unwrap(), b"");
        assert_eq!(sealed_key_id(&sealed), Some(key.id()));
        assert!(is_sealed(&sealed) && !is_sealed("whsec_x"));
    }

    #[test]
    fn the_wrong_key_is_a_clear_error() {
        let (a, b) = (MasterKey::generate(), MasterKey::generate());
        let err = b.open(&a.seal(b"x", "p"), "p").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "encrypted with master key {}, but the master key in use is {}",
                a.id(),
                b.id()
            )
        );
    }

    #[test]
    fn tampered_values_are_refused() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"a secret value", "p");
        let (head, blob) = sealed.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(blob).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(
                matches!(key.open(&tampered, "p"), Err(SecretError::Refused(_))),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        let truncated = &sealed[..sealed.len() - 4];
        assert!(key.open(truncated, "p").is_err());
        assert_eq!(
            key.open(&format!("{head}:AAAA"), "p"),
            Err(SecretError::Malformed("too short"))
        );
        assert_eq!(key.open("whsec_abc", "p"), Err(SecretError::NotSealed));
        assert_eq!(
            key.open("qenc:v9:abc", "p"),
            Err(SecretError::UnknownFormat("qenc:v9".into()))
        );
        assert!(matches!(
            key.open("qenc:v1:zz:abc", "p"),
            Err(SecretError::Malformed(_))
        ));
    }

    #[test]
    fn a_value_does_not_open_in_another_place() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"x", &config_place("hq", "app_secret"));
        for other in [
            config_place("hq", "aes_key"),
            config_place("branch", "app_secret"),
            kv_place("hq", "app_secret"),
            subscription_place(1),
        ] {
            let err = key.open(&sealed, &other).unwrap_err();
            assert!(matches!(err, SecretError::Refused(_)), "{other}: {err}");
            assert!(err.to_string().contains("another place"), "{err}");
        }
    }

    #[test]
    fn keys_encode_and_decode_and_never_print() {
        let key = MasterKey::generate();
        let again = MasterKey::decode(&format!("  {}\n", key.encode())).unwrap();
        assert_eq!(again.id(), key.id());
        let url_safe = URL_SAFE_NO_PAD.encode(key.bytes);
        assert_eq!(MasterKey::decode(&url_safe).unwrap().id(), key.id());
        let debug = format!("{key:?}");
        assert!(
            debug.contains(key.id()) && !debug.contains(&key.encode()[..10]),
            "{debug}"
        );
        assert!(
            MasterKey::decode("not base64!")
                .unwrap_err()
                .contains("not valid base64")
        );
        let short = STANDARD.encode([7u8; 16]);
        let err = MasterKey::decode(&short).unwrap_err();
        assert!(err.contains("16 bytes") && !err.contains(&short), "{err}");
    }

    #[test]
    fn key_sources_in_order_and_a_generated_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // Nothing there: not created unless asked.
        let err = load_master_key_from(None, None, &data, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no master key") && err.contains("master.key"),
            "{err}"
        );
        let (made, source) = load_master_key_from(None, None, &data, true).unwrap();
        let path = data.join("master.key");
        assert_eq!(source, KeySource::Generated(path.clone()));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (again, source) = load_master_key_from(None, None, &data, true).unwrap();
        assert_eq!((again.id(), source), (made.id(), KeySource::DataDir(path)));

        let file_key = MasterKey::generate();
        let file = dir.path().join("other.key");
        write_new_key_file(&file, &file_key).unwrap();
        assert_eq!(
            write_new_key_file(&file, &file_key).unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        let (key, source) = load_master_key_from(None, Some(&file), &data, true).unwrap();
        assert_eq!(
            (key.id(), source),
            (file_key.id(), KeySource::File(file.clone()))
        );

        let env_key = MasterKey::generate();
        let (key, source) =
            load_master_key_from(Some(env_key.encode()), Some(&file), &data, true).unwrap();
        assert_eq!((key.id(), source), (env_key.id(), KeySource::Env));

        // Bad values name their source, never the value.
        let err = load_master_key_from(Some("c2hvcnQ=".into()), None, &data, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("QIAO_MASTER_KEY: ") && !err.contains("c2hvcnQ"),
            "{err}"
        );
        std::fs::write(&file, "bm9wZQ==").unwrap();
        let err = load_master_key_from(None, Some(&file), &data, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("other.key") && !err.contains("bm9wZQ"),
            "{err}"
        );
        let missing = dir.path().join("missing.key");
        let err = load_master_key_from(None, Some(&missing), &data, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.key") && err.contains("does not exist"),
            "{err}"
        );
    }
}
