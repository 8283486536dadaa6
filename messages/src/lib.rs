//! Domain types of the alphastocks engine and every actix message the actors exchange.
//!
//! This crate holds data and message definitions only — no actor logic. Each message sits
//! beside its reply type and is named for what happened (`CandlesUpdated`, `SignalGenerated`)
//! or for what is asked (`GetSignals`, `Persist`).
//!
//! - [`market`]: symbols, timeframes, ticks, bars and candles (the hot-path types: `Copy`, no heap).
//! - [`signal`]: trading signals and their query.
//! - [`execution`]: modes, executor decisions and statistics.
//! - [`store`]: rows handed to the DbWriter and the queries it answers.
//! - [`msg`]: the actix messages.
//! - [`alarm`]: alarms for a person (posted by the Notifier to webhooks).

pub mod alarm;
pub mod execution;
pub mod market;
pub mod msg;
pub mod signal;
pub mod store;

pub use alarm::{Alarm, AlarmKind, GetNotifierStats, NotifierStats, RaiseAlarm, Severity};
pub use execution::*;
pub use market::*;
pub use signal::*;
pub use store::*;
