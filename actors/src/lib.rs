//! The actors of the alphastocks engine, their supervisor, and the pure logic they use.
//!
//! Market data flows one way, each arrow a typed message:
//!
//! ```text
//! feed ─Ticks/BarsReceived─▶ DataManager ─JudgeCandles─▶ Strategy   (detections: the reply)
//!                                 │ └─────────── SignalsDetected (a batch's) ────▶ SignalManager
//!                                 └──────── PersistCandles ─▶ DbWriter ◀── Persist ─────┤
//!                                                              ▲                        │ SignalGenerated
//!                                    AreSignalsProcessed/Persist│                        ▼
//!                 PositionManager ◀── SignalActivated ──── OptionsExecutor ◀────────────┘
//! ```
//!
//! - One actor per file: [`data_manager`], [`strategy`], [`signal_manager`],
//!   [`options_executor`], [`position_manager`], [`db_writer`], and with Kite Connect
//!   [`broker`] (listed option chains, live entry and exit orders, order updates pushed over
//!   KiteTicker, periodic reconciliation).
//! - [`live_orders`] (placing and following orders), [`order_board`] (the order updates
//!   pushed), [`reconcile`] (the broker's book against the engine's): the Broker's plain code.
//! - [`notifier`] posts alarms to webhooks ([`alerts`]: formats, rate limit, retries).
//! - [`supervisor`]: panics become supervised restarts with the mailbox kept.
//! - [`logic`]: indicators, candle aggregation, sessions — plain code, no actix.
//! - [`feed`]: the replay CSV reader and the simulated market; [`sim_feed`] steps the latter
//!   for `run` on the pipeline's arbiter.
//! - [`store`]: the storage trait and the embedded SQLite store.
//! - [`config`]: the config file.

pub mod alerts;
pub mod broker;
pub mod charges;
pub mod config;
pub mod data_manager;
pub mod db_writer;
pub mod error;
pub mod feed;
pub mod kite;
pub mod live_orders;
pub mod logic;
pub mod metrics;
pub mod notifier;
pub mod options;
pub mod options_executor;
pub mod order_board;
pub mod position_manager;
pub mod reconcile;
pub mod signal_manager;
pub mod sim_feed;
pub mod stats;
pub mod store;
pub mod strategies;
pub mod strategy;
pub mod supervisor;

pub use error::{Error, Result};
