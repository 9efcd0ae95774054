//! Property tests: every FnSpec survives `to_args`/`from_args` and serde.

use alps::functions::{Calibration, FnSpec, Phase};
use proptest::prelude::*;

fn ms() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        0.0f64..10_000.0,
        (0u32..1000).prop_map(f64::from)
    ]
}

fn spec() -> impl Strategy<Value = FnSpec> {
    prop_oneof![
        (0u32..=92).prop_map(|n| FnSpec::Fib { n }),
        (ms(), ms(), 0u32..100, ms()).prop_map(|(c, s, r, t)| FnSpec::Io {
            compute_ms: c,
            sleep_ms: s,
            rounds: r,
            tail_ms: t
        }),
        (
            0u32..100,
            0u32..100_000,
            0u32..100_000,
            ms(),
            proptest::option::of("[^\u{0}]{0,20}")
        )
            .prop_map(|(r, rk, wk, c, dir)| FnSpec::BlockIo {
                rounds: r,
                read_kb: rk,
                write_kb: wk,
                compute_ms: c,
                dir
            }),
        (1u32..=1024, 0u32..100, ms(), ms()).prop_map(|(t, r, h, w)| FnSpec::Futex {
            threads: t,
            rounds: r,
            hold_ms: h,
            work_ms: w
        }),
        (ms(), 0u32..1000, ms(), ms()).prop_map(|(b, n, s, t)| FnSpec::Deceptive {
            burst_ms: b,
            sleeps: n,
            sleep_ms: s,
            tail_ms: t
        }),
        (
            proptest::collection::vec(".{0,12}", 1..6),
            proptest::option::of(ms())
        )
            .prop_map(|(argv, cpu_ms)| FnSpec::Cmd { argv, cpu_ms }),
    ]
}

proptest! {
    #[test]
    fn args_and_serde_round_trip(s in spec()) {
        let args = s.to_args();
        prop_assert_eq!(&FnSpec::from_args(&args).unwrap(), &s);
        // serde_json's default float parsing may differ in the last ulp,
        // so the serde check is on the shape, not exact floats.
        let j = serde_json::to_string(&s).unwrap();
        let back = serde_json::from_str::<FnSpec>(&j).unwrap();
        prop_assert_eq!(back.kind(), s.kind());
        prop_assert_eq!(back.to_args().len(), args.len());
    }

    #[test]
    fn phases_add_up(s in spec()) {
        let cal = Calibration::synthetic(5_000_000);
        let ph = s.expected_phases(&cal);
        let cpu: u64 = ph.iter().map(Phase::cpu_ns).sum();
        prop_assert_eq!(cpu, s.expected_cpu_ns(&cal));
        prop_assert!(ph.iter().all(|p| p.cpu_ns() + p.wait_ns() > 0));
    }
}
