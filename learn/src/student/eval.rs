//! Evaluating a student: episodes on evaluation seeds (disjoint from every
//! training, validation and collection seed by the seed domain), images
//! rendered every step, the goal image rendered from the sampled goal state
//! or taken from a demonstration.

use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use dexsim::{Catalog, Env, EnvConfig, SeedDomain};

use crate::error::Result;
use crate::expert::Expert;
use crate::rollout::domain_seed;
use crate::student::ckpt::Student;
use crate::student::gap::StepGap;
use crate::student::policy::StudentRollout;

/// Where the goal image of an evaluation episode comes from.
#[derive(Clone, Debug)]
pub enum GoalSource {
    /// Rendered from the episode's sampled goal state (hand or object set
    /// to the goal): right for `-hard` tasks too.
    Rendered,
    /// The last frames of demonstrations of the task, used in turn (the
    /// papers' protocol; wrong goals for `-hard` tasks).
    Demo(Vec<Vec<u8>>),
}

/// One task's evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct TaskEval {
    /// Task.
    pub task: String,
    /// Solved flag per episode.
    pub solved: Vec<bool>,
    /// Return per episode.
    pub returns: Vec<f64>,
    /// Control steps taken in all.
    pub steps: usize,
    /// Per episode, the goal error after every step (the task's `goal`
    /// reward term, negated: metres, radians or 1 − cos by family), for
    /// `eval --trace`.
    #[serde(skip)]
    pub goal_error: Vec<Vec<f32>>,
    /// Per episode, the task's `progress` term after every step (spray,
    /// scissors, switch, bottle-cap and key-turn measure success by it).
    #[serde(skip)]
    pub progress: Vec<Vec<f32>>,
    /// Per episode, the policy's action against the expert's at every
    /// step (empty unless `Lead::compare`).
    #[serde(skip)]
    pub expert_gap: Vec<Vec<StepGap>>,
    /// Per action value, summed over episodes: steps where the expert's
    /// value was decisive, and those where the policy's sign was wrong
    /// (empty unless `Lead::compare`).
    #[serde(skip)]
    pub value_flips: Vec<[u32; 2]>,
    /// The actuators' names, in action order.
    #[serde(skip)]
    pub actuators: Vec<String>,
}

impl TaskEval {
    /// Success rate.
    pub fn success(&self) -> f64 {
        self.solved.iter().filter(|&&s| s).count() as f64 / self.solved.len().max(1) as f64
    }

    /// Mean return.
    pub fn mean_return(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len().max(1) as f64
    }
}

/// What one evaluation episode leaves: outcome, return and, per step, the
/// goal error and progress terms.
#[derive(Default)]
struct EpisodeLog {
    solved: bool,
    ret: f64,
    goal_error: Vec<f32>,
    progress: Vec<f32>,
    expert_gap: Vec<StepGap>,
    value_flips: Vec<[u32; 2]>,
}

/// A policy acting on images and proprioception for one episode.
pub trait EpisodePolicy {
    /// The action for this step.
    fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>>;
}

impl EpisodePolicy for StudentRollout {
    fn act(&mut self, image: &[u8], proprio: &[f32]) -> Result<Vec<f32>> {
        StudentRollout::act(self, image, proprio)
    }
}

/// Starts an episode's policy from its goal image.
pub type StartEpisode<'a> = dyn Fn(&[u8]) -> Result<Box<dyn EpisodePolicy>> + Sync + 'a;

/// The task's expert beside the policy. It acts for the first `steps`
/// steps of every episode while the policy watches (it sees every frame
/// and its own predictions age as usual), then the policy takes over: how
/// much of a failure is decided at the start. With `compare`, the
/// expert's action at every state the episode visits is set against the
/// policy's own (`TaskEval::expert_gap`): where a student leaves its
/// teacher.
pub struct Lead<'a> {
    /// The privileged-state expert of the task.
    pub expert: &'a Expert,
    /// Steps it acts for (0: none).
    pub steps: usize,
    /// Record the policy's action against the expert's at every step.
    pub compare: bool,
}

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
    lead: Option<&Lead<'_>>,
    done: &(dyn Fn() + Sync),
) -> Result<TaskEval> {
    let seeds = (SeedDomain::Eval, base);
    evaluate_in(
        catalog, task, image_size, episodes, seeds, goal, start, lead, done,
    )
}

