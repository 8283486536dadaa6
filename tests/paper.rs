//! Paper trading end to end: a replay of the sample opens, monitors and closes option
//! positions; the report, the store and the fills agree to the paisa, gross, charges and net;
//! the daily-loss halt holds on net P&L.

mod common;

use std::collections::BTreeMap;

use messages::Mode;

fn paper_config(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut serde_json::Value),
) -> actors::config::Config {
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("config/paper.json")).unwrap(),
    )
    .unwrap();
    v["storage"]["data_dir"] = dir.join("data").to_string_lossy().into_owned().into();
    tweak(&mut v);
    serde_json::from_value(v).unwrap()
}

fn run(cfg: actors::config::Config, out: &std::path::Path) -> alphastocks::replay::ReplaySummary {
    common::replay_sample(cfg, out, Mode::Paper)
}

fn lines(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn paise(v: &serde_json::Value) -> i64 {
    (v.as_f64().unwrap() * 100.0).round() as i64
}

/// A `charges` object of `positions.jsonl` (rupees) in paise.
fn charges_of(v: &serde_json::Value) -> actors::charges::Breakdown {
    actors::charges::Breakdown {
        brokerage: paise(&v["brokerage"]),
        stt: paise(&v["stt"]),
        exchange_txn: paise(&v["exchange_txn"]),
        sebi: paise(&v["sebi"]),
        stamp_duty: paise(&v["stamp_duty"]),
        gst: paise(&v["gst"]),
        total: paise(&v["total"]),
    }
}

#[test]
fn a_paper_replay_cut_into_small_batches_decides_and_writes_the_same() {
    // The sample is one batch by default. In batches of 16 or 97 bars, each batch's signals
    // are decided while the next one is worked on: positions open up to two batches of prices
    // after their signal and are caught up over them; the risk limits are asked as of each
    // signal's time. Nothing of that may show in the results.
    let whole = tempfile::tempdir().unwrap();
    let s0 = common::replay_sample_in_batches(
        paper_config(whole.path(), |_| {}),
        &whole.path().join("out"),
        Mode::Paper,
        None,
    );
    assert!(s0.executor.opened >= 20, "{:?}", s0.executor);
    for batch in [16, 97] {
        let cut = tempfile::tempdir().unwrap();
        let s = common::replay_sample_in_batches(
            paper_config(cut.path(), |_| {}),
            &cut.path().join("out"),
            Mode::Paper,
            Some(batch),
        );
        assert_eq!(s.executor.opened, s0.executor.opened, "batches of {batch}");
        assert_eq!(
            s.executor.rejected_by_reason, s0.executor.rejected_by_reason,
            "batches of {batch}"
        );
        for f in [
            "signals.jsonl",
            "positions.jsonl",
            "equity.csv",
            "report.json",
        ] {
            assert_eq!(
                std::fs::read(cut.path().join("out").join(f)).unwrap(),
                std::fs::read(whole.path().join("out").join(f)).unwrap(),
                "{f} in batches of {batch}"
            );
        }
        assert_eq!(s.paper, s0.paper, "batches of {batch}");
    }
}

#[test]
fn paper_replay_trades_reconciles_and_is_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let cfg = paper_config(a.path(), |_| {});
    let schedule = cfg.charges.schedule.clone();
    let s1 = run(cfg, &a.path().join("out"));
    let s2 = run(paper_config(b.path(), |_| {}), &b.path().join("out"));
    for f in [
        "positions.jsonl",
        "equity.csv",
        "equity.svg",
        "report.html",
        "signals.jsonl",
    ] {
        let x = std::fs::read(a.path().join("out").join(f)).unwrap();
        assert!(!x.is_empty(), "{f}");
        assert_eq!(
            x,
            std::fs::read(b.path().join("out").join(f)).unwrap(),
            "{f} identical across runs"
        );
    }
    let report = s1.paper.clone().expect("paper report");
    assert_eq!(s1.paper, s2.paper);
    let pos = lines(&a.path().join("out/positions.jsonl"));
    assert!(pos.len() >= 20, "trades happen at ₹5,00,000: {}", pos.len());
    assert_eq!(report.trades, pos.len() as u64);
    assert_eq!(
        s1.executor.opened,
        pos.len() as u64,
        "every opened position closed by the end"
    );

    // Each position: whole lots, premiums on the tick, gross P&L = (exit − entry) × quantity
    // exactly; its charges those of its two fills (the entry bought, the exit sold: one order
    // each) at the rates of each fill's date, recomputed here from the schedule alone; net =
    // gross − charges to the paisa.
    let (mut total, mut gross_total, mut charges_total) = (0i64, 0i64, 0i64);
    let mut wins = 0;
    let mut sold_on = std::collections::BTreeSet::new();
    for p in &pos {
        let (lots, qty) = (p["lots"].as_u64().unwrap(), p["quantity"].as_u64().unwrap());
        assert_eq!(qty, lots * 65);
        for k in ["entry_premium", "exit_premium"] {
            assert_eq!(paise(&p[k]) % 5, 0, "{k} on the ₹0.05 tick: {p}");
        }
        let (bought, sold) = (
            paise(&p["entry_premium"]) * qty as i64,
            paise(&p["exit_premium"]) * qty as i64,
        );
        let gross = sold - bought;
        assert_eq!(gross, paise(&p["realized_pnl"]), "{p}");
        assert_eq!(gross, paise(&p["gross_pnl"]), "{p}");
        let charges = common::fill_charges(&schedule, &p["entry_time"], true, bought)
            + common::fill_charges(&schedule, &p["exit_time"], false, sold);
        assert_eq!(charges_of(&p["charges"]), charges, "{p}");
        assert!(charges.brokerage == 4000 && charges.stt > 0, "{p}");
        sold_on.insert(&p["exit_time"].as_str().unwrap()[..10]);
        let net = paise(&p["net_pnl"]);
        assert_eq!(gross - charges.total, net, "{p}");
        total += net;
        gross_total += gross;
        charges_total += charges.total;
        wins += (net > 0) as u64;
        let reason = p["exit_reason"].as_str().unwrap();
        assert!(
            ["STOP_LOSS_HIT", "TARGET_REACHED", "EXPIRY_APPROACHING"].contains(&reason),
            "{reason}"
        );
        assert_eq!(
            p["option_type"],
            if p["option_symbol"].as_str().unwrap().ends_with("CE") {
                "CE"
            } else {
                "PE"
            }
        );
    }
    // Sales before and after 1 Oct 2024 (STT on the sale 0.0625 %, then 0.1 %; NSE 0.0495 %,
    // then 0.03503 %), each charged at its own date's rates above.
    assert!(
        sold_on.first().is_some_and(|d| *d < "2024-09-30")
            && sold_on.last().is_some_and(|d| *d > "2024-10-01"),
        "{sold_on:?}"
    );
    // The report: net totals (the sum of the lines' net), gross and charges beside.
    assert_eq!(total, (report.net_pnl * 100.0).round() as i64);
    assert_eq!(total, (report.total_pnl * 100.0).round() as i64);
    assert_eq!(gross_total, (report.gross_pnl * 100.0).round() as i64);
    assert_eq!(charges_total, (report.charges.total * 100.0).round() as i64);
    assert_eq!(gross_total - charges_total, total);
    assert!(charges_total > 0);
    assert_eq!(wins, report.wins);
    // The equity curve is the net one: its last point is the net total.
    let csv = std::fs::read_to_string(a.path().join("out/equity.csv")).unwrap();
    let last = csv.lines().last().unwrap().split(',').nth(2).unwrap();
    assert_eq!((last.parse::<f64>().unwrap() * 100.0).round() as i64, total);

    // The store's latest version of each position agrees with the report.
    let db = rusqlite::Connection::open(a.path().join("data/alphastocks.db")).unwrap();
    let mut st = db
        .prepare("SELECT body FROM positions p WHERE version = (SELECT MAX(version) FROM positions q WHERE q.position_id = p.position_id)")
        .unwrap();
    let stored: Vec<serde_json::Value> = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|b| serde_json::from_str(&b.unwrap()).unwrap())
        .collect();
    assert_eq!(stored.len(), pos.len());
    let stored_total: i64 = stored.iter().map(|p| paise(&p["realized_pnl"])).sum();
    assert_eq!(stored_total, gross_total);
    // Stored in paise, itemised; net in rupees.
    let stored_charges: i64 = stored
        .iter()
        .map(|p| p["charges"]["total"].as_i64().unwrap())
        .sum();
    assert_eq!(stored_charges, charges_total);
    let stored_net: i64 = stored.iter().map(|p| paise(&p["net_pnl"])).sum();
    assert_eq!(stored_net, total);
    assert!(stored.iter().all(|p| p["status"] == "CLOSED"));
    let versions: i64 = db
        .query_row("SELECT COUNT(*) FROM positions", [], |r| r.get(0))
        .unwrap();
    assert!(
        versions > stored.len() as i64,
        "every change is a new version"
    );
    let opened: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM executor_decisions WHERE outcome = 'opened'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(opened as usize, pos.len());

    // Never more than max_concurrent_positions (3) open at once.
    let mut events: Vec<(String, i32)> = Vec::new();
    for p in &pos {
        events.push((p["entry_time"].as_str().unwrap().to_string(), 1));
        events.push((p["exit_time"].as_str().unwrap().to_string(), -1));
    }
    events.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    let mut open = 0;
    for (_, d) in events {
        open += d;
        assert!(open <= 3);
    }
}

