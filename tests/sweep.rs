//! `alphastocks sweep` as a user runs it: every row of `sweep.csv` is, byte for byte, what a
//! single paper replay with the same settings reports; shards concatenated are the whole
//! sweep; bad input is refused naming the field before anything runs.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const FAST: &str = "strategies.ma_crossover.parameters.fast_period";
const SLOW: &str = "strategies.ma_crossover.parameters.slow_period";
const SAMPLE: &str = "data/sample/nifty_15minute.csv";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(common::root()).env("RUST_LOG", "warn");
    c
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sweep(grid: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args([
            "sweep",
            "--data",
            SAMPLE,
            "--config",
            "config/paper.json",
            "--grid",
        ])
        .arg(grid)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn write_grid(dir: &Path, v: &serde_json::Value) -> std::path::PathBuf {
    let p = dir.join("grid.json");
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// The CSV's header and data lines, as text.
fn csv_lines(out: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let mut lines = text.lines().map(str::to_string);
    let head = lines.next().unwrap();
    (head, lines.collect())
}

/// config/paper.json as a user would edit it, with the two periods set.
fn edited_config(dir: &Path, fast: u64, slow: u64) -> std::path::PathBuf {
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("config/paper.json")).unwrap(),
    )
    .unwrap();
    v["strategies"]["ma_crossover"]["parameters"]["fast_period"] = fast.into();
    v["strategies"]["ma_crossover"]["parameters"]["slow_period"] = slow.into();
    common::write_config(dir, &v)
}

#[test]
fn every_row_is_the_single_replay_with_those_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (fasts, slows) = ([5u64, 9], [21u64, 30]);
    let grid = write_grid(dir.path(), &serde_json::json!({SLOW: slows, FAST: fasts}));
    let out = dir.path().join("sweep");
    let o = ok(sweep(&grid, &out, &["--sort-by", "sharpe", "--jobs", "2"]));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("4 of 4 combinations run (2 at once), 0 failed"),
        "{said}"
    );
    let (head, rows) = csv_lines(&out);
    let cols: Vec<&str> = head.split(',').collect();
    assert_eq!(&cols[..3], ["run", FAST, SLOW], "paths in name order");
    assert_eq!(rows.len(), 4);

    let sharpe_col = cols.iter().position(|c| *c == "sharpe").unwrap();
    let sharpes: Vec<f64> = rows
        .iter()
        .map(|r| r.split(',').nth(sharpe_col).unwrap().parse().unwrap())
        .collect();
    assert!(
        sharpes.windows(2).all(|w| w[0] >= w[1]),
        "best Sharpe first: {sharpes:?}"
    );

    let mut runs_seen = Vec::new();
    for (i, fast) in fasts.iter().enumerate() {
        for (j, slow) in slows.iter().enumerate() {
            // The single replay, from a config file edited by hand.
            let single = dir.path().join(format!("single_{fast}_{slow}"));
            std::fs::create_dir_all(&single).unwrap();
            let cfg = edited_config(&single, *fast, *slow);
            ok(bin()
                .args(["replay", "--data", SAMPLE, "--mode", "paper", "--config"])
                .arg(&cfg)
                .arg("--out")
                .arg(single.join("out"))
                .arg("--data-dir")
                .arg(single.join("data"))
                .output()
                .unwrap());
            let text = std::fs::read_to_string(single.join("out/report.json")).unwrap();
            let report: serde_json::Value = serde_json::from_str(&text).unwrap();
            // The metric columns are exactly report.json's scalar figures.
            let scalars: std::collections::BTreeSet<&str> = report
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_object())
                .map(|(k, _)| k.as_str())
                .collect();
            assert_eq!(
                cols[3..]
                    .iter()
                    .copied()
                    .collect::<std::collections::BTreeSet<_>>(),
                scalars
            );
            // Run numbers: the last path varies fastest.
            let run = i * slows.len() + j + 1;
            let mut want = vec![run.to_string(), fast.to_string(), slow.to_string()];
            for c in &cols[3..] {
                want.push(match &report[*c] {
                    serde_json::Value::Null => String::new(),
                    v => v.to_string(),
                });
            }
            let want = want.join(",");
            assert!(
                rows.contains(&want),
                "run {run} ({fast}/{slow}):\n{want}\nnot among\n{}",
                rows.join("\n")
            );
            // And the run's own report is the single replay's, byte for byte.
            assert_eq!(
                std::fs::read_to_string(out.join(format!("runs/{run}/report.json"))).unwrap(),
                text,
                "run {run}"
            );
            runs_seen.push(run);
        }
    }
    assert_eq!(runs_seen, [1, 2, 3, 4]);
    // The runs differ (the grid matters): four distinct net P&Ls.
    let net_col = cols.iter().position(|c| *c == "net_pnl").unwrap();
    let nets: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r.split(',').nth(net_col).unwrap())
        .collect();
    assert_eq!(nets.len(), 4, "{nets:?}");

    // A second sweep into the same directory starts every run from a fresh store.
    ok(sweep(&grid, &out, &["--sort-by", "sharpe"]));
    assert_eq!(csv_lines(&out).1, rows);
}

