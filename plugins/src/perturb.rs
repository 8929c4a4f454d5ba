//! Perturbation, as in MuJoCo's viewer: Ctrl + left-drag grabs the body
//! under the cursor and pulls it with a spring-damper towards the point
//! under the cursor, on the plane through the grab point that faces the
//! camera; releasing either ends the drag. The pull goes through
//! `Env::set_external_force` one control step at a time, so the dragged
//! world is still the one policies train in.

use std::f32::consts::TAU;
use std::sync::Arc;

use bevy::gizmos::GizmoPlugin;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;
use dexsim::Scene;
use dexsim::physics::Physics;
use rapier3d::prelude::{Ray, RigidBodyHandle, Vector};

use crate::driver::DriverSet;
use crate::orbit_camera::OrbitCamera;
use crate::scene_view::sim_point;
use crate::sim_step::{SimStepSet, Viewport};
use crate::viewports::{Pane, PartOf};

/// Natural frequency of the pull (Hz): it lifts a block in a fraction of a
/// second and stays stable over a 40 ms control step (2π·f·dt ≈ 0.5).
const FREQ: f32 = 2.0;
/// Critical damping: the body settles on the cursor without ringing.
const DAMPING_RATIO: f32 = 1.0;
/// Largest acceleration the pull may give (m/s²), so a wild drag cannot
/// fling an object out of the scene.
const MAX_ACCEL: f32 = 60.0;
/// Farthest pick (m).
const MAX_PICK: f32 = 100.0;

/// A body being dragged.
#[derive(Clone)]
pub struct Grab {
    /// The scene the body belongs to (a task change ends the drag).
    scene: Arc<Scene>,
    /// The dragged body.
    pub body: RigidBodyHandle,
    /// The grab point in the body's frame.
    pub local: Vector,
    /// Where the grab point is pulled to (world, simulation frame).
    pub target: Vector,
    /// Normal of the drag plane (towards the camera).
    normal: Vector,
}

/// The drag in progress, if any.
#[derive(Resource, Default)]
pub struct Perturbation {
    /// The grabbed body.
    pub grab: Option<Grab>,
}

/// Picks and drags bodies with Ctrl + left mouse.
pub struct PerturbPlugin;

impl Plugin for PerturbPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Perturbation>()
            .add_systems(Update, drag)
            .add_systems(
                FixedUpdate,
                pull.after(DriverSet::Act).before(SimStepSet::Step),
            );
        if app.is_plugin_added::<GizmoPlugin>() {
            app.add_systems(PostUpdate, draw);
        }
    }
}

/// A Bevy-frame vector in the simulation's Z-up frame.
pub fn bevy_to_sim(v: Vec3) -> Vector {
    Vector::new(v.x, -v.z, v.y)
}

/// The nearest dynamic body hit by the ray from `origin` along `dir`
/// (simulation frame), and the hit point.
pub fn pick(p: &Physics, origin: Vector, dir: Vector) -> Option<(RigidBodyHandle, Vector)> {
    let mut best: Option<(f32, RigidBodyHandle)> = None;
    for (_, c) in p.colliders.iter() {
        let Some(parent) = c.parent() else { continue };
        let Some(rb) = p.bodies.get(parent).filter(|rb| rb.is_dynamic()) else {
            continue;
        };
        // Composed from the body: collider poses only follow inside a step.
        let pose = c
            .position_wrt_parent()
            .map_or(*c.position(), |local| *rb.position() * *local);
        let ray = Ray::new(
            pose.inverse_transform_point(origin),
            pose.rotation.inverse() * dir,
        );
        let limit = best.map_or(MAX_PICK, |(t, _)| t);
        if let Some(t) = c.shape().cast_local_ray(&ray, limit, true)
            && t < limit
        {
            best = Some((t, parent));
        }
    }
    best.map(|(t, b)| (b, origin + dir * t))
}

/// Where the ray meets the plane through `point` with `normal`; `None`
/// when it runs parallel to it or points away.
pub fn on_plane(origin: Vector, dir: Vector, point: Vector, normal: Vector) -> Option<Vector> {
    let d = dir.dot(normal);
    if d.abs() < 1e-6 {
        return None;
    }
    let t = (point - origin).dot(normal) / d;
    (t > 0.0).then(|| origin + dir * t)
}

/// The spring-damper force pulling a grab point at `at`, moving at `vel`,
/// towards `target`, for a body of `mass`; it also carries the body's
/// weight (`gravity`), so the body hangs at the cursor rather than sagging
/// below it (at 2 Hz a spring alone would leave it 6 cm low).
pub fn spring(mass: f32, at: Vector, vel: Vector, target: Vector, gravity: Vector) -> Vector {
    let w = TAU * FREQ;
    let f = (target - at) * (mass * w * w) - vel * (2.0 * DAMPING_RATIO * mass * w);
    f.clamp_length_max(mass * MAX_ACCEL) - gravity * mass
}

