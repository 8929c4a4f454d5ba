//! Loading an MJCF scene into a rapier world, and the name tables that let
//! tasks refer to its bodies, joints, sites and actuators.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rapier3d::prelude::*;
use rapier3d_mjcf::{ContactFilterMode, MjcfLoaderOptions, MjcfMultibodyOptions, MjcfRobot};

use crate::error::{Result, SimError};
use crate::physics::{JointRef, Physics, free_axis};

/// How one position actuator drives its joint.
#[derive(Clone, Copy, Debug)]
pub struct Servo {
    /// Position gain.
    pub kp: f32,
    /// Velocity gain (plus the joint's damping where the joint is an
    /// impulse joint, which has no per-DoF damping of its own).
    pub kv: f32,
    /// Force limit (`forcerange`), infinite when absent.
    pub force_max: f32,
}

/// Solver iterations (rapier substeps) per physics step. One suffices at the
/// scenes' 4 ms timestep: the hands are reduced-coordinate multibodies, whose
/// joints are exact, so iterations only refine contacts (docs/performance.md
/// has the stability comparison).
pub const SOLVER_ITERATIONS: usize = 1;

/// One position actuator: the joint it drives and its target range.
#[derive(Clone, Debug)]
pub struct Actuator {
    /// MJCF actuator name.
    pub name: String,
    /// Name of the driven joint.
    pub joint_name: String,
    /// The driven joint.
    pub joint: JointRef,
    /// Target range (rad or m): action -1 maps to `lo`, +1 to `hi`.
    pub lo: f32,
    /// Upper end of the target range.
    pub hi: f32,
    /// The PD servo.
    pub servo: Servo,
}

/// How hands and jointed objects are built in rapier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Articulation {
    /// One reduced-coordinate multibody per articulated tree: joints are
    /// exact and fingertips agree with MuJoCo on the same file to about
    /// 0.1 mm (`dexstudio bench agree`).
    #[default]
    Exact,
    /// Cut trees at branch points (the palm): each finger is its own
    /// multibody, attached by an impulse joint. About 1.7× faster on the
    /// hands; the iterative attachment joints cost a few millimetres of
    /// agreement. See docs/performance.md.
    Split,
}

/// A collider drawn by the camera, with its MJCF colour.
#[derive(Clone, Debug)]
pub struct Visual {
    /// The collider (its shape and pose come from the world).
    pub collider: ColliderHandle,
    /// Linear RGB in [0, 1].
    pub rgb: [f32; 3],
}

/// A loaded scene: its initial world and the name tables.
#[derive(Clone)]
pub struct Scene {
    /// The MJCF file.
    pub path: PathBuf,
    /// The world at its initial state.
    pub physics: Physics,
    /// Actuators in MJCF order (the action order).
    pub actuators: Vec<Actuator>,
    /// Joints by name.
    pub joints: BTreeMap<String, JointRef>,
    /// Bodies by name.
    pub bodies: BTreeMap<String, RigidBodyHandle>,
    /// Sites by name: parent body and local position.
    pub sites: BTreeMap<String, (RigidBodyHandle, Vector)>,
    /// What the camera draws.
    pub visuals: Vec<Visual>,
}

