//! Distillation: pre-train and freeze the image encoder, cache features,
//! then train the student in two stages (tokenizer, then behaviour cloning
//! with or without the critic term) or, for the CVAE baselines, in one.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use dexsim::Catalog;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::adam::{Adam, AdamConfig};
use crate::error::{LearnError, Result};
use crate::expert::{Expert, read_tensors, write_tensors};
use crate::fsio::{file_hash, read_json, write_json};
use crate::student::ckpt::{Student, StudentMeta, load_vars};
use crate::student::config::{CriticSpan, StudentConfig};
use crate::student::corpus::{Corpus, normalise};
use crate::student::encoder::{self, PretrainData, encode_all, named_vars};
use crate::student::loss;
use crate::student::model::{StudentNets, VarGroup};
use crate::student::select::{SelectNote, Selector};
use crate::train::Control;

/// Where training is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Pre-training the image encoder.
    Encoder,
    /// Caching image features.
    Features,
    /// Stage (a): the action tokenizer (or the whole CVAE).
    Tokenizer,
    /// Stage (b): behaviour cloning with or without the critic.
    Policy,
    /// Finished.
    Done,
    /// Rolling validation episodes to select the policy-stage weights
    /// (`select_every`); reported, never a resume position.
    Validate,
}

/// Loss terms of one step (absent terms are 0).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Terms {
    /// Total loss.
    pub total: f32,
    /// `L_act`.
    pub act: f32,
    /// `L_code`.
    pub code: f32,
    /// `L_lat`.
    pub lat: f32,
    /// `L_distill` (normalised Q, negated).
    pub distill: f32,
    /// KL of the CVAE baselines.
    pub kl: f32,
    /// Codebook usage: `ln n_c - H(mean σ(z_e))` over the batch.
    pub usage: f32,
}

/// Progress, sent every step.
#[derive(Clone, Debug, Serialize)]
pub struct DistillProgress {
    /// Stage.
    pub stage: Stage,
    /// Step within the stage.
    pub step: usize,
    /// Steps of the stage.
    pub total: usize,
    /// Losses of the step.
    pub terms: Terms,
    /// Samples per second over the stage.
    pub samples_per_s: f64,
    /// The latest validation check, once there is one.
    pub selection: Option<SelectNote>,
}

/// Inputs to [`distill`].
pub struct DistillJob<'a> {
    /// Student knobs.
    pub cfg: StudentConfig,
    /// The frames.
    pub corpus: &'a Corpus,
    /// Per task slot, the frozen expert whose critic guides it.
    pub critics: Vec<Option<Expert>>,
    /// Output folder.
    pub out: PathBuf,
    /// An external image backbone instead of pre-training.
    pub backbone: Option<PathBuf>,
    /// Continue from `out/train.*`.
    pub resume: bool,
    /// Suite name, for the metadata.
    pub suite: String,
    /// Dataset folder, for the metadata.
    pub dataset: String,
    /// The command line, for the metadata.
    pub command: String,
    /// Save a resumable checkpoint every this many steps.
    pub save_every: usize,
    /// Start from this student's weights (encoder and tokenizer frozen as
    /// they are) and train stage (b) only: DAgger's retraining rounds.
    pub init: Option<PathBuf>,
    /// Row name for result tables (empty: the method's name).
    pub label: String,
    /// The tasks, to roll validation episodes when `cfg.select_every > 0`.
    pub catalog: Option<&'a Catalog>,
}

/// Resumable position, in `train.json`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
struct TrainState {
    stage: Stage,
    step: usize,
    weights_fnv1a: String,
    wall_s: f64,
    samples: u64,
}

/// Features and normalisers shared by every step.
struct Prepared {
    features: Vec<f32>,
    /// Features of `Corpus::goal_images` (empty without them).
    goal_features: Vec<f32>,
    mean: Vec<f32>,
    std: Vec<f32>,
    q_norms: Vec<f32>,
}

