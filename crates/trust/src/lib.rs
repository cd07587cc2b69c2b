//! qiao-trust: signed connectors. Must not know about loading or running components.
//!
//! Signed connectors: a connector file `NAME.wasm` may come with a detached signature `NAME.wasm.sig`, and the
//! operator lists the publishers whose keys they trust (`[trust]` in `qiao.toml`).
//!
//! ```json
//! {"version": 1, "algorithm": "ed25519", "publisher": "acme", "public_key": "<base64, 32 bytes>",
//!  "sha256": "<hex sha256 of the .wasm file>", "signature": "<base64 ed25519 signature over the 32 raw bytes of that sha256>"}
//! ```
//!
//! Pure functions only: [`sign`] and [`verify`] take bytes and return values; reading files and deciding what to
//! load is the connector directory's business (`qiao_runtime::connectors`), writing keys the command line's (`qiao connectors`).
//! The one exception is [`TrustConfig::read_key_files`], which reads the publishers' keys given as files
//! (`publishers = { acme = { key_file = "acme.pub" } }`) once the config file is loaded.
//!
//! The default policy is `require`: without a `[trust]` section no connector loads until its publisher is
//! listed. The connectors bundled with Qiao are signed at build time with a local build key (publisher
//! `qiao-build`, public key in `target/signing/qiao-build.pub`: `scripts/sign-connectors.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only `version` of the signature file format.
pub const FORMAT_VERSION: u32 = 1;
/// The only `algorithm`.
pub const ALGORITHM: &str = "ed25519";
/// Signature files larger than this are refused unread (a real one is about 300 bytes).
pub const MAX_SIG_BYTES: u64 = 64 * 1024;

/// What happens to a connector file that is not verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Not loaded: only files signed by a listed publisher are. The default.
    #[default]
    Require,
    /// Loaded anyway, with a warning.
    Warn,
    /// Signatures are not read.
    Off,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Require => "require",
            Policy::Warn => "warn",
            Policy::Off => "off",
        }
    }
}

/// `[trust]` in `qiao.toml`: the policy and the trusted publishers' public keys. Without the section: policy
/// `require` and no publisher, so no connector loads (see [`TrustConfig::startup_warning`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TrustSection")]
pub struct TrustConfig {
    pub policy: Policy,
    /// Publisher name → its ed25519 public key.
    pub publishers: BTreeMap<String, VerifyingKey>,
    /// Publishers whose key is given as a file (`{ key_file = "…" }`), as written, not read yet:
    /// [`TrustConfig::read_key_files`] (called by `ConfigFile::load`) moves them into `publishers`.
    pub key_files: BTreeMap<String, PathBuf>,
}

/// `[trust]` as written; checked into a [`TrustConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustSection {
    #[serde(default)]
    policy: Policy,
    #[serde(default)]
    publishers: BTreeMap<String, PublisherKey>,
}

/// A publisher's public key as written: inline (base64), or the path of a file holding it.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a base64 ed25519 public key, or { key_file = \"PATH\" } naming a file holding one"
)]
enum PublisherKey {
    Inline(String),
    File(KeyFile),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    key_file: PathBuf,
}

impl TryFrom<TrustSection> for TrustConfig {
    type Error = String;

    fn try_from(section: TrustSection) -> Result<TrustConfig, String> {
        let mut publishers = BTreeMap::new();
        let mut key_files = BTreeMap::new();
        for (name, key) in section.publishers {
            match key {
                PublisherKey::Inline(key) => {
                    let key = decode_public_key(&key)
                        .map_err(|e| format!("[trust] publishers.{name}: {e}"))?;
                    publishers.insert(name, key);
                }
                PublisherKey::File(KeyFile { key_file }) => {
                    if key_file.as_os_str().is_empty() {
                        return Err(format!("[trust] publishers.{name}: key_file is empty"));
                    }
                    key_files.insert(name, key_file);
                }
            }
        }
        // An explicit [trust] section that requires signatures but trusts nobody is a mistake, not a choice.
        // (Without any [trust] section the policy is require too, and the server only warns: see
        // `startup_warning`.)
        if section.policy == Policy::Require && publishers.is_empty() && key_files.is_empty() {
            return Err(
                "[trust] policy = \"require\" (the default) needs at least one publisher in \
                 [trust.publishers] (otherwise no connector can load); for development, \
                 policy = \"off\""
                    .into(),
            );
        }
        Ok(TrustConfig {
            policy: section.policy,
            publishers,
            key_files,
        })
    }
}

