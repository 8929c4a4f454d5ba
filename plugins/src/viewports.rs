//! Split screen: up to [`MAX_VIEWPORTS`] viewports side by side. Each is
//! one entity with its own env, driver and timeline ([`Viewport`]), placed
//! by its [`Pane`]; this plugin gives each its own camera on its own render
//! layer, so a camera draws only its viewport's scene even though every
//! scene sits at the origin (the simulation frame is the same for all).
//!
//! Panels act on the focused viewport ([`Focus`]); a click in a 3D view
//! focuses it.

use bevy::camera::visibility::RenderLayers;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;

use crate::orbit_camera::OrbitCamera;
use crate::scene_view::sim_point;
use crate::sim_step::Viewport;

/// Most viewports shown at once.
pub const MAX_VIEWPORTS: usize = 2;

/// A viewport's place in the split screen, left to right, and its render
/// layer (pane 0 is layer 0, Bevy's default, so a lone viewport needs
/// nothing else).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pane(pub usize);

impl Pane {
    /// The render layer of everything this pane draws.
    pub fn layers(self) -> RenderLayers {
        RenderLayers::layer(self.0)
    }

    /// The name panels use ("viewport 1" is the left one).
    pub fn name(self) -> String {
        format!("viewport {}", self.0 + 1)
    }
}

/// The viewport the panels control.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Focus(pub Option<Entity>);

impl Focus {
    /// The focused viewport among `viewports` (entity and pane), or the
    /// leftmost when the focus is unset or gone.
    pub fn target(&self, viewports: impl IntoIterator<Item = (Entity, Pane)>) -> Option<Entity> {
        let all: Vec<(Entity, Pane)> = viewports.into_iter().collect();
        all.iter()
            .find(|(e, _)| Some(*e) == self.0)
            .or_else(|| all.iter().min_by_key(|(_, p)| *p))
            .map(|(e, _)| *e)
    }
}

/// An entity that draws one viewport (its camera, its scene root); it is
/// despawned with the viewport.
#[derive(Component, Debug)]
#[relationship(relationship_target = ViewParts)]
pub struct PartOf(pub Entity);

/// The entities that draw a viewport.
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = PartOf, linked_spawn)]
pub struct ViewParts(Vec<Entity>);

/// Marks the camera of a pane.
#[derive(Component, Debug)]
pub struct PaneCamera;

/// Gives every [`Pane`] a camera, clears the window once per frame and
/// moves the focus on clicks.
pub struct ViewportsPlugin;

impl Plugin for ViewportsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Focus>().add_systems(
            Update,
            (spawn_cameras, order_cameras, focus_on_click, keep_focus),
        );
    }
}

/// A camera looking at `vp`'s task from its policy camera, a little further
/// back so the whole scene fits a view larger than the policy's image.
fn camera_for(vp: &Viewport, pane: Pane, owner: Entity) -> impl Bundle {
    let spec = &vp.env.task().spec.camera;
    let mut orbit = OrbitCamera::looking_at(sim_point(spec.eye), sim_point(spec.target));
    orbit.distance *= 1.4;
    (
        PaneCamera,
        Camera3d::default(),
        // Ordered from the start, so no frame has two cameras of one order.
        Camera {
            order: order_of(pane),
            clear_color: ClearColorConfig::None,
            ..default()
        },
        Projection::Perspective(PerspectiveProjection {
            fov: spec.fov_deg.to_radians(),
            near: 0.005,
            ..default()
        }),
        orbit.transform(),
        orbit,
        pane,
        pane.layers(),
        PartOf(owner),
    )
}

fn spawn_cameras(
    mut commands: Commands,
    viewports: Query<(Entity, &Viewport, &Pane)>,
    cameras: Query<&PartOf, With<PaneCamera>>,
) {
    for (id, vp, pane) in &viewports {
        if !cameras.iter().any(|p| p.0 == id) {
            commands.spawn(camera_for(vp, *pane, id));
        }
    }
}

