//! The rows of a replay CSV, parsed: `(line, bar or why not)` in file order.
//!
//! Parsing (the CSV fields, five numbers and a timestamp per row) is most of a replay's
//! validating pass. A file whose lines cannot hide a record boundary — no `"` anywhere, lines
//! ending in `\n` — is cut into chunks at line ends and the chunks are parsed two at a time,
//! one on a second thread, so the pass uses both cores the engine is not using yet. Anything
//! else (quotes, `\r`-only line ends, a line longer than a chunk) is read from there on by one
//! `csv` reader, as before. Either way the rows, their line numbers and their verdicts are
//! the same; only the first [`CHUNK`]s × 2 of bytes are held at once.

use std::io::{Cursor, Read};

use messages::Bar;

use super::fields::{parse_fields, parse_row, HEADER};

/// Bytes of a chunk (a round parses two).
pub const CHUNK: usize = 1 << 20;

/// One row: its line and its bar, or why it is refused.
pub type ParsedRow = (u64, std::result::Result<Bar, String>);

/// What can go wrong reading rows: the line and the message.
pub type RowError = (u64, String);

/// The `csv` reader of the one-reader path: the bytes already read, then the rest.
type OneReader<R> = csv::Reader<std::io::Chain<Cursor<Vec<u8>>, R>>;

/// The parsed rows of a CSV with the replay header, in order.
pub struct Rows<R: Read> {
    src: Option<R>,
    chunk: usize,
    /// Bytes read past the last whole line.
    carry: Vec<u8>,
    /// The line number of `carry`'s first byte.
    line: u64,
    /// The rows of the last round are `out[0]` then `out[1]`; `next`: the first not given yet.
    next: (usize, usize),
    /// Chunk and row buffers kept from round to round (a fresh megabyte each time cost its
    /// page faults).
    spare: Vec<Vec<u8>>,
    out: [Vec<ParsedRow>; 2],
    eof: bool,
    /// One reader from here on, and what to add to its line numbers.
    seq: Option<(OneReader<R>, u64)>,
    rec: csv::ByteRecord,
}

impl<R: Read> Rows<R> {
    /// Reads and checks the header (line 1).
    pub fn new(src: R) -> std::result::Result<Self, RowError> {
        Self::with_chunk(src, CHUNK)
    }

    /// [`new`](Self::new) with chunks of `chunk` bytes (tests use small ones).
    pub fn with_chunk(mut src: R, chunk: usize) -> std::result::Result<Self, RowError> {
        let chunk = chunk.max(64);
        let mut carry = Vec::new();
        let eof = fill(&mut src, &mut carry, chunk)
            .map_err(|e| (1, format!("cannot read the header: {e}")))?;
        let mut rows = Rows {
            src: Some(src),
            chunk,
            carry: Vec::new(),
            line: 1,
            next: (2, 0),
            spare: Vec::new(),
            out: [Vec::new(), Vec::new()],
            eof,
            seq: None,
            rec: csv::ByteRecord::new(),
        };
        let lines = if eof {
            carry.len()
        } else {
            memchr::memrchr(b'\n', &carry).map_or(0, |p| p + 1)
        };
        let header_end = memchr::memchr(b'\n', &carry).map(|p| p + 1);
        match header_end {
            Some(end) if plain(&carry[..lines]) => {
                let header: Vec<u8> = carry.drain(..end).collect();
                check_header(
                    &mut csv::ReaderBuilder::new()
                        .has_headers(false)
                        .from_reader(&header[..]),
                )?;
                rows.carry = carry;
                rows.line = 2;
            }
            // Quotes, lone `\r`s or a header longer than a chunk: one reader, as it comes.
            _ => {
                let src = rows.src.take().ok_or((1, "rows read twice".to_string()))?;
                let mut rdr = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(Cursor::new(carry).chain(src));
                check_header(&mut rdr)?;
                rows.seq = Some((rdr, 0));
            }
        }
        Ok(rows)
    }

