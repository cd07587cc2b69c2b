//! Outbound HTTP for connectors, and where the allow-list is checked: a connector reaches only the hosts it
//! declared *and* its connection was granted (`hosts = [...]`, over https), and the origins of its connection's
//! API-base overrides. Redirects are not followed, so a granted host cannot bounce a request elsewhere.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use url::Url;

use qiao_contract::bindings::describe::Info;
use qiao_contract::bindings::http::{self, HttpError, Method, Request, Response};
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use qiao_config::Connection;

use crate::observe::Observer;

/// A declared host as a URL's `host_str` compares to it (lowercase, IDNA); declared hosts were checked to be
/// host names when the connector loaded.
fn normal(host: &str) -> String {
    url::Host::parse(&host.to_lowercase())
        .map(|h| h.to_string())
        .unwrap_or_else(|_| host.to_ascii_lowercase())
}

/// What a connection's connector declares and what its operator granted (`GET /v1/connections`, start-up
/// warnings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grants {
    pub declared: Vec<String>,
    pub granted: Vec<String>,
    /// Declared but not granted: the connector's requests to these are refused.
    pub missing: Vec<String>,
    /// Granted but not declared: not reachable (a connector reaches only hosts it declares).
    pub unused: Vec<String>,
}

impl Grants {
    pub fn new(declared: &[String], connection: &Connection) -> Grants {
        let mut normalised: Vec<String> = Vec::new();
        for host in declared.iter().map(|h| normal(h)) {
            if !normalised.contains(&host) {
                normalised.push(host);
            }
        }
        let granted = connection.hosts.clone();
        Grants {
            missing: normalised
                .iter()
                .filter(|h| !granted.contains(h))
                .cloned()
                .collect(),
            unused: granted
                .iter()
                .filter(|h| !normalised.contains(h))
                .cloned()
                .collect(),
            declared: normalised,
            granted,
        }
    }

    /// Declared and granted: what the connector may reach over https.
    pub fn effective(&self) -> Vec<String> {
        self.declared
            .iter()
            .filter(|h| self.granted.contains(h))
            .cloned()
            .collect()
    }

    /// Logs one warning when the connector declares hosts the connection does not grant.
    pub fn warn_missing(&self, connection: &Connection) {
        if self.missing.is_empty() {
            return;
        }
        let mut suggested = self.granted.clone();
        suggested.extend(self.missing.iter().cloned());
        tracing::warn!(
            connection = %connection.name,
            connector = %connection.connector,
            missing = ?self.missing,
            "connection {} does not grant hosts its connector declares; its requests to them will be refused. \
             To grant them: hosts = {:?} in [connections.{}]",
            connection.name,
            suggested,
            connection.name
        );
    }
}

