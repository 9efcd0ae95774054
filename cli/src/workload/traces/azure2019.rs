//! Azure Functions 2019 trace (AzurePublicDataset): two CSV files per day,
//! `invocations_per_function_md.anon.dNN.csv` (HashOwner, HashApp,
//! HashFunction, Trigger, and per-minute counts in columns `1`..`1440`, or
//! `minute_1`.. in some public samples) and
//! `function_durations_percentiles.anon.dNN.csv` (HashOwner, HashApp,
//! HashFunction, Average, Count, Minimum, Maximum, percentile_Average_0, _1,
//! _25, _50, _75, _99, _100, in ms). Columns are located by header name.
//!
//! `trace:FILE` may name either file (the other is found next to it by
//! swapping the file-name prefix) or a directory holding both.
//!
//! Sampling, the way InVitro does it: each minute's count of a function
//! becomes that many arrivals at uniformly random instants within the
//! minute; each invocation's duration is drawn by picking a percentile
//! bracket with its probability mass (1%, 24%, 25%, 25%, 24%, 1%) and a
//! uniform value within it. Durations map to fib through the calibration
//! (capped at TRACE_MAX_MS). Functions without a durations row are skipped.
//! Only the minutes needed to fill `--duration` after rescaling to `--load`
//! are generated. The class is `az19-<first 12 hex of HashFunction>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::azure2021::split_csv;
use super::MAX_TRACE_INVOCATIONS;
use super::{fib_for_duration_ms, parse_field, trace_name, RawInvocation, RawTrace, TRACE_MAX_MS};
use crate::functions::Calibration;
use crate::workload::WorkloadOpts;

pub const INVOCATIONS_PREFIX: &str = "invocations_per_function_md";
pub const DURATIONS_PREFIX: &str = "function_durations_percentiles";

/// Percentile columns and the cumulative fraction each stands for.
pub const PERCENTILES: &[(&str, f64)] = &[
    ("percentile_Average_0", 0.0),
    ("percentile_Average_1", 0.01),
    ("percentile_Average_25", 0.25),
    ("percentile_Average_50", 0.50),
    ("percentile_Average_75", 0.75),
    ("percentile_Average_99", 0.99),
    ("percentile_Average_100", 1.0),
];

const KEY_COLUMNS: &[&str] = &["HashOwner", "HashApp", "HashFunction"];

/// A function's duration distribution (ms at the PERCENTILES points).
#[derive(Debug, Clone, PartialEq)]
pub struct Percentiles(pub [f64; 7]);

impl Percentiles {
    /// Draw a duration (ms) for a uniform `u` in [0, 1).
    pub fn sample(&self, u: f64) -> f64 {
        for w in 0..6 {
            let (f0, f1) = (PERCENTILES[w].1, PERCENTILES[w + 1].1);
            if u < f1 || w == 5 {
                let (p0, p1) = (self.0[w], self.0[w + 1]);
                let x = ((u - f0) / (f1 - f0)).clamp(0.0, 1.0);
                return p0 + x * (p1 - p0);
            }
        }
        self.0[6]
    }
    /// Mean of the piecewise-uniform distribution, durations capped.
    pub fn mean_ms(&self) -> f64 {
        (0..6)
            .map(|w| {
                let mass = PERCENTILES[w + 1].1 - PERCENTILES[w].1;
                let a = self.0[w].min(TRACE_MAX_MS);
                let b = self.0[w + 1].min(TRACE_MAX_MS);
                mass * (a + b) / 2.0
            })
            .sum()
    }
}

/// The two files of one day.
pub fn locate(path: &Path) -> Result<(PathBuf, PathBuf)> {
    if path.is_dir() {
        let mut inv = Vec::new();
        let mut dur = Vec::new();
        for e in std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
            let p = e?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with(INVOCATIONS_PREFIX) {
                inv.push(p);
            } else if name.starts_with(DURATIONS_PREFIX) {
                dur.push(p);
            }
        }
        inv.sort();
        let Some(i) = inv.into_iter().next() else {
            bail!(
                "{}: no {INVOCATIONS_PREFIX}*.csv in this directory",
                path.display()
            );
        };
        let d = partner(&i)?;
        if !d.exists() {
            dur.sort();
            let Some(d) = dur.into_iter().next() else {
                bail!(
                    "{}: no {DURATIONS_PREFIX}*.csv in this directory",
                    path.display()
                );
            };
            return Ok((i, d));
        }
        return Ok((i, d));
    }
    let other = partner(path)?;
    if !other.exists() {
        bail!(
            "{}: the Azure 2019 trace needs its companion file {} (not found)",
            path.display(),
            other.display()
        );
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.starts_with(DURATIONS_PREFIX) {
        Ok((other, path.to_path_buf()))
    } else {
        Ok((path.to_path_buf(), other))
    }
}

