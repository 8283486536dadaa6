//! Property tests of every parser of what Kite sends: the JSON envelope (into each response
//! type the client reads), error bodies, KiteTicker's binary frames, the instrument dump
//! (plain and gzipped), candle timestamps. Generated inputs are both raw bytes and real
//! fixtures with random mutations; the property is always "an answer or an error, never a
//! panic", plus what each parser promises about what it returns.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::client::parse_envelope;
use super::instruments::{decompress_if_gzip, parse_instruments};
use super::{
    parse_candle_ts, parse_frame, KiteError, Ltp, Margins, OhlcQuote, OrderState, Positions, Quote,
    Session, Trade,
};

/// Cases per property (see docs/reliability.md for the totals); `PROPTEST_CASES` overrides it
/// for a quick local run or a long one.
const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A JSON leaf: the values that break parsers (extremes, wrong types, odd strings).
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            json!(0),
            json!(-1),
            json!(1e308),
            json!(-1e308),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(""),
            json!("COMPLETE"),
            json!("error"),
            json!("success"),
            json!("2024-05-02 10:00:01"),
            json!("not a date"),
            json!([]),
            json!({}),
        ]),
        "\\PC{0,16}".prop_map(Value::from),
    ]
}

/// Any JSON value, keys drawn from the names Kite's responses use.
fn json_value() -> impl Strategy<Value = Value> {
    const KEYS: &[&str] = &[
        "status",
        "data",
        "message",
        "error_type",
        "instrument_token",
        "last_price",
        "ohlc",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "depth",
        "buy",
        "sell",
        "price",
        "quantity",
        "orders",
        "order_id",
        "tag",
        "average_price",
        "filled_quantity",
        "pending_quantity",
        "net",
        "day",
        "equity",
        "commodity",
        "available",
        "utilised",
        "tradingsymbol",
        "exchange",
        "product",
        "trade_id",
        "timestamp",
        "oi",
        "net_change",
        "user_id",
        "access_token",
        "api_key",
        "NSE:NIFTY 50",
    ];
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// Real response bodies of each endpoint (as the unit tests and Kite's docs show them).
fn fixtures() -> Vec<Value> {
    let order = json!({
        "order_id": "151220000000000", "exchange_order_id": null, "parent_order_id": null,
        "status": "COMPLETE", "status_message": null, "order_timestamp": "2024-05-02 10:00:01",
        "variety": "regular", "exchange": "NFO", "tradingsymbol": "NIFTY24MAY22500CE",
        "instrument_token": 9100001, "order_type": "LIMIT", "transaction_type": "BUY",
        "validity": "DAY", "product": "NRML", "quantity": 75, "price": 104.5,
        "trigger_price": 0, "average_price": 104.2, "filled_quantity": 75,
        "pending_quantity": 0, "cancelled_quantity": 0, "tag": "as1a2b3c4d"
    });
    let trade = json!({
        "trade_id": "9001", "order_id": "101", "exchange": "NFO",
        "tradingsymbol": "NIFTY24MAY22500CE", "instrument_token": 9100001,
        "product": "NRML", "average_price": 104.2, "quantity": 75,
        "exchange_order_id": "1300000000000001", "transaction_type": "BUY",
        "fill_timestamp": "2024-05-02 10:00:02"
    });
    let quote = json!({
        "instrument_token": 779521, "timestamp": "2024-05-02 10:01:02", "last_price": 820.4,
        "volume": 1200300, "oi": 0, "net_change": 0,
        "ohlc": {"open": 815, "high": 822.5, "low": 811.1, "close": 812.0},
        "depth": {"buy": [{"price": 820.35, "quantity": 40, "orders": 3}],
                  "sell": [{"price": 820.4, "quantity": 7, "orders": 1}]}
    });
    let position = json!({
        "tradingsymbol": "NIFTY24MAY22500PE", "exchange": "NFO", "instrument_token": 9100002,
        "product": "NRML", "quantity": -75, "average_price": 88.1, "last_price": 80.0,
        "pnl": 607.5, "multiplier": 1, "sell_quantity": 75, "sell_price": 88.1
    });
    let segment = json!({
        "enabled": true, "net": 48000.0,
        "available": {"adhoc_margin": 0, "cash": 50000.0, "opening_balance": 50000.0,
                      "live_balance": 48000.0, "collateral": 0, "intraday_payin": 0},
        "utilised": {"debits": 2000.0, "exposure": 0, "m2m_realised": 0,
                     "m2m_unrealised": 0, "option_premium": 2000.0, "payout": 0, "span": 0,
                     "holding_sales": 0, "turnover": 0}
    });
    let ok = |data: Value| json!({"status": "success", "data": data});
    vec![
        ok(json!([order.clone(), order])),
        ok(json!([trade])),
        ok(json!({"NSE:SBIN": quote.clone(), "NSE:NIFTY 50": quote})),
        ok(json!({"net": [position.clone()], "day": [position]})),
        ok(json!({"equity": segment.clone(), "commodity": segment})),
        ok(
            json!({"user_id": "AB1234", "access_token": "t", "public_token": "p",
                  "login_time": "2024-05-02 08:00:00", "api_key": "k"}),
        ),
        json!({"status": "error", "message": "Incorrect `api_key` or `access_token`.",
               "error_type": "TokenException"}),
    ]
}

/// Every JSON pointer of `v`'s nodes.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Applies each (node selector, action, value): replace the node, drop it from its object,
/// or wrap it in an array.
fn mutate(v: &mut Value, edits: &[(usize, u8, Value)]) {
    for (sel, action, x) in edits {
        let mut ps = Vec::new();
        pointers(v, String::new(), &mut ps);
        let p = &ps[sel % ps.len()];
        match action % 3 {
            0 => {
                if let Some(n) = v.pointer_mut(p) {
                    *n = x.clone();
                }
            }
            1 => {
                if let Some((parent, key)) = p.rsplit_once('/') {
                    if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                        m.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                }
            }
            _ => {
                if let Some(n) = v.pointer_mut(p) {
                    *n = Value::Array(vec![n.take()]);
                }
            }
        }
    }
}

/// The envelope parsed into every response type the client reads; none may panic.
fn parse_all(body: &[u8]) {
    let _ = parse_envelope::<Value>(body);
    let _ = parse_envelope::<Vec<OrderState>>(body);
    let _ = parse_envelope::<Vec<Trade>>(body);
    let _ = parse_envelope::<HashMap<String, Quote>>(body);
    let _ = parse_envelope::<HashMap<String, Ltp>>(body);
    let _ = parse_envelope::<HashMap<String, OhlcQuote>>(body);
    let _ = parse_envelope::<Positions>(body);
    let _ = parse_envelope::<Margins>(body);
    let _ = parse_envelope::<Session>(body);
    for status in [200, 400, 403, 429, 500, 503] {
        let e = KiteError::from_response(status, body);
        let _ = (e.to_string(), e.is_retryable(), e.is_token_error());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn envelopes_of_random_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&body);
    }

    #[test]
    fn envelopes_of_random_json(v in json_value(), wrap in any::<bool>()) {
        let v = if wrap { json!({"status": "success", "data": v}) } else { v };
        parse_all(v.to_string().as_bytes());
    }

    #[test]
    fn envelopes_of_mutated_real_responses(
        which in 0usize..7,
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), leaf()), 1..5),
    ) {
        let mut v = fixtures().swap_remove(which);
        mutate(&mut v, &edits);
        parse_all(v.to_string().as_bytes());
    }

    #[test]
    fn ticker_frames_of_random_bytes(frame in prop::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(ticks) = parse_frame(&frame) {
            let declared = if frame.len() < 2 { 0 } else { u16::from_be_bytes([frame[0], frame[1]]) };
            prop_assert!(ticks.len() <= declared as usize);
        }
    }

    #[test]
    fn ticker_frames_of_real_shape(
        packets in prop::collection::vec(
            (prop::sample::select(vec![8usize, 28, 32, 44, 184, 0, 3, 7, 100, 183, 185]),
             prop::collection::vec(any::<u8>(), 184..185)),
            0..8),
        cut in any::<Option<u16>>(),
        extra_count in 0u16..3,
    ) {
        let mut f = Vec::new();
        f.extend_from_slice(&(packets.len() as u16 + extra_count * u16::from(cut.is_some())).to_be_bytes());
        let mut known = 0;
        for (len, bytes) in &packets {
            f.extend_from_slice(&(*len as u16).to_be_bytes());
            let mut body = bytes.clone();
            body.resize(*len, 0);
            f.extend_from_slice(&body);
            known += usize::from([8, 28, 32, 44, 184].contains(len));
        }
        match cut {
            None => {
                // A well-formed frame: every packet of a known length is one tick, in order,
                // carrying its own token.
                let ticks = parse_frame(&f).unwrap();
                prop_assert_eq!(ticks.len(), known);
                let tokens: Vec<u32> = packets
                    .iter()
                    .filter(|(l, _)| [8, 28, 32, 44, 184].contains(l))
                    .map(|(_, b)| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                prop_assert_eq!(ticks.iter().map(|t| t.token).collect::<Vec<_>>(), tokens);
                prop_assert!(ticks.iter().all(|t| t.last_price.is_finite()));
            }
            Some(c) => {
                // Truncated or over-counted: an error or fewer ticks, never a panic.
                f.truncate((c as usize) % (f.len() + 1));
                let _ = parse_frame(&f);
            }
        }
    }

    #[test]
    fn instrument_dumps_of_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_instruments(&bytes);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&bytes);
        let _ = decompress_if_gzip(&gz);
        let _ = parse_instruments(&gz);
    }

    #[test]
    fn instrument_dumps_of_real_shape(
        rows in prop::collection::vec(
            (any::<u64>(), "[A-Z0-9]{0,12}", prop::sample::select(vec!["NIFTY", "BANKNIFTY", "", "SBIN"]),
             field_number(), prop::sample::select(vec!["2024-05-30", "", "2024-13-01", "30-05-2024"]),
             field_number(), field_number(), field_number(),
             prop::sample::select(vec!["CE", "PE", "FUT", "EQ", ""])),
            0..8),
        gzip in prop::bool::weighted(0.1),
    ) {
        let mut csv = String::from("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n");
        for (tok, sym, name, lp, exp, strike, tick, lot, kind) in &rows {
            csv.push_str(&format!("{tok},{},{sym},{name},{lp},{exp},{strike},{tick},{lot},{kind},NFO-OPT,NFO\n", tok % 100_000));
        }
        let bytes = if gzip {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(csv.as_bytes()).unwrap();
            e.finish().unwrap()
        } else {
            csv.into_bytes()
        };
        if let Ok(list) = parse_instruments(&bytes) {
            for i in &list {
                prop_assert!(i.last_price.is_finite() && i.strike.is_finite() && i.tick_size.is_finite());
                if ["CE", "PE", "FUT"].contains(&i.instrument_type.as_str()) {
                    // A contract the engine may trade has a lot and a tick it can size with.
                    prop_assert!(i.lot_size >= 1 && i.lot_size <= super::instruments::MAX_LOT_SIZE);
                    prop_assert!(i.tick_size > 0.0 && i.strike >= 0.0);
                }
            }
        }
    }

    #[test]
    fn candle_timestamps(s in "\\PC{0,40}", t in any::<i64>(), off in -86_400i32..86_400) {
        let _ = parse_candle_ts(&s);
        if let Some(d) = chrono::DateTime::from_timestamp(t % 253_402_300_000, 0) {
            if let Some(o) = chrono::FixedOffset::east_opt(off - off % 60) {
                let shown = d.with_timezone(&o).format("%Y-%m-%dT%H:%M:%S%z").to_string();
                if let Ok(back) = parse_candle_ts(&shown) {
                    prop_assert_eq!(back, d.timestamp());
                }
            }
        }
    }
}

