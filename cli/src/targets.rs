//! The fix's acceptance targets (issue "the result"), checked on a
//! comparison: `alps compare` prints them under its table and the paper
//! renders them with `{{targets:<dir>}}`, so whether a target is met is
//! computed from the data, never typed.
//!
//! On a `cpu` workload: ALPS beats EEVDF on mean FCT and ALPS-IO is not
//! worse than ALPS. On any other workload (the mixed one), ALPS-IO against
//! baseline ALPS on the same arrivals:
//! - the inversion metric cut by at least 2/3;
//! - mean FCT and mean slowdown over all invocations no worse than ALPS;
//! - every CPU-bound class (`fib-*`) no slower than under ALPS, and where
//!   ALPS hurt it by 10% or more against EEVDF, at least 2/3 of that harm
//!   gone: (ALPS x - ALPS-IO x) / (ALPS x - 1) >= 2/3, x = mean / EEVDF's;
//! - I/O classes (`io-*`) P99 at most 0.8 x EEVDF's;
//! - short CPU classes (`fib-g1-*`) mean at most 0.6 x EEVDF's.

use crate::compare::CompareResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub what: String,
    pub value: String,
    pub goal: String,
    pub met: bool,
}

fn ratio_x(c: &CompareResult, policy: &str, class: &str, metric: &str) -> Option<f64> {
    let r = c.ratios_vs_eevdf.get(policy)?;
    if class == "all" {
        r.overall.get(metric).copied()
    } else {
        r.classes.get(class)?.get(metric).copied()
    }
}

fn mean_of(c: &CompareResult, policy: &str, class: &str, metric: &str) -> Option<f64> {
    let s = &c.policies.get(policy)?.summary;
    let cs = if class == "all" {
        &s.overall
    } else {
        s.classes.get(class)?
    };
    Some(match metric {
        "mean_slowdown" => cs.mean_slowdown,
        "p99_ms" => cs.p99_ms,
        _ => cs.mean_ms,
    })
}

fn row(what: String, value: f64, goal: &str, met: bool) -> Target {
    Target {
        what,
        value: format!("{value:.2}"),
        goal: goal.into(),
        met,
    }
}

/// The targets that apply to this comparison (empty without EEVDF, ALPS
/// and ALPS-IO in it).
pub fn targets(c: &CompareResult) -> Vec<Target> {
    let mut out = Vec::new();
    let has = |p: &str| c.policies.contains_key(p);
    if !(has("eevdf") && has("alps") && has("alps-io")) {
        return out;
    }
    let io_vs_alps = |class: &str, metric: &str| -> Option<f64> {
        let (i, a) = (
            mean_of(c, "alps-io", class, metric)?,
            mean_of(c, "alps", class, metric)?,
        );
        (a > 0.0).then_some(i / a)
    };
    if c.workload == "cpu" {
        if let Some(x) = ratio_x(c, "alps", "all", "mean_ms") {
            out.push(row("ALPS mean FCT / EEVDF".into(), x, "< 1", x < 1.0));
        }
        if let Some(x) = io_vs_alps("all", "mean_ms") {
            out.push(row("ALPS-IO mean FCT / ALPS".into(), x, "<= 1", x <= 1.0));
        }
        return out;
    }
    let inv = |p: &str| c.policies.get(p)?.inversion_fraction.map(|s| s.mean);
    if let (Some(a), Some(i)) = (inv("alps"), inv("alps-io")) {
        if a > 0.0 {
            let cut = 1.0 - i / a;
            out.push(row(
                "inversion cut, ALPS-IO vs ALPS".into(),
                cut,
                ">= 0.67",
                cut >= 2.0 / 3.0,
            ));
        }
    }
    for (m, name) in [("mean_ms", "mean FCT"), ("mean_slowdown", "mean slowdown")] {
        if let Some(x) = io_vs_alps("all", m) {
            out.push(row(format!("{name}, ALPS-IO / ALPS"), x, "<= 1", x <= 1.0));
        }
    }
    let classes: Vec<String> = c.policies["eevdf"]
        .summary
        .classes
        .keys()
        .cloned()
        .collect();
    for cl in classes.iter().filter(|c| c.starts_with("fib-")) {
        if let Some(x) = io_vs_alps(cl, "mean_ms") {
            out.push(row(
                format!("{cl} mean FCT, ALPS-IO / ALPS"),
                x,
                "<= 1",
                x <= 1.0,
            ));
        }
        if let (Some(ax), Some(ix)) = (
            ratio_x(c, "alps", cl, "mean_ms"),
            ratio_x(c, "alps-io", cl, "mean_ms"),
        ) {
            if ax >= 1.10 {
                let removed = (ax - ix) / (ax - 1.0);
                out.push(row(
                    format!("{cl}: share of ALPS' harm (x{ax:.2} of EEVDF) removed"),
                    removed,
                    ">= 0.67",
                    removed >= 2.0 / 3.0,
                ));
            }
        }
    }
    for cl in classes.iter().filter(|c| c.starts_with("io-")) {
        if let Some(x) = ratio_x(c, "alps-io", cl, "p99_ms") {
            out.push(row(
                format!("{cl} P99, ALPS-IO / EEVDF"),
                x,
                "<= 0.8",
                x <= 0.8,
            ));
        }
    }
    for cl in classes.iter().filter(|c| c.starts_with("fib-g1")) {
        if let Some(x) = ratio_x(c, "alps-io", cl, "mean_ms") {
            out.push(row(
                format!("{cl} mean FCT, ALPS-IO / EEVDF"),
                x,
                "<= 0.6",
                x <= 0.6,
            ));
        }
    }
    out
}

/// The targets as a Markdown table (empty string if none apply).
pub fn markdown(c: &CompareResult) -> String {
    let t = targets(c);
    if t.is_empty() {
        return String::new();
    }
    let met = t.iter().filter(|x| x.met).count();
    let mut s = format!(
        "| target | measured | goal | met |\n|---|---|---|---|\n{}",
        t.iter()
            .map(|x| format!(
                "| {} | {} | {} | {} |\n",
                x.what,
                x.value,
                x.goal,
                if x.met { "yes" } else { "**no**" }
            ))
            .collect::<String>()
    );
    s += &format!("\n{met} of {} targets met.\n", t.len());
    s
}
