//! **OptionsExecutor** — validates each new signal and acts on it according to the mode.
//!
//! - Owns: the entry rules (seed §4.6), the engine clock (data time in replay and simulation),
//!   the ids it has decided on, its counters by outcome and rejection reason.
//! - Handles: [`SignalGenerated`] (from SignalManager), [`SubscribeActivations`],
//!   [`GetExecutorStats`], [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: [`IsSignalProcessed`] and [`Persist`] (its decision) to DbWriter;
//!   [`SignalActivated`] to subscribers (PositionManager).
//!
//! Checks, in order: already processed (asked of the store, and of what this run decided),
//! trading enabled, underlying in `valid_underlyings`, age ≤ 24 h by the engine clock,
//! `min_signal_strength`, `min_expected_move_pct`, `max_concurrent_positions`. Signals are
//! decided strictly in the order they arrive even though the store answers asynchronously.
//!
//! Logging-only mode logs the would-be trade and places nothing ("No order placed
//! (logging)"). Strike selection, sizing and paper/live execution come with the options issue.

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{TimeZone, Utc};
use messages::msg::*;
use messages::{ExecutorDecision, ExecutorStats, Mode, Outcome, RejectReason, Row, Signal};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db_writer::DbWriter;
use crate::logic::inorder::InOrder;
use crate::supervisor::{guard, note_restart};

const NAME: &str = "options_executor";
/// Decisions of the last this-many days are preloaded at start.
const RECOVERY_DAYS: i64 = 7;

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The latest data time seen (replay, simulation).
    Data,
    /// The machine's clock (live feeds).
    Wall,
}

/// The executor's rules.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub enabled: bool,
    pub mode: Mode,
    pub valid_underlyings: HashSet<String>,
    pub min_signal_strength: f64,
    pub min_expected_move_pct: f64,
    pub max_concurrent_positions: u32,
    pub max_age_secs: i64,
    pub clock: Clock,
}

/// The OptionsExecutor actor.
pub struct OptionsExecutor {
    cfg: ExecutorConfig,
    db: Addr<DbWriter>,
    subscribers: Vec<Recipient<SignalActivated>>,
    stats: ExecutorStats,
    decided: HashSet<Uuid>,
    /// Signals waiting for the store's answer, with the engine time at their arrival.
    pending: InOrder<(Arc<Signal>, i64), Result<bool, String>>,
    drain_waiters: Vec<oneshot::Sender<()>>,
    data_now: i64,
    open_positions: u32,
    restarts: u64,
}

impl OptionsExecutor {
    /// An executor with `cfg`, asking and writing through `db`.
    pub fn new(cfg: ExecutorConfig, db: Addr<DbWriter>) -> Self {
        OptionsExecutor {
            cfg,
            db,
            subscribers: Vec::new(),
            stats: ExecutorStats::default(),
            decided: HashSet::new(),
            pending: InOrder::default(),
            drain_waiters: Vec::new(),
            data_now: i64::MIN,
            open_positions: 0,
            restarts: 0,
        }
    }

    fn on_signal(&mut self, s: Arc<Signal>, ctx: &mut Context<Self>) {
        self.stats.received += 1;
        self.data_now = self.data_now.max(s.timestamp.timestamp());
        log::debug!(
            "{NAME}: received {} {} {}",
            s.signal_id,
            s.action.as_str(),
            s.symbol
        );
        let seq = self.pending.push((s.clone(), self.now()));
        self.ask_store(seq, s.signal_id, ctx);
    }

