//! Writes the `export_bindings!` macro with the absolute path of the contract's WIT folder baked in.
//!
//! `wit_bindgen::generate!` resolves a relative `path` against the manifest of the crate *invoking* it (the
//! connector), and only takes a string literal, so the SDK cannot name its own WIT folder at run time: the
//! literal has to be written out here, where the SDK's location is known.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let mut text = include_str!("src/export_bindings.rs.in").to_string();
    for version in ["0.1.0", "0.2.0"] {
        let wit = Path::new(&manifest)
            .join(format!("../wit/v{version}"))
            .canonicalize()
            .unwrap_or_else(|e| panic!("the contract wit/v{version} next to sdk/: {e}"));
        let wit = wit.to_str().expect("a UTF-8 path to wit/");
        text = text.replace(&format!("@WIT_{}@", version.replace('.', "_")), &format!("{wit:?}"));
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("export_bindings.rs");
    std::fs::write(out, text).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/export_bindings.rs.in");
}
