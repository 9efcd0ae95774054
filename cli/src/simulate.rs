//! `alps simulate`: the comparison in the discrete-event simulator, at any
//! core count, with the same learner code, the same summaries and the same
//! compare.json as a live `alps compare`; and `alps validate`, which replays
//! a live comparison's measured invocations in the simulator and reports the
//! per-class error.

use crate::compare::{self, CompareResult};
use crate::functions::{Calibration, Phase, WaitReason as FnWait};
use crate::summary::{self, SummaryInput};
use crate::workload::{self, Workload, WorkloadOpts};
use alps_policy::sim::{self, SimConfig, SimJob, SimPhase, SimPolicy, WaitReason};
use alps_probes::Record;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulateConfig {
    /// A workload source (built-in, .toml, trace:FILE), `run:DIR` (a live
    /// run's records: its measured bursts and waits) or `dataset:FILE` (an
    /// exported Parquet/CSV dataset).
    pub workload: String,
    pub cores: u32,
    pub load: Option<f64>,
    pub io_share: Option<f64>,
    pub duration_s: f64,
    pub policies: Vec<SimPolicy>,
    pub seed: u64,
    pub trials: u32,
    /// Learner period on the simulated clock.
    pub update_s: f64,
    pub out: PathBuf,
}

impl SimulateConfig {
    pub fn new(out: &Path) -> Self {
        Self {
            workload: "mixed".into(),
            cores: 56,
            load: None,
            io_share: None,
            duration_s: 60.0,
            policies: vec![
                SimPolicy::Eevdf,
                SimPolicy::Srpt,
                SimPolicy::Sfs,
                SimPolicy::Alps,
                SimPolicy::AlpsIo,
            ],
            seed: 1,
            trials: 1,
            update_s: 5.0,
            out: out.to_path_buf(),
        }
    }
}

/// A workload's invocations as simulator jobs (their expected phases on
/// this machine's calibration).
pub fn jobs_from_workload(w: &Workload, cal: &Calibration) -> Vec<SimJob> {
    w.invocations
        .iter()
        .map(|inv| SimJob {
            id: inv.seq,
            function_id: inv.function_id,
            class: inv.class.clone(),
            arrival_ns: inv.arrival_ns,
            phases: inv
                .spec
                .expected_phases(cal)
                .into_iter()
                .map(|p| match p {
                    Phase::Cpu(ns) => SimPhase::Cpu(ns),
                    Phase::Wait { ns, reason } => SimPhase::Wait {
                        ns,
                        reason: match reason {
                            FnWait::BlockIo => WaitReason::BlockIo,
                            FnWait::Futex => WaitReason::Futex,
                            FnWait::Sleep => WaitReason::Sleep,
                        },
                    },
                })
                .filter(|p| !matches!(p, SimPhase::Cpu(0) | SimPhase::Wait { ns: 0, .. }))
                .collect(),
        })
        .collect()
}

/// Jobs for one trial of the configured source.
fn load_jobs(cfg: &SimulateConfig, seed: u64, cal: &Calibration) -> Result<(String, Vec<SimJob>)> {
    if let Some(dir) = cfg.workload.strip_prefix("run:") {
        let recs = crate::run::read_records(Path::new(dir))?;
        return Ok((cfg.workload.clone(), rebase(sim::jobs_from_records(&recs))));
    }
    if let Some(file) = cfg.workload.strip_prefix("dataset:") {
        let recs = crate::export::read_dataset(Path::new(file))?;
        return Ok((cfg.workload.clone(), rebase(sim::jobs_from_records(&recs))));
    }
    let w = workload::load(
        &cfg.workload,
        &WorkloadOpts {
            duration_s: cfg.duration_s,
            load: cfg.load,
            io_share: cfg.io_share,
            seed,
            cores: cfg.cores,
        },
        cal,
    )?;
    Ok((w.name.clone(), jobs_from_workload(&w, cal)))
}

/// Arrivals relative to the first one.
fn rebase(mut jobs: Vec<SimJob>) -> Vec<SimJob> {
    let t0 = jobs.iter().map(|j| j.arrival_ns).min().unwrap_or(0);
    for j in &mut jobs {
        j.arrival_ns -= t0;
    }
    jobs.sort_by_key(|j| (j.arrival_ns, j.id));
    jobs
}

/// Simulate one policy and summarize it like a live run.
pub fn run_policy(
    jobs: &[SimJob],
    policy: SimPolicy,
    cfg: &SimConfig,
    workload_name: &str,
) -> (summary::Summary, Vec<Record>) {
    let res = sim::simulate(jobs, policy, cfg);
    let alone: Vec<u64> = jobs.iter().map(|j| j.cpu_ns() + j.wait_ns()).collect();
    let span = res.stats.makespan_ns as f64 / 1e9;
    let busy: u64 = res.stats.busy_ns.iter().sum();
    let mut s = summary::summarize(
        &res.records,
        &SummaryInput {
            workload: workload_name,
            policy: policy.name(),
            backend: "sim",
            alone_ns: &alone,
            context_switches: res.stats.context_switches,
            migrations: 0,
            cpu_utilization: if span > 0.0 {
                busy as f64 / 1e9 / (span * cfg.cores as f64)
            } else {
                0.0
            },
            dropped_records: 0,
            failed: 0,
            counter_span_s: span,
        },
    );
    s.backend_stats = serde_json::json!({
        "events": res.stats.events,
        "context_switches": res.stats.context_switches,
        "preemptions": res.stats.preemptions,
        "policy_updates": res.stats.policy_updates,
    });
    (s, res.records)
}

pub fn sim_config(cores: u32, update_s: f64) -> SimConfig {
    SimConfig {
        alps_update_ns: (update_s.max(0.01) * 1e9) as u64,
        ..SimConfig::with_cores(cores.max(1) as usize)
    }
}

