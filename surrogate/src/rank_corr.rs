//! Rank correlations between predicted and true accuracies: Kendall's tau-b
//! (ties counted as the statistic defines, through the `kendalls` crate,
//! O(n log n)) and Spearman's rho (Pearson's correlation of average ranks).

use std::cmp::Ordering;

/// Kendall's tau-b of `x` and `y`; `None` when it is undefined (fewer than
/// two values, different lengths, a NaN, or a constant side).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let cmp = |a: &f64, b: &f64| a.partial_cmp(b).unwrap_or(Ordering::Equal);
    let (tau, _) = kendalls::tau_b_with_comparator(x, y, cmp).ok()?;
    tau.is_finite().then_some(tau)
}

/// Spearman's rank correlation of `x` and `y`, ties given their average
/// rank; `None` when it is undefined (as for [`kendall_tau_b`]).
pub fn spearman_rho(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    let rho = sxy / (sxx * syy).sqrt();
    rho.is_finite().then_some(rho)
}

/// Ranks from 1, ties sharing the average of the ranks they span.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].partial_cmp(&v[b]).unwrap_or(Ordering::Equal));
    let mut out = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        // Ranks start..end (0-based) share their mean, 1-based.
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i] = rank;
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Tau-b by its definition, O(n^2).
    fn naive_tau_b(x: &[f64], y: &[f64]) -> f64 {
        let (mut c, mut d, mut tx, mut ty) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let a = (x[i] - x[j]).signum() * if x[i] == x[j] { 0.0 } else { 1.0 };
                let b = (y[i] - y[j]).signum() * if y[i] == y[j] { 0.0 } else { 1.0 };
                match (a == 0.0, b == 0.0) {
                    (true, true) => {}
                    (true, false) => tx += 1.0,
                    (false, true) => ty += 1.0,
                    (false, false) if a == b => c += 1.0,
                    _ => d += 1.0,
                }
            }
        }
        (c - d) / ((c + d + tx) * (c + d + ty)).sqrt()
    }

    #[test]
    fn tau_b_matches_its_definition_with_ties() {
        let mut rng = space::rng(9);
        for _ in 0..20 {
            let n = rng.random_range(2..60);
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..6) as f64).collect();
            let y: Vec<f64> = (0..n).map(|_| rng.random_range(0..6) as f64).collect();
            match kendall_tau_b(&x, &y) {
                Some(t) => assert!((t - naive_tau_b(&x, &y)).abs() < 1e-12),
                None => assert!(!naive_tau_b(&x, &y).is_finite()),
            }
        }
    }

    #[test]
    fn known_values() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(kendall_tau_b(&x, &x), Some(1.0));
        assert_eq!(spearman_rho(&x, &x), Some(1.0));
        let rev = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(kendall_tau_b(&x, &rev), Some(-1.0));
        assert!((spearman_rho(&x, &rev).unwrap() + 1.0).abs() < 1e-12);
        // scipy.stats.spearmanr([1,2,2,3], [1,3,2,4]) = 0.9486832980505138
        let rho = spearman_rho(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((rho - 0.9486832980505138).abs() < 1e-12);
        // scipy.stats.kendalltau([1,2,2,3], [1,3,2,4]) = 0.9128709291752769
        let tau = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((tau - 0.9128709291752769).abs() < 1e-12);
        assert_eq!(kendall_tau_b(&x, &[1.0; 5]), None);
        assert_eq!(spearman_rho(&x, &[1.0; 5]), None);
        assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
    }
}
