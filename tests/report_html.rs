//! `report.html` in a real browser: a paper replay of the sample writes it, headless Chromium
//! (Debian's `chromium`, installed by `scripts/setup.sh --test`) loads it from disk, and the rendered
//! DOM and a screenshot's pixels must show the charts, the heatmap, the histogram and the
//! tables with the run's figures. The screenshot and the page are kept under
//! `target/test-artifacts/`. A copy of the page without its equity chart must fail the same
//! checks, so the checks can fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use alphastocks::report_html::{
    inr, DRAWDOWN_FILL, EQUITY_COLOUR, LOSS_COLOUR, TRADES_ALL, WIN_COLOUR,
};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 2400;

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
                "headless Chromium is needed for the report.html test and `chromium` is not on \
                 the PATH: install it with `bash scripts/setup.sh --test` (apt-get install -y chromium) \
                 or set CHROMIUM to the browser's path"
            )
        })
}

/// Runs headless Chromium on `page` with `args`; returns its stdout. A browser that has not
/// finished after two minutes is killed (a hang guard, not a timing assertion).
fn browse(page: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--window-size={WIDTH},{HEIGHT}"),
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium().display()));
    let out = std::thread::spawn({
        let mut so = child.stdout.take().unwrap();
        move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut so, &mut s).unwrap();
            s
        }
    });
    let err = std::thread::spawn({
        let mut se = child.stderr.take().unwrap();
        move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut se, &mut s);
            s
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish on {}", page.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "chromium failed ({status}): {err}");
    out
}