    fn ask_store(&mut self, seq: u64, id: Uuid, ctx: &mut Context<Self>) {
        let req = self.db.send(IsSignalProcessed(id));
        ctx.spawn(req.into_actor(self).map(move |res, act, _| {
            let r = match res {
                Ok(Ok(b)) => Ok(b),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            for ((signal, at), answer) in act.pending.complete(seq, r) {
                act.decide(&signal, at, answer);
            }
            if act.pending.is_empty() {
                for w in act.drain_waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        }));
    }

    fn now(&self) -> i64 {
        match self.cfg.clock {
            Clock::Data => self.data_now,
            Clock::Wall => Utc::now().timestamp(),
        }
    }

    /// The entry rules, judged at engine time `now`; `Ok(())` means valid.
    fn validate(
        &self,
        s: &Signal,
        now: i64,
        in_store: Result<bool, String>,
    ) -> Result<(), RejectReason> {
        match in_store {
            Ok(true) => return Err(RejectReason::AlreadyProcessed),
            Ok(false) => {}
            Err(e) => {
                log::error!("{NAME}: cannot ask the store about {}: {e}", s.signal_id);
                return Err(RejectReason::StoreUnavailable);
            }
        }
        if self.decided.contains(&s.signal_id) {
            return Err(RejectReason::AlreadyProcessed);
        }
        if !self.cfg.enabled {
            return Err(RejectReason::TradingDisabled);
        }
        if !self.cfg.valid_underlyings.contains(&s.symbol) {
            return Err(RejectReason::InvalidUnderlying);
        }
        if now - s.timestamp.timestamp() > self.cfg.max_age_secs {
            return Err(RejectReason::TooOld);
        }
        if s.confidence < self.cfg.min_signal_strength {
            return Err(RejectReason::WeakSignal);
        }
        if s.expected_move_pct < self.cfg.min_expected_move_pct {
            return Err(RejectReason::SmallExpectedMove);
        }
        if self.open_positions >= self.cfg.max_concurrent_positions {
            return Err(RejectReason::MaxPositions);
        }
        Ok(())
    }

    fn decide(&mut self, s: &Arc<Signal>, now: i64, in_store: Result<bool, String>) {
        let verdict = self.validate(s, now, in_store);
        let outcome = match verdict {
            Ok(()) => Outcome::Logged,
            Err(r) => Outcome::Rejected(r),
        };
        match outcome {
            Outcome::Logged => {
                self.stats.logged += 1;
                log::info!(
                    "{NAME}: LOGGING-ONLY {} {} underlying @ {} | SL {} | target {} | strength {} | expected move {}% | strike selection pending | No order placed (logging)",
                    s.action.as_str(),
                    s.symbol,
                    s.price,
                    s.stop_loss,
                    s.target,
                    s.confidence,
                    s.expected_move_pct
                );
                for sub in &self.subscribers {
                    sub.do_send(SignalActivated {
                        signal: s.clone(),
                        mode: self.cfg.mode,
                        underlying_price: s.price,
                    });
                }
            }
            Outcome::Rejected(r) => {
                self.stats.rejected += 1;
                *self
                    .stats
                    .rejected_by_reason
                    .entry(r.as_str().to_string())
                    .or_default() += 1;
                log::info!(
                    "{NAME}: rejected {} {} {} ({})",
                    s.signal_id,
                    s.action.as_str(),
                    s.symbol,
                    r.as_str()
                );
            }
        }
        // A repeat is not a new decision: the first one stays the record.
        if outcome != Outcome::Rejected(RejectReason::AlreadyProcessed)
            && outcome != Outcome::Rejected(RejectReason::StoreUnavailable)
        {
            self.decided.insert(s.signal_id);
            let decided_at = Utc
                .timestamp_opt(now.max(s.timestamp.timestamp()), 0)
                .single()
                .unwrap_or(s.timestamp);
            self.db
                .do_send(Persist(vec![Row::Decision(Box::new(ExecutorDecision {
                    signal_id: s.signal_id,
                    decided_at,
                    symbol: s.symbol.clone(),
                    mode: self.cfg.mode,
                    outcome,
                    underlying_price: s.price,
                }))]));
        }
    }
}

impl Actor for OptionsExecutor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        if self.restarts == 0 {
            // Recovery: what was decided before this process (a crash, a re-run) is known up
            // front, so it is never executed twice even while the store is unreachable.
            let since = Utc::now().timestamp() - RECOVERY_DAYS * 86_400;
            ctx.wait(self.db.send(LoadRecovery { since }).into_actor(self).map(|res, act, _| match res {
                Ok(Ok(r)) => {
                    act.decided.extend(r.processed.iter().copied());
                    act.open_positions = r.open_positions.len() as u32;
                    log::info!(
                        "{NAME}: recovered {} decided signal ids and {} open positions from the store",
                        r.processed.len(),
                        r.open_positions.len()
                    );
                }
                Ok(Err(e)) => log::error!("{NAME}: recovery from the store failed: {e}; every signal is still checked against the store"),
                Err(e) => log::error!("{NAME}: DbWriter unreachable for recovery: {e}"),
            }));
        }
        // After a restart the store queries in flight were cancelled: ask again.
        let again: Vec<(u64, Uuid)> = self
            .pending
            .waiting()
            .map(|(q, (s, _))| (q, s.signal_id))
            .collect();
        for (seq, id) in again {
            self.ask_store(seq, id, ctx);
        }
    }
}

