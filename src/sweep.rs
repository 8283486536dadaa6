//! `sweep`: a paper replay for every combination of a grid of numeric config settings, each
//! in its own process with its own fresh store, as many at once as there are cores, and one
//! `sweep.csv` row per combination (the parameters, then the tearsheet's figures) sorted by a
//! chosen metric.
//!
//! - The grid is a JSON object of config paths (dot-separated, as `config check` prints the
//!   config; a number indexes a list) to non-empty lists of numbers. Columns and combinations
//!   follow the paths in name order, the last path varying fastest; runs are numbered from 1.
//! - Every combination's config is built and validated before anything runs: a bad grid or a
//!   combination the config refuses stops the sweep with the field named (or, with
//!   `--skip-invalid`, leaves that combination out and says so).
//! - Each run is `alphastocks replay --mode paper --store sqlite` on `DIR/runs/<run>/` (its
//!   config, store and every replay output, removed first if an earlier sweep left it), and
//!   its row is read from that run's `report.json`: the same text as the single replay with
//!   the same settings writes.
//! - `--shard I/N` runs only the combinations with `(run − 1) mod N = I − 1`, so N machines
//!   with the same grid cover it exactly once; their CSVs concatenated hold every row.
//! - `--store clickhouse` also puts every run's row into the configured server's
//!   `sweep_results` table ([`actors::store::ch_sweep`]) under a `sweep_id` that every shard of
//!   the same sweep derives alike ([`sweep_id`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{Number, Value};

use crate::error::AppError;
use crate::replay::ReplayInput;

/// The tearsheet's figures in `sweep.csv`, in `report.json`'s order (its scalar fields).
pub const METRICS: [&str; 23] = [
    "trades",
    "wins",
    "losses",
    "win_rate_pct",
    "gross_pnl",
    "charges",
    "net_pnl",
    "profit_factor",
    "expectancy",
    "avg_win",
    "avg_loss",
    "payoff_ratio",
    "max_consecutive_wins",
    "max_consecutive_losses",
    "max_drawdown",
    "max_drawdown_pct",
    "max_drawdown_days",
    "cagr_pct",
    "sharpe",
    "sortino",
    "calmar",
    "exposure_pct",
    "trades_per_day",
];

/// Metrics where less is better: sorted ascending (all others descending).
pub const LOWER_IS_BETTER: [&str; 6] = [
    "losses",
    "charges",
    "max_consecutive_losses",
    "max_drawdown",
    "max_drawdown_pct",
    "max_drawdown_days",
];

/// The most combinations a grid may have.
pub const MAX_COMBINATIONS: usize = 100_000;

/// The grid: each path with its values, paths in name order.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub axes: Vec<(String, Vec<Number>)>,
}

fn usage(m: String) -> AppError {
    AppError::Usage(m)
}

