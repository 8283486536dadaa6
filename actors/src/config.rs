//! The engine's configuration: serde structs for the whole file, unknown fields rejected,
//! values validated. Every error names the JSON path and the bad value.
//!
//! The `options_trading`, `data_collection` and `strategies` sections are the seed's §6.1 and
//! §6.2 blocks; `feed`, `storage`, `market` and `positions` are this engine's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{FixedOffset, NaiveTime, Weekday};
use messages::Mode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod bounds;
mod dashboard;
mod holidays;
pub use bounds::{MAX_CAPITAL, MAX_PRICE, MIN_PRICE};
pub use dashboard::{
    dashboard_token, DashboardConfig, DASHBOARD_TOKEN_ENV, DEFAULT_DASHBOARD_LISTEN,
    MIN_TOKEN_CHARS,
};
pub use holidays::MAX_HOLIDAY_FILE_BYTES;

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub options_trading: OptionsTrading,
    pub data_collection: DataCollection,
    pub strategies: Strategies,
    pub feed: Feed,
    pub storage: Storage,
    pub market: Market,
    pub positions: Positions,
    /// Underlyings' contract data (lot, strike step, tick, expiries) and exchange holidays.
    pub instruments: Instruments,
    /// Paper fills and the synthetic option chain of replay and simulation.
    pub paper: Paper,
    /// Rules of the Python original, each off or lenient by default.
    #[serde(default)]
    pub rules: Rules,
    /// Mailbox metrics and their optional Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The control socket of `run`.
    #[serde(default)]
    pub control: ControlConfig,
    /// The read-only web dashboard of `run` (loopback by default; off when `listen` is empty).
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// The Kite Connect broker (`run --feed kite`).
    #[serde(default)]
    pub kite: KiteConfig,
    /// Brokerage, taxes and fees of option trades, by effective date.
    #[serde(default)]
    pub charges: ChargesConfig,
    /// The replay's tearsheet (`report.json`).
    #[serde(default)]
    pub report: ReportConfig,
    /// Alarms posted to webhooks (off without one): docs/alerts.md.
    #[serde(default)]
    pub alerts: crate::alerts::AlertsConfig,
}

/// `report`: settings of the tearsheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Annual risk-free rate, percent, for the Sharpe and Sortino ratios (default 0).
    pub risk_free_pct: f64,
}

/// `charges`: the rates of every cost item by effective date (see [`crate::charges`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ChargesConfig {
    pub schedule: crate::charges::Schedule,
}

/// Kite Connect. Credentials never live here: they come from `KITE_API_KEY`,
/// `KITE_API_SECRET` and `KITE_ACCESS_TOKEN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KiteConfig {
    /// API base URL (`KITE_BASE_URL` overrides it).
    pub base_url: String,
    /// Seconds before a request is abandoned.
    pub timeout_seconds: u64,
    /// The quote instrument of each underlying (`NSE:NIFTY 50` for NIFTY; stocks default to
    /// `NSE:<SYMBOL>`).
    pub quote_instruments: BTreeMap<String, String>,
    /// Re-download the instrument dump when the cached one is older than this.
    pub instruments_max_age_hours: u64,
    /// When the NFO dump is refreshed each trading day (exchange time `HH:MM`, before
    /// `market.session_open`; Kite regenerates it early each morning). At start, a cached
    /// dump older than the last such instant is refreshed too.
    pub instruments_refresh_at: String,
    /// Live orders only when this is true (and credentials exist and the operator confirmed).
    pub live_trading_enabled: bool,
    /// Order product (`MIS` intraday, `NRML` carry forward).
    pub product: String,
    /// The exchange options are traded on.
    pub exchange: String,
    /// Entry orders: `LIMIT` at the planned premium, or `MARKET` with `market_protection`.
    pub entry_order_type: LiveOrderType,
    /// Exit orders (a stop must get out: `MARKET` with protection by default).
    pub exit_order_type: LiveOrderType,
    /// Kite's `market_protection` for MARKET orders: `-1` automatic, `1..=100` percent.
    pub market_protection: i32,
    /// An entry not filled after this long is cancelled (a partial fill is kept).
    pub entry_fill_timeout_seconds: u64,
    /// How often an order's state is polled while it is open.
    pub order_poll_millis: u64,
    /// First wait before a rejected exit is tried again; doubles up to the maximum.
    pub exit_retry_initial_seconds: f64,
    pub exit_retry_max_seconds: f64,
    /// Stream the underlyings' ticks over KiteTicker (WebSocket) instead of polling quotes
    /// every `interval_seconds` (options held are still polled).
    pub ticker: bool,
    /// KiteTicker's address (`KITE_TICKER_URL` overrides it); the credentials are added.
    pub ticker_url: String,
    /// During market hours, an underlying the connected ticker gives no tick for this long is
    /// taken as dead: resubscribed, then the socket reconnected, then polled over REST while
    /// the stream is retried (each step this long after the last). Also how recently a held
    /// option must have streamed for its `/quote` poll to stop. 1 to 3600.
    pub ticker_silence_seconds: u64,
    /// Every this many seconds the broker's positions and open orders are compared with the
    /// book; a difference seen at two looks in a row is an alarm. 0 turns it off; else 1 to
    /// 86400 (each look is two REST reads).
    pub reconcile_seconds: u64,
}

