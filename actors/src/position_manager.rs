//! **PositionManager** — the book of option positions (seed §4.7, §5.2).
//!
//! - Owns: the open paper positions with their exit rules, the closed ones' results (for the
//!   risk limits), a short ring of recent underlying prices per symbol, and the counters.
//! - Handles: [`CandlesUpdated`] (prices from DataManager: marks open positions at most once per
//!   `monitor_interval` of data time), [`OpenPosition`] (from OptionsExecutor), [`GetRiskSnapshot`],
//!   [`SignalActivated`], [`SubscribePositions`], [`GetPositionSummary`], [`InjectPanic`],
//!   [`Drain`], [`GetRestarts`].
//! - Sends: [`Persist`] of every position version to DbWriter; [`PositionOpened`] and
//!   [`PositionClosed`] to subscribers.
//!
//! Marking by data time keeps replays deterministic: DataManager hands PositionManager each
//! batch before Strategy sees it, and a position opened for a signal at time T is first caught
//! up over the ring's prices after T, so its exits do not depend on when the open arrived.
//! In live mode (wall clock) an actix interval also marks every `monitor_interval`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use messages::msg::*;
use messages::{PositionRecord, Row, Symbols};

use crate::db_writer::DbWriter;
use crate::metrics::{ActorMetrics, Tracked};
use crate::options::chain::ChainModel;
use crate::options::instruments::OptionContract;
use crate::options::position::{Change, ExitReason, ExitRules, PaperPosition};
use crate::options_executor::Clock;
use crate::supervisor::{guard, note_restart};

const NAME: &str = "position_manager";
/// Prices kept per symbol for catching up a position opened after them.
const RING: usize = 16_384;

/// What PositionManager needs to know.
#[derive(Debug, Clone)]
pub struct PositionManagerConfig {
    pub symbols: Symbols,
    pub chain: ChainModel,
    pub exits: ExitRules,
    pub monitor_interval: Duration,
    /// Mark-only versions are persisted at most this often (seconds of data time).
    pub persist_marks_every: i64,
    pub clock: Clock,
}

/// A closed position's result, for the risk limits.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Closed {
    entry: i64,
    exit: i64,
    pnl_paise: i64,
}

struct Held {
    pos: PaperPosition,
    contract: OptionContract,
    symbol: usize,
    last_mark: i64,
    last_persisted: i64,
    stop_persisted: f64,
}

/// The PositionManager actor.
pub struct PositionManager {
    cfg: PositionManagerConfig,
    db: Tracked<DbWriter>,
    open: Vec<Held>,
    closed: Vec<Closed>,
    rings: Vec<VecDeque<(i64, f64)>>,
    opened_subs: Vec<Recipient<PositionOpened>>,
    closed_subs: Vec<Recipient<PositionClosed>>,
    summary: PositionSummary,
    restarts: u64,
    m: &'static ActorMetrics,
}

impl PositionManager {
    /// A PositionManager persisting through `db`.
    pub fn new(
        cfg: PositionManagerConfig,
        db: Tracked<DbWriter>,
        m: &'static ActorMetrics,
    ) -> Self {
        PositionManager {
            m,
            rings: (0..cfg.symbols.len()).map(|_| VecDeque::new()).collect(),
            cfg,
            db,
            open: Vec::new(),
            closed: Vec::new(),
            opened_subs: Vec::new(),
            closed_subs: Vec::new(),
            summary: PositionSummary::default(),
            restarts: 0,
        }
    }

    fn persist(&self, r: &PositionRecord) {
        self.db
            .do_send(Persist(vec![Row::Position(Box::new(r.clone()))]));
    }

