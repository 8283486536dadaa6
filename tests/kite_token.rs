//! The access token's daily expiry, against a local Kite stand-in that checks the
//! `Authorization` header of every call: the token stops working mid-session → trading halts
//! and a `token_rejected` alarm is posted; `ctl kite token` (the new token on standard input)
//! → the stand-in sees the new token, positions and orders are read and reconciled, trading
//! and the feed resume; neither token ever appears in the engine's output or ctl's.

mod common;
mod kite_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "kitetestkey42";
const OLD: &str = "oldTOKENmorning0001";
const NEW: &str = "newTOKENafter6am0002";

/// What the stand-in accepts and saw.
#[derive(Default)]
struct Stand {
    /// The old token stopped working (the morning expiry).
    expired: bool,
    /// Every gated call: (path, the token in its Authorization header).
    calls: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Stand>>;

/// Answers with `ok` when the call carries a token the stand-in accepts, else Kite's 403
/// TokenException.
struct Gate {
    stand: Shared,
    ok: serde_json::Value,
}

impl Respond for Gate {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let auth = req
            .headers
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let token = auth
            .strip_prefix(&format!("token {KEY}:"))
            .unwrap_or_default()
            .to_string();
        let mut s = self.stand.lock().unwrap();
        s.calls.push((req.url.path().to_string(), token.clone()));
        let good = token == NEW || (token == OLD && !s.expired);
        if !good {
            return ResponseTemplate::new(403).set_body_json(serde_json::json!({
                "status": "error", "message": "Incorrect `api_key` or `access_token`.",
                "error_type": "TokenException"}));
        }
        let mut data = self.ok.clone();
        if req.url.path() == "/quote" {
            let ts = (chrono::Utc::now() + chrono::Duration::seconds(19_800))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            data["NSE:NIFTY 50"]["timestamp"] = ts.into();
        }
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": data}))
    }
}

async fn stand_in(stand: &Shared) -> MockServer {
    let s = MockServer::start().await;
    kite_support::mount_instruments(&s, kite_support::nfo_dump_one_strike()).await;
    let gate = |ok: serde_json::Value| Gate {
        stand: stand.clone(),
        ok,
    };
    Mock::given(method("GET"))
        .and(path_regex(r"^/instruments/historical/256265/15minute$"))
        .respond_with(gate(serde_json::json!({"candles": []})))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/quote"))
        .respond_with(gate(serde_json::json!({"NSE:NIFTY 50": {
            "instrument_token": 256265, "last_price": 24010.5}})))
        .mount(&s)
        .await;
    // The broker holds a position the engine does not know and one open order: reconciliation
    // must say so.
    Mock::given(method("GET"))
        .and(path("/portfolio/positions"))
        .respond_with(gate(serde_json::json!({"day": [], "net": [
            {"tradingsymbol": "NIFTYX24000CE", "exchange": "NFO", "product": "NRML",
             "quantity": 75, "average_price": 100.0}]})))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(gate(serde_json::json!([{
            "order_id": "OPEN1", "status": "OPEN", "tradingsymbol": "NIFTYX24000PE",
            "exchange": "NFO", "transaction_type": "BUY", "order_type": "LIMIT",
            "quantity": 75, "average_price": 0.0, "filled_quantity": 0, "tag": null}])))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    s
}

