//! Seeded percentile-bootstrap confidence intervals of means.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 95% interval of the mean over `groups` of the groups' means, resampling
/// each group with replacement (stratified: a task keeps its episode count).
/// With one group this is the plain bootstrap of its mean.
pub fn mean_ci95(groups: &[Vec<f64>], reps: usize, seed: u64) -> (f64, f64) {
    let groups: Vec<&Vec<f64>> = groups.iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() || reps == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..reps)
        .map(|_| {
            groups
                .iter()
                .map(|g| {
                    (0..g.len())
                        .map(|_| g[rng.random_range(0..g.len())])
                        .sum::<f64>()
                        / g.len() as f64
                })
                .sum::<f64>()
                / groups.len() as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (reps - 1) as f64).round() as usize).min(reps - 1)];
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_the_mean_and_is_seeded() {
        let g = vec![vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]];
        let (lo, hi) = mean_ci95(&g, 2000, 7);
        assert!(lo < 0.7 && 0.7 < hi, "{lo} {hi}");
        assert!(lo >= 0.0 && hi <= 1.0);
        assert_eq!(mean_ci95(&g, 2000, 7), (lo, hi));
        let all = vec![vec![1.0; 50]];
        assert_eq!(mean_ci95(&all, 500, 1), (1.0, 1.0));
    }
}
