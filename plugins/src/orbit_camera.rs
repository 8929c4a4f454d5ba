//! An orbit camera: left-drag orbits, right- or middle-drag pans, the wheel
//! zooms. Input that egui is using (a slider being dragged, a panel under
//! the pointer) does not move the camera, nor do drags with Shift (the
//! teleop's) or Ctrl (the perturbation's) held.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;

/// Pitch stays short of the poles, where yaw would flip.
const MAX_PITCH: f32 = 1.5;
/// Radians per pixel of drag.
const ORBIT_RATE: f32 = 0.006;
/// Zoom factor per wheel line.
const ZOOM_RATE: f32 = 0.1;

/// Where an orbit camera looks from: spherical coordinates around a target,
/// in Bevy's Y-up frame.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct OrbitCamera {
    /// Point orbited and looked at.
    pub target: Vec3,
    /// Angle around the vertical axis (rad).
    pub yaw: f32,
    /// Angle above the horizontal (rad).
    pub pitch: f32,
    /// Distance to the target.
    pub distance: f32,
}

impl OrbitCamera {
    /// The orbit that puts the eye at `eye` looking at `target`.
    pub fn looking_at(eye: Vec3, target: Vec3) -> Self {
        let d = eye - target;
        let distance = d.length().max(1e-3);
        Self {
            target,
            yaw: d.x.atan2(d.z),
            pitch: (d.y / distance).clamp(-1.0, 1.0).asin(),
            distance,
        }
    }

    /// The camera transform of this orbit.
    pub fn transform(&self) -> Transform {
        let dir = Vec3::new(
            self.pitch.cos() * self.yaw.sin(),
            self.pitch.sin(),
            self.pitch.cos() * self.yaw.cos(),
        );
        Transform::from_translation(self.target + dir * self.distance)
            .looking_at(self.target, Vec3::Y)
    }

    /// Orbit by a drag of `delta` pixels.
    pub fn orbit(&mut self, delta: Vec2) {
        self.yaw -= delta.x * ORBIT_RATE;
        self.pitch = (self.pitch + delta.y * ORBIT_RATE).clamp(-MAX_PITCH, MAX_PITCH);
    }

    /// Move the target in the view plane by a drag of `delta` pixels, at a
    /// rate that keeps the point under the pointer roughly under it.
    pub fn pan(&mut self, delta: Vec2) {
        let t = self.transform();
        let scale = self.distance * ORBIT_RATE * 0.3;
        self.target += (t.left() * delta.x + t.up() * delta.y) * scale;
    }

    /// Zoom by `lines` wheel lines (positive: closer).
    pub fn zoom(&mut self, lines: f32) {
        self.distance = (self.distance * (1.0 - ZOOM_RATE).powf(lines)).clamp(0.02, 20.0);
    }
}

/// Moves every [`OrbitCamera`] from mouse input.
pub struct OrbitCameraPlugin;

impl Plugin for OrbitCameraPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, orbit);
    }
}

fn orbit(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    egui: Option<Res<EguiWantsInput>>,
    mut cameras: Query<(&mut OrbitCamera, &mut Transform)>,
) {
    let held = [
        KeyCode::ShiftLeft,
        KeyCode::ShiftRight,
        KeyCode::ControlLeft,
        KeyCode::ControlRight,
    ];
    if egui.is_some_and(|e| e.wants_any_pointer_input())
        || keys.is_some_and(|k| k.any_pressed(held))
    {
        return;
    }
    let lines = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
    };
    for (mut cam, mut t) in &mut cameras {
        let before = *cam;
        if buttons.pressed(MouseButton::Left) {
            cam.orbit(motion.delta);
        } else if buttons.any_pressed([MouseButton::Right, MouseButton::Middle]) {
            cam.pan(motion.delta);
        }
        if lines != 0.0 {
            cam.zoom(lines);
        }
        if *cam != before || *t != cam.transform() {
            *t = cam.transform();
        }
    }
}

#[cfg(test)]
mod tests {
    use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
    use bevy::input::{InputPlugin, InputSystems};
    use bevy::prelude::*;

    use super::{OrbitCamera, OrbitCameraPlugin};

    #[test]
    fn looking_at_round_trips_the_eye() {
        let eye = Vec3::new(0.2, 0.3, 0.4);
        let cam = OrbitCamera::looking_at(eye, Vec3::new(0.0, 0.05, 0.0));
        assert!(cam.transform().translation.distance(eye) < 1e-5);
    }

    #[test]
    fn drags_and_wheel_move_the_camera() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, InputPlugin, OrbitCameraPlugin));
        let start = OrbitCamera::looking_at(Vec3::new(0.0, 0.3, 0.5), Vec3::ZERO);
        let id = app.world_mut().spawn((start, Transform::default())).id();
        app.update();
        let cam = |app: &App| *app.world().get::<OrbitCamera>(id).expect("camera");
        assert_eq!(cam(&app), start, "no input, no motion");

        app.world_mut()
            .resource_mut::<ButtonInput<MouseButton>>()
            .press(MouseButton::Left);
        // InputPlugin clears the accumulators in PreUpdate; set them after.
        let drag = |mut m: ResMut<AccumulatedMouseMotion>| m.delta = Vec2::new(30.0, 0.0);
        app.add_systems(PreUpdate, drag.after(InputSystems));
        app.update();
        let orbited = cam(&app);
        assert!(orbited.yaw < start.yaw && orbited.distance == start.distance);

        app.world_mut()
            .resource_mut::<ButtonInput<MouseButton>>()
            .release_all();
        let wheel = |mut s: ResMut<AccumulatedMouseScroll>| s.delta = Vec2::new(0.0, 2.0);
        app.add_systems(PreUpdate, wheel.after(InputSystems));
        app.update();
        assert!(cam(&app).distance < start.distance, "wheel up zooms in");
        let t = app.world().get::<Transform>(id).expect("transform");
        assert!(t.translation.distance(cam(&app).transform().translation) < 1e-6);
    }
}
