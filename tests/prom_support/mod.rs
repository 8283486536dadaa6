//! A strict parser of the Prometheus text exposition format (0.0.4) and the checks of what
//! the format means (counters, histograms), for the tests of the engine's `/metrics`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Family {
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

pub fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn is_label_name(s: &str) -> bool {
    is_name(s) && !s.contains(':')
}

pub fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|e| format!("value {s:?}: {e}")),
    }
}

/// `{a="x",b="y\"z"} rest` → labels and `rest`.
pub fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 1; // past '{'
    loop {
        if b.get(i) == Some(&b'}') {
            return Ok((labels, &s[i + 1..]));
        }
        let eq = s[i..].find('=').ok_or("label without '='")? + i;
        let name = &s[i..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        if b.get(eq + 1) != Some(&b'"') {
            return Err(format!("label {name} value not quoted"));
        }
        let mut v = String::new();
        let mut j = eq + 2;
        loop {
            match b.get(j) {
                None => return Err(format!("label {name}: unterminated value")),
                Some(b'"') => break,
                Some(b'\\') => {
                    match b.get(j + 1) {
                        Some(b'\\') => v.push('\\'),
                        Some(b'"') => v.push('"'),
                        Some(b'n') => v.push('\n'),
                        other => return Err(format!("label {name}: bad escape {other:?}")),
                    }
                    j += 2;
                }
                Some(_) => {
                    let ch = s[j..].chars().next().unwrap();
                    v.push(ch);
                    j += ch.len_utf8();
                }
            }
        }
        if labels.insert(name.to_string(), v).is_some() {
            return Err(format!("label {name} twice"));
        }
        i = j + 1;
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            other => return Err(format!("after label {name}: {other:?}")),
        }
    }
}

/// The family a sample name belongs to, given the family being read.
pub fn belongs(sample: &str, family: &str, kind: &str) -> bool {
    if kind == "histogram" {
        ["_bucket", "_sum", "_count"]
            .iter()
            .any(|s| sample.strip_suffix(s) == Some(family))
    } else {
        sample == family
    }
}

/// Parses text format 0.0.4 strictly; families by name.
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut seen = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            match (kw, name) {
                (Some("HELP"), Some(name)) => {
                    let f = fams.entry(name.to_string()).or_default();
                    if f.help.replace(tail.unwrap_or("").to_string()).is_some() {
                        return Err(at("HELP twice".into()));
                    }
                }
                (Some("TYPE"), Some(name)) => {
                    if !is_name(name) {
                        return Err(at("bad family name".into()));
                    }
                    let kind = tail.unwrap_or("");
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind:?}")));
                    }
                    let f = fams.entry(name.to_string()).or_default();
                    if !f.kind.is_empty() || !f.samples.is_empty() {
                        return Err(at("TYPE twice or after samples".into()));
                    }
                    f.kind = kind.to_string();
                    current = Some(name.to_string());
                }
                _ => {} // a comment
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_name(name) {
            return Err(at("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?
            .split(' ');
        let value = parse_value(rest.next().unwrap_or("")).map_err(at)?;
        if let Some(ts) = rest.next() {
            ts.parse::<i64>()
                .map_err(|e| at(format!("timestamp: {e}")))?;
        }
        if rest.next().is_some() {
            return Err(at("trailing text".into()));
        }
        let fam = current
            .as_ref()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        let f = fams.get_mut(fam).unwrap();
        if !belongs(name, fam, &f.kind) {
            return Err(at(format!(
                "sample outside its family's group (current family {fam})"
            )));
        }
        if !seen.insert((name.to_string(), format!("{labels:?}"))) {
            return Err(at("duplicate series".into()));
        }
        f.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    for (name, f) in &fams {
        if f.kind.is_empty() {
            return Err(format!("{name}: HELP without TYPE"));
        }
        if f.help.is_none() {
            return Err(format!("{name}: no HELP"));
        }
    }
    Ok(fams)
}

/// One histogram series: (le, cumulative count) per bucket, `_sum`, `_count`.
pub type Series = (Vec<(f64, f64)>, Option<f64>, Option<f64>);

/// Counters end in `_total` and never go below 0; histograms: per series, buckets ascending
/// and cumulative, `+Inf` last and equal to `_count`, `_sum` present and ≥ 0.
pub fn check_semantics(fams: &BTreeMap<String, Family>) -> Result<(), String> {
    for (name, f) in fams {
        match f.kind.as_str() {
            "counter" => {
                if !name.ends_with("_total") {
                    return Err(format!("counter {name} does not end in _total"));
                }
                if let Some(s) = f.samples.iter().find(|s| s.value.is_nan() || s.value < 0.0) {
                    return Err(format!("counter below 0: {s:?}"));
                }
            }
            "histogram" => {
                let mut series: BTreeMap<String, Series> = BTreeMap::new();
                for s in &f.samples {
                    let mut key = s.labels.clone();
                    let le = key.remove("le");
                    let e = series.entry(format!("{key:?}")).or_default();
                    if s.name.ends_with("_bucket") {
                        let le = le.ok_or_else(|| format!("{name}: bucket without le"))?;
                        e.0.push((parse_value(&le)?, s.value));
                    } else if s.name.ends_with("_sum") {
                        e.1 = Some(s.value);
                    } else {
                        e.2 = Some(s.value);
                    }
                }
                if series.is_empty() {
                    return Err(format!("{name}: no series"));
                }
                for (k, (buckets, sum, count)) in series {
                    let what = format!("{name}{k}");
                    if buckets.len() < 2 {
                        return Err(format!("{what}: {} buckets", buckets.len()));
                    }
                    for w in buckets.windows(2) {
                        if w[0].0.partial_cmp(&w[1].0) != Some(std::cmp::Ordering::Less) {
                            return Err(format!("{what}: le not ascending: {w:?}"));
                        }
                        if w[0].1 > w[1].1 {
                            return Err(format!("{what}: buckets not cumulative: {w:?}"));
                        }
                    }
                    let (le, inf) = *buckets.last().unwrap();
                    if le != f64::INFINITY {
                        return Err(format!("{what}: last bucket le={le}, not +Inf"));
                    }
                    if count != Some(inf) {
                        return Err(format!("{what}: _count {count:?} != +Inf bucket {inf}"));
                    }
                    if !sum.is_some_and(|s| s >= 0.0) {
                        return Err(format!("{what}: _sum {sum:?}"));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
