//! A KiteTicker socket that stays connected but stops sending ticks for the underlying, against
//! a local stand-in (HTTP + WebSocket): during market hours the engine resubscribes, then
//! reconnects, then polls the index over REST while the stream is retried, with one alarm;
//! outside market hours the same silence raises nothing.

mod common;
mod kite_support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "kitetestkey42";
const TOKEN: &str = "accesstokenSILENT7";

/// What the stand-in saw, each with when.
#[derive(Default)]
struct Seen {
    /// Per connection: when it opened, and the text messages it received (with when).
    conns: Vec<(Instant, Vec<(Instant, String)>)>,
    /// `/quote` calls that asked for the index.
    index_quotes: Vec<Instant>,
}

type Shared = Arc<Mutex<Seen>>;

/// One NIFTY 50 packet in full mode (32 bytes), as a frame.
fn index_full(paise: u32, ts: u32) -> Vec<u8> {
    let mut p = vec![0u8; 32];
    p[0..4].copy_from_slice(&256_265u32.to_be_bytes());
    p[4..8].copy_from_slice(&paise.to_be_bytes());
    p[28..32].copy_from_slice(&ts.to_be_bytes());
    let mut f = 1u16.to_be_bytes().to_vec();
    f.extend((p.len() as u16).to_be_bytes());
    f.extend(p);
    f
}

