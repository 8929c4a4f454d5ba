//! Replaying a dataset episode: the viewport is reset with the episode's
//! stored seed and the stored actions are applied step by step, so the
//! user watches the demonstration in the live simulator (and, since the
//! simulator is deterministic, gets the stored rewards back).
//!
//! A [`Replay`] is a [`crate::driver::Policy`]; this module only loads and
//! indexes the episode.

use std::path::{Path, PathBuf};

use dexlearn::data::{Dataset, EpisodeEntry};
use dexsim::Env;

use crate::error::PluginError;
use crate::sim_step::Viewport;

/// One dataset episode, ready to replay.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The dataset folder.
    pub dir: PathBuf,
    /// Index of the episode in the dataset.
    pub index: usize,
    /// Its task.
    pub task: String,
    /// Its reset seed.
    pub seed: u64,
    /// Who recorded it ("expert", "teleop", ...).
    pub source: String,
    /// Stored return.
    pub ret: f64,
    frames: usize,
    action_dim: usize,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    images: Vec<u8>,
    image_size: usize,
}

impl Replay {
    /// Episode `index` of the dataset in `dir` (a dataset or a session).
    pub fn load(dir: &Path, index: usize) -> Result<Self, PluginError> {
        let dataset = |source| PluginError::Dataset {
            dir: dir.to_path_buf(),
            source,
        };
        let data = Dataset::open(dir).map_err(dataset)?;
        let ep = data.episode(index).map_err(dataset)?;
        Ok(Self {
            dir: data.dir,
            index,
            task: ep.task.name,
            seed: ep.entry.seed,
            source: ep.entry.source,
            ret: ep.entry.ret,
            frames: ep.entry.frames,
            action_dim: ep.task.action_dim,
            actions: ep.frames.action,
            rewards: ep.frames.reward,
            images: ep.frames.image,
            image_size: ep.image_size,
        })
    }

    /// Stored steps.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The stored action of `step`.
    pub fn action(&self, step: usize) -> Option<&[f32]> {
        let n = self.action_dim;
        (step < self.frames).then(|| &self.actions[step * n..(step + 1) * n])
    }

    /// The stored reward of `step`.
    pub fn reward(&self, step: usize) -> Option<f32> {
        self.rewards.get(step).copied()
    }

    /// The stored observation image before `step` (RGB, `image_size`
    /// squared), when the dataset holds images.
    pub fn image(&self, step: usize) -> Option<&[u8]> {
        let n = self.image_size * self.image_size * 3;
        self.images.get(step * n..(step + 1) * n).filter(|_| n > 0)
    }

    /// Side of the stored images.
    pub fn image_size(&self) -> usize {
        self.image_size
    }

    /// Whether `env` can replay it: same task, same action width.
    pub fn check(&self, env: &Env) -> Result<(), PluginError> {
        let err = |field, message| PluginError::Episode {
            dir: self.dir.clone(),
            episode: self.index,
            field,
            message,
        };
        let task = &env.task().spec.name;
        if *task != self.task {
            return Err(err(
                "task",
                format!("is {}, the viewport shows {task}", self.task),
            ));
        }
        if env.action_dim() != self.action_dim {
            return Err(err(
                "action_dim",
                format!(
                    "is {}, task {task} has {}",
                    self.action_dim,
                    env.action_dim()
                ),
            ));
        }
        Ok(())
    }

    /// The viewport has left the episode (it ended and reset with the next
    /// seed, or the user reset it) or played all of it: start over.
    pub fn wants_reset(&self, vp: &Viewport) -> bool {
        vp.env.seed() != self.seed || vp.step >= self.frames
    }
}

/// What the Replay panel lists for one episode.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeSummary {
    /// Task name.
    pub task: String,
    /// The manifest entry (seed, frames, return, source).
    pub entry: EpisodeEntry,
}

