//! `qiao connectors new NAME --lang rust|typescript|python`: writes a standalone connector project from the
//! embedded template of that language (`sdk/<lang>/template`), with the SDK and the contract's WIT copied in, so it
//! builds with one command on a machine that has only `qiao` and the public package registries.
//!
//! Templates are plain files with a few placeholders (see [`Placeholders`]) and one repetition rule: a line that
//! contains `__EACH_CAPABILITY__` is written once per chosen capability. `template/kit.toml` says where the
//! capability stubs and the SDK go and what the build command is.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use qiao_contract::capability::{Capability, LATEST_VERSION};
use serde::Deserialize;

use crate::embedded;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    TypeScript,
    Python,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::TypeScript, Lang::Python];

    fn folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::TypeScript => "typescript",
            Lang::Python => "python",
        }
    }

    /// The SDK's folder in the repository (embedded), copied into the project's `sdk_dir`.
    fn sdk(self) -> &'static str {
        match self {
            Lang::Rust => "sdk/rust",
            Lang::TypeScript => "sdk/typescript/package",
            Lang::Python => "sdk/python/qiao_sdk",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.folder())
    }
}

impl FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Lang::Rust),
            "typescript" | "ts" => Ok(Lang::TypeScript),
            "python" | "py" => Ok(Lang::Python),
            _ => Err(format!(
                "unknown language {s:?}: choose rust, typescript or python"
            )),
        }
    }
}

/// What `kit.toml` in a template says.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Layout {
    capabilities_dir: String,
    sdk_dir: String,
    wit_dir: String,
    build: String,
}

pub struct Request<'a> {
    pub name: &'a str,
    pub lang: Lang,
    /// Without `describe` (always there); empty means the default, messaging.
    pub capabilities: Vec<Capability>,
    /// Where the project goes (created; must not exist or be empty).
    pub dir: &'a Path,
}

pub struct Created {
    pub dir: PathBuf,
    pub files: usize,
    /// The one command that builds `NAME.wasm`, run in `dir`.
    pub build: String,
    pub wasm: String,
}

/// The capabilities a project can be made with, by their WIT names.
pub fn parse_capabilities(list: &str) -> Result<Vec<Capability>> {
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let capability = Capability::ALL
            .into_iter()
            .filter(|c| *c != Capability::Describe)
            .find(|c| c.name() == name.replace('_', "-"))
            .with_context(|| {
                format!(
                    "unknown capability {name:?}: choose from {}",
                    choosable().collect::<Vec<_>>().join(", ")
                )
            })?;
        if !chosen.contains(&capability) {
            chosen.push(capability);
        }
    }
    Ok(chosen)
}

fn choosable() -> impl Iterator<Item = &'static str> {
    Capability::ALL
        .into_iter()
        .filter(|c| *c != Capability::Describe)
        .map(Capability::name)
}

/// WIT keywords: a world of that name would need `%` escaping in every tool.
const WIT_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "export",
    "f32",
    "f64",
    "flags",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
];

/// A connector name: kebab-case words that each start with a letter (the WIT identifier rule, which also makes a
/// valid npm name, Rust crate name and file name), 2 to 48 characters.
pub fn check_name(name: &str) -> Result<()> {
    let words_ok = name.split('-').all(|w| {
        w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if !words_ok || !(2..=48).contains(&name.len()) {
        bail!(
            "invalid connector name {name:?}: use 2 to 48 characters of kebab-case words that each start with a \
             letter (a-z, 0-9 and single hyphens), such as acme-crm"
        );
    }
    if WIT_KEYWORDS.contains(&name) || name == "qiao" || name.starts_with("qiao-") {
        bail!(
            "invalid connector name {name:?}: it is reserved (a WIT keyword or Qiao's own prefix)"
        );
    }
    Ok(())
}

/// The placeholders of a template, and what each becomes.
struct Placeholders<'a> {
    name: &'a str,
}

impl Placeholders<'_> {
    fn apply(&self, text: &str) -> String {
        text.replace("__NAME_SNAKE__", &self.name.replace('-', "_"))
            .replace("__NAME_PASCAL__", &pascal(self.name))
            .replace("__NAME__", self.name)
            .replace("__CONTRACT__", LATEST_VERSION)
            .replace("__QIAO_VERSION__", env!("CARGO_PKG_VERSION"))
    }

    fn capability(line: &str, capability: Capability) -> String {
        let name = capability.name();
        line.replace("__EACH_CAPABILITY__", "")
            .trim_end()
            .replace("__CAP_SNAKE__", &name.replace('-', "_"))
            .replace("__CAP_CAMEL__", &camel(name))
            .replace("__CAP_PASCAL__", &pascal(name))
            .replace("__CAP__", name)
    }

    /// A template file's text: lines with the repetition marker repeated per capability, then the placeholders.
    fn render(&self, text: &str, capabilities: &[Capability]) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            if line.contains("__EACH_CAPABILITY__") {
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                for c in capabilities {
                    out.push_str(&Self::capability(line, *c));
                    out.push_str(newline);
                }
            } else {
                out.push_str(line);
            }
        }
        self.apply(&out)
    }
}

