//! Historical candles: `GET /instruments/historical/{token}/{interval}?from=…&to=…&oi=0|1`.
//!
//! `from`/`to` are exchange-local (IST) `YYYY-MM-DD HH:MM:SS`, both inclusive. Candles come as
//! `[ts, open, high, low, close, volume(, oi)]` with `ts` like `2017-12-15T09:15:00+0530`.
//! Kite caps the span of one request per interval (minute 60 days, 3/5/10minute 100,
//! 15/30minute 200, 60minute 400, day 2000); [`KiteClient::historical_range`] splits a longer
//! range into back-to-back chunks that never overlap and concatenates them in order.

use chrono::{DateTime, NaiveDateTime, TimeDelta};
use serde::Deserialize;

use super::client::{path_segment, KiteClient};
use super::error::KiteError;
use super::ratelimit::EndpointClass;

const KITE_DATETIME: &str = "%Y-%m-%d %H:%M:%S";

/// One candle. `ts` is the candle's start in epoch seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistCandle {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// Open interest, when asked for with `oi = true` (derivatives).
    pub oi: Option<f64>,
}

/// The longest span, in days, Kite serves in one request for `interval`.
pub fn max_days_per_request(interval: &str) -> Option<i64> {
    match interval {
        "minute" => Some(60),
        "3minute" | "5minute" | "10minute" => Some(100),
        "15minute" | "30minute" => Some(200),
        "60minute" => Some(400),
        "day" => Some(2000),
        _ => None,
    }
}

/// Split `[from, to]` into inclusive chunks each shorter than the interval's cap: chunk `k`
/// starts at `from + k * cap` and ends one second before the next starts (the last ends at `to`).
pub fn historical_chunks(
    interval: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, NaiveDateTime)>, KiteError> {
    let days = max_days_per_request(interval)
        .ok_or_else(|| KiteError::input(format!("unknown candle interval {interval:?}")))?;
    if from > to {
        return Err(KiteError::input(format!(
            "historical range starts after it ends ({from} > {to})"
        )));
    }
    let span = TimeDelta::days(days);
    let mut chunks = Vec::new();
    let mut start = from;
    while start <= to {
        let next = start + span;
        let end = (next - TimeDelta::seconds(1)).min(to);
        chunks.push((start, end));
        start = next;
    }
    Ok(chunks)
}

/// Epoch seconds of a Kite candle timestamp (`2017-12-15T09:15:00+0530`, or RFC 3339).
pub fn parse_candle_ts(s: &str) -> Result<i64, KiteError> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map(|t| t.timestamp())
        .map_err(|_| KiteError::data(format!("bad candle timestamp {s:?}")))
}

#[derive(Deserialize)]
struct CandleData {
    candles: Vec<Vec<serde_json::Value>>,
}

fn parse_candle(row: &[serde_json::Value]) -> Result<HistCandle, KiteError> {
    let bad = || KiteError::data(format!("bad candle {:?}", serde_json::Value::from(row)));
    if row.len() < 6 {
        return Err(bad());
    }
    let ts = parse_candle_ts(row[0].as_str().ok_or_else(bad)?)?;
    let num = |i: usize| row[i].as_f64().ok_or_else(bad);
    Ok(HistCandle {
        ts,
        open: num(1)?,
        high: num(2)?,
        low: num(3)?,
        close: num(4)?,
        volume: num(5)?,
        oi: match row.get(6) {
            Some(v) if !v.is_null() => Some(v.as_f64().ok_or_else(bad)?),
            _ => None,
        },
    })
}

impl KiteClient {
    /// Candles of `instrument_token` for one request's worth of `[from, to]` (IST).
    pub async fn historical(
        &self,
        instrument_token: u64,
        interval: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
        oi: bool,
    ) -> Result<Vec<HistCandle>, KiteError> {
        let interval = path_segment("interval", interval)?;
        let path = format!("/instruments/historical/{instrument_token}/{interval}");
        let query = [
            ("from", from.format(KITE_DATETIME).to_string()),
            ("to", to.format(KITE_DATETIME).to_string()),
            ("continuous", "0".to_string()),
            ("oi", if oi { "1" } else { "0" }.to_string()),
        ];
        let data: CandleData = self.get(EndpointClass::Historical, &path, &query).await?;
        data.candles.iter().map(|r| parse_candle(r)).collect()
    }

