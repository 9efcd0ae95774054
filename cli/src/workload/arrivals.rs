//! Arrival generation: from class definitions and a target load to a seeded,
//! open-loop invocation sequence.
//!
//! Load model: CPU capacity is `cores`; the workload demands `load x cores`
//! CPU-seconds per second. Without `io_share`, all classes form one pool;
//! with it, the `io` group demands `io_share x cores` and the `cpu` group
//! `(load - io_share) x cores`. Inside a pool, classes are picked by
//! invocation weight (`weight`) or by CPU-demand weight (`cpu_weight`,
//! converted to invocation weight by dividing by the class' expected CPU).
//! A pool's arrival rate is its demand over its mean CPU per invocation; the
//! pools' Poisson streams are superposed (one stream, class picked per
//! arrival), which is the same process.

use anyhow::{bail, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{check_unique_ids, function_id_for, ClassInfo, Invocation, Workload};
use crate::functions::{Calibration, FnSpec};

/// Which demand pool a class belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Cpu,
    Io,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Cpu => "cpu",
            Group::Io => "io",
        }
    }
    /// Default group of a body: io, blockio and deceptive are `io`.
    pub fn of(spec: &FnSpec) -> Group {
        if spec.is_io_kind() {
            Group::Io
        } else {
            Group::Cpu
        }
    }
}

/// How much of its pool a class gets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Relative share of the pool's invocations.
    Invocations(f64),
    /// Relative share of the pool's CPU demand.
    Cpu(f64),
}

/// A class as a generator input.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDef {
    pub name: String,
    /// None: `function_id_for(name)`.
    pub function_id: Option<u32>,
    pub spec: FnSpec,
    pub weight: ClassWeight,
    pub group: Group,
}

impl ClassDef {
    pub fn new(name: &str, spec: FnSpec, weight: ClassWeight) -> ClassDef {
        let group = Group::of(&spec);
        ClassDef {
            name: name.to_string(),
            function_id: None,
            spec,
            weight,
            group,
        }
    }
    pub fn id(&self) -> u32 {
        self.function_id
            .unwrap_or_else(|| function_id_for(&self.name))
    }
}

/// Inter-arrival process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalProcess {
    /// Exponential inter-arrival times (seeded).
    #[default]
    Poisson,
    /// Fixed inter-arrival time 1/rate (deterministic).
    Uniform,
}

/// How the class of each arrival is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassOrder {
    /// Independent draw per arrival by share (seeded).
    #[default]
    Random,
    /// Smooth weighted round robin by share (deterministic, evenly spread).
    Interleave,
}

/// Generator parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    pub name: String,
    pub seed: u64,
    pub duration_s: f64,
    pub load: f64,
    pub cores: u32,
    pub io_share: Option<f64>,
    pub process: ArrivalProcess,
    pub order: ClassOrder,
}

/// Per-class arrival rate (per second) after resolving the load model.
pub fn class_rates(classes: &[ClassDef], p: &GenParams, cal: &Calibration) -> Result<Vec<f64>> {
    if classes.is_empty() {
        bail!("workload {}: no classes", p.name);
    }
    if !(p.load.is_finite() && p.load > 0.0) {
        bail!("workload {}: load must be > 0, got {}", p.name, p.load);
    }
    let all: Vec<usize> = (0..classes.len()).collect();
    let pools: Vec<(Vec<usize>, f64)> = match p.io_share {
        None => vec![(all, p.load)],
        Some(io) => {
            let io_idx: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| classes[i].group == Group::Io)
                .collect();
            let cpu_idx: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| classes[i].group == Group::Cpu)
                .collect();
            if io_idx.is_empty() || cpu_idx.is_empty() {
                bail!(
                    "workload {}: io_share needs classes in both the cpu and the io group",
                    p.name
                );
            }
            if io > p.load + 1e-12 {
                bail!(
                    "workload {}: io_share {io} exceeds the total load {}",
                    p.name,
                    p.load
                );
            }
            vec![(cpu_idx, (p.load - io).max(0.0)), (io_idx, io)]
        }
    };
    let mut rates = vec![0.0; classes.len()];
    for (idx, demand) in pools {
        if demand <= 0.0 {
            continue;
        }
        let by_cpu = idx
            .iter()
            .filter(|&&i| matches!(classes[i].weight, ClassWeight::Cpu(_)))
            .count();
        if by_cpu != 0 && by_cpu != idx.len() {
            bail!(
                "workload {}: classes of one group must all use `weight` or all use `cpu_weight`",
                p.name
            );
        }
        let mut w = Vec::with_capacity(idx.len());
        for &i in &idx {
            let c = &classes[i];
            let e = c.spec.expected_cpu_ns(cal) as f64;
            let wi = match c.weight {
                ClassWeight::Invocations(x) => x,
                ClassWeight::Cpu(x) => {
                    if e <= 0.0 && x > 0.0 {
                        bail!(
                            "class {}: cpu_weight needs a non-zero expected CPU time (set cpu_ms for cmd)",
                            c.name
                        );
                    }
                    if x > 0.0 {
                        x / e
                    } else {
                        0.0
                    }
                }
            };
            if !(wi.is_finite() && wi >= 0.0) {
                bail!("class {}: weight must be >= 0", c.name);
            }
            w.push((i, wi, e));
        }
        let sum: f64 = w.iter().map(|x| x.1).sum();
        if sum <= 0.0 {
            bail!("workload {}: all weights of a group are 0", p.name);
        }
        let mean_cpu_ns: f64 = w.iter().map(|(_, wi, e)| wi / sum * e).sum();
        if mean_cpu_ns <= 0.0 {
            bail!(
                "workload {}: a group has zero expected CPU per invocation, so no arrival rate \
                 gives a load (set cpu_ms on cmd classes)",
                p.name
            );
        }
        let pool_rate = demand * p.cores as f64 * 1e9 / mean_cpu_ns;
        for (i, wi, _) in w {
            rates[i] = pool_rate * wi / sum;
        }
    }
    Ok(rates)
}

