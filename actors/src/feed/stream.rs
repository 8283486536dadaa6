//! Reading a replay file as a stream: the verdicts of [`read_with`](super::replay::read_with)
//! (it is built on this), with memory that does not grow with the file.
//!
//! [`scan`] is a validating pass that keeps no bars in memory: it judges every row (so a strict
//! replay is refused before anything reaches the engine), counts them, and finds the bar length
//! and the rows to leave out for time order. The bars it keeps are then read one at a time or
//! in batches, either from [`SpilledBars`](super::spill::SpilledBars) —
//! [`scan_file_spilled`](super::spill::scan_file_spilled) writes them as it goes into an
//! unnamed temporary file (48 bytes a bar), so the CSV is parsed once — or by reading the
//! CSV again with [`BarStream::checked`]. [`Merge`] interleaves several such sources in time
//! order (ties by source index).
//!
//! Memory: a file in time order (the normal case) is judged in one pass holding at most
//! [`BAR_SECS_ROWS`] rows (the bar length is the smallest gap among the first rows, and the
//! session check depends on it); the checked stream holds none. A file with rows out of time
//! order needs its times in memory once (about 24 bytes a row, not the bars) for the
//! longest-increasing-run judgement, which is over the whole file.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use messages::{Bar, SymbolId};

use super::rows::Rows;
use super::verdict::{longest_increasing, show_time, ReadOptions, RowPolicy, SkippedRow, MAX_JUMP};
use crate::error::{Error, Result};

/// Rows (kept for time order) that decide the bar length: the smallest positive gap among
/// the first this many, capped at a day (60 s when there are fewer than two).
pub const BAR_SECS_ROWS: usize = 5001;

/// Rows of a file, as judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Data rows (kept + skipped; the header is not one).
    pub rows: u64,
    /// Rows kept: the bars.
    pub bars: u64,
    /// Rows refused under [`RowPolicy::Skip`] (always 0 under `Strict`, which fails instead).
    pub skipped: u64,
}

/// What the validating pass found.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The bar length (see [`BAR_SECS_ROWS`]).
    pub bar_secs: i64,
    pub counts: Counts,
    /// The first refused rows (as many as asked for), in line order (skip policy).
    pub skipped: Vec<SkippedRow>,
    /// The most rows the pass held at once.
    pub held_peak: usize,
    opts: ReadOptions,
    /// Rows refused for time order, in line order (empty for a file in order).
    order: Arc<Vec<SkippedRow>>,
}

/// Judges the file `path` (see [`scan`]).
pub fn scan_file(path: &Path, opts: ReadOptions, keep_skipped: usize) -> Result<Scan> {
    scan(|| open(path), path, opts, keep_skipped)
}

/// A source of bars in time order.
pub trait NextBar {
    /// The next bar; `None` at the end.
    fn next_bar(&mut self) -> Result<Option<Bar>>;
}

impl<R: Read> NextBar for BarStream<R> {
    fn next_bar(&mut self) -> Result<Option<Bar>> {
        BarStream::next_bar(self)
    }
}

pub(super) fn batch(src: &mut impl NextBar, max: usize) -> Result<Vec<Bar>> {
    let max = max.max(1);
    let mut out = Vec::with_capacity(max.min(1 << 16));
    while out.len() < max {
        match src.next_bar()? {
            Some(b) => out.push(b),
            None => break,
        }
    }
    Ok(out)
}

pub(super) fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| Error::DataRead {
        path: path.to_path_buf(),
        source,
    })
}

/// The validating pass over what `open` reads (called once, twice for a file out of time
/// order); `path` names it in errors. Keeps the first `keep_skipped` refused rows.
///
/// Under [`RowPolicy::Strict`] the first unparsable row is an error at once; otherwise the
/// first refused row by line, with how many more were refused, once the whole file is judged.
pub fn scan<R: Read>(
    open: impl Fn() -> Result<R>,
    path: &Path,
    opts: ReadOptions,
    keep_skipped: usize,
) -> Result<Scan> {
    scan_into(open, path, opts, keep_skipped, None)
}

/// Where a scan writes the bars it keeps ([`SpilledBars`](super::spill::SpilledBars)' file).
pub(super) trait BarSink {
    fn push(&mut self, b: &Bar) -> Result<()>;
    /// Forgets what was pushed (the scan starts again).
    fn clear(&mut self) -> Result<()>;
}

