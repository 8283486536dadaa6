//! The market side of the Kite stand-in: the instrument dumps, the history, `/quote`, and
//! KiteTicker's binary packets.

use chrono::{Duration, TimeZone, Utc};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

pub fn ist(ts: i64) -> String {
    let t = chrono::FixedOffset::east_opt(19_800)
        .unwrap()
        .timestamp_opt(ts, 0)
        .unwrap();
    t.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

/// 12 days × 25 candles of 15 minutes, ending before today.
pub fn candles() -> serde_json::Value {
    let today = Utc::now().date_naive();
    let mut out = Vec::new();
    let mut price = 24_000.0;
    for d in (1..=12).rev() {
        let day = today - Duration::days(d);
        let open = day.and_hms_opt(3, 45, 0).unwrap().and_utc().timestamp(); // 09:15 IST
        for k in 0..25 {
            price += if (d + k) % 3 == 0 { -12.5 } else { 9.0 };
            out.push(serde_json::json!([
                ist(open + k * 900),
                price,
                price + 5.0,
                price - 5.0,
                price + 1.0,
                1000
            ]));
        }
    }
    serde_json::json!({"status": "success", "data": {"candles": out}})
}

pub fn nfo_dump() -> String {
    let mut s = String::from("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n");
    let today = Utc::now().date_naive();
    let mut token = 10_000;
    for w in 0..4 {
        let e = today + Duration::days(2 + 7 * w);
        for k in 0..5 {
            let strike = 23_900 + 50 * k;
            for t in ["CE", "PE"] {
                token += 1;
                s.push_str(&format!(
                    "{token},{},NIFTYX{strike}{t},NIFTY,0,{e},{strike},0.05,75,{t},NFO-OPT,NFO\n",
                    token / 256
                ));
            }
        }
    }
    // One strike of every other underlying the default config trades (the refresh checks
    // that each is listed), at the config's lot, expiring in a month.
    let e = today + Duration::days(30);
    for (k, (name, lot)) in [
        ("BANKNIFTY", 30),
        ("FINNIFTY", 60),
        ("MIDCPNIFTY", 120),
        ("RELIANCE", 500),
        ("TCS", 175),
        ("INFY", 400),
        ("HDFCBANK", 550),
        ("ICICIBANK", 700),
    ]
    .iter()
    .enumerate()
    {
        for (j, t) in ["CE", "PE"].iter().enumerate() {
            let token = 30_000 + 2 * k + j;
            s.push_str(&format!(
                "{token},{},{name}X1000{t},{name},0,{e},1000,0.05,{lot},{t},NFO-OPT,NFO\n",
                token / 256
            ));
        }
    }
    s
}

/// Instrument dumps, history, and `quote` answering `/quote`.
pub async fn server(quote: impl Respond + 'static) -> MockServer {
    let s = MockServer::start().await;
    super::mount_instruments(&s, nfo_dump()).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/instruments/historical/256265/15minute$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(candles()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/quote"))
        .respond_with(quote)
        .mount(&s)
        .await;
    s
}

/// The first weekday on or after today: the live session the script trades in.
pub fn session_day() -> chrono::NaiveDate {
    use chrono::Datelike;
    let mut d = Utc::now().date_naive();
    while d.weekday().num_days_from_monday() >= 5 {
        d += Duration::days(1);
    }
    d
}

/// A `/quote` answer with no data.
pub fn no_quotes() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success", "data": {}}))
}

/// One index packet in full mode (32 bytes): token, last price in paise, exchange time.
pub fn index_full(token: u32, paise: u32, ts: u32) -> Vec<u8> {
    let mut p = vec![0u8; 32];
    p[0..4].copy_from_slice(&token.to_be_bytes());
    p[4..8].copy_from_slice(&paise.to_be_bytes());
    p[28..32].copy_from_slice(&ts.to_be_bytes());
    let mut f = 1u16.to_be_bytes().to_vec();
    f.extend((p.len() as u16).to_be_bytes());
    f.extend(p);
    f
}

/// One option packet in full mode (184 bytes): token, last price in paise.
pub fn option_full(token: u32, paise: u32) -> Vec<u8> {
    let mut p = vec![0u8; 184];
    p[0..4].copy_from_slice(&token.to_be_bytes());
    p[4..8].copy_from_slice(&paise.to_be_bytes());
    let mut f = 1u16.to_be_bytes().to_vec();
    f.extend((p.len() as u16).to_be_bytes());
    f.extend(p);
    f
}

/// NIFTY 50 ticks from 09:16 of the session day, five minutes apart, from tick `from`.
pub fn nifty_ticks(from: u32, n: u32) -> Vec<Vec<u8>> {
    let open = session_day()
        .and_hms_opt(3, 46, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    (from..from + n)
        .map(|k| index_full(256_265, 2_400_000 + 500 * k, (open + 300 * k as i64) as u32))
        .collect()
}
