//! Cryptographic primitives done natively, so connectors in any language get them fast and right (callback
//! signatures and AES for DingTalk, WeCom and Feishu; HMAC for Kingdee).

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use qiao_contract::bindings::crypto::{self, Padding, RsaPadding};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPublicKey};

use crate::sandbox::CpuMeter;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

const MAX_RANDOM_BYTES: u32 = 4096;

/// The most one crypto call takes in (data and key together). Real uses are callback bodies, signatures and
/// tokens (kilobytes); the bound keeps one host call short, so the time charged to the guest is charged in small
/// steps and a call cannot hold a worker thread for long.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn cipher_keys(key: &[u8], iv: &[u8]) -> Result<(), String> {
    if key.len() != 32 || iv.len() != 16 {
        return Err(format!(
            "AES-256-CBC needs a 32-byte key and a 16-byte IV, got {} and {}",
            key.len(),
            iv.len()
        ));
    }
    Ok(())
}

pub fn aes256_cbc_encrypt(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: Padding,
) -> Result<Vec<u8>, String> {
    cipher_keys(key, iv)?;
    let cipher = Enc::new_from_slices(key, iv).map_err(|e| e.to_string())?;
    match padding {
        Padding::Pkcs7 => Ok(cipher.encrypt_padded_vec_mut::<block_padding::Pkcs7>(data)),
        Padding::None if !data.len().is_multiple_of(16) => {
            Err(format!("{} bytes is not a multiple of 16", data.len()))
        }
        Padding::None => Ok(cipher.encrypt_padded_vec_mut::<block_padding::NoPadding>(data)),
    }
}

pub fn aes256_cbc_decrypt(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: Padding,
) -> Result<Vec<u8>, String> {
    cipher_keys(key, iv)?;
    let cipher = Dec::new_from_slices(key, iv).map_err(|e| e.to_string())?;
    let result = match padding {
        Padding::Pkcs7 => cipher.decrypt_padded_vec_mut::<block_padding::Pkcs7>(data),
        Padding::None => cipher.decrypt_padded_vec_mut::<block_padding::NoPadding>(data),
    };
    result.map_err(|_| "decryption failed: wrong key, corrupt data or bad padding".to_string())
}

/// Key sizes accepted: below 1024 bits is broken, above 8192 only costs CPU.
const RSA_BITS: std::ops::RangeInclusive<usize> = 1024..=8192;

/// An RSA public key as SubjectPublicKeyInfo (DER or PEM) or PKCS#1 (DER or PEM), whichever it parses as.
fn rsa_public_key(key: &[u8]) -> Result<RsaPublicKey, String> {
    let parsed = match std::str::from_utf8(key).map(str::trim) {
        Ok(pem) if pem.starts_with("-----BEGIN PUBLIC KEY-----") => RsaPublicKey::from_public_key_pem(pem).ok(),
        Ok(pem) if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") => RsaPublicKey::from_pkcs1_pem(pem).ok(),
        _ => RsaPublicKey::from_public_key_der(key)
            .or_else(|_| RsaPublicKey::from_pkcs1_der(key))
            .ok(),
    };
    let key = parsed.ok_or_else(|| {
        "not an RSA public key: expected SubjectPublicKeyInfo DER or PEM (-----BEGIN PUBLIC KEY-----), or PKCS#1"
            .to_string()
    })?;
    let bits = key.size() * 8;
    if !RSA_BITS.contains(&bits) {
        return Err(format!("RSA keys of {bits} bits are refused; 1024 to 8192 bits are accepted"));
    }
    Ok(key)
}

pub fn rsa_encrypt(key: &[u8], data: &[u8], padding: RsaPadding) -> Result<Vec<u8>, String> {
    let key = rsa_public_key(key)?;
    let mut rng = rsa::rand_core::OsRng;
    let result = match padding {
        RsaPadding::Pkcs1v15 => key.encrypt(&mut rng, Pkcs1v15Encrypt, data),
        RsaPadding::OaepSha256 => key.encrypt(&mut rng, Oaep::new::<Sha256>(), data),
    };
    result.map_err(|e| match e {
        rsa::Error::MessageTooLong => format!(
            "{} bytes is too long to encrypt with a {}-bit key and this padding",
            data.len(),
            key.size() * 8
        ),
        e => format!("RSA encryption failed: {e}"),
    })
}

/// Crypto keeps no state between calls; its time is charged to the calling guest's CPU budget.
pub struct CryptoState {
    pub cpu: Arc<CpuMeter>,
}

