//! Orders: place, cancel, follow, list, fills — and placement that never doubles an order.
//!
//! `POST /orders/{variety}` (form-encoded) returns `{"order_id": …}`. `GET /orders/{id}` is the
//! order's list of state transitions, oldest first; COMPLETE, CANCELLED and REJECTED are
//! terminal.
//!
//! Idempotent placement: the caller gives every order a `tag` derived from its signal id
//! ([`tag_for`]). When the POST's outcome is unknown (timeout, transport error, 5xx), the
//! client looks the tag up in the day's order book before sending again, and sends at most one
//! more POST. Kite does not deduplicate tags itself, so the lookup waits a little
//! ([`super::client::IdempotencyPolicy`]) to let a slow OMS register the first request.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::client::{path_segment, KiteClient, Payload};
use super::de::{id_string, null_default};
use super::error::KiteError;
use super::ratelimit::EndpointClass;

/// Order status: fully filled.
pub const STATUS_COMPLETE: &str = "COMPLETE";
/// Order status: cancelled.
pub const STATUS_CANCELLED: &str = "CANCELLED";
/// Order status: rejected.
pub const STATUS_REJECTED: &str = "REJECTED";
/// Kite's limit on a tag's length.
pub const MAX_TAG_LEN: usize = 20;

/// BUY or SELL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionType {
    Buy,
    Sell,
}

impl TransactionType {
    /// Kite's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Buy => "BUY",
            TransactionType::Sell => "SELL",
        }
    }
}

/// MARKET, LIMIT, SL or SL-M.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderType {
    Market,
    Limit,
    StopLoss,
    StopLossMarket,
}

impl OrderType {
    /// Kite's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "MARKET",
            OrderType::Limit => "LIMIT",
            OrderType::StopLoss => "SL",
            OrderType::StopLossMarket => "SL-M",
        }
    }
}

/// What to send to place an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// `regular` (default), `amo`, `co`, `iceberg`, `auction`.
    pub variety: String,
    pub exchange: String,
    pub tradingsymbol: String,
    pub transaction_type: TransactionType,
    pub order_type: OrderType,
    pub quantity: u32,
    /// `MIS`, `NRML`, `CNC`, `MTF`.
    pub product: String,
    /// Required for LIMIT and SL.
    pub price: Option<f64>,
    /// Required for SL and SL-M.
    pub trigger_price: Option<f64>,
    /// `DAY` (default), `IOC`, `TTL`.
    pub validity: String,
    /// Up to 20 ASCII letters and digits; required by `place_order_idempotent`.
    pub tag: Option<String>,
    /// `0` none, `1..=100` percent, `-1` Kite's automatic protection.
    pub market_protection: Option<i32>,
}

impl OrderRequest {
    /// A regular DAY order without price, tag or protection; set those fields as needed.
    pub fn new(
        exchange: impl Into<String>,
        tradingsymbol: impl Into<String>,
        transaction_type: TransactionType,
        order_type: OrderType,
        quantity: u32,
        product: impl Into<String>,
    ) -> OrderRequest {
        OrderRequest {
            variety: "regular".into(),
            exchange: exchange.into(),
            tradingsymbol: tradingsymbol.into(),
            transaction_type,
            order_type,
            quantity,
            product: product.into(),
            price: None,
            trigger_price: None,
            validity: "DAY".into(),
            tag: None,
            market_protection: None,
        }
    }