/// An order type the live path places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LiveOrderType {
    Limit,
    Market,
}

impl Default for KiteConfig {
    fn default() -> Self {
        let q = [
            ("NIFTY", "NSE:NIFTY 50"),
            ("BANKNIFTY", "NSE:NIFTY BANK"),
            ("FINNIFTY", "NSE:NIFTY FIN SERVICE"),
            ("MIDCPNIFTY", "NSE:NIFTY MID SELECT"),
        ];
        KiteConfig {
            base_url: "https://api.kite.trade".into(),
            timeout_seconds: 7,
            quote_instruments: q
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            instruments_max_age_hours: 24,
            instruments_refresh_at: "08:45".into(),
            live_trading_enabled: false,
            product: "NRML".into(),
            exchange: "NFO".into(),
            entry_order_type: LiveOrderType::Limit,
            exit_order_type: LiveOrderType::Market,
            market_protection: -1,
            entry_fill_timeout_seconds: 30,
            order_poll_millis: 500,
            exit_retry_initial_seconds: 1.0,
            exit_retry_max_seconds: 30.0,
            ticker: false,
            ticker_url: "wss://ws.kite.trade".into(),
            ticker_silence_seconds: 30,
            reconcile_seconds: 300,
        }
    }
}

impl KiteConfig {
    /// `instruments_refresh_at` as seconds after local midnight (`None` if it is not `HH:MM`).
    pub fn refresh_at_secs(&self) -> Option<i64> {
        use chrono::Timelike;
        NaiveTime::parse_from_str(&self.instruments_refresh_at, "%H:%M")
            .ok()
            .map(|t| i64::from(t.num_seconds_from_midnight()))
    }

    /// The quote instrument of `underlying`.
    pub fn quote_instrument(&self, underlying: &str) -> String {
        self.quote_instruments
            .get(underlying)
            .cloned()
            .unwrap_or_else(|| format!("NSE:{underlying}"))
    }
}

/// Mailbox metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Count them (cheap enough to stay on; off only to measure their cost).
    pub enabled: bool,
    /// Serve the Prometheus text format on this loopback address (`127.0.0.1:9187`); off when
    /// absent.
    pub listen: Option<String>,
    /// Store a sample of every actor's metrics and of the book's P&L in `performance_metrics`
    /// this often while the engine runs (seconds; 0 = never).
    pub persist_every_seconds: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: None,
            persist_every_seconds: 60,
        }
    }
}

/// The control socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Unix socket path (relative paths are under `storage.data_dir`).
    pub socket: PathBuf,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from("control.sock"),
        }
    }
}

/// Contract data per underlying. Lot sizes, strike steps and expiries come from here (and from
/// Kite's instrument dump once the broker is connected), never from code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instruments {
    /// Weekday on which contracts expire (`Tue` on NSE since September 2025).
    pub expiry_weekday: String,
    /// Exchange holidays (`YYYY-MM-DD`): an expiry on a holiday moves to the previous trading day.
    pub holidays: Vec<chrono::NaiveDate>,
    pub underlyings: BTreeMap<String, UnderlyingSpec>,
}

/// One underlying's option contracts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderlyingSpec {
    pub lot_size: u32,
    pub strike_step: f64,
    pub tick_size: f64,
    /// Weekly expiries listed (NIFTY); otherwise monthly only.
    pub weekly: bool,
    /// The exchange's freeze quantity: the most one order may carry (units, not lots). A
    /// larger entry or exit is sent as several orders in whole lots, each within it
    /// ([`crate::options::slicing`]). Left out: no limit known, one order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_qty: Option<u32>,
}

/// Paper trading and the synthetic chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paper {
    /// A paper buy fills at ltp plus this many ticks; a paper sell at ltp minus them.
    pub slippage_ticks: u32,
    /// Risk-free rate (continuously compounded, decimal: 0.065).
    pub rate: f64,
    /// Dividend yield (decimal).
    pub div_yield: f64,
    /// Never choose an expiry that ends within this many hours.
    pub expiry_cutoff_hours: f64,
    /// Exit when less than this many hours remain to 15:30 on expiry day.
    pub exit_before_expiry_hours: f64,
    pub chain: ChainSpec,
}

