//! One environment: `reset(seed)` and `step(action)`, observations, and
//! snapshots of the full state.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;

use crate::catalog::Catalog;
use crate::error::{Result, SimError};
use crate::physics::{JointRef, Physics};
use crate::render::{Camera, Image, render};
use crate::scene::{Articulation, Scene};
use crate::task::{Eval, Goal, Task, body_pose};

/// Options of an environment that do not belong to the task.
#[derive(Clone, Copy, Debug)]
pub struct EnvConfig {
    /// Side of the square camera image (pixels).
    pub image_size: usize,
    /// Render the camera image at every step. Off for state-only RL, where
    /// images are never read; `image` is then left blank.
    pub render: bool,
    /// How the scene's articulations are built (exact by default).
    pub articulation: Articulation,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self {
            image_size: 64,
            render: true,
            articulation: Articulation::Exact,
        }
    }
}

/// What a policy receives after `reset` and each `step`.
#[derive(Clone, Debug)]
pub struct Observation {
    /// Privileged state (experts and critics only); layout in docs/tasks.md.
    pub state: Vec<f32>,
    /// Proprioception: actuated joint positions, then velocities.
    pub proprio: Vec<f32>,
    /// RGB camera image (no pixels when `EnvConfig::render` is off).
    pub image: Image,
    /// The episode's goal image (shared, it is the same every step).
    pub goal_image: Arc<Image>,
}

