//! The host imports as contract 0.1.0 names them (`qiao:connector/http@0.1.0`...), for connectors built for it.
//! Each function is the latest import's, reached through the same state: only the records are converted. Dropping
//! support for 0.1.0 is deleting this file and its line in `sandbox::linker`.

use wasmtime::component::{HasSelf, Linker};

use qiao_contract::bindings as latest;
use qiao_contract::v0_1_0::{config, crypto, http, kv, log};
use qiao_contract::types::Error;

use super::config::ConfigState;
use super::crypto::CryptoState;
use super::http::HttpState;
use super::kv::KvState;
use super::log::LogState;

/// Where each import's state is in the store data.
pub struct Getters<T> {
    pub http: fn(&mut T) -> &mut HttpState,
    pub kv: fn(&mut T) -> &mut KvState,
    pub log: fn(&mut T) -> &mut LogState,
    pub config: fn(&mut T) -> &mut ConfigState,
    pub crypto: fn(&mut T) -> &mut CryptoState,
}

pub fn link<T: Send + 'static>(linker: &mut Linker<T>, get: Getters<T>) -> wasmtime::Result<()> {
    // `types` declares only types (shared with the latest bindings): an empty instance satisfies its import.
    linker.instance("qiao:connector/types@0.1.0")?;
    http::add_to_linker::<T, HasSelf<HttpState>>(linker, get.http)?;
    kv::add_to_linker::<T, HasSelf<KvState>>(linker, get.kv)?;
    log::add_to_linker::<T, HasSelf<LogState>>(linker, get.log)?;
    config::add_to_linker::<T, HasSelf<ConfigState>>(linker, get.config)?;
    crypto::add_to_linker::<T, HasSelf<CryptoState>>(linker, get.crypto)
}

impl http::Host for HttpState {
    async fn send(&mut self, r: http::Request) -> Result<http::Response, http::HttpError> {
        use http::Method as M;
        use latest::http::Method as L;
        let method = match r.method {
            M::Get => L::Get,
            M::Post => L::Post,
            M::Put => L::Put,
            M::Patch => L::Patch,
            M::Delete => L::Delete,
            M::Head => L::Head,
        };
        let request = latest::http::Request { method, url: r.url, headers: r.headers, body: r.body, timeout_ms: r.timeout_ms };
        match latest::http::Host::send(self, request).await {
            Ok(r) => Ok(http::Response { status: r.status, headers: r.headers, body: r.body }),
            Err(e) => Err(match e {
                latest::http::HttpError::NotAllowed(m) => http::HttpError::NotAllowed(m),
                latest::http::HttpError::InvalidRequest(m) => http::HttpError::InvalidRequest(m),
                latest::http::HttpError::Timeout => http::HttpError::Timeout,
                latest::http::HttpError::TooLarge(n) => http::HttpError::TooLarge(n),
                latest::http::HttpError::RequestLimit(n) => http::HttpError::RequestLimit(n),
                latest::http::HttpError::Transport(m) => http::HttpError::Transport(m),
            }),
        }
    }
}

impl kv::Host for KvState {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        latest::kv::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_seconds: Option<u32>) -> Result<(), Error> {
        latest::kv::Host::set(self, key, value, ttl_seconds).await
    }

    async fn delete(&mut self, key: String) {
        latest::kv::Host::delete(self, key).await
    }
}

impl log::Host for LogState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        use latest::log::Level as L;
        let level = match level {
            log::Level::Trace => L::Trace,
            log::Level::Debug => L::Debug,
            log::Level::Info => L::Info,
            log::Level::Warn => L::Warn,
            log::Level::Error => L::Error,
        };
        latest::log::Host::log(self, level, message, fields)
    }
}

impl config::Host for ConfigState {
    fn get(&mut self, key: String) -> Option<String> {
        latest::config::Host::get(self, key)
    }

    fn connection(&mut self) -> String {
        latest::config::Host::connection(self)
    }
}

fn padding(p: crypto::Padding) -> latest::crypto::Padding {
    match p {
        crypto::Padding::None => latest::crypto::Padding::None,
        crypto::Padding::Pkcs7 => latest::crypto::Padding::Pkcs7,
    }
}

impl crypto::Host for CryptoState {
    fn sha1(&mut self, data: Vec<u8>) -> Vec<u8> {
        latest::crypto::Host::sha1(self, data)
    }

    fn sha256(&mut self, data: Vec<u8>) -> Vec<u8> {
        latest::crypto::Host::sha256(self, data)
    }

    fn hmac_sha256(&mut self, key: Vec<u8>, data: Vec<u8>) -> Vec<u8> {
        latest::crypto::Host::hmac_sha256(self, key, data)
    }

    fn aes256_cbc_encrypt(&mut self, key: Vec<u8>, iv: Vec<u8>, data: Vec<u8>, p: crypto::Padding) -> Result<Vec<u8>, String> {
        latest::crypto::Host::aes256_cbc_encrypt(self, key, iv, data, padding(p))
    }

    fn aes256_cbc_decrypt(&mut self, key: Vec<u8>, iv: Vec<u8>, data: Vec<u8>, p: crypto::Padding) -> Result<Vec<u8>, String> {
        latest::crypto::Host::aes256_cbc_decrypt(self, key, iv, data, padding(p))
    }

    fn random_bytes(&mut self, len: u32) -> Vec<u8> {
        latest::crypto::Host::random_bytes(self, len)
    }
}
