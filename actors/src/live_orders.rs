//! The Broker's order sets at Kite: an entry or an exit attempt is one order, or several when
//! the underlying's freeze quantity slices it ([`crate::options::slicing`]). Each slice has its
//! own deterministic tag and is looked up by it before it is placed (a re-run follows the
//! order it already placed instead of placing another); the slices are placed one after
//! another and followed together to a terminal state; every slice that executed something is
//! reported on its own (each is one executed order for the charges).
//!
//! Async functions over a [`KiteClient`], no actor state: the Broker ([`crate::broker`])
//! decides what a result means (an alarm, a retry, the position's fill). An order is read
//! over REST every `poll`, and at once when KiteTicker pushes a final state for it (the
//! [`OrderBoard`]); what REST says is what counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use futures_util::future::join_all;
use messages::msg::PlaceEntry;
use messages::{EntryResult, RejectReason};
use uuid::Uuid;

use crate::broker::BrokerConfig;
use crate::kite::{tag_for, KiteClient, KiteError, OrderRequest, OrderState, TransactionType};
use crate::kite::{Position, STATUS_REJECTED};
use crate::options::position::value_paise;
use crate::options::sizing::{paise, rupees};
use crate::options::slicing::{slice_tag, slices};
use crate::order_board::OrderBoard;

const NAME: &str = "broker";
/// How long a cancelled order is followed until it reports its final state.
const AFTER_CANCEL: Duration = Duration::from_secs(10);

/// The tag of slice `slice` (from 0) of an entry for `signal_id`: slice 0 is the signal's own
/// tag ([`tag_for`]), as an entry that needs no slicing always was.
pub fn entry_tag(signal_id: &Uuid, slice: usize) -> String {
    let position_id = Uuid::new_v5(&messages::SIGNAL_NAMESPACE, signal_id.as_bytes());
    slice_tag(&tag_for(signal_id), &position_id, "entry", slice)
}

/// The order tag of exit attempt `attempt` (from 1) selling `remaining` of a position:
/// deterministic, so the attempt is found in the order book after a restart.
pub fn exit_tag(position_id: &Uuid, remaining: u32, attempt: u32) -> String {
    let name = format!("exit:{remaining}:{attempt}");
    tag_for(&Uuid::new_v5(position_id, name.as_bytes()))
}

/// The tag of slice `slice` (from 0) of exit attempt `attempt` selling `remaining`: slice 0
/// is the attempt's own tag ([`exit_tag`]).
pub fn exit_slice_tag(position_id: &Uuid, remaining: u32, attempt: u32, slice: usize) -> String {
    slice_tag(
        &exit_tag(position_id, remaining, attempt),
        position_id,
        &format!("exit:{remaining}:{attempt}"),
        slice,
    )
}

/// What one exit order came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Sold `quantity` at `price` (all of the slice, or part of it).
    Filled {
        order_id: String,
        quantity: u32,
        price: f64,
        value_paise: i64,
    },
    /// Nothing sold; why.
    Failed(String),
}

/// Reads order `id`'s history every `poll` until it is terminal or `max_wait` has passed, and
/// at once when KiteTicker pushes a final state for it (`board`); returns the last state REST
/// gave (check [`OrderState::is_terminal`]). REST is the authority: a pushed final state REST
/// does not confirm is a disagreement, logged and counted, and the order is followed on.
pub async fn wait_for_terminal(
    client: &KiteClient,
    board: &Arc<OrderBoard>,
    id: &str,
    poll: Duration,
    max_wait: Duration,
) -> Result<OrderState, KiteError> {
    let _following = board.follow(id);
    let start = Instant::now();
    // The push that woke the last read (0: a poll did).
    let mut woke = 0;
    loop {
        let seen = board.seq_of(id);
        let last = client.order_history(id).await?.pop();
        let elapsed = start.elapsed();
        if let (Some(s), Some((seq, p))) = (&last, board.latest(id)) {
            // A final state REST contradicts, or does not show although it was pushed before
            // this read began (one pushed during the read wakes the next read at once).
            let differs = if s.is_terminal() {
                s.status != p.status || s.filled_quantity != p.filled_quantity
            } else {
                seq <= seen
            };
            if p.is_terminal() && differs && board.disagree(id, seq) {
                log::warn!(
                    "{NAME}: order {id}: KiteTicker pushed {} (filled {}), REST says {} (filled {}): following REST",
                    p.status, p.filled_quantity, s.status, s.filled_quantity
                );
            }
        }
        match last {
            Some(state) if state.is_terminal() => {
                if woke > 0 {
                    board.finished_by_push();
                }
                return Ok(state);
            }
            Some(state) if elapsed >= max_wait => return Ok(state),
            None if elapsed >= max_wait => {
                return Err(KiteError::data(format!(
                    "order {id} has no history after {max_wait:?}"
                )))
            }
            _ => {
                let nap = poll.min(max_wait.saturating_sub(elapsed));
                tokio::select! {
                    _ = tokio::time::sleep(nap) => woke = 0,
                    seq = board.final_pushed(id, seen) => woke = seq,
                }
            }
        }
    }
}