/// The synthetic chain: IV smile and deterministic liquidity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// Strikes listed each side of ATM.
    pub strikes_each_side: u32,
    /// ATM implied volatility (decimal).
    pub atm_iv: f64,
    /// IV change per unit of ln(K/S) (negative: puts richer).
    pub skew: f64,
    /// IV change per unit of ln(K/S)².
    pub smile: f64,
    /// ATM volume and open interest (contracts); both fall off away from ATM.
    pub atm_volume: u64,
    pub atm_oi: u64,
    /// Bid-ask spread as % of the premium (at least one tick).
    pub spread_pct: f64,
}

/// Named risk presets of the original (see docs/paper-trading.md); `custom` applies nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskMode {
    #[default]
    Custom,
    UltraSafe,
    Conservative,
    Balanced,
    Aggressive,
}

/// The original's extra rules; every field is off (None/0/false) by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// A named preset that fills the rules below and overrides stop/target/risk %.
    pub risk_mode: RiskMode,
    /// Reject strikes whose bid-ask spread exceeds this % of the premium.
    pub max_spread_pct: Option<f64>,
    /// Premium range (rupees) a strike must fall in.
    pub min_premium: Option<f64>,
    pub max_premium: Option<f64>,
    /// Days to expiry a strike must fall in.
    pub min_days_to_expiry: Option<f64>,
    pub max_days_to_expiry: Option<f64>,
    /// Cap on lots per trade.
    pub max_lots_per_trade: Option<u32>,
    /// After this many losing trades in a row, no new entries until the next day.
    pub halt_after_consecutive_losses: Option<u32>,
    /// At most this many entries per trading day (off when absent).
    pub max_trades_per_day: Option<u32>,
    /// Once the day's net realized P&L reaches this % of capital, no new entries until the
    /// next day (off when absent).
    pub daily_profit_lock_pct: Option<f64>,
    /// Book `size_pct` % of the quantity (whole lots) once the premium is up `at_pct` %.
    pub partial_booking: Option<PartialBooking>,
    /// Exit after this many hours held.
    pub max_hold_hours: Option<f64>,
    /// Trailing stop (when `trailing_stop_enabled`): once up `after_pct` %, the stop rises to
    /// keep `keep_pct` % of the gain.
    pub trailing: Trailing,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialBooking {
    pub at_pct: f64,
    pub size_pct: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trailing {
    pub after_pct: f64,
    pub keep_pct: f64,
}

impl Default for Trailing {
    fn default() -> Self {
        Trailing {
            after_pct: 30.0,
            keep_pct: 50.0,
        }
    }
}

/// Seed §6.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsTrading {
    pub enabled: bool,
    pub paper_trading: bool,
    pub logging_only_mode: bool,
    pub entry_filters: EntryFilters,
    pub strike_selection: StrikeSelection,
    pub position_sizing: PositionSizing,
    pub risk_management: RiskManagement,
}

