//! The TOML workload format (documented in cli/WORKLOADS.md).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use super::arrivals::{
    generate, ArrivalProcess, ClassDef, ClassOrder, ClassWeight, GenParams, Group,
};
use super::{Workload, WorkloadOpts};
use crate::functions::{Calibration, FnSpec};

/// Default load of a TOML workload that sets none.
pub const DEFAULT_LOAD: f64 = 0.8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    name: Option<String>,
    seed: Option<u64>,
    duration_s: Option<f64>,
    load: Option<f64>,
    io_share: Option<f64>,
    #[serde(default)]
    arrivals: ArrivalsSection,
    #[serde(rename = "class", default)]
    classes: Vec<ClassSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrivalsSection {
    #[serde(default)]
    process: ArrivalProcess,
    #[serde(default)]
    order: ClassOrder,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassSection {
    name: String,
    weight: Option<f64>,
    cpu_weight: Option<f64>,
    group: Option<Group>,
    function_id: Option<u32>,
    #[serde(rename = "fn")]
    func: toml::Value,
}

/// Read and generate a TOML workload file.
pub fn load_toml_file(path: &Path, opts: &WorkloadOpts, cal: &Calibration) -> Result<Workload> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workload".into());
    load_toml_str(&text, &stem, opts, cal)
}

/// Generate a workload from TOML text; `default_name` names it if the text
/// does not.
pub fn load_toml_str(
    text: &str,
    default_name: &str,
    opts: &WorkloadOpts,
    cal: &Calibration,
) -> Result<Workload> {
    let file: WorkloadFile =
        toml::from_str(text).map_err(|e| anyhow!("invalid workload TOML: {e}"))?;
    if file.classes.is_empty() {
        bail!("no [[class]] tables: a workload needs at least one class");
    }
    let mut classes = Vec::with_capacity(file.classes.len());
    for c in &file.classes {
        classes.push(class_def(c, cal).with_context(|| format!("class {:?}", c.name))?);
    }
    let duration_s = if opts.duration_s > 0.0 {
        opts.duration_s
    } else {
        file.duration_s
            .ok_or_else(|| anyhow!("no duration: set duration_s in the file or pass one"))?
    };
    let seed = if opts.seed != 0 {
        opts.seed
    } else {
        file.seed.unwrap_or(0)
    };
    let p = GenParams {
        name: file
            .name
            .clone()
            .unwrap_or_else(|| default_name.to_string()),
        seed,
        duration_s,
        load: opts.load.or(file.load).unwrap_or(DEFAULT_LOAD),
        cores: opts.cores,
        io_share: opts.io_share.or(file.io_share),
        process: file.arrivals.process,
        order: file.arrivals.order,
    };
    generate(&classes, &p, cal)
}

fn class_def(c: &ClassSection, cal: &Calibration) -> Result<ClassDef> {
    if c.name.trim().is_empty() {
        bail!("empty class name");
    }
    let mut v = c.func.clone();
    let table = v
        .as_table_mut()
        .ok_or_else(|| anyhow!("`fn` must be a table like {{ kind = \"fib\", n = 30 }}"))?;
    let kind = table
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or_else(|| anyhow!("`fn` needs a kind (fib, io, blockio, futex, deceptive, cmd)"))?
        .to_string();
    // fib may be sized by CPU time: `ms = 20` picks n through the calibration.
    if kind == "fib" {
        if let Some(ms) = table.remove("ms") {
            if table.contains_key("n") {
                bail!("fib: give either n or ms, not both");
            }
            let ms = ms
                .as_float()
                .or_else(|| ms.as_integer().map(|i| i as f64))
                .ok_or_else(|| anyhow!("fib: ms must be a number"))?;
            table.insert(
                "n".into(),
                toml::Value::Integer(cal.fib_n_for_ms(ms) as i64),
            );
        }
    }
    // Integers are accepted where the body takes milliseconds as floats.
    for (k, val) in table.iter_mut() {
        if k.ends_with("_ms") {
            if let Some(i) = val.as_integer() {
                *val = toml::Value::Float(i as f64);
            }
        }
    }
    let spec: FnSpec = v
        .try_into()
        .map_err(|e| anyhow!("invalid `fn` for kind {kind}: {e}"))?;
    spec.validate()?;
    let weight = match (c.weight, c.cpu_weight) {
        (Some(_), Some(_)) => bail!("give weight or cpu_weight, not both"),
        (Some(w), None) => ClassWeight::Invocations(w),
        (None, Some(w)) => ClassWeight::Cpu(w),
        (None, None) => ClassWeight::Invocations(1.0),
    };
    let mut d = ClassDef::new(&c.name, spec, weight);
    if let Some(g) = c.group {
        d.group = g;
    }
    d.function_id = c.function_id;
    Ok(d)
}
