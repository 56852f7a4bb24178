//! A config directory (a ConfigMap mounted in Kubernetes): every `*.yaml`/`*.yml` file in name
//! order, and a fingerprint that changes when any of them is added, removed or modified, so a
//! reloader notices changes without a file-watching dependency.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

/// Every config file of `dir` as (path, contents), in name order.
pub fn read(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for p in config_paths(dir)? {
        let text = std::fs::read_to_string(&p)?;
        files.push((p.display().to_string(), text));
    }
    Ok(files)
}
