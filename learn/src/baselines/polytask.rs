//! PolyTask behaviour distillation's unified policy `Π(o, g)`: frozen
//! image features, the goal (a one-hot task slot or the goal image's
//! features) and normalised proprio through an MLP to a `tanh` action.
//!
//! Checkpoint: `polytask.safetensors` and `polytask.json` beside it
//! (format [`POLYTASK_FORMAT`]).

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::baselines::common::{
    check_format, check_inputs, load_weights, meta_path, normalise_row, save_weights,
};
use crate::error::{LearnError, Result};
use crate::fsio::{read_json, write_json};
use crate::student::config::EncoderConfig;
use crate::student::encoder::{ImageEncoder, images_tensor};
use crate::student::model::Dims;
use crate::student::nn::Dense;

/// Format tag of `polytask.json`.
pub const POLYTASK_FORMAT: &str = "dexstudio-polytask/1";

/// How the unified policy is told which task to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GoalMode {
    /// A one-hot task slot (slots for the whole curriculum up front, so a
    /// lifelong policy never changes shape).
    OneHot,
    /// The frozen features of the episode's goal image.
    Image,
}

/// How a lifelong run turns stage `k - 1`'s policy into stage `k`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LifelongMode {
    /// PolyTask: distil from every relabelled buffer seen so far.
    Distill,
    /// Sequential fine-tuning: train on the newest task's buffer only,
    /// starting from the previous policy (the forgetting baseline).
    Finetune,
}

impl LifelongMode {
    /// The folder / CLI name.
    pub fn name(self) -> &'static str {
        match self {
            LifelongMode::Distill => "distill",
            LifelongMode::Finetune => "finetune",
        }
    }
}

/// Every knob of PolyTask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolyTaskConfig {
    /// Goal conditioning.
    pub goal: GoalMode,
    /// Image side of the regenerated buffers (match the dataset's).
    pub image_size: usize,
    /// Relabelled frames per task buffer.
    pub frames_per_task: usize,
    /// Standard deviation of the Gaussian exploration noise on actions.
    pub noise: f32,
    /// Hidden widths of the MLP.
    pub hidden: Vec<usize>,
    /// Gradient steps (per stage in lifelong runs).
    pub steps: usize,
    /// Batch size; every batch comes from one task buffer.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Lifelong modes to run.
    pub lifelong: Vec<LifelongMode>,
    /// Lifelong distillation starts each stage from the previous policy
    /// instead of a fresh one (the paper distils each `Π_N` afresh).
    pub warm_start: bool,
    /// Image encoder (pre-trained on the buffers' frames, then frozen).
    pub encoder: EncoderConfig,
    /// Seed of buffers, initialisation and sampling.
    pub seed: u64,
}

impl Default for PolyTaskConfig {
    fn default() -> Self {
        Self {
            goal: GoalMode::OneHot,
            image_size: 64,
            frames_per_task: 3000,
            noise: 0.25,
            hidden: vec![256, 256],
            steps: 4000,
            batch: 128,
            lr: 1e-3,
            lifelong: vec![LifelongMode::Distill, LifelongMode::Finetune],
            warm_start: false,
            encoder: EncoderConfig::default(),
            seed: 1,
        }
    }
}

impl PolyTaskConfig {
    /// Reject values no network can be built or trained from.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, message: &str| {
            Err(LearnError::Config {
                field,
                message: message.into(),
            })
        };
        if self.frames_per_task == 0 || self.batch == 0 || self.image_size == 0 {
            return bad(
                "frames_per_task",
                "frames_per_task, batch and image_size must be positive",
            );
        }
        if self.hidden.contains(&0) {
            return bad("hidden", "hidden widths must be positive");
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return bad("noise", "must be finite and >= 0");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", "must be positive");
        }
        if self.encoder.channels.is_empty() || self.encoder.features == 0 {
            return bad("encoder", "needs at least one conv layer and features > 0");
        }
        Ok(())
    }
}

/// The unified policy's networks.
pub struct PolyTaskNets {
    /// Every variable (`enc.*` is the frozen encoder).
    pub map: VarMap,
    /// Image encoder.
    pub encoder: ImageEncoder,
    layers: Vec<Dense>,
    /// Widths (`tasks` = one-hot slots).
    pub dims: Dims,
    /// Knobs.
    pub cfg: PolyTaskConfig,
}

impl PolyTaskNets {
    /// Build (weights seeded from `seed`).
    pub fn new(cfg: &PolyTaskConfig, dims: Dims, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let encoder = ImageEncoder::new(&cfg.encoder, dims.image, vb.pp("enc"))?;
        let mut inp = cfg.encoder.features + Self::goal_width(cfg, dims) + dims.proprio;
        let mut layers = Vec::with_capacity(cfg.hidden.len() + 1);
        for (i, &h) in cfg.hidden.iter().chain([&dims.action]).enumerate() {
            layers.push(Dense::new(inp, h, vb.pp(format!("pi{i}")))?);
            inp = h;
        }
        crate::init::seeded_init(&map, seed)?;
        Ok(Self {
            map,
            encoder,
            layers,
            dims,
            cfg: cfg.clone(),
        })
    }

    /// Width of the goal input.
    pub fn goal_width(cfg: &PolyTaskConfig, dims: Dims) -> usize {
        match cfg.goal {
            GoalMode::OneHot => dims.tasks,
            GoalMode::Image => cfg.encoder.features,
        }
    }

