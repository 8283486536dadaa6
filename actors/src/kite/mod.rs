//! A Kite Connect v3 REST client (Zerodha): login, instruments, quotes, historical candles,
//! orders, positions and margins.
//!
//! - [`client`]: [`KiteClient`], headers, the response envelope, read retries.
//! - [`credentials`]: [`Credentials`] from `KITE_API_KEY`, `KITE_API_SECRET`,
//!   `KITE_ACCESS_TOKEN`; never printed.
//! - [`error`]: [`KiteError`], one variant per Kite exception type.
//! - [`ratelimit`]: per-endpoint-class token buckets and order caps.
//! - [`session`], [`instruments`], [`market`], [`historical`], [`orders`], [`portfolio`]:
//!   the endpoints and their types.
//! - [`refresh`]: the NFO dump refreshed before each open, atomically, and shared.
//! - [`token`]: the access token's state (accepted, refused, replaced) and the check of a new one.
//! - [`silence`]: the escalation when a connected ticker goes quiet for an underlying.
//! - [`ticker`]: KiteTicker's binary packets and subscription messages (the WebSocket feed).
//! - [`order_updates`]: KiteTicker's text frames (order updates pushed, the ticker's errors).
//!
//! ```no_run
//! # async fn demo() -> Result<(), actors::kite::KiteError> {
//! use actors::kite::*;
//! use std::time::Duration;
//! let base = KiteClient::base_url_from_env(DEFAULT_BASE_URL);
//! let client = KiteClient::new(&base, Credentials::from_env()?, RateLimits::default(),
//!                              Duration::from_secs(7))?;
//! let ltp = client.ltp(&["NSE:NIFTY 50"]).await?;
//! # let _ = ltp; Ok(()) }
//! ```

pub mod client;
pub mod credentials;
mod de;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod historical;
pub mod instruments;
pub mod market;
pub mod order_updates;
pub mod orders;
pub mod portfolio;
pub mod ratelimit;
pub mod refresh;
pub mod session;
pub mod silence;
#[cfg(test)]
pub(crate) mod testkit;
pub mod ticker;
pub mod token;

pub use client::{IdempotencyPolicy, KiteClient, RetryPolicy, DEFAULT_BASE_URL, ENV_BASE_URL};
pub use credentials::{Credentials, ENV_ACCESS_TOKEN, ENV_API_KEY, ENV_API_SECRET};
pub use error::KiteError;
pub use historical::{historical_chunks, max_days_per_request, parse_candle_ts, HistCandle};
pub use instruments::{
    decompress_if_gzip, load_or_fetch_instruments, parse_instruments, Instrument,
    DEFAULT_INSTRUMENT_CACHE_MAX_AGE,
};
pub use market::{Depth, DepthLevel, Ltp, Ohlc, OhlcQuote, Quote, QUOTE_BATCH};
pub use order_updates::{parse_text, TickerText};
pub use orders::{
    tag_for, OrderRequest, OrderState, OrderType, Trade, TransactionType, STATUS_CANCELLED,
    STATUS_COMPLETE, STATUS_REJECTED,
};
pub use portfolio::{
    AvailableMargin, Margins, OrderMargin, Position, Positions, SegmentMargin, UtilisedMargin,
};
pub use ratelimit::{EndpointClass, Limiter, RateLimiter, RateLimits, TokenBucket, WindowCap};
pub use refresh::{check_dump, refresh_dump, SharedDump};
pub use session::{session_checksum, Session};
pub use ticker::{mode_message, parse_frame, subscribe_message, TickerMode, TickerTick};
pub use token::{validate_access_token, TokenState, TokenStatus};
