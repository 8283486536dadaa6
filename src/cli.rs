//! The command line: every command, its flags and how each value is checked as it is read
//! (a bad value is clap's usage error, exit 2, naming the flag and the value). What each
//! command does is in `main.rs`.

use std::path::PathBuf;

use actors::config::StorageBackend;
use alphastocks::replay;
use clap::{Args, Parser, Subcommand};
use messages::{Mode, Timeframe};

#[derive(Parser)]
#[command(
    name = "alphastocks",
    version,
    about = "NSE options trading engine (actix actors)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

/// The bars a replay or a sweep runs on.
#[derive(Args)]
pub(crate) struct BarsInput {
    /// CSV with header timestamp,open,high,low,close,volume. Repeat for several symbols, as
    /// SYMBOL=FILE, or give a directory of SYMBOL.csv files: their bars are merged in time
    /// order into one run with one portfolio.
    #[arg(long, required = true)]
    pub(crate) data: Vec<String>,
    /// Symbol of a single file (default: the file name's first word, upper-cased).
    #[arg(long, value_parser = parse_symbol)]
    pub(crate) symbol: Option<String>,
    /// Candle timeframe (default: the strategy's).
    #[arg(long)]
    pub(crate) timeframe: Option<Timeframe>,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Run the engine on the live feed (the simulated market without a broker) until Ctrl-C or SIGTERM.
    Run {
        /// Config file (default: config/default.json when it exists here, else the built-in
        /// copy of it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// logging, paper or live (overrides the config's flags). Live needs --feed kite,
        /// kite.live_trading_enabled, credentials in the environment and --confirm-live.
        #[arg(long)]
        mode: Option<Mode>,
        /// Confirm that live mode places real orders with real money.
        #[arg(long)]
        confirm_live: bool,
        /// Stop after this many seconds.
        #[arg(long, value_parser = parse_seconds)]
        duration: Option<f64>,
        /// Store backend: sqlite, clickhouse or auto (overrides storage.backend).
        #[arg(long)]
        store: Option<StorageBackend>,
        /// Data directory (overrides storage.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Accept `ctl crash ACTOR` (tests, drills).
        #[arg(long)]
        allow_fault_injection: bool,
        /// Market data source: simulated (default without a broker) or kite.
        #[arg(long, default_value = "simulated")]
        feed: FeedArg,
        /// Rehearsal with --feed kite against a scripted broker: the engine's clock starts at
        /// this time (RFC 3339, e.g. 2025-12-01T09:40:00+05:30) instead of now. Live mode only
        /// against Kite on this machine (a local stand-in: localhost, 127.0.0.0/8, ::1).
        #[arg(long)]
        clock_start: Option<String>,
        /// Rehearsal: engine seconds per wall-clock second (with --clock-start; default 1).
        #[arg(long)]
        clock_speed: Option<f64>,
        /// With --feed kite: trade even on a day the trading calendar says is closed (a
        /// special session the holiday files do not know, or a rehearsal against a scripted
        /// broker on any date); logged as a warning. Also set by ALPHASTOCKS_IGNORE_CALENDAR=1.
        #[arg(long)]
        ignore_calendar: bool,
    },
    /// The charges of one option round trip (brokerage, STT, exchange, SEBI, stamp duty, GST)
    /// as JSON, at the rates of `--date` from the config's `charges.schedule`.
    Charges {
        /// Config file (default: config/default.json when it exists here, else the built-in
        /// copy of it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Buy price per unit, rupees (0 for none).
        #[arg(long, allow_negative_numbers = true)]
        premium_buy: f64,
        /// Sell price per unit, rupees (0 for none).
        #[arg(long, allow_negative_numbers = true)]
        premium_sell: f64,
        /// Units bought and sold (lots × lot size).
        #[arg(long)]
        quantity: u32,
        /// Trade date (YYYY-MM-DD; default today).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Executed orders (default: one per side with a premium).
        #[arg(long)]
        orders: Option<u32>,
    },
    /// Kite Connect commands.
    Kite {
        /// Config file (default: config/default.json when it exists here, else the built-in
        /// copy of it).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        cmd: KiteCmd,
    },
    /// Talk to a running engine through its control socket.
    Ctl {
        /// Config file (default: config/default.json when it exists here, else the built-in
        /// copy of it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The socket (default: the config's control.socket under storage.data_dir).
        #[arg(long)]
        socket: Option<PathBuf>,
        #[command(subcommand)]
        cmd: CtlCmd,
    },
    /// Push a CSV of bars through the engine as fast as it goes; writes DIR/signals.jsonl.
    Replay {
        #[command(flatten)]
        input: BarsInput,
        /// Config file (default: config/default.json when it exists here, else the built-in
        /// copy of it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Directory for the run's files (signals.jsonl, positions.jsonl, report.html,
        /// report.json, equity*.csv, equity.svg). One that holds an earlier run's files is
        /// refused unless --force.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Replace the files an earlier run left in --out (never a mix of two runs).
        #[arg(long)]
        force: bool,
        /// logging (signals and decisions only) or paper (simulated option positions);
        /// default: the config's options_trading flags. Never live.
        #[arg(long)]
        mode: Option<Mode>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Store backend: sqlite, clickhouse or auto (overrides storage.backend).
        #[arg(long)]
        store: Option<StorageBackend>,
        /// Feed at most this many bars per second.
        #[arg(long, value_parser = parse_rate)]
        max_rate: Option<f64>,
        /// Log a line per signal, decision and position (INFO), as `run` does; without it a
        /// replay logs them at DEBUG (RUST_LOG=debug shows them) and prints its summary.
        #[arg(long)]
        verbose: bool,
        /// Data directory (overrides storage.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Leave out rows the reader refuses (absurd prices, times out of order or outside
        /// the session, …) and list them, instead of stopping at the first (the default).
        #[arg(long)]
        skip_bad_rows: bool,
        /// With --skip-bad-rows: exit 3 (INCOMPLETE) when more than this percentage of the
        /// file's rows was skipped or dropped.
        #[arg(long, value_parser = parse_pct, default_value_t = replay::DEFAULT_MAX_LOST_PCT)]
        max_skipped_pct: f64,
    },
    /// Paper replays of every combination of a grid of numeric config settings, on all cores,
    /// each in its own fresh store; writes DIR/sweep.csv (one row per combination: the
    /// settings, then the tearsheet's figures), best first by --sort-by.
    Sweep {
        #[command(flatten)]
        input: BarsInput,
        /// The config the grid varies (default: config/paper.json when it exists here, else
        /// the built-in copy of it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// JSON object of config paths to lists of numbers, e.g.
        /// {"strategies.ma_crossover.parameters.fast_period": [5, 9, 13]}.
        #[arg(long)]
        grid: PathBuf,
        /// The tearsheet figure to sort by (best first; less is better for losses, charges
        /// and the drawdown figures).
        #[arg(long, default_value = "net_pnl", value_parser = alphastocks::sweep::parse_metric)]
        sort_by: String,
        /// Run only the I-th of N slices of the grid (runs with (run − 1) mod N = I − 1).
        #[arg(long, value_parser = alphastocks::sweep::parse_shard)]
        shard: Option<alphastocks::sweep::Shard>,
        /// Runs at once (default: the available cores).
        #[arg(long, value_parser = parse_jobs)]
        jobs: Option<usize>,
        /// Leave out combinations the config refuses (listed) instead of stopping.
        #[arg(long)]
        skip_invalid: bool,
        /// `clickhouse`: also write every run's row into the configured server's
        /// sweep_results table (each run still has its own fresh SQLite store).
        #[arg(long)]
        store: Option<StorageBackend>,
        /// Directory for sweep.csv and one sub-directory per run.
        #[arg(long, default_value = "sweep")]
        out: PathBuf,
    },
    /// Database commands.
    Db {
        #[command(subcommand)]
        cmd: DbCmd,
    },
    /// Config commands.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Data commands.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Option pricing: greeks and implied volatility (Black-Scholes on the spot).
    Options {
        #[command(subcommand)]
        cmd: OptionsCmd,
    },
    /// Query stored signals (newest first) as JSON lines.
    Signals {
        #[command(flatten)]
        at: StoreArgs,
        /// Only this symbol's signals (e.g. NIFTY).
        #[arg(long)]
        symbol: Option<String>,
        /// Only this strategy instance's signals (e.g. ma_crossover).
        #[arg(long)]
        strategy: Option<String>,
        /// From this time (inclusive): RFC 3339 (2024-06-03T09:15:00+05:30) or an IST date
        /// (2024-06-03: from 00:00 IST).
        #[arg(long, value_parser = parse_start)]
        start: Option<chrono::DateTime<chrono::Utc>>,
        /// Up to this time (inclusive): RFC 3339 or an IST date (2024-06-03: to the end of
        /// that day, IST).
        #[arg(long, value_parser = parse_end)]
        end: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// Where the store is: the commands that read or write it.
#[derive(clap::Args)]
pub(crate) struct StoreArgs {
    /// Config file (default: config/default.json when it exists here, else the built-in
    /// copy of it).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Store backend: sqlite, clickhouse or auto (overrides storage.backend).
    #[arg(long)]
    pub(crate) store: Option<StorageBackend>,
    /// Data directory holding the SQLite store (overrides storage.data_dir; the demo's is
    /// out/data).
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum ConfigCmd {
    /// Validate a config file and print the effective config.
    Check {
        /// Config file (default: config/default.json when it exists here, else the built-in
        /// copy of it).
        file: Option<PathBuf>,
    },
}

/// The inputs both options commands share.
#[derive(clap::Args)]
pub(crate) struct OptionArgs {
    /// Price of the underlying, rupees.
    #[arg(long)]
    pub(crate) spot: f64,
    /// Strike price, rupees.
    #[arg(long)]
    pub(crate) strike: f64,
    /// Calendar days to expiry (fractional allowed).
    #[arg(long)]
    pub(crate) days: f64,
    /// Risk-free rate, decimal (0.065).
    #[arg(long)]
    pub(crate) rate: f64,
    /// Dividend yield, decimal.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) div_yield: f64,
    /// CE or PE.
    #[arg(long = "type", value_parser = parse_option_type)]
    pub(crate) kind: messages::OptionType,
}

/// A number from the command line: finite and within `lo..=hi`, or clap's usage error
/// (exit 2) naming the flag and the value.
pub(crate) fn bounded(s: &str, lo: f64, hi: f64, what: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number ({what})"))?;
    if v.is_finite() && v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(format!(
            "{s} is out of range: expected {what}, {lo} to {hi}"
        ))
    }
}

/// A time for `--start`/`--end`: RFC 3339, or a date (YYYY-MM-DD) taken as an IST day whose
/// first instant (`end_of_day` false) or last (true) is meant. clap names the flag and value
/// in front of the error.
pub(crate) fn parse_time(
    s: &str,
    end_of_day: bool,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::TimeZone;
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        "expected an IST date like 2024-06-03 or an RFC 3339 time like 2024-06-03T09:15:00+05:30"
            .to_string()
    })?;
    let t = if end_of_day {
        day.and_hms_nano_opt(23, 59, 59, 999_999_999)
    } else {
        day.and_hms_opt(0, 0, 0)
    };
    // India Standard Time, the exchange's (UTC+05:30).
    let ist = chrono::FixedOffset::east_opt(19_800);
    t.zip(ist)
        .and_then(|(t, ist)| ist.from_local_datetime(&t).single())
        .map(|t| t.to_utc())
        .ok_or_else(|| format!("{s} is not a representable date"))
}

