//! **Broker** — the engine's hand at Kite Connect: listed option chains and real orders.
//!
//! - Owns: the [`KiteClient`], the NFO instrument dump, the order settings, the exits being
//!   worked, its counters.
//! - Owns: the [`KiteClient`], the NFO instrument dump, the order settings, the exits being
//!   worked, the board of order updates KiteTicker pushed ([`OrderBoard`]), the differences
//!   the last reconciliation found, its counters.
//! - Handles: [`GetOptionChain`] (from OptionsExecutor: the expiry the rules pick among the
//!   listed ones, the strikes around the money, quoted now), [`PlaceEntry`] (from
//!   OptionsExecutor), [`PlaceExit`] and [`AbandonExit`] (from PositionManager),
//!   [`OrderPushed`] (from the KiteTicker stream), [`GetBrokerStats`], [`InjectPanic`],
//!   [`GetRestarts`].
//! - Sends: [`ExitFilled`] to the exit's `reply_to`; [`GetOpenPositions`] to PositionManager
//!   (reconciliation); [`Persist`] of alarm rows (`audit_events`) to DbWriter;
//!   [`messages::RaiseAlarm`] to the Notifier (exit not filled, entry short of its slices or of
//!   unknown outcome, an order rejected, the book diverging from the broker) when alerts are on.
//!
//! Entries (seed §4.6 live checks): above the underlying's freeze quantity an entry is several
//! orders (slices in whole lots, each within it), each with its own deterministic tag (slice 0
//! the signal's tag, [`crate::live_orders::entry_tag`]). The order book is searched for the
//! tags first (a re-run after a crash follows the orders it already placed instead of placing
//! more); then the margin the orders still to place need (`/margins/orders`) against the
//! equity segment's net; then tagged placements (`place_order_idempotent`: a timeout is looked
//! up by tag, never blindly re-sent); then every order's history, together, until terminal. An
//! order still open after `entry_fill_timeout_seconds` is cancelled; whatever filled before the
//! cancel is kept. The position is what the slices filled; a slice that filled nothing is an
//! alarm (`entry_alarm` audit row), and is not chased (an entry is a decision at a price).
//!
//! Exits are never forgotten: each attempt is the slices of what remains, each slice with its
//! own deterministic tag from the position, the quantity, the attempt and the slice ([`exit_tag`]
//! for the first, [`crate::live_orders::exit_slice_tag`] for the others), looked up
//! before it is placed; an attempt never sells more than the broker's net position holds (an
//! exit must not open a short). Each slice's fill is reported on its own ([`ExitFilled`]: one
//! executed order each), and a rejected, cancelled or failed slice is an alarm (error log,
//! `exit_alarm` audit row, counter) followed by another attempt at what remains after a
//! doubling wait. PositionManager keeps the position open until the fills arrive and asks
//! again if the broker restarted meanwhile.
//!
//! Orders pushed and reconciled ([`watch`]): KiteTicker's order updates wake the order's
//! follower at once (REST is read then, and is what counts); a pushed rejection is an alarm
//! with the exchange's reason the moment it arrives. Every `kite.reconcile_seconds` the
//! broker's positions and open orders are compared with the book; a difference seen at two
//! looks in a row is an alarm naming it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use messages::msg::*;
use messages::{
    Alarm, AlarmKind, AuditEvent, EntryResult, MarketOption, OptionType, RejectReason, Row,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::alerts::AlarmSink;
use crate::config::{ExpiryPreference, LiveOrderType, Rules};
use crate::db_writer::DbWriter;
use crate::kite::{KiteClient, OrderRequest, OrderType, SharedDump, TransactionType};
use crate::live_orders::{enter, exit_slice_tag, sell, Attempt};
pub use crate::live_orders::{exit_tag, filled_value};
use crate::metrics::TrackedRecipient;
use crate::metrics::{ActorMetrics, Tracked};
use crate::options::chain::ChainModel;
use crate::options::listed::{around_atm, expiries};
use crate::options::position::order_slices;
use crate::options::strike::choose_from;
use crate::order_board::OrderBoard;
use crate::reconcile::Divergence;
use crate::supervisor::{guard, guard_wake, note_restart};

mod watch;

const NAME: &str = "broker";

/// The broker's settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub exchange: String,
    pub product: String,
    pub entry_order_type: LiveOrderType,
    pub exit_order_type: LiveOrderType,
    pub market_protection: i32,
    pub fill_timeout: Duration,
    pub poll: Duration,
    pub exit_retry_initial: Duration,
    pub exit_retry_max: Duration,
    /// Expiry choice (as for the synthetic chain): preference, cut-off, rules.
    pub expiry_preference: ExpiryPreference,
    pub expiry_cutoff_hours: f64,
    pub rules: Rules,
    /// Strikes quoted on either side of the money.
    pub strikes_each_side: usize,
    /// For the expiries' closing times.
    pub chain: ChainModel,
    /// Where alarms go (off unless `alerts` is configured).
    pub alarms: AlarmSink,
    /// How often the broker's positions and open orders are compared with the book (`None`:
    /// never).
    pub reconcile_every: Option<Duration>,
}