/// Kills the engine if the test fails before it stopped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 20 s) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn an_expired_token_halts_and_alarms_and_a_new_one_over_ctl_resumes() {
    let stand: Shared = Arc::default();
    let s = stand_in(&stand).await;
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 5.into();
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    v["alerts"] =
        serde_json::json!({"webhooks": [{"kind": "json", "url": format!("{}/alerts", s.uri())}]});
    let cfg = common::write_config(dir.path(), &v);
    let log_path = dir.path().join("engine.log");
    let out_path = dir.path().join("engine.out");
    let mut engine = Running(
        Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .env("RUST_LOG", "info")
            .env("KITE_BASE_URL", s.uri())
            .env("KITE_API_KEY", KEY)
            .env("KITE_ACCESS_TOKEN", OLD)
            // The scripted day is today, whatever the calendar says of the machine's date.
            .env("ALPHASTOCKS_IGNORE_CALENDAR", "1")
            .args(["run", "--feed", "kite", "--mode", "paper"])
            .args(["--duration", "60", "--config"])
            .arg(&cfg)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let ctl = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .args(["ctl", "--config"])
            .arg(&cfg)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        c.wait_with_output().unwrap()
    };
    let mut ctl_output = String::new();
    let status = |ctl_output: &mut String| -> serde_json::Value {
        let o = ctl(&["status"], None);
        ctl_output.push_str(&String::from_utf8_lossy(&o.stdout));
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    let quotes_with = |token: &str| {
        stand
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(p, t)| p == "/quote" && t == token)
            .count()
    };
    // The morning: the old token works.
    until("two quote polls with the old token", || {
        quotes_with(OLD) >= 2
    })
    .await;
    until("the control socket answers", || {
        ctl(&["status"], None).status.success()
    })
    .await;
    let st = status(&mut ctl_output);
    assert_eq!(st["kite_token"]["state"], "ok", "{st}");
    assert!(st["kite_token"]["last_accepted"].is_string(), "{st}");
    assert_eq!(st["trading"], "active");
    // A wrong token (well formed) is tried, refused, and changes nothing: the old one still
    // works, nothing halts.
    let wrong = ctl(&["kite", "token"], Some("wrongTOKEN0000003\n"));
    assert_eq!(wrong.status.code(), Some(2));
    let e = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        e.contains("the broker refused the new token")
            && e.contains("the token in use is unchanged"),
        "{e}"
    );
    assert!(!e.contains("wrongTOKEN"), "{e}");
    let at = quotes_with(OLD);
    until("polls go on with the old token", || {
        quotes_with(OLD) >= at + 2
    })
    .await;
    let st = status(&mut ctl_output);
    assert_eq!(
        (&st["kite_token"]["state"], &st["trading"]),
        (&serde_json::json!("ok"), &serde_json::json!("active")),
        "{st}"
    );
    // 06:00: it expires.
    stand.lock().unwrap().expired = true;
    let posted = || async {
        s.received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/alerts")
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
            .collect::<Vec<_>>()
    };
    let t = Instant::now();
    while posted().await.is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20), "no alarm posted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let st = status(&mut ctl_output);
    assert_eq!(st["trading"], "halted", "{st}");
    assert_eq!(st["kite_token"]["state"], "rejected", "{st}");
    assert!(st["kite_token"]["since"].is_string(), "{st}");
    // `ctl resume` does not lift the broker's halt: only a token the broker accepts does.
    let r = ctl(&["resume"], None);
    let r: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(r["trading"], "halted", "{r}");
    // A malformed token is refused without being quoted.
    let bad = ctl(&["kite", "token"], Some("bad token value\n"));
    assert_eq!(bad.status.code(), Some(2));
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(
        e.contains("token: character 4 of 15 is not printable ASCII") && !e.contains("bad token"),
        "{e}"
    );
    // The new token, on standard input.
    let calls_before = stand.lock().unwrap().calls.len();
    let r = ctl(&["kite", "token"], Some(&format!("{NEW}\n")));
    let (rout, rerr) = (
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    );
    assert!(r.status.success(), "{rout}\n{rerr}");
    ctl_output.push_str(&rout);
    ctl_output.push_str(&rerr);
    let reply: serde_json::Value = serde_json::from_str(&rout).unwrap();
    assert_eq!(reply["trading"], "active", "{reply}");
    assert_eq!(reply["kite_token"]["state"], "replaced", "{reply}");
    let found: Vec<&str> = reply["reconciled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("FLAG NIFTYX24000CE × 75 (NFO) at the broker is unknown"));
    assert!(found[1].starts_with("FLAG open order OPEN1 BUY NIFTYX24000PE × 75 (OPEN)"));
    // Positions and orders were read with the new token before anything resumed.
    let after: Vec<(String, String)> = stand.lock().unwrap().calls[calls_before..].to_vec();
    let first_new = |p: &str| after.iter().position(|(q, t)| q == p && t == NEW);
    let (pos, ord) = (
        first_new("/portfolio/positions").expect("positions read with the new token"),
        first_new("/orders").expect("orders read with the new token"),
    );
    if let Some(q) = first_new("/quote") {
        assert!(q > pos && q > ord, "reconciled first: {after:?}");
    }
    // The feed resumes with the new token; trading is active again.
    let at = quotes_with(NEW);
    until("quote polls with the new token", || {
        quotes_with(NEW) >= at + 2
    })
    .await;
    let st = status(&mut ctl_output);
    assert_eq!(st["trading"], "active", "{st}");
    assert_eq!(st["kite_token"]["state"], "replaced", "{st}");
    assert!(st["kite_token"]["last_accepted"].is_string(), "{st}");
    assert!(ctl(&["shutdown"], None).status.success());
    assert!(engine.0.wait().unwrap().success());
    // One alarm, the right kind, no secret.
    let posted = posted().await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["kind"], "token_rejected");
    assert!(posted[0]["message"]
        .as_str()
        .unwrap()
        .contains("`alphastocks ctl kite token`"));
    let log =
        std::fs::read_to_string(&log_path).unwrap() + &std::fs::read_to_string(&out_path).unwrap();
    for secret in [OLD, NEW] {
        assert!(!log.contains(secret), "a token in the engine's output");
        assert!(!ctl_output.contains(secret), "a token in ctl's output");
        assert!(!posted[0].to_string().contains(secret));
    }
    assert!(
        log.contains("kite: reconcile: FLAG open order OPEN1"),
        "{log}"
    );
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let audited: Vec<(String, String, bool)> = db
        .prepare("SELECT action, detail, ok FROM audit_events WHERE action IN ('halt', 'kite_token') ORDER BY timestamp")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(audited.len(), 4, "{audited:?}");
    assert!(audited[0].0 == "kite_token" && !audited[0].2, "{audited:?}");
    assert!(audited[1].0 == "halt" && audited[1].1.starts_with("broker: "));
    assert!(audited[2].0 == "kite_token" && !audited[2].2, "{audited:?}");
    assert!(
        audited[3].2
            && audited[3]
                .1
                .contains("1 positions and 1 orders at the broker reconciled")
            && audited[3].1.contains("the broker's halt is lifted"),
        "{audited:?}"
    );
    for (_, d, _) in &audited {
        assert!(!d.contains(OLD) && !d.contains(NEW) && !d.contains("wrongTOKEN"));
    }
}

