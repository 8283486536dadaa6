//! The web dashboard of `run` in a real browser: an engine process on the simulated market
//! in paper mode serves it on a free loopback port; headless Chromium (Debian's `chromium`,
//! installed by `scripts/setup.sh --test`) opens it and is driven over the DevTools protocol:
//! the page must fill itself from the event stream (the actor table, an open position with its
//! mark that the store holds, the trading state), follow the engine live (`ctl pause` shows
//! as paused, a crashed actor's restart is counted), and a screenshot is kept at
//! `target/test-artifacts/dashboard.png` and checked by its pixels. Then: the token (required
//! off loopback, wrong or missing → 401, never shown) and a bad `dashboard.listen` refused
//! with the field named.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 1500;
/// The page's colours (src/dashboard/page.js, page.css): the equity line, the paused badge.
const EQUITY_COLOUR: [u8; 3] = [0x1f, 0x5f, 0xbf];
const PAUSED_COLOUR: [u8; 3] = [0xb2, 0x6a, 0x00];
const TOKEN: &str = "dashboard-test-token-0123456789";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(common::root())
        .env("RUST_LOG", "info")
        .env_remove("ALPHASTOCKS_DASHBOARD_TOKEN");
    c
}

/// The simulated market fast enough for positions within seconds: one-minute candles, no
/// strength or move filter, paper fills; the dashboard on any free loopback port.
fn config(dir: &Path, listen: &str) -> PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["storage"]["backend"] = "sqlite".into();
    v["strategies"]["ma_crossover"]["timeframe"] = "minute".into();
    v["feed"]["simulated"]["speed"] = 600.0.into();
    v["feed"]["simulated"]["start_date"] = "2024-03-04".into();
    v["options_trading"]["entry_filters"]["min_signal_strength"] = 0.0.into();
    v["options_trading"]["entry_filters"]["min_expected_move_pct"] = 0.0.into();
    v["dashboard"]["listen"] = listen.into();
    common::write_config(dir, &v)
}

/// An engine process, killed if the test fails before it stopped.
struct Engine {
    child: Child,
    /// The dashboard's URL from the banner.
    url: String,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `run` in paper mode; waits for the banner's dashboard line.
fn start(cfg: &Path, token: Option<&str>) -> Engine {
    let mut cmd = bin();
    cmd.args([
        "run",
        "--mode",
        "paper",
        "--allow-fault-injection",
        "--config",
    ])
    .arg(cfg)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.env("ALPHASTOCKS_DASHBOARD_TOKEN", t);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(out).lines() {
            let line = line.unwrap_or_default();
            if let Some(rest) = line.trim().strip_prefix("web:") {
                let _ = tx.send(rest.trim().to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // A hang guard (the engine starts in a second or two), not a timing assertion.
    let web = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the banner names the dashboard");
    assert!(web.starts_with("http://127.0.0.1:"), "{web}");
    let url = web.split_whitespace().next().unwrap().to_string();
    let url = url.split('?').next().unwrap().to_string();
    Engine {
        child,
        url,
        stdout,
        stderr,
    }
}

impl Engine {
    fn stop(mut self, sock: &Path) -> (String, String) {
        assert_eq!(request(sock, r#"{"cmd":"shutdown"}"#)["ok"], true);
        let t = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(60), "engine did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(self.child.wait().unwrap().success());
        let (o, e) = (
            std::mem::replace(&mut self.stdout, std::thread::spawn(String::new)),
            std::mem::replace(&mut self.stderr, std::thread::spawn(String::new)),
        );
        (o.join().unwrap(), e.join().unwrap())
    }

    fn host_port(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }
}

fn request(sock: &Path, line: &str) -> Value {
    let mut s = UnixStream::connect(sock).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}

/// One HTTP/1.1 GET; returns (status, body).
fn get(host_port: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(host_port).unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // Up to the body's length when the head gives it (a server may keep the connection open
    // despite `Connection: close`, as Chromium's DevTools endpoint does), else to the end.
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body).unwrap();
        }
        None => {
            r.read_to_end(&mut body).unwrap();
        }
    }
    (code, String::from_utf8(body).unwrap())
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The browser: `$CHROMIUM`, else `chromium` on the PATH. Missing is a failure, not a skip.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium is needed for the dashboard test and `chromium` is not on \
                 the PATH: install it with `bash scripts/setup.sh --test` (apt-get install -y chromium) \
                 or set CHROMIUM to the browser's path"
            )
        })
}

