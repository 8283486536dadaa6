//! Latency of the engine's signal path, in process, under a steady tick rate.
//!
//! Starts the real actors (`Engine::start`: DataManager, one Strategy, SignalManager,
//! OptionsExecutor in logging mode, PositionManager, DbWriter on SQLite in a temporary
//! directory) and feeds simulated ticks (seeded GBM, one tick per symbol per data second) at
//! 100 000 ticks/s in total, in a batch every millisecond, at 1 symbol and at 1 000 symbols.
//! The strategy is an EMA 3/8 crossover on 1-minute candles, closed candles only, so a signal
//! is raised by the tick that closes a candle (the first tick of the next minute). Two
//! latencies per signal, from the moment that tick's batch was handed to DataManager:
//!
//! - **detected**: until SignalManager handles the batch's `SignalsDetected` (DataManager's
//!   one message with every instance's detections of the batch);
//! - **decided**: until the executor decides the signal — after SignalManager had it committed
//!   by DbWriter and published it. The commit's instant (DbWriter's ack back at SignalManager)
//!   is printed too, to tell the store's share from the executor's.
//!
//! Both instants are taken inside the actors' handlers and reported through `SubscribeProbes`
//! (sent only to subscribers; nothing is measured or sent without one). Each size runs with
//! `storage.flush_interval_ms` 1 and with the default 200: DbWriter commits a signal as soon
//! as its mailbox is empty, so the interval should not matter (it did before group commit).
//!
//! The feeder (and the probes' collector) runs on the pipeline's thread, where `run`'s
//! simulated feed runs: no cross-thread wake-up between the feed and DataManager. With
//! `--feed-on-system` it runs on the System's thread instead (where the feeds ran before),
//! so each batch crosses to the pipeline's thread.
//!
//! Run: `cargo bench --bench latency` (optionally `-- SECONDS [--feed-on-system]
//! [--symbols N] [--flush MS]`: seconds per case, default 20; only the cases of N symbols,
//! of flush interval MS). At 1 000 symbols a run needs ≥ 15 s: the EMA 3/8 signals after 8
//! closed 1-minute candles per symbol, and 100 000 ticks/s over 1 000 symbols is 100 data
//! seconds per wall second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler, Message, MessageResult};
use actors::config::{Config, StorageBackend};
use actors::feed::sim::SimMarket;
use actors::logic::session::Session;
use actors::options_executor::Clock;
use alphastocks::system::{Engine, EngineOptions};
use messages::msg::*;
use messages::{Mode, Symbols, Tick};

const RATE: f64 = 100_000.0;
/// Epoch seconds of 2024-01-01 00:00 UTC: the simulated market starts at that day's open.
const START: i64 = 1_704_067_200;

type Probed = Vec<(String, i64, Instant)>;

