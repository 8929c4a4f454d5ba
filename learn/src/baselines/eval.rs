//! Evaluating the baselines exactly as students are evaluated (evaluation
//! seed domain, images every step, rendered or demonstration goal images),
//! and PolyTask's effective number of tasks.

use std::sync::Arc;

use dexsim::Catalog;

use crate::baselines::bc_rnn::{BcRnn, BcRnnRollout};
use crate::baselines::polytask::{PolyTask, PolyTaskRollout};
use crate::error::Result;
pub use crate::student::eval::{EpisodePolicy, StartEpisode, evaluate_with};
use crate::student::eval::{GoalSource, Lead, TaskEval};

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

/// Evaluate a BC-RNN policy on `task`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_bc_rnn(
    catalog: &Catalog,
    model: &Arc<BcRnn>,
    task: &str,
    episodes: usize,
    base: u64,
    goal: &GoalSource,
    lead: Option<&Lead<'_>>,
    done: &(dyn Fn() + Sync),
) -> Result<TaskEval> {
    let start = |g: &[u8]| -> Result<Box<dyn EpisodePolicy>> {
        Ok(Box::new(BcRnnRollout::new(Arc::clone(model), task, g)?))
    };
    let size = model.meta.dims.image;
    evaluate_with(
        catalog, task, size, episodes, base, goal, &start, lead, done,
    )
}

/// Evaluate a PolyTask policy on `task`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_polytask(
    catalog: &Catalog,
    model: &Arc<PolyTask>,
    task: &str,
    episodes: usize,
    base: u64,
    goal: &GoalSource,
    lead: Option<&Lead<'_>>,
    done: &(dyn Fn() + Sync),
) -> Result<TaskEval> {
    let start = |g: &[u8]| -> Result<Box<dyn EpisodePolicy>> {
        Ok(Box::new(PolyTaskRollout::new(Arc::clone(model), task, g)?))
    };
    let size = model.meta.dims.image;
    evaluate_with(
        catalog, task, size, episodes, base, goal, &start, lead, done,
    )
}

/// PolyTask's effective number of tasks: the sum of success rates.
pub fn effective_tasks(evals: &[TaskEval]) -> f64 {
    evals.iter().map(TaskEval::success).sum()
}
