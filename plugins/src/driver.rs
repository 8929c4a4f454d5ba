//! Who acts in a viewport: zero actions, seeded random actions, a frozen
//! expert, a person at the keyboard (teleop), a dataset episode (replay)
//! or a distilled student; and the expert's live Q of the action taken
//! and, while another policy drives, the expert's own action beside it,
//! for the HUD.
//!
//! A new kind of policy is one more [`Policy`] variant with its `act`, and
//! one more [`PolicyChoice`] for the picker.
//!
//! The action is computed each fixed tick just before the step, from the
//! observation the viewport already holds, so the policy sees exactly what
//! it would see headless.

use std::path::Path;
use std::sync::Arc;

use bevy::prelude::*;
use dexlearn::Expert;
use dexlearn::expert::expert_dir;
use dexlearn::student::gap::{StepGap, wrong_sign};
use dexsim::Env;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::PluginError;
use crate::panels::hud::VsExpert;
use crate::replay::Replay;
use crate::sim_step::{SimStepSet, Viewport};
use crate::student::{StudentCkpt, StudentDriver};
use crate::teleop::Teleop;

/// Phases of the plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum DriverSet {
    /// Write each viewport's action for the coming step.
    Act,
}

/// The source of a viewport's actions.
pub enum Policy {
    /// All actuators at the middle of their range.
    Zero,
    /// Uniform in [-1, 1], from a seeded generator (reproducible).
    Random(Box<ChaCha8Rng>),
    /// The deterministic action of a frozen expert.
    Expert(Arc<Expert>),
    /// Keyboard and mouse targets (see [`crate::teleop`]).
    Teleop(Box<Teleop>),
    /// The stored actions of a dataset episode (see [`crate::replay`]).
    Replay(Box<Replay>),
    /// A distilled student, from images (see [`crate::student`]).
    Student(Box<StudentDriver>),
}

impl Policy {
    /// Random actions seeded with `seed`.
    pub fn random(seed: u64) -> Self {
        Self::Random(Box::new(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// A short name for panels.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Zero => "zero",
            Self::Random(_) => "random",
            Self::Expert(_) => "expert",
            Self::Teleop(_) => "teleop",
            Self::Replay(_) => "replay",
            Self::Student(_) => "student",
        }
    }

    fn act(&mut self, vp: &Viewport) -> Result<Vec<f32>, PluginError> {
        let (state, dim) = (&vp.obs.state, vp.env.action_dim());
        match self {
            Self::Zero => Ok(vec![0.0; dim]),
            Self::Random(rng) => Ok((0..dim).map(|_| rng.random_range(-1.0..=1.0)).collect()),
            Self::Expert(e) => {
                let a = e.act(state).map_err(|e| PluginError::Act {
                    policy: "expert",
                    message: e.to_string(),
                })?;
                if a.len() == dim {
                    Ok(a)
                } else {
                    Err(PluginError::ActionSize {
                        policy: "expert",
                        got: a.len(),
                        want: dim,
                    })
                }
            }
            Self::Teleop(t) => Ok(t.act(vp.episode)),
            // Past the stored steps (only until `drive` resets): hold still.
            Self::Replay(r) => Ok(r
                .action(vp.step)
                .map_or_else(|| vec![0.0; dim], <[f32]>::to_vec)),
            Self::Student(s) => s.act(vp),
        }
    }
}

/// Which policy a driver picker asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyChoice {
    /// Zero actions.
    Zero,
    /// Seeded random actions.
    Random,
    /// The task's expert.
    Expert,
    /// The keyboard and mouse.
    Teleop,
    /// A dataset episode (chosen in the Replay panel, not the picker).
    Replay,
    /// The student last loaded into the viewport.
    Student,
}

impl PolicyChoice {
    /// The choice that gives `policy`.
    pub fn of(policy: &Policy) -> Self {
        match policy {
            Policy::Zero => Self::Zero,
            Policy::Random(_) => Self::Random,
            Policy::Expert(_) => Self::Expert,
            Policy::Teleop(_) => Self::Teleop,
            Policy::Replay(_) => Self::Replay,
            Policy::Student(_) => Self::Student,
        }
    }
}

/// A viewport's driver: its policy, the task's expert (used as the critic
/// whatever the policy) and the latest Q.
#[derive(Component)]
pub struct Driver {
    /// What acts.
    pub policy: Policy,
    /// The task's expert, or why there is none (shown in the UI).
    pub expert: Result<Arc<Expert>, String>,
    /// `min(Q1, Q2)` of the last state and action, when an expert is loaded.
    pub q: Option<f32>,
    /// The last action against the expert's at the same state, while
    /// another policy drives and an expert is loaded.
    pub vs_expert: Option<VsExpert>,
    /// Why the policy was last replaced by zero actions, if it was.
    pub note: Option<String>,
    /// The student last loaded here, so the picker can go back to it.
    pub student: Option<StudentCkpt>,
}

impl Driver {
    /// Zero actions, with `expert` as the critic.
    pub fn new(expert: Result<Arc<Expert>, String>) -> Self {
        Self {
            policy: Policy::Zero,
            expert,
            q: None,
            vs_expert: None,
            note: None,
            student: None,
        }
    }

