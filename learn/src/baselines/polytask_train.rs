//! Training PolyTask: regenerate and relabel one buffer per task, pre-train
//! and freeze the image encoder on the buffers' frames, then regress the
//! unified policy on the relabelled actions with MSE, every gradient step
//! drawing its whole batch from one task buffer chosen uniformly (the
//! paper's sampling). Lifelong runs repeat the regression once per arriving
//! task, either over every buffer so far (PolyTask) or over the newest one
//! starting from the previous policy (sequential fine-tuning).
//!
//! The frozen encoder and the proprio statistics are fitted once on every
//! task's buffer and shared by all stages and modes: they play the part of
//! the paper's fixed pre-trained backbone, so both modes see the same
//! features and differ only in what the policy is trained on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use dexsim::Catalog;

use crate::adam::{Adam, AdamConfig};
use crate::baselines::common::{
    BaselineProgress, FeatureData, Phase, cancelled, frozen_features, normalise_row, proprio_stats,
    step_rng,
};
use crate::baselines::polytask::{
    GoalMode, LifelongMode, PolyTask, PolyTaskConfig, PolyTaskMeta, PolyTaskNets, one_hot,
};
use crate::baselines::relabel::{TaskBuffer, regenerate_buffer};
use crate::error::{LearnError, Result};
use crate::expert::Expert;
use crate::fsio::{read_json, write_json};
use crate::student::encoder::{encode_all, named_vars};
use crate::student::model::Dims;
use crate::train::Control;

/// Salt of the batch-sampling streams.
const SALT: u64 = 0x5017_d157;

/// Format tag of `lifelong.json`, the index of a lifelong run.
pub const LIFELONG_FORMAT: &str = "dexstudio-polytask-lifelong/1";

/// Buffers, cached features and normalisers shared by every stage.
struct Prepared {
    buffers: Vec<TaskBuffer>,
    /// Per buffer, `[n * F]` frame features.
    features: Vec<Vec<f32>>,
    /// Per buffer, `[n * G]` goal inputs (one-hot or goal-image features).
    goals: Vec<Vec<f32>>,
    /// Per buffer, `[n * P]` normalised proprio.
    proprio: Vec<Vec<f32>>,
    mean: Vec<f32>,
    std: Vec<f32>,
    dims: Dims,
    /// Holds the pre-trained encoder every stage copies.
    base: PolyTaskNets,
    started: Instant,
}

