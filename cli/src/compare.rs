//! `alps compare`: the same arrival sequence under each policy, trials
//! alternating the policy order so machine drift hits all alike; then a
//! side-by-side table with 95% confidence intervals, ratios to EEVDF, the
//! inversion metric, `compare.json` and latency-CDF plots.

use crate::inversion::Inversion;
use crate::run::{self, BackendName, PolicyName, RunConfig};
use crate::summary::{ClassSummary, Summary};
use alps_probes::Record;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareConfig {
    pub workload: String,
    pub policies: Vec<PolicyName>,
    pub backend: BackendName,
    pub trials: u32,
    pub duration_s: f64,
    pub load: Option<f64>,
    pub io_share: Option<f64>,
    pub seed: u64,
    pub warmup_s: f64,
    pub update_period_s: f64,
    pub out: PathBuf,
    /// Record stints (for the inversion metric).
    pub stints: bool,
    pub progress: bool,
}

impl CompareConfig {
    pub fn new(out: &Path) -> Self {
        Self {
            workload: "mixed".into(),
            policies: vec![
                PolicyName::Eevdf,
                PolicyName::Alps,
                PolicyName::AlpsIo,
                PolicyName::Sfs,
            ],
            backend: BackendName::StockStrict,
            trials: 3,
            duration_s: 20.0,
            load: None,
            io_share: None,
            seed: 1,
            warmup_s: 5.0,
            update_period_s: 1.0,
            out: out.to_path_buf(),
            stints: true,
            progress: true,
        }
    }
}

/// Mean and 95% confidence half-width over trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub ci95: f64,
}

/// Student's t quantile (0.975) for n-1 degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if df == 0 {
        f64::NAN
    } else {
        T.get(df - 1).copied().unwrap_or(1.96)
    }
}

pub fn stat(xs: &[f64]) -> Stat {
    let n = xs.len();
    if n == 0 {
        return Stat::default();
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Stat { mean, ci95: 0.0 };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Stat {
        mean,
        ci95: t975(n - 1) * (var / n as f64).sqrt(),
    }
}

/// One class's metrics over trials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassStats {
    pub count: Stat,
    pub mean_ms: Stat,
    pub p50_ms: Stat,
    pub p90_ms: Stat,
    pub p99_ms: Stat,
    pub mean_slowdown: Stat,
}

/// One policy over all trials: the mean summary plus confidence intervals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyResult {
    /// summary.json fields, each the mean over trials.
    #[serde(flatten)]
    pub summary: Summary,
    pub ci: BTreeMap<String, ClassStats>,
    pub overall_ci: ClassStats,
    pub throughput_ci: Stat,
    pub context_switches_ci: Stat,
    pub inversion_fraction: Option<Stat>,
    pub inversion_ms_per_s: Option<Stat>,
    /// Trial directories.
    pub runs: Vec<PathBuf>,
}

/// Ratios of a policy's means to EEVDF's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub classes: BTreeMap<String, BTreeMap<String, f64>>,
    pub overall: BTreeMap<String, f64>,
    pub throughput: f64,
    pub cpu_work: f64,
    pub context_switches: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CompareResult {
    pub policies: BTreeMap<String, PolicyResult>,
    pub ratios_vs_eevdf: BTreeMap<String, Ratios>,
    pub trials: u32,
    pub workload: String,
    pub backend: String,
    pub config: Option<CompareConfig>,
}

fn class_stats(sums: &[&ClassSummary]) -> ClassStats {
    let f = |g: fn(&ClassSummary) -> f64| stat(&sums.iter().map(|c| g(c)).collect::<Vec<_>>());
    ClassStats {
        count: f(|c| c.count as f64),
        mean_ms: f(|c| c.mean_ms),
        p50_ms: f(|c| c.p50_ms),
        p90_ms: f(|c| c.p90_ms),
        p99_ms: f(|c| c.p99_ms),
        mean_slowdown: f(|c| c.mean_slowdown),
    }
}

