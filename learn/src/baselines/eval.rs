//! Evaluating the baselines exactly as students are evaluated (evaluation
//! seed domain, images every step, rendered or demonstration goal images),
//! and PolyTask's effective number of tasks.

use std::sync::Arc;

use rayon::prelude::*;

use dexsim::{Catalog, Env, EnvConfig, SeedDomain};

use crate::baselines::bc_rnn::{BcRnn, BcRnnRollout};
use crate::baselines::polytask::{PolyTask, PolyTaskRollout};
use crate::error::Result;
use crate::rollout::domain_seed;
use crate::student::eval::{GoalSource, TaskEval};
use crate::student::policy::StudentRollout;

/// A policy acting on images and proprioception for one episode.
pub trait EpisodePolicy {
    /// The action for this step.
    fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>>;
}

impl EpisodePolicy for BcRnnRollout {
    fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>> {
        BcRnnRollout::act(self, image, proprio)
    }
}

impl EpisodePolicy for PolyTaskRollout {
    fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>> {
        PolyTaskRollout::act(self, image, proprio)
    }
}

impl EpisodePolicy for StudentRollout {
    fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>> {
        StudentRollout::act(self, image, proprio)
    }
}

/// Starts an episode's policy from its goal image.
pub type StartEpisode<'a> = dyn Fn(&[u8]) -> Result<Box<dyn EpisodePolicy>> + Sync + 'a;

/// Roll `episodes` evaluation episodes of `task` (seeds `base..` in the
/// evaluation domain) in parallel with `image_size` images; `done()` after
/// each.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_with(
    catalog: &Catalog,
    task: &str,
    image_size: usize,
    episodes: usize,
    base: u64,
    goal: &GoalSource,
    start: &StartEpisode<'_>,
    done: &(dyn Fn() + Sync),
) -> Result<TaskEval> {
    let cfg = EnvConfig {
        image_size,
        render: true,
        ..EnvConfig::default()
    };
    let probe = Env::from_catalog(catalog, task, cfg)?;
    let logs = (0..episodes)
        .into_par_iter()
        .map_init(
            || Env::new(Arc::clone(probe.scene()), Arc::clone(probe.task()), cfg),
            |env, i| -> Result<(bool, f64, usize)> {
                let env = env.as_mut().map_err(|e| dexsim::SimError::Invalid {
                    what: "environment",
                    message: e.to_string(),
                })?;
                let mut obs = env.reset(domain_seed(SeedDomain::Eval, base, i));
                let goal_image = match goal {
                    GoalSource::Demo(g) if !g.is_empty() => g[i % g.len()].clone(),
                    _ => obs.goal_image.rgb.clone(),
                };
                let mut policy = start(&goal_image)?;
                let (mut ret, mut solved, mut steps) = (0.0, false, 0);
                loop {
                    let a = policy.act(&obs.image.rgb, &obs.proprio)?;
                    let s = env.step(&a)?;
                    ret += f64::from(s.reward);
                    solved |= s.info.solved;
                    steps += 1;
                    if s.done {
                        break;
                    }
                    obs = s.obs;
                }
                done();
                Ok((solved, ret, steps))
            },
        )
        .collect::<Result<Vec<_>>>()?;
    Ok(TaskEval {
        task: task.to_string(),
        solved: logs.iter().map(|l| l.0).collect(),
        returns: logs.iter().map(|l| l.1).collect(),
        steps: logs.iter().map(|l| l.2).sum(),
    })
}

/// Evaluate a BC-RNN policy on `task`.
pub fn evaluate_bc_rnn(
    catalog: &Catalog,
    model: &Arc<BcRnn>,
    task: &str,
    episodes: usize,
    base: u64,
    goal: &GoalSource,
    done: &(dyn Fn() + Sync),
) -> Result<TaskEval> {
    let start = |g: &[u8]| -> Result<Box<dyn EpisodePolicy>> {
        Ok(Box::new(BcRnnRollout::new(Arc::clone(model), task, g)?))
    };
    let size = model.meta.dims.image;
    evaluate_with(catalog, task, size, episodes, base, goal, &start, done)
}

/// Evaluate a PolyTask policy on `task`.
pub fn evaluate_polytask(
    catalog: &Catalog,
    model: &Arc<PolyTask>,
    task: &str,
    episodes: usize,
    base: u64,
    goal: &GoalSource,
    done: &(dyn Fn() + Sync),
) -> Result<TaskEval> {
    let start = |g: &[u8]| -> Result<Box<dyn EpisodePolicy>> {
        Ok(Box::new(PolyTaskRollout::new(Arc::clone(model), task, g)?))
    };
    let size = model.meta.dims.image;
    evaluate_with(catalog, task, size, episodes, base, goal, &start, done)
}

/// PolyTask's effective number of tasks: the sum of success rates.
pub fn effective_tasks(evals: &[TaskEval]) -> f64 {
    evals.iter().map(TaskEval::success).sum()
}