    /// Drive with `ckpt` from the next step and keep it for the picker;
    /// a student that cannot drive `env` leaves the driver as it was.
    pub fn use_student(&mut self, ckpt: StudentCkpt, env: &Env) -> Result<(), PluginError> {
        let policy = Policy::Student(Box::new(StudentDriver::new(ckpt.clone(), env)?));
        self.student = Some(ckpt);
        self.policy = policy;
        self.note = None;
        Ok(())
    }

    /// Switch to `choice` for `env`; random actions are seeded with its
    /// episode seed. Asking for a missing expert (or teleop of a task
    /// without a hand) leaves zero actions and says why. A replay is only
    /// kept, never started here: it needs a dataset episode.
    pub fn choose(&mut self, choice: PolicyChoice, env: &Env) -> Result<(), PluginError> {
        self.note = None;
        let policy = match (choice, &self.expert) {
            (PolicyChoice::Zero, _) => Ok(Policy::Zero),
            (PolicyChoice::Random, _) => Ok(Policy::random(env.seed())),
            (PolicyChoice::Expert, Ok(e)) => Ok(Policy::Expert(e.clone())),
            (PolicyChoice::Expert, Err(why)) => Err(PluginError::Unavailable(why.clone())),
            (PolicyChoice::Teleop, _) => Teleop::new(env).map(|t| Policy::Teleop(Box::new(t))),
            (PolicyChoice::Replay, _) => match std::mem::replace(&mut self.policy, Policy::Zero) {
                Policy::Replay(r) if r.task == env.task().spec.name => Ok(Policy::Replay(r)),
                _ => Err(PluginError::Unavailable(
                    "choose a dataset episode in the Replay panel".into(),
                )),
            },
            (PolicyChoice::Student, _) => match &self.student {
                Some(s) => StudentDriver::new(s.clone(), env).map(|d| Policy::Student(Box::new(d))),
                None => Err(PluginError::Unavailable(
                    "load a student in the Students panel first".into(),
                )),
            },
        };
        match policy {
            Ok(p) => {
                self.policy = p;
                Ok(())
            }
            Err(why) => {
                self.policy = Policy::Zero;
                Err(why)
            }
        }
    }
}

/// Load the expert of `env`'s task: from the session first, else the
/// shipped one; an expert trained for other state or action sizes is
/// refused here rather than failing at every step.
pub fn load_expert(session: Option<&Path>, env: &Env) -> Result<Arc<Expert>, PluginError> {
    let task = &env.task().spec.name;
    let session_dir = session.map(|s| expert_dir(Some(s), task));
    let shipped = expert_dir(None, task);
    if let Some(Ok(e)) = session_dir.as_deref().map(Expert::load) {
        return fits(e, session_dir.unwrap_or_default(), env);
    }
    match Expert::load(&shipped) {
        Ok(e) => fits(e, shipped, env),
        Err(source) => Err(PluginError::NoExpert {
            task: task.clone(),
            source,
        }),
    }
}

/// `e`, if it was trained for `env`'s state and action sizes.
fn fits(e: Expert, dir: std::path::PathBuf, env: &Env) -> Result<Arc<Expert>, PluginError> {
    let m = &e.meta;
    if m.state_dim != env.state_dim() || m.action_dim != env.action_dim() {
        return Err(PluginError::ExpertShape {
            dir,
            task: env.task().spec.name.clone(),
            expert_state: m.state_dim,
            expert_action: m.action_dim,
            state: env.state_dim(),
            action: env.action_dim(),
        });
    }
    Ok(Arc::new(e))
}

/// Computes every stepping viewport's action before [`SimStepSet::Step`].
pub struct DriverPlugin;

impl Plugin for DriverPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(FixedUpdate, DriverSet::Act.before(SimStepSet::Step))
            .add_systems(FixedUpdate, drive.in_set(DriverSet::Act));
    }
}

fn drive(mut viewports: Query<(&mut Viewport, &mut Driver)>) {
    for (mut vp, mut d) in &mut viewports {
        if !vp.wants_step() {
            continue;
        }
        let (vp, d) = (&mut *vp, &mut *d);
        // A replay starts over from its stored seed whenever the viewport
        // leaves it: the episode ended, or a reset picked another seed.
        if let Policy::Replay(r) = &d.policy
            && r.wants_reset(vp)
        {
            vp.reset(r.seed);
        }
        let dim = vp.env.action_dim();
        vp.action = match d.policy.act(vp) {
            Ok(a) => a,
            Err(e) => {
                // Keep stepping with zero actions and say why in the HUD.
                warn!("driver replaced by zero actions: {e}");
                d.note = Some(e.to_string());
                d.policy = Policy::Zero;
                vec![0.0; dim]
            }
        };
        d.q = match &d.expert {
            Ok(e) => e
                .q(&vp.obs.state, &vp.action)
                .ok()
                .and_then(|q| q.first().copied()),
            Err(_) => None,
        };
        d.vs_expert = match (&d.policy, &d.expert) {
            (Policy::Expert(_), _) | (_, Err(_)) => None,
            (_, Ok(e)) => e
                .act(&vp.obs.state)
                .ok()
                .map(|e| vs_expert(&vp.action, &e, &vp.env)),
        };
    }
}