impl BrokerConfig {
    /// The broker's settings from the config.
    pub fn from_config(cfg: &crate::config::Config, chain: ChainModel) -> Self {
        let k = &cfg.kite;
        let eff = cfg.effective();
        BrokerConfig {
            exchange: k.exchange.clone(),
            product: k.product.clone(),
            entry_order_type: k.entry_order_type,
            exit_order_type: k.exit_order_type,
            market_protection: k.market_protection,
            fill_timeout: Duration::from_secs(k.entry_fill_timeout_seconds),
            poll: Duration::from_millis(k.order_poll_millis),
            exit_retry_initial: Duration::from_secs_f64(k.exit_retry_initial_seconds),
            exit_retry_max: Duration::from_secs_f64(k.exit_retry_max_seconds),
            expiry_preference: eff.selection.expiry_preference,
            expiry_cutoff_hours: cfg.paper.expiry_cutoff_hours,
            rules: eff.rules,
            strikes_each_side: eff.selection.max_strikes_from_atm as usize,
            chain,
            alarms: AlarmSink::off(),
            reconcile_every: (k.reconcile_seconds > 0)
                .then(|| Duration::from_secs(k.reconcile_seconds)),
        }
    }

    pub(crate) fn request(
        &self,
        symbol: &str,
        side: TransactionType,
        kind: LiveOrderType,
        quantity: u32,
        price: f64,
        tag: String,
    ) -> OrderRequest {
        let order_type = match kind {
            LiveOrderType::Limit => OrderType::Limit,
            LiveOrderType::Market => OrderType::Market,
        };
        let mut r = OrderRequest::new(
            self.exchange.clone(),
            symbol,
            side,
            order_type,
            quantity,
            self.product.clone(),
        );
        match kind {
            LiveOrderType::Limit => r.price = Some(price),
            LiveOrderType::Market => r.market_protection = Some(self.market_protection),
        }
        r.tag = Some(tag);
        r
    }
}

/// Exit attempts tried per position when matching the day's orders at start.
pub const EXIT_ATTEMPTS_MATCHED: u32 = 64;

/// The exit an attempt works on.
#[derive(Clone)]
struct ExitJob {
    msg: PlaceExit,
    /// Still to sell.
    remaining: u32,
}

/// The Broker actor.
pub struct Broker {
    cfg: BrokerConfig,
    client: Arc<KiteClient>,
    /// The NFO dump, replaced whole by the daily refresh.
    dump: SharedDump,
    db: Tracked<DbWriter>,
    /// Positions whose exit is being worked.
    exits: HashSet<Uuid>,
    /// Entries being worked, with whoever else asked for the same signal meanwhile (an
    /// executor restarted mid-entry asks again: it gets the same answer, not a second order).
    entries: HashMap<Uuid, Vec<oneshot::Sender<EntryResult>>>,
    stats: BrokerStats,
    restarts: u64,
    m: &'static ActorMetrics,
    /// PositionManager's metrics: the [`ExitFilled`] replies are counted there.
    replies_m: Option<&'static ActorMetrics>,
    /// The latest order updates KiteTicker pushed, and the orders followed now.
    board: Arc<OrderBoard>,
    /// Where the book's open positions are asked for (reconciliation).
    book: Option<TrackedRecipient<GetOpenPositions>>,
    /// The differences the last reconciliation found, and those raised as alarms (each once
    /// while it lasts).
    last_found: Vec<Divergence>,
    alarmed: Vec<Divergence>,
    /// A reconciliation is under way.
    reconciling: bool,
}

impl Broker {
    /// A broker trading through `client` with the NFO instrument dump `dump`.
    pub fn new(
        cfg: BrokerConfig,
        client: Arc<KiteClient>,
        dump: impl Into<SharedDump>,
        db: Tracked<DbWriter>,
        m: &'static ActorMetrics,
    ) -> Self {
        Broker {
            cfg,
            client,
            dump: dump.into(),
            db,
            exits: HashSet::new(),
            entries: HashMap::new(),
            stats: BrokerStats::default(),
            restarts: 0,
            m,
            replies_m: None,
            board: OrderBoard::new(),
            book: None,
            last_found: Vec::new(),
            alarmed: Vec::new(),
            reconciling: false,
        }
    }

