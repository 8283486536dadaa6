//! Property tests of the parsers of outside data on the engine's side: replay CSV files,
//! config files, control-socket requests (the Kite parsers have theirs in
//! `actors/src/kite/fuzz.rs`). Inputs are random bytes and text, and real inputs with random
//! mutations; the properties are "an answer or a clear error, never a panic" plus what each
//! parser promises about what it accepts.

mod common;

use std::path::Path;
use std::time::Duration;

use actors::config::{Config, MAX_PRICE, MIN_PRICE};
use actors::feed::replay::{read_with, ReadOptions, RowPolicy, MAX_JUMP};
use actors::logic::session::Session;
use proptest::prelude::*;
use serde_json::{json, Value};

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

// ---------------------------------------------------------------- replay CSV

const HEADER: &str = "timestamp,open,high,low,close,volume\n";

/// One price field: mostly plausible, sometimes each kind of poison.
fn price_field() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (50.0f64..150.0).prop_map(|p| format!("{p:.2}")),
        1 => prop::sample::select(vec![
            "0", "-1", "1e308", "-1e308", "NaN", "inf", "-inf", "1e-320", "", "abc", "1e7",
            "10000000.01", "5e-324", "0x10", "1,5",
        ])
        .prop_map(String::from),
        1 => any::<f64>().prop_map(|f| f.to_string()),
    ]
}

/// One timestamp step: mostly the next bar, sometimes back in time, far ahead, or garbage.
#[derive(Debug, Clone)]
enum Step {
    Next(i64),
    Jump(i64),
    Raw(String),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (1i64..4).prop_map(|k| Step::Next(k * 900)),
        2 => (-100_000i64..100_000_000_000).prop_map(Step::Jump),
        1 => prop::sample::select(vec![
            "9999-01-02T09:15:00+05:30", "2030-01-01T10:00:00+05:30", "1970-01-01T00:00:00Z",
            "2024-02-30T09:15:00+05:30", "2024-01-02 09:15:00", "", "-1", "99999999999999999999",
            "2024-01-02T09:15:00+0530", "2024-01-02T03:45:00Z",
        ])
        .prop_map(|s| Step::Raw(s.to_string())),
    ]
}

type Row = (Step, String, String, String, String, String);

fn row() -> impl Strategy<Value = Row> {
    (
        step(),
        price_field(),
        price_field(),
        price_field(),
        price_field(),
        prop_oneof![
            9 => (0u64..1_000_000).prop_map(|v| v.to_string()),
            1 => prop::sample::select(vec!["-1", "1e300", "NaN", ""]).prop_map(String::from),
        ],
    )
}

/// Builds a file: times walk from 2024-01-02 09:15 IST by the steps; a quarter of the rows get
/// a consistent OHLC (high and low around open and close) so that files with many good rows
/// are common.
fn file(rows: &[Row], consistent: &[bool]) -> String {
    let mut t = 1_704_167_100i64;
    let mut s = String::from(HEADER);
    for (i, (st, o, h, l, c, v)) in rows.iter().enumerate() {
        let ts = match st {
            Step::Next(d) => {
                t += d;
                t.to_string()
            }
            Step::Jump(d) => (t + d).to_string(),
            Step::Raw(r) => r.clone(),
        };
        if consistent.get(i).copied().unwrap_or(false) {
            let (a, b) = (
                o.parse::<f64>().unwrap_or(100.0),
                c.parse::<f64>().unwrap_or(100.0),
            );
            let (a, b) = (a.clamp(1.0, 1000.0), b.clamp(1.0, 1000.0));
            s.push_str(&format!(
                "{ts},{a},{},{},{b},{v}\n",
                a.max(b) + 0.5,
                a.min(b) * 0.999
            ));
        } else {
            s.push_str(&format!("{ts},{o},{h},{l},{c},{v}\n"));
        }
    }
    s
}

