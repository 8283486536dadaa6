//! The Prometheus endpoint of a running engine (`metrics.listen`): its text parses as the
//! exposition format (a strict parser, tests/prom_support: one `# TYPE` before each family's
//! samples, label syntax and escapes, no duplicate series, counters ending in `_total`), its
//! histograms are well formed (buckets ascending and cumulative, `+Inf` last and equal to
//! `_count`, `_sum` present), it passes `promtool check metrics`, its figures agree with each other and with
//! the engine's store, and every series the shipped Grafana dashboard
//! (docs/grafana/alphastocks.json) queries is exported; the dashboard itself is well formed
//! (unique ids, no overlapping panels) and its PromQL parses (`promtool check rules`). A
//! Kite-fed engine counts its API calls by endpoint.

mod common;
mod kite_support;
mod prom_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prom_support::{belongs, check_semantics, parse, Family};

#[test]
fn the_parser_refuses_what_prometheus_refuses() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 2\n";
    assert!(parse(good).is_ok());
    for (bad, why) in [
        ("a_total 1\n", "sample before any TYPE"),
        (
            "# HELP a_total A.\n# TYPE a_total counter\na_total 1\na_total 2\n",
            "duplicate series",
        ),
        (
            "# HELP a_total A.\n# TYPE a_total counter\na_total{x=1} 2\n",
            "not quoted",
        ),
        (
            "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"\\t\"} 2\n",
            "bad escape",
        ),
        (
            "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na 1\n",
            "outside its family",
        ),
        ("# HELP a A.\n# TYPE a gauge\na one\n", "value"),
        ("# HELP a A.\n# TYPE a gauge\na 1", "newline"),
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.contains(why), "{bad:?}: {e}");
    }
    let h = |body: &str| {
        check_semantics(&parse(&format!("# HELP h H.\n# TYPE h histogram\n{body}")).unwrap())
    };
    assert!(h("h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n").is_ok());
    for (body, why) in [
        (
            "h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
            "not cumulative",
        ),
        (
            "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 3\n",
            "_count",
        ),
        (
            "h_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 2\nh_sum 3\nh_count 2\n",
            "+Inf",
        ),
        (
            "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
            "_sum",
        ),
    ] {
        let e = h(body).unwrap_err();
        assert!(e.contains(why), "{body:?}: {e}");
    }
    let c = parse("# HELP c C.\n# TYPE c counter\nc 1\n").unwrap();
    assert!(check_semantics(&c).unwrap_err().contains("_total"));
}

// ---------------------------------------------------------------- the dashboard

/// Every metric name the dashboard's PromQL uses: panel targets and template queries.
fn dashboard_metrics(dash: &serde_json::Value) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "definition", serde_json::Value::String(s)) => {
                            out.push(s.clone())
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut exprs = Vec::new();
    walk(dash, &mut exprs);
    let mut names = BTreeSet::new();
    for e in exprs {
        // Identifiers: metric names, functions, labels; the engine's all start alphastocks_.
        let mut cur = String::new();
        for c in e.chars().chain([' ']) {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                cur.push(c);
            } else {
                if cur.starts_with("alphastocks_") {
                    names.insert(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    names
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(common::root().join("docs/grafana/alphastocks.json")).unwrap(),
    )
    .unwrap()
}

/// Every PromQL expression of the dashboard, with Grafana's variables replaced by values
/// Prometheus accepts.
fn dashboard_exprs(dash: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        if let Some(d) = v["definition"].as_str() {
            // label_values(METRIC, LABEL) is Grafana's; its metric is a selector.
            let inner = d
                .strip_prefix("label_values(")
                .and_then(|r| r.split(',').next())
                .unwrap();
            out.push(inner.to_string());
        }
    }
    out.into_iter()
        .map(|e| {
            e.replace("$__rate_interval", "1m")
                .replace("$__range", "1h")
                .replace("$actor", ".*")
        })
        .collect()
}

#[test]
fn the_dashboard_is_well_formed_and_its_promql_parses() {
    let dash = dashboard();
    assert_eq!(dash["uid"], "alphastocks-engine");
    assert_eq!(dash["__inputs"][0]["pluginId"], "prometheus");
    let panels = dash["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in panels {
        let id = p["id"].as_u64().unwrap();
        assert!(ids.insert(id), "panel id {id} twice");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "panel {id}: {g}");
        // No two panels overlap.
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "panel {id} overlaps another at {cx},{cy}"
                );
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {id}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {id} has no query");
        let refs: BTreeSet<_> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "panel {id}: refIds repeat");
    }
    // Each expression parses as PromQL: promtool checks them as recording rules.
    let exprs = dashboard_exprs(&dash);
    assert!(exprs.len() >= 30, "{}", exprs.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:expr{i}\n        expr: {}\n",
            serde_json::to_string(e).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("rules.yml");
    std::fs::write(&f, &rules).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&f)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool not found ({e}): install it with `bash scripts/setup.sh --test`")
        });
    assert!(
        out.status.success(),
        "{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("SUCCESS: {} rules found", exprs.len())));
}