/// Whether a WebSocket URL may be connected to from `connection`, by the rules of its HTTP requests: `ws`/`wss`
/// checked as `http`/`https`. `Ok(true)` through an API-base origin, where plain `ws://` is allowed only on
/// loopback (a simulator or a local proxy: nothing unencrypted crosses a network); `Ok(false)` through a granted
/// host (`wss://` on the default port).
pub fn websocket_route(allow: &AllowList, url: &Url, connection: &str) -> Result<bool, String> {
    let as_http = match url.scheme() {
        "wss" => "https",
        "ws" => "http",
        other => return Err(format!("an event stream connects over wss:// (or ws:// on loopback), not {other}://")),
    };
    let mut http = url.clone();
    http.set_scheme(as_http).map_err(|()| format!("{url} cannot be checked"))?;
    match allow.route(&http) {
        None => Err(allow.refusal(&http, connection)),
        Some(true) if url.scheme() == "ws" && !is_loopback(url) => Err(format!(
            "{} is reached over plain ws:// only on loopback; use wss://",
            url.origin().ascii_serialization()
        )),
        Some(via_api_base) => Ok(via_api_base),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Who may be reached from one connection.
#[derive(Debug, Default)]
pub struct AllowList {
    /// Host names declared by the connector and granted to the connection, reachable over https on the
    /// default port.
    hosts: Vec<String>,
    /// Exact origins (`http://127.0.0.1:9001`) from API-base settings.
    origins: Vec<String>,
    /// Everything declared and everything granted, to explain a refusal.
    grants: Option<Grants>,
}

impl AllowList {
    pub fn new(info: &Info, connection: &Connection) -> AllowList {
        let grants = Grants::new(&info.hosts, connection);
        let origins = info
            .config
            .iter()
            .filter(|field| field.api_base)
            .filter_map(|field| connection.values.get(&field.key))
            .filter_map(|value| Url::parse(value).ok())
            .map(|url| url.origin().ascii_serialization())
            .collect();
        AllowList {
            hosts: grants.effective(),
            origins,
            grants: Some(grants),
        }
    }

    pub fn permits(&self, url: &Url) -> bool {
        self.route(url).is_some()
    }

    /// How a permitted URL is reached: `Some(true)` through an API-base origin (the operator's, anywhere),
    /// `Some(false)` through a granted host (public addresses only); `None`: not permitted.
    pub fn route(&self, url: &Url) -> Option<bool> {
        if self.origins.contains(&url.origin().ascii_serialization()) {
            return Some(true);
        }
        let https_granted = url.scheme() == "https"
            && url.port().is_none()
            && url.host_str().is_some_and(|h| self.hosts.iter().any(|d| d == h));
        https_granted.then_some(false)
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

    /// Why a request to `url` from connection `name` is refused, and how it could be granted.
    pub fn refusal(&self, url: &Url, name: &str) -> String {
        let host = url.host_str().unwrap_or_default();
        let refused = format!(
            "{} is not granted to connection {name} (granted: {})",
            url.origin().ascii_serialization(),
            self.describe()
        );
        let Some(grants) = &self.grants else {
            return refused;
        };
        let how = if self.hosts.iter().any(|h| h == host) {
            "; granted hosts are reached over https on the default port only".to_string()
        } else if grants.declared.iter().any(|h| h == host) {
            let mut suggested = grants.granted.clone();
            suggested.push(host.to_string());
            let https_only = if url.scheme() == "https" && url.port().is_none() {
                ""
            } else {
                " (granted hosts are reached over https on the default port only)"
            };
            format!(
                "; the connector declares {host}: to grant it, set hosts = {suggested:?} in [connections.{name}]{https_only}"
            )
        } else {
            format!(
                "; the connector does not declare {host} in describe, and only declared hosts can be granted \
                 (hosts = [...] in [connections.{name}]), or set as an API base"
            )
        };
        refused + &how
    }
}

/// The URL without its query string, which often carries credentials (`?access_token=`, `?appsecret=`).
fn redacted(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// One call's outbound HTTP: where it may go, how many requests it has made, and when its time is up.
pub struct HttpState {
    pub connection: Arc<Connection>,
    pub allow: Arc<AllowList>,
    pub clients: crate::egress::Clients,
    /// Outbound requests made so far in this call.
    pub requests: u32,
    /// When the call's wall-clock budget runs out: no request may outlast it.
    pub deadline: Instant,
    pub observer: Option<Arc<Observer>>,
}

/// Adds `qiao:connector/http` to a linker whose store data holds an [`HttpState`].
pub fn link<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut HttpState) -> wasmtime::Result<()> {
    http::add_to_linker::<T, HasSelf<HttpState>>(linker, get)
}

impl http::Host for HttpState {
    async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        let limits = self.connection.limits.clone();
        if self.requests >= limits.max_http_requests {
            return Err(HttpError::RequestLimit(limits.max_http_requests));
        }
        self.requests += 1;
        let url = Url::parse(&request.url)
            .map_err(|e| HttpError::InvalidRequest(format!("bad URL: {e}")))?;
        let route = self.allow.route(&url);
        let permitted = route.is_some();
        if let Some(observer) = &self.observer {
            observer.request(&redacted(&url), permitted);
        }
        if !permitted {
            tracing::warn!(
                connection = %self.connection.name,
                url = %redacted(&url),
                "refused outbound request to a host not granted to this connection"
            );
            return Err(HttpError::NotAllowed(
                self.allow.refusal(&url, &self.connection.name),
            ));
        }
        let via_api_base = route == Some(true);
        if !via_api_base {
            // Checked here for a clear refusal; the client's resolver checks again the addresses it connects to.
            let host = url.host_str().unwrap_or_default();
            if let Err(why) = crate::egress::public_addresses(host, 443).await {
                if why.contains("resolves to") && !why.contains("no address") {
                    tracing::warn!(connection = %self.connection.name, url = %redacted(&url), "refused outbound request: {why}");
                    return Err(HttpError::NotAllowed(why));
                }
            }
        }
        let client = if via_api_base { &self.clients.api_base } else { &self.clients.public };
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
        let mut builder = client
            .request(method, url.clone())
            .timeout(timeout)
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let started = Instant::now();
        let via = if via_api_base { "the connection's api_base setting" } else { "the connection's granted hosts" };
        let result = fetch(builder, limits.max_response_bytes)
            .await
            .map_err(|e| unreachable_named(e, &url, via));
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

/// A transport failure names what was dialled (host and port, never the path or query, which may carry
/// credentials), why it failed in an operator's words, and the setting that decides where requests go.
fn unreachable_named(e: HttpError, url: &url::Url, via: &str) -> HttpError {
    let HttpError::Transport(detail) = e else { return e };
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    let lower = detail.to_ascii_lowercase();
    let cause = if lower.contains("connection refused") {
        "connection refused (nothing listens there)"
    } else if lower.contains("dns error") || lower.contains("failed to lookup") || lower.contains("name or service") {
        "the host name does not resolve (DNS)"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        "the TLS handshake failed"
    } else if lower.contains("timed out") {
        "the connection timed out"
    } else if lower.contains("reset") || lower.contains("closed") || lower.contains("broken pipe") {
        "the connection was closed by the other side"
    } else {
        "the connection failed"
    };
    HttpError::Transport(format!(
        "{}://{host}:{port}: {cause}; check {via} and that {host} is reachable from this machine ({detail})",
        url.scheme()
    ))
}

fn classify(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::Timeout
    } else if e.is_builder() {
        HttpError::InvalidRequest(e.to_string())
    } else {
        // Without the URL (it may carry credentials in its query), but with every cause: reqwest's own message
        // is only "error sending request".
        let e = e.without_url();
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        HttpError::Transport(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_failure_names_the_host_port_cause_and_setting_but_not_the_path() {
        let url = url::Url::parse("https://open.example.cn/open-apis/im?token=s3cret").unwrap();
        let refused = "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)";
        let HttpError::Transport(m) = unreachable_named(HttpError::Transport(refused.into()), &url, "api_base") else {
            panic!()
        };
        assert!(m.starts_with("https://open.example.cn:443: connection refused"), "{m}");
        assert!(m.contains("check api_base") && !m.contains("s3cret") && !m.contains("open-apis"), "{m}");
        let dns = "error sending request: client error (Connect): dns error: failed to lookup address information";
        let HttpError::Transport(m) = unreachable_named(HttpError::Transport(dns.into()), &url, "x") else { panic!() };
        assert!(m.contains("does not resolve (DNS)"), "{m}");
        assert!(matches!(unreachable_named(HttpError::Timeout, &url, "x"), HttpError::Timeout));
    }
    use qiao_contract::bindings::describe::{ConfigField, Info};

    fn info(declared: &[&str]) -> Info {
        Info {
            id: "t".into(),
            name: "t".into(),
            version: "1".into(),
            vendor: "v".into(),
            platform: "p".into(),
            rate_hints: vec![],
            hosts: declared.iter().map(|h| h.to_string()).collect(),
            config: vec![ConfigField {
                key: "api_base".into(),
                description: String::new(),
                required: false,
                secret: false,
                api_base: true,
            }],
        }
    }

    fn connection(granted: &[&str], api_base: Option<&str>) -> Connection {
        Connection {
            name: "c".into(),
            connector: "t".into(),
            values: api_base
                .map(|b| ("api_base".to_string(), b.to_string()))
                .into_iter()
                .collect(),
            hosts: granted.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    fn allow(declared: &[&str], granted: &[&str], api_base: Option<&str>) -> AllowList {
        AllowList::new(&info(declared), &connection(granted, api_base))
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn event_streams_connect_where_http_may_and_plain_ws_only_on_loopback() {
        let list = allow(&["wss-api.dingtalk.com"], &["wss-api.dingtalk.com"], Some("http://127.0.0.1:9101"));
        assert_eq!(websocket_route(&list, &url("wss://wss-api.dingtalk.com/connect?ticket=t"), "c"), Ok(false));
        assert_eq!(websocket_route(&list, &url("ws://127.0.0.1:9101/connect"), "c"), Ok(true));
        let plain = websocket_route(&list, &url("ws://wss-api.dingtalk.com/connect"), "c").unwrap_err();
        assert!(plain.contains("not granted"), "{plain}");
        let elsewhere = websocket_route(&list, &url("wss://evil.com/"), "c").unwrap_err();
        assert!(elsewhere.contains("not granted"), "{elsewhere}");
        assert!(websocket_route(&list, &url("https://wss-api.dingtalk.com/"), "c").unwrap_err().contains("wss://"));
        let remote = allow(&[], &[], Some("http://10.0.0.5:9101"));
        let unencrypted = websocket_route(&remote, &url("ws://10.0.0.5:9101/connect"), "c").unwrap_err();
        assert!(unencrypted.contains("only on loopback"), "{unencrypted}");
        assert_eq!(websocket_route(&allow(&[], &[], Some("https://10.0.0.5:9101")), &url("wss://10.0.0.5:9101/x"), "c"), Ok(true));
    }

    #[test]
    fn granted_hosts_are_https_only_on_the_default_port() {
        let list = allow(&["oapi.dingtalk.com"], &["oapi.dingtalk.com"], None);
        assert!(list.permits(&url("https://oapi.dingtalk.com/gettoken?x=1")));
        assert!(list.permits(&url("https://OAPI.dingtalk.com/")));
        assert!(!list.permits(&url("http://oapi.dingtalk.com/")));
        assert!(!list.permits(&url("https://oapi.dingtalk.com:8443/")));
        assert!(!list.permits(&url("https://evil.com/?oapi.dingtalk.com")));
        assert!(!list.permits(&url("https://oapi.dingtalk.com.evil.com/")));
        assert!(!list.permits(&url("https://user@evil.com/")));
    }

    #[test]
    fn only_hosts_both_declared_and_granted_are_reachable() {
        let list = allow(
            &["OAPI.dingtalk.com", "api.dingtalk.com"],
            &["oapi.dingtalk.com", "evil.com"],
            None,
        );
        assert!(list.permits(&url("https://oapi.dingtalk.com/")));
        assert!(
            !list.permits(&url("https://api.dingtalk.com/")),
            "declared, not granted"
        );
        assert!(
            !list.permits(&url("https://evil.com/")),
            "granted, not declared"
        );
        assert_eq!(list.describe(), "https://oapi.dingtalk.com");

        let grants = Grants::new(
            &["OAPI.dingtalk.com".into(), "api.dingtalk.com".into()],
            &connection(&["oapi.dingtalk.com", "evil.com"], None),
        );
        assert_eq!(grants.declared, ["oapi.dingtalk.com", "api.dingtalk.com"]);
        assert_eq!(grants.granted, ["oapi.dingtalk.com", "evil.com"]);
        assert_eq!(grants.missing, ["api.dingtalk.com"]);
        assert_eq!(grants.unused, ["evil.com"]);
        assert_eq!(grants.effective(), ["oapi.dingtalk.com"]);
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let list = allow(&["oapi.dingtalk.com"], &[], None);
        assert!(!list.permits(&url("https://oapi.dingtalk.com/")));
        assert_eq!(list.describe(), "none");
        assert!(AllowList::default().describe() == "none");
        assert!(!AllowList::default().permits(&url("https://oapi.dingtalk.com/")));
    }

    #[test]
    fn api_base_grants_exactly_its_origin() {
        // The operator wrote the API base: its origin counts as granted without `hosts`.
        let list = allow(&[], &[], Some("http://127.0.0.1:9001/base"));
        assert!(list.permits(&url("http://127.0.0.1:9001/other/path")));
        assert!(!list.permits(&url("http://127.0.0.1:9002/")));
        assert!(!list.permits(&url("https://127.0.0.1:9001/")));
        assert_eq!(list.describe(), "http://127.0.0.1:9001");
    }

    #[test]
    fn a_refusal_says_how_to_grant() {
        let list = allow(
            &["oapi.dingtalk.com", "api.dingtalk.com"],
            &["oapi.dingtalk.com"],
            Some("http://127.0.0.1:9001"),
        );
        let missing = list.refusal(&url("https://api.dingtalk.com/v1.0/x?access_token=t"), "c");
        assert!(
            missing.starts_with("https://api.dingtalk.com is not granted to connection c")
                && missing.contains("granted: https://oapi.dingtalk.com, http://127.0.0.1:9001")
                && missing.contains(
                    r#"set hosts = ["oapi.dingtalk.com", "api.dingtalk.com"] in [connections.c]"#
                )
                && !missing.contains("access_token"),
            "{missing}"
        );
        let undeclared = list.refusal(&url("https://example.com/"), "c");
        assert!(
            undeclared.starts_with("https://example.com is not granted to connection c")
                && undeclared.contains("does not declare example.com")
                && undeclared.contains("hosts = [...] in [connections.c]"),
            "{undeclared}"
        );
        let port = list.refusal(&url("https://oapi.dingtalk.com:8443/"), "c");
        assert!(port.contains("https on the default port only"), "{port}");
    }
}