/// Follows order `id` until it is terminal; cancels it after `wait` and follows the cancel.
pub async fn follow(
    client: &KiteClient,
    board: &Arc<OrderBoard>,
    id: &str,
    poll: Duration,
    wait: Duration,
) -> Result<OrderState, KiteError> {
    let state = wait_for_terminal(client, board, id, poll, wait).await?;
    if state.is_terminal() {
        return Ok(state);
    }
    log::warn!(
        "{NAME}: order {id} still {} after {:?}: cancelling",
        state.status,
        wait
    );
    if let Err(e) = client.cancel_order("regular", id).await {
        log::warn!("{NAME}: cancel of order {id} failed ({e}); following it");
    }
    wait_for_terminal(client, board, id, poll, AFTER_CANCEL).await
}

/// What a filled order traded: its quantity and Σ price × quantity over its trades in paise
/// (each trade's price is on the tick, so the sum is exact). Without the trades (an error, or
/// a count that disagrees with the order) the order's average price stands in, with a warning.
pub async fn filled_value(client: &KiteClient, s: &OrderState) -> (u32, i64) {
    let qty = s.filled_quantity as u32;
    let fallback = value_paise(s.average_price, qty);
    match client.order_trades(&s.order_id).await {
        Ok(trades) => {
            let traded: u64 = trades.iter().map(|t| t.quantity).sum();
            if traded == s.filled_quantity {
                let v = trades
                    .iter()
                    .map(|t| paise(t.average_price) * t.quantity as i64)
                    .sum();
                (qty, v)
            } else {
                log::warn!(
                    "{NAME}: order {} filled {} but its trades add up to {traded}: valued at its average price {}",
                    s.order_id, s.filled_quantity, s.average_price
                );
                (qty, fallback)
            }
        }
        Err(e) => {
            log::warn!(
                "{NAME}: trades of order {} unavailable ({e}): valued at its average price {}",
                s.order_id,
                s.average_price
            );
            (qty, fallback)
        }
    }
}

/// Places the orders of `reqs` whose index is in `todo` (one after another) and follows every
/// order of the set together: those found in the book (`ids`) and those just placed. Returns,
/// per slice in order, its final state or why it has none.
async fn place_and_follow(
    client: &KiteClient,
    board: &Arc<OrderBoard>,
    reqs: &[OrderRequest],
    mut ids: Vec<Option<String>>,
    todo: &[usize],
    poll: Duration,
    wait: Duration,
) -> Vec<Result<OrderState, (String, KiteError)>> {
    let mut placement: Vec<Option<KiteError>> = (0..reqs.len()).map(|_| None).collect();
    for &i in todo {
        let r = &reqs[i];
        match client.place_order_idempotent(r).await {
            Ok(id) => {
                log::info!(
                    "{NAME}: placed {id} {} {} × {} ({} {}), tag {}",
                    r.transaction_type.as_str(),
                    r.tradingsymbol,
                    r.quantity,
                    r.order_type.as_str(),
                    r.price.map(|p| p.to_string()).unwrap_or_default(),
                    r.tag.as_deref().unwrap_or_default()
                );
                ids[i] = Some(id);
            }
            Err(e) => placement[i] = Some(e),
        }
    }
    let followed = join_all(ids.iter().map(|id| async move {
        match id {
            Some(id) => Some(follow(client, board, id, poll, wait).await),
            None => None,
        }
    }))
    .await;
    let counters = client.api_counters();
    followed
        .into_iter()
        .zip(placement)
        .zip(ids)
        .map(|((f, placed), id)| match (f, placed) {
            (Some(Ok(s)), _) => {
                counters.order_final(&s.status);
                Ok(s)
            }
            (Some(Err(e)), _) => Err((format!("following order {}", id.unwrap_or_default()), e)),
            (None, Some(e)) => {
                counters.order_failed();
                Err(("placement".to_string(), e))
            }
            (None, None) => Err((
                "placement".to_string(),
                KiteError::input("not placed (nothing left to place it for)"),
            )),
        })
        .collect()
}

