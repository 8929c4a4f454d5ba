//! What a student is and how it is trained; serialised beside checkpoints.

use serde::{Deserialize, Serialize};

use crate::error::{LearnError, Result};

/// Distillation method: ACGD and the baselines of METHOD §6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// VQ-VAE action chunks + behaviour cloning + critic guidance.
    Acgd,
    /// The same student without critic guidance (`L_BC` alone).
    Bc,
    /// Vanilla ACT: a continuous CVAE latent with a KL weight.
    Act,
    /// Vanilla ACT with critic guidance.
    ActCritic,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 4] = [Method::Acgd, Method::Bc, Method::Act, Method::ActCritic];

    /// The CLI / file name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Acgd => "acgd",
            Method::Bc => "bc",
            Method::Act => "act",
            Method::ActCritic => "act-critic",
        }
    }

    /// The student has a codebook (VQ-VAE) rather than a CVAE latent.
    pub fn quantized(self) -> bool {
        matches!(self, Method::Acgd | Method::Bc)
    }

    /// The loss has the critic term `L_distill`.
    pub fn critic(self) -> bool {
        matches!(self, Method::Acgd | Method::ActCritic)
    }
}

/// Which decoded actions `L_distill` grades.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CriticSpan {
    /// The chunk's first action `â_t` at `s_t` (METHOD §5, as the paper
    /// writes it).
    First,
    /// Every action `â_{t+j}` of the chunk at the dataset's `s_{t+j}`,
    /// weighted `exp(-η j)` (normalised) as temporal ensembling weighs
    /// them: the executed action mixes every position of the last `k`
    /// chunks, and the first position alone carries a fraction of it.
    /// The default: on dex10 it turned ACGD's tie with BC into a gain
    /// (docs/results.md).
    #[default]
    Chunk,
}

/// The per-task constant `L_distill` divides each critic by (METHOD §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QNorm {
    /// Mean `|Q|` of the task's dataset labels, as TD3+BC scales its actor
    /// loss. A return with a large offset (reach and pose pay a distance
    /// penalty every step) makes this constant large and the critic's pull
    /// on the action small: on dex10 it is 1-2% of `L_act`'s.
    #[default]
    MeanAbs,
    /// Mean `|∂Q/∂a|` per action value at the task's dataset states and
    /// actions: every critic then pulls on the action with unit strength
    /// where the demonstrations are, whatever its return's offset and scale,
    /// and `α` alone sets the balance with `L_BC`.
    Grad,
}

/// The goal image each demonstration frame is trained with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainGoal {
    /// The episode's last frame, as collected (METHOD §4). At test time
    /// the student is shown the goal rendered from the sampled goal state,
    /// which differs wherever the expert stops short of the exact pose.
    #[default]
    LastFrame,
    /// The goal image re-rendered from each episode's reset seed: the
    /// image the student is shown at test time (`student::goals`).
    Rendered,
}

/// How the learning rate moves over a stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// Cosine from `lr` down to `lr / 10` at the stage's last step, so the
    /// weights settle instead of ending on a step at full rate.
    Cosine,
}

impl LrSchedule {
    /// The rate at `step` of `total`.
    pub fn at(self, lr: f64, step: usize, total: usize) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let x = step as f64 / total.max(1) as f64;
                let floor = lr / 10.0;
                floor + (lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * x.min(1.0)).cos())
            }
        }
    }
}

/// Image encoder shape and pre-training schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Output channels of the stride-2 convolutions (each halves the side).
    pub channels: Vec<usize>,
    /// Feature width.
    pub features: usize,
    /// Pre-training steps (0 with an external backbone).
    pub steps: usize,
    /// Pre-training batch.
    pub batch: usize,
    /// Pre-training learning rate.
    pub lr: f64,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            channels: vec![16, 32, 64, 64],
            features: 128,
            steps: 1500,
            batch: 64,
            lr: 1e-3,
        }
    }
}

