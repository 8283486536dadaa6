//! **OptionsExecutor** — validates each new signal and acts on it according to the mode.
//!
//! - Owns: the entry rules (seed §4.6), the engine clock (data time in replay and simulation),
//!   the ids it has decided on, its counters by outcome and rejection reason.
//! - Handles: [`SignalGenerated`] (from SignalManager), [`SubscribeActivations`],
//!   [`SubscribeProbes`], [`SubscribeDecisions`],
//!   [`GetExecutorStats`], [`SetTrading`], [`SetStrategyPaused`] (one instance's new signals
//!   rejected as `strategy_paused`), [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: [`AreSignalsProcessed`] (when the signal came without the answer) and [`Persist`]
//!   (its decision) to DbWriter;
//!   [`GetRiskSnapshot`] and [`OpenPosition`] to PositionManager; [`GetOptionChain`] and
//!   [`PlaceEntry`] to the Broker (with a broker connection); [`SignalActivated`] to
//!   subscribers; [`DecisionMade`] (each recorded decision) to decision subscribers (the
//!   dashboard; none by default); a [`SignalProbe`] per decision to probe subscribers (latency benchmark;
//!   none by default); [`messages::RaiseAlarm`] to the Notifier when a daily halt (loss
//!   limit, profit lock, losing streak) first stops entries on a session day.
//!
//! Checks, in order: already processed (the store's answer given with the signal's commit, or
//! asked of the store when it did not come; and what this run decided),
//! trading enabled, underlying in `valid_underlyings`, age ≤ 24 h by the engine clock,
//! `min_signal_strength`, `min_expected_move_pct`, `max_concurrent_positions`. Signals are
//! decided strictly in the order they arrive even though the store answers asynchronously.
//!
//! Then the trade (seed §4.6 `_process_signal`): the book's risk as of the signal's data time
//! (asked of PositionManager: open positions, today's net realized P&L, after charges, against
//! `max_daily_loss_pct`, a streak of net losses against `halt_after_consecutive_losses`), the
//! expiry and strike ([`crate::options::strike`]), the lots and exit levels
//! ([`crate::options::sizing`]); the position's record starts with its entry's charges.
//! Logging-only mode logs the would-be trade — strike, premium, lots, stop, target, the P&L at
//! stop and at target — and places nothing ("No order placed (logging)"); paper mode opens the
//! position at PositionManager (fill at ltp plus slippage, on the tick); live mode orders it at
//! the Broker (margin check, tagged LIMIT or protected MARKET order, followed to a terminal
//! state) and opens the position at the real fill, with stop and target from the fill price.
//! Without a broker the chain is the synthetic model; with one (`--feed kite`) it is the
//! listed contracts of the instrument dump quoted now, in every mode. Each decision is one row
//! in `executor_decisions` with the trade or the reason in words; a live entry holds the
//! executor until the broker answers (at most `kite.entry_fill_timeout_seconds` plus a
//! cancel), so the next signal sees the position it opened.

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{TimeZone, Utc};
use messages::msg::*;
use messages::{
    EntryResult, ExecutorDecision, ExecutorStats, Mode, Outcome, PositionRecord, RejectReason, Row,
    Signal, SignalKey,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::config::{Rules, StrikeSelection};
use crate::db_writer::DbWriter;
use crate::logic::inorder::InOrder;
use crate::metrics::{send_probes, ActorMetrics, Tracked, TrackedRecipient};
use crate::options::chain::ChainModel;
use crate::options::instruments::ExpiryCalendar;
use crate::options::listed::to_quotes;
use crate::options::sizing::exit_levels;
use crate::options::strike::option_type;
use crate::supervisor::{guard, note_restart};

const NAME: &str = "options_executor";
/// Decisions of the last this-many days are preloaded at start.
const RECOVERY_DAYS: i64 = 7;
/// How long after a failed recovery read it is tried again.
const RECOVERY_RETRY: std::time::Duration = std::time::Duration::from_secs(3);

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    /// The latest data time seen (replay, simulation).
    Data,
    /// The live clock (live feeds): the machine's, or a rehearsal clock.
    Wall(crate::logic::clock::LiveClock),
}

impl Clock {
    /// The live clock's time now; `None` on data time.
    pub fn wall_now(&self) -> Option<i64> {
        match self {
            Clock::Wall(c) => Some(c.now()),
            Clock::Data => None,
        }
    }
}

