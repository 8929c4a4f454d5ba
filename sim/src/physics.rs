//! The rapier world of one environment, and the few reduced-coordinate
//! accessors the tasks need. The whole struct is `Clone`: a clone is an exact
//! snapshot (contact caches and warm-start impulses included), which is what
//! makes restore-and-continue bit-identical.

use rapier3d::prelude::*;

/// A 1-DoF joint of the scene: a link of a multibody, or one of the
/// impulse joints that attach a branch (a finger) to its parent (the palm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JointRef {
    /// A multibody link joint and the index of its free coordinate
    /// (0..3 linear, 3..6 angular).
    Multibody {
        /// The rapier multibody joint.
        handle: MultibodyJointHandle,
        /// The free coordinate.
        axis: usize,
    },
    /// An impulse joint attaching a branch's root to its parent.
    Impulse {
        /// The rapier impulse joint.
        handle: ImpulseJointHandle,
        /// The free coordinate.
        axis: usize,
    },
}

/// Every rapier set of one world plus its integration parameters.
#[derive(Clone)]
pub struct Physics {
    /// Rigid bodies.
    pub bodies: RigidBodySet,
    /// Colliders.
    pub colliders: ColliderSet,
    /// Impulse joints (loop closures only; the scenes use multibodies).
    pub impulse_joints: ImpulseJointSet,
    /// Reduced-coordinate articulations: hands and jointed objects.
    pub multibody_joints: MultibodyJointSet,
    /// Island bookkeeping.
    pub islands: IslandManager,
    /// Broad phase.
    pub broad_phase: BroadPhaseBvh,
    /// Narrow phase (contact manifolds and warm-start impulses).
    pub narrow_phase: NarrowPhase,
    /// Continuous collision detection state.
    pub ccd: CCDSolver,
    /// Soft bodies (unused, required by the pipeline).
    pub soft_bodies: SoftBodySet,
    /// Timestep and solver settings.
    pub params: IntegrationParameters,
    /// Gravity (m/s²).
    pub gravity: Vector,
    /// Impulse joints that attach branch roots, parents before children;
    /// [`Physics::sync_multibodies`] re-places the branches along them.
    pub attachments: Vec<ImpulseJointHandle>,
}

impl Physics {
    /// Advance one physics timestep.
    pub fn step(&mut self, pipeline: &mut PhysicsPipeline) {
        pipeline.step(
            self.gravity,
            &self.params,
            &mut self.islands,
            &mut self.broad_phase,
            &mut self.narrow_phase,
            &mut self.bodies,
            &mut self.colliders,
            &mut self.impulse_joints,
            &mut self.multibody_joints,
            &mut self.soft_bodies,
            &mut self.ccd,
            &(),
            &(),
        );
    }

    /// Position of a 1-DoF joint (rad or m), 0 if the handle is stale.
    pub fn joint_q(&self, j: JointRef) -> f32 {
        match j {
            JointRef::Multibody { handle, axis } => self
                .multibody_joints
                .get(handle)
                .and_then(|(mb, id)| mb.link(id))
                .map_or(0.0, |l| l.joint.coords()[axis]),
            JointRef::Impulse { handle, axis } => self
                .impulse_relative(handle)
                .map_or(0.0, |(rel, _, _)| pose_coordinate(&rel, axis)),
        }
    }

    /// Velocity of a 1-DoF joint.
    pub fn joint_qd(&self, j: JointRef) -> f32 {
        match j {
            JointRef::Multibody { handle, .. } => self
                .multibody_joints
                .get(handle)
                .and_then(|(mb, id)| mb.link(id).map(|l| mb.joint_velocity(l)))
                .and_then(|v| v.iter().next().copied())
                .unwrap_or(0.0),
            JointRef::Impulse { handle, axis } => {
                let Some((_, f1, (b1, b2))) = self.impulse_relative(handle) else {
                    return 0.0;
                };
                let (r1, r2) = (&self.bodies[b1], &self.bodies[b2]);
                let dir = f1.rotation * Vector::ith(axis % 3, 1.0);
                if axis < 3 {
                    (r2.linvel() - r1.linvel()).dot(dir)
                } else {
                    (r2.angvel() - r1.angvel()).dot(dir)
                }
            }
        }
    }

