//! Critic quality (METHOD §2, the paper's Fig. 5): on held-out expert
//! rollouts, `mean_t |Q(s_t, a_t) - G_t| / std(G)`, with `G_t` the
//! discounted Monte-Carlo return to the episode's end.

use serde::Serialize;

/// Discounted returns to the end of one episode: `G_t = r_t + gamma G_{t+1}`.
pub fn discounted_returns(rewards: &[f32], gamma: f32) -> Vec<f32> {
    let mut g = vec![0.0f32; rewards.len()];
    let mut acc = 0.0f64;
    for (i, &r) in rewards.iter().enumerate().rev() {
        acc = f64::from(r) + f64::from(gamma) * acc;
        g[i] = acc as f32;
    }
    g
}

/// Summary of a critic against Monte-Carlo returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CriticError {
    /// `mean |Q - G| / std(G)` over every step.
    pub error: f32,
    /// `mean |Q - G|`, in reward units.
    pub mae: f32,
    /// Population standard deviation of `G`.
    pub std_g: f32,
    /// Mean of `Q`.
    pub mean_q: f32,
    /// Mean of `G`.
    pub mean_g: f32,
    /// Steps scored.
    pub steps: usize,
}

/// Score `q` against `g` (same length, pooled over episodes). A constant
/// `G` has no spread to normalise by: the error is then infinite unless
/// the critic is exact.
pub fn critic_error(q: &[f32], g: &[f32]) -> CriticError {
    let n = q.len().min(g.len());
    if n == 0 {
        return CriticError::default();
    }
    let nf = n as f64;
    let mean_g = g[..n].iter().map(|&x| f64::from(x)).sum::<f64>() / nf;
    let mean_q = q[..n].iter().map(|&x| f64::from(x)).sum::<f64>() / nf;
    let var_g = g[..n]
        .iter()
        .map(|&x| (f64::from(x) - mean_g).powi(2))
        .sum::<f64>()
        / nf;
    let mae = q[..n]
        .iter()
        .zip(&g[..n])
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
        .sum::<f64>()
        / nf;
    let std_g = var_g.sqrt();
    let error = if std_g > 0.0 {
        mae / std_g
    } else if mae == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    CriticError {
        error: error as f32,
        mae: mae as f32,
        std_g: std_g as f32,
        mean_q: mean_q as f32,
        mean_g: mean_g as f32,
        steps: n,
    }
}

#[cfg(test)]
mod tests {
    use super::{critic_error, discounted_returns};

    /// Worked by hand: rewards (1, 0, 2), gamma 0.5 -> G = (1.5, 1, 2).
    /// Q = (2, 1, 1): |Q-G| = (0.5, 0, 1), mean 0.5.
    /// mean G = 1.5, var G = (0 + 0.25 + 0.25) / 3 = 1/6, std = 0.408248.
    /// error = 0.5 / 0.408248 = 1.224745.
    #[test]
    fn matches_hand_computation() {
        let g = discounted_returns(&[1.0, 0.0, 2.0], 0.5);
        assert_eq!(g, vec![1.5, 1.0, 2.0]);
        let e = critic_error(&[2.0, 1.0, 1.0], &g);
        assert!((e.mae - 0.5).abs() < 1e-6);
        assert!((e.std_g - (1.0f32 / 6.0).sqrt()).abs() < 1e-6);
        assert!((e.error - 1.224_745).abs() < 1e-5, "{}", e.error);
        assert_eq!(e.steps, 3);
    }

    #[test]
    fn exact_critic_scores_zero_and_constant_returns_are_flagged() {
        let g = [3.0, 3.0];
        assert_eq!(critic_error(&g, &g).error, 0.0);
        assert!(critic_error(&[2.0, 3.0], &g).error.is_infinite());
    }
}