/// The companion file of one of the pair (by swapping the name prefix).
fn partner(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let swapped = if let Some(rest) = name.strip_prefix(INVOCATIONS_PREFIX) {
        format!("{DURATIONS_PREFIX}{rest}")
    } else if let Some(rest) = name.strip_prefix(DURATIONS_PREFIX) {
        format!("{INVOCATIONS_PREFIX}{rest}")
    } else {
        bail!(
            "{}: an Azure 2019 file name starts with {INVOCATIONS_PREFIX} or {DURATIONS_PREFIX}",
            path.display()
        );
    };
    Ok(path.with_file_name(swapped))
}

fn header_of<'a>(path: &Path, text: &'a str) -> Result<(usize, Vec<&'a str>)> {
    let (i, h) = text
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| anyhow!("{}: empty file", path.display()))?;
    Ok((i + 1, split_csv(h.trim_start_matches('\u{feff}'))))
}

/// Parse the durations file: key columns -> percentiles.
pub fn parse_durations(
    path: &Path,
    text: &str,
    key_cols: &[&str],
) -> Result<HashMap<Vec<String>, Percentiles>> {
    let (hline, header) = header_of(path, text)?;
    let find = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| anyhow!("{}:{hline}: header has no {name:?} column", path.display()))
    };
    let keys: Vec<usize> = key_cols.iter().map(|k| find(k)).collect::<Result<_>>()?;
    let pcols: Vec<usize> = PERCENTILES
        .iter()
        .map(|(n, _)| find(n))
        .collect::<Result<_>>()?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate().skip(hline) {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv(line);
        if f.len() != header.len() {
            bail!(
                "{}:{lineno}: expected {} fields, found {}",
                path.display(),
                header.len(),
                f.len()
            );
        }
        let mut p = [0f64; 7];
        for (j, &c) in pcols.iter().enumerate() {
            let v: f64 = parse_field(path, lineno, PERCENTILES[j].0, f[c])?;
            if !(v.is_finite() && v >= 0.0) {
                bail!(
                    "{}:{lineno}: {} = {v} must be >= 0",
                    path.display(),
                    PERCENTILES[j].0
                );
            }
            p[j] = v;
        }
        p.sort_by(|a, b| a.total_cmp(b));
        out.insert(
            keys.iter().map(|&k| f[k].to_string()).collect(),
            Percentiles(p),
        );
    }
    Ok(out)
}

/// One function's row of the invocations file.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCounts {
    pub key: Vec<String>,
    pub function: String,
    /// Count per minute, index 0 = minute 1.
    pub per_minute: Vec<u64>,
}

/// Parse the invocations file.
pub fn parse_invocations(
    path: &Path,
    text: &str,
    key_cols: &[&str],
) -> Result<Vec<FunctionCounts>> {
    let (hline, header) = header_of(path, text)?;
    let find = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| anyhow!("{}:{hline}: header has no {name:?} column", path.display()))
    };
    let keys: Vec<usize> = key_cols.iter().map(|k| find(k)).collect::<Result<_>>()?;
    let c_func = find("HashFunction")?;
    let mut minutes: Vec<(usize, usize)> = Vec::new(); // (column, minute index from 0)
    for (c, h) in header.iter().enumerate() {
        let m = h.strip_prefix("minute_").unwrap_or(h);
        if let Ok(m) = m.parse::<usize>() {
            if (1..=100_000).contains(&m) {
                minutes.push((c, m - 1));
            }
        }
    }
    if minutes.is_empty() {
        bail!(
            "{}:{hline}: header has no minute columns (`1`..`1440` or `minute_1`..)",
            path.display()
        );
    }
    let n_minutes = minutes.iter().map(|m| m.1).max().unwrap_or(0) + 1;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(hline) {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv(line);
        if f.len() != header.len() {
            bail!(
                "{}:{lineno}: expected {} fields, found {}",
                path.display(),
                header.len(),
                f.len()
            );
        }
        let mut per_minute = vec![0u64; n_minutes];
        for &(c, m) in &minutes {
            let v = f[c];
            let count: f64 = if v.is_empty() {
                0.0
            } else {
                parse_field(path, lineno, &format!("minute {}", m + 1), v)?
            };
            if !(count.is_finite() && count >= 0.0) {
                bail!(
                    "{}:{lineno}: minute {} count {v} must be >= 0",
                    path.display(),
                    m + 1
                );
            }
            per_minute[m] = count.round() as u64;
        }
        out.push(FunctionCounts {
            key: keys.iter().map(|&k| f[k].to_string()).collect(),
            function: f[c_func].to_string(),
            per_minute,
        });
    }
    Ok(out)
}

