//! The replay report of paper trading: `positions.jsonl`, trade statistics, and the equity
//! curve as CSV and as an SVG chart.
//!
//! - **PositionRecorder** (actor) collects every [`PositionClosed`] (subscribed at
//!   PositionManager); handles [`TakePositions`]; sends nothing.
//! - [`PaperReports`] writes every file of a paper replay's report (this module's and
//!   report.html) from data it owns, so the replay runs it on a thread of its own.
//! - [`Report`] is computed from the closed positions ordered by exit time (then id), so the
//!   files are the same on every run. Money is summed in paise. Results are **net** of the
//!   charges of each position's fills (a win is a trade with a positive net P&L; the equity
//!   curve and drawdown are on net P&L); the gross and the charges are reported beside them.

use std::fmt::Write as _;
use std::path::Path;

use actix::{Actor, Context, Handler, Message};
use messages::msg::PositionClosed;
use messages::PositionRecord;
use serde::Serialize;

/// Hands over the positions collected so far.
#[derive(Message)]
#[rtype(result = "Vec<PositionRecord>")]
pub struct TakePositions;

/// Collects closed positions.
#[derive(Default)]
pub struct PositionRecorder {
    closed: Vec<PositionRecord>,
}

impl Actor for PositionRecorder {
    type Context = Context<Self>;
}

impl Handler<PositionClosed> for PositionRecorder {
    type Result = ();

    fn handle(&mut self, msg: PositionClosed, _ctx: &mut Context<Self>) {
        self.closed.push((*msg.0).clone());
    }
}

impl Handler<TakePositions> for PositionRecorder {
    type Result = Vec<PositionRecord>;

    fn handle(&mut self, _: TakePositions, _ctx: &mut Context<Self>) -> Vec<PositionRecord> {
        std::mem::take(&mut self.closed)
    }
}

/// One line of `positions.jsonl` (field names are the file's contract).
#[derive(Debug, Clone, Serialize)]
pub struct PositionLine {
    pub position_id: uuid::Uuid,
    pub signal_id: uuid::Uuid,
    /// The strategy instance that opened it.
    pub strategy: String,
    pub symbol: String,
    pub option_symbol: String,
    pub strike: f64,
    pub option_type: messages::OptionType,
    pub expiry: chrono::NaiveDate,
    pub lots: u32,
    pub quantity: u32,
    pub entry_time: chrono::DateTime<chrono::Utc>,
    pub entry_premium: f64,
    pub exit_time: Option<chrono::DateTime<chrono::Utc>>,
    pub exit_premium: f64,
    pub exit_reason: String,
    /// Gross realized P&L, rupees (as stored; the same as `gross_pnl`).
    pub realized_pnl: f64,
    /// Σ (sell − buy) × quantity over its fills, rupees.
    pub gross_pnl: f64,
    /// The charges of its fills, itemised, rupees.
    pub charges: ChargesLine,
    /// `gross_pnl − charges.total`, rupees (exact in paise).
    pub net_pnl: f64,
}

/// Charges in rupees, as a contract note itemises them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ChargesLine {
    pub brokerage: f64,
    pub stt: f64,
    pub exchange_txn: f64,
    pub sebi: f64,
    pub stamp_duty: f64,
    pub gst: f64,
    pub total: f64,
}

impl From<messages::Charges> for ChargesLine {
    fn from(c: messages::Charges) -> Self {
        let r = |p: i64| p as f64 / 100.0;
        ChargesLine {
            brokerage: r(c.brokerage),
            stt: r(c.stt),
            exchange_txn: r(c.exchange_txn),
            sebi: r(c.sebi),
            stamp_duty: r(c.stamp_duty),
            gst: r(c.gst),
            total: r(c.total),
        }
    }
}

/// Trade statistics, on net P&L (after charges).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub trades: u64,
    /// Trades with a positive net P&L.
    pub wins: u64,
    pub win_rate_pct: f64,
    /// Net P&L of all trades, rupees (= `net_pnl`).
    pub total_pnl: f64,
    /// Gross P&L (before charges), rupees.
    pub gross_pnl: f64,
    /// All trades' charges, itemised, rupees.
    pub charges: ChargesLine,
    /// `gross_pnl − charges.total`, rupees (exact in paise).
    pub net_pnl: f64,
    /// On the net equity curve.
    pub max_drawdown: f64,
    pub max_drawdown_pct_of_capital: f64,
    /// Per strategy instance: (trades, wins, net P&L, gross P&L, charges), exact in paise.
    pub by_strategy: std::collections::BTreeMap<String, StrategyResult>,
    /// (exit time, cumulative net P&L) after each trade.
    #[serde(skip)]
    pub equity: Vec<(i64, f64)>,
}

