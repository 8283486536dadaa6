//! Reading a replay file as a stream: the verdicts of [`read_with`](super::replay::read_with)
//! (it is built on this), with memory that does not grow with the file.
//!
//! [`scan`] is a validating pass that keeps no bars in memory: it judges every row (so a strict
//! replay is refused before anything reaches the engine), counts them, and finds the bar length
//! and the rows to leave out for time order. The bars it keeps are then read one at a time or
//! in batches, either from [`SpilledBars`] — [`scan_file_spilled`] writes them as it goes into
//! an unnamed temporary file (48 bytes a bar), so the CSV is parsed once — or by reading the
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
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use messages::{Bar, SymbolId};

use super::replay::{
    longest_increasing, parse_row, show_time, ReadOptions, RowPolicy, SkippedRow, HEADER, MAX_JUMP,
};
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

/// Judges the file `path` (see [`scan`]) and keeps the bars it kept in an unnamed temporary
/// file (removed by the system when it is closed, even after a kill), to be read back in order.
pub fn scan_file_spilled(
    path: &Path,
    opts: ReadOptions,
    keep_skipped: usize,
) -> Result<(Scan, SpilledBars)> {
    let spill_err = |source| Error::Spill {
        path: path.to_path_buf(),
        source,
    };
    let file = tempfile::tempfile().map_err(spill_err)?;
    let mut spill = Spill {
        w: BufWriter::with_capacity(SPILL_BUFFER, file),
        path: path.to_path_buf(),
    };
    let scan = scan_into(|| open(path), path, opts, keep_skipped, Some(&mut spill))?;
    let mut file = spill
        .w
        .into_inner()
        .map_err(|e| spill_err(e.into_error()))?;
    file.rewind().map_err(spill_err)?;
    let bars = SpilledBars {
        r: BufReader::with_capacity(SPILL_BUFFER, file),
        path: path.to_path_buf(),
        left: scan.counts.bars,
        counts: scan.counts,
        last_ts: None,
    };
    Ok((scan, bars))
}

/// Buffer of a spill file, each way.
const SPILL_BUFFER: usize = 32 * 1024;

/// Bytes of a bar in a spill file: the time and the five prices/volume, little-endian.
const SPILLED_BAR: usize = 48;

/// Where the scan writes the bars it keeps.
struct Spill {
    w: BufWriter<std::fs::File>,
    path: PathBuf,
}

impl Spill {
    fn push(&mut self, b: &Bar) -> Result<()> {
        let mut buf = [0u8; SPILLED_BAR];
        buf[..8].copy_from_slice(&b.ts.to_le_bytes());
        for (k, v) in [b.open, b.high, b.low, b.close, b.volume]
            .iter()
            .enumerate()
        {
            buf[8 + 8 * k..16 + 8 * k].copy_from_slice(&v.to_bits().to_le_bytes());
        }
        self.w.write_all(&buf).map_err(|source| Error::Spill {
            path: self.path.clone(),
            source,
        })
    }

    /// Forgets what was written (the scan starts again).
    fn clear(&mut self) -> Result<()> {
        let err = |source| Error::Spill {
            path: self.path.clone(),
            source,
        };
        self.w.flush().map_err(err)?;
        self.w.get_mut().set_len(0).map_err(err)?;
        self.w.get_mut().rewind().map_err(err)
    }
}

/// The bars a scan kept, read back from its temporary file in order.
pub struct SpilledBars {
    r: BufReader<std::fs::File>,
    path: PathBuf,
    left: u64,
    counts: Counts,
    last_ts: Option<i64>,
}

impl SpilledBars {
    /// The file's counts (as scanned).
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The time of the last bar given.
    pub fn last_ts(&self) -> Option<i64> {
        self.last_ts
    }

    /// Up to `max` (at least 1) next bars; empty at the end.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Bar>> {
        batch(self, max)
    }
}

/// A source of bars in time order.
pub trait NextBar {
    /// The next bar; `None` at the end.
    fn next_bar(&mut self) -> Result<Option<Bar>>;
}

