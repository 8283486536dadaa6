//! **Broker** — the engine's hand at Kite Connect: listed option chains and real orders.
//!
//! - Owns: the [`KiteClient`], the NFO instrument dump, the order settings, the exits being
//!   worked, its counters.
//! - Handles: [`GetOptionChain`] (from OptionsExecutor: the expiry the rules pick among the
//!   listed ones, the strikes around the money, quoted now), [`PlaceEntry`] (from
//!   OptionsExecutor), [`PlaceExit`] and [`AbandonExit`] (from PositionManager), [`GetBrokerStats`],
//!   [`InjectPanic`], [`GetRestarts`].
//! - Sends: [`ExitFilled`] to the exit's `reply_to`; [`Persist`] of alarm rows (`audit_events`)
//!   to DbWriter; [`messages::RaiseAlarm`] to the Notifier (exit not filled, entry short of its
//!   slices or of unknown outcome) when alerts are on.
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
use crate::kite::{Instrument, KiteClient, OrderRequest, OrderType, TransactionType};
use crate::live_orders::{enter, exit_slice_tag, sell, Attempt};
pub use crate::live_orders::{exit_tag, filled_value};
use crate::metrics::{ActorMetrics, Tracked};
use crate::options::chain::ChainModel;
use crate::options::listed::{around_atm, expiries};
use crate::options::position::order_slices;
use crate::options::strike::choose_from;
use crate::supervisor::{guard, guard_wake, note_restart};

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
    dump: Arc<Vec<Instrument>>,
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
}

impl Broker {
    /// A broker trading through `client` with the NFO instrument dump `dump`.
    pub fn new(
        cfg: BrokerConfig,
        client: Arc<KiteClient>,
        dump: Arc<Vec<Instrument>>,
        db: Tracked<DbWriter>,
        m: &'static ActorMetrics,
    ) -> Self {
        Broker {
            cfg,
            client,
            dump,
            db,
            exits: HashSet::new(),
            entries: HashMap::new(),
            stats: BrokerStats::default(),
            restarts: 0,
            m,
            replies_m: None,
        }
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
        let fut = async move { sell(&client, &reqs, poll, wait).await };
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
            let listed = expiries(&self.dump, &q.underlying, today, c.expiry_preference);
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
                &self.dump,
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
        let (client, cfg) = (self.client.clone(), self.cfg.clone());
        let fut = async move { enter(&client, &cfg, &p).await };
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
                EntryResult::Refused { .. } => act.stats.entries_refused += 1,
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
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::kite::tag_for;
    use crate::kite::testkit::{client, form, ok};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    fn cfg() -> BrokerConfig {
        let c = crate::config::Config::default_config().unwrap();
        let chain = crate::options_executor::TradeConfig::from_config(
            &c,
            crate::logic::session::Session::nse(),
        )
        .chain;
        let mut b = BrokerConfig::from_config(&c, chain);
        b.poll = Duration::from_millis(20);
        b.fill_timeout = Duration::from_millis(300);
        b
    }

    fn broker(server: &MockServer, cfg: BrokerConfig) -> Addr<Broker> {
        let reg = crate::metrics::Registry::new(true);
        let db = Tracked::new(DbWriter::start_unsupervised_for_tests(), reg.db_writer);
        Broker::new(
            cfg,
            Arc::new(client(server)),
            Arc::default(),
            db,
            reg.broker,
        )
        .start()
    }

    fn entry(signal: u128) -> PlaceEntry {
        PlaceEntry {
            signal_id: Uuid::from_u128(signal),
            option: MarketOption {
                tradingsymbol: "NIFTY25D0924000CE".into(),
                exchange: "NFO".into(),
                underlying: "NIFTY".into(),
                expiry: chrono::NaiveDate::from_ymd_opt(2025, 12, 9).unwrap(),
                strike: 24_000.0,
                kind: OptionType::CE,
                lot_size: 75,
                tick_size: 0.05,
                ltp: 101.0,
                bid: 100.95,
                ask: 101.05,
                volume: 10_000,
                oi: 50_000,
            },
            quantity: 150,
            price: 101.05,
            freeze_qty: None,
        }
    }

    fn order(id: &str, status: &str, filled: u32, avg: f64, tag: &str) -> serde_json::Value {
        serde_json::json!({"order_id": id, "status": status, "tradingsymbol": "NIFTY25D0924000CE",
            "exchange": "NFO", "transaction_type": "BUY", "order_type": "LIMIT", "quantity": 150,
            "filled_quantity": filled, "average_price": avg, "tag": tag})
    }

    /// `GET path` answers `data`.
    async fn get(server: &MockServer, p: &str, data: serde_json::Value) {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ok(data))
            .mount(server)
            .await;
    }

