//! The rapier world of one environment, and the few reduced-coordinate
//! accessors the tasks need. The whole struct is `Clone`: a clone is an exact
//! snapshot (contact caches and warm-start impulses included), which is what
//! makes restore-and-continue bit-identical.

use rapier3d::prelude::*;

/// A 1-DoF multibody joint and which of its six coordinates moves.
#[derive(Clone, Copy, Debug)]
pub struct JointRef {
    /// The rapier multibody joint.
    pub handle: MultibodyJointHandle,
    /// Index of the free coordinate (0..3 linear, 3..6 angular).
    pub axis: usize,
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
        self.multibody_joints
            .get(j.handle)
            .and_then(|(mb, id)| mb.link(id))
            .map_or(0.0, |l| l.joint.coords()[j.axis])
    }

    /// Velocity of a 1-DoF joint.
    pub fn joint_qd(&self, j: JointRef) -> f32 {
        self.multibody_joints
            .get(j.handle)
            .and_then(|(mb, id)| mb.link(id).map(|l| mb.joint_velocity(l)))
            .and_then(|v| v.iter().next().copied())
            .unwrap_or(0.0)
    }

    /// The body a joint moves (its child link).
    pub fn joint_body(&self, j: JointRef) -> Option<RigidBodyHandle> {
        self.multibody_joints
            .get(j.handle)
            .and_then(|(mb, id)| mb.link(id))
            .map(|l| l.rigid_body_handle())
    }

    /// Set joint positions and zero their velocities, then update the link
    /// poses. Used by reset, goal images and state restore from vectors.
    pub fn set_joint_q(&mut self, targets: &[(JointRef, f32)]) {
        for &(j, q) in targets {
            let Some((mb, id)) = self.multibody_joints.get_mut(j.handle) else {
                continue;
            };
            let Some(link) = mb.link(id) else { continue };
            let offset = link.assembly_id();
            let current = link.joint.coords()[j.axis];
            let mut disp = vec![0.0; mb.ndofs()];
            disp[offset] = q - current;
            mb.apply_displacements(&disp);
            mb.generalized_velocity_mut()[offset] = 0.0;
        }
        self.sync_multibodies();
    }

    /// Recompute every multibody's link poses from its coordinates.
    pub fn sync_multibodies(&mut self) {
        let handles: Vec<MultibodyIndex> = self
            .multibody_joints
            .multibodies()
            .map(|mb| mb.root().rigid_body_handle())
            .filter_map(|rb| {
                self.multibody_joints
                    .rigid_body_link(rb)
                    .map(|l| l.multibody)
            })
            .collect();
        for h in handles {
            if let Some(mb) = self.multibody_joints.get_multibody_mut(h) {
                mb.forward_kinematics(&self.bodies, true);
                mb.update_rigid_bodies(&mut self.bodies, true);
            }
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

/// Index of the single free coordinate of a 1-DoF joint.
pub fn free_axis(locked: JointAxesMask) -> Option<usize> {
    let free = !locked.bits() & 0b11_1111;
    (free.count_ones() == 1).then(|| free.trailing_zeros() as usize)
}
