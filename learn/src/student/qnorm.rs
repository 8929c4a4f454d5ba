//! The per-task constants `L_distill` divides each critic by (`QNorm`).

use candle_core::{Device, Tensor, Var};

use crate::error::Result;
use crate::expert::Expert;
use crate::student::config::QNorm;
use crate::student::corpus::Corpus;

/// Frames per task the gradient scale is averaged over (evenly spaced).
const GRAD_FRAMES: usize = 4096;

/// Each slot's constant under `norm` (1 for slots without frames or
/// without a critic).
pub fn q_norms(c: &Corpus, critics: &[Option<Expert>], norm: QNorm) -> Result<Vec<f32>> {
    match norm {
        QNorm::MeanAbs => Ok(c.q_norms()),
        QNorm::Grad => grad_norms(c, critics),
    }
}

/// Mean `|∂Q/∂a|` per action value of each slot's critic at up to
/// `GRAD_FRAMES` of its dataset frames (state and demonstrated action):
/// deterministic, the frames are evenly spaced.
pub fn grad_norms(c: &Corpus, critics: &[Option<Expert>]) -> Result<Vec<f32>> {
    let a_dim = c.dims.action;
    let mut out = vec![1.0f32; c.frames_of.len()];
    for (slot, frames) in c.frames_of.iter().enumerate() {
        let Some(expert) = critics.get(slot).and_then(Option::as_ref) else {
            continue;
        };
        if frames.is_empty() {
            continue;
        }
        let stride = frames.len().div_ceil(GRAD_FRAMES);
        let picked: Vec<usize> = frames.iter().step_by(stride).map(|&i| i as usize).collect();
        let mut states = Vec::new();
        let mut actions = Vec::with_capacity(picked.len() * a_dim);
        for &i in &picked {
            states.extend_from_slice(c.state(i));
            actions.extend_from_slice(&c.actions[i * a_dim..(i + 1) * a_dim]);
        }
        let mean = action_grad_scale(expert, &states, &actions, a_dim)?;
        // A flat critic grades nothing; keep it from dividing by zero.
        out[slot] = if mean.is_finite() && mean > 1e-8 {
            mean
        } else {
            1.0
        };
    }
    Ok(out)
}

/// Mean `|∂Q/∂a|` per action value of `expert`'s critic (the smaller twin)
/// at `states` and `actions` (`[n, A]`, row-major).
pub fn action_grad_scale(
    expert: &Expert,
    states: &[f32],
    actions: &[f32],
    a_dim: usize,
) -> Result<f32> {
    let n = actions.len() / a_dim.max(1);
    let a = Var::from_tensor(&Tensor::from_vec(
        actions.to_vec(),
        (n, a_dim),
        &Device::Cpu,
    )?)?;
    let q = expert
        .nets()
        .q_min_frozen(&expert.state_tensor(states)?, a.as_tensor())?;
    let grads = q.sum_all()?.backward()?;
    Ok(match grads.get(a.as_tensor()) {
        Some(g) => g.abs()?.mean_all()?.to_scalar::<f32>()?,
        None => 0.0,
    })
}

/// Whether the critic points back to the demonstrations: the mean cosine
/// between `∂Q/∂a` at each action perturbed by uniform noise in
/// `±noise` (clamped to [-1, 1]; seeded) and the step back to the
/// demonstrated action. 1 means the critic's ascent leads straight back.
pub fn action_grad_direction(
    expert: &Expert,
    states: &[f32],
    actions: &[f32],
    a_dim: usize,
    noise: f32,
    seed: u64,
) -> Result<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let moved: Vec<f32> = actions
        .iter()
        .map(|&a| (a + noise * rng.random_range(-1.0f32..=1.0)).clamp(-1.0, 1.0))
        .collect();
    let n = actions.len() / a_dim.max(1);
    let a = Var::from_tensor(&Tensor::from_vec(moved.clone(), (n, a_dim), &Device::Cpu)?)?;
    let q = expert
        .nets()
        .q_min_frozen(&expert.state_tensor(states)?, a.as_tensor())?;
    let grads = q.sum_all()?.backward()?;
    let Some(g) = grads.get(a.as_tensor()) else {
        return Ok(0.0);
    };
    let g: Vec<f32> = g.flatten_all()?.to_vec1()?;
    let (mut sum, mut rows) = (0.0f64, 0usize);
    for r in 0..n {
        let span = r * a_dim..(r + 1) * a_dim;
        let (gr, back): (Vec<f32>, Vec<f32>) = span.map(|i| (g[i], actions[i] - moved[i])).unzip();
        let dot: f32 = gr.iter().zip(&back).map(|(x, y)| x * y).sum();
        let norms = gr.iter().map(|x| x * x).sum::<f32>().sqrt()
            * back.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norms > 0.0 {
            sum += f64::from(dot / norms);
            rows += 1;
        }
    }
    Ok((sum / rows.max(1) as f64) as f32)
}
