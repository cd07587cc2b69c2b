//! The cryptography e-cology's APIs use: the server RSA key pair behind `spk` (§1.5: 2048-bit, X.509
//! SubjectPublicKeyInfo, PKCS#1 v1.5 encryption, standard Base64), and the MD5 of the HR `key`/`ts` token (§2.1).
//! MD5 is written out here because nothing in the tree provides it; it only checks a test token.

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

pub struct ServerKey {
    private: RsaPrivateKey,
    /// Base64 of the DER public key, as regist returns it.
    pub spk: String,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("spk", &self.spk)
            .finish_non_exhaustive()
    }
}

impl ServerKey {
    pub fn generate(bits: usize) -> Result<ServerKey> {
        let private =
            RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).context("RSA key generation")?;
        let der = RsaPublicKey::from(&private)
            .to_public_key_der()
            .context("encoding spk")?;
        Ok(ServerKey {
            private,
            spk: STANDARD.encode(der.as_bytes()),
        })
    }

    /// The UTF-8 text inside Base64(RSA_PKCS1v1.5(spk, text)), or None when it is not that. Line breaks, and a
    /// `+` that URL-decoding turned into a space, are tolerated (guessed: the OA's Java decoders are lenient).
    pub fn decrypt(&self, base64: &str) -> Option<String> {
        let cleaned: String = base64
            .chars()
            .map(|c| if c == ' ' { '+' } else { c })
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = STANDARD.decode(cleaned.as_bytes()).ok()?;
        let plain = self.private.decrypt(Pkcs1v15Encrypt, &bytes).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Base64(RSA_PKCS1v1.5(spk, text)): what a client sends as `secret` and `userid`. `spk` is bare Base64 DER or PEM.
pub fn encrypt_pkcs1(spk: &str, text: &str) -> Result<String> {
    let body: String = spk
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(body.as_bytes())
        .context("spk is not Base64")?;
    let key = RsaPublicKey::from_public_key_der(&der).context("spk is not an X.509 public key")?;
    let cipher = key
        .encrypt(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, text.as_bytes())
        .context("RSA encryption")?;
    Ok(STANDARD.encode(cipher))
}

/// The HR token's `key`: UPPER(MD5(hrm key + ts)).
pub fn hrm_key(hrm_key: &str, ts: &str) -> String {
    md5(format!("{hrm_key}{ts}").as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// RFC 1321.
pub fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut message = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    for chunk in message.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, word) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}
