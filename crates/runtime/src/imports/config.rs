//! The connection's settings and secrets, read by the connector. Secrets are handed to the guest (it must sign
//! with them) but never logged.

use qiao_contract::bindings::config;
use crate::sandbox::HostState;

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.connection.values.get(&key).cloned()
    }

    fn connection(&mut self) -> String {
        self.connection.name.clone()
    }
}