impl Default for CryptoState {
    fn default() -> Self {
        CryptoState { cpu: CpuMeter::unlimited() }
    }
}

fn too_large(function: &str, bytes: usize) -> String {
    format!(
        "crypto.{function}: {bytes} bytes of input is over the limit of {MAX_INPUT_BYTES} bytes ({} MiB) per call",
        MAX_INPUT_BYTES >> 20
    )
}

impl CryptoState {
    /// A digest of bounded input, charged. The contract gives these functions no error: input over the bound, or a
    /// call once the budget is gone, fails the whole call (the empty digest returned is never used: the guest is
    /// stopped at its next epoch check and whatever it answers is replaced by the error).
    fn digest(&self, function: &str, bytes: usize, work: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
        if bytes > MAX_INPUT_BYTES {
            self.cpu.refuse(too_large(function, bytes));
            return Vec::new();
        }
        if self.cpu.exhausted() {
            return Vec::new();
        }
        self.cpu.measure(work)
    }

    /// A fallible operation of bounded input, charged: input over the bound is the guest's error.
    fn fallible(
        &self,
        function: &str,
        bytes: usize,
        work: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        if bytes > MAX_INPUT_BYTES {
            return Err(too_large(function, bytes));
        }
        if self.cpu.exhausted() {
            return Err("the call's CPU time limit is reached".into());
        }
        self.cpu.measure(work)
    }
}

/// Adds `qiao:connector/crypto` to a linker whose store data holds a [`CryptoState`].
pub fn link<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut CryptoState) -> wasmtime::Result<()> {
    crypto::add_to_linker::<T, HasSelf<CryptoState>>(linker, get)
}

impl crypto::Host for CryptoState {
    fn sha1(&mut self, data: Vec<u8>) -> Vec<u8> {
        self.digest("sha1", data.len(), || Sha1::digest(&data).to_vec())
    }

    fn sha256(&mut self, data: Vec<u8>) -> Vec<u8> {
        self.digest("sha256", data.len(), || Sha256::digest(&data).to_vec())
    }

    fn hmac_sha256(&mut self, key: Vec<u8>, data: Vec<u8>) -> Vec<u8> {
        self.digest("hmac-sha256", key.len() + data.len(), || hmac_sha256(&key, &data))
    }

    fn aes256_cbc_encrypt(
        &mut self,
        key: Vec<u8>,
        iv: Vec<u8>,
        data: Vec<u8>,
        padding: Padding,
    ) -> Result<Vec<u8>, String> {
        self.fallible("aes256-cbc-encrypt", data.len(), || aes256_cbc_encrypt(&key, &iv, &data, padding))
    }

    fn aes256_cbc_decrypt(
        &mut self,
        key: Vec<u8>,
        iv: Vec<u8>,
        data: Vec<u8>,
        padding: Padding,
    ) -> Result<Vec<u8>, String> {
        self.fallible("aes256-cbc-decrypt", data.len(), || aes256_cbc_decrypt(&key, &iv, &data, padding))
    }

    fn random_bytes(&mut self, len: u32) -> Vec<u8> {
        let mut bytes = vec![0; len.min(MAX_RANDOM_BYTES) as usize];
        self.cpu.measure(|| rand::rng().fill_bytes(&mut bytes));
        bytes
    }

