//! Outbound HTTP for connectors, and where the allow-list is checked: a connector reaches only the hosts it
//! declared (over https) and the origins of its connection's API-base overrides. Redirects are not followed, so a
//! granted host cannot bounce a request elsewhere.

use std::time::{Duration, Instant};

use futures::StreamExt;
use url::Url;

use crate::bindings::describe::Info;
use crate::bindings::http::{self, HttpError, Method, Request, Response};
use crate::config::Connection;
use crate::sandbox::HostState;

/// Who may be reached from one connection.
#[derive(Debug, Default)]
pub struct AllowList {
    /// Declared host names, reachable over https on the default port.
    hosts: Vec<String>,
    /// Exact origins (`http://127.0.0.1:9001`) from API-base settings.
    origins: Vec<String>,
}

impl AllowList {
    pub fn new(info: &Info, connection: &Connection) -> AllowList {
        let hosts = info.hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        let origins = info
            .config
            .iter()
            .filter(|field| field.api_base)
            .filter_map(|field| connection.values.get(&field.key))
            .filter_map(|value| Url::parse(value).ok())
            .map(|url| url.origin().ascii_serialization())
            .collect();
        AllowList { hosts, origins }
    }

    pub fn permits(&self, url: &Url) -> bool {
        let https_declared = url.scheme() == "https"
            && url.port().is_none()
            && url
                .host_str()
                .is_some_and(|h| self.hosts.iter().any(|d| d == h));
        https_declared || self.origins.contains(&url.origin().ascii_serialization())
    }

    pub fn describe(&self) -> String {
        let all: Vec<String> = self
            .hosts
            .iter()
            .map(|h| format!("https://{h}"))
            .chain(self.origins.clone())
            .collect();
        if all.is_empty() {
            "none".into()
        } else {
            all.join(", ")
        }
    }
}

/// The URL without its query string, which often carries credentials (`?access_token=`, `?appsecret=`).
fn redacted(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

impl http::Host for HostState {
    async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        let limits = self.limits().clone();
        if self.http_requests >= limits.max_http_requests {
            return Err(HttpError::RequestLimit(limits.max_http_requests));
        }
        self.http_requests += 1;
        let url = Url::parse(&request.url)
            .map_err(|e| HttpError::InvalidRequest(format!("bad URL: {e}")))?;
        if !self.allow.permits(&url) {
            tracing::warn!(
                connection = %self.connection.name,
                url = %redacted(&url),
                "refused outbound request to a host not granted to this connection"
            );
            return Err(HttpError::NotAllowed(format!(
                "{} is not granted to connection {}; granted: {}",
                url.origin().ascii_serialization(),
                self.connection.name,
                self.allow.describe()
            )));
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = request.timeout_ms.map_or(remaining, |ms| {
            Duration::from_millis(ms.into()).min(remaining)
        });
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
            Method::Head => reqwest::Method::HEAD,
        };
        let mut builder = self
            .http
            .request(method, url.clone())
            .timeout(timeout)
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let started = Instant::now();
        let result = fetch(builder, limits.max_response_bytes).await;
        tracing::debug!(
            connection = %self.connection.name,
            url = %redacted(&url),
            status = result.as_ref().ok().map(|r| r.status),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "outbound request"
        );
        result
    }
}

async fn fetch(builder: reqwest::RequestBuilder, max_bytes: u64) -> Result<Response, HttpError> {
    let response = builder.send().await.map_err(classify)?;
    if response.content_length().is_some_and(|len| len > max_bytes) {
        return Err(HttpError::TooLarge(max_bytes));
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Read the body in chunks so an endless or lying response stops at the limit instead of filling memory.
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(classify)?;
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(HttpError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn classify(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::Timeout
    } else if e.is_builder() {
        HttpError::InvalidRequest(e.to_string())
    } else {
        // Without the URL: it may carry credentials in its query.
        HttpError::Transport(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::describe::{ConfigField, Info};

    fn allow(hosts: &[&str], api_base: Option<&str>) -> AllowList {
        let info = Info {
            id: "t".into(),
            name: "t".into(),
            version: "1".into(),
            vendor: "v".into(),
            platform: "p".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            config: vec![ConfigField {
                key: "api_base".into(),
                description: String::new(),
                required: false,
                secret: false,
                api_base: true,
            }],
        };
        let connection = Connection {
            name: "c".into(),
            connector: "t".into(),
            values: api_base
                .map(|b| ("api_base".to_string(), b.to_string()))
                .into_iter()
                .collect(),
            ..Default::default()
        };
        AllowList::new(&info, &connection)
    }

    #[test]
    fn declared_hosts_are_https_only_on_the_default_port() {
        let list = allow(&["oapi.dingtalk.com"], None);
        assert!(list.permits(&Url::parse("https://oapi.dingtalk.com/gettoken?x=1").unwrap()));
        assert!(list.permits(&Url::parse("https://OAPI.dingtalk.com/").unwrap()));
        assert!(!list.permits(&Url::parse("http://oapi.dingtalk.com/").unwrap()));
        assert!(!list.permits(&Url::parse("https://oapi.dingtalk.com:8443/").unwrap()));
        assert!(!list.permits(&Url::parse("https://evil.com/?oapi.dingtalk.com").unwrap()));
        assert!(!list.permits(&Url::parse("https://oapi.dingtalk.com.evil.com/").unwrap()));
        assert!(!list.permits(&Url::parse("https://user@evil.com/").unwrap()));
    }

    #[test]
    fn api_base_grants_exactly_its_origin() {
        let list = allow(&[], Some("http://127.0.0.1:9001/base"));
        assert!(list.permits(&Url::parse("http://127.0.0.1:9001/other/path").unwrap()));
        assert!(!list.permits(&Url::parse("http://127.0.0.1:9002/").unwrap()));
        assert!(!list.permits(&Url::parse("https://127.0.0.1:9001/").unwrap()));
        assert_eq!(list.describe(), "http://127.0.0.1:9001");
    }
}
