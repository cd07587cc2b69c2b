//! Inbound requests: verified with HMAC-SHA256 when signed, echoed back, and turned into one event.

use qiao_sdk::v0_1_0::text::hex;
use qiao_sdk::v0_1_0::{Error, ErrorKind, config, crypto, types};
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
        if let Some(signature) = header(&request, "x-echo-signature") {
            let key = config::get("token").unwrap_or_default();
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