impl TrustConfig {
    /// Reads the publishers' keys given as files into `publishers`; a relative path is relative to `base_dir`
    /// (the config file's directory).
    pub fn read_key_files(&mut self, base_dir: &Path) -> Result<(), String> {
        for (name, path) in std::mem::take(&mut self.key_files) {
            let path = base_dir.join(path);
            let key = read_public_key_file(&path)
                .map_err(|e| format!("[trust] publishers.{name}: {e}"))?;
            self.publishers.insert(name, key);
        }
        Ok(())
    }

    /// What to warn about at start: nothing can load (policy `require` and no publisher listed, which is
    /// what no `[trust]` section means).
    pub fn startup_warning(&self) -> Option<String> {
        (self.policy == Policy::Require && self.publishers.is_empty() && self.key_files.is_empty())
            .then(|| {
                "no connector will load: [trust] policy is require (the default) and no publisher is \
                 trusted. List the publishers whose connectors you trust in [trust] publishers \
                 (NAME = \"<public key>\" or NAME = { key_file = \"PATH\" }; the connectors built \
                 by make are signed by qiao-build, key in target/signing/qiao-build.pub), or set \
                 [trust] policy = \"off\" for development"
                    .to_string()
            })
    }
}

/// A public key file (what `qiao connectors keygen` prints, base64, as `scripts/sign-connectors.sh` saves it
/// in `target/signing/qiao-build.pub`).
pub fn read_public_key_file(path: &Path) -> Result<VerifyingKey, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read key_file {}: {e}", path.display()))?;
    // A public key is 44 characters; refuse anything large unread.
    if meta.len() > 4096 {
        return Err(format!(
            "key_file {} is not a public key (larger than 4096 bytes)",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read key_file {}: {e}", path.display()))?;
    decode_public_key(&text).map_err(|e| format!("key_file {} is {e}", path.display()))
}

/// A `.sig` file: who signed which bytes, and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub version: u32,
    pub algorithm: String,
    pub publisher: String,
    /// Base64 of the 32-byte ed25519 public key.
    pub public_key: String,
    /// Hex sha256 of the signed file.
    pub sha256: String,
    /// Base64 of the ed25519 signature over the 32 raw bytes of `sha256`.
    pub signature: String,
}

impl Signature {
    /// The `.sig` file's contents.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a signature serializes");
        text.push('\n');
        text
    }
}

/// The outcome of checking a file: the `trust` field of a `GET /v1/connectors` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// There is a signature file.
    pub signed: bool,
    /// The publisher the signature file names (whether or not it checks out).
    pub publisher: Option<String>,
    /// The signature is valid for this exact file and made with a trusted publisher's key.
    pub verified: bool,
    /// Why it is not verified.
    pub problem: Option<String>,
}

impl Verdict {
    /// No signature file (`sig_name` is the file that was looked for, e.g. `echo.wasm.sig`).
    pub fn unsigned(sig_name: &str) -> Verdict {
        Verdict {
            problem: Some(format!("unsigned (no {sig_name})")),
            ..Verdict::default()
        }
    }

    /// Whether a file with this verdict may load under `policy`; `Err` says why not, and for a file that is
    /// merely unsigned or signed by a publisher not listed, what the operator can do about it. (A signature
    /// that does not check out gets no such advice: that file is not what its publisher signed.)
    pub fn admit(&self, policy: Policy) -> Result<(), String> {
        match (policy, self.verified, &self.problem) {
            (Policy::Require, false, Some(problem)) if !self.signed => Err(format!(
                "{problem} and policy is require: sign it (qiao connectors sign) with a key whose \
                 publisher [trust] publishers lists, or set [trust] policy = \"off\" for development"
            )),
            (Policy::Require, false, Some(problem)) if self.untrusted_publisher() => Err(format!(
                "{problem} and policy is require: list its public key in [trust] publishers if you \
                 trust it, or set [trust] policy = \"off\" for development"
            )),
            (Policy::Require, false, problem) => Err(problem
                .clone()
                .unwrap_or_else(|| "not verified and policy is require".into())),
            _ => Ok(()),
        }
    }

