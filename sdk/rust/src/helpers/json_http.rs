//! JSON requests through the host's `http` import. Transport failures become the contract's errors (also for
//! raw `http::send`, through `?`), so a connector only decides what the platform's *answers* mean.

use serde_json::Value;

use super::http::{self, HttpError, Method, Request};
use super::types::Error;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, or an `internal` error quoting the start of what came instead.
    pub fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let start =
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned();
            Error::internal(format!(
                "expected JSON from the platform ({e}), got: {start}"
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a request; a JSON body sets `content-type: application/json`.
pub fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    json: Option<&Value>,
) -> Result<Response, Error> {
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = match json {
        Some(value) => {
            all.push((
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ));
            serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))?
        }
        None => Vec::new(),
    };
    let request = Request {
        method,
        url: url.to_string(),
        headers: all,
        body,
        timeout_ms: None,
    };
    let response = http::send(&request)?;
    Ok(Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
    })
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
    send(Method::Get, url, headers, None)
}

pub fn post(url: &str, headers: &[(&str, &str)], json: &Value) -> Result<Response, Error> {
    send(Method::Post, url, headers, Some(json))
}

/// What each transport failure means to a caller: a refused host is a configuration problem (`forbidden`); the
/// rest may pass (`unavailable`), except a malformed request and an oversized answer, which retrying won't fix.
impl From<HttpError> for Error {
    fn from(e: HttpError) -> Error {
        match e {
            HttpError::NotAllowed(message) => Error::forbidden(message),
            HttpError::InvalidRequest(message) => {
                Error::invalid_input(format!("invalid outbound request: {message}"))
            }
            HttpError::Timeout => Error::unavailable("the platform did not answer in time"),
            HttpError::TooLarge(limit) => Error::internal(format!(
                "the platform's response exceeds the host's limit of {limit} bytes"
            )),
            HttpError::RequestLimit(limit) => Error::unavailable(format!(
                "this call used up its allowance of {limit} outbound requests"
            )),
            HttpError::Transport(message) => {
                Error::unavailable(format!("cannot reach the platform: {message}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::ErrorKind;
    use super::*;

    #[test]
    fn transport_failures_map_to_kinds() {
        let kind = |e: HttpError| Error::from(e).kind;
        assert_eq!(
            kind(HttpError::NotAllowed("x".into())),
            ErrorKind::Forbidden
        );
        assert_eq!(
            kind(HttpError::InvalidRequest("x".into())),
            ErrorKind::InvalidInput
        );
        assert_eq!(kind(HttpError::Timeout), ErrorKind::Unavailable);
        assert_eq!(kind(HttpError::TooLarge(1)), ErrorKind::Internal);
        assert_eq!(kind(HttpError::RequestLimit(1)), ErrorKind::Unavailable);
        assert_eq!(
            kind(HttpError::Transport("x".into())),
            ErrorKind::Unavailable
        );
        // The host's test for the cap looks for the limit in the message.
        assert!(
            Error::from(HttpError::TooLarge(1048576))
                .message
                .contains("1048576")
        );
    }
}
