//! Dataset export: round trips through Parquet and CSV, an independent
//! Parquet reader, atomic writes, and datasets fed back to the simulator.

mod common;
use alps::export::{export, read_dataset, Format};
use alps_probes::{Account, LeaveReason, Record, Stint};
use common::*;

/// A run directory with varied records and stints (as `alps run` writes).
fn make_run(dir: &std::path::Path, n: u64) -> Vec<Record> {
    let classes = ["fib-a", "io-short", "deceptive"];
    let recs: Vec<Record> = (0..n)
        .map(|i| Record {
            class: classes[(i % 3) as usize].into(),
            kind: ["fib", "io", "deceptive"][(i % 3) as usize].into(),
            arrival_ns: 1_000_000_000 + i * 7_000_000,
            start_ns: 1_000_100_000 + i * 7_000_000,
            end_ns: 1_050_000_000 + i * 7_000_000 + i * i,
            account: Account {
                function_id: 100 + (i % 3) as u32,
                invocation_id: (1 << 40) + i,
                wall_ns: 49_900_000 + i * i,
                on_cpu_ns: 10_000_000 + i * 13,
                runq_wait_ns: 3_000 + i,
                runq_wait_wakeup_ns: 1_000 + i,
                runq_wait_preempt_ns: 2_000,
                block_io_ns: i * 5,
                futex_ns: i * 3,
                sleep_ns: 39_000_000 + i,
                other_blocked_ns: i,
                bursts: 1 + i % 5,
                mean_burst_ns: 2_000_000,
                max_burst_ns: 5_000_000 + i,
                wakeups: i % 7,
                voluntary_switches: 1 + i % 5,
                involuntary_switches: i % 2,
                block_requests: i % 4,
                block_bytes: 4096 * (i % 4),
                threads: 1 + i % 2,
                exit_code: (i % 2) as i32,
                lifetime_ns: 50_000_000 + i,
            },
        })
        .collect();
    let mut body = String::new();
    for r in &recs {
        body += &serde_json::to_string(r).unwrap();
        body.push('\n');
    }
    std::fs::write(dir.join("records.jsonl"), body).unwrap();
    let stints: Vec<Stint> = (0..n)
        .map(|i| Stint {
            invocation_id: (1 << 40) + i,
            function_id: 100,
            tid: 1000 + i as u32,
            cpu: (i % 2) as u32,
            runnable_ns: 10 * i,
            switch_in_ns: 10 * i + 3,
            switch_out_ns: 10 * i + 9,
            on_cpu_ns: 6,
            reason: if i % 2 == 0 {
                LeaveReason::Sleep
            } else {
                LeaveReason::Preempted
            },
        })
        .collect();
    let mut body = String::new();
    for s in &stints {
        body += &serde_json::to_string(s).unwrap();
        body.push('\n');
    }
    std::fs::write(dir.join("stints.jsonl"), body).unwrap();
    recs
}

#[test]
fn parquet_and_csv_round_trip() {
    let dir = tmpdir("export-rt");
    let recs = make_run(&dir, 50);
    for (fmt, name) in [(Format::Parquet, "d.parquet"), (Format::Csv, "d.csv")] {
        let out = dir.join(name);
        let e = export(&dir, fmt, &out).unwrap();
        assert_eq!(e.rows, 50);
        assert!(e.stints.as_ref().unwrap().exists());
        let back = read_dataset(&out).unwrap();
        assert_eq!(back, recs, "{name} round trip");
        // No temporary file left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Parquet file read by parquet's row API (not the Arrow reader the
/// export uses), column by column.
#[test]
fn parquet_reads_with_an_independent_reader() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let dir = tmpdir("export-indep");
    let recs = make_run(&dir, 20);
    let out = dir.join("x.parquet");
    export(&dir, Format::Parquet, &out).unwrap();
    let r = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(r.metadata().file_metadata().num_rows(), 20);
    let kv = r.metadata().file_metadata().key_value_metadata().unwrap();
    assert!(kv.iter().any(|k| k.key == "alps.schema"));
    for (row, rec) in r.get_row_iter(None).unwrap().zip(&recs) {
        let row = row.unwrap();
        let mut seen = 0;
        for (name, f) in row.get_column_iter() {
            match (name.as_str(), f) {
                ("class", Field::Str(s)) => {
                    assert_eq!(s, &rec.class);
                    seen += 1;
                }
                ("on_cpu_ns", Field::ULong(v)) => {
                    assert_eq!(*v, rec.account.on_cpu_ns);
                    seen += 1;
                }
                ("sleep_ns", Field::ULong(v)) => {
                    assert_eq!(*v, rec.account.sleep_ns);
                    seen += 1;
                }
                ("exit_code", Field::Int(v)) => {
                    assert_eq!(*v, rec.account.exit_code);
                    seen += 1;
                }
                _ => {}
            }
        }
        assert_eq!(seen, 4);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_export_leaves_no_file() {
    let dir = tmpdir("export-fail");
    std::fs::write(dir.join("records.jsonl"), "not json\n").unwrap();
    let out = dir.join("bad.parquet");
    let err = export(&dir, Format::Parquet, &out).unwrap_err();
    assert!(format!("{err:#}").contains("records.jsonl:1"), "{err:#}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Exported datasets, and the sample the repo ships, feed the simulator.
#[test]
fn datasets_feed_the_simulator() {
    let dir = tmpdir("export-sim");
    make_run(&dir, 30);
    let out = dir.join("d.parquet");
    export(&dir, Format::Parquet, &out).unwrap();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../datasets/sample/mixed-eevdf.parquet"
    );
    for src in [out.display().to_string(), sample.to_string()] {
        let o = alps()
            .args([
                "simulate",
                "--workload",
                &format!("dataset:{src}"),
                "--cores",
                "2",
                "--policies",
                "eevdf,srpt,alps-io",
                "--out",
            ])
            .arg(dir.join("sim"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("sim/compare.json")).unwrap())
                .unwrap();
        assert!(c["policies"]["srpt"]["overall"]["count"].as_u64().unwrap() > 0);
        assert!(c["ratios_vs_eevdf"]["alps-io"].is_object());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
