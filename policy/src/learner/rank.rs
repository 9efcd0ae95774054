//! Ranks (ALPS paper section 5.1): functions sorted by their mean simulated
//! waiting time (ALPS-IO with `slowdown_weight`: mean simulated wait per
//! unit of CPU demand), lowest first, ranks in 1..=rank_max.

use std::collections::BTreeMap;

/// One function's ranking inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankInput {
    pub function_id: u32,
    /// The sort key (mean wait in ns, or mean slowdown).
    pub key: f64,
    /// Mean CPU demand in ns: the tie-break (SRPT order), then the id.
    pub demand_ns: f64,
}

/// Total order: key, then demand, then function id; NaN keys sort last.
/// Positions map to ranks 1..=rank_max: position + 1 when the functions
/// fit, otherwise evenly spread bands (equal ranks share a band; the kernel
/// orders within a band by vruntime, as in ALPS).
pub fn rank_functions(inputs: &[RankInput], rank_max: u32) -> BTreeMap<u32, u32> {
    let mut v: Vec<RankInput> = inputs.to_vec();
    let k = |x: f64| if x.is_nan() { f64::INFINITY } else { x };
    v.sort_by(|a, b| {
        k(a.key)
            .total_cmp(&k(b.key))
            .then(k(a.demand_ns).total_cmp(&k(b.demand_ns)))
            .then(a.function_id.cmp(&b.function_id))
    });
    let n = v.len() as u64;
    let max = u64::from(rank_max.max(1));
    v.iter()
        .enumerate()
        .map(|(pos, r)| {
            let pos = pos as u64;
            let rank = if n <= max { pos + 1 } else { 1 + pos * max / n };
            (r.function_id, rank as u32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ri(function_id: u32, key: f64, demand_ns: f64) -> RankInput {
        RankInput {
            function_id,
            key,
            demand_ns,
        }
    }

    #[test]
    fn sorted_by_key_then_demand_then_id() {
        let r = rank_functions(
            &[
                ri(7, 5.0, 1.0),
                ri(3, 1.0, 9.0),
                ri(9, 1.0, 2.0),
                ri(1, f64::NAN, 0.0),
            ],
            100,
        );
        assert_eq!(r[&9], 1);
        assert_eq!(r[&3], 2);
        assert_eq!(r[&7], 3);
        assert_eq!(r[&1], 4);
    }

    #[test]
    fn more_functions_than_ranks_share_bands() {
        let inputs: Vec<RankInput> = (0..250).map(|i| ri(i, i as f64, 0.0)).collect();
        let r = rank_functions(&inputs, 100);
        assert_eq!(r[&0], 1);
        assert_eq!(r[&249], 100);
        for i in 1..250 {
            assert!(r[&i] >= r[&(i - 1)]);
        }
    }
}