    /// Validly signed, by a publisher `[trust]` does not list.
    fn untrusted_publisher(&self) -> bool {
        match (&self.publisher, &self.problem) {
            (Some(publisher), Some(problem)) => *problem == not_trusted(publisher),
            _ => false,
        }
    }

    fn refused(publisher: Option<String>, problem: impl Into<String>) -> Verdict {
        Verdict {
            signed: true,
            publisher,
            verified: false,
            problem: Some(problem.into()),
        }
    }
}

/// A new private key, from the operating system's random source.
pub fn generate_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
    SigningKey::from_bytes(&seed)
}

/// A private key file's contents: base64 of the 32-byte seed, and a newline.
pub fn encode_private_key(key: &SigningKey) -> String {
    format!("{}\n", B64.encode(key.to_bytes()))
}

/// Reads what [`encode_private_key`] wrote.
pub fn decode_private_key(text: &str) -> Result<SigningKey, String> {
    let seed: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("not a qiao private key (base64 of a 32-byte ed25519 seed)")?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Base64 of a public key, as `[trust.publishers]` and `.sig` files write it.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    B64.encode(key.as_bytes())
}

pub fn decode_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("not a base64 ed25519 public key (32 bytes)")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid ed25519 public key".to_string())
}

/// Where a connector file's detached signature is: `NAME.wasm` → `NAME.wasm.sig`.
pub fn signature_path(file: &Path) -> PathBuf {
    let mut sig = file.as_os_str().to_owned();
    sig.push(".sig");
    PathBuf::from(sig)
}

/// Signs a file's bytes as `publisher`.
pub fn sign(bytes: &[u8], key: &SigningKey, publisher: &str) -> Signature {
    let digest = Sha256::digest(bytes);
    Signature {
        version: FORMAT_VERSION,
        algorithm: ALGORITHM.into(),
        publisher: publisher.into(),
        public_key: encode_public_key(&key.verifying_key()),
        sha256: hex::encode(digest),
        signature: B64.encode(key.sign(&digest).to_bytes()),
    }
}

/// Checks a file against its signature file's contents and the trusted publishers. Never panics, whatever
/// `sig_json` holds.
pub fn verify(bytes: &[u8], sig_json: &[u8], trust: &TrustConfig) -> Verdict {
    let (sig, key) = match check_signature(bytes, sig_json) {
        Ok(checked) => checked,
        Err(verdict) => return verdict,
    };
    let problem = match trust.publishers.get(&sig.publisher) {
        None => Some(not_trusted(&sig.publisher)),
        Some(trusted) if *trusted != key => Some(format!(
            "public key does not match trusted publisher {}",
            sig.publisher
        )),
        Some(_) => None,
    };
    Verdict {
        signed: true,
        publisher: Some(sig.publisher),
        verified: problem.is_none(),
        problem,
    }
}

fn not_trusted(publisher: &str) -> String {
    format!("publisher {publisher} is not trusted")
}

/// Checks only that the signature is valid for this file and the key the signature file itself embeds (no list
/// of trusted publishers): `qiao connectors verify` without `--config`.
pub fn verify_embedded(bytes: &[u8], sig_json: &[u8]) -> Verdict {
    match check_signature(bytes, sig_json) {
        Ok((sig, _)) => Verdict {
            signed: true,
            publisher: Some(sig.publisher),
            verified: true,
            problem: None,
        },
        Err(verdict) => verdict,
    }
}

