//! `replay`: pushes a CSV of bars through the same actors as a live run, as fast as they go.
//!
//! Deterministic: bars go in order in batches, each batch awaited until Strategy has taken its
//! candles (the feed never outruns the pipeline and never drops), the engine clock is the data
//! time, and at the end a drain barrier waits for every signal to be committed and decided. The
//! same file and config therefore give a byte-identical `signals.jsonl` on every run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use actix::Actor;
use actors::config::Config;
use actors::feed::replay::{check_bar_size, ReadOptions, RowPolicy};
use actors::feed::spill::{scan_file_spilled, SpilledBars};
use actors::feed::stream::Merge;
use actors::options_executor::Clock;
use messages::msg::*;
use messages::{ExecutorStats, Symbols, Timeframe};
use serde::Serialize;

use crate::error::AppError;
use crate::recorder::{Finish, SignalRecorder};
use crate::system::{Engine, EngineOptions};

/// Bars per message into DataManager. In paper mode the signals of a batch are decided
/// (committed first) before the batch after next is sent: 16 384 bars makes a quarter of the
/// commits 4 096 did on the signal-heavy file.
pub const BATCH: usize = 16384;

// A new position catches up from PositionManager's ring of recent prices (at most 2 events a
// bar) on up to two batches' prices (the rest of its own and the next): they must fit in it,
// with room to spare.
const _: () = assert!(2 * (2 * BATCH) <= actors::logic::recent::RecentPrices::CAPACITY / 2);

/// One file of bars and the symbol it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayInput {
    pub symbol: String,
    pub path: PathBuf,
}

/// The files a replay writes into its `--out` directory.
pub const OUTPUT_FILES: [&str; 7] = [
    "signals.jsonl",
    "positions.jsonl",
    "report.html",
    "report.json",
    "equity.csv",
    "equity_daily.csv",
    "equity.svg",
];

/// Readies `out` for a new replay so that it never holds a mix of two runs' files: when it
/// already holds an earlier replay's files, refuses (naming them) unless `force`, which
/// removes them first. Other files in `out` (a store under `out/data`, notes) are left alone.
pub fn prepare_out(out: &Path, force: bool) -> Result<(), AppError> {
    let found: Vec<&str> = OUTPUT_FILES
        .iter()
        .copied()
        .filter(|f| out.join(f).exists())
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(AppError::Usage(format!(
            "--out {} already holds an earlier run's files ({}): pick a new --out directory, \
             or pass --force to replace them",
            out.display(),
            found.join(", ")
        )));
    }
    for f in found {
        let p = out.join(f);
        std::fs::remove_file(&p).map_err(|source| AppError::Io {
            context: format!("--force: cannot remove {}", p.display()),
            source,
        })?;
    }
    Ok(())
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// One file per symbol (at least one; each symbol once). Several are merged in time order
    /// (ties by symbol name) into one run with one portfolio.
    pub inputs: Vec<ReplayInput>,
    pub timeframe: Option<Timeframe>,
    pub out: PathBuf,
    pub progress: bool,
    pub mode: messages::Mode,
    /// Store backend override (`--store`).
    pub store: Option<actors::config::StorageBackend>,
    /// Cap the feed at this many bars per second (watching a replay unfold); as fast as the
    /// pipeline goes when absent.
    pub max_rate: Option<f64>,
    /// Log a line per signal, decision and position at INFO, as `run` does (`--verbose`);
    /// otherwise they are DEBUG lines and the replay's summary is what it says.
    pub verbose: bool,
    /// Bars per message into DataManager: [`BATCH`] when absent (and at most that). How the
    /// work is cut changes nothing in what a replay decides or writes; tests hold it to that.
    pub batch_bars: Option<usize>,
}

/// What a replay does with rows it refuses (see `actors::feed::replay`).
#[derive(Debug, Clone, Copy)]
pub struct RowOptions {
    /// Strict (the default): the first refused row stops the replay with its line, exit 2.
    /// Skip: refused rows are left out and listed in the summary.
    pub policy: RowPolicy,
    /// Under Skip: a replay whose skipped plus dropped rows exceed this percentage of the
    /// file's rows is INCOMPLETE (exit 3, after the summary).
    pub max_lost_pct: f64,
}

impl Default for RowOptions {
    fn default() -> Self {
        RowOptions {
            policy: RowPolicy::Strict,
            max_lost_pct: DEFAULT_MAX_LOST_PCT,
        }
    }
}