/// A numeric CSV field as dumps and broken dumps have it.
fn field_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..200_000).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        prop::sample::select(vec![
            "",
            "0",
            "-1",
            "1e308",
            "NaN",
            "inf",
            "0.05",
            "75",
            "4294967296",
            "x"
        ])
        .prop_map(String::from),
    ]
}

#[test]
fn contracts_without_a_lot_or_tick_are_left_out_and_the_rest_kept() {
    let csv = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n\
               256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE\n\
               9100001,35547,NIFTY24MAY22500CE,NIFTY,104.5,2024-05-30,22500,0.05,75,CE,NFO-OPT,NFO\n\
               9100002,35548,NIFTY24MAY22500PE,NIFTY,88.1,2024-05-30,22500,0.05,0,PE,NFO-OPT,NFO\n\
               9100003,35549,NIFTY24MAY22600CE,NIFTY,50,2024-05-30,22600,0,75,CE,NFO-OPT,NFO\n\
               9100004,35550,NIFTY24MAY1E9CE,NIFTY,50,2024-05-30,1e300,0.05,75,CE,NFO-OPT,NFO\n";
    let list = parse_instruments(csv.as_bytes()).unwrap();
    let symbols: Vec<&str> = list.iter().map(|i| i.tradingsymbol.as_str()).collect();
    // The index keeps its zero lot and tick (it is not traded); the three broken contracts go.
    assert_eq!(symbols, ["NIFTY 50", "NIFTY24MAY22500CE"]);
}