    /// Asks `book` (PositionManager) for the open positions at each reconciliation.
    pub fn with_book(mut self, book: TrackedRecipient<GetOpenPositions>) -> Self {
        self.book = Some(book);
        self
    }

    /// Counts the [`ExitFilled`] replies (to PlaceExit's `reply_to`, PositionManager) in `m`.
    pub fn with_reply_metrics(mut self, m: &'static ActorMetrics) -> Self {
        self.replies_m = Some(m);
        self
    }

    fn alarm(&mut self, a: Alarm) {
        self.stats.exit_alarms += 1;
        self.audit_alarm("exit_alarm", a);
    }

    /// Logs an alarm, counts it as an error, records it in `audit_events` as `action` and
    /// hands it to the Notifier.
    fn audit_alarm(&mut self, action: &str, a: Alarm) {
        let detail = a.message.clone();
        log::error!("{NAME}: ALARM {detail}");
        self.m.on_error(detail.clone());
        self.cfg.alarms.raise(a);
        self.db
            .do_send(Persist(vec![Row::Audit(Box::new(AuditEvent {
                timestamp: Utc::now(),
                action: action.into(),
                detail,
                ok: false,
            }))]));
    }

    /// Works one attempt of `job`; then replies, or raises the alarm and tries again later.
    fn exit_attempt(&mut self, job: ExitJob, attempt: u32, ctx: &mut Context<Self>) {
        let p = &job.msg;
        if !self.exits.contains(&p.position_id) {
            log::warn!(
                "{NAME}: exit of {} for position {} abandoned (closed by the operator)",
                p.tradingsymbol,
                p.position_id
            );
            return;
        }
        let parts = order_slices(job.remaining, p.lot_size, p.freeze_qty);
        let reqs: Vec<OrderRequest> = parts
            .iter()
            .enumerate()
            .map(|(i, q)| {
                self.cfg.request(
                    &p.tradingsymbol,
                    TransactionType::Sell,
                    self.cfg.exit_order_type,
                    *q,
                    p.mark,
                    exit_slice_tag(&p.position_id, job.remaining, attempt, i),
                )
            })
            .collect();
        self.stats.exits_placed += reqs.len() as u64;
        let tags: Vec<&str> = reqs.iter().filter_map(|r| r.tag.as_deref()).collect();
        log::info!(
            "{NAME}: EXIT {} × {} ({}) attempt {attempt}{}, tag {}",
            p.tradingsymbol,
            job.remaining,
            p.reason,
            if parts.len() > 1 {
                format!(" in {} orders {parts:?}", parts.len())
            } else {
                String::new()
            },
            tags.join(",")
        );
        let (client, poll, wait) = (self.client.clone(), self.cfg.poll, self.cfg.fill_timeout);
        let board = self.board.clone();
        let fut = async move { sell(&client, &board, &reqs, poll, wait).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            guard_wake(act.m, ctx, |ctx| act.after_attempt(job, attempt, res, ctx));
        }));
    }

    /// The slices of an attempt came back: each fill is reported on its own (one executed
    /// order each); a slice that failed is an alarm, and what remains is tried again after
    /// the doubling wait; what a partial fill left is tried again at once.
    fn after_attempt(
        &mut self,
        mut job: ExitJob,
        attempt: u32,
        res: Vec<Attempt>,
        ctx: &mut Context<Self>,
    ) {
        let p = job.msg.clone();
        let before = job.remaining;
        let mut failed = Vec::new();
        for a in res {
            match a {
                Attempt::Filled {
                    order_id,
                    quantity,
                    price,
                    value_paise,
                } => {
                    self.stats.exits_filled += 1;
                    log::info!(
                        "{NAME}: EXIT FILLED {} × {quantity} @ {price} (order {order_id})",
                        p.tradingsymbol
                    );
                    if let Some(m) = self.replies_m {
                        m.on_send();
                    }
                    p.reply_to.do_send(ExitFilled {
                        position_id: p.position_id,
                        order_id,
                        quantity,
                        average_price: price,
                        value_paise,
                        at: Utc::now().timestamp(),
                    });
                    job.remaining = job.remaining.saturating_sub(quantity);
                }
                Attempt::Failed(why) => failed.push(why),
            }
        }
        if job.remaining == 0 {
            self.exits.remove(&p.position_id);
            self.stats.exits_pending = self.exits.len() as u64;
            return;
        }
        if failed.is_empty() {
            self.exit_attempt(job, attempt + 1, ctx);
            return;
        }
        let wait = self
            .cfg
            .exit_retry_initial
            .saturating_mul(1 << attempt.min(16).saturating_sub(1))
            .min(self.cfg.exit_retry_max);
        for why in failed {
            let a = Alarm::new(
                AlarmKind::ExitNotFilled,
                format!(
                    "exit of {} × {before} for position {} ({}) attempt {attempt} failed: {why}; {} still to sell, trying again in {:.1} s",
                    p.tradingsymbol,
                    p.position_id,
                    p.reason,
                    job.remaining,
                    wait.as_secs_f64()
                ),
            )
            .symbol(p.tradingsymbol.clone())
            .position(p.position_id);
            self.alarm(a);
        }
        ctx.run_later(wait, move |act, ctx| {
            act.exit_attempt(job, attempt + 1, ctx)
        });
    }
}