impl OptionsTrading {
    /// The mode the flags select: logging-only wins, then paper, else live.
    pub fn mode(&self) -> Mode {
        if self.logging_only_mode {
            Mode::Logging
        } else if self.paper_trading {
            Mode::Paper
        } else {
            Mode::Live
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFilters {
    pub min_signal_strength: f64,
    pub min_expected_move_pct: f64,
    pub valid_underlyings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrikeSelection {
    pub prefer_atm: bool,
    pub max_strikes_from_atm: u32,
    pub min_volume: u64,
    pub min_oi: u64,
    pub expiry_preference: ExpiryPreference,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpiryPreference {
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionSizing {
    pub risk_per_trade_pct: f64,
    pub max_position_size_pct: f64,
    pub account_capital: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskManagement {
    pub max_concurrent_positions: u32,
    pub max_daily_loss_pct: f64,
    pub stop_loss_pct: f64,
    pub target_multiplier: f64,
    pub trailing_stop_enabled: bool,
}

/// Seed §6.2 `data_collection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCollection {
    pub realtime: Realtime,
    pub historical: Historical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Realtime {
    pub enabled: bool,
    pub interval_seconds: u64,
    pub batch_size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Historical {
    pub enabled: bool,
    pub default_lookback_days: u32,
    pub cache_refresh_hours: u32,
}

/// Seed §6.2 `strategies`: a map of strategy instances (see [`crate::strategies::instances`]).
pub use crate::strategies::instances::{
    HistoricalLookback, Instance, InstanceRisk, RealtimeAggregation, Strategies,
};

/// Where market data comes from in `run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    pub kind: FeedKind,
    pub simulated: Simulated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// Seeded geometric Brownian motion ticks (the default without a broker).
    Simulated,
}

/// The simulated live feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulated {
    pub seed: u64,
    /// Data seconds that pass per wall-clock second (60 = a 6¼-hour session in ~6 minutes).
    pub speed: f64,
    /// Data seconds between ticks of one symbol.
    pub tick_seconds: u32,
    /// Annualised volatility of the random walk (0.15 = 15 %).
    pub annual_volatility: f64,
    /// Start price per underlying; every valid underlying needs one.
    pub start_prices: BTreeMap<String, f64>,
    /// Data date to start from (`YYYY-MM-DD`); today when absent.
    #[serde(default)]
    pub start_date: Option<chrono::NaiveDate>,
}

/// Persistence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    pub backend: StorageBackend,
    /// Directory for the embedded store, exports and the control socket.
    pub data_dir: PathBuf,
    /// SQLite file (relative paths are under `data_dir`).
    pub sqlite_file: PathBuf,
    /// The seed's JSON signals file, kept as an export (relative paths are under `data_dir`).
    pub signals_export: PathBuf,
    /// Commit when this many rows are pending.
    pub batch_rows: usize,
    /// Commit at least this often while rows are pending.
    pub flush_interval_ms: u64,
    /// Persist closed candles of `run` into `historical_data`.
    pub persist_candles: bool,
    /// The ClickHouse server (used by the `clickhouse` and `auto` backends).
    pub clickhouse: ClickHouse,
}

/// ClickHouse connection settings; each is overridden by its environment variable
/// (`CLICKHOUSE_URL`, `CLICKHOUSE_DATABASE`, `CLICKHOUSE_USER`, `CLICKHOUSE_PASSWORD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouse {
    pub url: String,
    pub database: String,
    pub user: String,
    /// Prefer `CLICKHOUSE_PASSWORD` in the environment to a password in the file.
    #[serde(default, skip_serializing)]
    pub password: String,
    /// Seconds to wait for one request before treating the server as down.
    pub timeout_seconds: u64,
}

impl ClickHouse {
    /// These settings with the environment's overrides applied.
    pub fn from_env(&self) -> ClickHouse {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        ClickHouse {
            url: var("CLICKHOUSE_URL").unwrap_or_else(|| self.url.clone()),
            database: var("CLICKHOUSE_DATABASE").unwrap_or_else(|| self.database.clone()),
            user: var("CLICKHOUSE_USER").unwrap_or_else(|| self.user.clone()),
            password: var("CLICKHOUSE_PASSWORD").unwrap_or_else(|| self.password.clone()),
            timeout_seconds: self.timeout_seconds,
        }
    }
}

impl Storage {
    /// `p` under `data_dir` unless absolute.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.data_dir.join(p)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Embedded SQLite under `data_dir` (the default).
    Sqlite,
    /// ClickHouse, with a durable SQLite outbox while it is down.
    Clickhouse,
    /// ClickHouse when reachable at start, else SQLite.
    Auto,
}

impl std::str::FromStr for StorageBackend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(StorageBackend::Sqlite),
            "clickhouse" => Ok(StorageBackend::Clickhouse),
            "auto" => Ok(StorageBackend::Auto),
            o => Err(format!(
                "unknown store {o:?}: expected sqlite, clickhouse or auto"
            )),
        }
    }
}

/// The exchange session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    /// UTC offset of exchange time, e.g. `+05:30`.
    pub utc_offset: String,
    /// Session open, exchange time (`HH:MM`); intraday candles align to it.
    pub session_open: String,
    /// Session close, exchange time (`HH:MM`), exclusive.
    pub session_close: String,
    /// Trading weekdays (`Mon` … `Sun`).
    pub trading_days: Vec<String>,
    /// Exchange holidays as data: CSV files (`date,name`, `#` comments), one per year, e.g.
    /// `config/holidays/nse-2026.csv`. Relative paths are from the working directory. Read by
    /// `run`, which refuses to trade on a closed day (docs/configuration.md).
    #[serde(default)]
    pub holiday_files: Vec<PathBuf>,
}

/// PositionManager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Positions {
    pub monitor_interval_seconds: u64,
    /// A mark that only moves the premium is persisted at most this often (data time);
    /// opening, partial exits, stop changes and closing are persisted at once.
    #[serde(default = "default_persist_marks")]
    pub persist_marks_every_seconds: u64,
}

fn default_persist_marks() -> u64 {
    300
}

/// The largest config file read (the shipped one is ~5 KB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The default config, as shipped in `config/default.json`.
pub const DEFAULT_JSON: &str = include_str!("../../config/default.json");

