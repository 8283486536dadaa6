//! Reconciliation: the broker's net positions and open orders against the book (the open
//! positions PositionManager holds, the orders the Broker follows). Pure functions: the Broker
//! fetches, asks and alarms ([`crate::broker`]); the start-up reconciliation shares
//! [`held`].

use std::collections::{BTreeMap, HashSet};

use messages::{Mode, PositionRecord};

use crate::kite::{OrderState, Position};

/// What the book holds of a position: after partial exits, less than it bought (a row from
/// before `remaining_quantity` existed has 0 there: all of its quantity).
pub fn held(k: &PositionRecord) -> i64 {
    match k.remaining_quantity {
        0 => k.quantity as i64,
        n => n as i64,
    }
}

/// One difference between the broker and the book.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Divergence {
    /// The broker's net quantity of `symbol` is not the book's.
    Quantity {
        symbol: String,
        ours: i64,
        broker: i64,
    },
    /// An order open at the broker that the engine does not follow.
    UnknownOrder {
        order_id: String,
        symbol: String,
        side: String,
        quantity: u64,
        status: String,
        tag: Option<String>,
    },
    /// An order the engine follows that the broker's order book does not list.
    MissingOrder { order_id: String },
}

impl Divergence {
    /// The instrument it is about (none for a missing order).
    pub fn symbol(&self) -> Option<&str> {
        match self {
            Divergence::Quantity { symbol, .. } | Divergence::UnknownOrder { symbol, .. } => {
                Some(symbol)
            }
            Divergence::MissingOrder { .. } => None,
        }
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Divergence::Quantity {
                symbol,
                ours,
                broker,
            } => write!(f, "{symbol}: the book holds {ours}, the broker {broker}"),
            Divergence::UnknownOrder {
                order_id,
                symbol,
                side,
                quantity,
                status,
                tag,
            } => write!(
                f,
                "order {order_id} {side} {symbol} × {quantity} is {status} at the broker and not followed by the engine (tag {})",
                tag.as_deref().unwrap_or("none")
            ),
            Divergence::MissingOrder { order_id } => write!(
                f,
                "order {order_id} followed by the engine is not in the broker's order book"
            ),
        }
    }
}

/// The engine's side of a comparison.
#[derive(Debug, Clone, Copy)]
pub struct Ours<'a> {
    /// PositionManager's open positions (only live ones count).
    pub book: &'a [PositionRecord],
    /// Orders followed both before the broker was read and after: each must be in its book.
    pub followed: &'a HashSet<String>,
    /// Orders followed at any time while the broker was read: their instruments' positions may
    /// be changing, and are compared at the next look.
    pub busy: &'a HashSet<String>,
    /// The exchange and product the engine trades: the broker's other positions and orders
    /// are not the engine's.
    pub exchange: &'a str,
    pub product: &'a str,
}

/// Every difference between the broker's `net` positions and `orders` and the engine's side,
/// in a fixed order (positions by instrument, then unknown orders, then missing ones).
pub fn compare(net: &[Position], orders: &[OrderState], ours: Ours<'_>) -> Vec<Divergence> {
    let mine = |exchange: &str, product: &str| exchange == ours.exchange && product == ours.product;
    let busy: HashSet<&str> = orders
        .iter()
        .filter(|o| ours.busy.contains(&o.order_id))
        .map(|o| o.tradingsymbol.as_str())
        .collect();
    // Instrument → (the book's, the broker's).
    let mut qty: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for k in ours
        .book
        .iter()
        .filter(|k| k.mode == Mode::Live && k.status == messages::PositionStatus::Open)
    {
        qty.entry(k.option_symbol.as_str()).or_default().0 += held(k);
    }
    for p in net.iter().filter(|p| mine(&p.exchange, &p.product)) {
        qty.entry(p.tradingsymbol.as_str()).or_default().1 += p.quantity;
    }
    let mut out: Vec<Divergence> = qty
        .into_iter()
        .filter(|(s, (a, b))| a != b && !busy.contains(s))
        .map(|(s, (ours, broker))| Divergence::Quantity {
            symbol: s.to_string(),
            ours,
            broker,
        })
        .collect();
    out.extend(
        orders
            .iter()
            .filter(|o| !o.is_terminal() && o.exchange == ours.exchange)
            .filter(|o| !ours.busy.contains(&o.order_id))
            .map(|o| Divergence::UnknownOrder {
                order_id: o.order_id.clone(),
                symbol: o.tradingsymbol.clone(),
                side: o.transaction_type.clone(),
                quantity: o.quantity,
                status: o.status.clone(),
                tag: o.tag.clone(),
            }),
    );
    let mut missing: Vec<&String> = ours
        .followed
        .iter()
        .filter(|id| !orders.iter().any(|o| &o.order_id == *id))
        .collect();
    missing.sort();
    out.extend(missing.into_iter().map(|id| Divergence::MissingOrder {
        order_id: id.clone(),
    }));
    out
}

