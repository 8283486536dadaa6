//! **SignalManager** — the lifecycle of signals: identity, persistence, publication.
//!
//! - Owns: the cache of active signals (last 24 h of data time), the set of ids seen this run,
//!   the subscriber list, and the JSON export (`signals.json`, the seed's fallback file).
//! - Handles: [`SignalsDetected`] (a batch's, from DataManager), [`SignalDetected`] (one, from
//!   a Strategy rebuilding after a restart), [`SubscribeSignals`],
//!   [`SubscribeSignalBatches`], [`SubscribeProbes`], [`GetSignals`],
//!   [`GetActiveSignals`], [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: [`PersistSignals`] and [`QuerySignals`] to DbWriter; [`SignalGenerated`] to
//!   subscribers (OptionsExecutor, recorders) — only after the DbWriter committed the signal,
//!   and in the order the signals were detected, with the DbWriter's word on whether the
//!   executor already decided it; [`SignalsPublished`] (the same, one message per commit) to
//!   batch subscribers (a replay's recorder); a [`SignalProbe`] per detection and per commit to probe
//!   subscribers (latency benchmark; none by default).
//!
//! Ids are UUID v5 over (symbol, strategy, candle time, action): a crossover detected again —
//! after a restart, or in a re-run — has the same id, so it is never published twice in a run
//! and the executor's idempotency check holds across runs.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{TimeZone, Utc};
use messages::msg::*;
use messages::{signal_id, Signal, SignalMetadata};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db_writer::DbWriter;
use crate::logic::inorder::InOrder;
use crate::metrics::{send_probes, ActorMetrics, Tracked, TrackedRecipient};
use crate::supervisor::{guard, note_restart};

const NAME: &str = "signal_manager";
const ACTIVE_WINDOW_SECS: i64 = 86_400;

/// The SignalManager actor.
pub struct SignalManager {
    db: Tracked<DbWriter>,
    /// The executor (counted in its metrics); recorders subscribe with [`SubscribeSignals`].
    executor: TrackedRecipient<SignalGenerated>,
    subscribers: Vec<Recipient<SignalGenerated>>,
    /// Told each commit's signals in one message.
    batch_subscribers: Vec<Recipient<SignalsPublished>>,
    /// Latency probes (benchmarks): told when each detection arrives.
    probes: Vec<Recipient<SignalProbe>>,
    seen: HashSet<Uuid>,
    /// Active signals by (timestamp, id), so pruning and export are ordered.
    active: BTreeMap<(i64, Uuid), Arc<Signal>>,
    /// Detected signals waiting for their commit, with (persisted, already decided) once
    /// answered.
    pending: InOrder<Arc<Signal>, (bool, Option<bool>)>,
    /// Detected, not yet sent to the DbWriter (sequence in `pending`, signal).
    unsent: Vec<(u64, Arc<Signal>)>,
    /// A persist of `unsent` is scheduled for the end of the current burst.
    persist_scheduled: bool,
    drain_waiters: Vec<oneshot::Sender<()>>,
    export_path: PathBuf,
    export_dirty: bool,
    published: u64,
    /// Signals published per strategy instance, for the metrics endpoint.
    counts: crate::metrics::trading::SignalCounts,
    restarts: u64,
    m: &'static ActorMetrics,
    /// The level of the line each signal logs (see [`SignalManager::with_event_level`]).
    event_level: log::Level,
}

impl SignalManager {
    /// A SignalManager persisting through `db` and exporting to `export_path`.
    pub fn new(
        db: Tracked<DbWriter>,
        executor: TrackedRecipient<SignalGenerated>,
        export_path: PathBuf,
        m: &'static ActorMetrics,
    ) -> Self {
        SignalManager {
            db,
            executor,
            m,
            subscribers: Vec::new(),
            batch_subscribers: Vec::new(),
            probes: Vec::new(),
            seen: HashSet::new(),
            active: BTreeMap::new(),
            pending: InOrder::default(),
            unsent: Vec::new(),
            persist_scheduled: false,
            drain_waiters: Vec::new(),
            export_path,
            export_dirty: false,
            published: 0,
            counts: Default::default(),
            restarts: 0,
            event_level: log::Level::Info,
        }
    }

    /// Counts every signal published in `counts` (the registry's, per strategy instance).
    pub fn with_signal_counts(mut self, counts: crate::metrics::trading::SignalCounts) -> Self {
        self.counts = counts;
        self
    }

    /// Logs each signal's line at `level` (`Info` by default, as a live run does; a replay,
    /// which prints a summary, asks for `Debug` unless told to be verbose).
    pub fn with_event_level(mut self, level: log::Level) -> Self {
        self.event_level = level;
        self
    }

    fn build(d: &SignalDetected) -> Option<Signal> {
        Some(Signal {
            signal_id: signal_id(&d.symbol, &d.strategy, d.timeframe, d.candle_time, d.action),
            timestamp: Utc.timestamp_opt(d.at, 0).single()?,
            symbol: d.symbol.clone(),
            strategy: d.strategy.clone(),
            action: d.action,
            price: d.price,
            stop_loss: d.stop_loss,
            target: d.target,
            confidence: d.confidence,
            expected_move_pct: d.expected_move_pct,
            metadata: SignalMetadata {
                candle_time: Utc.timestamp_opt(d.candle_time, 0).single()?,
                ema_fast: d.ema_fast,
                ema_slow: d.ema_slow,
            },
        })
    }

