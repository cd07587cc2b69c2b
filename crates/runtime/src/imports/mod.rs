//! The capabilities the host provides to connectors, one module per WIT import interface.

pub mod config;
pub mod crypto;
pub mod http;
pub mod kv;
pub mod log;

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker};

use qiao_contract::bindings::{Connector, types};
use crate::sandbox::HostState;

/// The linker every connector is instantiated against: our interfaces plus WASI p2, which components built
/// from Rust, JavaScript or Python import even when they do no I/O (the WASI context grants nothing).
pub fn linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Connector::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

impl types::Host for HostState {}