/// The paper-trading config the demo and `sweep` use, as shipped in `config/paper.json`.
pub const PAPER_JSON: &str = include_str!("../../config/paper.json");

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        use std::io::Read;
        let read_err = |source| Error::ConfigRead {
            path: path.to_path_buf(),
            source,
        };
        // A config is a few kilobytes: read at most MAX_CONFIG_BYTES (a multi-gigabyte file,
        // or /dev/zero, is refused instead of filling memory).
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read_err)?
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(Error::ConfigParse {
                path: path.to_path_buf(),
                json_path: "(the whole file)".into(),
                message: format!("the file is larger than {MAX_CONFIG_BYTES} bytes"),
            });
        }
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let cfg: Config = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let json_path = e.path().to_string();
            Error::ConfigParse {
                path: path.to_path_buf(),
                json_path,
                message: e.into_inner().to_string(),
            }
        })?;
        // One config per file: a second JSON value after the first would be silently ignored.
        de.end().map_err(|e| Error::ConfigParse {
            path: path.to_path_buf(),
            json_path: "(after the config object)".into(),
            message: format!(
                "a second JSON value follows the config at line {}, column {}: a config file holds exactly one object",
                e.line(),
                e.column()
            ),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// The shipped default config.
    pub fn default_config() -> Result<Config> {
        Config::parse(DEFAULT_JSON, Path::new("config/default.json"))
    }

    /// The shipped paper-trading config.
    pub fn paper_config() -> Result<Config> {
        Config::parse(PAPER_JSON, Path::new("config/paper.json"))
    }

    /// Checks every value range; the first failure is returned with its JSON path.
    pub fn validate(&self, path: &Path) -> Result<()> {
        self.alerts.validate(path)?;
        let bad = |json_path: &str, value: String, reason: &str| Error::ConfigInvalid {
            path: path.to_path_buf(),
            json_path: json_path.to_string(),
            value,
            reason: reason.to_string(),
        };
        let pct = |json_path: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 100.0 {
                Ok(())
            } else {
                Err(bad(
                    json_path,
                    v.to_string(),
                    "must be a percentage in (0, 100]",
                ))
            }
        };
        let pct0 = |json_path: &str, v: f64| {
            if v.is_finite() && (0.0..=100.0).contains(&v) {
                Ok(())
            } else {
                Err(bad(
                    json_path,
                    v.to_string(),
                    "must be a percentage in [0, 100]",
                ))
            }
        };
        let o = &self.options_trading;
        let ef = &o.entry_filters;
        if !(ef.min_signal_strength.is_finite() && (0.0..=1.0).contains(&ef.min_signal_strength)) {
            return Err(bad(
                "options_trading.entry_filters.min_signal_strength",
                ef.min_signal_strength.to_string(),
                "must be in [0, 1]",
            ));
        }
        pct0(
            "options_trading.entry_filters.min_expected_move_pct",
            ef.min_expected_move_pct,
        )?;
        if ef.valid_underlyings.is_empty() {
            return Err(bad(
                "options_trading.entry_filters.valid_underlyings",
                "[]".into(),
                "must name at least one underlying",
            ));
        }
        for (i, u) in ef.valid_underlyings.iter().enumerate() {
            if u.trim().is_empty() || u.trim() != u {
                return Err(bad(
                    &format!("options_trading.entry_filters.valid_underlyings[{i}]"),
                    format!("{u:?}"),
                    "must be a non-empty symbol without spaces around it",
                ));
            }
        }
        let ps = &o.position_sizing;
        pct(
            "options_trading.position_sizing.risk_per_trade_pct",
            ps.risk_per_trade_pct,
        )?;
        pct(
            "options_trading.position_sizing.max_position_size_pct",
            ps.max_position_size_pct,
        )?;
        if !(ps.account_capital.is_finite() && ps.account_capital > 0.0) {
            return Err(bad(
                "options_trading.position_sizing.account_capital",
                ps.account_capital.to_string(),
                "must be > 0",
            ));
        }
        let rm = &o.risk_management;
        if rm.max_concurrent_positions == 0 {
            return Err(bad(
                "options_trading.risk_management.max_concurrent_positions",
                "0".into(),
                "must be >= 1",
            ));
        }
        pct(
            "options_trading.risk_management.max_daily_loss_pct",
            rm.max_daily_loss_pct,
        )?;
        pct(
            "options_trading.risk_management.stop_loss_pct",
            rm.stop_loss_pct,
        )?;
        if !(rm.target_multiplier.is_finite() && rm.target_multiplier > 0.0) {
            return Err(bad(
                "options_trading.risk_management.target_multiplier",
                rm.target_multiplier.to_string(),
                "must be > 0",
            ));
        }
        if self.data_collection.realtime.interval_seconds == 0 {
            return Err(bad(
                "data_collection.realtime.interval_seconds",
                "0".into(),
                "must be >= 1",
            ));
        }
        let sim = &self.feed.simulated;
        if !(sim.speed.is_finite() && sim.speed > 0.0) {
            return Err(bad(
                "feed.simulated.speed",
                sim.speed.to_string(),
                "must be > 0",
            ));
        }
        if sim.tick_seconds == 0 {
            return Err(bad(
                "feed.simulated.tick_seconds",
                "0".into(),
                "must be >= 1",
            ));
        }
        if !(sim.annual_volatility.is_finite()
            && sim.annual_volatility > 0.0
            && sim.annual_volatility < 5.0)
        {
            return Err(bad(
                "feed.simulated.annual_volatility",
                sim.annual_volatility.to_string(),
                "must be in (0, 5)",
            ));
        }
        for (name, price) in &sim.start_prices {
            if !(price.is_finite() && *price > 0.0) {
                return Err(bad(
                    &format!("feed.simulated.start_prices.{name}"),
                    price.to_string(),
                    "must be > 0",
                ));
            }
        }
        for u in &ef.valid_underlyings {
            if !sim.start_prices.contains_key(u) {
                return Err(bad(
                    "feed.simulated.start_prices",
                    format!("(no entry for {u:?})"),
                    "needs a start price for every valid underlying",
                ));
            }
        }
        let st = &self.storage;
        if st.batch_rows == 0 {
            return Err(bad("storage.batch_rows", "0".into(), "must be >= 1"));
        }
        if st.flush_interval_ms == 0 {
            return Err(bad("storage.flush_interval_ms", "0".into(), "must be >= 1"));
        }
        let ch = &st.clickhouse;
        if !(ch.url.starts_with("http://") || ch.url.starts_with("https://")) {
            return Err(bad(
                "storage.clickhouse.url",
                format!("{:?}", ch.url),
                "must be an http:// or https:// URL",
            ));
        }
        if ch.database.is_empty()
            || !ch
                .database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad(
                "storage.clickhouse.database",
                format!("{:?}", ch.database),
                "must be a non-empty name of letters, digits and _",
            ));
        }
        if ch.timeout_seconds == 0 {
            return Err(bad(
                "storage.clickhouse.timeout_seconds",
                "0".into(),
                "must be >= 1",
            ));
        }
        let session = self
            .market
            .session()
            .map_err(|(json_path, value, reason)| bad(json_path, value, &reason))?;
        let k = &self.kite;
        match k.refresh_at_secs() {
            None => {
                return Err(bad(
                    "kite.instruments_refresh_at",
                    format!("{:?}", k.instruments_refresh_at),
                    "is not a time HH:MM (exchange time)",
                ))
            }
            Some(at) => {
                use chrono::Timelike;
                if at >= i64::from(session.open.num_seconds_from_midnight()) {
                    return Err(bad(
                        "kite.instruments_refresh_at",
                        format!("{:?}", k.instruments_refresh_at),
                        &format!(
                            "must be before market.session_open ({})",
                            self.market.session_open
                        ),
                    ));
                }
            }
        }
        if !["MIS", "NRML", "CNC"].contains(&k.product.as_str()) {
            return Err(bad(
                "kite.product",
                format!("{:?}", k.product),
                "must be MIS, NRML or CNC",
            ));
        }
        if k.market_protection < -1 || k.market_protection > 100 {
            return Err(bad(
                "kite.market_protection",
                k.market_protection.to_string(),
                "must be -1 (automatic) or 0..=100 percent",
            ));
        }
        if k.entry_fill_timeout_seconds == 0 {
            return Err(bad(
                "kite.entry_fill_timeout_seconds",
                "0".into(),
                "must be >= 1",
            ));
        }
        if !(1..=3600).contains(&k.ticker_silence_seconds) {
            return Err(bad(
                "kite.ticker_silence_seconds",
                k.ticker_silence_seconds.to_string(),
                "must be 1 to 3600 (seconds without a tick before the stream is taken as dead)",
            ));
        }
        if k.order_poll_millis < 100 {
            return Err(bad(
                "kite.order_poll_millis",
                k.order_poll_millis.to_string(),
                "must be >= 100 (Kite allows 10 requests a second)",
            ));
        }
        if !(k.exit_retry_initial_seconds > 0.0
            && k.exit_retry_max_seconds >= k.exit_retry_initial_seconds
            && k.exit_retry_max_seconds.is_finite())
        {
            return Err(bad(
                "kite.exit_retry_initial_seconds",
                format!(
                    "{} (max {})",
                    k.exit_retry_initial_seconds, k.exit_retry_max_seconds
                ),
                "must be > 0 and at most kite.exit_retry_max_seconds",
            ));
        }
        self.validate_options(path)?;
        self.validate_bounds(path)?;
        // After the bounds: an instance may inherit a value from elsewhere (the crossover's
        // target multiplier), whose own path should be the one named when it is wrong.
        self.charges
            .schedule
            .validate()
            .map_err(|(p, v, r)| bad(&p, v, &r))?;
        let rf = self.report.risk_free_pct;
        if !(rf.is_finite() && (0.0..=100.0).contains(&rf)) {
            return Err(bad(
                "report.risk_free_pct",
                rf.to_string(),
                "must be a percent from 0 to 100",
            ));
        }
        let o = &self.options_trading;
        self.strategies
            .validate(&crate::strategies::instances::Globals {
                valid_underlyings: &o.entry_filters.valid_underlyings,
                target_multiplier: o.risk_management.target_multiplier,
                max_concurrent_positions: o.risk_management.max_concurrent_positions,
                risk_per_trade_pct: o.position_sizing.risk_per_trade_pct,
            })
            .map_err(|(p, v, r)| bad(&p, v, &r))?;
        if let Some(l) = &self.metrics.listen {
            let ok = l
                .parse::<std::net::SocketAddr>()
                .map(|a| a.ip().is_loopback())
                .unwrap_or(false);
            if !ok {
                return Err(bad(
                    "metrics.listen",
                    format!("{l:?}"),
                    "must be a loopback address with a port, like 127.0.0.1:9187",
                ));
            }
        }
        self.dashboard
            .address()
            .map_err(|(p, v, r)| bad(&p, v, &r))?;
        if self.positions.monitor_interval_seconds == 0 {
            return Err(bad(
                "positions.monitor_interval_seconds",
                "0".into(),
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

impl Config {
    fn validate_options(&self, path: &Path) -> Result<()> {
        let bad = |json_path: String, value: String, reason: &str| Error::ConfigInvalid {
            path: path.to_path_buf(),
            json_path,
            value,
            reason: reason.to_string(),
        };
        let ins = &self.instruments;
        ins.expiry_weekday.parse::<Weekday>().map_err(|_| {
            bad(
                "instruments.expiry_weekday".into(),
                format!("{:?}", ins.expiry_weekday),
                "is not a weekday (Mon … Sun)",
            )
        })?;
        for u in &self.options_trading.entry_filters.valid_underlyings {
            if !ins.underlyings.contains_key(u) {
                return Err(bad(
                    "instruments.underlyings".into(),
                    format!("(no entry for {u:?})"),
                    "needs lot_size, strike_step and tick_size for every valid underlying",
                ));
            }
        }
        for (name, u) in &ins.underlyings {
            let p = |f: &str| format!("instruments.underlyings.{name}.{f}");
            if u.lot_size == 0 {
                return Err(bad(p("lot_size"), "0".into(), "must be >= 1"));
            }
            if !(u.strike_step.is_finite() && u.strike_step > 0.0) {
                return Err(bad(
                    p("strike_step"),
                    u.strike_step.to_string(),
                    "must be > 0",
                ));
            }
            if !(u.tick_size.is_finite() && u.tick_size > 0.0) {
                return Err(bad(p("tick_size"), u.tick_size.to_string(), "must be > 0"));
            }
        }
        let pp = &self.paper;
        let nonneg = |json_path: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(json_path.into(), v.to_string(), "must be >= 0"))
            }
        };
        if !(pp.rate.is_finite() && (-0.5..=1.0).contains(&pp.rate)) {
            return Err(bad(
                "paper.rate".into(),
                pp.rate.to_string(),
                "must be a decimal rate like 0.065",
            ));
        }
        nonneg("paper.div_yield", pp.div_yield)?;
        nonneg("paper.expiry_cutoff_hours", pp.expiry_cutoff_hours)?;
        nonneg(
            "paper.exit_before_expiry_hours",
            pp.exit_before_expiry_hours,
        )?;
        let c = &pp.chain;
        if c.strikes_each_side == 0 {
            return Err(bad(
                "paper.chain.strikes_each_side".into(),
                "0".into(),
                "must be >= 1",
            ));
        }
        if !(c.atm_iv.is_finite() && c.atm_iv > 0.0 && c.atm_iv < 5.0) {
            return Err(bad(
                "paper.chain.atm_iv".into(),
                c.atm_iv.to_string(),
                "must be a decimal vol in (0, 5)",
            ));
        }
        nonneg("paper.chain.spread_pct", c.spread_pct)?;
        let r = &self.rules;
        if let Some(b) = r.partial_booking {
            if !(b.size_pct > 0.0 && b.size_pct < 100.0 && b.at_pct > 0.0) {
                return Err(bad(
                    "rules.partial_booking".into(),
                    format!("{{at_pct: {}, size_pct: {}}}", b.at_pct, b.size_pct),
                    "needs at_pct > 0 and size_pct in (0, 100)",
                ));
            }
        }
        if !(r.trailing.after_pct > 0.0 && r.trailing.keep_pct > 0.0 && r.trailing.keep_pct < 100.0)
        {
            return Err(bad(
                "rules.trailing".into(),
                format!(
                    "{{after_pct: {}, keep_pct: {}}}",
                    r.trailing.after_pct, r.trailing.keep_pct
                ),
                "needs after_pct > 0 and keep_pct in (0, 100)",
            ));
        }
        if let (Some(lo), Some(hi)) = (r.min_premium, r.max_premium) {
            if lo > hi {
                return Err(bad(
                    "rules.min_premium".into(),
                    lo.to_string(),
                    "must be <= max_premium",
                ));
            }
        }
        if r.max_lots_per_trade == Some(0) {
            return Err(bad(
                "rules.max_lots_per_trade".into(),
                "0".into(),
                "must be >= 1 (or absent)",
            ));
        }
        Ok(())
    }
}

