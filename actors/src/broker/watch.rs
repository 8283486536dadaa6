//! The Broker's watch over its orders between polls: the order updates KiteTicker pushes
//! ([`OrderPushed`]) and the periodic reconciliation with the broker's book.
//!
//! A pushed update goes on the [`OrderBoard`]: a final state wakes the order's follower,
//! which reads the order over REST at once (REST is what counts; see
//! [`crate::live_orders::wait_for_terminal`]). A pushed rejection is an alarm at once with the
//! exchange's reason (`order_rejected` in `audit_events`); the entry or exit it belongs to is
//! then recorded as today (the executor's rejected decision, the exit's alarm and retry).
//!
//! Reconciliation, every `kite.reconcile_seconds`: the broker's net positions and orders
//! (REST) and PositionManager's open positions ([`GetOpenPositions`]) are compared with
//! [`crate::reconcile::compare`]; a difference found at two looks in a row is an alarm
//! naming it (once while it lasts; `reconcile_alarm` in `audit_events`).

use std::collections::BTreeSet;

use messages::msg::{GetOpenPositions, OrderPushed, OrderUpdate};
use messages::PositionRecord;

use super::*;
use crate::kite::{KiteError, OrderState, Position, STATUS_COMPLETE, STATUS_REJECTED};
use crate::reconcile::{compare, confirmed, Ours};

impl Handler<OrderPushed> for Broker {
    type Result = ();

    fn handle(&mut self, m: OrderPushed, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| match m {
            OrderPushed::Update(u) => self.pushed(u),
            // Logged where the frame arrived.
            OrderPushed::Unreadable(_) => self.stats.order_updates_unreadable += 1,
            OrderPushed::TickerError(_) => self.stats.ticker_errors += 1,
        });
    }
}

impl Broker {
    /// One pushed order update: on the board (its follower wakes on a final state); a
    /// rejection is an alarm at once, once per order.
    fn pushed(&mut self, u: OrderUpdate) {
        self.stats.order_updates += 1;
        let what = format!(
            "order {} {} {} × {} (tag {})",
            u.order_id,
            u.transaction_type,
            u.tradingsymbol,
            u.quantity,
            u.tag.as_deref().unwrap_or("none")
        );
        let (id, symbol) = (u.order_id.clone(), u.tradingsymbol.clone());
        let reason = u
            .status_message
            .clone()
            .unwrap_or_else(|| "no reason given".into());
        let (status, filled, price) = (u.status.clone(), u.filled_quantity, u.average_price);
        let pushed = self.board.push(u);
        let again = pushed.previous.as_deref() == Some(status.as_str());
        match status.as_str() {
            STATUS_REJECTED if !again => {
                self.stats.rejections_pushed += 1;
                let a = Alarm::new(
                    AlarmKind::OrderRejected,
                    format!("{what} REJECTED by the exchange: {reason}"),
                )
                .symbol(symbol)
                .order(id);
                self.audit_alarm("order_rejected", a);
            }
            STATUS_COMPLETE if !again => {
                log::info!("{NAME}: pushed: {what} COMPLETE, {filled} filled at {price}")
            }
            s if filled > 0 && !again => log::info!(
                "{NAME}: pushed: {what} {s}, {filled} filled so far at {price} on average"
            ),
            s => log::info!("{NAME}: pushed: {what} {s}"),
        }
    }

    /// Starts a reconciliation unless one is under way: the broker's positions and orders,
    /// then the book's open positions.
    pub(super) fn reconcile(&mut self, ctx: &mut Context<Self>) {
        let Some(book) = self.book.clone() else {
            return;
        };
        if self.reconciling {
            log::warn!("{NAME}: reconcile: the last look is still under way; skipped");
            return;
        }
        self.reconciling = true;
        let before = self.board.followed();
        let client = self.client.clone();
        let fut = async move {
            let net = client.positions().await.map(|p| p.net);
            let orders = client.orders().await;
            let open = book.send(GetOpenPositions).await;
            (net, orders, open)
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |(net, orders, open), act, ctx| {
                    guard_wake(act.m, ctx, |_| act.reconciled(before, net, orders, open));
                }),
        );
    }

    fn reconciled(
        &mut self,
        before: HashSet<String>,
        net: Result<Vec<Position>, KiteError>,
        orders: Result<Vec<OrderState>, KiteError>,
        open: Result<Vec<PositionRecord>, MailboxError>,
    ) {
        self.reconciling = false;
        let (net, orders, open) = match (net, orders, open) {
            (Ok(n), Ok(o), Ok(b)) => (n, o, b),
            (Err(e), _, _) | (_, Err(e), _) => {
                self.stats.reconcile_failures += 1;
                log::warn!("{NAME}: reconcile: cannot read the broker's positions and orders ({e}); looking again next time");
                return;
            }
            (_, _, Err(e)) => {
                self.stats.reconcile_failures += 1;
                log::warn!("{NAME}: reconcile: PositionManager did not answer ({e}); looking again next time");
                return;
            }
        };
        self.stats.reconciliations += 1;
        let after = self.board.followed();
        let followed: HashSet<String> = before.intersection(&after).cloned().collect();
        let busy: HashSet<String> = before.union(&after).cloned().collect();
        let found = compare(
            &net,
            &orders,
            Ours {
                book: &open,
                followed: &followed,
                busy: &busy,
                exchange: &self.cfg.exchange,
                product: &self.cfg.product,
            },
        );
        // A difference is a WARN line when first seen; while it lasts, a DEBUG line per look.
        for d in &found {
            if self.last_found.contains(d) {
                log::debug!("{NAME}: reconcile: still: {d}");
            } else {
                log::warn!("{NAME}: reconcile: {d}");
            }
        }
        let sure = confirmed(&self.last_found, &found);
        let fresh: Vec<Divergence> = sure
            .iter()
            .filter(|d| !self.alarmed.contains(d))
            .cloned()
            .collect();
        self.alarmed = sure;
        self.last_found = found;
        if fresh.is_empty() {
            return;
        }
        self.stats.divergences += fresh.len() as u64;
        let every = self
            .cfg
            .reconcile_every
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let symbols: BTreeSet<&str> = fresh.iter().filter_map(|d| d.symbol()).collect();
        let mut a = Alarm::new(
            AlarmKind::BookDivergence,
            format!(
                "the broker and the book differ (found at two looks {every} s apart): {}; check the positions and orders at the broker against `ctl positions`",
                fresh
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        if !symbols.is_empty() {
            a = a.symbol(symbols.into_iter().collect::<Vec<_>>().join(","));
        }
        self.audit_alarm("reconcile_alarm", a);
    }
}