/// Run the simulated comparison; writes compare.json, per-policy
/// summaries and latency CDFs under `cfg.out`.
pub fn simulate(cfg: &SimulateConfig) -> Result<CompareResult> {
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let cal = Calibration::load_or_measure()?;
    let scfg = sim_config(cfg.cores, cfg.update_s);
    let mut sums: BTreeMap<&'static str, Vec<summary::Summary>> = BTreeMap::new();
    let mut recs: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    let mut name = cfg.workload.clone();
    for trial in 0..cfg.trials.max(1) {
        let (n, jobs) = load_jobs(cfg, cfg.seed + u64::from(trial), &cal)?;
        name = n;
        if jobs.is_empty() {
            anyhow::bail!("workload {} has no invocations", cfg.workload);
        }
        for &p in &cfg.policies {
            let (s, r) = run_policy(&jobs, p, &scfg, &name);
            let dir = cfg.out.join(format!("trial-{trial}")).join(p.name());
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&s)?)?;
            sums.entry(p.name()).or_default().push(s);
            if trial == 0 {
                recs.insert(p.name().to_string(), r);
            }
        }
    }
    let policies: BTreeMap<String, compare::PolicyResult> = sums
        .into_iter()
        .map(|(p, s)| (p.to_string(), compare::aggregate(&s)))
        .collect();
    let result = CompareResult {
        ratios_vs_eevdf: compare::ratios(&policies, "eevdf"),
        policies,
        trials: cfg.trials.max(1),
        workload: name,
        backend: format!("sim ({} cores)", cfg.cores),
        config: None,
    };
    std::fs::write(
        cfg.out.join("compare.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    std::fs::write(
        cfg.out.join("simulate.json"),
        serde_json::to_string_pretty(cfg)?,
    )?;
    if let Err(e) = crate::plot::latency_cdfs(&recs, &cfg.out.join("latency_cdf")) {
        eprintln!("alps simulate: plots skipped: {e:#}");
    }
    Ok(result)
}

/// One row of the sim-vs-live validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationRow {
    pub policy: String,
    pub class: String,
    pub live_mean_ms: f64,
    pub sim_mean_ms: f64,
    pub mean_error: f64,
    pub live_p99_ms: f64,
    pub sim_p99_ms: f64,
    pub p99_error: f64,
}

/// Replay each run of a live comparison (its measured bursts, waits and
/// arrivals) in the simulator under the same policy on the same core
/// count, and compare per class (the warm-up excluded as in the live run).
pub fn validate(compare_dir: &Path) -> Result<Vec<ValidationRow>> {
    let cmp = compare::read_compare(compare_dir)?;
    let cfg = cmp
        .config
        .clone()
        .context("compare.json has no config (is it a live comparison?)")?;
    let cores = crate::sysstat::num_cpus() as u32;
    let mut rows = Vec::new();
    for (pname, pres) in &cmp.policies {
        let Ok(policy) = pname.parse::<SimPolicy>() else {
            continue;
        };
        let mut live_all: Vec<Record> = Vec::new();
        let mut sim_all: Vec<Record> = Vec::new();
        for dir in &pres.runs {
            // Datasets may keep the records of some trials only.
            if !dir.join("records.jsonl").exists() {
                continue;
            }
            let recs = crate::run::read_records(dir)?;
            let Some(t0) = recs.iter().map(|r| r.arrival_ns).min() else {
                continue;
            };
            let jobs = sim::jobs_from_records(&recs);
            let jobs = {
                let mut j = jobs;
                for x in &mut j {
                    x.arrival_ns -= t0;
                }
                j
            };
            let res = sim::simulate(&jobs, policy, &sim_config(cores, cfg.update_period_s));
            let warm = (cfg.warmup_s * 1e9) as u64;
            live_all.extend(recs.into_iter().filter(|r| r.arrival_ns - t0 >= warm));
            sim_all.extend(res.records.into_iter().filter(|r| r.arrival_ns >= warm));
        }
        let classes: std::collections::BTreeSet<String> =
            live_all.iter().map(|r| r.class.clone()).collect();
        for c in classes {
            let l =
                summary::class_summary(live_all.iter().filter(|r| r.class == c).map(|r| (r, 1.0)));
            let s =
                summary::class_summary(sim_all.iter().filter(|r| r.class == c).map(|r| (r, 1.0)));
            rows.push(ValidationRow {
                policy: pname.clone(),
                class: c,
                live_mean_ms: l.mean_ms,
                sim_mean_ms: s.mean_ms,
                mean_error: s.mean_ms / l.mean_ms - 1.0,
                live_p99_ms: l.p99_ms,
                sim_p99_ms: s.p99_ms,
                p99_error: s.p99_ms / l.p99_ms - 1.0,
            });
        }
    }
    Ok(rows)
}

/// The validation as a Markdown table.
pub fn validation_markdown(rows: &[ValidationRow], source: &str) -> String {
    let mut s = String::from(
        "| policy | class | live mean ms | sim mean ms | error | live P99 ms | sim P99 ms | error |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {:.1} | {:.1} | {:+.1}% | {:.1} | {:.1} | {:+.1}% |\n",
            r.policy,
            r.class,
            r.live_mean_ms,
            r.sim_mean_ms,
            100.0 * r.mean_error,
            r.live_p99_ms,
            r.sim_p99_ms,
            100.0 * r.p99_error
        );
    }
    let within = rows.iter().filter(|r| r.mean_error.abs() <= 0.15).count();
    s += &format!(
        "\n{within} of {} class means within 15% (source: {source}).\n",
        rows.len()
    );
    s
}
