//! The `alphastocks` command: run the engine, replay data, check config, make sample data.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod cli;

use actors::config::{Config, StorageBackend};
use alphastocks::error::AppError;
use alphastocks::{errln, out, outln};
use alphastocks::{live, replay};
use clap::Parser;
use cli::*;
use messages::{Mode, SignalQuery, Timeframe};

impl StoreArgs {
    /// The config with `--data-dir` applied, and the backend.
    fn resolve(&self) -> Result<(Config, StorageBackend), AppError> {
        let mut cfg = load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            cfg.storage.data_dir = d.clone();
        }
        let backend = self.store.unwrap_or(cfg.storage.backend);
        Ok((cfg, backend))
    }

    /// Opens a store that exists: a missing SQLite file (with `sqlite`, or with `auto` when
    /// ClickHouse does not answer) is an error naming it, not a new empty store.
    fn open_existing(&self) -> Result<(Config, Box<dyn actors::store::Store>), AppError> {
        let (cfg, backend) = self.resolve()?;
        let file = cfg.storage.resolve(&cfg.storage.sqlite_file);
        if !file.exists() {
            let missing = match backend {
                StorageBackend::Sqlite => true,
                StorageBackend::Clickhouse => false,
                StorageBackend::Auto => actors::store::clickhouse::ClickHouseStore::ping(
                    &cfg.storage.clickhouse.from_env(),
                )
                .is_err(),
            };
            if missing {
                return Err(AppError::Usage(format!(
                    "no store at {}: nothing has been stored there yet (pass the --data-dir of \
                     a run or replay, e.g. --data-dir out/data after the demo, or create one \
                     with `db init`)",
                    file.display()
                )));
            }
        }
        let st = alphastocks::system::open_store(&cfg, backend)?;
        Ok((cfg, st))
    }
}

fn check_inputs(a: &OptionArgs) -> Result<(), AppError> {
    for (name, v, lo, hi, what) in [
        ("--spot", a.spot, f64::MIN_POSITIVE, 1e9, "a positive price"),
        (
            "--strike",
            a.strike,
            f64::MIN_POSITIVE,
            1e9,
            "a positive price",
        ),
        ("--days", a.days, 0.0, 36_500.0, "calendar days"),
        ("--rate", a.rate, -1.0, 1.0, "a decimal rate like 0.065"),
        ("--div-yield", a.div_yield, -1.0, 1.0, "a decimal yield"),
    ] {
        if !(v.is_finite() && v >= lo && v <= hi) {
            return Err(AppError::Usage(format!(
                "{name} {v} is not valid: expected {what}, at most {hi}"
            )));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// The default config file, read when present in the working directory.
const DEFAULT_CONFIG: &str = "config/default.json";

/// The config of `--config FILE`; without it `config/default.json` when the working directory
/// has one (the repository root), else the copy built into the binary: every command works
/// from any directory.
fn load(path: Option<&Path>) -> Result<Config, AppError> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new(DEFAULT_CONFIG).exists() => Ok(Config::load(Path::new(DEFAULT_CONFIG))?),
        None => Ok(Config::default_config()?),
    }
}

/// The paper config `sweep` varies by default, read when present in the working directory.
const PAPER_CONFIG: &str = "config/paper.json";

/// `sweep`'s config: `--config FILE`, else config/paper.json when present here, else the
/// built-in copy of it.
fn sweep_config(path: Option<&Path>) -> Result<Config, AppError> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new(PAPER_CONFIG).exists() => Ok(Config::load(Path::new(PAPER_CONFIG))?),
        None => Ok(Config::paper_config()?),
    }
}

/// What `load(path)` reads, for messages.
fn config_name(path: Option<&Path>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None if Path::new(DEFAULT_CONFIG).exists() => DEFAULT_CONFIG.into(),
        None => "the built-in default config".into(),
    }
}

