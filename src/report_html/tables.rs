//! The page's HTML tables: names and values, the statistics (a column per sheet), the monthly
//! returns heatmap and the trade list (capped at [`TRADES_ALL`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use actors::stats::tearsheet::Tearsheet;

use super::{escape, inr, num, TRADES_ALL, TRADES_EDGE};
use crate::report::PositionLine;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_html::tests::{day, flat, line};
    use crate::report_html::{escape, render, Page};
    use chrono::NaiveDate;

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
}
