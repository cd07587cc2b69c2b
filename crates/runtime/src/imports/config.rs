//! The connection's settings and secrets, read by the connector. Secrets are handed to the guest (it must sign
//! with them) but never logged.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use qiao_config::Connection;
use qiao_contract::bindings::config;

/// The connection a call runs for: its settings and secrets.
pub struct ConfigState {
    pub connection: Arc<Connection>,
}

/// Adds `qiao:connector/config` to a linker whose store data holds a [`ConfigState`].
pub fn link<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut ConfigState) -> wasmtime::Result<()> {
    config::add_to_linker::<T, HasSelf<ConfigState>>(linker, get)
}

impl config::Host for ConfigState {
    fn get(&mut self, key: String) -> Option<String> {
        self.connection.values.get(&key).cloned()
    }

    fn connection(&mut self) -> String {
        self.connection.name.clone()
    }
}
