//! Azure Functions 2021 invocation trace: CSV with header
//! `app,func,end_timestamp,duration` (seconds from the trace start, and
//! seconds). Columns are located by header name. An invocation arrives at
//! `end_timestamp - duration`; its duration maps to the fib whose CPU time
//! is closest (capped at TRACE_MAX_MS). The class is `az21-<first 12 hex of
//! func>`.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::{fib_for_duration_ms, parse_field, trace_name, RawInvocation, RawTrace};
use crate::functions::Calibration;

pub fn read(path: &Path, cal: &Calibration) -> Result<RawTrace> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading Azure 2021 trace {}", path.display()))?;
    parse(path, &text, cal)
}

/// Split a simple CSV line (no embedded commas), trimming spaces and quotes.
pub(crate) fn split_csv(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').trim())
        .collect()
}

pub fn parse(path: &Path, text: &str, cal: &Calibration) -> Result<RawTrace> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((h_idx, header)) = lines.next() else {
        bail!("{}: empty Azure 2021 trace", path.display());
    };
    let header = split_csv(header.trim_start_matches('\u{feff}'));
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            anyhow!(
                "{}:{}: header has no {name:?} column (expected app,func,end_timestamp,duration)",
                path.display(),
                h_idx + 1
            )
        })
    };
    let (c_func, c_end, c_dur) = (col("func")?, col("end_timestamp")?, col("duration")?);
    let width = header.len();
    let mut items = Vec::new();
    for (i, line) in lines {
        let lineno = i + 1;
        let f = split_csv(line);
        if f.len() != width {
            bail!(
                "{}:{lineno}: expected {width} comma-separated fields, found {}",
                path.display(),
                f.len()
            );
        }
        let end: f64 = parse_field(path, lineno, "end_timestamp", f[c_end])?;
        let dur: f64 = parse_field(path, lineno, "duration", f[c_dur])?;
        if !(end.is_finite() && dur.is_finite() && dur >= 0.0) {
            bail!(
                "{}:{lineno}: end_timestamp {end} / duration {dur} out of range",
                path.display()
            );
        }
        let func = f[c_func];
        if func.is_empty() {
            bail!("{}:{lineno}: empty func", path.display());
        }
        let start_s = (end - dur).max(0.0);
        let short: String = func.chars().take(12).collect();
        items.push(RawInvocation {
            arrival_ns: (start_s * 1e9) as u64,
            class: format!("az21-{short}"),
            spec: fib_for_duration_ms(cal, dur * 1e3),
        });
    }
    Ok(RawTrace {
        name: trace_name("azure2021", path),
        items,
        span_ns: None,
    })
}