/// The differences found at this look that were found at the last one too (a difference seen
/// once may be an order filling between the two reads).
pub fn confirmed(last: &[Divergence], now: &[Divergence]) -> Vec<Divergence> {
    now.iter().filter(|d| last.contains(d)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(symbol: &str, qty: i64) -> Position {
        Position {
            tradingsymbol: symbol.into(),
            exchange: "NFO".into(),
            product: "NRML".into(),
            quantity: qty,
            ..Default::default()
        }
    }

    fn order(id: &str, symbol: &str, status: &str) -> OrderState {
        OrderState {
            order_id: id.into(),
            status: status.into(),
            tradingsymbol: symbol.into(),
            exchange: "NFO".into(),
            transaction_type: "BUY".into(),
            product: "NRML".into(),
            quantity: 75,
            tag: Some("t1".into()),
            ..Default::default()
        }
    }

    fn open(symbol: &str, quantity: u32, remaining: u32, mode: Mode) -> PositionRecord {
        let mut r: PositionRecord = serde_json::from_value(serde_json::json!({
            "position_id": "00000000-0000-0000-0000-000000000001", "version": 3,
            "signal_id": "00000000-0000-0000-0000-000000000002", "symbol": "NIFTY",
            "option_symbol": symbol, "strike": 24000.0, "option_type": "CE",
            "expiry": "2025-12-09", "mode": "live", "status": "OPEN", "lots": quantity / 75,
            "lot_size": 75, "quantity": quantity, "entry_time": "2025-12-02T04:00:00Z",
            "entry_premium": 100.0, "stop_loss_premium": 70.0, "target_premium": 160.0,
            "current_premium": 100.0, "unrealized_pnl": 0.0, "exit_time": null,
            "exit_premium": 0.0, "exit_reason": "", "realized_pnl": 0.0,
            "updated_at": "2025-12-02T04:00:00Z"}))
        .unwrap();
        r.remaining_quantity = remaining;
        r.mode = mode;
        r
    }

    fn ours<'a>(
        book: &'a [PositionRecord],
        followed: &'a HashSet<String>,
        busy: &'a HashSet<String>,
    ) -> Ours<'a> {
        Ours {
            book,
            followed,
            busy,
            exchange: "NFO",
            product: "NRML",
        }
    }

    fn ids(v: &[&str]) -> HashSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_agreeing_book_has_no_difference() {
        // Bought 300, booked 150: the broker's 150 is what the book holds. A sold-out
        // position (0 at the broker) and a finished order are nothing.
        let book = [open("A", 300, 150, Mode::Live)];
        let net = [pos("A", 150), pos("B", 0)];
        let orders = [order("1", "A", "COMPLETE"), order("2", "B", "CANCELLED")];
        let none = HashSet::new();
        assert_eq!(compare(&net, &orders, ours(&book, &none, &none)), vec![]);
    }

    #[test]
    fn quantities_that_differ_name_the_instrument_and_both_sides() {
        let book = [
            open("A", 150, 150, Mode::Live),
            open("C", 75, 75, Mode::Live),
            // Paper positions are not at the broker.
            open("P", 75, 75, Mode::Paper),
        ];
        let net = [pos("A", 75), pos("B", 75)];
        let none = HashSet::new();
        let got = compare(&net, &[], ours(&book, &none, &none));
        assert_eq!(
            got,
            vec![
                Divergence::Quantity {
                    symbol: "A".into(),
                    ours: 150,
                    broker: 75
                },
                Divergence::Quantity {
                    symbol: "B".into(),
                    ours: 0,
                    broker: 75
                },
                Divergence::Quantity {
                    symbol: "C".into(),
                    ours: 75,
                    broker: 0
                },
            ]
        );
        assert_eq!(got[0].to_string(), "A: the book holds 150, the broker 75");
        assert_eq!(got[0].symbol(), Some("A"));
    }

    #[test]
    fn orders_open_at_the_broker_unknown_here_and_followed_ones_it_does_not_list() {
        let followed = ids(&["9"]);
        let orders = [order("1", "A", "OPEN"), order("2", "A", "TRIGGER PENDING")];
        let got = compare(&[], &orders, ours(&[], &followed, &followed));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(&got[0], Divergence::UnknownOrder { order_id, .. } if order_id == "1"));
        assert_eq!(
            got[1].to_string(),
            "order 2 BUY A × 75 is TRIGGER PENDING at the broker and not followed by the engine (tag t1)"
        );
        assert_eq!(
            got[2],
            Divergence::MissingOrder {
                order_id: "9".into()
            }
        );
        // Followed: not unknown; listed: not missing.
        let followed = ids(&["1", "2"]);
        assert_eq!(
            compare(&[], &orders, ours(&[], &followed, &followed)),
            vec![]
        );
    }

    #[test]
    fn an_instrument_with_an_order_in_flight_is_compared_next_time() {
        // The entry is filling: the broker holds 75 the book does not have yet.
        let orders = [order("1", "A", "OPEN")];
        let net = [pos("A", 75)];
        let busy = ids(&["1"]);
        let none = HashSet::new();
        assert_eq!(compare(&net, &orders, ours(&[], &none, &busy)), vec![]);
    }

    #[test]
    fn other_exchanges_and_products_are_not_the_engines() {
        let mut eq = pos("INFY", 10);
        eq.exchange = "NSE".into();
        let mut mis = pos("A", 75);
        mis.product = "MIS".into();
        let mut o = order("1", "INFY", "OPEN");
        o.exchange = "NSE".into();
        let none = HashSet::new();
        assert_eq!(compare(&[eq, mis], &[o], ours(&[], &none, &none)), vec![]);
    }

    #[test]
    fn a_difference_counts_once_seen_at_two_looks() {
        let a = Divergence::Quantity {
            symbol: "A".into(),
            ours: 0,
            broker: 75,
        };
        let b = Divergence::MissingOrder {
            order_id: "9".into(),
        };
        assert_eq!(confirmed(&[], std::slice::from_ref(&a)), vec![]);
        assert_eq!(
            confirmed(&[a.clone(), b.clone()], std::slice::from_ref(&a)),
            vec![a.clone()]
        );
        // A changed quantity is a new difference.
        let a2 = Divergence::Quantity {
            symbol: "A".into(),
            ours: 0,
            broker: 150,
        };
        assert_eq!(confirmed(&[a], &[a2]), vec![]);
    }
}
