//! `report.html`: the paper replay's tearsheet as one self-contained page — the run's
//! parameters, the statistics, equity and drawdown charts, the monthly returns heatmap, the
//! distribution of the trades' net P&L and the trade list. Inline CSS and SVG only: no script,
//! no font, no image or style sheet from anywhere, so it opens offline and can be mailed.
//!
//! Plain string building with every text from the run (names, reasons, config values) escaped:
//! the page and its formatting here, the SVG charts in [`charts`], the tables in [`tables`].
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

mod charts;
mod tables;

pub use charts::{drawdown_svg, equity_svg, histogram, histogram_svg, ticks, Bin, Linear};
pub use tables::{heat_colour, heatmap, kv_table, stats_table, trade_table};

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
    use actors::stats::tearsheet::{daily_equity, tearsheet, Inputs};
    use chrono::NaiveDate;

    pub(super) fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 7, d).unwrap()
    }

    /// No `NaN`, no infinity, and every number in every attribute parses finite.
    pub(super) fn assert_finite(svg: &str) {
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

    pub(super) fn line(net: f64, strategy: &str) -> PositionLine {
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

    pub(super) fn flat(days: &[NaiveDate]) -> Vec<DailyPoint> {
        daily_equity(&Inputs {
            trades: &[],
            days,
            capital: 100_000.0,
            offset: 19_800,
            risk_free_pct: 0.0,
        })
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