impl Actor for Broker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        if let (Some(every), Some(_)) = (self.cfg.reconcile_every, &self.book) {
            ctx.run_interval(every, |act, ctx| {
                guard_wake(act.m, ctx, |ctx| act.reconcile(ctx));
            });
        }
    }
}

impl Supervised for Broker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
        // The attempts in flight were cancelled; PositionManager asks again for its exits, the
        // executor for its entry (found by its tag, not placed twice).
        self.exits.clear();
        self.entries.clear();
        self.stats.exits_pending = 0;
        // The reconciliation in flight was cancelled too.
        self.reconciling = false;
    }
}

impl Handler<GetOptionChain> for Broker {
    type Result = ResponseFuture<Result<OptionChain, (RejectReason, String)>>;

    fn handle(&mut self, q: GetOptionChain, ctx: &mut Context<Self>) -> Self::Result {
        let m = self.m;
        let plan = guard(m, ctx, |_| {
            let c = &self.cfg;
            let today = chrono::DateTime::from_timestamp(q.at + c.chain.session.offset, 0)
                .map(|d| d.date_naive())
                .unwrap_or_default();
            let dump = self.dump.get();
            let listed = expiries(&dump, &q.underlying, today, c.expiry_preference);
            let expiry = choose_from(listed, q.at, c.expiry_cutoff_hours, &c.rules, |e| {
                c.chain.expiry_ts(e)
            })
            .map_err(|e| {
                (
                    RejectReason::NoEligibleStrike,
                    format!("{}: {e} (instrument dump)", q.underlying),
                )
            })?;
            let picked: Vec<MarketOption> = around_atm(
                &dump,
                &q.underlying,
                expiry,
                q.kind,
                q.spot,
                c.strikes_each_side,
            )
            .into_iter()
            .map(|i| MarketOption {
                tradingsymbol: i.tradingsymbol.clone(),
                exchange: i.exchange.clone(),
                underlying: q.underlying.clone(),
                expiry,
                strike: i.strike,
                kind: q.kind,
                lot_size: i.lot_size,
                tick_size: i.tick_size,
                ltp: 0.0,
                bid: 0.0,
                ask: 0.0,
                volume: 0,
                oi: 0,
            })
            .collect();
            if picked.is_empty() {
                return Err((
                    RejectReason::NoEligibleStrike,
                    format!(
                        "no {} {} contracts of expiry {expiry} in the instrument dump",
                        q.underlying,
                        if q.kind == OptionType::CE { "CE" } else { "PE" }
                    ),
                ));
            }
            Ok((expiry, picked))
        });
        let client = self.client.clone();
        Box::pin(async move {
            let (expiry, mut options) = plan.unwrap_or_else(|| {
                Err((
                    RejectReason::BrokerError,
                    "the broker's chain lookup panicked".into(),
                ))
            })?;
            let keys: Vec<String> = options
                .iter()
                .map(|o| format!("{}:{}", o.exchange, o.tradingsymbol))
                .collect();
            let names: Vec<&str> = keys.iter().map(String::as_str).collect();
            let quotes = client
                .quote(&names)
                .await
                .map_err(|e| (RejectReason::BrokerError, format!("option quotes: {e}")))?;
            for (o, k) in options.iter_mut().zip(&keys) {
                if let Some(q) = quotes.get(k) {
                    o.ltp = q.last_price;
                    o.volume = q.volume.unwrap_or(0.0) as u64;
                    o.oi = q.oi.unwrap_or(0.0) as u64;
                    if let Some(d) = &q.depth {
                        o.bid = d.buy.first().map(|l| l.price).unwrap_or(0.0);
                        o.ask = d.sell.first().map(|l| l.price).unwrap_or(0.0);
                    }
                }
            }
            options.retain(|o| o.ltp > 0.0);
            Ok(OptionChain { expiry, options })
        })
    }
}