/// The mass of `body`. Rapier computes mass properties in a step, so
/// before the first step of an episode they are worked out on a copy.
pub fn body_mass(p: &Physics, body: RigidBodyHandle) -> f32 {
    let Some(rb) = p.bodies.get(body) else {
        return 0.0;
    };
    if rb.mass() > 0.0 {
        return rb.mass();
    }
    let mut fresh = rb.clone();
    fresh.recompute_mass_properties_from_colliders(&p.colliders);
    fresh.mass()
}

type PaneCameras<'w, 's> = Query<
    'w,
    's,
    (
        &'static Camera,
        &'static GlobalTransform,
        Option<&'static PartOf>,
    ),
    With<OrbitCamera>,
>;

/// The cursor's ray in the simulation frame, through the camera of the
/// viewport under the cursor, and that viewport (`None`: a camera of no
/// particular viewport).
fn cursor_ray(
    window: &Window,
    cameras: &PaneCameras,
) -> Option<(Vector, Vector, Vector, Option<Entity>)> {
    let cursor = window.cursor_position()?;
    let (camera, at, owner) = cameras
        .iter()
        .find(|(c, ..)| {
            c.logical_viewport_rect()
                .is_some_and(|r| r.contains(cursor))
        })
        .or_else(|| cameras.iter().next())?;
    let ray = camera.viewport_to_world(at, cursor).ok()?;
    let forward = bevy_to_sim(at.forward().as_vec3());
    Some((
        bevy_to_sim(ray.origin),
        bevy_to_sim(*ray.direction),
        -forward,
        owner.map(|o| o.0),
    ))
}

/// The viewport showing `scene` (each viewport loads its own).
fn showing<'a>(
    viewports: impl IntoIterator<Item = &'a Viewport>,
    scene: &Arc<Scene>,
) -> Option<&'a Viewport> {
    viewports
        .into_iter()
        .find(|vp| Arc::ptr_eq(scene, vp.env.scene()))
}

fn drag(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    buttons: Option<Res<ButtonInput<MouseButton>>>,
    window: Single<&Window, With<PrimaryWindow>>,
    cameras: PaneCameras,
    egui: Option<Res<EguiWantsInput>>,
    viewports: Query<&Viewport>,
    mut perturb: ResMut<Perturbation>,
) {
    let (Some(keys), Some(buttons)) = (keys, buttons) else {
        return;
    };
    // Both held, or the drag ends (the orbit camera takes plain drags).
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    if !(ctrl && buttons.pressed(MouseButton::Left)) {
        perturb.grab = None;
        return;
    }
    let Some((origin, dir, normal, owner)) = cursor_ray(&window, &cameras) else {
        return;
    };
    let vp = match owner {
        Some(e) => viewports.get(e).ok(),
        None => viewports.iter().next(),
    };
    let Some(vp) = vp else {
        return;
    };
    let over_ui = egui.is_some_and(|e| e.wants_any_pointer_input());
    if buttons.just_pressed(MouseButton::Left) && !over_ui {
        let physics = vp.env.physics();
        perturb.grab = pick(physics, origin, dir).and_then(|(body, hit)| {
            let pose = physics.bodies.get(body)?.position();
            Some(Grab {
                scene: vp.env.scene().clone(),
                body,
                local: pose.inverse_transform_point(hit),
                target: hit,
                normal,
            })
        });
    } else if let Some(g) = perturb.grab.as_mut()
        && let Some(t) = on_plane(origin, dir, g.target, g.normal)
    {
        g.target = t;
    }
}

/// Before each step: the pull of the drag in progress.
fn pull(mut perturb: ResMut<Perturbation>, mut viewports: Query<&mut Viewport>) {
    let Some(g) = perturb.grab.as_ref() else {
        return;
    };
    // A task change (a new scene) ends the drag.
    let Some(mut vp) = viewports
        .iter_mut()
        .find(|vp| Arc::ptr_eq(&g.scene, vp.env.scene()))
    else {
        perturb.grab = None;
        return;
    };
    if !vp.wants_step() {
        return;
    }
    let Some(rb) = vp.env.physics().bodies.get(g.body) else {
        perturb.grab = None;
        return;
    };
    let at = rb.position().transform_point(g.local);
    let mass = body_mass(vp.env.physics(), g.body);
    let gravity = vp.env.physics().gravity;
    let force = spring(mass, at, rb.velocity_at_point(at), g.target, gravity);
    if let Err(e) = vp.env.set_external_force(g.body, at, force) {
        warn!("drag released: {e}");
        perturb.grab = None;
    }
}