/// Read a day and sample it down (see the module docs).
pub fn read(path: &Path, opts: &WorkloadOpts, cal: &Calibration) -> Result<RawTrace> {
    let (inv_path, dur_path) = locate(path)?;
    let inv_text = std::fs::read_to_string(&inv_path)
        .with_context(|| format!("reading {}", inv_path.display()))?;
    let dur_text = std::fs::read_to_string(&dur_path)
        .with_context(|| format!("reading {}", dur_path.display()))?;
    // Join on the key columns both files have (HashFunction at least).
    let (_, ih) = header_of(&inv_path, &inv_text)?;
    let (_, dh) = header_of(&dur_path, &dur_text)?;
    let key_cols: Vec<&str> = KEY_COLUMNS
        .iter()
        .copied()
        .filter(|k| ih.contains(k) && dh.contains(k))
        .collect();
    if !key_cols.contains(&"HashFunction") {
        bail!(
            "{} / {}: both files need a HashFunction column",
            inv_path.display(),
            dur_path.display()
        );
    }
    let durations = parse_durations(&dur_path, &dur_text, &key_cols)?;
    let functions = parse_invocations(&inv_path, &inv_text, &key_cols)?;
    let joined: Vec<(&FunctionCounts, &Percentiles)> = functions
        .iter()
        .filter_map(|f| durations.get(&f.key).map(|p| (f, p)))
        .collect();
    if joined.is_empty() {
        bail!(
            "{} / {}: no function of the invocations file has a durations row",
            inv_path.display(),
            dur_path.display()
        );
    }
    let n_minutes = joined
        .iter()
        .map(|(f, _)| f.per_minute.len())
        .max()
        .unwrap_or(1);
    let minute_ns = 60e9;
    // First estimate of the time stretch, from the whole day, to know how
    // many minutes fill the duration; `finalize` refines it on the window.
    let k0 = match opts.load {
        Some(load) => {
            let demand_ns: f64 = joined
                .iter()
                .map(|(f, p)| f.per_minute.iter().sum::<u64>() as f64 * p.mean_ms() * 1e6)
                .sum();
            (demand_ns / (load * opts.cores as f64 * n_minutes as f64 * minute_ns)).max(1e-9)
        }
        None => 1.0,
    };
    let window = if opts.duration_s > 0.0 {
        ((opts.duration_s * 1e9 / (k0 * minute_ns)).ceil() as usize + 1).clamp(1, n_minutes)
    } else {
        n_minutes
    };
    let total: u64 = joined
        .iter()
        .map(|(f, _)| f.per_minute.iter().take(window).sum::<u64>())
        .sum();
    if total as usize > MAX_TRACE_INVOCATIONS {
        bail!(
            "{}: {total} invocations in the first {window} minutes; lower the load or duration",
            inv_path.display()
        );
    }
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0xa2_2019);
    let mut items = Vec::with_capacity(total as usize);
    for m in 0..window {
        for (f, p) in &joined {
            let c = f.per_minute.get(m).copied().unwrap_or(0);
            let short: String = f.function.chars().take(12).collect();
            for _ in 0..c {
                let t = (m as f64 + rng.random::<f64>()) * minute_ns;
                let d = p.sample(rng.random::<f64>());
                items.push(RawInvocation {
                    arrival_ns: t as u64,
                    class: format!("az19-{short}"),
                    spec: fib_for_duration_ms(cal, d),
                });
            }
        }
    }
    if items.is_empty() {
        bail!(
            "{}: no invocations in the first {window} minute(s)",
            inv_path.display()
        );
    }
    Ok(RawTrace {
        name: trace_name("azure2019", &inv_path),
        items,
        span_ns: Some((window as f64 * minute_ns) as u64),
    })
}
