//! The chaos suite: paper replays SIGKILLed at seeded pseudo-random moments and started again,
//! until one completes, must leave exactly the store of an uninterrupted run — on SQLite and on
//! ClickHouse, compared row by row. Every count is printed (the test command runs this file
//! with `--nocapture`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// SIGKILLs per backend.
const KILLS: usize = 12;
/// Bars of the sample, and the feed's cap: no run, fresh or resumed, is shorter than
/// `BARS / RATE` seconds, so every kill moment below that falls inside a run.
const BARS: u32 = 25_000;
const RATE: u32 = 10_000;

/// A signal-heavy sample: 1,000 days of 15-minute bars (25,000 bars).
fn sample(dir: &Path) -> PathBuf {
    let f = dir.join("bars.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_alphastocks"))
        .args(["data", "sample", "--seed", "7", "--out"])
        .arg(&f)
        .args(["--days", &(BARS / 25).to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    f
}

fn replay(data: &Path, cfg: &Path, data_dir: &Path, store: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(common::root())
        .env("RUST_LOG", "error")
        .args([
            "replay", "--symbol", "NIFTY", "--mode", "paper", "--store", store,
        ])
        .args(["--max-rate", &RATE.to_string()])
        .arg("--data")
        .arg(data)
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--out")
        .arg(data_dir.join("out"))
        // Each rerun replaces the killed run's files.
        .arg("--force")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// A small deterministic generator (the kill moments are the same on every run).
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Starts `cmd` again and again, each time SIGKILLed after a moment between 5 % and 95 % of
/// the shortest run, then lets one run complete. Returns (kills that hit a running replay, runs that had
/// finished before their kill moment).
fn kill_repeatedly(mut cmd: impl FnMut() -> Command, seed: u64) -> (usize, usize) {
    let span = Duration::from_secs_f64(f64::from(BARS) / f64::from(RATE));
    let mut rng = Lcg(seed);
    let (mut killed, mut finished) = (0, 0);
    for _ in 0..KILLS {
        let at = span.mul_f64(0.05 + 0.9 * rng.unit());
        let mut child = cmd().spawn().unwrap();
        std::thread::sleep(at);
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "a replay failed on its own: {status}");
                finished += 1;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
            }
        }
    }
    let status = cmd().status().unwrap();
    assert!(status.success(), "the last replay: {status}");
    (killed, finished)
}

/// Runs the reference replay; returns its wall time.
fn reference(mut cmd: Command) -> Duration {
    let t = Instant::now();
    assert!(cmd.status().unwrap().success());
    t.elapsed()
}

const SQLITE_TABLES: [(&str, &str); 3] = [
    (
        "trading_signals",
        "SELECT signal_id, timestamp, symbol, strategy, action, price, quantity, confidence, target, stop_loss, expected_move_pct, candle_time, ema_fast, ema_slow, metadata FROM trading_signals ORDER BY signal_id",
    ),
    (
        "executor_decisions",
        "SELECT * FROM executor_decisions ORDER BY signal_id",
    ),
    ("positions", "SELECT * FROM positions ORDER BY position_id, version"),
];

fn sqlite_rows(db: &Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        let mut row = Vec::with_capacity(n);
        for i in 0..n {
            row.push(format!("{:?}", r.get_ref(i)?));
        }
        Ok(row.join("|"))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn chaos_sigkilled_paper_replays_on_sqlite_leave_the_store_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(dir.path());
    let cfg = common::root().join("config/paper.json");
    let (a, b) = (dir.path().join("ref"), dir.path().join("killed"));
    let span = reference(replay(&data, &cfg, &a, "sqlite"));
    let (killed, finished) = kill_repeatedly(|| replay(&data, &cfg, &b, "sqlite"), 42);
    assert!(
        killed >= KILLS - 2,
        "the kills hit running replays: {killed}"
    );
    let mut counts = Vec::new();
    for (table, sql) in SQLITE_TABLES {
        let want = sqlite_rows(&a.join("alphastocks.db"), sql);
        let got = sqlite_rows(&b.join("alphastocks.db"), sql);
        assert!(!want.is_empty(), "{table}: the reference stored rows");
        assert_eq!(got.len(), want.len(), "{table}: rows after {killed} kills");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{table}: a row differs after {killed} kills");
        }
        counts.push(format!("{table} {}", want.len()));
    }
    println!(
        "chaos sqlite: {killed} SIGKILLs mid-replay ({finished} replays had finished first), reference {:.2} s; identical rows: {}",
        span.as_secs_f64(),
        counts.join(", ")
    );
}

