//! Several strategy instances in one engine: two kinds at two timeframes over one replay, each
//! one's signals checked independently of the engine's code; a twin instance of one kind with
//! its own ids; a panic in one instance that the others do not notice.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use actix::Actor;
use actors::feed::replay::read_file;
use alphastocks::recorder::{Finish, SignalRecorder};
use alphastocks::system::Engine;
use chrono::{DateTime, FixedOffset, Timelike};
use messages::msg::*;
use messages::{Action, Mode, Signal};

/// The default config plus a 60-minute alert-candle instance and a twin of the crossover.
fn three_instances(dir: &std::path::Path) -> actors::config::Config {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.join("data").to_string_lossy().into_owned().into();
    v["strategies"]["alert_1h"] = serde_json::json!({
        "kind": "ema_5_alert_candle",
        "timeframe": "60minute",
        "historical_lookback": {"periods": 200, "min_periods": 10},
        "realtime_aggregation": {"enabled": true, "include_incomplete": false},
        "symbols": ["NIFTY"]
    });
    v["strategies"]["ma_twin"] = v["strategies"]["ma_crossover"].clone();
    v["strategies"]["ma_twin"]["kind"] = "ma_crossover".into();
    serde_json::from_value(v).unwrap()
}

fn run_replay(cfg: actors::config::Config, out: &std::path::Path) -> Vec<Signal> {
    common::replay_sample(cfg, out, Mode::Logging);
    std::fs::read_to_string(out.join("signals.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of(signals: &[Signal], strategy: &str) -> Vec<Signal> {
    signals
        .iter()
        .filter(|s| s.strategy == strategy)
        .cloned()
        .collect()
}

/// (candle time, action, price, stop, target): what a signal says, without its id.
fn levels(s: &Signal) -> (i64, Action, String, String, String) {
    (
        s.metadata.candle_time.timestamp(),
        s.action,
        format!("{:.2}", s.price),
        format!("{:.2}", s.stop_loss),
        format!("{:.2}", s.target),
    )
}

/// An hourly candle built here from the sample's 15-minute bars: (open time, high, low, close).
type Hour = (i64, f64, f64, f64);

/// The sample aggregated to hours aligned to 09:15 IST (the last one of a day is 15:15–15:30).
fn hours() -> Vec<Hour> {
    let text = std::fs::read_to_string(common::sample()).unwrap();
    let mut out: BTreeMap<i64, Hour> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let t = DateTime::<FixedOffset>::parse_from_rfc3339(f[0]).unwrap();
        let (h, l, c): (f64, f64, f64) = (
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
        );
        let mins = (t.hour() * 60 + t.minute()) as i64 - (9 * 60 + 15);
        let start = t.timestamp() - (mins % 60) * 60 - t.second() as i64;
        let e = out.entry(start).or_insert((start, h, l, c));
        e.1 = e.1.max(h);
        e.2 = e.2.min(l);
        e.3 = c;
    }
    out.into_values().collect()
}

fn tick(x: f64) -> f64 {
    (x * 20.0).round() / 20.0
}

#[test]
fn two_kinds_at_two_timeframes_each_signal_as_worked_out_independently() {
    let dir = tempfile::tempdir().unwrap();
    let all = run_replay(three_instances(dir.path()), &dir.path().join("a"));
    let again = std::fs::read(dir.path().join("a/signals.jsonl")).unwrap();
    run_replay(three_instances(dir.path()), &dir.path().join("b"));
    assert_eq!(
        again,
        std::fs::read(dir.path().join("b/signals.jsonl")).unwrap(),
        "byte-identical across runs"
    );

    // The crossover instance signals exactly as it does alone.
    let alone_dir = tempfile::tempdir().unwrap();
    let alone = run_replay(
        common::config_in(alone_dir.path()),
        &alone_dir.path().join("a"),
    );
    let cross = of(&all, "ma_crossover");
    assert!(!cross.is_empty());
    assert_eq!(
        cross.iter().map(levels).collect::<Vec<_>>(),
        alone.iter().map(levels).collect::<Vec<_>>()
    );
    assert_eq!(
        cross.iter().map(|s| s.signal_id).collect::<Vec<_>>(),
        alone.iter().map(|s| s.signal_id).collect::<Vec<_>>(),
        "the same instance, the same ids"
    );

    // Its twin says the same things under ids of its own.
    let twin = of(&all, "ma_twin");
    assert_eq!(
        twin.iter().map(levels).collect::<Vec<_>>(),
        cross.iter().map(levels).collect::<Vec<_>>()
    );
    let ids: BTreeSet<_> = all.iter().map(|s| s.signal_id).collect();
    assert_eq!(ids.len(), all.len(), "no id shared across instances");

    // Signals reach the store and the executor in time order across instances.
    assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));

    // The alert-candle instance, checked on hours built here: every signal's trigger candle
    // breaks an earlier alert candle's extreme (the entry), the stop is the extreme of the
    // trigger and the two candles before it, the target three times the risk away.
    let alert = of(&all, "alert_1h");
    let hours = hours();
    let closes: Vec<f64> = hours.iter().map(|h| h.3).collect();
    let mut ema = vec![f64::NAN; closes.len()];
    for i in 4..closes.len() {
        ema[i] = if i == 4 {
            closes[..5].iter().sum::<f64>() / 5.0
        } else {
            ema[i - 1] + (closes[i] - ema[i - 1]) / 3.0
        };
    }
    let (mut buys, mut sells) = (0, 0);
    for s in &alert {
        let i = hours
            .iter()
            .position(|h| h.0 == s.metadata.candle_time.timestamp())
            .unwrap_or_else(|| panic!("no hour at {}", s.metadata.candle_time));
        let (_, high, low, _) = hours[i];
        let window = &hours[i - 2..=i];
        let entry = s.price;
        match s.action {
            Action::Sell => {
                sells += 1;
                assert!(low < entry, "{s:?}");
                let stop = tick(window.iter().map(|h| h.1).fold(f64::MIN, f64::max));
                assert_eq!(s.stop_loss, stop, "{s:?}");
                assert_eq!(s.target, tick(entry - 3.0 * (stop - entry)), "{s:?}");
                // The alert candle: an earlier hour wholly above its EMA, whose low is the entry.
                assert!(
                    (0..i).any(|k| hours[k].2 == entry && hours[k].2 > ema[k] * (1.0 + 0.0005)),
                    "{s:?}"
                );
            }
            Action::Buy => {
                buys += 1;
                assert!(high > entry, "{s:?}");
                let stop = tick(window.iter().map(|h| h.2).fold(f64::MAX, f64::min));
                assert_eq!(s.stop_loss, stop, "{s:?}");
                assert_eq!(s.target, tick(entry + 3.0 * (entry - stop)), "{s:?}");
                assert!(
                    (0..i).any(|k| hours[k].1 == entry && hours[k].1 < ema[k] * (1.0 - 0.0005)),
                    "{s:?}"
                );
            }
        }
    }
    assert!(buys > 5 && sells > 5, "{buys} buys, {sells} sells");
}

