//! Expert training as a library function: TD3 on the privileged state of
//! one task, over a VecEnv, with observation normalisation, reward scaling,
//! validation, checkpoints, resume and divergence detection. Progress goes
//! to a callback; a [`Control`] pauses or cancels from another thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use dexsim::{Catalog, EnvConfig, Scene, SeedDomain, VecEnv};

use crate::error::{LearnError, Result};
use crate::expert::{Expert, ExpertMeta, norm_from, norm_tensors, read_tensors, write_tensors};
use crate::fsio::{file_hash, read_json, write_atomic, write_json};
use crate::norm::RunningNorm;
use crate::replay::{Replay, Transition};
use crate::rng::normal;
use crate::rollout::{Episodes, evaluate};
use crate::td3::{Td3, Td3Config};

/// Everything that defines a training run (saved as `train.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Task name.
    pub task: String,
    /// Environment steps to train for.
    pub steps: u64,
    /// Seed of weights, exploration and training episodes.
    pub seed: u64,
    /// Parallel environments.
    pub envs: usize,
    /// Uniform-random steps before learning starts.
    pub warmup: u64,
    /// Gradient updates per environment step.
    pub utd: f32,
    /// Std of the Gaussian exploration noise.
    pub expl_noise: f32,
    /// Validate (and checkpoint) every this many environment steps.
    pub eval_every: u64,
    /// Validation episodes per check.
    pub eval_episodes: usize,
    /// Replay capacity (n-step transitions).
    pub replay: usize,
    /// Fixed reward scale; `None` sets it from the warm-up rewards.
    pub reward_scale: Option<f32>,
    /// The TD3 update.
    pub td3: Td3Config,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            task: String::new(),
            steps: 200_000,
            seed: 1,
            envs: 8,
            warmup: 5_000,
            utd: 0.5,
            expl_noise: 0.2,
            eval_every: 10_000,
            eval_episodes: 10,
            replay: 300_000,
            reward_scale: None,
            td3: Td3Config::default(),
        }
    }
}

/// Run state shared with the thread that owns the training loop.
#[derive(Clone, Debug, Default)]
pub struct Control(Arc<AtomicU8>);

const RUN: u8 = 0;
const PAUSE: u8 = 1;
const CANCEL: u8 = 2;

impl Control {
    /// A control in the running state.
    pub fn new() -> Self {
        Self::default()
    }
    /// Pause at the next step.
    pub fn pause(&self) {
        let _ = self
            .0
            .compare_exchange(RUN, PAUSE, Ordering::SeqCst, Ordering::SeqCst);
    }
    /// Resume after a pause.
    pub fn resume(&self) {
        let _ = self
            .0
            .compare_exchange(PAUSE, RUN, Ordering::SeqCst, Ordering::SeqCst);
    }
    /// Stop at the next step, saving a checkpoint first.
    pub fn cancel(&self) {
        self.0.store(CANCEL, Ordering::SeqCst);
    }
    /// Whether paused.
    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::SeqCst) == PAUSE
    }
    /// Whether cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst) == CANCEL
    }
    /// Block while paused; then whether the run was cancelled.
    pub fn wait_or_cancelled(&self) -> bool {
        while self.is_paused() {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.is_cancelled()
    }
}

/// One row of the learning curve (`curve.csv`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Environment steps.
    pub env_steps: u64,
    /// Wall time (s), summed over resumed runs.
    pub wall_s: f64,
    /// Mean return of the last training episodes (with exploration noise).
    pub train_return: f32,
    /// Success rate of those episodes.
    pub train_success: f32,
    /// Mean return of the deterministic validation episodes.
    pub val_return: f32,
    /// Success rate of the validation episodes.
    pub val_success: f32,
    /// Recent critic loss.
    pub critic_loss: f32,
    /// Recent actor loss.
    pub actor_loss: f32,
    /// Recent mean Q.
    pub q_mean: f32,
}

/// What the loop is doing, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Random actions fill the replay buffer.
    Warmup,
    /// Acting and learning.
    Training,
    /// Validation episodes.
    Validating,
    /// Waiting for [`Control::resume`].
    Paused,
    /// Done.
    Finished,
}

