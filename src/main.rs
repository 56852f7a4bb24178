//! `mixer`: the command line that wires the crates together. All logic lives in the libraries;
//! this file only parses arguments and prints.

mod bag_file;
mod policy_cmd;
mod telemetry_cmd;
mod up;
mod validate_cmd;

use clap::{Parser, Subcommand};
use mixer::{init_logging, proxy_cmd};
use mixer_attributes::referenced::{Condition, Referenced};
use mixer_attributes::{expr, Vocabulary};
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: the services and the sidecar allocate many small,
/// short-lived buffers per request (load-tests/RESULTS.md has the before and after; see
/// src/allocator.rs).
#[global_allocator]
static ALLOCATOR: mixer::allocator::Mimalloc = mixer::allocator::Mimalloc;

/// A Mixer-style telemetry and policy pipeline for service meshes (istio.mixer.v1).
#[derive(Debug, Parser)]
#[command(name = "mixer", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline on embedded defaults: telemetry, policy, a demo app and a
    /// sidecar in front of it; prints where to look. Ctrl-C stops it.
    Up(Box<up::UpArgs>),
    /// Evaluate an expression against an attribute bag: prints the value, its type and the
    /// attributes it read (what a policy decision would be cached by).
    Eval {
        /// The expression, in the Mixer expression language (CEXL).
        expression: String,
        /// A YAML file of attributes (`name: value`); without it the bag is empty.
        #[arg(long, value_name = "FILE")]
        bag: Option<String>,
    },
    /// List the attributes expressions may use, with their types.
    Vocabulary,
    /// Run the telemetry service: istio.mixer.v1 Report in, Istio's Prometheus metrics out.
    Telemetry(Box<telemetry_cmd::TelemetryArgs>),
    /// Run the policy service: istio.mixer.v1 Check (and Envoy's ext_authz) answered by
    /// denier, listchecker, rbac, memquota and redisquota rules, with a decision cache.
    Policy(Box<policy_cmd::PolicyArgs>),
    /// Run the sidecar: inbound and outbound HTTP listeners, attribute bags reported in
    /// batches to the telemetry service, policy checks through Istio's check cache,
    /// x-request-id and B3 trace propagation.
    Proxy(Box<proxy_cmd::ProxyArgs>),
    /// Check a config directory (or file) offline; prints every problem and exits 1.
    Validate {
        /// A directory of YAML files, or one file.
        path: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval { expression, bag } => eval(&expression, bag.as_deref()),
        Command::Vocabulary => {
            for (_, name, ty) in Vocabulary::builtin().attributes() {
                println!("{name:<40} {ty}");
            }
            Ok(())
        }
        Command::Up(args) => {
            init_logging();
            up::run(*args)
        }
        Command::Telemetry(args) => {
            init_logging();
            telemetry_cmd::run(*args)
        }
        Command::Policy(args) => {
            init_logging();
            policy_cmd::run(*args)
        }
        Command::Proxy(args) => {
            init_logging();
            proxy_cmd::run(*args)
        }
        Command::Validate { path } => validate_cmd::run(&path),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mixer: {message}");
            ExitCode::FAILURE
        }
    }
}

fn eval(expression: &str, bag_path: Option<&str>) -> Result<(), String> {
    let vocab = Vocabulary::builtin();
    let bag = match bag_path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            bag_file::parse(path, &text, vocab)?
        }
        None => Default::default(),
    };
    let compiled = expr::compile(expression, vocab).map_err(|e| e.to_string())?;
    let mut referenced = Referenced::new();
    let value = compiled
        .evaluate_recorded(&bag, &mut referenced)
        .map_err(|e| e.to_string())?;
    println!("value: {value}");
    println!("type: {}", compiled.result_type());
    println!("referenced:");
    for r in referenced.references() {
        let name = vocab.name(r.name);
        let key = r
            .map_key
            .as_deref()
            .map(|k| format!("[{k:?}]"))
            .unwrap_or_default();
        let condition = match r.condition {
            Condition::Absence => "ABSENCE",
            Condition::Exact => "EXACT",
        };
        println!("  {name}{key} {condition}");
    }
    Ok(())
}