/// A decoded screenshot, RGB.
struct Shot {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

fn screenshot(page: &Path, png_path: &Path) -> Shot {
    let _ = std::fs::remove_file(png_path);
    browse(page, &[format!("--screenshot={}", png_path.display())]);
    let file = std::fs::File::open(png_path)
        .unwrap_or_else(|e| panic!("chromium wrote no screenshot {}: {e}", png_path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
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
    Shot {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

impl Shot {
    /// Pixels within `tol` of `colour` on every channel, and their bounding box
    /// (x0, y0, x1, y1).
    fn find(&self, colour: &str, tol: u8) -> (usize, Option<(usize, usize, usize, usize)>) {
        let c = hex(colour);
        let mut n = 0;
        let mut bb: Option<(usize, usize, usize, usize)> = None;
        for (i, p) in self.rgb.iter().enumerate() {
            if (0..3).all(|k| p[k].abs_diff(c[k]) <= tol) {
                n += 1;
                let (x, y) = (i % self.width, i / self.width);
                bb = Some(match bb {
                    None => (x, y, x, y),
                    Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
                });
            }
        }
        (n, bb)
    }
}

/// What the run wrote, to compare the page with.
struct Expected {
    trades: usize,
    days: usize,
    months: usize,
    net_pnl: f64,
}

/// The element with `id` in the DOM, from its opening tag to the matching close of `tag`.
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> Option<&'a str> {
    let at = dom.find(&format!(" id=\"{id}\""))?;
    let start = dom[..at].rfind(&format!("<{tag}"))?;
    if dom[start..at].contains('>') {
        return None;
    }
    let rest = &dom[start..];
    let end = rest.find(&format!("</{tag}>"))?;
    Some(&rest[..end])
}

/// Everything wrong with the rendered page (empty when it is right).
fn problems(dom: &str, shot: &Shot, want: &Expected) -> Vec<String> {
    let mut p = Vec::new();
    // The DOM the browser built.
    match element(dom, "svg", "equity-chart") {
        Some(svg) => {
            let pts = svg
                .split("points=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map_or(0, |s| s.split_whitespace().count());
            if pts != want.days {
                p.push(format!("equity chart: {pts} points for {} days", want.days));
            }
        }
        None => p.push("equity chart: no <svg id=\"equity-chart\"> in the DOM".into()),
    }
    if !element(dom, "svg", "drawdown-chart").is_some_and(|s| s.contains("class=\"drawdown\"")) {
        p.push("drawdown chart: no drawdown area in the DOM".into());
    }
    match element(dom, "svg", "pnl-histogram") {
        Some(svg) => {
            let counted: usize = svg
                .split(" trades</title>")
                .filter_map(|s| s.rsplit(": ").next()?.parse::<usize>().ok())
                .sum();
            if counted != want.trades {
                p.push(format!(
                    "histogram: bins hold {counted} trades of {}",
                    want.trades
                ));
            }
        }
        None => p.push("histogram: no <svg id=\"pnl-histogram\"> in the DOM".into()),
    }
    match element(dom, "table", "stats") {
        Some(t) => {
            let net = format!("<td>{}</td>", inr(want.net_pnl));
            if !t.contains(&net) || !t.contains(&format!("<td>{}</td>", want.trades)) {
                p.push(format!(
                    "statistics table: no net P&L {net} or trade count {}",
                    want.trades
                ));
            }
        }
        None => p.push("statistics table missing".into()),
    }
    let cells = element(dom, "table", "monthly").map_or(0, |t| t.matches("class=\"cell\"").count());
    if cells != want.months {
        p.push(format!(
            "heatmap: {cells} month cells for {} months",
            want.months
        ));
    }
    let rows = element(dom, "table", "trades").map_or(0, |t| t.matches("<tr>").count());
    if rows != want.trades.min(TRADES_ALL) + 1 {
        p.push(format!(
            "trade list: {rows} rows for {} trades",
            want.trades
        ));
    }
    if !element(dom, "table", "params").is_some_and(|t| t.contains("NIFTY")) {
        p.push("parameters table missing or without the symbol".into());
    }
    // The pixels.
    let (n, bb) = shot.find(EQUITY_COLOUR, 12);
    let span = bb.map_or(0, |(x0, _, x1, _)| x1 - x0);
    if n < 1_000 || span < shot.width * 6 / 10 {
        p.push(format!(
            "equity line: {n} pixels of {EQUITY_COLOUR} spanning {span} px of {}",
            shot.width
        ));
    }
    let (n, _) = shot.find(DRAWDOWN_FILL, 2);
    if n < 2_000 {
        p.push(format!("drawdown area: {n} pixels of {DRAWDOWN_FILL}"));
    }
    for colour in [LOSS_COLOUR, WIN_COLOUR] {
        let (n, _) = shot.find(colour, 2);
        if n < 300 {
            p.push(format!("histogram: {n} pixels of {colour}"));
        }
    }
    // Every heatmap colour the page asks for, on the screen.
    let heat = element(dom, "table", "monthly").unwrap_or("");
    for c in heat.split("background:").skip(1) {
        let colour = &c[..7];
        let (n, _) = shot.find(colour, 2);
        if n < 200 {
            p.push(format!("heatmap: {n} pixels of a cell's {colour}"));
        }
    }
    p
}

fn paper_config(dir: &Path) -> actors::config::Config {
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("config/paper.json")).unwrap(),
    )
    .unwrap();
    v["storage"]["data_dir"] = dir.join("data").to_string_lossy().into_owned().into();
    serde_json::from_value(v).unwrap()
}

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn report_html_renders_its_charts_and_tables_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    common::replay_sample(paper_config(dir.path()), &out, messages::Mode::Paper);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let want = Expected {
        trades: std::fs::read_to_string(out.join("positions.jsonl"))
            .unwrap()
            .lines()
            .count(),
        days: std::fs::read_to_string(out.join("equity_daily.csv"))
            .unwrap()
            .lines()
            .count()
            - 1,
        months: report["monthly_returns_pct"]
            .as_object()
            .unwrap()
            .values()
            .map(|m| m.as_object().unwrap().len())
            .sum(),
        net_pnl: report["net_pnl"].as_f64().unwrap(),
    };
    assert!(want.trades > 10 && want.days > 100 && want.months == 12);
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for bad in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(
            !html.contains(bad),
            "report.html is not self-contained: {bad}"
        );
    }
    let art = artifacts();
    std::fs::copy(&page, art.join("report.html")).unwrap();
    let shot_path = art.join("report_html.png");
    let dom = browse(&page, &["--dump-dom".to_string()]);
    let shot = screenshot(&page, &shot_path);
    assert_eq!((shot.width, shot.height), (WIDTH as usize, HEIGHT as usize));
    let p = problems(&dom, &shot, &want);
    assert!(
        p.is_empty(),
        "report.html as rendered ({}):\n{}",
        shot_path.display(),
        p.join("\n")
    );

    // The same page without its equity chart fails the checks, on the DOM and the pixels.
    let start = html.find("<svg id=\"equity-chart\"").unwrap();
    let end = start + html[start..].find("</svg>").unwrap() + "</svg>".len();
    let broken = dir.path().join("broken.html");
    std::fs::write(&broken, format!("{}{}", &html[..start], &html[end..])).unwrap();
    let dom = browse(&broken, &["--dump-dom".to_string()]);
    let shot = screenshot(&broken, &dir.path().join("broken.png"));
    let p = problems(&dom, &shot, &want);
    assert!(
        p.iter().any(|m| m.starts_with("equity chart: no"))
            && p.iter().any(|m| m.starts_with("equity line:")),
        "{p:?}"
    );
    assert_eq!(p.len(), 2, "only the equity chart is missing: {p:?}");
}