#[test]
fn shards_concatenated_are_the_full_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let grid = write_grid(
        dir.path(),
        &serde_json::json!({FAST: [5, 9, 13], SLOW: [21, 30]}),
    );
    let full = dir.path().join("full");
    ok(sweep(&grid, &full, &[]));
    let (head, rows) = csv_lines(&full);
    assert_eq!(rows.len(), 6);
    let mut joined = Vec::new();
    for i in 1..=4 {
        let out = dir.path().join(format!("shard{i}"));
        ok(sweep(&grid, &out, &["--shard", &format!("{i}/4")]));
        let (h, r) = csv_lines(&out);
        assert_eq!(h, head);
        // Shard i holds the runs with (run − 1) mod 4 = i − 1.
        let mut runs: Vec<usize> = r
            .iter()
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        runs.sort();
        let want: Vec<usize> = (1..=6).filter(|k| (k - 1) % 4 == i - 1).collect();
        assert_eq!(runs, want, "shard {i}/4");
        joined.extend(r);
    }
    let (mut a, mut b) = (joined, rows.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // Sorted by net P&L, best first (the default).
    let net_col = head.split(',').position(|c| c == "net_pnl").unwrap();
    let nets: Vec<f64> = rows
        .iter()
        .map(|r| r.split(',').nth(net_col).unwrap().parse().unwrap())
        .collect();
    assert!(nets.windows(2).all(|w| w[0] >= w[1]), "{nets:?}");
}

#[test]
fn bad_sweep_input_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let good = serde_json::json!({FAST: [5, 9]});
    let cases: Vec<(serde_json::Value, Vec<&str>, &str)> = vec![
        (
            serde_json::json!({"strategies.ma_crossover.parameters.fast_perod": [5]}),
            vec![],
            "`strategies.ma_crossover.parameters.fast_perod` is not a setting of the config",
        ),
        (
            serde_json::json!({FAST: [5, "nine"]}),
            vec![],
            "value \"nine\" is not a number",
        ),
        (
            serde_json::json!({FAST: []}),
            vec![],
            "the list of values is empty",
        ),
        (
            serde_json::json!({"storage.backend": [1]}),
            vec![],
            "`storage.backend` is not a numeric setting",
        ),
        (
            serde_json::json!({FAST: [9, 40]}),
            vec![],
            "run 2 (strategies.ma_crossover.parameters.fast_period=40)",
        ),
        (
            good.clone(),
            vec!["--shard", "0/3"],
            "--shard \"0/3\": I must be from 1 to N",
        ),
        (
            good.clone(),
            vec!["--shard", "4/3"],
            "--shard \"4/3\": I must be from 1 to N",
        ),
        (good.clone(), vec!["--shard", "1/0"], "N must be at least 1"),
        (
            good.clone(),
            vec!["--sort-by", "profit"],
            "--sort-by \"profit\": not a tearsheet figure",
        ),
        (good.clone(), vec!["--jobs", "0"], "--jobs \"0\""),
    ];
    for (grid, args, says) in cases {
        let g = write_grid(dir.path(), &grid);
        let o = sweep(&g, &out, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{grid} {args:?}: {err}");
        assert!(
            err.contains(says),
            "{grid} {args:?}: wanted {says:?} in {err}"
        );
        assert!(!out.join("sweep.csv").exists(), "nothing ran: {grid}");
        assert!(!out.join("runs").exists(), "nothing ran: {grid}");
    }
    let g = write_grid(dir.path(), &good);
    let o = bin()
        .args(["sweep", "--data", "data/sample/nope.csv", "--grid"])
        .arg(&g)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--data data/sample/nope.csv: no such file")
    );
    let o = sweep(&dir.path().join("missing.json"), &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.json: cannot read the grid"));

    // --skip-invalid leaves the refused combination out and says why.
    let g = write_grid(dir.path(), &serde_json::json!({FAST: [9, 40]}));
    let o = ok(sweep(&g, &out, &["--skip-invalid"]));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("1 of 2 combinations run") && said.contains("1 left out"),
        "{said}"
    );
    assert!(
        said.contains("left out     run 2") && said.contains("below slow_period"),
        "{said}"
    );
    let (_, rows) = csv_lines(&out);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].starts_with("1,9,"), "{}", rows[0]);
}

