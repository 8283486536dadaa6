//! Latency probes (`SubscribeProbes`): SignalManager reports each detection as it arrives and
//! each commit as the DbWriter acknowledges it, the executor each decision, with the instant
//! taken in their handlers — what `benches/latency.rs` measures with.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use actix::{Actor, Context, Handler, Message, MessageResult};
use actors::feed::replay::read_file;
use alphastocks::system::{Engine, EngineOptions};
use messages::msg::*;

type Seen = (ProbeStage, String, i64, Instant);

#[derive(Default)]
struct Collector {
    probes: Vec<Seen>,
    published: Vec<(String, i64)>,
    /// The same signals as told in batches ([`SignalsPublished`]), one entry per message.
    batches: Vec<Vec<(String, i64)>>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<SignalProbe> for Collector {
    type Result = ();
    fn handle(&mut self, p: SignalProbe, _: &mut Context<Self>) {
        self.probes.push((p.stage, p.symbol, p.candle_time, p.at));
    }
}

impl Handler<SignalGenerated> for Collector {
    type Result = ();
    fn handle(&mut self, s: SignalGenerated, _: &mut Context<Self>) {
        let s = &s.signal;
        self.published
            .push((s.symbol.clone(), s.metadata.candle_time.timestamp()));
    }
}

impl Handler<SignalsPublished> for Collector {
    type Result = ();
    fn handle(&mut self, b: SignalsPublished, _: &mut Context<Self>) {
        self.batches.push(
            b.0.iter()
                .map(|s| (s.symbol.clone(), s.metadata.candle_time.timestamp()))
                .collect(),
        );
    }
}

type Taken = (Vec<Seen>, Vec<(String, i64)>, Vec<Vec<(String, i64)>>);

#[derive(Message)]
#[rtype(result = "Taken")]
struct Take;

impl Handler<Take> for Collector {
    type Result = MessageResult<Take>;
    fn handle(&mut self, _: Take, _: &mut Context<Self>) -> Self::Result {
        MessageResult((
            std::mem::take(&mut self.probes),
            std::mem::take(&mut self.published),
            std::mem::take(&mut self.batches),
        ))
    }
}

#[test]
fn every_detection_and_every_decision_is_probed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sys = actix::System::new();
    sys.block_on(async {
        let data = read_file(&common::sample()).unwrap();
        let engine = Engine::start(EngineOptions {
            replay: true,
            event_level: log::Level::Debug,
            ..common::nifty_engine(common::config_in(dir.path()))
        })
        .unwrap();
        let c = Collector::default().start();
        engine
            .signals
            .send(SubscribeProbes(c.clone().recipient()))
            .await
            .unwrap();
        engine
            .executor
            .send(SubscribeProbes(c.clone().recipient()))
            .await
            .unwrap();
        engine
            .signals
            .send(SubscribeSignals(c.clone().recipient()))
            .await
            .unwrap();
        engine
            .signals
            .send(SubscribeSignalBatches(c.clone().recipient()))
            .await
            .unwrap();
        for chunk in data.bars.chunks(500) {
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
        let (probes, published, batches) = c.send(Take).await.unwrap();
        let stats = engine.executor.send(GetExecutorStats).await.unwrap();
        engine.shutdown().await;

        let of = |stage| -> Vec<&Seen> { probes.iter().filter(|p| p.0 == stage).collect() };
        let (detected, committed, decided) = (
            of(ProbeStage::Detected),
            of(ProbeStage::Committed),
            of(ProbeStage::Decided),
        );
        assert!(published.len() > 100, "{}", published.len());
        // Batch subscribers are told the same signals in the same order, a commit's worth per
        // message (never an empty one).
        assert!(batches.iter().all(|b| !b.is_empty()));
        assert_eq!(batches.concat(), published);
        // Every published signal was probed once when detected and once when decided, in the
        // order published.
        let keys =
            |v: &[&Seen]| -> Vec<(String, i64)> { v.iter().map(|p| (p.1.clone(), p.2)).collect() };
        assert_eq!(keys(&detected), published);
        assert_eq!(keys(&committed), published);
        assert_eq!(keys(&decided), published);
        assert_eq!(decided.len() as u64, stats.received);
        assert!(detected.iter().all(|p| p.1 == "NIFTY"));
        let distinct: BTreeSet<i64> = detected.iter().map(|p| p.2).collect();
        assert_eq!(distinct.len(), detected.len(), "one probe per signal");
        // A signal is committed after it was detected, and decided after its commit.
        for ((d, c), x) in detected.iter().zip(&committed).zip(&decided) {
            assert!(c.3 >= d.3, "committed before detected: {d:?} {c:?}");
            assert!(x.3 >= c.3, "decided before committed: {c:?} {x:?}");
        }
    });
}
