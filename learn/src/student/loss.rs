//! The loss terms of METHOD §4–§5, each a small function so tests can check
//! it against hand-computed values.

use candle_core::{D, DType, Device, Tensor};
use rand::Rng;

use crate::error::Result;
use crate::student::nn::l1_rows;

/// One-hot rows `[B, n]` for `codes`.
pub fn one_hot(codes: &[u32], n: usize) -> Result<Tensor> {
    let mut v = vec![0f32; codes.len() * n];
    for (row, &c) in codes.iter().enumerate() {
        v[row * n + c as usize] = 1.0;
    }
    Ok(Tensor::from_vec(v, (codes.len(), n), &Device::Cpu)?)
}

/// Sample one code per row from `softmax` probabilities `[B, n]`.
pub fn sample_codes(probs: &Tensor, rng: &mut impl Rng) -> Result<Vec<u32>> {
    let p = probs.to_vec2::<f32>()?;
    Ok(p.iter()
        .map(|row| {
            let u: f32 = rng.random_range(0.0..1.0);
            let mut acc = 0.0;
            for (i, &pi) in row.iter().enumerate() {
                acc += pi;
                if u < acc {
                    return i as u32;
                }
            }
            row.len().saturating_sub(1) as u32
        })
        .collect())
}

/// The straight-through one-hot `ẑ = 1_c + σ - SG[σ]`: its value is the
/// one-hot of `codes`, its gradient that of the probabilities `σ`.
pub fn straight_through(probs: &Tensor, codes: &[u32]) -> Result<Tensor> {
    let n = probs.dim(D::Minus1)?;
    Ok((one_hot(codes, n)? + (probs - probs.detach())?)?)
}

/// `L_code`, in L1 as the paper writes it: `|σ(z_e) - SG[1_c]|` aligns the
/// tokenizer with the sampled code, and `|SG[σ(z_e)]·C - 1_c·C|` commits
/// the sampled codebook row towards the tokenizer's expected code. Both
/// summed over the last axis and averaged over the batch.
pub fn code_loss(probs: &Tensor, codes: &[u32], codebook: &Tensor) -> Result<Tensor> {
    let n = probs.dim(D::Minus1)?;
    let hot = one_hot(codes, n)?;
    let align = l1_rows(probs, &hot)?;
    let commit = l1_rows(&probs.detach().matmul(codebook)?, &hot.matmul(codebook)?)?;
    Ok((align + commit)?)
}

/// Codebook usage `ln n - H(p̄)`, `p̄` the batch mean of `σ(z_e)`: zero
/// when the batch spreads evenly over the codes. `L_code` alone pulls every
/// row to the code it happened to sample and collapses the codebook onto a
/// single code within a few hundred steps; this term keeps codes in use.
pub fn usage_loss(probs: &Tensor) -> Result<Tensor> {
    let n = probs.dim(D::Minus1)?;
    let mean = probs.mean(0)?;
    let neg_entropy = (&mean * mean.clamp(1e-8, 1.0)?.log()?)?.sum_all()?;
    Ok((neg_entropy + (n as f64).ln())?)
}

/// `L_act = (1/k) Σ_i |â_i - a_i|_1`, averaged over the batch.
pub fn act_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    l1_rows(pred, target)
}

/// `L_lat`: cross-entropy of the latent encoder's logits against the codes
/// the frozen tokenizer assigns.
pub fn latent_loss(logits: &Tensor, codes: &[u32]) -> Result<Tensor> {
    let t = Tensor::new(codes, &Device::Cpu)?;
    Ok(candle_nn::loss::cross_entropy(logits, &t)?)
}

/// `L_distill = -mean(Q / norm)` over the batch: `q` are the task critics'
/// values at the student's first action, `norm` each row's task constant.
pub fn distill_loss(q: &Tensor, norm: &Tensor) -> Result<Tensor> {
    Ok((q / norm)?.mean_all()?.neg()?)
}

/// KL divergence of `N(μ, σ²)` from `N(0, 1)`, summed over the latent and
/// averaged over the batch; `stats` is `[B, 2·n]` (mean, log-variance).
pub fn kl_loss(stats: &Tensor) -> Result<Tensor> {
    let n = stats.dim(D::Minus1)? / 2;
    let mu = stats.narrow(D::Minus1, 0, n)?;
    let logvar = stats.narrow(D::Minus1, n, n)?;
    let kl = (((logvar.exp()? + mu.sqr()?)? - 1.0)? - &logvar)?;
    Ok((kl.sum(D::Minus1)?.mean_all()? * 0.5)?)
}

/// Reparameterised sample `μ + exp(logvar / 2)·ε` from `[B, 2·n]` stats.
pub fn reparameterise(stats: &Tensor, rng: &mut impl Rng) -> Result<Tensor> {
    let (b, two_n) = stats.dims2()?;
    let n = two_n / 2;
    let mu = stats.narrow(D::Minus1, 0, n)?;
    let std = (stats.narrow(D::Minus1, n, n)? * 0.5)?.exp()?;
    let eps: Vec<f32> = (0..b * n).map(|_| crate::rng::normal(rng)).collect();
    let eps = Tensor::from_vec(eps, (b, n), &Device::Cpu)?;
    Ok((mu + (std * eps)?)?)
}

/// A `[B, n]` zero latent: the CVAE prior's mean, used at test time.
pub fn prior_mean(b: usize, n: usize) -> Result<Tensor> {
    Ok(Tensor::zeros((b, n), DType::F32, &Device::Cpu)?)
}
