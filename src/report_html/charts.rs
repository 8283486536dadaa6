//! The page's SVG charts: end-of-day equity, drawdown and the histogram of trades' net P&L,
//! with the scale, tick and binning arithmetic they share. Every coordinate goes through
//! [`num`], so no `NaN` or `inf` reaches the SVG (no day, one day, flat equity).

use std::fmt::Write as _;

use actors::stats::tearsheet::DailyPoint;

use super::{
    escape, inr, num, rupees, DRAWDOWN_FILL, DRAWDOWN_LINE, EQUITY_COLOUR, LOSS_COLOUR, MAX_BINS,
    WIN_COLOUR,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_html::tests::{assert_finite, day, flat};
    use actors::stats::tearsheet::{daily_equity, Inputs, Trade};
    use chrono::NaiveDate;

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
}