fn prepare(
    catalog: &Catalog,
    tasks: &[String],
    experts: &dyn Fn(&str) -> Result<Expert>,
    cfg: &PolyTaskConfig,
    control: &Control,
    progress: &mut dyn FnMut(&BaselineProgress),
) -> Result<Prepared> {
    cfg.validate()?;
    if tasks.is_empty() {
        return Err(LearnError::Config {
            field: "tasks",
            message: "PolyTask needs at least one task".into(),
        });
    }
    let started = Instant::now();
    let total = cfg.frames_per_task * tasks.len();
    let mut buffers: Vec<TaskBuffer> = Vec::with_capacity(tasks.len());
    for task in tasks {
        let expert = experts(task)?;
        let done: usize = buffers.iter().map(TaskBuffer::len).sum();
        let t0 = Instant::now();
        let b = regenerate_buffer(
            catalog,
            task,
            &expert,
            cfg.frames_per_task,
            cfg.image_size,
            cfg.noise,
            cfg.seed,
            control,
            &mut |n| {
                progress(&BaselineProgress {
                    phase: Phase::Buffer,
                    stage: 0,
                    step: done + n,
                    total,
                    loss: 0.0,
                    samples_per_s: n as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                })
            },
        )?;
        if let Some(first) = buffers.first()
            && (first.action_dim, first.proprio_dim) != (b.action_dim, b.proprio_dim)
        {
            return Err(LearnError::Config {
                field: "tasks",
                message: format!(
                    "`{task}` has {} actions and {} proprio values, `{}` {} and {}: \
                     one unified policy needs one hand",
                    b.action_dim, b.proprio_dim, first.task, first.action_dim, first.proprio_dim
                ),
            });
        }
        buffers.push(b);
    }
    let dims = Dims {
        tasks: tasks.len(),
        action: buffers[0].action_dim,
        proprio: buffers[0].proprio_dim,
        image: cfg.image_size,
    };
    let base = PolyTaskNets::new(cfg, dims, cfg.seed)?;
    let images: Vec<u8> = buffers
        .iter()
        .flat_map(|b| b.images.iter().copied())
        .collect();
    let data = FeatureData {
        images: &images,
        size: cfg.image_size,
        states: buffers
            .iter()
            .enumerate()
            .flat_map(|(s, b)| {
                b.states
                    .chunks_exact(b.state_dim.max(1))
                    .map(move |r| (s, r))
            })
            .collect(),
        state_dims: buffers.iter().map(|b| b.state_dim).collect(),
    };
    let all = frozen_features(
        &base.encoder,
        &base.map,
        &cfg.encoder,
        &data,
        cfg.seed,
        control,
        progress,
    )?;
    drop(images);
    let f = cfg.encoder.features;
    let mut features = Vec::with_capacity(buffers.len());
    let mut at = 0;
    for b in &buffers {
        features.push(all[at * f..(at + b.len()) * f].to_vec());
        at += b.len();
    }
    let every: Vec<f32> = buffers
        .iter()
        .flat_map(|b| b.proprio.iter().copied())
        .collect();
    let (mean, std) = proprio_stats(&every, dims.proprio);
    let proprio = buffers
        .iter()
        .map(|b| {
            b.proprio
                .chunks_exact(dims.proprio.max(1))
                .flat_map(|r| normalise_row(r, &mean, &std))
                .collect()
        })
        .collect();
    let mut goals = Vec::with_capacity(buffers.len());
    for (slot, b) in buffers.iter().enumerate() {
        let per_episode: Vec<f32> = match cfg.goal {
            GoalMode::OneHot => one_hot(slot, dims.tasks),
            GoalMode::Image => encode_all(&base.encoder, &b.goals, cfg.image_size, 256, |_| {})?,
        };
        let g = PolyTaskNets::goal_width(cfg, dims);
        let row = |e: u32| match cfg.goal {
            GoalMode::OneHot => &per_episode[..],
            GoalMode::Image => &per_episode[e as usize * g..(e as usize + 1) * g],
        };
        goals.push(b.episode.iter().flat_map(|&e| row(e).to_vec()).collect());
    }
    Ok(Prepared {
        buffers,
        features,
        goals,
        proprio,
        mean,
        std,
        dims,
        base,
        started,
    })
}

/// Regress `nets` for `cfg.steps` steps on `which` buffers; returns the
/// last loss and the samples per second.
#[allow(clippy::too_many_arguments)]
fn regress(
    nets: &PolyTaskNets,
    prep: &Prepared,
    which: &[usize],
    cfg: &PolyTaskConfig,
    salt: u64,
    stage: usize,
    control: &Control,
    progress: &mut dyn FnMut(&BaselineProgress),
) -> Result<(f32, f64)> {
    let mut opt = Adam::new(
        named_vars(&nets.map, "pi"),
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    );
    let (f, p, a) = (cfg.encoder.features, prep.dims.proprio, prep.dims.action);
    let g = PolyTaskNets::goal_width(cfg, prep.dims);
    let t0 = Instant::now();
    let mut last = f32::NAN;
    for step in 0..cfg.steps {
        if control.wait_or_cancelled() {
            return Err(cancelled(&format!(
                "PolyTask training (stage {stage}, step {step})"
            )));
        }
        let mut rng = step_rng(cfg.seed, SALT ^ salt, step);
        // One task buffer per gradient step, as the paper samples.
        let b = which[rng.random_range(0..which.len())];
        let n = prep.buffers[b].len();
        let mut x = Vec::with_capacity(cfg.batch * (f + g + p));
        let mut y = Vec::with_capacity(cfg.batch * a);
        for _ in 0..cfg.batch {
            let i = rng.random_range(0..n);
            x.extend_from_slice(&prep.features[b][i * f..(i + 1) * f]);
            x.extend_from_slice(&prep.goals[b][i * g..(i + 1) * g]);
            x.extend_from_slice(&prep.proprio[b][i * p..(i + 1) * p]);
            y.extend_from_slice(&prep.buffers[b].actions[i * a..(i + 1) * a]);
        }
        let x = Tensor::from_vec(x, (cfg.batch, f + g + p), &Device::Cpu)?;
        let y = Tensor::from_vec(y, (cfg.batch, a), &Device::Cpu)?;
        let loss = (nets.forward(&x)? - y)?.sqr()?.mean_all()?;
        last = loss.to_scalar::<f32>()?;
        if !last.is_finite() {
            return Err(LearnError::Diverged {
                step: step as u64,
                what: format!("PolyTask loss is {last} (stage {stage})"),
                last_good: None,
            });
        }
        opt.step(&loss.backward()?)?;
        progress(&BaselineProgress {
            phase: Phase::Policy,
            stage,
            step: step + 1,
            total: cfg.steps,
            loss: last,
            samples_per_s: ((step + 1) * cfg.batch) as f64 / t0.elapsed().as_secs_f64().max(1e-9),
        });
    }
    let rate = (cfg.steps * cfg.batch) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    Ok((last, rate))
}