/// The mode to run in. Live only with every safeguard: the broker feed, the config's
/// `kite.live_trading_enabled`, credentials in the environment, and the operator's
/// confirmation; otherwise a refusal naming what is missing.
fn mode_of(cfg: &Config, cli: Option<Mode>, kite: bool, confirmed: bool) -> Result<Mode, AppError> {
    let m = cli.unwrap_or_else(|| cfg.options_trading.mode());
    if m != Mode::Live {
        return Ok(m);
    }
    let refuse = |why: &str| Err(AppError::Usage(format!("live mode is refused: {why}")));
    if !kite {
        return refuse("live orders need the broker: add --feed kite");
    }
    if !cfg.kite.live_trading_enabled {
        return refuse("the config has kite.live_trading_enabled = false");
    }
    let missing: Vec<&str> = ["KITE_API_KEY", "KITE_ACCESS_TOKEN"]
        .into_iter()
        .filter(|k| std::env::var(k).map_or(true, |v| v.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        return refuse(&format!(
            "{} not set in the environment",
            missing.join(" and ")
        ));
    }
    if !confirmed {
        return refuse("it places real orders with real money: repeat with --confirm-live");
    }
    log::warn!("LIVE MODE confirmed: orders go to the broker");
    Ok(m)
}

/// The live clock of `run`: the machine's, or a rehearsal clock from `--clock-start` and
/// `--clock-speed` (kite feed only; live only against a Kite stand-in on this machine).
fn live_clock(
    start: Option<&str>,
    speed: Option<f64>,
    mode: Mode,
    feed: FeedArg,
    cfg: &Config,
) -> Result<actors::logic::clock::LiveClock, AppError> {
    use actors::logic::clock::LiveClock;
    let Some(start) = start else {
        if let Some(v) = speed {
            return Err(AppError::Usage(format!(
                "--clock-speed {v}: needs --clock-start (a rehearsal clock)"
            )));
        }
        return Ok(LiveClock::system());
    };
    if feed != FeedArg::Kite {
        return Err(AppError::Usage(
            "--clock-start: a rehearsal clock is for --feed kite (the simulated market has its own clock: feed.simulated.start_date and speed)".into(),
        ));
    }
    if mode == Mode::Live {
        // A fake clock never trades a real account: live only against a local stand-in.
        actors::logic::clock::live_rehearsal_allowed(
            &actors::kite::KiteClient::base_url_from_env(&cfg.kite.base_url),
            &alphastocks::kite_feed::ticker_url_from_env(cfg),
        )
        .map_err(AppError::Usage)?;
    }
    let t = chrono::DateTime::parse_from_rfc3339(start).map_err(|e| {
        AppError::Usage(format!(
            "--clock-start {start:?}: not an RFC 3339 time like 2025-12-01T09:40:00+05:30 ({e})"
        ))
    })?;
    let speed = speed.unwrap_or(1.0);
    if !(speed.is_finite() && (0.001..=10_000.0).contains(&speed)) {
        return Err(AppError::Usage(format!(
            "--clock-speed {speed}: must be between 0.001 and 10000"
        )));
    }
    Ok(LiveClock::rehearsal(t.timestamp(), speed))
}

fn dispatch(cli: Cli) -> Result<(), AppError> {
    match cli.cmd {
        Cmd::Run {
            config,
            mode,
            duration,
            store,
            data_dir,
            allow_fault_injection,
            feed,
            confirm_live,
            clock_start,
            clock_speed,
            ignore_calendar,
        } => {
            let mut cfg = load(config.as_deref())?;
            if let Some(d) = data_dir {
                cfg.storage.data_dir = d;
            }
            let mode = mode_of(&cfg, mode, feed == FeedArg::Kite, confirm_live)?;
            let clock = live_clock(clock_start.as_deref(), clock_speed, mode, feed, &cfg)?;
            // Before the store is opened: a control.socket path holding a file (or another
            // engine's live socket) refuses the run here.
            alphastocks::control::check_socket_path(&cfg.storage.resolve(&cfg.control.socket))?;
            let opts = live::RunOptions {
                clock,
                mode,
                duration: duration.map(Duration::from_secs_f64),
                store,
                allow_fault_injection,
                kite: feed == FeedArg::Kite,
                ignore_calendar: ignore_calendar
                    || std::env::var_os(live::ENV_IGNORE_CALENDAR).is_some_and(|v| v == "1"),
            };
            actix::System::new().block_on(live::run(cfg, opts))
        }
        Cmd::Replay {
            input,
            config,
            out,
            force,
            mode,
            json,
            store,
            max_rate,
            verbose,
            data_dir,
            skip_bad_rows,
            max_skipped_pct,
        } => {
            let mut cfg = load(config.as_deref())?;
            if let Some(d) = data_dir {
                cfg.storage.data_dir = d;
            }
            if mode.unwrap_or_else(|| cfg.options_trading.mode()) == Mode::Live {
                return Err(AppError::Usage(
                    "replay cannot trade live (it replays history): use --mode logging or paper"
                        .into(),
                ));
            }
            let mode = mode_of(&cfg, mode, false, false)?;
            let inputs = replay_inputs(&input.data, input.symbol)?;
            replay::prepare_out(&out, force)?;
            let opts = replay::ReplayOptions {
                inputs,
                timeframe: input.timeframe,
                out,
                progress: std::io::stderr().is_terminal(),
                mode,
                store,
                max_rate,
                verbose,
                batch_bars: None,
            };
            let rows = replay::RowOptions {
                policy: if skip_bad_rows {
                    actors::feed::replay::RowPolicy::Skip
                } else {
                    actors::feed::replay::RowPolicy::Strict
                },
                max_lost_pct: max_skipped_pct,
            };
            let summary = actix::System::new().block_on(replay::replay_with(cfg, opts, rows))?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&summary).unwrap_or_default()
                );
            } else {
                out!("{}", summary.render());
            }
            if !summary.complete {
                return Err(AppError::Incomplete(format!(
                    "replay INCOMPLETE: {} of {} rows ({:.2}%) were skipped or dropped, more than --max-skipped-pct {}",
                    summary.rows_skipped + summary.bars_dropped,
                    summary.rows,
                    summary.lost_pct,
                    summary.max_lost_pct
                )));
            }
            Ok(())
        }
        Cmd::Sweep {
            input,
            config,
            grid,
            sort_by,
            shard,
            jobs,
            skip_invalid,
            store,
            out,
        } => {
            let clickhouse = match store {
                None | Some(StorageBackend::Sqlite) => None,
                Some(StorageBackend::Clickhouse) => {
                    Some(sweep_config(config.as_deref())?.storage.clickhouse.from_env())
                }
                Some(StorageBackend::Auto) => {
                    return Err(AppError::Usage(
                        "sweep --store auto: say clickhouse (rows also into the server's sweep_results table) or sqlite (the default: sweep.csv only)".into(),
                    ))
                }
            };
            let config = config.or_else(|| {
                Path::new(PAPER_CONFIG)
                    .exists()
                    .then(|| PathBuf::from(PAPER_CONFIG))
            });
            let opts = alphastocks::sweep::SweepOptions {
                inputs: replay_inputs(&input.data, input.symbol)?,
                timeframe: input.timeframe,
                config,
                grid,
                sort_by,
                shard: shard.unwrap_or(alphastocks::sweep::Shard::ALL),
                out,
                jobs,
                skip_invalid,
                progress: std::io::stderr().is_terminal(),
                exe: None,
                clickhouse,
            };
            let summary = alphastocks::sweep::sweep(&opts)?;
            out!("{}", summary.render(&opts.sort_by));
            if summary.failed.is_empty() {
                Ok(())
            } else {
                Err(AppError::Failed(format!(
                    "sweep: {} of {} runs failed (their rows are not in {})",
                    summary.failed.len(),
                    summary.runs,
                    summary.csv.display()
                )))
            }
        }
        Cmd::Config {
            cmd: ConfigCmd::Check { file },
        } => {
            let cfg = load(file.as_deref())?;
            // `run` would refuse a control.socket path that holds anything but a stale socket.
            alphastocks::control::check_socket_path(&cfg.storage.resolve(&cfg.control.socket))?;
            outln!("{}", serde_json::to_string_pretty(&cfg).unwrap_or_default());
            errln!(
                "{}: valid (mode {})",
                config_name(file.as_deref()),
                cfg.options_trading.mode().as_str()
            );
            Ok(())
        }
        Cmd::Ctl {
            config,
            socket,
            cmd,
        } => ctl(config.as_deref(), socket, cmd),
        Cmd::Kite {
            config,
            cmd: KiteCmd::Login { request_token },
        } => {
            let cfg = load(config.as_deref())?;
            let token = actix::System::new()
                .block_on(alphastocks::kite_feed::login(&cfg, &request_token))?;
            outln!("export KITE_ACCESS_TOKEN={token}");
            errln!("session created; put the line above in your environment (it expires at 6 AM)");
            Ok(())
        }
        Cmd::Options {
            cmd: OptionsCmd::Greeks { a, vol },
        } => {
            check_inputs(&a)?;
            if !(vol.is_finite() && (0.0..=10.0).contains(&vol)) {
                return Err(AppError::Usage(format!(
                    "--vol {vol} is not valid: expected a decimal volatility like 0.12"
                )));
            }
            let g = actors::options::bs::greeks(
                a.kind,
                &actors::options::bs::BsInput {
                    spot: a.spot,
                    strike: a.strike,
                    t_years: actors::options::bs::years(a.days),
                    rate: a.rate,
                    div_yield: a.div_yield,
                    vol,
                },
            );
            outln!("{}", serde_json::to_string(&g).unwrap_or_default());
            Ok(())
        }
        Cmd::Options {
            cmd: OptionsCmd::Iv { a, price },
        } => {
            check_inputs(&a)?;
            if !(price.is_finite() && price > 0.0 && price <= 1e9) {
                return Err(AppError::Usage(format!(
                    "--price {price} is not valid: expected a positive option price"
                )));
            }
            let iv = actors::options::bs::implied_vol(
                a.kind,
                a.spot,
                a.strike,
                actors::options::bs::years(a.days),
                a.rate,
                a.div_yield,
                price,
            )
            .map_err(|e| AppError::Usage(format!("no implied volatility: {e}")))?;
            outln!("{}", serde_json::json!({ "iv": iv }));
            Ok(())
        }
        Cmd::Db {
            cmd: DbCmd::Init { at },
        } => {
            let (cfg, backend) = at.resolve()?;
            let mut st = alphastocks::system::open_store(&cfg, backend)?;
            let h = st.health();
            if !h.connected {
                return Err(AppError::Usage(format!(
                    "{}: the server is not answering; nothing applied",
                    h.backend
                )));
            }
            outln!(
                "{}: schema up to date ({} tables{})",
                h.backend,
                // The tables `db check` lists (its local outbox line is not a table).
                st.row_counts()?
                    .iter()
                    .filter(|(t, _)| !t.starts_with("outbox"))
                    .count(),
                h.server_version
                    .map(|v| format!(", server {v}"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Cmd::Db {
            cmd: DbCmd::Check { at },
        } => {
            let (_, mut st) = at.open_existing()?;
            let h = st.health();
            outln!("backend:   {}", h.backend);
            outln!("connected: {}", h.connected);
            outln!("server:    {}", h.server_version.as_deref().unwrap_or("?"));
            outln!("outbox:    {} rows waiting", h.outbox_pending);
            if !h.connected {
                return Err(AppError::Usage(format!(
                    "{}: the server is not answering",
                    h.backend
                )));
            }
            for (t, n) in st.row_counts()? {
                outln!("{t:<22}{n:>12}");
            }
            Ok(())
        }
        Cmd::Data {
            cmd:
                DataCmd::Import {
                    csv,
                    symbol,
                    interval,
                    at,
                },
        } => {
            let (cfg, backend) = at.resolve()?;
            let n = actix::System::new().block_on(alphastocks::import::import(
                &cfg, backend, &csv, &symbol, interval,
            ))?;
            outln!(
                "imported {n} {interval} candles of {} from {}",
                symbol.join(", "),
                csv.display()
            );
            Ok(())
        }
        Cmd::Charges {
            config,
            premium_buy,
            premium_sell,
            quantity,
            date,
            orders,
        } => {
            let cfg = load(config.as_deref())?;
            let v = alphastocks::charges_cli::breakdown(
                &cfg.charges.schedule,
                alphastocks::charges_cli::Request {
                    premium_buy,
                    premium_sell,
                    quantity,
                    date: date.unwrap_or_else(|| chrono::Utc::now().date_naive()),
                    orders,
                },
            )
            .map_err(AppError::Usage)?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        Cmd::Data {
            cmd:
                DataCmd::Sample {
                    out,
                    start_price,
                    days,
                    interval,
                    seed,
                    volatility,
                    from,
                },
        } => sample(&out, start_price, days, interval, seed, volatility, from),
        Cmd::Signals {
            at,
            symbol,
            strategy,
            start,
            end,
        } => {
            if let (Some(s), Some(e)) = (start, end) {
                if s > e {
                    return Err(AppError::Usage(format!(
                        "--start {s} is after --end {e}: nothing can match"
                    )));
                }
            }
            let (_, mut store) = at.open_existing()?;
            let q = SignalQuery {
                symbol,
                strategy,
                start,
                end,
            };
            for s in store.signals(&q)? {
                if alphastocks::output::stdout_gone() {
                    break;
                }
                outln!("{}", serde_json::to_string(&s).unwrap_or_default());
            }
            Ok(())
        }
    }
}

/// Sends one request line and returns the parsed reply.
fn ctl_request(socket: &Path, req: &serde_json::Value) -> Result<serde_json::Value, AppError> {
    use std::io::{BufRead, BufReader, Write};
    let io = |context: String| move |source| AppError::Io { context, source };
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(io(format!(
        "cannot reach the engine at {} (is `alphastocks run` running?)",
        socket.display()
    )))?;
    writeln!(s, "{req}").map_err(io("cannot send the request".into()))?;
    let mut line = String::new();
    BufReader::new(&s)
        .read_line(&mut line)
        .map_err(io("cannot read the reply".into()))?;
    serde_json::from_str(&line)
        .map_err(|e| AppError::Usage(format!("unreadable reply {line:?}: {e}")))
}

fn ctl(config: Option<&Path>, socket: Option<PathBuf>, cmd: CtlCmd) -> Result<(), AppError> {
    use serde_json::json;
    let socket = match socket {
        Some(s) => s,
        None => {
            let cfg = load(config)?;
            cfg.storage.resolve(&cfg.control.socket)
        }
    };
    let (req, metrics_view) = match &cmd {
        CtlCmd::Status => (json!({"cmd": "status"}), None),
        CtlCmd::Metrics { json: j, watch } => (json!({"cmd": "metrics"}), Some((*j, *watch))),
        CtlCmd::Pause => (json!({"cmd": "pause"}), None),
        CtlCmd::Resume => (json!({"cmd": "resume"}), None),
        CtlCmd::Mode { mode, confirm } => (
            json!({"cmd": "mode", "mode": mode.as_str(), "confirm": confirm}),
            None,
        ),
        CtlCmd::Halt => (json!({"cmd": "halt"}), None),
        CtlCmd::Flatten => (json!({"cmd": "flatten"}), None),
        CtlCmd::Positions => (json!({"cmd": "positions"}), None),
        CtlCmd::Close { position, price } => (
            json!({"cmd": "close", "position": position, "price": price}),
            None,
        ),
        CtlCmd::Shutdown => (json!({"cmd": "shutdown"}), None),
        CtlCmd::Crash { actor } => (json!({"cmd": "crash", "actor": actor}), None),
        CtlCmd::Kite {
            cmd: CtlKiteCmd::Token { token },
        } => {
            let token = match token {
                Some(t) => t.clone(),
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .map_err(|source| AppError::Io {
                            context: "cannot read the access token from standard input".into(),
                            source,
                        })?;
                    line.trim().to_string()
                }
            };
            (json!({"cmd": "kite_token", "token": token}), None)
        }
        CtlCmd::Strategy { cmd } => (
            match cmd {
                StrategyCmd::List => json!({"cmd": "strategy", "action": "list"}),
                StrategyCmd::Pause { name } => {
                    json!({"cmd": "strategy", "action": "pause", "name": name})
                }
                StrategyCmd::Resume { name } => {
                    json!({"cmd": "strategy", "action": "resume", "name": name})
                }
            },
            None,
        ),
    };
    loop {
        let reply = ctl_request(&socket, &req)?;
        if reply["ok"] != json!(true) {
            return Err(AppError::Usage(format!(
                "engine refused: {}",
                reply["error"].as_str().unwrap_or("unknown error")
            )));
        }
        let result = &reply["result"];
        match metrics_view {
            Some((false, _)) => out!("{}", metrics_table(result)),
            _ => outln!(
                "{}",
                serde_json::to_string_pretty(result).unwrap_or_default()
            ),
        }
        match metrics_view {
            Some((_, Some(secs))) if secs > 0.0 && !alphastocks::output::stdout_gone() => {
                std::thread::sleep(Duration::from_secs_f64(secs))
            }
            _ => return Ok(()),
        }
    }
}

fn metrics_table(v: &serde_json::Value) -> String {
    let mut s = format!(
        "{:<18}{:>10}{:>10}{:>7}{:>9}{:>10}{:>10}{:>10}{:>9}{:>8}  {}\n",
        "actor",
        "sent",
        "handled",
        "depth",
        "max",
        "p50 µs",
        "p99 µs",
        "max µs",
        "restarts",
        "dropped",
        "last error"
    );
    for a in v.as_array().into_iter().flatten() {
        let n = |k: &str| a[k].as_u64().unwrap_or(0);
        let us = |k: &str| a[k].as_u64().unwrap_or(0) as f64 / 1000.0;
        s.push_str(&format!(
            "{:<18}{:>10}{:>10}{:>7}{:>9}{:>10.1}{:>10.1}{:>10.1}{:>9}{:>8}  {}\n",
            a["actor"].as_str().unwrap_or("?"),
            n("sent"),
            n("handled"),
            n("depth"),
            n("max_depth"),
            us("latency_p50_ns"),
            us("latency_p99_ns"),
            us("latency_max_ns"),
            n("restarts"),
            n("dropped"),
            a["last_error"].as_str().unwrap_or("")
        ));
    }
    s
}

/// `data/sample/nifty_15minute.csv` → `NIFTY`.
/// The files of `replay --data` (each FILE, SYMBOL=FILE, or a directory of *.csv) with their
/// symbols; `--symbol` names a single plain file only.
fn replay_inputs(
    data: &[String],
    symbol: Option<String>,
) -> Result<Vec<replay::ReplayInput>, AppError> {
    let plain_single = data.len() == 1 && !data[0].contains('=') && !Path::new(&data[0]).is_dir();
    if symbol.is_some() && !plain_single {
        return Err(AppError::Usage(
            "--symbol names the symbol of a single --data FILE; with several, write SYMBOL=FILE"
                .into(),
        ));
    }
    let mut out = Vec::new();
    for d in data {
        if let Some((sym, file)) = d.split_once('=') {
            let symbol = parse_symbol(sym).map_err(|e| {
                AppError::Usage(format!("--data {d:?}: the symbol before '=': {e}"))
            })?;
            out.push(replay::ReplayInput {
                symbol,
                path: PathBuf::from(file),
            });
        } else if Path::new(d).is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(d)
                .map_err(|source| AppError::Io {
                    context: format!("--data {d}: cannot list the directory"),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(AppError::Usage(format!(
                    "--data {d}: the directory holds no .csv file"
                )));
            }
            for path in files {
                out.push(replay::ReplayInput {
                    symbol: symbol_from_file(&path)?,
                    path,
                });
            }
        } else {
            let path = PathBuf::from(d);
            let symbol = match &symbol {
                Some(s) => s.clone(),
                None => symbol_from_file(&path)?,
            };
            out.push(replay::ReplayInput { symbol, path });
        }
    }
    Ok(out)
}

fn symbol_from_file(p: &Path) -> Result<String, AppError> {
    let word = p
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.split(['_', '-', '.']).next())
        .unwrap_or("")
        .to_uppercase();
    parse_symbol(&word).map_err(|e| {
        AppError::Usage(format!(
            "no symbol from the file name {}: {e}; pass --symbol",
            p.display()
        ))
    })
}

/// The most bars `data sample` builds.
const SAMPLE_MAX_BARS: usize = 10_000_000;

/// A sample ends before the first time a replay refuses (2200-01-01).
const SAMPLE_END: i64 = actors::feed::replay::TIME_RANGE.1;

fn sample(
    out: &Path,
    start_price: f64,
    days: u32,
    interval: Timeframe,
    seed: u64,
    volatility: f64,
    from: chrono::NaiveDate,
) -> Result<(), AppError> {
    use actors::feed::sim::SimMarket;
    use actors::logic::session::Session;
    use chrono::{FixedOffset, TimeZone};
    use std::io::Write;

    if interval == Timeframe::Day {
        return Err(AppError::Usage("sample: pick an intraday interval".into()));
    }
    let session = Session::nse();
    let per_day = ((session.close - session.open) / interval.seconds()) as usize;
    // The bars are built in memory: bound them (10 M one-minute bars is ~27 years).
    let total = per_day.saturating_mul(days as usize);
    if total > SAMPLE_MAX_BARS {
        return Err(AppError::Usage(format!(
            "sample: --days {days} at {interval} is {total} bars, more than {SAMPLE_MAX_BARS}: ask for fewer days or a coarser interval"
        )));
    }
    if !(1990..=2100).contains(&chrono::Datelike::year(&from)) {
        return Err(AppError::Usage(format!(
            "sample: --from {from} is not valid: expected a date between 1990 and 2100"
        )));
    }
    let start = from
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .ok_or_else(|| AppError::Usage("sample: bad --from".into()))?;
    let sub = (interval.seconds() / 60).max(1) as usize;
    let mut m = SimMarket::new(seed, session, volatility, 60, vec![start_price], start);
    let bars = m.bars(total, interval.seconds(), sub);
    // A replay reads times up to the end of 2199.
    if let Some(last) = bars.last().filter(|b| b.ts >= SAMPLE_END) {
        return Err(AppError::Usage(format!(
            "sample: --from {from} with --days {days} ends on {}, past 2199 (the last year a replay reads): ask for fewer days or an earlier --from",
            chrono::DateTime::from_timestamp(last.ts, 0).map_or_else(|| last.ts.to_string(), |t| t.date_naive().to_string())
        )));
    }
    let ist = FixedOffset::east_opt(19_800).ok_or_else(|| AppError::Usage("offset".into()))?;
    let io = |source| AppError::Io {
        context: format!("cannot write {}", out.display()),
        source,
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).map_err(io)?);
    writeln!(w, "timestamp,open,high,low,close,volume").map_err(io)?;
    for b in &bars {
        let t = ist
            .timestamp_opt(b.ts, 0)
            .single()
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
            .unwrap_or_default();
        writeln!(
            w,
            "{t},{},{},{},{},{}",
            b.open, b.high, b.low, b.close, b.volume
        )
        .map_err(io)?;
    }
    w.flush().map_err(io)?;
    errln!("wrote {} bars to {}", bars.len(), out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every flag and argument of every command, with the commands that lead to it.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                out.push(format!("{path} --{id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() {
                out.push(format!("{path} {} (no description)", sub.get_name()));
            }
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_and_flag_has_help_text() {
        let mut missing = Vec::new();
        undocumented(&Cli::command(), "alphastocks", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
