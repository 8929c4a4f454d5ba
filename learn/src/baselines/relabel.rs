//! PolyTask's relabelled replay buffers. Our experts' replay buffers are
//! not kept, so one is regenerated per task: the expert acts with Gaussian
//! exploration noise (the state distribution an off-policy learner's
//! buffer covers), every visited frame is rendered, and each state is
//! relabelled with the expert's mean action `π_i(s)` (PolyTask Eq. 2).
//!
//! Seeds: `SeedDomain::Train` (where experts gathered their own replay
//! buffers), disjoint from the evaluation domain by construction.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use dexsim::{Catalog, Env, EnvConfig, Scene, SeedDomain};

use crate::error::{LearnError, Result};
use crate::expert::Expert;
use crate::rollout::domain_seed;
use crate::train::Control;

/// Salt of the buffer seeds, so they differ from the experts' own.
const SALT: u64 = 0x9017_7a5c;

/// One task's relabelled frames.
#[derive(Clone, Debug, Default)]
pub struct TaskBuffer {
    /// Task.
    pub task: String,
    /// Image side.
    pub image_size: usize,
    /// `[n, S, S, 3]` frames.
    pub images: Vec<u8>,
    /// `[n, P]`.
    pub proprio: Vec<f32>,
    /// `[n, state_dim]` privileged states (encoder pre-training targets).
    pub states: Vec<f32>,
    /// `[n, A]` relabelled actions: the expert's mean action.
    pub actions: Vec<f32>,
    /// Episode of each frame.
    pub episode: Vec<u32>,
    /// `[episodes, S, S, 3]` rendered goal image of each episode.
    pub goals: Vec<u8>,
    /// Widths.
    pub state_dim: usize,
    /// Proprio width.
    pub proprio_dim: usize,
    /// Action width.
    pub action_dim: usize,
    /// Noisy episodes that were solved anyway (a sanity figure).
    pub solved: usize,
}

impl TaskBuffer {
    /// Frames.
    pub fn len(&self) -> usize {
        self.episode.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.episode.is_empty()
    }

    /// Episodes.
    pub fn episodes(&self) -> usize {
        self.goals.len() / (self.image_size * self.image_size * 3).max(1)
    }
}

/// A standard normal draw (Box–Muller).
pub(crate) fn gaussian(rng: &mut impl Rng) -> f32 {
    let u: f32 = rng.random_range(f32::EPSILON..1.0);
    let v: f32 = rng.random::<f32>();
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// One noisy episode, relabelled; `slot` numbers it within the buffer.
fn episode(env: &mut Env, expert: &Expert, seed: u64, noise: f32, slot: u32) -> Result<TaskBuffer> {
    let mut obs = env.reset(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = TaskBuffer {
        goals: obs.goal_image.rgb.clone(),
        ..TaskBuffer::default()
    };
    loop {
        let mean = expert.act(&obs.state)?;
        let noisy: Vec<f32> = mean
            .iter()
            .map(|&m| (m + noise * gaussian(&mut rng)).clamp(-1.0, 1.0))
            .collect();
        b.images.extend_from_slice(&obs.image.rgb);
        b.proprio.extend_from_slice(&obs.proprio);
        b.states.extend_from_slice(&obs.state);
        b.actions.extend_from_slice(&mean);
        b.episode.push(slot);
        let step = env.step(&noisy)?;
        b.solved |= usize::from(step.info.solved);
        if step.done {
            return Ok(b);
        }
        obs = step.obs;
    }
}

/// Roll `expert` on `task` with exploration noise `noise` until `frames`
/// frames are gathered (the last episode is cut there); `progress(frames)`
/// after each batch of parallel episodes.
#[allow(clippy::too_many_arguments)]
pub fn regenerate_buffer(
    catalog: &Catalog,
    task: &str,
    expert: &Expert,
    frames: usize,
    image_size: usize,
    noise: f32,
    seed: u64,
    control: &Control,
    progress: &mut dyn FnMut(usize),
) -> Result<TaskBuffer> {
    if frames == 0 || !(noise.is_finite() && noise >= 0.0) {
        return Err(LearnError::Config {
            field: "frames_per_task",
            message: format!("need frames > 0 and noise >= 0, got {frames} and {noise}"),
        });
    }
    let spec = catalog.task(task)?;
    let scene = Arc::new(Scene::load(&catalog.dir.join(&spec.scene))?);
    let task_arc = Arc::new(dexsim::task::Task::new(spec, &scene)?);
    let cfg = EnvConfig {
        image_size,
        render: true,
        ..EnvConfig::default()
    };
    let probe = Env::new(Arc::clone(&scene), Arc::clone(&task_arc), cfg)?;
    if probe.state_dim() != expert.meta.state_dim || probe.action_dim() != expert.meta.action_dim {
        return Err(LearnError::Config {
            field: "experts",
            message: format!(
                "the expert of `{}` does not fit task `{task}` (state {} vs {}, action {} vs {})",
                expert.meta.task,
                expert.meta.state_dim,
                probe.state_dim(),
                expert.meta.action_dim,
                probe.action_dim()
            ),
        });
    }
    let mut buf = TaskBuffer {
        task: task.to_string(),
        image_size,
        state_dim: probe.state_dim(),
        proprio_dim: probe.proprio().len(),
        action_dim: probe.action_dim(),
        ..TaskBuffer::default()
    };
    let batch = rayon::current_num_threads().max(1);
    let mut next = 0usize;
    while buf.len() < frames {
        if control.wait_or_cancelled() {
            return Err(crate::baselines::common::cancelled("buffer regeneration"));
        }
        let rolled: Vec<Result<TaskBuffer>> = (next..next + batch)
            .into_par_iter()
            .map_init(
                || Env::new(Arc::clone(&scene), Arc::clone(&task_arc), cfg),
                |env, k| {
                    let env = env.as_mut().map_err(|e| dexsim::SimError::Invalid {
                        what: "environment",
                        message: e.to_string(),
                    })?;
                    let seed = domain_seed(SeedDomain::Train, seed ^ SALT, k);
                    episode(env, expert, seed, noise, k as u32)
                },
            )
            .collect();
        next += batch;
        for ep in rolled {
            let ep = ep?;
            let take = ep.len().min(frames - buf.len());
            if take == 0 {
                break;
            }
            let (s, p, a) = (buf.state_dim, buf.proprio_dim, buf.action_dim);
            let px = image_size * image_size * 3;
            buf.images.extend_from_slice(&ep.images[..take * px]);
            buf.proprio.extend_from_slice(&ep.proprio[..take * p]);
            buf.states.extend_from_slice(&ep.states[..take * s]);
            buf.actions.extend_from_slice(&ep.actions[..take * a]);
            let index = buf.episodes() as u32;
            buf.episode.extend(std::iter::repeat_n(index, take));
            buf.goals.extend_from_slice(&ep.goals);
            buf.solved += ep.solved;
        }
        progress(buf.len());
    }
    Ok(buf)
}
