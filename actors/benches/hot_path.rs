//! Criterion benches of the per-update hot path: EMA update, crossover per candle, candle
//! aggregation per tick and per bar. Run: `cargo bench -p alphastocks-actors`.

use std::hint::black_box;

use actors::logic::aggregator::Aggregator;
use actors::logic::crossover::{Crossover, CrossoverParams};
use actors::logic::ema::Ema;
use actors::logic::session::Session;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use messages::{Bar, Candle, SymbolId, Tick, Timeframe};

/// Monday 2024-01-01 09:15 IST.
const OPEN: i64 = 1_704_080_700;

fn prices(n: usize) -> Vec<f64> {
    let mut x = 24_000.0f64;
    let mut s = 12345u64;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x += ((s >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 10.0;
            x
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let px = prices(4096);
    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(px.len() as u64));

    g.bench_function("ema_update", |b| {
        let mut e = Ema::new(21);
        b.iter(|| {
            for p in &px {
                black_box(e.update(black_box(*p)));
            }
        })
    });

    let params = CrossoverParams {
        fast: 9,
        slow: 21,
        min_periods: 50,
        stop_loss_pct: 1.0,
        target_multiplier: 2.0,
    };
    g.bench_function("crossover_on_closed", |b| {
        let mut x = Crossover::new(params);
        let mut ts = 0i64;
        b.iter(|| {
            for p in &px {
                ts += 900;
                let c = Candle {
                    symbol: SymbolId(0),
                    ts,
                    open: *p,
                    high: *p,
                    low: *p,
                    close: *p,
                    volume: 1.0,
                };
                black_box(x.on_closed(&c));
            }
        })
    });

    g.bench_function("aggregate_tick", |b| {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
        let mut n = 0u64;
        let mut ts = OPEN;
        b.iter(|| {
            for p in &px {
                ts += 1;
                if ts >= OPEN + 22_500 {
                    ts = OPEN; // stay inside one session; rewinds count as out-of-order drops
                    a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
                }
                let t = Tick {
                    symbol: SymbolId(0),
                    ts,
                    price: *p,
                    volume: 1.0,
                };
                let _ = a.push_tick(&t, &mut |e| n += e.end_ts as u64 & 1);
            }
        });
        black_box(n);
    });

    g.bench_function("aggregate_bar_5m_into_15m", |b| {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
        let mut n = 0u64;
        let mut ts = OPEN;
        b.iter(|| {
            for p in &px {
                ts += 300;
                if ts >= OPEN + 22_500 {
                    ts = OPEN;
                    a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
                }
                let bar = Bar {
                    ts,
                    open: *p,
                    high: p + 1.0,
                    low: p - 1.0,
                    close: *p,
                    volume: 1.0,
                };
                let _ = a.push_bar(SymbolId(0), &bar, 300, &mut |e| n += e.end_ts as u64 & 1);
            }
        });
        black_box(n);
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
