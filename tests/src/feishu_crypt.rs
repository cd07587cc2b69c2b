//! A native implementation of Feishu/Lark (飞书) callback crypto, for tests and the Feishu simulator.
//!
//! Why it exists: as with [`crate::msg_crypt`], a simulated platform must produce and check callbacks on its own,
//! independently of the connector under test, so that a bug in the connector's crypto is not mirrored on both
//! sides. It is checked against vectors made and verified by Feishu's own SDK (`tests/vectors/feishu_callback.json`,
//! see `tests/vectors/make_feishu_vectors.py`), including Feishu's documented "test key" / "hello world" example.
//!
//! The scheme differs from DingTalk's and WeCom's on every point:
//! * key = SHA-256(encrypt_key) (32 bytes), not a base64 EncodingAESKey;
//! * AES-256-CBC with a random 16-byte IV sent in front of the ciphertext (not IV = key[..16]);
//! * PKCS#7 padding to AES's own 16 bytes (not 32), and no length prefix or receive id inside;
//! * the body is `{"encrypt": base64(IV ‖ ciphertext)}`;
//! * the signature (header `X-Lark-Signature`) is lowercase hex SHA-256 of
//!   `timestamp + nonce + encrypt_key + raw body bytes`: it covers the exact bytes sent, so a receiver must not
//!   re-serialise the JSON before checking it.

use aes::Aes256;
use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha2::{Digest, Sha256};

pub struct FeishuCrypt {
    key: [u8; 32],
    encrypt_key: String,
}

impl FeishuCrypt {
    /// `encrypt_key`: the app's "Encrypt Key" as the developer console shows it (any string).
    pub fn new(encrypt_key: &str) -> FeishuCrypt {
        FeishuCrypt {
            key: Sha256::digest(encrypt_key.as_bytes()).into(),
            encrypt_key: encrypt_key.to_owned(),
        }
    }

    /// The `encrypt` value for `plaintext` with this IV (tests pass a fixed one).
    pub fn encrypt_with(&self, plaintext: &str, iv: [u8; 16]) -> String {
        let message = plaintext.as_bytes();
        // IV, then the message and room for 1..=16 bytes of padding.
        let mut out = Vec::with_capacity(16 + message.len() + 16);
        out.extend_from_slice(&iv);
        out.extend_from_slice(message);
        out.resize(16 + (message.len() / 16 + 1) * 16, 0);
        cbc::Encryptor::<Aes256>::new(&self.key.into(), &iv.into())
            .encrypt_padded_mut::<Pkcs7>(&mut out[16..], message.len())
            .expect("the buffer has room for the padding");
        STANDARD.encode(out)
    }

    /// Encrypts with a fresh random IV, as Feishu does for every push.
    pub fn encrypt(&self, plaintext: &str) -> String {
        self.encrypt_with(plaintext, rand::random())
    }

    /// Decrypts an `encrypt` value: base64, IV, then at least one block of ciphertext with valid PKCS#7 padding.
    pub fn decrypt(&self, encrypt: &str) -> Result<String> {
        let mut raw = STANDARD
            .decode(encrypt)
            .context("ciphertext is not valid base64")?;
        ensure!(
            raw.len() >= 32 && raw.len() % 16 == 0,
            "ciphertext length {} is not an IV and at least one AES block",
            raw.len()
        );
        let (iv, ciphertext) = raw.split_at_mut(16);
        let iv: [u8; 16] = (&*iv).try_into().unwrap();
        let plain = cbc::Decryptor::<Aes256>::new(&self.key.into(), &iv.into())
            .decrypt_padded_mut::<Pkcs7>(ciphertext)
            .map_err(|_| anyhow::anyhow!("bad padding (wrong key or tampered ciphertext)"))?;
        String::from_utf8(plain.to_vec()).context("plaintext is not UTF-8")
    }

    /// `X-Lark-Signature`: lowercase hex SHA-256 of `timestamp + nonce + encrypt_key + body`.
    pub fn signature(&self, timestamp: &str, nonce: &str, body: &[u8]) -> String {
        let mut hash = Sha256::new();
        hash.update(timestamp.as_bytes());
        hash.update(nonce.as_bytes());
        hash.update(self.encrypt_key.as_bytes());
        hash.update(body);
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        encrypt_key: String,
        plaintext: String,
        iv_hex: String,
        encrypt: String,
        timestamp: String,
        nonce: String,
        body: String,
        signature: String,
    }

    fn vectors() -> Vec<Vector> {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vectors/feishu_callback.json"
        ));
        let vectors: Vec<Vector> = serde_json::from_str(json).unwrap();
        assert!(vectors.len() >= 4);
        assert!(vectors.iter().any(|v| v.name == "feishu_doc_known_vector"));
        vectors
    }

    fn iv(hex: &str) -> [u8; 16] {
        assert_eq!(hex.len(), 32);
        std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
    }

    #[test]
    fn feishu_crypt_matches_reference_vectors() {
        for v in vectors() {
            let c = FeishuCrypt::new(&v.encrypt_key);
            assert_eq!(
                c.encrypt_with(&v.plaintext, iv(&v.iv_hex)),
                v.encrypt,
                "{}: encrypt",
                v.name
            );
            assert_eq!(
                c.decrypt(&v.encrypt).unwrap(),
                v.plaintext,
                "{}: decrypt",
                v.name
            );
            assert_eq!(
                serde_json::json!({ "encrypt": v.encrypt }).to_string(),
                v.body,
                "{}: body",
                v.name
            );
            assert_eq!(
                c.signature(&v.timestamp, &v.nonce, v.body.as_bytes()),
                v.signature,
                "{}: signature",
                v.name
            );
        }
    }

    #[test]
    fn feishu_crypt_random_iv_round_trips() {
        for v in vectors() {
            let c = FeishuCrypt::new(&v.encrypt_key);
            let (a, b) = (c.encrypt(&v.plaintext), c.encrypt(&v.plaintext));
            assert_ne!(a, b, "{}: the IV should vary", v.name);
            assert_eq!(c.decrypt(&a).unwrap(), v.plaintext);
            assert_eq!(c.decrypt(&b).unwrap(), v.plaintext);
        }
    }

    #[test]
    fn feishu_crypt_rejects_wrong_key_and_tampering() {
        for v in vectors() {
            let wrong = FeishuCrypt::new("another key");
            // A wrong key almost always garbles the padding; if not, the text is still not the plaintext.
            assert!(wrong.decrypt(&v.encrypt).map_or(true, |t| t != v.plaintext));
            let c = FeishuCrypt::new(&v.encrypt_key);
            let raw = STANDARD.decode(&v.encrypt).unwrap();
            let mut t = raw.clone();
            let n = t.len();
            t[n - 1] ^= 0x55;
            assert!(
                c.decrypt(&STANDARD.encode(&t))
                    .map_or(true, |t| t != v.plaintext)
            );
            assert!(c.decrypt(&STANDARD.encode(&raw[..raw.len() - 1])).is_err());
            assert!(c.decrypt(&STANDARD.encode(&raw[..16])).is_err(), "IV only");
            assert!(c.decrypt("not base64!").is_err());
            // The signature covers the exact bytes: one extra space changes it.
            let spaced = format!("{} ", v.body);
            assert_ne!(
                c.signature(&v.timestamp, &v.nonce, spaced.as_bytes()),
                v.signature
            );
        }
    }
}
