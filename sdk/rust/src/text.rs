//! Encodings connectors need for signatures and URLs.

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query values).
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of `name` in a raw query string (`a=1&b=x%20y`), percent-decoded (`+` as a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes.get(i + 1..i + 3).and_then(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        });
        match (bytes[i], hex_pair) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes() {
        assert_eq!(super::hex(&[0, 255, 16]), "00ff10");
        assert_eq!(super::urlencode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        let query = "timestamp=1&msg_signature=ab%2Bc&x&nonce=a+b%zz&t=%E4%BD%A0";
        assert_eq!(
            super::query_param(query, "msg_signature").as_deref(),
            Some("ab+c")
        );
        assert_eq!(
            super::query_param(query, "nonce").as_deref(),
            Some("a b%zz")
        );
        assert_eq!(super::query_param(query, "t").as_deref(), Some("你"));
        assert_eq!(super::query_param(query, "x").as_deref(), Some(""));
        assert_eq!(super::query_param(query, "missing"), None);
    }
}