/// The default `--max-skipped-pct`.
pub const DEFAULT_MAX_LOST_PCT: f64 = 1.0;

/// Refused rows listed in the summary (all are counted).
const SKIPPED_SHOWN: usize = 10;

/// The replay's figures. Counts are of this process's work, except `store_signals` (what
/// the store holds for the symbol after the replay, earlier runs included).
#[derive(Debug, Clone, Serialize)]
pub struct ReplaySummary {
    /// The symbols replayed, joined by `+`.
    pub symbol: String,
    /// Bars fed per symbol.
    pub bars_by_symbol: std::collections::BTreeMap<String, u64>,
    pub timeframe: Timeframe,
    /// Data rows in the file.
    pub rows: u64,
    /// Rows refused by the reader (skip policy), with the first few lines and reasons.
    pub rows_skipped: u64,
    pub skipped_examples: Vec<(u64, String)>,
    /// Bars fed to the engine (rows − skipped).
    pub bars: u64,
    /// The most bars the replay held at once (the batch in the engine and the next one): the
    /// file is streamed, never held whole.
    pub bars_held_max: u64,
    /// Bars the engine dropped (outside the session, …).
    pub bars_dropped: u64,
    /// (skipped + dropped) / rows, percent.
    pub lost_pct: f64,
    /// Lost no more than allowed (always true when nothing was lost).
    pub complete: bool,
    pub max_lost_pct: f64,
    /// Signals the executor found already decided by an earlier run (a resumed replay).
    pub already_decided: u64,
    /// Signals of this symbol in the store after the replay (earlier runs included).
    pub store_signals: Option<u64>,
    pub candles: u64,
    pub signals: u64,
    pub executor: ExecutorStats,
    pub restarts: u64,
    pub store: messages::StoreHealth,
    pub writer: messages::msg::WriterStats,
    /// Paper trading results (paper mode).
    pub paper: Option<crate::report::Report>,
    /// The validating pass over the file(s), before anything is fed.
    pub load_secs: f64,
    /// Feeding (the checked bars read back as they are fed) until everything is committed.
    pub wall_secs: f64,
    pub bars_per_sec: f64,
    pub candles_per_sec: f64,
    pub signals_file: PathBuf,
}

