//! What WeCom's answers mean: HTTP 200 with a numeric `errcode` (0 is success), mapped to the contract's error
//! kinds with WeCom's code and message kept for the operator.

use qiao_sdk::Error;
use qiao_sdk::json_http::Response;
use serde_json::Value;

/// 45033 is "too many concurrent calls": a second is enough.
const CONCURRENCY_WAIT_MS: u64 = 1_000;
/// 45009 counts per minute.
const RATE_WAIT_MS: u64 = 60_000;

/// The body when `errcode` is 0 (or absent on a 2xx), else the error it stands for.
pub fn check(response: &Response) -> Result<Value, Error> {
    let body = match response.json() {
        Ok(body) => body,
        Err(_) if response.status >= 500 => {
            return Err(
                Error::unavailable(format!("WeCom answered HTTP {}", response.status))
                    .with_platform(
                        response.status,
                        response.text().chars().take(200).collect::<String>(),
                    ),
            );
        }
        Err(e) => return Err(e),
    };
    match body["errcode"].as_i64() {
        Some(0) => Ok(body),
        None if response.is_success() => Ok(body),
        None => Err(
            Error::unavailable(format!("WeCom answered HTTP {}", response.status)).with_platform(
                response.status,
                response.text().chars().take(200).collect::<String>(),
            ),
        ),
        Some(code) => {
            let message = body["errmsg"].as_str().unwrap_or_default();
            Err(error(code, message))
        }
    }
}

fn error(code: i64, message: &str) -> Error {
    // WeCom appends a hint URL to errmsg; the first sentence is the reason.
    let reason = message.split(", hint:").next().unwrap_or(message);
    let error = match code {
        40014 | 42001 | 41001 => {
            Error::unauthorized(format!("WeCom rejected the access token ({reason})"))
        }
        40001 | 40013 | 40091 => {
            Error::unauthorized("WeCom refused the app credentials: check corp_id and corp_secret")
        }
        -1 => Error::unavailable("WeCom is busy (system busy); retry later"),
        45009 => Error::rate_limited("WeCom's API call limit was hit", Some(RATE_WAIT_MS)),
        45033 => Error::rate_limited(
            "too many concurrent calls to WeCom",
            Some(CONCURRENCY_WAIT_MS),
        ),
        60020 => Error::forbidden(
            "WeCom refused the call because Qiao's outbound IP is not in the app's trusted IPs: add it under \
             the app's 企业可信IP (Trusted IP) setting in the WeCom admin console",
        ),
        48002 | 60011 | 48009 => Error::forbidden(format!(
            "the app lacks the API permission or the member, department or tag is outside its visible range \
             ({reason}); grant it in the WeCom admin console"
        )),
        60111 | 46004 | 60103 => Error::not_found(format!("no such user ({reason})")),
        60003 | 60123 => Error::not_found(format!("no such department ({reason})")),
        60102 | 60104 | 60008 | 60106 => Error::conflict(format!("already exists ({reason})")),
        // 40068: the tag id is missing or no tag has it.
        40068 => Error::not_found(format!("no such tag ({reason})")),
        40071 => Error::conflict(format!("a tag with this name exists already ({reason})")),
        40070 => Error::invalid_input(format!(
            "none of the users or departments given is valid ({reason})"
        )),
        81013 => Error::invalid_input(format!("none of the recipients is valid ({reason})")),
        // App chats (appchat/*): 86003 and the older 40050 both say the chatid does not exist.
        86003 | 40050 => Error::not_found(format!("no such group chat ({reason})")),
        86008 => Error::forbidden(format!(
            "the group chat was made by another app: an app may only read, change and send to its own chats \
             ({reason})"
        )),
        86215 => Error::conflict(format!(
            "a group chat with this chatid exists already ({reason})"
        )),
        40029 => Error::invalid_input(format!(
            "the sign-in code is invalid, expired or used ({reason})"
        )),
        60004..=60010
        | 40000..=49999
        | 60000..=60999
        | 301000..=301999
        | 81000..=81999
        | 86000..=86999 => Error::invalid_input(format!("WeCom refused the request ({reason})")),
        _ => Error::internal(format!("WeCom answered error {code}: {reason}")),
    };
    error.with_platform(code, message)
}