fn opts(policy: RowPolicy) -> ReadOptions {
    ReadOptions {
        policy,
        session: Some(Session::nse()),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn replay_csv_of_random_bytes(body in prop::collection::vec(any::<u8>(), 0..400), header in any::<bool>()) {
        let mut f = if header { HEADER.as_bytes().to_vec() } else { Vec::new() };
        f.extend_from_slice(&body);
        for p in [RowPolicy::Strict, RowPolicy::Skip] {
            let _ = read_with(f.as_slice(), Path::new("f.csv"), opts(p));
        }
    }

    #[test]
    fn replay_csv_rows_kept_are_sane_and_every_row_is_accounted_for(
        rows in prop::collection::vec(row(), 0..25),
        consistent in prop::collection::vec(prop::bool::weighted(0.7), 25),
    ) {
        let f = file(&rows, &consistent);
        let skip = read_with(f.as_bytes(), Path::new("f.csv"), opts(RowPolicy::Skip));
        let d = skip.expect("with a good header, skip mode always reads");
        prop_assert_eq!(d.rows as usize, rows.len());
        prop_assert_eq!(d.bars.len() + d.skipped.len(), rows.len());
        let s = Session::nse();
        for b in &d.bars {
            for p in [b.open, b.high, b.low, b.close] {
                prop_assert!((MIN_PRICE..=MAX_PRICE).contains(&p), "{:?}", b);
            }
            prop_assert!(b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close));
            prop_assert!(b.volume.is_finite() && b.volume >= 0.0);
            prop_assert!(s.contains(b.ts) || d.bar_secs >= 86_400);
        }
        for w in d.bars.windows(2) {
            prop_assert!(w[0].ts < w[1].ts, "time order");
            let ratio = (w[1].high / w[0].close).max(w[0].close / w[1].low);
            prop_assert!(ratio <= MAX_JUMP, "jump {ratio}");
        }
        prop_assert!(d.skipped.windows(2).all(|w| w[0].line < w[1].line));
        for r in &d.skipped {
            prop_assert!(r.line >= 2 && r.line as usize <= rows.len() + 1);
            prop_assert!(!r.reason.is_empty() && r.reason.len() < 400, "{}", r.reason);
        }
        // Strict reads exactly the files skip mode reads without refusing anything.
        match read_with(f.as_bytes(), Path::new("f.csv"), opts(RowPolicy::Strict)) {
            Ok(strict) => {
                prop_assert!(d.skipped.is_empty());
                prop_assert_eq!(strict.bars, d.bars);
            }
            Err(e) => {
                prop_assert!(!d.skipped.is_empty());
                let e = e.to_string();
                prop_assert!(e.contains("f.csv: line "), "{}", e);
            }
        }
    }
}

// ---------------------------------------------------------------- config files

/// Every JSON pointer of `v`'s nodes.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
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

/// A value to put where a config value was.
fn config_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec![
            json!(0), json!(-1), json!(1), json!(0.5), json!(1e-300), json!(1e300), json!(-1e300),
            json!(u64::MAX), json!(i64::MIN), json!(u32::MAX), json!(4_294_967_296u64),
            json!(""), json!("x"), json!(" NIFTY"), json!("+05:30"), json!("25:99"),
            json!("2024-01-01"), json!("Tue"), json!("minute"), json!("day"), json!(null),
            json!(true), json!([]), json!({}), json!(["NIFTY"]), json!({"NIFTY": 1}),
        ]),
        2 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        2 => any::<i64>().prop_map(Value::from),
        1 => "\\PC{0,12}".prop_map(Value::from),
    ]
}

/// What the engine derives from an accepted config: none of it may panic or overflow.
fn use_config(c: &Config) -> Result<(), TestCaseError> {
    let _ = c.effective();
    let session = c
        .market
        .session()
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    let _ = Session::new(&session);
    let sim = &c.feed.simulated;
    prop_assert!(Duration::try_from_secs_f64(f64::from(sim.tick_seconds) / sim.speed).is_ok());
    prop_assert!(Duration::try_from_secs_f64(c.kite.exit_retry_max_seconds).is_ok());
    prop_assert!(c.kite.instruments_max_age_hours.checked_mul(3600).is_some());
    let now = std::time::Instant::now();
    for secs in [
        c.data_collection.realtime.interval_seconds,
        c.positions.monitor_interval_seconds,
        c.metrics.persist_every_seconds,
        c.kite.timeout_seconds,
        c.storage.clickhouse.timeout_seconds,
        c.storage.flush_interval_ms / 1000,
    ] {
        prop_assert!(now.checked_add(Duration::from_secs(secs)).is_some());
    }
    prop_assert!(c
        .strategies
        .enabled()
        .all(|(_, i)| i.historical_lookback.periods <= 100_000));
    prop_assert!(c.paper.chain.strikes_each_side <= 500);
    prop_assert!(c.storage.batch_rows <= 1_000_000);
    let o = &c.options_trading;
    for spec in c.instruments.underlyings.values() {
        let sized = actors::options::sizing::size(&actors::options::sizing::SizingInput {
            entry: 0.1,
            lot_size: spec.lot_size,
            tick: spec.tick_size,
            capital: o.position_sizing.account_capital,
            risk_per_trade_pct: o.position_sizing.risk_per_trade_pct,
            max_position_size_pct: o.position_sizing.max_position_size_pct,
            stop_loss_pct: o.risk_management.stop_loss_pct,
            target_multiplier: o.risk_management.target_multiplier,
            max_lots_per_trade: c.rules.max_lots_per_trade,
        });
        if let Ok(s) = sized {
            prop_assert_eq!(s.quantity, s.lots * spec.lot_size);
            prop_assert!(s.quantity <= actors::options::sizing::MAX_QUANTITY);
        }
    }
    // What `config check` prints reads back as the same config.
    let text = serde_json::to_string(c).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Value =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(back.is_object());
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_of_random_text(text in "\\PC{0,300}") {
        let r = Config::parse(&text, Path::new("c.json"));
        prop_assert!(r.is_err(), "random text is no config");
        prop_assert!(r.unwrap_err().to_string().contains("c.json"));
    }

    #[test]
    fn config_with_random_values_is_accepted_only_when_usable(
        edits in prop::collection::vec((any::<usize>(), 0u8..10, config_leaf()), 1..4),
        trailing in prop::option::weighted(0.05, "[ \\n]{0,3}[0-9a-z{}\\[\\]]{1,4}"),
    ) {
        let mut v: Value = serde_json::from_str(actors::config::DEFAULT_JSON).unwrap();
        for (sel, action, x) in &edits {
            let mut ps = Vec::new();
            pointers(&v, String::new(), &mut ps);
            let p = ps[sel % ps.len()].clone();
            match action {
                // Drop the node from its object (a missing field).
                0 => {
                    if let Some((parent, key)) = p.rsplit_once('/') {
                        if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                            m.remove(key);
                        }
                    }
                }
                // Add an unknown field next to it.
                1 => {
                    if let Some((parent, _)) = p.rsplit_once('/') {
                        if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                            m.insert("zz_unknown".into(), x.clone());
                        }
                    }
                }
                _ => {
                    if let Some(n) = v.pointer_mut(&p) {
                        *n = x.clone();
                    }
                }
            }
        }
        let mut text = serde_json::to_string_pretty(&v).unwrap();
        if let Some(t) = &trailing {
            text.push_str(t);
        }
        match Config::parse(&text, Path::new("c.json")) {
            Ok(c) => {
                prop_assert!(trailing.as_ref().is_none_or(|t| t.trim().is_empty()), "trailing {:?} accepted", trailing);
                use_config(&c)?;
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.starts_with("config c.json"), "{}", e);
            }
        }
    }
}