/// The progress bar's per-symbol part: each symbol's share of its bars fed so far.
fn progress_message(inputs: &[ReplayInput], fed: &[u64], total: &[u64]) -> String {
    inputs
        .iter()
        .zip(fed.iter().zip(total))
        .map(|(i, (f, t))| format!("{} {}%", i.symbol, f * 100 / (*t).max(1)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits for a batch's signals being decided (`Engine::settle_detected`, spawned).
async fn decided(
    job: actix_rt::task::JoinHandle<Result<(), actix::MailboxError>>,
) -> Result<(), AppError> {
    job.await
        .map_err(|e| AppError::Failed(format!("deciding a batch's signals failed: {e}")))?
        .map_err(AppError::from)
}

/// Runs a strict replay inside a running actix `System`.
pub async fn replay(cfg: Config, opts: ReplayOptions) -> Result<ReplaySummary, AppError> {
    replay_with(cfg, opts, RowOptions::default()).await
}

/// Runs a replay with the given row policy inside a running actix `System`.
pub async fn replay_with(
    mut cfg: Config,
    opts: ReplayOptions,
    rows: RowOptions,
) -> Result<ReplaySummary, AppError> {
    if let Some(tf) = opts.timeframe {
        cfg.strategies.set_timeframe(tf);
    }
    let tf = cfg.strategies.finest();
    let backend = cfg.storage.backend;
    let cfg_capital = cfg.options_trading.position_sizing.account_capital;
    let risk_free_pct = cfg.report.risk_free_pct;
    let metrics_on = cfg.metrics.enabled;
    let t0 = Instant::now();
    let session = cfg
        .market
        .session()
        .map_err(|(p, v, r)| AppError::Usage(format!("config: at `{p}`: value {v} {r}")))?;
    let mut inputs = opts.inputs.clone();
    inputs.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    if inputs.is_empty() {
        return Err(AppError::Usage("replay: no --data given".into()));
    }
    if let Some(w) = inputs.windows(2).find(|w| w[0].symbol == w[1].symbol) {
        return Err(AppError::Usage(format!(
            "replay: symbol {} given twice ({} and {})",
            w[0].symbol,
            w[0].path.display(),
            w[1].path.display()
        )));
    }
    // A validating pass over every file first, keeping no bars in memory: a strict replay
    // refuses a bad row before anything reaches the engine or the store. The bars it keeps go
    // to a temporary file (the CSV is parsed once), read back batch by batch as they are fed.
    let mut scans = Vec::with_capacity(inputs.len());
    let mut spills = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let (scan, spilled) = scan_file_spilled(
            &input.path,
            ReadOptions {
                policy: rows.policy,
                session: Some(actors::logic::session::Session::new(&session)),
            },
            SKIPPED_SHOWN,
        )?;
        for r in &scan.skipped {
            log::warn!(
                "replay: {} line {}: skipped: {}",
                input.path.display(),
                r.line,
                r.reason
            );
        }
        for (name, inst) in cfg.strategies.enabled() {
            check_bar_size(scan.bar_secs, inst.timeframe).map_err(|m| {
                AppError::Usage(format!(
                    "{}: for strategy instance {name} ({}): {m}",
                    input.path.display(),
                    inst.timeframe
                ))
            })?;
        }
        scans.push(scan);
        spills.push(spilled);
    }
    let load_secs = t0.elapsed().as_secs_f64();

    // What report.html shows of the run's settings (the config moves into the engine).
    let settings = crate::report_html::settings(&cfg);
    let strategy_names: Vec<String> = cfg.strategies.enabled().map(|(n, _)| n.clone()).collect();
    let symbols = Symbols::new(inputs.iter().map(|i| i.symbol.clone()));
    let engine = Engine::start(EngineOptions {
        config: cfg,
        symbols: symbols.clone(),
        mode: opts.mode,
        clock: Clock::Data,
        load_history: false,
        persist_candles: false,
        backend: opts.store.unwrap_or(backend),
        metrics: metrics_on,
        broker: None,
        replay: true,
        event_level: if opts.verbose {
            log::Level::Info
        } else {
            log::Level::Debug
        },
    })?;
    let signals_file = opts.out.join("signals.jsonl");
    let recorder = SignalRecorder::create(&signals_file)
        .map_err(|source| AppError::Io {
            context: format!("cannot create {}", signals_file.display()),
            source,
        })?
        .start();
    engine
        .signals
        .send(SubscribeSignalBatches(recorder.clone().recipient()))
        .await?;
    let positions = crate::report::PositionRecorder::default().start();
    engine
        .positions
        .send(SubscribePositions {
            opened: None,
            closed: Some(positions.clone().recipient()),
        })
        .await?;
    let paper = opts.mode == messages::Mode::Paper;
    let feed = engine.feed();

    let total: u64 = scans.iter().map(|s| s.counts.bars).sum();
    let bar = if opts.progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    // Several symbols: the bar also says how far each one is.
    let per_symbol_total: Vec<u64> = scans.iter().map(|s| s.counts.bars).collect();
    let mut per_symbol_fed = vec![0u64; inputs.len()];
    if inputs.len() > 1 {
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{wide_bar} {pos}/{len} bars · {msg}")
        {
            bar.set_style(style);
        }
    }
    let t1 = Instant::now();
    let mut dropped = 0;
    let batch = match opts.max_rate {
        Some(r) if r > 0.0 => ((r / 10.0).ceil() as usize).clamp(1, BATCH),
        _ => BATCH,
    }
    .min(opts.batch_bars.unwrap_or(BATCH).max(1));
    // One symbol: its bars as they are. Several: merged in time order, ties by symbol (ids
    // follow the sorted names), so the run is the same whatever the order of --data.
    let bar_secs: Vec<i64> = scans.iter().map(|s| s.bar_secs).collect();
    let mut feed_in = if spills.len() == 1 {
        FeedIn::One(spills.remove(0))
    } else {
        FeedIn::Many(Merge::new(spills)?)
    };
    let mut fed = 0usize;
    let mut held_max = 0usize;
    let mut span = (i64::MAX, i64::MIN);
    // The trading days of the run (local dates with bars), for the tearsheet's daily series.
    let day_offset = actors::logic::session::Session::new(&session).offset;
    let mut days: Vec<i64> = Vec::new();
    let mut note_day = |ts: i64| {
        let d = (ts + day_offset).div_euclid(86_400);
        if days.last().map_or(true, |l| d > *l) {
            days.push(d);
        }
    };
    // The signals of the last batch that raised any, being decided (paper mode).
    let mut deciding: Option<actix_rt::task::JoinHandle<Result<(), actix::MailboxError>>> = None;
    let mut next = feed_in.next(batch)?;
    while !next.is_empty() {
        let n = next.len();
        if let Some(rate) = opts.max_rate.filter(|r| *r > 0.0) {
            let due = t1 + std::time::Duration::from_secs_f64(fed as f64 / rate);
            actix_rt::time::sleep_until(due.into()).await;
        }
        fed += n;
        // The span of bar times, for the replay's strategy_performance period.
        let (a, b) = match &next {
            Batch::One(bars) => (bars.first().map(|x| x.ts), bars.last().map(|x| x.ts)),
            Batch::Many(bars) => (bars.first().map(|x| x.1.ts), bars.last().map(|x| x.1.ts)),
        };
        span = (
            span.0.min(a.unwrap_or(i64::MAX)),
            span.1.max(b.unwrap_or(i64::MIN)),
        );
        match &next {
            Batch::One(bars) => bars.iter().for_each(|b| note_day(b.ts)),
            Batch::Many(bars) => bars.iter().for_each(|b| note_day(b.1.ts)),
        }
        if let Batch::Many(bars) = &next {
            for (sym, _) in bars {
                if let Some(n) = per_symbol_fed.get_mut(sym.0 as usize) {
                    *n += 1;
                }
            }
            if !bar.is_hidden() {
                bar.set_message(progress_message(
                    &inputs,
                    &per_symbol_fed,
                    &per_symbol_total,
                ));
            }
        }
        // The batch is in DataManager's mailbox once sent; the next one is read while the
        // pipeline works on it (two batches held at most).
        let sent: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> = match next {
            Batch::One(bars) => Box::pin(feed.send(BarsReceived {
                symbol: messages::SymbolId(0),
                bar_secs: bar_secs[0],
                bars,
            })),
            Batch::Many(bars) => Box::pin(feed.send(MixedBarsReceived {
                bar_secs: bar_secs.clone(),
                bars,
            })),
        };
        next = feed_in.next(batch)?;
        held_max = held_max.max(n + next.len());
        let r = sent.await?;
        dropped += r.dropped;
        // Paper positions are caught up, when they open, over the prices PositionManager saw
        // after their signal's data time, which it keeps for four batches. So the signals of
        // batch k are decided while batch k + 1 is worked on, and batch k + 2 is sent only
        // once they are: a position opens at most two batches of prices late. What it
        // decides does not depend on that timing: risk is asked as of the signal's time, and
        // PositionManager has every price up to it (DataManager hands a batch's prices on
        // before its strategies see it).
        if let Some(previous) = deciding.take() {
            decided(previous).await?;
        }
        if paper && r.signals > 0 {
            deciding = Some(actix_rt::spawn(engine.settle_detected()));
        }
        bar.inc(n as u64);
    }
    if let Some(last) = deciding.take() {
        decided(last).await?;
    }
    let streams = feed_in.streams();
    if let Some(last) = streams
        .iter()
        .zip(&bar_secs)
        .filter_map(|(s, secs)| s.last_ts().map(|t| t + secs))
        .max()
    {
        engine.data.send(AdvanceClock { now: last }).await?;
    }
    engine.drain().await?;
    let wall = t1.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let lines = recorder
        .send(Finish)
        .await?
        .map_err(|source| AppError::Io {
            context: format!("cannot write {}", signals_file.display()),
            source,
        })?;
    let stats = engine.data.send(GetDataStats).await?;
    let executor = engine.executor.send(GetExecutorStats).await?;
    let restarts = engine.restarts().await?.iter().map(|(_, n)| n).sum();
    let closed = positions.send(crate::report::TakePositions).await?;
    let capital = cfg_capital;
    if paper {
        // Per instance and underlying over the replay's days, in the store.
        let offset = actors::logic::session::Session::new(&session).offset;
        let day = |ts: Option<i64>| {
            ts.and_then(|t| chrono::DateTime::from_timestamp(t + offset, 0))
                .map(|d| d.date_naive())
        };
        let (first, last) = (
            Some(span.0).filter(|t| *t != i64::MAX),
            Some(span.1).filter(|t| *t != i64::MIN),
        );
        if let (Some(start), Some(end)) = (day(first), day(last)) {
            let mut sorted: Vec<&messages::PositionRecord> = closed.iter().collect();
            sorted.sort_by_key(|r| (r.exit_time, r.position_id));
            let trades: Vec<actors::stats::performance::Trade> = sorted
                .iter()
                .map(|r| actors::stats::performance::Trade {
                    strategy: &r.strategy,
                    symbol: &r.symbol,
                    exit: r.exit_time.map_or(0, |t| t.timestamp()),
                    pnl_paise: r.net_paise(),
                })
                .collect();
            let rows = actors::stats::performance::strategy_performance(
                &trades,
                &actors::stats::performance::Period {
                    start,
                    end,
                    offset,
                    capital,
                    mode: messages::Mode::Paper,
                    computed_at: chrono::Utc::now(),
                },
            );
            let rows = rows
                .into_iter()
                .map(|r| messages::Row::Performance(Box::new(r)))
                .collect();
            if let Err(e) = engine.db.send(Persist(rows)).await? {
                log::error!("replay: strategy_performance not stored: {e}");
            }
        }
    }
    let days: Vec<chrono::NaiveDate> = days
        .iter()
        .filter_map(|d| chrono::DateTime::from_timestamp(d * 86_400, 0))
        .map(|t| t.date_naive())
        .collect();
    let writer = engine.db.send(GetWriterStats).await?;
    let store = writer.health.clone();
    let mut store_signals = Some(0u64);
    for input in &inputs {
        let n = engine
            .db
            .send(CountSignals(messages::SignalQuery {
                symbol: Some(input.symbol.clone()),
                ..Default::default()
            }))
            .await?
            .ok();
        store_signals = store_signals.zip(n).map(|(a, b)| a + b);
    }
    // The paper reports are written on a thread of their own while the engine shuts down
    // (its last commit and the store's checkpoint), which needs nothing of them.
    let reports = paper.then(|| {
        let job = crate::report::PaperReports {
            out: opts.out.clone(),
            closed,
            days,
            capital,
            day_offset,
            risk_free_pct,
            inputs: inputs.clone(),
            timeframe: tf,
            bars: fed as u64,
            strategies: strategy_names,
            settings,
        };
        actix_rt::task::spawn_blocking(move || job.write())
    });
    engine.shutdown().await;
    let paper_report =
        match reports {
            Some(job) => Some(job.await.map_err(|e| {
                AppError::Failed(format!("writing the paper reports failed: {e}"))
            })??),
            None => None,
        };
    let bars = fed as u64;
    let single = inputs.len() == 1;
    let file_rows: u64 = scans.iter().map(|s| s.counts.rows).sum();
    let rows_skipped = scans.iter().map(|s| s.counts.skipped).sum::<u64>();
    let lost = rows_skipped + dropped;
    let lost_pct = if file_rows == 0 {
        0.0
    } else {
        lost as f64 * 100.0 / file_rows as f64
    };
    let already_decided = executor
        .rejected_by_reason
        .get("already_processed")
        .copied()
        .unwrap_or(0);
    Ok(ReplaySummary {
        symbol: inputs
            .iter()
            .map(|i| i.symbol.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        bars_by_symbol: inputs
            .iter()
            .zip(streams)
            .map(|(i, s)| (i.symbol.clone(), s.counts().bars))
            .collect(),
        timeframe: tf,
        rows: file_rows,
        rows_skipped,
        skipped_examples: inputs
            .iter()
            .zip(&scans)
            .flat_map(|(i, d)| {
                d.skipped.iter().map(move |r| {
                    (
                        r.line,
                        if single {
                            r.reason.clone()
                        } else {
                            format!("{}: {}", i.symbol, r.reason)
                        },
                    )
                })
            })
            .take(SKIPPED_SHOWN)
            .collect(),
        bars,
        bars_held_max: held_max as u64,
        bars_dropped: dropped,
        lost_pct,
        complete: lost == 0 || lost_pct <= rows.max_lost_pct,
        max_lost_pct: rows.max_lost_pct,
        already_decided,
        store_signals,
        candles: stats.candles_closed,
        signals: lines,
        executor,
        restarts,
        store,
        writer,
        paper: paper_report,
        load_secs,
        wall_secs: wall,
        bars_per_sec: bars as f64 / wall.max(1e-9),
        candles_per_sec: stats.candles_closed as f64 / wall.max(1e-9),
        signals_file,
    })
}

impl ReplaySummary {
    /// The human summary printed after a replay.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "replay of {} ({}){}\n",
            self.symbol,
            self.timeframe,
            if self.complete {
                ""
            } else {
                "  — INCOMPLETE: most of the input was not replayed"
            }
        ));
        s.push_str(&format!(
            "  rows         {} in the file, {} skipped, {} dropped by the engine ({:.2}% lost{})\n",
            self.rows,
            self.rows_skipped,
            self.bars_dropped,
            self.lost_pct,
            if self.complete {
                String::new()
            } else {
                format!(", more than the {}% allowed", self.max_lost_pct)
            }
        ));
        for (line, reason) in &self.skipped_examples {
            s.push_str(&format!("                 line {line}: {reason}\n"));
        }
        if self.rows_skipped > self.skipped_examples.len() as u64 {
            s.push_str(&format!(
                "                 … and {} more skipped rows\n",
                self.rows_skipped - self.skipped_examples.len() as u64
            ));
        }
        s.push_str("  this replay (counts of this process's work):\n");
        if self.bars_by_symbol.len() > 1 {
            for (sym, n) in &self.bars_by_symbol {
                s.push_str(&format!("  symbol       {sym}: {n} bars\n"));
            }
        }
        s.push_str(&format!(
            "  bars         {} ({} dropped)\n  candles      {}\n  signals      {} → {}\n",
            self.bars,
            self.bars_dropped,
            self.candles,
            self.signals,
            self.signals_file.display()
        ));
        s.push_str(&format!(
            "  executor     received {}, logged {}, rejected {}\n",
            self.executor.received, self.executor.logged, self.executor.rejected
        ));
        if self.executor.opened > 0 {
            s.push_str(&format!(
                "               opened {} paper positions\n",
                self.executor.opened
            ));
        }
        for (reason, n) in &self.executor.rejected_by_reason {
            s.push_str(&format!("                 {reason}: {n}\n"));
        }
        if self.executor.by_strategy.len() > 1 {
            for (name, c) in &self.executor.by_strategy {
                s.push_str(&format!(
                    "  strategy     {name}: {} signals, {} logged, {} opened, {} rejected\n",
                    c.received, c.logged, c.opened, c.rejected
                ));
            }
        }
        if self.already_decided > 0 {
            s.push_str(&format!(
                "  resumed      {} signals were already decided by an earlier run: their trades are in the store, not in the figures below\n",
                self.already_decided
            ));
        }
        if let Some(p) = &self.paper {
            s.push_str(&p.render());
            s.push_str(&format!(
                "  report       {} (+ report.html, report.json, equity.csv, equity_daily.csv, equity.svg)\n",
                self.signals_file
                    .with_file_name("positions.jsonl")
                    .display()
            ));
        }
        s.push_str(&format!(
            "  wall time    {:.3} s (+ {:.3} s checking the file)\n  throughput   {:.0} bars/s, {:.0} candles/s\n",
            self.wall_secs, self.load_secs, self.bars_per_sec, self.candles_per_sec
        ));
        s.push_str(&format!(
            "  store        {}{}\n",
            self.store.backend,
            if self.store.connected {
                String::new()
            } else {
                format!(
                    " (DISCONNECTED: {} rows wait in the local outbox)",
                    self.store.outbox_pending
                )
            }
        ));
        if let Some(n) = self.store_signals {
            s.push_str(&format!(
                "  store total  {n} signals of {} (all runs)\n",
                self.symbol
            ));
        }
        if self.restarts > 0 {
            s.push_str(&format!("  restarts     {}\n", self.restarts));
        }
        s
    }
}