    /// Marks position `i` at underlying `spot`, time `now`; true when it closed.
    fn mark(&mut self, i: usize, spot: f64, now: i64) -> bool {
        let exits = self.cfg.exits;
        let h = &mut self.open[i];
        let premium = self.cfg.chain.premium(&h.contract, spot, now);
        h.last_mark = now;
        let Some(change) = h.pos.mark(premium, now, &exits) else {
            return false;
        };
        self.summary.monitor_runs += 1;
        let record = h.pos.record.clone();
        let entry = h.pos.record.entry_time.timestamp();
        let realized = h.pos.realized_paise;
        let material =
            !matches!(change, Change::Marked) || record.stop_loss_premium != h.stop_persisted;
        if material || now - h.last_persisted >= self.cfg.persist_marks_every {
            h.last_persisted = now;
            h.stop_persisted = record.stop_loss_premium;
            self.persist(&record);
        }
        match change {
            Change::Closed(fill, why) => {
                self.summary.closed += 1;
                self.summary.realized_pnl += record.realized_pnl;
                self.closed.push(Closed {
                    entry,
                    exit: now,
                    pnl_paise: realized,
                });
                log::info!(
                    "{NAME}: CLOSED {} {} × {} @ {} ({}) realized ₹{:.2}",
                    record.option_symbol,
                    record.lots,
                    record.lot_size,
                    fill.premium,
                    why.as_str(),
                    record.realized_pnl
                );
                let r = Arc::new(record);
                for s in &self.closed_subs {
                    s.do_send(PositionClosed(r.clone()));
                }
                true
            }
            Change::Partial(fill) => {
                log::info!(
                    "{NAME}: PARTIAL {} sold {} @ {}",
                    record.option_symbol,
                    fill.quantity,
                    fill.premium
                );
                false
            }
            Change::Marked => false,
        }
    }

    /// Marks every open position of `symbol` whose interval elapsed; drops the closed ones.
    fn on_price(&mut self, symbol: usize, now: i64, spot: f64) {
        let every = self.cfg.monitor_interval.as_secs() as i64;
        let mut i = 0;
        while i < self.open.len() {
            let h = &self.open[i];
            if h.symbol == symbol
                && now > h.pos.record.entry_time.timestamp()
                && now - h.last_mark >= every
                && self.mark(i, spot, now)
            {
                // `remove` keeps the book in entry order (no re-sort per price).
                self.open.remove(i);
                continue;
            }
            i += 1;
        }
        self.summary.open_positions = self.open.len() as u32;
        self.summary.unrealized_pnl = self.open.iter().map(|h| h.pos.record.unrealized_pnl).sum();
    }

    fn on_candles(&mut self, msg: &CandlesUpdated) {
        for e in &msg.0 {
            let sym = e.candle.symbol.0 as usize;
            if let Some(ring) = self.rings.get_mut(sym) {
                if ring.len() == RING {
                    ring.pop_front();
                }
                ring.push_back((e.at, e.candle.close));
            }
            if !self.open.is_empty() {
                self.on_price(sym, e.at, e.candle.close);
            }
        }
    }

    /// Takes over an open position from the store (recovery): monitored, not re-announced.
    fn adopt(&mut self, record: PositionRecord) {
        let Some(sym) = self.cfg.symbols.id(&record.symbol).map(|s| s.0 as usize) else {
            log::warn!(
                "{NAME}: open position {} on {} is not in this run's symbols; left as is",
                record.position_id,
                record.symbol
            );
            return;
        };
        if self
            .open
            .iter()
            .any(|h| h.pos.record.position_id == record.position_id)
        {
            return;
        }
        let contract = contract_of(&record);
        let expiry_ts = self.cfg.chain.expiry_ts(record.expiry);
        let last_mark = record.updated_at.timestamp();
        let mut pos = PaperPosition::open(
            record.clone(),
            contract.lot_size,
            contract.tick_size,
            expiry_ts,
        );
        pos.record = record;
        pos.stop = pos.record.stop_loss_premium;
        let stop_persisted = pos.stop;
        self.open.push(Held {
            pos,
            contract,
            symbol: sym,
            last_mark,
            last_persisted: last_mark,
            stop_persisted,
        });
        self.summary.open_positions = self.open.len() as u32;
    }