impl Scene {
    /// Parse an MJCF file and build its rapier world, exact articulation.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, Articulation::Exact)
    }

    /// Parse an MJCF file and build its rapier world.
    pub fn load_with(path: &Path, articulation: Articulation) -> Result<Self> {
        let source = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let opts = MjcfLoaderOptions {
            skip_plane_geoms: false,
            contact_filter_mode: ContactFilterMode::Asymmetric,
            ..Default::default()
        };
        let mjcf_err = |message: String| SimError::Mjcf {
            path: path.to_path_buf(),
            message,
        };
        // The parser is third-party code: a panic on hostile input must
        // become an error that names the file, not a crash.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            MjcfRobot::from_str(&source, opts, base)
        }))
        .map_err(|_| mjcf_err("the MJCF loader panicked on this file".into()))?;
        let (robot, model) = parsed.map_err(|e| mjcf_err(format!("{e:#}")))?;
        if robot.actuators.is_empty() {
            return Err(mjcf_err("the scene defines no actuators".into()));
        }
        let dt = model.option.timestep as f32;
        if !(dt.is_finite() && dt > 0.0 && dt <= 0.05) {
            return Err(mjcf_err(format!(
                "<option timestep=\"{dt}\"> must be in (0, 0.05] s"
            )));
        }

        // Colours and sites must be read before `insert` consumes the robot.
        let geom_rgb = geom_colours(&model);
        let mut collider_rgb: BTreeMap<(usize, usize), [f32; 3]> = BTreeMap::new();
        for (name, &(bi, ci)) in &robot.geom_name_to_collider {
            if let Some(rgb) = geom_rgb.get(name) {
                collider_rgb.insert((bi, ci), *rgb);
            }
        }
        let mut body_sites: Vec<(usize, String, Vector)> = Vec::new();
        for (i, b) in robot.bodies.iter().enumerate() {
            if b.is_intermediate {
                continue;
            }
            let Some(entry) = model.bodies.get(b.mjcf_body_id) else {
                continue;
            };
            for s in &entry.body.sites {
                if let Some(name) = &s.name {
                    let t = s.pose.translation;
                    body_sites.push((
                        i,
                        name.clone(),
                        Vector::new(t.x as f32, t.y as f32, t.z as f32),
                    ));
                }
            }
        }
        let body_names = robot.body_name_to_idx.clone();
        let joint_names = robot.joint_name_to_idx.clone();
        let gravity = robot.gravity;
        let mut act_meta = Vec::new();
        for (k, a) in robot.actuators.iter().enumerate() {
            let name = a
                .actuator
                .name
                .clone()
                .unwrap_or_else(|| format!("actuator{k}"));
            if a.actuator.kind != rapier3d_mjcf::mjcf_rs::extras::ActuatorKind::Position {
                return Err(mjcf_err(format!(
                    "actuator `{name}`: only <position> actuators are supported"
                )));
            }
            let servo = Servo {
                kp: a.actuator.kp.unwrap_or(1.0) as f32,
                kv: a.actuator.kv.unwrap_or(0.0) as f32,
                force_max: a
                    .actuator
                    .force_range
                    .map_or(f32::INFINITY, |r| r[1].abs() as f32),
            };
            let range = a.actuator.ctrl_range.unwrap_or([-1.0, 1.0]);
            act_meta.push((name, a.joint_index, range, servo));
        }
        // With `Split`, branch points (a palm with four fingers) are cut:
        // each branch becomes its own multibody, attached by an impulse
        // joint. rapier's multibody factorises a dense mass matrix in
        // O(links * dofs^2), so four 9-DoF fingers and a 6-DoF wrist cost
        // less than one 22-DoF hand (docs/performance.md).
        let mut children: BTreeMap<usize, usize> = BTreeMap::new();
        for j in &robot.joints {
            if j.link1 != 0 && free_axis(j.joint.locked_axes).is_some() {
                *children.entry(j.link1).or_default() += 1;
            }
        }
        let cut: Vec<(usize, f32)> = robot
            .joints
            .iter()
            .enumerate()
            .filter(|(_, j)| {
                free_axis(j.joint.locked_axes).is_some()
                    && children.get(&j.link1).copied().unwrap_or(0) >= 2
                    && articulation == Articulation::Split
            })
            .map(|(i, j)| (i, j.damping_per_dof))
            .collect();

        let mut bodies = RigidBodySet::new();
        let mut colliders = ColliderSet::new();
        let mut impulse_joints = ImpulseJointSet::new();
        let mut multibody_joints = MultibodyJointSet::new();
        let handles = robot.insert_using_multibody_joints(
            &mut bodies,
            &mut colliders,
            &mut multibody_joints,
            &mut impulse_joints,
            MjcfMultibodyOptions::empty(),
        );

        let mut attachments = Vec::new();
        let mut cut_refs: BTreeMap<usize, (JointRef, f32)> = BTreeMap::new();
        for &(ji, damping) in &cut {
            let Some(Some(h)) = handles.joints.get(ji).map(|j| j.joint) else {
                continue;
            };
            let Some(data) = multibody_joints
                .get(h)
                .and_then(|(mb, id)| mb.link(id))
                .map(|l| l.joint.data)
            else {
                continue;
            };
            let (b1, b2) = (handles.joints[ji].link1, handles.joints[ji].link2);
            multibody_joints.remove(h, true);
            let ih = impulse_joints.insert(b1, b2, data, true);
            attachments.push(ih);
            if let Some(axis) = free_axis(data.locked_axes) {
                cut_refs.insert(ji, (JointRef::Impulse { handle: ih, axis }, damping));
            }
        }
        let mut joints = BTreeMap::new();
        let mut extra_damping: BTreeMap<String, f32> = BTreeMap::new();
        for (name, &ji) in &joint_names {
            if let Some(&(j, damping)) = cut_refs.get(&ji) {
                joints.insert(name.clone(), j);
                extra_damping.insert(name.clone(), damping);
                continue;
            }
            let Some(Some(handle)) = handles.joints.get(ji).map(|j| j.joint) else {
                continue;
            };
            let axis = multibody_joints
                .get(handle)
                .and_then(|(mb, id)| mb.link(id))
                .and_then(|l| free_axis(l.joint.data.locked_axes));
            if let Some(axis) = axis {
                joints.insert(name.clone(), JointRef::Multibody { handle, axis });
            }
        }
        let inverse_joints: BTreeMap<usize, &String> =
            joint_names.iter().map(|(n, &i)| (i, n)).collect();
        let mut actuators = Vec::new();
        for (name, ji, range, mut servo) in act_meta {
            let joint_name = ji
                .and_then(|i| inverse_joints.get(&i))
                .map(|s| s.to_string());
            let Some(joint_name) = joint_name else {
                return Err(mjcf_err(format!("actuator `{name}` drives no known joint")));
            };
            let Some(&joint) = joints.get(&joint_name) else {
                return Err(mjcf_err(format!(
                    "actuator `{name}` drives joint `{joint_name}`, which is not a 1-DoF multibody joint"
                )));
            };
            servo.kv += extra_damping.get(&joint_name).copied().unwrap_or(0.0);
            actuators.push(Actuator {
                name,
                joint_name,
                joint,
                lo: range[0] as f32,
                hi: range[1] as f32,
                servo,
            });
        }
        let handle_of = |bi: usize| {
            handles
                .bodies
                .get(bi)
                .and_then(|b| b.as_ref())
                .map(|b| b.body)
        };
        let bodies_by_name = body_names
            .iter()
            .filter_map(|(n, &bi)| handle_of(bi).map(|h| (n.clone(), h)))
            .collect();
        let sites = body_sites
            .into_iter()
            .filter_map(|(bi, n, p)| handle_of(bi).map(|h| (n, (h, p))))
            .collect();
        let mut visuals = Vec::new();
        for (bi, b) in handles.bodies.iter().enumerate() {
            let Some(b) = b else { continue };
            for (ci, c) in b.colliders.iter().enumerate() {
                let rgb = collider_rgb
                    .get(&(bi, ci))
                    .copied()
                    .unwrap_or([0.7, 0.7, 0.7]);
                visuals.push(Visual {
                    collider: c.handle,
                    rgb,
                });
            }
        }

        let params = IntegrationParameters {
            dt,
            num_solver_iterations: SOLVER_ITERATIONS,
            ..IntegrationParameters::default()
        };
        let physics = Physics {
            bodies,
            colliders,
            impulse_joints,
            multibody_joints,
            islands: IslandManager::new(),
            broad_phase: BroadPhaseBvh::new(),
            narrow_phase: NarrowPhase::new(),
            ccd: CCDSolver::new(),
            soft_bodies: SoftBodySet::new(),
            params,
            gravity,
            attachments,
        };
        Ok(Self {
            path: path.to_path_buf(),
            physics,
            actuators,
            joints,
            bodies: bodies_by_name,
            sites,
            visuals,
        })
    }

    /// Write PD position targets (one per actuator, in rad or m) into the
    /// joint motors, MuJoCo's `<position>` semantics: force
    /// `kp (target - q) - kv q'`, applied in joint space.
    pub fn apply_controls(&self, p: &mut Physics, ctrl: &[f32]) {
        for (a, &u) in self.actuators.iter().zip(ctrl) {
            match a.joint {
                JointRef::Multibody { handle, axis } => {
                    let Some((mb, id)) = p.multibody_joints.get_mut(handle) else {
                        continue;
                    };
                    let Some(link) = mb.link_mut(id) else {
                        continue;
                    };
                    set_servo(&mut link.joint.data, axis, u, a.servo);
                    let rb = link.rigid_body_handle();
                    if let Some(body) = p.bodies.get_mut(rb) {
                        body.wake_up(true);
                    }
                }
                JointRef::Impulse { handle, axis } => {
                    if let Some(j) = p.impulse_joints.get_mut(handle, true) {
                        set_servo(&mut j.data, axis, u, a.servo);
                    }
                }
            }
        }
    }

    /// A joint by name, or an error naming the scene.
    pub fn joint(&self, name: &str) -> Result<JointRef> {
        self.joints
            .get(name)
            .copied()
            .ok_or_else(|| self.missing("joint", name))
    }

    /// A body by name, or an error naming the scene.
    pub fn body(&self, name: &str) -> Result<RigidBodyHandle> {
        self.bodies
            .get(name)
            .copied()
            .ok_or_else(|| self.missing("body", name))
    }

    /// A site by name, or an error naming the scene.
    pub fn site(&self, name: &str) -> Result<(RigidBodyHandle, Vector)> {
        self.sites
            .get(name)
            .copied()
            .ok_or_else(|| self.missing("site", name))
    }

    fn missing(&self, what: &'static str, name: &str) -> SimError {
        SimError::MissingName {
            path: self.path.clone(),
            what,
            name: name.to_string(),
        }
    }
}

fn set_servo(data: &mut GenericJoint, axis: usize, target: f32, s: Servo) {
    let ax = [
        JointAxis::LinX,
        JointAxis::LinY,
        JointAxis::LinZ,
        JointAxis::AngX,
        JointAxis::AngY,
        JointAxis::AngZ,
    ][axis.min(5)];
    data.set_motor_model(ax, MotorModel::ForceBased);
    data.set_motor_position(ax, target, s.kp, s.kv);
    data.set_motor_max_force(ax, s.force_max);
}

/// RGB of every named geom (sRGB values from the MJCF, used as is).
fn geom_colours(model: &rapier3d_mjcf::mjcf_rs::model::Model) -> BTreeMap<String, [f32; 3]> {
    let mut out = BTreeMap::new();
    for entry in &model.bodies {
        for g in &entry.body.geoms {
            if let (Some(name), Some(rgba)) = (&g.name, g.rgba) {
                out.insert(
                    name.clone(),
                    [rgba[0] as f32, rgba[1] as f32, rgba[2] as f32],
                );
            }
        }
    }
    out
}
