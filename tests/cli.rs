//! The binary as a user meets it: exit codes, error messages, `run` on the simulated feed.

mod common;

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(common::root()).env("RUST_LOG", "info");
    c
}

#[test]
fn config_check_accepts_the_default_and_prints_it() {
    let out = bin()
        .args(["config", "check", "config/default.json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["strategies"]["ma_crossover"]["timeframe"], "15minute");
}

#[test]
fn bad_config_exits_2_naming_path_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            ("options_trading", "position_sizing", "risk_per_trade_pct"),
            serde_json::json!(150.0),
            "150",
        ),
        (
            ("strategies", "ma_crossover", "timeframe"),
            serde_json::json!("2minute"),
            "2minute",
        ),
        (
            ("options_trading", "entry_filters", "min_signal_strength"),
            serde_json::json!(-1),
            "-1",
        ),
    ];
    for ((a, b, c), val, shown) in cases {
        let mut v = common::default_json();
        v[a][b][c] = val;
        let p = common::write_config(dir.path(), &v);
        let out = bin().args(["config", "check"]).arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{a}.{b}.{c}")) && err.contains(shown),
            "{err}"
        );
    }
    let out = bin()
        .args(["config", "check", "/nonexistent.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn malformed_replay_file_exits_2_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("nifty.csv");
    std::fs::write(&csv, "timestamp,open,high,low,close,volume\n2024-01-02T09:15:00+05:30,1,2,1,1,5\n2024-01-02T09:30:00+05:30,1,2,x,1,5\n").unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    let cfg = common::write_config(dir.path(), &v);
    let out = bin()
        .args(["replay", "--data"])
        .arg(&csv)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("low"), "{err}");
}

#[test]
fn run_on_the_simulated_feed_announces_itself_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["strategies"]["ma_crossover"]["timeframe"] = "minute".into();
    v["feed"]["simulated"]["speed"] = 6000.0.into();
    v["feed"]["simulated"]["start_date"] = "2024-03-04".into();
    let cfg = common::write_config(dir.path(), &v);
    let out = bin()
        .args(["run", "--duration", "4", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("SIMULATED"), "{stdout}");
    assert!(stderr.contains("SYSTEM READY"), "{stderr}");
    let db = dir.path().join("alphastocks.db");
    assert!(
        common::count(&db, "historical_data") > 100,
        "closed candles persisted"
    );
    let stored = common::count(&db, "trading_signals");
    assert!(stored > 0, "signals generated and persisted");
    // `run` logs a line per signal (at INFO), one for each it stored.
    assert_eq!(signal_lines(&stderr), stored as usize, "{stderr}");
    // Warm-up progress: one line per closed candle until the 50 the strategy needs (never
    // one per tick), then that it is warm.
    let warming: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("strategy:ma_crossover: NIFTY warming up: "))
        .collect();
    assert_eq!(warming.len(), 49, "{stderr}");
    for (i, l) in warming.iter().enumerate() {
        assert!(
            l.ends_with(&format!("{}/50 candles (signals once there are 50)", i + 1)),
            "{l}"
        );
    }
    assert_eq!(
        stderr
            .matches("strategy:ma_crossover: NIFTY warmed up (50/50 candles)")
            .count(),
        1,
        "{stderr}"
    );
    // A second run resumes after the stored history.
    let out = bin()
        .args(["run", "--duration", "2", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loaded"),
        "history loaded at start: {stderr}"
    );
}

#[test]
fn sigterm_stops_run_gracefully_with_a_final_flush() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["strategies"]["ma_crossover"]["timeframe"] = "minute".into();
    v["feed"]["simulated"]["speed"] = 6000.0.into();
    v["feed"]["simulated"]["start_date"] = "2024-03-04".into();
    let cfg = common::write_config(dir.path(), &v);
    let mut child = bin()
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("SYSTEM READY") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("SYSTEM READY"), "{seen}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status:?}: {rest}");
    assert!(rest.contains("SIGTERM received"), "{rest}");
    assert!(rest.contains("final flush committed"), "{rest}");
    // What the run accepted is in the store after the signal.
    let db = dir.path().join("alphastocks.db");
    assert!(common::count(&db, "historical_data") > 0);
}

