//! Inbound requests: verified with HMAC-SHA256 of the token (when one is configured), echoed back, and turned
//! into one event.

use qiao_sdk::text::hex;
use qiao_sdk::{Error, ErrorKind, config, crypto, types};
use serde_json::json;

use crate::Echo;
use crate::exports::qiao::connector::webhook::{Guest, Outcome, Request, Response};

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Guest for Echo {
    fn handle(request: Request) -> Result<Outcome, Error> {
        // With a token configured every callback must be signed with it: a missing signature is refused like a
        // wrong one (otherwise anyone who can reach the URL could inject events). Without one, the echo server is
        // a test double that does not sign.
        if let Some(key) = config::get("token") {
            let Some(signature) = header(&request, "x-echo-signature") else {
                return Err(Error::new(ErrorKind::Unauthorized, "unsigned: x-echo-signature is required"));
            };
            if hex(&crypto::hmac_sha256(key.as_bytes(), &request.body)) != signature {
                return Err(Error::new(ErrorKind::Unauthorized, "bad signature"));
            }
        }
        let id = match header(&request, "x-event-id") {
            Some(id) => id.to_string(),
            None => hex(&crypto::sha256(&request.body)),
        };
        let content_type = header(&request, "content-type")
            .unwrap_or("text/plain")
            .to_string();
        let event = types::Event {
            id,
            kind: "echo.received".into(),
            time_ms: None,
            subject: request.path.clone(),
            payload: json!({
                "body": String::from_utf8_lossy(&request.body),
                "method": request.method,
                "query": request.query,
            })
            .to_string(),
        };
        Ok(Outcome {
            response: Response {
                status: 200,
                headers: vec![("content-type".into(), content_type)],
                body: request.body,
            },
            events: vec![event],
        })
    }
}