    /// The joint frame on body 1 in world space, the relative pose of frame
    /// 2 in frame 1, and the two bodies.
    fn impulse_relative(
        &self,
        h: ImpulseJointHandle,
    ) -> Option<(Pose, Pose, (RigidBodyHandle, RigidBodyHandle))> {
        let j = self.impulse_joints.get(h)?;
        let (b1, b2) = (j.body1(), j.body2());
        let f1 = *self.bodies.get(b1)?.position() * j.data.local_frame1;
        let f2 = *self.bodies.get(b2)?.position() * j.data.local_frame2;
        Some((f1.inv_mul(&f2), f1, (b1, b2)))
    }

    /// The body a joint moves (its child).
    pub fn joint_body(&self, j: JointRef) -> Option<RigidBodyHandle> {
        match j {
            JointRef::Multibody { handle, .. } => self
                .multibody_joints
                .get(handle)
                .and_then(|(mb, id)| mb.link(id))
                .map(|l| l.rigid_body_handle()),
            JointRef::Impulse { handle, .. } => self.impulse_joints.get(handle).map(|j| j.body2()),
        }
    }

    /// Set joint positions and zero their velocities, then update the link
    /// poses. Used by reset, goal images and inverse kinematics.
    pub fn set_joint_q(&mut self, targets: &[(JointRef, f32)]) {
        let attach_q = self.attachment_q(targets);
        for &(j, q) in targets {
            let JointRef::Multibody { handle, axis } = j else {
                continue;
            };
            let Some((mb, id)) = self.multibody_joints.get_mut(handle) else {
                continue;
            };
            let Some(link) = mb.link(id) else { continue };
            let offset = link.assembly_id();
            let current = link.joint.coords()[axis];
            let mut disp = vec![0.0; mb.ndofs()];
            disp[offset] = q - current;
            mb.apply_displacements(&disp);
            mb.generalized_velocity_mut()[offset] = 0.0;
        }
        self.sync_multibodies_with(&attach_q);
    }

    /// The value of every attachment joint: its target if `targets` sets
    /// it, else its current value (a branch keeps its angle when its parent
    /// moves).
    fn attachment_q(&self, targets: &[(JointRef, f32)]) -> Vec<(ImpulseJointHandle, f32)> {
        self.attachments
            .iter()
            .map(|&h| {
                let axis = self
                    .impulse_joints
                    .get(h)
                    .and_then(|j| free_axis(j.data.locked_axes))
                    .unwrap_or(3);
                let j = JointRef::Impulse { handle: h, axis };
                let q = targets
                    .iter()
                    .find(|(t, _)| *t == j)
                    .map_or_else(|| self.joint_q(j), |&(_, q)| q);
                (h, q)
            })
            .collect()
    }

    /// Recompute every multibody's link poses from its coordinates, placing
    /// attached branches where their attachment joints say.
    pub fn sync_multibodies(&mut self) {
        let attach_q = self.attachment_q(&[]);
        self.sync_multibodies_with(&attach_q);
    }