    /// Check what Kite would reject anyway, before spending a request on it.
    pub fn validate(&self) -> Result<(), KiteError> {
        path_segment("variety", &self.variety)?;
        if self.exchange.is_empty() || self.tradingsymbol.is_empty() || self.product.is_empty() {
            return Err(KiteError::input(
                "exchange, tradingsymbol and product are required",
            ));
        }
        if self.quantity == 0 {
            return Err(KiteError::input("quantity must be positive"));
        }
        let positive = |p: Option<f64>| p.is_some_and(|v| v.is_finite() && v > 0.0);
        if matches!(self.order_type, OrderType::Limit | OrderType::StopLoss)
            && !positive(self.price)
        {
            return Err(KiteError::input(format!(
                "{} orders need a positive price",
                self.order_type.as_str()
            )));
        }
        if matches!(
            self.order_type,
            OrderType::StopLoss | OrderType::StopLossMarket
        ) && !positive(self.trigger_price)
        {
            return Err(KiteError::input(format!(
                "{} orders need a positive trigger price",
                self.order_type.as_str()
            )));
        }
        if let Some(tag) = &self.tag {
            validate_tag(tag)?;
        }
        if let Some(mp) = self.market_protection {
            if !(mp == -1 || (0..=100).contains(&mp)) {
                return Err(KiteError::input(format!(
                    "market_protection must be -1 or 0..=100, got {mp}"
                )));
            }
        }
        Ok(())
    }

    /// The form fields of `POST /orders/{variety}`.
    pub(super) fn form(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("exchange", self.exchange.clone()),
            ("tradingsymbol", self.tradingsymbol.clone()),
            (
                "transaction_type",
                self.transaction_type.as_str().to_string(),
            ),
            ("order_type", self.order_type.as_str().to_string()),
            ("quantity", self.quantity.to_string()),
            ("product", self.product.clone()),
            ("validity", self.validity.clone()),
        ];
        if let Some(p) = self.price {
            f.push(("price", p.to_string()));
        }
        if let Some(p) = self.trigger_price {
            f.push(("trigger_price", p.to_string()));
        }
        if let Some(t) = &self.tag {
            f.push(("tag", t.clone()));
        }
        if let Some(mp) = self.market_protection {
            f.push(("market_protection", mp.to_string()));
        }
        f
    }
}

fn validate_tag(tag: &str) -> Result<(), KiteError> {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN || !tag.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(KiteError::input(format!(
            "order tag {tag:?} must be 1 to {MAX_TAG_LEN} ASCII letters or digits"
        )));
    }
    Ok(())
}

/// The order tag of a signal: the first 20 hex digits of SHA-256 of its UUID bytes.
/// Deterministic, so a retried signal maps to the same tag; hashing spreads time-ordered
/// (v7) UUIDs over all 80 bits.
pub fn tag_for(signal_id: &uuid::Uuid) -> String {
    let digest = Sha256::digest(signal_id.as_bytes());
    digest
        .iter()
        .take(MAX_TAG_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Deserialize)]
struct OrderIdData {
    #[serde(deserialize_with = "id_string")]
    order_id: String,
}

