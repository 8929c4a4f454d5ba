//! Many environments of one task stepped in parallel with rayon, with
//! automatic reset and a deterministic seed per environment and episode.

use std::sync::Arc;

use rayon::prelude::*;

use crate::env::{Env, EnvConfig, Observation, Step};
use crate::error::Result;
use crate::scene::Scene;
use crate::task::Task;

/// Seed of episode `episode` of environment `index` under `base`: distinct
/// for every (index, episode) pair and independent of thread scheduling.
pub fn episode_seed(base: u64, index: usize, episode: u64) -> u64 {
    // SplitMix64 finaliser over the packed triple.
    let mut z = base
        .wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(episode.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn seed_of(domain: Option<SeedDomain>, base: u64, index: usize, episode: u64) -> u64 {
    let s = episode_seed(base, index, episode);
    domain.map_or(s, |d| d.seed(s))
}

/// Disjoint families of episode seeds, so that no evaluation episode is
/// ever an episode that training or collection has seen: the top two bits
/// of every seed name its domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedDomain {
    /// Episodes an expert trains on.
    Train = 0,
    /// Episodes rolled out to build datasets.
    Collect = 1,
    /// Held-out evaluation episodes (`expert eval`, `eval`).
    Eval = 2,
    /// Validation during training and critic reports.
    Validate = 3,
}

impl SeedDomain {
    /// Map any seed into this domain.
    pub fn seed(self, s: u64) -> u64 {
        (s & (u64::MAX >> 2)) | ((self as u64) << 62)
    }
}

/// One step of a [`VecEnv`] for one environment.
#[derive(Clone, Debug)]
pub struct VecStep {
    /// The step as the environment returned it (the final observation of
    /// a finished episode, before the automatic reset).
    pub step: Step,
    /// The observation to act on next: the reset observation when the
    /// episode ended, else `step.obs`.
    pub next_obs: Observation,
}

/// N environments of one task.
pub struct VecEnv {
    envs: Vec<Env>,
    episodes: Vec<u64>,
    base_seed: u64,
    domain: Option<SeedDomain>,
}

impl VecEnv {
    /// `n` environments sharing one loaded scene, reset with their seeds.
    pub fn new(
        scene: Arc<Scene>,
        task: Arc<Task>,
        cfg: EnvConfig,
        n: usize,
        base_seed: u64,
    ) -> Result<Self> {
        Self::build(scene, task, cfg, n, base_seed, None)
    }

    /// Like [`VecEnv::new`], with every episode seed mapped into `domain`.
    pub fn in_domain(
        scene: Arc<Scene>,
        task: Arc<Task>,
        cfg: EnvConfig,
        n: usize,
        base_seed: u64,
        domain: SeedDomain,
    ) -> Result<Self> {
        Self::build(scene, task, cfg, n, base_seed, Some(domain))
    }

    fn build(
        scene: Arc<Scene>,
        task: Arc<Task>,
        cfg: EnvConfig,
        n: usize,
        base_seed: u64,
        domain: Option<SeedDomain>,
    ) -> Result<Self> {
        let mut envs = Vec::with_capacity(n);
        for i in 0..n {
            let mut env = Env::new(Arc::clone(&scene), Arc::clone(&task), cfg)?;
            env.reset(seed_of(domain, base_seed, i, 0));
            envs.push(env);
        }
        Ok(Self {
            envs,
            episodes: vec![0; n],
            base_seed,
            domain,
        })
    }

    /// Number of environments.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Whether there are no environments.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The environments, for inspection.
    pub fn envs(&self) -> &[Env] {
        &self.envs
    }

    /// Current observations of all environments.
    pub fn observe(&self) -> Vec<Observation> {
        self.envs.par_iter().map(Env::observe).collect()
    }

    /// Step every environment with its action; finished episodes reset with
    /// their next seed. Runs on the current rayon pool.
    pub fn step(&mut self, actions: &[Vec<f32>]) -> Result<Vec<VecStep>> {
        let (base, domain) = (self.base_seed, self.domain);
        self.envs
            .par_iter_mut()
            .zip(self.episodes.par_iter_mut())
            .zip(actions.par_iter())
            .enumerate()
            .map(|(i, ((env, episode), action))| {
                let step = env.step(action)?;
                let next_obs = if step.done {
                    *episode += 1;
                    env.reset(seed_of(domain, base, i, *episode))
                } else {
                    step.obs.clone()
                };
                Ok(VecStep { step, next_obs })
            })
            .collect()
    }
}
