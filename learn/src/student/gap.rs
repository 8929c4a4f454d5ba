//! How far a policy's actions are from its teacher's at the states the
//! policy itself visits (DAgger's labels, without training on them): where
//! in an episode a student leaves the expert, and whether by magnitude or
//! by sign.

use serde::{Deserialize, Serialize};

/// |a| from which an action value counts as at its limit (a bang-bang
/// expert's values sit there).
pub const SATURATED: f32 = 0.99;

/// |e| above which an expert value's sign counts as a decision the policy
/// can get wrong (near 0 the sign is noise).
pub const DECISIVE: f32 = 0.5;

/// The policy's value `x` pushes against a decisive expert value `y`.
pub fn wrong_sign(x: f32, y: f32) -> bool {
    y.abs() > DECISIVE && x.signum() != y.signum()
}

/// One step's comparison of the policy's action `a` with the expert's `e`
/// at the same state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepGap {
    /// Mean |a − e| over action values.
    pub abs: f32,
    /// Expert values with |e| > `DECISIVE` (the decisions of this step).
    pub decisive: u16,
    /// Of those, the ones whose sign the policy got wrong.
    pub flipped: u16,
    /// Policy values at their limit.
    pub saturated_policy: u16,
    /// Expert values at their limit.
    pub saturated_expert: u16,
    /// Action values.
    pub dims: u16,
}

impl StepGap {
    /// Compare `a` (policy) with `e` (expert); they have the same length.
    pub fn of(a: &[f32], e: &[f32]) -> Self {
        Self::tally(a, e, &mut [])
    }

    /// `of`, also adding each action value's `(decisive, flipped)` to
    /// `per_value` (when it is as long as `a`): which joints the policy
    /// gets wrong.
    pub fn tally(a: &[f32], e: &[f32], per_value: &mut [[u32; 2]]) -> Self {
        let mut g = StepGap {
            dims: a.len().min(e.len()) as u16,
            ..StepGap::default()
        };
        let mut sum = 0.0;
        for (j, (&x, &y)) in a.iter().zip(e).enumerate() {
            sum += (x - y).abs();
            if y.abs() > DECISIVE {
                let flipped = wrong_sign(x, y);
                g.decisive += 1;
                g.flipped += u16::from(flipped);
                if let Some(c) = per_value.get_mut(j) {
                    c[0] += 1;
                    c[1] += u32::from(flipped);
                }
            }
            g.saturated_policy += u16::from(x.abs() >= SATURATED);
            g.saturated_expert += u16::from(y.abs() >= SATURATED);
        }
        g.abs = sum / f32::from(g.dims.max(1));
        g
    }
}

/// A task's gaps summed over episodes: over every step, and over the
/// first `FIRST_STEPS` of each episode, where the start transient is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GapSummary {
    /// Mean |a − e| per action value, over every step.
    pub mean_abs: f64,
    /// The same over each episode's first `FIRST_STEPS` steps.
    pub mean_abs_start: f64,
    /// Share of the expert's decisive values (|e| > 0.5) whose sign the
    /// policy got wrong, over every step.
    pub sign_flips: f64,
    /// The same over each episode's first `FIRST_STEPS` steps.
    pub sign_flips_start: f64,
    /// Share of the policy's action values at their limit.
    pub saturated_policy: f64,
    /// Share of the expert's action values at their limit.
    pub saturated_expert: f64,
    /// Steps compared.
    pub steps: usize,
    /// Every action value decisive in at least `MIN_DECISIVE` steps, by
    /// how often the policy gets its sign wrong, worst first.
    #[serde(default)]
    pub flips_by_value: Vec<ValueFlips>,
}

/// How often the policy gets one action value's sign wrong.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueFlips {
    /// Its actuator, as the MJCF names it.
    pub actuator: String,
    /// Steps where the expert's value was decisive.
    pub decisive: u32,
    /// Share of those where the policy's sign was wrong.
    pub share: f64,
}

/// Decisive steps an action value needs before `flips_by_value` ranks it.
pub const MIN_DECISIVE: u32 = 20;

/// Steps from the start of an episode that `GapSummary`'s `*_start`
/// fields cover.
pub const FIRST_STEPS: usize = 10;