#[test]
fn daily_loss_halt_stops_new_entries_for_the_day() {
    let dir = tempfile::tempdir().unwrap();
    // 1 % of ₹5,00,000 = ₹5,000: one or two stops end the day.
    let s = run(
        paper_config(dir.path(), |v| {
            v["options_trading"]["risk_management"]["max_daily_loss_pct"] = 1.0.into()
        }),
        &dir.path().join("out"),
    );
    let halts = s
        .executor
        .rejected_by_reason
        .get("daily_loss_halt")
        .copied()
        .unwrap_or(0);
    assert!(halts > 0, "{:?}", s.executor);
    let pos = lines(&dir.path().join("out/positions.jsonl"));
    // Per IST day: once net realized P&L (after charges) reached −₹5,000, no position entered
    // later that day.
    let day = |t: &str| {
        let ts = chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp() + 19_800;
        ts.div_euclid(86_400)
    };
    let mut by_day: BTreeMap<i64, Vec<&serde_json::Value>> = BTreeMap::new();
    for p in &pos {
        by_day
            .entry(day(p["entry_time"].as_str().unwrap()))
            .or_default()
            .push(p);
    }
    // Every halt compared the day's NET realized P&L: the figure each rejection names is the
    // sum of net_pnl (not of the gross) of the positions closed that day by its decision.
    let db = rusqlite::Connection::open(dir.path().join("data/alphastocks.db")).unwrap();
    let mut st = db
        .prepare(
            "SELECT decided_at, detail FROM executor_decisions WHERE reason = 'daily_loss_halt'",
        )
        .unwrap();
    let rejected: Vec<(i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rejected.len() as u64, halts);
    let exit = |q: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(q["exit_time"].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    for (at, detail) in &rejected {
        let closed: Vec<&serde_json::Value> = pos
            .iter()
            .filter(|q| (exit(q) + 19_800).div_euclid(86_400) == (at + 19_800).div_euclid(86_400))
            .filter(|q| exit(q) <= *at)
            .collect();
        let net: i64 = closed.iter().map(|q| paise(&q["net_pnl"])).sum();
        let gross: i64 = closed.iter().map(|q| paise(&q["gross_pnl"])).sum();
        let named = detail
            .split("after charges) ₹")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("{detail}"));
        assert_eq!(
            named,
            format!("{:.2}", net as f64 / 100.0),
            "{detail} (gross ₹{:.2})",
            gross as f64 / 100.0
        );
        assert!(net <= -500_000 && net < gross, "{detail}");
    }
    for (d, ps) in by_day {
        for p in &ps {
            let entry = p["entry_time"].as_str().unwrap();
            let realized_before: i64 = pos
                .iter()
                .filter(|q| {
                    day(q["exit_time"].as_str().unwrap()) == d
                        && q["exit_time"].as_str().unwrap() <= entry
                })
                .map(|q| paise(&q["net_pnl"]))
                .sum();
            assert!(
                realized_before > -500_000,
                "entry {entry} after the day's loss reached ₹{}",
                realized_before as f64 / 100.0
            );
        }
    }
}

