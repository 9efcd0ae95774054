//! Each function's FCT when run alone (the denominator of slowdown),
//! measured once per distinct function body on this machine and cached.

use crate::functions::{Calibration, FnSpec};
use crate::workload::Workload;
use alps_probes::{Collector, Tagger};
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

/// Distinct bodies measured at most (the most frequent ones); the rest use
/// the calibrated model (expected CPU and waits).
const MAX_MEASURED: usize = 24;
const REPEATS: usize = 3;

fn key(spec: &FnSpec) -> String {
    spec.to_args().join(" ")
}

fn cache_path() -> Option<PathBuf> {
    Calibration::cache_path().map(|p| p.with_file_name("alone.json"))
}

/// Alone FCT (ns) for every distinct body in `w`.
pub struct AloneTable {
    by_key: HashMap<String, u64>,
}

impl AloneTable {
    pub fn fct_ns(&self, spec: &FnSpec, cal: &Calibration) -> u64 {
        self.by_key
            .get(&key(spec))
            .copied()
            .unwrap_or_else(|| spec.expected_wall_ns(cal))
    }

    /// Measure what is not cached yet: each body run `REPEATS` times alone
    /// under the probes, median wall time.
    pub fn measure(
        w: &Workload,
        tagger: &Tagger,
        collector: &Collector,
        exe: &std::path::Path,
    ) -> Result<Self> {
        let path = cache_path();
        let mut cached: BTreeMap<String, u64> = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let mut freq: HashMap<String, (usize, &FnSpec)> = HashMap::new();
        for inv in &w.invocations {
            freq.entry(key(&inv.spec)).or_insert((0, &inv.spec)).0 += 1;
        }
        let mut order: Vec<_> = freq.into_iter().collect();
        order.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        let mut changed = false;
        for (k, (_, spec)) in order.into_iter().take(MAX_MEASURED) {
            if cached.contains_key(&k) || matches!(spec, FnSpec::Cmd { .. }) {
                continue;
            }
            let mut walls = Vec::new();
            for rep in 0..REPEATS {
                let id = (u64::from(std::process::id()) << 32) | (0xA10E << 8) | rep as u64;
                let mut cmd = std::process::Command::new(exe);
                cmd.arg("fn").args(spec.to_args());
                cmd.stdout(std::process::Stdio::null());
                let mut child = tagger.spawn(&mut cmd, 0, id)?;
                child.wait()?;
                if let Some(a) = collector.wait(id, Duration::from_secs(5)) {
                    walls.push(a.wall_ns);
                }
            }
            walls.sort_unstable();
            if let Some(m) = walls.get(walls.len() / 2) {
                cached.insert(k, *m);
                changed = true;
            }
        }
        if changed {
            if let Some(p) = &path {
                if let Some(dir) = p.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = std::fs::write(p, serde_json::to_string_pretty(&cached)?);
            }
        }
        Ok(Self {
            by_key: cached.into_iter().collect(),
        })
    }
}
