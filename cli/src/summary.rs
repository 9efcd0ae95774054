//! The summary of a run (`summary.json`), shared by live runs, comparisons
//! and simulations. Schema: docs/SUMMARY.md.

use alps_probes::Record;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Latency statistics of one class (or of all invocations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    pub count: u64,
    /// Flow completion time (arrival to end of the last task), ms.
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Mean of FCT / FCT of the same function run alone.
    pub mean_slowdown: f64,
    pub on_cpu_ms_mean: f64,
    /// Block I/O + futex + sleep + other blocked, ms.
    pub off_cpu_ms_mean: f64,
    #[serde(default)]
    pub runq_wait_ms_mean: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Completed invocations per second of the run's makespan.
    pub invocations_per_s: f64,
    /// CPU seconds of function work done per second.
    pub cpu_work_s_per_s: f64,
}

/// `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub workload: String,
    pub policy: String,
    #[serde(default)]
    pub backend: String,
    /// Wall-clock seconds from the first measured arrival to the last end.
    pub duration_s: f64,
    pub classes: BTreeMap<String, ClassSummary>,
    /// All measured invocations together.
    #[serde(default)]
    pub overall: ClassSummary,
    pub throughput: Throughput,
    /// Machine-wide (perf software counter, all CPUs, all tasks).
    pub context_switches_per_s: f64,
    /// Switches of the functions' own tasks (from the probes).
    #[serde(default)]
    pub function_context_switches_per_s: f64,
    #[serde(default)]
    pub migrations_per_s: f64,
    /// Busy fraction of all CPUs over the run (0..1).
    pub cpu_utilization: f64,
    /// Records lost anywhere (ring buffer, maps, or never produced).
    pub dropped_records: u64,
    /// Invocations that did not finish cleanly (killed at the end, failed).
    #[serde(default)]
    pub failed: u64,
    /// Inversion metric (see compare::inversion), when stints were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inversion: Option<serde_json::Value>,
    /// Backend counters and latencies.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub backend_stats: serde_json::Value,
}

fn ms(ns: f64) -> f64 {
    ns / 1e6
}

/// Statistics of a set of (fct_ns, slowdown, record) samples.
pub fn class_summary<'a>(items: impl Iterator<Item = (&'a Record, f64)>) -> ClassSummary {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    let (mut n, mut sum, mut slow, mut cpu, mut off, mut rq) = (0u64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (r, sd) in items {
        let fct = r.fct_ns();
        // Microsecond resolution, 3 significant digits.
        let _ = h.record((fct / 1_000).max(1));
        n += 1;
        sum += fct as f64;
        slow += sd;
        cpu += r.account.on_cpu_ns as f64;
        off += r.account.off_cpu_ns() as f64;
        rq += r.account.runq_wait_ns as f64;
    }
    if n == 0 {
        return ClassSummary::default();
    }
    let nf = n as f64;
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1e3;
    ClassSummary {
        count: n,
        mean_ms: ms(sum / nf),
        p50_ms: q(0.5),
        p90_ms: q(0.9),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        mean_slowdown: slow / nf,
        on_cpu_ms_mean: ms(cpu / nf),
        off_cpu_ms_mean: ms(off / nf),
        runq_wait_ms_mean: ms(rq / nf),
    }
}

/// What a summary is computed from besides the records.
pub struct SummaryInput<'a> {
    pub workload: &'a str,
    pub policy: &'a str,
    pub backend: &'a str,
    /// Each record's FCT when run alone (same order as the records).
    pub alone_ns: &'a [u64],
    pub context_switches: u64,
    pub migrations: u64,
    pub cpu_utilization: f64,
    pub dropped_records: u64,
    pub failed: u64,
    /// Wall-clock span the machine counters cover, s (0: use the records').
    pub counter_span_s: f64,
}

/// Summarize measured records.
pub fn summarize(records: &[Record], inp: &SummaryInput) -> Summary {
    let slowdown = |i: usize, r: &Record| {
        let alone = inp.alone_ns.get(i).copied().unwrap_or(0);
        if alone == 0 {
            1.0
        } else {
            r.fct_ns() as f64 / alone as f64
        }
    };
    let mut by_class: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        by_class.entry(&r.class).or_default().push(i);
    }
    let classes = by_class
        .iter()
        .map(|(c, idx)| {
            (
                c.to_string(),
                class_summary(idx.iter().map(|&i| (&records[i], slowdown(i, &records[i])))),
            )
        })
        .collect();
    let overall = class_summary(records.iter().enumerate().map(|(i, r)| (r, slowdown(i, r))));
    let first = records.iter().map(|r| r.arrival_ns).min().unwrap_or(0);
    let last = records.iter().map(|r| r.end_ns).max().unwrap_or(0);
    let span_s = (last.saturating_sub(first) as f64 / 1e9).max(1e-9);
    let counter_span = if inp.counter_span_s > 0.0 {
        inp.counter_span_s
    } else {
        span_s
    };
    let fn_switches: u64 = records
        .iter()
        .map(|r| r.account.voluntary_switches + r.account.involuntary_switches)
        .sum();
    let cpu_work: u64 = records.iter().map(|r| r.account.on_cpu_ns).sum();
    Summary {
        workload: inp.workload.to_string(),
        policy: inp.policy.to_string(),
        backend: inp.backend.to_string(),
        duration_s: span_s,
        classes,
        overall,
        throughput: Throughput {
            invocations_per_s: records.len() as f64 / span_s,
            cpu_work_s_per_s: cpu_work as f64 / 1e9 / span_s,
        },
        context_switches_per_s: inp.context_switches as f64 / counter_span,
        function_context_switches_per_s: fn_switches as f64 / span_s,
        migrations_per_s: inp.migrations as f64 / counter_span,
        cpu_utilization: inp.cpu_utilization,
        dropped_records: inp.dropped_records,
        failed: inp.failed,
        inversion: None,
        backend_stats: serde_json::Value::Null,
    }
}

/// A printed table mirroring summary.json.
pub fn print_summary(s: &Summary) {
    println!(
        "workload {}  policy {}  backend {}  {:.1} s",
        s.workload, s.policy, s.backend, s.duration_s
    );
    println!(
        "{:<16} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "class",
        "count",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "slowdown",
        "cpu ms",
        "off ms"
    );
    let row = |name: &str, c: &ClassSummary| {
        println!(
            "{:<16} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.2} {:>8.1} {:>8.1}",
            name,
            c.count,
            c.mean_ms,
            c.p50_ms,
            c.p90_ms,
            c.p99_ms,
            c.p999_ms,
            c.mean_slowdown,
            c.on_cpu_ms_mean,
            c.off_cpu_ms_mean
        )
    };
    for (name, c) in &s.classes {
        row(name, c);
    }
    row("(all)", &s.overall);
    println!(
        "throughput {:.1} inv/s, {:.2} CPU-s/s; context switches {:.0}/s (functions {:.0}/s); migrations {:.0}/s; CPU utilization {:.1}%; dropped records {}; failed {}",
        s.throughput.invocations_per_s,
        s.throughput.cpu_work_s_per_s,
        s.context_switches_per_s,
        s.function_context_switches_per_s,
        s.migrations_per_s,
        100.0 * s.cpu_utilization,
        s.dropped_records,
        s.failed
    );
}
