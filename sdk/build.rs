//! Writes the `export_bindings!` macro with the absolute path of the contract's WIT folder baked in.
//!
//! `wit_bindgen::generate!` resolves a relative `path` against the manifest of the crate *invoking* it (the
//! connector), and only takes a string literal, so the SDK cannot name its own WIT folder at run time: the
//! literal has to be written out here, where the SDK's location is known.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let wit = Path::new(&manifest)
        .join("../wit/v0.1.0")
        .canonicalize()
        .expect("the released contract wit/v0.1.0 next to sdk/");
    let wit = wit.to_str().expect("a UTF-8 path to wit/");
    let template = include_str!("src/export_bindings.rs.in");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("export_bindings.rs");
    std::fs::write(out, template.replace("@WIT_DIR@", &format!("{wit:?}"))).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/export_bindings.rs.in");
}