// ---------------------------------------------------------------- a running engine

struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn scrape(addr: &str) -> Result<String, String> {
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let (head, body) = resp.split_once("\r\n\r\n").ok_or("no header end")?;
    if !head.starts_with("HTTP/1.1 200") || !head.contains("text/plain; version=0.0.4") {
        return Err(format!("bad response head: {head}"));
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .ok_or("no Content-Length")?
        .parse()
        .map_err(|e| format!("Content-Length: {e}"))?;
    if len != body.len() {
        return Err(format!("Content-Length {len}, body {}", body.len()));
    }
    Ok(body.to_string())
}

/// Prometheus's own linter (`promtool check metrics`: the format, and naming: `_total`
/// counters, base units, snake case) passes `text` without a word. `scripts/setup.sh --test`
/// installs promtool.
fn promtool_accepts(text: &str) {
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool not found ({e}): install it with `bash scripts/setup.sh --test`")
        });
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}"
    );
}

fn value(fams: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let fam = fams
        .iter()
        .find(|(f, fam)| belongs(name, f, &fam.kind))
        .unwrap_or_else(|| panic!("no family for {name}"))
        .1;
    fam.samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}

fn sum(fams: &BTreeMap<String, Family>, name: &str) -> f64 {
    fams[name].samples.iter().map(|s| s.value).sum()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn config(dir: &Path, listen: &str) -> std::path::PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["strategies"]["ma_crossover"]["timeframe"] = "minute".into();
    v["feed"]["simulated"]["speed"] = 6000.0.into();
    v["feed"]["simulated"]["start_date"] = "2024-03-04".into();
    v["metrics"]["listen"] = listen.into();
    // Every signal strong enough: paper positions open and close within seconds.
    v["options_trading"]["entry_filters"]["min_signal_strength"] = 0.0.into();
    v["options_trading"]["entry_filters"]["min_expected_move_pct"] = 0.0.into();
    v["rules"]["max_trades_per_day"] = 10_000.into();
    v["rules"]["daily_profit_lock_pct"] = 900.0.into();
    common::write_config(dir, &v)
}