/// Diagnostics of one step.
#[derive(Clone, Debug, Default)]
pub struct Info {
    /// The success predicate holds at this step.
    pub success: bool,
    /// The episode is solved: success held for `hold_steps` in a row at
    /// some point of the episode.
    pub solved: bool,
    /// The object was dropped or knocked away.
    pub dropped: bool,
    /// The episode ended on its time limit.
    pub truncated: bool,
    /// Control steps taken in this episode.
    pub step: usize,
    /// Unweighted reward terms.
    pub terms: [(&'static str, f32); 7],
}

/// Result of one step.
#[derive(Clone, Debug)]
pub struct Step {
    /// Observation after the step.
    pub obs: Observation,
    /// Reward of the step.
    pub reward: f32,
    /// The episode ended (success, drop or time limit).
    pub done: bool,
    /// Diagnostics.
    pub info: Info,
}

/// The full mutable state of an environment; cloning it is a snapshot.
#[derive(Clone)]
pub struct Snapshot {
    physics: Physics,
    goal: Goal,
    goal_image: Arc<Image>,
    start_pose: Vec<Pose>,
    step: usize,
    hold: usize,
    solved: bool,
    done: bool,
    seed: u64,
    ret: f64,
}

impl Snapshot {
    /// Control steps taken in the episode.
    pub fn step(&self) -> usize {
        self.step
    }
}

/// One environment of a task.
pub struct Env {
    scene: Arc<Scene>,
    task: Arc<Task>,
    cfg: EnvConfig,
    camera: Camera,
    frame_skip: usize,
    pipeline: PhysicsPipeline,
    s: Snapshot,
    /// Pushes for the next control step: (body, world point, force).
    pushes: Vec<(RigidBodyHandle, Vector, Vector)>,
}

impl Env {
    /// An environment of a bundled task, reset with seed 0.
    pub fn from_catalog(catalog: &Catalog, task: &str, cfg: EnvConfig) -> Result<Self> {
        let spec = catalog.task(task)?;
        let scene = Scene::load_with(&catalog.dir.join(&spec.scene), cfg.articulation)?;
        let task = Task::new(spec, &scene)?;
        Self::new(Arc::new(scene), Arc::new(task), cfg)
    }

    /// An environment over a loaded scene and task (shared between envs).
    pub fn new(scene: Arc<Scene>, task: Arc<Task>, cfg: EnvConfig) -> Result<Self> {
        if cfg.image_size == 0 || cfg.image_size > 1024 {
            return Err(SimError::Invalid {
                what: "image size",
                message: format!("{} must be in 1..=1024 pixels", cfg.image_size),
            });
        }
        let dt = f64::from(scene.physics.params.dt);
        let frame_skip = ((1.0 / (task.spec.control_hz * dt)).round() as usize).max(1);
        let c = &task.spec.camera;
        let camera = Camera {
            eye: Vector::from_array(c.eye),
            target: Vector::from_array(c.target),
            fov_deg: c.fov_deg,
            width: cfg.image_size,
            height: cfg.image_size,
        };
        let blank = Arc::new(Image::new(cfg.image_size, cfg.image_size));
        let s = Snapshot {
            physics: scene.physics.clone(),
            goal: Goal {
                vector: vec![0.0; task.goal_dim()],
                hand_q: Vec::new(),
                markers: Vec::new(),
            },
            goal_image: blank,
            start_pose: Vec::new(),
            step: 0,
            hold: 0,
            solved: false,
            done: true,
            seed: 0,
            ret: 0.0,
        };
        let mut env = Self {
            scene,
            task,
            cfg,
            camera,
            frame_skip,
            pipeline: PhysicsPipeline::new(),
            s,
            pushes: Vec::new(),
        };
        env.reset(0);
        Ok(env)
    }

    /// Start a new episode. The same seed always gives the same episode.
    pub fn reset(&mut self, seed: u64) -> Observation {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut physics = self.scene.physics.clone();
        let spec = &self.task.spec;
        let init: Vec<(JointRef, f32)> = self
            .scene
            .actuators
            .iter()
            .map(|a| {
                let noise = spec.init_noise as f32 * (2.0 * rng.random::<f32>() - 1.0);
                (a.joint, (0.0f32).clamp(a.lo, a.hi) + noise)
            })
            .collect();
        physics.set_joint_q(&init);
        for &b in &self.task.bodies {
            let free = physics.multibody_joints.rigid_body_link(b).is_none();
            if free && spec.object_noise > 0.0 {
                let n = spec.object_noise as f32;
                let mut pose = body_pose(&physics, b);
                pose.translation.x += n * (2.0 * rng.random::<f32>() - 1.0);
                pose.translation.y += n * (2.0 * rng.random::<f32>() - 1.0);
                physics.set_body_pose(b, pose);
            }
        }
        let start_pose: Vec<Pose> = self
            .task
            .bodies
            .iter()
            .map(|&b| body_pose(&physics, b))
            .collect();
        let goal = self.task.sample_goal(&self.scene, &physics, &mut rng);
        let goal_image = if self.cfg.render {
            let mut g = physics.clone();
            self.task
                .apply_goal(&self.scene, &mut g, &goal, &start_pose);
            render(&g, &self.scene.visuals, &goal.markers, &self.camera)
        } else {
            Image::new(self.cfg.image_size, self.cfg.image_size)
        };
        self.pushes.clear();
        // Hold the initial posture until the first action arrives.
        let ctrl: Vec<f32> = init.iter().map(|&(_, q)| q).collect();
        self.scene.apply_controls(&mut physics, &ctrl);
        self.s = Snapshot {
            physics,
            goal,
            goal_image: Arc::new(goal_image),
            start_pose,
            step: 0,
            hold: 0,
            solved: false,
            done: false,
            seed,
            ret: 0.0,
        };
        self.observe()
    }

    /// Apply an action for one control step (`frame_skip` physics steps).
    ///
    /// Finite values outside [-1, 1] are clamped; NaN or infinite values are
    /// an error and leave the state untouched. Stepping a finished episode
    /// is allowed (the time limit keeps reporting `done`).
    pub fn step(&mut self, action: &[f32]) -> Result<Step> {
        let n = self.scene.actuators.len();
        if action.len() != n {
            return Err(SimError::ActionDim {
                task: self.task.spec.name.clone(),
                expected: n,
                got: action.len(),
            });
        }
        if let Some((index, &value)) = action.iter().enumerate().find(|(_, a)| !a.is_finite()) {
            return Err(SimError::NonFiniteAction { index, value });
        }
        let clamped: Vec<f32> = action.iter().map(|a| a.clamp(-1.0, 1.0)).collect();
        let ctrl: Vec<f32> = clamped
            .iter()
            .zip(&self.scene.actuators)
            .map(|(&a, act)| act.lo + 0.5 * (a + 1.0) * (act.hi - act.lo))
            .collect();
        let p = &mut self.s.physics;
        self.scene.apply_controls(p, &ctrl);
        let saved = push(p, &std::mem::take(&mut self.pushes));
        for _ in 0..self.frame_skip {
            p.step(&mut self.pipeline);
        }
        release(p, &saved);
        if let Some(what) = p.non_finite() {
            self.s.done = true;
            return Err(SimError::Diverged {
                task: self.task.spec.name.clone(),
                step: self.s.step,
                what,
            });
        }
        self.s.step += 1;
        let eval: Eval =
            self.task
                .evaluate(&self.s.physics, &self.s.goal, &self.s.start_pose, &clamped);
        self.s.hold = if eval.success { self.s.hold + 1 } else { 0 };
        if self.s.hold >= self.task.spec.hold_steps {
            self.s.solved = true;
        }
        let spec = &self.task.spec;
        let truncated = self.s.step >= spec.episode_steps;
        let done = truncated
            || (spec.terminate_on_success && self.s.solved)
            || (spec.terminate_on_drop && eval.dropped);
        self.s.done = done;
        self.s.ret += f64::from(eval.reward);
        Ok(Step {
            obs: self.observe(),
            reward: eval.reward,
            done,
            info: Info {
                success: eval.success,
                solved: self.s.solved,
                dropped: eval.dropped,
                truncated,
                step: self.s.step,
                terms: eval.terms,
            },
        })
    }

    /// The current observation.
    pub fn observe(&self) -> Observation {
        let image = if self.cfg.render {
            self.render_camera(&self.camera)
        } else {
            // No pixels: state-only training never reads them, and an
            // allocation per step would cost VecEnv scaling.
            Image {
                width: self.cfg.image_size,
                height: self.cfg.image_size,
                rgb: Vec::new(),
            }
        };
        Observation {
            state: self.state_vector(),
            proprio: self.proprio(),
            image,
            goal_image: Arc::clone(&self.s.goal_image),
        }
    }

    /// Render the current world from any camera, with the goal markers.
    pub fn render_camera(&self, cam: &Camera) -> Image {
        render(
            &self.s.physics,
            &self.scene.visuals,
            &self.s.goal.markers,
            cam,
        )
    }

    /// Actuated joint positions then velocities.
    pub fn proprio(&self) -> Vec<f32> {
        let p = &self.s.physics;
        let acts = &self.scene.actuators;
        acts.iter()
            .map(|a| p.joint_q(a.joint))
            .chain(acts.iter().map(|a| p.joint_qd(a.joint)))
            .collect()
    }

    /// The privileged state vector (docs/tasks.md gives the layout).
    pub fn state_vector(&self) -> Vec<f32> {
        let p = &self.s.physics;
        let mut s = self.proprio();
        s.extend(self.task.tips(p).iter().flat_map(|t| t.to_array()));
        for &b in &self.task.bodies {
            if let Some(rb) = p.bodies.get(b) {
                let pose = rb.position();
                s.extend(pose.translation.to_array());
                s.extend(pose.rotation.to_array());
                s.extend(rb.linvel().to_array());
                s.extend(rb.angvel().to_array());
            }
        }
        for &j in &self.task.joints {
            s.push(p.joint_q(j));
            s.push(p.joint_qd(j));
        }
        s.extend(&self.s.goal.vector);
        s.push(self.s.step as f32 / self.task.spec.episode_steps as f32);
        s
    }

    /// A copy of the full state, to restore later.
    pub fn snapshot(&self) -> Snapshot {
        self.s.clone()
    }

    /// Return to a snapshot taken from an environment of the same task.
    pub fn restore(&mut self, snap: &Snapshot) {
        self.s = snap.clone();
        self.pushes.clear();
    }

    /// Push `body` with `force` (N, world frame) at the world `point` for
    /// the next control step only (all its physics steps); the push is then
    /// forgotten, as it is by `reset` and `restore`. Viewers use it to drag
    /// objects with the mouse; snapshots never hold it, so nothing else
    /// changes. A second push of the same body before the step replaces
    /// the first.
    pub fn set_external_force(
        &mut self,
        body: RigidBodyHandle,
        point: Vector,
        force: Vector,
    ) -> Result<()> {
        let invalid = |message: String| SimError::Invalid {
            what: "external force",
            message,
        };
        if !(point.is_finite() && force.is_finite()) {
            return Err(invalid(format!(
                "force {force:?} at {point:?} is not finite"
            )));
        }
        match self.s.physics.bodies.get(body) {
            Some(rb) if rb.is_dynamic() => {}
            Some(_) => return Err(invalid(format!("body {body:?} is not dynamic"))),
            None => return Err(invalid(format!("no body {body:?} in this scene"))),
        }
        self.pushes.retain(|&(b, _, _)| b != body);
        self.pushes.push((body, point, force));
        Ok(())
    }

    /// Number of actuators (the action size).
    pub fn action_dim(&self) -> usize {
        self.scene.actuators.len()
    }

    /// Length of the privileged state vector.
    pub fn state_dim(&self) -> usize {
        self.state_vector().len()
    }

    /// Physics steps per control step.
    pub fn frame_skip(&self) -> usize {
        self.frame_skip
    }

    /// The task.
    pub fn task(&self) -> &Arc<Task> {
        &self.task
    }

    /// The scene.
    pub fn scene(&self) -> &Arc<Scene> {
        &self.scene
    }

    /// The physics world (read-only; for viewers).
    pub fn physics(&self) -> &Physics {
        &self.s.physics
    }

    /// The current episode's goal.
    pub fn goal(&self) -> &Goal {
        &self.s.goal
    }

    /// The episode is over.
    pub fn is_done(&self) -> bool {
        self.s.done
    }

    /// The episode has been solved.
    pub fn is_solved(&self) -> bool {
        self.s.solved
    }

    /// Undiscounted return so far.
    pub fn episode_return(&self) -> f64 {
        self.s.ret
    }

    /// Seed of the current episode.
    pub fn seed(&self) -> u64 {
        self.s.seed
    }

    /// The observation camera.
    pub fn camera(&self) -> Camera {
        self.camera
    }

    /// Options of this environment.
    pub fn config(&self) -> EnvConfig {
        self.cfg
    }
}

/// Apply pushes as user forces, returning each body's previous user force
/// and torque so that [`release`] puts them back exactly.
fn push(
    p: &mut Physics,
    pushes: &[(RigidBodyHandle, Vector, Vector)],
) -> Vec<(RigidBodyHandle, Vector, AngVector)> {
    let mut saved = Vec::with_capacity(pushes.len());
    for &(body, point, force) in pushes {
        if let Some(rb) = p.bodies.get_mut(body) {
            saved.push((body, rb.user_force(), rb.user_torque()));
            rb.add_force_at_point(force, point, true);
        }
    }
    saved
}

/// Undo [`push`]: rapier keeps user forces until they are reset.
fn release(p: &mut Physics, saved: &[(RigidBodyHandle, Vector, AngVector)]) {
    for &(body, force, torque) in saved.iter().rev() {
        if let Some(rb) = p.bodies.get_mut(body) {
            rb.reset_forces(false);
            rb.reset_torques(false);
            rb.add_force(force, false);
            rb.add_torque(torque, false);
        }
    }
}