/// `--start`: RFC 3339, or a date from 00:00 IST.
pub(crate) fn parse_start(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_time(s, false)
}

/// `--end`: RFC 3339, or a date to the end of that IST day.
pub(crate) fn parse_end(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_time(s, true)
}

/// Seconds of wall time (`run --duration`): up to ten years.
pub(crate) fn parse_seconds(s: &str) -> Result<f64, String> {
    bounded(s, 0.001, 315_360_000.0, "seconds")
}

/// Bars per second (`replay --max-rate`).
pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    bounded(s, 0.001, 1e9, "bars per second")
}

/// Seconds between two metric prints (`ctl metrics --watch`).
pub(crate) fn parse_watch(s: &str) -> Result<f64, String> {
    bounded(s, 0.05, 86_400.0, "seconds")
}

/// A price in rupees.
pub(crate) fn parse_price(s: &str) -> Result<f64, String> {
    bounded(s, 0.01, actors::config::MAX_PRICE, "a price in rupees")
}

/// An NSE symbol: 1 to 32 of A-Z, 0-9, `&`, `_`, `-` (as upper-case as Kite spells them).
/// Runs at once (`sweep --jobs`).
pub(crate) fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("--jobs {s:?}: a whole number from 1 to 1024")),
    }
}

pub(crate) fn parse_symbol(s: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "&_-".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        let shown: String = s.chars().take(40).collect();
        Err(format!(
            "{shown:?} is not a symbol: expected 1 to 32 of A-Z, 0-9, &, _, - (e.g. NIFTY)"
        ))
    }
}

