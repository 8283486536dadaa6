//! Criterion bench of the mailbox counting per message: a counted send (`on_send`, which stamps
//! one message in 64 for its time in mailbox) and a handler's count (`on_handle` / `on_done`,
//! which time one handler in 64), against the same calls with counting off. Run:
//! `cargo bench -p alphastocks-actors --bench metrics`.

use std::hint::black_box;

use actors::metrics::ActorMetrics;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mailbox_metrics");
    g.throughput(Throughput::Elements(1));
    for (name, enabled) in [("counted", true), ("off", false)] {
        let m: &'static ActorMetrics = Box::leak(Box::new(ActorMetrics::new("bench", enabled)));
        g.bench_function(format!("send_and_handle_{name}"), |b| {
            b.iter(|| {
                black_box(m).on_send();
                let t = black_box(m).on_handle();
                black_box(m).on_done(t);
            })
        });
        g.bench_function(format!("send_{name}"), |b| {
            b.iter(|| black_box(m).on_send())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
