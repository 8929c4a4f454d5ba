//! BC-RNN (robomimic's recurrent behaviour cloning): a GRU over windows of
//! `[image features, goal features, task embedding, proprio]` predicting
//! the expert's action at every step; at test time one action per step,
//! the hidden state carried from step to step and zeroed every
//! `reset_every` steps (robomimic's reset every window; 8 by default,
//! which did better than carrying it across the whole episode).
//!
//! Checkpoint: `bcrnn.safetensors` (encoder, GRU, head, proprio
//! statistics) and `bcrnn.json` beside it (format [`BC_RNN_FORMAT`]).

use std::path::Path;
use std::sync::Arc;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::baselines::common::{
    check_format, check_inputs, load_weights, meta_path, normalise_row, save_weights,
};
use crate::baselines::gru::Gru;
use crate::error::{LearnError, Result};
use crate::fsio::{read_json, write_json};
use crate::student::config::EncoderConfig;
use crate::student::encoder::{ImageEncoder, images_tensor};
use crate::student::model::Dims;
use crate::student::nn::Dense;

/// Format tag of `bcrnn.json`.
pub const BC_RNN_FORMAT: &str = "dexstudio-bcrnn/1";

/// The regression loss on actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionLoss {
    /// Mean squared error (robomimic's BC-RNN without a GMM head).
    Mse,
    /// Mean absolute error (the student's `L_act`).
    L1,
}

/// Every knob of BC-RNN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BcRnnConfig {
    /// Window length `T` of the training sequences (robomimic: 10).
    pub seq_len: usize,
    /// GRU width.
    pub hidden: usize,
    /// Width of the action head's hidden layer.
    pub head: usize,
    /// Width of the learned task embedding.
    pub task_embedding: usize,
    /// Regression loss.
    pub loss: ActionLoss,
    /// Standard deviation of Gaussian noise added in training to the
    /// current frame's features and normalised proprio (robomimic's
    /// Gaussian observation randomiser): from a few dozen demonstrations a
    /// recurrent policy otherwise memorises them and drifts off at test time.
    pub input_noise: f32,
    /// Gradient steps.
    pub steps: usize,
    /// Sequences per batch.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Demonstrations used per task.
    pub episodes_per_task: usize,
    /// At test time, zero the hidden state every this many steps
    /// (robomimic resets every window); 0 carries it across the episode.
    /// Default 8: resetting did better than carrying the state over the
    /// episode, whose length the training windows never reach.
    pub reset_every: usize,
    /// Image encoder (pre-trained on the demonstrations, then frozen).
    pub encoder: EncoderConfig,
    /// Seed of initialisation and sampling.
    pub seed: u64,
}

impl Default for BcRnnConfig {
    fn default() -> Self {
        Self {
            seq_len: 10,
            hidden: 128,
            head: 128,
            task_embedding: 16,
            loss: ActionLoss::Mse,
            input_noise: 0.3,
            steps: 6000,
            batch: 32,
            lr: 1e-3,
            episodes_per_task: 100,
            reset_every: 8,
            encoder: EncoderConfig::default(),
            seed: 1,
        }
    }
}

impl BcRnnConfig {
    /// Reject values no network can be built or trained from.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, message: &str| {
            Err(LearnError::Config {
                field,
                message: message.into(),
            })
        };
        if self.seq_len == 0 || self.batch == 0 || self.episodes_per_task == 0 {
            return bad(
                "seq_len",
                "seq_len, batch and episodes_per_task must be positive",
            );
        }
        if self.hidden == 0 || self.head == 0 || self.task_embedding == 0 {
            return bad("hidden", "hidden, head and task_embedding must be positive");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", "must be positive");
        }
        if !(self.input_noise.is_finite() && self.input_noise >= 0.0) {
            return bad("input_noise", "must be finite and >= 0");
        }
        if self.encoder.channels.is_empty() || self.encoder.features == 0 {
            return bad("encoder", "needs at least one conv layer and features > 0");
        }
        Ok(())
    }
}

/// The networks of BC-RNN, in one variable map.
pub struct BcRnnNets {
    /// Every variable (`enc.*` is the frozen encoder).
    pub map: VarMap,
    /// Image encoder.
    pub encoder: ImageEncoder,
    task_emb: Tensor,
    /// The recurrent core.
    pub gru: Gru,
    head0: Dense,
    head1: Dense,
    /// Widths.
    pub dims: Dims,
    /// Knobs.
    pub cfg: BcRnnConfig,
}

