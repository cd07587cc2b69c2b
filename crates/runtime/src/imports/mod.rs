//! What the host provides to connectors, one module per WIT import interface. Each has its own state struct
//! (`HttpState`, `KvState`, `LogState`, `ConfigState`, `CryptoState`) and its own `link()`, which adds the
//! interface to a linker given where that state sits in the store's data; `sandbox` composes them. An import
//! knows nothing of the others or of the store data around it.

pub mod config;
pub mod crypto;
pub mod http;
pub mod kv;
pub mod log;
pub mod v0_1_0;

use wasmtime::component::{HasData, Linker};

use qiao_contract::types;

/// `qiao:connector/types` declares only types: nothing to keep.
pub struct Types;

impl HasData for Types {
    type Data<'a> = Types;
}

impl types::Host for Types {}

pub fn link_types<T: Send + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, Types>(linker, |_| Types)
}
