//! The policy service: `istio.mixer.v1.Mixer/Check` ([`service`]) answered by the [`engine`]
//! — decode the request, run the check and quota rules, call the adapters, combine their
//! answers exactly as Mixer does (spec/mixer-api.md §1.10) with the referenced attributes a
//! proxy caches the decision by (§1.6) — and the adapters themselves ([`adapters`]: denier,
//! listchecker, memquota). [`server`] binds the gRPC and monitoring ports, reloads the config
//! directory atomically and shuts down gracefully; [`self_metrics`] counts what it does.
//!
//! The [`cache`] keeps decisions by the shape and values of the attributes they read (§8.3),
//! so a Check that asks for no quota and agrees with an earlier one on those reads is answered
//! without running a rule: bounded (`--check-cache-entries`, 0 turns it off), honouring each
//! answer's `valid_duration` and `valid_use_count`, emptied on every config reload, counted
//! as `mixer_policy_check_cache_{hits,misses}_total` and `mixer_policy_check_cache_entries`.
//!
//! Time is a parameter ([`clock`]): windows, deduplication and list refreshes read the clock
//! they are given, so tests move time by hand.

pub mod adapters;
pub mod cache;
pub mod clock;
pub mod config_source;
pub mod engine;
pub mod self_metrics;
pub mod server;
pub mod service;
