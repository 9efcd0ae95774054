//! `alps export`: a run's per-invocation records (and stints, where
//! recorded) as Parquet or CSV, with the run's metadata; and the reader
//! that feeds exported datasets back to `alps simulate`. Column reference:
//! datasets/SCHEMA.md. Writes are atomic (temporary file, then rename).

use crate::run::{read_records, read_stints, RunMeta};
use alps_probes::{Account, LeaveReason, Record, Stint};
use anyhow::{bail, Context, Result};
use arrow::array::{Array, ArrayRef, Int32Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
}

/// Per-record u64 columns, in order (name, getter).
type U64Col = (&'static str, fn(&Record) -> u64);

const U64_COLS: &[U64Col] = &[
    ("invocation_id", |r| r.account.invocation_id),
    ("arrival_ns", |r| r.arrival_ns),
    ("start_ns", |r| r.start_ns),
    ("end_ns", |r| r.end_ns),
    ("wall_ns", |r| r.account.wall_ns),
    ("lifetime_ns", |r| r.account.lifetime_ns),
    ("on_cpu_ns", |r| r.account.on_cpu_ns),
    ("runq_wait_ns", |r| r.account.runq_wait_ns),
    ("runq_wait_wakeup_ns", |r| r.account.runq_wait_wakeup_ns),
    ("runq_wait_preempt_ns", |r| r.account.runq_wait_preempt_ns),
    ("block_io_ns", |r| r.account.block_io_ns),
    ("futex_ns", |r| r.account.futex_ns),
    ("sleep_ns", |r| r.account.sleep_ns),
    ("other_blocked_ns", |r| r.account.other_blocked_ns),
    ("bursts", |r| r.account.bursts),
    ("mean_burst_ns", |r| r.account.mean_burst_ns),
    ("max_burst_ns", |r| r.account.max_burst_ns),
    ("wakeups", |r| r.account.wakeups),
    ("voluntary_switches", |r| r.account.voluntary_switches),
    ("involuntary_switches", |r| r.account.involuntary_switches),
    ("block_requests", |r| r.account.block_requests),
    ("block_bytes", |r| r.account.block_bytes),
    ("threads", |r| r.account.threads),
];

fn set_u64(r: &mut Record, name: &str, v: u64) {
    let a = &mut r.account;
    match name {
        "invocation_id" => a.invocation_id = v,
        "arrival_ns" => r.arrival_ns = v,
        "start_ns" => r.start_ns = v,
        "end_ns" => r.end_ns = v,
        "wall_ns" => a.wall_ns = v,
        "lifetime_ns" => a.lifetime_ns = v,
        "on_cpu_ns" => a.on_cpu_ns = v,
        "runq_wait_ns" => a.runq_wait_ns = v,
        "runq_wait_wakeup_ns" => a.runq_wait_wakeup_ns = v,
        "runq_wait_preempt_ns" => a.runq_wait_preempt_ns = v,
        "block_io_ns" => a.block_io_ns = v,
        "futex_ns" => a.futex_ns = v,
        "sleep_ns" => a.sleep_ns = v,
        "other_blocked_ns" => a.other_blocked_ns = v,
        "bursts" => a.bursts = v,
        "mean_burst_ns" => a.mean_burst_ns = v,
        "max_burst_ns" => a.max_burst_ns = v,
        "wakeups" => a.wakeups = v,
        "voluntary_switches" => a.voluntary_switches = v,
        "involuntary_switches" => a.involuntary_switches = v,
        "block_requests" => a.block_requests = v,
        "block_bytes" => a.block_bytes = v,
        "threads" => a.threads = v,
        _ => {}
    }
}

/// Run metadata repeated on every row (so one file is self-describing in
/// any tool) and stored whole as file metadata (`alps.run`).
#[derive(Debug, Clone, Default)]
struct RowMeta {
    policy: String,
    backend: String,
    workload: String,
    kernel: String,
    machine: String,
    commit: String,
    seed: u64,
    cores: u32,
}

impl RowMeta {
    fn of(m: &RunMeta) -> Self {
        Self {
            policy: m.policy.clone(),
            backend: m.backend.clone(),
            workload: m.workload.clone(),
            kernel: m.kernel.clone(),
            machine: m.machine.clone(),
            commit: m.commit.clone(),
            seed: m.seed,
            cores: m.cores,
        }
    }
}

fn records_batch(recs: &[Record], meta: &RowMeta) -> Result<RecordBatch> {
    let n = recs.len();
    let mut fields = vec![
        Field::new("class", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("function_id", DataType::UInt32, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            recs.iter().map(|r| r.class.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            recs.iter().map(|r| r.kind.as_str()),
        )),
        Arc::new(UInt32Array::from_iter_values(
            recs.iter().map(|r| r.account.function_id),
        )),
    ];
    for (name, get) in U64_COLS {
        fields.push(Field::new(*name, DataType::UInt64, false));
        cols.push(Arc::new(UInt64Array::from_iter_values(
            recs.iter().map(get),
        )));
    }
    fields.push(Field::new("exit_code", DataType::Int32, false));
    cols.push(Arc::new(Int32Array::from_iter_values(
        recs.iter().map(|r| r.account.exit_code),
    )));
    for (name, v) in [
        ("policy", &meta.policy),
        ("backend", &meta.backend),
        ("workload", &meta.workload),
        ("kernel", &meta.kernel),
        ("machine", &meta.machine),
        ("commit", &meta.commit),
    ] {
        fields.push(Field::new(name, DataType::Utf8, false));
        cols.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(v.as_str(), n),
        )));
    }
    fields.push(Field::new("seed", DataType::UInt64, false));
    cols.push(Arc::new(UInt64Array::from_iter_values(
        std::iter::repeat_n(meta.seed, n),
    )));
    fields.push(Field::new("cores", DataType::UInt32, false));
    cols.push(Arc::new(UInt32Array::from_iter_values(
        std::iter::repeat_n(meta.cores, n),
    )));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn stints_batch(st: &[Stint]) -> Result<RecordBatch> {
    let u = |f: fn(&Stint) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(st.iter().map(f)))
    };
    let reason = |s: &Stint| match s.reason {
        LeaveReason::Preempted => "preempted",
        LeaveReason::BlockIo => "block_io",
        LeaveReason::Futex => "futex",
        LeaveReason::Sleep => "sleep",
        LeaveReason::OtherBlocked => "other_blocked",
        LeaveReason::Exit => "exit",
    };
    let schema = Schema::new(vec![
        Field::new("invocation_id", DataType::UInt64, false),
        Field::new("function_id", DataType::UInt32, false),
        Field::new("tid", DataType::UInt32, false),
        Field::new("cpu", DataType::UInt32, false),
        Field::new("runnable_ns", DataType::UInt64, false),
        Field::new("switch_in_ns", DataType::UInt64, false),
        Field::new("switch_out_ns", DataType::UInt64, false),
        Field::new("on_cpu_ns", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        u(|s| s.invocation_id),
        Arc::new(UInt32Array::from_iter_values(
            st.iter().map(|s| s.function_id),
        )),
        Arc::new(UInt32Array::from_iter_values(st.iter().map(|s| s.tid))),
        Arc::new(UInt32Array::from_iter_values(st.iter().map(|s| s.cpu))),
        u(|s| s.runnable_ns),
        u(|s| s.switch_in_ns),
        u(|s| s.switch_out_ns),
        u(|s| s.on_cpu_ns),
        Arc::new(StringArray::from_iter_values(st.iter().map(reason))),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
}

fn tmp_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(s)
}

/// Write a batch atomically.
fn write_batch(
    batch: &RecordBatch,
    fmt: Format,
    path: &Path,
    kv: &[(String, String)],
) -> Result<()> {
    let tmp = tmp_of(path);
    let res = (|| -> Result<()> {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        match fmt {
            Format::Parquet => {
                use parquet::arrow::ArrowWriter;
                use parquet::file::metadata::KeyValue;
                use parquet::file::properties::WriterProperties;
                let props = WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::UNCOMPRESSED)
                    .set_key_value_metadata(Some(
                        kv.iter()
                            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                            .collect(),
                    ))
                    .build();
                let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
                w.write(batch)?;
                w.close()?;
            }
            Format::Csv => {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(file);
                w.write(batch)?;
            }
        }
        Ok(())
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// What `export` wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub records: PathBuf,
    pub stints: Option<PathBuf>,
    pub meta: Option<PathBuf>,
    pub rows: usize,
}

/// Export a run directory.
pub fn export(run: &Path, fmt: Format, out: &Path) -> Result<Exported> {
    let recs = read_records(run)?;
    let meta_path = run.join("run.json");
    let meta: Option<RunMeta> = std::fs::read_to_string(&meta_path)
        .ok()
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .with_context(|| format!("{}: not a run.json", meta_path.display()))?;
    let row_meta = meta.as_ref().map(RowMeta::of).unwrap_or_default();
    let meta_json = meta
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?
        .unwrap_or_else(|| "{}".into());
    let kv = vec![
        ("alps.run".to_string(), meta_json.clone()),
        ("alps.schema".to_string(), "records/1".to_string()),
    ];
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write_batch(&records_batch(&recs, &row_meta)?, fmt, out, &kv)?;
    let mut res = Exported {
        records: out.to_path_buf(),
        stints: None,
        meta: None,
        rows: recs.len(),
    };
    let stints = read_stints(run)?;
    if !stints.is_empty() {
        let p = sibling(out, "stints");
        write_batch(&stints_batch(&stints)?, fmt, &p, &kv)?;
        res.stints = Some(p);
    }
    if fmt == Format::Csv {
        // CSV has no file metadata: the run's metadata goes beside it.
        let p = sibling(out, "meta").with_extension("json");
        let tmp = tmp_of(&p);
        std::fs::write(&tmp, &meta_json)?;
        std::fs::rename(&tmp, &p)?;
        res.meta = Some(p);
    }
    Ok(res)
}

/// `x.parquet` -> `x.<what>.parquet`.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("dataset");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("");
    path.with_file_name(if ext.is_empty() {
        format!("{stem}.{what}")
    } else {
        format!("{stem}.{what}.{ext}")
    })
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str, file: &Path) -> Result<&'a T> {
    b.column_by_name(name)
        .with_context(|| format!("{}: column {name} missing", file.display()))?
        .as_any()
        .downcast_ref::<T>()
        .with_context(|| format!("{}: column {name} has the wrong type", file.display()))
}