#[test]
fn a_running_engine_exports_every_series_the_dashboard_uses() {
    let used = dashboard_metrics(&dashboard());
    assert!(used.len() >= 25, "{used:?}");

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = config(dir.path(), &addr);
    let db = dir.path().join("alphastocks.db");
    let mut engine = Engine(
        Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .args(["run", "--mode", "paper", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the metrics endpoint", || scrape(&addr).is_ok());
    // Until positions were opened and closed.
    wait_for("closed positions", || {
        let f = parse(&scrape(&addr).unwrap()).unwrap();
        value(&f, "alphastocks_positions_closed_total", &[]) > 0.0
    });
    let text = scrape(&addr).unwrap();
    let fams = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check_semantics(&fams).unwrap_or_else(|e| panic!("{e}\n{text}"));
    promtool_accepts(&text);

    // Every series of the dashboard is exported.
    let exported: BTreeSet<&str> = fams
        .values()
        .flat_map(|f| f.samples.iter().map(|s| s.name.as_str()))
        .collect();
    let missing: Vec<_> = used
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses {missing:?}, not exported:\n{text}"
    );

    // The figures are the engine's.
    for h in [
        "alphastocks_actor_handler_latency_seconds",
        "alphastocks_actor_mailbox_time_seconds",
    ] {
        assert_eq!(fams[h].kind, "histogram");
        let n = value(&fams, &format!("{h}_count"), &[("actor", "data_manager")]);
        assert!(n > 0.0, "{h}: no sample of data_manager");
    }
    // One handler in 64 is timed (the histograms are read after the counters; a sampled
    // handler may still be running).
    let handled = value(
        &fams,
        "alphastocks_actor_messages_handled_total",
        &[("actor", "data_manager")],
    );
    let timed = value(
        &fams,
        "alphastocks_actor_handler_latency_seconds_count",
        &[("actor", "data_manager")],
    );
    assert!(
        timed >= (handled / 64.0).ceil() - 1.0,
        "{timed} of {handled}"
    );
    assert!(
        value(
            &fams,
            "alphastocks_feed_ticks_total",
            &[("symbol", "NIFTY")]
        ) > 0.0
    );
    assert!(
        value(
            &fams,
            "alphastocks_feed_silence_seconds",
            &[("symbol", "NIFTY")]
        ) < 30.0
    );
    // Published signals are stored first; decisions follow published signals (and a scrape
    // reads the decisions before the signals).
    let signals = value(
        &fams,
        "alphastocks_signals_total",
        &[("strategy", "ma_crossover")],
    );
    let decisions = sum(&fams, "alphastocks_executor_decisions_total");
    assert!(
        signals >= decisions && decisions > 0.0,
        "{signals} {decisions}"
    );
    assert!(signals <= common::count(&db, "trading_signals") as f64);
    assert_eq!(value(&fams, "alphastocks_store_connected", &[]), 1.0);
    assert_eq!(value(&fams, "alphastocks_store_outbox_rows", &[]), 0.0);
    // No broker: no call made, every endpoint at 0.
    assert_eq!(sum(&fams, "alphastocks_kite_api_calls_total"), 0.0);
    // The book: what was opened is open or closed.
    let (open, opened, closed) = (
        value(&fams, "alphastocks_positions_open", &[]),
        value(&fams, "alphastocks_positions_opened_total", &[]),
        value(&fams, "alphastocks_positions_closed_total", &[]),
    );
    assert_eq!(open + closed, opened, "{text}");
    assert!(
        closed > 0.0 && open <= 3.0,
        "max_concurrent_positions is 3: {text}"
    );
    // Net = gross − charges, to the paisa.
    let paise = |n: &str| (value(&fams, n, &[]) * 100.0).round() as i64;
    assert_eq!(
        paise("alphastocks_pnl_realized_net_rupees"),
        paise("alphastocks_pnl_realized_gross_rupees") - paise("alphastocks_charges_rupees")
    );
    assert!(paise("alphastocks_charges_rupees") > 0);
    // The book is read before the decisions, and every position opened was decided first.
    assert!(
        value(
            &fams,
            "alphastocks_executor_decisions_total",
            &[("outcome", "opened")]
        ) >= opened
    );

    // Stopped (drained and flushed), the store holds at least what was counted.
    let stop = Command::new(env!("CARGO_BIN_EXE_alphastocks"))
        .current_dir(common::root())
        .args(["ctl", "--config"])
        .arg(&cfg)
        .arg("shutdown")
        .output()
        .unwrap();
    assert!(stop.status.success());
    let t = Instant::now();
    while engine.0.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(30), "engine did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let positions =
        |sql: &str| -> f64 { c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as f64 };
    assert!(positions("SELECT COUNT(DISTINCT position_id) FROM positions") >= opened);
    assert!(
        positions("SELECT COUNT(DISTINCT position_id) FROM positions WHERE status = 'CLOSED'")
            >= closed
    );
    assert!(signals <= common::count(&db, "trading_signals") as f64);
}

#[actix_rt::test]
async fn a_kite_fed_engine_counts_its_api_calls_by_endpoint() {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let s = MockServer::start().await;
    kite_support::mount_instruments(&s, kite_support::nfo_dump_one_strike()).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/instruments/historical/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"status": "success", "data": {"candles": []}})),
        )
        .mount(&s)
        .await;
    let ts = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 19_800, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    Mock::given(method("GET"))
        .and(path("/quote"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "status": "success", "data": {"NSE:NIFTY 50": {
            "instrument_token": 256265, "timestamp": ts, "last_price": 24010.5,
            "ohlc": {"open": 24000.0, "high": 24050.0, "low": 23950.0, "close": 23990.0}}}})))
        .mount(&s)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 5.into();
    v["metrics"]["listen"] = addr.clone().into();
    // The stand-in's dump lists NIFTY's options only; the machine's clock may fall on a
    // weekend or an exchange holiday.
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    let cfg = common::write_config(dir.path(), &v);
    let mut engine = Engine(
        Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .env("ALPHASTOCKS_IGNORE_CALENDAR", "1")
            .env("KITE_BASE_URL", s.uri())
            .env("KITE_API_KEY", "kitetestkey42")
            .env("KITE_ACCESS_TOKEN", "accesstokenSECRET99")
            .args(["run", "--feed", "kite", "--mode", "paper", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the metrics endpoint", || scrape(&addr).is_ok());
    wait_for("two quote polls", || {
        let f = parse(&scrape(&addr).unwrap()).unwrap();
        value(
            &f,
            "alphastocks_kite_api_calls_total",
            &[("endpoint", "quote"), ("result", "ok")],
        ) >= 2.0
    });
    let text = scrape(&addr).unwrap();
    let fams = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check_semantics(&fams).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // Counted when answered: never more than the stand-in received, per endpoint.
    let received = s.received_requests().await.unwrap();
    let got = |f: &dyn Fn(&str) -> bool| received.iter().filter(|r| f(r.url.path())).count() as f64;
    let calls = |endpoint: &str| {
        value(
            &fams,
            "alphastocks_kite_api_calls_total",
            &[("endpoint", endpoint), ("result", "ok")],
        )
    };
    assert!(calls("quote") >= 2.0 && calls("quote") <= got(&|p| p == "/quote"));
    assert!(calls("historical") <= got(&|p| p.starts_with("/instruments/historical/")));
    // The instrument dumps (NFO, NSE) are `other` calls.
    assert!(calls("other") >= 2.0, "{text}");
    assert_eq!(
        sum(&fams, "alphastocks_orders_total"),
        0.0,
        "paper: no order"
    );
    // The broker actor runs, and its rows are in the histograms.
    assert!(text.contains("alphastocks_actor_handler_latency_seconds_count{actor=\"broker\"}"));
    assert!(
        value(
            &fams,
            "alphastocks_feed_ticks_total",
            &[("symbol", "NIFTY")]
        ) >= 1.0
    );
    let _ = engine.0.kill();
    let _ = engine.0.wait();
}
