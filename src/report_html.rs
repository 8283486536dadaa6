//! `report.html`: the paper replay's tearsheet as one self-contained page — the run's
//! parameters, the statistics, equity and drawdown charts, the monthly returns heatmap, the
//! distribution of the trades' net P&L and the trade list. Inline CSS and SVG only: no script,
//! no font, no image or style sheet from anywhere, so it opens offline and can be mailed.
//!
//! Plain string building with every text from the run (names, reasons, config values) escaped.
//! Every coordinate and figure goes through [`num`], so no `NaN` or `inf` reaches the SVG
//! whatever the data (no trades, one day, flat equity).
//!
//! Large runs stay small: the charts are per trading day and the histogram has at most
//! [`MAX_BINS`] + 1 bars; the trade list shows every trade up to [`TRADES_ALL`] and otherwise
//! the first and the last [`TRADES_EDGE`] with a row saying how many are left out (all of them
//! are in `positions.jsonl`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use actors::stats::tearsheet::{DailyPoint, Tearsheet};

use crate::report::PositionLine;

/// The trade list is shown whole up to this many trades.
pub const TRADES_ALL: usize = 1_000;
/// Beyond [`TRADES_ALL`], this many trades from each end.
pub const TRADES_EDGE: usize = 500;
/// Histogram bins (one more when zero falls inside the range, so that it is an edge).
pub const MAX_BINS: usize = 40;

/// The line colour of the equity chart.
pub const EQUITY_COLOUR: &str = "#1f6feb";
/// The drawdown area's fill and outline.
pub const DRAWDOWN_FILL: &str = "#f6b3ba";
pub const DRAWDOWN_LINE: &str = "#cf222e";
/// Histogram bars of losing and of winning trades (unlike the heatmap's and the text's red
/// and green, so that each part can be told apart on a screenshot).
pub const LOSS_COLOUR: &str = "#e5534b";
pub const WIN_COLOUR: &str = "#3b9c4a";

/// Everything on the page.
pub struct Page<'a> {
    /// The heading, e.g. "NIFTY · 15minute · paper replay".
    pub title: &'a str,
    /// The run: symbols, files, period, capital … in display order.
    pub run: &'a [(String, String)],
    /// Strategy and trading settings (flattened config paths), in display order.
    pub settings: &'a [(String, String)],
    /// Statistics columns: the whole run first, then per strategy instance / underlying.
    pub sheets: &'a [(String, Tearsheet)],
    /// One point per trading day.
    pub daily: &'a [DailyPoint],
    pub capital: f64,
    /// Closed trades in exit order.
    pub trades: &'a [PositionLine],
    /// Seconds east of UTC for the times shown (the session's zone).
    pub offset: i64,
}

/// Writes `report.html` into `dir`.
pub fn write(dir: &Path, page: &Page<'_>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.html"), render(page))
}

/// Text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A finite number with `places` decimals (a non-finite one prints as 0).
pub fn num(v: f64, places: usize) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.places$}");
    // "-0.0" reads oddly.
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// Rupees with the Indian grouping and paise (₹12,34,567.89).
pub fn inr(v: f64) -> String {
    rupees(v, 2)
}

/// Rupees with the Indian grouping and `places` decimals (₹12,34,568 with none).
pub fn rupees(v: f64, places: usize) -> String {
    let s = num(v, places);
    let (sign, s) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s.as_str()),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut groups = Vec::new();
    let (mut head, tail) = int.split_at(int.len().saturating_sub(3));
    while head.len() > 2 {
        let (h, g) = head.split_at(head.len() - 2);
        groups.push(g);
        head = h;
    }
    let mut out = format!("{sign}₹");
    if !head.is_empty() {
        out.push_str(head);
        for g in groups.iter().rev() {
            out.push(',');
            out.push_str(g);
        }
        out.push(',');
    }
    out.push_str(tail);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A linear map from a data domain onto a pixel range. A degenerate domain (one value, flat
/// equity) is widened around its value; a non-finite input maps to the middle of the range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Linear {
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Linear {
        let (d0, d1) = match (d0.is_finite(), d1.is_finite()) {
            (true, true) if d1 > d0 => (d0, d1),
            (true, true) if d0 > d1 => (d1, d0),
            (true, _) => (d0, d0),
            (false, true) => (d1, d1),
            (false, false) => (0.0, 0.0),
        };
        let (d0, d1) = if d1 - d0 > f64::EPSILON * d0.abs().max(1.0) {
            (d0, d1)
        } else {
            let pad = (d0.abs() * 0.01).max(1.0);
            (d0 - pad, d0 + pad)
        };
        Linear { d0, d1, r0, r1 }
    }

    pub fn map(&self, v: f64) -> f64 {
        if !v.is_finite() {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Round tick values covering `[lo, hi]` (about `n` of them).
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let s = Linear::new(lo, hi, 0.0, 1.0);
    let (lo, hi) = (s.d0, s.d1);
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|st| *st >= raw)
        .unwrap_or(10.0 * mag);
    if !(step.is_finite() && step > 0.0) {
        return vec![lo, hi];
    }
    let mut v = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + step * 1e-9 && v.len() < 50 {
        v.push(k * step);
        k += 1.0;
    }
    v
}

/// One bar of the P&L histogram: trades with `lo ≤ net < hi` (the last bin includes `hi`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
}

