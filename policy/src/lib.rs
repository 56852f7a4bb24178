//! The policy service: `istio.mixer.v1.Mixer/Check` ([`service`]) answered by the [`engine`]
//! — decode the request, run the check and quota rules, call the adapters, combine their
//! answers exactly as Mixer does (spec/mixer-api.md §1.10) with the referenced attributes a
//! proxy caches the decision by (§1.6) — and the adapters themselves ([`adapters`]: denier,
//! listchecker, memquota, redisquota, rbac). [`server`] binds the gRPC and monitoring ports, reloads the config
//! directory atomically and shuts down gracefully; [`self_metrics`] counts what it does.
//!
//! The [`cache`] keeps decisions by the shape and values of the attributes they read (§8.3),
//! so a Check that asks for no quota and agrees with an earlier one on those reads is answered
//! without running a rule: bounded (`--check-cache-entries`, 0 turns it off), honouring each
//! answer's `valid_duration` and `valid_use_count`, emptied on every config reload, counted
//! as `mixer_policy_check_cache_{hits,misses}_total` and `mixer_policy_check_cache_entries`.
//!
//! The same port serves Envoy's external authorization API ([`ext_authz`],
//! `envoy.service.auth.v3.Authorization/Check`): the request's peers, method, path, host,
//! scheme and headers become Istio attributes (`source.ip`, `source.principal`,
//! `destination.ip`, `destination.port`, `request.method`, `request.path`,
//! `request.url_path`, `request.headers`, …), the same engine and cache answer, and the answer
//! goes back as `OkHttpResponse` (with the route directive's header edits) or
//! `DeniedHttpResponse` (401 for UNAUTHENTICATED, 429 for RESOURCE_EXHAUSTED, 403 otherwise;
//! body = the denial message), `status` = the gRPC status.
//!
//! Time is a parameter ([`clock`]): windows, deduplication and list refreshes read the clock
//! they are given, so tests move time by hand.

pub mod adapters;
pub mod cache;
pub mod clock;
pub mod config_source;
pub mod engine;
pub mod ext_authz;
pub mod self_metrics;
pub mod server;
pub mod service;