impl BcRnnNets {
    /// Build (weights seeded from `cfg.seed`).
    pub fn new(cfg: &BcRnnConfig, dims: Dims) -> Result<Self> {
        cfg.validate()?;
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let f = cfg.encoder.features;
        let encoder = ImageEncoder::new(&cfg.encoder, dims.image, vb.pp("enc"))?;
        let task_emb = vb.get((dims.tasks.max(1), cfg.task_embedding), "task_emb.weight")?;
        let inp = 2 * f + cfg.task_embedding + dims.proprio;
        let gru = Gru::new(inp, cfg.hidden, vb.pp("gru"))?;
        let head0 = Dense::new(cfg.hidden, cfg.head, vb.pp("head0"))?;
        let head1 = Dense::new(cfg.head, dims.action, vb.pp("head1"))?;
        crate::init::seeded_init(&map, cfg.seed)?;
        Ok(Self {
            map,
            encoder,
            task_emb,
            gru,
            head0,
            head1,
            dims,
            cfg: cfg.clone(),
        })
    }

    /// Task embeddings of slots `[B]` as `[B, E]`.
    pub fn task(&self, slots: &Tensor) -> Result<Tensor> {
        Ok(self.task_emb.index_select(slots, 0)?)
    }

    /// GRU inputs: `seen: [B, T, 2F + P]` (image and goal features, then
    /// proprio) with the task embedding `[B, E]` spliced in before proprio.
    pub fn inputs(&self, seen: &Tensor, task: &Tensor) -> Result<Tensor> {
        let (b, t, _) = seen.dims3()?;
        let f2 = 2 * self.cfg.encoder.features;
        let e = task
            .unsqueeze(1)?
            .broadcast_as((b, t, self.cfg.task_embedding))?;
        let p = self.dims.proprio;
        Ok(Tensor::cat(
            &[
                &seen.narrow(D::Minus1, 0, f2)?,
                &e,
                &seen.narrow(D::Minus1, f2, p)?,
            ],
            D::Minus1,
        )?)
    }

    /// Actions in `[-1, 1]` from hidden states `[.., H]`.
    pub fn head(&self, h: &Tensor) -> Result<Tensor> {
        Ok(self
            .head1
            .forward(&self.head0.forward(h)?.relu()?)?
            .tanh()?)
    }

    /// Actions `[B, T, A]` of windows that start from a zero hidden state.
    pub fn forward(&self, seen: &Tensor, task: &Tensor) -> Result<Tensor> {
        let b = seen.dim(0)?;
        let h0 = Tensor::zeros((b, self.cfg.hidden), DType::F32, &Device::Cpu)?;
        let (hs, _) = self.gru.forward(&self.inputs(seen, task)?, &h0)?;
        self.head(&hs)
    }
}

/// What `bcrnn.json` says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BcRnnMeta {
    /// [`BC_RNN_FORMAT`].
    pub format: String,
    /// Every knob.
    pub config: BcRnnConfig,
    /// Data widths.
    pub dims: Dims,
    /// Task names by slot.
    pub tasks: Vec<String>,
    /// Demonstrations used per task.
    pub episodes_per_task: Vec<usize>,
    /// Dataset folder it learned from.
    pub dataset: String,
    /// Loss of the last step.
    pub final_loss: f32,
    /// Training samples (sequence steps) per second.
    pub samples_per_s: f64,
    /// Wall-clock seconds of training, encoder included.
    pub wall_s: f64,
    /// Weights file beside this one.
    pub weights: String,
    /// FNV-1a of the weights file.
    pub weights_fnv1a: String,
}

/// A trained BC-RNN policy.
pub struct BcRnn {
    /// What the JSON says.
    pub meta: BcRnnMeta,
    /// The networks.
    pub nets: BcRnnNets,
    /// Proprioception mean per dimension.
    pub proprio_mean: Vec<f32>,
    /// Proprioception standard deviation per dimension.
    pub proprio_std: Vec<f32>,
}