/// [`evaluate_with`] on the seeds `base..` of `seeds.0`'s domain
/// (validation, for checkpoint selection).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_in(
    catalog: &Catalog,
    task: &str,
    image_size: usize,
    episodes: usize,
    (domain, base): (SeedDomain, u64),
    goal: &GoalSource,
    start: &StartEpisode<'_>,
    lead: Option<&Lead<'_>>,
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
            |env, i| -> Result<EpisodeLog> {
                let env = env.as_mut().map_err(|e| dexsim::SimError::Invalid {
                    what: "environment",
                    message: e.to_string(),
                })?;
                let mut obs = env.reset(domain_seed(domain, base, i));
                let goal_image = match goal {
                    GoalSource::Demo(g) if !g.is_empty() => g[i % g.len()].clone(),
                    _ => obs.goal_image.rgb.clone(),
                };
                let mut policy = start(&goal_image)?;
                let mut log = EpisodeLog::default();
                let mut t = 0;
                loop {
                    let mut a = policy.act(&obs.image.rgb, &obs.proprio)?;
                    if let Some(l) = lead.filter(|l| t < l.steps || l.compare) {
                        let e = l.expert.act(&obs.state)?;
                        if l.compare {
                            log.value_flips.resize(a.len(), [0; 2]);
                            let g = StepGap::tally(&a, &e, &mut log.value_flips);
                            log.expert_gap.push(g);
                        }
                        if t < l.steps {
                            a = e;
                        }
                    }
                    t += 1;
                    let s = env.step(&a)?;
                    log.ret += f64::from(s.reward);
                    log.solved |= s.info.solved;
                    log.goal_error.push(-s.info.terms[0].1);
                    log.progress.push(s.info.terms[2].1);
                    if s.done {
                        break;
                    }
                    obs = s.obs;
                }
                done();
                Ok(log)
            },
        )
        .collect::<Result<Vec<_>>>()?;
    let mut e = TaskEval {
        task: task.to_string(),
        solved: Vec::with_capacity(logs.len()),
        returns: Vec::with_capacity(logs.len()),
        steps: 0,
        goal_error: Vec::with_capacity(logs.len()),
        progress: Vec::with_capacity(logs.len()),
        expert_gap: Vec::with_capacity(logs.len()),
        value_flips: Vec::new(),
        actuators: probe
            .scene()
            .actuators
            .iter()
            .map(|a| a.name.clone())
            .collect(),
    };
    for l in logs {
        e.solved.push(l.solved);
        e.returns.push(l.ret);
        e.steps += l.goal_error.len();
        e.goal_error.push(l.goal_error);
        e.progress.push(l.progress);
        if !l.expert_gap.is_empty() {
            e.expert_gap.push(l.expert_gap);
        }
        e.value_flips
            .resize(e.value_flips.len().max(l.value_flips.len()), [0; 2]);
        for (sum, c) in e.value_flips.iter_mut().zip(&l.value_flips) {
            sum[0] += c[0];
            sum[1] += c[1];
        }
    }
    Ok(e)
}

/// Roll `episodes` evaluation episodes of `task` (seeds `base..` in the
/// evaluation domain) in parallel; `done()` is called after each.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_student(
    catalog: &Catalog,
    student: &Arc<Student>,
    task: &str,
    episodes: usize,
    base: u64,
    goal: &GoalSource,
    lead: Option<&Lead<'_>>,
    done: &(dyn Fn() + Sync),
) -> Result<TaskEval> {
    let start = |g: &[u8]| -> Result<Box<dyn EpisodePolicy>> {
        Ok(Box::new(StudentRollout::new(Arc::clone(student), task, g)?))
    };
    let size = student.meta.dims.image;
    evaluate_with(
        catalog, task, size, episodes, base, goal, &start, lead, done,
    )
}
