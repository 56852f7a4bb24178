//! Where the config comes from: every `*.yaml`/`*.yml` file of a directory (a ConfigMap
//! mounted in Kubernetes, see `mixer_serving::config_dir`), or the built-in standard config.

use crate::adapters;
use mixer_rules::{load, Catalog, Config, Problems, Source};
use mixer_serving::config_dir;
use std::path::Path;

/// Istio's standard telemetry config, served when no `--config` is given.
pub const STANDARD_CONFIG: &str = include_str!("../config/standard.yaml");

/// Istio's access log (`accesslog` instance, `stdio` handler and rule): off by default, a file
/// to add next to the standard config in a config directory.
pub const ACCESSLOG_CONFIG: &str = include_str!("../config/accesslog.yaml");

/// Istio's access log archived as Parquet files (`accessarchive` instance, `parquet` handler
/// and rule): off by default, a file to add next to the standard config, its `directory` set.
pub const ACCESSLOG_PARQUET_CONFIG: &str = include_str!("../config/accesslog-parquet.yaml");

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

pub use mixer_serving::config_dir::{fingerprint, Fingerprint};

/// Reads every config file of `dir`.
pub fn read_dir(dir: &Path) -> std::io::Result<Files> {
    Ok(Files {
        files: config_dir::read(dir)?,
    })
}

/// Validates `files` (or the standard config when `None`).
pub fn validate(files: Option<&Files>) -> Result<Config, Problems> {
    let config = load_files(files)?;
    let mut across = adapters::prometheus::check_across_handlers(&config);
    across.extend(adapters::stdio::check_across_handlers(&config));
    across.extend(adapters::parquet::check_across_handlers(&config));
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
