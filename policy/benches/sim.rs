//! Simulator benchmarks: simulated events per second on a synthetic
//! 56-core workload (target >= 10 M/s), and the 15,000-invocation ALPS
//! experiment trace at 56 cores (target < 1 s per policy).
//!
//! The ALPS trace is read from `ALPS_EXP_WORKLOAD` or
//! `/work/shared/datasets/alps_exp_workload.txt` (or `../../shared/...`
//! relative to this crate) when present: lines `id n job iat_ms port`. CPU
//! demand per job is nominal (the artifact's functions are not run here):
//! fib(n) = 1.618^(n - 30) x 10 ms; graphBfs 30 ms; graphMst and
//! graphPagerank 20 ms and 40 ms x 2^(n - 8); featureExtractor 150 ms;
//! floatOperation 250 ms; anything else 50 ms. Inter-arrival times are
//! scaled so the offered load is 80% of 56 cores. Without the file a
//! synthetic instance with the same shape is drawn.

use alps_policy::sim::{simulate, SimConfig, SimJob, SimPhase, SimPolicy, WaitReason};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const MS: f64 = 1e6;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -(1.0 - self.unit()).ln() * mean
    }
}

/// Jobs of `bursts` CPU bursts (exponential, mean `burst_ms`) separated by
/// waits (exponential, mean `wait_ms`, reasons drawn uniformly), on `cores`
/// cores at about 90% load: an event-heavy instance (every burst end,
/// wakeup and slice expiry is an event).
fn synthetic(
    cores: usize,
    jobs: usize,
    bursts: usize,
    burst_ms: f64,
    wait_ms: f64,
    seed: u64,
) -> Vec<SimJob> {
    let mut rng = Rng(seed | 1);
    let mut t = 0.0;
    let mut out = Vec::with_capacity(jobs);
    let iat = bursts as f64 * burst_ms * MS / (cores as f64 * 0.9);
    for id in 0..jobs {
        t += rng.exp(iat);
        let f = (rng.next() % 20) as u32;
        let mut phases = Vec::with_capacity(2 * bursts);
        for b in 0..bursts {
            if b > 0 {
                let reason = match rng.next() % 3 {
                    0 => WaitReason::BlockIo,
                    1 => WaitReason::Futex,
                    _ => WaitReason::Sleep,
                };
                phases.push(SimPhase::Wait {
                    ns: rng.exp(wait_ms * MS) as u64 + 1,
                    reason,
                });
            }
            phases.push(SimPhase::Cpu(rng.exp(burst_ms * MS) as u64 + 1));
        }
        out.push(SimJob {
            id: id as u64,
            function_id: f,
            class: format!("f{f}"),
            arrival_ns: t as u64,
            phases,
        });
    }
    out
}

fn nominal_cpu_ms(job: &str, n: f64) -> f64 {
    match job {
        "fib" => 1.618f64.powf(n - 30.0) * 10.0,
        "graphBfs" => 30.0,
        "graphMst" => 20.0 * 2f64.powf(n - 8.0),
        "graphPagerank" => 40.0 * 2f64.powf(n - 8.0),
        "featureExtractor" => 150.0,
        "floatOperation" => 250.0,
        _ => 50.0,
    }
}

fn alps_trace_path() -> Option<PathBuf> {
    let mut c = Vec::new();
    if let Ok(p) = std::env::var("ALPS_EXP_WORKLOAD") {
        c.push(PathBuf::from(p));
    }
    c.push(PathBuf::from("/work/shared/datasets/alps_exp_workload.txt"));
    c.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/datasets/alps_exp_workload.txt"),
    );
    c.into_iter().find(|p| p.is_file())
}

