//! Opening a stream's WebSocket where the connection's egress allows: the URL checked like the connector's HTTP
//! requests (`Runtime::stream_egress`), a granted host reached on its public addresses only (resolved and
//! checked here, then connected to the checked address: no rebinding), TLS by rustls with the web PKI roots,
//! and frames bounded.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use qiao_contract::event_stream::Endpoint;

use crate::App;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The largest message a platform may send on a stream (a frame with an event; platforms' events are far
/// smaller). Larger ones fail the connection rather than the host's memory.
pub const MAX_MESSAGE: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_HEADERS: usize = 32;

/// Connects to the endpoint the connector's `open` answered. The error is for operators: the origin, never the
/// query (a platform's ticket rides there).
pub async fn connect(app: &App, connection: &str, endpoint: &Endpoint) -> Result<Socket, String> {
    let url = Url::parse(&endpoint.url)
        .map_err(|e| format!("the connector's stream URL is not a URL: {e}"))?;
    let origin = url.origin().ascii_serialization();
    let via_api_base = app.runtime.stream_egress(connection, &url)?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{origin}: cannot make a WebSocket request: {e}"))?;
    if endpoint.headers.len() > MAX_HEADERS {
        return Err(format!(
            "the connector asked for {} handshake headers (at most {MAX_HEADERS})",
            endpoint.headers.len()
        ));
    }
    for (name, value) in &endpoint.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad handshake header name {name:?}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("bad value for handshake header {name}"))?;
        request.headers_mut().append(name, value);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let connecting = async {
        let tcp = if via_api_base {
            TcpStream::connect((host.as_str(), port)).await
        } else {
            let addrs = qiao_runtime::egress::public_addresses(&host, port)
                .await
                .map_err(|e| format!("{origin}: {e}"))?;
            TcpStream::connect(&addrs[..]).await
        }
        .map_err(|e| format!("{origin}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(config), None)
            .await
            .map(|(socket, _response)| socket)
            .map_err(|e| format!("{origin}: {}", handshake_error(e)))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            format!(
                "{origin}: no WebSocket after {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
}

/// A refused handshake says its status and, where the platform explains (Feishu's `Handshake-Msg`), why.
fn handshake_error(e: tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(response) => {
            let why: Vec<String> = response
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().starts_with("handshake-"))
                .filter_map(|(name, value)| Some(format!("{name}: {}", value.to_str().ok()?)))
                .collect();
            let mut text = format!("handshake refused with HTTP {}", response.status());
            if !why.is_empty() {
                text.push_str(&format!(" ({})", why.join(", ")));
            }
            text
        }
        other => other.to_string(),
    }
}