#[test]
fn daily_caps_limit_entries_and_lock_the_days_profit() {
    let ist_day = |p: &serde_json::Value, f: &str| {
        chrono::DateTime::parse_from_rfc3339(p[f].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(19_800).unwrap())
            .date_naive()
    };
    // One entry a day at most.
    let a = tempfile::tempdir().unwrap();
    let s = run(
        paper_config(a.path(), |v| v["rules"]["max_trades_per_day"] = 1.into()),
        &a.path().join("out"),
    );
    let pos = lines(&a.path().join("out/positions.jsonl"));
    let mut per_day: BTreeMap<chrono::NaiveDate, u32> = BTreeMap::new();
    for p in &pos {
        *per_day.entry(ist_day(p, "entry_time")).or_default() += 1;
    }
    assert!(per_day.values().all(|n| *n == 1), "{per_day:?}");
    let capped = s.executor.rejected_by_reason["max_trades_per_day"];
    assert!(capped > 0);
    assert_eq!(s.executor.opened as usize, pos.len());
    // The profit lock at 0.5 % of capital (₹2,500 of ₹5,00,000): no entry after a day's net
    // realized P&L reached it — checked against the positions themselves.
    let b = tempfile::tempdir().unwrap();
    let s = run(
        paper_config(b.path(), |v| {
            v["rules"]["daily_profit_lock_pct"] = 0.5.into()
        }),
        &b.path().join("out"),
    );
    let pos = lines(&b.path().join("out/positions.jsonl"));
    let locked = s.executor.rejected_by_reason["daily_profit_lock"];
    assert!(locked > 0, "{:?}", s.executor.rejected_by_reason);
    for p in &pos {
        let entry =
            chrono::DateTime::parse_from_rfc3339(p["entry_time"].as_str().unwrap()).unwrap();
        let day = ist_day(p, "entry_time");
        let realized_before: i64 = pos
            .iter()
            .filter(|q| {
                ist_day(q, "exit_time") == day
                    && chrono::DateTime::parse_from_rfc3339(q["exit_time"].as_str().unwrap())
                        .unwrap()
                        <= entry
            })
            .map(|q| paise(&q["net_pnl"]))
            .sum();
        assert!(
            realized_before < 250_000,
            "{} entered after the lock",
            p["position_id"]
        );
    }
}

