//! A handler of every actor panics mid-replay; each is restarted, keeps its mailbox, and the
//! pipeline goes on producing the same signals as an undisturbed run.

mod common;

use std::collections::BTreeSet;

use actix::Actor;
use actors::feed::replay::read_file;
use alphastocks::recorder::{Finish, SignalRecorder};
use alphastocks::system::Engine;
use messages::msg::*;

async fn run(dir: &std::path::Path, inject: bool) -> (Vec<(String, String)>, Vec<(String, u64)>) {
    let data = read_file(&common::sample()).unwrap();
    let engine = Engine::start(common::nifty_engine(common::config_in(dir))).unwrap();
    let out = dir.join("signals.jsonl");
    let rec = SignalRecorder::create(&out).unwrap().start();
    engine
        .signals
        .send(SubscribeSignalBatches(rec.clone().recipient()))
        .await
        .unwrap();
    let chunks: Vec<_> = data.bars.chunks(500).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        if inject && i == chunks.len() / 2 {
            engine.data.do_send(InjectPanic);
            for (_, s) in &engine.strategies {
                s.do_send(InjectPanic);
            }
            engine.signals.do_send(InjectPanic);
            engine.executor.do_send(InjectPanic);
            engine.positions.do_send(InjectPanic);
            engine.db.do_send(InjectPanic);
        }
        let r = engine
            .feed()
            .send(BarsReceived {
                symbol: messages::SymbolId(0),
                bar_secs: data.bar_secs,
                bars: chunk.to_vec(),
            })
            .await
            .expect("DataManager answers, before and after its restart");
        assert_eq!(r.accepted, chunk.len() as u64);
    }
    engine.drain().await.unwrap();
    rec.send(Finish).await.unwrap().unwrap();
    let restarts = engine.restarts().await.unwrap();
    for m in engine.metrics.snapshot() {
        let expected = restarts
            .iter()
            .find(|(n, _)| n == m.actor)
            .map(|(_, n)| *n)
            .unwrap();
        assert_eq!(m.restarts, expected, "{}", m.actor);
        if expected > 0 {
            assert!(
                m.last_error
                    .as_deref()
                    .unwrap_or("")
                    .contains("fault injected"),
                "{m:?}"
            );
        }
        assert!(m.handled > 0, "{m:?}");
        // Every message handled was counted as sent: the crash messages, the drains, the
        // queries, the restarted strategy's GetCandles, the DbWriter's flush ticks.
        assert!(m.sent >= m.handled, "sent < handled: {m:?}");
    }
    let stats = engine.executor.send(GetExecutorStats).await.unwrap();
    assert!(stats.received > 0);
    engine.shutdown().await;
    let lines = std::fs::read_to_string(out).unwrap();
    let ids = lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["signal_id"].as_str().unwrap().to_string(),
                v["timestamp"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (ids, restarts)
}

#[test]
fn every_actor_restarts_after_a_panic_and_signals_keep_coming() {
    let clean_dir = tempfile::tempdir().unwrap();
    let crash_dir = tempfile::tempdir().unwrap();
    let sys = actix::System::new();
    let (clean, none) = sys.block_on(run(clean_dir.path(), false));
    let (crashed, restarts) = sys.block_on(run(crash_dir.path(), true));

    assert!(none.iter().all(|(_, n)| *n == 0), "{none:?}");
    for (name, n) in &restarts {
        assert_eq!(*n, 1, "{name} restarted once: {restarts:?}");
    }
    // Signals after the crash point exist, and the whole set equals the undisturbed run's.
    let half = clean.len() / 2;
    assert!(crashed.len() > half);
    let a: BTreeSet<_> = clean.iter().collect();
    let b: BTreeSet<_> = crashed.iter().collect();
    assert_eq!(a, b);
    assert_eq!(crashed, clean, "and in the same order");

    // Every signal and decision reached the store despite the DbWriter's restart.
    let db = crash_dir.path().join("data/alphastocks.db");
    assert_eq!(common::count(&db, "trading_signals"), clean.len() as i64);
    assert_eq!(common::count(&db, "executor_decisions"), clean.len() as i64);
}

#[test]
fn get_signals_answers_every_filter_through_the_actor() {
    use chrono::{TimeZone, Utc};
    use messages::SignalQuery;
    let dir = tempfile::tempdir().unwrap();
    let sys = actix::System::new();
    sys.block_on(async {
        let data = read_file(&common::sample()).unwrap();
        let engine = Engine::start(common::nifty_engine(common::config_in(dir.path()))).unwrap();
        engine
            .data
            .send(BarsReceived {
                symbol: messages::SymbolId(0),
                bar_secs: data.bar_secs,
                bars: data.bars.clone(),
            })
            .await
            .unwrap();
        engine.drain().await.unwrap();
        let all = engine
            .signals
            .send(GetSignals(SignalQuery::default()))
            .await
            .unwrap()
            .unwrap();
        assert!(all.len() > 100);
        assert!(
            all.windows(2).all(|w| w[0].timestamp >= w[1].timestamp),
            "newest first"
        );
        let (start, end) = (all[all.len() - 1].timestamp, all[all.len() / 2].timestamp);
        let q = SignalQuery {
            symbol: Some("NIFTY".into()),
            strategy: Some("ma_crossover".into()),
            start: Some(start),
            end: Some(end),
        };
        let some = engine
            .signals
            .send(GetSignals(q.clone()))
            .await
            .unwrap()
            .unwrap();
        let expected: Vec<_> = all.iter().filter(|s| q.matches(s)).cloned().collect();
        assert_eq!(some, expected);
        assert!(some.len() < all.len() && !some.is_empty());
        let none = SignalQuery {
            symbol: Some("BANKNIFTY".into()),
            ..Default::default()
        };
        assert!(engine
            .signals
            .send(GetSignals(none))
            .await
            .unwrap()
            .unwrap()
            .is_empty());
        let later = SignalQuery {
            start: Some(Utc.timestamp_opt(4_000_000_000, 0).unwrap()),
            ..Default::default()
        };
        assert!(engine
            .signals
            .send(GetSignals(later))
            .await
            .unwrap()
            .unwrap()
            .is_empty());
        engine.shutdown().await;
    });
}
