//! Workloads: which function classes arrive when. A workload is a fixed,
//! seeded, open-loop arrival sequence (`Vec<Invocation>`), so every policy
//! in a comparison gets the identical sequence.
//!
//! Sources (`load`): a built-in name (`cpu`, `io`, `mixed`), a TOML file
//! (format in cli/WORKLOADS.md), or `trace:FILE` / `trace:FORMAT:FILE` (ALPS,
//! cs736, Azure 2021, Azure 2019).

pub mod arrivals;
pub mod builtin;
pub mod spec;
pub mod traces;

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::functions::{Calibration, FnSpec};

pub use arrivals::{ArrivalProcess, ClassDef, ClassWeight, Group};

/// One invocation of the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// 0, 1, 2, ... in arrival order.
    pub seq: u64,
    /// Offset from the run start, ns.
    pub arrival_ns: u64,
    pub class: String,
    pub function_id: u32,
    pub spec: FnSpec,
}

/// A function class of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassInfo {
    pub name: String,
    pub function_id: u32,
    /// Body kind (`fib`, `io`, ...).
    pub kind: String,
    /// Mean expected CPU ns of one invocation of the class.
    pub expected_cpu_ns: u64,
    /// Fraction of invocations (target for generated workloads, realized
    /// for traces).
    pub share: f64,
    /// Fraction of the workload's CPU demand.
    #[serde(default)]
    pub cpu_share: f64,
    /// `cpu` or `io` group (the `io_share` knob scales the `io` group).
    #[serde(default)]
    pub group: String,
}

/// A generated or trace-derived workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub name: String,
    pub seed: u64,
    pub duration_s: f64,
    /// Target CPU utilization as a fraction of `cores` (for a trace without
    /// `--load`: the trace's own realized load).
    pub load: f64,
    pub cores: u32,
    /// Share of CPU capacity demanded by the I/O group, if the workload has
    /// that knob.
    #[serde(default)]
    pub io_share: Option<f64>,
    pub classes: Vec<ClassInfo>,
    pub invocations: Vec<Invocation>,
}

/// Options every workload source takes (from the command line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadOpts {
    /// Length of the arrival sequence, s. For a TOML file, <= 0 means the
    /// file's `duration_s`; for a trace, <= 0 means the whole trace.
    pub duration_s: f64,
    /// Target CPU utilization, fraction of `cores` (None: the source's
    /// default; a trace keeps its own timing).
    pub load: Option<f64>,
    /// Share of CPU capacity for the I/O group (mixed workloads).
    pub io_share: Option<f64>,
    /// Seed of every random choice. For a TOML file with its own `seed`,
    /// 0 means "use the file's seed".
    pub seed: u64,
    /// Cores the load is relative to (CPU capacity = cores).
    pub cores: u32,
}

impl Default for WorkloadOpts {
    fn default() -> Self {
        WorkloadOpts {
            duration_s: 30.0,
            load: None,
            io_share: None,
            seed: 1,
            cores: 2,
        }
    }
}