/// Everything the trade step needs: instruments, the chain, selection, sizing and risk.
#[derive(Debug, Clone)]
pub struct TradeConfig {
    pub underlyings: std::collections::BTreeMap<String, crate::config::UnderlyingSpec>,
    pub calendar: ExpiryCalendar,
    pub chain: ChainModel,
    pub selection: StrikeSelection,
    pub rules: Rules,
    pub capital: f64,
    pub risk_per_trade_pct: f64,
    pub max_position_size_pct: f64,
    pub stop_loss_pct: f64,
    pub target_multiplier: f64,
    pub max_daily_loss_pct: f64,
    pub slippage_ticks: u32,
    pub expiry_cutoff_hours: f64,
    /// What each fill costs (`charges.schedule`, trade dates in the session's time zone).
    pub costs: crate::charges::Costs,
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
    /// At start, decide the stored signals that were never decided as `interrupted` (every
    /// engine but a replay, which derives them again from its file).
    pub decide_interrupted: bool,
    /// The strategy instances with risk limits of their own (inside the global ones).
    pub instance_risk: std::collections::HashMap<String, crate::config::InstanceRisk>,
    pub trade: TradeConfig,
    /// The level of the line each decision logs (PAPER, LOGGING-ONLY, rejected): `Info` in a
    /// live run, `Debug` in a replay (which prints a summary) unless asked for them.
    pub event_level: log::Level,
}

/// The broker's handles: the listed chain and live entries.
#[derive(Clone)]
pub struct BrokerLink {
    pub chain: TrackedRecipient<GetOptionChain>,
    pub entry: TrackedRecipient<PlaceEntry>,
}

/// The OptionsExecutor actor.
pub struct OptionsExecutor {
    /// With a broker connection: strikes from the listed chain, and live entries.
    broker: Option<BrokerLink>,
    cfg: ExecutorConfig,
    db: Tracked<DbWriter>,
    risk: TrackedRecipient<GetRiskSnapshot>,
    open_to: TrackedRecipient<OpenPosition>,
    activations: TrackedRecipient<SignalActivated>,
    subscribers: Vec<Recipient<SignalActivated>>,
    /// Latency probes (benchmarks): told when each signal is decided.
    probes: Vec<Recipient<SignalProbe>>,
    /// Told each recorded decision (the dashboard).
    decision_subscribers: Vec<Recipient<DecisionMade>>,
    stats: ExecutorStats,
    decided: HashSet<Uuid>,
    /// Signals waiting for the store's answer, with the engine time at their arrival.
    pending: InOrder<(Arc<Signal>, i64), Result<bool, String>>,
    /// Signals not yet asked about (sequence in `pending`, id).
    unasked: Vec<(u64, SignalKey)>,
    /// A store question is in flight.
    asking: bool,
    /// Answered signals waiting for their decision, in order.
    to_decide: std::collections::VecDeque<(Arc<Signal>, i64, Result<bool, String>)>,
    /// The decision waiting for PositionManager's answer (put back in front after a restart).
    deciding: Option<(Arc<Signal>, i64, Result<bool, String>)>,
    drain_waiters: Vec<oneshot::Sender<()>>,
    /// Decisions of signals refused at validation while [`pump`](Self::pump) runs: one
    /// `Persist` for the run of them (sent before the pump waits on anything, and at its end).
    refused_rows: Option<Vec<Row>>,
    data_now: i64,
    open_positions: u32,
    /// Operator: no new signals taken (`ctl pause`).
    paused: bool,
    /// Operator kill switch: no new orders until `resume` (`ctl halt`).
    halted: bool,
    /// The recovery read failed: nothing is traded (on a partial view) until a retry succeeds.
    recovery_failed: bool,
    /// Recovered signals stored but never decided: decided as [`RejectReason::Interrupted`].
    interrupted: HashSet<Uuid>,
    restarts: u64,
    /// Where alarms go (off unless `alerts` is configured).
    alarms: crate::alerts::AlarmSink,
    /// The halts already alarmed, with the session day they stopped: one alarm a day each.
    halts_alarmed: Vec<(messages::AlarmKind, i64)>,
    /// Where decisions are counted for the metrics endpoint (by outcome and reason).
    trading: Option<&'static crate::metrics::trading::Trading>,
    /// The synthetic chain's quotes of the signal being decided (one buffer for all of them).
    quotes: Vec<crate::options::chain::Quote>,
    m: &'static ActorMetrics,
}