/// One state of an order (an element of `GET /orders` or `GET /orders/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OrderState {
    #[serde(deserialize_with = "id_string")]
    pub order_id: String,
    pub exchange_order_id: Option<String>,
    pub parent_order_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    pub status_message: Option<String>,
    pub status_message_raw: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS` (IST).
    pub order_timestamp: Option<String>,
    pub exchange_timestamp: Option<String>,
    pub exchange_update_timestamp: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub variety: String,
    #[serde(default, deserialize_with = "null_default")]
    pub exchange: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tradingsymbol: String,
    #[serde(default, deserialize_with = "null_default")]
    pub instrument_token: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub order_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub transaction_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub validity: String,
    #[serde(default, deserialize_with = "null_default")]
    pub product: String,
    #[serde(default, deserialize_with = "null_default")]
    pub quantity: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub price: f64,
    #[serde(default, deserialize_with = "null_default")]
    pub trigger_price: f64,
    #[serde(default, deserialize_with = "null_default")]
    pub average_price: f64,
    #[serde(default, deserialize_with = "null_default")]
    pub filled_quantity: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub pending_quantity: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub cancelled_quantity: u64,
    pub tag: Option<String>,
    /// Newer responses may also list tags here.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    pub placed_by: Option<String>,
    pub guid: Option<String>,
}

impl OrderState {
    /// COMPLETE, CANCELLED or REJECTED.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            STATUS_COMPLETE | STATUS_CANCELLED | STATUS_REJECTED
        )
    }

    /// True if the order carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tag.as_deref() == Some(tag) || self.tags.iter().any(|t| t == tag)
    }
}

/// One fill.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Trade {
    #[serde(deserialize_with = "id_string")]
    pub trade_id: String,
    #[serde(deserialize_with = "id_string")]
    pub order_id: String,
    pub exchange_order_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub exchange: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tradingsymbol: String,
    #[serde(default, deserialize_with = "null_default")]
    pub instrument_token: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub product: String,
    #[serde(default, deserialize_with = "null_default")]
    pub transaction_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub average_price: f64,
    #[serde(default, deserialize_with = "null_default")]
    pub quantity: u64,
    pub fill_timestamp: Option<String>,
    pub order_timestamp: Option<String>,
    pub exchange_timestamp: Option<String>,
}

impl KiteClient {
    /// Place an order once (no retry); returns Kite's order id.
    pub async fn place_order(&self, req: &OrderRequest) -> Result<String, KiteError> {
        req.validate()?;
        let path = format!("/orders/{}", req.variety);
        let form = req.form();
        let data: OrderIdData = self
            .write(
                Method::POST,
                EndpointClass::Order,
                &path,
                &[],
                Payload::Form(&form),
            )
            .await?;
        Ok(data.order_id)
    }

    /// Place an order that must not be doubled. `req.tag` is required (see [`tag_for`]).
    ///
    /// On an unknown outcome (timeout, transport error, 5xx) the order book is searched for
    /// the tag; if found its id is returned, otherwise the POST is sent once more (and the
    /// book searched again if that too is unknown). Gives [`KiteError::OrderUncertain`] when
    /// the order may exist but could not be found, and the lookup's error if that was a
    /// [`KiteError::Token`].
    pub async fn place_order_idempotent(&self, req: &OrderRequest) -> Result<String, KiteError> {
        req.validate()?;
        let tag = req
            .tag
            .clone()
            .ok_or_else(|| KiteError::input("idempotent placement needs a tag"))?;
        let mut last_error = None;
        for attempt in 1..=2 {
            let e = match self.place_order(req).await {
                Ok(id) => return Ok(id),
                Err(e) if e.is_outcome_unknown() => e,
                Err(e) => return Err(e),
            };
            log::warn!("kite order tag {tag}: attempt {attempt} has an unknown outcome ({e}); looking it up");
            match self.find_order_by_tag_patiently(&tag).await {
                Ok(Some(order)) => {
                    log::info!("kite order tag {tag} exists as {}", order.order_id);
                    return Ok(order.order_id);
                }
                Ok(None) => last_error = Some(e),
                Err(lookup) if lookup.is_token_error() => return Err(lookup),
                Err(lookup) => {
                    return Err(KiteError::OrderUncertain {
                        tag,
                        message: format!("placement: {e}; order-book lookup: {lookup}"),
                    })
                }
            }
        }
        Err(KiteError::OrderUncertain {
            message: format!(
                "not in the order book after two attempts; last error: {}",
                last_error.map(|e| e.to_string()).unwrap_or_default()
            ),
            tag,
        })
    }

    /// The day's order with `tag`, if any (GET /orders).
    pub async fn find_order_by_tag(&self, tag: &str) -> Result<Option<OrderState>, KiteError> {
        Ok(self.orders().await?.into_iter().find(|o| o.has_tag(tag)))
    }

    /// Up to `lookups` order-book searches, each after `lookup_every`.
    async fn find_order_by_tag_patiently(
        &self,
        tag: &str,
    ) -> Result<Option<OrderState>, KiteError> {
        let policy = self.idempotency.clone();
        let mut failure = None;
        for _ in 0..policy.lookups.max(1) {
            tokio::time::sleep(policy.lookup_every).await;
            match self.find_order_by_tag(tag).await {
                Ok(Some(order)) => return Ok(Some(order)),
                Ok(None) => {}
                Err(e) if e.is_token_error() => return Err(e),
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Cancel an open order; returns its id.
    pub async fn cancel_order(&self, variety: &str, order_id: &str) -> Result<String, KiteError> {
        let path = format!(
            "/orders/{}/{}",
            path_segment("variety", variety)?,
            path_segment("order id", order_id)?
        );
        let data: OrderIdData = self
            .write(
                Method::DELETE,
                EndpointClass::Order,
                &path,
                &[],
                Payload::Empty,
            )
            .await?;
        Ok(data.order_id)
    }

    /// The day's orders (latest state of each).
    pub async fn orders(&self) -> Result<Vec<OrderState>, KiteError> {
        self.get(EndpointClass::Other, "/orders", &[]).await
    }

    /// Every state an order went through, oldest first.
    pub async fn order_history(&self, order_id: &str) -> Result<Vec<OrderState>, KiteError> {
        let path = format!("/orders/{}", path_segment("order id", order_id)?);
        self.get(EndpointClass::Other, &path, &[]).await
    }

    /// The fills of one order.
    pub async fn order_trades(&self, order_id: &str) -> Result<Vec<Trade>, KiteError> {
        let path = format!("/orders/{}/trades", path_segment("order id", order_id)?);
        self.get(EndpointClass::Other, &path, &[]).await
    }

    /// The day's fills.
    pub async fn trades(&self) -> Result<Vec<Trade>, KiteError> {
        self.get(EndpointClass::Other, "/trades", &[]).await
    }

    /// Poll the order's history every `poll_every` until it is terminal or `max_wait` has
    /// passed; returns the last state seen (check [`OrderState::is_terminal`]).
    pub async fn wait_for_terminal(
        &self,
        order_id: &str,
        poll_every: Duration,
        max_wait: Duration,
    ) -> Result<OrderState, KiteError> {
        let start = Instant::now();
        loop {
            let last = self.order_history(order_id).await?.pop();
            let elapsed = start.elapsed();
            match last {
                Some(state) if state.is_terminal() || elapsed >= max_wait => return Ok(state),
                None if elapsed >= max_wait => {
                    return Err(KiteError::data(format!(
                        "order {order_id} has no history after {max_wait:?}"
                    )))
                }
                _ => tokio::time::sleep(poll_every.min(max_wait.saturating_sub(elapsed))).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{client, client_with_timeout, err, form, ok};
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer};

    fn buy_limit(tag: &str) -> OrderRequest {
        let mut r = OrderRequest::new(
            "NFO",
            "NIFTY24MAY22500CE",
            TransactionType::Buy,
            OrderType::Limit,
            75,
            "NRML",
        );
        r.price = Some(104.5);
        r.tag = Some(tag.to_string());
        r
    }

    fn order_json(id: &str, status: &str, tag: Option<&str>) -> serde_json::Value {
        json!({
            "order_id": id, "exchange_order_id": null, "parent_order_id": null,
            "status": status, "status_message": null, "order_timestamp": "2024-05-02 10:00:01",
            "variety": "regular", "exchange": "NFO", "tradingsymbol": "NIFTY24MAY22500CE",
            "instrument_token": 9100001, "order_type": "LIMIT", "transaction_type": "BUY",
            "validity": "DAY", "product": "NRML", "quantity": 75, "price": 104.5,
            "trigger_price": 0, "average_price": if status == "COMPLETE" { 104.2 } else { 0.0 },
            "filled_quantity": if status == "COMPLETE" { 75 } else { 0 },
            "pending_quantity": 75, "cancelled_quantity": 0, "tag": tag
        })
    }

    async fn count(server: &MockServer, verb: &str, p: &str) -> usize {
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == p)
            .count()
    }

    #[test]
    fn tags_are_deterministic_short_and_alphanumeric() {
        let a = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        let b = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def1);
        assert_eq!(tag_for(&a), tag_for(&a));
        assert_ne!(tag_for(&a), tag_for(&b));
        assert_eq!(tag_for(&a).len(), 20);
        assert!(validate_tag(&tag_for(&a)).is_ok());
        assert!(validate_tag("has space").is_err());
        assert!(validate_tag(&"x".repeat(21)).is_err());
    }

    #[test]
    fn request_validation() {
        assert!(buy_limit("t1").validate().is_ok());
        let mut r = buy_limit("t1");
        r.price = None;
        assert!(r.validate().is_err());
        let mut r = buy_limit("t1");
        r.quantity = 0;
        assert!(r.validate().is_err());
        let mut r = buy_limit("t1");
        r.order_type = OrderType::StopLossMarket;
        assert!(r.validate().is_err());
        r.trigger_price = Some(99.0);
        assert!(r.validate().is_ok());
        r.market_protection = Some(101);
        assert!(r.validate().is_err());
        r.variety = "../x".into();
        assert!(r.validate().is_err());
    }

    #[actix_rt::test]
    async fn place_order_posts_the_form() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(ok(json!({"order_id": "240502000000101"})))
            .expect(1)
            .mount(&server)
            .await;
        let mut req = buy_limit("sig1");
        req.order_type = OrderType::Market;
        req.price = None;
        req.market_protection = Some(-1);
        let id = client(&server).place_order(&req).await.unwrap();
        assert_eq!(id, "240502000000101");
        let reqs = server.received_requests().await.unwrap();
        let fields = form(&reqs[0]);
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        assert_eq!(get("transaction_type"), Some("BUY"));
        assert_eq!(get("order_type"), Some("MARKET"));
        assert_eq!(get("quantity"), Some("75"));
        assert_eq!(get("tag"), Some("sig1"));
        assert_eq!(get("market_protection"), Some("-1"));
        assert_eq!(get("price"), None);
        let ct = reqs[0].headers["content-type"].to_str().unwrap();
        assert_eq!(ct, "application/x-www-form-urlencoded");
    }

    #[actix_rt::test]
    async fn orders_history_trades_and_cancel() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(ok(json!([
                order_json("101", "CANCELLED", None),
                {"order_id": 102, "status": "REJECTED", "status_message": "Insufficient funds",
                 "tag": "abc", "price": null, "quantity": 1}
            ])))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders/101/trades"))
            .respond_with(ok(json!([{
                "trade_id": "9001", "order_id": "101", "exchange": "NFO",
                "tradingsymbol": "NIFTY24MAY22500CE", "instrument_token": 9100001,
                "product": "NRML", "average_price": 104.2, "quantity": 75,
                "exchange_order_id": "1300000000000001", "transaction_type": "BUY",
                "fill_timestamp": "2024-05-02 10:00:02"
            }])))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/orders/regular/101"))
            .respond_with(ok(json!({"order_id": "101"})))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let orders = c.orders().await.unwrap();
        assert_eq!(orders.len(), 2);
        assert!(orders[0].is_terminal());
        assert_eq!(orders[1].order_id, "102");
        assert_eq!(
            orders[1].status_message.as_deref(),
            Some("Insufficient funds")
        );
        assert_eq!(orders[1].price, 0.0);
        assert_eq!(
            c.find_order_by_tag("abc").await.unwrap().unwrap().order_id,
            "102"
        );
        assert!(c.find_order_by_tag("zzz").await.unwrap().is_none());
        let fills = c.order_trades("101").await.unwrap();
        assert_eq!((fills[0].quantity, fills[0].average_price), (75, 104.2));
        assert_eq!(c.cancel_order("regular", "101").await.unwrap(), "101");
    }

    #[actix_rt::test]
    async fn wait_for_terminal_follows_the_history() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/orders/555"))
            .respond_with(ok(json!([
                order_json("555", "PUT ORDER REQ RECEIVED", Some("t")),
                order_json("555", "OPEN", Some("t"))
            ])))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders/555"))
            .respond_with(ok(json!([
                order_json("555", "OPEN", Some("t")),
                order_json("555", "COMPLETE", Some("t"))
            ])))
            .mount(&server)
            .await;
        let c = client(&server);
        let last = c
            .wait_for_terminal("555", Duration::from_millis(2), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(last.status, STATUS_COMPLETE);
        assert_eq!(last.filled_quantity, 75);
        assert_eq!(count(&server, "GET", "/orders/555").await, 3);
        assert_eq!(c.order_history("555").await.unwrap().len(), 2);
    }

    #[actix_rt::test]
    async fn wait_for_terminal_gives_up_with_the_last_state() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/orders/556"))
            .respond_with(ok(json!([order_json("556", "OPEN", None)])))
            .mount(&server)
            .await;
        let last = client(&server)
            .wait_for_terminal("556", Duration::from_millis(5), Duration::from_millis(30))
            .await
            .unwrap();
        assert_eq!(last.status, "OPEN");
        assert!(!last.is_terminal());
    }

    #[actix_rt::test]
    async fn timed_out_post_that_created_the_order_is_found_by_tag() {
        let server = MockServer::start().await;
        let tag = tag_for(&uuid::Uuid::from_u128(7));
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(ok(json!({"order_id": "777"})).set_delay(Duration::from_millis(1500)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(ok(json!([
                order_json("700", "COMPLETE", None),
                order_json("777", "OPEN", Some(&tag))
            ])))
            .mount(&server)
            .await;
        let c = client_with_timeout(&server, Duration::from_millis(200));
        let id = c.place_order_idempotent(&buy_limit(&tag)).await.unwrap();
        assert_eq!(id, "777");
        assert_eq!(count(&server, "POST", "/orders/regular").await, 1);
        assert_eq!(count(&server, "GET", "/orders").await, 1);
    }

    #[actix_rt::test]
    async fn timed_out_post_without_an_order_is_sent_once_more() {
        let server = MockServer::start().await;
        let tag = tag_for(&uuid::Uuid::from_u128(8));
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(ok(json!({"order_id": "880"})).set_delay(Duration::from_millis(1500)))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/orders/regular"))
            .respond_with(ok(json!({"order_id": "881"})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(ok(json!([order_json("700", "COMPLETE", None)])))
            .mount(&server)
            .await;
        let c = client_with_timeout(&server, Duration::from_millis(200));
        let id = c.place_order_idempotent(&buy_limit(&tag)).await.unwrap();
        assert_eq!(id, "881");
        assert_eq!(count(&server, "POST", "/orders/regular").await, 2);
        // Two patient lookups (the test policy) between the two POSTs.
        assert_eq!(count(&server, "GET", "/orders").await, 2);
    }

    #[actix_rt::test]
    async fn two_unknown_outcomes_never_make_a_third_post() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(err(503, "NetworkException", "oms unreachable"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(ok(json!([])))
            .mount(&server)
            .await;
        let c = client(&server);
        let e = c
            .place_order_idempotent(&buy_limit("sigX"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, KiteError::OrderUncertain { ref tag, .. } if tag == "sigX"),
            "{e:?}"
        );
        assert_eq!(count(&server, "POST", "/orders/regular").await, 2);
    }

    #[actix_rt::test]
    async fn definite_refusals_are_not_retried_or_looked_up() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(err(400, "MarginException", "Insufficient funds"))
            .mount(&server)
            .await;
        let c = client(&server);
        let e = c
            .place_order_idempotent(&buy_limit("sigM"))
            .await
            .unwrap_err();
        assert!(matches!(e, KiteError::Margin { status: 400, .. }));
        let mut untagged = buy_limit("x");
        untagged.tag = None;
        assert!(matches!(
            c.place_order_idempotent(&untagged).await,
            Err(KiteError::Input { status: 0, .. })
        ));
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].method.as_str(), "POST");
    }

    #[actix_rt::test]
    async fn a_token_error_halts_placement() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(err(
                403,
                "TokenException",
                "Incorrect api_key or access_token",
            ))
            .mount(&server)
            .await;
        let e = client(&server)
            .place_order_idempotent(&buy_limit("sigT"))
            .await
            .unwrap_err();
        assert!(e.is_token_error());
    }
}