impl Handler<PlaceEntry> for Broker {
    type Result = ResponseActFuture<Self, EntryResult>;

    fn handle(&mut self, p: PlaceEntry, ctx: &mut Context<Self>) -> Self::Result {
        let id = p.signal_id;
        if let Some(waiting) = self.entries.get_mut(&id) {
            log::warn!(
                "{NAME}: entry for signal {id} already in flight: answering with its result"
            );
            let (tx, rx) = oneshot::channel();
            waiting.push(tx);
            return Box::pin(actix::fut::wrap_future(async move {
                rx.await.unwrap_or_else(|_| EntryResult::Refused {
                    reason: RejectReason::BrokerError,
                    detail: "the entry in flight was lost (broker restart): check the order book"
                        .into(),
                })
            }));
        }
        guard(self.m, ctx, |_| self.stats.entries_placed += 1);
        self.entries.insert(id, Vec::new());
        // The entry's orders' tags: a rejection already raised on a push is not raised again.
        let tags: Vec<String> =
            (0..crate::options::slicing::slices(p.quantity, p.option.lot_size, p.freeze_qty)
                .map(|s| s.len())
                .unwrap_or(1)
                .max(1))
                .map(|i| crate::live_orders::entry_tag(&id, i))
                .collect();
        let symbol = p.option.tradingsymbol.clone();
        let (client, cfg, board) = (self.client.clone(), self.cfg.clone(), self.board.clone());
        let fut = async move { enter(&client, &board, &cfg, &p).await };
        Box::pin(fut.into_actor(self).map(move |r, act, _| {
            match &r {
                EntryResult::Filled {
                    shortfall,
                    quantity,
                    order_id,
                    ..
                } => {
                    act.stats.entries_filled += 1;
                    if let Some(why) = shortfall {
                        // Sliced, and part of it did not fill: the position is what did.
                        let a = Alarm::new(
                            AlarmKind::EntryShortfall,
                            format!(
                                "entry for signal {id} filled {quantity} (orders {order_id}), not all of its slices: {why}"
                            ),
                        )
                        .signal(id)
                        .order(order_id.clone());
                        act.audit_alarm("entry_alarm", a);
                    }
                }
                EntryResult::Refused { reason, detail } => {
                    act.stats.entries_refused += 1;
                    // Rejected (by the exchange, or the order refused at placement) and not
                    // already raised when it was pushed: raised now, with the reason.
                    if *reason == RejectReason::OrderRejected && !act.board.rejection_raised(&tags)
                    {
                        let a = Alarm::new(
                            AlarmKind::OrderRejected,
                            format!("entry for signal {id} REJECTED: {detail}"),
                        )
                        .symbol(symbol)
                        .signal(id)
                        .order(tags.join(","));
                        act.audit_alarm("order_rejected", a);
                    }
                }
            }
            for w in act.entries.remove(&id).unwrap_or_default() {
                let _ = w.send(r.clone());
            }
            r
        }))
    }
}

impl Handler<PlaceExit> for Broker {
    type Result = ();

    fn handle(&mut self, p: PlaceExit, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |ctx| {
            if !self.exits.insert(p.position_id) {
                log::debug!(
                    "{NAME}: exit of position {} already being worked",
                    p.position_id
                );
                return;
            }
            self.stats.exits_pending = self.exits.len() as u64;
            let remaining = p.quantity;
            self.exit_attempt(ExitJob { msg: p, remaining }, 1, ctx);
        });
    }
}

impl Handler<AbandonExit> for Broker {
    type Result = ();

    fn handle(&mut self, msg: AbandonExit, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        if self.exits.remove(&msg.0) {
            self.stats.exits_pending = self.exits.len() as u64;
        }
    }
}

impl Handler<GetBrokerStats> for Broker {
    type Result = MessageResult<GetBrokerStats>;

    fn handle(&mut self, _: GetBrokerStats, _ctx: &mut Context<Self>) -> Self::Result {
        self.m.count_handled();
        let (disagreements, by_push) = self.board.counts();
        self.stats.push_disagreements = disagreements;
        self.stats.finished_by_push = by_push;
        MessageResult(self.stats.clone())
    }
}

impl Handler<InjectPanic> for Broker {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<GetRestarts> for Broker {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.m.count_handled();
        self.restarts
    }
}

#[cfg(test)]
mod tests;