impl TradeConfig {
    /// The freeze quantity of `underlying` (`instruments.underlyings.*.freeze_qty`), if set.
    pub fn freeze_of(&self, underlying: &str) -> Option<u32> {
        self.underlyings.get(underlying).and_then(|u| u.freeze_qty)
    }

    /// The trade step's settings from the config, with the risk mode's presets applied.
    pub fn from_config(
        cfg: &crate::config::Config,
        session: crate::logic::session::Session,
    ) -> Self {
        let o = &cfg.options_trading;
        let eff = cfg.effective();
        TradeConfig {
            underlyings: cfg.instruments.underlyings.clone(),
            calendar: ExpiryCalendar::new(&cfg.instruments),
            chain: ChainModel {
                spec: cfg.paper.chain.clone(),
                rate: cfg.paper.rate,
                div_yield: cfg.paper.div_yield,
                session,
            },
            selection: eff.selection,
            rules: eff.rules,
            capital: o.position_sizing.account_capital,
            risk_per_trade_pct: eff.risk_per_trade_pct,
            max_position_size_pct: o.position_sizing.max_position_size_pct,
            stop_loss_pct: eff.stop_loss_pct,
            target_multiplier: eff.target_multiplier,
            max_daily_loss_pct: o.risk_management.max_daily_loss_pct,
            slippage_ticks: cfg.paper.slippage_ticks,
            expiry_cutoff_hours: cfg.paper.expiry_cutoff_hours,
            costs: crate::charges::Costs::new(cfg.charges.schedule.clone(), session.offset),
        }
    }
}

impl OptionsExecutor {
    /// An executor with `cfg`, asking and writing through `db`, trading through PositionManager.
    pub fn new(
        cfg: ExecutorConfig,
        db: Tracked<DbWriter>,
        positions: (
            TrackedRecipient<GetRiskSnapshot>,
            TrackedRecipient<OpenPosition>,
            TrackedRecipient<SignalActivated>,
        ),
        m: &'static ActorMetrics,
    ) -> Self {
        let (risk, open_to, activations) = positions;
        let rules = &cfg.trade.rules;
        let stats = ExecutorStats {
            daily_caps: messages::DailyCaps {
                max_trades_per_day: rules.max_trades_per_day,
                daily_profit_lock_pct: rules.daily_profit_lock_pct,
                profit_lock_at: rules
                    .daily_profit_lock_pct
                    .map(|p| cfg.trade.capital * p / 100.0),
                ..Default::default()
            },
            ..Default::default()
        };
        OptionsExecutor {
            broker: None,
            cfg,
            db,
            risk,
            open_to,
            activations,
            m,
            subscribers: Vec::new(),
            probes: Vec::new(),
            decision_subscribers: Vec::new(),
            stats,
            decided: HashSet::new(),
            pending: InOrder::default(),
            unasked: Vec::new(),
            asking: false,
            to_decide: std::collections::VecDeque::new(),
            deciding: None,
            drain_waiters: Vec::new(),
            refused_rows: None,
            data_now: i64::MIN,
            open_positions: 0,
            paused: false,
            halted: false,
            recovery_failed: false,
            interrupted: HashSet::new(),
            restarts: 0,
            alarms: crate::alerts::AlarmSink::off(),
            halts_alarmed: Vec::new(),
            trading: None,
            quotes: Vec::new(),
        }
    }

    /// Counts every decision by outcome and reason in `t` (the registry's trading series).
    pub fn with_trading(mut self, t: &'static crate::metrics::trading::Trading) -> Self {
        self.trading = Some(t);
        self
    }

    /// Daily halts (loss limit, profit lock, losing streak) raised as alarms to `sink`.
    pub fn with_alarms(mut self, sink: crate::alerts::AlarmSink) -> Self {
        self.alarms = sink;
        self
    }