/// One strategy instance's closed trades.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StrategyResult {
    pub trades: u64,
    /// Net winners.
    pub wins: u64,
    /// Net P&L, rupees.
    pub total_pnl: f64,
    /// Gross P&L, rupees.
    pub gross_pnl: f64,
    /// Charges, rupees.
    pub charges: f64,
}

fn paise(r: f64) -> i64 {
    (r * 100.0).round() as i64
}

/// Sorts the closed positions and computes the statistics.
pub fn build(mut closed: Vec<PositionRecord>, capital: f64) -> (Vec<PositionLine>, Report) {
    closed.sort_by_key(|r| (r.exit_time, r.position_id));
    let mut equity = Vec::with_capacity(closed.len());
    let (mut cum, mut peak, mut dd, mut wins) = (0i64, 0i64, 0i64, 0u64);
    let (mut gross, mut charges) = (0i64, messages::Charges::default());
    let mut per: std::collections::BTreeMap<String, (u64, u64, i64, i64)> = Default::default();
    for r in &closed {
        let p = r.net_paise();
        let e = per.entry(r.strategy.clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(p > 0);
        e.2 += p;
        e.3 += r.charges.total;
        gross += paise(r.realized_pnl);
        charges += r.charges;
        cum += p;
        peak = peak.max(cum);
        dd = dd.max(peak - cum);
        if p > 0 {
            wins += 1;
        }
        equity.push((
            r.exit_time.map(|t| t.timestamp()).unwrap_or(0),
            cum as f64 / 100.0,
        ));
    }
    let trades = closed.len() as u64;
    let report = Report {
        trades,
        wins,
        win_rate_pct: if trades > 0 {
            (wins as f64 / trades as f64 * 10_000.0).round() / 100.0
        } else {
            0.0
        },
        total_pnl: cum as f64 / 100.0,
        gross_pnl: gross as f64 / 100.0,
        charges: charges.into(),
        net_pnl: cum as f64 / 100.0,
        max_drawdown: dd as f64 / 100.0,
        max_drawdown_pct_of_capital: (dd as f64 / 100.0 / capital * 10_000.0).round() / 100.0,
        by_strategy: per
            .into_iter()
            .map(|(k, (trades, wins, p, c))| {
                (
                    k,
                    StrategyResult {
                        trades,
                        wins,
                        total_pnl: p as f64 / 100.0,
                        gross_pnl: (p + c) as f64 / 100.0,
                        charges: c as f64 / 100.0,
                    },
                )
            })
            .collect(),
        equity,
    };
    let lines = closed
        .into_iter()
        .map(|r| PositionLine {
            gross_pnl: r.realized_pnl,
            charges: r.charges.into(),
            net_pnl: r.net_paise() as f64 / 100.0,
            position_id: r.position_id,
            signal_id: r.signal_id,
            strategy: r.strategy,
            symbol: r.symbol,
            option_symbol: r.option_symbol,
            strike: r.strike,
            option_type: r.option_type,
            expiry: r.expiry,
            lots: r.lots,
            quantity: r.quantity,
            entry_time: r.entry_time,
            entry_premium: r.entry_premium,
            exit_time: r.exit_time,
            exit_premium: r.exit_premium,
            exit_reason: r.exit_reason,
            realized_pnl: r.realized_pnl,
        })
        .collect();
    (lines, report)
}

/// Writes `positions.jsonl`, `equity.csv` and `equity.svg` into `dir`.
pub fn write(
    dir: &Path,
    lines: &[PositionLine],
    report: &Report,
    capital: f64,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut jsonl = String::new();
    for l in lines {
        jsonl.push_str(&serde_json::to_string(l).map_err(std::io::Error::other)?);
        jsonl.push('\n');
    }
    std::fs::write(dir.join("positions.jsonl"), jsonl)?;
    let mut csv = String::from("exit_time,trade,cumulative_pnl,equity\n");
    for (i, (t, v)) in report.equity.iter().enumerate() {
        let when = chrono::DateTime::from_timestamp(*t, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default();
        let _ = writeln!(csv, "{when},{},{v:.2},{:.2}", i + 1, capital + v);
    }
    std::fs::write(dir.join("equity.csv"), csv)?;
    std::fs::write(dir.join("equity.svg"), svg(report, capital))
}

/// The equity curve as a self-contained SVG line chart with axes and labels.
pub fn svg(report: &Report, capital: f64) -> String {
    let (w, h, l, r, t, b) = (900.0, 420.0, 90.0, 20.0, 40.0, 50.0);
    let pts: Vec<(f64, f64)> = std::iter::once(0.0)
        .chain(report.equity.iter().map(|e| e.1))
        .enumerate()
        .map(|(i, v)| (i as f64, capital + v))
        .collect();
    let n = (pts.len().max(2) - 1) as f64;
    let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if hi - lo < 1.0 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let x = |i: f64| l + (w - l - r) * i / n;
    let y = |v: f64| t + (h - t - b) * (1.0 - (v - lo) / (hi - lo));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{l}" y="24" font-size="15">Equity curve (net of charges) — {} trades, win rate {}%, net P&amp;L ₹{:.2}, max drawdown ₹{:.2}</text>
"##,
        report.trades, report.win_rate_pct, report.net_pnl, report.max_drawdown
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{y0:.1}" y2="{y0:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">₹{v:.0}</text>"##,
            w - r,
            l - 6.0,
            y(v) + 4.0,
            y0 = y(v)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{l}" x2="{l}" y1="{t}" y2="{}" stroke="#333"/><line x1="{l}" x2="{}" y1="{}" y2="{}" stroke="#333"/><text x="{}" y="{}" text-anchor="middle">trade #</text>"##,
        h - b,
        w - r,
        h - b,
        h - b,
        (l + w - r) / 2.0,
        h - 12.0
    );
    let _ = writeln!(
        s,
        r##"<line x1="{l}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
        w - r,
        y(capital),
        y(capital)
    );
    let path: Vec<String> = pts
        .iter()
        .map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{}"/>"##,
        path.join(" ")
    );
    s.push_str("</svg>\n");
    s
}

impl Report {
    /// The human summary lines.
    pub fn render(&self) -> String {
        let mut s = format!(
            "  paper trades {} closed in this replay (net wins {}, win rate {}%)\n  gross P&L    ₹{:.2}\n  charges      ₹{:.2} (brokerage ₹{:.2}, STT ₹{:.2}, exchange ₹{:.2}, SEBI ₹{:.2}, stamp ₹{:.2}, GST ₹{:.2})\n  net P&L      ₹{:.2}\n  max drawdown ₹{:.2} ({}% of capital, net)\n",
            self.trades, self.wins, self.win_rate_pct, self.gross_pnl, self.charges.total,
            self.charges.brokerage, self.charges.stt, self.charges.exchange_txn, self.charges.sebi,
            self.charges.stamp_duty, self.charges.gst, self.net_pnl, self.max_drawdown,
            self.max_drawdown_pct_of_capital
        );
        if self.by_strategy.len() > 1 {
            for (name, r) in &self.by_strategy {
                s.push_str(&format!(
                    "               {name}: {} trades, {} wins, net ₹{:.2} (gross ₹{:.2}, charges ₹{:.2})\n",
                    r.trades, r.wins, r.total_pnl, r.gross_pnl, r.charges
                ));
            }
        }
        s
    }
}

/// What `report.json` holds, for `report.html`: the statistics of the whole run first, then
/// (where there is more than one) of each strategy instance and each underlying, and the
/// daily equity series of the whole run.
#[derive(Debug, Clone)]
pub struct Tearsheets {
    pub sheets: Vec<(String, actors::stats::tearsheet::Tearsheet)>,
    pub daily: Vec<actors::stats::tearsheet::DailyPoint>,
}

/// `report.json` and `equity_daily.csv` of a paper replay: the tearsheet over `days` (the
/// replay's trading days), overall and — where there is more than one — per strategy instance
/// and per underlying, each over the whole capital.
pub fn write_tearsheet(
    dir: &Path,
    closed: &[PositionRecord],
    days: &[chrono::NaiveDate],
    capital: f64,
    offset: i64,
    risk_free_pct: f64,
) -> std::io::Result<Tearsheets> {
    use actors::stats::tearsheet::{daily_equity, tearsheet, Inputs, Trade};
    let mut sorted: Vec<&PositionRecord> = closed.iter().collect();
    sorted.sort_by_key(|r| (r.exit_time, r.position_id));
    let trade = |r: &PositionRecord| Trade {
        entry: r.entry_time.timestamp(),
        exit: r.exit_time.map_or(0, |t| t.timestamp()),
        gross_paise: actors::options::sizing::paise(r.realized_pnl),
        charges_paise: r.charges.total,
    };
    let sheet = |keep: &dyn Fn(&PositionRecord) -> bool| {
        let trades: Vec<Trade> = sorted
            .iter()
            .filter(|r| keep(r))
            .map(|r| trade(r))
            .collect();
        let i = Inputs {
            trades: &trades,
            days,
            capital,
            offset,
            risk_free_pct,
        };
        (tearsheet(&i), daily_equity(&i))
    };
    let (overall, equity) = sheet(&|_| true);
    let mut v = serde_json::to_value(&overall).map_err(std::io::Error::other)?;
    let mut sheets = vec![("all trades".to_string(), overall)];
    for (field, key) in [
        (
            "by_strategy",
            (|r: &PositionRecord| r.strategy.clone()) as fn(&PositionRecord) -> String,
        ),
        ("by_underlying", |r: &PositionRecord| r.symbol.clone()),
    ] {
        let names: std::collections::BTreeSet<String> = sorted.iter().map(|r| key(r)).collect();
        if names.len() > 1 {
            let mut m = serde_json::Map::new();
            for n in names {
                let (s, _) = sheet(&|r| key(r) == n);
                m.insert(
                    n.clone(),
                    serde_json::to_value(&s).map_err(std::io::Error::other)?,
                );
                let kind = if field == "by_strategy" {
                    "strategy"
                } else {
                    "underlying"
                };
                sheets.push((format!("{kind} {n}"), s));
            }
            v[field] = serde_json::Value::Object(m);
        }
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&v).map_err(std::io::Error::other)? + "\n",
    )?;
    let mut csv = String::from("date,equity,drawdown_pct\n");
    for p in &equity {
        let _ = writeln!(csv, "{},{:.2},{:.4}", p.date, p.equity, p.drawdown_pct);
    }
    std::fs::write(dir.join("equity_daily.csv"), csv)?;
    Ok(Tearsheets {
        sheets,
        daily: equity,
    })
}

