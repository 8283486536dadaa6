//! **PositionManager** — the book of option positions (seed §4.7, §5.2).
//!
//! - Owns: the open positions (paper and live) with their exit rules and the [`Costs`] their
//!   fills are charged by, the closed ones' net results (for the risk limits), the recent underlying prices ([`RecentPrices`]), the live exits
//!   ordered and not yet filled, and the counters.
//! - Handles: [`CandlesUpdated`] (prices from DataManager: marks open positions at most once per
//!   `monitor_interval` of data time), [`OptionMarks`] (real option prices from the broker's
//!   quotes), [`OpenPosition`] (from OptionsExecutor), [`ExitFilled`] (from the Broker),
//!   [`UseBroker`], [`GetOpenOptions`], [`GetOpenPositions`], [`ClosePosition`] (operator),
//!   [`GetRiskSnapshot`], [`FlattenAll`],
//!   [`SignalActivated`], [`SubscribePositions`], [`GetPositionSummary`], [`InjectPanic`],
//!   [`Drain`], [`GetRestarts`].
//! - Sends: [`Persist`] of every position version to DbWriter; [`PlaceExit`] and
//!   [`AbandonExit`] of live positions to the Broker; [`PositionOpened`] and [`PositionClosed`] to subscribers;
//!   [`messages::RaiseAlarm`] to the Notifier for a live exit nothing here can sell.
//!
//! Marking by data time keeps replays deterministic: DataManager hands PositionManager each
//! batch before Strategy sees it, and a position opened for a signal at time T is first caught
//! up over the ring's prices after T, so its exits do not depend on when the open arrived.
//! In live mode (wall clock) an actix interval also marks every `monitor_interval`.
//!
//! With a broker connection (`real_marks`) positions are marked on the options' real last
//! prices instead of the synthetic chain. A paper position still exits at once at its mark; a
//! live one whose exit rule fires orders its exit at the broker (once — the broker retries a
//! rejected exit until it fills) and stays open, marked but not re-judged, until the fill
//! arrives and closes it at the real price. An exit with no fill for a minute is asked again
//! (the broker may have restarted; it ignores the repeat while still working on it), and a
//! live position recovered from the store after a restart is judged afresh on its first
//! price, so an exit is never forgotten.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use messages::msg::*;
use messages::{Alarm, AlarmKind, Mode, PositionRecord, Row, Symbols};

use crate::alerts::AlarmSink;
use crate::charges::Costs;
use crate::db_writer::DbWriter;
use crate::logic::price::round_to_tick;
use crate::logic::recent::RecentPrices;
use crate::metrics::{ActorMetrics, Tracked};
use crate::options::chain::ChainModel;
use crate::options::instruments::OptionContract;
use crate::options::position::{Change, ExitReason, ExitRules, PaperPosition};
use crate::options::sizing::paise;
use crate::options::slicing::FreezeLimits;
use crate::options_executor::Clock;
use crate::supervisor::{guard, guard_wake, note_restart};

const NAME: &str = "position_manager";
/// A live exit without a fill for this long is asked of the broker again (it ignores the
/// repeat while it still works on it).
const EXIT_RESEND: std::time::Duration = std::time::Duration::from_secs(60);

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
    /// Option prices come from the broker's quotes ([`OptionMarks`]), not the synthetic chain.
    pub real_marks: bool,
    /// The level of the OPENED / CLOSED / PARTIAL lines: `Info` in a live run, `Debug` in a
    /// replay (which prints a summary) unless asked for them.
    pub event_level: log::Level,
    /// Write each trading day's `strategy_performance` rows at its close (`run`; a replay
    /// writes one row per instance and symbol for the whole replay instead).
    pub daily_performance: Option<DailyPerformance>,
    /// What each fill costs: every position's charges and net P&L.
    pub costs: Costs,
    /// The freeze quantity of each underlying: a paper order above it fills as its slices.
    pub freeze: FreezeLimits,
}

/// What the daily `strategy_performance` rows need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyPerformance {
    /// Account capital, rupees (the Sharpe ratio's returns).
    pub capital: f64,
    pub mode: Mode,
}

/// A closed position's result, for the risk limits.
#[derive(Debug, Clone, PartialEq)]
struct Closed {
    entry: i64,
    exit: i64,
    /// Net P&L (gross less its fills' charges), paise: what the daily-loss halt, the losing
    /// streak and the day's results count.
    pnl_paise: i64,
    /// Its charges, paise.
    charges_paise: i64,
    /// The strategy instance that opened it.
    strategy: String,
    symbol: String,
}