    /// The first rejection by a daily halt on a session day is an alarm (a halt stops every
    /// entry for the rest of the day: one alarm says so).
    fn alarm_halt(&mut self, s: &Signal, now: i64, r: RejectReason, detail: &str) {
        use messages::AlarmKind;
        let kind = match r {
            RejectReason::DailyLossHalt => AlarmKind::DailyLossHalt,
            RejectReason::DailyProfitLock => AlarmKind::ProfitLockHalt,
            RejectReason::ConsecutiveLosses => AlarmKind::ConsecutiveLossHalt,
            _ => return,
        };
        let day = (now + self.cfg.trade.chain.session.offset).div_euclid(86_400);
        if self.halts_alarmed.contains(&(kind, day)) {
            return;
        }
        self.halts_alarmed.retain(|(_, d)| *d >= day);
        self.halts_alarmed.push((kind, day));
        log::warn!("{NAME}: HALT {}: {detail}", r.as_str());
        self.alarms.raise(
            messages::Alarm::new(
                kind,
                format!(
                    "{} mode: {detail} (signal {} {} {} rejected)",
                    self.cfg.mode.as_str(),
                    s.signal_id,
                    s.action.as_str(),
                    s.symbol
                ),
            )
            .symbol(s.symbol.clone())
            .signal(s.signal_id),
        );
    }