/// Headless Chromium on `url` with its DevTools endpoint on a free port; killed on drop.
struct Browser {
    child: Child,
    /// The page's DevTools WebSocket.
    page_ws: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open_browser(url: &str) -> Browser {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--no-first-run",
            "--remote-debugging-port=0",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--window-size={WIDTH},{HEIGHT}"),
        ])
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium().display()));
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(at) = line.find("ws://") {
                let _ = tx.send(line[at..].trim().to_string());
            }
        }
    });
    let browser_ws = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("chromium announces its DevTools endpoint");
    let devtools = browser_ws
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // The page's own endpoint, from the target list.
    let page_ws = wait_for("the page's DevTools target", || {
        let (code, body) = get(&devtools, "/json/list", &[]);
        let list: Value = serde_json::from_str(&body).ok()?;
        (code == 200).then_some(())?;
        list.as_array()?
            .iter()
            .find(|t| t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url)))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from))
    });
    Browser {
        child,
        page_ws,
        _profile: profile,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One DevTools call; its result.
async fn cdp(ws: &mut Ws, id: u64, method: &str, params: Value) -> Value {
    use tokio_tungstenite::tungstenite::Message;
    let msg = json!({"id": id, "method": method, "params": params}).to_string();
    ws.send(Message::Text(msg.into())).await.unwrap();
    loop {
        let m = ws.next().await.expect("DevTools closed").unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }
}

/// What the page shows, read from its DOM.
const READ_PAGE: &str = r#"(() => {
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr:not(.empty)')]
    .map((tr) => ({ key: tr.dataset.key || '', cells: [...tr.cells].map((c) => c.textContent) }));
  const text = (id) => document.getElementById(id).textContent;
  return JSON.stringify({
    updates: Number(document.body.dataset.updates || 0),
    live: text('live'), mode: text('mode'), trading: text('trading'), feed: text('feed-state'),
    data_time: text('data-time'), open_count: text('open-count'),
    actors: rows('actors'), positions: rows('positions'), feed_rows: rows('feed'),
    signals: rows('signals'), decisions: rows('decisions'),
  });
})()"#;

struct Page {
    ws: Ws,
    id: u64,
}

impl Page {
    async fn read(&mut self) -> Value {
        self.id += 1;
        let r = cdp(
            &mut self.ws,
            self.id,
            "Runtime.evaluate",
            json!({"expression": READ_PAGE, "returnByValue": true}),
        )
        .await;
        serde_json::from_str(r["result"]["value"].as_str().unwrap_or("null")).unwrap()
    }