impl Supervised for OptionsExecutor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(NAME, &mut self.restarts);
    }
}

impl Handler<SignalGenerated> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SignalGenerated, ctx: &mut Context<Self>) {
        guard(NAME, ctx, |ctx| self.on_signal(msg.signal, ctx));
    }
}

impl Handler<SubscribeActivations> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SubscribeActivations, _ctx: &mut Context<Self>) {
        self.subscribers.push(msg.0);
    }
}

impl Handler<GetExecutorStats> for OptionsExecutor {
    type Result = MessageResult<GetExecutorStats>;

    fn handle(&mut self, _: GetExecutorStats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats.clone())
    }
}

impl Handler<InjectPanic> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(NAME, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for OptionsExecutor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        if self.pending.is_empty() {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.drain_waiters.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<GetRestarts> for OptionsExecutor {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.restarts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ExecutorConfig {
        ExecutorConfig {
            enabled: true,
            mode: Mode::Logging,
            valid_underlyings: ["NIFTY".to_string()].into_iter().collect(),
            min_signal_strength: 0.6,
            min_expected_move_pct: 1.0,
            max_concurrent_positions: 3,
            max_age_secs: 86_400,
            clock: Clock::Data,
        }
    }

    fn signal(symbol: &str, confidence: f64, moved: f64, ts: i64) -> Signal {
        Signal {
            signal_id: Uuid::from_u128(ts as u128),
            timestamp: Utc.timestamp_opt(ts, 0).unwrap(),
            symbol: symbol.into(),
            strategy: "ma_crossover".into(),
            action: messages::Action::Buy,
            price: 100.0,
            stop_loss: 99.0,
            target: 102.0,
            confidence,
            expected_move_pct: moved,
            metadata: messages::SignalMetadata {
                candle_time: Utc.timestamp_opt(ts - 900, 0).unwrap(),
                ema_fast: 1.0,
                ema_slow: 1.0,
            },
        }
    }

    #[actix_rt::test]
    async fn rules_in_order() {
        let db = DbWriter::start_unsupervised_for_tests();
        let mut ex = OptionsExecutor::new(cfg(), db);
        const NOW: i64 = 1_700_100_000;
        let ok = signal("NIFTY", 0.7, 2.0, 1_700_100_000);
        assert_eq!(ex.validate(&ok, NOW, Ok(false)), Ok(()));
        assert_eq!(
            ex.validate(&ok, NOW, Ok(true)),
            Err(RejectReason::AlreadyProcessed)
        );
        assert_eq!(
            ex.validate(&ok, NOW, Err("down".into())),
            Err(RejectReason::StoreUnavailable)
        );
        assert_eq!(
            ex.validate(&signal("SBIN", 0.7, 2.0, 1_700_100_000), NOW, Ok(false)),
            Err(RejectReason::InvalidUnderlying)
        );
        assert_eq!(
            ex.validate(
                &signal("NIFTY", 0.7, 2.0, 1_700_100_000 - 86_401),
                NOW,
                Ok(false)
            ),
            Err(RejectReason::TooOld)
        );
        assert_eq!(
            ex.validate(&signal("NIFTY", 0.59, 2.0, 1_700_100_000), NOW, Ok(false)),
            Err(RejectReason::WeakSignal)
        );
        assert_eq!(
            ex.validate(&signal("NIFTY", 0.7, 0.5, 1_700_100_000), NOW, Ok(false)),
            Err(RejectReason::SmallExpectedMove)
        );
        ex.open_positions = 3;
        assert_eq!(
            ex.validate(&ok, NOW, Ok(false)),
            Err(RejectReason::MaxPositions)
        );
        ex.cfg.enabled = false;
        assert_eq!(
            ex.validate(&ok, NOW, Ok(false)),
            Err(RejectReason::TradingDisabled)
        );
        ex.decided.insert(ok.signal_id);
        assert_eq!(
            ex.validate(&ok, NOW, Ok(false)),
            Err(RejectReason::AlreadyProcessed)
        );
    }
}
