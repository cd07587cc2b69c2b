//! What the suite calls a connector with: one well-formed sample of every operation (`samples.json`, in the form
//! the outbox stores calls), the malformed variants made from it, and forged callbacks.

use serde_json::{Value, json};

pub fn samples() -> Vec<Value> {
    serde_json::from_str(include_str!("samples.json")).expect("samples.json is a JSON array")
}

const MIB: usize = 1 << 20;

/// Every string of `sample` replaced (but `operation`), one way per variant; and every number made absurd.
pub fn malformed(sample: &Value) -> Vec<(&'static str, Value)> {
    let odd = "\u{0}\u{202e}\u{feff}𝕏\u{fffd}e\u{301}\u{10ffff}\"'\\<>%00";
    let huge = "x".repeat(MIB);
    vec![
        ("empty strings", map_strings(sample, &|_| String::new())),
        ("1 MiB strings", map_strings(sample, &|_| huge.clone())),
        ("odd Unicode", map_strings(sample, &|_| odd.to_string())),
        ("absurd numbers", map_numbers(sample)),
    ]
}

/// An enum case as serde writes it (`Email`, `Approve`): not input, kept. Samples write their text otherwise.
fn enum_case(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase()) && s.chars().all(|c| c.is_ascii_alphabetic())
}

fn map_strings(value: &Value, f: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::String(s) if enum_case(s) => value.clone(),
        Value::String(s) => Value::String(f(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| map_strings(v, f)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if k == "operation" {
                            v.clone()
                        } else {
                            map_strings(v, f)
                        },
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn map_numbers(value: &Value) -> Value {
    match value {
        // u32::MAX fits every integer the contract takes as input (u32 limits, u64 times, s64 orders).
        Value::Number(_) => json!(u32::MAX),
        // A byte list stays bytes.
        Value::Array(items) if items.iter().all(Value::is_number) => value.clone(),
        Value::Array(items) => Value::Array(items.iter().map(map_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), map_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Callbacks no platform signed: without any signature, and with signatures in the usual places that are wrong.
pub fn forged_callbacks() -> Vec<(&'static str, Value)> {
    let body: Vec<u8> =
        br#"{"encrypt":"AAAA","event":{"type":"user_add"},"msg_signature":"0"}"#.to_vec();
    let forged = "0000000000000000000000000000000000000000";
    vec![
        (
            "an unsigned callback",
            json!({"method": "POST", "path": "/", "query": "", "headers": [["content-type", "application/json"]], "body": body}),
        ),
        (
            "a forged callback",
            json!({
                "method": "POST", "path": "/",
                "query": format!("msg_signature={forged}&signature={forged}&timestamp=1700000000&nonce=abc"),
                "headers": [
                    ["content-type", "application/json"],
                    ["x-signature", forged], ["x-lark-signature", forged], ["x-lark-request-timestamp", "1700000000"],
                    ["x-lark-request-nonce", "abc"], ["timestamp", "1700000000"], ["sign", forged]
                ],
                "body": body
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use qiao_contract::Call;

    #[test]
    fn every_operation_has_one_sample_that_is_a_call() {
        let mut seen = vec![];
        for sample in samples() {
            let call: Call =
                serde_json::from_value(sample.clone()).unwrap_or_else(|e| panic!("{sample}: {e}"));
            seen.push(call.stored_name());
        }
        let mut all = Call::OPERATIONS.to_vec();
        all.sort_unstable();
        seen.sort_unstable();
        assert_eq!(seen, all, "samples.json has one sample per operation");
    }

    #[test]
    fn malformed_variants_stay_calls() {
        for sample in samples() {
            for (what, value) in malformed(&sample) {
                let call = serde_json::from_value::<Call>(value.clone());
                assert!(call.is_ok(), "{what} of {sample}: {:?}", call.err());
            }
        }
        for (what, request) in forged_callbacks() {
            let call =
                serde_json::from_value::<Call>(json!({"operation": "webhook", "request": request}));
            assert!(call.is_ok(), "{what}: {:?}", call.err());
        }
    }
}
