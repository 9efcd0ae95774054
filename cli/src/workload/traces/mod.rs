//! Trace readers: `trace:FILE` (format detected from the content) or
//! `trace:FORMAT:FILE` with FORMAT one of `alps`, `cs736`, `azure2021`,
//! `azure2019`.
//!
//! Every reader yields raw invocations (arrival, class, body); `finalize`
//! then makes the workload: arrivals start at 0; with `--load` the trace is
//! rescaled in time so that its CPU demand over its span equals
//! `load x cores`; it is cut to `--duration` (repeated end to end if it is
//! shorter); without `--duration` (<= 0) the whole trace is used once.

pub mod alps;
pub mod azure2019;
pub mod azure2021;
pub mod cs736;

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{classes_from_invocations, function_id_for, Invocation, Workload, WorkloadOpts};
use crate::functions::{Calibration, FnSpec};

/// Trace durations are capped at this many ms before mapping to fib.
pub const TRACE_MAX_MS: f64 = 10_000.0;

/// Most invocations a trace workload may produce.
pub const MAX_TRACE_INVOCATIONS: usize = 5_000_000;

/// Trace file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    Alps,
    Cs736,
    Azure2021,
    Azure2019,
}

impl TraceFormat {
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Alps => "alps",
            TraceFormat::Cs736 => "cs736",
            TraceFormat::Azure2021 => "azure2021",
            TraceFormat::Azure2019 => "azure2019",
        }
    }
    fn parse(s: &str) -> Option<TraceFormat> {
        Some(match s {
            "alps" => TraceFormat::Alps,
            "cs736" => TraceFormat::Cs736,
            "azure2021" => TraceFormat::Azure2021,
            "azure2019" => TraceFormat::Azure2019,
            _ => return None,
        })
    }
}

/// One invocation read from a trace, before rescaling.
#[derive(Debug, Clone, PartialEq)]
pub struct RawInvocation {
    pub arrival_ns: u64,
    pub class: String,
    pub spec: FnSpec,
}

/// A trace read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTrace {
    pub name: String,
    pub items: Vec<RawInvocation>,
    /// Length of the trace window in ns, if the format defines one (else
    /// last arrival - first arrival + the mean gap).
    pub span_ns: Option<u64>,
}

/// `trace:` sources: `FILE` or `FORMAT:FILE`.
pub fn load_trace(rest: &str, opts: &WorkloadOpts, cal: &Calibration) -> Result<Workload> {
    let (format, file) = match rest.split_once(':') {
        Some((f, path)) if TraceFormat::parse(f).is_some() => (TraceFormat::parse(f), path),
        _ => (None, rest),
    };
    let path = Path::new(file);
    let format = match format {
        Some(f) => f,
        None => detect_format(path)?,
    };
    let raw = match format {
        TraceFormat::Alps => alps::to_machine_scale(alps::read(path)?, cal),
        TraceFormat::Cs736 => cs736::read(path)?,
        TraceFormat::Azure2021 => azure2021::read(path, cal)?,
        TraceFormat::Azure2019 => azure2019::read(path, opts, cal)?,
    };
    finalize(raw, opts, cal)
}

/// Guess the format of a trace file from its first non-empty line.
pub fn detect_format(path: &Path) -> Result<TraceFormat> {
    if path.is_dir() {
        return Ok(TraceFormat::Azure2019);
    }
    let text = std::fs::read(path).with_context(|| format!("reading trace {}", path.display()))?;
    let text = String::from_utf8_lossy(&text[..text.len().min(1 << 16)]).into_owned();
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        bail!("{}: empty trace file", path.display());
    };
    if first.contains("HashFunction") {
        return Ok(TraceFormat::Azure2019);
    }
    if first.contains(',') {
        let cols: Vec<&str> = first.split(',').map(str::trim).collect();
        if cols.contains(&"end_timestamp") && cols.contains(&"duration") {
            return Ok(TraceFormat::Azure2021);
        }
        bail!(
            "{}:1: unrecognized CSV header (expected Azure 2021 `app,func,end_timestamp,duration` or Azure 2019 Hash* columns)",
            path.display()
        );
    }
    let f: Vec<&str> = first.split_whitespace().collect();
    if f.len() == 5 {
        // ALPS: `id n job iat port` (ports are >= 1024); cs736: `id n fib iat class`.
        return Ok(match f[4].parse::<u64>() {
            Ok(p) if p >= 1024 => TraceFormat::Alps,
            Ok(_) => TraceFormat::Cs736,
            Err(_) => bail!(
                "{}:1: cannot tell the trace format (fifth field {:?} is neither a port nor a class)",
                path.display(),
                f[4]
            ),
        });
    }
    bail!(
        "{}:1: unrecognized trace format (expected `id n job iat port`, `id n fib iat class`, or an Azure CSV header); name it as trace:FORMAT:FILE",
        path.display()
    )
}

