//! `Env::set_external_force`: a push acts for one control step, is then
//! forgotten, and bad pushes are errors.

mod common;

use dexsim::{Env, SimError};
use rapier3d::prelude::{RigidBodyHandle, Vector};

fn block(env: &Env) -> RigidBodyHandle {
    env.task().bodies[0]
}

fn height(env: &Env) -> f32 {
    let rb = env.physics().bodies.get(block(env)).expect("block");
    rb.translation().z
}

/// The block's mass and centre of mass.
fn mass_com(env: &Env) -> (f32, Vector) {
    let rb = env.physics().bodies.get(block(env)).expect("block");
    (rb.mass(), rb.center_of_mass())
}

#[test]
fn a_push_acts_for_one_step_then_is_forgotten() {
    let mut pushed = common::env("obj-hold-easy", false);
    let mut twin = common::env("obj-hold-easy", false);
    pushed.reset(3);
    twin.reset(3);
    let zero = vec![0.0; pushed.action_dim()];
    // Rapier computes mass properties in the first step.
    pushed.step(&zero).expect("step");
    twin.step(&zero).expect("step");
    let (mass, com) = mass_com(&pushed);
    assert!(mass > 0.0);
    // Three times its weight, upwards, through the centre of mass.
    let up = Vector::new(0.0, 0.0, 3.0 * 9.81 * mass);
    pushed
        .set_external_force(block(&pushed), com, up)
        .expect("push");
    pushed.step(&zero).expect("step");
    twin.step(&zero).expect("step");
    assert!(
        height(&pushed) > height(&twin) + 1e-3,
        "pushed {} vs {}",
        height(&pushed),
        height(&twin)
    );
    let rb = pushed.physics().bodies.get(block(&pushed)).expect("block");
    assert_eq!(rb.user_force(), Vector::ZERO, "the force is cleared");
    assert_eq!(rb.user_torque(), Vector::ZERO, "the torque is cleared");

    // A push set and then reset away changes nothing: the run matches a
    // run that never saw it, bit for bit.
    let mut reset = common::env("obj-hold-easy", false);
    reset.reset(3);
    reset.step(&zero).expect("step");
    reset
        .set_external_force(block(&reset), com, up)
        .expect("push");
    reset.reset(3);
    let mut fresh = common::env("obj-hold-easy", false);
    fresh.reset(3);
    for _ in 0..3 {
        reset.step(&zero).expect("step");
        fresh.step(&zero).expect("step");
    }
    assert_eq!(reset.state_vector(), fresh.state_vector());
}

#[test]
fn bad_pushes_are_errors_not_panics() {
    let mut env = common::env("obj-hold-easy", false);
    let b = block(&env);
    let p = Vector::ZERO;
    for (point, force) in [
        (p, Vector::new(f32::NAN, 0.0, 0.0)),
        (Vector::new(0.0, f32::INFINITY, 0.0), Vector::X),
    ] {
        let err = env
            .set_external_force(b, point, force)
            .expect_err("rejected");
        assert!(matches!(err, SimError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("not finite"), "{err}");
    }
    let stale = RigidBodyHandle::invalid();
    let err = env
        .set_external_force(stale, p, Vector::X)
        .expect_err("rejected");
    assert!(err.to_string().contains("no body"), "{err}");
    let fixed = env
        .physics()
        .bodies
        .iter()
        .find(|(_, rb)| !rb.is_dynamic())
        .map(|(h, _)| h)
        .expect("a fixed body (the mount)");
    let err = env
        .set_external_force(fixed, p, Vector::X)
        .expect_err("rejected");
    assert!(err.to_string().contains("not dynamic"), "{err}");
}
