//! Alerts end to end against a local HTTP server: real alarms raised by the engine (a restart
//! storm of an actor made to panic, the daily-loss halts of a paper replay, a ClickHouse
//! server stopped under a running engine) arrive as JSON and
//! Telegram posts, retried after a 500, rate limited with the count of those held back, and
//! never with a secret in them.

mod common;
#[allow(dead_code)]
mod recovery_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use actix::Actor;
use actors::alerts::{AlertsConfig, WebhookConfig};
use actors::metrics::ActorMetrics;
use actors::notifier::{Notifier, NotifierConfig};
use alphastocks::system::Engine;
use messages::msg::*;
use messages::{Alarm, AlarmKind, GetNotifierStats, RaiseAlarm};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The webhooks of a test: a JSON hook (with an auth header) and a Telegram bot, both on `uri`.
fn alerts(uri: &str, auth_env: &str, bot_env: &str) -> AlertsConfig {
    AlertsConfig {
        webhooks: vec![
            WebhookConfig::Json {
                url: Some(format!("{uri}/hook")),
                url_env: None,
                auth_header_env: Some(auth_env.into()),
            },
            WebhookConfig::Telegram {
                chat_id: "-4242".into(),
                bot_token_env: bot_env.into(),
                api_url: uri.into(),
            },
        ],
        retry_initial_ms: 20,
        retry_max_ms: 100,
        ..AlertsConfig::default()
    }
}

/// The server answers the JSON hook's first request with a 500, every later one with 200,
/// and Telegram's `sendMessage` for `token` with 200.
async fn server(token: &str) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/sendMessage")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
        .mount(&s)
        .await;
    s
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// The requests received so far: (JSON hook bodies with their auth header, Telegram bodies).
async fn received(s: &MockServer) -> (Vec<(Value, Option<String>)>, Vec<Value>) {
    let all = s.received_requests().await.unwrap_or_default();
    let hook = all
        .iter()
        .filter(|r| r.url.path() == "/hook")
        .map(|r| {
            let auth = r
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string());
            (body(r), auth)
        })
        .collect();
    let tg = all
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .map(body)
        .collect();
    (hook, tg)
}

/// Waits until `done` holds for what the server received (the test fails after a minute
/// instead of hanging; nothing is timed).
async fn until(
    s: &MockServer,
    what: &str,
    done: impl Fn(&[(Value, Option<String>)], &[Value]) -> bool,
) -> (Vec<(Value, Option<String>)>, Vec<Value>) {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let (h, t) = received(s).await;
        if done(&h, &t) {
            return (h, t);
        }
        assert!(Instant::now() < give_up, "{what}: got {h:?} and {t:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn raw_requests_hold(reqs: &[Request], secret: &str) -> bool {
    reqs.iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains(secret))
}

