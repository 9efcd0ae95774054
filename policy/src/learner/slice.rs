//! Slice learning (ALPS paper section 5.2): train_ts over a function's
//! simulated run segments, then the unpredictability and overload
//! fine-tunes.

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::linear_regression::{LinearRegression, LinearRegressionParameters};

/// How ts is trained from the run segments (in start-time order).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TrainMethod {
    /// Mean segment length (ALPS default).
    #[default]
    Average,
    /// Least-squares line through (index, length), predicted at the next
    /// index (smartcore); falls back to the mean if the fit fails.
    LinearRegression,
    /// Exponentially weighted moving average; `weight` is the weight of the
    /// newest sample (0..=1).
    Ewma { weight: f64 },
}

/// Fine-tune parameters (ALPS defaults alpha=2, beta=1, gamma=1, theta=50).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FineTune {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    /// CPU utilization threshold, percent.
    pub theta: f64,
}

impl Default for FineTune {
    fn default() -> Self {
        Self {
            alpha: 2.0,
            beta: 1.0,
            gamma: 1.0,
            theta: 50.0,
        }
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Population standard deviation.
pub fn stdev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt()
}

fn linear_regression(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let n = xs.len();
    let x = DenseMatrix::new(n, 1, (0..n).map(|i| i as f64).collect(), true).ok()?;
    let y: Vec<f64> = xs.to_vec();
    let lr = LinearRegression::fit(&x, &y, LinearRegressionParameters::default()).ok()?;
    let next = DenseMatrix::new(1, 1, vec![n as f64], true).ok()?;
    let p = lr.predict(&next).ok()?;
    p.first().copied().filter(|v| v.is_finite())
}

/// ts = train_ts(segments); 0 for no segments; never negative or NaN.
pub fn train_ts(segments_ns: &[f64], method: TrainMethod) -> f64 {
    if segments_ns.is_empty() {
        return 0.0;
    }
    let ts = match method {
        TrainMethod::Average => mean(segments_ns),
        TrainMethod::LinearRegression => {
            linear_regression(segments_ns).unwrap_or_else(|| mean(segments_ns))
        }
        TrainMethod::Ewma { weight } => {
            let w = if weight.is_finite() {
                weight.clamp(0.0, 1.0)
            } else {
                0.5
            };
            let mut s = segments_ns[0];
            for x in &segments_ns[1..] {
                s = w * x + (1.0 - w) * s;
            }
            s
        }
    };
    if ts.is_finite() {
        ts.max(0.0)
    } else {
        0.0
    }
}

/// Overload factor p: 1 below theta, else (100 + theta - l) / (100 gamma),
/// clamped to [0, 1] (the paper's ts_s = min(p ts_u, ts_u) already caps at
/// 1; a load above 100 + theta would make p negative). A non-finite
/// utilization counts as "no overload information": p = 1.
pub fn overload_factor(util_pct: f64, ft: &FineTune) -> f64 {
    if !util_pct.is_finite() || util_pct < ft.theta {
        return 1.0;
    }
    let p = (100.0 + ft.theta - util_pct) / (100.0 * ft.gamma);
    if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// ts_s from the run segments: ts_u = max(alpha ts - beta stdev, 0), then
/// ts_s = min(p ts_u, ts_u). Paper formulas; the artifact instead multiplies
/// beta into p (not done here).
pub fn learn_slice(segments_ns: &[f64], method: TrainMethod, ft: &FineTune, util_pct: f64) -> f64 {
    let ts = train_ts(segments_ns, method);
    let ts_u = (ft.alpha * ts - ft.beta * stdev(segments_ns)).max(0.0);
    let ts_s = (overload_factor(util_pct, ft) * ts_u).min(ts_u);
    if ts_s.is_finite() {
        ts_s.max(0.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_and_fine_tunes() {
        let ft = FineTune::default();
        // mean 3, stdev 2 -> 2*3 - 2 = 4
        let s = learn_slice(&[5.0, 1.0], TrainMethod::Average, &ft, 10.0);
        assert!((s - 4.0).abs() < 1e-9);
        // at l = 80: p = (100 + 50 - 80) / 100 = 0.7
        let s = learn_slice(&[5.0, 1.0], TrainMethod::Average, &ft, 80.0);
        assert!((s - 2.8).abs() < 1e-9);
        // unpredictable: mean 4.545, stdev 11.21 -> 0 (plain fair slice)
        let mut segs = vec![40.0];
        segs.extend([1.0; 10]);
        assert_eq!(learn_slice(&segs, TrainMethod::Average, &ft, 0.0), 0.0);
    }

    #[test]
    fn overload_threshold_is_continuous_for_gamma_one() {
        let ft = FineTune::default();
        assert_eq!(overload_factor(49.999, &ft), 1.0);
        assert_eq!(overload_factor(50.0, &ft), 1.0);
        assert!((overload_factor(60.0, &ft) - 0.9).abs() < 1e-12);
        assert_eq!(overload_factor(200.0, &ft), 0.0);
        assert_eq!(overload_factor(f64::NAN, &ft), 1.0);
        let ft2 = FineTune { gamma: 2.0, ..ft };
        assert!((overload_factor(50.0, &ft2) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn regression_and_ewma() {
        // lengths 1, 2, 3 -> next 4
        let ts = train_ts(&[1.0, 2.0, 3.0], TrainMethod::LinearRegression);
        assert!((ts - 4.0).abs() < 1e-6, "{ts}");
        // one sample falls back to the mean
        assert_eq!(train_ts(&[7.0], TrainMethod::LinearRegression), 7.0);
        // constant samples still fit
        let ts = train_ts(&[2.0, 2.0, 2.0], TrainMethod::LinearRegression);
        assert!((ts - 2.0).abs() < 1e-6);
        let ts = train_ts(&[10.0, 20.0], TrainMethod::Ewma { weight: 0.25 });
        assert!((ts - 12.5).abs() < 1e-12);
        assert_eq!(train_ts(&[], TrainMethod::Average), 0.0);
    }
}
