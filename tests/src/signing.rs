//! Signed components in tests. The default `[trust]` policy is `require`, so the harness runs the components the
//! way an operator would: each with the `.sig` that `scripts/sign-connectors.sh` made with the local build key
//! (publisher `qiao-build`, `target/signing/qiao-build.{key,pub}`; `make test` runs it), and a config that trusts
//! that key when the test's own config says nothing about trust.

use std::path::{Path, PathBuf};

/// The publisher name of the build key.
pub const BUILD_PUBLISHER: &str = "qiao-build";

fn signing_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/signing")
}

const SIGN_HINT: &str = "run `make test`, or scripts/sign-connectors.sh target/debug/qiao after building the connectors and qiao";

/// The publisher of the connectors under `plugins/` (written as a third party writes one): `scripts/sign-connectors.sh`
/// signs them with its own key, so a config must trust it by name besides the build key.
pub const PLUGIN_PUBLISHER: &str = "acme-labs";

/// The build key's public key (base64), from `target/signing/qiao-build.pub`.
pub fn build_public_key() -> String {
    public_key(BUILD_PUBLISHER)
}

/// A local publisher's public key (base64), from `target/signing/PUBLISHER.pub`.
pub fn public_key(publisher: &str) -> String {
    let path = signing_dir().join(format!("{publisher}.pub"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{publisher}'s public key {} cannot be read ({e}): {SIGN_HINT}",
            path.display()
        )
    });
    let key = text.trim().to_string();
    if let Err(e) = qiao_trust::decode_public_key(&key) {
        panic!("{} is {e}: {SIGN_HINT}", path.display());
    }
    key
}

/// A `[trust]` section that trusts the build key and each of `publishers` (local keys, by name).
pub fn trust(publishers: &[&str]) -> String {
    let listed: Vec<String> = std::iter::once(BUILD_PUBLISHER)
        .chain(publishers.iter().copied())
        .map(|p| format!("{p} = \"{}\"", public_key(p)))
        .collect();
    format!("[trust]\npolicy = \"require\"\npublishers = {{ {} }}\n", listed.join(", "))
}

/// A `.sig` file's contents for `bytes`, signed with the build key (for tests that install files they made).
pub fn build_signature(bytes: &[u8]) -> String {
    let path = signing_dir().join(format!("{BUILD_PUBLISHER}.key"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the build signing key {} cannot be read ({e}): {SIGN_HINT}",
            path.display()
        )
    });
    let key = qiao_trust::decode_private_key(&text)
        .unwrap_or_else(|e| panic!("{}: {e}: {SIGN_HINT}", path.display()));
    qiao_trust::sign(bytes, &key, BUILD_PUBLISHER).to_json()
}

/// The `[trust]` section that trusts the build key.
pub fn build_trust() -> String {
    trust(&[])
}

/// `config` as the harness runs it: with a `[trust]` section trusting the build key appended when it has
/// none (a config that does not parse is left as it is, for the server to refuse).
pub fn with_build_trust(config: &str) -> String {
    match config.parse::<toml::Table>() {
        Ok(table) if !table.contains_key("trust") => {
            let newline = if config.is_empty() || config.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            format!("{config}{newline}\n{}", build_trust())
        }
        _ => config.to_string(),
    }
}

/// `NAME.wasm` → `NAME.wasm.sig`.
pub fn sig_path(file: &Path) -> PathBuf {
    let mut sig = file.as_os_str().to_owned();
    sig.push(".sig");
    PathBuf::from(sig)
}

/// The built component `name` and its signature, copied into `plugins_dir` as `NAME.wasm` and
/// `NAME.wasm.sig`. Panics, saying what to run, when the signature is missing or older than the component.
pub fn copy_component(name: &str, plugins_dir: &Path) -> std::io::Result<()> {
    let wasm = crate::component(name);
    let sig = signature_of(&wasm);
    let target = plugins_dir.join(format!("{name}.wasm"));
    std::fs::copy(sig, sig_path(&target))?;
    std::fs::copy(&wasm, &target)?;
    Ok(())
}

/// The `.sig` next to a built component; panics when it is missing or older than the component (rebuilt since
/// it was signed).
pub fn signature_of(wasm: &Path) -> PathBuf {
    let sig = sig_path(wasm);
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified());
    match (modified(wasm), modified(&sig)) {
        (Ok(built), Ok(signed)) if signed >= built => sig,
        (_, Ok(_)) => panic!(
            "{} was rebuilt after it was signed: {SIGN_HINT}",
            wasm.display()
        ),
        (_, Err(e)) => panic!("{} is missing ({e}): {SIGN_HINT}", sig.display()),
    }
}
