//! The callback crypto DingTalk and WeCom share (WeCom's "WXBizMsgCrypt"): AES-256-CBC with the key
//! `base64(EncodingAESKey + "=")`, the IV its first 16 bytes, PKCS#7 padding to 32-byte blocks, a plaintext of
//! `random(16) ‖ length(4, big-endian) ‖ message ‖ receive id`, and a SHA-1 signature over the sorted
//! `[token, timestamp, nonce, encrypt]`. The platforms wrap it differently (DingTalk JSON, WeCom XML); the
//! connectors do the wrapping, this module only the cryptography, through the host's `crypto` import.

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use super::crypto::{self, Padding};
use super::types::Error;
use crate::text::hex;

/// The platforms pad to 32 bytes, not to the AES block size.
const PAD_BLOCK: usize = 32;
/// A callback message is a few KiB; anything near this is not one.
const MAX_MESSAGE: usize = 1 << 20;

/// The consoles generate keys whose last character carries unused low bits (e.g. ending in `z`), which a
/// strict decoder refuses; the platforms' own SDKs accept them.
const KEY_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

pub struct MsgCrypt {
    token: String,
    key: Vec<u8>,
    receive_id: String,
}

impl MsgCrypt {
    /// `encoding_aes_key` is the 43-character key from the platform's console. `receive_id` is what the platform
    /// appends to each plaintext and the receiver must check: DingTalk's appKey (or corpId, or suiteKey), WeCom's
    /// corpid.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<MsgCrypt, Error> {
        let key = KEY_DECODER
            .decode(format!("{encoding_aes_key}="))
            .ok()
            .filter(|key| encoding_aes_key.len() == 43 && key.len() == 32)
            .ok_or_else(|| {
                Error::invalid_input(
                    "the callback AES key must be the 43-character EncodingAESKey from the platform's console",
                )
            })?;
        Ok(MsgCrypt {
            token: token.to_string(),
            key,
            receive_id: receive_id.to_string(),
        })
    }

    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        hex(&crypto::sha1(parts.concat().as_bytes()))
    }

    /// An `unauthorized` error unless `signature` signs the other three.
    pub fn verify(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), Error> {
        let expected = self.signature(timestamp, nonce, encrypt);
        if constant_time_eq(
            expected.as_bytes(),
            signature.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(Error::unauthorized(
                "callback signature mismatch: check the callback token, or the request was forged",
            ))
        }
    }

    /// The message inside `encrypt`, after checking its padding, length and receive id (all `unauthorized`:
    /// a message that does not decrypt to a well-formed one was not made with our key).
    pub fn decrypt(&self, encrypt: &str) -> Result<String, Error> {
        let refuse =
            |why: &str| Error::unauthorized(format!("callback cannot be decrypted: {why}"));
        let data = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| refuse("not base64"))?;
        if data.is_empty() || data.len() % 16 != 0 || data.len() > MAX_MESSAGE + 64 {
            return Err(refuse("not a whole number of AES blocks"));
        }
        let plain = crypto::aes256_cbc_decrypt(&self.key, &self.key[..16], &data, Padding::None)
            .map_err(|_| refuse("wrong key"))?;
        let pad = *plain.last().unwrap() as usize;
        if !(1..=PAD_BLOCK).contains(&pad)
            || pad > plain.len()
            || plain[plain.len() - pad..]
                .iter()
                .any(|&b| b as usize != pad)
        {
            return Err(refuse("bad padding (wrong AES key?)"));
        }
        let plain = &plain[..plain.len() - pad];
        if plain.len() < 20 {
            return Err(refuse("too short"));
        }
        let len = u32::from_be_bytes(plain[16..20].try_into().unwrap()) as usize;
        // Checked: on wasm32 `usize` is 32 bits, and a length near u32::MAX would wrap past the check.
        if len.checked_add(20).is_none_or(|end| end > plain.len()) {
            return Err(refuse("length field out of range"));
        }
        let (message, receive_id) = plain[20..].split_at(len);
        if receive_id != self.receive_id.as_bytes() {
            return Err(Error::unauthorized(format!(
                "callback is for another receiver ({:?}), not this connection's {:?}",
                String::from_utf8_lossy(receive_id),
                self.receive_id
            )));
        }
        String::from_utf8(message.to_vec()).map_err(|_| refuse("message is not UTF-8"))
    }

    /// `message` encrypted for the platform, base64.
    pub fn encrypt(&self, message: &str) -> Result<String, Error> {
        let mut plain = crypto::random_bytes(16);
        plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let data = crypto::aes256_cbc_encrypt(&self.key, &self.key[..16], &plain, Padding::None)
            .map_err(Error::internal)?;
        Ok(STANDARD.encode(data))
    }
}

/// Compares without an early exit, so the time taken says nothing about how much of a signature was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `n` random letters and digits, for nonces.
pub fn nonce(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    crypto::random_bytes(n as u32)
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
