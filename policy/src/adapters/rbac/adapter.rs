//! The rbac adapter's decision for one `authorization` instance, as Istio 1.0's
//! `rbacStore.go` made it (spec §7):
//!
//! 1. `action.namespace`, `service`, `path` and `method` must be non-empty strings;
//! 2. the roles of the action's namespace are considered; a role is eligible when one of its
//!    rules matches the service, the path (when it lists paths), the method and every
//!    constraint on `action.properties`;
//! 3. the request is allowed when a subject of an (ENFORCED) binding of an eligible role
//!    matches: every field the subject sets — `user` and `group` (exact or `*`) against
//!    `subject.user` / `subject.groups`, each of its `properties` against
//!    `subject.properties` — is equal;
//! 4. otherwise PERMISSION_DENIED `"RBAC: permission denied."`; every answer may be cached
//!    for `cache_duration` and 1 000 000 000 uses.
//!
//! An RbacConfig, when given, decides where RBAC applies (OFF, ON, ON_WITH_INCLUSION,
//! ON_WITH_EXCLUSION against `action.service` / `action.namespace`); outside it every request
//! is allowed. Permissive mode is a shadow: a PERMISSIVE binding never grants, and with
//! `enforcementMode: PERMISSIVE` nothing is denied; what the shadow decided differently is
//! counted and logged (at most every [`LOG_EVERY`]).

use super::config::{Params, VALID_USE_COUNT};
use super::pattern::Pattern;
use super::store::{Role, Rule, Store, Subject};
use crate::adapters::{code, status, CheckResult, Instance};
use mixer_rules::{Document, Problem};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Istio's denial message.
pub const DENIED: &str = "RBAC: permission denied.";
/// How often shadow decisions are logged, at most.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why the roles and bindings could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct StoreError(pub Vec<Problem>);

/// Requests the shadow decided differently from the enforced answer.
#[derive(Debug)]
struct Shadow {
    count: AtomicU64,
    /// When it was last logged: seconds since the handler's start, plus one (0: never).
    logged: AtomicU64,
}

impl Shadow {
    fn new() -> Shadow {
        Shadow {
            count: AtomicU64::new(0),
            logged: AtomicU64::new(0),
        }
    }

    /// Counts one; true when it should be logged now.
    fn record(&self, since_start: Duration) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
        let now = since_start.as_secs() + 1;
        let last = self.logged.load(Ordering::Relaxed);
        (last == 0 || now >= last + LOG_EVERY.as_secs())
            && self
                .logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// A built `rbac` handler.
#[derive(Debug)]
pub struct RbacHandler {
    store: Store,
    cache_duration: Duration,
    started: Instant,
    /// Allowed only because RBAC is permissive (the enforced decision was a denial).
    shadow_denials: Shadow,
    /// Denied, though a PERMISSIVE binding would have allowed it.
    shadow_allows: Shadow,
}

/// The action and subject of one instance, as strings.
struct Request<'i, 'a> {
    instance: &'i Instance<'a>,
    service: &'i str,
    path: &'i str,
    method: &'i str,
    user: &'i str,
    groups: &'i str,
}

impl RbacHandler {
    /// Builds the handler over the RBAC documents among `docs`; `now` starts its log clock.
    pub fn new(params: Params, docs: &[Document], now: Instant) -> Result<Self, StoreError> {
        Ok(RbacHandler {
            store: Store::build(docs).map_err(StoreError)?,
            cache_duration: params.cache_duration(),
            started: now,
            shadow_denials: Shadow::new(),
            shadow_allows: Shadow::new(),
        })
    }

    /// Requests allowed only because RBAC is in permissive mode.
    pub fn shadow_denials(&self) -> u64 {
        self.shadow_denials.count.load(Ordering::Relaxed)
    }

    /// Requests denied that a PERMISSIVE binding would have allowed.
    pub fn shadow_allows(&self) -> u64 {
        self.shadow_allows.count.load(Ordering::Relaxed)
    }

    /// Answers one `authorization` instance.
    pub fn check(&self, instance: &Instance<'_>, now: Instant) -> CheckResult {
        let allowed = self.decide(instance, now);
        CheckResult {
            status: if allowed {
                status(code::OK, "")
            } else {
                status(code::PERMISSION_DENIED, DENIED)
            },
            valid_duration: self.cache_duration,
            valid_use_count: VALID_USE_COUNT,
        }
    }

