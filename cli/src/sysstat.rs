//! Machine-wide counters for a run: context switches and migrations from
//! perf_event software counters (one per CPU, all tasks), CPU utilization
//! from /proc/stat.

use anyhow::{Context, Result};
use perf_event::events::Software;
use perf_event::{Builder, Counter};

/// System-wide software counters, one pair per CPU.
pub struct PerfCounters {
    switches: Vec<Counter>,
    migrations: Vec<Counter>,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct PerfTotals {
    pub context_switches: u64,
    pub migrations: u64,
}

impl PerfCounters {
    pub fn start() -> Result<Self> {
        let cpus = num_cpus();
        let open = |ev: Software, cpu: usize| -> Result<Counter> {
            let mut c = Builder::new(ev)
                .one_cpu(cpu)
                .any_pid()
                .include_kernel()
                .build()
                .with_context(|| {
                    format!("opening a perf_event software counter on CPU {cpu} (needs root or perf_event_paranoid <= 0)")
                })?;
            c.enable()?;
            Ok(c)
        };
        let mut switches = Vec::new();
        let mut migrations = Vec::new();
        for cpu in 0..cpus {
            switches.push(open(Software::CONTEXT_SWITCHES, cpu)?);
            migrations.push(open(Software::CPU_MIGRATIONS, cpu)?);
        }
        Ok(Self {
            switches,
            migrations,
        })
    }

    pub fn read(&mut self) -> PerfTotals {
        let sum = |v: &mut Vec<Counter>| v.iter_mut().map(|c| c.read().unwrap_or(0)).sum();
        PerfTotals {
            context_switches: sum(&mut self.switches),
            migrations: sum(&mut self.migrations),
        }
    }
}

pub fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Busy and total jiffies from /proc/stat.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    busy: u64,
    total: u64,
}

impl CpuSample {
    pub fn now() -> Self {
        use procfs::CurrentSI;
        match procfs::KernelStats::current() {
            Ok(ks) => {
                let t = ks.total;
                let idle = t.idle + t.iowait.unwrap_or(0);
                let busy = t.user
                    + t.nice
                    + t.system
                    + t.irq.unwrap_or(0)
                    + t.softirq.unwrap_or(0)
                    + t.steal.unwrap_or(0);
                Self {
                    busy,
                    total: busy + idle,
                }
            }
            Err(_) => Self::default(),
        }
    }

    /// Utilization (0..1) between two samples.
    pub fn utilization_since(&self, earlier: &CpuSample) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            0.0
        } else {
            self.busy.saturating_sub(earlier.busy) as f64 / total as f64
        }
    }
}
