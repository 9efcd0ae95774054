//! `alps ablate`: sweeps described in TOML (ablations/*.toml). Every point
//! (a policy and learner configuration, times the sweep values, times the
//! trials) is an independent job: `--jobs-only` writes them to `jobs.txt`
//! (one `alps ablate-point` command per line, for GNU parallel or any batch
//! scheduler), `--merge` collects whatever results exist into
//! `results.csv`, `results.md` and plots; with neither, everything runs here
//! in sequence and is merged.

use crate::run::{BackendName, PolicyName, RunConfig};
use crate::summary::Summary;
use alps_policy::sim::SimPolicy;
use alps_policy::LearnerConfig;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sim,
    Live,
}

/// One configuration to measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub name: String,
    /// eevdf, alps, alps-io, sfs (live and sim); srpt, fifo, rr (sim).
    pub policy: String,
    /// Learner settings merged over the policy's defaults (any field of
    /// LearnerConfig, e.g. `{ io = { burst_slice = false } }`).
    #[serde(default)]
    pub learner: Option<toml::Table>,
    /// Live only: stock-strict (default) or stock-soft.
    #[serde(default)]
    pub backend: Option<String>,
}

/// Values swept over every point (a cartesian product).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    #[serde(default)]
    pub load: Vec<f64>,
    #[serde(default)]
    pub io_share: Vec<f64>,
}

/// An ablation file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ablation {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub mode: Mode,
    #[serde(default = "default_workload")]
    pub workload: String,
    /// Sim: cores simulated (live: the machine's).
    #[serde(default = "default_cores")]
    pub cores: u32,
    #[serde(default = "default_duration")]
    pub duration_s: f64,
    #[serde(default)]
    pub load: Option<f64>,
    #[serde(default)]
    pub io_share: Option<f64>,
    #[serde(default = "default_trials")]
    pub trials: u32,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Live: seconds left out of the summary; sim: the learner period.
    #[serde(default = "default_warmup")]
    pub warmup_s: f64,
    #[serde(default = "default_update")]
    pub update_period_s: f64,
    /// The point other points are compared with (by name).
    #[serde(default)]
    pub baseline: Option<String>,
    /// Classes whose mean and P99 FCT go into the table (default: all).
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub sweep: Sweep,
    #[serde(rename = "point")]
    pub points: Vec<Point>,
}

fn default_workload() -> String {
    "mixed".into()
}
fn default_cores() -> u32 {
    2
}
fn default_duration() -> f64 {
    60.0
}
fn default_trials() -> u32 {
    1
}
fn default_seed() -> u64 {
    1
}
fn default_warmup() -> f64 {
    5.0
}
fn default_update() -> f64 {
    1.0
}

impl Ablation {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading ablation {}", path.display()))?;
        let a: Ablation = toml::from_str(&text)
            .with_context(|| format!("{}: not a valid ablation file", path.display()))?;
        if a.points.is_empty() {
            bail!("{}: no [[point]]", path.display());
        }
        for p in &a.points {
            p.learner_config(a.cores)
                .with_context(|| format!("{}: point {}", path.display(), p.name))?;
            match a.mode {
                Mode::Live => {
                    PolicyName::parse_list(&p.policy)
                        .with_context(|| format!("{}: point {}", path.display(), p.name))?;
                }
                Mode::Sim => {
                    p.policy.parse::<SimPolicy>().map_err(|e| {
                        anyhow::anyhow!("{}: point {}: {e}", path.display(), p.name)
                    })?;
                }
            }
        }
        Ok(a)
    }

    /// Every job: (point, load, io_share, trial).
    pub fn jobs(&self) -> Vec<Job> {
        let loads: Vec<Option<f64>> = if self.sweep.load.is_empty() {
            vec![self.load]
        } else {
            self.sweep.load.iter().map(|l| Some(*l)).collect()
        };
        let shares: Vec<Option<f64>> = if self.sweep.io_share.is_empty() {
            vec![self.io_share]
        } else {
            self.sweep.io_share.iter().map(|s| Some(*s)).collect()
        };
        let mut out = Vec::new();
        for t in 0..self.trials.max(1) {
            for &l in &loads {
                for &s in &shares {
                    for p in &self.points {
                        out.push(Job {
                            point: p.name.clone(),
                            load: l,
                            io_share: s,
                            trial: t,
                        });
                    }
                }
            }
        }
        out
    }
}