    /// Reads the page until `ok` holds (a hang guard of two minutes, not a timing assertion).
    async fn until(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            let v = self.read().await;
            if ok(&v) {
                return v;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the page never showed {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn screenshot(&mut self, path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
        use base64::Engine as _;
        self.id += 1;
        let r = cdp(
            &mut self.ws,
            self.id,
            "Page.captureScreenshot",
            json!({"format": "png"}),
        )
        .await;
        let png_bytes = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, &png_bytes).unwrap();
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let step = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            c => panic!("unexpected screenshot colour type {c:?}"),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(step)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        (info.width as usize, info.height as usize, rgb)
    }
}

fn near(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tol)
}

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn money(cell: &str) -> f64 {
    let s: String = cell
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v: f64 = s
        .parse()
        .unwrap_or_else(|_| panic!("not an amount: {cell:?}"));
    if cell.starts_with('−') {
        -v
    } else {
        v
    }
}

#[test]
fn the_dashboard_shows_the_running_engine_live_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "127.0.0.1:0");
    let sock = dir.path().join("control.sock");
    let db = dir.path().join("alphastocks.db");
    let engine = start(&cfg, None);
    let browser = open_browser(&engine.url);

    let shot_path = artifacts().join("dashboard.png");
    let (first, paused, shot) = actix_rt::System::new().block_on(async {
        let (ws, _) = tokio_tungstenite::connect_async(browser.page_ws.as_str())
            .await
            .unwrap();
        let mut page = Page { ws, id: 0 };
        // The viewport exactly WIDTH × HEIGHT (the window's size includes its frame).
        page.id += 1;
        cdp(
            &mut page.ws,
            page.id,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        // Live data: updates pushed, every actor listed, a position open with its mark.
        let first = page
            .until("an open position after live updates", |v| {
                v["updates"].as_u64().unwrap_or(0) >= 2
                    && v["positions"].as_array().is_some_and(|p| !p.is_empty())
            })
            .await;
        // The operator pauses on the socket; the page follows without a reload, and a
        // crashed actor's restart is counted in its row.
        assert_eq!(request(&sock, r#"{"cmd":"pause"}"#)["ok"], true);
        assert_eq!(
            request(&sock, r#"{"cmd":"crash","actor":"signal_manager"}"#)["ok"],
            true
        );
        let paused = page
            .until("the paused state and the restart", |v| {
                v["trading"] == "paused"
                    && v["actors"].as_array().is_some_and(|a| {
                        a.iter()
                            .any(|r| r["key"] == "signal_manager" && r["cells"][6] == "1")
                    })
            })
            .await;
        let shot = page.screenshot(&shot_path).await;
        (first, paused, shot)
    });
    drop(browser);

    // The actor table: every actor of the engine, each with its figures.
    let actors = first["actors"].as_array().unwrap();
    let names: Vec<&str> = actors.iter().map(|a| a["key"].as_str().unwrap()).collect();
    for want in [
        "data_manager",
        "strategy:ma_crossover",
        "signal_manager",
        "options_executor",
        "position_manager",
        "db_writer",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for a in actors {
        let cells: Vec<&str> = a["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(cells.len(), 8, "{a}");
        let (depth, max): (u64, u64) = (cells[1].parse().unwrap(), cells[2].parse().unwrap());
        assert!(depth <= max, "depth above its maximum: {a}");
        assert!(cells[3].parse::<f64>().unwrap() >= 0.0, "{a}");
    }
    let dm = actors.iter().find(|a| a["key"] == "data_manager").unwrap();
    let cell = |i: usize| dm["cells"][i].as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        cell(3) > 0.0,
        "the feed's ticks are handled every second: {dm}"
    );
    // Its handlers are timed (one in 64 of thousands): p50 ≤ p99, both shown.
    assert!(cell(4) > 0.0 && cell(4) <= cell(5), "{dm}");
    // The state and the feed.
    assert_eq!(first["mode"], "mode paper");
    assert_eq!(first["trading"], "active");
    assert_eq!(first["feed"], "feed simulated connected");
    assert!(
        first["data_time"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-0"),
        "{first}"
    );
    assert_eq!(
        first["feed_rows"].as_array().unwrap().len(),
        9,
        "one row per underlying: {first}"
    );
    assert!(first["live"].as_str().unwrap().starts_with("live · update"));
    assert!(
        !first["decisions"].as_array().unwrap().is_empty(),
        "{first}"
    );
    assert!(!first["signals"].as_array().unwrap().is_empty(), "{first}");
    // The position: the engine's own, with a mark, in the store.
    let pos = &first["positions"][0];
    let cells = pos["cells"].as_array().unwrap();
    assert_eq!(cells[2], "paper", "{pos}");
    let mark: f64 = cells[5].as_str().unwrap().parse().unwrap();
    assert!(mark > 0.0, "{pos}");
    money(cells[8].as_str().unwrap());
    let id = pos["key"].as_str().unwrap().to_string();
    let stored: i64 = wait_for("the position in the store", || {
        let n: i64 = rusqlite::Connection::open(&db)
            .ok()?
            .query_row(
                "SELECT COUNT(*) FROM positions WHERE position_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .ok()?;
        (n > 0).then_some(n)
    });
    assert!(stored > 0);
    assert_eq!(paused["trading"], "paused");

    // The screenshot: the equity line drawn, the paused badge in its colour.
    let (w, h, rgb) = shot;
    assert_eq!((w, h), (WIDTH as usize, HEIGHT as usize));
    let line = rgb.iter().filter(|p| near(**p, EQUITY_COLOUR, 40)).count();
    let badge = rgb.iter().filter(|p| near(**p, PAUSED_COLOUR, 30)).count();
    assert!(
        line > 50,
        "no equity line in {} ({line} pixels)",
        shot_path.display()
    );
    assert!(
        badge > 200,
        "no paused badge in {} ({badge} pixels)",
        shot_path.display()
    );

    let (out, _) = engine.stop(&sock);
    assert!(out.contains("web:   http://127.0.0.1:"), "{out}");
}

#[test]
fn a_token_guards_the_dashboard_and_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");

    // Off loopback without a token: refused before anything starts, naming the variable.
    let cfg = config(dir.path(), "0.0.0.0:0");
    let out = bin()
        .args(["run", "--duration", "5", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("dashboard.listen 0.0.0.0:0") && err.contains("ALPHASTOCKS_DASHBOARD_TOKEN"),
        "{err}"
    );
    assert!(!sock.exists(), "nothing started");
    // A token too short is refused without being shown.
    let out = bin()
        .args(["run", "--duration", "5", "--config"])
        .arg(&cfg)
        .env("ALPHASTOCKS_DASHBOARD_TOKEN", "tiny-secret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ALPHASTOCKS_DASHBOARD_TOKEN") && !err.contains("tiny-secret"),
        "{err}"
    );

    // With a token (here on loopback, where a token given is required too).
    let cfg = config(dir.path(), "127.0.0.1:0");
    let engine = start(&cfg, Some(TOKEN));
    let hp = engine.host_port();
    let (code, body) = wait_for("the first snapshot", || {
        let r = get(&hp, &format!("/snapshot?token={TOKEN}"), &[]);
        (r.0 != 503).then_some(r)
    });
    assert_eq!(code, 200, "{body}");
    let snap: Value = serde_json::from_str(&body).unwrap();
    assert!(
        snap["actors"].as_array().is_some_and(|a| a.len() >= 6),
        "{snap}"
    );
    assert_eq!(snap["state"]["mode"], "paper");
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(get(&hp, "/snapshot", &[("Authorization", &bearer)]).0, 200);
    let wrong = format!("{TOKEN}x");
    for target in ["/", "/snapshot", "/events"] {
        let (code, body) = get(&hp, target, &[]);
        assert_eq!(code, 401, "{target} without the token: {body}");
        assert!(!body.contains(TOKEN), "{body}");
        assert_eq!(get(&hp, &format!("{target}?token={wrong}"), &[]).0, 401);
        assert_eq!(
            get(
                &hp,
                target,
                &[("Authorization", &format!("Bearer {wrong}"))]
            )
            .0,
            401
        );
    }
    // Read-only: nothing but GET and HEAD; the page's code is served without the token.
    let mut s = std::net::TcpStream::connect(&hp).unwrap();
    write!(
        s,
        "POST /snapshot?token={TOKEN} HTTP/1.1\r\nHost: {hp}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 405 "), "{resp}");
    // A head too long, or not HTTP: refused with the reason, and the server serves on.
    let long = "x".repeat(9 * 1024);
    assert_eq!(get(&hp, "/snapshot", &[("X-Filler", &long)]).0, 431);
    let mut s = std::net::TcpStream::connect(&hp).unwrap();
    s.write_all(b"HELLO\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 400 ") && resp.contains("bad request line"),
        "{resp}"
    );
    let (code, js) = get(&hp, "/dashboard.js", &[]);
    assert_eq!(code, 200);
    assert!(js.contains("EventSource"));
    let (code, page) = get(&hp, &format!("/?token={TOKEN}"), &[]);
    assert_eq!(code, 200);
    assert!(page.contains("/dashboard.js") && !page.contains(TOKEN));

    let (out, err) = engine.stop(&sock);
    assert!(out.contains("?token=…"), "{out}");
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the token was printed"
    );
}

#[test]
fn alarms_reach_the_dashboard_without_any_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "127.0.0.1:0");
    // Positions held six minutes of data time at most, and a day halted by its first closed
    // trade whichever way it went: the next signal is rejected and the halt is an alarm.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["rules"]["max_hold_hours"] = 0.1.into();
    v["rules"]["halt_after_consecutive_losses"] = 1.into();
    v["rules"]["daily_profit_lock_pct"] = 0.001.into();
    v["options_trading"]["risk_management"]["max_daily_loss_pct"] = 0.001.into();
    assert!(v["alerts"]["webhooks"]
        .as_array()
        .is_none_or(|w| w.is_empty()));
    let cfg = common::write_config(dir.path(), &v);
    let engine = start(&cfg, None);
    let hp = engine.host_port();
    let snap = wait_for("an alarm on the dashboard", || {
        let (code, body) = get(&hp, "/snapshot", &[]);
        let s: Value = serde_json::from_str(&body).ok().filter(|_| code == 200)?;
        (!s["alarms"].as_array()?.is_empty()).then_some(s)
    });
    let alarm = &snap["alarms"][0];
    let kind = alarm["kind"].as_str().unwrap();
    assert!(
        [
            "daily_loss_halt",
            "profit_lock_halt",
            "consecutive_loss_halt"
        ]
        .contains(&kind),
        "{alarm}"
    );
    assert!(
        alarm["message"]
            .as_str()
            .unwrap()
            .starts_with("paper mode: "),
        "{alarm}"
    );
    // The rejected signal it names is among the decisions, with the halt as its reason.
    let signal = alarm["signal_id"].as_str().unwrap();
    let reason = match kind {
        "daily_loss_halt" => "daily_loss_halt",
        "profit_lock_halt" => "daily_profit_lock",
        _ => "consecutive_losses",
    };
    assert!(
        snap["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["signal_id"] == signal
                && d["outcome"] == "rejected"
                && d["reason"] == reason),
        "{snap}"
    );
    engine.stop(&dir.path().join("control.sock"));
}

#[test]
fn a_bad_dashboard_address_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["127.0.0.1", "localhost:9180", "127.0.0.1:70000"] {
        let cfg = config(dir.path(), bad);
        let out = bin()
            .args(["run", "--duration", "5", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("`dashboard.listen`") && err.contains(&format!("{bad:?}")),
            "{bad}: {err}"
        );
    }
    // Empty: no dashboard, and the engine runs.
    let cfg = config(dir.path(), "");
    let out = bin()
        .args(["run", "--duration", "2", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("web:"), "{stdout}");
}