/// The signature file parsed, and its embedded key, when the signature is valid for `bytes` under that key.
fn check_signature(bytes: &[u8], sig_json: &[u8]) -> Result<(Signature, VerifyingKey), Verdict> {
    let sig: Signature = serde_json::from_slice(sig_json)
        .map_err(|e| Verdict::refused(None, format!("malformed signature file: {e}")))?;
    let refused = |problem: String| Verdict::refused(Some(sig.publisher.clone()), problem);
    if sig.version != FORMAT_VERSION {
        return Err(refused(format!(
            "unsupported signature file version {} (expected {FORMAT_VERSION})",
            sig.version
        )));
    }
    if sig.algorithm != ALGORITHM {
        return Err(refused(format!(
            "unsupported signature algorithm {:?} (expected {ALGORITHM:?})",
            sig.algorithm
        )));
    }
    let key = decode_public_key(&sig.public_key)
        .map_err(|e| refused(format!("malformed signature file: public_key is {e}")))?;
    let signed_digest: [u8; 32] = hex::decode(sig.sha256.trim())
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| refused("malformed signature file: sha256 is not 64 hex digits".into()))?;
    let signature: [u8; 64] = B64
        .decode(sig.signature.trim())
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| refused("signature invalid".into()))?;
    if Sha256::digest(bytes).as_slice() != signed_digest {
        return Err(refused(
            "signature does not match the file (sha256 differs)".into(),
        ));
    }
    key.verify_strict(
        &signed_digest,
        &ed25519_dalek::Signature::from_bytes(&signature),
    )
    .map_err(|_| refused("signature invalid".into()))?;
    Ok((sig, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"\0asm pretend this is a connector component";

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn trusting(publisher: &str, key: &SigningKey) -> TrustConfig {
        TrustConfig {
            policy: Policy::Require,
            publishers: [(publisher.to_string(), key.verifying_key())].into(),
            key_files: BTreeMap::new(),
        }
    }

    fn sig_json(sig: &Signature) -> Vec<u8> {
        sig.to_json().into_bytes()
    }

    #[test]
    fn valid_signature_from_a_trusted_publisher_verifies() {
        let acme = key(1);
        let sig = sign(FILE, &acme, "acme");
        assert_eq!(sig.sha256, hex::encode(Sha256::digest(FILE)));
        let verdict = verify(FILE, &sig_json(&sig), &trusting("acme", &acme));
        assert_eq!(
            verdict,
            Verdict {
                signed: true,
                publisher: Some("acme".into()),
                verified: true,
                problem: None
            }
        );
        assert_eq!(verdict.admit(Policy::Require), Ok(()));
    }

    #[test]
    fn tampered_file_is_refused() {
        let acme = key(1);
        let sig = sign(FILE, &acme, "acme");
        let mut tampered = FILE.to_vec();
        tampered[7] ^= 1;
        let verdict = verify(&tampered, &sig_json(&sig), &trusting("acme", &acme));
        assert!(!verdict.verified);
        assert_eq!(
            verdict.problem.as_deref(),
            Some("signature does not match the file (sha256 differs)")
        );
        assert_eq!(
            verdict.admit(Policy::Require).unwrap_err(),
            "signature does not match the file (sha256 differs)"
        );
        assert_eq!(verdict.admit(Policy::Warn), Ok(()));
    }

    #[test]
    fn tampered_signature_is_refused() {
        let acme = key(1);
        let trust = trusting("acme", &acme);
        let mut sig = sign(FILE, &acme, "acme");
        let mut raw = B64.decode(&sig.signature).unwrap();
        raw[0] ^= 1;
        sig.signature = B64.encode(&raw);
        let verdict = verify(FILE, &sig_json(&sig), &trust);
        assert_eq!(verdict.problem.as_deref(), Some("signature invalid"));
        assert!(verdict.signed && !verdict.verified);

        // The digest in the file changed to match other bytes, signature kept: invalid too.
        let other = b"other bytes";
        let mut sig = sign(FILE, &acme, "acme");
        sig.sha256 = hex::encode(Sha256::digest(other));
        let verdict = verify(other, &sig_json(&sig), &trust);
        assert_eq!(verdict.problem.as_deref(), Some("signature invalid"));
    }

    #[test]
    fn wrong_key_for_a_trusted_publisher_name_is_refused() {
        let (acme, mallory) = (key(1), key(2));
        let sig = sign(FILE, &mallory, "acme");
        let verdict = verify(FILE, &sig_json(&sig), &trusting("acme", &acme));
        assert_eq!(
            verdict.problem.as_deref(),
            Some("public key does not match trusted publisher acme")
        );
        assert_eq!(verdict.publisher.as_deref(), Some("acme"));
        assert!(!verdict.verified);
        // Valid for its own embedded key all the same.
        assert!(verify_embedded(FILE, &sig_json(&sig)).verified);
    }

    #[test]
    fn untrusted_publisher_is_refused() {
        let (acme, other) = (key(1), key(3));
        let sig = sign(FILE, &other, "other");
        let verdict = verify(FILE, &sig_json(&sig), &trusting("acme", &acme));
        assert_eq!(
            verdict.problem.as_deref(),
            Some("publisher other is not trusted")
        );
        let refused = verdict.admit(Policy::Require).unwrap_err();
        assert!(
            refused.starts_with(
                "publisher other is not trusted and policy is require: list its public key"
            ) && refused.contains("policy = \"off\""),
            "{refused}"
        );
        // A key that does not match gets no advice to trust it.
        let forged = verify(
            FILE,
            &sig_json(&sign(FILE, &other, "acme")),
            &trusting("acme", &acme),
        );
        assert_eq!(
            forged.admit(Policy::Require).unwrap_err(),
            "public key does not match trusted publisher acme"
        );
    }

    #[test]
    fn unsigned_files_say_so() {
        let verdict = Verdict::unsigned("echo.wasm.sig");
        assert!(!verdict.signed && !verdict.verified);
        assert_eq!(
            verdict.problem.as_deref(),
            Some("unsigned (no echo.wasm.sig)")
        );
        assert_eq!(
            verdict.admit(Policy::Require).unwrap_err(),
            "unsigned (no echo.wasm.sig) and policy is require: sign it (qiao connectors sign) with a key \
             whose publisher [trust] publishers lists, or set [trust] policy = \"off\" for development"
        );
        assert_eq!(verdict.admit(Policy::Warn), Ok(()));
        assert_eq!(verdict.admit(Policy::Off), Ok(()));
    }

    #[test]
    fn malformed_signature_files_never_panic() {
        let acme = key(1);
        let trust = trusting("acme", &acme);
        let good = serde_json::to_value(sign(FILE, &acme, "acme")).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"not json".to_vec(),
            b"{}".to_vec(),
            b"[]".to_vec(),
            b"null".to_vec(),
            vec![0xff, 0xfe, 0x00],
            br#"{"version": 1}"#.to_vec(),
        ];
        let mutations: &[(&str, serde_json::Value)] = &[
            ("version", 2.into()),
            ("version", (-1).into()),
            ("version", "1".into()),
            ("algorithm", "rsa".into()),
            ("public_key", "!!!".into()),
            ("public_key", B64.encode([0u8; 31]).into()),
            ("public_key", B64.encode([0xffu8; 32]).into()),
            ("public_key", serde_json::Value::Null),
            ("sha256", "zz".into()),
            ("sha256", "".into()),
            ("sha256", "ab".repeat(33).into()),
            ("signature", "".into()),
            ("signature", "@@@".into()),
            ("signature", B64.encode([0u8; 63]).into()),
            ("signature", B64.encode([0xffu8; 64]).into()),
            ("publisher", 7.into()),
        ];
        for (field, value) in mutations {
            let mut sig = good.clone();
            sig[*field] = value.clone();
            cases.push(serde_json::to_vec(&sig).unwrap());
        }
        for case in cases {
            let verdict = verify(FILE, &case, &trust);
            assert!(
                verdict.signed && !verdict.verified && verdict.problem.is_some(),
                "{:?}: {verdict:?}",
                String::from_utf8_lossy(&case)
            );
            assert!(!verify_embedded(FILE, &case).verified);
        }
    }

    #[test]
    fn keys_round_trip() {
        let key = generate_key();
        let again = decode_private_key(&encode_private_key(&key)).unwrap();
        assert_eq!(again.to_bytes(), key.to_bytes());
        let public = encode_public_key(&key.verifying_key());
        assert_eq!(decode_public_key(&public).unwrap(), key.verifying_key());
        assert!(decode_private_key("short").is_err());
        assert_ne!(generate_key().to_bytes(), key.to_bytes());
    }

    #[test]
    fn config_section() {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            trust: TrustConfig,
        }
        let public = encode_public_key(&key(1).verifying_key());
        let file: File = toml::from_str(&format!(
            "[trust]\npolicy = \"require\"\npublishers = {{ acme = \"{public}\" }}"
        ))
        .unwrap();
        assert_eq!(file.trust, trusting("acme", &key(1)));
        let default: File = toml::from_str("").unwrap();
        assert_eq!(default.trust.policy, Policy::Require);
        assert!(default.trust.publishers.is_empty());
        let warning = default
            .trust
            .startup_warning()
            .expect("nothing can load: said at start");
        assert!(
            warning.contains("no connector will load") && warning.contains("policy = \"off\""),
            "{warning}"
        );
        assert_eq!(file.trust.startup_warning(), None);
        let off: File = toml::from_str("[trust]\npolicy = \"off\"").unwrap();
        assert_eq!(off.trust.policy, Policy::Off);

        let err = |text: &str| toml::from_str::<File>(text).err().unwrap().to_string();
        let e = err("[trust]\npolicy = \"strict\"");
        assert!(e.contains("strict") && e.contains("require"), "{e}");
        let e = err("[trust]\npolicy = \"warn\"\npublishers = { acme = \"nope\" }");
        assert!(e.contains("publishers.acme"), "{e}");
        let e = err("[trust]\npolicy = \"require\"");
        assert!(e.contains("at least one publisher"), "{e}");
        let e = err("[trust]\npolcy = \"warn\"");
        assert!(e.contains("polcy"), "{e}");
        let e = err("[trust]\npublishers = {}");
        assert!(e.contains("at least one publisher"), "{e}");
        let e = err("[trust]\npublishers = { acme = 7 }");
        assert!(e.contains("key_file"), "{e}");
        let e = err("[trust]\npublishers = { acme = { file = \"acme.pub\" } }");
        assert!(e.contains("key_file"), "{e}");
    }

    #[test]
    fn publisher_keys_from_files() {
        #[derive(Deserialize)]
        struct File {
            trust: TrustConfig,
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(
            dir.path().join("keys/acme.pub"),
            format!("{}\n", encode_public_key(&key(1).verifying_key())),
        )
        .unwrap();
        let text = "[trust]\npublishers = { acme = { key_file = \"keys/acme.pub\" } }";
        let mut file: File = toml::from_str(text).unwrap();
        assert_eq!(
            file.trust.policy,
            Policy::Require,
            "an explicit section, no policy: require"
        );
        assert!(file.trust.publishers.is_empty(), "not read while parsing");
        file.trust.read_key_files(dir.path()).unwrap();
        assert_eq!(file.trust, trusting("acme", &key(1)));

        // An absolute path is taken as it is.
        let absolute = dir.path().join("keys/acme.pub");
        let text = format!(
            "[trust]\npolicy = \"warn\"\npublishers = {{ acme = {{ key_file = {:?} }}, b = \"{}\" }}",
            absolute.display().to_string(),
            encode_public_key(&key(2).verifying_key())
        );
        let mut file: File = toml::from_str(&text).unwrap();
        file.trust
            .read_key_files(Path::new("/nonexistent"))
            .unwrap();
        assert_eq!(file.trust.publishers.len(), 2);

        let read = |name: &str| {
            let mut file: File = toml::from_str(&format!(
                "[trust]\npublishers = {{ acme = {{ key_file = \"{name}\" }} }}"
            ))
            .unwrap();
            file.trust.read_key_files(dir.path()).unwrap_err()
        };
        let e = read("keys/missing.pub");
        assert!(
            e.starts_with("[trust] publishers.acme: cannot read key_file ")
                && e.contains("missing.pub"),
            "{e}"
        );
        std::fs::write(dir.path().join("keys/junk.pub"), "not a key\n").unwrap();
        let e = read("keys/junk.pub");
        assert!(
            e.contains("junk.pub is not a base64 ed25519 public key"),
            "{e}"
        );
        let e = read("keys");
        assert!(e.contains("cannot read key_file"), "a directory: {e}");
    }
}
