//! Where a connector's requests may land once names are resolved. A host the connector declared and the operator
//! granted is someone else's service on the internet: if its name resolves to a loopback, private, link-local or
//! cloud-metadata address, the request is refused, so a connector (or a poisoned DNS answer) cannot reach the
//! machine's own services or the enterprise's network through a granted name. The check is made in the resolver
//! of the client those requests use, so the address connected to is the address checked (no rebinding between a
//! check and the connection). API-base origins are written by the operator and may be anywhere: they use a client
//! without the check.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address may not be reached through a granted host name; `None` for a public address.
pub fn refused_class(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                // 169.254.169.254 is the cloud metadata service.
                Some("link-local (cloud metadata)")
            } else if v4.is_unspecified() || v4.is_broadcast() || a == 0 {
                Some("unspecified")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (carrier-grade NAT)")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

/// Resolves a name and keeps its public addresses; fails, naming the class, when it has none.
pub async fn public_addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let public: Vec<SocketAddr> = all.iter().copied().filter(|a| refused_class(a.ip()).is_none()).collect();
    match (public.is_empty(), all.first()) {
        (false, _) => Ok(public),
        (true, Some(first)) => Err(format!(
            "{host} resolves to {} ({}): a declared host may not reach loopback, private, link-local or metadata \
             addresses (a service of your own is set as the connection's API base instead)",
            first.ip(),
            refused_class(first.ip()).unwrap_or("refused")
        )),
        (true, None) => Err(format!("{host} resolves to no address")),
    }
}

struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs = public_addresses(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The HTTP clients connectors' requests go out through.
#[derive(Clone)]
pub struct Clients {
    /// For declared and granted hosts: public addresses only.
    pub public: reqwest::Client,
    /// For the operator's API-base origins.
    pub api_base: reqwest::Client,
}

impl Clients {
    pub fn new() -> reqwest::Result<Clients> {
        // Redirects are not followed: a granted host cannot bounce a request elsewhere.
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("qiao/", env!("CARGO_PKG_VERSION")))
        };
        Ok(Clients { public: builder().dns_resolver(Arc::new(PublicOnly)).build()?, api_base: builder().build()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classed() {
        for (ip, class) in [
            ("127.0.0.1", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local (cloud metadata)")),
            ("0.0.0.0", Some("unspecified")),
            ("100.64.0.1", Some("shared (carrier-grade NAT)")),
            ("::1", Some("loopback")),
            ("fc00::1", Some("private (unique local)")),
            ("fe80::1", Some("link-local")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("2606:4700::1111", None),
        ] {
            assert_eq!(refused_class(ip.parse().unwrap()), class, "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_with_its_class() {
        let e = public_addresses("localhost", 443).await.unwrap_err();
        assert!(e.contains("loopback"), "{e}");
    }
}