fn pascal(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

fn camel(kebab: &str) -> String {
    let p = pascal(kebab);
    let mut c = p.chars();
    c.next().map_or(String::new(), |f| {
        f.to_ascii_lowercase().to_string() + c.as_str()
    })
}

/// The world every project is built against: the host's imports, describe, and the chosen capabilities.
pub fn world(name: &str, capabilities: &[Capability]) -> String {
    let v = LATEST_VERSION;
    let mut text = format!(
        "package vendor:{name};\n\n/// What {name} imports (the host) and exports (describe and its capabilities).\nworld {name} {{\n    \
         include qiao:connector/host@{v};\n    export qiao:connector/describe@{v};\n"
    );
    for c in capabilities {
        text.push_str(&format!("    export qiao:connector/{}@{v};\n", c.name()));
    }
    text.push_str("}\n");
    text
}

/// Writes the project; on any failure nothing is left behind that the caller did not have before.
pub fn create(request: &Request) -> Result<Created> {
    check_name(request.name)?;
    let dir = request.dir;
    if dir.exists() {
        let empty = dir.is_dir() && std::fs::read_dir(dir)?.next().is_none();
        if !empty {
            bail!(
                "{} already exists and is not an empty directory: choose another place, or remove it",
                dir.display()
            );
        }
    }
    let template = format!("sdk/{}/template", request.lang.folder());
    let layout: Layout = toml::from_str(std::str::from_utf8(
        embedded::file(&format!("{template}/kit.toml")).with_context(|| {
            format!(
                "this qiao was built without the {} template (sdk/{}/template)",
                request.lang,
                request.lang.folder()
            )
        })?,
    )?)
    .context("the template's kit.toml")?;
    let capabilities = if request.capabilities.is_empty() {
        vec![Capability::Messaging]
    } else {
        request.capabilities.clone()
    };
    let files = plan(request, &layout, &template, &capabilities)?;

    let existed = dir.exists();
    let write = || -> Result<()> {
        for (path, bytes) in &files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap())?;
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if path.extension().is_some_and(|e| e == "sh") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        Ok(())
    };
    if let Err(e) = write() {
        if existed {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let _ = std::fs::remove_dir_all(entry.path())
                    .or_else(|_| std::fs::remove_file(entry.path()));
            }
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(e);
    }
    Ok(Created {
        dir: dir.to_path_buf(),
        files: files.len(),
        build: layout.build,
        wasm: format!("{}.wasm", request.name),
    })
}

