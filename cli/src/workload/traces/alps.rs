//! ALPS artifact workload (`http_client/azure`, `http_client/exp`):
//! space-separated `id n job iat port` lines, no header, LF or CRLF; `iat` is
//! the gap in ms before the request.
//!
//! `fib` jobs keep the trace's own n. The other jobs (Python FunctionBench
//! functions in the artifact, with no published per-input durations) map to
//! a fib of similar duration on the same scale as the trace's fib n, by the
//! fixed table `EQUIVALENT_FIB` below: an estimate, documented in
//! cli/WORKLOADS.md.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{fields, parse_field, trace_name, RawInvocation, RawTrace};
use crate::functions::FnSpec;

/// (job, fib n for input size `n`): `base + offset x n` style rules.
/// graphBfs(100) ~ fib 24; graphMst(8|9|10) ~ fib 26|27|28;
/// graphPagerank(8|9|10) ~ fib 27|28|29; floatOperation ~ fib 25;
/// featureExtractor ~ fib 30.
pub fn equivalent_fib(job: &str, n: u64) -> Option<u32> {
    Some(match job {
        "fib" => {
            if n > 92 {
                return None;
            }
            n as u32
        }
        "graphBfs" => 24,
        "graphMst" => (18 + n.clamp(8, 10)) as u32,
        "graphPagerank" => (19 + n.clamp(8, 10)) as u32,
        "floatOperation" => 25,
        "featureExtractor" => 30,
        _ => return None,
    })
}

/// The known non-fib jobs (for error messages).
pub const EQUIVALENT_FIB: &[&str] = &[
    "graphBfs",
    "graphMst",
    "graphPagerank",
    "floatOperation",
    "featureExtractor",
];

/// CPython's recursive fib(30) takes about this long (ALPS' functions are
/// Python in OpenLambda); each n+1 costs x phi.
pub const PY_FIB30_MS: f64 = 300.0;

/// Duration in ms of the trace's fib(n) on the artifact's Python scale.
pub fn python_ms(n: u32) -> f64 {
    PY_FIB30_MS * 1.618_034f64.powi(n as i32 - 30)
}

/// The trace's sizes are on the Python scale of the ALPS artifact (fib(28)
/// ~ 115 ms, fib(31) ~ 485 ms, fib(36) ~ 5.4 s): map each to the compiled
/// fib n of about the same duration on this machine, so that job sizes keep
/// the paper's proportions to scheduler quanta (8 ms) and slices. Capped at
/// 10 s, like every trace duration.
pub fn to_machine_scale(mut raw: RawTrace, cal: &crate::functions::Calibration) -> RawTrace {
    for it in &mut raw.items {
        if let FnSpec::Fib { n } = it.spec {
            it.spec = FnSpec::Fib {
                n: cal.fib_n_for_ms(python_ms(n).min(10_000.0)),
            };
        }
    }
    raw
}

pub fn read(path: &Path) -> Result<RawTrace> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading ALPS trace {}", path.display()))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<RawTrace> {
    let mut items = Vec::new();
    let mut t_ms = 0f64;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let f = fields(path, lineno, line, 5, "id n job iat port")?;
        let _id: u64 = parse_field(path, lineno, "id", f[0])?;
        let n: u64 = parse_field(path, lineno, "n", f[1])?;
        let job = f[2];
        let iat: f64 = parse_field(path, lineno, "iat", f[3])?;
        let _port: u32 = parse_field(path, lineno, "port", f[4])?;
        if !(iat.is_finite() && iat >= 0.0) {
            bail!("{}:{lineno}: iat {iat} must be >= 0", path.display());
        }
        let Some(fib_n) = equivalent_fib(job, n) else {
            bail!(
                "{}:{lineno}: unknown job {job:?} with n={n} (known: fib, {})",
                path.display(),
                EQUIVALENT_FIB.join(", ")
            );
        };
        t_ms += iat;
        items.push(RawInvocation {
            arrival_ns: (t_ms * 1e6) as u64,
            class: format!("{job}-{n}"),
            spec: FnSpec::Fib { n: fib_n },
        });
    }
    Ok(RawTrace {
        name: trace_name("alps", path),
        items,
        span_ns: None,
    })
}
