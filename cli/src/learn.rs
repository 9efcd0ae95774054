//! `alps learn`: learn a policy from a run's records and print it.

use crate::run::read_records;
use alps_policy::{learn, LearnerConfig, Policy, Variant};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// Learn from the records at `path` (a run directory or a records.jsonl).
pub fn learn_from(
    path: &Path,
    variant: Variant,
    cores: u32,
    util_pct: f64,
) -> Result<(Policy, BTreeMap<u32, String>)> {
    let records = read_records(path)?;
    if records.is_empty() {
        anyhow::bail!("{}: no records to learn from", path.display());
    }
    let base = match variant {
        Variant::Alps => LearnerConfig::alps(),
        Variant::AlpsIo => LearnerConfig::alps_io(),
    };
    let cfg = LearnerConfig {
        cores,
        window_ns: u64::MAX,
        window_max_records: 0,
        ..base
    };
    let names = records
        .iter()
        .map(|r| (r.account.function_id, r.class.clone()))
        .collect();
    Ok((learn(&records, &cfg, util_pct), names))
}

/// Print a policy as a table, functions in rank order.
pub fn print_policy(p: &Policy, names: &BTreeMap<u32, String>) {
    println!(
        "policy v{} ({:?}), {} records, CPU utilization {:.0}%",
        p.version, p.variant, p.window_records, p.cpu_utilization_pct
    );
    println!(
        "{:<16} {:>12} {:>5} {:>10} {:>12} {:>10} {:>14}",
        "class", "function", "rank", "slice ms", "demand ms", "burst ms", "preempts/s"
    );
    let mut rows: Vec<_> = p.functions.iter().collect();
    rows.sort_by_key(|(id, fp)| (fp.rank, **id));
    for (id, fp) in rows {
        let budget = if fp.io.wakeup_preempt_budget_per_s == u32::MAX {
            "unlimited".to_string()
        } else {
            fp.io.wakeup_preempt_budget_per_s.to_string()
        };
        println!(
            "{:<16} {:>12} {:>5} {:>10.2} {:>12.2} {:>10.2} {:>14}",
            names.get(id).map(String::as_str).unwrap_or("?"),
            id,
            fp.rank,
            fp.slice_ns as f64 / 1e6,
            fp.io.cpu_demand_ns as f64 / 1e6,
            fp.io.burst_ns as f64 / 1e6,
            budget
        );
    }
}
