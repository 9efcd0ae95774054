//! `alps paper`: renders paper/paper.md.in into paper/build/paper.md from
//! the data in paper/data, generating every figure and table on the way.
//! Numbers in the text are placeholders resolved from the data: `{{key}}`;
//! an unknown key fails the build, so no number can be typed by hand and go
//! stale.
//!
//! Placeholders:
//! - `{{<dir>.<policy>.<class>.<metric>}}`: from `data/<dir>/compare.json`
//!   (class `all` = all invocations; metrics `mean_ms`, `p50_ms`, `p99_ms`,
//!   `mean_slowdown`, `count`, and `<metric>_x`: ratio to EEVDF);
//!   `{{<dir>.<policy>.throughput}}`, `.cpu_work`, `.ctx`, `.inversion`
//!   (percent), `.throughput_x`, `.ctx_x`;
//! - `{{table:<dir>}}`: the side-by-side table of a comparison;
//! - `{{figure:<dir>}}`: its per-class ratio chart and latency CDFs;
//! - `{{targets:<dir>}}`: the fix's targets checked on it (`targets.rs`);
//! - `{{include:<path>}}`: a Markdown file under data/ (ablation tables,
//!   validation, benchmark output);
//! - `{{json:<path>#<a.b.c>}}`: one value of a JSON file under data/.

use crate::compare::{read_compare, CompareResult};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Every numeric key of one comparison.
fn compare_keys(name: &str, c: &CompareResult, keys: &mut BTreeMap<String, String>) {
    for (p, r) in &c.policies {
        let s = &r.summary;
        let mut classes: Vec<(&str, &crate::summary::ClassSummary)> =
            s.classes.iter().map(|(k, v)| (k.as_str(), v)).collect();
        classes.push(("all", &s.overall));
        let ratios = c.ratios_vs_eevdf.get(p);
        for (cl, cs) in classes {
            for (m, v) in [
                ("mean_ms", cs.mean_ms),
                ("p50_ms", cs.p50_ms),
                ("p90_ms", cs.p90_ms),
                ("p99_ms", cs.p99_ms),
                ("mean_slowdown", cs.mean_slowdown),
                ("count", cs.count as f64),
            ] {
                keys.insert(format!("{name}.{p}.{cl}.{m}"), fmt(v));
                let rat = ratios.and_then(|r| {
                    if cl == "all" {
                        r.overall.get(m)
                    } else {
                        r.classes.get(cl).and_then(|x| x.get(m))
                    }
                });
                if let Some(x) = rat {
                    keys.insert(format!("{name}.{p}.{cl}.{m}_x"), fmt(*x));
                    keys.insert(
                        format!("{name}.{p}.{cl}.{m}_pct"),
                        format!("{:+.1}%", 100.0 * (x - 1.0)),
                    );
                }
            }
        }
        keys.insert(
            format!("{name}.{p}.throughput"),
            fmt(s.throughput.invocations_per_s),
        );
        keys.insert(
            format!("{name}.{p}.cpu_work"),
            fmt(s.throughput.cpu_work_s_per_s),
        );
        keys.insert(format!("{name}.{p}.ctx"), fmt(s.context_switches_per_s));
        keys.insert(
            format!("{name}.{p}.fn_ctx"),
            fmt(s.function_context_switches_per_s),
        );
        keys.insert(format!("{name}.{p}.util"), fmt(100.0 * s.cpu_utilization));
        if let Some(f) = r.inversion_fraction {
            keys.insert(
                format!("{name}.{p}.inversion"),
                format!("{:.1}%", 100.0 * f.mean),
            );
            keys.insert(format!("{name}.{p}.inversion_raw"), format!("{}", f.mean));
        }
        if let Some(rt) = ratios {
            keys.insert(format!("{name}.{p}.throughput_x"), fmt(rt.throughput));
            keys.insert(format!("{name}.{p}.ctx_x"), fmt(rt.context_switches));
        }
    }
    // Pairwise ratios: `<dir>.<a>_vs_<b>.<class>.<metric>` = a / b.
    for (a, ra) in &c.policies {
        for (b, rb) in &c.policies {
            if a == b {
                continue;
            }
            let mut pairs: Vec<(
                &str,
                &crate::summary::ClassSummary,
                &crate::summary::ClassSummary,
            )> = vec![("all", &ra.summary.overall, &rb.summary.overall)];
            for (cl, ca) in &ra.summary.classes {
                if let Some(cb) = rb.summary.classes.get(cl) {
                    pairs.push((cl.as_str(), ca, cb));
                }
            }
            for (cl, x, y) in pairs {
                for (m, u, v) in [
                    ("mean_ms", x.mean_ms, y.mean_ms),
                    ("p99_ms", x.p99_ms, y.p99_ms),
                    ("mean_slowdown", x.mean_slowdown, y.mean_slowdown),
                ] {
                    if v > 0.0 {
                        keys.insert(format!("{name}.{a}_vs_{b}.{cl}.{m}"), fmt(u / v));
                        keys.insert(
                            format!("{name}.{a}_vs_{b}.{cl}.{m}_pct"),
                            format!("{:+.1}%", 100.0 * (u / v - 1.0)),
                        );
                    }
                }
            }
        }
    }
    keys.insert(format!("{name}.trials"), c.trials.to_string());
    keys.insert(format!("{name}.backend"), c.backend.clone());
    // Derived: inversion cut of ALPS-IO relative to ALPS, and the change in
    // mean FCT and mean slowdown of ALPS-IO relative to ALPS.
    let pa = c.policies.get("alps");
    let pi = c.policies.get("alps-io");
    if let (Some(a), Some(i)) = (pa, pi) {
        if let (Some(fa), Some(fi)) = (a.inversion_fraction, i.inversion_fraction) {
            if fa.mean > 0.0 {
                keys.insert(
                    format!("{name}.inversion_cut"),
                    format!("{:.0}%", 100.0 * (1.0 - fi.mean / fa.mean)),
                );
            }
        }
        let r = |x: f64, y: f64| format!("{:+.1}%", 100.0 * (x / y - 1.0));
        keys.insert(
            format!("{name}.io_vs_alps.mean"),
            r(i.summary.overall.mean_ms, a.summary.overall.mean_ms),
        );
        keys.insert(
            format!("{name}.io_vs_alps.slowdown"),
            r(
                i.summary.overall.mean_slowdown,
                a.summary.overall.mean_slowdown,
            ),
        );
    }
}

