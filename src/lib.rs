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
