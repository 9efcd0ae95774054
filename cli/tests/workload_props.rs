//! Property tests of workload generation over random class tables.

use alps::functions::{Calibration, FnSpec};
use alps::workload::arrivals::{
    generate, ArrivalProcess, ClassDef, ClassOrder, ClassWeight, GenParams,
};
use proptest::prelude::*;

fn class(i: usize) -> impl Strategy<Value = ClassDef> {
    (
        prop_oneof![
            (15u32..34).prop_map(|n| FnSpec::Fib { n }),
            (0.5f64..20.0, 0.0f64..50.0, 1u32..5).prop_map(|(c, s, r)| FnSpec::Io {
                compute_ms: c,
                sleep_ms: s,
                rounds: r,
                tail_ms: 1.0
            }),
        ],
        0.1f64..10.0,
        any::<bool>(),
    )
        .prop_map(move |(spec, w, _)| {
            ClassDef::new(&format!("c{i}"), spec, ClassWeight::Invocations(w))
        })
}

fn classes() -> impl Strategy<Value = Vec<ClassDef>> {
    (1usize..6).prop_flat_map(|n| (0..n).map(class).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn generation_is_deterministic_sorted_and_bounded(
        cls in classes(),
        load in 0.1f64..1.5,
        seed in any::<u64>(),
        uniform in any::<bool>(),
        interleave in any::<bool>(),
    ) {
        let cal = Calibration::synthetic(5_000_000);
        let p = GenParams {
            name: "p".into(),
            seed,
            duration_s: 5.0,
            load,
            cores: 2,
            io_share: None,
            process: if uniform { ArrivalProcess::Uniform } else { ArrivalProcess::Poisson },
            order: if interleave { ClassOrder::Interleave } else { ClassOrder::Random },
        };
        let a = generate(&cls, &p, &cal).unwrap();
        let b = generate(&cls, &p, &cal).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert!(a.invocations.windows(2).all(|w| w[0].arrival_ns <= w[1].arrival_ns));
        prop_assert!(a.invocations.iter().all(|i| i.arrival_ns < 5_000_000_000));
        let shares: f64 = a.classes.iter().map(|c| c.share).sum();
        prop_assert!((shares - 1.0).abs() < 1e-9);
        let cpu_shares: f64 = a.classes.iter().map(|c| c.cpu_share).sum();
        prop_assert!((cpu_shares - 1.0).abs() < 1e-9);
    }
}