/// [`scan`], writing the bars kept into `spill`.
pub(super) fn scan_into<R: Read>(
    open: impl Fn() -> Result<R>,
    path: &Path,
    opts: ReadOptions,
    keep_skipped: usize,
    mut spill: Option<&mut dyn BarSink>,
) -> Result<Scan> {
    let mut s = BarStream::new(open()?, path, opts, None, None, keep_skipped)?;
    while let Some(b) = s.next_bar()? {
        if let Some(w) = spill.as_deref_mut() {
            w.push(&b)?;
        }
    }
    if s.disordered {
        let order = Arc::new(order_refusals(open()?, path, opts)?);
        s = BarStream::new(open()?, path, opts, Some(order), None, keep_skipped)?;
        if let Some(w) = spill.as_deref_mut() {
            w.clear()?;
        }
        while let Some(b) = s.next_bar()? {
            if let Some(w) = spill.as_deref_mut() {
                w.push(&b)?;
            }
        }
    }
    Ok(Scan {
        bar_secs: s.bar_secs.unwrap_or(60),
        counts: s.counts,
        skipped: s.examples,
        held_peak: s.held_peak,
        opts,
        order: match s.order {
            Order::Plan { refused, .. } => refused,
            Order::Assume => Arc::new(Vec::new()),
        },
    })
}

/// How time order is judged.
enum Order {
    /// The rows are taken to be in order; the first that is not ends the pass (`disordered`).
    Assume,
    /// The whole file's verdict: these rows are refused for order, the rest are in order.
    Plan {
        refused: Arc<Vec<SkippedRow>>,
        next: usize,
    },
}

/// The kept bars of a replay file, read as they are asked for.
pub struct BarStream<R: Read> {
    rows: Rows<R>,
    path: PathBuf,
    opts: ReadOptions,
    order: Order,
    /// Reading a scanned file again: its verdicts must come out the same.
    expect: Option<Counts>,
    /// The last row kept for time order.
    order_ts: Option<i64>,
    disordered: bool,
    eof: bool,
    bar_secs: Option<i64>,
    /// Rows kept for order while the bar length is not known yet.
    pending: VecDeque<(u64, Bar)>,
    held_peak: usize,
    prev_close: Option<(u64, f64)>,
    /// The last bar given.
    last_ts: Option<i64>,
    counts: Counts,
    keep_skipped: usize,
    examples: Vec<SkippedRow>,
    /// Strict: the first refused row by line and how many were.
    first_refused: Option<SkippedRow>,
    refused: u64,
}

impl<R: Read> BarStream<R> {
    /// Reads what `scan` judged again (from `r`; `path` names it in errors): the bars it kept,
    /// holding none ahead. A row judged differently from the scan (the file changed since) is
    /// an error, as is a different count at the end.
    pub fn checked(r: R, path: &Path, scan: &Scan) -> Result<Self> {
        let mut s = BarStream::new(
            r,
            path,
            scan.opts,
            Some(scan.order.clone()),
            Some(scan.bar_secs),
            0,
        )?;
        s.expect = Some(scan.counts);
        Ok(s)
    }

    fn new(
        r: R,
        path: &Path,
        opts: ReadOptions,
        order: Option<Arc<Vec<SkippedRow>>>,
        bar_secs: Option<i64>,
        keep_skipped: usize,
    ) -> Result<Self> {
        let row_err = |line: u64, message: String| Error::DataRow {
            path: path.to_path_buf(),
            line,
            message,
        };
        let rows = Rows::new(r).map_err(|(line, m)| row_err(line, m))?;
        Ok(BarStream {
            rows,
            path: path.to_path_buf(),
            opts,
            order: match order {
                Some(refused) => Order::Plan { refused, next: 0 },
                None => Order::Assume,
            },
            expect: None,
            order_ts: None,
            disordered: false,
            eof: false,
            bar_secs,
            pending: VecDeque::new(),
            held_peak: 0,
            prev_close: None,
            last_ts: None,
            counts: Counts::default(),
            keep_skipped,
            examples: Vec::new(),
            first_refused: None,
            refused: 0,
        })
    }

    fn row_err(&self, line: u64, message: String) -> Error {
        Error::DataRow {
            path: self.path.clone(),
            line,
            message,
        }
    }

    /// The rows judged so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The time of the last bar given.
    pub fn last_ts(&self) -> Option<i64> {
        self.last_ts
    }

    /// The bar length (known from the scan, or once enough rows are read).
    pub fn bar_secs(&self) -> Option<i64> {
        self.bar_secs
    }

    /// The most rows this stream held at once (besides the one it gives).
    pub fn held_peak(&self) -> usize {
        self.held_peak
    }