#[test]
fn the_tearsheet_agrees_with_the_positions_and_the_bars() {
    let a = tempfile::tempdir().unwrap();
    let cfg = paper_config(a.path(), |_| {});
    let capital = cfg.options_trading.position_sizing.account_capital;
    run(cfg, &a.path().join("out"));
    let pos = lines(&a.path().join("out/positions.jsonl"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(r["trades"].as_u64().unwrap() as usize, pos.len());
    let net: i64 = pos.iter().map(|p| paise(&p["net_pnl"])).sum();
    let gross: i64 = pos.iter().map(|p| paise(&p["gross_pnl"])).sum();
    assert_eq!(paise(&r["net_pnl"]), net);
    assert_eq!(paise(&r["gross_pnl"]), gross);
    let wins = pos.iter().filter(|p| paise(&p["net_pnl"]) > 0).count();
    assert_eq!(r["wins"].as_u64().unwrap() as usize, wins);
    for f in ["profit_factor", "sharpe", "sortino", "cagr_pct", "calmar"] {
        assert!(r[f].as_f64().is_some_and(f64::is_finite), "{f}: {}", r[f]);
    }
    assert!(r.get("by_strategy").is_none(), "one instance: no breakdown");
    // One row per trading day of the file (its IST dates), the last at capital + net.
    let bars = actors::feed::replay::read_file(&common::sample())
        .unwrap()
        .bars;
    let mut days: Vec<String> = bars
        .iter()
        .map(|b| {
            chrono::DateTime::from_timestamp(b.ts + 19_800, 0)
                .unwrap()
                .date_naive()
                .to_string()
        })
        .collect();
    days.dedup();
    let csv = std::fs::read_to_string(a.path().join("out/equity_daily.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(
        rows.iter().map(|r| r[0].to_string()).collect::<Vec<_>>(),
        days
    );
    let last: f64 = rows.last().unwrap()[1].parse().unwrap();
    assert_eq!(
        (last * 100.0).round() as i64,
        (capital * 100.0).round() as i64 + net
    );
    let worst = rows
        .iter()
        .map(|r| r[2].parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert!((worst - r["max_drawdown_pct"].as_f64().unwrap()).abs() < 1e-4);
    // The months chain to the total: Π(1 + m) = final / capital.
    let mut growth = 1.0;
    for months in r["monthly_returns_pct"].as_object().unwrap().values() {
        for m in months.as_object().unwrap().values() {
            growth *= 1.0 + m.as_f64().unwrap() / 100.0;
        }
    }
    assert!(
        (growth - last / capital).abs() < 1e-9,
        "{growth} vs {}",
        last / capital
    );
}

#[test]
fn above_the_freeze_quantity_paper_fills_and_charges_each_slice_as_an_order() {
    // A freeze quantity of two NIFTY lots (130): a position of 5 lots is bought in three
    // orders (2 + 2 + 1 lots) and sold in three, each paying its own brokerage.
    let dir = tempfile::tempdir().unwrap();
    let cfg = paper_config(dir.path(), |v| {
        v["instruments"]["underlyings"]["NIFTY"]["freeze_qty"] = 130.into()
    });
    let schedule = cfg.charges.schedule.clone();
    let s = run(cfg, &dir.path().join("out"));
    let pos = lines(&dir.path().join("out/positions.jsonl"));
    assert!(!pos.is_empty());
    assert_eq!(s.executor.opened as usize, pos.len());
    let (mut sliced, mut with_remainder) = (0, 0);
    for p in &pos {
        let qty = p["quantity"].as_i64().unwrap();
        // The slices, worked out here: as many whole 130s as fit, then the rest.
        let mut slices = vec![130; (qty / 130) as usize];
        if qty % 130 > 0 {
            slices.push(qty % 130);
            with_remainder += usize::from(slices.len() > 1);
        }
        sliced += usize::from(slices.len() > 1);
        let (buy, sell) = (paise(&p["entry_premium"]), paise(&p["exit_premium"]));
        let charges = slices
            .iter()
            .map(|q| {
                common::fill_charges(&schedule, &p["entry_time"], true, buy * q)
                    + common::fill_charges(&schedule, &p["exit_time"], false, sell * q)
            })
            .sum::<actors::charges::Breakdown>();
        assert_eq!(charges_of(&p["charges"]), charges, "{p}");
        assert_eq!(
            charges.brokerage,
            2000 * 2 * slices.len() as i64,
            "one brokerage per slice, each way: {p}"
        );
        let gross = (sell - buy) * qty;
        assert_eq!(paise(&p["gross_pnl"]), gross, "{p}");
        assert_eq!(paise(&p["net_pnl"]), gross - charges.total, "{p}");
    }
    assert!(
        sliced > 0 && with_remainder > 0,
        "positions above the limit, some with a remainder slice: {sliced}, {with_remainder}"
    );
    // The replay's report carries the same charges.
    let total: i64 = pos.iter().map(|p| charges_of(&p["charges"]).total).sum();
    let report = s.paper.expect("paper report");
    assert_eq!((report.charges.total * 100.0).round() as i64, total);
}