/// The value at a dotted `path` of `v` (a number segment indexes a list).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn lookup_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(v, |v, seg| match v {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// Parses `grid.json` against `base` (the whole config as JSON, defaults included): every
/// path must name a numeric (or unset) setting, every list hold distinct numbers.
pub fn parse_grid(text: &str, base: &Value) -> Result<Grid, AppError> {
    let v: Value = serde_json::from_str(text).map_err(|e| usage(format!("grid: not JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err(usage(
            "grid: expected an object of config paths to lists of numbers, e.g. \
             {\"strategies.ma_crossover.parameters.fast_period\": [5, 9, 13]}"
                .into(),
        ));
    };
    if m.is_empty() {
        return Err(usage("grid: no config path given".into()));
    }
    let mut axes = Vec::with_capacity(m.len());
    for (path, values) in m {
        match lookup(base, &path) {
            None => {
                let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
                let hint = if !parent.is_empty() && lookup(base, parent).is_none() {
                    format!(" (nor is `{parent}`)")
                } else {
                    String::new()
                };
                return Err(usage(format!(
                    "grid: `{path}` is not a setting of the config{hint}; a strategy parameter \
                     left at its default must be written in the config to be swept"
                )));
            }
            Some(Value::Number(_) | Value::Null) => {}
            Some(other) => {
                return Err(usage(format!(
                    "grid: `{path}` is not a numeric setting (the config has {other} there)"
                )))
            }
        }
        let Value::Array(list) = values else {
            return Err(usage(format!(
                "grid: `{path}`: expected a list of numbers, got {values}"
            )));
        };
        if list.is_empty() {
            return Err(usage(format!(
                "grid: `{path}`: the list of values is empty"
            )));
        }
        let mut nums: Vec<Number> = Vec::with_capacity(list.len());
        for x in list {
            let Value::Number(n) = x else {
                return Err(usage(format!("grid: `{path}`: value {x} is not a number")));
            };
            if nums
                .iter()
                .any(|m| m.as_f64().zip(n.as_f64()).is_some_and(|(a, b)| a == b))
            {
                return Err(usage(format!("grid: `{path}`: value {n} is listed twice")));
            }
            nums.push(n);
        }
        axes.push((path, nums));
    }
    let grid = Grid { axes };
    let n = grid
        .axes
        .iter()
        .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()))
        .filter(|n| *n <= MAX_COMBINATIONS);
    if n.is_none() {
        return Err(usage(format!(
            "grid: more than {MAX_COMBINATIONS} combinations ({})",
            grid.axes
                .iter()
                .map(|(p, v)| format!("{} × `{p}`", v.len()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(grid)
}

impl Grid {
    /// How many combinations.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|(_, v)| v.len()).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of run `run` (1-based): the last path varies fastest.
    pub fn combination(&self, run: usize) -> Vec<&Number> {
        let mut k = run.saturating_sub(1);
        let mut out = vec![None; self.axes.len()];
        for (i, (_, v)) in self.axes.iter().enumerate().rev() {
            out[i] = Some(&v[k % v.len()]);
            k /= v.len();
        }
        out.into_iter().flatten().collect()
    }

    /// `base` with run `run`'s values set.
    pub fn apply(&self, base: &Value, run: usize) -> Value {
        let mut v = base.clone();
        for ((path, _), n) in self.axes.iter().zip(self.combination(run)) {
            if let Some(slot) = lookup_mut(&mut v, path) {
                *slot = Value::Number(n.clone());
            }
        }
        v
    }

    /// `path=value, …` of run `run`, for messages.
    pub fn describe(&self, run: usize) -> String {
        self.axes
            .iter()
            .zip(self.combination(run))
            .map(|((p, _), n)| format!("{p}={n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `--shard I/N`: the I-th (1-based) of N slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether run `run` (1-based) is this shard's.
    pub fn owns(&self, run: usize) -> bool {
        (run.saturating_sub(1)) % self.count == self.index - 1
    }
}

/// Parses `I/N` (1 ≤ I ≤ N).
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("--shard {s:?}: expected I/N, e.g. 2/8"))?;
    let num = |x: &str, what: &str| {
        x.trim()
            .parse::<usize>()
            .map_err(|_| format!("--shard {s:?}: {what} {x:?} is not a whole number"))
    };
    let (index, count) = (num(i, "I")?, num(n, "N")?);
    if count == 0 {
        return Err(format!("--shard {s:?}: N must be at least 1"));
    }
    if index == 0 || index > count {
        return Err(format!(
            "--shard {s:?}: I must be from 1 to N ({count}); shards are numbered from 1"
        ));
    }
    Ok(Shard { index, count })
}

/// Checks `--sort-by`.
pub fn parse_metric(s: &str) -> Result<String, String> {
    if METRICS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "--sort-by {s:?}: not a tearsheet figure; one of {}",
            METRICS.join(", ")
        ))
    }
}

/// One row of `sweep.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub run: usize,
    /// Each cell's text: the run, the parameters, the metrics (empty where undefined).
    pub cells: Vec<String>,
    /// The sort metric's value (None where undefined).
    pub key: Option<f64>,
}

/// The header of `sweep.csv`.
pub fn header(grid: &Grid) -> Vec<String> {
    std::iter::once("run".to_string())
        .chain(grid.axes.iter().map(|(p, _)| p.clone()))
        .chain(METRICS.iter().map(|m| m.to_string()))
        .collect()
}

/// Run `run`'s row from its `report.json`: numbers exactly as the report writes them.
pub fn row(grid: &Grid, run: usize, report: &Value, metric: &str) -> Result<Row, String> {
    let mut cells = vec![run.to_string()];
    cells.extend(grid.combination(run).iter().map(|n| n.to_string()));
    for m in METRICS {
        match report.get(m) {
            Some(Value::Number(n)) => cells.push(n.to_string()),
            Some(Value::Null) => cells.push(String::new()),
            other => return Err(format!("report.json: `{m}` is {other:?}, not a number")),
        }
    }
    Ok(Row {
        run,
        cells,
        key: report.get(metric).and_then(Value::as_f64),
    })
}

/// Best first by `metric` (descending, ascending where less is better), undefined values
/// last, ties in run order.
pub fn sort_rows(rows: &mut [Row], metric: &str) {
    let asc = LOWER_IS_BETTER.contains(&metric);
    rows.sort_by(|a, b| {
        let by_key = match (a.key, b.key) {
            (Some(x), Some(y)) => {
                if asc {
                    x.total_cmp(&y)
                } else {
                    y.total_cmp(&x)
                }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_key.then(a.run.cmp(&b.run))
    });
}

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub inputs: Vec<ReplayInput>,
    pub timeframe: Option<messages::Timeframe>,
    /// The config file the grid varies.
    pub config: Option<PathBuf>,
    pub grid: PathBuf,
    pub sort_by: String,
    pub shard: Shard,
    pub out: PathBuf,
    /// Runs at once (default: the available cores).
    pub jobs: Option<usize>,
    /// Leave out combinations the config refuses instead of stopping.
    pub skip_invalid: bool,
    pub progress: bool,
    /// The `alphastocks` binary to run each replay with (default: this one).
    pub exe: Option<PathBuf>,
    /// Also write the rows into this server's `sweep_results` table (`--store clickhouse`).
    pub clickhouse: Option<actors::config::ClickHouse>,
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    pub combinations: usize,
    /// Runs of this shard.
    pub runs: usize,
    /// Combinations left out under `--skip-invalid`, with the config's reason.
    pub invalid: Vec<(usize, String)>,
    /// Runs that failed, with the end of their error output.
    pub failed: Vec<(usize, String)>,
    pub csv: PathBuf,
    /// The header and the best row, when there is one.
    pub best: Option<(Vec<String>, Row)>,
    pub jobs: usize,
    /// The sweep's id and the table its rows went into (`--store clickhouse`).
    pub stored: Option<(uuid::Uuid, String)>,
}

/// The id every shard of one sweep gives its rows: a UUID v5 of the grid, the config without
/// its `storage` block (machines keep their data and server settings apart) and each data
/// file's symbol, file name and size.
pub fn sweep_id(grid: &Grid, base: &Value, inputs: &[ReplayInput]) -> uuid::Uuid {
    let mut cfg = base.clone();
    if let Value::Object(m) = &mut cfg {
        m.remove("storage");
    }
    let mut key = format!("grid {:?}\nconfig {cfg}\n", grid.axes);
    for i in inputs {
        let name = i.path.file_name().map(|n| n.to_string_lossy().into_owned());
        let size = std::fs::metadata(&i.path).map(|m| m.len()).ok();
        key.push_str(&format!("data {}={name:?}:{size:?}\n", i.symbol));
    }
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes())
}

/// This machine's name, for the `host` column.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> AppError {
    move |source| AppError::Io { context, source }
}

/// Runs the sweep: validates everything, then the runs on `jobs` workers, then `sweep.csv`.
pub fn sweep(opts: &SweepOptions) -> Result<SweepSummary, AppError> {
    for i in &opts.inputs {
        if !i.path.is_file() {
            return Err(usage(format!(
                "--data {}: no such file (symbol {})",
                i.path.display(),
                i.symbol
            )));
        }
    }
    let cfg = match &opts.config {
        Some(p) => actors::config::Config::load(p)?,
        None => actors::config::Config::paper_config()?,
    };
    let base = serde_json::to_value(&cfg)
        .map_err(|e| usage(format!("config: cannot be written back as JSON: {e}")))?;
    let grid_text = std::fs::read_to_string(&opts.grid).map_err(|e| {
        usage(format!(
            "--grid {}: cannot read the grid: {e}",
            opts.grid.display()
        ))
    })?;
    let grid = parse_grid(&grid_text, &base).map_err(|e| match e {
        AppError::Usage(m) => usage(format!("{}: {m}", opts.grid.display())),
        e => e,
    })?;
    let runs_dir = opts.out.join("runs");
    // Every combination of this shard, validated before anything runs.
    let mut todo: Vec<(usize, String)> = Vec::new();
    let mut invalid = Vec::new();
    for run in (1..=grid.len()).filter(|r| opts.shard.owns(*r)) {
        let v = grid.apply(&base, run);
        let text = serde_json::to_string_pretty(&v)
            .map_err(|e| usage(format!("config of run {run}: {e}")))?;
        let path = runs_dir.join(run.to_string()).join("config.json");
        if let Err(e) = actors::config::Config::parse(&text, &path) {
            let why = format!("run {run} ({}): {e}", grid.describe(run));
            if opts.skip_invalid {
                invalid.push((run, why));
                continue;
            }
            return Err(usage(format!(
                "grid: a combination the config refuses: {why} (--skip-invalid leaves such combinations out)"
            )));
        }
        todo.push((run, text));
    }
    // The table first: a server that does not answer stops the sweep before any run.
    let table = match &opts.clickhouse {
        Some(ch) => Some(actors::store::ch_sweep::SweepTable::open(ch).map_err(|e| {
            AppError::Failed(format!(
                "sweep --store clickhouse: cannot prepare {}.sweep_results at {} ({e}); nothing was run",
                ch.database, ch.url
            ))
        })?),
        None => None,
    };
    let exe = match &opts.exe {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(io("cannot find the alphastocks binary to run".into()))?,
    };
    let jobs = opts
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, todo.len().max(1));
    std::fs::create_dir_all(&runs_dir)
        .map_err(io(format!("cannot create {}", runs_dir.display())))?;
    let bar = if opts.progress {
        indicatif::ProgressBar::new(todo.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{wide_bar} {pos}/{len} runs · {elapsed_precise} · eta {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    let next = AtomicUsize::new(0);
    type Done = (usize, Result<Value, String>, chrono::DateTime<chrono::Utc>);
    let results: Mutex<Vec<Done>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((run, text)) = todo.get(i) else {
                    break;
                };
                let r = run_one(&exe, opts, &runs_dir.join(run.to_string()), text);
                if r.is_err() {
                    bar.set_message(format!("· run {run} failed"));
                }
                if let Ok(mut v) = results.lock() {
                    v.push((*run, r, chrono::Utc::now()));
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(run, _, _)| *run);
    let mut rows = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    let id = sweep_id(&grid, &base, &opts.inputs);
    let (me, shard) = (host(), format!("{}/{}", opts.shard.index, opts.shard.count));
    let mut ch_rows = Vec::new();
    for (run, r, finished_at) in results {
        let made = r.and_then(|report| {
            let row = row(&grid, run, &report, &opts.sort_by)?;
            if table.is_some() {
                let figures: actors::stats::tearsheet::Tearsheet =
                    serde_json::from_value(report).map_err(|e| format!("report.json: {e}"))?;
                let of = actors::store::ch_sweep::RunOf {
                    sweep_id: id,
                    run: u32::try_from(run).unwrap_or(u32::MAX),
                    shard: shard.clone(),
                    host: me.clone(),
                    params: grid
                        .axes
                        .iter()
                        .zip(grid.combination(run))
                        .map(|((p, _), n)| (p.clone(), n.as_f64().unwrap_or(f64::NAN)))
                        .collect(),
                    finished_at,
                };
                ch_rows.push(actors::store::ch_sweep::SweepResult::new(of, figures));
            }
            Ok(row)
        });
        match made {
            Ok(row) => rows.push(row),
            Err(e) => failed.push((run, e)),
        }
    }
    sort_rows(&mut rows, &opts.sort_by);
    let head = header(&grid);
    let csv_path = opts.out.join("sweep.csv");
    write_csv(&csv_path, &head, &rows)
        .map_err(io(format!("cannot write {}", csv_path.display())))?;
    let stored = match table {
        Some(t) => {
            t.insert(ch_rows).map_err(|e| {
                AppError::Failed(format!(
                    "sweep: {} is complete, but its rows could not be stored in {} ({e}); \
                     a sweep run again replaces its rows",
                    csv_path.display(),
                    t.name()
                ))
            })?;
            Some((id, t.name()))
        }
        None => None,
    };
    Ok(SweepSummary {
        combinations: grid.len(),
        runs: todo.len(),
        invalid,
        failed,
        csv: csv_path,
        best: rows.first().cloned().map(|r| (head, r)),
        jobs,
        stored,
    })
}

/// `sweep.csv`: the header, then the rows in order.
pub fn write_csv(path: &Path, head: &[String], rows: &[Row]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(std::io::Error::other)?;
    w.write_record(head).map_err(std::io::Error::other)?;
    for r in rows {
        w.write_record(&r.cells).map_err(std::io::Error::other)?;
    }
    w.flush()
}

/// One replay in its own process on a fresh `dir`; its `report.json`.
fn run_one(exe: &Path, opts: &SweepOptions, dir: &Path, config: &str) -> Result<Value, String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("cannot clear {} from an earlier sweep: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let cfg_path = dir.join("config.json");
    std::fs::write(&cfg_path, config)
        .map_err(|e| format!("cannot write {}: {e}", cfg_path.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("replay");
    for i in &opts.inputs {
        cmd.arg("--data")
            .arg(format!("{}={}", i.symbol, i.path.display()));
    }
    if let Some(tf) = opts.timeframe {
        cmd.arg("--timeframe").arg(tf.to_string());
    }
    cmd.arg("--config")
        .arg(&cfg_path)
        .args(["--mode", "paper", "--store", "sqlite"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--out")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        return Err(format!(
            "replay exited with {}: {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let report = dir.join("report.json");
    let text = std::fs::read_to_string(&report)
        .map_err(|e| format!("cannot read {}: {e}", report.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", report.display()))
}

impl SweepSummary {
    /// The human summary printed after a sweep.
    pub fn render(&self, metric: &str) -> String {
        let mut s = format!(
            "sweep: {} of {} combinations run ({} at once), {} failed, {} left out\n  results      {}\n",
            self.runs - self.failed.len(),
            self.combinations,
            self.jobs,
            self.failed.len(),
            self.invalid.len(),
            self.csv.display()
        );
        if let Some((id, table)) = &self.stored {
            s.push_str(&format!("  stored       {table}, sweep_id {id}\n"));
        }
        for (run, why) in &self.invalid {
            s.push_str(&format!("  left out     run {run}: {why}\n"));
        }
        for (run, why) in &self.failed {
            s.push_str(&format!("  FAILED       run {run}: {why}\n"));
        }
        if let Some((head, best)) = &self.best {
            let cells: Vec<String> = head
                .iter()
                .zip(&best.cells)
                .filter(|(h, _)| !METRICS.contains(&h.as_str()) || h.as_str() == metric)
                .map(|(h, c)| format!("{h}={c}"))
                .collect();
            s.push_str(&format!("  best by {metric}: {}\n", cells.join(", ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FAST: &str = "strategies.ma_crossover.parameters.fast_period";
    const SLOW: &str = "strategies.ma_crossover.parameters.slow_period";

    fn base() -> Value {
        serde_json::to_value(actors::config::Config::default_config().unwrap()).unwrap()
    }

    fn err(text: &str) -> String {
        match parse_grid(text, &base()) {
            Err(AppError::Usage(m)) => m,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn bad_grids_are_refused_naming_the_field() {
        assert!(err("[1, 2]").contains("expected an object"));
        assert!(err("{").contains("not JSON"));
        assert!(err("{}").contains("no config path"));
        let m = err(r#"{"strategies.ma_crossover.parameters.fast_perod": [5]}"#);
        assert!(
            m.contains("`strategies.ma_crossover.parameters.fast_perod` is not a setting"),
            "{m}"
        );
        let m = err(r#"{"strategis.x.y": [5]}"#);
        assert!(m.contains("(nor is `strategis.x`)"), "{m}");
        let m = err(r#"{"storage.backend": [1]}"#);
        assert!(
            m.contains("`storage.backend` is not a numeric setting") && m.contains("\"sqlite\""),
            "{m}"
        );
        let m = err(&format!(r#"{{"{FAST}": 5}}"#));
        assert!(
            m.contains(&format!("`{FAST}`: expected a list of numbers, got 5")),
            "{m}"
        );
        let m = err(&format!(r#"{{"{FAST}": []}}"#));
        assert!(
            m.contains(&format!("`{FAST}`: the list of values is empty")),
            "{m}"
        );
        let m = err(&format!(r#"{{"{FAST}": [5, "9"]}}"#));
        assert!(
            m.contains(&format!("`{FAST}`: value \"9\" is not a number")),
            "{m}"
        );
        let m = err(&format!(r#"{{"{FAST}": [5, 9, 5.0]}}"#));
        assert!(
            m.contains(&format!("`{FAST}`: value 5.0 is listed twice")),
            "{m}"
        );
        let many: Vec<u32> = (1..=400).collect();
        let m = err(&serde_json::json!({FAST: many, SLOW: many}).to_string());
        assert!(
            m.contains("more than 100000 combinations") && m.contains("400 ×"),
            "{m}"
        );
    }

    #[test]
    fn combinations_vary_the_last_path_fastest() {
        // Given out of name order: the columns come in name order.
        let g = parse_grid(
            &format!(r#"{{"{SLOW}": [21, 30, 40], "{FAST}": [5, 9]}}"#),
            &base(),
        )
        .unwrap();
        assert_eq!(
            g.axes.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            [FAST, SLOW]
        );
        assert_eq!(g.len(), 6);
        let all: Vec<String> = (1..=6)
            .map(|r| {
                g.combination(r)
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        assert_eq!(all, ["5/21", "5/30", "5/40", "9/21", "9/30", "9/40"]);
        let v = g.apply(&base(), 5);
        assert_eq!(lookup(&v, FAST), Some(&serde_json::json!(9)));
        assert_eq!(lookup(&v, SLOW), Some(&serde_json::json!(30)));
        assert_eq!(g.describe(5), format!("{FAST}=9, {SLOW}=30"));
        // An unset (null) setting can be swept; floats stay floats.
        let g = parse_grid(r#"{"rules.max_lots_per_trade": [1, 2]}"#, &base()).unwrap();
        assert_eq!(g.len(), 2);
        let g = parse_grid(r#"{"report.risk_free_pct": [6.5]}"#, &base()).unwrap();
        assert_eq!(
            lookup(&g.apply(&base(), 1), "report.risk_free_pct"),
            Some(&serde_json::json!(6.5))
        );
        // A number indexes a list.
        let v = serde_json::json!({"a": [{"b": 1}, {"b": 2}]});
        let g = parse_grid(r#"{"a.1.b": [7]}"#, &v).unwrap();
        assert_eq!(
            g.apply(&v, 1),
            serde_json::json!({"a": [{"b": 1}, {"b": 7}]})
        );
    }

    #[test]
    fn shards_are_checked() {
        assert_eq!(parse_shard("2/8"), Ok(Shard { index: 2, count: 8 }));
        assert_eq!(parse_shard("1/1"), Ok(Shard::ALL));
        for (bad, says) in [
            ("0/3", "I must be from 1 to N (3)"),
            ("4/3", "I must be from 1 to N (3)"),
            ("1/0", "N must be at least 1"),
            ("a/3", "I \"a\" is not a whole number"),
            ("1/-2", "N \"-2\" is not a whole number"),
            ("3", "expected I/N"),
        ] {
            let e = parse_shard(bad).unwrap_err();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
        assert!(parse_metric("sharpe").is_ok());
        let e = parse_metric("sharp").unwrap_err();
        assert!(e.contains("\"sharp\"") && e.contains("net_pnl"), "{e}");
    }

    proptest! {
        #[test]
        fn shards_cover_every_run_exactly_once(n in 1usize..20, total in 0usize..300) {
            for run in 1..=total {
                let owners = (1..=n)
                    .filter(|i| Shard { index: *i, count: n }.owns(run))
                    .count();
                prop_assert_eq!(owners, 1);
            }
        }
    }

    fn report(net: f64, dd: Option<f64>) -> Value {
        let mut v = serde_json::Map::new();
        for m in METRICS {
            v.insert(m.into(), serde_json::json!(1));
        }
        v.insert("net_pnl".into(), serde_json::json!(net));
        v.insert("max_drawdown".into(), serde_json::json!(dd));
        v.insert("sharpe".into(), Value::Null);
        Value::Object(v)
    }

    #[test]
    fn rows_keep_the_reports_text_and_sort_best_first() {
        let g = parse_grid(
            &format!(r#"{{"{FAST}": [5, 9], "{SLOW}": [21.5]}}"#),
            &base(),
        )
        .unwrap();
        let r = row(&g, 2, &report(494349.52, Some(100.0)), "net_pnl").unwrap();
        assert_eq!(&r.cells[..3], ["2", "9", "21.5"]);
        assert_eq!(r.cells.len(), header(&g).len());
        assert_eq!(r.cells[3 + 6], "494349.52");
        assert_eq!(
            r.cells[3 + METRICS.iter().position(|m| *m == "sharpe").unwrap()],
            ""
        );
        assert_eq!(r.key, Some(494349.52));
        let mut bad = report(1.0, None);
        bad["trades"] = serde_json::json!("x");
        assert!(row(&g, 1, &bad, "net_pnl")
            .unwrap_err()
            .contains("`trades`"));

        let mk = |run, net, dd| {
            let rep = report(net, dd);
            (
                row(&g, run, &rep, "net_pnl").unwrap(),
                row(&g, run, &rep, "max_drawdown").unwrap(),
            )
        };
        let all = [
            mk(1, 10.0, Some(5.0)),
            mk(2, 30.0, None),
            mk(3, 10.0, Some(1.0)),
            mk(4, -5.0, Some(9.0)),
        ];
        let mut by_net: Vec<Row> = all.iter().map(|r| r.0.clone()).collect();
        sort_rows(&mut by_net, "net_pnl");
        assert_eq!(
            by_net.iter().map(|r| r.run).collect::<Vec<_>>(),
            [2, 1, 3, 4],
            "ties in run order"
        );
        let mut by_dd: Vec<Row> = all.iter().map(|r| r.1.clone()).collect();
        sort_rows(&mut by_dd, "max_drawdown");
        assert_eq!(
            by_dd.iter().map(|r| r.run).collect::<Vec<_>>(),
            [3, 1, 4, 2],
            "least first, undefined last"
        );
    }
}