/// Equal-width bins over `values` (about √n of them, at most [`MAX_BINS`]), aligned so that
/// zero is a bin edge when it falls inside the range: a bin holds only losses or only wins.
pub fn histogram(values: &[f64]) -> Vec<Bin> {
    let vals: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let Some(min) = vals.iter().copied().reduce(f64::min) else {
        return Vec::new();
    };
    let max = vals.iter().copied().fold(min, f64::max);
    let k = ((vals.len() as f64).sqrt().ceil() as usize).clamp(1, MAX_BINS);
    let (lo, width, k) = if max - min < 0.005 {
        // All the same (to the paisa): one bar around it.
        (min - 0.5, 1.0, 1)
    } else {
        let w = (max - min) / k as f64;
        let lo = if min < 0.0 && max > 0.0 {
            (min / w).floor() * w
        } else {
            min
        };
        let k = (((max - lo) / w).ceil() as usize).clamp(1, MAX_BINS + 1);
        (lo, w, k)
    };
    let mut bins: Vec<Bin> = (0..k)
        .map(|i| Bin {
            lo: lo + width * i as f64,
            hi: lo + width * (i + 1) as f64,
            count: 0,
        })
        .collect();
    for v in vals {
        let i = (((v - lo) / width).floor().max(0.0) as usize).min(k - 1);
        bins[i].count += 1;
    }
    bins
}

