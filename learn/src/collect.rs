//! Demonstration collection: roll an expert's mean action with images on,
//! keep successful episodes (failures only when asked), label every step
//! with the expert's `Q(s_t, a_t)`, and append each episode to a dataset
//! as soon as it is finished.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use dexsim::{Catalog, Env, EnvConfig, Scene, SeedDomain};

use crate::data::{DatasetWriter, EpisodeEntry, Frames, TaskEntry};
use crate::error::Result;
use crate::expert::Expert;
use crate::rollout::domain_seed;
use crate::train::Control;

/// Attempts without a single success after which a task is given up
/// (success-only collection): ~1% of a 4x budget of 100 episodes, and a
/// 1-in-10 expert still shows a success here with probability 0.97.
pub const HOPELESS_AFTER: usize = 32;

/// What to collect.
#[derive(Clone, Debug)]
pub struct CollectConfig {
    /// Tasks, each with its own expert.
    pub tasks: Vec<String>,
    /// Episodes to keep per task.
    pub episodes: usize,
    /// Image side.
    pub image_size: usize,
    /// Keep failed episodes too.
    pub keep_failures: bool,
    /// Episodes per shard.
    pub chunk: usize,
    /// Base of the collection seeds (collection seed domain).
    pub seed: u64,
    /// Give up on a task after this many attempts per wanted episode.
    pub max_attempts_factor: usize,
    /// Standard deviation of Gaussian noise added to the executed action
    /// (0: the expert's mean action, METHOD §3). The stored action and its
    /// `Q` label stay the expert's mean action at the visited state, so the
    /// demonstrations show how the expert recovers from perturbations
    /// (noise injection, as in DART) and the critic gets states off the
    /// noiseless path to grade.
    pub action_noise: f32,
}

/// Progress of a collection.
#[derive(Clone, Debug, Serialize)]
pub struct CollectProgress {
    /// Task being collected.
    pub task: String,
    /// Episodes kept for it.
    pub kept: usize,
    /// Episodes rolled for it.
    pub attempted: usize,
    /// Frames written in total.
    pub frames: usize,
    /// Frames per second (images included) over the run.
    pub frames_per_s: f64,
}

/// Per task result.
#[derive(Clone, Debug, Serialize)]
pub struct CollectRow {
    /// Task.
    pub task: String,
    /// Episodes kept.
    pub kept: usize,
    /// Episodes rolled.
    pub attempted: usize,
    /// Frames kept.
    pub frames: usize,
}

/// Result of a collection.
#[derive(Clone, Debug, Serialize)]
pub struct CollectSummary {
    /// Per task.
    pub tasks: Vec<CollectRow>,
    /// Frames written.
    pub frames: usize,
    /// Wall time (s).
    pub wall_s: f64,
    /// Kept frames per second, images included.
    pub frames_per_s: f64,
    /// Frames rolled (kept or not), each rendered.
    pub rolled_frames: usize,
    /// Rolled frames per second: the simulate-and-render throughput.
    pub rolled_frames_per_s: f64,
    /// Stopped by the control.
    pub cancelled: bool,
}

struct Rolled {
    seed: u64,
    ret: f64,
    solved: bool,
    frames: Frames,
}

fn roll(env: &mut Env, expert: &Expert, seed: u64, task_index: u32, noise: f32) -> Result<Rolled> {
    use rand::SeedableRng;
    let mut obs = env.reset(seed);
    // Seeded by the episode, so the same seed replays the same episode.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x6e6f_6973_6521);
    let mut f = Frames::default();
    let mut ret = 0.0;
    let mut solved = false;
    loop {
        let action = expert.act(&obs.state)?;
        f.image.extend_from_slice(&obs.image.rgb);
        f.proprio.extend_from_slice(&obs.proprio);
        f.state.extend_from_slice(&obs.state);
        f.action.extend_from_slice(&action);
        let executed: Vec<f32> = if noise > 0.0 {
            action
                .iter()
                .map(|a| (a + noise * crate::rng::normal(&mut rng)).clamp(-1.0, 1.0))
                .collect()
        } else {
            action
        };
        let step = env.step(&executed)?;
        f.reward.push(step.reward);
        f.done.push(u8::from(step.done));
        f.success.push(u8::from(step.info.success));
        f.task.push(task_index);
        ret += f64::from(step.reward);
        solved |= step.info.solved;
        if step.done {
            break;
        }
        obs = step.obs;
    }
    f.q = expert.q(&f.state, &f.action)?;
    Ok(Rolled {
        seed,
        ret,
        solved,
        frames: f,
    })
}

