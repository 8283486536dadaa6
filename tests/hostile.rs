//! Hostile and absurd input through the real binary: every case is a clear error naming the
//! field and value (exit 2), never a panic (101) or an abort (134), and never lost data.
//! Closed pipes, absurd command-line numbers, absurd config numbers, a control socket path
//! that names an existing file, and oversized control requests.

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

/// A fast simulated run's config in `dir`, after `mutate`.
fn config(dir: &Path, mutate: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["strategies"]["ma_crossover"]["timeframe"] = "minute".into();
    v["feed"]["simulated"]["speed"] = 6000.0.into();
    v["feed"]["simulated"]["start_date"] = "2024-03-04".into();
    mutate(&mut v);
    common::write_config(dir, &v)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs the binary with `args`; stdout is a pipe whose reader is already gone when it writes.
fn with_closed_stdout(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), err)
}

#[test]
fn a_closed_stdout_ends_output_quietly() {
    let (status, err) = with_closed_stdout(&["config", "check", "config/default.json"]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (status, err) = with_closed_stdout(&[
        "options", "greeks", "--spot", "100", "--strike", "100", "--days", "30", "--rate", "0.05",
        "--vol", "0.2", "--type", "CE",
    ]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn run_with_a_closed_stdout_keeps_running_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), |_| {});
    let cfg = cfg.to_string_lossy().into_owned();
    let (status, err) = with_closed_stdout(&["run", "--duration", "3", "--config", &cfg]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("final flush committed"), "{err}");
    assert!(common::count(&dir.path().join("alphastocks.db"), "historical_data") > 0);
}

