//! The alphastocks engine binary's library: system wiring and the two ways to drive it.
//!
//! - [`system`]: starts the six supervised actors on their arbiters and connects them.
//! - [`replay`]: pushes a CSV of bars through the engine as fast as it goes, deterministically.
//! - [`live`]: runs the engine on the simulated live feed until Ctrl-C / SIGTERM.
//! - [`recorder`]: an actor that writes every published signal to `signals.jsonl`.
//! - [`dashboard`]: the read-only web dashboard of `run`.
//! - [`sweep`]: paper replays over a grid of config settings, one process per run.

pub mod charges_cli;
pub mod control;
pub mod dashboard;
pub mod error;
pub mod import;
pub mod kite_feed;
pub mod live;
pub mod output;
pub mod recorder;
pub mod replay;
pub mod report;
pub mod report_html;
pub mod sweep;
pub mod system;

/// jemalloc instead of glibc's malloc, for every program built on this library: the engine
/// binary, the benches and the integration tests run on the allocator that ships. The actors
/// hand messages and rows between threads, and glibc frees another thread's chunk under that
/// arena's lock: its malloc/free were a third of the pipeline thread's time in a signal-heavy
/// replay and nearly all of the process's futex time. Measured (docs/performance.md): replays
/// 10–12 % faster, peak RSS a few MB higher (mimalloc, also tried, was as fast and took 30 MB
/// more at 1,000 underlyings).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
