//! Kingdee's signed-header scheme ("第三方系统登录授权", SDK ≥ 8), re-implemented from the official Python SDK
//! (`core/webapi_client.py` BuildHeader, `util/encode_util.py` DecodeAppSecret, `util/hmac_util.py`) so that the
//! simulator can check a request the way the server would. `tests/vectors/kingdee_headers.json`, produced by the SDK's
//! own code, pins it (see the test at the bottom).
//!
//! Two signatures, both "HmacSHA256" in the SDK's sense: base64 of the *lowercase hex text* of the HMAC-SHA256
//! digest (not of the raw digest):
//! * `X-Api-Signature` over `"POST\n" + quote(path) + "\n\nx-api-nonce:N\nx-api-timestamp:T\n"`, keyed by the
//!   client secret hidden in the app id (`<clientId>_<32 base64 chars>`, XOR-ed with a constant);
//! * `X-Kd-Signature` over `appId + appData`, keyed by the app secret, where appData is the plain text
//!   `"acctId,user,lcid,orgNum"` (the header carries its base64).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// The constant DecodeAppSecret XORs with: `generate_code()` minus its random digits, ROT13-ed.
const XOR_CODE: &[u8; 32] = b"0054f397c6234378b09ca7d3e5debce7";

/// Plain HMAC-SHA256 (RFC 2104); the tests crate has `sha2` but no `hmac`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// `hmac_util.HmacSHA256(content, key)`: base64(hex(HMAC-SHA256(key, content))).
pub fn kd_hmac(content: &str, key: &str) -> String {
    let digest = hmac_sha256(key.as_bytes(), content.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    B64.encode(hex)
}

/// `encode_util.DecodeAppSecret`: the 32-character part of the app id, base64-decoded, XOR-ed with [`XOR_CODE`],
/// base64-encoded again. Anything but 32 characters of unpadded base64 gives "" (the SDK then signs with an empty
/// key, which the server refuses).
pub fn decode_app_secret(encoded: &str) -> String {
    if encoded.len() != 32 || encoded.contains('=') {
        return String::new();
    }
    match B64.decode(encoded) {
        Ok(bytes) => B64.encode(
            bytes
                .iter()
                .zip(XOR_CODE.iter())
                .map(|(b, x)| b ^ x)
                .collect::<Vec<u8>>(),
        ),
        Err(_) => String::new(),
    }
}

/// Python's `quote(path)` (safe `/`) followed by `.replace('/', '%2F')`: every byte except
/// `A-Z a-z 0-9 _ . - ~` percent-encoded, upper-case hex.
pub fn quote_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Undoes percent-encoding of a request path (the server signs the decoded path re-quoted).
pub fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = path
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Who signs: the SDK's `Identify`.
#[derive(Clone, Debug)]
pub struct Identity {
    pub app_id: String,
    pub app_secret: String,
    pub acct_id: String,
    pub user_name: String,
    pub lcid: i64,
    pub org_num: String,
}

/// The text the `X-Api-Signature` covers.
fn api_sign_text(path: &str, nonce: &str, timestamp: &str) -> String {
    format!(
        "POST\n{}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n",
        quote_path(path)
    )
}

/// The SDK's `BuildHeader(url)` at unix time `timestamp` (nonce = timestamp, as the SDK does): the nine
/// authentication headers, names spelled as the SDK spells them.
pub fn build_headers(id: &Identity, url: &str, timestamp: u64) -> Vec<(String, String)> {
    // BuildHeader: the path starts at the first '/' from index 10 of an absolute URL.
    let path = if url.starts_with("http") {
        url.get(10..)
            .and_then(|rest| rest.find('/'))
            .map_or(url, |i| &url[10 + i..])
    } else {
        url
    };
    let ts = timestamp.to_string();
    let (client_id, client_sec) = match id.app_id.split('_').collect::<Vec<_>>()[..] {
        [client, secret] => (client.to_string(), decode_app_secret(secret)),
        _ => (String::new(), String::new()),
    };
    let app_data = format!("{},{},{},{}", id.acct_id, id.user_name, id.lcid, id.org_num);
    [
        ("X-Api-ClientID", client_id),
        ("X-Api-Auth-Version", "2.0".into()),
        ("x-api-timestamp", ts.clone()),
        ("x-api-nonce", ts.clone()),
        ("x-api-signheaders", "x-api-timestamp,x-api-nonce".into()),
        (
            "X-Api-Signature",
            kd_hmac(&api_sign_text(path, &ts, &ts), &client_sec),
        ),
        ("X-Kd-Appkey", id.app_id.clone()),
        ("X-Kd-Appdata", B64.encode(&app_data)),
        (
            "X-Kd-Signature",
            kd_hmac(&format!("{}{app_data}", id.app_id), &id.app_secret),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether a request carries the signed headers at all (otherwise the caller must have a session).
pub fn is_signed(headers: &HashMap<String, String>) -> bool {
    headers.contains_key("x-kd-appkey") || headers.contains_key("x-api-signature")
}

/// What a verified signed request says about its caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Signed {
    pub acct_id: String,
    pub user_name: String,
    pub lcid: String,
    pub org_num: String,
}

/// Checks a signed request as the server would, for the one app the simulator knows (`app_id`, `app_secret`):
/// both signatures, the client id and the timestamp (at most `max_skew_secs` from `now`). `headers` are keyed by
/// lower-case name; `path` is the request path as received. The account and user are the caller's to check.
pub fn verify(
    headers: &HashMap<String, String>,
    path: &str,
    app_id: &str,
    app_secret: &str,
    now: u64,
    max_skew_secs: u64,
) -> Result<Signed, String> {
    let get = |name: &str| headers.get(name).map(String::as_str).unwrap_or("");
    if get("x-kd-appkey") != app_id {
        return Err(format!("应用ID“{}”不存在或未启用", get("x-kd-appkey")));
    }
    let (client_id, secret_part) = app_id.split_once('_').unwrap_or((app_id, ""));
    if get("x-api-clientid") != client_id {
        return Err("X-Api-ClientID 与应用ID不一致".into());
    }
    let timestamp = get("x-api-timestamp");
    let Ok(ts) = timestamp.parse::<u64>() else {
        return Err("x-api-timestamp 无效".into());
    };
    if ts.abs_diff(now) > max_skew_secs {
        return Err("请求时间戳已过期(x-api-timestamp)，请校准客户端时间".into());
    }
    let expected = kd_hmac(
        &api_sign_text(&percent_decode(path), get("x-api-nonce"), timestamp),
        &decode_app_secret(secret_part),
    );
    if get("x-api-signature") != expected {
        return Err("签名验证失败(X-Api-Signature)".into());
    }
    let app_data = B64
        .decode(get("x-kd-appdata"))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("X-Kd-Appdata 无效")?;
    if get("x-kd-signature") != kd_hmac(&format!("{app_id}{app_data}"), app_secret) {
        return Err("签名验证失败(X-Kd-Signature)，应用密钥不正确".into());
    }
    match app_data.split(',').collect::<Vec<_>>()[..] {
        [acct, user, lcid, org] => Ok(Signed {
            acct_id: acct.into(),
            user_name: user.into(),
            lcid: lcid.into(),
            org_num: org.into(),
        }),
        _ => Err("X-Kd-Appdata 无效".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Vectors from the official SDK's own BuildHeader (tests/vectors/make_kingdee_vectors.py).
    #[test]
    fn kingdee_headers_match_official_sdk_vectors() {
        let text = include_str!("../../vectors/kingdee_headers.json");
        let vectors: Vec<Value> = serde_json::from_str(text).unwrap();
        assert!(vectors.len() >= 3);
        for v in &vectors {
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            let id = Identity {
                app_id: s("app_id"),
                app_secret: s("app_secret"),
                acct_id: s("acct_id"),
                user_name: s("user_name"),
                lcid: v["lcid"].as_i64().unwrap(),
                org_num: match &v["org_num"] {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                },
            };
            let ts = v["timestamp"].as_u64().unwrap();
            let url = s("url");
            let ours = build_headers(&id, &url, ts);
            for (name, value) in &ours {
                assert_eq!(
                    v["headers"][name].as_str(),
                    Some(value.as_str()),
                    "{name} in {}",
                    v["name"]
                );
            }
            if let Some(sec) = v["client_sec"].as_str() {
                assert_eq!(decode_app_secret(id.app_id.split_once('_').unwrap().1), sec);
            }
            let lower: HashMap<String, String> = v["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, val)| (k.to_lowercase(), val.as_str().unwrap().to_string()))
                .collect();
            let path = &url[url[10..].find('/').unwrap() + 10..];
            let signed = verify(&lower, path, &id.app_id, &id.app_secret, ts + 10, 300).unwrap();
            assert_eq!(signed.acct_id, id.acct_id);
            assert_eq!(signed.user_name, id.user_name);
            let wrong = verify(&lower, path, &id.app_id, "not-the-secret", ts, 300);
            assert!(wrong.unwrap_err().contains("X-Kd-Signature"));
            let stale = verify(&lower, path, &id.app_id, &id.app_secret, ts + 301, 300);
            assert!(stale.unwrap_err().contains("时间戳"));
            let other_path = verify(
                &lower,
                "/k3cloud/Other.common.kdsvc",
                &id.app_id,
                &id.app_secret,
                ts,
                300,
            );
            assert!(other_path.unwrap_err().contains("X-Api-Signature"));
        }
    }
}