#[test]
fn options_greeks_and_iv_commands() {
    let out = bin()
        .args([
            "options", "greeks", "--spot", "100", "--strike", "100", "--days", "365", "--rate",
            "0.05", "--vol", "0.2", "--type", "CE",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        (g["price"].as_f64().unwrap() - 10.450_583_572_185_565).abs() < 1e-9,
        "{g}"
    );
    assert!(
        (g["delta"].as_f64().unwrap() - 0.636_830_651_175_619).abs() < 1e-9,
        "{g}"
    );
    for k in ["gamma", "theta", "vega", "rho"] {
        assert!(g[k].is_f64(), "{k} in {g}");
    }
    assert!(g["theta"].as_f64().unwrap() < 0.0 && g["vega"].as_f64().unwrap() > 0.0);
    // Round trip: the price of 12 % vol gives back 12 % (fractional days).
    let out = bin()
        .args([
            "options", "greeks", "--spot", "24000", "--strike", "24200", "--days", "2.5", "--rate",
            "0.065", "--vol", "0.12", "--type", "PE",
        ])
        .output()
        .unwrap();
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let price = g["price"].as_f64().unwrap().to_string();
    let out = bin()
        .args([
            "options", "iv", "--spot", "24000", "--strike", "24200", "--days", "2.5", "--rate",
            "0.065", "--price", &price, "--type", "PE",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let iv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((iv["iv"].as_f64().unwrap() - 0.12).abs() < 1e-9, "{iv}");
    // No volatility fits a price below intrinsic: a clear error, exit 2.
    let out = bin()
        .args([
            "options", "iv", "--spot", "24000", "--strike", "23000", "--days", "7", "--rate",
            "0.065", "--price", "500", "--type", "CE",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("below the intrinsic value"));
}

#[test]
fn charges_prints_the_contract_note_items_at_the_dates_rates() {
    let run = |args: &[&str]| {
        let out = bin().arg("charges").args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Buy 750 at ₹100, sell at ₹120 on 1 Oct 2024 (STT 0.1 %, NSE 0.03503 %).
    let (code, out, err) = run(&[
        "--premium-buy",
        "100",
        "--premium-sell",
        "120",
        "--quantity",
        "750",
        "--date",
        "2024-10-01",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items: Vec<f64> = [
        "brokerage",
        "stt",
        "exchange_txn",
        "sebi",
        "stamp_duty",
        "gst",
        "total",
        "net_pnl",
    ]
    .iter()
    .map(|k| v[k].as_f64().unwrap())
    .collect();
    assert_eq!(
        items,
        [40.0, 90.0, 57.8, 0.17, 2.25, 17.63, 207.85, 14792.15]
    );
    // The same trade in 2023: STT 0.0625 %, NSE 0.0495 %.
    let (_, out, _) = run(&[
        "--premium-buy",
        "100",
        "--premium-sell",
        "120",
        "--quantity",
        "750",
        "--date",
        "2023-06-01",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["stt"].as_f64(), v["exchange_txn"].as_f64()),
        (Some(56.25), Some(81.68))
    );
    // Bad input: exit 2 naming the flag and the value.
    for (args, says) in [
        (
            vec![
                "--premium-buy",
                "-1",
                "--premium-sell",
                "120",
                "--quantity",
                "750",
            ],
            "--premium-buy -1",
        ),
        (
            vec![
                "--premium-buy",
                "100",
                "--premium-sell",
                "inf",
                "--quantity",
                "750",
            ],
            "--premium-sell inf",
        ),
        (
            vec![
                "--premium-buy",
                "0",
                "--premium-sell",
                "0",
                "--quantity",
                "750",
            ],
            "nothing traded",
        ),
        (
            vec![
                "--premium-buy",
                "100",
                "--premium-sell",
                "120",
                "--quantity",
                "0",
            ],
            "--quantity 0",
        ),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn an_overlapping_charges_schedule_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    let r = serde_json::json!({"brokerage_per_order": 20, "stt_sell_pct": 0.1,
        "exchange_txn_pct": 0.03503, "sebi_per_crore": 10, "stamp_buy_pct": 0.003, "gst_pct": 18});
    v["charges"] = serde_json::json!({"schedule": [
        {"from": "2024-10-01", "segment": "options", "rates": r},
        {"from": "2024-10-01", "segment": "options", "rates": r}
    ]});
    let path = common::write_config(dir.path(), &v);
    let out = bin().args(["config", "check"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("charges.schedule[1].from") && err.contains("2024-10-01"),
        "{err}"
    );
}

/// The per-signal lines in a log.
fn signal_lines(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("signal_manager: ") && l.contains(", strength "))
        .count()
}

/// A replay of the sample in `mode` with `RUST_LOG` = `level` and `extra` flags: its JSON
/// summary and its log.
fn replay_logging(
    dir: &std::path::Path,
    mode: &str,
    level: &str,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let run = tempfile::tempdir_in(dir).unwrap();
    let out = bin()
        .env("RUST_LOG", level)
        .args(["replay", "--json", "--mode", mode, "--data"])
        .arg(common::sample())
        .arg("--data-dir")
        .arg(run.path())
        .arg("--out")
        .arg(run.path().join("out"))
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

#[test]
fn a_replay_logs_its_summary_not_a_line_per_signal_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let count = |log: &str, what: &str| log.lines().filter(|l| l.contains(what)).count();
    for mode in ["logging", "paper"] {
        // Quiet by default: no line per signal, decision or position at INFO.
        let (v, err) = replay_logging(dir.path(), mode, "info", &[]);
        let signals = v["signals"].as_u64().unwrap() as usize;
        assert!(signals > 100, "{v}");
        assert_eq!(signal_lines(&err), 0, "{mode}: {err}");
        for what in ["LOGGING-ONLY", "PAPER", "OPENED", "CLOSED", "rejected"] {
            assert_eq!(count(&err, what), 0, "{mode}: {what} in {err}");
        }
        // --verbose (INFO) and RUST_LOG=debug show every one, as `run` does.
        for (level, extra) in [("info", &["--verbose"][..]), ("debug", &[][..])] {
            let (v, err) = replay_logging(dir.path(), mode, level, extra);
            assert_eq!(signal_lines(&err), signals, "{mode} {level}");
            let ex = &v["executor"];
            let logged = ex["logged"].as_u64().unwrap() as usize;
            let opened = ex["opened"].as_u64().unwrap() as usize;
            let rejected = ex["rejected"].as_u64().unwrap() as usize;
            assert_eq!(count(&err, "LOGGING-ONLY"), logged, "{mode} {level}");
            assert_eq!(
                count(&err, "options_executor: PAPER"),
                opened,
                "{mode} {level}"
            );
            assert_eq!(
                count(&err, "position_manager: OPENED"),
                opened,
                "{mode} {level}"
            );
            assert_eq!(
                count(&err, "options_executor: rejected"),
                rejected,
                "{mode} {level}"
            );
            assert!(logged + opened > 0, "{mode}: {v}");
        }
    }
}

#[test]
fn import_under_several_symbols_then_run_loads_each_ones_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["metrics"]["persist_every_seconds"] = 0.into();
    let cfg = common::write_config(dir.path(), &v);
    let out = bin()
        .args(["data", "import", "--interval", "15minute", "--csv"])
        .arg(common::sample())
        .args(["--symbol", "NIFTY", "--symbol", "BANKNIFTY", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("imported 12500 15minute candles of NIFTY, BANKNIFTY"),
        "{stdout}"
    );
    let db = dir.path().join("alphastocks.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let per: Vec<(String, i64, f64)> = c
        .prepare(
            "SELECT symbol, COUNT(*), SUM(close) FROM historical_data WHERE timeframe = '15minute'
             GROUP BY symbol ORDER BY symbol",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(per.len(), 2, "{per:?}");
    assert_eq!((per[0].0.as_str(), per[0].1), ("BANKNIFTY", 6250));
    assert_eq!((per[1].0.as_str(), per[1].1), ("NIFTY", 6250));
    assert_eq!(per[0].2, per[1].2, "the same candles under both symbols");
    // A run loads the newest `periods` (1000) of each, one symbol after the other.
    let out = bin()
        .args(["run", "--duration", "1", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for s in ["NIFTY", "BANKNIFTY"] {
        assert!(
            stderr.contains(&format!(
                "loaded 1000 15minute candles of {s} from the store (1000 new)"
            )),
            "{s}: {stderr}"
        );
    }
    assert!(
        stderr.contains("loaded 0 15minute candles of ICICIBANK from the store"),
        "{stderr}"
    );
}

/// The binary run from `dir` (not the repository root).
fn bin_in(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(dir).env("RUST_LOG", "warn");
    c
}

/// The signals `signals ARGS` prints (JSON lines), asserting success.
fn signals(dir: &std::path::Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = bin_in(dir).arg("signals").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The IST date of a stored signal's time.
fn ist_date(s: &serde_json::Value) -> chrono::NaiveDate {
    let t = chrono::DateTime::parse_from_rfc3339(s["timestamp"].as_str().unwrap()).unwrap();
    t.with_timezone(&chrono::FixedOffset::east_opt(19_800).unwrap())
        .date_naive()
}

#[test]
fn from_any_directory_the_built_in_config_serves_and_a_local_file_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    // No config/ here: the built-in default.
    let out = bin_in(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::to_value(common::config_in(dir.path()))
            .map(|mut c| {
                c["storage"]["data_dir"] = "data".into();
                c
            })
            .unwrap()
    );
    assert!(err.contains("the built-in default config: valid"), "{err}");
    // A replay from here: its store in ./data, its files in ./out, then `signals` reads them.
    let out = bin_in(dir.path())
        .args(["replay", "--mode", "logging", "--json", "--data"])
        .arg(common::sample())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(dir.path().join("out/signals.jsonl").exists());
    let all = signals(dir.path(), &[]);
    assert_eq!(all.len() as u64, summary["signals"].as_u64().unwrap());
    assert!(all.len() > 100);
    // sweep varies the built-in paper config (config/paper.json is not here either).
    std::fs::write(
        dir.path().join("grid.json"),
        r#"{"strategies.ma_crossover.parameters.fast_period": [9]}"#,
    )
    .unwrap();
    let out = bin_in(dir.path())
        .args(["sweep", "--grid", "grid.json", "--jobs", "1", "--data"])
        .arg(common::sample())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("sweep/runs/1/config.json")).unwrap(),
    )
    .unwrap();
    let paper: serde_json::Value = serde_json::from_str(actors::config::PAPER_JSON).unwrap();
    assert_eq!(
        run["options_trading"]["position_sizing"]["account_capital"],
        paper["options_trading"]["position_sizing"]["account_capital"]
    );
    assert!(
        std::fs::read_to_string(dir.path().join("sweep/sweep.csv"))
            .unwrap()
            .lines()
            .count()
            == 2
    );
    // config/default.json in the working directory overrides the built-in copy.
    let mut v = common::default_json();
    v["strategies"]["ma_crossover"]["timeframe"] = "5minute".into();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/default.json"),
        serde_json::to_string(&v).unwrap(),
    )
    .unwrap();
    let out = bin_in(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["strategies"]["ma_crossover"]["timeframe"], "5minute");
}

#[test]
fn signals_take_ist_dates_as_well_as_rfc3339_and_name_a_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = bin()
        .args(["replay", "--mode", "logging", "--data-dir", d, "--out"])
        .arg(dir.path().join("out"))
        .arg("--data")
        .arg(common::sample())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = signals(dir.path(), &["--data-dir", d]);
    // A day with signals, and the signals of that IST day in the full list.
    let day = ist_date(&all[all.len() / 2]);
    let of_day: Vec<_> = all.iter().filter(|s| ist_date(s) == day).cloned().collect();
    assert!(!of_day.is_empty());
    let ds = day.to_string();
    let by_date = signals(dir.path(), &["--data-dir", d, "--start", &ds, "--end", &ds]);
    assert_eq!(by_date, of_day, "{ds}");
    // The same day in RFC 3339, IST.
    let (from, to) = (
        format!("{ds}T00:00:00+05:30"),
        format!("{ds}T23:59:59+05:30"),
    );
    let by_time = signals(
        dir.path(),
        &["--data-dir", d, "--start", &from, "--end", &to],
    );
    assert_eq!(by_time, of_day);
    // Only a start: that day and every later one.
    let since = signals(dir.path(), &["--data-dir", d, "--start", &ds]);
    assert_eq!(
        since.len(),
        all.iter().filter(|s| ist_date(s) >= day).count()
    );
    for (flag, bad) in [("--start", "2024-13-01"), ("--end", "June 3rd")] {
        let out = bin_in(dir.path())
            .args(["signals", "--data-dir", d, flag, bad])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(flag) && err.contains(bad), "{err}");
    }
}

#[test]
fn store_commands_take_data_dir_and_refuse_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for cmd in [&["signals"][..], &["db", "check"]] {
        let out = bin_in(dir.path())
            .args(cmd)
            .arg("--data-dir")
            .arg(&missing)
            .args(["--store", "sqlite"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(
            err.contains("no store at")
                && err.contains("nothing-here")
                && err.contains("of a run or replay, e.g. --data-dir out/data after the demo"),
            "{cmd:?}: {err}"
        );
        assert!(!missing.exists(), "{cmd:?} created the store");
    }
    // `db init` creates one; `db check` lists as many tables as init announced.
    let fresh = dir.path().join("fresh");
    let run = |args: &[&str]| {
        let out = bin_in(dir.path())
            .args(args)
            .arg("--data-dir")
            .arg(&fresh)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let init = run(&["db", "init"]);
    let n: usize = init
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{init}"));
    let check = run(&["db", "check"]);
    // Four header lines (backend, connected, server, outbox), then one per table, then the
    // outbox's own (the queue of rows for ClickHouse, not a table of data).
    let tables: Vec<&str> = check
        .lines()
        .skip(4)
        .filter(|l| !l.starts_with("outbox"))
        .collect();
    assert_eq!(tables.len(), n, "{init}\n{check}");
    assert!(
        tables.iter().all(|l| l.trim_end().ends_with('0')),
        "{check}"
    );
    assert!(signals(dir.path(), &["--data-dir", fresh.to_str().unwrap()]).is_empty());
}

#[test]
fn replay_refuses_an_out_holding_an_earlier_run_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let replay = |mode: &str, extra: &[&str]| {
        bin()
            .args(["replay", "--mode", mode, "--data-dir"])
            .arg(dir.path().join(mode))
            .arg("--out")
            .arg(&out_dir)
            .arg("--data")
            .arg(common::sample())
            .args(extra)
            .output()
            .unwrap()
    };
    let first = replay("paper", &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for f in alphastocks::replay::OUTPUT_FILES {
        assert!(out_dir.join(f).exists(), "paper writes {f}");
    }
    std::fs::write(out_dir.join("notes.txt"), "mine").unwrap();
    let paper_signals = std::fs::read(out_dir.join("signals.jsonl")).unwrap();
    // Refused: said why, nothing touched.
    let second = replay("logging", &[]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--out") && err.contains("signals.jsonl") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(out_dir.join("signals.jsonl")).unwrap(),
        paper_signals
    );
    assert!(
        !dir.path().join("logging").exists(),
        "refused before any store was opened"
    );
    // --force: the earlier run's files are gone (a logging run writes no paper report), the
    // new run's are there, files of the user's own stay.
    let forced = replay("logging", &["--force"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    let logging_signals = std::fs::read(out_dir.join("signals.jsonl")).unwrap();
    assert!(!logging_signals.is_empty());
    for f in [
        "positions.jsonl",
        "report.html",
        "report.json",
        "equity.csv",
        "equity.svg",
    ] {
        assert!(
            !out_dir.join(f).exists(),
            "{f} of the paper run left behind"
        );
    }
    assert_eq!(
        std::fs::read_to_string(out_dir.join("notes.txt")).unwrap(),
        "mine"
    );
}