/// Run the whole distillation; returns the saved student.
pub fn distill(
    job: DistillJob,
    control: &Control,
    mut progress: impl FnMut(&DistillProgress),
) -> Result<Student> {
    job.cfg.validate()?;
    let c = job.corpus;
    if c.is_empty() {
        return Err(LearnError::Config {
            field: "corpus",
            message: "no frames to learn from".into(),
        });
    }
    std::fs::create_dir_all(&job.out).map_err(|e| LearnError::io(&job.out, e))?;
    let nets = StudentNets::new(&job.cfg, c.dims)?;
    let mut state = TrainState {
        stage: Stage::Encoder,
        step: 0,
        weights_fnv1a: String::new(),
        wall_s: 0.0,
        samples: 0,
    };
    if job.resume && (job.init.is_none() || job.out.join("train.json").exists()) {
        state = load_train(&job.out, &nets)?;
    } else if let Some(init) = &job.init {
        let from = Student::load(init)?;
        let tensors: std::collections::HashMap<String, Tensor> = named_vars(&from.nets.map, "")
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        load_vars(&nets, &tensors, &crate::student::ckpt::student_json(init))?;
        // Encoder pre-trained and tokenizer trained: straight to stage (b).
        state.stage = Stage::Features;
    }
    let skip_tokenizer = job.init.is_some();
    let mut selector = match (job.cfg.select_every, job.catalog) {
        (0, _) => None,
        (_, Some(catalog)) => Some(Selector::new(
            catalog,
            &job.out,
            &demonstrated(c),
            job.cfg.select_episodes,
            job.resume,
        )?),
        (_, None) => {
            return Err(LearnError::Config {
                field: "select_every",
                message: "checkpoint selection rolls the tasks: the job needs the catalog".into(),
            });
        }
    };
    let mut note = None;
    let started = Instant::now() - std::time::Duration::from_secs_f64(state.wall_s);
    let cfg = &job.cfg;

    if state.stage == Stage::Encoder {
        if let Some(b) = &job.backbone {
            encoder::load_backbone(&nets.map, b)?;
        } else {
            pretrain_encoder(&nets, c, cfg, control, &mut progress)?;
        }
        state.stage = Stage::Features;
        state.step = 0;
    }
    let (mean, std) = c.proprio_stats();
    let enc_t = Instant::now();
    let features = encode_all(&nets.encoder, &c.images, c.dims.image, 256, |done| {
        progress(&DistillProgress {
            stage: Stage::Features,
            step: done,
            total: c.len(),
            terms: Terms::default(),
            samples_per_s: done as f64 / enc_t.elapsed().as_secs_f64().max(1e-9),
            selection: None,
        });
    })?;
    let goal_features = if c.goal_images.is_empty() {
        Vec::new()
    } else {
        encode_all(&nets.encoder, &c.goal_images, c.dims.image, 256, |_| {})?
    };
    let prep = Prepared {
        features,
        goal_features,
        mean,
        std,
        q_norms: crate::student::qnorm::q_norms(c, &job.critics, cfg.q_norm)?,
    };
    if state.stage == Stage::Features {
        state.stage = Stage::Tokenizer;
        state.step = 0;
        save_train(&job.out, &nets, &state, None)?;
    }

    let quantized = cfg.method.quantized();
    let stages: &[(Stage, usize)] = if quantized {
        &[
            (Stage::Tokenizer, cfg.tokenizer_steps),
            (Stage::Policy, cfg.steps),
        ]
    } else {
        &[(Stage::Policy, cfg.tokenizer_steps + cfg.steps)]
    };
    let mut codes: Option<Vec<u32>> = None;
    let episodes = episodes_of(c);
    for &(stage, total) in stages {
        if state.stage > stage || (stage == Stage::Tokenizer && skip_tokenizer) {
            continue;
        }
        if state.stage < stage {
            state.stage = stage;
            state.step = 0;
        }
        if stage == Stage::Policy && quantized {
            codes = Some(assign_codes(&nets, c, cfg)?);
        }
        let group = match (stage, quantized) {
            (Stage::Tokenizer, _) => VarGroup::Tokenizer,
            (_, true) => VarGroup::Policy,
            (_, false) => VarGroup::Cvae,
        };
        let mut opt = Adam::new(
            nets.vars(group),
            AdamConfig {
                lr: cfg.lr,
                ..AdamConfig::default()
            },
        );
        let opt_file = job
            .out
            .join(format!("optim-{stage:?}.safetensors").to_lowercase());
        if job.resume && state.step > 0 && opt_file.exists() {
            let t = candle_core::safetensors::load(&opt_file, &Device::Cpu)
                .map_err(|e| LearnError::checkpoint(&opt_file, e.to_string()))?;
            opt.load_state("opt", |k| t.get(k).cloned())
                .map_err(|e| LearnError::checkpoint(&opt_file, e.to_string()))?;
        }
        let t0 = Instant::now();
        let first = state.step;
        while state.step < total {
            if control.wait_or_cancelled() {
                save_train(&job.out, &nets, &state, Some((&opt, &opt_file)))?;
                return Err(LearnError::Config {
                    field: "control",
                    message: format!(
                        "cancelled at {stage:?} step {}; resume with --resume",
                        state.step
                    ),
                });
            }
            let mut rng = ChaCha8Rng::seed_from_u64(
                cfg.seed
                    ^ (state.step as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ^ stage as u64,
            );
            let idx = sample(c, &episodes, cfg, &mut rng);
            let (loss, terms) = match (stage, quantized) {
                (Stage::Tokenizer, _) => tokenizer_step(&nets, c, &prep, &idx, cfg, &mut rng)?,
                (_, true) => policy_step(
                    &nets,
                    c,
                    &prep,
                    &idx,
                    codes.as_deref().unwrap_or(&[]),
                    &job.critics,
                )?,
                (_, false) => cvae_step(&nets, c, &prep, &idx, &job.critics, &mut rng)?,
            };
            if !terms.total.is_finite() || terms.total.abs() > 1e6 {
                let last_good = job.out.join("train.safetensors");
                return Err(LearnError::Diverged {
                    step: state.step as u64,
                    what: format!("{stage:?} loss is {} ({terms:?})", terms.total),
                    last_good: last_good.exists().then_some(last_good),
                });
            }
            opt.set_lr(cfg.lr_schedule.at(cfg.lr, state.step, total));
            opt.step(&loss.backward()?)?;
            state.step += 1;
            state.samples += cfg.batch as u64;
            let rate =
                ((state.step - first) * cfg.batch) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
            progress(&DistillProgress {
                stage,
                step: state.step,
                total,
                terms,
                samples_per_s: rate,
                selection: note,
            });
            let due = cfg.select_every > 0
                && (state.step.is_multiple_of(cfg.select_every) || state.step == total);
            if stage == Stage::Policy
                && due
                && let Some(sel) = selector.as_mut()
            {
                let episodes = sel.selection.tasks.len() * sel.selection.episodes;
                progress(&DistillProgress {
                    stage: Stage::Validate,
                    step: state.step,
                    total: episodes,
                    terms: Terms::default(),
                    samples_per_s: 0.0,
                    selection: note,
                });
                let meta = student_meta(&job, &prep, &state);
                let n = sel.check(state.step, &nets, meta, (&prep.mean, &prep.std), &|| {})?;
                // The next step's progress carries it.
                note = Some(n);
            }
            if job.save_every > 0 && state.step.is_multiple_of(job.save_every) {
                state.wall_s = started.elapsed().as_secs_f64();
                save_train(&job.out, &nets, &state, Some((&opt, &opt_file)))?;
            }
        }
        state.wall_s = started.elapsed().as_secs_f64();
        save_train(&job.out, &nets, &state, Some((&opt, &opt_file)))?;
    }
    state.stage = Stage::Done;
    state.wall_s = started.elapsed().as_secs_f64();
    save_train(&job.out, &nets, &state, None)?;
    if let Some(sel) = &selector {
        sel.restore_best(&nets)?;
    }
    let student = Student {
        meta: student_meta(&job, &prep, &state),
        nets,
        proprio_mean: prep.mean,
        proprio_std: prep.std,
    };
    student.save(&job.out)?;
    Ok(student)
}

fn pretrain_encoder(
    nets: &StudentNets,
    c: &Corpus,
    cfg: &StudentConfig,
    control: &Control,
    progress: &mut impl FnMut(&DistillProgress),
) -> Result<()> {
    // Per-task state normalisation so no state dimension dominates.
    let mut norm_states: Vec<Vec<f32>> = Vec::with_capacity(c.tasks.len());
    for (slot, rows) in c.states.iter().enumerate() {
        let d = c.state_dims[slot].max(1);
        let n = (rows.len() / d).max(1) as f32;
        let mut mean = vec![0f32; d];
        let mut sq = vec![0f32; d];
        for r in rows.chunks_exact(d) {
            for j in 0..d {
                mean[j] += r[j] / n;
                sq[j] += r[j] * r[j] / n;
            }
        }
        let std: Vec<f32> = (0..d)
            .map(|j| (sq[j] - mean[j] * mean[j]).max(0.0).sqrt().max(1e-3))
            .collect();
        norm_states.push(
            rows.chunks_exact(d)
                .flat_map(|r| {
                    (0..d)
                        .map(|j| (r[j] - mean[j]) / std[j])
                        .collect::<Vec<_>>()
                })
                .collect(),
        );
    }
    let states = (0..c.len())
        .map(|i| {
            let s = c.slot[i] as usize;
            let d = c.state_dims[s];
            let r = c.state_row[i];
            (s, &norm_states[s][r * d..(r + 1) * d])
        })
        .collect();
    let data = PretrainData {
        images: &c.images,
        size: c.dims.image,
        states,
        state_dims: c.state_dims.clone(),
    };
    let t0 = Instant::now();
    let total = cfg.encoder.steps;
    encoder::pretrain(
        &nets.encoder,
        &nets.map,
        &cfg.encoder,
        &data,
        cfg.seed,
        |step, l| {
            progress(&DistillProgress {
                stage: Stage::Encoder,
                step,
                total,
                terms: Terms {
                    total: l,
                    ..Terms::default()
                },
                samples_per_s: (step * cfg.encoder.batch) as f64
                    / t0.elapsed().as_secs_f64().max(1e-9),
                selection: None,
            });
            !control.wait_or_cancelled()
        },
    )?;
    if control.is_cancelled() {
        return Err(LearnError::Config {
            field: "control",
            message: "cancelled during encoder pre-training (nothing to resume yet)".into(),
        });
    }
    Ok(())
}

/// The tasks with demonstrations: the ones checkpoint selection rolls
/// (success elsewhere is incidental to what the student learned).
fn demonstrated(c: &Corpus) -> Vec<String> {
    c.tasks
        .iter()
        .zip(&c.episodes_per_task)
        .filter(|&(_, &n)| n > 0)
        .map(|(t, _)| t.clone())
        .collect()
}

/// What `student.json` says about the run so far.
fn student_meta(job: &DistillJob, prep: &Prepared, state: &TrainState) -> StudentMeta {
    let c = job.corpus;
    StudentMeta {
        format: String::new(),
        config: job.cfg.clone(),
        dims: c.dims,
        tasks: c.tasks.clone(),
        suite: job.suite.clone(),
        episodes_per_task: c.episodes_per_task.clone(),
        q_norms: prep.q_norms.clone(),
        dataset: job.dataset.clone(),
        samples_per_s: state.samples as f64 / state.wall_s.max(1e-9),
        wall_s: state.wall_s,
        weights: String::new(),
        weights_fnv1a: String::new(),
        command: job.command.clone(),
        label: job.label.clone(),
    }
}

/// Each slot's episode ranges, for `start_share`.
fn episodes_of(c: &Corpus) -> Vec<Vec<Range<usize>>> {
    let mut out = vec![Vec::new(); c.tasks.len()];
    for e in &c.episodes {
        out[c.slot[e.start] as usize].push(e.clone());
    }
    out
}

/// Task-balanced frame indexes: a task with frames uniformly, then a frame;
/// with probability `start_share` that frame is one of an episode's first
/// `start_window`. No extra draw at share 0, so older runs replay exactly.
fn sample(
    c: &Corpus,
    episodes: &[Vec<Range<usize>>],
    cfg: &StudentConfig,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let slots: Vec<usize> = (0..c.tasks.len())
        .filter(|&s| !c.frames_of[s].is_empty())
        .collect();
    (0..cfg.batch)
        .map(|_| {
            let s = slots[rng.random_range(0..slots.len())];
            if cfg.start_share > 0.0
                && !episodes[s].is_empty()
                && rng.random::<f32>() < cfg.start_share
            {
                let e = &episodes[s][rng.random_range(0..episodes[s].len())];
                e.start + rng.random_range(0..cfg.start_window.min(e.len()).max(1))
            } else {
                c.frames_of[s][rng.random_range(0..c.frames_of[s].len())] as usize
            }
        })
        .collect()
}

/// Tensors of a batch.
pub struct Batch {
    /// Normalised proprioception histories `[B, h·P]`.
    pub history: Tensor,
    /// Task slots `[B]` (u32).
    pub task: Tensor,
    /// True chunks `[B, k, A]`.
    pub chunk: Tensor,
    /// Image features `[B, F]`.
    pub image: Tensor,
    /// Goal image features `[B, F]`.
    pub goal: Tensor,
}

fn batch(c: &Corpus, prep: &Prepared, idx: &[usize], cfg: &StudentConfig) -> Result<Batch> {
    let (b, k, a, f, h, p) = (
        idx.len(),
        cfg.chunk,
        c.dims.action,
        cfg.encoder.features,
        cfg.history,
        c.dims.proprio,
    );
    let dev = &Device::Cpu;
    let mut hist = Vec::with_capacity(b * h * p);
    let mut chunk = Vec::with_capacity(b * k * a);
    let mut img = Vec::with_capacity(b * f);
    let mut goal = Vec::with_capacity(b * f);
    for &i in idx {
        for (j, v) in c.history(i, h).into_iter().enumerate() {
            hist.push(normalise(v, prep.mean[j % p], prep.std[j % p]));
        }
        chunk.extend(c.chunk(i, k));
        img.extend_from_slice(&prep.features[i * f..(i + 1) * f]);
        goal.extend_from_slice(c.goal_features(i, &prep.features, &prep.goal_features, f));
    }
    let task: Vec<u32> = idx.iter().map(|&i| c.slot[i]).collect();
    Ok(Batch {
        history: Tensor::from_vec(hist, (b, h * p), dev)?,
        task: Tensor::from_vec(task, b, dev)?,
        chunk: Tensor::from_vec(chunk, (b, k, a), dev)?,
        image: Tensor::from_vec(img, (b, f), dev)?,
        goal: Tensor::from_vec(goal, (b, f), dev)?,
    })
}

fn scalar(t: &Tensor) -> Result<f32> {
    Ok(t.to_scalar::<f32>()?)
}

fn tokenizer_step(
    nets: &StudentNets,
    c: &Corpus,
    prep: &Prepared,
    idx: &[usize],
    cfg: &StudentConfig,
    rng: &mut impl Rng,
) -> Result<(Tensor, Terms)> {
    let bt = batch(c, prep, idx, cfg)?;
    let ctx = nets.context(&bt.history, &bt.task)?;
    let logits = nets.tokenize(&bt.chunk)?;
    let probs = crate::ops_norm::softmax_last(&logits)?;
    let codes = loss::sample_codes(&probs, rng)?;
    let z = loss::straight_through(&probs, &codes)?.matmul(nets.codebook())?;
    let pred = nets.decode(&z, &ctx, None)?;
    let l_act = loss::act_loss(&pred, &bt.chunk)?;
    let l_code = loss::code_loss(&probs, &codes, nets.codebook())?;
    let l_usage = loss::usage_loss(&probs)?;
    let total = ((&l_act + &l_code)? + (&l_usage * f64::from(cfg.usage_weight))?)?;
    let terms = Terms {
        total: scalar(&total)?,
        act: scalar(&l_act)?,
        code: scalar(&l_code)?,
        usage: scalar(&l_usage)?,
        ..Terms::default()
    };
    Ok((total, terms))
}

/// The frozen tokenizer's code (argmax) for every frame's true chunk.
fn assign_codes(nets: &StudentNets, c: &Corpus, cfg: &StudentConfig) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(c.len());
    let (k, a) = (cfg.chunk, c.dims.action);
    for start in (0..c.len()).step_by(512) {
        let end = (start + 512).min(c.len());
        let chunk: Vec<f32> = (start..end).flat_map(|i| c.chunk(i, k)).collect();
        let t = Tensor::from_vec(chunk, (end - start, k, a), &Device::Cpu)?;
        out.extend(StudentNets::argmax(&nets.tokenize(&t)?.detach())?);
    }
    Ok(out)
}