    /// The next row; `None` at the end of the file.
    pub fn next_row(&mut self) -> std::result::Result<Option<ParsedRow>, RowError> {
        loop {
            if let Some(r) = self.take_ready() {
                return Ok(Some(r));
            }
            if let Some((rdr, first)) = &mut self.seq {
                let more = rdr.read_byte_record(&mut self.rec).map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line() + *first);
                    (line, format!("unreadable row: {e}"))
                })?;
                if !more {
                    return Ok(None);
                }
                let line = self.rec.position().map_or(0, |p| p.line() + *first);
                return Ok(Some((line, parse_row(&self.rec))));
            }
            if self.eof && self.carry.is_empty() {
                return Ok(None);
            }
            self.round()?;
        }
    }

    /// Parses up to two chunks (in parallel), or hands the rest to one reader.
    fn round(&mut self) -> std::result::Result<(), RowError> {
        let mut parts: Vec<(Vec<u8>, u64)> = Vec::with_capacity(2);
        while parts.len() < 2 && !(self.eof && self.carry.is_empty()) {
            while !self.eof && self.carry.len() < self.chunk {
                let src = self
                    .src
                    .as_mut()
                    .ok_or((self.line, "rows read twice".into()))?;
                self.eof = fill(src, &mut self.carry, self.chunk)
                    .map_err(|e| (self.line, format!("unreadable row: {e}")))?;
            }
            let cut = if self.eof {
                self.carry.len()
            } else {
                match memchr::memrchr(b'\n', &self.carry) {
                    Some(p) => p + 1,
                    None => return self.sequential(parts),
                }
            };
            // A quote may hide a line end, and a lone `\r` ends a record: one reader.
            if !plain(&self.carry[..cut]) {
                return self.sequential(parts);
            }
            // The whole lines go out in `part`; the rest stays in `carry` (a recycled buffer).
            let mut part = self.spare.pop().unwrap_or_default();
            part.clear();
            part.extend_from_slice(&self.carry[cut..]);
            std::mem::swap(&mut part, &mut self.carry);
            part.truncate(cut);
            let first = self.line;
            self.line += memchr::memchr_iter(b'\n', &part).count() as u64;
            parts.push((part, first));
        }
        let [mine, theirs] = &mut self.out;
        theirs.clear();
        match parts.as_slice() {
            [] => return Ok(()),
            [(a, la)] => parse_chunk(a, *la, mine),
            [(a, la), (b, lb)] => std::thread::scope(|s| {
                let other = s.spawn(|| parse_chunk(b, *lb, theirs));
                parse_chunk(a, *la, mine);
                other
                    .join()
                    .map_err(|_| (*lb, "the parsing thread failed".to_string()))
            })?,
            _ => return Err((self.line, "more than two parts in a round".into())),
        };
        for (part, _) in parts {
            self.spare.push(part);
        }
        self.next = (0, 0);
        Ok(())
    }

    /// The next row of the last round, moved out (a refusal's text left empty behind it).
    fn take_ready(&mut self) -> Option<ParsedRow> {
        while let Some(rows) = self.out.get_mut(self.next.0) {
            if let Some(r) = rows.get_mut(self.next.1) {
                self.next.1 += 1;
                return Some(std::mem::replace(r, (0, Err(String::new()))));
            }
            self.next = (self.next.0 + 1, 0);
        }
        None
    }

    /// From here on, one `csv` reader over what is left (the parts not parsed yet first).
    fn sequential(&mut self, parts: Vec<(Vec<u8>, u64)>) -> std::result::Result<(), RowError> {
        let first = parts.first().map_or(self.line, |p| p.1);
        let mut bytes: Vec<u8> = parts.into_iter().flat_map(|p| p.0).collect();
        bytes.append(&mut self.carry);
        let src = self.src.take().ok_or((first, "rows read twice".into()))?;
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Cursor::new(bytes).chain(src));
        self.seq = Some((rdr, first - 1));
        Ok(())
    }
}