impl NextBar for SpilledBars {
    fn next_bar(&mut self) -> Result<Option<Bar>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut buf = [0u8; SPILLED_BAR];
        self.r.read_exact(&mut buf).map_err(|source| Error::Spill {
            path: self.path.clone(),
            source,
        })?;
        self.left -= 1;
        let word = |k: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[8 * k..8 * k + 8]);
            w
        };
        let f = |k: usize| f64::from_bits(u64::from_le_bytes(word(k)));
        let b = Bar {
            ts: i64::from_le_bytes(word(0)),
            open: f(1),
            high: f(2),
            low: f(3),
            close: f(4),
            volume: f(5),
        };
        self.last_ts = Some(b.ts);
        Ok(Some(b))
    }
}

impl<R: Read> NextBar for BarStream<R> {
    fn next_bar(&mut self) -> Result<Option<Bar>> {
        BarStream::next_bar(self)
    }
}

fn batch(src: &mut impl NextBar, max: usize) -> Result<Vec<Bar>> {
    let max = max.max(1);
    let mut out = Vec::with_capacity(max.min(4096));
    while out.len() < max {
        match src.next_bar()? {
            Some(b) => out.push(b),
            None => break,
        }
    }
    Ok(out)
}

fn open(path: &Path) -> Result<std::fs::File> {
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

/// [`scan`], writing the bars kept into `spill`.
fn scan_into<R: Read>(
    open: impl Fn() -> Result<R>,
    path: &Path,
    opts: ReadOptions,
    keep_skipped: usize,
    mut spill: Option<&mut Spill>,
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
    rdr: csv::Reader<R>,
    rec: csv::ByteRecord,
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
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(r);
        let names: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| row_err(1, format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .to_string()
            })
            .collect();
        if names != HEADER {
            let shown: String = names.join(",").chars().take(200).collect();
            return Err(row_err(
                1,
                format!("header is {shown:?}, expected \"{}\"", HEADER.join(",")),
            ));
        }
        Ok(BarStream {
            rdr,
            rec: csv::ByteRecord::new(),
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
            let more = self.rdr.read_byte_record(&mut self.rec).map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                self.row_err(line, format!("unreadable row: {e}"))
            })?;
            if !more {
                return Ok(None);
            }
            let line = self.rec.position().map(|p| p.line()).unwrap_or(0);
            self.counts.rows += 1;
            let b = match parse_row(&self.rec) {
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
        let more = s.rdr.read_byte_record(&mut s.rec).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            s.row_err(line, format!("unreadable row: {e}"))
        })?;
        if !more {
            break;
        }
        let line = s.rec.position().map(|p| p.line()).unwrap_or(0);
        match parse_row(&s.rec) {
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
        let mut out = Vec::with_capacity(max.min(4096));
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
mod tests {
    use super::*;
    use crate::feed::replay::{parse_timestamp, read_with, ReplayData};
    use crate::logic::session::Session;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("t.csv")
    }

    /// The reader as it was when it read the whole file at once (kept verbatim): the streamed
    /// reader must give the same bars, counts, skipped rows and errors.
    fn reference_read(r: &[u8], path: &Path, opts: ReadOptions) -> Result<ReplayData> {
        let row_err = |line: u64, message: String| Error::DataRow {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(r);
        let header = rdr
            .byte_headers()
            .map_err(|e| row_err(1, format!("cannot read the header: {e}")))?
            .clone();
        let names: Vec<String> = header
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .to_string()
            })
            .collect();
        if names != HEADER {
            let shown: String = names.join(",").chars().take(200).collect();
            return Err(row_err(
                1,
                format!("header is {shown:?}, expected \"{}\"", HEADER.join(",")),
            ));
        }
        // 1. Each row on its own.
        let mut bars: Vec<Bar> = Vec::new();
        let mut lines: Vec<u64> = Vec::new();
        let mut skipped: Vec<SkippedRow> = Vec::new();
        let mut rec = csv::ByteRecord::new();
        loop {
            let more = rdr.read_byte_record(&mut rec).map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                row_err(line, format!("unreadable row: {e}"))
            })?;
            if !more {
                break;
            }
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            match parse_row(&rec) {
                Ok(b) => {
                    bars.push(b);
                    lines.push(line);
                }
                Err(reason) => {
                    if opts.policy == RowPolicy::Strict {
                        return Err(row_err(line, reason));
                    }
                    skipped.push(SkippedRow { line, reason });
                }
            }
        }
        let rows = (bars.len() + skipped.len()) as u64;
        // 2. Time order over the whole file.
        let ts: Vec<i64> = bars.iter().map(|b| b.ts).collect();
        let keep = longest_increasing(&ts);
        let mut rejected: Vec<SkippedRow> = Vec::new();
        if keep.len() < bars.len() {
            let mut k = keep.iter().peekable();
            let mut last_kept: Option<usize> = None;
            for i in 0..bars.len() {
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
                rejected.push(SkippedRow {
                    line: lines[i],
                    reason: why,
                });
            }
        }
        let mut kept: Vec<(u64, Bar)> = keep.into_iter().map(|i| (lines[i], bars[i])).collect();
        drop(bars);
        let bar_secs = kept
            .windows(2)
            .take(5000)
            .map(|w| w[1].1.ts - w[0].1.ts)
            .filter(|d| *d > 0)
            .min()
            .unwrap_or(60)
            .min(86_400);
        // 3. The session, and 4. jumps against the previous kept close.
        let mut prev_close: Option<(u64, f64)> = None;
        kept.retain(|(line, b)| {
            if let Some(s) = &opts.session {
                let inside = if bar_secs >= 86_400 {
                    s.is_trading_day(b.ts)
                } else {
                    s.contains(b.ts)
                };
                if !inside {
                    rejected.push(SkippedRow {
                        line: *line,
                        reason: format!(
                            "timestamp {} is outside the trading session",
                            show_time(b.ts)
                        ),
                    });
                    return false;
                }
            }
            if let Some((pl, pc)) = prev_close {
                let ratio = (b.high / pc).max(pc / b.low);
                if ratio > MAX_JUMP {
                    rejected.push(SkippedRow {
                        line: *line,
                        reason: format!(
                            "prices {}..{} are more than {MAX_JUMP}x away from line {pl}'s close {pc}",
                            b.low, b.high
                        ),
                    });
                    return false;
                }
            }
            prev_close = Some((*line, b.close));
            true
        });
        if !rejected.is_empty() {
            rejected.sort_by_key(|r| r.line);
            if opts.policy == RowPolicy::Strict {
                let n = rejected.len();
                let first = rejected.swap_remove(0);
                let more = if n > 1 {
                    format!(" ({} more rows refused)", n - 1)
                } else {
                    String::new()
                };
                return Err(row_err(first.line, format!("{}{more}", first.reason)));
            }
            skipped.extend(rejected);
            skipped.sort_by_key(|r| r.line);
        }
        Ok(ReplayData {
            bars: kept.into_iter().map(|(_, b)| b).collect(),
            bar_secs,
            rows,
            skipped,
        })
    }

    /// `n` clean 15-minute NSE bars from 2024-01-02 09:15 IST, closes 100, 101, … (wrapping
    /// to stay far from the jump limit).
    fn clean(n: usize) -> Vec<String> {
        let s = Session::nse();
        let mut t = parse_timestamp("2024-01-02T09:15:00+05:30").unwrap();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if s.contains(t) {
                let c = 100.0 + (out.len() % 50) as f64;
                out.push(format!("{t},{c},{},{},{c},10", c + 1.0, c - 1.0));
            }
            t += 900;
        }
        out
    }

    fn csv(rows: &[String]) -> String {
        format!(
            "timestamp,open,high,low,close,volume\n{}\n",
            rows.join("\n")
        )
    }

    fn opts(policy: RowPolicy) -> ReadOptions {
        ReadOptions {
            policy,
            session: Some(Session::nse()),
        }
    }

    fn same(f: &str, o: ReadOptions) {
        let new = read_with(f.as_bytes(), p(), o).map_err(|e| e.to_string());
        let old = reference_read(f.as_bytes(), p(), o).map_err(|e| e.to_string());
        assert_eq!(new, old);
    }

    /// Damage of one kind at row `at`.
    fn damage(rows: &mut [String], at: usize, kind: u8) {
        let Some(row) = rows.get(at).cloned() else {
            return;
        };
        // A row damaged before (not a number, or no fields) is left as it is.
        let Some((ts, rest)) = row.split_once(',') else {
            return;
        };
        let Ok(t) = ts.parse::<i64>() else {
            return;
        };
        let prices = rest.split_once(',').map_or("", |(_, r)| r);
        rows[at] = match kind % 7 {
            0 => format!("{ts},1e308,{prices}"),
            1 => format!("9999-01-02T09:15:00+05:30,{rest}"),
            2 => format!("2030-01-02T10:15:00+05:30,{rest}"),
            3 => format!("{ts},100,10400,99,100,1"),
            4 => format!("{},{rest}", t - 3600 * 24 * 3),
            5 => "garbage".into(),
            _ => format!("{},{rest}", t + 4 * 3600),
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn streamed_reading_judges_as_the_whole_file_reader_did(
            n in 0usize..120,
            hits in prop::collection::vec((0usize..120, any::<u8>()), 0..6),
            swaps in prop::collection::vec(0usize..120, 0..3),
        ) {
            let mut rows = clean(n);
            for (at, kind) in hits {
                damage(&mut rows, at, kind);
            }
            for s in swaps {
                if s + 1 < rows.len() {
                    rows.swap(s, s + 1);
                }
            }
            let f = csv(&rows);
            for policy in [RowPolicy::Strict, RowPolicy::Skip] {
                same(&f, opts(policy));
                same(&f, ReadOptions { policy, session: None });
            }
        }
    }

    #[test]
    fn rows_past_the_bar_length_look_ahead_are_judged_as_before() {
        // Damage on both sides of the rows that decide the bar length, and a file whose only
        // disorder comes after them.
        for kinds in [[0u8, 3, 6], [1, 4, 5], [2, 2, 2], [4, 4, 4]] {
            let mut rows = clean(BAR_SECS_ROWS + 700);
            for (at, kind) in [
                (10, kinds[0]),
                (BAR_SECS_ROWS - 1, kinds[1]),
                (BAR_SECS_ROWS + 300, kinds[2]),
            ] {
                damage(&mut rows, at, kind);
            }
            let f = csv(&rows);
            for policy in [RowPolicy::Strict, RowPolicy::Skip] {
                same(&f, opts(policy));
            }
        }
    }

    #[test]
    fn the_stream_holds_a_bounded_number_of_rows_whatever_the_files_length() {
        let mut peaks = Vec::new();
        for n in [BAR_SECS_ROWS + 1000, 12 * BAR_SECS_ROWS] {
            let f = csv(&clean(n));
            let o = opts(RowPolicy::Strict);
            let scan = scan(|| Ok(f.as_bytes()), p(), o, 10).unwrap();
            assert_eq!(
                scan.counts,
                Counts {
                    rows: n as u64,
                    bars: n as u64,
                    skipped: 0
                }
            );
            assert_eq!(scan.bar_secs, 900);
            let mut s = BarStream::checked(f.as_bytes(), p(), &scan).unwrap();
            let mut total = 0;
            loop {
                let batch = s.next_batch(500).unwrap();
                assert!(batch.len() <= 500);
                if batch.is_empty() {
                    break;
                }
                total += batch.len();
            }
            assert_eq!(total, n);
            assert_eq!(s.counts(), scan.counts);
            assert_eq!(s.held_peak(), 0, "the checked stream holds nothing ahead");
            peaks.push(scan.held_peak);
        }
        // The validating pass holds the rows that decide the bar length, and no more, for a
        // file twelve times longer alike.
        assert_eq!(peaks, [BAR_SECS_ROWS, BAR_SECS_ROWS]);
    }

    #[test]
    fn spilled_bars_are_the_bars_kept_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.csv");
        // In order, and with rows out of order (the scan starts again, and so does the spill).
        for swap in [None, Some(BAR_SECS_ROWS + 50), Some(7)] {
            let mut rows = clean(BAR_SECS_ROWS + 400);
            damage(&mut rows, 3, 0);
            damage(&mut rows, BAR_SECS_ROWS + 10, 3);
            if let Some(i) = swap {
                rows.swap(i, i + 1);
            }
            rows[100] = rows[100].replace(",10", ",0.1234567890123");
            std::fs::write(&f, csv(&rows)).unwrap();
            let o = opts(RowPolicy::Skip);
            let want = read_with(std::fs::File::open(&f).unwrap(), &f, o).unwrap();
            let (sc, mut spilled) = scan_file_spilled(&f, o, 10).unwrap();
            assert_eq!(sc.counts.bars as usize, want.bars.len());
            assert_eq!(sc.skipped[..], want.skipped[..sc.skipped.len()]);
            let mut got = Vec::new();
            loop {
                let b = spilled.next_batch(1000).unwrap();
                if b.is_empty() {
                    break;
                }
                got.extend(b);
            }
            let bits = |v: &[Bar]| -> Vec<[u64; 6]> {
                v.iter()
                    .map(|b| {
                        [
                            b.ts as u64,
                            b.open.to_bits(),
                            b.high.to_bits(),
                            b.low.to_bits(),
                            b.close.to_bits(),
                            b.volume.to_bits(),
                        ]
                    })
                    .collect()
            };
            assert_eq!(bits(&got), bits(&want.bars), "swap {swap:?}");
            assert_eq!(spilled.last_ts(), want.bars.last().map(|b| b.ts));
        }
        // A strict scan of a bad file is refused before any bar is given.
        let mut rows = clean(50);
        damage(&mut rows, 40, 0);
        std::fs::write(&f, csv(&rows)).unwrap();
        let e = scan_file_spilled(&f, opts(RowPolicy::Strict), 10)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 42"), "{e}");
    }

    #[test]
    fn several_streams_merge_in_time_order_ties_by_index() {
        let a = csv(&clean(300));
        let b: Vec<String> = clean(600).into_iter().skip(1).step_by(2).collect();
        let b = csv(&b);
        let o = opts(RowPolicy::Strict);
        let files = [a.as_bytes(), b.as_bytes(), a.as_bytes()];
        let mut streams = Vec::new();
        let mut all = Vec::new();
        for (k, f) in files.iter().enumerate() {
            let sc = scan(|| Ok(*f), p(), o, 0).unwrap();
            streams.push(BarStream::checked(*f, p(), &sc).unwrap());
            all.extend(
                read_with(*f, p(), o)
                    .unwrap()
                    .bars
                    .into_iter()
                    .map(|b| (SymbolId(k as u16), b)),
            );
        }
        all.sort_by_key(|(s, b)| (b.ts, s.0));
        let mut m = Merge::new(streams).unwrap();
        let mut got = Vec::new();
        loop {
            let batch = m.next_batch(97).unwrap();
            assert!(batch.len() <= 97);
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        assert_eq!(got, all);
        assert_eq!(m.streams()[1].counts().bars, 300);
    }

    #[test]
    fn a_file_changed_after_its_scan_is_an_error_not_other_bars() {
        let rows = clean(50);
        let f = csv(&rows);
        let o = opts(RowPolicy::Strict);
        let sc = scan(|| Ok(f.as_bytes()), p(), o, 0).unwrap();
        let mut bad = rows.clone();
        damage(&mut bad, 20, 0);
        let g = csv(&bad);
        let mut s = BarStream::checked(g.as_bytes(), p(), &sc).unwrap();
        let e = loop {
            match s.next_bar() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the changed row was given or skipped"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(e.contains("line 22"), "{e}");
        // Fewer rows than scanned: the count at the end says so.
        let g = csv(&rows[..40]);
        let mut s = BarStream::checked(g.as_bytes(), p(), &sc).unwrap();
        let e = loop {
            match s.next_bar() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a shorter file ended quietly"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(e.contains("changed while it was replayed"), "{e}");
    }
}