/// A progress report.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    /// Phase.
    pub phase: Phase,
    /// Environment steps so far.
    pub env_steps: u64,
    /// Target environment steps.
    pub total: u64,
    /// Throughput over the run so far (environment steps per second).
    pub env_steps_per_s: f64,
    /// Training episodes finished.
    pub episodes: u64,
    /// Mean return of recent training episodes.
    pub train_return: f32,
    /// Success rate of recent training episodes.
    pub train_success: f32,
    /// Latest curve point (after each validation).
    pub last: Option<CurvePoint>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Environment steps trained (including earlier runs when resumed).
    pub env_steps: u64,
    /// Wall time (s), including earlier runs.
    pub wall_s: f64,
    /// Stopped by [`Control::cancel`].
    pub cancelled: bool,
    /// The learning curve.
    pub curve: Vec<CurvePoint>,
    /// The selected expert (best validation).
    pub expert: Option<ExpertMeta>,
}

/// Saved beside `train.safetensors`: what a resumed run needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainState {
    config: TrainConfig,
    state_dim: usize,
    action_dim: usize,
    env_steps: u64,
    wall_s: f64,
    reward_scale: f32,
    best: Option<(f32, f32)>,
    curve: Vec<CurvePoint>,
    weights_fnv1a: String,
}

/// Files of a training folder.
pub fn train_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("train.json"), dir.join("train.safetensors"))
}

/// Write the learning curve as CSV, atomically.
pub fn write_curve_csv(path: &Path, curve: &[CurvePoint]) -> Result<()> {
    let mut s = String::from(
        "env_steps,wall_s,train_return,train_success,val_return,val_success,critic_loss,actor_loss,q_mean\n",
    );
    for p in curve {
        s.push_str(&format!(
            "{},{:.1},{:.4},{:.4},{:.4},{:.4},{:.6},{:.6},{:.4}\n",
            p.env_steps,
            p.wall_s,
            p.train_return,
            p.train_success,
            p.val_return,
            p.val_success,
            p.critic_loss,
            p.actor_loss,
            p.q_mean
        ));
    }
    write_atomic(path, s.as_bytes())
}

struct Recent {
    returns: Vec<f32>,
    solved: Vec<bool>,
}

impl Recent {
    fn push(&mut self, ret: f32, solved: bool) {
        self.returns.push(ret);
        self.solved.push(solved);
        if self.returns.len() > 20 {
            self.returns.remove(0);
            self.solved.remove(0);
        }
    }
    fn means(&self) -> (f32, f32) {
        let n = self.returns.len().max(1) as f32;
        (
            self.returns.iter().sum::<f32>() / n,
            self.solved.iter().filter(|&&s| s).count() as f32 / n,
        )
    }
}

