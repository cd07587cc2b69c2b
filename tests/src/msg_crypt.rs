//! A native implementation of the DingTalk / WeCom callback crypto (the "WXBizMsgCrypt" scheme), for tests and
//! platform simulators.
//!
//! Why it exists: a simulated platform must produce and check callbacks on its own, independently of the
//! connector under test, whose crypto runs inside Wasm through the host's crypto imports. If the simulator reused
//! that code path, a bug in it would be mirrored on both sides and go unnoticed. This module is checked against
//! third-party reference vectors (`tests/vectors/callback_crypto.json`, made by wechatpy and cross-checked with
//! dingtalk-sdk; see `tests/vectors/make_callback_vectors.py`).
//!
//! The scheme:
//! * key = base64decode(EncodingAESKey + "="), 43 characters giving 32 bytes (the last character's unused low bits
//!   are ignored, as the platforms' own decoders do);
//! * AES-256-CBC with IV = key[..16], no cipher-level padding;
//! * plaintext = random(16) || msg_len (u32 big-endian) || msg (UTF-8) || receive_id, then PKCS#7-padded to a
//!   multiple of 32 bytes (pad value 1..=32);
//! * the ciphertext travels as standard, padded base64;
//! * signature = lowercase hex SHA-1 of the concatenation of the sorted `[token, timestamp, nonce, encrypt]`.
//!
//! `receive_id` is the DingTalk appKey (or corpId / suiteKey) or the WeCom corpid.

use aes::Aes256;
use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};

/// Pads to this many bytes (not AES's 16): the scheme's PKCS#7 block.
const PAD_BLOCK: usize = 32;