// ---------------------------------------------------------------- control requests

/// `n` bytes of JSON-flavoured noise from `seed` (xorshift): long inputs without proptest's
/// per-byte cost, as text (invalid UTF-8 becomes U+FFFD, as the socket reader does).
fn noise(seed: u64, n: usize) -> String {
    const ALPHABET: &[u8] = b"{}[]\":,. \\\t0123456789eE+-cmdstatusmodeprice\xff\xc3\xa9";
    let mut x = seed | 1;
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize]
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The reply to a request that does not parse: one JSON line, bounded whatever came in.
fn check_refusal(e: &str) -> Result<(), TestCaseError> {
    let reply = alphastocks::control::error_reply(e);
    prop_assert!(!reply.contains('\n'));
    let v: Value = serde_json::from_str(&reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&v["ok"], &json!(false));
    prop_assert!(v["error"].as_str().map_or(0, |s| s.chars().count()) <= 560);
    Ok(())
}

fn request_value() -> impl Strategy<Value = Value> {
    let cmd = prop_oneof![
        4 => prop::sample::select(vec![
            "status", "metrics", "pause", "resume", "mode", "halt", "flatten", "positions",
            "close", "shutdown", "crash",
        ])
        .prop_map(Value::from),
        1 => config_leaf(),
    ];
    let field = (
        prop::sample::select(vec![
            "mode", "confirm", "position", "price", "actor", "cmd", "x",
        ]),
        prop_oneof![
            config_leaf(),
            prop::sample::select(vec!["paper", "logging", "live", "strategy", "db_writer"])
                .prop_map(Value::from),
        ],
    );
    (cmd, prop::collection::vec(field, 0..4)).prop_map(|(cmd, fields)| {
        let mut m = serde_json::Map::new();
        m.insert("cmd".into(), cmd);
        for (k, v) in fields {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn control_requests_of_random_text(
        line in prop_oneof![
            "\\PC{0,200}",
            (any::<u64>(), 0usize..3000).prop_map(|(seed, n)| noise(seed, n)),
        ],
    ) {
        if let Err(e) = alphastocks::control::parse_request(&line) {
            check_refusal(&e)?;
        }
    }

    #[test]
    fn a_kite_token_request_never_echoes_its_token(
        token in "[A-Za-z0-9]{8,40}",
        how in 0usize..4,
    ) {
        let line = match how {
            0 => format!(r#"{{"cmd":"kite_token","token":"{token}","x":1}}"#),
            1 => format!(r#"{{"cmd":"kite_token","token":"{token}"#),
            2 => format!(r#"{{"cmd":"kite_tokn","token":"{token}"}}"#),
            _ => format!(r#"{{"cmd":"kite_token","token":"{token}"}}"#),
        };
        match alphastocks::control::parse_request(&line) {
            Ok(r) => {
                let shown = format!("{:?}", r);
                prop_assert!(!shown.contains(&token), "{}", shown);
            }
            Err(e) => {
                check_refusal(&e)?;
                prop_assert!(!e.contains(&token), "{}", e);
            }
        }
    }

    #[test]
    fn control_requests_of_random_json(v in request_value(), pad in "[ \\t]{0,3}") {
        let line = format!("{pad}{v}{pad}");
        match alphastocks::control::parse_request(&line) {
            Ok(r) => {
                // Only the documented commands parse.
                let cmd = v["cmd"].as_str().unwrap_or("");
                let name = format!("{r:?}").to_lowercase();
                prop_assert!(name.starts_with(cmd), "{} from {}", name, line);
            }
            Err(e) => check_refusal(&e)?,
        }
    }
}