/// Wrap trained `nets` with their metadata and save them in `dir`.
#[allow(clippy::too_many_arguments)]
fn finish(
    nets: PolyTaskNets,
    prep: &Prepared,
    tasks: &[String],
    which: &[usize],
    lifelong: Option<LifelongMode>,
    stage: usize,
    (final_loss, samples_per_s): (f32, f64),
    dir: &Path,
) -> Result<PolyTask> {
    let policy = PolyTask {
        meta: PolyTaskMeta {
            format: String::new(),
            config: nets.cfg.clone(),
            dims: prep.dims,
            tasks: tasks.to_vec(),
            trained_on: which.iter().map(|&b| tasks[b].clone()).collect(),
            lifelong,
            stage,
            frames_per_task: prep.buffers.iter().map(TaskBuffer::len).collect(),
            final_loss,
            samples_per_s,
            wall_s: prep.started.elapsed().as_secs_f64(),
            weights: String::new(),
            weights_fnv1a: String::new(),
        },
        nets,
        proprio_mean: prep.mean.clone(),
        proprio_std: prep.std.clone(),
    };
    policy.save(dir)?;
    Ok(policy)
}

/// Multi-task PolyTask: distil the experts of `tasks` (looked up with
/// `experts`) into one policy saved in `out` (`polytask.*`).
pub fn train_polytask(
    catalog: &Catalog,
    tasks: &[String],
    experts: &dyn Fn(&str) -> Result<Expert>,
    cfg: &PolyTaskConfig,
    out: &Path,
    control: &Control,
    mut progress: impl FnMut(&BaselineProgress),
) -> Result<PolyTask> {
    let mut prep = prepare(catalog, tasks, experts, cfg, control, &mut progress)?;
    let nets = PolyTaskNets::new(cfg, prep.dims, cfg.seed)?;
    nets.copy_from(&prep.base, "enc.")?;
    let which: Vec<usize> = (0..tasks.len()).collect();
    let stats = regress(&nets, &prep, &which, cfg, 0, 0, control, &mut progress)?;
    let policy = finish(nets, &prep, tasks, &which, None, 0, stats, out)?;
    prep.buffers.clear();
    progress(&BaselineProgress {
        phase: Phase::Done,
        stage: 0,
        step: cfg.steps,
        total: cfg.steps,
        loss: stats.0,
        samples_per_s: stats.1,
    });
    Ok(policy)
}

/// One policy of a lifelong run.
#[derive(Clone)]
pub struct LifelongStage {
    /// Distillation or fine-tuning.
    pub mode: LifelongMode,
    /// Stage `k`: tasks `0..=k` have arrived.
    pub stage: usize,
    /// Tasks seen so far, in arrival order: the effective number of tasks
    /// of this stage is the sum of their success rates.
    pub seen: Vec<String>,
    /// Folder of the checkpoint.
    pub dir: PathBuf,
    /// The policy.
    pub policy: Arc<PolyTask>,
}

