//! `qiao connectors`: write a new connector project and test a built one (the connector kit); inspect a
//! component; make signing keys, sign and verify (signed connectors).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;


#[derive(Subcommand)]
pub enum ConnectorsCommand {
    /// Write a new connector project in Rust, TypeScript or Python, ready to build into NAME.wasm.
    ///
    /// The project is standalone: the SDK for its language and the contract's WIT are written into it from this
    /// binary, so it builds anywhere with the language's usual tools and public package registries. Every
    /// chosen capability starts as a stub answering `unsupported`; then `qiao connectors test NAME.wasm`.
    New {
        /// The connector's name and id: kebab-case (a-z, 0-9, single hyphens), e.g. acme-crm.
        name: String,
        /// rust, typescript or python.
        #[arg(long, short, value_name = "LANG")]
        lang: String,
        /// The capabilities it will export, comma-separated: identity, roles, user-status, messaging, approval,
        /// tasks, chats, webhook, poll.
        #[arg(long, short, value_name = "LIST", default_value = "messaging")]
        capabilities: String,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run the conformance suite on a built connector: what an operator should require before loading it.
    ///
    /// Loads FILE as `qiao serve` would, checks describe, calls every operation it exports with malformed input,
    /// walks its lists, forges callbacks, and watches where it sends requests and what it logs, against a platform
    /// double on loopback (api-base config fields point at it; secrets get recognisable values). Prints a table
    /// of checks with what to fix; exits 1 if any check fails.
    Test {
        /// The connector component (*.wasm).
        file: PathBuf,
        /// A qiao.toml whose connection of this connector to use instead of the made-up one (e.g. pointing at
        /// a simulator of the platform).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// A folder of recorded request/response pairs (*.json) for the platform double to replay strictly.
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record a connector's traffic with a real platform (or a simulator) as fixtures for `test --fixtures`.
    ///
    /// Each api-base setting of the connection in --config is pointed at a recording proxy that forwards to it.
    /// Without --calls only reads are made (one sample of every read operation the connector exports), so
    /// recording never changes the platform unless asked. Secrets are written as {secret:KEY}. Writes
    /// DIR/recorded.json.
    Record {
        /// The connector component (*.wasm).
        file: PathBuf,
        /// A qiao.toml with a connection of this connector, pointing at the platform to record.
        #[arg(long, short)]
        config: PathBuf,
        /// A JSON array of calls to make, in the outbox's form: [{"operation": "list_users", "department": "1",
        /// "cursor": null, "limit": 10}, ...].
        #[arg(long, value_name = "FILE")]
        calls: Option<PathBuf>,
        /// Where to write recorded.json.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Show what a component imports and exports and what its describe says, or why it is invalid.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a new ed25519 signing key for publishing connectors.
    ///
    /// Writes the private key to KEYFILE (base64 of the 32-byte seed, mode 0600; keep it secret, never next to
    /// the connectors) and prints the public key (base64), which servers that trust you list in qiao.toml:
    /// `[trust] publishers = { NAME = "<public key>" }`.
    Keygen {
        /// Where to write the private key (an existing file is not overwritten).
        #[arg(long, value_name = "KEYFILE")]
        out: PathBuf,
    },
    /// Sign a connector file: writes FILE.sig next to it (a detached signature over the file's sha256).
    ///
    /// Ship FILE.sig with FILE: a server whose [trust] lists NAME with this key's public key loads FILE under
    /// `policy = "require"`. Any change to FILE after signing makes the signature fail: sign again.
    Sign {
        /// The connector component (*.wasm).
        file: PathBuf,
        /// The private key written by `qiao connectors keygen`.
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// The publisher name servers list this key under in [trust.publishers].
        #[arg(long, value_name = "NAME")]
        publisher: String,
    },
    /// Check FILE.sig for FILE; exits non-zero when it is not valid.
    ///
    /// With --config, the signature must also be made with the key qiao.toml's [trust.publishers] lists for its
    /// publisher (what a server with `policy = "require"` checks). Without it, only that the signature is valid
    /// for the file and the public key the .sig itself carries (which anyone can make: not proof of who signed).
    Verify {
        /// The connector component (*.wasm); its signature is FILE.sig.
        file: PathBuf,
        /// The config file whose [trust.publishers] to check against.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

pub async fn run(command: ConnectorsCommand) -> Result<()> {
    match command {
        ConnectorsCommand::New { name, lang, capabilities, dir } => new_project(&name, &lang, &capabilities, dir),
        ConnectorsCommand::Record { file, config, calls, out } => {
            let options = qiao_kit::conformance::record::Options { file, config, calls, out };
            let recorded = qiao_kit::conformance::record::record(&options).await?;
            for (call, outcome) in &recorded.calls {
                println!("  {call:<32} {outcome}");
            }
            println!("recorded {} exchange(s) into {}", recorded.exchanges, recorded.file.display());
            Ok(())
        }
        ConnectorsCommand::Test { file, config, fixtures, json } => {
            let options = qiao_kit::conformance::Options { file, config, fixtures };
            let report = qiao_kit::conformance::run(&options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&qiao_kit::conformance::json(&report))?);
            } else {
                qiao_kit::conformance::print(&report);
            }
            if !report.passed {
                std::process::exit(1);
            }
            Ok(())
        }
        ConnectorsCommand::Keygen { out } => keygen(&out),
        ConnectorsCommand::Sign { file, key, publisher } => sign(&file, &key, &publisher),
        ConnectorsCommand::Verify { file, config } => verify(&file, config.as_deref()),
        ConnectorsCommand::Inspect { file, json } => {
            let report = qiao_runtime::inspect::inspect(&file).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            if report["valid"] != true {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}



fn new_project(name: &str, lang: &str, capabilities: &str, dir: Option<PathBuf>) -> Result<()> {
    use qiao_kit::scaffold;
    let lang: scaffold::Lang = lang.parse().map_err(anyhow::Error::msg)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let created = scaffold::create(&scaffold::Request {
        name,
        lang,
        capabilities: scaffold::parse_capabilities(capabilities)?,
        dir: &dir,
    })?;
    println!("wrote {} files into {}", created.files, created.dir.display());
    println!();
    println!("  cd {}", created.dir.display());
    println!("  {}                 # builds {}", created.build, created.wasm);
    println!("  qiao connectors test {}", created.wasm);
    Ok(())
}

fn keygen(out: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = qiao_trust::generate_key();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} already exists: not overwriting a key (choose another --out)",
                out.display()
            ),
            _ => anyhow::anyhow!("cannot create {}: {e}", out.display()),
        })?;
    file.write_all(qiao_trust::encode_private_key(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "wrote the private key to {} (keep it secret); the public key, for [trust.publishers] in qiao.toml:",
        out.display()
    );
    println!("{}", qiao_trust::encode_public_key(&key.verifying_key()));
    Ok(())
}


fn sign(file: &Path, key_file: &Path, publisher: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if publisher.is_empty()
        || publisher.len() > 64
        || !publisher
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        anyhow::bail!(
            "publisher name {publisher:?} must be 1-64 characters of A-Z, a-z, 0-9, '-', '_' or '.'"
        );
    }
    let key_text = std::fs::read_to_string(key_file)
        .with_context(|| format!("cannot read key file {}", key_file.display()))?;
    let key = qiao_trust::decode_private_key(&key_text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", key_file.display()))?;
    if let Ok(meta) = std::fs::metadata(key_file)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: key file {} can be read by other users (chmod 600 it)",
            key_file.display()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let signature = qiao_trust::sign(&bytes, &key, publisher);
    // Written aside then renamed: a watching server never sees half a signature.
    let sig = qiao_trust::signature_path(file);
    let mut tmp = sig.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, signature.to_json())
        .and_then(|()| std::fs::rename(&tmp, &sig))
        .with_context(|| format!("cannot write {}", sig.display()))?;
    println!(
        "signed {} as {publisher} (sha256 {}): wrote {}",
        file.display(),
        signature.sha256,
        sig.display()
    );
    Ok(())
}


fn verify(file: &Path, config: Option<&Path>) -> Result<()> {
    let trust = match config {
        Some(path) => Some(qiao_config::ConfigFile::load(path)?.trust),
        None => None,
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let sig_file = qiao_trust::signature_path(file);
    let verdict = match std::fs::read(&sig_file) {
        Ok(sig) => match &trust {
            Some(trust) => qiao_trust::verify(&bytes, &sig, trust),
            None => qiao_trust::verify_embedded(&bytes, &sig),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => qiao_trust::Verdict::unsigned(
            &sig_file.file_name().unwrap_or_default().to_string_lossy(),
        ),
        Err(e) => anyhow::bail!("cannot read {}: {e}", sig_file.display()),
    };
    let publisher = verdict.publisher.as_deref().unwrap_or("?");
    match (&verdict.problem, &trust) {
        (None, Some(_)) => println!(
            "verified: {} is signed by trusted publisher {publisher}",
            file.display()
        ),
        (None, None) => println!(
            "valid: {} is signed by the key its .sig carries, for publisher {publisher} \
             (pass --config to check that publisher is trusted)",
            file.display()
        ),
        (Some(problem), _) => {
            println!("NOT VERIFIED: {}: {problem}", file.display());
            std::process::exit(1);
        }
    }
    Ok(())
}


fn print_report(r: &serde_json::Value) {
    println!(
        "file:    {} ({} bytes)",
        r["file"].as_str().unwrap_or(""),
        r["size"]
    );
    if r["valid"] == true {
        let d = &r["describe"];
        println!(
            "id:      {} {} ({}, by {})",
            d["id"].as_str().unwrap_or(""),
            d["version"].as_str().unwrap_or(""),
            d["name"].as_str().unwrap_or(""),
            d["vendor"].as_str().unwrap_or("")
        );
        println!("contract: qiao:connector@{}", r["contract"].as_str().unwrap_or(""));
        println!("capabilities: {}", join(&r["capabilities"]));
        println!("hosts:   {}", join(&d["hosts"]));
        for field in d["config"].as_array().into_iter().flatten() {
            let mut flags = vec![];
            for flag in ["required", "secret", "api_base"] {
                if field[flag] == true {
                    flags.push(flag);
                }
            }
            println!(
                "config:  {} [{}] {}",
                field["key"].as_str().unwrap_or(""),
                flags.join(","),
                field["description"].as_str().unwrap_or("")
            );
        }
    } else {
        println!("INVALID: {}", r["error"].as_str().unwrap_or(""));
    }
    println!("imports: {}", join(&r["imports"]));
    println!("exports: {}", join(&r["exports"]));
}


fn join(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