#[test]
fn a_restart_storm_is_posted_to_both_webhooks_retried_after_a_500_without_secrets() {
    const TOKEN: &str = "777001:TEST-bot-token-storm";
    const AUTH: &str = "Bearer hook-secret-storm";
    // Names used by this test only (tests of one binary share the process environment).
    std::env::set_var("ALERTS_TEST_STORM_TG", TOKEN);
    std::env::set_var("ALERTS_TEST_STORM_AUTH", AUTH);
    let dir = tempfile::tempdir().unwrap();
    let sys = actix::System::new();
    sys.block_on(async {
        let s = server(TOKEN).await;
        let mut cfg = common::config_in(dir.path());
        cfg.alerts = alerts(&s.uri(), "ALERTS_TEST_STORM_AUTH", "ALERTS_TEST_STORM_TG");
        cfg.alerts.restart_storm_restarts = 2;
        let engine = Engine::start(common::nifty_engine(cfg)).unwrap();
        let notifier = engine.notifier.clone().expect("alerts configured");
        // Two restarts are allowed; the third within the window is a storm.
        for _ in 0..3 {
            engine.signals.do_send(InjectPanic);
        }
        let (hook, tg) = until(&s, "the storm posted to both", |h, t| {
            h.len() >= 2 && !t.is_empty()
        })
        .await;

        // The JSON hook: a 500, then the same body again, accepted; with its auth header.
        assert_eq!(hook.len(), 2, "{hook:?}");
        assert_eq!(hook[0].0, hook[1].0, "the retry posts the same body");
        let (b, auth) = &hook[0];
        assert_eq!(auth.as_deref(), Some(AUTH));
        assert_eq!(b["source"], "alphastocks");
        assert_eq!(b["kind"], "restart_storm");
        assert_eq!(b["severity"], "critical");
        assert_eq!(b["actor"], "signal_manager");
        assert_eq!(b["suppressed"], 0);
        let m = b["message"].as_str().unwrap();
        assert!(
            m.starts_with("signal_manager restarted 3 times within 10 min (more than 2)"),
            "{m}"
        );
        assert!(m.contains("fault injected into signal_manager"), "{m}");

        // Telegram: sendMessage of the same alarm to the chat.
        assert_eq!(tg.len(), 1, "{tg:?}");
        assert_eq!(tg[0]["chat_id"], "-4242");
        assert_eq!(tg[0]["text"], b["text"]);
        let text = tg[0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("[CRITICAL] alphastocks restart_storm: signal_manager restarted 3"),
            "{text}"
        );
        assert!(text.contains("\nactor: signal_manager"), "{text}");

        // An alarm quoting a secret (as an error text might) is posted scrubbed.
        notifier.do_send(RaiseAlarm(
            Alarm::new(
                AlarmKind::TokenRejected,
                format!("refused: {TOKEN} / {AUTH}"),
            )
            .order("hook-secret-storm"),
        ));
        let (hook, tg) = until(&s, "the scrubbed alarm", |h, t| {
            h.len() >= 3 && t.len() >= 2
        })
        .await;
        assert_eq!(hook[2].0["message"], "refused: <redacted> / <redacted>");
        assert_eq!(hook[2].0["order"], "<redacted>");
        assert!(tg[1]["text"]
            .as_str()
            .unwrap()
            .contains("refused: <redacted> / <redacted>"));
        let raw = s.received_requests().await.unwrap();
        assert!(!raw_requests_hold(&raw, TOKEN));
        assert!(!raw_requests_hold(&raw, "hook-secret-storm"));

        let st = notifier.send(GetNotifierStats).await.unwrap();
        assert_eq!(
            (st.raised, st.posted, st.failed, st.retries, st.suppressed),
            (2, 4, 0, 1, 0),
            "{st:?}"
        );
        // One storm alarm only, however long the storm lasts.
        engine.signals.do_send(InjectPanic);
        engine.drain().await.unwrap();
        let restarts = engine.restarts().await.unwrap();
        assert!(
            restarts.contains(&("signal_manager".to_string(), 4)),
            "{restarts:?}"
        );
        engine.shutdown().await;
        let (hook, _) = received(&s).await;
        assert_eq!(
            hook.iter()
                .filter(|(b, _)| b["kind"] == "restart_storm")
                .count(),
            2,
            "the first post and its retry only"
        );
    });
}