/// The 15,000-job ALPS experiment instance, scaled to `load` of `cores`.
fn alps_instance(cores: usize, load: f64) -> (Vec<SimJob>, &'static str) {
    let mut rows: Vec<(String, f64, f64)> = Vec::new(); // (job, cpu ms, iat ms)
    let mut source = "synthetic";
    if let Some(text) = alps_trace_path().and_then(|p| std::fs::read_to_string(p).ok()) {
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let (Ok(n), Ok(iat)) = (f[1].parse::<f64>(), f[3].parse::<f64>()) else {
                continue;
            };
            rows.push((f[2].to_string(), nominal_cpu_ms(f[2], n), iat));
        }
        source = "alps_exp_workload.txt";
    }
    if rows.is_empty() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let kinds = [
            "fib",
            "graphBfs",
            "graphMst",
            "graphPagerank",
            "featureExtractor",
            "floatOperation",
        ];
        for _ in 0..15_000 {
            let k = kinds[(rng.next() % 6) as usize];
            let n = if k == "fib" {
                23.0 + (rng.next() % 9) as f64
            } else {
                8.0 + (rng.next() % 3) as f64
            };
            rows.push((k.to_string(), nominal_cpu_ms(k, n), rng.exp(25.0)));
        }
    }
    let cpu: f64 = rows.iter().map(|r| r.1).sum();
    let span: f64 = rows.iter().map(|r| r.2).sum();
    let scale = cpu / (load * cores as f64 * span);
    let mut t = 0.0;
    let mut names: Vec<String> = Vec::new();
    let jobs = rows
        .into_iter()
        .enumerate()
        .map(|(i, (job, cpu_ms, iat))| {
            t += iat * scale * MS;
            let f = names.iter().position(|x| *x == job).unwrap_or_else(|| {
                names.push(job.clone());
                names.len() - 1
            });
            SimJob::cpu(i as u64, f as u32, &job, t as u64, (cpu_ms * MS) as u64 + 1)
        })
        .collect();
    (jobs, source)
}

fn bench_events(c: &mut Criterion) {
    let cores = 56;
    let cfg = SimConfig::with_cores(cores);
    // "mixed": 4 bursts of 2 ms around 1 ms waits (about 8 events per job);
    // "io": 16 bursts of 0.5 ms around 0.5 ms waits (about 33 per job), so
    // per-job costs (records) weigh less.
    let instances = [
        ("mixed", synthetic(cores, 100_000, 4, 2.0, 1.0, 42)),
        ("io", synthetic(cores, 25_000, 16, 0.5, 0.5, 43)),
    ];
    for (name, jobs) in &instances {
        let mut g = c.benchmark_group(format!("sim_events_56_cores_{name}"));
        g.sample_size(10).measurement_time(Duration::from_secs(4));
        for p in [
            SimPolicy::Eevdf,
            SimPolicy::Fifo,
            SimPolicy::Rr,
            SimPolicy::Srpt,
            SimPolicy::Sfs,
            SimPolicy::Alps,
            SimPolicy::AlpsIo,
        ] {
            let t0 = Instant::now();
            let events = simulate(jobs, p, &cfg).stats.events;
            let dt = t0.elapsed().as_secs_f64();
            eprintln!(
                "{name}/{p}: {events} events in {dt:.3} s = {:.1} M events/s (one run)",
                events as f64 / dt / 1e6
            );
            g.throughput(Throughput::Elements(events));
            g.bench_with_input(BenchmarkId::from_parameter(p), &p, |b, &p| {
                b.iter(|| simulate(jobs, p, &cfg))
            });
        }
        g.finish();
    }
}

fn bench_alps_trace(c: &mut Criterion) {
    let cores = 56;
    let (jobs, source) = alps_instance(cores, 0.8);
    let cfg = SimConfig::with_cores(cores);
    let mut g = c.benchmark_group(format!("alps_trace_15000_56_cores_{source}"));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for p in SimPolicy::ALL {
        let t0 = Instant::now();
        let out = simulate(&jobs, p, &cfg);
        eprintln!(
            "{p}: {} jobs, {} events, makespan {:.1} s, in {:.3} s",
            out.records.len(),
            out.stats.events,
            out.stats.makespan_ns as f64 / 1e9,
            t0.elapsed().as_secs_f64()
        );
        g.bench_with_input(BenchmarkId::from_parameter(p), &p, |b, &p| {
            b.iter(|| simulate(&jobs, p, &cfg))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_events, bench_alps_trace);
criterion_main!(benches);