/// The slice's name in words when there are several (`slice 2/3: `), else nothing.
fn slice_name(i: usize, n: usize) -> String {
    if n > 1 {
        format!("slice {}/{n}: ", i + 1)
    } else {
        String::new()
    }
}

/// The whole entry: its slices (one order below the freeze quantity), each looked up by its
/// tag; the margin the orders still to place need (`/margins/orders`) against the equity
/// segment's net; their placement; then every slice followed together. The position is what
/// the slices filled: a slice that executed nothing (rejected, cancelled unfilled) is named in
/// `shortfall`; nothing filled at all is a refusal, for the first slice's reason.
pub async fn enter(
    client: &KiteClient,
    board: &Arc<OrderBoard>,
    cfg: &BrokerConfig,
    p: &PlaceEntry,
) -> EntryResult {
    let refused = |reason, detail: String| EntryResult::Refused { reason, detail };
    let sym = &p.option.tradingsymbol;
    let parts = match slices(p.quantity, p.option.lot_size, p.freeze_qty) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => return refused(RejectReason::ZeroLots, format!("{sym}: nothing to buy")),
        Err(e) => {
            return refused(
                RejectReason::NoInstrument,
                format!("{sym}: freeze quantity of {}: {e}", p.option.underlying),
            )
        }
    };
    let n = parts.len();
    let reqs: Vec<OrderRequest> = parts
        .iter()
        .enumerate()
        .map(|(i, q)| {
            cfg.request(
                sym,
                TransactionType::Buy,
                cfg.entry_order_type,
                *q,
                p.price,
                entry_tag(&p.signal_id, i),
            )
        })
        .collect();
    let tags = reqs
        .iter()
        .filter_map(|r| r.tag.as_deref())
        .collect::<Vec<_>>()
        .join(", ");
    let broker_err = |what: &str, e: KiteError| {
        if matches!(e, KiteError::OrderUncertain { .. }) {
            // The order may exist: nothing books it until the operator looks (the next start's
            // reconciliation flags it too).
            let msg = format!(
                "entry for signal {} has an unknown outcome ({what}: {e}): check the order book for its tags {tags}",
                p.signal_id,
            );
            log::error!("{NAME}: ALARM {msg}");
            cfg.alarms.raise(
                messages::Alarm::new(messages::AlarmKind::EntryUnknownOutcome, msg)
                    .symbol(sym.to_string())
                    .signal(p.signal_id)
                    .order(tags.clone()),
            );
        }
        if e.is_token_error() {
            cfg.alarms.raise(
                messages::Alarm::new(
                    messages::AlarmKind::TokenRejected,
                    format!(
                        "the broker refused the access token during the entry for signal {} ({what}: {e}): nothing ordered; renew it (alphastocks kite login) and restart",
                        p.signal_id
                    ),
                )
                .symbol(sym.to_string())
                .signal(p.signal_id),
            );
        }
        let reason = match e {
            KiteError::Margin { .. } => RejectReason::InsufficientMargin,
            KiteError::Order { .. } | KiteError::Input { .. } => RejectReason::OrderRejected,
            _ => RejectReason::BrokerError,
        };
        (reason, format!("{what}: {e}"))
    };
    let book = match client.orders().await {
        Ok(b) => b,
        Err(e) => {
            let (r, d) = broker_err("order-book lookup", e);
            return refused(r, d);
        }
    };
    let mut ids: Vec<Option<String>> = vec![None; n];
    for (i, r) in reqs.iter().enumerate() {
        let tag = r.tag.as_deref().unwrap_or_default();
        if let Some(o) = book.iter().find(|o| o.has_tag(tag)) {
            log::warn!(
                "{NAME}: entry tag {tag} already exists as {} ({}): following it, not placing another",
                o.order_id,
                o.status
            );
            ids[i] = Some(o.order_id.clone());
        }
    }
    let mut failures: Vec<(RejectReason, String)> = Vec::new();
    let mut todo: Vec<usize> = (0..n).filter(|i| ids[*i].is_none()).collect();
    if !todo.is_empty() {
        let batch: Vec<OrderRequest> = todo.iter().map(|i| reqs[*i].clone()).collect();
        let short = match client.order_margins(&batch).await {
            Ok(m) => {
                let needed: f64 = m.iter().map(|m| m.total).sum();
                match client.margins(Some("equity")).await {
                    Ok(have) => {
                        let net = have.equity.map(|e| e.net).unwrap_or(0.0);
                        (needed > net).then(|| {
                            (
                                RejectReason::InsufficientMargin,
                                format!(
                                    "{sym} × {} needs ₹{needed:.2} of margin, ₹{net:.2} available",
                                    batch.iter().map(|r| r.quantity).sum::<u32>()
                                ),
                            )
                        })
                    }
                    Err(e) => Some(broker_err("margins", e)),
                }
            }
            Err(e) => Some(broker_err("order margin", e)),
        };
        if let Some((reason, detail)) = short {
            if todo.len() == n {
                return refused(reason, detail);
            }
            // A re-run found part of the set placed: it is followed; the rest is not placed.
            log::error!(
                "{NAME}: entry for signal {}: the slices not yet placed are not placed: {detail}",
                p.signal_id
            );
            failures.push((reason, detail));
            todo.clear();
        }
    }
    let states =
        place_and_follow(client, board, &reqs, ids, &todo, cfg.poll, cfg.fill_timeout).await;
    let mut filled: Vec<(String, u32, i64)> = Vec::new();
    for (i, st) in states.into_iter().enumerate() {
        let name = slice_name(i, n);
        match st {
            Ok(s) if s.filled_quantity > 0 => {
                let (q, v) = filled_value(client, &s).await;
                filled.push((s.order_id, q, v));
            }
            Ok(s) if s.status == STATUS_REJECTED => failures.push((
                RejectReason::OrderRejected,
                format!(
                    "{name}order {} REJECTED: {}",
                    s.order_id,
                    s.status_message.unwrap_or_default()
                ),
            )),
            Ok(s) if s.is_terminal() => failures.push((
                RejectReason::OrderNotFilled,
                format!(
                    "{name}order {} {} with nothing filled within {:?}",
                    s.order_id, s.status, cfg.fill_timeout
                ),
            )),
            Ok(s) => failures.push((
                RejectReason::BrokerError,
                format!(
                    "{name}order {} still {} after its cancel: check it at the broker",
                    s.order_id, s.status
                ),
            )),
            Err((what, e)) => {
                let (r, d) = broker_err(&what, e);
                failures.push((r, format!("{name}{d}")));
            }
        }
    }
    let words = |f: &[(RejectReason, String)]| {
        f.iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if filled.is_empty() {
        let reason = failures
            .first()
            .map(|f| f.0)
            .unwrap_or(RejectReason::BrokerError);
        return refused(reason, words(&failures));
    }
    let quantity: u32 = filled.iter().map(|f| f.1).sum();
    let value: i64 = filled.iter().map(|f| f.2).sum();
    EntryResult::Filled {
        order_id: filled
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>()
            .join(","),
        quantity,
        // Σ value / quantity: the position's cost is this times the quantity, exactly.
        average_price: rupees(value) / quantity.max(1) as f64,
        // Whole seconds, as every stored time (ClickHouse DateTime).
        at: Utc::now().trunc_subsecs(0),
        orders: filled.iter().map(|f| f.2).collect(),
        shortfall: (!failures.is_empty()).then(|| words(&failures)),
    }
}