#[test]
fn absurd_command_line_numbers_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), |_| {});
    let cfg = cfg.to_string_lossy().into_owned();
    let sample = common::sample().to_string_lossy().into_owned();
    let out = dir.path().join("x.csv").to_string_lossy().into_owned();
    let greeks = |flag: &'static str, v: &'static str| {
        let mut a = vec![
            "options", "greeks", "--spot", "100", "--strike", "100", "--days", "30", "--rate",
            "0.05", "--vol", "0.2", "--type", "CE",
        ];
        let i = a.iter().position(|x| *x == flag).unwrap();
        a[i + 1] = v;
        a
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "--config", &cfg, "--duration=-1"], "--duration"),
        (
            vec!["run", "--config", &cfg, "--duration", "1e300"],
            "--duration",
        ),
        (
            vec!["run", "--config", &cfg, "--duration", "NaN"],
            "--duration",
        ),
        (
            vec!["run", "--config", &cfg, "--duration", "0"],
            "--duration",
        ),
        (
            vec![
                "replay",
                "--config",
                &cfg,
                "--data",
                &sample,
                "--max-rate",
                "1e-300",
            ],
            "--max-rate",
        ),
        (
            vec![
                "replay",
                "--config",
                &cfg,
                "--data",
                &sample,
                "--max-rate=-5",
            ],
            "--max-rate",
        ),
        (
            vec![
                "replay",
                "--config",
                &cfg,
                "--data",
                &sample,
                "--max-rate",
                "inf",
            ],
            "--max-rate",
        ),
        (
            vec!["data", "sample", "--out", &out, "--days", "99999999999"],
            "--days",
        ),
        (
            vec!["data", "sample", "--out", &out, "--days", "0"],
            "--days",
        ),
        (
            vec![
                "data",
                "sample",
                "--out",
                &out,
                "--days",
                "36500",
                "--interval",
                "minute",
            ],
            "--days 36500",
        ),
        (
            vec![
                "data",
                "sample",
                "--out",
                &out,
                "--days",
                "40000",
                "--from",
                "2100-01-01",
                "--interval",
                "60minute",
            ],
            "past 2199",
        ),
        (
            vec!["data", "sample", "--out", &out, "--start-price", "1e308"],
            "--start-price",
        ),
        (
            vec!["data", "sample", "--out", &out, "--start-price=-1"],
            "--start-price",
        ),
        (
            vec!["data", "sample", "--out", &out, "--volatility", "inf"],
            "--volatility",
        ),
        (
            vec!["data", "sample", "--out", &out, "--from", "9999-01-01"],
            "--from 9999-01-01",
        ),
        (
            vec!["ctl", "--config", &cfg, "close", "abc", "--price=-1"],
            "--price",
        ),
        (
            vec!["ctl", "--config", &cfg, "close", "abc", "--price", "1e308"],
            "--price",
        ),
        (
            vec!["ctl", "--config", &cfg, "metrics", "--watch", "1e300"],
            "--watch",
        ),
        (
            vec!["ctl", "--config", &cfg, "metrics", "--watch=-2"],
            "--watch",
        ),
        (
            vec![
                "replay", "--config", &cfg, "--data", &sample, "--symbol", "",
            ],
            "--symbol",
        ),
        (
            vec![
                "replay", "--config", &cfg, "--data", &sample, "--symbol", "nifty 50",
            ],
            "--symbol",
        ),
        (
            vec![
                "data",
                "import",
                "--config",
                &cfg,
                "--csv",
                &sample,
                "--interval",
                "15minute",
                "--symbol",
                "X;DROP",
            ],
            "--symbol",
        ),
        (greeks("--rate", "1e300"), "--rate"),
        (greeks("--days", "1e300"), "--days"),
        (greeks("--spot", "inf"), "--spot"),
        (greeks("--vol", "1e300"), "--vol"),
    ];
    for (args, flag) in cases {
        let o = bin().args(&args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?} should name {flag}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(!dir.path().join("x.csv").exists(), "nothing written");
    // No symbol can be read off this file name: the replay asks for --symbol.
    let odd = dir.path().join("über_15minute.csv");
    std::fs::copy(common::sample(), &odd).unwrap();
    let o = bin()
        .args(["replay", "--config", &cfg, "--data"])
        .arg(&odd)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("pass --symbol"),
        "{}",
        text(&o.stderr)
    );
    let o = bin()
        .args([
            "options", "iv", "--spot", "100", "--strike", "100", "--days", "30", "--rate", "0.05",
            "--type", "CE", "--price", "1e308",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--price"), "{}", text(&o.stderr));
}

#[test]
fn absurd_config_numbers_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (field, set) in [
        (
            "paper.chain.strikes_each_side",
            Box::new(|v: &mut serde_json::Value| {
                v["paper"]["chain"]["strikes_each_side"] = 4_000_000_000u32.into()
            }) as Box<dyn Fn(&mut serde_json::Value)>,
        ),
        (
            "strategies.ma_crossover.historical_lookback.periods",
            Box::new(|v: &mut serde_json::Value| {
                v["strategies"]["ma_crossover"]["historical_lookback"]["periods"] = u64::MAX.into()
            }),
        ),
        (
            "feed.simulated.speed",
            Box::new(|v: &mut serde_json::Value| v["feed"]["simulated"]["speed"] = 1e-300.into()),
        ),
        (
            "options_trading.position_sizing.account_capital",
            Box::new(|v: &mut serde_json::Value| {
                v["options_trading"]["position_sizing"]["account_capital"] = 1e300.into()
            }),
        ),
        (
            "storage.batch_rows",
            Box::new(|v: &mut serde_json::Value| v["storage"]["batch_rows"] = u64::MAX.into()),
        ),
    ] {
        let cfg = config(dir.path(), |v| set(v));
        for cmd in [
            vec!["config", "check"],
            vec!["run", "--duration", "1", "--config"],
        ] {
            let o = bin().args(&cmd).arg(&cfg).output().unwrap();
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{field} {cmd:?}: {err}");
            assert!(err.contains(field), "{field}: {err}");
        }
    }
    assert!(
        !dir.path().join("alphastocks.db").exists(),
        "refused before opening the store"
    );
    // A config larger than 1 MiB (here: /dev/zero) is refused without reading it all.
    let o = bin()
        .args(["config", "check", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("larger than 1048576 bytes"),
        "{}",
        text(&o.stderr)
    );
    // A second JSON value after the config.
    let cfg = config(dir.path(), |_| {});
    let mut t = std::fs::read_to_string(&cfg).unwrap();
    t.push_str("\n{\"options_trading\": {\"enabled\": false}}\n");
    std::fs::write(&cfg, t).unwrap();
    let o = bin().args(["config", "check"]).arg(&cfg).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("second JSON value"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_control_socket_path_holding_a_file_is_refused_and_the_file_kept() {
    let dir = tempfile::tempdir().unwrap();
    // First a real run, so the database exists and holds rows.
    let cfg = config(dir.path(), |_| {});
    let o = bin()
        .args(["run", "--duration", "2", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let db = dir.path().join("alphastocks.db");
    let candles = common::count(&db, "historical_data");
    assert!(candles > 0);
    let db_bytes = std::fs::metadata(&db).unwrap().len();
    let keep = dir.path().join("keep.txt");
    std::fs::write(&keep, "precious").unwrap();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    std::os::unix::fs::symlink(&keep, dir.path().join("link.sock")).unwrap();
    for (socket, says) in [
        // The database itself, by another spelling: config validation sees it is the same file.
        (db.to_string_lossy().into_owned(), "storage.sqlite_file"),
        ("./alphastocks.db".to_string(), "storage.sqlite_file"),
        // Files that are not sockets: refused by what they are.
        (keep.to_string_lossy().into_owned(), "a regular file"),
        ("adir".to_string(), "a directory"),
        ("link.sock".to_string(), "symbolic link"),
    ] {
        let cfg = config(dir.path(), |v| {
            v["control"]["socket"] = socket.clone().into()
        });
        for cmd in [
            vec!["config", "check"],
            vec!["run", "--duration", "1", "--config"],
        ] {
            let o = bin().args(&cmd).arg(&cfg).output().unwrap();
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{socket} {cmd:?}: {err}");
            assert!(
                err.contains("control.socket") && err.contains(says),
                "{socket}: {err}"
            );
        }
    }
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "precious");
    // Refused before the store is opened: a fresh data directory stays without a database.
    let fresh = tempfile::tempdir().unwrap();
    let cfg = config(fresh.path(), |v| {
        v["control"]["socket"] = keep.to_string_lossy().into_owned().into()
    });
    let o = bin()
        .args(["run", "--duration", "1", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(!fresh.path().join("alphastocks.db").exists());
    assert!(dir.path().join("adir").is_dir());
    assert!(dir.path().join("link.sock").is_symlink());
    assert_eq!(common::count(&db, "historical_data"), candles);
    assert!(std::fs::metadata(&db).unwrap().len() >= db_bytes);
}

/// Kills the engine if a test fails before it stopped.
struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
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

fn reply(s: &UnixStream) -> String {
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

#[test]
fn oversized_control_requests_are_refused_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), |_| {});
    let sock = dir.path().join("control.sock");
    let mut engine = Engine(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the control socket", || UnixStream::connect(&sock).is_ok());
    // 16 MB on one line: the engine reads 64 KiB + 1 byte, answers, and hangs up.
    let mut s = UnixStream::connect(&sock).unwrap();
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..16 {
                if w.write_all(&chunk).is_err() {
                    return false; // the engine closed the connection: expected
                }
            }
            let _ = w.write_all(b"\n");
            true
        })
    };
    let r = reply(&s);
    let v: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("65536 bytes"), "{r}");
    assert!(
        r.len() < 300,
        "the reply echoes none of it: {} bytes",
        r.len()
    );
    assert!(
        !writer.join().unwrap(),
        "the engine stopped reading the flood"
    );
    // Closed after the refusal: an orderly end, or a reset (the engine closed it with the
    // flood's rest unread, which the kernel answers with RST).
    let mut rest = String::new();
    match s.read_to_string(&mut rest) {
        Ok(_) => assert_eq!(rest, "", "connection closed after the refusal"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    // Just under the limit: a bad request whose error would quote it is clipped.
    let mut s = UnixStream::connect(&sock).unwrap();
    let big = format!("{{\"cmd\":\"{}\"}}\n", "y".repeat(60_000));
    s.write_all(big.as_bytes()).unwrap();
    let r = reply(&s);
    let v: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(v["ok"], false);
    assert!(r.len() < 1200, "error reply clipped: {} bytes", r.len());
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("more bytes not shown"),
        "{r}"
    );
    // Invalid UTF-8 is a bad request, not a dropped connection.
    s.write_all(b"\xff\xfe{\"cmd\":\"status\"}\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(&reply(&s)).unwrap();
    assert_eq!(v["ok"], false);
    // A close at an absurd price never reaches the book (paise × quantity would overflow).
    for price in ["1e300", "-5", "0"] {
        s.write_all(
            format!("{{\"cmd\":\"close\",\"position\":\"abcdefgh\",\"price\":{price}}}\n")
                .as_bytes(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&reply(&s)).unwrap();
        assert_eq!(v["ok"], false, "{v}");
        assert!(v["error"].as_str().unwrap().contains("out of range"), "{v}");
    }
    // At most 32 connections at a time: this one holds a slot; 31 more fill the rest; the
    // next is refused with a reply; once one closes, a new one is served.
    let idle: Vec<UnixStream> = (0..31)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    // Each idle connection has been accepted once a request on a later one is answered.
    let mut probe = UnixStream::connect(&sock).unwrap();
    let r = reply(&probe);
    assert!(
        r.contains("too many control connections (at most 32"),
        "{r}"
    );
    let mut rest = String::new();
    probe.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    drop(idle);
    wait_for("a free slot", || {
        let mut c = UnixStream::connect(&sock).unwrap();
        c.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
        reply(&c).contains("\"ok\":true")
    });
    // The same connection and the engine still answer.
    s.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(&reply(&s)).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    s.write_all(b"{\"cmd\":\"shutdown\"}\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(&reply(&s)).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = engine.0.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "engine did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
}

#[test]
fn runs_final_line_counts_what_the_store_holds_after_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), |_| {});
    let o = bin()
        .args(["run", "--duration", "3", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    let line = stdout
        .lines()
        .find(|l| l.starts_with("stopped: this run handled"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let before = |what: &str| -> i64 {
        let i = line.find(what).unwrap_or_else(|| panic!("{line}"));
        line[..i]
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    };
    let db = dir.path().join("alphastocks.db");
    let decided = common::count(&db, "executor_decisions");
    assert!(decided > 0, "{line}");
    // A fresh store: every signal this run handled was decided once and stored once.
    assert_eq!(before(" signals"), decided, "{line}");
    assert_eq!(
        before(" signals"),
        common::count(&db, "trading_signals"),
        "{line}"
    );
}

/// The sample's lines (header first) with `edit` applied, written to `dir/nifty.csv`.
fn poisoned_sample(dir: &Path, edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let mut lines: Vec<String> = std::fs::read_to_string(common::sample())
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    edit(&mut lines);
    let p = dir.join("nifty.csv");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// Replaces field `k` (0 = timestamp) of a CSV line.
fn set_field(line: &mut String, k: usize, v: &str) {
    let mut f: Vec<&str> = line.split(',').collect();
    f[k] = v;
    *line = f.join(",");
}

fn replay(dir: &Path, csv: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let cfg = config(dir, |v| {
        v["strategies"]["ma_crossover"]["timeframe"] = "15minute".into()
    });
    let o = bin()
        .arg("replay")
        .arg("--data")
        .arg(csv)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("out"))
        // Replays of one test share `out`: each replaces the last one's files.
        .arg("--force")
        .args(extra)
        .output()
        .unwrap();
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn a_poisoned_replay_stops_at_the_line_by_default() {
    let dir = tempfile::tempdir().unwrap();
    // Line 1001 (the 1000th bar) gets a close of 1e308: the EMAs would be wrecked for good.
    let csv = poisoned_sample(dir.path(), |l| set_field(&mut l[1000], 4, "1e308"));
    let (code, out, err) = replay(dir.path(), &csv, &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("line 1001") && err.contains("1e308"), "{err}");
    assert!(
        !dir.path().join("out/signals.jsonl").exists(),
        "nothing replayed"
    );
    // A row dated 9999 — and a row dated 2030, which is within any range check — name their
    // own line, not the thousands of rows after them.
    for (date, line) in [
        ("9999-01-02T09:15:00+05:30", 2001),
        ("2030-01-02T10:15:00+05:30", 3001),
    ] {
        let csv = poisoned_sample(dir.path(), |l| set_field(&mut l[line - 1], 0, date));
        let (code, out, err) = replay(dir.path(), &csv, &[]);
        assert_eq!(code, Some(2), "{out}{err}");
        assert!(err.contains(&format!("line {line}")), "{date}: {err}");
    }
}

#[test]
fn skip_bad_rows_leaves_out_only_the_poison_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let csv = poisoned_sample(dir.path(), |l| {
        set_field(&mut l[1000], 4, "1e308");
        set_field(&mut l[2000], 0, "9999-01-02T09:15:00+05:30");
    });
    let (code, out, err) = replay(dir.path(), &csv, &["--skip-bad-rows"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("6250 in the file, 2 skipped, 0 dropped by the engine (0.03% lost)"),
        "{out}"
    );
    assert!(out.contains("line 1001: close 1e308"), "{out}");
    assert!(out.contains("line 2001: timestamp"), "{out}");
    assert!(out.contains("bars         6248"), "{out}");
    assert!(!out.contains("INCOMPLETE"), "{out}");
    // The EMAs were never fed the poison: every signal has finite, sane levels.
    let signals = std::fs::read_to_string(dir.path().join("out/signals.jsonl")).unwrap();
    let n = signals.lines().count();
    assert!(n > 250, "{n} signals");
    for l in signals.lines() {
        let s: serde_json::Value = serde_json::from_str(l).unwrap();
        for k in ["price", "stop_loss", "target"] {
            let v = s[k].as_f64().unwrap_or_else(|| panic!("{k} in {l}"));
            assert!(v > 1000.0 && v < 1e6, "{k} {v} in {l}");
        }
    }
}

#[test]
fn a_replay_that_lost_most_of_its_input_exits_3_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    // From bar 3000 on every price is 100× (a unit change mid-file): each of those rows is
    // more than 10× from the last good close, so they are all skipped.
    let csv = poisoned_sample(dir.path(), |l| {
        for line in l.iter_mut().skip(3000) {
            let f: Vec<String> = line.split(',').map(String::from).collect();
            let x = |i: usize| format!("{}", f[i].parse::<f64>().unwrap() * 100.0);
            *line = format!("{},{},{},{},{},{}", f[0], x(1), x(2), x(3), x(4), f[5]);
        }
    });
    let (code, out, err) = replay(dir.path(), &csv, &["--skip-bad-rows"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(out.contains("INCOMPLETE"), "{out}");
    assert!(out.contains("3251 skipped"), "{out}");
    assert!(out.contains("more than the 1% allowed"), "{out}");
    assert!(
        err.contains("replay INCOMPLETE: 3251 of 6250 rows"),
        "{err}"
    );
    // The JSON summary says it too.
    let (code, out, _) = replay(dir.path(), &csv, &["--skip-bad-rows", "--json"]);
    assert_eq!(code, Some(3));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["complete"].clone(), v["rows_skipped"].clone()),
        (false.into(), 3251.into())
    );
    // The operator may accept the loss explicitly.
    let (code, out, err) = replay(
        dir.path(),
        &csv,
        &["--skip-bad-rows", "--max-skipped-pct", "60"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    // Strict (the default) refuses at the first such row.
    let (code, _, err) = replay(dir.path(), &csv, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("line 3001") && err.contains("10x"), "{err}");
}

#[test]
fn a_resumed_replay_says_which_figures_are_its_own_and_which_the_stores() {
    let dir = tempfile::tempdir().unwrap();
    let csv = common::sample();
    let (code, first, err) = replay(dir.path(), &csv, &[]);
    assert_eq!(code, Some(0), "{err}");
    let signals = common::count(&dir.path().join("alphastocks.db"), "trading_signals");
    assert!(signals > 250);
    assert!(
        first.contains("this replay (counts of this process's work)"),
        "{first}"
    );
    assert!(!first.contains("resumed"), "{first}");
    assert!(
        first.contains(&format!(
            "store total  {signals} signals of NIFTY (all runs)"
        )),
        "{first}"
    );
    // The same data again: every signal was decided by the first run.
    let (code, second, err) = replay(dir.path(), &csv, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        second.contains(&format!(
            "resumed      {signals} signals were already decided by an earlier run"
        )),
        "{second}"
    );
    assert!(
        second.contains(&format!(
            "store total  {signals} signals of NIFTY (all runs)"
        )),
        "{second}"
    );
}