#[test]
fn every_shard_stores_its_rows_in_one_clickhouse_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::ch_db("sweep");
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("config/paper.json")).unwrap(),
    )
    .unwrap();
    v["storage"]["clickhouse"]["url"] = common::ch_url().into();
    v["storage"]["clickhouse"]["database"] = db.clone().into();
    let cfg = common::write_config(dir.path(), &v);
    let grid = write_grid(
        dir.path(),
        &serde_json::json!({FAST: [5, 9], SLOW: [21, 30]}),
    );
    let shard = |i: usize, url: &str| {
        let out = dir.path().join(format!("shard{i}"));
        let o = bin()
            .env("CLICKHOUSE_URL", url)
            .env_remove("CLICKHOUSE_DATABASE")
            .args([
                "sweep",
                "--data",
                SAMPLE,
                "--store",
                "clickhouse",
                "--config",
            ])
            .arg(&cfg)
            .arg("--grid")
            .arg(&grid)
            .arg("--out")
            .arg(&out)
            .args(["--shard", &format!("{i}/2")])
            .output()
            .unwrap();
        (o, out)
    };
    // A server that does not answer stops the sweep before any run.
    let (o, out) = shard(1, "http://127.0.0.1:1");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sweep_results") && err.contains("nothing was run"),
        "{err}"
    );
    assert!(!out.exists());

    let mut csv_rows = std::collections::BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for i in [1, 2] {
        let (o, out) = shard(i, &common::ch_url());
        let o = ok(o);
        let said = String::from_utf8_lossy(&o.stdout).to_string();
        let id = said
            .split("sweep_id ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no sweep_id in {said}"))
            .to_string();
        ids.insert(id);
        let (head, rows) = csv_lines(&out);
        for r in rows {
            let cells: Vec<String> = r.split(',').map(str::to_string).collect();
            let run: u32 = cells[0].parse().unwrap();
            let by_name: std::collections::BTreeMap<String, String> =
                head.split(',').map(str::to_string).zip(cells).collect();
            csv_rows.insert(run, by_name);
        }
    }
    assert_eq!(ids.len(), 1, "both shards name one sweep: {ids:?}");
    let id = ids.into_iter().next().unwrap();
    let read = || -> Vec<serde_json::Value> {
        common::ch_sql(&format!(
            "SELECT toString(sweep_id) AS id, run, shard, param_paths, param_values, trades, \
             net_pnl, sharpe, max_drawdown_pct FROM {db}.sweep_results FINAL ORDER BY run \
             FORMAT JSONEachRow"
        ))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    let stored = read();
    assert_eq!(stored.len(), 4, "{stored:?}");
    for (k, r) in stored.iter().enumerate() {
        let run = k as u32 + 1;
        assert_eq!(r["run"], run);
        assert_eq!(r["id"], id.as_str());
        assert_eq!(r["shard"], format!("{}/2", (run - 1) % 2 + 1));
        assert_eq!(r["param_paths"], serde_json::json!([FAST, SLOW]));
        let c = &csv_rows[&run];
        let num = |s: &str| s.parse::<f64>().unwrap();
        let values: Vec<f64> = r["param_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values, [num(&c[FAST]), num(&c[SLOW])]);
        // ClickHouse writes 64-bit integers in JSON as strings.
        assert_eq!(r["trades"].as_str().unwrap(), c["trades"]);
        for f in ["net_pnl", "sharpe", "max_drawdown_pct"] {
            assert_eq!(r[f].as_f64().unwrap(), num(&c[f]), "run {run} {f}");
        }
    }
    // A shard swept again replaces its rows.
    ok(shard(1, &common::ch_url()).0);
    assert_eq!(read().len(), 4);
    common::ch_sql(&format!("DROP DATABASE IF EXISTS {db}"));
}

#[test]
fn failed_runs_are_listed_and_leave_no_row() {
    // A "replay" that always fails stands in for a run that breaks.
    let dir = tempfile::tempdir().unwrap();
    let grid = write_grid(dir.path(), &serde_json::json!({FAST: [5, 9]}));
    let opts = alphastocks::sweep::SweepOptions {
        inputs: vec![alphastocks::replay::ReplayInput {
            symbol: "NIFTY".into(),
            path: common::sample(),
        }],
        timeframe: None,
        config: Some(common::root().join("config/paper.json")),
        grid,
        sort_by: "net_pnl".into(),
        shard: alphastocks::sweep::Shard::ALL,
        out: dir.path().join("out"),
        jobs: Some(2),
        skip_invalid: false,
        progress: false,
        exe: Some("/bin/false".into()),
        clickhouse: None,
    };
    let s = alphastocks::sweep::sweep(&opts).unwrap();
    assert_eq!((s.combinations, s.runs), (2, 2));
    assert_eq!(s.failed.iter().map(|(r, _)| *r).collect::<Vec<_>>(), [1, 2]);
    assert!(
        s.failed[0].1.contains("replay exited with"),
        "{:?}",
        s.failed
    );
    assert!(s.best.is_none());
    let (head, rows) = csv_lines(&dir.path().join("out"));
    assert!(head.starts_with("run,"));
    assert!(rows.is_empty());
    let text = s.render("net_pnl");
    assert!(
        text.contains("0 of 2 combinations run") && text.contains("2 failed"),
        "{text}"
    );
    assert!(text.contains("FAILED       run 1"), "{text}");
}
