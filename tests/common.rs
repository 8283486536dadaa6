//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use actors::config::Config;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed sample dataset.
pub fn sample() -> PathBuf {
    root().join("data/sample/nifty_15minute.csv")
}

/// The default config as JSON, for tests to modify.
pub fn default_json() -> serde_json::Value {
    serde_json::from_str(actors::config::DEFAULT_JSON).expect("default config is JSON")
}

/// The default config with its data directory moved into `dir`.
pub fn config_in(dir: &Path) -> Config {
    let mut v = default_json();
    v["storage"]["data_dir"] = dir.join("data").to_string_lossy().into_owned().into();
    serde_json::from_value(v).expect("config")
}

/// Writes `v` as a config file in `dir`.
pub fn write_config(dir: &Path, v: &serde_json::Value) -> PathBuf {
    let p = dir.join("config.json");
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// Row count of a table in the engine's SQLite store.
pub fn count(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// The ClickHouse HTTP endpoint the tests use (`CLICKHOUSE_URL`, default 127.0.0.1:8123).
pub fn ch_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// Runs one SQL statement over ClickHouse's HTTP interface; returns the body. Panics with a
/// hint when no server answers (the test command starts one: scripts/clickhouse.sh start).
pub fn ch_sql_at(url: &str, sql: &str) -> String {
    use std::io::{Read, Write};
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).unwrap_or_else(|e| {
        panic!("no ClickHouse at {url} ({e}); start one with: bash scripts/clickhouse.sh start")
    });
    let req = format!(
        "POST / HTTP/1.0\r\nHost: {hostport}\r\nContent-Length: {}\r\n\r\n{sql}",
        sql.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{sql}\n{resp}"
    );
    body.to_string()
}

/// [`ch_sql_at`] on the default server.
pub fn ch_sql(sql: &str) -> String {
    ch_sql_at(&ch_url(), sql)
}

/// A number from a one-value query.
pub fn ch_num(sql: &str) -> u64 {
    ch_sql(sql)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A database name unique to this test process and `tag`.
pub fn ch_db(tag: &str) -> String {
    format!("as_test_{}_{tag}", std::process::id())
}

/// A number from a one-value query on the server at `url`.
pub fn ch_num_at(url: &str, sql: &str) -> u64 {
    ch_sql_at(url, sql)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Replays the bundled sample (NIFTY) with `cfg` in `mode`, writing into `out`.
pub fn replay_sample(
    cfg: Config,
    out: &Path,
    mode: messages::Mode,
) -> alphastocks::replay::ReplaySummary {
    replay_sample_in_batches(cfg, out, mode, None)
}

/// [`replay_sample`] with `batch_bars` bars per message into DataManager (the default when
/// `None`).
pub fn replay_sample_in_batches(
    cfg: Config,
    out: &Path,
    mode: messages::Mode,
    batch_bars: Option<usize>,
) -> alphastocks::replay::ReplaySummary {
    let opts = alphastocks::replay::ReplayOptions {
        inputs: vec![alphastocks::replay::ReplayInput {
            symbol: "NIFTY".into(),
            path: sample(),
        }],
        timeframe: None,
        out: out.to_path_buf(),
        progress: false,
        mode,
        store: None,
        max_rate: None,
        verbose: false,
        batch_bars,
    };
    actix::System::new()
        .block_on(alphastocks::replay::replay(cfg, opts))
        .expect("replay")
}

/// An engine of `cfg` on NIFTY in logging mode, on data time and the SQLite store, metrics on,
/// no broker: what the in-process tests drive with bars of their own.
pub fn nifty_engine(cfg: Config) -> alphastocks::system::EngineOptions {
    alphastocks::system::EngineOptions {
        config: cfg,
        symbols: messages::Symbols::new(["NIFTY"]),
        mode: messages::Mode::Logging,
        clock: actors::options_executor::Clock::Data,
        load_history: false,
        persist_candles: false,
        backend: actors::config::StorageBackend::Sqlite,
        metrics: true,
        broker: None,
        replay: false,
        event_level: log::Level::Info,
    }
}

/// The charges of one fill recomputed from `schedule` alone (independent of the engine): one
/// order of `value` paise bought (or sold) at `time` (RFC 3339), at the rates of its IST date.
pub fn fill_charges(
    schedule: &actors::charges::Schedule,
    time: &serde_json::Value,
    buy: bool,
    value: i64,
) -> actors::charges::Breakdown {
    let date = (chrono::DateTime::parse_from_rfc3339(time.as_str().unwrap()).unwrap()
        + chrono::Duration::seconds(19_800))
    .date_naive();
    let rates = schedule
        .rates_on(date, actors::charges::Segment::Options)
        .unwrap();
    let (buy_paise, sell_paise) = if buy { (value, 0) } else { (0, value) };
    actors::charges::charges(
        actors::charges::Turnover {
            buy_paise,
            sell_paise,
            orders: 1,
        },
        &rates,
    )
}
