//! Episodes of a policy: evaluation, validation, critic reports and
//! dataset collection all roll out through here.

use std::sync::Arc;

use rayon::prelude::*;

use dexsim::{Env, EnvConfig, Scene, SeedDomain, vec_env::episode_seed};

use crate::error::Result;

/// A policy over the privileged state (rows in, rows out).
pub type StatePolicy<'a> = dyn Fn(&[f32]) -> Result<Vec<f32>> + Sync + 'a;

/// What one episode did.
#[derive(Clone, Debug, Default)]
pub struct EpisodeLog {
    /// Reset seed.
    pub seed: u64,
    /// Control steps.
    pub steps: usize,
    /// Undiscounted return.
    pub ret: f64,
    /// Solved at some step (success held for the task's hold steps).
    pub solved: bool,
    /// States before each action, row by row (when recorded).
    pub states: Vec<f32>,
    /// Actions, row by row (when recorded).
    pub actions: Vec<f32>,
    /// Rewards (when recorded).
    pub rewards: Vec<f32>,
    /// Rewards of the steps rolled past a time-limit end (see [`episode`]).
    pub tail: Vec<f32>,
}

/// Seed of held-out episode `i` in `domain` under `base`.
pub fn domain_seed(domain: SeedDomain, base: u64, i: usize) -> u64 {
    domain.seed(episode_seed(base, 0, i as u64))
}

/// Roll one episode from `seed`; `record` keeps states, actions, rewards.
/// With `tail > 0`, an episode that ends on its time limit (not on a
/// terminal drop or success) is rolled `tail` steps further and those
/// rewards go to `tail`: the critic bootstraps past a time limit, so its
/// Monte-Carlo reference must see beyond it too.
pub fn episode(
    env: &mut Env,
    policy: &StatePolicy<'_>,
    seed: u64,
    record: bool,
    tail: usize,
) -> Result<EpisodeLog> {
    let mut obs = env.reset(seed);
    let mut log = EpisodeLog {
        seed,
        ..EpisodeLog::default()
    };
    loop {
        let action = policy(&obs.state)?;
        if record {
            log.states.extend_from_slice(&obs.state);
            log.actions.extend_from_slice(&action);
        }
        let step = env.step(&action)?;
        log.steps += 1;
        log.ret += f64::from(step.reward);
        log.solved |= step.info.solved;
        if record {
            log.rewards.push(step.reward);
        }
        if step.done {
            let spec = &env.task().spec;
            let terminal = (step.info.dropped && spec.terminate_on_drop)
                || (step.info.solved && spec.terminate_on_success);
            if !terminal {
                let mut o = step.obs;
                for _ in 0..tail {
                    let a = policy(&o.state)?;
                    let s = env.step(&a)?;
                    log.tail.push(s.reward);
                    o = s.obs;
                }
            }
            return Ok(log);
        }
        obs = step.obs;
    }
}

/// Which episodes [`evaluate`] rolls and what it keeps.
#[derive(Clone, Copy, Debug)]
pub struct Episodes {
    /// How many.
    pub count: usize,
    /// Seed base within the domain.
    pub base: u64,
    /// Seed domain.
    pub domain: SeedDomain,
    /// Keep states, actions and rewards.
    pub record: bool,
    /// Steps rolled past a time-limit end (see [`episode`]).
    pub tail: usize,
}

impl Episodes {
    /// `count` episodes from `base` in `domain`, summaries only.
    pub fn new(count: usize, base: u64, domain: SeedDomain) -> Self {
        Self {
            count,
            base,
            domain,
            record: false,
            tail: 0,
        }
    }
}

/// Roll held-out episodes in parallel (state only, no images).
pub fn evaluate(
    scene: &Arc<Scene>,
    task: &Arc<dexsim::task::Task>,
    policy: &StatePolicy<'_>,
    which: Episodes,
) -> Result<Vec<EpisodeLog>> {
    let Episodes {
        count: episodes,
        base,
        domain,
        record,
        tail,
    } = which;
    let cfg = EnvConfig {
        render: false,
        ..EnvConfig::default()
    };
    (0..episodes)
        .into_par_iter()
        .map_init(
            || Env::new(Arc::clone(scene), Arc::clone(task), cfg),
            |env, i| {
                let env = env.as_mut().map_err(|e| dexsim::SimError::Invalid {
                    what: "environment",
                    message: e.to_string(),
                })?;
                episode(env, policy, domain_seed(domain, base, i), record, tail)
            },
        )
        .collect()
}
