//! `mixer validate PATH`: a config directory (or one file) checked offline against every
//! adapter this binary has — the telemetry ones and the policy ones, since an Istio config
//! (one ConfigMap) usually holds both — printing every problem at once.

use mixer_rules::{load_checked, AdapterSpec, Catalog, Config, Problems, Source};
use mixer_telemetry::adapters::prometheus::check_across_handlers;
use mixer_telemetry::config_source;
use std::path::Path;

/// Loads `files` with the adapters of both services.
fn validate_files(files: &[(String, String)]) -> Result<Config, Problems> {
    let adapters: Vec<AdapterSpec> = mixer_telemetry::adapters::SPECS
        .iter()
        .chain(mixer_policy::adapters::SPECS)
        .copied()
        .collect();
    let catalog = Catalog {
        adapters: &adapters,
        other_kinds: mixer_policy::config_source::CATALOG.other_kinds,
    };
    let sources: Vec<Source<'_>> = files
        .iter()
        .map(|(file, text)| Source { file, text })
        .collect();
    let config = load_checked(
        &sources,
        &catalog,
        mixer_policy::adapters::rbac::check_documents,
    )?;
    let mut across = check_across_handlers(&config);
    across.extend(mixer_telemetry::adapters::stdio::check_across_handlers(
        &config,
    ));
    across.extend(mixer_telemetry::adapters::parquet::check_across_handlers(
        &config,
    ));
    if across.is_empty() {
        Ok(config)
    } else {
        Err(Problems(across))
    }
}

pub fn run(path: &Path) -> Result<(), String> {
    let files = if path.is_dir() {
        config_source::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .files
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        vec![(path.display().to_string(), text)]
    };
    if files.is_empty() {
        return Err(format!("{}: no .yaml or .yml files", path.display()));
    }
    let config = validate_files(&files).map_err(|p| p.to_string())?;
    println!(
        "{}: valid: {} handlers, {} instances, {} rules, {} attributes",
        path.display(),
        config.handlers.len(),
        config.instances.len(),
        config.rules.len(),
        config.vocabulary.attributes().count()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENY: &str = "
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: denyall, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: 7, message: Not allowed}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: denyrequest, namespace: istio-system}
spec: {compiledTemplate: checknothing}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: deny-ratings, namespace: istio-system}
spec:
  match: destination.labels[\"app\"] == \"ratings\"
  actions:
  - {handler: denyall, instances: [denyrequest]}
";

    fn files(extra: &str) -> Vec<(String, String)> {
        vec![
            (
                "standard.yaml".into(),
                config_source::STANDARD_CONFIG.to_owned(),
            ),
            ("policy.yaml".into(), extra.to_owned()),
        ]
    }

    #[test]
    fn telemetry_and_policy_documents_validate_together() {
        let config = validate_files(&files(DENY)).unwrap_or_else(|p| panic!("{p}"));
        assert!(config.handlers.iter().any(|h| h.adapter == "denier"));
        assert!(config.handlers.iter().any(|h| h.adapter == "prometheus"));
        let bad = DENY.replace("code: 7", "code: 99");
        let all = validate_files(&files(&bad))
            .expect_err("bad code")
            .to_string();
        assert!(all.contains("policy.yaml: document 1"), "{all}");
        assert!(all.contains("spec.params.status.code"), "{all}");
    }

    #[test]
    fn the_access_log_config_validates_and_its_params_are_checked() {
        let accesslog = config_source::ACCESSLOG_CONFIG;
        let config = validate_files(&files(accesslog)).unwrap_or_else(|p| panic!("{p}"));
        assert!(config.handlers.iter().any(|h| h.adapter == "stdio"));
        let bad = accesslog.replace("outputAsJson: true", "logStream: FILE");
        let all = validate_files(&files(&bad))
            .expect_err("no outputPath")
            .to_string();
        assert!(
            all.contains("policy.yaml: document 2 (handler stdio.istio-system): spec.params.output_path: need a valid output path"),
            "{all}"
        );
    }

    /// `mixer validate` knows the parquet adapter: the shipped archive config (with the access
    /// log's, which it can sit next to) passes, and bad params are named with their handler.
    #[test]
    fn the_parquet_archive_config_validates_and_its_params_are_checked() {
        let both = format!(
            "{}\n---\n{}",
            config_source::ACCESSLOG_CONFIG,
            config_source::ACCESSLOG_PARQUET_CONFIG
        );
        let config = validate_files(&files(&both)).unwrap_or_else(|p| panic!("{p}"));
        assert!(config.handlers.iter().any(|h| h.adapter == "parquet"));
        let bad = config_source::ACCESSLOG_PARQUET_CONFIG
            .replace("maxAgeBeforeRotation: 1h", "maxAgeBeforeRotation: soon")
            .replace("compression: SNAPPY", "compression: ZIP");
        let all = validate_files(&files(&bad))
            .expect_err("bad params")
            .to_string();
        assert!(
            all.contains("(handler accessarchive.istio-system): spec.params.max_age_before_rotation: must be a duration"),
            "{all}"
        );
        assert!(all.contains("spec.params.compression"), "{all}");
    }

    #[test]
    fn rbac_roles_and_bindings_are_checked_too() {
        let roles = "apiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRole\nmetadata: {name: viewer, namespace: default}\nspec: {rules: [{services: [\"*\"], methods: [GET]}]}\n---\napiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRoleBinding\nmetadata: {name: bind, namespace: default}\nspec: {subjects: [{user: \"*\"}], roleRef: {kind: ServiceRole, name: viewer}}\n";
        let config = validate_files(&files(roles)).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(config.other.len(), 2);
        let bad = roles.replace("ServiceRole, name: viewer", "ServiceRole, name: editor");
        let all = validate_files(&files(&bad))
            .expect_err("unknown role")
            .to_string();
        assert!(
            all.contains(
                "policy.yaml: document 2 (ServiceRoleBinding bind.default): spec.roleRef.name"
            ),
            "{all}"
        );
    }
}