/// Reads the header record from `rdr` (whose next record it is) and checks it is the replay's.
fn check_header<T: Read>(rdr: &mut csv::Reader<T>) -> std::result::Result<(), RowError> {
    let mut rec = csv::ByteRecord::new();
    rdr.read_byte_record(&mut rec)
        .map_err(|e| (1, format!("cannot read the header: {e}")))?;
    let names: Vec<String> = rec
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    if names != HEADER {
        let shown: String = names.join(",").chars().take(200).collect();
        return Err((
            1,
            format!("header is {shown:?}, expected \"{}\"", HEADER.join(",")),
        ));
    }
    Ok(())
}

/// No quote, and every `\r` followed by `\n`: records end exactly at line ends.
fn plain(bytes: &[u8]) -> bool {
    if memchr::memchr(b'"', bytes).is_some() {
        return false;
    }
    memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// Reads into `buf` until it holds `want` bytes or the source ends; true at the end. (Into
/// the vector's spare room as it grows: a small file never costs a whole chunk.)
fn fill(src: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let need = want.saturating_sub(buf.len());
    if need == 0 {
        return Ok(false);
    }
    let got = (&mut *src).take(need as u64).read_to_end(buf)?;
    Ok(got < need)
}

/// The rows of whole lines `bytes`, whose first line is `first`, into `out`. The bytes are
/// [`plain`]: no quote, every `\r` before a `\n`; so a record is a line (less a final `\r`),
/// its fields what lies between commas, and a blank line no record — exactly what one `csv`
/// reader gives for them (a test compares the two), without its general state machine.
fn parse_chunk(bytes: &[u8], first: u64, out: &mut Vec<ParsedRow>) {
    out.clear();
    let mut line = first;
    let mut start = 0;
    let mut fields: [&[u8]; 6] = [&[]; 6];
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |p| start + p);
        let mut row = &bytes[start..end];
        if let [rest @ .., b'\r'] = row {
            row = rest;
        }
        if !row.is_empty() {
            let mut found = 0;
            for f in row.split(|&b| b == b',') {
                if let Some(slot) = fields.get_mut(found) {
                    *slot = f;
                }
                found += 1;
            }
            out.push((line, parse_fields(&fields, found)));
        }
        line += 1;
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first byte at or after `at` that is not a line end.
    fn skip_line_ends(bytes: &[u8], mut at: usize) -> usize {
        while matches!(bytes.get(at), Some(b'\n' | b'\r')) {
            at += 1;
        }
        at
    }

    /// Every row as one `csv` reader gives it, on its line: `csv`'s own count (the one-reader
    /// path's), or the line ends before the row's first byte (the chunked path's).
    fn reference(text: &str, true_lines: bool) -> Vec<ParsedRow> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::Headers)
            .from_reader(text.as_bytes());
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while rdr.read_byte_record(&mut rec).unwrap() {
            let p = rec.position().unwrap();
            let line = if true_lines {
                let start = skip_line_ends(text.as_bytes(), p.byte() as usize);
                1 + text.as_bytes()[..start]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count() as u64
            } else {
                p.line()
            };
            out.push((line, parse_row(&rec)));
        }
        out
    }

    /// The first row where `got` and `want` differ (None when equal).
    fn first_diff(got: &[ParsedRow], want: &[ParsedRow]) -> Option<String> {
        if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
            return Some(format!("row {i}: got {:?}, want {:?}", got[i], want[i]));
        }
        (got.len() != want.len()).then(|| format!("{} rows, want {}", got.len(), want.len()))
    }

    fn all(text: &str, chunk: usize) -> Vec<ParsedRow> {
        let mut r = Rows::with_chunk(text.as_bytes(), chunk).unwrap();
        let mut out = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            out.push(row);
        }
        out
    }

    fn file(rows: &[&str]) -> String {
        let mut s = String::from("timestamp,open,high,low,close,volume\n");
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s
    }

    const GOOD: &str = "2024-01-01T09:15:00+05:30,100,101,99,100.5,10";

    #[test]
    fn chunked_rows_equal_one_reader_with_lines_and_verdicts() {
        let mut rows: Vec<String> = Vec::new();
        for i in 0..400 {
            rows.push(match i % 37 {
                5 => "not,a,row".to_string(),
                11 => String::new(),
                17 => format!("2024-01-01T09:{:02}:00+05:30,1,2,3,4,5", i % 60),
                _ => format!(
                    "2024-01-{:02}T10:{:02}:00+05:30,{}.5,{}.75,{}.25,{}.5,{}",
                    1 + i / 60,
                    i % 60,
                    100 + i,
                    101 + i,
                    99 + i,
                    100 + i,
                    i
                ),
            });
        }
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let text = file(&refs);
        let want = reference(&text, true);
        assert_eq!(want.len(), 400 - 11); // empty lines are no records
        for chunk in [64, 100, 333, 4096, CHUNK] {
            assert_eq!(first_diff(&all(&text, chunk), &want), None, "chunk {chunk}");
        }
        // The refused rows keep their line numbers (header is line 1).
        assert!(matches!(&all(&text, 64)[5], (7, Err(r)) if r.contains("expected 6 fields")));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]
        /// Any plain text (commas, blank lines, `\r\n`, spaces, stray fields, numbers that are
        /// and are not rows) splits into the rows, lines and verdicts one `csv` reader gives.
        #[test]
        fn plain_text_splits_as_one_csv_reader_reads_it(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::strategy::Just(GOOD.to_string()),
                    1 => proptest::strategy::Just(String::new()),
                    1 => proptest::strategy::Just(" ".to_string()),
                    3 => "[0-9a-zT:+ .,-]{0,60}",
                    2 => "2024-01-01T09:1[0-9]:00\\+05:30,[0-9. ]{1,6},[0-9.]{1,6},[0-9.]{1,6},[0-9.]{1,6},[0-9]{0,4}(,)?",
                ],
                0..60,
            ),
            crlf in proptest::bool::ANY,
            last_newline in proptest::bool::ANY,
            chunk in 64usize..600,
        ) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let mut text = file(&refs);
            if !last_newline {
                text.pop();
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            let got = all(&text, chunk);
            let want = reference(&text, true);
            proptest::prop_assert_eq!(first_diff(&got, &want), None, "{:?}", text);
        }
    }

    #[test]
    fn quotes_and_carriage_returns_fall_back_to_one_reader_from_there() {
        let mut rows: Vec<String> = (0..300).map(|_| GOOD.to_string()).collect();
        rows[150] = "\"2024-01-01T09:15:00+05:30\",\"1\n\",2,3,4,5".into();
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let text = file(&refs);
        for chunk in [64, 500, CHUNK] {
            let want = reference(&text, false);
            assert_eq!(first_diff(&all(&text, chunk), &want), None, "chunk {chunk}");
        }
        let crlf = file(&[GOOD, GOOD, "x", GOOD]).replace('\n', "\r\n");
        assert_eq!(first_diff(&all(&crlf, 64), &reference(&crlf, true)), None);
        let cr = file(&[GOOD, GOOD, "x", GOOD]).replace('\n', "\r");
        assert_eq!(first_diff(&all(&cr, 64), &reference(&cr, false)), None);
        // A line longer than a chunk.
        let long = file(&[GOOD, &format!("{GOOD}{}", " ".repeat(300)), GOOD]);
        assert_eq!(first_diff(&all(&long, 64), &reference(&long, false)), None);
    }

    #[test]
    fn header_is_checked_and_a_file_without_rows_is_empty() {
        let e = Rows::new("time,open\n1,2\n".as_bytes()).err().unwrap();
        assert_eq!(e.0, 1);
        assert!(e.1.contains("header is \"time,open\""), "{}", e.1);
        assert!(all("timestamp,open,high,low,close,volume", 64).is_empty());
        assert!(all("\u{feff}timestamp,open,high,low,close,volume\n", 64).is_empty());
        // The last line may lack its line end.
        assert_eq!(
            all(&format!("{}\n{GOOD}", file(&[GOOD]).trim_end()), 64).len(),
            2
        );
    }
}