/// `-mean(Q_task(s, â) / norm_task)` over the rows whose task has a
/// critic (rows without one contribute 0). `pred` is the decoded chunk
/// `[B, k, A]` for the corpus frames `idx`; `cfg.critic_span` says which
/// of its actions are graded; `q_norms` holds each slot's constant.
pub fn distill_term(
    c: &Corpus,
    q_norms: &[f32],
    idx: &[usize],
    pred: &Tensor,
    critics: &[Option<Expert>],
    cfg: &StudentConfig,
) -> Result<Option<Tensor>> {
    // DAgger's relabelled chunks were not executed from the dataset's next
    // states, so only their first action has a state to be graded at.
    let span = match cfg.critic_span {
        CriticSpan::Chunk if c.chunk_labels.is_empty() => cfg.chunk,
        _ => 1,
    };
    let w = crate::student::policy::ensemble_weights(span, cfg.eta);
    let total: f32 = w.iter().sum();
    let mut sum: Option<Tensor> = None;
    for (slot, critic) in critics.iter().enumerate() {
        let Some(expert) = critic else { continue };
        let rows: Vec<u32> = idx
            .iter()
            .enumerate()
            .filter(|(_, i)| c.slot[**i] as usize == slot)
            .map(|(r, _)| r as u32)
            .collect();
        if rows.is_empty() {
            continue;
        }
        // Row-major over (row, position): frame i + j, clamped to its
        // episode's last frame like the chunk labels are.
        let mut states = Vec::new();
        let mut weights = Vec::with_capacity(rows.len() * span);
        for &r in &rows {
            let i = idx[r as usize];
            let end = c.episodes[c.episode[i] as usize].end;
            for (j, wj) in w.iter().enumerate() {
                states.extend_from_slice(c.state((i + j).min(end - 1)));
                weights.push(wj / total);
            }
        }
        let a = pred
            .index_select(&Tensor::new(rows.as_slice(), &Device::Cpu)?, 0)?
            .narrow(1, 0, span)?
            .reshape((rows.len() * span, c.dims.action))?
            .contiguous()?;
        let w = Tensor::from_vec(weights, rows.len() * span, &Device::Cpu)?;
        let part = critic_sum(expert, &states, &a, Some(&w), q_norms[slot])?;
        sum = Some(match sum {
            Some(acc) => (acc + part)?,
            None => part,
        });
    }
    Ok(match sum {
        Some(s) => Some((s / idx.len() as f64)?),
        None => None,
    })
}