/// A percentage in [0, 100].
pub(crate) fn parse_pct(s: &str) -> Result<f64, String> {
    bounded(s, 0.0, 100.0, "a percentage")
}

/// Annualised volatility, decimal.
pub(crate) fn parse_volatility(s: &str) -> Result<f64, String> {
    bounded(s, 0.0001, 5.0, "a decimal volatility like 0.15")
}

pub(crate) fn parse_option_type(s: &str) -> Result<messages::OptionType, String> {
    match s {
        "CE" | "ce" | "call" => Ok(messages::OptionType::CE),
        "PE" | "pe" | "put" => Ok(messages::OptionType::PE),
        o => Err(format!("unknown option type {o:?}: expected CE or PE")),
    }
}

#[derive(Subcommand)]
pub(crate) enum OptionsCmd {
    /// Price and greeks as one JSON object: price, delta, gamma, theta (per day), vega (per vol
    /// point), rho (per rate point).
    Greeks {
        #[command(flatten)]
        a: OptionArgs,
        /// Volatility, decimal (0.12).
        #[arg(long)]
        vol: f64,
    },
    /// Implied volatility of a price: {"iv": …}.
    Iv {
        #[command(flatten)]
        a: OptionArgs,
        /// The option's market price, rupees.
        #[arg(long)]
        price: f64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FeedArg {
    Simulated,
    Kite,
}

#[derive(Subcommand)]
pub(crate) enum KiteCmd {
    /// Exchange a request token for an access token (needs KITE_API_KEY and KITE_API_SECRET);
    /// prints the `export KITE_ACCESS_TOKEN=…` line for your shell.
    Login {
        /// The request_token Kite's login page redirected to (valid a few minutes).
        #[arg(long)]
        request_token: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum CtlCmd {
    /// Mode, feed, data time, last prices, per strategy instance and symbol the candles
    /// taken against the warm-up ("NIFTY 23/50 candles") and the signals, storage health,
    /// uptime, open positions, P&L, trading state.
    Status,
    /// Mailbox metrics of every actor.
    Metrics {
        /// Print JSON (one object per actor) instead of the table.
        #[arg(long)]
        json: bool,
        /// Print again every SECS seconds until interrupted.
        #[arg(long, value_parser = parse_watch)]
        watch: Option<f64>,
    },
    /// Stop taking new signals.
    Pause,
    /// Take signals again (also lifts an operator's halt; the broker refusing the access token
    /// halts until `ctl kite token`).
    Resume,
    /// Switch mode: logging, paper, or live (live needs --confirm and a broker).
    Mode {
        /// logging, paper or live.
        mode: Mode,
        /// Confirm a switch to live (real orders, real money).
        #[arg(long)]
        confirm: bool,
    },
    /// Kill switch: no new orders until resume.
    Halt,
    /// Close every open position now (live ones: exit orders at the broker).
    Flatten,
    /// The open positions (latest version of each), as JSON.
    Positions,
    /// Record open position POSITION (id or 8+ leading characters) as closed at PRICE with no
    /// order: for a position already closed at the broker by hand. Audited.
    Close {
        /// The position's id, or its first 8 or more characters.
        position: String,
        /// The price it was closed at, rupees per unit.
        #[arg(long, value_parser = parse_price)]
        price: f64,
    },
    /// Graceful shutdown: stop the feed, drain, flush, exit 0.
    Shutdown,
    /// Make ACTOR's handler panic (engine started with --allow-fault-injection).
    Crash {
        /// data_manager, strategy:NAME, signal_manager, options_executor, position_manager,
        /// db_writer, broker (with --feed kite) or sim_feed (the simulated feed).
        actor: String,
    },
    /// The strategy instances (list), or stop/restart one taking new signals (pause NAME,
    /// resume NAME; audited). Its open positions are managed as before.
    Strategy {
        #[command(subcommand)]
        cmd: StrategyCmd,
    },
    /// The broker's session: `kite token` gives the running engine a new access token.
    Kite {
        #[command(subcommand)]
        cmd: CtlKiteCmd,
    },
}

#[derive(Subcommand)]
pub(crate) enum CtlKiteCmd {
    /// A new access token (after the daily expiry): read from standard input (one line) when
    /// TOKEN is absent — keeps it out of the shell history and the process list. The engine
    /// reconciles positions and open orders with it, then lifts the broker's halt and resumes
    /// the feed. Never logged or echoed.
    Token {
        /// The access token; better left out and pasted on standard input (an argument shows
        /// in the process list and the shell history).
        token: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum StrategyCmd {
    /// Every instance: kind, timeframe, symbols, paused, its signals' outcomes, restarts.
    List,
    /// Reject NAME's new signals (stored, decided as strategy_paused).
    Pause {
        /// The instance's name (`ctl strategy list`).
        name: String,
    },
    /// Take NAME's signals again.
    Resume {
        /// The instance's name (`ctl strategy list`).
        name: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum DbCmd {
    /// Create the database and apply the schema migrations not yet applied (idempotent).
    Init {
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Report connectivity, server version and row counts per table.
    Check {
        #[command(flatten)]
        at: StoreArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum DataCmd {
    /// Load candles from a CSV (the replay format) into historical_data, through the DbWriter.
    Import {
        /// CSV with header timestamp,open,high,low,close,volume (the replay format).
        #[arg(long)]
        csv: PathBuf,
        /// The symbol the candles are stored under; repeat it to store the same candles
        /// under several symbols (e.g. many test underlyings).
        #[arg(long, required = true, value_parser = parse_symbol)]
        symbol: Vec<String>,
        /// The candles' timeframe: minute, 3minute, 5minute, 15minute, 30minute, 60minute or
        /// day.
        #[arg(long)]
        interval: Timeframe,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Write a seeded sample dataset (simulated bars) as replay CSV.
    Sample {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
        /// First price, rupees.
        #[arg(long, default_value = "24000", value_parser = parse_price)]
        start_price: f64,
        /// Trading days (weekdays, NSE session 09:15-15:30 IST), up to 40,000.
        #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=40_000))]
        days: u32,
        /// Bar timeframe (intraday).
        #[arg(long, default_value = "15minute")]
        interval: Timeframe,
        /// Random seed: the same seed writes the same bars.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Annualised volatility, decimal.
        #[arg(long, default_value = "0.15", value_parser = parse_volatility)]
        volatility: f64,
        /// First day (YYYY-MM-DD).
        #[arg(long, default_value = "2024-01-01")]
        from: chrono::NaiveDate,
    },
}
