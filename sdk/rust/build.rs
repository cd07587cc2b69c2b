//! Writes the `export_bindings!` macro and the SDK's own host bindings with the absolute path of the contract's
//! WIT folder baked in.
//!
//! `wit_bindgen::generate!` resolves a relative `path` against the manifest of the crate *invoking* it (the
//! connector), and only takes a string literal, so the SDK cannot name its own WIT folder at run time: the
//! literal has to be written out here, where the SDK's location is known.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).to_path_buf();
    let mut text = include_str!("src/export_bindings.rs.in").to_string();
    for version in ["0.1.0", "0.2.0", "0.3.0"] {
        // In this repository the contract is the top-level wit/; the copy `qiao connectors new` writes into a
        // project carries its own wit/.
        let own = Path::new(&manifest).join(format!("wit/v{version}"));
        let repo = Path::new(&manifest).join(format!("../../wit/v{version}"));
        let wit = own
            .canonicalize()
            .or_else(|_| repo.canonicalize())
            .unwrap_or_else(|e| panic!("the contract wit/v{version} (in qiao-sdk or two folders up): {e}"));
        let wit = wit.to_str().expect("a UTF-8 path to wit/");
        let v = version.replace('.', "_");
        text = text.replace(&format!("@WIT_{v}@"), &format!("{wit:?}"));
        if version != "0.3.0" {
            // 0.3.0 adds exports only: its imports are 0.2.0's.
            let host = format!("wit_bindgen::generate!({{ world: \"host\", path: {wit:?} }});\n");
            std::fs::write(out.join(format!("host_v{v}.rs")), host).unwrap();
        }
    }
    std::fs::write(out.join("export_bindings.rs"), text).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/export_bindings.rs.in");
}
