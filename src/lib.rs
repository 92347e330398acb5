//! commwatch: a disaster-communications status monitor. It probes telecom and postal
//! endpoints for every commune of a province, keeps the availability record, exposes Prometheus
//! metrics and serves a status page for duty officers.
//!
//! # Layout
//! Imports point down this list, never up: a room may use the rooms below it.
//! - [`cli`]: the commands (`run`, `check`, `probe`, `demo`, `drill`) as library code; the
//!   binary only parses arguments and calls [`cli::main`].
//! - [`app`]: wiring and shutdown order; only `cli` and the demo start it.
//! - [`rig`]: the simulator, inventories and the demo, for tests, the demo and benchmarks; the
//!   core never imports it.
//! - [`config`]: the TOML schema, defaults, includes and validation with file/line/key errors.
//! - [`probe`]: one file per probe kind, owning its spec, facts, config keys and check
//!   vocabulary; `probe/mod.rs` holds the dispatch over kinds, `probe/observation.rs` the
//!   [`probe::Observation`] every probe returns.
//! - [`check`]: assertions over observations, kept in resolved form; produces [`check::Sample`].
//! - [`scheduler`]: per-target timing, spread of first runs, global concurrency cap, deadlines.
//! - [`state`]: the pure per-target state machine (thresholds).
//! - [`engine`]: applies samples to state, board, metrics, store and the event bus.
//! - [`status`]: the live board of current states read by the web layer.
//! - [`store`]: SQLite with one batching writer thread and numbered migrations.
//! - [`metrics`]: every Prometheus family in one place.
//! - [`drill`]: drills (lifecycle, timeline notes, tagging, the after-action report).
//! - [`alerting`]: routing, grouping, silences, the durable outbox and one file per receiver.
//! - [`web`]: status pages (overview, target, incidents, groups; Vietnamese and English), JSON
//!   API documented in `docs/openapi.json`, live events (SSE), acknowledgements, `/metrics`,
//!   health endpoints, error mapping.
//! - [`time`]: local time (Asia/Ho_Chi_Minh) for people.
//! - [`reload`]: configuration reload without restarting unchanged targets.
//! - [`shared`]: the handles every task receives ([`shared::AppState`], the running drills, the
//!   reload handle); it imports no subsystem that uses it.
//! - [`events`]: the event types on the bus (engine events, web events).
//! - [`rig`]: what commwatch exercises itself with on loopback, never imported by the core:
//!   [`rig::sim`] (simulated HTTP/TCP/DNS endpoints and a webhook collector), [`rig::inventory`]
//!   (target inventories, communes × operators, from the commune list shipped in `data/`) and
//!   [`rig::demo`] (`commwatch demo`, a scripted storm over a simulated province with a drill).

pub mod alerting;
pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod drill;
pub mod engine;
pub mod events;
pub mod limits;
pub mod metrics;
pub mod probe;
pub mod reload;
pub mod rig;
pub mod scheduler;
pub mod shared;
pub mod state;
pub mod status;
pub mod store;
pub mod time;
pub mod web;

/// Installs ring as rustls' process-wide crypto provider. reqwest is built without a provider
/// of its own (it saves a large C build), and building a client before one is installed panics.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is exactly what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// FNV-1a: tiny, and unlike std's hasher its output is fixed forever, so values derived from it
/// (first-run offsets, alert group ids) stay the same across restarts, versions and instances.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