/// Settings after the risk mode's presets (the original's named modes) are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub stop_loss_pct: f64,
    pub target_multiplier: f64,
    pub risk_per_trade_pct: f64,
    pub min_signal_strength: f64,
    pub min_expected_move_pct: f64,
    pub trailing_stop_enabled: bool,
    pub selection: StrikeSelection,
    pub rules: Rules,
}

impl Config {
    /// The effective trading settings. `CUSTOM` (the default) uses the file as written; a named
    /// mode replaces stop, target, risk, entry filters and the original's rules with its preset
    /// (values of the Python original's production config; see docs/paper-trading.md).
    pub fn effective(&self) -> Effective {
        let o = &self.options_trading;
        let mut e = Effective {
            stop_loss_pct: o.risk_management.stop_loss_pct,
            target_multiplier: o.risk_management.target_multiplier,
            risk_per_trade_pct: o.position_sizing.risk_per_trade_pct,
            min_signal_strength: o.entry_filters.min_signal_strength,
            min_expected_move_pct: o.entry_filters.min_expected_move_pct,
            trailing_stop_enabled: o.risk_management.trailing_stop_enabled,
            selection: o.strike_selection.clone(),
            rules: self.rules.clone(),
        };
        // (stop %, target % gain, risk %, min strength, min move %, max hold h, partial, trailing, prefer ATM)
        type Preset = (
            f64,
            f64,
            f64,
            f64,
            f64,
            f64,
            Option<(f64, f64)>,
            Option<(f64, f64)>,
            bool,
        );
        let p: Option<Preset> = match self.rules.risk_mode {
            RiskMode::Custom => None,
            RiskMode::UltraSafe => Some((20.0, 30.0, 1.5, 0.8, 1.0, 3.0, None, None, true)),
            RiskMode::Conservative => Some((
                30.0,
                45.0,
                2.0,
                0.7,
                1.5,
                4.0,
                Some((45.0, 60.0)),
                Some((25.0, 50.0)),
                true,
            )),
            RiskMode::Balanced => Some((
                35.0,
                60.0,
                3.0,
                0.6,
                1.0,
                6.0,
                Some((50.0, 50.0)),
                Some((30.0, 50.0)),
                true,
            )),
            RiskMode::Aggressive => Some((
                50.0,
                100.0,
                4.0,
                0.7,
                2.0,
                12.0,
                Some((60.0, 30.0)),
                Some((50.0, 40.0)),
                false,
            )),
        };
        if let Some((sl, tgt, risk, strength, mv, hold, partial, trail, atm)) = p {
            e.stop_loss_pct = sl;
            e.target_multiplier = tgt / sl;
            e.risk_per_trade_pct = risk;
            e.min_signal_strength = strength;
            e.min_expected_move_pct = mv;
            e.rules.max_hold_hours = Some(hold);
            e.rules.partial_booking =
                partial.map(|(at_pct, size_pct)| PartialBooking { at_pct, size_pct });
            if let Some((after_pct, keep_pct)) = trail {
                e.trailing_stop_enabled = true;
                e.rules.trailing = Trailing {
                    after_pct,
                    keep_pct,
                };
            }
            e.selection.prefer_atm = atm;
        }
        e
    }
}

