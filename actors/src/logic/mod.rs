//! Pure logic: no actix, no I/O. Each piece is a plain struct or function, tested directly.
//!
//! - [`ema`]: the incremental exponential moving average (TA-Lib seeding).
//! - [`session`]: exchange-session arithmetic (trading days, candle buckets aligned to the open).
//! - [`calendar`]: open and closed exchange days (weekdays and the holiday files).
//! - [`aggregator`]: ticks and bars → candles of one timeframe, with invalid input rejected.
//! - [`history`]: the last closed candles of every symbol (DataManager's rings, slot-major).
//! - [`crossover`]: the EMA fast/slow crossover detector and its signal levels.
//! - [`detection`]: what a strategy kind detects on a candle (its signal before the id).
//! - [`price`]: rounding to the exchange tick.
//! - [`backfill`]: broker history at start-up split into closed candles and the running one.
//! - [`clock`]: the live engine's clock (the machine's, or a faster rehearsal clock).
//! - [`inorder`]: a queue that completes asynchronous work strictly in arrival order.
//! - [`recent`]: the underlying prices seen lately (PositionManager's catch-up of new positions).
//! - [`coalesce`]: a live feed's latest-tick-per-symbol gate while DataManager is behind.

pub mod aggregator;
pub mod backfill;
pub mod calendar;
pub mod clock;
pub mod coalesce;
pub mod crossover;
pub mod detection;
pub mod ema;
pub mod history;
pub mod inorder;
pub mod price;
pub mod recent;
pub mod session;
