//! Stepping simulated viewports on Bevy's fixed timestep.
//!
//! The environment is `dexsim`'s: the same code that trains headless. This
//! plugin only decides when to step (play/pause, speed) and with which
//! action; rendering and panels read the resulting state.

use bevy::prelude::*;
use dexsim::Env;

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
    /// The action applied at every step (drivers overwrite it).
    pub action: Vec<f32>,
    /// Last step's reward.
    pub reward: f32,
    /// Last step's success predicate.
    pub success: bool,
    /// Seed of the next reset.
    pub next_seed: u64,
}

impl Viewport {
    /// A paused viewport over an environment, holding zero actions.
    pub fn new(env: Env) -> Self {
        let action = vec![0.0; env.action_dim()];
        let next_seed = env.seed() + 1;
        Self {
            env,
            playing: true,
            action,
            reward: 0.0,
            success: false,
            next_seed,
        }
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
        if !vp.playing {
            continue;
        }
        let action = vp.action.clone();
        match vp.env.step(&action) {
            Ok(step) => {
                vp.reward = step.reward;
                vp.success = step.info.success;
                if step.done {
                    let seed = vp.next_seed;
                    vp.env.reset(seed);
                    vp.next_seed += 1;
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
    use std::time::Duration;

    use bevy::prelude::*;
    use bevy::time::TimeUpdateStrategy;
    use dexsim::{Catalog, Env, EnvConfig};

    use super::{SimStepPlugin, Viewport};

    /// Control steps a viewport has taken after six app updates.
    fn steps_after_six_updates(playing: bool) -> usize {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, SimStepPlugin));
        app.insert_resource(Time::<Fixed>::from_hz(25.0));
        app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            40,
        )));
        let cat = Catalog::bundled().expect("catalog");
        let cfg = EnvConfig {
            image_size: 16,
            render: false,
            ..EnvConfig::default()
        };
        let env = Env::from_catalog(&cat, "reach-easy", cfg).expect("env");
        let mut vp = Viewport::new(env);
        vp.playing = playing;
        let id = app.world_mut().spawn(vp).id();
        for _ in 0..6 {
            app.update();
        }
        let vp = app.world().get::<Viewport>(id).expect("viewport");
        vp.env.snapshot().step()
    }

    #[test]
    fn playing_viewport_steps_once_per_fixed_tick() {
        let step = steps_after_six_updates(true);
        // The first update only starts the clock; each later one is one tick.
        assert!((4..=6).contains(&step), "stepped {step} times");
    }

    #[test]
    fn paused_viewport_does_not_step() {
        assert_eq!(steps_after_six_updates(false), 0);
    }
}
