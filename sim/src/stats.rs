//! Small statistics for reporting success rates.

/// 95% Wilson score interval of a success proportion: well-behaved at 0 and
/// 1 and for small N, unlike the normal approximation.
pub fn wilson95(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = successes as f64 / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / denom;
    // The bounds are exactly 0 and 1 at the extremes; rounding would
    // otherwise leave the observed rate a hair outside its own interval.
    let lo = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if successes as f64 >= n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::wilson95;

    #[test]
    fn wilson_matches_hand_computed_values() {
        // 45 of 50: p = 0.9, z = 1.96 -> [0.7864, 0.9565].
        let (lo, hi) = wilson95(45, 50);
        assert!(
            (lo - 0.7864).abs() < 1e-3 && (hi - 0.9565).abs() < 1e-3,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson95(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(wilson95(0, 0), (0.0, 1.0));
        assert_eq!(wilson95(3, 3).1, 1.0);
    }
}
