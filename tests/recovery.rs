//! Restart after a ClickHouse outage, against real ClickHouse servers that the tests stop and
//! start themselves (each on its own ports and data dir, so no other test is disturbed).
//!
//! The engine is `run --store clickhouse --mode paper` on the simulated market (6000× speed,
//! one-minute candles, entries unfiltered so positions open and close every few seconds).
//! The oracle is independent of the code under test: the server's rows read over HTTP plus
//! the outbox rows read from the SQLite file, latest version per key.

mod common;
mod recovery_support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use messages::{PositionRecord, PositionStatus, Row};
use recovery_support::*;

/// The outage scenario: trading with the server up, the server stopped, the engine stopped
/// (`kill`: SIGKILL, else `ctl shutdown`) once the outbox holds a position opened and a
/// position closed during the outage; a start while the server is still down (refused);
/// the server back; a start that must recover server + outbox.
fn outage_then_restart(kill: bool, http: u16, tcp: u16) {
    let server = Server::new(http, tcp);
    let dir = tempfile::tempdir().unwrap();
    let db = common::ch_db(if kill { "rec_kill" } else { "rec_shutdown" });
    let cfg = config(dir.path(), &server.url(), &db);
    let file = dir.path().join("alphastocks.db");

    // 1. Trading with the server up.
    let e1 = Engine::start(&cfg, &[]);
    wait_until("positions on the server", Duration::from_secs(60), || {
        server
            .sql(&format!(
                "SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'positions'"
            ))
            .trim()
            == "1"
            && server.num(&format!("SELECT count() FROM {db}.positions")) > 0
    });
    let mut e1 = e1;
    assert!(e1.alive());

    // 2. The outage: wait for a position opened and one closed while the server is down.
    server.ctl("stop");
    wait_until(
        "a position opened and one closed during the outage",
        Duration::from_secs(90),
        || {
            let rows = outbox(&file);
            let ps = outbox_positions(&rows);
            let first_open: HashSet<_> = ps
                .iter()
                .filter(|p| p.version == 1 && p.status == PositionStatus::Open)
                .map(|p| p.position_id)
                .collect();
            let l = latest(ps);
            l.values().any(|p| p.status == PositionStatus::Closed)
                && l.values().any(|p| {
                    p.status == PositionStatus::Open && first_open.contains(&p.position_id)
                })
        },
    );
    let log1 = if kill {
        e1.kill()
    } else {
        let out = Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .args(["ctl", "--config"])
            .arg(&cfg)
            .arg("shutdown")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (st, log) = e1.wait();
        assert!(st.success(), "{log}");
        log
    };
    assert!(log1.contains("rows kept in the local outbox"), "{log1}");
    let pending = outbox(&file);

    // 3. A start while the server is still down: refused, nothing written, nothing traded.
    let (st, log2) = Engine::start(&cfg, &["--duration", "3"]).wait();
    assert_eq!(st.code(), Some(75), "{log2}");
    assert!(
        log2.contains("does not answer at start")
            && log2.contains(&format!("{} rows wait in the local outbox", pending.len())),
        "{log2}"
    );
    assert_eq!(outbox(&file), pending, "the refused start wrote nothing");
    // `auto` does not fall back to SQLite (a partial view) while the outbox holds rows.
    let (st, log2) = Engine::spawn(&cfg, "auto", &["--duration", "3"], &[]).wait();
    assert_eq!(st.code(), Some(75), "{log2}");
    assert!(
        log2.contains("auto → ClickHouse") && log2.contains("although it is not reachable"),
        "{log2}"
    );
    assert_eq!(outbox(&file), pending, "the refused start wrote nothing");

    // 4. The server is back. The oracle: its rows plus the outbox, latest version winning.
    server.ctl("start");
    stop_merges(&server, &db);
    let on_server = latest(server_positions(&server, &db));
    let in_outbox = latest(outbox_positions(&pending));
    let before = latest(
        on_server
            .values()
            .cloned()
            .chain(in_outbox.values().cloned()),
    );
    let open_before: Vec<&PositionRecord> = before
        .values()
        .filter(|p| p.status == PositionStatus::Open)
        .collect();
    let closed_before: Vec<&PositionRecord> = before
        .values()
        .filter(|p| p.status == PositionStatus::Closed)
        .collect();
    let opened_in_outage = in_outbox
        .keys()
        .filter(|id| !on_server.contains_key(id))
        .count();
    let closed_in_outage_open_on_server = in_outbox
        .values()
        .filter(|p| {
            p.status == PositionStatus::Closed
                && on_server
                    .get(&p.position_id)
                    .is_some_and(|s| s.status == PositionStatus::Open)
        })
        .count();
    assert!(open_before.len() <= 3, "{open_before:?}");
    assert!(opened_in_outage > 0);
    let mut candles_before = server_candles(&server, &db);
    let waiting_candles = outbox_candles(&pending);
    for (k, v) in &waiting_candles {
        if let Some(old) = candles_before.get(k) {
            assert_eq!(old, v, "{k:?}: server and outbox disagree");
        }
    }
    candles_before.extend(waiting_candles.clone());

    // 5. Restart with the server up.
    let (st, log3) = Engine::start(&cfg, &["--duration", "4"]).wait();
    assert!(st.success(), "{log3}");
    let recovered = format!(
        "position_manager: recovered {} open positions and ",
        open_before.len()
    );
    assert!(
        open_before.is_empty() || log3.contains(&recovered),
        "{recovered}\n{log3}"
    );
    assert_eq!(outbox_len(&file), 0, "the outbox shipped");

    let after_rows = server_positions(&server, &db);
    let after = latest(after_rows.clone());
    // Open at the stop (server or outbox): recovered and monitored — a newer version since.
    for p in &open_before {
        let now = &after[&p.position_id];
        assert!(
            now.version > p.version,
            "open position {} not monitored after the restart (still version {})",
            p.position_id,
            p.version
        );
    }
    // Closed at the stop: exactly as it was, not reopened nor closed again.
    for p in &closed_before {
        let now = &after[&p.position_id];
        assert_eq!(
            (now.version, now.status, now.exit_premium, now.realized_pnl),
            (p.version, p.status, p.exit_premium, p.realized_pnl),
            "closed position {} changed after the restart",
            p.position_id
        );
    }
    let all: Vec<PositionRecord> = after.values().cloned().collect();
    let max_open = max_open_at_once(&all);
    assert!(max_open <= 3, "{max_open} positions open at once");
    // Candles: none of the stored ones rewritten; the feed resumed after the last one.
    let candles_after = server_candles(&server, &db);
    let mut rewritten = 0;
    for (k, v) in &candles_before {
        if candles_after.get(k) != Some(v) {
            rewritten += 1;
        }
    }
    assert_eq!(rewritten, 0, "of {} candles", candles_before.len());
    assert!(
        candles_after.len() > candles_before.len(),
        "the feed went on"
    );
    let compared = assert_store_consistent(&server, &db);
    eprintln!(
        "outage ({}): {} positions before the restart ({} open; {} opened during the outage; {} closed, {} of them open on the server and closed in the outbox), {} rows in the outbox, {} candles compared, {} positions after, at most {max_open} open at once, {compared} stored rows checked",
        if kill { "SIGKILL" } else { "ctl shutdown" },
        before.len(),
        open_before.len(),
        opened_in_outage,
        closed_before.len(),
        closed_in_outage_open_on_server,
        pending.len(),
        candles_before.len(),
        all.len(),
    );
    server.sql(&format!("DROP DATABASE IF EXISTS {db}"));
}

