//! Criterion benches of the Black-Scholes hot path: price plus all greeks, and implied
//! volatility at and out of the money, on an NSE-like weekly (spot 24000, 7 days, r 6.5 %,
//! σ 12 %). Run: `cargo bench -p alphastocks-actors --bench options`.

use std::hint::black_box;

use actors::options::bs::{greeks, implied_vol, price, years, BsInput};
use criterion::{criterion_group, criterion_main, Criterion};
use messages::OptionType;

const SPOT: f64 = 24_000.0;
const RATE: f64 = 0.065;
const VOL: f64 = 0.12;

fn bench(c: &mut Criterion) {
    let t = years(7.0);
    let atm = BsInput {
        spot: SPOT,
        strike: SPOT,
        t_years: t,
        rate: RATE,
        div_yield: 0.0,
        vol: VOL,
    };
    // K/S = 1.1: a call 10 % out of the money, a week out.
    let otm = BsInput {
        strike: SPOT * 1.1,
        ..atm
    };
    let atm_price = price(OptionType::CE, &atm);
    let otm_price = price(OptionType::CE, &otm);

    let mut group = c.benchmark_group("options");
    group.bench_function("greeks", |b| {
        b.iter(|| greeks(black_box(OptionType::CE), black_box(&atm)))
    });
    group.bench_function("implied_vol_atm", |b| {
        b.iter(|| {
            implied_vol(
                black_box(OptionType::CE),
                black_box(SPOT),
                black_box(SPOT),
                black_box(t),
                black_box(RATE),
                black_box(0.0),
                black_box(atm_price),
            )
        })
    });
    group.bench_function("implied_vol_otm", |b| {
        b.iter(|| {
            implied_vol(
                black_box(OptionType::CE),
                black_box(SPOT),
                black_box(otm.strike),
                black_box(t),
                black_box(RATE),
                black_box(0.0),
                black_box(otm_price),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