    fn sync_multibodies_with(&mut self, attach_q: &[(ImpulseJointHandle, f32)]) {
        let attached: Vec<RigidBodyHandle> = attach_q
            .iter()
            .filter_map(|&(h, _)| self.impulse_joints.get(h).map(|j| j.body2()))
            .collect();
        let roots: Vec<(RigidBodyHandle, MultibodyIndex)> = self
            .multibody_joints
            .multibodies()
            .map(|mb| mb.root().rigid_body_handle())
            .filter_map(|rb| {
                self.multibody_joints
                    .rigid_body_link(rb)
                    .map(|l| (rb, l.multibody))
            })
            .collect();
        for &(rb, index) in &roots {
            if !attached.contains(&rb) {
                self.forward_kinematics(index);
            }
        }
        for &(h, q) in attach_q {
            let Some(j) = self.impulse_joints.get(h) else {
                continue;
            };
            let (b1, b2, frame1, frame2) = (
                j.body1(),
                j.body2(),
                j.data.local_frame1,
                j.data.local_frame2,
            );
            let axis = free_axis(j.data.locked_axes).unwrap_or(3);
            let Some(p1) = self.bodies.get(b1).map(|b| *b.position()) else {
                continue;
            };
            let motion = if axis < 3 {
                Pose::from_translation(Vector::ith(axis, q))
            } else {
                Pose::from_rotation(Rotation::from_axis_angle(Vector::ith(axis - 3, 1.0), q))
            };
            let pose = p1 * frame1 * motion * frame2.inverse();
            if let Some(rb) = self.bodies.get_mut(b2) {
                rb.set_position(pose, true);
                rb.set_linvel(Vector::ZERO, true);
                rb.set_angvel(Vector::ZERO, true);
            }
            if let Some(index) = self
                .multibody_joints
                .rigid_body_link(b2)
                .map(|l| l.multibody)
            {
                if let Some(mb) = self.multibody_joints.get_multibody_mut(index) {
                    mb.generalized_velocity_mut().fill(0.0);
                }
                self.forward_kinematics(index);
            }
        }
    }

    fn forward_kinematics(&mut self, index: MultibodyIndex) {
        if let Some(mb) = self.multibody_joints.get_multibody_mut(index) {
            mb.forward_kinematics(&self.bodies, true);
            mb.update_rigid_bodies(&mut self.bodies, true);
        }
    }

    /// Place a free rigid body at a pose, at rest.
    pub fn set_body_pose(&mut self, body: RigidBodyHandle, pose: Pose) {
        if let Some(rb) = self.bodies.get_mut(body) {
            rb.set_position(pose, true);
            rb.set_linvel(Vector::ZERO, true);
            rb.set_angvel(Vector::ZERO, true);
        }
    }

    /// Deepest current contact penetration (m), 0 without contacts.
    pub fn max_penetration(&self) -> f32 {
        self.narrow_phase
            .contact_pairs()
            .flat_map(|p| p.manifolds().iter())
            .flat_map(|m| m.points.iter())
            .map(|pt| -pt.dist)
            .fold(0.0, f32::max)
    }

    /// The first non-finite quantity among body poses and velocities.
    pub fn non_finite(&self) -> Option<String> {
        for (h, rb) in self.bodies.iter() {
            let p = rb.position();
            if !p.is_finite() || !rb.linvel().is_finite() || !rb.angvel().is_finite() {
                return Some(format!("body {:?} pose or velocity", h.into_raw_parts()));
            }
        }
        None
    }
}

/// The coordinate `axis` of a relative joint pose (a translation for
/// 0..3, the twist angle about that axis for 3..6).
fn pose_coordinate(rel: &Pose, axis: usize) -> f32 {
    if axis < 3 {
        return rel.translation[axis];
    }
    let q = rel.rotation;
    let v = [q.x, q.y, q.z][axis - 3];
    let angle = 2.0 * v.atan2(q.w);
    // Keep it in (-pi, pi].
    if angle > std::f32::consts::PI {
        angle - std::f32::consts::TAU
    } else if angle <= -std::f32::consts::PI {
        angle + std::f32::consts::TAU
    } else {
        angle
    }
}

/// Index of the single free coordinate of a 1-DoF joint.
pub fn free_axis(locked: JointAxesMask) -> Option<usize> {
    let free = !locked.bits() & 0b11_1111;
    (free.count_ones() == 1).then(|| free.trailing_zeros() as usize)
}