fn policy_step(
    nets: &StudentNets,
    c: &Corpus,
    prep: &Prepared,
    idx: &[usize],
    codes: &[u32],
    critics: &[Option<Expert>],
) -> Result<(Tensor, Terms)> {
    let cfg = &nets.cfg;
    let bt = batch(c, prep, idx, cfg)?;
    let target: Vec<u32> = idx.iter().map(|&i| codes[i]).collect();
    let (mut total, pred, mut terms) = bc_loss(nets, &bt, &target)?;
    if cfg.method.critic()
        && let Some(d) = distill_term(c, &prep.q_norms, idx, &pred, critics, cfg)?
    {
        terms.distill = scalar(&d)?;
        total = (total + d)?;
    }
    terms.total = scalar(&total)?;
    Ok((total, terms))
}

/// Stage (b)'s `α·(L_lat + L_act)` against the frozen tokenizer's codes
/// `target`, with the decoded chunk `[B, k, A]` for the critic term.
pub fn bc_loss(nets: &StudentNets, bt: &Batch, target: &[u32]) -> Result<(Tensor, Tensor, Terms)> {
    let ctx = nets.context(&bt.history, &bt.task)?;
    let seen = nets.seen(&bt.image, &bt.goal)?;
    let logits = nets.latent(&seen, &ctx)?;
    let l_lat = loss::latent_loss(&logits, target)?;
    let probs = crate::ops_norm::softmax_last(&logits)?;
    let pred_codes = StudentNets::argmax(&logits)?;
    // A differentiable code: L_distill's gradient reaches the latent
    // encoder through σ(logits); the codebook stays frozen.
    let z = loss::straight_through(&probs, &pred_codes)?.matmul(&nets.codebook().detach())?;
    let pred = nets.decode(&z, &ctx, None)?;
    let l_act = loss::act_loss(&pred, &bt.chunk)?;
    let total = ((&l_lat + &l_act)? * f64::from(nets.cfg.alpha))?;
    let terms = Terms {
        act: scalar(&l_act)?,
        lat: scalar(&l_lat)?,
        ..Terms::default()
    };
    Ok((total, pred, terms))
}