    async fn margins(server: &MockServer, needed: f64, net: f64) {
        Mock::given(method("POST"))
            .and(path("/margins/orders"))
            .respond_with(ok(serde_json::json!([{"type": "equity", "total": needed}])))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/user/margins/equity"))
            .respond_with(ok(serde_json::json!({"enabled": true, "net": net})))
            .mount(server)
            .await;
    }

    async fn posts(server: &MockServer) -> Vec<Request> {
        server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/orders/regular")
            .collect()
    }

    #[actix_rt::test]
    async fn a_margin_shortfall_refuses_without_placing() {
        let s = MockServer::start().await;
        get(&s, "/orders", serde_json::json!([])).await;
        margins(&s, 15_157.5, 9_000.0).await;
        let r = broker(&s, cfg()).send(entry(1)).await.unwrap();
        match r {
            EntryResult::Refused { reason, detail } => {
                assert_eq!(reason, RejectReason::InsufficientMargin);
                assert!(
                    detail.contains("₹15157.50") && detail.contains("₹9000.00"),
                    "{detail}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(posts(&s).await.is_empty(), "nothing placed");
    }

    #[actix_rt::test]
    async fn an_order_already_tagged_for_the_signal_is_followed_not_placed_again() {
        let s = MockServer::start().await;
        let tag = tag_for(&Uuid::from_u128(2));
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(ok(serde_json::json!([order(
                "A7", "COMPLETE", 150, 101.15, &tag
            )])))
            .mount(&s)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders/A7"))
            .respond_with(ok(serde_json::json!([order(
                "A7", "COMPLETE", 150, 101.15, &tag
            )])))
            .mount(&s)
            .await;
        let r = broker(&s, cfg()).send(entry(2)).await.unwrap();
        assert!(
            matches!(&r, EntryResult::Filled { order_id, quantity: 150, average_price, .. } if order_id == "A7" && *average_price == 101.15),
            "{r:?}"
        );
        assert!(posts(&s).await.is_empty(), "no second order");
    }

    /// OPEN until a cancel arrives, then CANCELLED with `filled` filled.
    struct OpenUntilCancelled(Arc<AtomicBool>, u32);
    impl Respond for OpenUntilCancelled {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            let (status, filled) = if self.0.load(Ordering::SeqCst) {
                ("CANCELLED", self.1)
            } else {
                ("OPEN", 0)
            };
            ok(serde_json::json!([order(
                "B1", status, filled, 101.05, "t"
            )]))
        }
    }
    struct Cancel(Arc<AtomicBool>);
    impl Respond for Cancel {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            self.0.store(true, Ordering::SeqCst);
            ok(serde_json::json!({"order_id": "B1"}))
        }
    }

    async fn unfilled(filled: u32) -> (MockServer, EntryResult) {
        let s = MockServer::start().await;
        let cancelled = Arc::new(AtomicBool::new(false));
        get(&s, "/orders", serde_json::json!([])).await;
        margins(&s, 15_157.5, 500_000.0).await;
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(ok(serde_json::json!({"order_id": "B1"})))
            .mount(&s)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders/B1"))
            .respond_with(OpenUntilCancelled(cancelled.clone(), filled))
            .mount(&s)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/orders/regular/B1"))
            .respond_with(Cancel(cancelled))
            .mount(&s)
            .await;
        let r = broker(&s, cfg()).send(entry(3)).await.unwrap();
        (s, r)
    }

    #[actix_rt::test]
    async fn an_entry_not_filled_in_time_is_cancelled_and_refused() {
        let (s, r) = unfilled(0).await;
        assert!(
            matches!(&r, EntryResult::Refused { reason: RejectReason::OrderNotFilled, detail } if detail.contains("B1 CANCELLED")),
            "{r:?}"
        );
        let sent = posts(&s).await;
        assert_eq!(sent.len(), 1);
        let f = form(&sent[0]);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("tag"), Some(tag_for(&Uuid::from_u128(3)).as_str()));
        assert_eq!(
            (
                get("order_type"),
                get("price"),
                get("quantity"),
                get("product")
            ),
            (Some("LIMIT"), Some("101.05"), Some("150"), Some("NRML"))
        );
    }