/// Rescale, cut and number a raw trace (see the module docs).
pub fn finalize(raw: RawTrace, opts: &WorkloadOpts, cal: &Calibration) -> Result<Workload> {
    let mut items = raw.items;
    if items.is_empty() {
        bail!("trace {}: no invocations", raw.name);
    }
    items.sort_by_key(|i| i.arrival_ns);
    let first = items[0].arrival_ns;
    for i in items.iter_mut() {
        i.arrival_ns -= first;
    }
    let last = items.last().map(|i| i.arrival_ns).unwrap_or(0);
    let n = items.len() as u64;
    let span_ns = raw
        .span_ns
        .unwrap_or_else(|| {
            let mean_gap = if n > 1 { last / (n - 1) } else { 1_000_000_000 };
            last + mean_gap.max(1)
        })
        .max(last + 1);
    let demand_ns: f64 = items
        .iter()
        .map(|i| i.spec.expected_cpu_ns(cal) as f64)
        .sum();
    let cores = opts.cores as f64;
    // Time stretch factor: new time = k x trace time. Over the whole trace
    // the demand over its span gives k directly; with a duration the trace
    // is cut (or repeated), and k is searched so that the demand of the
    // invocations arriving within the duration is load x cores x duration.
    let k = match opts.load {
        Some(load) => {
            if demand_ns <= 0.0 {
                bail!(
                    "trace {}: zero CPU demand, cannot scale to a load",
                    raw.name
                );
            }
            let k_whole = demand_ns / (load * cores * span_ns as f64);
            if opts.duration_s > 0.0 {
                let cpu: Vec<f64> = items
                    .iter()
                    .map(|i| i.spec.expected_cpu_ns(cal) as f64)
                    .collect();
                let times: Vec<f64> = items.iter().map(|i| i.arrival_ns as f64).collect();
                let target = load * cores * opts.duration_s * 1e9;
                fit_stretch(
                    &times,
                    &cpu,
                    span_ns as f64,
                    opts.duration_s * 1e9,
                    target,
                    k_whole,
                )
            } else {
                k_whole
            }
        }
        None => 1.0,
    };
    let period = span_ns as f64 * k;
    let (horizon, cycle) = if opts.duration_s > 0.0 {
        (opts.duration_s * 1e9, true)
    } else {
        (period, false)
    };
    let mut invocations = Vec::new();
    let mut rep = 0u64;
    'outer: loop {
        for it in &items {
            let t = it.arrival_ns as f64 * k + rep as f64 * period;
            if t >= horizon {
                break 'outer;
            }
            if invocations.len() >= MAX_TRACE_INVOCATIONS {
                bail!(
                    "trace {}: more than {MAX_TRACE_INVOCATIONS} invocations; lower the load or duration",
                    raw.name
                );
            }
            invocations.push(Invocation {
                seq: invocations.len() as u64,
                arrival_ns: t as u64,
                class: it.class.clone(),
                function_id: function_id_for(&it.class),
                spec: it.spec.clone(),
            });
        }
        rep += 1;
        if !cycle || period <= 0.0 {
            break;
        }
    }
    let duration_s = horizon / 1e9;
    let classes = classes_from_invocations(&invocations, cal)?;
    let mut w = Workload {
        name: raw.name,
        seed: opts.seed,
        duration_s,
        load: 0.0,
        cores: opts.cores,
        io_share: None,
        classes,
        invocations,
    };
    w.load = match opts.load {
        Some(l) => l,
        None => w.realized_load(cal),
    };
    Ok(w)
}

/// Demand (CPU ns) of the invocations arriving before `horizon` when trace
/// times are stretched by `k` and the trace repeats every `span x k`;
/// stops counting once it exceeds `cap`.
fn window_demand(times: &[f64], cpu: &[f64], span: f64, k: f64, horizon: f64, cap: f64) -> f64 {
    let period = span * k;
    let mut d = 0.0;
    let mut rep = 0.0;
    loop {
        for (t, c) in times.iter().zip(cpu) {
            if t * k + rep * period >= horizon {
                return d;
            }
            d += c;
            if d > cap {
                return d;
            }
        }
        rep += 1.0;
        if period <= 0.0 {
            return d;
        }
    }
}

/// The stretch k whose window demand is closest to `target` (bisection in
/// log k; the window demand only falls as k grows).
fn fit_stretch(times: &[f64], cpu: &[f64], span: f64, horizon: f64, target: f64, k0: f64) -> f64 {
    let cap = target * 4.0 + 1.0;
    let f = |k: f64| window_demand(times, cpu, span, k, horizon, cap);
    let (mut lo, mut hi) = (k0.max(1e-300) / 1e3, k0.max(1e-300) * 1e3);
    // Widen until lo is over the target and hi under it (or give up).
    for _ in 0..20 {
        if f(lo) > target {
            break;
        }
        lo /= 1e3;
    }
    for _ in 0..20 {
        if f(hi) <= target {
            break;
        }
        hi *= 1e3;
    }
    for _ in 0..80 {
        let mid = (lo * hi).sqrt();
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo < 1.0 + 1e-9 {
            break;
        }
    }
    let (dl, dh) = (f(lo), f(hi));
    if (dl - target).abs() < (dh - target).abs() {
        lo
    } else {
        hi
    }
}

/// A fib sized to a trace duration (capped at TRACE_MAX_MS).
pub fn fib_for_duration_ms(cal: &Calibration, ms: f64) -> FnSpec {
    let ms = if ms.is_finite() { ms } else { 0.0 };
    FnSpec::Fib {
        n: cal.fib_n_for_ms(ms.clamp(0.0, TRACE_MAX_MS)),
    }
}

/// Name of a trace file for errors and workload names.
pub(crate) fn trace_name(prefix: &str, path: &Path) -> String {
    let stem = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{prefix}:{stem}")
}

/// Split a whitespace-separated trace line into exactly `n` fields.
pub(crate) fn fields<'a>(
    path: &Path,
    lineno: usize,
    line: &'a str,
    n: usize,
    what: &str,
) -> Result<Vec<&'a str>> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != n {
        bail!(
            "{}:{lineno}: expected {n} fields `{what}`, found {}",
            path.display(),
            f.len()
        );
    }
    Ok(f)
}

/// Parse one field, naming file:line on error.
pub(crate) fn parse_field<T: std::str::FromStr>(
    path: &Path,
    lineno: usize,
    name: &str,
    v: &str,
) -> Result<T> {
    v.parse::<T>().map_err(|_| {
        anyhow::anyhow!(
            "{}:{lineno}: field {name} {v:?} is not a valid {}",
            path.display(),
            std::any::type_name::<T>()
        )
    })
}