/// The episodes of the dataset in `dir`, in replay order, from its
/// manifest alone (no shard is read).
pub fn list_episodes(dir: &Path) -> Result<Vec<EpisodeSummary>, PluginError> {
    let data = Dataset::open(dir).map_err(|source| PluginError::Dataset {
        dir: dir.to_path_buf(),
        source,
    })?;
    Ok(data
        .manifest
        .shards
        .iter()
        .flat_map(|s| {
            s.episodes.iter().map(|e| EpisodeSummary {
                task: s.task.clone(),
                entry: e.clone(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use bevy::prelude::*;
    use dexlearn::data::{DatasetWriter, EpisodeEntry, Frames, TaskEntry};
    use dexsim::{Catalog, Env, EnvConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::Replay;
    use crate::driver::{Driver, DriverPlugin, Policy};
    use crate::sim_step::{SimStepSet, Viewport};
    use crate::studio::{Studio, StudioCmd, StudioCmds, StudioPlugin};
    use crate::testing::headless_app;

    const STEPS: usize = 12;
    const SEED: u64 = 41;

    /// A one-episode dataset of `task`: seeded random actions from `SEED`,
    /// in the studio's environment configuration.
    fn record(dir: &Path, task: &str) -> Frames {
        let cat = Catalog::bundled().expect("catalog");
        let mut env = Env::from_catalog(&cat, task, EnvConfig::default()).expect("env");
        let mut obs = env.reset(SEED);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut f = Frames::default();
        for i in 0..STEPS {
            let a: Vec<f32> = (0..env.action_dim())
                .map(|_| rng.random_range(-1.0..=1.0))
                .collect();
            f.image.extend_from_slice(&obs.image.rgb);
            f.proprio.extend_from_slice(&obs.proprio);
            f.state.extend_from_slice(&obs.state);
            f.action.extend_from_slice(&a);
            let step = env.step(&a).expect("step");
            f.reward.push(step.reward);
            f.done.push(u8::from(step.done || i + 1 == STEPS));
            f.success.push(u8::from(step.info.success));
            f.task.push(0);
            f.q.push(0.0);
            obs = step.obs;
        }
        let task_entry = TaskEntry {
            name: task.into(),
            index: 0,
            state_dim: env.state_dim(),
            proprio_dim: env.proprio().len(),
            action_dim: env.action_dim(),
        };
        let entry = EpisodeEntry {
            start: 0,
            frames: STEPS,
            seed: SEED,
            ret: f.reward.iter().map(|&r| f64::from(r)).sum(),
            solved: false,
            source: "random".into(),
        };
        let mut w = DatasetWriter::open(dir, 64, 8).expect("writer");
        w.append(&task_entry, entry, &f).expect("append");
        f
    }

    /// What each replayed step applied and returned.
    #[derive(Resource, Default)]
    struct Seen(Vec<(Vec<f32>, f32)>);

    fn watch(mut seen: ResMut<Seen>, viewports: Query<&Viewport>) {
        for vp in &viewports {
            if let Some(out) = vp.last.filter(|_| seen.0.len() < STEPS) {
                seen.0.push((vp.action.clone(), out.reward));
            }
        }
    }

    fn temp(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dexstudio-replay-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn replay_applies_the_stored_actions_and_gets_the_stored_rewards() {
        let dir = temp("rewards");
        let stored = record(&dir, "obj-hold-easy");

        let mut app = headless_app();
        let studio = Studio::new(Catalog::bundled().expect("catalog"), None);
        // The viewport starts on another task: the replay opens its own.
        let parts = studio.viewport("reach-easy", 0).expect("viewport");
        app.insert_resource(studio)
            .init_resource::<Seen>()
            .add_plugins((StudioPlugin, DriverPlugin))
            .add_systems(FixedUpdate, watch.after(SimStepSet::Step));
        let id = app.world_mut().spawn(parts).id();
        app.world_mut()
            .resource_mut::<StudioCmds>()
            .0
            .push(StudioCmd::Replay(dir.clone(), 0));
        app.update();
        app.world_mut().resource_mut::<Seen>().0.clear();
        for _ in 0..STEPS + 4 {
            app.update();
        }
        let world = app.world();
        assert_eq!(world.resource::<Studio>().message, None);
        let vp = world.get::<Viewport>(id).expect("vp");
        assert_eq!(vp.env.task().spec.name, "obj-hold-easy");
        let d = world.get::<Driver>(id).expect("driver");
        assert!(
            matches!(d.policy, Policy::Replay(_)),
            "{}",
            d.policy.label()
        );

        let seen = &world.resource::<Seen>().0;
        assert_eq!(seen.len(), STEPS);
        let dim = vp.env.action_dim();
        for (i, (action, reward)) in seen.iter().enumerate() {
            assert_eq!(
                action[..],
                stored.action[i * dim..(i + 1) * dim],
                "action {i}"
            );
            assert_eq!(
                *reward, stored.reward[i],
                "reward {i}: same seed, same actions"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn replay_loads_and_indexes_the_episode_and_refuses_other_tasks() {
        let dir = temp("index");
        let stored = record(&dir, "reach-easy");
        let r = Replay::load(&dir, 0).expect("replay");
        assert_eq!(
            (r.task.as_str(), r.seed, r.frames()),
            ("reach-easy", SEED, STEPS)
        );
        assert_eq!(r.reward(3), Some(stored.reward[3]));
        assert!(r.action(STEPS).is_none());
        assert_eq!(r.image(0).map(<[u8]>::len), Some(64 * 64 * 3));

        let cat = Catalog::bundled().expect("catalog");
        let other = Env::from_catalog(&cat, "obj-hold-easy", EnvConfig::default()).expect("env");
        let why = r.check(&other).expect_err("another task").to_string();
        assert!(
            why.contains("field `task`") && why.contains("episode 0"),
            "{why}"
        );
        let missing = Replay::load(&dir, 5).expect_err("no episode 5").to_string();
        assert!(missing.contains("no episode 5"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
