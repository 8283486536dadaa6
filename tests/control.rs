//! The CLI actor through its real socket against a running engine process: status, metrics,
//! pause/resume, mode, bad requests, `crash` of every actor (restarts counted, signals keep
//! coming), stale and live sockets, graceful shutdown with the final flush, the audit trail.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(common::root()).env("RUST_LOG", "info");
    c
}

fn config(dir: &Path) -> PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["strategies"]["ma_crossover"]["timeframe"] = "minute".into();
    v["feed"]["simulated"]["speed"] = 6000.0.into();
    v["feed"]["simulated"]["start_date"] = "2024-03-04".into();
    v["metrics"]["persist_every_seconds"] = 1.into();
    // Caps far above what the test reaches: shown in `ctl status`, never binding.
    v["rules"]["max_trades_per_day"] = 10_000.into();
    v["rules"]["daily_profit_lock_pct"] = 900.0.into();
    common::write_config(dir, &v)
}

fn request(sock: &Path, line: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(sock).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}

fn ctl(cfg: &Path, args: &[&str]) -> std::process::Output {
    bin()
        .arg("ctl")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

fn metrics(sock: &Path) -> Vec<serde_json::Value> {
    request(sock, r#"{"cmd":"metrics"}"#)["result"]
        .as_array()
        .unwrap()
        .clone()
}

/// sent ≥ handled for every actor (every send counted: feed, control, timers, restarts).
fn assert_sends_counted(m: &[serde_json::Value]) {
    for a in m {
        let (sent, handled) = (a["sent"].as_u64().unwrap(), a["handled"].as_u64().unwrap());
        assert!(sent >= handled, "sent < handled: {a}");
    }
}

/// `ctl status` once signals are stored: the data time, last prices, and per instance and
/// symbol the candles taken against the warm-up and the signals, consistent with each other.
fn assert_progress_shown(cfg: &Path) {
    let st: serde_json::Value = serde_json::from_slice(&ctl(cfg, &["status"]).stdout).unwrap();
    let data_time = st["data_time"].as_str().unwrap_or_else(|| panic!("{st}"));
    let t = chrono::DateTime::parse_from_rfc3339(data_time).unwrap();
    assert_eq!(t.offset().local_minus_utc(), 19_800, "IST: {data_time}");
    // The simulated market starts on feed.simulated.start_date.
    assert!(data_time.starts_with("2024-03-0"), "{data_time}");
    assert!(st["last_prices"]["NIFTY"].as_f64().unwrap() > 0.0, "{st}");
    let rows = st["strategies"].as_array().unwrap();
    let progress = rows[0]["progress"].as_array().unwrap();
    assert_eq!(rows[0]["name"], "ma_crossover");
    assert_eq!(
        progress.len(),
        rows[0]["symbols"].as_array().unwrap().len(),
        "{st}"
    );
    let mut warming = Vec::new();
    let mut signals = 0;
    for p in progress {
        let (candles, warmup, n) = (
            p["candles"].as_u64().unwrap(),
            p["warmup"].as_u64().unwrap(),
            p["signals"].as_u64().unwrap(),
        );
        assert_eq!(warmup, 50, "historical_lookback.min_periods: {p}");
        assert_eq!(p["warmed_up"], candles >= warmup, "{p}");
        assert!(
            n == 0 || candles >= warmup,
            "a signal before the warm-up: {p}"
        );
        if candles < warmup {
            warming.push(format!(
                "ma_crossover: {} {candles}/{warmup} candles",
                p["symbol"].as_str().unwrap()
            ));
        }
        signals += n;
    }
    assert!(signals > 0, "signals are stored, so detected: {st}");
    assert_eq!(st["warming_up"], serde_json::json!(warming), "{st}");
}

fn actor<'a>(m: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    m.iter().find(|a| a["actor"] == name).unwrap()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills the engine if a test fails before it stopped (no process outlives its test).
struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Engine {
    /// Waits up to 30 s for the engine to exit.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "engine did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Starts an engine; its stderr is read on a thread (a full pipe would block the engine's
/// logging, and with it the actors).
fn start(cfg: &Path, extra: &[&str]) -> (Engine, std::thread::JoinHandle<String>) {
    let mut child = bin()
        .arg("run")
        .args(extra)
        .arg("--config")
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    (Engine(child), reader)
}

#[test]
fn control_socket_drives_a_running_engine() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sock = dir.path().join("control.sock");
    let db = dir.path().join("alphastocks.db");
    // A stale socket left by a crashed run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let (mut engine, log) = start(&cfg, &["--allow-fault-injection"]);
    wait_for("the control socket", || UnixStream::connect(&sock).is_ok());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A second engine never steals a live socket.
    let second = bin()
        .args(["run", "--duration", "5", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another engine is listening"));

    let out = ctl(&cfg, &["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            st["mode"].as_str(),
            st["trading"].as_str(),
            st["feed"].as_str()
        ),
        (Some("logging"), Some("active"), Some("simulated"))
    );
    assert_eq!(st["storage"]["backend"], "sqlite");
    // The book's P&L: net of charges, with the gross and the charges beside (nothing traded
    // in logging mode).
    for k in [
        "realized_pnl",
        "realized_pnl_gross",
        "charges",
        "day_realized_pnl",
        "day_realized_pnl_gross",
        "day_charges",
        "unrealized_pnl",
    ] {
        assert_eq!(st[k].as_f64(), Some(0.0), "{k}: {st}");
    }

    // Metrics of every actor, as JSON and as a table.
    wait_for("signals", || common::count(&db, "trading_signals") > 0);
    assert_progress_shown(&cfg);
    let m = metrics(&sock);
    assert_eq!(
        m.len(),
        7,
        "six actors and the simulated feed (no broker without --feed kite)"
    );
    assert!(actor(&m, "data_manager")["handled"].as_u64().unwrap() > 0);
    assert!(
        actor(&m, "sim_feed")["handled"].as_u64().unwrap() > 0,
        "{m:?}"
    );
    let table = String::from_utf8(ctl(&cfg, &["metrics"]).stdout).unwrap();
    assert!(
        table.contains("p99 µs") && table.contains("position_manager"),
        "{table}"
    );

    // Bad requests get an error reply; the engine keeps running.
    let r = request(&sock, "this is not json");
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap().contains("bad request"));
    let r = request(&sock, r#"{"cmd":"explode"}"#);
    assert_eq!(r["ok"], false);
    assert_eq!(request(&sock, r#"{"cmd":"status"}"#)["ok"], true);

    // Crash every actor: each restarts once and the pipeline keeps producing signals.
    for a in [
        "strategy:ma_crossover",
        "data_manager",
        "signal_manager",
        "options_executor",
        "position_manager",
        "db_writer",
        "sim_feed",
    ] {
        let before = common::count(&db, "trading_signals");
        let out = ctl(&cfg, &["crash", a]);
        assert!(
            out.status.success(),
            "{a}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for(&format!("{a} restarted"), || {
            actor(&metrics(&sock), a)["restarts"] == 1
        });
        assert!(actor(&metrics(&sock), a)["last_error"]
            .as_str()
            .unwrap()
            .contains("fault injected"));
        wait_for(&format!("signals after crashing {a}"), || {
            common::count(&db, "trading_signals") > before
        });
    }

    assert_sends_counted(&metrics(&sock));

    // Pause: signals are still generated and persisted but rejected as paused; resume.
    assert!(ctl(&cfg, &["pause"]).status.success());
    let st: serde_json::Value = serde_json::from_slice(&ctl(&cfg, &["status"]).stdout).unwrap();
    assert_eq!(st["trading"], "paused");
    let caps = &st["daily_caps"];
    assert_eq!(
        (
            &caps["max_trades_per_day"],
            &caps["daily_profit_lock_pct"],
            &caps["locked"]
        ),
        (
            &serde_json::json!(10_000),
            &serde_json::json!(900.0),
            &serde_json::json!(false)
        ),
        "{st}"
    );
    assert!(caps["profit_lock_at"].as_f64().unwrap() > 0.0, "{st}");
    let paused = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM executor_decisions WHERE reason = 'paused'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    wait_for("a signal rejected while paused", || paused() > 0);
    assert!(ctl(&cfg, &["halt"]).status.success());
    assert!(ctl(&cfg, &["resume"]).status.success());
    let st: serde_json::Value = serde_json::from_slice(&ctl(&cfg, &["status"]).stdout).unwrap();
    assert_eq!(st["trading"], "active");

    // Live is refused on an engine without the broker; paper is accepted.
    let out = ctl(&cfg, &["mode", "live", "--confirm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("started without --feed kite"));
    assert!(ctl(&cfg, &["mode", "paper"]).status.success());
    let st: serde_json::Value = serde_json::from_slice(&ctl(&cfg, &["status"]).stdout).unwrap();
    assert_eq!(st["mode"], "paper");
    assert!(ctl(&cfg, &["flatten"]).status.success());
    // After the flatten nothing is open; closing an unknown position is refused and audited.
    let open: serde_json::Value =
        serde_json::from_slice(&ctl(&cfg, &["positions"]).stdout).unwrap();
    assert_eq!(open, serde_json::json!([]));
    let out = ctl(&cfg, &["close", "deadbeef", "--price", "10.05"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no open position \"deadbeef\""));

    assert_sends_counted(&metrics(&sock));

    // Graceful shutdown: drained, flushed, exit 0, socket removed, everything audited.
    assert!(ctl(&cfg, &["shutdown"]).status.success());
    let status = engine.wait_exit();
    let err = log.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("shutdown requested on the control socket")
            && err.contains("final flush committed"),
        "{err}"
    );
    assert!(!sock.exists(), "socket removed on exit");
    let c = rusqlite::Connection::open(&db).unwrap();
    let actions: Vec<String> = c
        .prepare("SELECT action FROM audit_events ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for a in [
        "crash", "pause", "halt", "resume", "mode", "flatten", "shutdown",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    let refused: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'mode' AND ok = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(refused, 1, "the refused live switch is audited too");
    let closes: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'close' AND ok = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(closes, 1, "the refused close is audited");
    // Metric samples were stored every second: the pipeline's counters and the book.
    let handled: f64 = c
        .query_row(
            "SELECT MAX(value) FROM performance_metrics WHERE component = 'data_manager' AND metric = 'handled_total'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(handled > 0.0, "{handled}");
    // …and in every stored sample, each actor had handled no more than it was sent (the
    // position manager's monitor ticks, the DbWriter's flush ticks, control queries). A
    // sample's rows are stored in order: an actor's handled_total right after its sent_total
    // (two samples may share a second).
    let bad: Vec<(String, i64, f64, f64)> = c
        .prepare(
            "SELECT s.component, s.timestamp, s.value, h.value FROM performance_metrics s
             JOIN performance_metrics h ON h.rowid = s.rowid + 1 AND h.component = s.component
             WHERE s.metric = 'sent_total' AND h.metric = 'handled_total' AND s.value < h.value",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(bad.is_empty(), "samples with sent < handled: {bad:?}");
    let pairs: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM performance_metrics s JOIN performance_metrics h
             ON h.rowid = s.rowid + 1 AND h.component = s.component
             WHERE s.metric = 'sent_total' AND h.metric = 'handled_total'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(pairs >= 6, "every actor's pairs were compared: {pairs}");
    let book: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM performance_metrics WHERE component = 'book' AND metric = 'realized_pnl'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(book >= 1, "{book}");
}

#[test]
fn crash_is_refused_without_fault_injection_and_sigint_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sock = dir.path().join("control.sock");
    let (mut engine, log) = start(&cfg, &[]);
    wait_for("the control socket", || UnixStream::connect(&sock).is_ok());
    let out = ctl(&cfg, &["crash", "strategy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-fault-injection"));
    assert_eq!(
        actor(&metrics(&sock), "strategy:ma_crossover")["restarts"],
        0
    );
    assert!(Command::new("kill")
        .args(["-INT", &engine.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = engine.wait_exit();
    let err = log.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("Ctrl-C received") && err.contains("final flush committed"),
        "{err}"
    );
    assert!(!sock.exists());
}

#[test]
fn one_strategy_instance_is_paused_and_resumed_without_touching_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config(dir.path())).unwrap()).unwrap();
    v["strategies"]["ma_twin"] = v["strategies"]["ma_crossover"].clone();
    v["strategies"]["ma_twin"]["kind"] = "ma_crossover".into();
    let cfg = common::write_config(dir.path(), &v);
    let sock = dir.path().join("control.sock");
    let db = dir.path().join("alphastocks.db");
    let (mut engine, log) = start(&cfg, &[]);
    wait_for("the control socket", || UnixStream::connect(&sock).is_ok());

    let list: serde_json::Value =
        serde_json::from_slice(&ctl(&cfg, &["strategy", "list"]).stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ma_crossover", "ma_twin"], "{list}");
    assert_eq!(list[1]["kind"], "ma_crossover");
    assert_eq!(list[1]["timeframe"], "minute");

    let out = ctl(&cfg, &["strategy", "pause", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown strategy instance \"nobody\""));

    let out = ctl(&cfg, &["strategy", "pause", "ma_twin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (rows[0]["paused"].clone(), rows[1]["paused"].clone()),
        (false.into(), true.into())
    );
    let decided = |strategy: &str, reason: &str| -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM executor_decisions d JOIN trading_signals s USING (signal_id) WHERE s.strategy = ?1 AND d.reason = ?2",
                [strategy, reason],
                |r| r.get(0),
            )
            .unwrap_or(0)
    };
    wait_for("ma_twin's signals rejected as strategy_paused", || {
        decided("ma_twin", "strategy_paused") >= 2
    });
    // The other instance's signals are never refused for it.
    assert_eq!(decided("ma_crossover", "strategy_paused"), 0);
    let st: serde_json::Value = serde_json::from_slice(&ctl(&cfg, &["status"]).stdout).unwrap();
    assert_eq!(st["strategies"][1]["paused"], true, "{st}");
    assert!(
        st["strategies"][1]["signals"]["rejected"].as_u64().unwrap() >= 2,
        "{st}"
    );

    assert!(ctl(&cfg, &["strategy", "resume", "ma_twin"])
        .status
        .success());
    // Signals queued before the resume are still decided as paused (the executor takes
    // messages in order); after it, the twin's signals are decided on their merits again.
    let latest = |paused: bool| -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                &format!(
                    "SELECT COALESCE(MAX(s.timestamp), 0) FROM executor_decisions d JOIN trading_signals s USING (signal_id) WHERE s.strategy = 'ma_twin' AND d.reason {} 'strategy_paused'",
                    if paused { "=" } else { "<>" }
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    wait_for(
        "the twin's signals decided on their merits after the resume",
        || latest(false) > latest(true),
    );
    let audit: Vec<(String, String)> = rusqlite::Connection::open(&db)
        .unwrap()
        .prepare("SELECT action, detail FROM audit_events WHERE action LIKE 'strategy_%' ORDER BY timestamp, rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        audit,
        [
            (
                "strategy_pause".to_string(),
                "unknown instance \"nobody\"".to_string()
            ),
            ("strategy_pause".to_string(), "ma_twin".to_string()),
            ("strategy_resume".to_string(), "ma_twin".to_string()),
        ]
    );
    assert!(ctl(&cfg, &["shutdown"]).status.success());
    assert!(engine.wait_exit().success(), "{}", log.join().unwrap());
}