/// A KiteTicker of our own: the first connection streams five ticks and then only heartbeats
/// (connected, quiet); later connections only heartbeat. Every text message is recorded.
fn ticker(seen: Shared) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = kite_support::ticker::serve_loopback(move |listener| async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                continue;
            };
            let n = {
                let mut s = seen.lock().unwrap();
                s.conns.push((Instant::now(), Vec::new()));
                s.conns.len() - 1
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut ticks = if n == 0 { 5 } else { 0 };
                let ts = 1_764_563_400u32; // 2025-12-01 10:00 IST
                loop {
                    tokio::select! {
                        m = ws.next() => match m {
                            Some(Ok(Message::Text(t))) => {
                                seen.lock().unwrap().conns[n].1.push((Instant::now(), t.to_string()));
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                        _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                            let frame = if ticks > 0 {
                                ticks -= 1;
                                index_full(2_400_000 + 500 * ticks, ts + 5 - ticks)
                            } else {
                                vec![0u8]
                            };
                            if ws.send(Message::binary(frame)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    url
}

struct Quotes(Shared);

impl Respond for Quotes {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut data = serde_json::Map::new();
        if req
            .url
            .query_pairs()
            .any(|(k, v)| k == "i" && v == "NSE:NIFTY 50")
        {
            self.0.lock().unwrap().index_quotes.push(Instant::now());
            data.insert(
                "NSE:NIFTY 50".into(),
                serde_json::json!({"instrument_token": 256265, "last_price": 24_010.5}),
            );
        }
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": data}))
    }
}

async fn stand_in(seen: &Shared) -> MockServer {
    let s = MockServer::start().await;
    kite_support::mount_instruments(&s, kite_support::nfo_dump_one_strike()).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/instruments/historical/256265/15minute$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"status": "success", "data": {"candles": []}})),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/quote"))
        .respond_with(Quotes(seen.clone()))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    s
}

/// Runs the engine for 7 s on the stand-ins from `clock_start` (1 s of silence is "quiet");
/// returns its log and the alarms posted.
async fn run(clock_start: &str, seen: &Shared) -> (String, Vec<serde_json::Value>) {
    let ws = ticker(seen.clone());
    let s = stand_in(seen).await;
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 5.into();
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    v["kite"] = serde_json::json!({"ticker": true, "ticker_silence_seconds": 1});
    v["alerts"] = serde_json::json!({"webhooks": [{"kind": "json", "url": format!("{}/alerts", s.uri())}],
        "feed_silent_seconds": 5});
    let cfg = common::write_config(dir.path(), &v);
    let clock_start = clock_start.to_string();
    let uri = s.uri();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .env("RUST_LOG", "info")
            .env("KITE_BASE_URL", uri)
            .env("KITE_API_KEY", KEY)
            .env("KITE_ACCESS_TOKEN", TOKEN)
            .env("KITE_TICKER_URL", ws)
            .args(["run", "--feed", "kite", "--mode", "paper", "--config"])
            .arg(&cfg)
            .args(["--clock-start", &clock_start, "--duration", "7"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(TOKEN), "the token never reaches the log");
    let posted = s
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    (log, posted)
}

const SUBSCRIBE: &str = r#"{"a":"subscribe","v":[256265]}"#;
const MODE: &str = r#"{"a":"mode","v":["full",[256265]]}"#;

#[actix_rt::test]
async fn a_quiet_stream_in_market_hours_is_resubscribed_reconnected_then_polled_with_one_alarm() {
    let seen: Shared = Arc::default();
    // Monday 10:00 IST: the market is open.
    let (log, posted) = run("2025-12-01T10:00:00+05:30", &seen).await;
    let s = seen.lock().unwrap();
    // 1. Resubscribed on the same connection, after the ticks stopped.
    let first: Vec<&str> = s.conns[0].1.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        first[..4],
        [SUBSCRIBE, MODE, SUBSCRIBE, MODE],
        "{first:?}\n{log}"
    );
    let resubscribed = s.conns[0].1[2].0;
    // 2. Then a new connection, subscribing again.
    assert!(s.conns.len() >= 2, "reconnected: {}\n{log}", s.conns.len());
    let reconnected = s.conns[1].0;
    assert!(reconnected > resubscribed);
    let second: Vec<&str> = s.conns[1].1.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(second[..2], [SUBSCRIBE, MODE]);
    // 3. Then the index over REST (never before: it streamed).
    assert!(!s.index_quotes.is_empty(), "REST fallback used\n{log}");
    assert!(
        s.index_quotes[0] > reconnected,
        "polled only after the reconnect"
    );
    // ... while the stream is retried (a third connection).
    assert!(s.conns.len() >= 3, "retried: {}\n{log}", s.conns.len());
    // Each step logged and counted; one alarm.
    for line in [
        "no tick for NSE:NIFTY 50 in 1 s while the market is open; subscribing it again",
        "still no tick for NSE:NIFTY 50 after resubscribing; reconnecting",
        "kite ticker: ALARM KiteTicker gave no tick for NSE:NIFTY 50 for 3 s",
        "NSE:NIFTY 50 still on REST quotes; trying the stream again",
    ] {
        assert!(log.contains(line), "{line}\n{log}");
    }
    assert!(
        log.contains(r#"kite ticker: silence watch {"fallbacks":1,"on_rest":1,"reconnects":1,"recoveries":0,"resubscribes":1,"#),
        "{log}"
    );
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["kind"], "feed_silent");
    assert_eq!(posted[0]["symbol"], "NSE:NIFTY 50");
    assert!(posted[0]["message"]
        .as_str()
        .unwrap()
        .contains("its quotes now come from REST polls"));
}

#[actix_rt::test]
async fn the_same_silence_outside_market_hours_raises_nothing() {
    let seen: Shared = Arc::default();
    // Sunday 10:00 IST: closed.
    let (log, posted) = run("2025-11-30T10:00:00+05:30", &seen).await;
    let s = seen.lock().unwrap();
    assert_eq!(s.conns.len(), 1, "no reconnect\n{log}");
    let msgs: Vec<&str> = s.conns[0].1.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(msgs, [SUBSCRIBE, MODE], "no resubscribe");
    assert!(s.index_quotes.is_empty(), "no REST fallback");
    assert!(posted.is_empty(), "{posted:?}");
    assert!(
        log.contains(r#"kite ticker: silence watch {"fallbacks":0,"on_rest":0,"reconnects":0,"recoveries":0,"resubscribes":0,"retries":0}"#),
        "{log}"
    );
}