/// A KiteTicker of our own: records each connection's URI, whether it is still open, and its
/// text messages; streams a NIFTY 50 tick every 100 ms on every connection. Once `expired` is
/// set, it closes the connections made with the old token and refuses new ones (HTTP 403).
type Conns = Arc<Mutex<Vec<(String, bool, Vec<String>)>>>;

fn ticker(conns: Conns, expired: Arc<std::sync::atomic::AtomicBool>) -> String {
    use futures_util::{SinkExt, StreamExt};
    use std::sync::atomic::Ordering::SeqCst;
    use tokio_tungstenite::tungstenite::Message;
    let url = kite_support::ticker::serve_loopback(move |listener| async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let log = conns.clone();
            let refuse = expired.clone();
            #[allow(clippy::result_large_err)]
            let keep_uri =
                move |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
                    let uri = req.uri().to_string();
                    if refuse.load(SeqCst) && uri.contains(OLD) {
                        return Err(tokio_tungstenite::tungstenite::http::Response::builder()
                            .status(403)
                            .body(Some("TokenException".to_string()))
                            .unwrap());
                    }
                    log.lock().unwrap().push((uri, true, Vec::new()));
                    Ok(resp)
                };
            let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, keep_uri).await else {
                continue;
            };
            let n = conns.lock().unwrap().len() - 1;
            let conns = conns.clone();
            let expired = expired.clone();
            tokio::spawn(async move {
                let mut k = 0u32;
                loop {
                    tokio::select! {
                        m = ws.next() => match m {
                            Some(Ok(Message::Text(t))) => conns.lock().unwrap()[n].2.push(t.to_string()),
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {
                            if expired.load(SeqCst) && conns.lock().unwrap()[n].0.contains(OLD) {
                                let _ = ws.close(None).await;
                                break;
                            }
                            k += 1;
                            let mut p = vec![0u8; 32];
                            p[0..4].copy_from_slice(&256_265u32.to_be_bytes());
                            p[4..8].copy_from_slice(&(2_400_000 + k).to_be_bytes());
                            let mut f = 1u16.to_be_bytes().to_vec();
                            f.extend((p.len() as u16).to_be_bytes());
                            f.extend(p);
                            if ws.send(Message::binary(f)).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                conns.lock().unwrap()[n].1 = false;
            });
        }
    });
    url
}