#[actix_rt::test]
async fn the_rate_limit_holds_back_a_flood_and_posts_its_count() {
    const TOKEN: &str = "777002:TEST-bot-token-flood";
    let s = server(TOKEN).await;
    let mut cfg = alerts(&s.uri(), "AUTH", "BOT");
    cfg.max_per_kind_per_minute = 2;
    let env = |k: &str| match k {
        "AUTH" => Some("Bearer flood".to_string()),
        "BOT" => Some(TOKEN.to_string()),
        _ => None,
    };
    let mut ncfg = NotifierConfig::from_config(&cfg, env).unwrap();
    ncfg.rate_window = Duration::from_millis(300);
    let m: &'static ActorMetrics = Box::leak(Box::new(ActorMetrics::new("notifier", true)));
    let n = Notifier::new(ncfg, None, m).start();
    for i in 0..5 {
        n.do_send(RaiseAlarm(
            Alarm::new(AlarmKind::ExitNotFilled, format!("exit {i} failed")).symbol("NIFTYX"),
        ));
    }
    // Another kind has its own budget.
    n.do_send(RaiseAlarm(Alarm::new(AlarmKind::FeedSilent, "quiet")));
    // Two exits, the feed, then (once the window is over) the count of the three held back.
    let (hook, tg) = until(&s, "the held-back count", |h, t| {
        h.iter()
            .any(|(b, _)| b["message"].as_str().unwrap().contains("held back"))
            && t.len() >= 4
    })
    .await;
    // The first request got a 500 and was retried; the posts run side by side, in any order.
    assert_eq!(hook.len(), 5, "{hook:?}");
    let ok: Vec<&Value> = hook.iter().skip(1).map(|(b, _)| b).collect();
    let msgs: BTreeSet<&str> = ok.iter().map(|b| b["message"].as_str().unwrap()).collect();
    assert_eq!(
        msgs,
        BTreeSet::from([
            "exit 0 failed",
            "exit 1 failed",
            "quiet",
            "the rate limit held back alarms of this kind in the last minute (each is in the log)"
        ]),
        "{hook:?}"
    );
    let summary = ok
        .iter()
        .find(|b| b["message"].as_str().unwrap().starts_with("the rate limit"))
        .unwrap();
    assert_eq!(summary["suppressed"], 3);
    assert!(summary["text"]
        .as_str()
        .unwrap()
        .ends_with("\n(3 more exit_not_filled alarms suppressed by the rate limit)"));
    for b in &ok {
        let exit = b["message"].as_str().unwrap().starts_with("exit");
        assert_eq!(b["symbol"] == "NIFTYX", exit, "{b}");
        assert_eq!(
            b["kind"],
            if b["message"] == "quiet" {
                "feed_silent"
            } else {
                "exit_not_filled"
            }
        );
    }
    let tg_msgs: BTreeSet<String> = tg
        .iter()
        .map(|b| {
            b["text"]
                .as_str()
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(tg_msgs.len(), 4, "{tg_msgs:?}");
    let st = n.send(GetNotifierStats).await.unwrap();
    assert_eq!(
        (st.raised, st.suppressed, st.posted, st.retries),
        (6, 3, 8, 1),
        "{st:?}"
    );
    // The next one after the window goes through with nothing held back before it.
    n.do_send(RaiseAlarm(Alarm::new(
        AlarmKind::ExitNotFilled,
        "exit 5 failed",
    )));
    let (hook, _) = until(&s, "the next exit", |h, _| h.len() >= 6).await;
    assert_eq!(hook[5].0["message"], "exit 5 failed");
    assert_eq!(hook[5].0["suppressed"], 0);
}

#[actix_rt::test]
async fn a_webhook_that_refuses_is_given_up_and_one_that_is_down_is_retried_then_given_up() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&s)
        .await;
    let down = {
        // A port nobody listens on: bound, then released.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = AlertsConfig {
        webhooks: vec![
            WebhookConfig::Json {
                url: Some(format!("{}/hook", s.uri())),
                url_env: None,
                auth_header_env: None,
            },
            WebhookConfig::Json {
                url: Some(format!("http://{down}/hook")),
                url_env: None,
                auth_header_env: None,
            },
        ],
        retry_attempts: 3,
        retry_initial_ms: 10,
        retry_max_ms: 20,
        ..AlertsConfig::default()
    };
    let ncfg = NotifierConfig::from_config(&cfg, |_| None).unwrap();
    let m: &'static ActorMetrics = Box::leak(Box::new(ActorMetrics::new("notifier", true)));
    let n = Notifier::new(ncfg, None, m).start();
    n.do_send(RaiseAlarm(Alarm::new(AlarmKind::FeedSilent, "quiet")));
    let give_up = Instant::now() + Duration::from_secs(60);
    let st = loop {
        let st = n.send(GetNotifierStats).await.unwrap();
        if st.failed == 2 {
            break st;
        }
        assert!(Instant::now() < give_up, "{st:?}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    };
    // The 401 once (not retried); the dead address three times (two retries).
    assert_eq!((st.posted, st.retries, st.in_flight), (0, 2, 0), "{st:?}");
    assert_eq!(s.received_requests().await.unwrap().len(), 1);
}

#[test]
fn the_daily_loss_halts_of_a_paper_replay_are_posted_once_a_day() {
    const TOKEN: &str = "777003:TEST-bot-token-halt";
    std::env::set_var("ALERTS_TEST_HALT_TG", TOKEN);
    std::env::set_var("ALERTS_TEST_HALT_AUTH", "Bearer halt");
    let dir = tempfile::tempdir().unwrap();
    let srv_sys = actix::System::new();
    let s = srv_sys.block_on(server(TOKEN));
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("config/paper.json")).unwrap(),
    )
    .unwrap();
    v["storage"]["data_dir"] = dir
        .path()
        .join("data")
        .to_string_lossy()
        .into_owned()
        .into();
    // 1 % of the capital: one or two stops end the day.
    v["options_trading"]["risk_management"]["max_daily_loss_pct"] = 1.0.into();
    let mut cfg: actors::config::Config = serde_json::from_value(v).unwrap();
    cfg.alerts = alerts(&s.uri(), "ALERTS_TEST_HALT_AUTH", "ALERTS_TEST_HALT_TG");
    cfg.alerts.replays = true;
    cfg.alerts.max_per_kind_per_minute = 1000;
    let summary = common::replay_sample(cfg, &dir.path().join("out"), messages::Mode::Paper);
    assert!(
        summary
            .executor
            .rejected_by_reason
            .get("daily_loss_halt")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        summary.executor
    );
    // The first halted signal of each IST day, from the store.
    let db = rusqlite::Connection::open(dir.path().join("data/alphastocks.db")).unwrap();
    let mut st = db
        .prepare(
            "SELECT signal_id, decided_at FROM executor_decisions WHERE reason = 'daily_loss_halt' ORDER BY decided_at, signal_id",
        )
        .unwrap();
    let rows: Vec<(String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let day_of: std::collections::BTreeMap<String, i64> = rows
        .into_iter()
        .map(|(id, at)| (id, (at + 19_800).div_euclid(86_400)))
        .collect();
    let days: BTreeSet<i64> = day_of.values().copied().collect();
    // The replay's shutdown waited for the posts: they are all in.
    let (hook, tg) = srv_sys.block_on(received(&s));
    let ok: Vec<&Value> = hook.iter().skip(1).map(|(b, _)| b).collect(); // the first got a 500
    let posted: Vec<String> = ok
        .iter()
        .map(|b| {
            assert_eq!(b["kind"], "daily_loss_halt");
            assert_eq!(b["severity"], "warning");
            assert_eq!(b["symbol"], "NIFTY");
            let m = b["message"].as_str().unwrap();
            assert!(
                m.starts_with("paper mode: today's net realized P&L (after charges) ₹-"),
                "{m}"
            );
            b["signal_id"].as_str().unwrap().to_string()
        })
        .collect();
    // One alarm per halted day, each for a signal that day's halt rejected.
    let posted_days: Vec<i64> = posted.iter().map(|id| day_of[id]).collect();
    assert_eq!(posted_days.len(), days.len(), "{posted:?}");
    assert_eq!(posted_days.iter().copied().collect::<BTreeSet<_>>(), days);
    assert_eq!(tg.len(), days.len());
    assert!(tg.iter().all(|b| b["chat_id"] == "-4242"));
}

#[test]
fn a_store_down_with_a_growing_outbox_is_posted_once() {
    use recovery_support::{config, wait_until, Engine as Process, Server};
    const TOKEN: &str = "777004:TEST-bot-token-store";
    let srv_sys = actix::System::new();
    let s = srv_sys.block_on(server(TOKEN));
    let ch = Server::new(18546, 19546);
    let dir = tempfile::tempdir().unwrap();
    let db = common::ch_db("alerts_store");
    let cfg = config(dir.path(), &ch.url(), &db);
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["alerts"] = serde_json::to_value(alerts(&s.uri(), "STORE_AUTH", "STORE_TG")).unwrap();
    v["alerts"]["store_check_seconds"] = 1.into();
    let cfg = common::write_config(dir.path(), &v);
    let mut engine = Process::start_env(
        &cfg,
        &[],
        &[("STORE_AUTH", "Bearer store-secret"), ("STORE_TG", TOKEN)],
    );
    wait_until("rows on the server", Duration::from_secs(60), || {
        ch.sql(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'positions'"
        ))
        .trim()
            == "1"
            && ch.num(&format!("SELECT count() FROM {db}.positions")) > 0
    });
    let (hook, _) = srv_sys.block_on(received(&s));
    assert!(
        hook.is_empty(),
        "nothing to say while the store is up: {hook:?}"
    );

    ch.ctl("stop");
    wait_until("the store alarm", Duration::from_secs(90), || {
        let (h, t) = srv_sys.block_on(received(&s));
        h.iter()
            .any(|(b, _)| b["kind"] == "store_disconnected" && h.len() >= 2)
            && !t.is_empty()
    });
    assert!(
        engine.alive(),
        "the engine keeps running without its server"
    );
    // Long enough for more looks at a still-growing outbox: still one alarm.
    std::thread::sleep(Duration::from_secs(4));
    let log = engine.kill();
    let (hook, tg) = srv_sys.block_on(received(&s));
    let bodies: BTreeSet<String> = hook.iter().map(|(b, _)| b.to_string()).collect();
    assert_eq!(
        bodies.len(),
        1,
        "one alarm (its first post got a 500): {hook:?}\n{log}"
    );
    let b = &hook[0].0;
    assert_eq!(b["kind"], "store_disconnected");
    assert_eq!(b["severity"], "critical");
    let m = b["message"].as_str().unwrap();
    assert!(
        m.starts_with("store clickhouse disconnected and its local outbox keeps growing (")
            && m.ends_with(" rows wait): nothing is lost, but check the server"),
        "{m}"
    );
    assert_eq!(tg.len(), 1, "{tg:?}");
    assert_eq!(tg[0]["text"], b["text"]);
    assert!(
        log.contains("store: ALARM store clickhouse disconnected"),
        "{log}"
    );
    assert!(!log.contains(TOKEN) && !log.contains("store-secret"));
}