fn merge(dst: &mut serde_json::Value, src: serde_json::Value) {
    match (dst, src) {
        (serde_json::Value::Object(d), serde_json::Value::Object(s)) => {
            for (k, v) in s {
                merge(d.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (d, s) => *d = s,
    }
}

impl Point {
    /// The learner configuration of this point (None for non-ALPS policies).
    pub fn learner_config(&self, cores: u32) -> Result<Option<LearnerConfig>> {
        let base = match self.policy.as_str() {
            "alps" => LearnerConfig::alps(),
            "alps-io" => LearnerConfig::alps_io(),
            _ => {
                if self.learner.is_some() {
                    bail!("learner settings only apply to alps and alps-io");
                }
                return Ok(None);
            }
        };
        let mut v = serde_json::to_value(LearnerConfig { cores, ..base })?;
        if let Some(t) = &self.learner {
            let over = serde_json::to_value(t)?;
            let known = v.clone();
            check_keys(&known, &over, "")?;
            merge(&mut v, over);
        }
        Ok(Some(serde_json::from_value(v)?))
    }
}

/// Unknown learner keys are errors (a typo would silently ablate nothing).
fn check_keys(known: &serde_json::Value, over: &serde_json::Value, at: &str) -> Result<()> {
    if let (serde_json::Value::Object(k), serde_json::Value::Object(o)) = (known, over) {
        for (key, v) in o {
            let Some(kv) = k.get(key) else {
                bail!("unknown learner setting `{at}{key}`");
            };
            check_keys(kv, v, &format!("{at}{key}."))?;
        }
    }
    Ok(())
}

/// One independent job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub point: String,
    pub load: Option<f64>,
    pub io_share: Option<f64>,
    pub trial: u32,
}

impl Job {
    pub fn id(&self) -> String {
        let f = |x: Option<f64>| {
            x.map(|v| format!("{v}"))
                .unwrap_or_else(|| "default".into())
        };
        format!(
            "{}__load-{}__io-{}__t{}",
            self.point,
            f(self.load),
            f(self.io_share),
            self.trial
        )
    }
}

/// A job's result file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResult {
    pub job: Job,
    pub summary: Summary,
}

/// Run one job and write `<out>/points/<id>/result.json`.
pub fn run_job(a: &Ablation, job: &Job, out: &Path) -> Result<JobResult> {
    let point = a
        .points
        .iter()
        .find(|p| p.name == job.point)
        .with_context(|| format!("no point named {}", job.point))?;
    let dir = out.join("points").join(job.id());
    std::fs::create_dir_all(&dir)?;
    let seed = a.seed + u64::from(job.trial);
    let learner = point.learner_config(a.cores)?;
    let summary = match a.mode {
        Mode::Sim => {
            let cal = crate::functions::Calibration::load_or_measure()?;
            let w = crate::workload::load(
                &a.workload,
                &crate::workload::WorkloadOpts {
                    duration_s: a.duration_s,
                    load: job.load,
                    io_share: job.io_share,
                    seed,
                    cores: a.cores,
                },
                &cal,
            )?;
            let jobs = crate::simulate::jobs_from_workload(&w, &cal);
            let mut cfg = crate::simulate::sim_config(a.cores, a.update_period_s);
            cfg.learner = learner;
            let policy: SimPolicy = point.policy.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            crate::simulate::run_policy(&jobs, policy, &cfg, &w.name).0
        }
        Mode::Live => {
            let policy = PolicyName::parse_list(&point.policy)?[0];
            let mut rc = RunConfig::new(&a.workload, policy, &dir);
            rc.duration_s = a.duration_s;
            rc.load = job.load;
            rc.io_share = job.io_share;
            rc.seed = seed;
            rc.warmup_s = a.warmup_s;
            rc.update_period_s = a.update_period_s;
            rc.learner = learner;
            rc.stints = true;
            rc.progress = false;
            rc.backend = match point.backend.as_deref() {
                None | Some("stock-strict") => BackendName::StockStrict,
                Some("stock-soft") => BackendName::StockSoft,
                Some("scx") => BackendName::Scx,
                Some(b) => bail!("point {}: unknown backend {b}", point.name),
            };
            let o = crate::run::run(&rc)?;
            if o.interrupted {
                bail!("interrupted");
            }
            o.summary
        }
    };
    let r = JobResult {
        job: job.clone(),
        summary,
    };
    let tmp = dir.join("result.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&r)?)?;
    std::fs::rename(&tmp, dir.join("result.json"))?;
    Ok(r)
}

/// Write `jobs.txt`: one command per job.
pub fn write_jobs(file: &Path, a: &Ablation, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let exe = crate::run::alps_exe()?;
    let mut s = String::new();
    for j in a.jobs() {
        s += &format!(
            "{} ablate-point {} --point {} {}{}--trial {} --out {}\n",
            exe.display(),
            file.display(),
            j.point,
            j.load.map(|l| format!("--load {l} ")).unwrap_or_default(),
            j.io_share
                .map(|x| format!("--io-share {x} "))
                .unwrap_or_default(),
            j.trial,
            out.display()
        );
    }
    let p = out.join("jobs.txt");
    std::fs::write(&p, s)?;
    Ok(p)
}

/// One row of the results table: a point at one sweep value, over trials.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub point: String,
    pub load: String,
    pub io_share: String,
    pub trials: usize,
    pub metrics: BTreeMap<String, f64>,
}

fn metrics_of(s: &Summary, classes: &[String]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    m.insert("mean_ms".into(), s.overall.mean_ms);
    m.insert("p99_ms".into(), s.overall.p99_ms);
    m.insert("mean_slowdown".into(), s.overall.mean_slowdown);
    m.insert("throughput".into(), s.throughput.invocations_per_s);
    m.insert("ctx_switches_per_s".into(), s.context_switches_per_s);
    if let Some(inv) = &s.inversion {
        if let Some(f) = inv.get("fraction").and_then(|v| v.as_f64()) {
            m.insert("inversion_fraction".into(), f);
        }
    }
    for (c, cs) in &s.classes {
        if classes.is_empty() || classes.contains(c) {
            m.insert(format!("{c}.mean_ms"), cs.mean_ms);
            m.insert(format!("{c}.p99_ms"), cs.p99_ms);
        }
    }
    m
}

/// Collect the results present under `out` into rows (means over trials).
pub fn merge_results(a: &Ablation, out: &Path) -> Result<Vec<Row>> {
    let mut groups: BTreeMap<(usize, String, String), Vec<BTreeMap<String, f64>>> = BTreeMap::new();
    let order: BTreeMap<&str, usize> = a
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    for j in a.jobs() {
        let f = out.join("points").join(j.id()).join("result.json");
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let r: JobResult =
            serde_json::from_str(&text).with_context(|| format!("{}", f.display()))?;
        let key = (
            order.get(j.point.as_str()).copied().unwrap_or(usize::MAX),
            j.load.map(|v| v.to_string()).unwrap_or("-".into()),
            j.io_share.map(|v| v.to_string()).unwrap_or("-".into()),
        );
        groups
            .entry(key)
            .or_default()
            .push(metrics_of(&r.summary, &a.classes));
    }
    let mut rows = Vec::new();
    for ((pi, load, share), ms) in groups {
        let mut avg: BTreeMap<String, f64> = BTreeMap::new();
        for m in &ms {
            for (k, v) in m {
                *avg.entry(k.clone()).or_default() += v / ms.len() as f64;
            }
        }
        rows.push(Row {
            point: a.points.get(pi).map(|p| p.name.clone()).unwrap_or_default(),
            load,
            io_share: share,
            trials: ms.len(),
            metrics: avg,
        });
    }
    Ok(rows)
}

/// Write results.csv, results.md and a plot of overall mean FCT per point.
pub fn write_results(a: &Ablation, rows: &[Row], out: &Path) -> Result<()> {
    let keys: std::collections::BTreeSet<&String> =
        rows.iter().flat_map(|r| r.metrics.keys()).collect();
    let keys: Vec<&String> = keys.into_iter().collect();
    let mut w = csv::Writer::from_path(out.join("results.csv"))?;
    let mut header = vec![
        "point".to_string(),
        "load".into(),
        "io_share".into(),
        "trials".into(),
    ];
    header.extend(keys.iter().map(|k| k.to_string()));
    w.write_record(&header)?;
    for r in rows {
        let mut rec = vec![
            r.point.clone(),
            r.load.clone(),
            r.io_share.clone(),
            r.trials.to_string(),
        ];
        rec.extend(keys.iter().map(|k| {
            r.metrics
                .get(*k)
                .map(|v| format!("{v:.4}"))
                .unwrap_or_default()
        }));
        w.write_record(&rec)?;
    }
    w.flush()?;
    // Markdown: the headline metrics, with ratios to the baseline point.
    let base = a.baseline.as_deref();
    let cols = [
        "mean_ms",
        "p99_ms",
        "mean_slowdown",
        "throughput",
        "ctx_switches_per_s",
        "inversion_fraction",
    ];
    let mut md = format!(
        "# Ablation `{}` ({:?}, workload {}, {} trial(s))\n\n{}\n\n| point | load | io_share | {} |{}\n|---|---|---|{}{}\n",
        a.name,
        a.mode,
        a.workload,
        a.trials,
        a.description,
        cols.join(" | "),
        if base.is_some() { " mean vs baseline |" } else { "" },
        cols.iter().map(|_| "---|").collect::<String>(),
        if base.is_some() { "---|" } else { "" },
    );
    for r in rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| {
                r.metrics
                    .get(*c)
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or("-".into())
            })
            .collect();
        let vs = base
            .and_then(|b| {
                rows.iter()
                    .find(|x| x.point == b && x.load == r.load && x.io_share == r.io_share)
            })
            .and_then(|b| Some(r.metrics.get("mean_ms")? / b.metrics.get("mean_ms")?))
            .map(|x| format!(" {x:.3} |"))
            .unwrap_or_else(|| {
                if base.is_some() {
                    " - |".into()
                } else {
                    String::new()
                }
            });
        md += &format!(
            "| {} | {} | {} | {} |{}\n",
            r.point,
            r.load,
            r.io_share,
            cells.join(" | "),
            vs
        );
    }
    std::fs::write(out.join("results.md"), md)?;
    // Plot: overall mean FCT per point, one series per sweep value.
    let points: Vec<String> = a.points.iter().map(|p| p.name.clone()).collect();
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in rows {
        let key = format!("load {} io {}", r.load, r.io_share);
        let v = series
            .entry(key)
            .or_insert_with(|| vec![f64::NAN; points.len()]);
        if let Some(i) = points.iter().position(|p| *p == r.point) {
            v[i] = r.metrics.get("mean_ms").copied().unwrap_or(f64::NAN);
        }
    }
    let series: Vec<(String, Vec<f64>)> = series.into_iter().collect();
    if let Err(e) = crate::plot::bars(
        &format!("{}: mean FCT", a.name),
        "mean FCT (ms)",
        &points,
        &series,
        &out.join("mean_fct"),
    ) {
        eprintln!("alps ablate: plot skipped: {e:#}");
    }
    Ok(())
}

/// Run (or write the jobs of, or merge) an ablation.
pub fn ablate(file: &Path, out: &Path, jobs_only: bool, merge_only: bool) -> Result<Vec<Row>> {
    let a = Ablation::load(file)?;
    std::fs::create_dir_all(out)?;
    let jobs_file = write_jobs(file, &a, out)?;
    if jobs_only {
        eprintln!(
            "wrote {} jobs to {} (e.g. `parallel < {}`), then `alps ablate {} --merge --out {}`",
            a.jobs().len(),
            jobs_file.display(),
            jobs_file.display(),
            file.display(),
            out.display()
        );
        return Ok(Vec::new());
    }
    if !merge_only {
        let jobs = a.jobs();
        for (i, j) in jobs.iter().enumerate() {
            eprintln!(
                "alps ablate {}: job {}/{}: {}",
                a.name,
                i + 1,
                jobs.len(),
                j.id()
            );
            run_job(&a, j, out)?;
            if crate::run::interrupted() {
                bail!("interrupted");
            }
        }
    }
    let rows = merge_results(&a, out)?;
    write_results(&a, &rows, out)?;
    Ok(rows)
}