/// What the paper reports are made of: owned, so they are written on another thread.
pub struct PaperReports {
    pub out: std::path::PathBuf,
    pub closed: Vec<PositionRecord>,
    pub days: Vec<chrono::NaiveDate>,
    pub capital: f64,
    pub day_offset: i64,
    pub risk_free_pct: f64,
    pub inputs: Vec<crate::replay::ReplayInput>,
    pub timeframe: messages::Timeframe,
    pub bars: u64,
    pub strategies: Vec<String>,
    pub settings: Vec<(String, String)>,
}

impl PaperReports {
    /// Writes report.json and equity_daily.csv, positions.jsonl, equity.csv and equity.svg,
    /// then report.html; the report's figures for the summary.
    pub fn write(self) -> Result<Report, crate::error::AppError> {
        let PaperReports {
            out,
            closed,
            days,
            capital,
            day_offset,
            risk_free_pct,
            inputs,
            timeframe,
            bars,
            strategies,
            settings,
        } = self;
        let sheets = write_tearsheet(&out, &closed, &days, capital, day_offset, risk_free_pct)
            .map_err(|source| crate::error::AppError::Io {
                context: format!("cannot write report.json into {}", out.display()),
                source,
            })?;
        let (lines, report) = build(closed, capital);
        write(&out, &lines, &report, capital).map_err(|source| crate::error::AppError::Io {
            context: format!("cannot write the paper report into {}", out.display()),
            source,
        })?;
        let run = crate::report_html::run_rows(&crate::report_html::Run {
            inputs: &inputs,
            timeframe,
            days: &days,
            bars,
            capital,
            risk_free_pct,
            strategies: &strategies,
        });
        let title = format!(
            "{} · {} · paper replay",
            inputs
                .iter()
                .map(|i| i.symbol.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            timeframe
        );
        crate::report_html::write(
            &out,
            &crate::report_html::Page {
                title: &title,
                run: &run,
                settings: &settings,
                sheets: &sheets.sheets,
                daily: &sheets.daily,
                capital,
                trades: &lines,
                offset: day_offset,
            },
        )
        .map_err(|source| crate::error::AppError::Io {
            context: format!("cannot write report.html into {}", out.display()),
            source,
        })?;
        Ok(report)
    }
}
