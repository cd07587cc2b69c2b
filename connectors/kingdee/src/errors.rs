//! K3Cloud answers HTTP 200 with `Result.ResponseStatus.IsSuccess: false` when an operation fails, and its
//! `Errors` say why (with the field, when one is at fault). ExecuteBillQuery fails as `[[{"Result": …}]]`.
//! A lost session (`MsgCode` 1) is `unauthorized`, so the client logs in again.

use qiao_sdk::Error;
use qiao_sdk::json_http::Response;
use serde_json::Value;

/// The answer when it is not a failure.
pub fn check(response: &Response) -> Result<Value, Error> {
    if response.status >= 500 {
        return Err(
            Error::unavailable(format!("K3Cloud answered HTTP {}", response.status)).with_platform(
                response.status,
                response.text().chars().take(200).collect::<String>(),
            ),
        );
    }
    let text = response.text();
    if let Some(reason) = text.strip_prefix("response_error:") {
        return Err(Error::internal(format!(
            "K3Cloud failed: {}",
            reason.trim()
        )));
    }
    if !response.is_success() {
        return Err(Error::internal(format!(
            "K3Cloud answered HTTP {}",
            response.status
        )));
    }
    let body = response.json()?;
    let status = match &body {
        Value::Array(rows) => {
            &rows.first().and_then(|r| r.get(0)).unwrap_or(&Value::Null)["Result"]["ResponseStatus"]
        }
        _ => &body["Result"]["ResponseStatus"],
    };
    if status["IsSuccess"] == false {
        return Err(failure(status));
    }
    Ok(body)
}

fn failure(status: &Value) -> Error {
    let errors: Vec<String> = status["Errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(
            |e| match e["FieldName"].as_str().filter(|f| !f.is_empty()) {
                Some(field) => format!("{field}: {}", e["Message"].as_str().unwrap_or_default()),
                None => e["Message"].as_str().unwrap_or_default().to_string(),
            },
        )
        .collect();
    let message = if errors.is_empty() {
        "K3Cloud refused the operation".to_string()
    } else {
        errors.join("; ")
    };
    let msg_code = status["MsgCode"].as_i64().unwrap_or(0);
    let has_field = status["Errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["FieldName"].as_str().is_some_and(|f| !f.is_empty()));
    let error = if msg_code == 1 || message.contains("会话") || message.contains("重新登录") {
        Error::unauthorized(format!("K3Cloud session lost or login refused: {message}"))
    } else if msg_code == 2 || message.contains("权限") {
        Error::forbidden(format!("the K3Cloud user lacks a permission: {message}"))
    } else if message.contains("繁忙") || message.contains("超时") {
        Error::unavailable(format!("K3Cloud is busy: {message}"))
    } else if message.contains("不存在") && !has_field {
        Error::not_found(message.clone())
    } else if message.contains("状态") {
        Error::conflict(format!("the bill's status does not allow this: {message}"))
    } else {
        Error::invalid_input(message.clone())
    };
    let code = status["ErrorCode"]
        .as_i64()
        .map(|c| c.to_string())
        .unwrap_or_default();
    error.with_platform(
        if msg_code != 0 {
            format!("MsgCode {msg_code}")
        } else {
            code
        },
        message,
    )
}