/// The side-by-side table of a comparison (Markdown).
fn compare_table(c: &CompareResult) -> String {
    let pols: Vec<&String> = c.policies.keys().collect();
    let classes: std::collections::BTreeSet<&String> = c
        .policies
        .values()
        .flat_map(|p| p.summary.classes.keys())
        .collect();
    let mut s = String::from("| class | ");
    for p in &pols {
        s += &format!("{p} mean / P99 ms | ");
    }
    s += "\n|---|";
    for _ in &pols {
        s += "---|";
    }
    s += "\n";
    let cell = |p: &str, cl: Option<&str>| -> String {
        let Some(r) = c.policies.get(p) else {
            return "-".into();
        };
        let (cs, ci) = match cl {
            Some(cl) => match (r.summary.classes.get(cl), r.ci.get(cl)) {
                (Some(a), Some(b)) => (a, b),
                _ => return "-".into(),
            },
            None => (&r.summary.overall, &r.overall_ci),
        };
        let rat = c.ratios_vs_eevdf.get(p).and_then(|x| match cl {
            Some(cl) => x.classes.get(cl).cloned(),
            None => Some(x.overall.clone()),
        });
        let ci_txt = if ci.mean_ms.ci95 > 0.0 {
            format!("±{}", fmt(ci.mean_ms.ci95))
        } else {
            String::new()
        };
        match rat {
            Some(rt) => format!(
                "{}{} / {} (×{} / ×{})",
                fmt(cs.mean_ms),
                ci_txt,
                fmt(cs.p99_ms),
                fmt(rt["mean_ms"]),
                fmt(rt["p99_ms"])
            ),
            None => format!("{}{} / {}", fmt(cs.mean_ms), ci_txt, fmt(cs.p99_ms)),
        }
    };
    for cl in classes {
        s += &format!("| {cl} | ");
        for p in &pols {
            s += &format!("{} | ", cell(p, Some(cl)));
        }
        s += "\n";
    }
    s += "| **all** | ";
    for p in &pols {
        s += &format!("{} | ", cell(p, None));
    }
    s += "\n\n| policy | invocations/s | CPU-s/s | context switches/s | inversion |\n|---|---|---|---|---|\n";
    for p in &pols {
        let r = &c.policies[*p];
        s += &format!(
            "| {p} | {} | {} | {} | {} |\n",
            fmt(r.summary.throughput.invocations_per_s),
            fmt(r.summary.throughput.cpu_work_s_per_s),
            fmt(r.summary.context_switches_per_s),
            r.inversion_fraction
                .map(|f| format!("{:.1}%", 100.0 * f.mean))
                .unwrap_or("-".into())
        );
    }
    s
}