    #[actix_rt::test]
    async fn a_partial_fill_before_the_cancel_is_kept() {
        let (_s, r) = unfilled(75).await;
        assert!(
            matches!(&r, EntryResult::Filled { quantity: 75, .. }),
            "{r:?}"
        );
    }

    #[actix_rt::test]
    async fn a_rerun_of_a_sliced_entry_places_only_the_slices_not_in_the_book() {
        // 225 with a freeze quantity of one lot (75): three slices. The first two were placed
        // before a crash; the re-run finds them by their tags and places only the third.
        let s = MockServer::start().await;
        let sid = Uuid::from_u128(5);
        let tag = |i| crate::live_orders::entry_tag(&sid, i);
        let placed = |id: &str, i| order(id, "COMPLETE", 75, 101.05, &tag(i));
        get(
            &s,
            "/orders",
            serde_json::json!([placed("A1", 0), placed("A2", 1)]),
        )
        .await;
        for (id, i) in [("A1", 0), ("A2", 1), ("A3", 2)] {
            get(
                &s,
                &format!("/orders/{id}"),
                serde_json::json!([placed(id, i)]),
            )
            .await;
        }
        margins(&s, 5_000.0, 500_000.0).await;
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(ok(serde_json::json!({"order_id": "A3"})))
            .mount(&s)
            .await;
        let mut e = entry(5);
        (e.quantity, e.freeze_qty) = (225, Some(75));
        let r = broker(&s, cfg()).send(e).await.unwrap();
        match &r {
            EntryResult::Filled {
                order_id,
                quantity,
                orders,
                shortfall,
                ..
            } => {
                assert_eq!((order_id.as_str(), *quantity), ("A1,A2,A3", 225));
                assert_eq!(orders, &vec![10_105 * 75; 3], "each slice's value");
                assert_eq!(shortfall, &None);
            }
            other => panic!("{other:?}"),
        }
        let sent = posts(&s).await;
        assert_eq!(sent.len(), 1, "only the missing slice");
        let f = form(&sent[0]);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("tag"), Some(tag(2)));
        assert_eq!(get("quantity").as_deref(), Some("75"));
        // The tags: the signal's, then two derived from the position and the slice.
        assert_eq!(tag(0), tag_for(&sid));
        assert!(tag(1) != tag(0) && tag(2) != tag(1) && tag(2) != tag(0));
    }

    /// Collects the exit fills the broker reports.
    struct Fills(Arc<std::sync::Mutex<Vec<ExitFilled>>>);
    impl Actor for Fills {
        type Context = Context<Self>;
    }
    impl Handler<ExitFilled> for Fills {
        type Result = ();
        fn handle(&mut self, f: ExitFilled, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(f);
        }
    }

    #[actix_rt::test]
    async fn a_resent_sliced_exit_follows_the_slice_it_placed_and_sells_only_the_rest() {
        // Selling 150 in slices of 75: slice 1 of attempt 1 was placed and filled before a
        // restart (the broker now holds 75). The exit asked again finds it by its tag, reports
        // its fill, and places only slice 2.
        let s = MockServer::start().await;
        let pid = Uuid::from_u128(9);
        let tag = |i| crate::live_orders::exit_slice_tag(&pid, 150, 1, i);
        let sold = |id: &str, i| {
            let mut o = order(id, "COMPLETE", 75, 60.0, &tag(i));
            o["transaction_type"] = "SELL".into();
            o["quantity"] = 75.into();
            o
        };
        get(&s, "/orders", serde_json::json!([sold("X1", 0)])).await;
        get(&s, "/orders/X1", serde_json::json!([sold("X1", 0)])).await;
        get(&s, "/orders/X2", serde_json::json!([sold("X2", 1)])).await;
        get(
            &s,
            "/portfolio/positions",
            serde_json::json!({"net": [{"tradingsymbol": "NIFTY25D0924000CE", "exchange": "NFO",
                "product": "NRML", "instrument_token": 1, "quantity": 75, "average_price": 100.0,
                "last_price": 60.0}], "day": []}),
        )
        .await;
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(ok(serde_json::json!({"order_id": "X2"})))
            .mount(&s)
            .await;
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let me = Fills(got.clone()).start();
        broker(&s, cfg()).do_send(PlaceExit {
            position_id: pid,
            tradingsymbol: "NIFTY25D0924000CE".into(),
            quantity: 150,
            lot_size: 75,
            freeze_qty: Some(75),
            mark: 60.0,
            reason: "STOP_LOSS_HIT".into(),
            reply_to: me.recipient(),
        });
        for _ in 0..500 {
            if got.lock().unwrap().len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let fills: Vec<(String, u32, i64)> = got
            .lock()
            .unwrap()
            .iter()
            .map(|f| (f.order_id.clone(), f.quantity, f.value_paise))
            .collect();
        assert_eq!(
            fills,
            vec![("X1".into(), 75, 6000 * 75), ("X2".into(), 75, 6000 * 75)],
            "one fill per executed order"
        );
        let sent = posts(&s).await;
        assert_eq!(sent.len(), 1, "slice 1 is not sold twice");
        let f = form(&sent[0]);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            (
                get("tag"),
                get("quantity").as_deref(),
                get("transaction_type").as_deref()
            ),
            (Some(tag(1)), Some("75"), Some("SELL"))
        );
    }

    #[actix_rt::test]
    async fn a_repeated_entry_in_flight_gets_the_same_answer_not_a_second_order() {
        let s = MockServer::start().await;
        get(&s, "/orders", serde_json::json!([])).await;
        margins(&s, 15_157.5, 500_000.0).await;
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(
                ok(serde_json::json!({"order_id": "C1"})).set_delay(Duration::from_millis(200)),
            )
            .mount(&s)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders/C1"))
            .respond_with(ok(serde_json::json!([order(
                "C1", "COMPLETE", 150, 101.0, "t"
            )])))
            .mount(&s)
            .await;
        let b = broker(&s, cfg());
        // Both are in the mailbox before either is answered (`send` enqueues at once).
        let (f1, f2) = (b.send(entry(4)), b.send(entry(4)));
        let (r1, r2) = (f1.await.unwrap(), f2.await.unwrap());
        assert!(matches!(r1, EntryResult::Filled { .. }), "{r1:?}");
        assert_eq!(r1, r2);
        assert_eq!(posts(&s).await.len(), 1);
    }

    /// Collects the alarms raised.
    struct Alarms(Arc<std::sync::Mutex<Vec<Alarm>>>);

    impl Actor for Alarms {
        type Context = Context<Self>;
    }

    impl Handler<messages::RaiseAlarm> for Alarms {
        type Result = ();

        fn handle(&mut self, m: messages::RaiseAlarm, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(m.0);
        }
    }

    #[actix_rt::test]
    async fn an_entry_of_unknown_outcome_is_an_alarm_naming_the_signal_and_its_tag() {
        let s = MockServer::start().await;
        // Every placement times out on the exchange's side; the book never shows the tag.
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(crate::kite::testkit::err(
                503,
                "NetworkException",
                "oms unreachable",
            ))
            .mount(&s)
            .await;
        get(&s, "/orders", serde_json::json!([])).await;
        margins(&s, 15_157.5, 1_000_000.0).await;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut c = cfg();
        c.alarms = AlarmSink::new(Alarms(seen.clone()).start().recipient());
        let r = broker(&s, c).send(entry(7)).await.unwrap();
        assert!(
            matches!(
                r,
                EntryResult::Refused {
                    reason: RejectReason::BrokerError,
                    ..
                }
            ),
            "{r:?}"
        );
        // The alarm was sent before the refusal; let the collector take it.
        for _ in 0..100 {
            if !seen.lock().unwrap().is_empty() {
                break;
            }
            actix_rt::task::yield_now().await;
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let a = &seen[0];
        assert_eq!(a.kind, AlarmKind::EntryUnknownOutcome);
        assert_eq!(a.signal_id, Some(Uuid::from_u128(7).to_string()));
        assert_eq!(a.symbol.as_deref(), Some("NIFTY25D0924000CE"));
        assert_eq!(
            a.order.as_deref(),
            Some(tag_for(&Uuid::from_u128(7)).as_str())
        );
        assert!(
            a.message.contains("has an unknown outcome") && a.message.contains("oms unreachable"),
            "{}",
            a.message
        );
    }
}