/// Stable function id of a class name: 32-bit FNV-1a of the name, never 0
/// (0 means "no entry" to the kernel side). The same name gets the same id
/// in every workload, policy and run.
pub fn function_id_for(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.as_bytes() {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// Build a workload from a source (see the module docs).
pub fn load(source: &str, opts: &WorkloadOpts, cal: &Calibration) -> Result<Workload> {
    if opts.cores == 0 {
        bail!("workload: cores must be >= 1");
    }
    if let Some(l) = opts.load {
        if !(l.is_finite() && l > 0.0) {
            bail!(
                "workload: load must be > 0 (fraction of {} cores), got {l}",
                opts.cores
            );
        }
    }
    if let Some(s) = opts.io_share {
        if !(s.is_finite() && s >= 0.0) {
            bail!("workload: io_share must be >= 0, got {s}");
        }
    }
    if let Some(rest) = source.strip_prefix("trace:") {
        return traces::load_trace(rest, opts, cal);
    }
    if let Some(w) = builtin::load_builtin(source, opts, cal)? {
        return Ok(w);
    }
    let path = std::path::Path::new(source);
    if path.extension().is_some_and(|e| e == "toml") || path.exists() {
        return spec::load_toml_file(path, opts, cal)
            .with_context(|| format!("workload file {}", path.display()));
    }
    bail!(
        "unknown workload {source:?}: expected a built-in ({}), a .toml file, or trace:FILE",
        builtin::BUILTINS.join(", ")
    )
}

impl Workload {
    /// Sum of the invocations' expected CPU time, ns.
    pub fn cpu_demand_ns(&self, cal: &Calibration) -> u64 {
        self.invocations
            .iter()
            .map(|i| i.spec.expected_cpu_ns(cal))
            .sum()
    }

    /// CPU demand divided by capacity (duration x cores).
    pub fn realized_load(&self, cal: &Calibration) -> f64 {
        if self.duration_s <= 0.0 {
            return 0.0;
        }
        self.cpu_demand_ns(cal) as f64 / (self.duration_s * 1e9 * self.cores as f64)
    }

    /// Realized CPU demand of the classes of one group over capacity.
    pub fn realized_group_load(&self, cal: &Calibration, group: &str) -> f64 {
        let names: std::collections::HashSet<&str> = self
            .classes
            .iter()
            .filter(|c| c.group == group)
            .map(|c| c.name.as_str())
            .collect();
        let ns: u64 = self
            .invocations
            .iter()
            .filter(|i| names.contains(i.class.as_str()))
            .map(|i| i.spec.expected_cpu_ns(cal))
            .sum();
        ns as f64 / (self.duration_s * 1e9 * self.cores as f64)
    }

    /// The class of a name.
    pub fn class(&self, name: &str) -> Option<&ClassInfo> {
        self.classes.iter().find(|c| c.name == name)
    }
}

/// Class table of a list of invocations (realized shares), in first-seen
/// order; errors if two class names hash to one function id.
pub(crate) fn classes_from_invocations(
    invs: &[Invocation],
    cal: &Calibration,
) -> Result<Vec<ClassInfo>> {
    let mut order: Vec<String> = Vec::new();
    let mut acc: BTreeMap<String, (u32, String, u64, u64, String)> = BTreeMap::new();
    let mut total_cpu = 0u64;
    for i in invs {
        let cpu = i.spec.expected_cpu_ns(cal);
        total_cpu += cpu;
        let e = acc.entry(i.class.clone()).or_insert_with(|| {
            order.push(i.class.clone());
            let group = if i.spec.is_io_kind() { "io" } else { "cpu" };
            (
                i.function_id,
                i.spec.kind().to_string(),
                0,
                0,
                group.to_string(),
            )
        });
        e.2 += 1;
        e.3 += cpu;
    }
    let n = invs.len().max(1) as f64;
    let classes: Vec<ClassInfo> = order
        .iter()
        .map(|name| {
            let (fid, kind, count, cpu, group) = &acc[name];
            ClassInfo {
                name: name.clone(),
                function_id: *fid,
                kind: kind.clone(),
                expected_cpu_ns: cpu / (*count).max(1),
                share: *count as f64 / n,
                cpu_share: if total_cpu > 0 {
                    *cpu as f64 / total_cpu as f64
                } else {
                    0.0
                },
                group: group.clone(),
            }
        })
        .collect();
    check_unique_ids(&classes)?;
    Ok(classes)
}

pub(crate) fn check_unique_ids(classes: &[ClassInfo]) -> Result<()> {
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for c in classes {
        if let Some(other) = seen.insert(c.function_id, &c.name) {
            if other != c.name {
                bail!(
                    "classes {other:?} and {:?} have the same function id {}; rename one or set its function_id",
                    c.name,
                    c.function_id
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_ids_are_stable() {
        // Fixed values: changing the hash would change every id in old runs.
        assert_eq!(function_id_for(""), 0x811c_9dc5);
        assert_eq!(function_id_for("a"), 0xe40c_292c);
        assert_eq!(function_id_for("fib-g1-a"), function_id_for("fib-g1-a"));
        assert_ne!(function_id_for("fib-g1-a"), function_id_for("fib-g1-b"));
    }
}