/// Collect into the dataset folder `out`.
pub fn collect(
    catalog: &Catalog,
    cfg: &CollectConfig,
    expert_of: &dyn Fn(&str) -> Result<Expert>,
    out: &Path,
    control: &Control,
    progress: &mut dyn FnMut(&CollectProgress),
) -> Result<CollectSummary> {
    if !(0.0..=1.0).contains(&cfg.action_noise) {
        return Err(crate::error::LearnError::Config {
            field: "action_noise",
            message: format!("{} must lie in [0, 1]", cfg.action_noise),
        });
    }
    let mut writer = DatasetWriter::open(out, cfg.image_size, cfg.chunk)?;
    let names: Vec<&String> = catalog.tasks.keys().collect();
    let start = Instant::now();
    let mut total_frames = 0usize;
    let mut rolled_frames = 0usize;
    let mut rows = Vec::new();
    let mut cancelled = false;
    let batch = rayon::current_num_threads().max(1);
    for name in &cfg.tasks {
        let expert = expert_of(name)?;
        let spec = catalog.task(name)?;
        let scene = Arc::new(Scene::load(&catalog.dir.join(&spec.scene))?);
        let task = Arc::new(dexsim::task::Task::new(spec, &scene)?);
        let env_cfg = EnvConfig {
            image_size: cfg.image_size,
            render: true,
            ..EnvConfig::default()
        };
        let probe = Env::new(Arc::clone(&scene), Arc::clone(&task), env_cfg)?;
        let index = names.iter().position(|n| *n == name).unwrap_or(0) as u32;
        let entry = TaskEntry {
            name: name.clone(),
            index,
            state_dim: probe.state_dim(),
            proprio_dim: probe.proprio().len(),
            action_dim: probe.action_dim(),
        };
        // Seeds continue after the episodes already stored for this task,
        // so appending never repeats an episode.
        let stored: usize = writer
            .manifest()
            .shards
            .iter()
            .filter(|s| &s.task == name)
            .map(|s| s.episodes.len())
            .sum();
        let (mut kept, mut attempted, mut frames) = (0usize, 0usize, 0usize);
        let max_attempts = cfg.episodes * cfg.max_attempts_factor.max(1);
        while kept < cfg.episodes && attempted < max_attempts {
            if kept == 0 && attempted >= HOPELESS_AFTER && !cfg.keep_failures {
                // The expert does not solve this task: every further
                // attempt would be thrown away too.
                break;
            }
            if control.is_cancelled() {
                cancelled = true;
                break;
            }
            let n = batch.min(max_attempts - attempted);
            let first = stored * cfg.max_attempts_factor.max(1) + attempted;
            let rolled: Vec<Result<Rolled>> = (0..n)
                .into_par_iter()
                .map_init(
                    || Env::new(Arc::clone(&scene), Arc::clone(&task), env_cfg),
                    |env, k| {
                        let env = env.as_mut().map_err(|e| dexsim::SimError::Invalid {
                            what: "environment",
                            message: e.to_string(),
                        })?;
                        let seed = domain_seed(SeedDomain::Collect, cfg.seed, first + k);
                        roll(env, &expert, seed, index, cfg.action_noise)
                    },
                )
                .collect();
            for r in rolled {
                let r = r?;
                attempted += 1;
                rolled_frames += r.frames.len();
                if kept < cfg.episodes && (r.solved || cfg.keep_failures) {
                    let e = EpisodeEntry {
                        start: 0,
                        frames: r.frames.len(),
                        seed: r.seed,
                        ret: r.ret,
                        solved: r.solved,
                        source: if cfg.action_noise > 0.0 {
                            format!("expert, action noise {}", cfg.action_noise)
                        } else {
                            "expert".into()
                        },
                    };
                    writer.append(&entry, e, &r.frames)?;
                    kept += 1;
                    frames += r.frames.len();
                    total_frames += r.frames.len();
                }
            }
            progress(&CollectProgress {
                task: name.clone(),
                kept,
                attempted,
                frames: total_frames,
                frames_per_s: total_frames as f64 / start.elapsed().as_secs_f64().max(1e-9),
            });
        }
        rows.push(CollectRow {
            task: name.clone(),
            kept,
            attempted,
            frames,
        });
        if cancelled {
            break;
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    Ok(CollectSummary {
        tasks: rows,
        frames: total_frames,
        wall_s,
        frames_per_s: total_frames as f64 / wall_s.max(1e-9),
        rolled_frames,
        rolled_frames_per_s: rolled_frames as f64 / wall_s.max(1e-9),
        cancelled,
    })
}