/// A live exit ordered at the broker, not yet filled.
struct PendingExit {
    reason: ExitReason,
    remaining: u32,
    mark: f64,
    sent: std::time::Instant,
}

struct Held {
    pos: PaperPosition,
    /// The option's last real price (with a broker connection).
    ltp: Option<f64>,
    exit: Option<PendingExit>,
    contract: OptionContract,
    symbol: usize,
    last_mark: i64,
    last_persisted: i64,
    stop_persisted: f64,
}

impl Held {
    /// A position taken into the book, last marked (and persisted) at `at`.
    fn new(pos: PaperPosition, contract: OptionContract, symbol: usize, at: i64) -> Held {
        Held {
            stop_persisted: pos.stop,
            pos,
            ltp: None,
            exit: None,
            contract,
            symbol,
            last_mark: at,
            last_persisted: at,
        }
    }
}

/// The PositionManager actor.
pub struct PositionManager {
    cfg: PositionManagerConfig,
    db: Tracked<DbWriter>,
    open: Vec<Held>,
    closed: Vec<Closed>,
    prices: RecentPrices,
    opened_subs: Vec<Recipient<PositionOpened>>,
    closed_subs: Vec<Recipient<PositionClosed>>,
    summary: PositionSummary,
    /// Net realized P&L and charges of the positions closed since start, paise (the
    /// summary's figures).
    net_paise: i64,
    charges_paise: i64,
    /// Where live exits are ordered, and abandoned (with a broker connection).
    broker: Option<(Recipient<PlaceExit>, Recipient<AbandonExit>)>,
    /// The Broker's metrics: the exits sent to it are counted there.
    broker_m: Option<&'static ActorMetrics>,
    /// This actor, for the broker's fills.
    me: Option<Recipient<ExitFilled>>,
    /// The session open of the trading day whose closes are not yet in `strategy_performance`
    /// (with `daily_performance`).
    perf_day: Option<i64>,
    restarts: u64,
    /// Where alarms go (off unless `alerts` is configured).
    alarms: AlarmSink,
    /// Where the book's figures are published for the metrics endpoint.
    trading: Option<&'static crate::metrics::trading::Trading>,
    m: &'static ActorMetrics,
}

impl PositionManager {
    /// A position closed at `now`: the day it belongs to waits for its close (an earlier day
    /// still waiting is written first).
    fn closed_on(&mut self, now: i64) {
        if self.cfg.daily_performance.is_none() {
            return;
        }
        self.roll_day(now);
        self.perf_day = Some(self.cfg.chain.session.open_of(now));
    }

    /// Writes the waiting day's rows once the engine clock `now` has passed its close.
    fn roll_day(&mut self, now: i64) {
        let session = &self.cfg.chain.session;
        let Some(day) = self.perf_day else { return };
        if now < session.close_of(day) && session.open_of(now) == day {
            return;
        }
        self.perf_day = None;
        self.write_day(day, now);
    }

    /// The `strategy_performance` rows of the trading day opening at `day`, from the positions
    /// closed in it, persisted.
    fn write_day(&mut self, day: i64, now: i64) {
        let Some(dp) = self.cfg.daily_performance else {
            return;
        };
        let session = &self.cfg.chain.session;
        let end = session.close_of(day);
        let today: Vec<&Closed> = self
            .closed_since(day)
            .iter()
            .filter(|c| c.exit <= end)
            .collect();
        let trades: Vec<crate::stats::performance::Trade> = today
            .iter()
            .map(|c| crate::stats::performance::Trade {
                strategy: &c.strategy,
                symbol: &c.symbol,
                exit: c.exit,
                pnl_paise: c.pnl_paise,
            })
            .collect();
        let Some(date) =
            chrono::DateTime::from_timestamp(day + session.offset, 0).map(|d| d.date_naive())
        else {
            return;
        };
        let rows = crate::stats::performance::strategy_performance(
            &trades,
            &crate::stats::performance::Period {
                start: date,
                end: date,
                offset: session.offset,
                capital: dp.capital,
                mode: dp.mode,
                computed_at: chrono::DateTime::from_timestamp(now, 0).unwrap_or_default(),
            },
        );
        log::info!(
            "{NAME}: {date}: strategy_performance of {} trades in {} rows",
            trades.len(),
            rows.len()
        );
        self.db.do_send(Persist(
            rows.into_iter()
                .map(|r| Row::Performance(Box::new(r)))
                .collect(),
        ));
    }

