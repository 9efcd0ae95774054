//! The ghOSt-port study's workload (`workload.txt`): space-separated
//! `id n fib iat_ms class` lines, no header; `iat_ms` is the gap before the
//! request; `class` is the study's static class label (kept out of the
//! class name: the function is `fib-<n>`).

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{fields, parse_field, trace_name, RawInvocation, RawTrace};
use crate::functions::FnSpec;

pub fn read(path: &Path) -> Result<RawTrace> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading cs736 trace {}", path.display()))?;
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
        let f = fields(path, lineno, line, 5, "id n fib iat_ms class")?;
        let _id: u64 = parse_field(path, lineno, "id", f[0])?;
        let n: u32 = parse_field(path, lineno, "n", f[1])?;
        if f[2] != "fib" {
            bail!(
                "{}:{lineno}: job {:?}: the cs736 format has only fib jobs",
                path.display(),
                f[2]
            );
        }
        if n > 92 {
            bail!("{}:{lineno}: fib n={n} is out of range", path.display());
        }
        let iat: f64 = parse_field(path, lineno, "iat_ms", f[3])?;
        if !(iat.is_finite() && iat >= 0.0) {
            bail!("{}:{lineno}: iat_ms {iat} must be >= 0", path.display());
        }
        let _class: u32 = parse_field(path, lineno, "class", f[4])?;
        t_ms += iat;
        items.push(RawInvocation {
            arrival_ns: (t_ms * 1e6) as u64,
            class: format!("fib-{n}"),
            spec: FnSpec::Fib { n },
        });
    }
    Ok(RawTrace {
        name: trace_name("cs736", path),
        items,
        span_ns: None,
    })
}