/// Every file of the project, as (path in the project, contents).
fn plan(
    request: &Request,
    layout: &Layout,
    template: &str,
    capabilities: &[Capability],
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let placeholders = Placeholders { name: request.name };
    let render = |bytes: &[u8]| -> Vec<u8> {
        match std::str::from_utf8(bytes) {
            Ok(text) => placeholders.render(text, capabilities).into_bytes(),
            Err(_) => bytes.to_vec(),
        }
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut stubs: Vec<(&str, &[u8])> = Vec::new();
    for (path, bytes) in embedded::under(template) {
        if path == "kit.toml" {
            continue;
        }
        if let Some(stub) = path.strip_prefix("capabilities/") {
            stubs.push((stub, bytes));
            continue;
        }
        files.push((PathBuf::from(path), render(bytes)));
    }
    for capability in capabilities {
        let names = [
            capability.name().to_string(),
            capability.name().replace('-', "_"),
        ];
        let (file, bytes) = stubs
            .iter()
            .find(|(file, _)| {
                names
                    .iter()
                    .any(|n| file.rsplit_once('.').is_some_and(|(stem, _)| stem == n))
            })
            .with_context(|| {
                format!(
                    "the {} template has no stub for {}",
                    request.lang,
                    capability.name()
                )
            })?;
        files.push((
            Path::new(&layout.capabilities_dir).join(file),
            render(bytes),
        ));
    }

    // The SDK, as the language's package (the Rust crate without its template).
    let sdk = request.lang.sdk();
    let mut sdk_files = 0;
    for (path, bytes) in embedded::under(sdk) {
        if request.lang == Lang::Rust && path.starts_with("template/") {
            continue;
        }
        files.push((Path::new(&layout.sdk_dir).join(path), bytes.to_vec()));
        sdk_files += 1;
    }
    if sdk_files == 0 {
        bail!(
            "this qiao was built without the {} SDK ({sdk})",
            request.lang
        );
    }
    // The Rust SDK generates its bindings from its own copy of every contract version it supports.
    if request.lang == Lang::Rust {
        for (path, bytes) in embedded::under("wit") {
            if path.starts_with('v') {
                files.push((
                    Path::new(&layout.sdk_dir).join("wit").join(path),
                    bytes.to_vec(),
                ));
            }
        }
    }

    let wit = Path::new(&layout.wit_dir);
    files.push((
        wit.join("world.wit"),
        world(request.name, capabilities).into_bytes(),
    ));
    for (path, bytes) in embedded::under(&format!("wit/v{LATEST_VERSION}")) {
        files.push((wit.join("deps/connector").join(path), bytes.to_vec()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case_words_starting_with_a_letter() {
        for good in ["acme-crm", "jira", "e-cology", "weaver2", "ab"] {
            check_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "a",
            "Acme",
            "acme_crm",
            "-acme",
            "acme-",
            "acme--crm",
            "2fa",
            "acme-2fa",
            "list",
            "qiao-x",
            "a b",
            "ä",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn capabilities_by_wit_name_without_duplicates() {
        let chosen = parse_capabilities("tasks, user_status,tasks,messaging").unwrap();
        assert_eq!(
            chosen,
            [
                Capability::Tasks,
                Capability::UserStatus,
                Capability::Messaging
            ]
        );
        let e = parse_capabilities("tasks,describe")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"describe\"") && e.contains("user-status"),
            "{e}"
        );
    }

    #[test]
    fn a_marked_line_is_written_once_per_capability() {
        let p = Placeholders { name: "acme-crm" };
        let text = "mod x;\nexport { __CAP_CAMEL__ } from './__CAP__.js'; // __EACH_CAPABILITY__\nid = \"__NAME__\" __NAME_SNAKE__ __NAME_PASCAL__\n";
        let out = p.render(text, &[Capability::Messaging, Capability::UserStatus]);
        assert_eq!(
            out,
            "mod x;\nexport { messaging } from './messaging.js'; //\nexport { userStatus } from './user-status.js'; //\nid = \"acme-crm\" acme_crm AcmeCrm\n"
        );
    }

    #[test]
    fn an_existing_project_is_not_touched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let e = create(&Request {
            name: "acme",
            lang: Lang::Rust,
            capabilities: vec![],
            dir: dir.path(),
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn a_rust_project_has_its_sdk_the_contract_and_one_stub_per_capability() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("acme");
        let created = create(&Request {
            name: "acme",
            lang: Lang::Rust,
            capabilities: vec![Capability::Tasks, Capability::UserStatus],
            dir: &project,
        })
        .unwrap();
        assert_eq!(created.build, "make");
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "src/capabilities/tasks.rs",
            "src/capabilities/user_status.rs",
            "vendor/qiao-sdk/Cargo.toml",
            "vendor/qiao-sdk/wit/v0.1.0/connector.wit",
            "vendor/qiao-sdk/wit/v0.2.0/connector.wit",
            "wit/world.wit",
            "wit/deps/connector/connector.wit",
        ] {
            assert!(project.join(file).is_file(), "{file} missing");
        }
        assert!(!project.join("src/capabilities/messaging.rs").exists());
        assert!(!project.join("vendor/qiao-sdk/template").exists());
        assert!(!project.join("kit.toml").exists());
        let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("export qiao:connector/tasks@0.2.0;")
                && lib.contains("export qiao:connector/user-status@0.2.0;"),
            "{lib}"
        );
        assert!(!lib.contains("__"), "a placeholder is left: {lib}");
        let world = std::fs::read_to_string(project.join("wit/world.wit")).unwrap();
        assert!(
            world.contains("world acme {")
                && world.contains("export qiao:connector/user-status@0.2.0;"),
            "{world}"
        );
    }
}
