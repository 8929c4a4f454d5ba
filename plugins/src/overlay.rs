//! The collider and contact overlay: rapier's own debug drawing (through
//! `dexsim`'s `Physics::debug_lines`) as a retained Bevy gizmo under each
//! viewport's scene root, on the viewport's render layer. Toggled with F3
//! or the checkboxes above the controls.
//!
//! The lines are rebuilt only when the simulation state or the toggles
//! change, not every frame.

use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use dexsim::debug_draw::{DebugLine, DebugRenderMode};

use crate::scene_view::{SceneMirror, SceneViewSet};
use crate::sim_step::Viewport;
use crate::viewports::Pane;

/// The key that shows or hides the whole overlay.
pub const OVERLAY_KEY: KeyCode = KeyCode::F3;

/// What the overlay shows (in every viewport).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overlay {
    /// Collider outlines.
    pub colliders: bool,
    /// Contact points and normals.
    pub contacts: bool,
}

impl Overlay {
    /// The rapier drawing this asks for.
    pub fn mode(self) -> DebugRenderMode {
        let mut mode = DebugRenderMode::empty();
        mode.set(DebugRenderMode::COLLIDER_SHAPES, self.colliders);
        mode.set(DebugRenderMode::CONTACTS, self.contacts);
        mode
    }

    /// What the key gives: everything off if anything is on, else both.
    pub fn toggled(self) -> Self {
        let on = !(self.colliders || self.contacts);
        Self {
            colliders: on,
            contacts: on,
        }
    }
}

/// A viewport's overlay: the gizmo entity (a child of its scene root) and
/// the state it was drawn from.
#[derive(Component)]
pub struct OverlayLines {
    root: Entity,
    handle: Handle<GizmoAsset>,
    drawn: Option<(u64, Overlay)>,
}

impl OverlayLines {
    /// The asset holding the segments (simulation frame).
    pub fn handle(&self) -> &Handle<GizmoAsset> {
        &self.handle
    }
}

/// Draws the overlay of every mirrored viewport.
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Overlay>()
            .add_systems(Update, (toggle_key, draw).chain().after(SceneViewSet::Sync));
    }
}

fn toggle_key(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    egui: Option<Res<EguiWantsInput>>,
    mut overlay: ResMut<Overlay>,
) {
    let wanted = egui.is_some_and(|e| e.wants_any_keyboard_input());
    if !wanted && keys.is_some_and(|k| k.just_pressed(OVERLAY_KEY)) {
        *overlay = overlay.toggled();
    }
}

/// Outlines in rapier's hue, lightened to stand out on the meshes;
/// contacts in one bright yellow.
fn colour(l: &DebugLine) -> Color {
    if l.contact {
        Color::srgb(1.0, 0.9, 0.1)
    } else {
        let [h, s, _, a] = l.hsla;
        Color::hsla(h, s, 0.6, a)
    }
}

type Mirrored<'a> = (
    Entity,
    &'a Viewport,
    &'a SceneMirror,
    Option<&'a Pane>,
    Option<&'a mut OverlayLines>,
);

fn draw(
    mut commands: Commands,
    overlay: Res<Overlay>,
    mut viewports: Query<Mirrored>,
    mut assets: ResMut<Assets<GizmoAsset>>,
) {
    for (id, vp, mirror, pane, lines) in &mut viewports {
        let key = (vp.revision, *overlay);
        let mut lines = match lines {
            // A task change despawns the scene root and the gizmo under it.
            Some(l) if l.root == mirror.root() => l,
            _ if !(overlay.colliders || overlay.contacts) => continue,
            _ => {
                let handle = assets.add(GizmoAsset::new());
                commands.spawn((
                    Gizmo {
                        handle: handle.clone(),
                        // In front of the meshes they outline.
                        depth_bias: -1.0,
                        ..default()
                    },
                    pane.copied().unwrap_or_default().layers(),
                    ChildOf(mirror.root()),
                ));
                commands.entity(id).insert(OverlayLines {
                    root: mirror.root(),
                    handle,
                    drawn: None,
                });
                continue;
            }
        };
        if lines.drawn == Some(key) {
            continue;
        }
        lines.drawn = Some(key);
        let mut asset = GizmoAsset::new();
        for l in vp.env.physics().debug_lines(overlay.mode()) {
            asset.line(Vec3::from_array(l.a), Vec3::from_array(l.b), colour(&l));
        }
        if let Err(e) = assets.insert(&lines.handle, asset) {
            warn!("overlay not drawn: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use bevy::prelude::*;

    use super::{Overlay, OverlayLines, OverlayPlugin};
    use crate::scene_view::SceneViewPlugin;
    use crate::testing::{headless_app, viewport};

    fn segments(app: &App, id: Entity) -> Vec<Vec3> {
        let lines = app.world().get::<OverlayLines>(id).expect("overlay");
        let assets = app.world().resource::<Assets<GizmoAsset>>();
        let asset = assets.get(lines.handle()).expect("asset");
        asset.buffer().list_positions.clone()
    }

    #[test]
    fn overlay_draws_colliders_and_contacts_and_toggles_off() {
        let mut app = headless_app();
        app.add_plugins((AssetPlugin::default(), SceneViewPlugin, OverlayPlugin))
            .init_asset::<Mesh>()
            .init_asset::<StandardMaterial>()
            .init_asset::<GizmoAsset>();
        app.insert_resource(Overlay {
            colliders: true,
            contacts: false,
        });
        let id = app.world_mut().spawn(viewport("obj-hold-easy")).id();
        for _ in 0..4 {
            app.update();
        }
        let shapes = segments(&app, id);
        assert!(shapes.len() > 200, "{} end points", shapes.len());
        assert!(shapes.iter().all(|p| p.is_finite()));

        // Contacts alone: the object rests on the table by now.
        app.insert_resource(Overlay {
            colliders: false,
            contacts: true,
        });
        app.update();
        let contacts = segments(&app, id);
        assert!(!contacts.is_empty() && contacts.len() < shapes.len());

        app.insert_resource(Overlay::default());
        app.update();
        assert!(segments(&app, id).is_empty(), "toggled off, nothing drawn");
    }
}