    fn on_detected(&mut self, d: SignalDetected, ctx: &mut Context<Self>) {
        let Some(signal) = Self::build(&d) else {
            log::error!("{NAME}: signal with an impossible time dropped: {d:?}");
            return;
        };
        if !self.seen.insert(signal.signal_id) {
            log::debug!(
                "{NAME}: {} seen before in this run; not published again",
                signal.signal_id
            );
            return;
        }
        log::log!(
            self.event_level,
            "{NAME}: {} {} {} @ {} (SL {}, target {}, strength {}, move {}%)",
            signal.signal_id,
            signal.action.as_str(),
            signal.symbol,
            signal.price,
            signal.stop_loss,
            signal.target,
            signal.confidence,
            signal.expected_move_pct
        );
        let signal = Arc::new(signal);
        self.cache(signal.clone());
        let seq = self.pending.push(signal.clone());
        self.unsent.push((seq, signal));
        if !self.persist_scheduled {
            // After the mailbox's current burst: one request for all of it. A ready future is
            // polled as soon as the mailbox is empty (a zero-delay timer waited for the
            // runtime's next millisecond tick).
            self.persist_scheduled = true;
            ctx.spawn(actix::fut::ready(()).map(|(), act: &mut Self, ctx| {
                act.persist_scheduled = false;
                act.persist(ctx);
            }));
        }
    }

    /// Asks the DbWriter to commit every signal not yet sent, in one request; on the ack,
    /// releases them (in order) with its answer of whether each was already decided. One
    /// request per burst of detections, not one per signal: actix polls every spawned future
    /// of an actor on each wake, so a future per signal costs O(n²) in a burst (measured: 1.7×
    /// the signal-heavy replay).
    fn persist(&mut self, ctx: &mut Context<Self>) {
        if self.unsent.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.unsent);
        let signals = batch.iter().map(|(_, s)| (**s).clone()).collect();
        let req = self.db.send(PersistSignals(signals));
        ctx.spawn(req.into_actor(self).map(move |res, act, _| {
            let (ok, processed) = match res {
                Ok(Ok(p)) => (true, p.filter(|p| p.len() == batch.len())),
                Ok(Err(e)) => {
                    log::error!(
                        "{NAME}: store refused {} signals: {e}; kept in {}",
                        batch.len(),
                        act.export_path.display()
                    );
                    (false, None)
                }
                Err(e) => {
                    log::error!(
                        "{NAME}: DbWriter unreachable for {} signals: {e}; kept in {}",
                        batch.len(),
                        act.export_path.display()
                    );
                    (false, None)
                }
            };
            for (i, (seq, _)) in batch.into_iter().enumerate() {
                let decided = processed.as_ref().and_then(|p| p.get(i).copied());
                act.release(seq, (ok, decided));
            }
            if !ok {
                // The seed's fallback: the JSON file has them even when the store does not.
                act.export();
            }
        }));
    }

    fn release(&mut self, seq: u64, answer: (bool, Option<bool>)) {
        let mut published = Vec::new();
        for (signal, (_persisted, processed)) in self.pending.complete(seq, answer) {
            send_probes(
                &self.probes,
                ProbeStage::Committed,
                &signal.symbol,
                signal.metadata.candle_time.timestamp(),
            );
            self.published += 1;
            self.counts.count(&signal.strategy);
            self.executor.do_send(SignalGenerated {
                signal: signal.clone(),
                processed,
            });
            for s in &self.subscribers {
                s.do_send(SignalGenerated {
                    signal: signal.clone(),
                    processed,
                });
            }
            if !self.batch_subscribers.is_empty() {
                published.push(signal);
            }
        }
        if !published.is_empty() {
            for s in &self.batch_subscribers {
                s.do_send(SignalsPublished(published.clone()));
            }
        }
        if self.pending.is_empty() {
            for w in self.drain_waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }

    fn cache(&mut self, s: Arc<Signal>) {
        let ts = s.timestamp.timestamp();
        self.active.insert((ts, s.signal_id), s);
        // Keep the last 24 h of data time.
        let latest = self.active.keys().next_back().map(|k| k.0).unwrap_or(ts);
        while let Some((&(t, _), _)) = self.active.iter().next() {
            if t >= latest - ACTIVE_WINDOW_SECS {
                break;
            }
            self.active.pop_first();
        }
        self.export_dirty = true;
    }

    /// Writes the active signals to the JSON export (atomically: temp file, then rename).
    fn export(&mut self) {
        let list: Vec<&Signal> = self.active.values().map(|s| s.as_ref()).collect();
        let res = (|| -> std::io::Result<()> {
            if let Some(dir) = self.export_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.export_path.with_extension("json.tmp");
            let body = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, body)?;
            std::fs::rename(&tmp, &self.export_path)
        })();
        match res {
            Ok(()) => self.export_dirty = false,
            Err(e) => log::error!("{NAME}: cannot write {}: {e}", self.export_path.display()),
        }
    }
}

