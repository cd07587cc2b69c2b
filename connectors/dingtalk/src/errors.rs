//! What DingTalk's answers mean. Two envelopes coexist: the old API (`oapi`) answers HTTP 200 with a numeric
//! `errcode`; the new API (`api`) answers an HTTP error status with a string `code`. Both end up as the
//! contract's error kinds, keeping DingTalk's code and message for the operator.

use qiao_sdk::json_http::Response;
use qiao_sdk::{Error, ErrorKind};
use serde_json::Value;

/// DingTalk asks callers to wait a second after a QPS limit.
pub const QPS_WAIT_MS: u64 = 1_000;
/// The monthly API quota of the standard edition resets with the month; an hour is as good a guess as any.
const QUOTA_WAIT_MS: u64 = 3_600_000;

/// The old API's `errcode` as a number (its docs show it as a string in places).
fn errcode(body: &Value) -> Option<i64> {
    match &body["errcode"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// An old-API answer: the body when `errcode` is 0, else the error it stands for.
pub fn check_oapi(response: &Response) -> Result<Value, Error> {
    let body = parse(response)?;
    match errcode(&body) {
        Some(0) => Ok(body),
        Some(code) => {
            let message = body["errmsg"].as_str().unwrap_or_default().to_string();
            // 88 carries the real reason in sub_code / sub_msg.
            let message = match body["sub_msg"].as_str() {
                Some(sub) if !sub.is_empty() => format!("{message}: {sub}"),
                _ => message,
            };
            Err(oapi_error(code, &message))
        }
        None if response.is_success() => Ok(body),
        None => Err(http_error(response, &body)),
    }
}

fn oapi_error(code: i64, message: &str) -> Error {
    let error = match code {
        // 40089: gettoken's answer to a wrong appkey or appsecret.
        40001 | 40014 | 41001 | 42001 | 88 | 40089 => Error::unauthorized(format!(
            "DingTalk rejected the access token or the app credentials ({message})"
        )),
        // 90001–90018: the QPS family (90018 per app and API, 90002 per API).
        90001..=90018 => Error::rate_limited(
            "DingTalk's QPS limit for this app or API was hit",
            Some(QPS_WAIT_MS),
        ),
        90020 => Error::rate_limited(
            "the organisation's monthly API quota (standard edition) is used up",
            Some(QUOTA_WAIT_MS),
        ),
        // 400020: the scene group is not one of this app's templates.
        60011 | 50002 | 50004 | 400020 => Error::forbidden(format!(
            "the app lacks the permission or the data is outside its contact scope ({message}); \
             grant it in the DingTalk developer console"
        )),
        -1 | 1002 | 400001 => {
            Error::unavailable(format!("DingTalk is busy ({message}); retry later"))
        }
        41054 => Error::unsupported(format!(
            "DingTalk does not let an app change a member's mobile number ({message}): the person changes it \
             in the DingTalk app, or the member is deleted and created again"
        )),
        60121 | 33012 => Error::not_found(format!("no such user ({message})")),
        60003 => Error::not_found(format!("no such department ({message})")),
        // Scene-group robot messages: 660015 no such group, 660014 / 660016 no (usable) robot.
        660015 => Error::not_found(format!("no such scene group ({message})")),
        660014 | 660016 => Error::invalid_input(format!(
            "the scene-group robot is unknown or unusable ({message}): check scene_group_robot_code"
        )),
        660012 => Error::forbidden(format!(
            "the group's template does not allow this message ({message}); enable the group template"
        )),
        660026 => Error::unavailable(format!("DingTalk failed to send ({message}); retry later")),
        660001..=660099 => {
            Error::invalid_input(format!("DingTalk refused the group message ({message})"))
        }
        // 33011: the role APIs' answer to an unknown roleId.
        33011 => Error::not_found(format!("no such role ({message})")),
        60102 | 60104 | 60008 => Error::conflict(format!("already exists ({message})")),
        34021 => Error::conflict(format!("a role of this name exists already ({message})")),
        // 60005–60007: a department with members or children, or the root, cannot be deleted.
        60005..=60007 => {
            Error::conflict(format!("the department cannot be deleted now ({message})"))
        }
        // 60001 bad name, 60010 a move would make a cycle, 60018 the root cannot change, 34018 no role name,
        // 34020 no such role group.
        60001 | 60004 | 60010 | 60018 | 34018 | 34020 | 400002 | 40035 | 40000..=49999 => {
            Error::invalid_input(format!(
                "DingTalk refused the request's parameters ({message})"
            ))
        }
        _ => Error::internal(format!("DingTalk answered error {code}: {message}")),
    };
    error.with_platform(code, message)
}

/// A new-API answer: the body on 2xx, else the error its status and `code` stand for.
pub fn check_api(response: &Response) -> Result<Value, Error> {
    if response.is_success() {
        if response.body.is_empty() {
            return Ok(Value::Null);
        }
        return parse(response);
    }
    let body = parse(response).unwrap_or(Value::Null);
    Err(http_error(response, &body))
}

/// An error status: the new API's `{code, message}` (any case, as DingTalk's gateway reads it), the per-IP ban
/// page, or a bare 5xx from a proxy.
fn http_error(response: &Response, body: &Value) -> Error {
    let field = |a: &str, b: &str| {
        body[a]
            .as_str()
            .or_else(|| body[b].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (code, message) = (field("code", "Code"), field("message", "Message"));
    // Too many requests from one IP: a 5-minute ban, `wait` in minutes.
    if body["punish"] == "deny" {
        let wait = body["wait"].as_u64().unwrap_or(5) * 60_000;
        return Error::rate_limited("DingTalk banned this IP for too many requests", Some(wait))
            .with_platform(response.status, "IP flow control");
    }
    if code.is_empty() {
        let error = match response.status {
            429 => Error::rate_limited("DingTalk throttled the request", Some(QPS_WAIT_MS)),
            500.. => Error::unavailable(format!("DingTalk answered HTTP {}", response.status)),
            404 => Error::not_found("DingTalk does not know this path or object"),
            status => Error::internal(format!(
                "DingTalk answered HTTP {status} without an error code"
            )),
        };
        return error.with_platform(
            response.status,
            response.text().chars().take(200).collect::<String>(),
        );
    }
    let lower = code.to_ascii_lowercase();
    let kind_of = |e: Error| e.with_platform(&code, &message);
    kind_of(
        if code == "InvalidAuthentication" || response.status == 401 {
            Error::unauthorized(format!("DingTalk rejected the access token ({message})"))
        } else if code == "invalidClientIdOrSecret" {
            Error::new(
                ErrorKind::Unauthorized,
                "DingTalk rejected the appKey/appSecret",
            )
        } else if lower.contains("qpslimit") {
            Error::rate_limited(
                "DingTalk's QPS limit for this app or API was hit",
                Some(QPS_WAIT_MS),
            )
        } else if lower.contains("apicountlimit") {
            Error::rate_limited(
                "the organisation's monthly API quota (standard edition) is used up",
                Some(QUOTA_WAIT_MS),
            )
        } else if lower.contains("flowcontrol") {
            // The to-do API's own throttle per executor or organisation.
            Error::rate_limited(
                "DingTalk throttled to-dos for this user or organisation",
                Some(QPS_WAIT_MS),
            )
        } else if response.status == 403
            || lower.contains("permissiondenied")
            || lower.contains("permession.checkfailed")
        {
            Error::forbidden(format!(
                "the app lacks a permission ({message}); grant it in the DingTalk developer console"
            ))
        } else if response.status == 404 || lower.contains("notfound") || lower.contains("notexist")
        {
            Error::not_found(message.clone())
        } else if response.status >= 500 || lower.contains("systemerror") || lower.contains("busy")
        {
            Error::unavailable(format!("DingTalk failed ({message}); retry later"))
        } else if (400..500).contains(&response.status) {
            Error::invalid_input(format!("DingTalk refused the request ({message})"))
        } else {
            Error::internal(format!(
                "DingTalk answered HTTP {}: {message}",
                response.status
            ))
        },
    )
}

fn parse(response: &Response) -> Result<Value, Error> {
    response.json().map_err(|e| {
        if response.status >= 500 {
            Error::unavailable(format!("DingTalk answered HTTP {}", response.status))
        } else {
            e
        }
    })
}