/// The policy's action `a` against the expert's `e`, with the actuators it
/// pushes the wrong way, largest gap first.
fn vs_expert(a: &[f32], e: &[f32], env: &Env) -> VsExpert {
    let g = StepGap::of(a, e);
    let mut wrong: Vec<(f32, usize)> = a
        .iter()
        .zip(e)
        .enumerate()
        .filter(|(_, (x, y))| wrong_sign(**x, **y))
        .map(|(j, (x, y))| ((x - y).abs(), j))
        .collect();
    wrong.sort_by(|p, q| q.0.total_cmp(&p.0));
    let names = &env.scene().actuators;
    VsExpert {
        abs: g.abs,
        decisive: g.decisive,
        flipped: g.flipped,
        wrong: wrong
            .iter()
            .filter_map(|&(_, j)| names.get(j).map(|n| n.name.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bevy::prelude::*;

    use super::{Driver, DriverPlugin, Policy, load_expert};
    use crate::panels::hud::VsExpert;
    use crate::testing::{headless_app, tiny_expert, viewport};

    /// The action the viewport holds after a few ticks under `policy`, its
    /// Q and its comparison with the expert.
    fn after_ticks(
        policy: Policy,
        expert: Result<Arc<dexlearn::Expert>, String>,
    ) -> (Vec<f32>, Option<f32>, Option<VsExpert>) {
        let mut app = headless_app();
        app.add_plugins(DriverPlugin);
        let mut d = Driver::new(expert);
        d.policy = policy;
        let id = app.world_mut().spawn((viewport("reach-easy"), d)).id();
        for _ in 0..4 {
            app.update();
        }
        let vp = app.world().get::<crate::Viewport>(id).expect("viewport");
        let d = app.world().get::<Driver>(id).expect("driver");
        assert!(d.note.is_none(), "unexpected note {:?}", d.note);
        (vp.action.clone(), d.q, d.vs_expert.clone())
    }

    /// `after_ticks` without the comparison.
    fn action_after_ticks(
        policy: Policy,
        expert: Result<Arc<dexlearn::Expert>, String>,
    ) -> (Vec<f32>, Option<f32>) {
        let (a, q, _) = after_ticks(policy, expert);
        (a, q)
    }

    #[test]
    fn zero_policy_holds_zero_actions() {
        let (a, q) = action_after_ticks(Policy::Zero, Err("none".into()));
        assert!(a.iter().all(|&x| x == 0.0));
        assert_eq!(q, None, "no expert, no Q");
    }

    #[test]
    fn random_policy_is_seeded_and_in_range() {
        let (a, _) = action_after_ticks(Policy::random(7), Err("none".into()));
        let (b, _) = action_after_ticks(Policy::random(7), Err("none".into()));
        assert_eq!(a, b, "same seed, same actions");
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert!(a.iter().any(|&x| x != 0.0));
    }

    #[test]
    fn expert_policy_acts_and_reports_q() {
        let vp = viewport("reach-easy");
        let e = tiny_expert(&vp.env);
        let (a, q) = action_after_ticks(Policy::Expert(e.clone()), Ok(e.clone()));
        assert_eq!(a.len(), vp.env.action_dim());
        assert!(q.is_some_and(f32::is_finite), "Q {q:?}");
    }

    #[test]
    fn another_policy_is_set_against_the_expert() {
        let vp = viewport("reach-easy");
        let e = tiny_expert(&vp.env);
        let (a, _, g) = after_ticks(Policy::random(3), Ok(e.clone()));
        let g = g.expect("a random policy beside an expert is compared");
        // One name per decisive value pushed the wrong way, each a joint
        // of the scene.
        assert!(g.abs.is_finite() && g.abs > 0.0 && g.abs <= 2.0, "{g:?}");
        assert_eq!(usize::from(g.flipped), g.wrong.len());
        assert!(g.flipped <= g.decisive && usize::from(g.decisive) <= a.len());
        let names: Vec<&str> = vp
            .env
            .scene()
            .actuators
            .iter()
            .map(|x| x.name.as_str())
            .collect();
        assert!(g.wrong.iter().all(|w| names.contains(&w.as_str())), "{g:?}");
        // The expert itself, or no expert: nothing to compare.
        assert_eq!(after_ticks(Policy::Expert(e.clone()), Ok(e)).2, None);
        assert_eq!(after_ticks(Policy::random(3), Err("none".into())).2, None);
    }

    #[test]
    fn missing_expert_is_a_message_not_a_panic() {
        let vp = viewport("reach-easy");
        let dir = std::env::temp_dir().join(format!("dexstudio-no-expert-{}", std::process::id()));
        // The shipped experts may or may not exist; a session without one
        // must at least fall through to them, and a miss must say so.
        match load_expert(Some(&dir), &vp.env) {
            Ok(e) => assert_eq!(e.meta.task, "reach-easy"),
            Err(why) => assert!(
                why.to_string().contains("no expert for reach-easy"),
                "{why}"
            ),
        }
    }
}
