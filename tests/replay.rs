//! Replays the sample through the real actors and checks every crossover independently.

mod common;

use messages::{Mode, Signal};

fn run_replay(
    cfg: actors::config::Config,
    out: &std::path::Path,
) -> alphastocks::replay::ReplaySummary {
    common::replay_sample(cfg, out, Mode::Logging)
}

/// Reference EMA over the whole series: SMA seed over the first n, then the recursive form.
fn ema(closes: &[f64], n: usize) -> Vec<Option<f64>> {
    let a = 2.0 / (n as f64 + 1.0);
    let mut out = vec![None; closes.len()];
    for i in 0..closes.len() {
        if i + 1 == n {
            out[i] = Some(closes[..n].iter().sum::<f64>() / n as f64);
        } else if i + 1 > n {
            let p = out[i - 1].unwrap();
            out[i] = Some(p + a * (closes[i] - p));
        }
    }
    out
}

fn round_tick(x: f64) -> f64 {
    (x * 20.0).round() / 20.0
}

#[test]
fn replay_is_deterministic_and_every_crossover_checks_out() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config_in(dir.path());
    let first = run_replay(cfg.clone(), &dir.path().join("a"));
    let second = run_replay(cfg.clone(), &dir.path().join("b"));

    let a = std::fs::read(dir.path().join("a/signals.jsonl")).unwrap();
    let b = std::fs::read(dir.path().join("b/signals.jsonl")).unwrap();
    assert!(!a.is_empty());
    assert_eq!(a, b, "signals.jsonl must be byte-identical across runs");

    // Independent check: parse the CSV here, compute EMA 9/21 over all closes, list crossovers.
    let text = std::fs::read_to_string(common::sample()).unwrap();
    let rows: Vec<(i64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let ts = chrono::DateTime::parse_from_rfc3339(f[0])
                .unwrap()
                .timestamp();
            (ts, f[4].parse().unwrap())
        })
        .collect();
    let closes: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let (fast, slow) = (ema(&closes, 9), ema(&closes, 21));
    let mut expected = Vec::new();
    for i in 1..closes.len() {
        let (Some(f0), Some(s0), Some(f1), Some(s1)) = (fast[i - 1], slow[i - 1], fast[i], slow[i])
        else {
            continue;
        };
        if i + 1 < 50 {
            continue; // min_periods
        }
        let (d0, d1) = (f0 - s0, f1 - s1);
        let action = if d0 <= 0.0 && d1 > 0.0 {
            "BUY"
        } else if d0 >= 0.0 && d1 < 0.0 {
            "SELL"
        } else {
            continue;
        };
        expected.push((rows[i].0, action, closes[i], f1, s1));
    }

    let signals: Vec<Signal> = String::from_utf8(a)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(signals.len(), expected.len(), "one signal per crossover");
    for (s, (ts, action, price, f, sl)) in signals.iter().zip(&expected) {
        assert_eq!(s.metadata.candle_time.timestamp(), *ts);
        assert_eq!(
            s.timestamp.timestamp(),
            ts + 900,
            "judged at the candle's close"
        );
        assert_eq!(s.action.as_str(), *action);
        assert_eq!(s.price, *price);
        assert!((s.metadata.ema_fast - f).abs() < 1e-6 && (s.metadata.ema_slow - sl).abs() < 1e-6);
        let stop = if *action == "BUY" {
            round_tick(price * 0.99)
        } else {
            round_tick(price * 1.01)
        };
        assert_eq!(s.stop_loss, stop);
        assert_eq!(s.target, round_tick(price + 2.0 * (price - stop)));
        assert!((0.0..=1.0).contains(&s.confidence));
        assert_eq!(
            s.signal_id,
            messages::signal_id(
                "NIFTY",
                "ma_crossover",
                messages::Timeframe::Minute15,
                *ts,
                s.action
            )
        );
    }

    // Executor outcomes: every signal decided once; the re-run recognises all of them.
    assert_eq!(first.signals, signals.len() as u64);
    assert_eq!(first.executor.received, first.signals);
    assert_eq!(
        first.executor.logged + first.executor.rejected,
        first.signals
    );
    assert!(
        first.executor.logged > 0,
        "some signals pass the default filters"
    );
    assert_eq!(
        second.executor.rejected_by_reason.get("already_processed"),
        Some(&second.signals)
    );

    // The store holds each signal and each decision exactly once after two runs.
    let db = dir.path().join("data/alphastocks.db");
    assert_eq!(common::count(&db, "trading_signals"), signals.len() as i64);
    assert_eq!(
        common::count(&db, "executor_decisions"),
        signals.len() as i64
    );
    let logged: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM executor_decisions WHERE outcome = 'logged'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged as u64, first.executor.logged);
    // The seed's JSON export exists and is a list of signals.
    let export: Vec<Signal> = serde_json::from_slice(
        &std::fs::read(dir.path().join("data/signals/signals.json")).unwrap(),
    )
    .unwrap();
    assert!(!export.is_empty());
}

