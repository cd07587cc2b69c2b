//! What Feishu's answers mean: `{"code": 0, "msg", "data"}` on success; otherwise `code` (with an HTTP status
//! that is sometimes 200, usually 4xx) says why. Mapped to the contract's kinds, Feishu's code and message kept.

use qiao_sdk::Error;
use qiao_sdk::json_http::Response;
use serde_json::Value;

/// Without `x-ogw-ratelimit-reset`, wait a second.
const DEFAULT_WAIT_MS: u64 = 1_000;

/// The body when `code` is 0, else the error it stands for.
pub fn check(response: &Response) -> Result<Value, Error> {
    let body = match response.json() {
        Ok(body) => body,
        Err(e) => {
            let start: String = response.text().chars().take(200).collect();
            return Err(match response.status {
                429 => rate_limited(response),
                500.. => Error::unavailable(format!("Feishu answered HTTP {}", response.status)),
                _ => e,
            }
            .with_platform(response.status, start));
        }
    };
    let code = body["code"].as_i64();
    if code == Some(0) || (code.is_none() && response.is_success()) {
        return Ok(body);
    }
    let message = body["msg"]
        .as_str()
        .or_else(|| body["error_description"].as_str())
        .or_else(|| body["error"].as_str())
        .unwrap_or_default()
        .to_string();
    let code = code.unwrap_or(response.status as i64);
    Err(error(response, code, &message).with_platform(code, &message))
}

fn rate_limited(response: &Response) -> Error {
    let wait = response
        .header("x-ogw-ratelimit-reset")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DEFAULT_WAIT_MS, |s| s.max(1) * 1000);
    Error::rate_limited("Feishu's rate limit for this API was hit", Some(wait))
}

fn error(response: &Response, code: i64, message: &str) -> Error {
    let lower = message.to_ascii_lowercase();
    match code {
        99991663 | 99991664 | 99991661 | 99991668 | 99991677 => {
            Error::unauthorized(format!("Feishu rejected the access token ({message})"))
        }
        // 232019: too many member changes on one chat at once (im/v1 chats), a rate limit in Feishu's words.
        99991400 | 232019 => rate_limited(response),
        // Task v2's documented codes (task-v2 overview, 接口错误返回规范).
        1470404 => Error::not_found(format!("Feishu has no such task or comment ({message})")),
        1470403 => Error::forbidden(format!(
            "the app may not see or change this task ({message}): it must be the task's creator or a member"
        )),
        // The same client_token in flight, or a transient server failure: both worth a retry.
        1470422 | 1470500 => Error::unavailable(format!("Feishu failed ({message}); retry later")),
        _ if response.status == 429 => rate_limited(response),
        99991672 => Error::forbidden(match scope(message) {
            Some(scope) => format!(
                "the app lacks the scope {scope}: enable it in the Feishu developer console"
            ),
            None => format!(
                "the app lacks a scope ({message}): enable it in the Feishu developer console"
            ),
        }),
        _ if lower.contains("not exist") || lower.contains("not found") => {
            Error::not_found(message.to_string())
        }
        _ if response.status >= 500 => {
            Error::unavailable(format!("Feishu failed ({message}); retry later"))
        }
        _ if (400..500).contains(&response.status) => {
            Error::invalid_input(format!("Feishu refused the request ({message})"))
        }
        _ => Error::internal(format!("Feishu answered error {code}: {message}")),
    }
}

/// The scope Feishu names in a 99991672 message: `... required: [contact:user.base:readonly]...`.
fn scope(message: &str) -> Option<&str> {
    let start = message.find('[')? + 1;
    let end = start + message[start..].find(']')?;
    Some(&message[start..end]).filter(|s| !s.is_empty())
}