fn mean_class(sums: &[&ClassSummary]) -> ClassSummary {
    let n = sums.len().max(1) as f64;
    let m = |g: fn(&ClassSummary) -> f64| sums.iter().map(|c| g(c)).sum::<f64>() / n;
    ClassSummary {
        count: (m(|c| c.count as f64)).round() as u64,
        mean_ms: m(|c| c.mean_ms),
        p50_ms: m(|c| c.p50_ms),
        p90_ms: m(|c| c.p90_ms),
        p99_ms: m(|c| c.p99_ms),
        p999_ms: m(|c| c.p999_ms),
        mean_slowdown: m(|c| c.mean_slowdown),
        on_cpu_ms_mean: m(|c| c.on_cpu_ms_mean),
        off_cpu_ms_mean: m(|c| c.off_cpu_ms_mean),
        runq_wait_ms_mean: m(|c| c.runq_wait_ms_mean),
    }
}

/// Aggregate one policy's per-trial summaries.
pub fn aggregate(trials: &[Summary]) -> PolicyResult {
    let mut out = PolicyResult::default();
    let Some(first) = trials.first() else {
        return out;
    };
    let n = trials.len() as f64;
    let mut s = first.clone();
    let classes: std::collections::BTreeSet<&String> =
        trials.iter().flat_map(|t| t.classes.keys()).collect();
    s.classes = classes
        .iter()
        .map(|c| {
            let v: Vec<&ClassSummary> = trials.iter().filter_map(|t| t.classes.get(*c)).collect();
            out.ci.insert((*c).clone(), class_stats(&v));
            ((*c).clone(), mean_class(&v))
        })
        .collect();
    let all: Vec<&ClassSummary> = trials.iter().map(|t| &t.overall).collect();
    s.overall = mean_class(&all);
    out.overall_ci = class_stats(&all);
    let m = |g: fn(&Summary) -> f64| trials.iter().map(g).sum::<f64>() / n;
    s.duration_s = m(|t| t.duration_s);
    s.throughput.invocations_per_s = m(|t| t.throughput.invocations_per_s);
    s.throughput.cpu_work_s_per_s = m(|t| t.throughput.cpu_work_s_per_s);
    s.context_switches_per_s = m(|t| t.context_switches_per_s);
    s.function_context_switches_per_s = m(|t| t.function_context_switches_per_s);
    s.migrations_per_s = m(|t| t.migrations_per_s);
    s.cpu_utilization = m(|t| t.cpu_utilization);
    s.dropped_records = trials.iter().map(|t| t.dropped_records).sum();
    s.failed = trials.iter().map(|t| t.failed).sum();
    out.throughput_ci = stat(
        &trials
            .iter()
            .map(|t| t.throughput.invocations_per_s)
            .collect::<Vec<_>>(),
    );
    out.context_switches_ci = stat(
        &trials
            .iter()
            .map(|t| t.context_switches_per_s)
            .collect::<Vec<_>>(),
    );
    let invs: Vec<Inversion> = trials
        .iter()
        .filter_map(|t| t.inversion.clone())
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    if !invs.is_empty() {
        out.inversion_fraction = Some(stat(&invs.iter().map(|i| i.fraction).collect::<Vec<_>>()));
        out.inversion_ms_per_s = Some(stat(
            &invs
                .iter()
                .zip(trials)
                .map(|(i, t)| i.inversion_ms / t.duration_s.max(1e-9))
                .collect::<Vec<_>>(),
        ));
        // Mean inversion over trials, pair by pair.
        let mut mean = Inversion::default();
        let k = invs.len() as f64;
        for i in &invs {
            mean.cpu_ms += i.cpu_ms / k;
            mean.inversion_ms += i.inversion_ms / k;
            mean.fraction += i.fraction / k;
            for (p, v) in &i.by_pair {
                *mean.by_pair.entry(p.clone()).or_default() += v / k;
            }
            for (p, v) in &i.by_runner {
                *mean.by_runner.entry(p.clone()).or_default() += v / k;
            }
        }
        s.inversion = serde_json::to_value(mean).ok();
    }
    s.backend_stats = serde_json::Value::Null;
    out.summary = s;
    out
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

fn class_ratios(a: &ClassSummary, b: &ClassSummary) -> BTreeMap<String, f64> {
    [
        ("mean_ms", ratio(a.mean_ms, b.mean_ms)),
        ("p50_ms", ratio(a.p50_ms, b.p50_ms)),
        ("p90_ms", ratio(a.p90_ms, b.p90_ms)),
        ("p99_ms", ratio(a.p99_ms, b.p99_ms)),
        ("mean_slowdown", ratio(a.mean_slowdown, b.mean_slowdown)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Ratios of each policy to `base`.
pub fn ratios(policies: &BTreeMap<String, PolicyResult>, base: &str) -> BTreeMap<String, Ratios> {
    let Some(b) = policies.get(base) else {
        return BTreeMap::new();
    };
    let b = &b.summary;
    policies
        .iter()
        .filter(|(name, _)| name.as_str() != base)
        .map(|(name, p)| {
            let s = &p.summary;
            let classes = s
                .classes
                .iter()
                .filter_map(|(c, cs)| b.classes.get(c).map(|bc| (c.clone(), class_ratios(cs, bc))))
                .collect();
            (
                name.clone(),
                Ratios {
                    classes,
                    overall: class_ratios(&s.overall, &b.overall),
                    throughput: ratio(
                        s.throughput.invocations_per_s,
                        b.throughput.invocations_per_s,
                    ),
                    cpu_work: ratio(s.throughput.cpu_work_s_per_s, b.throughput.cpu_work_s_per_s),
                    context_switches: ratio(s.context_switches_per_s, b.context_switches_per_s),
                },
            )
        })
        .collect()
}

/// One policy's per-trial summaries, run directories and measured records.
type PolicyRuns = (Vec<Summary>, Vec<PathBuf>, Vec<Record>);

/// Run the comparison.
pub fn compare(cfg: &CompareConfig) -> Result<CompareResult> {
    if cfg.policies.is_empty() {
        anyhow::bail!("no policies to compare");
    }
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let cal = crate::functions::Calibration::load_or_measure()?;
    let mut per_policy: BTreeMap<PolicyName, PolicyRuns> = BTreeMap::new();
    let total = cfg.trials as usize * cfg.policies.len();
    let mut k = 0;
    for trial in 0..cfg.trials {
        let mut rc = RunConfig::new(&cfg.workload, PolicyName::Eevdf, &cfg.out);
        rc.duration_s = cfg.duration_s;
        rc.load = cfg.load;
        rc.io_share = cfg.io_share;
        rc.seed = cfg.seed + u64::from(trial);
        let w = crate::workload::load(&cfg.workload, &rc.workload_opts(), &cal)?;
        // Rotate the order each trial.
        let n = cfg.policies.len();
        for j in 0..n {
            let policy = cfg.policies[(j + trial as usize) % n];
            k += 1;
            let dir = cfg.out.join(format!("trial-{trial}")).join(policy.as_str());
            eprintln!(
                "alps compare: run {k}/{total}: trial {trial}, policy {policy}, {} invocations",
                w.invocations.len()
            );
            let mut r = rc.clone();
            r.policy = policy;
            r.backend = cfg.backend;
            r.out = dir.clone();
            r.warmup_s = cfg.warmup_s;
            r.update_period_s = cfg.update_period_s;
            r.stints = cfg.stints;
            r.progress = cfg.progress;
            let out = run::run_workload(&w, &cal, &r)?;
            let e = per_policy.entry(policy).or_default();
            e.0.push(out.summary);
            e.1.push(dir);
            e.2.extend(out.measured);
            if out.interrupted {
                anyhow::bail!("interrupted; partial results are in {}", cfg.out.display());
            }
        }
    }
    let mut policies = BTreeMap::new();
    let mut fcts: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for (p, (sums, dirs, recs)) in per_policy {
        let mut agg = aggregate(&sums);
        agg.runs = dirs;
        policies.insert(p.as_str().to_string(), agg);
        fcts.insert(p.as_str().to_string(), recs);
    }
    let result = CompareResult {
        ratios_vs_eevdf: ratios(&policies, "eevdf"),
        policies,
        trials: cfg.trials,
        workload: cfg.workload.clone(),
        backend: cfg.backend.as_str().into(),
        config: Some(cfg.clone()),
    };
    let path = cfg.out.join("compare.json");
    std::fs::write(&path, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("writing {}", path.display()))?;
    if let Err(e) = crate::plot::latency_cdfs(&fcts, &cfg.out.join("latency_cdf")) {
        eprintln!("alps compare: plots skipped: {e:#}");
    }
    Ok(result)
}

/// Read a compare.json.
pub fn read_compare(path: &Path) -> Result<CompareResult> {
    let file = if path.is_dir() {
        path.join("compare.json")
    } else {
        path.to_path_buf()
    };
    let s =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&s).with_context(|| format!("{}: not a compare.json", file.display()))
}

fn pm(s: &Stat) -> String {
    if s.ci95 > 0.0 && s.ci95.is_finite() {
        format!("{:.1}±{:.1}", s.mean, s.ci95)
    } else {
        format!("{:.1}", s.mean)
    }
}

/// The side-by-side table.
pub fn print_compare(r: &CompareResult) {
    println!(
        "workload {}, backend {}, {} trial(s); FCT in ms (mean ± 95% CI over trials); ×EEVDF = ratio of means to EEVDF's",
        r.workload, r.backend, r.trials
    );
    let classes: std::collections::BTreeSet<&String> = r
        .policies
        .values()
        .flat_map(|p| p.summary.classes.keys())
        .collect();
    println!(
        "{:<12} {:<8} {:>6} {:>15} {:>12} {:>15} {:>9} {:>8} {:>8}",
        "class", "policy", "count", "mean", "p50", "p99", "slowdown", "×mean", "×p99"
    );
    let row = |class: &str, pname: &str, c: &ClassStats, rat: Option<&BTreeMap<String, f64>>| {
        let g = |k: &str| {
            rat.and_then(|m| m.get(k))
                .map(|v| format!("{v:.2}"))
                .unwrap_or("-".into())
        };
        println!(
            "{:<12} {:<8} {:>6.0} {:>15} {:>12} {:>15} {:>9.2} {:>8} {:>8}",
            class,
            pname,
            c.count.mean,
            pm(&c.mean_ms),
            pm(&c.p50_ms),
            pm(&c.p99_ms),
            c.mean_slowdown.mean,
            g("mean_ms"),
            g("p99_ms")
        );
    };
    for c in &classes {
        for (pname, p) in &r.policies {
            if let Some(cs) = p.ci.get(*c) {
                let rat = r.ratios_vs_eevdf.get(pname).and_then(|x| x.classes.get(*c));
                row(c, pname, cs, rat);
            }
        }
    }
    for (pname, p) in &r.policies {
        let rat = r.ratios_vs_eevdf.get(pname).map(|x| &x.overall);
        row("(all)", pname, &p.overall_ci, rat);
    }
    println!();
    println!(
        "{:<8} {:>14} {:>10} {:>12} {:>12} {:>10} {:>16} {:>8}",
        "policy",
        "invocations/s",
        "CPU-s/s",
        "ctx sw/s",
        "fn ctx sw/s",
        "CPU util",
        "inversion",
        "dropped"
    );
    for (pname, p) in &r.policies {
        let s = &p.summary;
        let inv = p
            .inversion_fraction
            .map(|f| format!("{:.1}%±{:.1}", 100.0 * f.mean, 100.0 * f.ci95))
            .unwrap_or("-".into());
        println!(
            "{:<8} {:>14} {:>10.2} {:>12.0} {:>12.0} {:>9.1}% {:>16} {:>8}",
            pname,
            pm(&p.throughput_ci),
            s.throughput.cpu_work_s_per_s,
            s.context_switches_per_s,
            s.function_context_switches_per_s,
            100.0 * s.cpu_utilization,
            inv,
            s.dropped_records
        );
    }
    // Where the inversion comes from.
    for (pname, p) in &r.policies {
        if let Some(inv) = p
            .summary
            .inversion
            .as_ref()
            .and_then(|v| serde_json::from_value::<Inversion>(v.clone()).ok())
        {
            let mut pairs: Vec<_> = inv.by_pair.iter().collect();
            pairs.sort_by(|a, b| b.1.total_cmp(a.1));
            let top: Vec<String> = pairs
                .iter()
                .take(4)
                .map(|(k, v)| format!("{k} {:.0} ms", v))
                .collect();
            println!(
                "inversion {pname}: {:.0} ms per run; top runner>waiter: {}",
                inv.inversion_ms,
                top.join(", ")
            );
        }
    }
    // The fix's targets (cli/src/targets.rs).
    let t = crate::targets::targets(r);
    if !t.is_empty() {
        println!("\ntargets (ALPS-IO fix):");
        for x in &t {
            println!(
                "  {:<3} {:<55} {:>7}  (goal {})",
                if x.met { "ok" } else { "NO" },
                x.what,
                x.value,
                x.goal
            );
        }
    }
}