/// `replay --data A=FILE --data B=FILE` through the binary; returns the signals file's text.
fn replay_files(dir: &std::path::Path, data: &[String]) -> String {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(common::root())
        .env("RUST_LOG", "warn")
        .args(["replay", "--mode", "logging", "--data-dir"])
        .arg(dir)
        .arg("--out")
        .arg(dir.join("out"));
    for d in data {
        c.args(["--data", d]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("out/signals.jsonl")).unwrap()
}

#[test]
fn several_symbols_replay_as_one_run_equal_to_each_alone() {
    let dir = tempfile::tempdir().unwrap();
    let bank = dir.path().join("banknifty.csv");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"))
        .args([
            "data",
            "sample",
            "--days",
            "250",
            "--seed",
            "11",
            "--start-price",
            "52000",
            "--out",
        ])
        .arg(&bank)
        .output()
        .unwrap();
    assert!(out.status.success());
    let nifty = format!("NIFTY={}", common::sample().display());
    let bank = format!("BANKNIFTY={}", bank.display());
    let both = replay_files(&dir.path().join("a"), &[nifty.clone(), bank.clone()]);
    // The same whatever the order of --data, and the same on every run.
    assert_eq!(
        both,
        replay_files(&dir.path().join("b"), &[bank.clone(), nifty.clone()])
    );
    // Logging mode binds no portfolio limit: each symbol's signals are those of a run of it
    // alone, in the same order.
    let of = |text: &str, sym: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(&format!("\"symbol\":\"{sym}\"")))
            .map(str::to_string)
            .collect()
    };
    let alone_n = replay_files(&dir.path().join("n"), &[nifty]);
    let alone_b = replay_files(&dir.path().join("k"), &[bank]);
    assert!(!of(&both, "NIFTY").is_empty() && !of(&both, "BANKNIFTY").is_empty());
    assert_eq!(of(&both, "NIFTY"), of(&alone_n, "NIFTY"));
    assert_eq!(of(&both, "BANKNIFTY"), of(&alone_b, "BANKNIFTY"));
    // One stream in time order across symbols.
    let times: Vec<String> = both
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["timestamp"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn replay_inputs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .arg("replay")
            .args(args)
            // Never the repository's out/ (a demo run may have left its files there).
            .arg("--out")
            .arg(dir.path().join("out"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap()
    };
    let s = common::sample().display().to_string();
    for (args, says) in [
        (
            vec![
                "--data".to_string(),
                format!("NIFTY={s}"),
                "--data".into(),
                format!("NIFTY={s}"),
            ],
            "symbol NIFTY given twice",
        ),
        (
            vec![
                "--data".into(),
                format!("A={s}"),
                "--data".into(),
                format!("B={s}"),
                "--symbol".into(),
                "X".into(),
            ],
            "--symbol names the symbol of a single --data FILE",
        ),
        (
            vec!["--data".into(), format!("={s}")],
            "the symbol before '='",
        ),
    ] {
        let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `data sample --days DAYS --seed SEED` into `path` (25 bars a day).
fn sample_file(path: &std::path::Path, days: &str, seed: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"))
        .args(["data", "sample", "--days", days, "--seed", seed, "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn a_replay_streams_its_files_and_never_holds_more_than_two_batches() {
    use alphastocks::replay::BATCH;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    // 60,000 and 30,000 bars: many times what two batches hold.
    sample_file(&a, "2400", "3");
    sample_file(&b, "1200", "4");
    for (data, bars) in [
        (vec![format!("NIFTY={}", a.display())], 60_000),
        (
            vec![
                format!("NIFTY={}", a.display()),
                format!("BANKNIFTY={}", b.display()),
            ],
            90_000,
        ),
    ] {
        let run = dir.path().join(format!("run{bars}"));
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"));
        c.current_dir(common::root())
            .env("RUST_LOG", "warn")
            .args(["replay", "--mode", "logging", "--json", "--data-dir"])
            .arg(&run)
            .arg("--out")
            .arg(run.join("out"));
        for d in &data {
            c.args(["--data", d]);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (v["rows"].as_u64(), v["bars"].as_u64()),
            (Some(bars), Some(bars))
        );
        let held = v["bars_held_max"].as_u64().unwrap();
        assert!(
            held > 0 && held <= 2 * BATCH as u64,
            "{held} bars held at once of {bars}"
        );
        if data.len() == 2 {
            assert_eq!(v["bars_by_symbol"]["BANKNIFTY"].as_u64(), Some(30_000));
        }
    }
}
