//! Market quotes: `GET /quote`, `/quote/ltp` and `/quote/ohlc`, one `i=EXCHANGE:SYMBOL`
//! query parameter per instrument.
//!
//! Kite accepts at most 500 instruments per `/quote` call (1000 for ltp/ohlc); longer lists
//! are split into batches of [`QUOTE_BATCH`] and the answers merged. An instrument without
//! data is simply absent from the returned map.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::client::KiteClient;
use super::error::KiteError;
use super::ratelimit::EndpointClass;

/// Instruments per quote request.
pub const QUOTE_BATCH: usize = 500;

/// Open, high, low, close.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Ohlc {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
}

/// One level of market depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DepthLevel {
    pub price: f64,
    pub quantity: f64,
    pub orders: f64,
}

/// Five bid and five ask levels.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Depth {
    pub buy: Vec<DepthLevel>,
    pub sell: Vec<DepthLevel>,
}

/// A full quote. Fields beyond the token and price are optional: indices have no volume,
/// equities no open interest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Quote {
    pub instrument_token: u64,
    pub last_price: f64,
    pub volume: Option<f64>,
    pub oi: Option<f64>,
    #[serde(default)]
    pub ohlc: Ohlc,
    /// `YYYY-MM-DD HH:MM:SS`, exchange time (IST).
    pub timestamp: Option<String>,
    pub last_trade_time: Option<String>,
    pub last_quantity: Option<f64>,
    pub average_price: Option<f64>,
    pub buy_quantity: Option<f64>,
    pub sell_quantity: Option<f64>,
    pub net_change: Option<f64>,
    pub lower_circuit_limit: Option<f64>,
    pub upper_circuit_limit: Option<f64>,
    pub depth: Option<Depth>,
}

/// Last traded price.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Ltp {
    pub instrument_token: u64,
    pub last_price: f64,
}

/// Last traded price with the day's OHLC.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct OhlcQuote {
    pub instrument_token: u64,
    pub last_price: f64,
    #[serde(default)]
    pub ohlc: Ohlc,
}

impl KiteClient {
    /// Full quotes keyed by `EXCHANGE:SYMBOL` (e.g. `NSE:INFY`).
    pub async fn quote(&self, instruments: &[&str]) -> Result<HashMap<String, Quote>, KiteError> {
        self.batched_quotes("/quote", instruments).await
    }

    /// Last traded prices keyed by `EXCHANGE:SYMBOL`.
    pub async fn ltp(&self, instruments: &[&str]) -> Result<HashMap<String, Ltp>, KiteError> {
        self.batched_quotes("/quote/ltp", instruments).await
    }

    /// Last prices and OHLC keyed by `EXCHANGE:SYMBOL`.
    pub async fn ohlc(
        &self,
        instruments: &[&str],
    ) -> Result<HashMap<String, OhlcQuote>, KiteError> {
        self.batched_quotes("/quote/ohlc", instruments).await
    }

    async fn batched_quotes<T: DeserializeOwned>(
        &self,
        path: &str,
        instruments: &[&str],
    ) -> Result<HashMap<String, T>, KiteError> {
        if let Some(bad) = instruments.iter().find(|i| !i.contains(':')) {
            return Err(KiteError::input(format!(
                "instrument {bad:?} is not EXCHANGE:SYMBOL"
            )));
        }
        let mut out = HashMap::with_capacity(instruments.len());
        for batch in instruments.chunks(QUOTE_BATCH) {
            let query: Vec<(&str, String)> = batch.iter().map(|i| ("i", i.to_string())).collect();
            let part: HashMap<String, T> = self.get(EndpointClass::Quote, path, &query).await?;
            out.extend(part);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{client, ok, query_values};
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    #[actix_rt::test]
    async fn quote_parses_full_and_sparse_entries() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/quote"))
            .and(query_param("i", "NSE:SBIN"))
            .respond_with(ok(json!({
                "NSE:SBIN": {
                    "instrument_token": 779521,
                    "timestamp": "2024-05-02 10:01:02",
                    "last_price": 820.4,
                    "volume": 1200300,
                    "oi": 0,
                    "net_change": 0,
                    "ohlc": {"open": 815, "high": 822.5, "low": 811.1, "close": 812.0},
                    "depth": {
                        "buy": [{"price": 820.35, "quantity": 40, "orders": 3}],
                        "sell": [{"price": 820.4, "quantity": 7, "orders": 1}]
                    }
                },
                "NSE:NIFTY 50": {
                    "instrument_token": 256265,
                    "last_price": 22500.25,
                    "ohlc": {"open": 22400, "high": 22550, "low": 22390, "close": 22410}
                }
            })))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let q = c
            .quote(&["NSE:SBIN", "NSE:NIFTY 50", "NSE:GONE"])
            .await
            .unwrap();
        assert_eq!(q.len(), 2);
        let sbin = &q["NSE:SBIN"];
        assert_eq!(sbin.volume, Some(1_200_300.0));
        assert_eq!(sbin.ohlc.high, 822.5);
        assert_eq!(sbin.timestamp.as_deref(), Some("2024-05-02 10:01:02"));
        assert_eq!(sbin.depth.as_ref().unwrap().sell[0].quantity, 7.0);
        let nifty = &q["NSE:NIFTY 50"];
        assert_eq!((nifty.volume, nifty.oi), (None, None));
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(
            query_values(&reqs[0], "i"),
            vec!["NSE:SBIN", "NSE:NIFTY 50", "NSE:GONE"]
        );
    }

    /// Answers every instrument asked for with a price equal to its number.
    struct EchoLtp;
    impl Respond for EchoLtp {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let data: serde_json::Map<String, serde_json::Value> = query_values(req, "i")
                .into_iter()
                .map(|i| {
                    let n: u64 = i.trim_start_matches("NSE:S").parse().unwrap();
                    (i, json!({"instrument_token": n, "last_price": n as f64}))
                })
                .collect();
            ok(serde_json::Value::Object(data))
        }
    }

    #[actix_rt::test]
    async fn ltp_splits_into_batches_of_500_and_merges() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/quote/ltp"))
            .respond_with(EchoLtp)
            .mount(&server)
            .await;
        let names: Vec<String> = (0..1201).map(|n| format!("NSE:S{n}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let ltp = client(&server).ltp(&refs).await.unwrap();
        assert_eq!(ltp.len(), 1201);
        assert_eq!(ltp["NSE:S1200"].last_price, 1200.0);
        let sizes: Vec<usize> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| query_values(r, "i").len())
            .collect();
        assert_eq!(sizes, vec![500, 500, 201]);
    }

    #[actix_rt::test]
    async fn ohlc_and_input_checks() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/quote/ohlc"))
            .respond_with(ok(json!({
                "NSE:TCS": {"instrument_token": 2953217, "last_price": 3900.0,
                            "ohlc": {"open": 3880, "high": 3910, "low": 3875, "close": 3890}}
            })))
            .mount(&server)
            .await;
        let c = client(&server);
        let o = c.ohlc(&["NSE:TCS"]).await.unwrap();
        assert_eq!(o["NSE:TCS"].ohlc.low, 3875.0);
        assert!(matches!(
            c.quote(&["TCS"]).await,
            Err(KiteError::Input { status: 0, .. })
        ));
        assert!(c.quote(&[]).await.unwrap().is_empty());
    }
}