#[test]
fn sigkill_during_an_outage_then_restart_recovers_server_plus_outbox() {
    outage_then_restart(true, 18531, 19531);
}

#[test]
fn ctl_shutdown_during_an_outage_then_restart_recovers_server_plus_outbox() {
    outage_then_restart(false, 18532, 19532);
}

/// An outage with more than 12 000 rows in the outbox (more than one shipment round of
/// 10 000), the engine SIGKILLed, the server back with merges stopped.
struct Shipping {
    server: Server,
    db: String,
    cfg: PathBuf,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

fn big_outbox(tag: &str, http: u16, tcp: u16) -> Shipping {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::new(http, tcp);
    let db = common::ch_db(tag);
    let cfg = config(dir.path(), &server.url(), &db);
    let file = dir.path().join("alphastocks.db");

    // An outage long enough for more than one shipment round (10 000 rows each).
    let e1 = Engine::start(&cfg, &[]);
    wait_until("rows on the server", Duration::from_secs(60), || {
        server
            .sql(&format!(
                "SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'positions'"
            ))
            .trim()
            == "1"
            && server.num(&format!("SELECT count() FROM {db}.positions")) > 0
    });
    server.ctl("stop");
    wait_until("an outbox of 12 000 rows", Duration::from_secs(120), || {
        outbox_len(&file) > 12_000
    });
    let mut e1 = e1;
    assert!(e1.alive());
    e1.kill();
    server.ctl("start");
    stop_merges(&server, &db);

    Shipping {
        server,
        db,
        cfg,
        file,
        _dir: dir,
    }
}

/// The last start ships the rest and runs to its end; then the store is checked.
fn ship_rest_and_check(sh: &Shipping, what: String) {
    let (server, db, cfg, file) = (&sh.server, &sh.db, &sh.cfg, &sh.file);
    let (st, log) = Engine::start(cfg, &["--duration", "3"]).wait();
    assert!(st.success(), "{log}");
    assert_eq!(outbox_len(file), 0);
    let compared = assert_store_consistent(server, db);
    let signals = server.num(&format!("SELECT count() FROM {db}.trading_signals FINAL"));
    let reshipped: u64 = ["trading_signals", "executor_decisions", "positions"]
        .iter()
        .map(|t| {
            server.num(&format!("SELECT count() FROM {db}.{t}"))
                - server.num(&format!("SELECT count() FROM {db}.{t} FINAL"))
        })
        .sum();
    let interrupted = server.num(&format!(
        "SELECT count() FROM {db}.executor_decisions FINAL WHERE reason = 'interrupted'"
    ));
    eprintln!(
        "shipping: {what}; {signals} signals each stored once and decided once ({interrupted} decided at a restart as interrupted), {reshipped} rows shipped twice (identical), {compared} stored rows checked"
    );
    server.sql(&format!("DROP DATABASE IF EXISTS {db}"));
}

#[test]
fn sigkill_while_shipping_the_outbox_stores_each_row_once_and_decides_each_signal_once() {
    let sh = big_outbox("rec_ship_kill", 18533, 19533);
    let (cfg, file) = (&sh.cfg, &sh.file);
    // Restarts killed (SIGKILL) the moment the outbox shrinks: mid-shipment.
    let (mut kills, mut mid_ship) = (0, 0);
    while outbox_len(file) > 0 && kills < 8 {
        let before = outbox_len(file);
        let mut e = Engine::start(cfg, &[]);
        let t = Instant::now();
        loop {
            let n = outbox_len(file);
            if n < before || !e.alive() {
                // Then a little later or not at all, so kills land at different steps:
                // between a table's INSERT and its removal from the outbox, or in between.
                std::thread::sleep(Duration::from_millis([0, 4, 12, 30][kills % 4]));
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "nothing shipped");
            std::thread::sleep(Duration::from_millis(1));
        }
        e.kill();
        kills += 1;
        let after = outbox_len(file);
        if after > 0 && after < before {
            mid_ship += 1;
        }
        eprintln!("kill {kills}: outbox {before} → {after}");
    }
    assert!(mid_ship >= 1, "no kill landed mid-shipment");

    ship_rest_and_check(&sh, format!("{kills} SIGKILLs ({mid_ship} mid-shipment)"));
}

#[test]
fn a_crash_at_every_step_of_a_shipment_stores_each_row_once_and_decides_each_signal_once() {
    let sh = big_outbox("rec_ship_crash", 18534, 19534);
    let cfg = &sh.cfg;
    // Restarts crashed at each step of a shipment in turn: right after a table's rows reached
    // the server (before they leave the outbox), and right after they left it. (The tables
    // the outage filled; audit_events and performance_metrics had no rows in it.)
    let mut crashed = Vec::new();
    for table in [
        "trading_signals",
        "executor_decisions",
        "positions",
        "historical_data",
    ] {
        for step in ["inserted", "removed"] {
            let point = format!("ship:{table}:{step}");
            let mut e = Engine::start_env(cfg, &[], &[("ALPHASTOCKS_CRASH_AT", &point)]);
            let st = e.exited_within(Duration::from_secs(30));
            let log = if st.is_some() {
                e.log.take().unwrap().join().unwrap()
            } else {
                e.kill()
            };
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                st.and_then(|s| s.signal()),
                Some(6),
                "{point} not reached (aborted): {st:?}\n{log}"
            );
            assert!(log.contains(&format!("crash injected at {point}")), "{log}");
            crashed.push(point);
        }
    }