/// The background colour of a monthly return: white at 0, deeper green or red towards the
/// largest absolute month (`scale`).
pub fn heat_colour(pct: f64, scale: f64) -> String {
    let t = if scale > 0.0 && pct.is_finite() {
        (pct.abs() / scale).min(1.0)
    } else {
        0.0
    };
    let (r, g, b) = if pct >= 0.0 {
        (0x2d, 0xa4, 0x4e)
    } else {
        (0xcf, 0x22, 0x2e)
    };
    if pct == 0.0 || !pct.is_finite() {
        return "#ffffff".into();
    }
    let mix = |c: u8| (255.0 + (c as f64 - 255.0) * (0.15 + 0.85 * t)).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(r), mix(g), mix(b))
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;margin:24px;max-width:1340px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.sub{color:#59636e;margin:0 0 16px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:24px;align-items:start}
table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 8px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th{background:#f6f8fa;font-weight:600}
td.k,th.k{text-align:left}
table.kv td{text-align:left;white-space:normal;word-break:break-word}
table.kv td.k{color:#59636e;white-space:nowrap}
table.heat td{min-width:44px;border:1px solid #fff}
td.neg{color:#cf222e}td.pos{color:#1a7f37}
.note{color:#59636e;font-style:italic;text-align:left}
svg{display:block;background:#fff;max-width:100%;height:auto}
svg text{font-size:11px;fill:#59636e}
details{margin-top:16px}summary{cursor:pointer;font-weight:600}
";

/// The whole page.
pub fn render(p: &Page<'_>) -> String {
    let mut s = String::with_capacity(64 * 1024 + p.trades.len().min(TRADES_ALL) * 400);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>{CSS}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(p.title)
    );
    let sub: Vec<String> = p
        .run
        .iter()
        .take(4)
        .map(|(k, v)| format!("{}: {}", escape(k), escape(v)))
        .collect();
    let _ = writeln!(s, "<p class=\"sub\">{}</p>", sub.join(" · "));
    s.push_str("<div class=\"grid\"><section><h2>Run</h2>");
    s.push_str(&kv_table("params", p.run));
    s.push_str("</section><section><h2>Statistics (net of charges)</h2>");
    s.push_str(&stats_table(p.sheets));
    s.push_str("</section></div>\n<h2>Equity (end of day)</h2>\n");
    s.push_str(&equity_svg(p.daily, p.capital));
    s.push_str("<h2>Drawdown from the running peak</h2>\n");
    s.push_str(&drawdown_svg(p.daily));
    s.push_str("<h2>Monthly returns (%)</h2>");
    let monthly = p.sheets.first().map(|(_, t)| &t.monthly_returns_pct);
    s.push_str(&heatmap(monthly.unwrap_or(&BTreeMap::new())));
    s.push_str("<h2>Distribution of trade net P&amp;L</h2>");
    let nets: Vec<f64> = p.trades.iter().map(|t| t.net_pnl).collect();
    s.push_str(&histogram_svg(&histogram(&nets)));
    let _ = writeln!(s, "<h2>Trades ({})</h2>", p.trades.len());
    s.push_str(&trade_table(p.trades, p.offset));
    s.push_str("<details open><summary>Strategy and trading settings</summary>");
    s.push_str(&kv_table("settings", p.settings));
    s.push_str("</details>\n</body></html>\n");
    s
}

/// A two-column table of names and values.
pub fn kv_table(id: &str, rows: &[(String, String)]) -> String {
    let mut s = format!("<table class=\"kv\" id=\"{}\">", escape(id));
    for (k, v) in rows {
        let _ = write!(
            s,
            "<tr><td class=\"k\">{}</td><td>{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    s.push_str("</table>\n");
    s
}

fn opt(v: Option<f64>, places: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "—".into(), |x| num(x, places))
}

/// The statistics, one column per sheet.
pub fn stats_table(sheets: &[(String, Tearsheet)]) -> String {
    type Row = (&'static str, fn(&Tearsheet) -> String);
    let rows: [Row; 22] = [
        ("Trades", |t| t.trades.to_string()),
        ("Wins / losses", |t| format!("{} / {}", t.wins, t.losses)),
        ("Win rate", |t| format!("{}%", num(t.win_rate_pct, 2))),
        ("Gross P&L", |t| inr(t.gross_pnl)),
        ("Charges", |t| inr(t.charges)),
        ("Net P&L", |t| inr(t.net_pnl)),
        ("Profit factor", |t| opt(t.profit_factor, 2)),
        ("Expectancy / trade", |t| inr(t.expectancy)),
        ("Average win", |t| inr(t.avg_win)),
        ("Average loss", |t| inr(t.avg_loss)),
        ("Payoff ratio", |t| opt(t.payoff_ratio, 2)),
        ("Max consecutive wins", |t| {
            t.max_consecutive_wins.to_string()
        }),
        ("Max consecutive losses", |t| {
            t.max_consecutive_losses.to_string()
        }),
        ("Max drawdown", |t| inr(t.max_drawdown)),
        ("Max drawdown %", |t| {
            format!("{}%", num(t.max_drawdown_pct, 2))
        }),
        ("Max drawdown days", |t| t.max_drawdown_days.to_string()),
        ("CAGR", |t| {
            t.cagr_pct
                .filter(|x| x.is_finite())
                .map_or_else(|| "—".into(), |x| format!("{}%", num(x, 2)))
        }),
        ("Sharpe", |t| opt(t.sharpe, 2)),
        ("Sortino", |t| opt(t.sortino, 2)),
        ("Calmar", |t| opt(t.calmar, 2)),
        ("Exposure", |t| format!("{}%", num(t.exposure_pct, 1))),
        ("Trades per day", |t| num(t.trades_per_day, 2)),
    ];
    let mut s = String::from("<table id=\"stats\"><tr><th class=\"k\"></th>");
    for (name, _) in sheets {
        let _ = write!(s, "<th>{}</th>", escape(name));
    }
    s.push_str("</tr>");
    for (label, f) in &rows {
        let _ = write!(s, "<tr><td class=\"k\">{}</td>", escape(label));
        for (_, t) in sheets {
            let _ = write!(s, "<td>{}</td>", escape(&f(t)));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>\n");
    s
}

const CHART_W: f64 = 1300.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// The x scale of a daily chart: one day per step, a single day in the middle.
fn day_x(n: usize) -> impl Fn(usize) -> f64 {
    let last = n.saturating_sub(1);
    move |i| {
        if last == 0 {
            (LEFT + CHART_W - RIGHT) / 2.0
        } else {
            Linear::new(0.0, last as f64, LEFT, CHART_W - RIGHT).map(i as f64)
        }
    }
}

/// Date labels under a daily chart (about eight).
fn date_axis(s: &mut String, daily: &[DailyPoint], h: f64) {
    let x = day_x(daily.len());
    let step = daily.len().div_ceil(8).max(1);
    for (i, p) in daily.iter().enumerate().step_by(step) {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            num(x(i), 1),
            num(h - 8.0, 1),
            p.date
        );
    }
}

fn empty_chart(id: &str, h: f64, what: &str) -> String {
    format!(
        "<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_W}\" height=\"{h}\" \
viewBox=\"0 0 {CHART_W} {h}\"><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></svg>\n",
        CHART_W / 2.0,
        h / 2.0,
        escape(what)
    )
}

/// The end-of-day equity as a polyline, the starting capital dashed.
pub fn equity_svg(daily: &[DailyPoint], capital: f64) -> String {
    let h = 340.0;
    if daily.is_empty() {
        return empty_chart("equity-chart", h, "no trading days");
    }
    let lo = daily.iter().map(|p| p.equity).fold(capital, f64::min);
    let hi = daily.iter().map(|p| p.equity).fold(capital, f64::max);
    let y = Linear::new(lo, hi, h - BOTTOM, TOP);
    let x = day_x(daily.len());
    let mut s = format!(
        "<svg id=\"equity-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_W}\" \
height=\"{h}\" viewBox=\"0 0 {CHART_W} {h}\">"
    );
    for v in ticks(y.d0, y.d1, 5) {
        let yy = num(y.map(v), 1);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"#eaeef2\"/>\
<text x=\"{}\" y=\"{yy}\" dy=\"4\" text-anchor=\"end\">{}</text>",
            CHART_W - RIGHT,
            LEFT - 6.0,
            escape(&rupees(v, 0))
        );
    }
    let cy = num(y.map(capital), 1);
    let _ = write!(
        s,
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{cy}\" y2=\"{cy}\" stroke=\"#8c959f\" stroke-dasharray=\"5 4\"/>",
        CHART_W - RIGHT
    );
    date_axis(&mut s, daily, h);
    let pts: Vec<String> = daily
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{},{}", num(x(i), 1), num(y.map(p.equity), 1)))
        .collect();
    let _ = write!(
        s,
        "<polyline class=\"equity\" fill=\"none\" stroke=\"{EQUITY_COLOUR}\" stroke-width=\"2.5\" \
stroke-linejoin=\"round\" points=\"{}\"/>",
        pts.join(" ")
    );
    if daily.len() == 1 {
        let _ = write!(
            s,
            "<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{EQUITY_COLOUR}\"/>",
            num(x(0), 1),
            num(y.map(daily[0].equity), 1)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The drawdown below the running peak as a filled area, 0 % at the top.
pub fn drawdown_svg(daily: &[DailyPoint]) -> String {
    let h = 200.0;
    if daily.is_empty() {
        return empty_chart("drawdown-chart", h, "no trading days");
    }
    let worst = daily.iter().map(|p| p.drawdown_pct).fold(0.0, f64::max);
    let y = Linear::new(0.0, if worst > 0.0 { worst } else { 1.0 }, TOP, h - BOTTOM);
    let x = day_x(daily.len());
    let mut s = format!(
        "<svg id=\"drawdown-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_W}\" \
height=\"{h}\" viewBox=\"0 0 {CHART_W} {h}\">"
    );
    for v in ticks(y.d0, y.d1, 4) {
        let yy = num(y.map(v), 1);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"#eaeef2\"/>\
<text x=\"{}\" y=\"{yy}\" dy=\"4\" text-anchor=\"end\">{}%</text>",
            CHART_W - RIGHT,
            LEFT - 6.0,
            num(-v, if y.d1 - y.d0 < 2.0 { 2 } else { 1 })
        );
    }
    date_axis(&mut s, daily, h);
    let top = num(y.map(0.0), 1);
    let mut d = format!("M{},{top}", num(x(0), 1));
    for (i, p) in daily.iter().enumerate() {
        let _ = write!(d, " L{},{}", num(x(i), 1), num(y.map(p.drawdown_pct), 1));
    }
    let _ = write!(d, " L{},{top} Z", num(x(daily.len() - 1), 1));
    let _ = writeln!(
        s,
        "<path class=\"drawdown\" d=\"{d}\" fill=\"{DRAWDOWN_FILL}\" stroke=\"{DRAWDOWN_LINE}\" \
stroke-width=\"1.5\" stroke-linejoin=\"round\"/></svg>"
    );
    s
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Years by months, each cell coloured by its return; the last column compounds the year.
pub fn heatmap(monthly: &BTreeMap<i32, BTreeMap<u32, f64>>) -> String {
    if monthly.is_empty() {
        return "<p class=\"note\" id=\"monthly\">no months</p>\n".into();
    }
    let scale = monthly
        .values()
        .flat_map(|m| m.values())
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let mut s = String::from("<table class=\"heat\" id=\"monthly\"><tr><th class=\"k\"></th>");
    for m in MONTHS {
        let _ = write!(s, "<th>{m}</th>");
    }
    s.push_str("<th>Year</th></tr>");
    for (year, months) in monthly {
        let _ = write!(s, "<tr><th class=\"k\">{year}</th>");
        for m in 1..=12u32 {
            match months.get(&m) {
                Some(v) => {
                    let _ = write!(
                        s,
                        "<td class=\"cell\" style=\"background:{}\" title=\"{} {year}: {}%\">{}</td>",
                        heat_colour(*v, scale),
                        MONTHS[m as usize - 1],
                        num(*v, 2),
                        num(*v, 2)
                    );
                }
                None => s.push_str("<td></td>"),
            }
        }
        let year_pct = (months.values().map(|v| 1.0 + v / 100.0).product::<f64>() - 1.0) * 100.0;
        let _ = write!(
            s,
            "<td class=\"{}\"><b>{}</b></td></tr>",
            if year_pct < 0.0 { "neg" } else { "pos" },
            num(year_pct, 2)
        );
    }
    s.push_str("</table>\n");
    s
}

/// The histogram's bars: losses red, wins green, the count over each bar.
pub fn histogram_svg(bins: &[Bin]) -> String {
    let (w, h) = (CHART_W, 260.0);
    let (l, r, t, b) = (LEFT, RIGHT, 16.0, 40.0);
    if bins.is_empty() {
        return format!(
            "<svg id=\"pnl-histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
viewBox=\"0 0 {w} {h}\"><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no trades</text></svg>\n",
            w / 2.0,
            h / 2.0
        );
    }
    let most = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let x = Linear::new(0.0, bins.len() as f64, l, w - r);
    let y = Linear::new(0.0, most as f64, h - b, t);
    let mut s = format!(
        "<svg id=\"pnl-histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
viewBox=\"0 0 {w} {h}\">"
    );
    for v in ticks(0.0, most as f64, 4) {
        if v.fract() != 0.0 {
            continue;
        }
        let yy = num(y.map(v), 1);
        let _ = write!(
            s,
            "<line x1=\"{l}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"#eaeef2\"/>\
<text x=\"{}\" y=\"{yy}\" dy=\"4\" text-anchor=\"end\">{}</text>",
            w - r,
            l - 6.0,
            num(v, 0)
        );
    }
    for (i, bin) in bins.iter().enumerate() {
        let (x0, x1) = (x.map(i as f64), x.map(i as f64 + 1.0));
        let y0 = y.map(bin.count as f64);
        let colour = if bin.hi <= 0.0 {
            LOSS_COLOUR
        } else {
            WIN_COLOUR
        };
        let _ = write!(
            s,
            "<rect class=\"bin\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\">\
<title>{} to {}: {} trades</title></rect>",
            num(x0 + 1.0, 1),
            num(y0, 1),
            num((x1 - x0 - 2.0).max(1.0), 1),
            num(y.map(0.0) - y0, 1),
            escape(&inr(bin.lo)),
            escape(&inr(bin.hi)),
            bin.count
        );
    }
    // Edge labels: the ends and zero.
    let first = bins[0].lo;
    let last = bins[bins.len() - 1].hi;
    let width = bins[0].hi - bins[0].lo;
    let mut labels = vec![(0.0, first, "start"), (bins.len() as f64, last, "end")];
    if first < 0.0 && last > 0.0 && width > 0.0 {
        labels.push(((0.0 - first) / width, 0.0, "middle"));
    }
    for (at, v, anchor) in labels {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            num(x.map(at), 1),
            num(h - b + 16.0, 1),
            escape(&rupees(v, 0))
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">net P&amp;L per trade</text></svg>",
        (l + w - r) / 2.0,
        h - 6.0
    );
    s
}

fn local(t: chrono::DateTime<chrono::Utc>, offset: i64) -> String {
    chrono::DateTime::from_timestamp(t.timestamp() + offset, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn trade_row(s: &mut String, n: usize, t: &PositionLine, offset: i64) {
    let cls = |v: f64| if v < 0.0 { "neg" } else { "pos" };
    let _ = write!(
        s,
        "<tr><td>{n}</td><td class=\"k\">{}</td><td class=\"k\">{}</td><td>{}</td><td>{}</td>\
<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"k\">{}</td>\
<td class=\"{}\">{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
        escape(&t.strategy),
        escape(&t.option_symbol),
        t.lots,
        t.quantity,
        local(t.entry_time, offset),
        num(t.entry_premium, 2),
        t.exit_time.map(|e| local(e, offset)).unwrap_or_default(),
        num(t.exit_premium, 2),
        escape(&t.exit_reason),
        cls(t.gross_pnl),
        escape(&inr(t.gross_pnl)),
        escape(&inr(t.charges.total)),
        cls(t.net_pnl),
        escape(&inr(t.net_pnl)),
    );
}

/// The closed trades, all of them up to [`TRADES_ALL`], else the first and last
/// [`TRADES_EDGE`] around a row naming how many are left out.
pub fn trade_table(trades: &[PositionLine], offset: i64) -> String {
    if trades.is_empty() {
        return "<p class=\"note\" id=\"trades\">no trades</p>\n".into();
    }
    let mut s = String::from(
        "<table id=\"trades\"><tr><th>#</th><th class=\"k\">Strategy</th><th class=\"k\">Option</th>\
<th>Lots</th><th>Qty</th><th>Entry</th><th>Entry premium</th><th>Exit</th><th>Exit premium</th>\
<th class=\"k\">Exit reason</th><th>Gross</th><th>Charges</th><th>Net</th></tr>",
    );
    let n = trades.len();
    if n <= TRADES_ALL {
        for (i, t) in trades.iter().enumerate() {
            trade_row(&mut s, i + 1, t, offset);
        }
    } else {
        for (i, t) in trades[..TRADES_EDGE].iter().enumerate() {
            trade_row(&mut s, i + 1, t, offset);
        }
        let _ = write!(
            s,
            "<tr><td colspan=\"13\" class=\"note\">… {} trades not shown (#{} to #{}); every trade is in positions.jsonl</td></tr>",
            n - 2 * TRADES_EDGE,
            TRADES_EDGE + 1,
            n - TRADES_EDGE
        );
        for (i, t) in trades[n - TRADES_EDGE..].iter().enumerate() {
            trade_row(&mut s, n - TRADES_EDGE + i + 1, t, offset);
        }
    }
    s.push_str("</table>\n");
    s
}

/// The config's scalar settings under `path` as `path = value` rows (nulls left out, lists
/// as compact JSON), in the config's order.
pub fn flatten(path: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Null => {}
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{path}.{k}"), x, out);
            }
        }
        serde_json::Value::String(s) => out.push((path.into(), s.clone())),
        x => out.push((path.into(), x.to_string())),
    }
}

/// The strategy and trading settings of `cfg` shown on the page: every scalar under
/// `strategies`, `options_trading`, `rules`, `paper` and `report` (the charges schedule and
/// the feed, store and broker settings are not about the strategy and are left out).
pub fn settings(cfg: &actors::config::Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(cfg) {
        for section in ["strategies", "options_trading", "rules", "paper", "report"] {
            if let Some(x) = v.get(section) {
                flatten(section, x, &mut out);
            }
        }
    }
    out
}

/// The facts of a replay for the page's "Run" table.
pub struct Run<'a> {
    pub inputs: &'a [crate::replay::ReplayInput],
    pub timeframe: messages::Timeframe,
    /// The trading days, ascending.
    pub days: &'a [chrono::NaiveDate],
    pub bars: u64,
    pub capital: f64,
    pub risk_free_pct: f64,
    /// The enabled strategy instances.
    pub strategies: &'a [String],
}

/// The "Run" table's rows; the first four make the page's subtitle.
pub fn run_rows(r: &Run<'_>) -> Vec<(String, String)> {
    let period = match (r.days.first(), r.days.last()) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "no trading days".into(),
    };
    let symbols: Vec<&str> = r.inputs.iter().map(|i| i.symbol.as_str()).collect();
    let files: Vec<String> = r
        .inputs
        .iter()
        .map(|i| format!("{}={}", i.symbol, i.path.display()))
        .collect();
    vec![
        ("Symbols".into(), symbols.join(", ")),
        ("Period".into(), period),
        ("Timeframe".into(), r.timeframe.to_string()),
        ("Capital".into(), inr(r.capital)),
        ("Strategies".into(), r.strategies.join(", ")),
        ("Trading days".into(), r.days.len().to_string()),
        ("Bars".into(), r.bars.to_string()),
        (
            "Risk-free rate".into(),
            format!("{}% a year", num(r.risk_free_pct, 2)),
        ),
        ("Data".into(), files.join(", ")),
        ("Mode".into(), "paper (net of charges)".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::stats::tearsheet::{daily_equity, tearsheet, Inputs, Trade};
    use chrono::NaiveDate;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 7, d).unwrap()
    }

    /// No `NaN`, no infinity, and every number in every attribute parses finite.
    fn assert_finite(svg: &str) {
        let lower = svg.to_lowercase();
        assert!(!lower.contains("nan") && !lower.contains("inf"), "{svg}");
        for attr in svg.split('"').skip(1).step_by(2) {
            for part in attr.split([' ', ',', 'M', 'L', 'Z']) {
                if let Ok(v) = part.parse::<f64>() {
                    assert!(v.is_finite(), "{part} in {svg}");
                }
            }
        }
    }

    fn line(net: f64, strategy: &str) -> PositionLine {
        let t = chrono::DateTime::from_timestamp(1_720_000_000, 0).unwrap();
        PositionLine {
            position_id: uuid::Uuid::nil(),
            signal_id: uuid::Uuid::nil(),
            strategy: strategy.into(),
            symbol: "NIFTY".into(),
            option_symbol: "NIFTY24JUL24000CE".into(),
            strike: 24_000.0,
            option_type: messages::OptionType::CE,
            expiry: day(11),
            lots: 1,
            quantity: 65,
            entry_time: t,
            entry_premium: 100.0,
            exit_time: Some(t + chrono::Duration::hours(1)),
            exit_premium: 110.0,
            exit_reason: "TARGET_REACHED".into(),
            realized_pnl: net + 20.0,
            gross_pnl: net + 20.0,
            charges: crate::report::ChargesLine {
                total: 20.0,
                ..Default::default()
            },
            net_pnl: net,
        }
    }

    fn flat(days: &[NaiveDate]) -> Vec<DailyPoint> {
        daily_equity(&Inputs {
            trades: &[],
            days,
            capital: 100_000.0,
            offset: 19_800,
            risk_free_pct: 0.0,
        })
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("₹ NIFTY"), "₹ NIFTY");
        let rows = [("a<b".to_string(), "\"v\"&".to_string())];
        let t = kv_table("x\"y", &rows);
        assert!(t.contains("a&lt;b") && t.contains("&quot;v&quot;&amp;") && t.contains("x&quot;y"));
        let mut l = line(5.0, "<i>evil</i>");
        l.exit_reason = "a&b".into();
        let t = trade_table(&[l], 19_800);
        assert!(t.contains("&lt;i&gt;evil&lt;/i&gt;") && t.contains("a&amp;b"));
        assert!(!t.contains("<i>"));
    }

    #[test]
    fn numbers_and_rupees() {
        assert_eq!(num(f64::NAN, 2), "0.00");
        assert_eq!(num(f64::INFINITY, 1), "0.0");
        assert_eq!(num(-0.0001, 2), "0.00");
        assert_eq!(num(-1.25, 1), "-1.2");
        assert_eq!(inr(0.0), "₹0.00");
        assert_eq!(inr(123.0), "₹123.00");
        assert_eq!(inr(1_000.0), "₹1,000.00");
        assert_eq!(inr(100_000.0), "₹1,00,000.00");
        assert_eq!(inr(1_234_567.891), "₹12,34,567.89");
        assert_eq!(inr(-10_188.94), "-₹10,188.94");
        assert_eq!(rupees(1_000_000.0, 0), "₹10,00,000");
        assert_eq!(rupees(-999.6, 0), "-₹1,000");
        assert_eq!(inr(f64::NAN), "₹0.00");
    }

    #[test]
    fn scales_map_their_domain_and_survive_degenerate_ones() {
        let s = Linear::new(100.0, 200.0, 300.0, 10.0);
        assert_eq!(
            (s.map(100.0), s.map(200.0), s.map(150.0)),
            (300.0, 10.0, 155.0)
        );
        // One value (flat equity): widened around it, the value in the middle.
        let s = Linear::new(5e5, 5e5, 0.0, 100.0);
        assert!(s.d1 > s.d0);
        assert_eq!(s.map(5e5), 50.0);
        // Reversed, non-finite bounds and inputs.
        assert_eq!(Linear::new(2.0, 1.0, 0.0, 10.0).map(2.0), 10.0);
        for s in [
            Linear::new(f64::NAN, f64::NAN, 0.0, 10.0),
            Linear::new(f64::NEG_INFINITY, 3.0, 0.0, 10.0),
            Linear::new(0.0, f64::INFINITY, 0.0, 10.0),
        ] {
            assert!(s.map(1.0).is_finite() && s.map(f64::NAN) == 5.0, "{s:?}");
        }
        assert_eq!(ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 1.0, 4), [0.0, 0.25, 0.5, 0.75, 1.0]);
        let t = ticks(5e5, 5e5, 5);
        assert!(!t.is_empty() && t.iter().all(|v| v.is_finite()));
        assert_eq!(ticks(-25_000.0, 30_000.0, 4)[0], -20_000.0);
    }

    #[test]
    fn histogram_bins_split_losses_from_wins() {
        assert!(histogram(&[]).is_empty());
        assert!(histogram(&[f64::NAN]).is_empty());
        // One value (or all equal): one bar holding it.
        let b = histogram(&[42.0, 42.0]);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].count, 2);
        assert!(b[0].lo <= 42.0 && 42.0 < b[0].hi);
        // Losses and wins: zero is an edge, every bin one-signed, every trade counted once.
        let v = [
            -10_000.0, -9_000.0, -8_500.0, -100.0, 50.0, 19_000.0, 20_000.0, 21_000.0, 23_000.0,
        ];
        let b = histogram(&v);
        assert!(
            b.iter().any(|x| x.hi.abs() < 1e-9 || x.lo.abs() < 1e-9),
            "{b:?}"
        );
        assert!(b.iter().all(|x| x.hi <= 1e-9 || x.lo >= -1e-9), "{b:?}");
        assert_eq!(b.iter().map(|x| x.count).sum::<usize>(), v.len());
        assert!(b[0].lo <= -10_000.0 && b[b.len() - 1].hi >= 23_000.0);
        // 9 trades: 3 bins of ₹11,000 from the lowest, shifted to start at −₹11,000.
        let counts: Vec<usize> = b.iter().map(|x| x.count).collect();
        assert_eq!(counts, [4, 1, 3, 1], "{b:?}");
        assert_eq!(b[0].lo, -11_000.0);
        // The top bin includes the maximum on its upper edge.
        let b = histogram(&[0.0, 10.0]);
        assert_eq!(b.iter().map(|x| x.count).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(b[1].hi, 10.0);
        // Many trades: the bin count stays bounded.
        let many: Vec<f64> = (0..10_000)
            .map(|i| (i % 977) as f64 * 37.5 - 15_000.0)
            .collect();
        let b = histogram(&many);
        assert!(b.len() <= MAX_BINS + 1);
        assert_eq!(b.iter().map(|x| x.count).sum::<usize>(), 10_000);
        let svg = histogram_svg(&b);
        assert_eq!(svg.matches("<rect class=\"bin\"").count(), b.len());
        assert!(svg.contains(LOSS_COLOUR) && svg.contains(WIN_COLOUR));
        assert_finite(&svg);
        assert_finite(&histogram_svg(&histogram(&[42.0])));
        assert!(histogram_svg(&[]).contains("no trades"));
    }

    #[test]
    fn heat_colours_deepen_with_the_size_of_the_month() {
        assert_eq!(heat_colour(0.0, 5.0), "#ffffff");
        assert_eq!(heat_colour(f64::NAN, 5.0), "#ffffff");
        assert_eq!(heat_colour(5.0, 5.0), "#2da44e");
        assert_eq!(heat_colour(-5.0, 5.0), "#cf222e");
        assert_eq!(heat_colour(-50.0, 5.0), "#cf222e", "clamped");
        let pale = heat_colour(0.5, 5.0);
        assert!(
            pale.as_str() > "#2da44e" && pale.as_str() < "#ffffff",
            "{pale}"
        );
        assert_eq!(
            heat_colour(1.0, 0.0),
            "#e0f1e4",
            "the palest green: 15 % of the way"
        );
        let mut m = BTreeMap::new();
        m.entry(2024)
            .or_insert_with(BTreeMap::new)
            .insert(7u32, 10.0);
        m.entry(2024)
            .or_insert_with(BTreeMap::new)
            .insert(8u32, -10.0);
        let h = heatmap(&m);
        assert_eq!(h.matches("class=\"cell\"").count(), 2);
        assert!(h.contains("background:#2da44e"));
        assert!(h.contains("background:#cf222e"));
        // The year compounds: 1.1 × 0.9 − 1 = −1 %.
        assert!(h.contains("<b>-1.00</b>"), "{h}");
        assert!(heatmap(&BTreeMap::new()).contains("no months"));
    }

    #[test]
    fn charts_of_no_day_one_day_and_flat_equity_are_finite() {
        let e = equity_svg(&[], 1e5);
        assert!(e.contains("no trading days") && e.contains("id=\"equity-chart\""));
        assert!(drawdown_svg(&[]).contains("id=\"drawdown-chart\""));
        for days in [vec![day(1)], (1..=5).map(day).collect::<Vec<_>>()] {
            let d = flat(&days);
            let (e, dd) = (equity_svg(&d, 100_000.0), drawdown_svg(&d));
            assert_finite(&e);
            assert_finite(&dd);
            assert!(e.contains("<polyline class=\"equity\""));
            assert!(dd.contains("<path class=\"drawdown\""));
            let pts = e
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert_eq!(pts.split(' ').count(), days.len());
        }
        // A falling then recovering curve: the lowest point lowest on the chart, the
        // deepest drawdown deepest.
        let trades = [
            Trade {
                entry: 1_719_817_200,
                exit: 1_719_820_800,
                gross_paise: -500_000,
                charges_paise: 0,
            },
            Trade {
                entry: 1_720_076_400,
                exit: 1_720_080_000,
                gross_paise: 900_000,
                charges_paise: 0,
            },
        ];
        let days: Vec<NaiveDate> = (1..=5).map(day).collect();
        let d = daily_equity(&Inputs {
            trades: &trades,
            days: &days,
            capital: 100_000.0,
            offset: 19_800,
            risk_free_pct: 0.0,
        });
        let e = equity_svg(&d, 100_000.0);
        let ys: Vec<f64> = e
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(ys.len(), 5);
        let lowest = ys.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(ys[0], lowest, "95,000 on day 1 is the lowest point: {ys:?}");
        assert!(ys[4] < ys[0]);
        assert!(ys[4] >= TOP - 1e-9 && ys[0] <= 340.0 - BOTTOM + 1e-9);
    }

    #[test]
    fn the_trade_list_is_capped_with_a_note() {
        assert!(trade_table(&[], 0).contains("no trades"));
        let few: Vec<PositionLine> = (0..3).map(|i| line(i as f64 - 1.0, "s")).collect();
        let t = trade_table(&few, 19_800);
        assert_eq!(t.matches("<tr>").count(), 4);
        assert!(t.contains("2024-07-03 15:16"), "entry in IST: {t}");
        let many: Vec<PositionLine> = (0..10_000).map(|i| line(i as f64, "s")).collect();
        let t = trade_table(&many, 0);
        assert_eq!(t.matches("<tr>").count(), 1 + 2 * TRADES_EDGE + 1);
        assert!(t.contains("9000 trades not shown (#501 to #9500)"));
        assert!(t.contains("<td>500</td>") && t.contains("<td>9501</td>"));
        assert!(!t.contains("<td>501</td>"));
        assert!(t.contains("<td>10000</td>"));
        // The whole page of 10,000 trades over ten years of days stays small.
        let days: Vec<NaiveDate> = (0..2_500)
            .map(|i| day(1) + chrono::Duration::days(i))
            .collect();
        let d = flat(&days);
        let html = render(&Page {
            title: "big",
            run: &[],
            settings: &[],
            sheets: &[],
            daily: &d,
            capital: 100_000.0,
            trades: &many,
            offset: 0,
        });
        assert!(html.len() < 600_000, "{} bytes", html.len());
    }

    #[test]
    fn a_page_without_trades_has_every_part_and_no_nan() {
        let days = [day(1)];
        let d = flat(&days);
        let sheet = tearsheet(&Inputs {
            trades: &[],
            days: &days,
            capital: 100_000.0,
            offset: 19_800,
            risk_free_pct: 0.0,
        });
        let run = [("Symbols".to_string(), "NIFTY".to_string())];
        let html = render(&Page {
            title: "NIFTY <test>",
            run: &run,
            settings: &[],
            sheets: &[("all trades".into(), sheet)],
            daily: &d,
            capital: 100_000.0,
            trades: &[],
            offset: 19_800,
        });
        for id in [
            "params",
            "stats",
            "equity-chart",
            "drawdown-chart",
            "monthly",
            "pnl-histogram",
            "trades",
            "settings",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("<title>NIFTY &lt;test&gt;</title>"));
        assert!(html.contains("<td>—</td>"), "undefined ratios show a dash");
        assert_finite(&html);
        // Self-contained: nothing is fetched.
        for bad in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(bad), "{bad}");
        }
    }

    #[test]
    fn settings_flatten_scalars_and_skip_nulls() {
        let v = serde_json::json!({"a": {"b": 1, "c": null, "d": [1, 2], "e": "x"}, "f": true});
        let mut out = Vec::new();
        flatten("cfg", &v, &mut out);
        let want: Vec<(String, String)> = [
            ("cfg.a.b", "1"),
            ("cfg.a.d", "[1,2]"),
            ("cfg.a.e", "x"),
            ("cfg.f", "true"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(out, want);
        let cfg = actors::config::Config::default_config().unwrap();
        let s = settings(&cfg);
        assert!(s
            .iter()
            .any(|(k, _)| k == "strategies.ma_crossover.parameters.fast_period"));
        assert!(!s
            .iter()
            .any(|(k, _)| k.starts_with("storage") || k.starts_with("kite")));
    }
}