/// Cameras render left to right, before the UI camera (order 1); only the
/// first clears, since a clear wipes the whole window, not just its pane.
fn order_cameras(mut cameras: Query<(&mut Camera, &Pane), With<PaneCamera>>) {
    let first = cameras.iter().map(|(_, p)| *p).min();
    for (mut cam, pane) in &mut cameras {
        let order = order_of(*pane);
        let clears = Some(*pane) == first;
        // Written only on change: Bevy re-extracts a changed camera.
        if cam.order != order || matches!(cam.clear_color, ClearColorConfig::None) == clears {
            cam.order = order;
            cam.clear_color = if clears {
                ClearColorConfig::Default
            } else {
                ClearColorConfig::None
            };
        }
    }
}

fn order_of(pane: Pane) -> isize {
    pane.0 as isize - MAX_VIEWPORTS as isize
}

fn focus_on_click(
    buttons: Option<Res<ButtonInput<MouseButton>>>,
    window: Option<Single<&Window, With<PrimaryWindow>>>,
    egui: Option<Res<EguiWantsInput>>,
    cameras: Query<(&Camera, &PartOf), With<PaneCamera>>,
    mut focus: ResMut<Focus>,
) {
    let (Some(buttons), Some(window)) = (buttons, window) else {
        return;
    };
    if !buttons.get_just_pressed().any(|_| true)
        || egui.is_some_and(|e| e.wants_any_pointer_input())
    {
        return;
    }
    let Some(cursor) = window.physical_cursor_position() else {
        return;
    };
    let hit = cameras.iter().find(|(cam, _)| {
        cam.physical_viewport_rect()
            .is_some_and(|r| r.as_rect().contains(cursor))
    });
    if let Some((_, part)) = hit
        && focus.0 != Some(part.0)
    {
        focus.0 = Some(part.0);
    }
}

fn keep_focus(mut focus: ResMut<Focus>, viewports: Query<(Entity, Option<&Pane>), With<Viewport>>) {
    let target = focus.target(
        viewports
            .iter()
            .map(|(e, p)| (e, p.copied().unwrap_or_default())),
    );
    if focus.0 != target {
        focus.0 = target;
    }
}

#[cfg(test)]
mod tests {
    use bevy::prelude::*;
    use dexsim::Catalog;

    use super::{Focus, Pane, PaneCamera, PartOf, ViewportsPlugin};
    use crate::driver::{Driver, DriverPlugin, Policy, PolicyChoice};
    use crate::sim_step::Viewport;
    use crate::studio::{Studio, StudioCmd, StudioCmds, StudioPlugin};
    use crate::testing::{headless_app, tiny_expert, viewport};
    use crate::timeline::{Timeline, TimelinePlugin};

    fn send(app: &mut App, cmd: StudioCmd) {
        app.world_mut().resource_mut::<StudioCmds>().0.push(cmd);
        app.update();
    }

