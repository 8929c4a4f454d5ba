//! Stepping simulated viewports on Bevy's fixed timestep.
//!
//! The environment is `dexsim`'s: the same code that trains headless. This
//! plugin only decides when to step (play/pause, speed) and with which
//! action; rendering and panels read the resulting state.

use bevy::prelude::*;
use dexsim::{Env, Observation, Snapshot};

/// Phases of the plugin, for ordering other plugins against it.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum SimStepSet {
    /// Advance the environments.
    Step,
}

/// One simulated viewport: an environment and its playback state.
#[derive(Component)]
pub struct Viewport {
    /// The environment.
    pub env: Env,
    /// Step while true.
    pub playing: bool,
    /// Take one step at the next tick even when paused (the "step" button).
    pub step_once: bool,
    /// The action applied at every step (drivers overwrite it).
    pub action: Vec<f32>,
    /// Last step's reward.
    pub reward: f32,
    /// Last step's success predicate.
    pub success: bool,
    /// Seed of the next reset.
    pub next_seed: u64,
    /// The latest observation, kept so that drivers and the policy-eye
    /// panel read it without rendering the camera again.
    pub obs: Observation,
    /// Bumped on every change of the environment state (step, reset,
    /// restore), so viewers refresh only when there is something new.
    pub revision: u64,
    /// Bumped on every reset, so that drivers and recorders see a new
    /// episode even when its seed repeats.
    pub episode: u64,
    /// Control steps taken in the current episode (a restore sets it back).
    pub step: usize,
    /// What the last step returned; kept across the reset that a finishing
    /// step triggers, so recorders still see how the episode ended.
    pub last: Option<Outcome>,
}

/// The result of one control step, as recorders need it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// Reward of the step.
    pub reward: f32,
    /// The success predicate held after the step.
    pub success: bool,
    /// The episode was solved at or before this step.
    pub solved: bool,
    /// The step ended the episode (the viewport has reset since).
    pub done: bool,
}

impl Viewport {
    /// A playing viewport over an environment, holding zero actions.
    pub fn new(env: Env) -> Self {
        let action = vec![0.0; env.action_dim()];
        let next_seed = env.seed() + 1;
        let obs = env.observe();
        let step = env.snapshot().step();
        Self {
            env,
            playing: true,
            step_once: false,
            action,
            reward: 0.0,
            success: false,
            next_seed,
            obs,
            revision: 0,
            episode: 0,
            step,
            last: None,
        }
    }

    /// Whether the next tick steps this viewport.
    pub fn wants_step(&self) -> bool {
        self.playing || self.step_once
    }

    /// Start a new episode with `seed`; the next automatic reset uses
    /// `seed + 1`.
    pub fn reset(&mut self, seed: u64) {
        self.obs = self.env.reset(seed);
        self.next_seed = seed.wrapping_add(1);
        self.reward = 0.0;
        self.success = false;
        self.revision += 1;
        self.episode += 1;
        self.step = 0;
    }

    /// Return to a snapshot of this viewport's task (timeline scrubbing).
    pub fn restore(&mut self, snap: &Snapshot) {
        self.env.restore(snap);
        self.obs = self.env.observe();
        self.step = snap.step();
        self.revision += 1;
    }
}

/// Steps every playing viewport once per fixed tick at the task's control
/// rate; episodes that end reset with the next seed.
pub struct SimStepPlugin;

impl Plugin for SimStepPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(FixedUpdate, SimStepSet::Step)
            .add_systems(FixedUpdate, step_viewports.in_set(SimStepSet::Step));
    }
}

fn step_viewports(mut viewports: Query<&mut Viewport>) {
    for mut vp in &mut viewports {
        if !vp.wants_step() {
            continue;
        }
        vp.step_once = false;
        let action = vp.action.clone();
        match vp.env.step(&action) {
            Ok(step) => {
                vp.reward = step.reward;
                vp.success = step.info.success;
                vp.obs = step.obs;
                vp.revision += 1;
                vp.step = step.info.step;
                vp.last = Some(Outcome {
                    reward: step.reward,
                    success: step.info.success,
                    solved: step.info.solved,
                    done: step.done,
                });
                if step.done {
                    let seed = vp.next_seed;
                    vp.reset(seed);
                }
            }
            Err(e) => {
                // A diverged or rejected step pauses the viewport instead of
                // taking the app down; the log says why.
                error!("viewport paused: {e}");
                vp.playing = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Viewport;
    use crate::testing::{headless_app, viewport};

    /// Control steps a viewport has taken after six app updates.
    fn steps_after_six_updates(setup: impl FnOnce(&mut Viewport)) -> usize {
        let mut app = headless_app();
        let mut vp = viewport("reach-easy");
        setup(&mut vp);
        let id = app.world_mut().spawn(vp).id();
        for _ in 0..6 {
            app.update();
        }
        let vp = app.world().get::<Viewport>(id).expect("viewport");
        vp.env.snapshot().step()
    }

    #[test]
    fn playing_viewport_steps_once_per_fixed_tick() {
        let step = steps_after_six_updates(|_| {});
        // The first update only starts the clock; each later one is one tick.
        assert!((4..=6).contains(&step), "stepped {step} times");
    }

    #[test]
    fn paused_viewport_does_not_step() {
        assert_eq!(steps_after_six_updates(|vp| vp.playing = false), 0);
    }

    #[test]
    fn step_once_steps_a_paused_viewport_exactly_once() {
        let step = steps_after_six_updates(|vp| {
            vp.playing = false;
            vp.step_once = true;
        });
        assert_eq!(step, 1);
    }
}