    fn decide(&self, instance: &Instance<'_>, now: Instant) -> bool {
        let text = |field: &str| {
            instance
                .field(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        };
        let (namespace, service) = (text("action.namespace"), text("action.service"));
        let scope = self.store.scope.as_ref();
        if scope.is_some_and(|s| !s.enforces(service, namespace)) {
            return true;
        }
        let permissive = scope.is_some_and(|s| s.permissive);
        let since_start = now.saturating_duration_since(self.started);
        let (path, method) = (text("action.path"), text("action.method"));
        let missing = [
            ("namespace", namespace),
            ("service", service),
            ("path", path),
            ("method", method),
        ]
        .into_iter()
        .find(|(_, v)| v.is_empty());
        if let Some((field, _)) = missing {
            tracing::debug!(instance = instance.name, "rbac: action.{field} is missing");
            if permissive && self.shadow_denials.record(since_start) {
                tracing::info!(
                    instance = instance.name,
                    count = self.shadow_denials(),
                    "rbac permissive mode: allowed a request without action.{field}"
                );
            }
            return permissive;
        }
        let req = Request {
            instance,
            service,
            path,
            method,
            user: text("subject.user"),
            groups: text("subject.groups"),
        };
        let roles = self.store.roles(namespace);
        if permissive {
            if !allows(roles, &req, true) && self.shadow_denials.record(since_start) {
                tracing::info!(
                    instance = instance.name,
                    namespace,
                    service,
                    method,
                    path,
                    user = req.user,
                    count = self.shadow_denials(),
                    "rbac permissive mode: allowed a request the policy denies"
                );
            }
            return true;
        }
        let enforced = allows(roles, &req, false);
        let shadow = roles
            .iter()
            .any(|r| r.bindings.iter().any(|b| b.permissive));
        if !enforced
            && shadow
            && allows(roles, &req, true)
            && self.shadow_allows.record(since_start)
        {
            tracing::info!(
                instance = instance.name,
                namespace,
                service,
                method,
                path,
                user = req.user,
                count = self.shadow_allows(),
                "rbac: denied a request a PERMISSIVE binding would allow"
            );
        }
        enforced
    }
}

/// Whether a binding (PERMISSIVE ones too, when `permissive`) of an eligible role among
/// `roles` grants the request.
fn allows(roles: &[Role], req: &Request<'_, '_>, permissive: bool) -> bool {
    roles.iter().any(|role| {
        role.rules.iter().any(|r| rule_matches(r, req))
            && role
                .bindings
                .iter()
                .filter(|b| permissive || !b.permissive)
                .any(|b| b.subjects.iter().any(|s| subject_matches(s, req)))
    })
}

fn rule_matches(rule: &Rule, req: &Request<'_, '_>) -> bool {
    Pattern::any(&rule.services, req.service)
        && (rule.paths.is_empty() || Pattern::any(&rule.paths, req.path))
        && Pattern::any(&rule.methods, req.method)
        && rule.constraints.iter().all(|(key, values)| {
            req.instance
                .entry("action.properties", key)
                .and_then(|v| v.as_str())
                .is_some_and(|v| Pattern::any(values, v))
        })
}

fn subject_matches(s: &Subject, req: &Request<'_, '_>) -> bool {
    s.user.as_ref().is_none_or(|u| u.matches(req.user))
        && s.group.as_ref().is_none_or(|g| g.matches(req.groups))
        && s.properties.iter().all(|(k, want)| {
            req.instance
                .entry("subject.properties", k)
                .and_then(|v| v.as_str())
                == Some(want.as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_decisions_are_all_counted_and_logged_at_most_every_10s() {
        let s = Shadow::new();
        let at = |secs| s.record(Duration::from_secs(secs));
        let logged: Vec<bool> = [0, 1, 9, 10, 11, 25, 25].into_iter().map(at).collect();
        assert_eq!(logged, [true, false, false, true, false, true, false]);
        assert_eq!(s.count.load(Ordering::Relaxed), 7);
    }
}