    fn rsa_encrypt(&mut self, public_key: Vec<u8>, data: Vec<u8>, padding: RsaPadding) -> Result<Vec<u8>, String> {
        self.fallible("rsa-encrypt", public_key.len() + data.len(), || rsa_encrypt(&public_key, &data, padding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_charged_and_input_is_bounded() {
        use crypto::Host;
        let cpu = Arc::new(CpuMeter::new(std::time::Duration::from_secs(60)));
        let mut state = CryptoState { cpu: cpu.clone() };
        assert_eq!(state.sha256(vec![1; 1 << 20]).len(), 32);
        assert!(cpu.used_nanos() > 0, "the hash's time is charged");
        let e = state.aes256_cbc_encrypt(vec![0; 32], vec![0; 16], vec![0; MAX_INPUT_BYTES + 16], Padding::None);
        assert!(e.unwrap_err().contains("over the limit of 4194304 bytes"));
        assert!(cpu.refused().is_none(), "a fallible function answers the guest");
        assert!(state.sha1(vec![0; MAX_INPUT_BYTES + 1]).is_empty());
        let why = cpu.refused().expect("an infallible one fails the call");
        assert!(why.contains("crypto.sha1") && why.contains("4 MiB"), "{why}");
        assert!(cpu.exhausted());
        assert!(state.sha256(b"x".to_vec()).is_empty(), "no more work once the budget is gone");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn aes_round_trips_and_rejects_bad_input() {
        let (key, iv) = ([7u8; 32], [9u8; 16]);
        let ct = aes256_cbc_encrypt(&key, &iv, b"hello", Padding::Pkcs7).unwrap();
        assert_eq!(ct.len(), 16);
        assert_eq!(
            aes256_cbc_decrypt(&key, &iv, &ct, Padding::Pkcs7).unwrap(),
            b"hello"
        );
        assert!(aes256_cbc_encrypt(&key, &iv, b"hello", Padding::None).is_err());
        assert!(aes256_cbc_encrypt(&key[..16], &iv, b"hello", Padding::Pkcs7).is_err());
        assert!(aes256_cbc_decrypt(&[8u8; 32], &iv, &ct, Padding::Pkcs7).is_err());
    }

    /// The key forms made by pyca `cryptography` (tests/vectors/make_rsa_vectors.py), each padding: decrypted by
    /// OpenSSL, an implementation independent of the host's, and by the `rsa` crate with the private key.
    #[test]
    fn rsa_encryption_decrypts_with_openssl_for_every_key_form_and_padding() {
        use base64::Engine;
        use rsa::RsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../../tests/vectors/rsa.json")).unwrap();
        let text = |k: &str| vectors[k].as_str().unwrap().to_string();
        let private = RsaPrivateKey::from_pkcs8_pem(&text("private_pkcs8_pem")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key.pem");
        std::fs::write(&key_file, text("private_pkcs8_pem")).unwrap();
        let der = base64::engine::general_purpose::STANDARD.decode(text("spki_der_b64")).unwrap();
        let forms = [text("spki_pem").into_bytes(), der, text("pkcs1_pem").into_bytes()];
        for (padding, openssl_opts, decrypt) in [
            (RsaPadding::Pkcs1v15, vec!["rsa_padding_mode:pkcs1"], 0),
            (
                RsaPadding::OaepSha256,
                vec!["rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256"],
                1,
            ),
        ] {
            for key in &forms {
                let secret = "e-cology secret 泛微";
                let sealed = rsa_encrypt(key, secret.as_bytes(), padding).unwrap();
                assert_eq!(sealed.len(), 256, "a 2048-bit key makes 256-byte blocks");
                let opened = match decrypt {
                    0 => private.decrypt(Pkcs1v15Encrypt, &sealed).unwrap(),
                    _ => private.decrypt(Oaep::new::<Sha256>(), &sealed).unwrap(),
                };
                assert_eq!(opened, secret.as_bytes());
                let sealed_file = dir.path().join("sealed.bin");
                std::fs::write(&sealed_file, &sealed).unwrap();
                let mut openssl = std::process::Command::new("openssl");
                openssl.args(["pkeyutl", "-decrypt", "-inkey"]).arg(&key_file).arg("-in").arg(&sealed_file);
                for opt in &openssl_opts {
                    openssl.args(["-pkeyopt", opt]);
                }
                let out = openssl.output().expect("openssl on PATH (the reference implementation)");
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                assert_eq!(out.stdout, secret.as_bytes(), "{padding:?}");
            }
        }
    }

    #[test]
    fn rsa_refuses_bad_keys_and_long_messages() {
        use rsa::pkcs8::EncodePublicKey;
        let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 512).unwrap();
        let small = small.to_public_key().to_public_key_der().unwrap();
        let e = rsa_encrypt(small.as_bytes(), b"x", RsaPadding::Pkcs1v15).unwrap_err();
        assert!(e.contains("512 bits") && e.contains("1024 to 8192"), "{e}");
        let e = rsa_encrypt(b"not a key", b"x", RsaPadding::Pkcs1v15).unwrap_err();
        assert!(e.contains("not an RSA public key"), "{e}");
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../../tests/vectors/rsa.json")).unwrap();
        let key = vectors["spki_pem"].as_str().unwrap().as_bytes();
        let e = rsa_encrypt(key, &[0u8; 300], RsaPadding::OaepSha256).unwrap_err();
        assert!(e.contains("300 bytes is too long"), "{e}");
    }
}
