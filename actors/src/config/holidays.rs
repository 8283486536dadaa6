//! `market.holiday_files`: the exchange holidays as data, read by `run` (the format and its
//! checks are in [`crate::logic::calendar`]).

/// The largest holiday file read (a year's list is under 2 KB).
pub const MAX_HOLIDAY_FILE_BYTES: u64 = 1 << 20;

impl super::Market {
    /// The holidays of every file of `holiday_files`, in file order. An unreadable or bad file
    /// is an error naming the file, the line and the field.
    pub fn load_holidays(&self) -> crate::error::Result<Vec<crate::logic::calendar::Holiday>> {
        use std::io::Read;
        let mut out = Vec::new();
        for path in &self.holiday_files {
            let read_err = |source| crate::error::Error::DataRead {
                path: path.clone(),
                source,
            };
            let mut text = String::new();
            std::fs::File::open(path)
                .map_err(read_err)?
                .take(MAX_HOLIDAY_FILE_BYTES + 1)
                .read_to_string(&mut text)
                .map_err(read_err)?;
            if text.len() as u64 > MAX_HOLIDAY_FILE_BYTES {
                return Err(crate::error::Error::DataRow {
                    path: path.clone(),
                    line: 0,
                    message: format!("a holiday file is at most {MAX_HOLIDAY_FILE_BYTES} bytes"),
                });
            }
            let list = crate::logic::calendar::parse_holidays(&text).map_err(|e| {
                crate::error::Error::DataRow {
                    path: path.clone(),
                    line: e.line,
                    message: format!("holiday file: {}", e.message),
                }
            })?;
            out.extend(list);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::{Path, PathBuf};

    #[test]
    fn the_shipped_holiday_file_loads_and_bad_ones_name_file_and_line() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut m = Config::default_config().unwrap().market;
        assert_eq!(
            m.holiday_files,
            vec![PathBuf::from("config/holidays/nse-2026.csv")]
        );
        m.holiday_files = vec![root.join("config/holidays/nse-2026.csv")];
        let h = m.load_holidays().unwrap();
        assert_eq!(h.len(), 16);
        assert!(h.iter().all(|h| h.date.format("%Y").to_string() == "2026"));
        let republic = chrono::NaiveDate::from_ymd_opt(2026, 1, 26).unwrap();
        assert!(h
            .iter()
            .any(|h| h.date == republic && h.name == "Republic Day"));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "# c\ndate,name\n2026-01-26,A\n2026-02-30,B\n").unwrap();
        m.holiday_files = vec![bad.clone()];
        let e = m.load_holidays().unwrap_err().to_string();
        assert!(e.contains("bad.csv: line 4"), "{e}");
        assert!(e.contains("date \"2026-02-30\""), "{e}");
        m.holiday_files = vec![dir.path().join("missing.csv")];
        let e = m.load_holidays().unwrap_err().to_string();
        assert!(e.contains("missing.csv"), "{e}");
    }
}