/// One task's `-Σ w·Q(s, a) / norm` over its rows (raw states row by
/// row, actions `[n, A]`, weights `[n]` or 1), differentiable in the
/// actions only.
pub fn critic_sum(
    expert: &Expert,
    states: &[f32],
    actions: &Tensor,
    weights: Option<&Tensor>,
    norm: f32,
) -> Result<Tensor> {
    let s = expert.state_tensor(states)?;
    let mut q = expert.nets().q_min_frozen(&s, actions)?;
    if let Some(w) = weights {
        q = (q * w)?;
    }
    Ok((q.sum_all()? / f64::from(norm))?.neg()?)
}

fn cvae_step(
    nets: &StudentNets,
    c: &Corpus,
    prep: &Prepared,
    idx: &[usize],
    critics: &[Option<Expert>],
    rng: &mut impl Rng,
) -> Result<(Tensor, Terms)> {
    let cfg = &nets.cfg;
    let bt = batch(c, prep, idx, cfg)?;
    let ctx = nets.context(&bt.history, &bt.task)?;
    let seen = nets.seen(&bt.image, &bt.goal)?;
    let stats = nets.tokenize(&bt.chunk)?;
    let z = loss::reparameterise(&stats, rng)?;
    let pred = nets.decode(&z, &ctx, Some(&seen))?;
    let l_act = loss::act_loss(&pred, &bt.chunk)?;
    let l_kl = loss::kl_loss(&stats)?;
    let bc = (&l_act + (&l_kl * f64::from(cfg.kl_weight))?)?;
    let mut total = (&bc * f64::from(cfg.alpha))?;
    let mut terms = Terms {
        act: scalar(&l_act)?,
        kl: scalar(&l_kl)?,
        ..Terms::default()
    };
    if cfg.method.critic() {
        // The test-time action: decoded from the prior's mean.
        let z0 = loss::prior_mean(idx.len(), cfg.code_width)?;
        let decoded = nets.decode(&z0, &ctx, Some(&seen))?;
        if let Some(d) = distill_term(c, &prep.q_norms, idx, &decoded, critics, cfg)? {
            terms.distill = scalar(&d)?;
            total = (total + d)?;
        }
    }
    terms.total = scalar(&total)?;
    Ok((total, terms))
}

