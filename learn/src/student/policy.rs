//! A student acting in an environment: image features, goal features,
//! proprioception history, a chunk per step and temporal ensembling over
//! the last `k` chunks (METHOD §5, inference).

use std::collections::VecDeque;
use std::sync::Arc;

use candle_core::{Device, Tensor};

use crate::error::{LearnError, Result};
use crate::student::ckpt::Student;
use crate::student::corpus::normalise;
use crate::student::encoder::images_tensor;
use crate::student::loss;
use crate::student::model::StudentNets;

/// Weights `w_i = exp(-η i)` for chunks made `i = 0..n` steps ago.
pub fn ensemble_weights(n: usize, eta: f32) -> Vec<f32> {
    (0..n).map(|i| (-eta * i as f32).exp()).collect()
}

/// `a_t = Σ_i w_i a_t^{(t-i)} / Σ_i w_i` over `chunks` (newest first), each
/// `k × A` and made `i` steps ago, so its action for now is row `i`.
pub fn ensemble(chunks: &VecDeque<Vec<f32>>, action: usize, eta: f32) -> Vec<f32> {
    let w = ensemble_weights(chunks.len(), eta);
    let mut out = vec![0f32; action];
    let mut total = 0.0;
    for (i, (chunk, wi)) in chunks.iter().zip(&w).enumerate() {
        let row = &chunk[i * action..(i + 1) * action];
        for (o, &v) in out.iter_mut().zip(row) {
            *o += wi * v;
        }
        total += wi;
    }
    out.iter_mut().for_each(|o| *o /= total.max(1e-12));
    out
}

/// Per-episode state of a student rollout.
pub struct StudentRollout {
    student: Arc<Student>,
    slot: u32,
    goal: Tensor,
    history: VecDeque<Vec<f32>>,
    chunks: VecDeque<Vec<f32>>,
}

impl StudentRollout {
    /// Start an episode of `task` with its goal image (RGB bytes).
    pub fn new(student: Arc<Student>, task: &str, goal_image: &[u8]) -> Result<Self> {
        let slot = student
            .meta
            .tasks
            .iter()
            .position(|t| t == task)
            .ok_or_else(|| LearnError::Config {
                field: "task",
                message: format!(
                    "the student knows {}, not `{task}`",
                    student.meta.tasks.join(", ")
                ),
            })? as u32;
        let size = student.meta.dims.image;
        if goal_image.len() != size * size * 3 {
            return Err(LearnError::Config {
                field: "image",
                message: format!(
                    "goal image has {} bytes; the student sees {size}x{size} RGB",
                    goal_image.len()
                ),
            });
        }
        let goal = student
            .nets
            .encoder
            .forward(&images_tensor(&[goal_image], size)?)?;
        Ok(Self {
            student,
            slot,
            goal,
            history: VecDeque::new(),
            chunks: VecDeque::new(),
        })
    }

    /// The action for this step's image and proprioception.
    pub fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>> {
        let st = &self.student;
        let nets: &StudentNets = &st.nets;
        let cfg = &nets.cfg;
        let (p, a) = (nets.dims.proprio, nets.dims.action);
        if proprio.len() != p {
            return Err(LearnError::Config {
                field: "proprio",
                message: format!("{} values, the student expects {p}", proprio.len()),
            });
        }
        let norm: Vec<f32> = proprio
            .iter()
            .enumerate()
            .map(|(j, &v)| normalise(v, st.proprio_mean[j], st.proprio_std[j]))
            .collect();
        if self.history.is_empty() {
            for _ in 0..cfg.history {
                self.history.push_back(norm.clone());
            }
        } else {
            self.history.push_back(norm);
            self.history.pop_front();
        }
        let dev = &Device::Cpu;
        let hist: Vec<f32> = self.history.iter().flatten().copied().collect();
        let hist = Tensor::from_vec(hist, (1, cfg.history * p), dev)?;
        let task = Tensor::new(&[self.slot], dev)?;
        let ctx = nets.context(&hist, &task)?;
        let feat = nets
            .encoder
            .forward(&images_tensor(&[image], nets.dims.image)?)?;
        let seen = nets.seen(&feat, &self.goal)?;
        let chunk = if cfg.method.quantized() {
            let logits = nets.latent(&seen, &ctx)?;
            let code = StudentNets::argmax(&logits)?;
            let z = loss::one_hot(&code, cfg.codes)?.matmul(nets.codebook())?;
            nets.decode(&z, &ctx, None)?
        } else {
            let z = loss::prior_mean(1, cfg.code_width)?;
            nets.decode(&z, &ctx, Some(&seen))?
        };
        let chunk: Vec<f32> = chunk.flatten_all()?.to_vec1()?;
        if chunk.iter().any(|v| !v.is_finite()) {
            return Err(LearnError::Config {
                field: "action",
                message: "the student produced a non-finite action".into(),
            });
        }
        self.chunks.push_front(chunk);
        self.chunks.truncate(cfg.chunk);
        Ok(ensemble(&self.chunks, a, cfg.eta))
    }
}