/// Generate the workload: arrivals in [0, duration_s).
pub fn generate(classes: &[ClassDef], p: &GenParams, cal: &Calibration) -> Result<Workload> {
    if !(p.duration_s.is_finite() && p.duration_s > 0.0) {
        bail!("workload {}: duration must be > 0 s", p.name);
    }
    let rates = class_rates(classes, p, cal)?;
    let total: f64 = rates.iter().sum();
    let shares: Vec<f64> = rates.iter().map(|r| r / total).collect();
    let expected: Vec<u64> = classes
        .iter()
        .map(|c| c.spec.expected_cpu_ns(cal))
        .collect();
    let demand: f64 = rates
        .iter()
        .zip(&expected)
        .map(|(r, e)| r * *e as f64)
        .sum();
    let infos: Vec<ClassInfo> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| ClassInfo {
            name: c.name.clone(),
            function_id: c.id(),
            kind: c.spec.kind().to_string(),
            expected_cpu_ns: expected[i],
            share: shares[i],
            cpu_share: if demand > 0.0 {
                rates[i] * expected[i] as f64 / demand
            } else {
                0.0
            },
            group: c.group.as_str().to_string(),
        })
        .collect();
    check_unique_ids(&infos)?;
    {
        let mut names: Vec<&str> = classes.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("workload {}: class {:?} defined twice", p.name, w[0]);
        }
    }

    let mut rng = StdRng::seed_from_u64(p.seed);
    let horizon_ns = p.duration_s * 1e9;
    let mean_gap_ns = 1e9 / total;
    let max_invocations = 50_000_000.0;
    if horizon_ns / mean_gap_ns > max_invocations {
        bail!(
            "workload {}: {:.0} invocations would be generated; lower the load or duration",
            p.name,
            horizon_ns / mean_gap_ns
        );
    }
    let cumulative: Vec<f64> = shares
        .iter()
        .scan(0.0, |acc, s| {
            *acc += s;
            Some(*acc)
        })
        .collect();
    let mut credit = vec![0.0f64; classes.len()];
    let mut invocations = Vec::new();
    let mut t = match p.process {
        ArrivalProcess::Poisson => 0.0,
        ArrivalProcess::Uniform => -mean_gap_ns, // first arrival at 0
    };
    loop {
        t += match p.process {
            ArrivalProcess::Poisson => {
                let u: f64 = rng.random::<f64>();
                -(1.0 - u).ln() * mean_gap_ns
            }
            ArrivalProcess::Uniform => mean_gap_ns,
        };
        if t >= horizon_ns {
            break;
        }
        let ci = match p.order {
            ClassOrder::Random => {
                let u: f64 = rng.random::<f64>();
                cumulative
                    .iter()
                    .position(|&c| u < c)
                    .unwrap_or(classes.len() - 1)
            }
            ClassOrder::Interleave => {
                for (c, s) in credit.iter_mut().zip(&shares) {
                    *c += s;
                }
                let best = (0..classes.len())
                    .max_by(|&a, &b| credit[a].total_cmp(&credit[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                credit[best] -= 1.0;
                best
            }
        };
        let c = &classes[ci];
        invocations.push(Invocation {
            seq: invocations.len() as u64,
            arrival_ns: t as u64,
            class: c.name.clone(),
            function_id: infos[ci].function_id,
            spec: c.spec.clone(),
        });
    }
    Ok(Workload {
        name: p.name.clone(),
        seed: p.seed,
        duration_s: p.duration_s,
        load: p.load,
        cores: p.cores,
        io_share: p.io_share,
        classes: infos,
        invocations,
    })
}