/// For the EncodingAESKey only: accepts the non-zero trailing bits that random 43-character keys usually have.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl MsgCrypt {
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<MsgCrypt> {
        ensure!(
            encoding_aes_key.len() == 43,
            "EncodingAESKey must be 43 characters, got {}",
            encoding_aes_key.len()
        );
        let bytes = KEY_ENGINE
            .decode(format!("{encoding_aes_key}="))
            .context("EncodingAESKey is not base64")?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            anyhow::anyhow!("EncodingAESKey decodes to {} bytes, not 32", b.len())
        })?;
        Ok(MsgCrypt {
            token: token.to_owned(),
            key,
            receive_id: receive_id.to_owned(),
        })
    }

    /// Lowercase hex SHA-1 of the sorted, concatenated `[token, timestamp, nonce, encrypt]`.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let digest = Sha1::digest(parts.concat().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `random`: the 16-byte prefix (tests pass a fixed one; simulators random bytes).
    pub fn encrypt_with(&self, plaintext: &str, random: [u8; 16]) -> String {
        let msg = plaintext.as_bytes();
        let msg_len = u32::try_from(msg.len()).expect("message longer than 4 GiB");
        let mut buf = Vec::with_capacity(16 + 4 + msg.len() + self.receive_id.len() + PAD_BLOCK);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        buf.resize(buf.len() + pad, pad as u8);
        let len = buf.len();
        cbc::Encryptor::<Aes256>::new(&self.key.into(), self.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .expect("plaintext is padded to a whole number of blocks");
        STANDARD.encode(&buf)
    }

    /// Encrypts with a fresh random prefix.
    pub fn encrypt(&self, plaintext: &str) -> String {
        self.encrypt_with(plaintext, rand::random())
    }

    /// Decrypts a base64 `encrypt` value; checks padding, length and receive id.
    pub fn decrypt(&self, encrypt: &str) -> Result<String> {
        let mut buf = STANDARD
            .decode(encrypt)
            .context("ciphertext is not valid base64")?;
        ensure!(
            !buf.is_empty() && buf.len() % 16 == 0,
            "ciphertext length {} is not a positive multiple of the AES block size",
            buf.len()
        );
        let plain = cbc::Decryptor::<Aes256>::new(&self.key.into(), self.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| anyhow::anyhow!("AES-CBC decryption failed"))?;

        let pad = *plain.last().expect("non-empty") as usize;
        ensure!(
            (1..=PAD_BLOCK).contains(&pad) && pad <= plain.len(),
            "bad padding: last byte {pad}"
        );
        let (body, padding) = plain.split_at(plain.len() - pad);
        ensure!(
            padding.iter().all(|&b| b as usize == pad),
            "bad padding: not {pad} bytes of {pad}"
        );
        ensure!(
            body.len() >= 20,
            "plaintext too short ({} bytes) for random prefix and length",
            body.len()
        );

        let msg_len = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
        let rest = &body[20..];
        if msg_len > rest.len() {
            bail!(
                "bad message length {msg_len}: only {} bytes follow",
                rest.len()
            );
        }
        let (msg, receive_id) = rest.split_at(msg_len);
        if receive_id != self.receive_id.as_bytes() {
            bail!(
                "receive id mismatch: expected {:?}, got {:?}",
                self.receive_id,
                String::from_utf8_lossy(receive_id)
            );
        }
        String::from_utf8(msg.to_vec()).context("message is not UTF-8")
    }

    fn iv(&self) -> &[u8; 16] {
        self.key[..16].try_into().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        token: String,
        encoding_aes_key: String,
        receive_id: String,
        timestamp: String,
        nonce: String,
        random_hex: String,
        plaintext: String,
        encrypt: String,
        signature: String,
    }

    fn vectors() -> Vec<Vector> {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vectors/callback_crypto.json"
        ));
        let vectors: Vec<Vector> = serde_json::from_str(json).unwrap();
        assert!(vectors.len() >= 6);
        vectors
    }

    fn random(hex: &str) -> [u8; 16] {
        assert_eq!(hex.len(), 32);
        std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
    }

    #[test]
    fn matches_reference_vectors() {
        for v in vectors() {
            let c = MsgCrypt::new(&v.token, &v.encoding_aes_key, &v.receive_id).unwrap();
            assert_eq!(
                c.encrypt_with(&v.plaintext, random(&v.random_hex)),
                v.encrypt,
                "{}: encrypt",
                v.name
            );
            assert_eq!(
                c.signature(&v.timestamp, &v.nonce, &v.encrypt),
                v.signature,
                "{}: signature",
                v.name
            );
            assert_eq!(
                c.decrypt(&v.encrypt).unwrap(),
                v.plaintext,
                "{}: decrypt",
                v.name
            );
        }
    }

    #[test]
    fn random_prefix_round_trips() {
        for v in vectors() {
            let c = MsgCrypt::new(&v.token, &v.encoding_aes_key, &v.receive_id).unwrap();
            let a = c.encrypt(&v.plaintext);
            let b = c.encrypt(&v.plaintext);
            assert_ne!(a, b, "{}: random prefix should vary", v.name);
            assert_eq!(c.decrypt(&a).unwrap(), v.plaintext);
            assert_eq!(c.decrypt(&b).unwrap(), v.plaintext);
        }
    }

    #[test]
    fn wrong_receive_id_is_rejected() {
        for v in vectors() {
            let c = MsgCrypt::new(&v.token, &v.encoding_aes_key, "someone-else").unwrap();
            let err = c.decrypt(&v.encrypt).unwrap_err().to_string();
            assert!(err.contains("receive id mismatch"), "{}: {err}", v.name);
        }
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        for v in vectors() {
            let c = MsgCrypt::new(&v.token, &v.encoding_aes_key, &v.receive_id).unwrap();
            let raw = STANDARD.decode(&v.encrypt).unwrap();

            // CBC: flipping a bit in ciphertext block 0 flips the same bit of plaintext block 1, whose first four
            // bytes are the message length; its top bit makes the length absurd.
            let mut t = raw.clone();
            t[0] ^= 0x80;
            let err = c.decrypt(&STANDARD.encode(&t)).unwrap_err().to_string();
            assert!(err.contains("bad message length"), "{}: {err}", v.name);

            // Garbling the last block garbles the padding.
            let mut t = raw.clone();
            let n = t.len();
            t[n - 1] ^= 0x55;
            assert!(
                c.decrypt(&STANDARD.encode(&t)).is_err(),
                "{}: tampered last block accepted",
                v.name
            );

            // Truncation to a non-block length.
            assert!(c.decrypt(&STANDARD.encode(&raw[..raw.len() - 1])).is_err());
            assert!(c.decrypt("not base64!").is_err());
        }
    }

    #[test]
    fn key_must_be_43_characters() {
        assert!(MsgCrypt::new("t", "short", "id").is_err());
        assert!(MsgCrypt::new("t", &"a".repeat(44), "id").is_err());
    }
}