/// The parsed exchange session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpec {
    pub offset: FixedOffset,
    pub open: NaiveTime,
    pub close: NaiveTime,
    /// Bit i set = weekday i (Mon = 0) trades.
    pub days: u8,
}

impl Market {
    /// Parses the session; an error is (json path, value, reason).
    pub fn session(&self) -> std::result::Result<SessionSpec, (&'static str, String, String)> {
        let offset: FixedOffset = self.utc_offset.parse().map_err(|_| {
            (
                "market.utc_offset",
                format!("{:?}", self.utc_offset),
                "is not a UTC offset like +05:30".to_string(),
            )
        })?;
        let t = |path: &'static str, s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|_| (path, format!("{s:?}"), "is not a time HH:MM".to_string()))
        };
        let open = t("market.session_open", &self.session_open)?;
        let close = t("market.session_close", &self.session_close)?;
        if close <= open {
            return Err((
                "market.session_close",
                format!("{:?}", self.session_close),
                format!("must be after session_open ({})", self.session_open),
            ));
        }
        let mut days = 0u8;
        for d in &self.trading_days {
            let wd: Weekday = d.parse().map_err(|_| {
                (
                    "market.trading_days",
                    format!("{d:?}"),
                    "is not a weekday (Mon … Sun)".to_string(),
                )
            })?;
            days |= 1 << wd.num_days_from_monday();
        }
        if days == 0 {
            return Err((
                "market.trading_days",
                "[]".to_string(),
                "must name at least one weekday".to_string(),
            ));
        }
        Ok(SessionSpec {
            offset,
            open,
            close,
            days,
        })
    }
}

#[cfg(test)]
mod tests;