/// A logging replay of the sample through an engine with the crossover and its twin; with
/// `crash`, the twin panics half-way. Returns the signals (instance, id) and the restarts.
async fn twins(dir: &std::path::Path, crash: bool) -> (Vec<(String, String)>, Vec<(String, u64)>) {
    let data = read_file(&common::sample()).unwrap();
    let mut cfg = three_instances(dir);
    cfg.strategies.0.remove("alert_1h");
    let engine = Engine::start(common::nifty_engine(cfg)).unwrap();
    let out = dir.join("signals.jsonl");
    let rec = SignalRecorder::create(&out).unwrap().start();
    engine
        .signals
        .send(SubscribeSignalBatches(rec.clone().recipient()))
        .await
        .unwrap();
    let chunks: Vec<_> = data.bars.chunks(500).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        if crash && i == chunks.len() / 2 {
            let (_, twin) = engine
                .strategies
                .iter()
                .find(|(n, _)| n == "ma_twin")
                .unwrap();
            twin.do_send(InjectPanic);
        }
        engine
            .feed()
            .send(BarsReceived {
                symbol: messages::SymbolId(0),
                bar_secs: data.bar_secs,
                bars: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    engine.drain().await.unwrap();
    rec.send(Finish).await.unwrap().unwrap();
    let restarts = engine.restarts().await.unwrap();
    let rows = engine.metrics.snapshot();
    assert!(rows
        .iter()
        .any(|m| m.actor == "strategy:ma_twin" && m.handled > 0));
    engine.shutdown().await;
    let signals = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["strategy"].as_str().unwrap().to_string(),
                v["signal_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (signals, restarts)
}

#[test]
fn a_panic_in_one_instance_restarts_that_one_and_the_others_do_not_notice() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sys = actix::System::new();
    let (clean, _) = sys.block_on(twins(a.path(), false));
    let (crashed, restarts) = sys.block_on(twins(b.path(), true));
    let of = |name: &str| restarts.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(of("strategy:ma_twin"), 1, "{restarts:?}");
    assert_eq!(of("strategy:ma_crossover"), 0, "{restarts:?}");
    assert!(restarts
        .iter()
        .filter(|(n, _)| n != "strategy:ma_twin")
        .all(|(_, k)| *k == 0));
    // The twin rebuilt from the history and missed nothing; the other never stopped and kept
    // its order.
    let set = |v: &[(String, String)]| v.iter().cloned().collect::<BTreeSet<_>>();
    let only = |v: &[(String, String)], name: &str| -> Vec<String> {
        v.iter()
            .filter(|(s, _)| s == name)
            .map(|(_, id)| id.clone())
            .collect()
    };
    assert!(
        set(&crashed) == set(&clean),
        "{} signals after the crash, {} without",
        crashed.len(),
        clean.len()
    );
    assert!(only(&crashed, "ma_crossover") == only(&clean, "ma_crossover"));
    assert!(!only(&clean, "ma_twin").is_empty());
}

#[test]
fn paper_results_break_down_per_instance_and_add_up_to_the_paisa() {
    let dir = tempfile::tempdir().unwrap();
    let summary = common::replay_sample(
        three_instances(dir.path()),
        &dir.path().join("out"),
        Mode::Paper,
    );
    let report = summary.paper.expect("a paper report");
    let names: Vec<&str> = report.by_strategy.keys().map(String::as_str).collect();
    assert_eq!(names, ["alert_1h", "ma_crossover", "ma_twin"], "{report:?}");
    let paise = |x: f64| (x * 100.0).round() as i64;
    assert_eq!(
        report.by_strategy.values().map(|r| r.trades).sum::<u64>(),
        report.trades
    );
    assert_eq!(
        report
            .by_strategy
            .values()
            .map(|r| paise(r.total_pnl))
            .sum::<i64>(),
        paise(report.total_pnl)
    );
    // Every line of positions.jsonl names its instance, and its P&L adds up per instance.
    let mut per: BTreeMap<String, i64> = BTreeMap::new();
    for l in std::fs::read_to_string(dir.path().join("out/positions.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *per.entry(v["strategy"].as_str().unwrap().to_string())
            .or_default() += paise(v["net_pnl"].as_f64().unwrap());
    }
    for (name, r) in &report.by_strategy {
        assert_eq!(per[name], paise(r.total_pnl), "{name}");
    }
    // The store keeps the instance with every position version.
    let db = rusqlite::Connection::open(dir.path().join("data/alphastocks.db")).unwrap();
    let blank: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM positions WHERE json_extract(body, '$.strategy') IS NULL OR json_extract(body, '$.strategy') = ''",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(blank, 0);
    // strategy_performance: one row per instance on NIFTY over the replay's days, agreeing
    // with the report to the paisa.
    let mut st = db
        .prepare(
            "SELECT strategy, symbol, mode, period_start, period_end, total_trades, winning_trades,
             losing_trades, total_pnl, win_rate FROM strategy_performance ORDER BY strategy",
        )
        .unwrap();
    type PerfRow = (
        String,
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        f64,
        f64,
    );
    let rows: Vec<PerfRow> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let bars = read_file(&common::sample()).unwrap().bars;
    let ist = |ts: i64| {
        DateTime::from_timestamp(ts + 19_800, 0)
            .unwrap()
            .date_naive()
            .to_string()
    };
    let (first, last) = (ist(bars[0].ts), ist(bars[bars.len() - 1].ts));
    assert_eq!(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), names);
    for r in &rows {
        let rep = &report.by_strategy[&r.0];
        assert_eq!((r.1.as_str(), r.2.as_str()), ("NIFTY", "paper"));
        assert_eq!((&r.3, &r.4), (&first, &last));
        assert_eq!((r.5 as u64, r.6 as u64), (rep.trades, rep.wins), "{}", r.0);
        assert!(r.5 >= r.6 + r.7);
        assert_eq!(paise(r.8), paise(rep.total_pnl), "{}", r.0);
        assert!((r.9 - rep.wins as f64 * 100.0 / rep.trades as f64).abs() < 1e-9);
    }
    // report.json breaks the tearsheet down per instance; the nets add up to the total.
    let tear: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    let by = tear["by_strategy"].as_object().unwrap();
    assert_eq!(by.keys().map(String::as_str).collect::<Vec<_>>(), names);
    let sum: i64 = by
        .values()
        .map(|b| paise(b["net_pnl"].as_f64().unwrap()))
        .sum();
    assert_eq!(sum, paise(tear["net_pnl"].as_f64().unwrap()));
    assert!(tear.get("by_underlying").is_none(), "one underlying");
}

#[test]
fn an_instance_keeps_to_its_own_risk_limits_inside_the_global_ones() {
    // A twin of the crossover (the same signals) limited to one open position and half the
    // risk per trade; the original keeps the global limits (10 positions, 2 %).
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("config/paper.json")).unwrap(),
    )
    .unwrap();
    v["storage"]["data_dir"] = dir
        .path()
        .join("data")
        .to_string_lossy()
        .into_owned()
        .into();
    v["strategies"]["ma_twin"] = v["strategies"]["ma_crossover"].clone();
    v["strategies"]["ma_twin"]["kind"] = "ma_crossover".into();
    v["options_trading"]["risk_management"]["max_concurrent_positions"] = 10.into();
    v["strategies"]["ma_twin"]["risk"] =
        serde_json::json!({"max_concurrent_positions": 1, "risk_per_trade_pct": 1.0});
    let cfg: actors::config::Config = serde_json::from_value(v).unwrap();
    let summary = common::replay_sample(cfg, &dir.path().join("out"), Mode::Paper);

    let mut by: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for l in std::fs::read_to_string(dir.path().join("out/positions.jsonl"))
        .unwrap()
        .lines()
    {
        let p: serde_json::Value = serde_json::from_str(l).unwrap();
        by.entry(p["strategy"].as_str().unwrap().into())
            .or_default()
            .push(p);
    }
    let time = |p: &serde_json::Value, f: &str| {
        DateTime::parse_from_rfc3339(p[f].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    // The twin never holds two positions at once.
    let mut twin = by["ma_twin"].clone();
    twin.sort_by_key(|p| time(p, "entry_time"));
    assert!(twin.len() > 5, "{}", twin.len());
    for w in twin.windows(2) {
        assert!(
            time(&w[1], "entry_time") >= time(&w[0], "exit_time"),
            "overlap: {} and {}",
            w[0]["position_id"],
            w[1]["position_id"]
        );
    }
    // ... while the original, on the same signals, sometimes did.
    let mut orig = by["ma_crossover"].clone();
    orig.sort_by_key(|p| time(p, "entry_time"));
    let overlapped = orig
        .windows(2)
        .any(|w| time(&w[1], "entry_time") < time(&w[0], "exit_time"));
    let counts = &summary.executor.by_strategy;
    let limited = counts["ma_twin"]
        .rejected_by_reason
        .get("strategy_max_positions")
        .copied()
        .unwrap_or(0);
    assert!(limited > 0, "{counts:?}");
    assert!(!counts["ma_crossover"]
        .rejected_by_reason
        .contains_key("strategy_max_positions"));
    assert!(overlapped || limited == 0, "the limit never bound");
    // Half the risk: on the same signal the twin takes at most the original's lots, and fewer
    // where the risk budget (not a cap) decided.
    let orig_lots: BTreeMap<String, u64> = orig
        .iter()
        .map(|p| {
            (
                format!("{}{}", p["entry_time"], p["option_symbol"]),
                p["lots"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut fewer = 0;
    for p in &twin {
        let key = format!("{}{}", p["entry_time"], p["option_symbol"]);
        if let Some(o) = orig_lots.get(&key) {
            let t = p["lots"].as_u64().unwrap();
            assert!(t <= *o, "{key}: twin {t} lots, original {o}");
            fewer += u64::from(t < *o);
        }
    }
    assert!(fewer > 0);
    // Every decision row names its instance.
    let db = rusqlite::Connection::open(dir.path().join("data/alphastocks.db")).unwrap();
    let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        q("SELECT COUNT(*) FROM executor_decisions WHERE strategy = ''"),
        0
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM executor_decisions WHERE strategy = 'ma_twin' AND reason = 'strategy_max_positions'"),
        limited as i64
    );
}