    fn on_open(&mut self, record: PositionRecord) {
        let Some(sym) = self.cfg.symbols.id(&record.symbol).map(|s| s.0 as usize) else {
            log::error!(
                "{NAME}: position on unknown symbol {} refused",
                record.symbol
            );
            return;
        };
        let contract = contract_of(&record);
        let expiry_ts = self.cfg.chain.expiry_ts(record.expiry);
        let entry = record.entry_time.timestamp();
        log::info!(
            "{NAME}: OPENED {} {} lots × {} @ {} (SL {}, target {})",
            record.option_symbol,
            record.lots,
            record.lot_size,
            record.entry_premium,
            record.stop_loss_premium,
            record.target_premium
        );
        self.persist(&record);
        self.summary.opened += 1;
        let r = Arc::new(record.clone());
        for s in &self.opened_subs {
            s.do_send(PositionOpened(r.clone()));
        }
        let pos = PaperPosition::open(record, contract.lot_size, contract.tick_size, expiry_ts);
        let stop_persisted = pos.stop;
        self.open.push(Held {
            pos,
            contract,
            symbol: sym,
            last_mark: entry,
            last_persisted: entry,
            stop_persisted,
        });
        // Catch up over the prices seen since the entry.
        let idx = self.open.len() - 1;
        let every = self.cfg.monitor_interval.as_secs() as i64;
        let later: Vec<(i64, f64)> = self.rings[sym]
            .iter()
            .copied()
            .filter(|(t, _)| *t > entry)
            .collect();
        for (t, px) in later {
            if t - self.open[idx].last_mark >= every && self.mark(idx, px, t) {
                self.open.remove(idx);
                break;
            }
        }
        self.open.sort_by_key(|h| {
            (
                h.pos.record.entry_time.timestamp(),
                h.pos.record.position_id,
            )
        });
        self.summary.open_positions = self.open.len() as u32;
    }

    fn snapshot(&self, q: GetRiskSnapshot) -> RiskSnapshot {
        let open_now = self
            .open
            .iter()
            .filter(|h| h.pos.record.entry_time.timestamp() <= q.at)
            .count()
            + self
                .closed
                .iter()
                .filter(|c| c.entry <= q.at && c.exit > q.at)
                .count();
        let mut today: Vec<&Closed> = self
            .closed
            .iter()
            .filter(|c| c.exit >= q.day_start && c.exit <= q.at)
            .collect();
        today.sort_by_key(|c| c.exit);
        let realized: i64 = today.iter().map(|c| c.pnl_paise).sum();
        let streak = today.iter().rev().take_while(|c| c.pnl_paise < 0).count();
        RiskSnapshot {
            open_positions: open_now as u32,
            day_realized_pnl: realized as f64 / 100.0,
            consecutive_losses_today: streak as u32,
        }
    }

    /// Wall-clock monitor (live feeds): marks every open position at its symbol's last price.
    fn monitor(&mut self) {
        let now = chrono::Utc::now().timestamp();
        for sym in 0..self.rings.len() {
            if let Some(&(_, px)) = self.rings[sym].back() {
                self.on_price(sym, now, px);
            }
        }
    }
}

/// The contract a position record holds.
fn contract_of(record: &PositionRecord) -> OptionContract {
    OptionContract {
        underlying: record.symbol.clone(),
        expiry: record.expiry,
        strike: record.strike,
        kind: record.option_type,
        lot_size: record.lot_size,
        tick_size: crate::logic::price::TICK,
        tradingsymbol: record.option_symbol.clone(),
    }
}

