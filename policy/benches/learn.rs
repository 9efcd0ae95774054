//! Learning time for 100 and 5,000 records (ALPS' Python frontend: about
//! 12 ms and 406 ms; target <= 1 ms and <= 40 ms), baseline and ALPS-IO.
//! A deterministic mix like the live workload: short/medium/long `fib`,
//! `io` (5 ms, sleep, 1 ms), `deceptive` (50 ms burst + 20 short bursts),
//! `futex`, at about 80% load of 2 cores.

use alps_policy::learner::{learn, LearnerConfig};
use alps_probes::record::{Account, Record};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

const MS: u64 = 1_000_000;

fn records(n: usize) -> Vec<Record> {
    // (cpu ms, bursts, max burst ms, sleep ms, futex ms)
    let kinds: [(u64, u64, u64, u64, u64); 6] = [
        (10, 1, 10, 0, 0),
        (120, 1, 120, 0, 0),
        (450, 1, 450, 0, 0),
        (6, 2, 5, 100, 0),
        (52, 21, 50, 100, 0),
        (8, 6, 3, 0, 20),
    ];
    let mean_cpu: u64 = kinds.iter().map(|k| k.0).sum::<u64>() / kinds.len() as u64;
    // 80% of 2 cores: mean inter-arrival = mean CPU / 1.6.
    let gap = mean_cpu * MS * 10 / 16;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut arrival = 0u64;
    (0..n)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            arrival += seed % (2 * gap);
            let f = (seed >> 32) as usize % kinds.len();
            let (cpu, bursts, max, sleep, futex) = kinds[f];
            let wall = (cpu + sleep + futex) * MS;
            Record {
                class: format!("c{f}"),
                arrival_ns: arrival,
                start_ns: arrival,
                end_ns: arrival + wall,
                account: Account {
                    function_id: f as u32,
                    invocation_id: i as u64,
                    wall_ns: wall,
                    on_cpu_ns: cpu * MS,
                    sleep_ns: sleep * MS,
                    futex_ns: futex * MS,
                    bursts,
                    mean_burst_ns: cpu * MS / bursts,
                    max_burst_ns: max * MS,
                    wakeups: bursts - 1,
                    ..Default::default()
                },
                ..Default::default()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("learn");
    for n in [100usize, 5_000] {
        let recs = records(n);
        for (name, cfg) in [
            ("alps", LearnerConfig::alps()),
            ("alps-io", LearnerConfig::alps_io()),
        ] {
            g.bench_with_input(BenchmarkId::new(name, n), &recs, |b, recs| {
                b.iter(|| learn(black_box(recs), &cfg, 80.0))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