/// What the broker's net positions hold of `req`'s contract (same symbol, exchange, product).
fn held_of(net: &[Position], req: &OrderRequest) -> i64 {
    net.iter()
        .filter(|p| {
            p.tradingsymbol == req.tradingsymbol
                && p.exchange == req.exchange
                && p.product == req.product
        })
        .map(|p| p.quantity)
        .sum()
}

/// One exit attempt: its slices (`reqs`, one order below the freeze quantity). A slice's order
/// that exists (a restart) is followed; the others are placed for at most what the broker holds
/// — an exit never opens a short — then all are followed together. One result per slice that
/// was found or placed, or a single failure when nothing could be placed.
pub async fn sell(
    client: &KiteClient,
    board: &Arc<OrderBoard>,
    reqs: &[OrderRequest],
    poll: Duration,
    wait: Duration,
) -> Vec<Attempt> {
    let n = reqs.len();
    let Some(first) = reqs.first() else {
        return Vec::new();
    };
    let book = match client.orders().await {
        Ok(b) => b,
        Err(e) => return vec![Attempt::Failed(format!("order-book lookup: {e}"))],
    };
    let mut ids: Vec<Option<String>> = vec![None; n];
    for (i, r) in reqs.iter().enumerate() {
        let tag = r.tag.as_deref().unwrap_or_default();
        if let Some(o) = book.iter().find(|o| o.has_tag(tag)) {
            log::warn!(
                "{NAME}: exit tag {tag} already exists as {} ({}): following it",
                o.order_id,
                o.status
            );
            ids[i] = Some(o.order_id.clone());
        }
    }
    let mut out = Vec::new();
    let mut reqs = reqs.to_vec();
    let mut todo: Vec<usize> = (0..n).filter(|i| ids[*i].is_none()).collect();
    if !todo.is_empty() {
        match client.positions().await {
            Err(e) => {
                out.push(Attempt::Failed(format!("positions: {e}")));
                todo.clear();
            }
            Ok(p) => {
                let mut left = held_of(&p.net, first);
                if left <= 0 {
                    out.push(Attempt::Failed(format!(
                        "the broker holds no {} ({} {}): closed outside the engine? nothing sold",
                        first.tradingsymbol, first.exchange, first.product
                    )));
                }
                todo.retain(|&i| {
                    let want = reqs[i].quantity as i64;
                    if left < want {
                        log::warn!(
                            "{NAME}: exit of {} × {want} capped at the {} the broker still holds",
                            reqs[i].tradingsymbol,
                            left.max(0)
                        );
                        reqs[i].quantity = left.max(0) as u32;
                    }
                    left -= reqs[i].quantity as i64;
                    reqs[i].quantity > 0
                });
            }
        }
    }
    let placed: Vec<usize> = (0..n)
        .filter(|i| ids[*i].is_some() || todo.contains(i))
        .collect();
    let states = place_and_follow(client, board, &reqs, ids, &todo, poll, wait).await;
    for (i, st) in states.into_iter().enumerate() {
        if !placed.contains(&i) {
            continue;
        }
        let name = slice_name(i, n);
        out.push(match st {
            Ok(s) if s.filled_quantity > 0 => {
                let (quantity, value_paise) = filled_value(client, &s).await;
                Attempt::Filled {
                    quantity,
                    price: rupees(value_paise) / quantity.max(1) as f64,
                    value_paise,
                    order_id: s.order_id,
                }
            }
            Ok(s) => Attempt::Failed(format!(
                "{name}order {} {}{}",
                s.order_id,
                s.status,
                s.status_message
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )),
            Err((what, e)) => Attempt::Failed(format!("{name}{what}: {e}")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kite::testkit::{client, ok};
    use crate::kite::{OrderType, TransactionType};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer};

    fn state(id: &str, status: &str) -> serde_json::Value {
        serde_json::json!([{
            "order_id": id, "status": status, "tradingsymbol": "NIFTY25D0924000CE",
            "exchange": "NFO", "transaction_type": "SELL", "order_type": "LIMIT",
            "quantity": 75, "filled_quantity": if status == "COMPLETE" { 75 } else { 0 },
            "average_price": 101.0, "tag": "t"
        }])
    }

    #[actix_rt::test]
    async fn every_order_followed_is_counted_by_its_final_status() {
        let s = MockServer::start().await;
        for (id, status) in [("A1", "COMPLETE"), ("R1", "REJECTED")] {
            Mock::given(method("GET"))
                .and(path(format!("/orders/{id}")))
                .respond_with(ok(state(id, status)))
                .mount(&s)
                .await;
        }
        let c = client(&s);
        let req = OrderRequest::new(
            "NFO",
            "NIFTY25D0924000CE",
            TransactionType::Sell,
            OrderType::Limit,
            75,
            "NRML",
        );
        // Two found in the book and followed; the third cannot be placed (no tag).
        let ids = vec![Some("A1".to_string()), Some("R1".to_string()), None];
        let got = place_and_follow(
            &c,
            &OrderBoard::new(),
            &[req.clone(), req.clone(), req],
            ids,
            &[2],
            Duration::from_millis(1),
            Duration::from_secs(2),
        )
        .await;
        assert!(
            matches!(&got[0], Ok(st) if st.status == "COMPLETE"),
            "{got:?}"
        );
        assert!(
            matches!(&got[1], Ok(st) if st.status == "REJECTED"),
            "{got:?}"
        );
        assert!(
            matches!(&got[2], Err((what, _)) if what == "placement"),
            "{got:?}"
        );
        let k = c.api_counters();
        let counted: Vec<u64> = crate::metrics::trading::ORDER_STATUSES
            .iter()
            .map(|st| k.orders(st))
            .collect();
        // complete, cancelled, rejected, open, failed
        assert_eq!(counted, vec![1, 0, 1, 0, 1]);
        // Two order histories asked, both answered.
        assert_eq!(k.calls(crate::kite::EndpointClass::Other), (2, 0));
    }
}