    /// Up to `max` (at least 1) next bars; empty at the end.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Bar>> {
        batch(self, max)
    }

    /// The next kept bar; `None` at the end (where a strict read's refusals are an error).
    pub fn next_bar(&mut self) -> Result<Option<Bar>> {
        loop {
            if let Some(bar_secs) = self.bar_secs {
                if let Some((line, b)) = self.pending.pop_front() {
                    if let Some(b) = self.judge(bar_secs, line, b)? {
                        return Ok(Some(b));
                    }
                    continue;
                }
            }
            if self.disordered {
                return Ok(None);
            }
            if self.eof {
                if self.bar_secs.is_none() {
                    self.bar_secs = Some(infer_bar_secs(&self.pending));
                    continue;
                }
                return self.end().map(|()| None);
            }
            match self.next_in_order()? {
                None => self.eof = true,
                Some((line, b)) => match self.bar_secs {
                    Some(bar_secs) => {
                        if let Some(b) = self.judge(bar_secs, line, b)? {
                            return Ok(Some(b));
                        }
                    }
                    None => {
                        self.pending.push_back((line, b));
                        self.held_peak = self.held_peak.max(self.pending.len());
                        if self.pending.len() >= BAR_SECS_ROWS {
                            self.bar_secs = Some(infer_bar_secs(&self.pending));
                        }
                    }
                },
            }
        }
    }

    /// At the end: a strict read's refusals, a checked read's counts.
    fn end(&mut self) -> Result<()> {
        if let Some(first) = &self.first_refused {
            let more = if self.refused > 1 {
                format!(" ({} more rows refused)", self.refused - 1)
            } else {
                String::new()
            };
            return Err(self.row_err(first.line, format!("{}{more}", first.reason)));
        }
        if let Some(e) = self.expect {
            if e != self.counts {
                return Err(self.row_err(
                    self.counts.rows + 1,
                    format!(
                        "the file changed while it was replayed: {} rows, {} bars now, {} rows, {} bars when it was checked",
                        self.counts.rows, self.counts.bars, e.rows, e.bars
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The next row that parses and is in time order; `None` at the end of the file (or, with
    /// no order verdict yet, at the first row out of order: `disordered`).
    fn next_in_order(&mut self) -> Result<Option<(u64, Bar)>> {
        loop {
            let next = self.rows.next_row();
            let Some((line, parsed)) = next.map_err(|(l, m)| self.row_err(l, m))? else {
                return Ok(None);
            };
            self.counts.rows += 1;
            let b = match parsed {
                Ok(b) => b,
                Err(reason) => {
                    if self.opts.policy == RowPolicy::Strict {
                        return Err(self.row_err(line, reason));
                    }
                    self.skip(line, reason);
                    continue;
                }
            };
            if let Order::Plan { refused, next } = &mut self.order {
                if let Some(r) = refused.get(*next).filter(|r| r.line == line) {
                    let reason = r.reason.clone();
                    *next += 1;
                    self.refuse(line, reason)?;
                    continue;
                }
            }
            if let Some(t) = self.order_ts.filter(|t| b.ts <= *t) {
                if matches!(self.order, Order::Assume) {
                    self.disordered = true;
                    return Ok(None);
                }
                return Err(self.row_err(
                    line,
                    format!(
                        "timestamp {} is not after {}: the file changed while it was replayed",
                        show_time(b.ts),
                        show_time(t)
                    ),
                ));
            }
            self.order_ts = Some(b.ts);
            return Ok(Some((line, b)));
        }
    }

    /// The session and the jump from the previous kept close.
    fn judge(&mut self, bar_secs: i64, line: u64, b: Bar) -> Result<Option<Bar>> {
        if let Some(s) = &self.opts.session {
            let inside = if bar_secs >= 86_400 {
                s.is_trading_day(b.ts)
            } else {
                s.contains(b.ts)
            };
            if !inside {
                self.refuse(
                    line,
                    format!(
                        "timestamp {} is outside the trading session",
                        show_time(b.ts)
                    ),
                )?;
                return Ok(None);
            }
        }
        if let Some((pl, pc)) = self.prev_close {
            let ratio = (b.high / pc).max(pc / b.low);
            if ratio > MAX_JUMP {
                self.refuse(
                    line,
                    format!(
                        "prices {}..{} are more than {MAX_JUMP}x away from line {pl}'s close {pc}",
                        b.low, b.high
                    ),
                )?;
                return Ok(None);
            }
        }
        self.prev_close = Some((line, b.close));
        self.last_ts = Some(b.ts);
        self.counts.bars += 1;
        Ok(Some(b))
    }

    /// A parsed row refused (order, session, jump): skipped, or remembered for a strict
    /// read's error (at once when the file was checked before: it changed).
    fn refuse(&mut self, line: u64, reason: String) -> Result<()> {
        if self.opts.policy == RowPolicy::Skip {
            self.skip(line, reason);
            return Ok(());
        }
        if self.expect.is_some() {
            return Err(self.row_err(
                line,
                format!("{reason} (the file changed while it was replayed)"),
            ));
        }
        self.refused += 1;
        if self.first_refused.as_ref().is_none_or(|f| line < f.line) {
            self.first_refused = Some(SkippedRow { line, reason });
        }
        Ok(())
    }

    /// A row left out under the skip policy: counted, and kept among the first by line.
    fn skip(&mut self, line: u64, reason: String) {
        self.counts.skipped += 1;
        // Rows held for the bar length are judged after later rows are read: keep by line.
        let at = self.examples.partition_point(|r| r.line < line);
        if at < self.keep_skipped {
            self.examples.insert(at, SkippedRow { line, reason });
            self.examples.truncate(self.keep_skipped);
        }
    }
}

/// The smallest positive gap among `rows` (the first [`BAR_SECS_ROWS`]), capped at a day;
/// 60 s without one.
fn infer_bar_secs(rows: &VecDeque<(u64, Bar)>) -> i64 {
    let mut min: Option<i64> = None;
    let mut prev: Option<i64> = None;
    for (_, b) in rows.iter().take(BAR_SECS_ROWS) {
        if let Some(p) = prev {
            let d = b.ts - p;
            if d > 0 && min.is_none_or(|m| d < m) {
                min = Some(d);
            }
        }
        prev = Some(b.ts);
    }
    min.unwrap_or(60).min(86_400)
}

/// The rows refused for time order over the whole file: all but a longest strictly increasing
/// run of the parsed rows' times, each with why (naming its kept neighbour). Under the strict
/// policy the first unparsable row is an error.
fn order_refusals<R: Read>(r: R, path: &Path, opts: ReadOptions) -> Result<Vec<SkippedRow>> {
    let mut s = BarStream::new(r, path, opts, None, None, 0)?;
    let (mut ts, mut lines) = (Vec::new(), Vec::new());
    loop {
        let next = s.rows.next_row();
        let Some((line, parsed)) = next.map_err(|(l, m)| s.row_err(l, m))? else {
            break;
        };
        match parsed {
            Ok(b) => {
                ts.push(b.ts);
                lines.push(line);
            }
            Err(reason) if opts.policy == RowPolicy::Strict => {
                return Err(s.row_err(line, reason));
            }
            Err(_) => {}
        }
    }
    let keep = longest_increasing(&ts);
    let mut out = Vec::with_capacity(ts.len() - keep.len());
    let mut k = keep.iter().peekable();
    let mut last_kept: Option<usize> = None;
    for i in 0..ts.len() {
        if k.peek() == Some(&&i) {
            k.next();
            last_kept = Some(i);
            continue;
        }
        let next_kept = k.peek().map(|&&j| j);
        let why = match (last_kept, next_kept) {
            (Some(p), _) if ts[i] <= ts[p] => format!(
                "timestamp {} is not after line {}'s {}: rows must be in time order",
                show_time(ts[i]),
                lines[p],
                show_time(ts[p])
            ),
            (_, Some(n)) => format!(
                "timestamp {} is not before line {}'s {}: rows must be in time order",
                show_time(ts[i]),
                lines[n],
                show_time(ts[n])
            ),
            _ => format!("timestamp {} is out of time order", show_time(ts[i])),
        };
        out.push(SkippedRow {
            line: lines[i],
            reason: why,
        });
    }
    Ok(out)
}

/// Several sources interleaved in time order, ties by source index; source `k` is symbol `k`.
/// Holds one bar per source.
pub struct Merge<S: NextBar> {
    streams: Vec<S>,
    heads: Vec<Option<Bar>>,
    order: BinaryHeap<Reverse<(i64, usize)>>,
}

impl<S: NextBar> Merge<S> {
    pub fn new(mut streams: Vec<S>) -> Result<Self> {
        let mut heads = Vec::with_capacity(streams.len());
        let mut order = BinaryHeap::with_capacity(streams.len());
        for (k, s) in streams.iter_mut().enumerate() {
            let b = s.next_bar()?;
            if let Some(b) = &b {
                order.push(Reverse((b.ts, k)));
            }
            heads.push(b);
        }
        Ok(Merge {
            streams,
            heads,
            order,
        })
    }

    /// Up to `max` (at least 1) next bars with their stream's index; empty at the end.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<(SymbolId, Bar)>> {
        let max = max.max(1);
        let mut out = Vec::with_capacity(max.min(1 << 16));
        while out.len() < max {
            let Some(Reverse((_, k))) = self.order.pop() else {
                break;
            };
            let Some(b) = self.heads[k].take() else {
                continue;
            };
            out.push((SymbolId(k as u16), b));
            let next = self.streams[k].next_bar()?;
            if let Some(n) = &next {
                self.order.push(Reverse((n.ts, k)));
            }
            self.heads[k] = next;
        }
        Ok(out)
    }

    /// The sources (their counts and last times).
    pub fn streams(&self) -> &[S] {
        &self.streams
    }
}

#[cfg(test)]
mod tests;