#[actix_rt::test]
async fn a_token_refused_to_the_ticker_halts_and_a_new_one_restarts_it() {
    let stand: Shared = Arc::default();
    let s = stand_in(&stand).await;
    let conns: Conns = Arc::default();
    let expired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ws = ticker(conns.clone(), expired.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 5.into();
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    v["kite"] = serde_json::json!({"ticker": true});
    v["alerts"] =
        serde_json::json!({"webhooks": [{"kind": "json", "url": format!("{}/alerts", s.uri())}]});
    let cfg = common::write_config(dir.path(), &v);
    let log_path = dir.path().join("engine.log");
    let mut engine = Running(
        Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .env("RUST_LOG", "info")
            .env("KITE_BASE_URL", s.uri())
            .env("KITE_TICKER_URL", ws)
            .env("KITE_API_KEY", KEY)
            .env("KITE_ACCESS_TOKEN", OLD)
            // The scripted day is today, whatever the calendar says of the machine's date.
            .env("ALPHASTOCKS_IGNORE_CALENDAR", "1")
            .args(["run", "--feed", "kite", "--mode", "paper"])
            .args(["--duration", "60", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let ctl = |args: &[&str], stdin: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .args(["ctl", "--config"])
            .arg(&cfg)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    until("the ticker connects with the old token", || {
        conns
            .lock()
            .unwrap()
            .first()
            .is_some_and(|c| c.2.len() >= 2)
    })
    .await;
    until("the control socket answers", || {
        ctl(&["status"], "").status.success()
    })
    .await;
    // 06:00: the old token expires; the ticker drops it and refuses it on reconnection (no
    // REST call happens meanwhile: the underlyings stream, nothing is held).
    stand.lock().unwrap().expired = true;
    expired.store(true, std::sync::atomic::Ordering::SeqCst);
    let halted = || {
        let o = ctl(&["status"], "");
        let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        st["trading"] == "halted" && st["kite_token"]["state"] == "rejected"
    };
    until("the refusal on the ticker halts trading", halted).await;
    let r = ctl(&["kite", "token"], &format!("{NEW}\n"));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    until("a connection with the new token, subscribed", || {
        let c = conns.lock().unwrap();
        c.len() == 2 && c[1].2.len() >= 2 && !c[0].1
    })
    .await;
    let c = conns.lock().unwrap().clone();
    assert!(
        c[0].0.contains(&format!("access_token={OLD}")),
        "{}",
        c[0].0
    );
    assert!(
        c[1].0.contains(&format!("access_token={NEW}")),
        "{}",
        c[1].0
    );
    assert_eq!(c[0].2[..2], c[1].2[..2], "the same subscription");
    assert!(ctl(&["shutdown"], "").status.success());
    assert!(engine.0.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("kite ticker: restarted with the new access token"),
        "{log}"
    );
    assert!(!log.contains(OLD) && !log.contains(NEW));
    let posted: Vec<serde_json::Value> = s
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["kind"], "token_rejected");
    assert!(posted[0]["message"]
        .as_str()
        .unwrap()
        .contains("KiteTicker refused the connection (HTTP 403)"));
}