/// Figures of a comparison: per-class mean and P99 ratio to EEVDF, and the
/// latency CDFs (from the first trial's records when the data has them).
fn compare_figures(name: &str, dir: &Path, c: &CompareResult, out: &Path) -> Result<String> {
    let mut md = String::new();
    let classes: Vec<String> = c
        .policies
        .get("eevdf")
        .map(|p| p.summary.classes.keys().cloned().collect())
        .unwrap_or_default();
    if !classes.is_empty() && !c.ratios_vs_eevdf.is_empty() {
        for metric in ["mean_ms", "p99_ms"] {
            let series: Vec<(String, Vec<f64>)> = c
                .ratios_vs_eevdf
                .iter()
                .map(|(p, r)| {
                    (
                        p.clone(),
                        classes
                            .iter()
                            .map(|cl| {
                                r.classes
                                    .get(cl)
                                    .and_then(|m| m.get(metric))
                                    .copied()
                                    .unwrap_or(f64::NAN)
                            })
                            .collect(),
                    )
                })
                .collect();
            let stem = out.join(format!("fig-{name}-{metric}"));
            crate::plot::bars(
                &format!("{name}: {metric} relative to EEVDF (1.0 = EEVDF)"),
                &format!("{metric} / EEVDF"),
                &classes,
                &series,
                &stem,
            )?;
            md += &format!("![{name} {metric} ratio](fig-{name}-{metric}.png)\n\n");
        }
    }
    let mut recs = BTreeMap::new();
    for p in c.policies.keys() {
        let f = dir.join("trial-0").join(p).join("records.jsonl");
        if f.exists() {
            recs.insert(p.clone(), crate::run::read_records(&f)?);
        }
    }
    if !recs.is_empty() {
        crate::plot::latency_cdfs(&recs, &out.join(format!("fig-{name}-cdf")))?;
        md += &format!("![{name} latency CDFs](fig-{name}-cdf.png)\n\n");
    }
    Ok(md)
}

fn json_at(v: &serde_json::Value, path: &str) -> Option<String> {
    let mut cur = v;
    for k in path.split('.') {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(k)?,
            serde_json::Value::Array(a) => a.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(match cur {
        serde_json::Value::Number(n) => fmt(n.as_f64()?),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Render the paper. Returns the output file.
pub fn build(template: &Path, data: &Path, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("reading {}", template.display()))?;
    let mut keys = BTreeMap::new();
    let mut compares = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(data) {
        for e in rd.flatten() {
            let p = e.path();
            if p.join("compare.json").exists() {
                let name = e.file_name().to_string_lossy().to_string();
                let c = read_compare(&p)?;
                compare_keys(&name, &c, &mut keys);
                compares.insert(name, (p, c));
            }
        }
    }
    let mut result = String::with_capacity(text.len());
    let mut rest = text.as_str();
    let mut missing = Vec::new();
    while let Some(i) = rest.find("{{") {
        result.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else {
            bail!("unclosed {{{{ in {}", template.display());
        };
        let key = rest[i + 2..i + j].trim();
        rest = &rest[i + j + 2..];
        let value = if let Some(n) = key.strip_prefix("table:") {
            compares.get(n).map(|(_, c)| compare_table(c))
        } else if let Some(n) = key.strip_prefix("targets:") {
            compares.get(n).map(|(_, c)| crate::targets::markdown(c))
        } else if let Some(n) = key.strip_prefix("figure:") {
            match compares.get(n) {
                Some((d, c)) => Some(compare_figures(n, d, c, out)?),
                None => None,
            }
        } else if let Some(f) = key.strip_prefix("include:") {
            std::fs::read_to_string(data.join(f)).ok()
        } else if let Some(spec) = key.strip_prefix("json:") {
            let (f, path) = spec.split_once('#').unwrap_or((spec, ""));
            std::fs::read_to_string(data.join(f))
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|v| json_at(&v, path))
        } else {
            keys.get(key).cloned()
        };
        match value {
            Some(v) => result.push_str(&v),
            None => missing.push(key.to_string()),
        }
    }
    result.push_str(rest);
    if !missing.is_empty() {
        bail!(
            "the paper refers to data that paper/data does not have: {}\n(regenerate the data with paper/run-experiments.sh; keys available: {} numbers from {} comparisons)",
            missing.join(", "),
            keys.len(),
            compares.len()
        );
    }
    let md = out.join("paper.md");
    std::fs::write(&md, result)?;
    std::fs::write(
        out.join("numbers.json"),
        serde_json::to_string_pretty(&keys)?,
    )?;
    Ok(md)
}