/// Records the probes' instants, keyed by (symbol, candle open time).
#[derive(Default)]
struct Collector {
    detected: Probed,
    committed: Probed,
    decided: Probed,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<SignalProbe> for Collector {
    type Result = ();
    fn handle(&mut self, p: SignalProbe, _: &mut Context<Self>) {
        let v = match p.stage {
            ProbeStage::Detected => &mut self.detected,
            ProbeStage::Committed => &mut self.committed,
            ProbeStage::Decided => &mut self.decided,
        };
        v.push((p.symbol, p.candle_time, p.at));
    }
}

#[derive(Message)]
#[rtype(result = "Collector")]
struct Take;

impl Handler<Take> for Collector {
    type Result = MessageResult<Take>;
    fn handle(&mut self, _: Take, _: &mut Context<Self>) -> Self::Result {
        MessageResult(std::mem::take(self))
    }
}

fn config(n: usize, dir: &std::path::Path, flush_ms: u64) -> Config {
    let mut v: serde_json::Value = serde_json::from_str(actors::config::DEFAULT_JSON).unwrap();
    let names: Vec<String> = (1..=n).map(|i| format!("S{i:04}")).collect();
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(names);
    v["options_trading"]["entry_filters"]["min_signal_strength"] = serde_json::json!(0.0);
    v["options_trading"]["entry_filters"]["min_expected_move_pct"] = serde_json::json!(0.0);
    let spec =
        serde_json::json!({"lot_size": 65, "strike_step": 50, "tick_size": 0.05, "weekly": true});
    v["instruments"]["underlyings"] =
        serde_json::Value::Object(names.iter().map(|s| (s.clone(), spec.clone())).collect());
    v["feed"]["simulated"]["start_prices"] = serde_json::Value::Object(
        names
            .iter()
            .map(|s| (s.clone(), serde_json::json!(24000.0)))
            .collect(),
    );
    v["strategies"] = serde_json::json!({
        "ma_crossover": {
            "timeframe": "minute",
            "historical_lookback": {"periods": 100, "min_periods": 8},
            "realtime_aggregation": {"enabled": true, "include_incomplete": false},
            "parameters": {"fast_period": 3, "slow_period": 8, "stop_loss_pct": 1.0}
        }
    });
    v["storage"]["data_dir"] = serde_json::json!(dir);
    v["storage"]["flush_interval_ms"] = serde_json::json!(flush_ms);
    v["metrics"]["persist_every_seconds"] = serde_json::json!(0);
    Config::parse(&v.to_string(), std::path::Path::new("bench")).unwrap()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// What the feeder recorded.
struct Fed {
    /// Each batch sent: its last tick's (data time, symbol) and when it was handed over.
    sent_at: Vec<((i64, u16), Instant)>,
    /// Every step's data time.
    steps: Vec<i64>,
    /// A no-op round trip to DataManager, every 10 ms.
    round_trips: Vec<Duration>,
    wall: Duration,
}

/// Feeds `total` ticks of `market` at `RATE`: every millisecond the ticks due by then, in
/// one batch.
async fn feed_ticks(
    feed: actors::metrics::Tracked<actors::data_manager::DataManager>,
    mut market: SimMarket,
    n: usize,
    total: u64,
) -> Fed {
    let mut sent_at: Vec<((i64, u16), Instant)> = Vec::new();
    let mut steps: Vec<i64> = Vec::new();
    let mut step: Vec<Tick> = Vec::with_capacity(n);
    let mut pending = std::collections::VecDeque::<Tick>::new();
    let mut ticker = actix_rt::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut round_trips: Vec<Duration> = Vec::new();
    let mut beat = 0u64;
    while sent < total {
        ticker.tick().await;
        beat += 1;
        if beat % 10 == 0 {
            let t = Instant::now();
            feed.addr().send(Drain).await.unwrap();
            round_trips.push(t.elapsed());
        }
        let due = ((t0.elapsed().as_secs_f64() * RATE) as u64).min(total);
        if due <= sent {
            continue;
        }
        let k = (due - sent) as usize;
        let mut batch = Vec::with_capacity(k);
        while batch.len() < k {
            if pending.is_empty() {
                step.clear();
                market.step(&mut step);
                steps.extend(step.first().map(|t| t.ts));
                pending.extend(step.iter().copied());
            }
            let take = (k - batch.len()).min(pending.len());
            batch.extend(pending.drain(..take));
        }
        sent += k as u64;
        let last = batch.last().map(|t| (t.ts, t.symbol.0)).unwrap_or((0, 0));
        let at = Instant::now();
        feed.do_send(TicksReceived(batch));
        sent_at.push((last, at));
    }
    Fed {
        sent_at,
        steps,
        round_trips,
        wall: t0.elapsed(),
    }
}

/// One case: `n` symbols for `secs` seconds; prints the percentiles. With `on_pipeline` the
/// feeder (and the probes' collector) run on the pipeline's thread, else on the System's.
async fn case(n: usize, secs: f64, flush_ms: u64, on_pipeline: bool) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(n, dir.path(), flush_ms);
    let symbols = Symbols::new(cfg.options_trading.entry_filters.valid_underlyings.clone());
    let session = Session::new(&cfg.market.session().unwrap());
    let engine = Engine::start(EngineOptions {
        config: cfg.clone(),
        symbols: symbols.clone(),
        mode: Mode::Logging,
        clock: Clock::Data,
        load_history: false,
        persist_candles: cfg.storage.persist_candles,
        backend: StorageBackend::Sqlite,
        metrics: true,
        broker: None,
        replay: false,
        event_level: log::Level::Info,
    })
    .unwrap();
    let collector = if on_pipeline {
        Collector::start_in_arbiter(&engine.pipeline_arbiter(), |_| Collector::default())
    } else {
        Collector::default().start()
    };
    engine
        .signals
        .send(SubscribeProbes(collector.clone().recipient()))
        .await
        .unwrap();
    engine
        .executor
        .send(SubscribeProbes(collector.clone().recipient()))
        .await
        .unwrap();

    let market = SimMarket::new(7, session, 0.15, 1, vec![24000.0; n], START);
    let total = (RATE * secs) as u64;
    let fed = if on_pipeline {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let feed = engine.feed();
        engine.pipeline_arbiter().spawn(async move {
            let _ = tx.send(feed_ticks(feed, market, n, total).await);
        });
        rx.await.unwrap()
    } else {
        feed_ticks(engine.feed(), market, n, total).await
    };
    let Fed {
        sent_at,
        steps,
        mut round_trips,
        wall,
    } = fed;
    engine.drain().await.unwrap();
    let Collector {
        detected,
        committed,
        decided,
    } = collector.send(Take).await.unwrap();
    let stats = engine.data.send(GetDataStats).await.unwrap();
    let w = engine.db.send(GetWriterStats).await.unwrap();
    let actors = engine.metrics.snapshot();
    engine.shutdown().await;

    // The tick that closes symbol s's 1-minute candle opened at c is s's first tick at or
    // after c + 60 (every step has a tick of every symbol, in symbol order): it is in the
    // first batch whose last tick is at or after (that step's time, s).
    let ids: HashMap<&str, u16> = symbols.iter().map(|(id, s)| (s, id.0)).collect();
    let origin = |sym: &str, c: i64| {
        let s = *ids.get(sym)?;
        let step = *steps.get(steps.partition_point(|t| *t < c + 60))?;
        let i = sent_at.partition_point(|(key, _)| *key < (step, s));
        sent_at.get(i).map(|(_, at)| *at)
    };
    let lat = |v: &[(String, i64, Instant)]| {
        let mut d: Vec<Duration> = v
            .iter()
            .filter_map(|(s, c, at)| origin(s, *c).map(|o| at.saturating_duration_since(o)))
            .collect();
        d.sort();
        d
    };
    let (det, com, dec) = (lat(&detected), lat(&committed), lat(&decided));
    // Signals come in bursts (every symbol's candle closes on the same minute): the slowest
    // decision of each minute tells a one-off stall from a steady cost.
    let mut minutes: std::collections::BTreeMap<i64, Duration> = Default::default();
    for (s, c, at) in &decided {
        if let Some(o) = origin(s, *c) {
            let e = minutes.entry(*c).or_default();
            *e = (*e).max(at.saturating_duration_since(o));
        }
    }
    let over = minutes
        .values()
        .filter(|d| **d > Duration::from_millis(2))
        .count();
    round_trips.sort();
    println!(
        "{n:>5} symbols, flush {flush_ms:>3} ms{}: {} ticks in {:.2} s ({:.0}/s), {} candles; \
         tick→detected n={} p50 {} p99 {} max {}; tick→decided n={} p50 {} p99 {} max {}",
        if on_pipeline {
            ""
        } else {
            ", feed on the System's thread"
        },
        stats.ticks,
        wall.as_secs_f64(),
        stats.ticks as f64 / wall.as_secs_f64(),
        stats.candles_closed,
        det.len(),
        fmt(pct(&det, 0.50)),
        fmt(pct(&det, 0.99)),
        fmt(pct(&det, 1.0)),
        dec.len(),
        fmt(pct(&dec, 0.50)),
        fmt(pct(&dec, 0.99)),
        fmt(pct(&dec, 1.0)),
    );
    println!(
        "{:>21}  tick→committed p50 {} p99 {}; round trip to DataManager (no-op) p50 {} p99 {}; \
         DbWriter: {} commits, mean {} each; slowest decision of a minute over 2 ms in {} of {} \
         minutes (worst {})",
        "",
        fmt(pct(&com, 0.50)),
        fmt(pct(&com, 0.99)),
        fmt(pct(&round_trips, 0.50)),
        fmt(pct(&round_trips, 0.99)),
        w.commits,
        fmt(Duration::from_micros(w.commit_micros / w.commits.max(1))),
        over,
        minutes.len(),
        fmt(minutes.values().max().copied().unwrap_or_default()),
    );
    // Handler time and time in mailbox, sampled 1 message in 64 (DataManager's handler time
    // is the ingest; its hand-off to the instances is not in it).
    let ns = Duration::from_nanos;
    for a in actors.iter().filter(|a| a.latency_samples > 0) {
        println!(
            "{:>21}  {:<20} handler p50 {} p99 {}; in mailbox p50 {} p99 {} ({} sampled)",
            "",
            a.actor,
            fmt(ns(a.latency_p50_ns)),
            fmt(ns(a.latency_p99_ns)),
            fmt(ns(a.mailbox_p50_ns)),
            fmt(ns(a.mailbox_p99_ns)),
            a.latency_samples,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Seconds: the first number that is not a flag's value.
    let secs: f64 = (0..args.len())
        .filter(|&i| i == 0 || !matches!(args[i - 1].as_str(), "--symbols" | "--flush"))
        .find_map(|i| args[i].parse().ok())
        .unwrap_or(20.0);
    let on_pipeline = !args.iter().any(|a| a == "--feed-on-system");
    let after = |flag: &str| -> Option<u64> {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1)?.parse().ok()
    };
    let (only_n, only_flush) = (after("--symbols"), after("--flush"));
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", load.trim());
    }
    actix::System::new().block_on(async move {
        for (n, flush) in [(1, 1), (1000, 1), (1, 200), (1000, 200)] {
            if only_n.is_some_and(|o| o != n as u64) || only_flush.is_some_and(|f| f != flush) {
                continue;
            }
            case(n, secs, flush, on_pipeline).await;
        }
    });
}
