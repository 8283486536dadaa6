//! Positions and funds: `GET /portfolio/positions`, `GET /user/margins[/segment]`, and the
//! margin calculator `POST /margins/orders` (a JSON body, unlike the other writes).

use reqwest::Method;
use serde::Deserialize;

use super::client::{parse_envelope, path_segment, KiteClient, Payload};
use super::de::null_default;
use super::error::KiteError;
use super::orders::OrderRequest;
use super::ratelimit::EndpointClass;

/// One position (net or day). Quantities are signed: negative is short.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Position {
    #[serde(deserialize_with = "null_default")]
    pub tradingsymbol: String,
    #[serde(deserialize_with = "null_default")]
    pub exchange: String,
    #[serde(deserialize_with = "null_default")]
    pub instrument_token: u64,
    #[serde(deserialize_with = "null_default")]
    pub product: String,
    #[serde(deserialize_with = "null_default")]
    pub quantity: i64,
    #[serde(deserialize_with = "null_default")]
    pub overnight_quantity: i64,
    #[serde(deserialize_with = "null_default")]
    pub multiplier: f64,
    #[serde(deserialize_with = "null_default")]
    pub average_price: f64,
    #[serde(deserialize_with = "null_default")]
    pub close_price: f64,
    #[serde(deserialize_with = "null_default")]
    pub last_price: f64,
    #[serde(deserialize_with = "null_default")]
    pub value: f64,
    #[serde(deserialize_with = "null_default")]
    pub pnl: f64,
    #[serde(deserialize_with = "null_default")]
    pub m2m: f64,
    #[serde(deserialize_with = "null_default")]
    pub unrealised: f64,
    #[serde(deserialize_with = "null_default")]
    pub realised: f64,
    #[serde(deserialize_with = "null_default")]
    pub buy_quantity: i64,
    #[serde(deserialize_with = "null_default")]
    pub buy_price: f64,
    #[serde(deserialize_with = "null_default")]
    pub buy_value: f64,
    #[serde(deserialize_with = "null_default")]
    pub sell_quantity: i64,
    #[serde(deserialize_with = "null_default")]
    pub sell_price: f64,
    #[serde(deserialize_with = "null_default")]
    pub sell_value: f64,
    #[serde(deserialize_with = "null_default")]
    pub day_buy_quantity: i64,
    #[serde(deserialize_with = "null_default")]
    pub day_sell_quantity: i64,
}

/// `net` (carried and today's) and `day` (today's only) positions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Positions {
    #[serde(deserialize_with = "null_default")]
    pub net: Vec<Position>,
    #[serde(deserialize_with = "null_default")]
    pub day: Vec<Position>,
}

/// Funds available in a segment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AvailableMargin {
    pub adhoc_margin: f64,
    pub cash: f64,
    pub opening_balance: f64,
    /// What can be used for new orders now.
    pub live_balance: f64,
    pub collateral: f64,
    pub intraday_payin: f64,
}

/// Funds blocked in a segment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UtilisedMargin {
    pub debits: f64,
    pub exposure: f64,
    pub m2m_realised: f64,
    pub m2m_unrealised: f64,
    pub option_premium: f64,
    pub payout: f64,
    pub span: f64,
    pub holding_sales: f64,
    pub turnover: f64,
    pub liquid_collateral: f64,
    pub stock_collateral: f64,
    pub delivery: f64,
}

/// One segment's margins.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SegmentMargin {
    pub enabled: bool,
    /// Net cash available.
    pub net: f64,
    pub available: AvailableMargin,
    pub utilised: UtilisedMargin,
}

/// Margins per segment; a segment not asked for (or not returned) is `None`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Margins {
    pub equity: Option<SegmentMargin>,
    pub commodity: Option<SegmentMargin>,
}

/// Realised and unrealised P&L in a margin calculation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MarginPnl {
    pub realised: f64,
    pub unrealised: f64,
}

/// Charges of a prospective order.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OrderCharges {
    pub transaction_tax: f64,
    pub exchange_turnover_charge: f64,
    pub sebi_turnover_charge: f64,
    pub brokerage: f64,
    pub stamp_duty: f64,
    pub total: f64,
}

/// The margin one prospective order needs (`POST /margins/orders`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OrderMargin {
    /// `equity` or `commodity`.
    #[serde(rename = "type")]
    pub kind: String,
    pub tradingsymbol: String,
    pub exchange: String,
    pub span: f64,
    pub exposure: f64,
    pub option_premium: f64,
    pub additional: f64,
    pub bo: f64,
    pub cash: f64,
    pub var: f64,
    pub pnl: MarginPnl,
    pub leverage: f64,
    pub charges: OrderCharges,
    /// The margin required.
    pub total: f64,
}

impl KiteClient {
    /// Net and day positions.
    pub async fn positions(&self) -> Result<Positions, KiteError> {
        self.get(EndpointClass::Other, "/portfolio/positions", &[])
            .await
    }

    /// Margins of every segment, or of `equity` / `commodity` only.
    pub async fn margins(&self, segment: Option<&str>) -> Result<Margins, KiteError> {
        match segment {
            None => self.get(EndpointClass::Other, "/user/margins", &[]).await,
            Some(seg) => {
                let seg = path_segment("segment", seg)?;
                let path = format!("/user/margins/{seg}");
                let one: SegmentMargin = self.get(EndpointClass::Other, &path, &[]).await?;
                match seg {
                    "equity" => Ok(Margins {
                        equity: Some(one),
                        commodity: None,
                    }),
                    "commodity" => Ok(Margins {
                        equity: None,
                        commodity: Some(one),
                    }),
                    other => Err(KiteError::input(format!(
                        "unknown margin segment {other:?}"
                    ))),
                }
            }
        }
    }