    #[test]
    fn two_viewports_step_independently_with_their_own_drivers() {
        let mut app = headless_app();
        let studio = Studio::new(Catalog::bundled().expect("catalog"), None);
        let mut left = studio.viewport("obj-hold-easy", 5).expect("viewport");
        let mut right = studio.viewport("obj-hold-easy", 5).expect("viewport");
        left.1.expert = Ok(tiny_expert(&left.0.env));
        left.1
            .choose(PolicyChoice::Expert, &left.0.env)
            .expect("expert");
        right
            .1
            .choose(PolicyChoice::Random, &right.0.env)
            .expect("random");
        app.insert_resource(studio)
            .add_plugins((StudioPlugin, DriverPlugin, TimelinePlugin));
        let l = app.world_mut().spawn((left, Pane(0))).id();
        let r = app.world_mut().spawn((right, Pane(1))).id();
        for _ in 0..6 {
            app.update();
        }
        let w = app.world();
        let (lv, rv) = (
            w.get::<Viewport>(l).expect("vp"),
            w.get::<Viewport>(r).expect("vp"),
        );
        assert!(
            lv.step >= 4 && lv.step == rv.step,
            "steps {} {}",
            lv.step,
            rv.step
        );
        assert_eq!(lv.env.seed(), rv.env.seed(), "same task, same seed");
        assert_ne!(lv.action, rv.action, "each viewport has its own driver");
        assert_ne!(lv.obs.state, rv.obs.state, "and its own world");
        let (ld, rd) = (
            w.get::<Driver>(l).expect("d"),
            w.get::<Driver>(r).expect("d"),
        );
        assert_eq!((ld.policy.label(), rd.policy.label()), ("expert", "random"));
        assert!(ld.q.is_some_and(f32::is_finite), "the expert's live Q");
        let tl = |e| w.get::<Timeline>(e).expect("timeline").range();
        assert_eq!(tl(l), tl(r));

        // Panels act on the focused viewport only.
        send(&mut app, StudioCmd::Focus(r));
        send(&mut app, StudioCmd::TogglePlay);
        let steps = |app: &App, e| app.world().get::<Viewport>(e).expect("vp").step;
        let (l0, r0) = (steps(&app, l), steps(&app, r));
        for _ in 0..3 {
            app.update();
        }
        assert_eq!(steps(&app, r), r0, "the focused one paused");
        assert!(steps(&app, l) > l0, "the other plays on");
        send(&mut app, StudioCmd::SetPolicy(PolicyChoice::Zero));
        let rd = app.world().get::<Driver>(r).expect("d");
        assert!(matches!(rd.policy, Policy::Zero));
        let ld = app.world().get::<Driver>(l).expect("d");
        assert!(matches!(ld.policy, Policy::Expert(_)));

        // Two is the most; closing takes the focused one and its parts.
        send(&mut app, StudioCmd::AddViewport);
        let msg = app.world().resource::<Studio>().message.clone();
        assert!(msg.is_some_and(|m| m.contains("at most 2")));
        send(&mut app, StudioCmd::CloseViewport);
        assert!(app.world().get_entity(r).is_err());
        send(&mut app, StudioCmd::AddViewport);
        let mut q = app.world_mut().query::<(Entity, &Pane, &Viewport)>();
        let panes: Vec<(Entity, Pane, String)> = q
            .iter(app.world())
            .map(|(e, p, v)| (e, *p, v.env.task().spec.name.clone()))
            .collect();
        assert_eq!(panes.len(), 2);
        let new = panes.iter().find(|(e, ..)| *e != l).expect("new viewport");
        assert_eq!((new.1, new.2.as_str()), (Pane(1), "obj-hold-easy"));
        assert_eq!(
            app.world().resource::<Focus>().0,
            Some(new.0),
            "the new one is focused"
        );
    }

    #[test]
    fn each_pane_gets_a_camera_on_its_layer_and_loses_it_with_the_viewport() {
        let mut app = headless_app();
        app.add_plugins(ViewportsPlugin);
        let left = app
            .world_mut()
            .spawn((viewport("reach-easy"), Pane(0)))
            .id();
        let right = app
            .world_mut()
            .spawn((viewport("reach-easy"), Pane(1)))
            .id();
        app.update();
        app.update();
        let mut q = app
            .world_mut()
            .query_filtered::<(&PartOf, &Pane, &Camera), With<PaneCamera>>();
        let mut cams: Vec<(Entity, Pane, isize)> = q
            .iter(app.world())
            .map(|(p, pane, c)| (p.0, *pane, c.order))
            .collect();
        cams.sort_by_key(|c| c.1);
        assert_eq!(cams.len(), 2);
        assert_eq!((cams[0].0, cams[1].0), (left, right));
        assert!(
            cams[0].2 < cams[1].2 && cams[1].2 < 1,
            "left first, UI last"
        );
        assert_eq!(app.world().resource::<Focus>().0, Some(left));

        app.world_mut().entity_mut(right).despawn();
        app.update();
        assert_eq!(q.iter(app.world()).count(), 1, "its camera went with it");
    }
}