fn records_from_batch(b: &RecordBatch, file: &Path) -> Result<Vec<Record>> {
    let class = col::<StringArray>(b, "class", file)?;
    let kind = col::<StringArray>(b, "kind", file)?;
    let fid = col::<UInt32Array>(b, "function_id", file)?;
    let exit = col::<Int32Array>(b, "exit_code", file)?;
    let u64s: Vec<(&str, &UInt64Array)> = U64_COLS
        .iter()
        .map(|(n, _)| col::<UInt64Array>(b, n, file).map(|c| (*n, c)))
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let mut r = Record {
            class: class.value(i).to_string(),
            kind: kind.value(i).to_string(),
            account: Account {
                function_id: fid.value(i),
                exit_code: exit.value(i),
                ..Default::default()
            },
            ..Default::default()
        };
        for (n, c) in &u64s {
            set_u64(&mut r, n, c.value(i));
        }
        out.push(r);
    }
    Ok(out)
}

/// Read an exported records dataset (Parquet or CSV, by extension).
pub fn read_dataset(path: &Path) -> Result<Vec<Record>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mut out = Vec::new();
    match ext {
        "parquet" => {
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .with_context(|| format!("{}: not a Parquet file", path.display()))?
                    .build()?;
            for b in reader {
                out.extend(records_from_batch(&b?, path)?);
            }
        }
        "csv" => {
            // Empty strings read back as nulls: every column nullable.
            let fields: Vec<Field> = records_batch(&[], &RowMeta::default())?
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            let reader = arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
                .with_header(true)
                .build(file)?;
            for b in reader {
                let b = b.with_context(|| format!("{}: malformed CSV", path.display()))?;
                out.extend(records_from_batch(&b, path)?);
            }
        }
        _ => bail!(
            "{}: unknown dataset format (expected .parquet or .csv)",
            path.display()
        ),
    }
    Ok(out)
}

/// The `alps.run` metadata of a Parquet dataset.
pub fn dataset_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(path)?)?;
    Ok(r.metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default())
}