    /// The margin each order would need. A calculation, not a write: retried like a read.
    pub async fn order_margins(
        &self,
        orders: &[OrderRequest],
    ) -> Result<Vec<OrderMargin>, KiteError> {
        let mut list = Vec::with_capacity(orders.len());
        for o in orders {
            o.validate()?;
            list.push(serde_json::json!({
                "exchange": o.exchange,
                "tradingsymbol": o.tradingsymbol,
                "transaction_type": o.transaction_type.as_str(),
                "variety": o.variety,
                "product": o.product,
                "order_type": o.order_type.as_str(),
                "quantity": o.quantity,
                "price": o.price.unwrap_or(0.0),
                "trigger_price": o.trigger_price.unwrap_or(0.0),
            }));
        }
        let body = serde_json::Value::Array(list);
        let bytes = self
            .request_bytes(
                Method::POST,
                EndpointClass::Other,
                "/margins/orders",
                &[],
                Payload::Json(&body),
                true,
            )
            .await?;
        parse_envelope(&bytes).map_err(|e| self.scrub(e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::orders::{OrderType, TransactionType};
    use super::super::testkit::{client, ok};
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer};

    fn segment(net: f64) -> serde_json::Value {
        json!({
            "enabled": true, "net": net,
            "available": {"adhoc_margin": 0, "cash": 50000.5, "opening_balance": 50000.5,
                          "live_balance": net, "collateral": 0, "intraday_payin": 0},
            "utilised": {"debits": 1200, "exposure": 300, "m2m_realised": 0,
                         "m2m_unrealised": 0, "option_premium": 900, "span": 0}
        })
    }

    #[actix_rt::test]
    async fn positions_with_short_and_flat_rows() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/portfolio/positions"))
            .respond_with(ok(json!({
                "net": [
                    {"tradingsymbol": "NIFTY24MAY22500PE", "exchange": "NFO",
                     "instrument_token": 9100002, "product": "NRML", "quantity": -75,
                     "average_price": 88.1, "last_price": 80.0, "pnl": 607.5,
                     "multiplier": 1, "sell_quantity": 75, "sell_price": 88.1},
                    {"tradingsymbol": "SBIN", "exchange": "NSE", "product": "MIS",
                     "quantity": 0, "average_price": 0, "last_price": 820.4, "pnl": -12.5,
                     "close_price": null}
                ],
                "day": [
                    {"tradingsymbol": "SBIN", "exchange": "NSE", "product": "MIS",
                     "quantity": 0, "pnl": -12.5}
                ]
            })))
            .mount(&server)
            .await;
        let p = client(&server).positions().await.unwrap();
        assert_eq!(p.net.len(), 2);
        assert_eq!(p.net[0].quantity, -75);
        assert_eq!(p.net[0].pnl, 607.5);
        assert_eq!(p.net[1].close_price, 0.0);
        assert_eq!(p.day[0].tradingsymbol, "SBIN");
    }

    #[actix_rt::test]
    async fn margins_all_and_one_segment() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/user/margins"))
            .respond_with(ok(
                json!({"equity": segment(48000.0), "commodity": segment(0.0)}),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/user/margins/equity"))
            .respond_with(ok(segment(47000.0)))
            .mount(&server)
            .await;
        let c = client(&server);
        let all = c.margins(None).await.unwrap();
        let eq = all.equity.unwrap();
        assert!(eq.enabled);
        assert_eq!(eq.available.live_balance, 48000.0);
        assert_eq!(eq.utilised.option_premium, 900.0);
        assert!(all.commodity.is_some());
        let one = c.margins(Some("equity")).await.unwrap();
        assert_eq!(one.equity.unwrap().net, 47000.0);
        assert!(one.commodity.is_none());
        assert!(c.margins(Some("x/y")).await.is_err());
    }

    #[actix_rt::test]
    async fn order_margins_posts_json() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/margins/orders"))
            .and(body_json(json!([{
                "exchange": "NSE", "tradingsymbol": "SBIN", "transaction_type": "SELL",
                "variety": "regular", "product": "MIS", "order_type": "LIMIT",
                "quantity": 10, "price": 821.0, "trigger_price": 0.0
            }])))
            .respond_with(ok(json!([{
                "type": "equity", "tradingsymbol": "SBIN", "exchange": "NSE",
                "span": 0, "exposure": 0, "var": 1642, "leverage": 5,
                "pnl": {"realised": 0, "unrealised": 0},
                "charges": {"brokerage": 4.9, "total": 7.25, "gst": {"total": 1.1}},
                "total": 1642.0
            }])))
            .expect(1)
            .mount(&server)
            .await;
        let mut req = OrderRequest::new(
            "NSE",
            "SBIN",
            TransactionType::Sell,
            OrderType::Limit,
            10,
            "MIS",
        );
        req.price = Some(821.0);
        let m = client(&server).order_margins(&[req]).await.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].kind.as_str(), m[0].total), ("equity", 1642.0));
        assert_eq!(m[0].charges.total, 7.25);
    }
}