impl Actor for PositionManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        if self.restarts == 0 {
            // Recovery: open positions of an earlier run keep being monitored.
            ctx.wait(
                self.db
                    .send(LoadRecovery { since: 0 })
                    .into_actor(self)
                    .map(|res, act, _| match res {
                        Ok(Ok(r)) => {
                            let n = r.open_positions.len();
                            for p in r.open_positions {
                                act.adopt(p);
                            }
                            if n > 0 {
                                log::info!("{NAME}: recovered {n} open positions from the store");
                            }
                        }
                        Ok(Err(e)) => log::error!("{NAME}: cannot reload open positions: {e}"),
                        Err(e) => log::error!("{NAME}: DbWriter unreachable for recovery: {e}"),
                    }),
            );
        }
        if self.cfg.clock == Clock::Wall {
            // Registered here so that it comes back after a restart (actix cancels intervals).
            ctx.run_interval(self.cfg.monitor_interval, |act, ctx| {
                guard(act.m, ctx, |_| act.monitor());
            });
        }
    }
}

impl Supervised for PositionManager {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
    }
}

impl Handler<CandlesUpdated> for PositionManager {
    type Result = u32;

    fn handle(&mut self, msg: CandlesUpdated, ctx: &mut Context<Self>) -> u32 {
        guard(self.m, ctx, |_| self.on_candles(&msg));
        0
    }
}

impl Handler<OpenPosition> for PositionManager {
    type Result = ();

    fn handle(&mut self, msg: OpenPosition, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| self.on_open(*msg.0));
    }
}

impl Handler<GetRiskSnapshot> for PositionManager {
    type Result = RiskSnapshot;

    fn handle(&mut self, msg: GetRiskSnapshot, ctx: &mut Context<Self>) -> RiskSnapshot {
        guard(self.m, ctx, |_| self.snapshot(msg)).unwrap_or_default()
    }
}

impl Handler<FlattenAll> for PositionManager {
    type Result = u32;

    fn handle(&mut self, _: FlattenAll, _ctx: &mut Context<Self>) -> u32 {
        let mut n = 0;
        while let Some(mut h) = self.open.pop() {
            let sym = h.symbol;
            let Some(&(ts, spot)) = self.rings.get(sym).and_then(|r| r.back()) else {
                log::error!(
                    "{NAME}: no price to flatten {}; kept open",
                    h.pos.record.option_symbol
                );
                self.open.push(h);
                break;
            };
            let now = ts.max(h.last_mark);
            let premium = self.cfg.chain.premium(&h.contract, spot, now);
            let change = h.pos.close(
                now,
                premium,
                ExitReason::Manual,
                self.cfg.exits.slippage_ticks,
            );
            let record = h.pos.record.clone();
            self.persist(&record);
            self.summary.closed += 1;
            self.summary.realized_pnl += record.realized_pnl;
            self.closed.push(Closed {
                entry: record.entry_time.timestamp(),
                exit: now,
                pnl_paise: h.pos.realized_paise,
            });
            log::warn!(
                "{NAME}: FLATTENED {} ({change:?}) realized ₹{:.2}",
                record.option_symbol,
                record.realized_pnl
            );
            let r = Arc::new(record);
            for s in &self.closed_subs {
                s.do_send(PositionClosed(r.clone()));
            }
            n += 1;
        }
        self.summary.open_positions = self.open.len() as u32;
        n
    }
}

impl Handler<SignalActivated> for PositionManager {
    type Result = ();

    fn handle(&mut self, _msg: SignalActivated, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| self.summary.activations_seen += 1);
    }
}

impl Handler<SubscribePositions> for PositionManager {
    type Result = ();

    fn handle(&mut self, msg: SubscribePositions, _ctx: &mut Context<Self>) {
        self.opened_subs.extend(msg.opened);
        self.closed_subs.extend(msg.closed);
    }
}

impl Handler<GetPositionSummary> for PositionManager {
    type Result = PositionSummary;

    fn handle(&mut self, _: GetPositionSummary, _ctx: &mut Context<Self>) -> PositionSummary {
        self.summary.clone()
    }
}

impl Handler<InjectPanic> for PositionManager {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for PositionManager {
    type Result = ();

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {}
}

impl Handler<GetRestarts> for PositionManager {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.restarts
    }
}