fn save_train(
    dir: &Path,
    nets: &StudentNets,
    state: &TrainState,
    opt: Option<(&Adam, &Path)>,
) -> Result<()> {
    let weights = dir.join("train.safetensors");
    let tensors = named_vars(&nets.map, "")
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    write_tensors(&weights, tensors)?;
    if let Some((opt, file)) = opt {
        write_tensors(file, opt.state("opt")?)?;
    }
    let mut s = state.clone();
    s.weights_fnv1a = file_hash(&weights)?;
    write_json(&dir.join("train.json"), &s)
}

fn load_train(dir: &Path, nets: &StudentNets) -> Result<TrainState> {
    let json = dir.join("train.json");
    if !json.exists() {
        return Err(LearnError::checkpoint(
            &json,
            "nothing to resume: no train.json here (run without --resume)",
        ));
    }
    let state: TrainState = read_json(&json)?;
    let weights = dir.join("train.safetensors");
    let tensors = read_tensors(&weights, &state.weights_fnv1a)?;
    load_vars(nets, &tensors, &weights)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tasks, three 20-frame episodes each (frames 0-59 task 0,
    /// 60-119 task 1).
    fn corpus() -> Corpus {
        let mut c = Corpus {
            tasks: vec!["a".into(), "b".into()],
            frames_of: vec![Vec::new(); 2],
            ..Corpus::default()
        };
        for ep in 0..6u32 {
            let start = ep as usize * 20;
            let slot = ep / 3;
            c.episodes.push(start..start + 20);
            for i in start..start + 20 {
                c.slot.push(slot);
                c.episode.push(ep);
                c.frames_of[slot as usize].push(i as u32);
            }
        }
        c
    }

    #[test]
    fn start_share_draws_that_share_from_episode_starts() {
        let c = corpus();
        let eps = episodes_of(&c);
        assert_eq!(eps[1], vec![60..80, 80..100, 100..120]);
        let early = |idx: &[usize]| idx.iter().filter(|&&i| i % 20 < 4).count() as f64;
        let cfg = |share| StudentConfig {
            start_share: share,
            start_window: 4,
            batch: 4000,
            ..StudentConfig::default()
        };
        // Every draw lies in the window at share 1 ...
        let all = sample(&c, &eps, &cfg(1.0), &mut ChaCha8Rng::seed_from_u64(1));
        assert!(all.iter().all(|&i| i % 20 < 4));
        // ... 1/5 of uniform draws do, and share 0.5 lifts that to 0.6.
        let none = sample(&c, &eps, &cfg(0.0), &mut ChaCha8Rng::seed_from_u64(1));
        let half = sample(&c, &eps, &cfg(0.5), &mut ChaCha8Rng::seed_from_u64(1));
        assert!((early(&none) / 4000.0 - 0.2).abs() < 0.03);
        assert!((early(&half) / 4000.0 - 0.6).abs() < 0.03);
        // Both tasks keep their half of the batch.
        let task1 = all.iter().filter(|&&i| i >= 60).count() as f64 / 4000.0;
        assert!((task1 - 0.5).abs() < 0.03);
    }
}