/// ClickHouse tables compared after `FINAL` (the rows a reader sees), without wall-clock
/// columns (`created_at`).
const CH_TABLES: [(&str, &str); 3] = [
    (
        "trading_signals",
        "SELECT signal_id, timestamp, symbol, strategy, action, price, quantity, confidence, target, stop_loss, expected_move_pct, candle_time, ema_fast, ema_slow, metadata FROM {db}.trading_signals FINAL ORDER BY signal_id",
    ),
    (
        "executor_decisions",
        "SELECT * FROM {db}.executor_decisions FINAL ORDER BY signal_id",
    ),
    ("positions", "SELECT * FROM {db}.positions FINAL ORDER BY position_id"),
];

struct DropDbs(Vec<String>);
impl Drop for DropDbs {
    fn drop(&mut self) {
        for db in &self.0 {
            let _ = std::panic::catch_unwind(|| {
                common::ch_sql(&format!("DROP DATABASE IF EXISTS {db}"))
            });
        }
    }
}

#[test]
fn chaos_sigkilled_paper_replays_on_clickhouse_leave_the_store_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(dir.path());
    let tag = std::process::id();
    let dbs = [format!("chaos_ref_{tag}"), format!("chaos_killed_{tag}")];
    let _drop = DropDbs(dbs.to_vec());
    let cfg = |db: &str| {
        let mut v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(common::root().join("config/paper.json")).unwrap(),
        )
        .unwrap();
        v["storage"]["clickhouse"]["database"] = db.into();
        v["storage"]["clickhouse"]["url"] = common::ch_url().into();
        let p = dir.path().join(format!("{db}.json"));
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let (ca, cb) = (cfg(&dbs[0]), cfg(&dbs[1]));
    let (a, b) = (dir.path().join("ref"), dir.path().join("killed"));
    let span = reference(replay(&data, &ca, &a, "clickhouse"));
    let (killed, finished) = kill_repeatedly(|| replay(&data, &cb, &b, "clickhouse"), 4242);
    assert!(
        killed >= KILLS - 2,
        "the kills hit running replays: {killed}"
    );
    // A kill between a table's insert and its removal from the outbox ships those rows
    // again: the same rows (FINAL sees one), never a second version with other contents.
    assert_eq!(
        common::ch_sql(&format!(
            "SELECT count() FROM (SELECT signal_id FROM {}.trading_signals GROUP BY signal_id HAVING uniqExact(timestamp, symbol, strategy, action, price, confidence, target, stop_loss, expected_move_pct, candle_time, ema_fast, ema_slow, metadata, created_at) > 1)",
            dbs[1]
        ))
        .trim(),
        "0",
        "a signal id stored with different contents"
    );
    let mut counts = Vec::new();
    for (table, sql) in CH_TABLES {
        let want = common::ch_sql(&sql.replace("{db}", &dbs[0]));
        let got = common::ch_sql(&sql.replace("{db}", &dbs[1]));
        let n = want.lines().count();
        assert!(n > 0, "{table}: the reference stored rows");
        assert_eq!(got.lines().count(), n, "{table}: rows after {killed} kills");
        for (g, w) in got.lines().zip(want.lines()) {
            assert_eq!(g, w, "{table}: a row differs after {killed} kills");
        }
        counts.push(format!("{table} {n}"));
    }
    println!(
        "chaos clickhouse: {killed} SIGKILLs mid-replay ({finished} replays had finished first), reference {:.2} s; identical rows (FINAL): {}",
        span.as_secs_f64(),
        counts.join(", ")
    );
}