impl BcRnn {
    /// Write `bcrnn.safetensors`, then `bcrnn.json` (last: it vouches).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let weights = dir.join("bcrnn.safetensors");
        let hash = save_weights(
            &weights,
            &self.nets.map,
            &self.proprio_mean,
            &self.proprio_std,
        )?;
        let mut meta = self.meta.clone();
        meta.format = BC_RNN_FORMAT.into();
        meta.weights = "bcrnn.safetensors".into();
        meta.weights_fnv1a = hash;
        write_json(&dir.join("bcrnn.json"), &meta)
    }

    /// Load from a folder (or its `bcrnn.json`).
    pub fn load(path: &Path) -> Result<Self> {
        let json = meta_path(path, "bcrnn.json");
        if !json.exists() {
            return Err(LearnError::checkpoint(
                &json,
                "no BC-RNN policy here; train one with `dexstudio distill --method bc-rnn`",
            ));
        }
        let meta: BcRnnMeta = read_json(&json)?;
        check_format(&json, &meta.format, BC_RNN_FORMAT)?;
        let nets = BcRnnNets::new(&meta.config, meta.dims)
            .map_err(|e| LearnError::checkpoint(&json, e.to_string()))?;
        let dir = json.parent().map(Path::to_path_buf).unwrap_or_default();
        let (proprio_mean, proprio_std) = load_weights(
            &dir.join(&meta.weights),
            &meta.weights_fnv1a,
            &nets.map,
            meta.dims.proprio,
        )?;
        Ok(Self {
            meta,
            nets,
            proprio_mean,
            proprio_std,
        })
    }

    /// Slot of `task`.
    pub fn slot(&self, task: &str) -> Result<u32> {
        self.meta
            .tasks
            .iter()
            .position(|t| t == task)
            .map(|s| s as u32)
            .ok_or_else(|| LearnError::Config {
                field: "task",
                message: format!(
                    "the BC-RNN policy knows {}, not `{task}`",
                    self.meta.tasks.join(", ")
                ),
            })
    }
}

/// Per-episode state of a BC-RNN rollout: the hidden state is carried
/// from step to step and zeroed every `reset_every` steps.
pub struct BcRnnRollout {
    model: Arc<BcRnn>,
    goal: Vec<f32>,
    task: Tensor,
    h: Tensor,
    steps: usize,
}

impl BcRnnRollout {
    /// Start an episode of `task` with its goal image (RGB bytes).
    pub fn new(model: Arc<BcRnn>, task: &str, goal_image: &[u8]) -> Result<Self> {
        let slot = model.slot(task)?;
        let nets = &model.nets;
        let size = nets.dims.image;
        check_inputs(
            goal_image,
            size,
            &vec![0.0; nets.dims.proprio],
            nets.dims.proprio,
        )?;
        let goal = nets
            .encoder
            .forward(&images_tensor(&[goal_image], size)?)?
            .flatten_all()?
            .to_vec1()?;
        let task = nets.task(&Tensor::new(&[slot], &Device::Cpu)?)?;
        let h = Tensor::zeros((1, nets.cfg.hidden), DType::F32, &Device::Cpu)?;
        Ok(Self {
            model,
            goal,
            task,
            h,
            steps: 0,
        })
    }

    /// The action for this step's image and proprioception.
    pub fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>> {
        let m = &self.model;
        let nets = &m.nets;
        check_inputs(image, nets.dims.image, proprio, nets.dims.proprio)?;
        let every = nets.cfg.reset_every;
        if every > 0 && self.steps > 0 && self.steps.is_multiple_of(every) {
            self.h = self.h.zeros_like()?;
        }
        let feat = nets
            .encoder
            .forward(&images_tensor(&[image], nets.dims.image)?)?;
        let mut seen: Vec<f32> = feat.flatten_all()?.to_vec1()?;
        seen.extend_from_slice(&self.goal);
        seen.extend(normalise_row(proprio, &m.proprio_mean, &m.proprio_std));
        let n = seen.len();
        let seen = Tensor::from_vec(seen, (1, 1, n), &Device::Cpu)?;
        let x = nets.inputs(&seen, &self.task)?.squeeze(1)?;
        self.h = nets.gru.step(&x, &self.h)?;
        self.steps += 1;
        let a: Vec<f32> = nets.head(&self.h)?.flatten_all()?.to_vec1()?;
        if a.iter().any(|v| !v.is_finite()) {
            return Err(LearnError::Config {
                field: "action",
                message: "the BC-RNN policy produced a non-finite action".into(),
            });
        }
        Ok(a)
    }
}