    /// The live clock's time (the machine's when the engine runs on data time).
    fn wall_now(&self) -> i64 {
        self.cfg
            .clock
            .wall_now()
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    /// A PositionManager persisting through `db`.
    pub fn new(
        cfg: PositionManagerConfig,
        db: Tracked<DbWriter>,
        m: &'static ActorMetrics,
    ) -> Self {
        PositionManager {
            m,
            prices: RecentPrices::new(cfg.symbols.len()),
            cfg,
            db,
            open: Vec::new(),
            closed: Vec::new(),
            opened_subs: Vec::new(),
            closed_subs: Vec::new(),
            summary: PositionSummary::default(),
            net_paise: 0,
            charges_paise: 0,
            broker: None,
            broker_m: None,
            me: None,
            perf_day: None,
            restarts: 0,
            alarms: AlarmSink::off(),
            trading: None,
        }
    }

    /// Publishes the book (open positions, realized and unrealized P&L) in `t` after every
    /// change (the registry's trading series).
    pub fn with_trading(mut self, t: &'static crate::metrics::trading::Trading) -> Self {
        self.trading = Some(t);
        self
    }

    /// Live exits nothing here can sell raised as alarms to `sink`.
    pub fn with_alarms(mut self, sink: AlarmSink) -> Self {
        self.alarms = sink;
        self
    }

    /// Counts what it sends to the broker ([`UseBroker`]) in `m`, the Broker's metrics.
    pub fn with_broker_metrics(mut self, m: &'static ActorMetrics) -> Self {
        self.broker_m = Some(m);
        self
    }

    /// One message to the broker, counted in its metrics.
    fn count_broker_send(&self) {
        if let Some(m) = self.broker_m {
            m.on_send();
        }
    }

    /// The summary's figures of the open book (after any change to it).
    fn refresh_summary(&mut self) {
        self.summary.open_positions = self.open.len() as u32;
        self.summary.unrealized_pnl = self.open.iter().map(|h| h.pos.record.unrealized_pnl).sum();
        if let Some(t) = self.trading {
            let (mut unrealized, mut net) = (0i64, 0i64);
            for h in &self.open {
                let u = paise(h.pos.record.unrealized_pnl);
                unrealized += u;
                net += u + h.pos.net_paise();
            }
            t.set_book(&crate::metrics::trading::Book {
                open_positions: self.open.len() as u64,
                opened: self.summary.opened,
                closed: self.summary.closed,
                realized_net_paise: self.net_paise,
                realized_gross_paise: self.net_paise + self.charges_paise,
                charges_paise: self.charges_paise,
                unrealized_paise: unrealized,
                unrealized_net_paise: net,
            });
        }
    }

    fn persist(&self, r: &PositionRecord) {
        self.db
            .do_send(Persist(vec![Row::Position(Box::new(r.clone()))]));
    }

    /// Marks position `i` at underlying `spot`, time `now`; true when it closed.
    fn mark(&mut self, i: usize, spot: f64, now: i64) -> bool {
        let premium = self.cfg.chain.premium(&self.open[i].contract, spot, now);
        self.mark_at(i, premium, now)
    }

    /// Marks position `i` at option premium `premium`, time `now`; true when it closed. A live
    /// position whose exit rule fires is not closed here: its exit is ordered at the broker
    /// and it closes on the fill ([`ExitFilled`]).
    fn mark_at(&mut self, i: usize, premium: f64, now: i64) -> bool {
        let exits = self.cfg.exits;
        let h = &mut self.open[i];
        h.last_mark = now;
        let mut order = None;
        let change = if h.pos.record.mode == Mode::Live {
            if h.exit.is_some() {
                // Being sold: follow the price only.
                h.pos.touch(now, premium);
                Some(Change::Marked)
            } else {
                let mut probe = h.pos.clone();
                match probe.mark(premium, now, &exits) {
                    Some(Change::Closed(_, why)) => {
                        order = Some((why, h.pos.remaining));
                        h.pos.touch(now, premium);
                        Some(Change::Marked)
                    }
                    Some(Change::Partial(f)) => {
                        order = Some((ExitReason::PartialBooking, f.quantity));
                        h.pos.touch(now, premium);
                        Some(Change::Marked)
                    }
                    other => {
                        h.pos = probe;
                        other
                    }
                }
            }
        } else {
            h.pos.mark(premium, now, &exits)
        };
        let Some(change) = change else {
            return false;
        };
        self.summary.monitor_runs += 1;
        let h = &mut self.open[i];
        let material =
            !matches!(change, Change::Marked) || h.pos.record.stop_loss_premium != h.stop_persisted;
        if material || now - h.last_persisted >= self.cfg.persist_marks_every {
            h.last_persisted = now;
            h.stop_persisted = h.pos.record.stop_loss_premium;
            let record = h.pos.record.clone();
            self.persist(&record);
        }
        if let Some((why, qty)) = order {
            self.order_exit(i, why, qty, premium);
        }
        self.after(i, change, now)
    }

    /// Bookkeeping after a change of position `i`; true when it closed.
    fn after(&mut self, i: usize, change: Change, now: i64) -> bool {
        let h = &self.open[i];
        match change {
            Change::Closed(fill, why) => {
                let record = h.pos.record.clone();
                self.summary.closed += 1;
                // Summed in paise, shown in rupees.
                self.net_paise += h.pos.net_paise();
                self.charges_paise += h.pos.charges.total;
                self.summary.realized_pnl = self.net_paise as f64 / 100.0;
                self.summary.realized_pnl_gross =
                    (self.net_paise + self.charges_paise) as f64 / 100.0;
                self.summary.charges = self.charges_paise as f64 / 100.0;
                self.push_closed(Closed {
                    entry: record.entry_time.timestamp(),
                    exit: now,
                    pnl_paise: h.pos.net_paise(),
                    charges_paise: h.pos.charges.total,
                    strategy: record.strategy.clone(),
                    symbol: record.symbol.clone(),
                });
                self.closed_on(now);
                log::log!(
                    self.cfg.event_level,
                    "{NAME}: CLOSED {} {} × {} @ {} ({}) realized ₹{:.2}, charges ₹{:.2}, net ₹{:.2}",
                    record.option_symbol,
                    record.lots,
                    record.lot_size,
                    fill.premium,
                    why.as_str(),
                    record.realized_pnl,
                    record.charges.total as f64 / 100.0,
                    record.net_pnl
                );
                let r = Arc::new(record);
                for s in &self.closed_subs {
                    s.do_send(PositionClosed(r.clone()));
                }
                true
            }
            Change::Partial(fill) => {
                log::log!(
                    self.cfg.event_level,
                    "{NAME}: PARTIAL {} sold {} @ {}",
                    h.pos.record.option_symbol,
                    fill.quantity,
                    fill.premium
                );
                false
            }
            Change::Marked => false,
        }
    }

    /// Orders the exit of `qty` of live position `i` at the broker (once: the broker retries
    /// until it fills).
    fn order_exit(&mut self, i: usize, why: ExitReason, qty: u32, mark: f64) {
        let h = &mut self.open[i];
        h.exit = Some(PendingExit {
            reason: why,
            remaining: qty,
            mark,
            sent: std::time::Instant::now(),
        });
        log::warn!(
            "{NAME}: EXIT {} × {qty} ({}) at ~{mark}: ordering at the broker",
            h.pos.record.option_symbol,
            why.as_str()
        );
        self.send_exit(i);
    }

    fn send_exit(&mut self, i: usize) {
        let broker_m = self.broker_m;
        let h = &mut self.open[i];
        let Some(exit) = h.exit.as_mut() else {
            return;
        };
        exit.sent = std::time::Instant::now();
        match (&self.broker, &self.me) {
            (Some((b, _)), Some(me)) => {
                if let Some(m) = broker_m {
                    m.on_send();
                }
                b.do_send(PlaceExit {
                    position_id: h.pos.record.position_id,
                    tradingsymbol: h.pos.record.option_symbol.clone(),
                    quantity: exit.remaining,
                    lot_size: h.pos.lot_size,
                    freeze_qty: h.pos.freeze_qty,
                    mark: exit.mark,
                    reason: exit.reason.as_str().to_string(),
                    reply_to: me.clone(),
                });
            }
            _ => {
                let msg = format!(
                    "live position {} must be sold ({}) but no broker is connected: sell it at the broker",
                    h.pos.record.option_symbol,
                    exit.reason.as_str()
                );
                log::error!("{NAME}: ALARM {msg}");
                self.alarms.raise(
                    Alarm::new(AlarmKind::ExitUnmanaged, msg)
                        .symbol(h.pos.record.option_symbol.clone())
                        .position(h.pos.record.position_id),
                );
            }
        }
    }

    /// A live exit filled: the position sells at the real price.
    fn on_exit_filled(&mut self, f: ExitFilled) {
        let Some(i) = self
            .open
            .iter()
            .position(|h| h.pos.record.position_id == f.position_id)
        else {
            // Sold at the broker for a position the engine no longer holds open (closed by the
            // operator while its exit was in flight): a real sale nobody books. Say so loudly.
            let msg = format!(
                "exit order {} sold {} @ {} for position {}, which is not open here (closed by the operator?): reconcile at the broker",
                f.order_id, f.quantity, f.average_price, f.position_id
            );
            log::error!("{NAME}: ALARM {msg}");
            self.alarms.raise(
                Alarm::new(AlarmKind::ExitUnmanaged, msg)
                    .position(f.position_id)
                    .order(f.order_id.clone()),
            );
            return;
        };
        let h = &mut self.open[i];
        let why = h
            .exit
            .as_ref()
            .map(|e| e.reason)
            .unwrap_or(ExitReason::Manual);
        let change = h.pos.fill_sell(f.at, f.quantity, f.value_paise, why);
        if let Some(e) = h.exit.as_mut() {
            e.remaining = e.remaining.saturating_sub(f.quantity);
            if e.remaining == 0 {
                h.exit = None;
            }
        }
        h.last_persisted = f.at;
        h.stop_persisted = h.pos.record.stop_loss_premium;
        let record = h.pos.record.clone();
        self.persist(&record);
        log::info!(
            "{NAME}: LIVE fill: sold {} × {} @ {} (order {})",
            record.option_symbol,
            f.quantity,
            f.average_price,
            f.order_id
        );
        if self.after(i, change, f.at) {
            self.open.remove(i);
        }
        self.refresh_summary();
    }

    /// Real option prices: marks the open positions on them; re-asks the broker for exits
    /// that have had no fill for a while (it may have restarted).
    fn on_option_marks(&mut self, m: &OptionMarks) {
        for (sym, ltp) in &m.ltps {
            let mut i = 0;
            while i < self.open.len() {
                let h = &mut self.open[i];
                // A broker price outside one paisa .. one crore is no premium (1e300 would
                // overflow paise × quantity): it is ignored.
                let plausible = (crate::config::MIN_PRICE..=crate::config::MAX_PRICE).contains(ltp);
                if &h.pos.record.option_symbol == sym && plausible {
                    h.ltp = Some(*ltp);
                    // A real price from the entry's second on counts (a stream sends a price
                    // only when it changes: none may be missed).
                    if m.at >= h.pos.record.entry_time.timestamp() && self.mark_at(i, *ltp, m.at) {
                        self.open.remove(i);
                        continue;
                    }
                }
                i += 1;
            }
        }
        for i in 0..self.open.len() {
            if self.open[i]
                .exit
                .as_ref()
                .is_some_and(|e| e.sent.elapsed() >= EXIT_RESEND)
            {
                self.send_exit(i);
            }
        }
        self.refresh_summary();
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
        self.refresh_summary();
    }

    fn on_candles(&mut self, msg: &CandlesUpdated) {
        for e in &msg.0 {
            let sym = e.candle.symbol.0 as usize;
            self.prices.push(sym, e.at, e.candle.close);
            if !self.open.is_empty() && !self.cfg.real_marks {
                self.on_price(sym, e.at, e.candle.close);
            }
        }
        if let Some(last) = msg.0.last() {
            self.roll_day(last.at);
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
        let freeze = self.cfg.freeze.get(&record.symbol);
        let pos = PaperPosition::resume(
            record,
            contract.lot_size,
            contract.tick_size,
            expiry_ts,
            &self.cfg.costs,
            freeze,
        );
        self.open.push(Held::new(pos, contract, sym, last_mark));
        self.refresh_summary();
    }

    /// Takes a position closed earlier today (recovery) into the day's risk figures and
    /// results.
    fn adopt_closed(&mut self, record: &PositionRecord) {
        let Some(exit) = record.exit_time.map(|t| t.timestamp()) else {
            return;
        };
        if self.closed.iter().any(|c| {
            c.exit == exit
                && c.entry == record.entry_time.timestamp()
                && c.symbol == record.symbol
                && c.strategy == record.strategy
        }) {
            return;
        }
        self.push_closed(Closed {
            entry: record.entry_time.timestamp(),
            exit,
            pnl_paise: record.net_paise(),
            charges_paise: record.charges.total,
            strategy: record.strategy.clone(),
            symbol: record.symbol.clone(),
        });
        if self.cfg.daily_performance.is_some() {
            self.perf_day = Some(self.cfg.chain.session.open_of(exit));
        }
    }

    fn on_open(&mut self, record: PositionRecord) {
        let Some(sym) = self.cfg.symbols.id(&record.symbol).map(|s| s.0 as usize) else {
            log::error!(
                "{NAME}: position on unknown symbol {} refused",
                record.symbol
            );
            return;
        };
        if self
            .open
            .iter()
            .any(|h| h.pos.record.position_id == record.position_id)
        {
            // Its opening was stored, its decision not (a kill between the two): the signal
            // was decided again, to the same position, which the book already holds.
            log::warn!(
                "{NAME}: position {} is already held (recovered from the store); not opened twice",
                record.position_id
            );
            return;
        }
        let contract = contract_of(&record);
        let expiry_ts = self.cfg.chain.expiry_ts(record.expiry);
        let entry = record.entry_time.timestamp();
        // The entry fill's charges on the opening version (the executor stored the same).
        let freeze = self.cfg.freeze.get(&record.symbol);
        let pos = PaperPosition::open(
            record,
            contract.lot_size,
            contract.tick_size,
            expiry_ts,
            &self.cfg.costs,
            freeze,
        );
        let record = pos.record.clone();
        log::log!(
            self.cfg.event_level,
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
        self.open.push(Held::new(pos, contract, sym, entry));
        // Catch up over the prices seen since the entry (synthetic marks only: real ones
        // arrive with the next quotes).
        let idx = self.open.len() - 1;
        if self.cfg.real_marks {
            self.refresh_summary();
            return;
        }
        let every = self.cfg.monitor_interval.as_secs() as i64;
        // Walked in place (a collected list cost a copy of the batch's prices per opening).
        let mut at = self.prices.start_after(entry);
        while let Some((t, px)) = self.prices.next_after(sym, entry, &mut at) {
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
        self.refresh_summary();
    }

    /// Keeps `closed` in exit order (a close is almost always the latest: O(1)).
    fn push_closed(&mut self, c: Closed) {
        let at = self.closed.partition_point(|x| x.exit <= c.exit);
        self.closed.insert(at, c);
    }

    /// The closed positions with an exit at or after `t` (a suffix: `closed` is in exit order).
    fn closed_since(&self, t: i64) -> &[Closed] {
        &self.closed[self.closed.partition_point(|c| c.exit < t)..]
    }

    fn snapshot(&self, q: GetRiskSnapshot) -> RiskSnapshot {
        // Positions closed before the day's start cannot be open at `at` nor count today:
        // only the day's suffix of `closed` is looked at.
        let recent = self.closed_since(q.day_start.min(q.at));
        let open_at = |strategy: Option<&str>| {
            let of = |s: &str| strategy.is_none_or(|w| w == s);
            self.open
                .iter()
                .filter(|h| {
                    h.pos.record.entry_time.timestamp() <= q.at && of(&h.pos.record.strategy)
                })
                .count()
                + recent
                    .iter()
                    .filter(|c| c.entry <= q.at && c.exit > q.at && of(&c.strategy))
                    .count()
        };
        let today: Vec<&Closed> = recent
            .iter()
            .filter(|c| c.exit >= q.day_start && c.exit <= q.at)
            .collect();
        let realized: i64 = today.iter().map(|c| c.pnl_paise).sum();
        let streak = today.iter().rev().take_while(|c| c.pnl_paise < 0).count();
        // Entries of the day: still open, or closed since (a position entered today closed
        // today or later, so it is in `recent`).
        let entered_today = |entry: i64| entry >= q.day_start && entry <= q.at;
        let trades_today = self
            .open
            .iter()
            .filter(|h| entered_today(h.pos.record.entry_time.timestamp()))
            .count()
            + recent.iter().filter(|c| entered_today(c.entry)).count();
        RiskSnapshot {
            trades_today: trades_today as u32,
            open_positions: open_at(None) as u32,
            day_realized_pnl: realized as f64 / 100.0,
            consecutive_losses_today: streak as u32,
            strategy_open_positions: q.strategy.as_deref().map_or(0, |s| open_at(Some(s)) as u32),
        }
    }

    /// Operator `flatten`: paper positions close now at their mark; live ones are sold at the
    /// broker (they close on the fill). Returns how many were closed or ordered out.
    fn flatten(&mut self) -> u32 {
        let mut n = 0;
        let mut i = 0;
        while i < self.open.len() {
            let h = &self.open[i];
            if h.pos.record.mode == Mode::Live {
                if h.exit.is_none() {
                    let (qty, mark) = (
                        h.pos.remaining,
                        h.ltp.unwrap_or(h.pos.record.current_premium),
                    );
                    self.order_exit(i, ExitReason::Manual, qty, mark);
                }
                n += 1;
                i += 1;
                continue;
            }
            let spot = self.prices.last(h.symbol);
            let (now, premium) = match (h.ltp, spot) {
                (Some(ltp), _) => (self.wall_now().max(h.last_mark), ltp),
                (None, Some((ts, spot))) => {
                    let now = ts.max(h.last_mark);
                    (now, self.cfg.chain.premium(&h.contract, spot, now))
                }
                (None, None) => {
                    log::error!(
                        "{NAME}: no price to flatten {}; kept open",
                        h.pos.record.option_symbol
                    );
                    i += 1;
                    continue;
                }
            };
            let h = &mut self.open[i];
            let change = h.pos.close(
                now,
                premium,
                ExitReason::Manual,
                self.cfg.exits.slippage_ticks,
            );
            let record = h.pos.record.clone();
            self.persist(&record);
            log::warn!(
                "{NAME}: FLATTENED {} realized ₹{:.2}",
                record.option_symbol,
                record.realized_pnl
            );
            if self.after(i, change, now) {
                self.open.remove(i);
            } else {
                i += 1;
            }
            n += 1;
        }
        self.refresh_summary();
        n
    }

    /// Operator close: the open position `q.position` (id or unique prefix) is closed at
    /// `q.price` without an order; a live exit being worked for it is abandoned.
    fn close_by_operator(&mut self, q: ClosePosition) -> Result<PositionRecord, String> {
        let key = q.position.trim().to_ascii_lowercase();
        if key.len() < 8 {
            return Err(format!(
                "position {:?}: give its id or at least 8 characters of it (ctl positions)",
                q.position
            ));
        }
        let found: Vec<usize> = (0..self.open.len())
            .filter(|&i| {
                self.open[i]
                    .pos
                    .record
                    .position_id
                    .to_string()
                    .starts_with(&key)
            })
            .collect();
        let i = match found.as_slice() {
            [i] => *i,
            [] => return Err(format!("no open position {:?}", q.position)),
            _ => {
                return Err(format!(
                    "{:?} matches {} open positions: give more of the id",
                    q.position,
                    found.len()
                ))
            }
        };
        let tick = self.open[i].pos.tick;
        if !(q.price.is_finite() && q.price > 0.0)
            || (round_to_tick(q.price, tick) - q.price).abs() > 1e-9
        {
            return Err(format!(
                "price {}: must be a positive premium on the {tick} tick",
                q.price
            ));
        }
        let h = &mut self.open[i];
        let now = match self.cfg.clock {
            Clock::Wall(c) => c.now().max(h.last_mark),
            Clock::Data => h.last_mark,
        };
        let qty = h.pos.remaining;
        let change = h
            .pos
            .fill_sell(now, qty, paise(q.price) * qty as i64, ExitReason::Manual);
        let id = h.pos.record.position_id;
        let was_exiting = h.exit.take().is_some();
        let record = h.pos.record.clone();
        self.persist(&record);
        log::warn!(
            "{NAME}: CLOSED BY OPERATOR {} × {qty} @ {} (no order placed) realized ₹{:.2}",
            record.option_symbol,
            q.price,
            record.realized_pnl
        );
        if was_exiting {
            if let Some((_, abandon)) = &self.broker {
                self.count_broker_send();
                abandon.do_send(AbandonExit(id));
            }
        }
        if self.after(i, change, now) {
            self.open.remove(i);
        }
        self.refresh_summary();
        Ok(record)
    }

    /// Wall-clock monitor (live feeds): marks every open position at its symbol's last price.
    fn monitor(&mut self) {
        if self.cfg.real_marks {
            // Marked on the broker's option quotes instead.
            return;
        }
        let now = self.wall_now();
        for sym in 0..self.prices.symbols() {
            if let Some((_, px)) = self.prices.last(sym) {
                self.on_price(sym, now, px);
            }
        }
        self.roll_day(now);
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
        self.me = Some(ctx.address().recipient());
        if self.restarts == 0 {
            self.recover(ctx);
        }
        if matches!(self.cfg.clock, Clock::Wall(_)) {
            // Registered here so that it comes back after a restart (actix cancels intervals).
            ctx.run_interval(self.cfg.monitor_interval, |act, ctx| {
                guard_wake(act.m, ctx, |_| act.monitor());
            });
        }
    }
}

impl PositionManager {
    /// Recovery: open positions of an earlier run (the store's server rows plus its outbox)
    /// keep being monitored. Holds the mailbox until answered; retried every few seconds when
    /// the read fails (the executor trades nothing until its own recovery read succeeds).
    fn recover(&mut self, ctx: &mut Context<Self>) {
        // On the live clock, today's closed positions too: the day's loss limit, losing streak
        // and results go on from where the last run left them.
        let closed_since = self
            .cfg
            .clock
            .wall_now()
            .map(|now| self.cfg.chain.session.open_of(now));
        ctx.wait(
            self.db
                .send(LoadBook { closed_since })
                .into_actor(self)
                .map(|res, act, ctx| {
                    let err = match res {
                        Ok(Ok(r)) => {
                            let (n, k) = (r.open.len(), r.closed.len());
                            for p in r.open {
                                act.adopt(p);
                            }
                            for p in r.closed {
                                act.adopt_closed(&p);
                            }
                            if n + k > 0 {
                                log::info!(
                                    "{NAME}: recovered {n} open positions and {k} closed today from the store"
                                );
                            }
                            return;
                        }
                        Ok(Err(e)) => e.to_string(),
                        Err(e) => format!("DbWriter unreachable: {e}"),
                    };
                    log::error!("{NAME}: cannot reload open positions: {err}; retrying in 3 s");
                    ctx.run_later(std::time::Duration::from_secs(3), |act, ctx| {
                        act.recover(ctx)
                    });
                }),
        );
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

    fn handle(&mut self, _: FlattenAll, ctx: &mut Context<Self>) -> u32 {
        guard(self.m, ctx, |_| self.flatten()).unwrap_or(0)
    }
}

impl Handler<OptionMarks> for PositionManager {
    type Result = ();

    fn handle(&mut self, msg: OptionMarks, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| self.on_option_marks(&msg));
    }
}

impl Handler<ExitFilled> for PositionManager {
    type Result = ();

    fn handle(&mut self, msg: ExitFilled, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| self.on_exit_filled(msg));
    }
}

impl Handler<UseBroker> for PositionManager {
    type Result = ();

    fn handle(&mut self, msg: UseBroker, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.broker = Some((msg.0, msg.1));
    }
}

impl Handler<GetOpenPositions> for PositionManager {
    type Result = Vec<PositionRecord>;

    fn handle(&mut self, _: GetOpenPositions, _ctx: &mut Context<Self>) -> Vec<PositionRecord> {
        self.m.count_handled();
        self.open.iter().map(|h| h.pos.record.clone()).collect()
    }
}

impl Handler<ClosePosition> for PositionManager {
    type Result = Result<PositionRecord, String>;

    fn handle(&mut self, msg: ClosePosition, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| self.close_by_operator(msg))
            .unwrap_or_else(|| Err("PositionManager failed on this request (restarting)".into()))
    }
}

impl Handler<GetOpenOptions> for PositionManager {
    type Result = Vec<String>;

    fn handle(&mut self, _: GetOpenOptions, _ctx: &mut Context<Self>) -> Vec<String> {
        self.m.count_handled();
        let mut v: Vec<String> = self
            .open
            .iter()
            .map(|h| h.pos.record.option_symbol.clone())
            .collect();
        v.sort();
        v.dedup();
        v
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
        self.m.count_handled();
        self.opened_subs.extend(msg.opened);
        self.closed_subs.extend(msg.closed);
    }
}

impl Handler<GetPositionSummary> for PositionManager {
    type Result = PositionSummary;

    fn handle(&mut self, _: GetPositionSummary, _ctx: &mut Context<Self>) -> PositionSummary {
        self.m.count_handled();
        let now = match self.cfg.clock {
            Clock::Wall(c) => c.now(),
            Clock::Data => self.prices.latest().unwrap_or(0),
        };
        let day_start = self.cfg.chain.session.day_start(now);
        let (net, charges) = self
            .closed
            .iter()
            .filter(|c| c.exit >= day_start && c.exit <= now)
            .fold((0i64, 0i64), |(n, k), c| {
                (n + c.pnl_paise, k + c.charges_paise)
            });
        PositionSummary {
            day_realized_pnl: net as f64 / 100.0,
            day_realized_pnl_gross: (net + charges) as f64 / 100.0,
            day_charges: charges as f64 / 100.0,
            ..self.summary.clone()
        }
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

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {
        self.m.count_handled();
    }
}

impl Handler<GetRestarts> for PositionManager {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.m.count_handled();
        self.restarts
    }
}

#[cfg(test)]
mod tests;