/// Every knob of a student (METHOD §4–§5). Partial files fill in the
/// defaults; unknown fields are an error naming them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StudentConfig {
    /// Which loss and latent.
    pub method: Method,
    /// Chunk length `k`.
    pub chunk: usize,
    /// Codebook size `n_c`.
    pub codes: usize,
    /// Code width `n_q` (also the CVAE latent width).
    pub code_width: usize,
    /// Weight `α` of the behaviour-cloning loss against `L_distill`.
    pub alpha: f32,
    /// Weight of the codebook-usage term in stage (a) (see
    /// `loss::usage_loss`).
    pub usage_weight: f32,
    /// Temporal-ensembling decay `η`.
    pub eta: f32,
    /// Which decoded actions the critic grades.
    pub critic_span: CriticSpan,
    /// The per-task constant each critic is divided by.
    pub q_norm: QNorm,
    /// KL weight of the CVAE baselines.
    pub kl_weight: f32,
    /// Transformer width.
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
    /// Layers of the action tokenizer and of the latent encoder.
    pub layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Proprioception frames in the state history (`h + 1`).
    pub history: usize,
    /// Tokenizer (stage a) steps; CVAE students train this many extra steps.
    pub tokenizer_steps: usize,
    /// Behaviour-cloning / distillation (stage b) steps.
    pub steps: usize,
    /// Share of each batch drawn from the first `start_window` frames of
    /// the episodes (0: frames uniformly). The experts' first actions are
    /// a fast transient that uniform sampling shows once per episode, and
    /// a student that gets them wrong often does not recover
    /// (docs/results.md).
    /// A `student.json` without it was trained with 0.
    pub start_share: f32,
    /// Frames from each episode's start that `start_share` draws from.
    pub start_window: usize,
    /// Batch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Learning-rate schedule of the tokenizer and policy stages.
    pub lr_schedule: LrSchedule,
    /// The goal image of the demonstration frames. A `student.json`
    /// without it was trained on last frames.
    pub train_goal: TrainGoal,
    /// Roll the policy-stage weights on validation seeds every this many
    /// steps and keep the best (0: keep the last weights). A
    /// `student.json` without it kept its last weights.
    pub select_every: usize,
    /// Validation episodes per task at each of those checks.
    pub select_episodes: usize,
    /// Image encoder.
    pub encoder: EncoderConfig,
    /// Seed of initialisation and sampling.
    pub seed: u64,
}

impl Default for StudentConfig {
    fn default() -> Self {
        Self {
            method: Method::Acgd,
            chunk: 8,
            codes: 128,
            code_width: 32,
            alpha: 1.0,
            usage_weight: 1.0,
            eta: 0.1,
            critic_span: CriticSpan::Chunk,
            q_norm: QNorm::MeanAbs,
            kl_weight: 10.0,
            width: 64,
            heads: 4,
            layers: 2,
            decoder_layers: 2,
            history: 3,
            tokenizer_steps: 3000,
            steps: 6000,
            start_share: 0.25,
            start_window: 8,
            batch: 128,
            lr: 1e-3,
            lr_schedule: LrSchedule::Constant,
            train_goal: TrainGoal::LastFrame,
            select_every: 0,
            select_episodes: 20,
            encoder: EncoderConfig::default(),
            seed: 1,
        }
    }
}

impl StudentConfig {
    /// Reject values no network can be built from.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, message: String| Err(LearnError::Config { field, message });
        if self.chunk == 0 {
            return bad("chunk", "must be at least 1".into());
        }
        if self.codes < 2 {
            return bad(
                "codes",
                format!("need at least 2 codes, got {}", self.codes),
            );
        }
        if self.code_width == 0 || self.width == 0 || self.history == 0 || self.batch == 0 {
            return bad(
                "width",
                "code_width, width, history and batch must be positive".into(),
            );
        }
        if self.heads == 0 || !self.width.is_multiple_of(self.heads) {
            return bad(
                "heads",
                format!("{} heads do not divide width {}", self.heads, self.width),
            );
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return bad(
                "alpha",
                format!("must be finite and >= 0, got {}", self.alpha),
            );
        }
        if !(self.eta.is_finite() && self.eta >= 0.0) {
            return bad("eta", format!("must be finite and >= 0, got {}", self.eta));
        }
        if !(0.0..=1.0).contains(&self.start_share) {
            return bad(
                "start_share",
                format!("must be in [0, 1], got {}", self.start_share),
            );
        }
        if self.start_share > 0.0 && self.start_window == 0 {
            return bad(
                "start_window",
                "must be at least 1 with start_share > 0".into(),
            );
        }
        if self.select_every > 0 && self.select_episodes == 0 {
            return bad(
                "select_episodes",
                "must be at least 1 when select_every > 0".into(),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("must be positive, got {}", self.lr));
        }
        if self.encoder.channels.is_empty() || self.encoder.features == 0 {
            return bad(
                "encoder",
                "needs at least one conv layer and features > 0".into(),
            );
        }
        Ok(())
    }
}
