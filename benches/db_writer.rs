//! DbWriter throughput against each store: batched rows/s, and single-row writes (each Persist
//! committed and acknowledged alone). Needs a ClickHouse server (`scripts/clickhouse.sh start`,
//! or `CLICKHOUSE_URL`). Run: `cargo bench --bench db_writer`. Prints medians of 3 runs.

use std::time::{Duration, Instant};

use actix::Actor;
use actors::config::ClickHouse;
use actors::db_writer::DbWriter;
use actors::store::clickhouse::ClickHouseStore;
use actors::store::sqlite::SqliteStore;
use actors::store::Store;
use chrono::{TimeZone, Utc};
use messages::msg::{Flush, Persist};
use messages::*;

const BATCHED_ROWS: usize = 100_000;
const SINGLE_ROWS: usize = 300;

fn signal(i: usize) -> Row {
    let ts = 1_704_166_200 + i as i64 * 60;
    Row::Signal(Box::new(Signal {
        signal_id: signal_id("NIFTY", "bench", Timeframe::Minute15, ts, Action::Buy),
        timestamp: Utc.timestamp_opt(ts, 0).unwrap(),
        symbol: "NIFTY".into(),
        strategy: "bench".into(),
        action: Action::Buy,
        price: 24_000.05,
        stop_loss: 23_760.0,
        target: 24_480.1,
        confidence: 0.75,
        expected_move_pct: 2.0,
        metadata: SignalMetadata {
            candle_time: Utc.timestamp_opt(ts - 60, 0).unwrap(),
            ema_fast: 1.0,
            ema_slow: 1.0,
        },
    }))
}

fn store(kind: &str, dir: &std::path::Path, run: usize) -> Box<dyn Store> {
    let local = SqliteStore::open(&dir.join(format!("{kind}{run}.db"))).unwrap();
    if kind == "sqlite" {
        return Box::new(local);
    }
    let cfg = ClickHouse {
        url: std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: format!("bench_dbwriter_{run}"),
        user: "default".into(),
        password: String::new(),
        timeout_seconds: 30,
    };
    let s = ClickHouseStore::open(&cfg, local).unwrap();
    assert!(s.health_now(), "ClickHouse must be running for this bench");
    Box::new(s)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sys = actix::System::new();
    for kind in ["sqlite", "clickhouse"] {
        let (mut batched, mut single, mut p50s, mut p99s) = (vec![], vec![], vec![], vec![]);
        for run in 0..3 {
            let st = store(kind, dir.path(), run);
            let (b, s, p50, p99) = sys.block_on(async move {
                let db = DbWriter::new(
                    st,
                    10_000,
                    Duration::from_millis(200),
                    actors::metrics::Registry::new(true).db_writer,
                )
                .start();
                // Batched: 100 messages of 1000 rows, one commit per 10 000 rows.
                let rows: Vec<Row> = (0..BATCHED_ROWS).map(signal).collect();
                let t = Instant::now();
                for chunk in rows.chunks(1000) {
                    db.do_send(Persist(chunk.to_vec()));
                }
                db.send(Flush).await.unwrap().unwrap();
                let batched = BATCHED_ROWS as f64 / t.elapsed().as_secs_f64();
                // Single rows: each Persist flushed and acknowledged before the next.
                let mut lat = Vec::with_capacity(SINGLE_ROWS);
                let t = Instant::now();
                for i in 0..SINGLE_ROWS {
                    let t1 = Instant::now();
                    db.do_send(Persist(vec![signal(BATCHED_ROWS + i)]));
                    db.send(Flush).await.unwrap().unwrap();
                    lat.push(t1.elapsed().as_secs_f64() * 1e3);
                }
                let single = SINGLE_ROWS as f64 / t.elapsed().as_secs_f64();
                lat.sort_by(|a, b| a.total_cmp(b));
                (
                    batched,
                    single,
                    lat[lat.len() / 2],
                    lat[lat.len() * 99 / 100],
                )
            });
            batched.push(b);
            single.push(s);
            p50s.push(p50);
            p99s.push(p99);
        }
        println!(
            "{kind:<10} batched {:>9.0} rows/s | single-row {:>6.0} rows/s, p50 {:.2} ms, p99 {:.2} ms  (medians of 3)",
            median(batched),
            median(single),
            median(p50s),
            median(p99s)
        );
    }
}