    /// Strikes from the broker's listed chain (all modes) and live entries through it.
    pub fn with_broker(mut self, broker: BrokerLink) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Updates the counters of strategy instance `name` (its name is copied once, at its
    /// first signal).
    fn count(&mut self, name: &str, f: impl FnOnce(&mut messages::StrategyCounts)) {
        let by = &mut self.stats.by_strategy;
        match by.get_mut(name) {
            Some(c) => f(c),
            None => f(by.entry(name.to_string()).or_default()),
        }
    }

    /// A committed signal; `processed` is the DbWriter's word, given with the commit, on
    /// whether it was already decided (`None`: ask the store).
    fn on_signal(&mut self, s: Arc<Signal>, processed: Option<bool>, ctx: &mut Context<Self>) {
        self.stats.received += 1;
        self.count(&s.strategy, |c| c.received += 1);
        self.data_now = self.data_now.max(s.timestamp.timestamp());
        log::debug!(
            "{NAME}: received {} {} {}",
            s.signal_id,
            s.action.as_str(),
            s.symbol
        );
        let seq = self.pending.push((s.clone(), self.now()));
        match processed {
            // Known: no question to the store (a round trip to DbWriter's thread). It is
            // decided in turn, after the signals before it.
            Some(p) => {
                for ((signal, at), answer) in self.pending.complete(seq, Ok(p)) {
                    self.to_decide.push_back((signal, at, answer));
                }
                self.pump(ctx);
            }
            None => {
                self.unasked.push((seq, SignalKey::of(&s)));
                self.ask_store(ctx);
            }
        }
    }

    /// Asks the store about every signal not yet asked about, in one request; at most one
    /// request is in flight (the next one goes when it is answered).
    fn ask_store(&mut self, ctx: &mut Context<Self>) {
        if self.asking || self.unasked.is_empty() {
            return;
        }
        self.asking = true;
        let batch = std::mem::take(&mut self.unasked);
        let ids = batch.iter().map(|(_, id)| *id).collect();
        let req = self.db.send(AreSignalsProcessed(ids));
        ctx.spawn(req.into_actor(self).map(move |res, act, ctx| {
            act.asking = false;
            let answers: Vec<Result<bool, String>> = match res {
                Ok(Ok(v)) if v.len() == batch.len() => v.into_iter().map(Ok).collect(),
                Ok(Ok(v)) => vec![
                    Err(format!("{} answers for {} signals", v.len(), batch.len()));
                    batch.len()
                ],
                Ok(Err(e)) => vec![Err(e.to_string()); batch.len()],
                Err(e) => vec![Err(e.to_string()); batch.len()],
            };
            for ((seq, _), answer) in batch.into_iter().zip(answers) {
                for ((signal, at), answer) in act.pending.complete(seq, answer) {
                    act.to_decide.push_back((signal, at, answer));
                }
            }
            act.ask_store(ctx);
            act.pump(ctx);
        }));
    }

    /// Decides the queued signals one after another. A valid one first asks PositionManager
    /// for the book's risk as of its time and holds the mailbox until answered (`ctx.wait`),
    /// so each decision sees the positions the earlier ones opened. (actix polls waits last
    /// in, first out: one outstanding wait at a time keeps the order.)
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.deciding.is_some() {
            return;
        }
        while let Some((signal, at, answer)) = self.to_decide.pop_front() {
            match self.validate(&signal, at, answer) {
                Err(reason) => {
                    self.refused_rows.get_or_insert_with(Vec::new);
                    self.record(&signal, at, Outcome::Rejected(reason), String::new());
                }
                Ok(()) => {
                    self.send_refused();
                    let q = GetRiskSnapshot {
                        at,
                        day_start: self.cfg.trade.chain.session.open_of(at),
                        strategy: self
                            .cfg
                            .instance_risk
                            .get(&signal.strategy)
                            .and_then(|r| r.max_concurrent_positions)
                            .map(|_| signal.strategy.clone()),
                    };
                    self.deciding = Some((signal.clone(), at, Ok(false)));
                    ctx.wait(
                        self.risk
                            .send(q)
                            .into_actor(self)
                            .map(move |snap, act, ctx| {
                                if act.trade(&signal, at, snap.unwrap_or_default(), ctx) {
                                    act.deciding = None;
                                    act.pump(ctx);
                                }
                            }),
                    );
                    return;
                }
            }
        }
        self.send_refused();
        if self.pending.is_empty() {
            for w in self.drain_waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }

    /// Sends the rows of the refusals gathered by [`pump`](Self::pump), in one `Persist`.
    fn send_refused(&mut self) {
        if let Some(rows) = self.refused_rows.take().filter(|r| !r.is_empty()) {
            self.db.do_send(Persist(rows));
        }
    }

    fn now(&self) -> i64 {
        match self.cfg.clock {
            Clock::Data => self.data_now,
            Clock::Wall(c) => c.now(),
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
        if self.interrupted.contains(&s.signal_id) {
            return Err(RejectReason::Interrupted);
        }
        if self.recovery_failed {
            log::error!(
                "{NAME}: {} not traded: the recovery read has not succeeded yet",
                s.signal_id
            );
            return Err(RejectReason::StoreUnavailable);
        }
        if self.halted {
            return Err(RejectReason::Halted);
        }
        if self.paused {
            return Err(RejectReason::Paused);
        }
        if self.stats.paused_strategies.contains(&s.strategy) {
            return Err(RejectReason::StrategyPaused);
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
        Ok(())
    }

    /// The trade step of a valid signal: risk limits, strike, sizing, then log, open or
    /// order. True when the decision is made now; false when it waits for the broker (the
    /// continuation then decides and pumps the queue).
    fn trade(
        &mut self,
        s: &Arc<Signal>,
        at: i64,
        snap: RiskSnapshot,
        ctx: &mut Context<Self>,
    ) -> bool {
        log::debug!("{NAME}: {} at {at}: book {snap:?}", s.signal_id);
        let spec = match plan::limits(&self.cfg, s, &snap, &mut self.stats.daily_caps) {
            Ok(spec) => spec,
            Err((reason, detail)) => {
                self.record(s, at, Outcome::Rejected(reason), detail);
                return true;
            }
        };
        let Some(broker) = self.broker.clone() else {
            let planned = plan::synthetic(&self.cfg, s, at, &spec, &mut self.quotes);
            return self.act(s, at, planned, ctx);
        };
        // The listed chain, quoted now.
        let q = GetOptionChain {
            underlying: s.symbol.clone(),
            kind: option_type(s.action),
            spot: s.price,
            at,
        };
        let s = s.clone();
        ctx.wait(
            broker
                .chain
                .send(q)
                .into_actor(self)
                .map(move |res, act, ctx| {
                    let planned = match res {
                        Ok(Ok(chain)) => {
                            let t = &act.cfg.trade;
                            let quotes = to_quotes(
                                &chain.options,
                                s.price,
                                at,
                                t.chain.rate,
                                t.chain.div_yield,
                                |e| t.chain.expiry_ts(e),
                            );
                            plan::size_trade(&act.cfg, &s, at, chain.expiry, &quotes)
                        }
                        Ok(Err(e)) => Err(e),
                        Err(e) => Err((
                            RejectReason::BrokerError,
                            format!("broker unreachable for the option chain: {e}"),
                        )),
                    };
                    if act.act(&s, at, planned, ctx) {
                        act.deciding = None;
                        act.pump(ctx);
                    }
                }),
        );
        false
    }

    /// Logs (logging-only), opens (paper) or orders (live) a planned trade; true when the
    /// decision is made now, false when it waits for the broker's fill.
    fn act(
        &mut self,
        s: &Arc<Signal>,
        at: i64,
        planned: Result<plan::Planned, (RejectReason, String)>,
        ctx: &mut Context<Self>,
    ) -> bool {
        let p = match planned {
            Ok(p) => p,
            Err((reason, detail)) => {
                self.record(s, at, Outcome::Rejected(reason), detail);
                return true;
            }
        };
        match (self.cfg.mode, self.broker.clone()) {
            (Mode::Paper, _) => {
                log::log!(
                    self.cfg.event_level,
                    "{NAME}: PAPER {} {} | {}",
                    s.action.as_str(),
                    s.symbol,
                    p.detail
                );
                self.open_to
                    .do_send(OpenPosition(Box::new(p.record.clone())));
                self.activate(s);
                self.record_opened(s, at, p.detail, p.record);
                true
            }
            (Mode::Live, Some(broker)) => {
                log::warn!(
                    "{NAME}: LIVE {} {} | {} | ordering at the broker",
                    s.action.as_str(),
                    s.symbol,
                    p.detail
                );
                let order = PlaceEntry {
                    signal_id: s.signal_id,
                    option: p.option.clone(),
                    quantity: p.record.quantity,
                    price: p.record.entry_premium,
                    freeze_qty: self.cfg.trade.freeze_of(&s.symbol),
                };
                let s = s.clone();
                ctx.wait(
                    broker
                        .entry
                        .send(order)
                        .into_actor(self)
                        .map(move |res, act, ctx| {
                            act.filled(&s, at, p, res);
                            act.deciding = None;
                            act.pump(ctx);
                        }),
                );
                false
            }
            (Mode::Live, None) => {
                self.record(
                    s,
                    at,
                    Outcome::Rejected(RejectReason::BrokerError),
                    "live mode without a broker connection: nothing ordered".into(),
                );
                true
            }
            (Mode::Logging, _) => {
                log::log!(
                    self.cfg.event_level,
                    "{NAME}: LOGGING-ONLY {} {} underlying @ {} | {} | No order placed (logging)",
                    s.action.as_str(),
                    s.symbol,
                    s.price,
                    p.detail
                );
                self.activate(s);
                self.record(s, at, Outcome::Logged, p.detail);
                true
            }
        }
    }

    /// The broker's answer to a live entry: the position opens at the real fill.
    fn filled(
        &mut self,
        s: &Arc<Signal>,
        at: i64,
        p: plan::Planned,
        res: Result<EntryResult, MailboxError>,
    ) {
        match res {
            Ok(EntryResult::Filled {
                order_id,
                quantity,
                average_price,
                at: when,
                orders,
                shortfall,
            }) => {
                let t = &self.cfg.trade;
                let mut r = p.record;
                let (stop, target) = exit_levels(
                    average_price,
                    p.option.tick_size,
                    t.stop_loss_pct,
                    t.target_multiplier,
                );
                r.entry_premium = average_price;
                r.current_premium = average_price;
                r.stop_loss_premium = stop;
                r.target_premium = target;
                r.quantity = quantity;
                r.remaining_quantity = quantity;
                r.lots = quantity / r.lot_size.max(1);
                r.entry_time = when;
                r.updated_at = when;
                // Each executed order (slice) charged as one, on its own value.
                crate::options::position::charge_entry_orders(
                    &mut r,
                    &t.costs,
                    when.timestamp(),
                    &orders,
                );
                let detail = format!(
                    "{} | LIVE order {order_id} filled {quantity} @ {average_price} (SL {stop} target {target}){}",
                    p.detail,
                    shortfall
                        .map(|w| format!(" | not every slice filled: {w}"))
                        .unwrap_or_default()
                );
                log::warn!("{NAME}: LIVE {} {} | {detail}", s.action.as_str(), s.symbol);
                self.open_to.do_send(OpenPosition(Box::new(r.clone())));
                self.activate(s);
                self.record_opened(s, at, detail, r);
            }
            Ok(EntryResult::Refused { reason, detail }) => {
                log::warn!(
                    "{NAME}: LIVE entry for {} not traded ({}): {detail}",
                    s.signal_id,
                    reason.as_str()
                );
                self.record(
                    s,
                    at,
                    Outcome::Rejected(reason),
                    format!("{} | {detail}", p.detail),
                );
            }
            Err(e) => self.record(
                s,
                at,
                Outcome::Rejected(RejectReason::BrokerError),
                format!("{} | broker unreachable: {e}", p.detail),
            ),
        }
    }

    fn activate(&mut self, s: &Arc<Signal>) {
        let event = SignalActivated {
            signal: s.clone(),
            mode: self.cfg.mode,
            underlying_price: s.price,
        };
        for sub in &self.subscribers {
            sub.do_send(event.clone());
        }
        self.activations.do_send(event);
    }

    /// Counts, logs and persists one decision.
    fn record(&mut self, s: &Arc<Signal>, now: i64, outcome: Outcome, detail: String) {
        self.record_with(s, now, outcome, detail, None)
    }

    /// An `opened` decision, persisted in one request with the position's opening version
    /// (ahead of it): the decision is never durable without its position, so a kill between
    /// the two commits cannot leave a signal decided as opened whose position is lost
    /// (PositionManager persists the same version again: an identical row).
    fn record_opened(
        &mut self,
        s: &Arc<Signal>,
        now: i64,
        detail: String,
        opening: PositionRecord,
    ) {
        self.record_with(s, now, Outcome::Opened, detail, Some(opening))
    }

    fn record_with(
        &mut self,
        s: &Arc<Signal>,
        now: i64,
        outcome: Outcome,
        detail: String,
        opening: Option<PositionRecord>,
    ) {
        send_probes(
            &self.probes,
            ProbeStage::Decided,
            &s.symbol,
            s.metadata.candle_time.timestamp(),
        );
        self.count(&s.strategy, |c| match outcome {
            Outcome::Logged => c.logged += 1,
            Outcome::Opened => c.opened += 1,
            Outcome::Rejected(r) => {
                c.rejected += 1;
                messages::bump(&mut c.rejected_by_reason, r.as_str());
            }
        });
        if let Some(t) = self.trading {
            t.decision(outcome);
        }
        match outcome {
            Outcome::Logged => self.stats.logged += 1,
            Outcome::Opened => self.stats.opened += 1,
            Outcome::Rejected(r) => {
                if self.alarms.is_on() {
                    self.alarm_halt(s, now, r, &detail);
                }
                self.stats.rejected += 1;
                messages::bump(&mut self.stats.rejected_by_reason, r.as_str());
                log::log!(
                    self.cfg.event_level,
                    "{NAME}: rejected {} {} {} ({}){}",
                    s.signal_id,
                    s.action.as_str(),
                    s.symbol,
                    r.as_str(),
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {detail}")
                    }
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
            let mut rows: Vec<Row> = opening
                .map(|p| Row::Position(Box::new(p)))
                .into_iter()
                .collect();
            let decision = ExecutorDecision {
                signal_id: s.signal_id,
                decided_at,
                symbol: s.symbol.clone(),
                mode: self.cfg.mode,
                outcome,
                underlying_price: s.price,
                detail,
                strategy: s.strategy.clone(),
                signal_time: s.metadata.candle_time.timestamp(),
            };
            if !self.decision_subscribers.is_empty() {
                let d = Arc::new(decision.clone());
                for sub in &self.decision_subscribers {
                    sub.do_send(DecisionMade(d.clone()));
                }
            }
            rows.push(Row::Decision(Box::new(decision)));
            match &mut self.refused_rows {
                Some(gathered) => gathered.append(&mut rows),
                None => self.db.do_send(Persist(rows)),
            }
        }
    }
}

impl Actor for OptionsExecutor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        if self.restarts == 0 {
            self.recover(ctx);
        }
        // After a restart the store question in flight was cancelled: ask again about every
        // signal still waiting.
        self.asking = false;
        self.unasked = self
            .pending
            .waiting()
            .map(|(q, (s, _))| (q, SignalKey::of(s)))
            .collect();
        self.ask_store(ctx);
        self.pump(ctx);
    }
}

impl OptionsExecutor {
    /// Recovery: what was decided before this process (a crash, a re-run) is known up front,
    /// so it is never executed twice even while the store is unreachable; the open positions
    /// count; and the recovered signals that were stored but never decided (the engine stopped
    /// between the two commits) are decided now, as `interrupted`. Holds the mailbox until
    /// answered. When the read fails nothing is traded, and it is retried every few seconds.
    fn recover(&mut self, ctx: &mut Context<Self>) {
        let now = self
            .cfg
            .clock
            .wall_now()
            .unwrap_or_else(|| Utc::now().timestamp());
        let since = now - RECOVERY_DAYS * 86_400;
        ctx.wait(self.db.send(LoadRecovery { since }).into_actor(self).map(|res, act, ctx| {
            let err = match res {
                Ok(Ok(r)) => {
                    act.recovery_failed = false;
                    act.decided.extend(r.processed.iter().copied());
                    act.open_positions = r.open_positions.len() as u32;
                    // A stored signal never decided is stale by now, except in a replay, which
                    // derives every signal from its file again and decides it then, exactly as
                    // an uninterrupted run would.
                    let late = if act.cfg.decide_interrupted {
                        undecided(r.active_signals, &act.decided)
                    } else {
                        Vec::new()
                    };
                    log::info!(
                        "{NAME}: recovered {} decided signal ids and {} open positions from the store; {} stored signals were never decided",
                        r.processed.len(),
                        r.open_positions.len(),
                        late.len()
                    );
                    for s in late {
                        act.interrupted.insert(s.signal_id);
                        let (key, at) = (SignalKey::of(&s), s.timestamp.timestamp());
                        let seq = act.pending.push((Arc::new(s), at));
                        act.unasked.push((seq, key));
                    }
                    act.ask_store(ctx);
                    act.pump(ctx);
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("DbWriter unreachable: {e}"),
            };
            act.recovery_failed = true;
            log::error!("{NAME}: recovery from the store failed: {err}; no signal is traded until it succeeds (retrying in {} s)", RECOVERY_RETRY.as_secs());
            ctx.run_later(RECOVERY_RETRY, |act, ctx| act.recover(ctx));
        }));
    }
}

/// The signals of `active` not in `decided`, oldest first.
fn undecided(active: Vec<Signal>, decided: &HashSet<Uuid>) -> Vec<Signal> {
    let mut late: Vec<Signal> = active
        .into_iter()
        .filter(|s| !decided.contains(&s.signal_id))
        .collect();
    late.sort_by_key(|s| (s.timestamp, s.signal_id));
    late
}

impl Supervised for OptionsExecutor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
        // The decision in flight was cancelled with the context's futures: decide it again.
        if let Some(d) = self.deciding.take() {
            self.to_decide.push_front(d);
        }
    }
}

impl Handler<SignalGenerated> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SignalGenerated, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |ctx| {
            self.on_signal(msg.signal, msg.processed, ctx)
        });
    }
}