/// Where the bars come from: one file's stream, or several merged.
enum FeedIn {
    One(SpilledBars),
    Many(Merge<SpilledBars>),
}

/// A batch of bars for DataManager.
enum Batch {
    One(Vec<messages::Bar>),
    Many(Vec<(messages::SymbolId, messages::Bar)>),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::One(b) => b.len(),
            Batch::Many(b) => b.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FeedIn {
    fn next(&mut self, max: usize) -> Result<Batch, AppError> {
        Ok(match self {
            FeedIn::One(s) => Batch::One(s.next_batch(max)?),
            FeedIn::Many(m) => Batch::Many(m.next_batch(max)?),
        })
    }

    fn streams(&self) -> &[SpilledBars] {
        match self {
            FeedIn::One(s) => std::slice::from_ref(s),
            FeedIn::Many(m) => m.streams(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_says_how_far_each_symbol_is() {
        let input = |s: &str| ReplayInput {
            symbol: s.into(),
            path: PathBuf::from(format!("{s}.csv")),
        };
        let inputs = [input("BANKNIFTY"), input("NIFTY")];
        assert_eq!(
            progress_message(&inputs, &[250, 1000], &[1000, 1000]),
            "BANKNIFTY 25% NIFTY 100%"
        );
        assert_eq!(
            progress_message(&inputs, &[0, 0], &[0, 10]),
            "BANKNIFTY 0% NIFTY 0%"
        );
    }
}