/// Summarise per-episode, per-step gaps, and per-value counts
/// (`StepGap::tally`) with their actuators' names.
pub fn summarise(
    episodes: &[Vec<StepGap>],
    per_value: &[[u32; 2]],
    names: &[String],
) -> GapSummary {
    #[derive(Default)]
    struct Sums {
        abs: f64,
        n: usize,
        flipped: usize,
        decisive: usize,
    }
    let (mut all, mut start) = (Sums::default(), Sums::default());
    let (mut sat_p, mut sat_e, mut dims) = (0usize, 0usize, 0usize);
    for (t, g) in episodes.iter().flat_map(|e| e.iter().enumerate()) {
        let cells: &mut [&mut Sums] = if t < FIRST_STEPS {
            &mut [&mut all, &mut start]
        } else {
            &mut [&mut all]
        };
        for s in cells.iter_mut() {
            s.abs += f64::from(g.abs);
            s.n += 1;
            s.flipped += usize::from(g.flipped);
            s.decisive += usize::from(g.decisive);
        }
        sat_p += usize::from(g.saturated_policy);
        sat_e += usize::from(g.saturated_expert);
        dims += usize::from(g.dims);
    }
    let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
    let mut flips_by_value: Vec<ValueFlips> = per_value
        .iter()
        .zip(names)
        .filter(|(c, _)| c[0] >= MIN_DECISIVE)
        .map(|(c, name)| ValueFlips {
            actuator: name.clone(),
            decisive: c[0],
            share: f64::from(c[1]) / f64::from(c[0]),
        })
        .collect();
    flips_by_value.sort_by(|a, b| b.share.total_cmp(&a.share));
    GapSummary {
        mean_abs: ratio(all.abs, all.n),
        mean_abs_start: ratio(start.abs, start.n),
        sign_flips: ratio(all.flipped as f64, all.decisive),
        sign_flips_start: ratio(start.flipped as f64, start.decisive),
        saturated_policy: ratio(sat_p as f64, dims),
        saturated_expert: ratio(sat_e as f64, dims),
        steps: all.n,
        flips_by_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_gap_counts_by_hand() {
        // |a-e| = 0.2, 1.5, 0.0, 0.6 -> mean 0.575; decisive: e = 1.0, -0.8
        // (not 0.0 or 0.3); the second flips. At limit: no policy value,
        // one expert value (1.0).
        let a = [0.8, 0.7, 0.0, 0.9];
        let e = [1.0, -0.8, 0.0, 0.3];
        let g = StepGap::of(&a, &e);
        assert!((g.abs - 0.575).abs() < 1e-6, "{}", g.abs);
        assert_eq!((g.decisive, g.flipped), (2, 1));
        assert_eq!((g.saturated_policy, g.saturated_expert), (0, 1));
        assert_eq!(g.dims, 4);
    }

    #[test]
    fn summary_splits_the_start_from_the_rest() {
        let early = StepGap {
            abs: 1.0,
            decisive: 2,
            flipped: 2,
            saturated_policy: 1,
            saturated_expert: 2,
            dims: 2,
        };
        let late = StepGap {
            abs: 0.0,
            decisive: 2,
            flipped: 0,
            saturated_policy: 0,
            saturated_expert: 2,
            dims: 2,
        };
        // Two episodes: 10 early steps then 10 late ones, and 5 early steps.
        let long: Vec<StepGap> = (0..20)
            .map(|t| if t < FIRST_STEPS { early } else { late })
            .collect();
        let s = summarise(&[long, vec![early; 5]], &[], &[]);
        assert_eq!(s.steps, 25);
        assert!((s.mean_abs - 15.0 / 25.0).abs() < 1e-12);
        assert!((s.mean_abs_start - 1.0).abs() < 1e-12);
        assert!((s.sign_flips - 30.0 / 50.0).abs() < 1e-12);
        assert!((s.sign_flips_start - 1.0).abs() < 1e-12);
        assert!((s.saturated_policy - 15.0 / 50.0).abs() < 1e-12);
        assert!((s.saturated_expert - 1.0).abs() < 1e-12);
        assert_eq!(summarise(&[], &[], &[]), GapSummary::default());
    }

    #[test]
    fn per_value_counts_rank_the_worst_joints() {
        let mut counts = [[0u32; 2]; 3];
        // Value 0 decisive and wrong every step, value 1 decisive and
        // right, value 2 never decisive.
        for _ in 0..MIN_DECISIVE {
            StepGap::tally(&[-1.0, 1.0, 0.9], &[1.0, 1.0, 0.1], &mut counts);
        }
        assert_eq!(
            counts,
            [[MIN_DECISIVE, MIN_DECISIVE], [MIN_DECISIVE, 0], [0, 0]]
        );
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let s = summarise(&[], &counts, &names);
        let ranked: Vec<(&str, f64)> = s
            .flips_by_value
            .iter()
            .map(|v| (v.actuator.as_str(), v.share))
            .collect();
        assert_eq!(ranked, vec![("a", 1.0), ("b", 0.0)]);
    }
}