impl Handler<SetStrategyPaused> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SetStrategyPaused, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        let list = &mut self.stats.paused_strategies;
        let was = list.contains(&msg.strategy);
        if msg.paused && !was {
            list.push(msg.strategy.clone());
            list.sort();
        } else if !msg.paused {
            list.retain(|n| n != &msg.strategy);
        }
        log::warn!(
            "{NAME}: strategy {} {} (paused now: {:?})",
            msg.strategy,
            if msg.paused { "paused" } else { "resumed" },
            self.stats.paused_strategies
        );
    }
}

impl Handler<SetTrading> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SetTrading, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        if let Some(p) = msg.paused {
            self.paused = p;
        }
        if let Some(h) = msg.halted {
            self.halted = h;
        }
        if let Some(m) = msg.mode {
            self.cfg.mode = m;
        }
        log::warn!(
            "{NAME}: trading state now mode {}, paused {}, halted {}",
            self.cfg.mode.as_str(),
            self.paused,
            self.halted
        );
    }
}

impl Handler<SubscribeActivations> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SubscribeActivations, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.subscribers.push(msg.0);
    }
}

impl Handler<SubscribeDecisions> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SubscribeDecisions, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.decision_subscribers.push(msg.0);
    }
}

impl Handler<SubscribeProbes> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, msg: SubscribeProbes, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.probes.push(msg.0);
    }
}

impl Handler<GetExecutorStats> for OptionsExecutor {
    type Result = MessageResult<GetExecutorStats>;

    fn handle(&mut self, _: GetExecutorStats, _ctx: &mut Context<Self>) -> Self::Result {
        self.m.count_handled();
        MessageResult(self.stats.clone())
    }
}

impl Handler<InjectPanic> for OptionsExecutor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for OptionsExecutor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        self.m.count_handled();
        if self.pending.is_empty() && self.to_decide.is_empty() && self.deciding.is_none() {
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
        self.m.count_handled();
        self.restarts
    }
}

mod plan;
#[cfg(test)]
mod tests;
