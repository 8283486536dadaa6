//! The bars a replay's scan keeps, in an unnamed temporary file: written as the scan judges
//! the CSV (so it is parsed once), read back in order as the bars are fed. 48 bytes a bar,
//! exact bits; the file is unlinked from the start, so the system removes it when the
//! process ends, even after a kill.

use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use messages::Bar;

use super::stream::{open, scan_into, BarSink, Counts, NextBar, Scan};
use super::verdict::ReadOptions;
use crate::error::{Error, Result};

/// Judges the file `path` (see [`scan`](super::stream::scan)) and keeps the bars it kept in an unnamed temporary
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
const SPILL_BUFFER: usize = 256 * 1024;

/// Bytes of a bar in a spill file: the time and the five prices/volume, little-endian.
const SPILLED_BAR: usize = 48;

/// Where the scan writes the bars it keeps.
struct Spill {
    w: BufWriter<std::fs::File>,
    path: PathBuf,
}

impl BarSink for Spill {
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

    /// Up to `max` (at least 1) next bars; empty at the end. Read in blocks of
    /// [`BLOCK_BARS`], not bar by bar.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Bar>> {
        let n = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(max.max(1));
        let mut out = Vec::with_capacity(n);
        let mut block = [0u8; SPILLED_BAR * BLOCK_BARS];
        while out.len() < n {
            let k = (n - out.len()).min(BLOCK_BARS);
            let bytes = &mut block[..k * SPILLED_BAR];
            self.r.read_exact(bytes).map_err(|source| Error::Spill {
                path: self.path.clone(),
                source,
            })?;
            out.extend(bytes.chunks_exact(SPILLED_BAR).map(decode));
        }
        self.left -= n as u64;
        if let Some(b) = out.last() {
            self.last_ts = Some(b.ts);
        }
        Ok(out)
    }
}

/// Bars read from a spill file at once.
const BLOCK_BARS: usize = 256;

/// The bar in `buf` ([`SPILLED_BAR`] bytes, as [`Spill::push`] wrote it).
fn decode(buf: &[u8]) -> Bar {
    let word = |k: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[8 * k..8 * k + 8]);
        w
    };
    let f = |k: usize| f64::from_bits(u64::from_le_bytes(word(k)));
    Bar {
        ts: i64::from_le_bytes(word(0)),
        open: f(1),
        high: f(2),
        low: f(3),
        close: f(4),
        volume: f(5),
    }
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
        let b = decode(&buf);
        self.last_ts = Some(b.ts);
        Ok(Some(b))
    }
}
