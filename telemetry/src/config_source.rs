//! Where the config comes from: every `*.yaml`/`*.yml` file of a directory (a ConfigMap
//! mounted in Kubernetes), or the built-in standard config. A fingerprint of the files lets
//! the reloader notice changes without a file-watching dependency.

use crate::adapters;
use mixer_rules::{load, Catalog, Config, Problems, Source};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Istio's standard telemetry config, served when no `--config` is given.
pub const STANDARD_CONFIG: &str = include_str!("../config/standard.yaml");

/// What the telemetry service knows how to load.
pub const CATALOG: Catalog<'static> = Catalog {
    adapters: adapters::SPECS,
    other_kinds: &[],
};

/// The config files of a directory, in name order, with their contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub files: Vec<(String, String)>,
}

/// Changes when any config file is added, removed, or modified.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, Option<SystemTime>, u64)>);

fn config_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        // Kubernetes mounts ConfigMap keys through `..data` symlinks; hidden entries are its plumbing.
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if yaml && !hidden && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// The fingerprint of `dir` now.
pub fn fingerprint(dir: &Path) -> std::io::Result<Fingerprint> {
    let mut out = Vec::new();
    for p in config_paths(dir)? {
        let meta = std::fs::metadata(&p)?;
        out.push((p, meta.modified().ok(), meta.len()));
    }
    Ok(Fingerprint(out))
}

/// Reads every config file of `dir`.
pub fn read_dir(dir: &Path) -> std::io::Result<Files> {
    let mut files = Vec::new();
    for p in config_paths(dir)? {
        let text = std::fs::read_to_string(&p)?;
        files.push((p.display().to_string(), text));
    }
    Ok(Files { files })
}

/// Validates `files` (or the standard config when `None`).
pub fn validate(files: Option<&Files>) -> Result<Config, Problems> {
    let config = load_files(files)?;
    let across = adapters::prometheus::check_across_handlers(&config);
    if across.is_empty() {
        Ok(config)
    } else {
        Err(Problems(across))
    }
}

fn load_files(files: Option<&Files>) -> Result<Config, Problems> {
    match files {
        Some(f) => {
            let sources: Vec<Source<'_>> = f
                .files
                .iter()
                .map(|(file, text)| Source { file, text })
                .collect();
            load(&sources, &CATALOG)
        }
        None => load(
            &[Source {
                file: "<standard config>",
                text: STANDARD_CONFIG,
            }],
            &CATALOG,
        ),
    }
}
