//! Loading an MJCF scene into a rapier world, and the name tables that let
//! tasks refer to its bodies, joints, sites and actuators.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rapier3d::prelude::*;
use rapier3d_mjcf::{ContactFilterMode, MjcfLoaderOptions, MjcfMultibodyOptions, MjcfRobot};

use crate::error::{Result, SimError};
use crate::physics::{JointRef, Physics, free_axis};

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
    /// The loader's actuator bindings, used to write PD targets.
    pub controls: rapier3d_mjcf::MjcfRobotHandles<Option<MultibodyJointHandle>>,
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
    /// Parse an MJCF file and build its rapier world.
    pub fn load(path: &Path) -> Result<Self> {
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
        let act_meta: Vec<(String, Option<usize>, [f64; 2])> = robot
            .actuators
            .iter()
            .enumerate()
            .map(|(k, a)| {
                (
                    a.actuator
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("actuator{k}")),
                    a.joint_index,
                    a.actuator.ctrl_range.unwrap_or([-1.0, 1.0]),
                )
            })
            .collect();

        let mut bodies = RigidBodySet::new();
        let mut colliders = ColliderSet::new();
        let mut impulse_joints = ImpulseJointSet::new();
        let mut multibody_joints = MultibodyJointSet::new();
        let controls = robot.insert_using_multibody_joints(
            &mut bodies,
            &mut colliders,
            &mut multibody_joints,
            &mut impulse_joints,
            MjcfMultibodyOptions::empty(),
        );

        let mut joints = BTreeMap::new();
        for (name, &ji) in &joint_names {
            let Some(Some(handle)) = controls.joints.get(ji).map(|j| j.joint) else {
                continue;
            };
            let axis = multibody_joints
                .get(handle)
                .and_then(|(mb, id)| mb.link(id))
                .and_then(|l| free_axis(l.joint.data.locked_axes));
            if let Some(axis) = axis {
                joints.insert(name.clone(), JointRef { handle, axis });
            }
        }
        let inverse_joints: BTreeMap<usize, &String> =
            joint_names.iter().map(|(n, &i)| (i, n)).collect();
        let mut actuators = Vec::new();
        for (name, ji, range) in act_meta {
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
            actuators.push(Actuator {
                name,
                joint_name,
                joint,
                lo: range[0] as f32,
                hi: range[1] as f32,
            });
        }
        let handle_of = |bi: usize| {
            controls
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
        for (bi, b) in controls.bodies.iter().enumerate() {
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
        };
        Ok(Self {
            path: path.to_path_buf(),
            physics,
            controls,
            actuators,
            joints,
            bodies: bodies_by_name,
            sites,
            visuals,
        })
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