/// An entry of `lifelong.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct IndexEntry {
    mode: LifelongMode,
    stage: usize,
    seen: Vec<String>,
    dir: String,
}

/// `lifelong.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Index {
    format: String,
    tasks: Vec<String>,
    stages: Vec<IndexEntry>,
}

/// Lifelong PolyTask: `tasks` arrive in order; after each arrival, one
/// policy per mode of `cfg.lifelong` is trained and saved in
/// `out/lifelong/<mode>/stage-<k>/`, indexed by `out/lifelong.json`.
/// Returns every stage's policy, modes in config order.
pub fn train_polytask_lifelong(
    catalog: &Catalog,
    tasks: &[String],
    experts: &dyn Fn(&str) -> Result<Expert>,
    cfg: &PolyTaskConfig,
    out: &Path,
    control: &Control,
    mut progress: impl FnMut(&BaselineProgress),
) -> Result<Vec<LifelongStage>> {
    if cfg.lifelong.is_empty() {
        return Err(LearnError::Config {
            field: "lifelong",
            message: "name at least one mode (distill, finetune)".into(),
        });
    }
    let prep = prepare(catalog, tasks, experts, cfg, control, &mut progress)?;
    let mut stages = Vec::new();
    for (m, &mode) in cfg.lifelong.iter().enumerate() {
        let mut prev: Option<Arc<PolyTask>> = None;
        for k in 0..tasks.len() {
            let nets = PolyTaskNets::new(cfg, prep.dims, cfg.seed)?;
            nets.copy_from(&prep.base, "enc.")?;
            let carry = mode == LifelongMode::Finetune || cfg.warm_start;
            if let (true, Some(p)) = (carry, &prev) {
                nets.copy_from(&p.nets, "pi")?;
            }
            let which: Vec<usize> = match mode {
                LifelongMode::Distill => (0..=k).collect(),
                LifelongMode::Finetune => vec![k],
            };
            let salt = ((m as u64) << 32) ^ (k as u64 + 1);
            let stats = regress(&nets, &prep, &which, cfg, salt, k, control, &mut progress)?;
            let dir = out
                .join("lifelong")
                .join(mode.name())
                .join(format!("stage-{k}"));
            let policy = Arc::new(finish(
                nets,
                &prep,
                tasks,
                &which,
                Some(mode),
                k,
                stats,
                &dir,
            )?);
            stages.push(LifelongStage {
                mode,
                stage: k,
                seen: tasks[..=k].to_vec(),
                dir,
                policy: Arc::clone(&policy),
            });
            prev = Some(policy);
        }
    }
    let index = Index {
        format: LIFELONG_FORMAT.into(),
        tasks: tasks.to_vec(),
        stages: stages
            .iter()
            .map(|s| IndexEntry {
                mode: s.mode,
                stage: s.stage,
                seen: s.seen.clone(),
                dir: format!("lifelong/{}/stage-{}", s.mode.name(), s.stage),
            })
            .collect(),
    };
    write_json(&out.join("lifelong.json"), &index)?;
    progress(&BaselineProgress {
        phase: Phase::Done,
        stage: tasks.len() - 1,
        step: cfg.steps,
        total: cfg.steps,
        loss: stages.last().map_or(0.0, |s| s.policy.meta.final_loss),
        samples_per_s: 0.0,
    });
    Ok(stages)
}

/// Load every stage of the lifelong run in `out` (its `lifelong.json`).
pub fn load_lifelong(out: &Path) -> Result<Vec<LifelongStage>> {
    let json = out.join("lifelong.json");
    if !json.exists() {
        return Err(LearnError::checkpoint(
            &json,
            "no lifelong run here; train one with `dexstudio distill --method polytask --lifelong`",
        ));
    }
    let index: Index = read_json(&json)?;
    crate::baselines::common::check_format(&json, &index.format, LIFELONG_FORMAT)?;
    index
        .stages
        .into_iter()
        .map(|e| {
            let dir = out.join(&e.dir);
            Ok(LifelongStage {
                mode: e.mode,
                stage: e.stage,
                seen: e.seen,
                policy: Arc::new(PolyTask::load(&dir)?),
                dir,
            })
        })
        .collect()
}