    /// Candles for any span, fetched in chunks within Kite's per-interval limit, in time order
    /// and without duplicates.
    pub async fn historical_range(
        &self,
        instrument_token: u64,
        interval: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<HistCandle>, KiteError> {
        self.historical_range_oi(instrument_token, interval, from, to, false)
            .await
    }

    /// [`KiteClient::historical_range`] with open interest.
    pub async fn historical_range_oi(
        &self,
        instrument_token: u64,
        interval: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
        oi: bool,
    ) -> Result<Vec<HistCandle>, KiteError> {
        let mut out: Vec<HistCandle> = Vec::new();
        for (start, end) in historical_chunks(interval, from, to)? {
            let part = self
                .historical(instrument_token, interval, start, end, oi)
                .await?;
            for candle in part {
                if out.last().is_none_or(|last| candle.ts > last.ts) {
                    out.push(candle);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{client, ok, query_values};
    use super::*;
    use chrono::NaiveDate;
    use serde_json::json;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, s)
            .unwrap()
    }

    #[test]
    fn timestamps_parse_to_epoch_seconds() {
        // 09:15 IST is 03:45 UTC.
        assert_eq!(
            parse_candle_ts("2017-12-15T09:15:00+0530").unwrap(),
            1_513_309_500
        );
        assert_eq!(
            parse_candle_ts("2017-12-15T09:15:00+05:30").unwrap(),
            1_513_309_500
        );
        assert!(parse_candle_ts("2017-12-15 09:15:00").is_err());
    }

    #[test]
    fn chunk_limits_per_interval() {
        let from = at(2020, 1, 1, 0, 0, 0);
        let to = at(2024, 12, 31, 0, 0, 0); // 1826 days later
        let count = |iv: &str| historical_chunks(iv, from, to).unwrap().len();
        assert_eq!(count("minute"), 31);
        assert_eq!(count("5minute"), 19);
        assert_eq!(count("30minute"), 10);
        assert_eq!(count("60minute"), 5);
        assert_eq!(count("day"), 1);
        assert_eq!(
            historical_chunks("day", from, from).unwrap(),
            vec![(from, from)]
        );
        assert!(historical_chunks("2minute", from, to).is_err());
        assert!(historical_chunks("day", to, from).is_err());
    }

    #[actix_rt::test]
    async fn single_request_with_oi() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/instruments/historical/12345/5minute"))
            .and(query_param("from", "2024-02-01 09:15:00"))
            .and(query_param("to", "2024-02-01 15:30:00"))
            .and(query_param("oi", "1"))
            .respond_with(ok(json!({"candles": [
                ["2024-02-01T09:15:00+0530", 101.5, 103, 100.25, 102, 5400, 120000],
                ["2024-02-01T09:20:00+0530", 102, 102.5, 101, 101.75, 3100, 121500]
            ]})))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let candles = c
            .historical(
                12345,
                "5minute",
                at(2024, 2, 1, 9, 15, 0),
                at(2024, 2, 1, 15, 30, 0),
                true,
            )
            .await
            .unwrap();
        assert_eq!(candles.len(), 2);
        assert_eq!(candles[1].ts - candles[0].ts, 300);
        assert_eq!(candles[0].high, 103.0);
        assert_eq!(candles[1].oi, Some(121_500.0));
    }

    /// Two candles at each chunk's start, plus a stale repeat of the range's first candle.
    struct ChunkEcho {
        first: String,
    }
    impl Respond for ChunkEcho {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let from = query_values(req, "from").remove(0);
            let from = NaiveDateTime::parse_from_str(&from, KITE_DATETIME).unwrap();
            let ts = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S+0530").to_string();
            let next = from + TimeDelta::minutes(1);
            ok(json!({"candles": [
                [self.first, 1, 1, 1, 1, 1],
                [ts(from), 10, 11, 9, 10.5, 100],
                [ts(next), 10.5, 12, 10, 11, 150],
                [ts(next), 10.5, 12, 10, 11, 150]
            ]}))
        }
    }

    #[actix_rt::test]
    async fn a_150_day_minute_range_takes_three_chunks() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/instruments/historical/256265/minute"))
            .respond_with(ChunkEcho {
                first: "2024-01-01T09:15:00+0530".into(),
            })
            .mount(&server)
            .await;
        let from = at(2024, 1, 1, 9, 15, 0);
        let to = from + TimeDelta::days(150);
        let candles = client(&server)
            .historical_range(256265, "minute", from, to)
            .await
            .unwrap();
        let reqs = server.received_requests().await.unwrap();
        let ranges: Vec<(String, String)> = reqs
            .iter()
            .map(|r| {
                (
                    query_values(r, "from").remove(0),
                    query_values(r, "to").remove(0),
                )
            })
            .collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            ranges,
            vec![
                pair("2024-01-01 09:15:00", "2024-03-01 09:14:59"),
                pair("2024-03-01 09:15:00", "2024-04-30 09:14:59"),
                pair("2024-04-30 09:15:00", "2024-05-30 09:15:00"),
            ]
        );
        assert!(reqs.iter().all(|r| query_values(r, "oi") == vec!["0"]));
        // Two new candles per chunk, strictly increasing, no repeats.
        assert_eq!(candles.len(), 6);
        assert!(candles.windows(2).all(|w| w[0].ts < w[1].ts));
        assert_eq!(
            candles[0].ts,
            parse_candle_ts("2024-01-01T09:15:00+0530").unwrap()
        );
        assert_eq!(
            candles[2].ts,
            parse_candle_ts("2024-03-01T09:15:00+0530").unwrap()
        );
        assert_eq!(candles[0].oi, None);
    }

    #[actix_rt::test]
    async fn malformed_candles_are_data_errors() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ok(json!({"candles": [["2024-02-01T09:15:00+0530", 1, 2]]})))
            .mount(&server)
            .await;
        let day = at(2024, 2, 1, 0, 0, 0);
        let e = client(&server)
            .historical(1, "day", day, day, false)
            .await
            .unwrap_err();
        assert!(matches!(e, KiteError::Data { .. }), "{e:?}");
    }
}