/// A line from the grab point to the cursor's target.
fn draw(
    perturb: Res<Perturbation>,
    viewports: Query<(&Viewport, Option<&Pane>)>,
    mut gizmos: Gizmos,
) {
    let Some(g) = perturb.grab.as_ref() else {
        return;
    };
    // Immediate gizmos draw on layer 0, the left pane's: a drag in another
    // pane goes without its line rather than drawing it in the wrong one.
    let left = viewports
        .iter()
        .filter(|(_, p)| p.is_none_or(|p| *p == Pane(0)))
        .map(|(vp, _)| vp);
    let Some(vp) = showing(left, &g.scene) else {
        return;
    };
    let Some(rb) = vp.env.physics().bodies.get(g.body) else {
        return;
    };
    let at = sim_point(rb.position().transform_point(g.local).to_array());
    let to = sim_point(g.target.to_array());
    let colour = Color::srgb(1.0, 0.35, 0.1);
    gizmos.line(at, to, colour);
    gizmos.sphere(Isometry3d::from_translation(to), 0.006, colour);
    gizmos.sphere(Isometry3d::from_translation(at), 0.004, colour);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rapier3d::prelude::Vector;

    use super::{
        Grab, PerturbPlugin, Perturbation, bevy_to_sim, body_mass, on_plane, pick, spring,
    };
    use crate::scene_view::sim_point;
    use crate::sim_step::Viewport;
    use crate::teleop::Teleop;
    use crate::testing::{headless_app, viewport};

    fn block_centre(vp: &Viewport) -> (rapier3d::prelude::RigidBodyHandle, Vector) {
        let b = vp.env.task().bodies[0];
        let rb = vp.env.physics().bodies.get(b).expect("block");
        (b, rb.translation())
    }

    #[test]
    fn a_ray_from_below_picks_the_block_through_the_fixed_table() {
        let vp = viewport("obj-hold-easy");
        let (block, c) = block_centre(&vp);
        let from = c - Vector::new(0.0, 0.0, 0.5);
        let (hit, at) = pick(vp.env.physics(), from, Vector::Z).expect("a hit");
        assert_eq!(hit, block, "the table is fixed, so the block is first");
        assert!(at.z < c.z && at.z > c.z - 0.1, "bottom face: {at:?}");
        let away = pick(vp.env.physics(), from, -Vector::Z);
        assert!(away.is_none(), "nothing dynamic below the table");
    }

    #[test]
    fn geometry_helpers() {
        let p = on_plane(
            Vector::ZERO,
            Vector::X,
            Vector::new(2.0, 5.0, 0.0),
            Vector::X,
        );
        assert_eq!(p, Some(Vector::new(2.0, 0.0, 0.0)));
        assert_eq!(
            on_plane(Vector::ZERO, Vector::Y, Vector::X, Vector::X),
            None
        );
        let v = bevy::prelude::Vec3::new(0.1, 0.2, 0.3);
        let back = sim_point(bevy_to_sim(v).to_array());
        assert!(back.distance(v) < 1e-6, "inverse of sim_point");
        let g = Vector::new(0.0, 0.0, -9.81);
        let f = spring(
            0.1,
            Vector::ZERO,
            Vector::ZERO,
            Vector::new(0.05, 0.0, 0.0),
            g,
        );
        assert!(f.x > 0.0 && f.y == 0.0, "towards the target");
        assert!((f.z - 0.981).abs() < 1e-5, "and the weight carried: {f:?}");
        let far = Vector::new(100.0, 0.0, 0.0);
        let capped = spring(0.1, Vector::ZERO, Vector::ZERO, far, Vector::ZERO);
        assert!(
            (capped.length() - 0.1 * 60.0).abs() < 1e-4,
            "capped {capped:?}"
        );
        let damped = spring(0.1, Vector::ZERO, Vector::X, Vector::ZERO, Vector::ZERO);
        assert!(damped.x < 0.0, "moving away is braked");
        let vp = viewport("obj-hold-easy");
        let (block, _) = block_centre(&vp);
        let m = body_mass(vp.env.physics(), block);
        assert!(m > 0.0, "known before the first step: {m}");
    }

    /// Where the block is after 40 ticks, pulled towards `offset` from
    /// its start or left alone, with the hand holding its reset posture.
    fn block_after(offset: Option<Vector>) -> (Vector, Vector) {
        let mut app = headless_app();
        app.add_plugins(PerturbPlugin);
        let mut vp = viewport("obj-hold-easy");
        vp.action = Teleop::new(&vp.env).expect("teleop").action();
        let (block, c) = block_centre(&vp);
        let scene = Arc::clone(vp.env.scene());
        let pose = *vp
            .env
            .physics()
            .bodies
            .get(block)
            .expect("block")
            .position();
        let id = app.world_mut().spawn(vp).id();
        app.world_mut().resource_mut::<Perturbation>().grab = offset.map(|o| Grab {
            scene,
            body: block,
            local: pose.inverse_transform_point(c),
            target: c + o,
            normal: Vector::Y,
        });
        for _ in 0..40 {
            app.update();
        }
        let vp = app.world().get::<Viewport>(id).expect("vp");
        let now = vp
            .env
            .physics()
            .bodies
            .get(block)
            .expect("block")
            .translation();
        (c, now)
    }

    #[test]
    fn a_drag_pulls_the_block_to_the_target() {
        let (c, still) = block_after(None);
        assert!(
            (still - c).length() < 0.005,
            "left alone it stays: {still:?}"
        );
        let offset = Vector::new(0.0, -0.05, 0.03);
        let (c, now) = block_after(Some(offset));
        assert!(
            (now - (c + offset)).length() < 0.015,
            "pulled from {c:?} to {now:?}, target {:?}",
            c + offset
        );
    }
}