/// Train the expert of `cfg.task` in `dir` (created if needed). With
/// `resume`, continue from `dir/train.safetensors`. Checkpoints are written
/// at every validation; the best one by validation success (then return)
/// becomes `dir/expert.*`.
pub fn train(
    catalog: &Catalog,
    cfg: &TrainConfig,
    dir: &Path,
    resume: bool,
    control: &Control,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome> {
    validate(cfg)?;
    let spec = catalog.task(&cfg.task)?;
    let scene = Arc::new(Scene::load(&catalog.dir.join(&spec.scene))?);
    let task = Arc::new(dexsim::task::Task::new(spec, &scene)?);
    let env_cfg = EnvConfig {
        render: false,
        ..EnvConfig::default()
    };
    let mut venv = VecEnv::in_domain(
        Arc::clone(&scene),
        Arc::clone(&task),
        env_cfg,
        cfg.envs,
        cfg.seed,
        SeedDomain::Train,
    )?;
    let sdim = venv.envs()[0].state_dim();
    let adim = venv.envs()[0].action_dim();
    let mut agent = Td3::new(sdim, adim, cfg.td3.clone(), cfg.seed)?;
    let mut norm = RunningNorm::new(sdim);
    let mut env_steps = 0u64;
    let mut wall_before = 0.0f64;
    let mut reward_scale = cfg.reward_scale;
    let mut best: Option<(f32, f32)> = None;
    let mut curve: Vec<CurvePoint> = Vec::new();
    let (json_path, weights_path) = train_files(dir);
    if resume {
        let st: TrainState = read_json(&json_path)?;
        if st.config.task != cfg.task || st.state_dim != sdim || st.action_dim != adim {
            return Err(LearnError::checkpoint(
                &json_path,
                format!(
                    "this run trained task `{}` ({}x{}); asked to resume `{}` ({sdim}x{adim})",
                    st.config.task, st.state_dim, st.action_dim, cfg.task
                ),
            ));
        }
        let tensors = read_tensors(&weights_path, &st.weights_fnv1a)?;
        let get = |k: &str| tensors.get(k).cloned();
        agent
            .load_state(get)
            .map_err(|m| LearnError::checkpoint(&weights_path, m))?;
        norm = norm_from(|k| tensors.get(k).cloned(), sdim)
            .map_err(|m| LearnError::checkpoint(&weights_path, m))?;
        env_steps = st.env_steps;
        wall_before = st.wall_s;
        reward_scale = Some(st.reward_scale);
        best = st.best;
        curve = st.curve;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xe4b1 ^ env_steps);
    let mut replay = Replay::new(
        sdim,
        adim,
        cfg.replay,
        cfg.td3.gamma,
        cfg.td3.n_step,
        cfg.envs,
    );
    let start = Instant::now();
    let start_steps = env_steps;
    // A resumed run refills the replay buffer with its own policy first.
    let warmup_end = env_steps + cfg.warmup;
    let mut warm_rewards: Vec<f32> = Vec::new();
    let mut pending: Vec<Transition> = Vec::new();
    let mut obs: Vec<Vec<f32>> = venv.observe().into_iter().map(|o| o.state).collect();
    let mut ep_ret = vec![0.0f32; cfg.envs];
    let mut recent = Recent {
        returns: Vec::new(),
        solved: Vec::new(),
    };
    let mut episodes = 0u64;
    let mut credit = 0.0f32;
    let mut loss_ema: Option<f32> = None;
    let mut last = (0.0f32, 0.0f32, 0.0f32);
    let mut next_eval = (env_steps / cfg.eval_every + 1) * cfg.eval_every;
    let mut last_good: Option<PathBuf> = weights_path.exists().then(|| weights_path.clone());
    let mut last_report = Instant::now();
    let mut cancelled = false;
    let report = |phase: Phase,
                  env_steps: u64,
                  episodes: u64,
                  recent: &Recent,
                  curve: &[CurvePoint],
                  progress: &mut dyn FnMut(&Progress)| {
        let (r, s) = recent.means();
        let el = start.elapsed().as_secs_f64().max(1e-9);
        progress(&Progress {
            phase,
            env_steps,
            total: cfg.steps,
            env_steps_per_s: (env_steps - start_steps) as f64 / el,
            episodes,
            train_return: r,
            train_success: s,
            last: curve.last().cloned(),
        });
    };
    while env_steps < cfg.steps {
        if control.is_cancelled() {
            cancelled = true;
            break;
        }
        if control.is_paused() {
            report(
                Phase::Paused,
                env_steps,
                episodes,
                &recent,
                &curve,
                progress,
            );
            while control.is_paused() {
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        let warm = env_steps < warmup_end;
        let actions: Vec<Vec<f32>> = if warm && !resume {
            (0..cfg.envs)
                .map(|_| (0..adim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
                .collect()
        } else {
            let flat: Vec<f32> = obs.iter().flatten().copied().collect();
            let mean = agent.act(&norm.apply(&flat))?;
            mean.chunks(adim)
                .map(|m| {
                    m.iter()
                        .map(|&a| (a + cfg.expl_noise * normal(&mut rng)).clamp(-1.0, 1.0))
                        .collect()
                })
                .collect()
        };
        let steps = venv.step(&actions)?;
        for (i, (vs, action)) in steps.into_iter().zip(actions).enumerate() {
            let info = &vs.step.info;
            let terminal = vs.step.done
                && ((info.dropped && task.spec.terminate_on_drop)
                    || (info.solved && task.spec.terminate_on_success));
            norm.update(&obs[i]);
            ep_ret[i] += vs.step.reward;
            if vs.step.done {
                recent.push(ep_ret[i], info.solved);
                ep_ret[i] = 0.0;
                episodes += 1;
            }
            let t = Transition {
                state: std::mem::replace(&mut obs[i], vs.next_obs.state),
                action,
                reward: vs.step.reward,
                next_state: vs.step.obs.state,
                terminal,
                done: vs.step.done,
            };
            match reward_scale {
                Some(scale) => replay.push(
                    i,
                    Transition {
                        reward: t.reward * scale,
                        ..t
                    },
                ),
                None => {
                    warm_rewards.push(t.reward);
                    pending.push(t);
                }
            }
            env_steps += 1;
        }
        if reward_scale.is_none() && env_steps >= warmup_end {
            let scale = auto_reward_scale(&warm_rewards);
            reward_scale = Some(scale);
            for (k, t) in pending.drain(..).enumerate() {
                replay.push(
                    k % cfg.envs,
                    Transition {
                        reward: t.reward * scale,
                        ..t
                    },
                );
            }
        }
        if env_steps >= warmup_end && replay.len() >= cfg.td3.batch {
            credit += cfg.utd * cfg.envs as f32;
            while credit >= 1.0 {
                credit -= 1.0;
                let mut b = replay.sample(cfg.td3.batch, &mut rng);
                b.state = norm.apply(&b.state);
                b.next_state = norm.apply(&b.next_state);
                let l = agent.update(&b)?;
                let bad = !l.critic.is_finite()
                    || !l.q_mean.is_finite()
                    || l.actor.is_some_and(|a| !a.is_finite())
                    || loss_ema
                        .is_some_and(|e| agent.updates() > 1000 && l.critic > 1e4 * e.max(1e-2));
                if bad {
                    return Err(LearnError::Diverged {
                        step: env_steps,
                        what: format!(
                            "critic loss {} (recent average {:?}), mean Q {}",
                            l.critic, loss_ema, l.q_mean
                        ),
                        last_good,
                    });
                }
                loss_ema = Some(loss_ema.map_or(l.critic, |e| 0.99 * e + 0.01 * l.critic));
                last.0 = l.critic;
                if let Some(a) = l.actor {
                    last.1 = a;
                }
                last.2 = l.q_mean;
            }
        }
        if env_steps >= next_eval || env_steps >= cfg.steps {
            next_eval += cfg.eval_every;
            report(
                Phase::Validating,
                env_steps,
                episodes,
                &recent,
                &curve,
                progress,
            );
            let policy = |s: &[f32]| agent.act(&norm.apply(s));
            let which = Episodes::new(cfg.eval_episodes, cfg.seed, SeedDomain::Validate);
            let logs = evaluate(&scene, &task, &policy, which)?;
            let n = logs.len().max(1) as f32;
            let (tr, ts) = recent.means();
            let point = CurvePoint {
                env_steps,
                wall_s: wall_before + start.elapsed().as_secs_f64(),
                train_return: tr,
                train_success: ts,
                val_return: logs.iter().map(|l| l.ret as f32).sum::<f32>() / n,
                val_success: logs.iter().filter(|l| l.solved).count() as f32 / n,
                critic_loss: last.0,
                actor_loss: last.1,
                q_mean: last.2,
            };
            curve.push(point.clone());
            let scale = reward_scale.unwrap_or(1.0);
            save_state(
                dir, cfg, sdim, adim, &agent, &norm, env_steps, &point, scale, best, &curve,
            )?;
            last_good = Some(weights_path.clone());
            let key = (point.val_success, point.val_return);
            if best.is_none_or(|b| key.0 > b.0 || (key.0 == b.0 && key.1 > b.1)) {
                best = Some(key);
                save_expert(dir, cfg, sdim, adim, &agent, &norm, &point, scale)?;
                // The best is recorded with the state that produced it.
                save_state(
                    dir, cfg, sdim, adim, &agent, &norm, env_steps, &point, scale, best, &curve,
                )?;
            }
            write_curve_csv(&dir.join("curve.csv"), &curve)?;
            report(
                Phase::Training,
                env_steps,
                episodes,
                &recent,
                &curve,
                progress,
            );
        } else if last_report.elapsed() > Duration::from_millis(250) {
            last_report = Instant::now();
            let phase = if warm { Phase::Warmup } else { Phase::Training };
            report(phase, env_steps, episodes, &recent, &curve, progress);
        }
    }
    if cancelled && env_steps > start_steps {
        let (tr, ts) = recent.means();
        let point = CurvePoint {
            env_steps,
            wall_s: wall_before + start.elapsed().as_secs_f64(),
            train_return: tr,
            train_success: ts,
            ..curve.last().cloned().unwrap_or_default()
        };
        let scale = reward_scale.unwrap_or(1.0);
        save_state(
            dir, cfg, sdim, adim, &agent, &norm, env_steps, &point, scale, best, &curve,
        )?;
    }
    report(
        Phase::Finished,
        env_steps,
        episodes,
        &recent,
        &curve,
        progress,
    );
    let expert_json = dir.join("expert.json");
    Ok(Outcome {
        env_steps,
        wall_s: wall_before + start.elapsed().as_secs_f64(),
        cancelled,
        curve,
        expert: expert_json
            .exists()
            .then(|| Expert::load(dir).map(|e| e.meta))
            .transpose()?,
    })
}

fn validate(cfg: &TrainConfig) -> Result<()> {
    let bad = |field: &'static str, message: &str| {
        Err(LearnError::Config {
            field,
            message: message.into(),
        })
    };
    if cfg.envs == 0 {
        return bad("envs", "need at least one environment");
    }
    if cfg.eval_every == 0 {
        return bad("eval_every", "must be positive");
    }
    if cfg.td3.batch == 0 || cfg.replay < cfg.td3.batch {
        return bad("replay", "capacity must hold at least one batch");
    }
    if !(0.0..1.0).contains(&cfg.td3.gamma) {
        return bad("gamma", "must lie in [0, 1)");
    }
    if !(cfg.utd.is_finite() && cfg.utd >= 0.0) {
        return bad("utd", "must be a non-negative number");
    }
    Ok(())
}

/// Rewards are scaled so that the warm-up's mean |r| becomes 1: tasks with
/// large reward weights then train with the same learning rates.
pub fn auto_reward_scale(rewards: &[f32]) -> f32 {
    let n = rewards.len().max(1) as f32;
    let mean_abs = rewards.iter().map(|r| r.abs()).sum::<f32>() / n;
    if mean_abs > 0.0 && mean_abs.is_finite() {
        (1.0 / mean_abs).clamp(1e-3, 1e3)
    } else {
        1.0
    }
}

fn meta(
    cfg: &TrainConfig,
    sdim: usize,
    adim: usize,
    agent: &Td3,
    p: &CurvePoint,
    scale: f32,
) -> ExpertMeta {
    ExpertMeta {
        format: String::new(),
        task: cfg.task.clone(),
        algorithm: "td3".into(),
        state_dim: sdim,
        action_dim: adim,
        hidden: cfg.td3.hidden.clone(),
        gamma: cfg.td3.gamma,
        reward_scale: scale,
        seed: cfg.seed,
        env_steps: p.env_steps,
        updates: agent.updates(),
        wall_s: p.wall_s,
        validation_success: p.val_success,
        validation_return: p.val_return,
        weights: String::new(),
        weights_fnv1a: String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn save_expert(
    dir: &Path,
    cfg: &TrainConfig,
    sdim: usize,
    adim: usize,
    agent: &Td3,
    norm: &RunningNorm,
    p: &CurvePoint,
    scale: f32,
) -> Result<()> {
    let nets: Vec<(String, candle_core::Tensor)> = agent
        .state_tensors()?
        .into_iter()
        .filter(|(k, _)| ["actor.", "q1.", "q2."].iter().any(|p| k.starts_with(p)))
        .collect();
    Expert::save(dir, meta(cfg, sdim, adim, agent, p, scale), nets, norm)
}

#[allow(clippy::too_many_arguments)]
fn save_state(
    dir: &Path,
    cfg: &TrainConfig,
    sdim: usize,
    adim: usize,
    agent: &Td3,
    norm: &RunningNorm,
    env_steps: u64,
    p: &CurvePoint,
    scale: f32,
    best: Option<(f32, f32)>,
    curve: &[CurvePoint],
) -> Result<()> {
    let (json, weights) = train_files(dir);
    let mut tensors = agent.state_tensors()?;
    if tensors.iter().any(|(_, t)| {
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .is_ok_and(|v| v.iter().any(|x| !x.is_finite()))
    }) {
        return Err(LearnError::Diverged {
            step: env_steps,
            what: "non-finite network weights".into(),
            last_good: weights.exists().then_some(weights.clone()),
        });
    }
    tensors.extend(norm_tensors(norm)?);
    write_tensors(&weights, tensors)?;
    let st = TrainState {
        config: cfg.clone(),
        state_dim: sdim,
        action_dim: adim,
        env_steps,
        wall_s: p.wall_s,
        reward_scale: scale,
        best,
        curve: curve.to_vec(),
        weights_fnv1a: file_hash(&weights)?,
    };
    write_json(&json, &st)
}