    ship_rest_and_check(
        &sh,
        format!("{} crashes at shipment steps ({crashed:?})", crashed.len()),
    );
}

#[test]
fn a_reopened_store_reads_the_server_plus_the_outbox_before_shipping() {
    use actors::store::clickhouse::ClickHouseStore;
    use actors::store::sqlite::SqliteStore;
    use actors::store::Store;

    let server = Server::new(18535, 19535);
    let dir = tempfile::tempdir().unwrap();
    let db = common::ch_db("rec_store");
    let cfg = actors::config::ClickHouse {
        url: server.url(),
        database: db.clone(),
        user: "default".into(),
        password: String::new(),
        timeout_seconds: 2,
    };
    let outbox_file = dir.path().join("outbox.db");
    let open = || ClickHouseStore::open(&cfg, SqliteStore::open(&outbox_file).unwrap()).unwrap();
    let s: Vec<messages::Signal> = (0..6).map(sig).collect();

    // With the server up: signals 0-2 decided, positions 1 (open) and 2 (open), candles 0-4.
    let mut st = open();
    let mut rows: Vec<Row> = s[..3]
        .iter()
        .map(|x| Row::Signal(Box::new(x.clone())))
        .collect();
    rows.extend(s[..3].iter().map(decided));
    rows.push(pos(1, &s[0], 1, PositionStatus::Open));
    rows.push(pos(2, &s[1], 1, PositionStatus::Open));
    rows.extend((0..5).map(|i| bar(i, 100.0 + i as f64)));
    st.write(&rows).unwrap();

    // The outage: position 1 closed, position 3 opened, signals 3-4 stored (3 decided),
    // candles 5-7 closed, candle 4 written again with another close (a later write).
    server.ctl("stop");
    let mut later: Vec<Row> = s[3..5]
        .iter()
        .map(|x| Row::Signal(Box::new(x.clone())))
        .collect();
    later.push(decided(&s[3]));
    later.push(pos(1, &s[0], 2, PositionStatus::Closed));
    later.push(pos(3, &s[3], 1, PositionStatus::Open));
    later.push(pos(3, &s[3], 2, PositionStatus::Open));
    later.extend((4..8).map(|i| bar(i, 200.0 + i as f64)));
    st.write(&later).unwrap();
    assert_eq!(st.health().outbox_pending, later.len() as u64);
    drop(st);

    // A restart once the server is back: reads before anything is shipped.
    server.ctl("start");
    let mut st = open();
    assert!(st.health().connected);
    assert_eq!(
        st.health().outbox_pending,
        later.len() as u64,
        "not shipped yet"
    );

    let open_now: Vec<(u128, u64)> = st
        .open_positions()
        .unwrap()
        .iter()
        .map(|p| (p.position_id.as_u128(), p.version))
        .collect();
    assert_eq!(
        open_now,
        vec![(2, 1), (3, 2)],
        "1 closed in the outbox, 3 opened there"
    );
    let by_signal = st.positions_by_signal(s[0].signal_id).unwrap();
    assert_eq!(
        (by_signal.len(), by_signal[0].version, by_signal[0].status),
        (1, 2, PositionStatus::Closed)
    );
    let all = st.signals(&messages::SignalQuery::default()).unwrap();
    assert_eq!(
        all.iter().map(|x| x.signal_id).collect::<Vec<_>>(),
        s[..5].iter().rev().map(|x| x.signal_id).collect::<Vec<_>>(),
        "newest first, server and outbox"
    );
    assert_eq!(all[0], s[4], "an outbox signal, floats exact");
    let mut since = st.processed_since(0).unwrap();
    since.sort();
    let mut want: Vec<uuid::Uuid> = s[..4].iter().map(|x| x.signal_id).collect();
    want.sort();
    assert_eq!(since, want);
    assert!(st
        .is_signal_processed(messages::SignalKey::of(&s[3]))
        .unwrap());
    assert!(!st
        .is_signal_processed(messages::SignalKey::of(&s[4]))
        .unwrap());
    let h = st
        .history("NIFTY", messages::Timeframe::Minute15, 5)
        .unwrap();
    assert_eq!(
        h.iter().map(|c| c.close).collect::<Vec<_>>(),
        vec![103.0, 204.0, 205.0, 206.0, 207.0],
        "the later write of candle 4 wins; 5-7 from the outbox"
    );
    let r = st.recovery(0).unwrap();
    assert_eq!(r.open_positions.len(), 2);
    assert_eq!(r.active_signals.len(), 5);

    // A signal id stored in the outbox is never stored again with other contents.
    let mut again = s[4].clone();
    again.price = 1.0;
    again.timestamp += chrono::Duration::seconds(60);
    st.write(&[
        Row::Signal(Box::new(again)),
        Row::Signal(Box::new(s[5].clone())),
    ])
    .unwrap();
    assert_eq!(st.health().outbox_pending, 0, "shipped with that write");
    assert_eq!(
        server.sql(&format!(
            "SELECT count(), uniqExact(signal_id) FROM {db}.trading_signals FORMAT TSV"
        )),
        "6\t6\n"
    );
    assert_eq!(
        server.num(&format!(
            "SELECT count() FROM {db}.trading_signals WHERE price = 1"
        )),
        0
    );
    // After shipping the reads are the same.
    let open_after: Vec<(u128, u64)> = st
        .open_positions()
        .unwrap()
        .iter()
        .map(|p| (p.position_id.as_u128(), p.version))
        .collect();
    assert_eq!(open_after, open_now);
    assert!(st
        .is_signal_processed(messages::SignalKey::of(&s[3]))
        .unwrap());
    server.sql(&format!("DROP DATABASE IF EXISTS {db}"));
}