    /// `[B, F + G + P]` (features, goal, proprio) to actions `[B, A]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            h = if i == last { h.tanh()? } else { h.relu()? };
        }
        Ok(h)
    }

    /// Copy the variables whose names start with `prefix` (`enc.` for the
    /// frozen encoder, `pi` for the policy) from `other`.
    pub fn copy_from(&self, other: &PolyTaskNets, prefix: &str) -> Result<()> {
        let theirs = other
            .map
            .data()
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        for (name, var) in crate::student::encoder::named_vars(&self.map, prefix) {
            if let Some(t) = theirs.get(&name) {
                var.set(t.as_tensor())?;
            }
        }
        Ok(())
    }
}

/// What `polytask.json` says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolyTaskMeta {
    /// [`POLYTASK_FORMAT`].
    pub format: String,
    /// Every knob.
    pub config: PolyTaskConfig,
    /// Data widths (`tasks` = one-hot slots).
    pub dims: Dims,
    /// Task names by slot (the whole curriculum in lifelong runs).
    pub tasks: Vec<String>,
    /// Tasks whose buffers this policy was trained on.
    pub trained_on: Vec<String>,
    /// `None` for multi-task distillation, else the lifelong mode.
    pub lifelong: Option<LifelongMode>,
    /// Lifelong stage (tasks seen - 1); 0 for multi-task.
    pub stage: usize,
    /// Relabelled frames per task.
    pub frames_per_task: Vec<usize>,
    /// Loss of the last step.
    pub final_loss: f32,
    /// Training samples per second.
    pub samples_per_s: f64,
    /// Wall-clock seconds of the whole run so far (buffers included).
    pub wall_s: f64,
    /// Weights file beside this one.
    pub weights: String,
    /// FNV-1a of the weights file.
    pub weights_fnv1a: String,
}

/// A trained unified policy.
pub struct PolyTask {
    /// What the JSON says.
    pub meta: PolyTaskMeta,
    /// The networks.
    pub nets: PolyTaskNets,
    /// Proprioception mean per dimension.
    pub proprio_mean: Vec<f32>,
    /// Proprioception standard deviation per dimension.
    pub proprio_std: Vec<f32>,
}

impl PolyTask {
    /// Write `polytask.safetensors`, then `polytask.json` (last: it vouches).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let weights = dir.join("polytask.safetensors");
        let hash = save_weights(
            &weights,
            &self.nets.map,
            &self.proprio_mean,
            &self.proprio_std,
        )?;
        let mut meta = self.meta.clone();
        meta.format = POLYTASK_FORMAT.into();
        meta.weights = "polytask.safetensors".into();
        meta.weights_fnv1a = hash;
        write_json(&dir.join("polytask.json"), &meta)
    }

    /// Load from a folder (or its `polytask.json`).
    pub fn load(path: &Path) -> Result<Self> {
        let json = meta_path(path, "polytask.json");
        if !json.exists() {
            return Err(LearnError::checkpoint(
                &json,
                "no PolyTask policy here; train one with `dexstudio distill --method polytask`",
            ));
        }
        let meta: PolyTaskMeta = read_json(&json)?;
        check_format(&json, &meta.format, POLYTASK_FORMAT)?;
        let nets = PolyTaskNets::new(&meta.config, meta.dims, meta.config.seed)
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
    pub fn slot(&self, task: &str) -> Result<usize> {
        self.meta
            .tasks
            .iter()
            .position(|t| t == task)
            .ok_or_else(|| LearnError::Config {
                field: "task",
                message: format!(
                    "the PolyTask policy knows {}, not `{task}`",
                    self.meta.tasks.join(", ")
                ),
            })
    }
}

/// One-hot row of `slot` among `n`.
pub fn one_hot(slot: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| f32::from(u8::from(i == slot))).collect()
}

/// Per-episode state of a PolyTask rollout (the policy is memoryless; the
/// goal vector is computed once).
pub struct PolyTaskRollout {
    model: Arc<PolyTask>,
    goal: Vec<f32>,
}

impl PolyTaskRollout {
    /// Start an episode of `task` with its goal image (RGB bytes; only read
    /// in [`GoalMode::Image`], but always checked for size).
    pub fn new(model: Arc<PolyTask>, task: &str, goal_image: &[u8]) -> Result<Self> {
        let slot = model.slot(task)?;
        let nets = &model.nets;
        let size = nets.dims.image;
        check_inputs(
            goal_image,
            size,
            &vec![0.0; nets.dims.proprio],
            nets.dims.proprio,
        )?;
        let goal = match nets.cfg.goal {
            GoalMode::OneHot => one_hot(slot, nets.dims.tasks),
            GoalMode::Image => nets
                .encoder
                .forward(&images_tensor(&[goal_image], size)?)?
                .flatten_all()?
                .to_vec1()?,
        };
        Ok(Self { model, goal })
    }

    /// The action for this step's image and proprioception.
    pub fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>> {
        let m = &self.model;
        let nets = &m.nets;
        check_inputs(image, nets.dims.image, proprio, nets.dims.proprio)?;
        let mut x: Vec<f32> = nets
            .encoder
            .forward(&images_tensor(&[image], nets.dims.image)?)?
            .flatten_all()?
            .to_vec1()?;
        x.extend_from_slice(&self.goal);
        x.extend(normalise_row(proprio, &m.proprio_mean, &m.proprio_std));
        let n = x.len();
        let a: Vec<f32> = nets
            .forward(&Tensor::from_vec(x, (1, n), &Device::Cpu)?)?
            .flatten_all()?
            .to_vec1()?;
        if a.iter().any(|v| !v.is_finite()) {
            return Err(LearnError::Config {
                field: "action",
                message: "the PolyTask policy produced a non-finite action".into(),
            });
        }
        Ok(a)
    }
}
