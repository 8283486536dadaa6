//! Prometheus text exposition (format 0.0.4): fixed-bucket histograms of durations and a
//! small writer that puts each family's `# HELP` and `# TYPE` once before its samples.
//!
//! The exported histograms have fixed decimal bounds ([`BOUNDS_NS`], 0.5 µs to 10 s in 1-2.5-5
//! steps). They are counted on their own rather than derived from the HDR histogram that gives
//! the snapshot's p50/p99: the HDR buckets' edges are binary (e.g. 9 216 and 10 240 ns around
//! 10 µs), so a decimal `le` read off them would count up to an eighth of a bucket's values
//! on the wrong side. Counting them here costs one binary search over 23 bounds and two
//! atomic adds per *sampled* value (one handler in 64), nothing per message.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (`le`) of the exported duration buckets, nanoseconds; `+Inf` follows.
pub const BOUNDS_NS: [u64; 23] = [
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Durations counted in the fixed buckets of [`BOUNDS_NS`] (non-cumulative inside; made
/// cumulative when read), with their sum. Lock-free: atomics only.
pub struct PromHistogram {
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Default for PromHistogram {
    fn default() -> Self {
        PromHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// A consistent copy of a [`PromHistogram`]: cumulative counts per bound (the last is `+Inf`),
/// the count (= the `+Inf` bucket) and the sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub cumulative: [u64; BOUNDS_NS.len() + 1],
    pub count: u64,
    pub sum_ns: u64,
}

impl PromHistogram {
    /// Counts one duration of `ns` nanoseconds.
    #[inline]
    pub fn record(&self, ns: u64) {
        let i = BOUNDS_NS.partition_point(|&b| b < ns);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Relaxed);
        }
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// The cumulative counts. The count is the `+Inf` bucket itself, so the two always agree
    /// even while values are being recorded.
    pub fn read(&self) -> Buckets {
        let mut cumulative = [0u64; BOUNDS_NS.len() + 1];
        let mut acc = 0u64;
        for (c, b) in cumulative.iter_mut().zip(&self.buckets) {
            acc += b.load(Relaxed);
            *c = acc;
        }
        Buckets {
            cumulative,
            count: acc,
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }
}

/// A bound in seconds as Prometheus reads it (`0.0000005`, `0.0025`, `1`, `10`).
pub fn seconds(ns: u64) -> String {
    format!("{}", ns as f64 / 1e9)
}

/// `v` with `\`, `"` and newlines escaped, for a label value.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Builds an exposition: each family's header once, then its samples.
#[derive(Default)]
pub struct Text {
    out: String,
}

/// A family's kind (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Labels as `(name, value)` pairs; values are escaped when written.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

fn labels(out: &mut String, ls: Labels<'_>, extra: Option<(&str, &str)>) {
    if ls.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in ls.iter().copied().chain(extra) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    out.push('}');
}

impl Text {
    /// The `# HELP` and `# TYPE` lines of family `name`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(
            self.out,
            "# HELP {name} {help}\n# TYPE {name} {}",
            kind.as_str()
        );
        self
    }

    /// One sample of a counter or gauge.
    pub fn sample(&mut self, name: &str, ls: Labels<'_>, value: f64) -> &mut Self {
        self.out.push_str(name);
        labels(&mut self.out, ls, None);
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    /// The `_bucket`, `_sum` (seconds) and `_count` lines of one histogram series.
    pub fn histogram(&mut self, name: &str, ls: Labels<'_>, b: &Buckets) -> &mut Self {
        for (i, c) in b.cumulative.iter().enumerate() {
            let le = BOUNDS_NS
                .get(i)
                .map(|&ns| seconds(ns))
                .unwrap_or_else(|| "+Inf".to_string());
            let _ = write!(self.out, "{name}_bucket");
            labels(&mut self.out, ls, Some(("le", &le)));
            let _ = writeln!(self.out, " {c}");
        }
        self.sample(&format!("{name}_sum"), ls, b.sum_ns as f64 / 1e9);
        self.sample(&format!("{name}_count"), ls, b.count as f64)
    }

    /// Appends text already in the format (e.g. another writer's).
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.out.push_str(s);
        self
    }

    /// The exposition.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A value as Prometheus reads it: integers without a fraction, `NaN`/`+Inf`/`-Inf` spelled
/// its way.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_count_is_inf() {
        let h = PromHistogram::default();
        for ns in [400, 500, 501, 9_999, 10_000, 10_001, 20_000_000_000] {
            h.record(ns);
        }
        let b = h.read();
        // le=0.0000005: 400 and 500 (a bound is inclusive).
        assert_eq!(b.cumulative[0], 2);
        // le=0.000001: + 501.
        assert_eq!(b.cumulative[1], 3);
        // le=0.00001 (10 µs): + 9 999 and 10 000.
        assert_eq!(b.cumulative[4], 5);
        // le=0.000025: + 10 001.
        assert_eq!(b.cumulative[5], 6);
        // le=10: the 20 s value is above every bound.
        assert_eq!(b.cumulative[BOUNDS_NS.len() - 1], 6);
        assert_eq!(b.cumulative[BOUNDS_NS.len()], 7);
        assert_eq!(b.count, 7);
        assert_eq!(
            b.sum_ns,
            400 + 500 + 501 + 9_999 + 10_000 + 10_001 + 20_000_000_000
        );
        assert!(b.cumulative.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn text_writes_headers_labels_and_buckets() {
        let h = PromHistogram::default();
        h.record(2_000);
        let mut t = Text::default();
        t.family("x_seconds", Kind::Histogram, "A test.").histogram(
            "x_seconds",
            &[("actor", "a\"b")],
            &h.read(),
        );
        let s = t.finish();
        assert!(s.starts_with("# HELP x_seconds A test.\n# TYPE x_seconds histogram\n"));
        assert!(
            s.contains("x_seconds_bucket{actor=\"a\\\"b\",le=\"0.000001\"} 0\n"),
            "{s}"
        );
        assert!(
            s.contains("x_seconds_bucket{actor=\"a\\\"b\",le=\"0.0000025\"} 1\n"),
            "{s}"
        );
        assert!(
            s.contains("x_seconds_bucket{actor=\"a\\\"b\",le=\"+Inf\"} 1\n"),
            "{s}"
        );
        assert!(
            s.contains("x_seconds_sum{actor=\"a\\\"b\"} 0.000002\n"),
            "{s}"
        );
        assert!(s.ends_with("x_seconds_count{actor=\"a\\\"b\"} 1\n"), "{s}");
        assert_eq!(seconds(10_000_000_000), "10");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(3.0), "3");
    }
}
