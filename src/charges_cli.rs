//! `alphastocks charges`: one round trip's charges as JSON, to compare with the broker's
//! calculator and contract note.

use actors::charges::{charges, Schedule, Segment, Turnover};
use serde_json::{json, Value};

/// What the user asked about.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub premium_buy: f64,
    pub premium_sell: f64,
    pub quantity: u32,
    pub date: chrono::NaiveDate,
    pub orders: Option<u32>,
}

/// The largest price per unit accepted, rupees.
const MAX_PRICE: f64 = 1e7;
/// The largest quantity accepted.
const MAX_QUANTITY: u32 = 10_000_000;

/// Rupees from paise, as a JSON number with at most two decimals.
fn rupees(p: i64) -> Value {
    json!((p as f64) / 100.0)
}

/// The breakdown, or the reason the request is refused (naming the flag and value).
pub fn breakdown(schedule: &Schedule, q: Request) -> Result<Value, String> {
    for (flag, v) in [
        ("--premium-buy", q.premium_buy),
        ("--premium-sell", q.premium_sell),
    ] {
        if !(v.is_finite() && (0.0..=MAX_PRICE).contains(&v)) {
            return Err(format!(
                "{flag} {v}: must be a price from 0 to {MAX_PRICE} rupees"
            ));
        }
    }
    if q.premium_buy == 0.0 && q.premium_sell == 0.0 {
        return Err("--premium-buy and --premium-sell are both 0: nothing traded".into());
    }
    if !(1..=MAX_QUANTITY).contains(&q.quantity) {
        return Err(format!(
            "--quantity {}: must be from 1 to {MAX_QUANTITY}",
            q.quantity
        ));
    }
    let sides = u32::from(q.premium_buy > 0.0) + u32::from(q.premium_sell > 0.0);
    let orders = q.orders.unwrap_or(sides);
    if orders > 1_000 {
        return Err(format!("--orders {orders}: must be at most 1000"));
    }
    let paise = |price: f64| (price * 100.0).round() as i64 * i64::from(q.quantity);
    let t = Turnover {
        buy_paise: paise(q.premium_buy),
        sell_paise: paise(q.premium_sell),
        orders,
    };
    let rates = schedule
        .rates_on(q.date, Segment::Options)
        .ok_or_else(|| "charges.schedule has no entry for options".to_string())?;
    let b = charges(t, &rates);
    let gross = t.sell_paise - t.buy_paise;
    Ok(json!({
        "date": q.date,
        "segment": "options",
        "rates": rates,
        "quantity": q.quantity,
        "orders": orders,
        "buy_premium": rupees(t.buy_paise),
        "sell_premium": rupees(t.sell_paise),
        "turnover": rupees(t.buy_paise + t.sell_paise),
        "brokerage": rupees(b.brokerage),
        "stt": rupees(b.stt),
        "exchange_txn": rupees(b.exchange_txn),
        "sebi": rupees(b.sebi),
        "stamp_duty": rupees(b.stamp_duty),
        "gst": rupees(b.gst),
        "total": rupees(b.total),
        "gross_pnl": rupees(gross),
        "net_pnl": rupees(gross - b.total),
    }))
}
