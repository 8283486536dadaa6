//! KiteTicker's text frames: order updates (`{"type":"order","data":{…order…}}`, the order's
//! fields as `GET /orders` gives them) and the ticker's errors (`{"type":"error","data":"…"}`).
//! Other types (`message`, ...) are read and ignored. Nothing here panics on any input: a frame
//! that is not JSON, or an order update whose fields do not check, is a [`KiteError::Data`]
//! naming the field and the value.

use messages::msg::OrderUpdate;
use serde::Deserialize;

use super::error::KiteError;
use super::orders::OrderState;

/// What one text frame says.
#[derive(Debug, Clone, PartialEq)]
pub enum TickerText {
    /// An order's new state.
    Order(OrderUpdate),
    /// The ticker's error message.
    Error(String),
    /// Another type of message (its `type`), not acted on.
    Other(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
}

/// The longest excerpt of an unreadable frame quoted in an error.
const EXCERPT: usize = 120;

fn excerpt(text: &str) -> String {
    let mut end = text.len().min(EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < text.len() { "…" } else { "" };
    format!("{:?}{cut}", &text[..end])
}

/// Reads one text frame.
pub fn parse_text(text: &str) -> Result<TickerText, KiteError> {
    let env: Envelope = serde_json::from_str(text).map_err(|e| {
        KiteError::data(format!(
            "ticker text frame is not a JSON message ({e}): {}",
            excerpt(text)
        ))
    })?;
    match env.kind.as_deref() {
        Some("order") => {
            let s: OrderState = serde_json::from_value(env.data).map_err(|e| {
                KiteError::data(format!(
                    "ticker order update: `data` is not an order ({e}): {}",
                    excerpt(text)
                ))
            })?;
            to_update(s).map(TickerText::Order)
        }
        Some("error") => Ok(TickerText::Error(match env.data {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })),
        Some(other) => Ok(TickerText::Other(other.to_string())),
        None => Err(KiteError::data(format!(
            "ticker text frame has no `type`: {}",
            excerpt(text)
        ))),
    }
}

/// An order's state as an [`OrderUpdate`], checked: an id and a status, a finite average price
/// of at least 0, and no more filled than ordered.
pub fn to_update(s: OrderState) -> Result<OrderUpdate, KiteError> {
    let bad = |field: &str, value: String, why: &str| {
        KiteError::data(format!(
            "ticker order update {:?}: `{field}` {value} {why}",
            s.order_id
        ))
    };
    if s.order_id.trim().is_empty() {
        return Err(bad("order_id", format!("{:?}", s.order_id), "is empty"));
    }
    if s.status.trim().is_empty() {
        return Err(bad("status", format!("{:?}", s.status), "is empty"));
    }
    if !(s.average_price.is_finite() && s.average_price >= 0.0) {
        return Err(bad(
            "average_price",
            s.average_price.to_string(),
            "must be a finite price >= 0",
        ));
    }
    if s.filled_quantity > s.quantity {
        return Err(bad(
            "filled_quantity",
            s.filled_quantity.to_string(),
            &format!("is more than the order's quantity {}", s.quantity),
        ));
    }
    Ok(OrderUpdate {
        order_id: s.order_id,
        status: s.status,
        status_message: s.status_message.filter(|m| !m.trim().is_empty()),
        tradingsymbol: s.tradingsymbol,
        exchange: s.exchange,
        transaction_type: s.transaction_type,
        product: s.product,
        quantity: s.quantity,
        filled_quantity: s.filled_quantity,
        pending_quantity: s.pending_quantity,
        average_price: s.average_price,
        tag: s.tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The postback/ticker order shape (Kite's documented fields), a rejection.
    const REJECTED: &str = r#"{"type":"order","data":{"account_id":"AB1234","unfilled_quantity":0,
        "checksum":"","placed_by":"AB1234","order_id":"251202000123456","exchange_order_id":null,
        "parent_order_id":null,"status":"REJECTED",
        "status_message":"RMS:Margin Exceeds,Required:60000, Available:1000 for entity account",
        "status_message_raw":"RMS:Margin Exceeds","order_timestamp":"2025-12-02 09:31:02",
        "exchange_update_timestamp":null,"exchange_timestamp":null,"variety":"regular",
        "exchange":"NFO","tradingsymbol":"NIFTY25D0924000PE","instrument_token":10006,
        "order_type":"LIMIT","transaction_type":"BUY","validity":"DAY","product":"NRML",
        "quantity":75,"disclosed_quantity":0,"price":100.05,"trigger_price":0,
        "average_price":0,"filled_quantity":0,"pending_quantity":0,"cancelled_quantity":0,
        "market_protection":0,"meta":{},"tag":"as1a2b3c4d5e6f7a8b9c","guid":"x"}}"#;

    #[test]
    fn a_pushed_rejection_carries_the_exchange_reason() {
        let TickerText::Order(u) = parse_text(REJECTED).unwrap() else {
            panic!("not an order");
        };
        assert_eq!(u.order_id, "251202000123456");
        assert_eq!(u.status, "REJECTED");
        assert!(u.is_terminal());
        assert_eq!(
            u.status_message.as_deref(),
            Some("RMS:Margin Exceeds,Required:60000, Available:1000 for entity account")
        );
        assert_eq!(
            (
                u.tradingsymbol.as_str(),
                u.exchange.as_str(),
                u.transaction_type.as_str(),
                u.product.as_str(),
                u.quantity,
                u.filled_quantity
            ),
            ("NIFTY25D0924000PE", "NFO", "BUY", "NRML", 75, 0)
        );
        assert_eq!(u.tag.as_deref(), Some("as1a2b3c4d5e6f7a8b9c"));
    }

    #[test]
    fn a_partial_fill_and_a_numeric_order_id() {
        let t = r#"{"type":"order","data":{"order_id":251202000000777,"status":"OPEN",
            "tradingsymbol":"NIFTY25D0924000PE","exchange":"NFO","transaction_type":"SELL",
            "quantity":150,"filled_quantity":75,"pending_quantity":75,"average_price":60.05,
            "status_message":""}}"#;
        let TickerText::Order(u) = parse_text(t).unwrap() else {
            panic!("not an order");
        };
        assert_eq!(u.order_id, "251202000000777");
        assert_eq!((u.filled_quantity, u.pending_quantity), (75, 75));
        assert_eq!(u.average_price, 60.05);
        assert!(!u.is_terminal());
        assert_eq!(u.status_message, None, "an empty reason is none");
    }

    #[test]
    fn errors_and_other_types() {
        assert_eq!(
            parse_text(r#"{"type":"error","data":"invalid token"}"#).unwrap(),
            TickerText::Error("invalid token".into())
        );
        assert_eq!(
            parse_text(r#"{"type":"message","data":"hello"}"#).unwrap(),
            TickerText::Other("message".into())
        );
    }

    #[test]
    fn bad_frames_are_errors_naming_what_is_wrong() {
        for (text, says) in [
            ("{a:b}", "not a JSON message"),
            ("", "not a JSON message"),
            ("[1,2]", "not a JSON message"),
            (r#"{"data":{}}"#, "has no `type`"),
            (r#"{"type":"order","data":"x"}"#, "`data` is not an order"),
            (r#"{"type":"order","data":{}}"#, "`data` is not an order"),
            (
                r#"{"type":"order","data":{"order_id":"1","status":"OPEN","quantity":-75}}"#,
                "`data` is not an order",
            ),
            (
                r#"{"type":"order","data":{"order_id":"","status":"OPEN"}}"#,
                "`order_id` \"\" is empty",
            ),
            (
                r#"{"type":"order","data":{"order_id":"9","status":""}}"#,
                "`status` \"\" is empty",
            ),
            (
                r#"{"type":"order","data":{"order_id":"9","status":"OPEN","average_price":-1}}"#,
                "`average_price` -1 must be a finite price",
            ),
            (
                r#"{"type":"order","data":{"order_id":"9","status":"OPEN","quantity":75,"filled_quantity":150}}"#,
                "`filled_quantity` 150 is more than the order's quantity 75",
            ),
        ] {
            let e = parse_text(text).unwrap_err();
            assert!(matches!(e, KiteError::Data { .. }), "{text}: {e:?}");
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused_never_a_panic(s in ".{0,300}") {
            let _ = parse_text(&s);
        }

        #[test]
        fn any_order_fields_are_read_or_refused(
            id in ".{0,12}", status in "[A-Z ]{0,12}", q in any::<i64>(), f in any::<i64>(),
            px in any::<f64>(), msg in ".{0,40}"
        ) {
            let t = serde_json::json!({"type": "order", "data": {"order_id": id, "status": status,
                "quantity": q, "filled_quantity": f, "average_price": px, "status_message": msg}});
            if let Ok(TickerText::Order(u)) = parse_text(&t.to_string()) {
                prop_assert!(u.filled_quantity <= u.quantity);
                prop_assert!(u.average_price.is_finite() && u.average_price >= 0.0);
                prop_assert!(!u.order_id.trim().is_empty());
            }
        }
    }
}