impl Actor for SignalManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        if self.restarts == 0 {
            // Recovery: the signals of the last 24 h become the active cache again.
            let since = Utc::now().timestamp() - ACTIVE_WINDOW_SECS;
            ctx.wait(
                self.db.send(LoadRecovery { since }).into_actor(self).map(
                    |res, act, _| match res {
                        Ok(Ok(r)) => {
                            let n = r.active_signals.len();
                            for s in r.active_signals {
                                act.active
                                    .insert((s.timestamp.timestamp(), s.signal_id), Arc::new(s));
                            }
                            if n > 0 {
                                log::info!("{NAME}: recovered {n} active signals from the store");
                            }
                        }
                        Ok(Err(e)) => log::error!("{NAME}: cannot reload active signals: {e}"),
                        Err(e) => log::error!("{NAME}: DbWriter unreachable for recovery: {e}"),
                    },
                ),
            );
        }
        ctx.run_interval(Duration::from_secs(5), |act, _| {
            if act.export_dirty {
                act.export();
            }
        });
        // After a restart the request waiting for its ack was cancelled: send again every
        // signal still waiting (idempotent).
        self.persist_scheduled = false;
        self.unsent = self.pending_items();
        self.persist(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if self.export_dirty {
            self.export();
        }
    }
}

impl SignalManager {
    fn pending_items(&self) -> Vec<(u64, Arc<Signal>)> {
        self.pending
            .waiting()
            .map(|(seq, s)| (seq, s.clone()))
            .collect()
    }
}

impl Supervised for SignalManager {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
    }
}

impl Handler<SignalsDetected> for SignalManager {
    type Result = ();

    fn handle(&mut self, msg: SignalsDetected, ctx: &mut Context<Self>) {
        for d in &msg.0 {
            send_probes(&self.probes, ProbeStage::Detected, &d.symbol, d.candle_time);
        }
        guard(self.m, ctx, |ctx| {
            for d in msg.0 {
                self.on_detected(d, ctx);
            }
        });
    }
}

impl Handler<SignalDetected> for SignalManager {
    type Result = ();

    fn handle(&mut self, msg: SignalDetected, ctx: &mut Context<Self>) {
        send_probes(
            &self.probes,
            ProbeStage::Detected,
            &msg.symbol,
            msg.candle_time,
        );
        guard(self.m, ctx, |ctx| self.on_detected(msg, ctx));
    }
}

impl Handler<SubscribeProbes> for SignalManager {
    type Result = ();

    fn handle(&mut self, msg: SubscribeProbes, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.probes.push(msg.0);
    }
}

impl Handler<SubscribeSignals> for SignalManager {
    type Result = ();

    fn handle(&mut self, msg: SubscribeSignals, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.subscribers.push(msg.0);
    }
}

impl Handler<SubscribeSignalBatches> for SignalManager {
    type Result = ();

    fn handle(&mut self, msg: SubscribeSignalBatches, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.batch_subscribers.push(msg.0);
    }
}

impl Handler<GetSignals> for SignalManager {
    type Result = ResponseActFuture<Self, Result<Vec<Signal>, StoreFailure>>;

    fn handle(&mut self, msg: GetSignals, _ctx: &mut Context<Self>) -> Self::Result {
        self.m.count_handled();
        let q = msg.0.clone();
        Box::pin(self.db.send(QuerySignals(msg.0)).into_actor(self).map(
            move |res, act, _| match res {
                Ok(Ok(v)) => Ok(v),
                other => {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        Err(e) => e.to_string(),
                        Ok(Ok(_)) => String::new(),
                    };
                    log::warn!("{NAME}: store query failed ({why}); answering from the cache");
                    let mut v: Vec<Signal> = act
                        .active
                        .values()
                        .filter(|s| q.matches(s))
                        .map(|s| (**s).clone())
                        .collect();
                    v.reverse();
                    Ok(v)
                }
            },
        ))
    }
}

impl Handler<GetActiveSignals> for SignalManager {
    type Result = Vec<Signal>;

    fn handle(&mut self, _: GetActiveSignals, _ctx: &mut Context<Self>) -> Vec<Signal> {
        self.m.count_handled();
        self.active.values().map(|s| (**s).clone()).collect()
    }
}

impl Handler<InjectPanic> for SignalManager {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for SignalManager {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        self.m.count_handled();
        if self.export_dirty {
            self.export();
        }
        if self.pending.is_empty() {
            return Box::pin(async {});
        }
        // Pending signals wait for the DbWriter's commit: send what this burst detected, then
        // ask for the commit now (same sender: the Flush arrives after the Persist).
        self.persist(ctx);
        self.db.do_send(Flush);
        let (tx, rx) = oneshot::channel();
        self.drain_waiters.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<GetRestarts> for SignalManager {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.m.count_handled();
        self.restarts
    }
}
