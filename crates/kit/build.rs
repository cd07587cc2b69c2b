//! Embeds what `qiao connectors new` writes into a project: each language's template and SDK, and every released
//! contract's WIT. A project must build on a machine that has only `qiao` and the public registries, so nothing
//! is read from this repository at run time.
//!
//! Writes `$OUT_DIR/embedded.rs`: `static FILES: &[(&str, &[u8])]`, paths relative to the repository root.

use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The folders embedded, relative to the repository root. A missing one is left out (the CLI then says this
/// build has no SDK for that language).
const ROOTS: &[&str] = &[
    "sdk/rust",
    "sdk/typescript/package",
    "sdk/typescript/template",
    "sdk/python/qiao_sdk",
    "sdk/python/template",
    "wit",
];

/// Build outputs and caches: never part of a project.
fn skipped(name: &str) -> bool {
    matches!(
        name,
        "target"
            | "node_modules"
            | "__pycache__"
            | "build"
            | "generated"
            | ".build"
            | ".generated"
            | ".DS_Store"
    ) || name.ends_with(".pyc")
        || name.ends_with(".wasm")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if skipped(&name) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest.join("../..").canonicalize().unwrap();
    let mut files = Vec::new();
    for root in ROOTS {
        let dir = repo.join(root);
        println!("cargo:rerun-if-changed={}", dir.display());
        walk(&dir, &mut files);
    }
    let mut text = String::from("static FILES: &[(&str, &[u8])] = &[\n");
    for path in &files {
        let rel = path
            .strip_prefix(&repo)
            .unwrap()
            .to_str()
            .expect("UTF-8 paths");
        writeln!(
            text,
            "    ({rel:?}, include_bytes!({:?})),",
            path.to_str().unwrap()
        )
        .unwrap();
    }
    text.push_str("];\n");
    std::fs::write(
        Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded.rs"),
        text,
    )
    .unwrap();
}
