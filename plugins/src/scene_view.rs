//! The 3D view of a viewport: one Bevy mesh per collider the camera draws,
//! in its MJCF colour, posed from the rapier world, plus the goal markers,
//! a sun with shadows and soft ambient light.
//!
//! Meshes are built from the colliders' own shapes, so what is drawn is
//! what collides. The simulation is Z-up and Bevy is Y-up: everything hangs
//! under one root entity that rotates one frame into the other.

use std::f32::consts::FRAC_PI_2;
use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::camera::visibility::RenderLayers;
use bevy::light::{CascadeShadowConfigBuilder, NotShadowCaster};
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use dexsim::Scene;
use dexsim::physics::Physics;
use dexsim::render::Marker;
use rapier3d::prelude::{ColliderHandle, Shape};

use crate::sim_step::Viewport;
use crate::viewports::{Pane, PartOf};

/// Half side of the square drawn for an MJCF plane (m).
const GROUND_HALF: f32 = 1.0;

/// Where a viewport's meshes come from and which entities show them.
#[derive(Component)]
pub struct SceneMirror {
    scene: Arc<Scene>,
    root: Entity,
    colliders: Vec<(Entity, ColliderHandle)>,
    markers: Vec<Marker>,
    marker_entities: Vec<Entity>,
    revision: Option<u64>,
    /// The viewport's render layer, for the markers spawned later.
    layers: RenderLayers,
}

impl SceneMirror {
    /// The entity every mesh of the scene hangs under (sim frame).
    pub fn root(&self) -> Entity {
        self.root
    }
}

/// Marks the root of a mirrored scene (sim frame to Bevy frame).
#[derive(Component)]
pub struct SceneRoot;

/// Phases of the plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum SceneViewSet {
    /// Build meshes and pose them from the simulation.
    Sync,
}

/// Mirrors every [`Viewport`] into meshes and keeps their poses current.
pub struct SceneViewPlugin;

impl Plugin for SceneViewPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_lights).add_systems(
            Update,
            (build_mirrors, sync_mirrors)
                .chain()
                .in_set(SceneViewSet::Sync),
        );
    }
}

/// The transform from simulation (Z-up) to Bevy (Y-up) coordinates.
pub fn sim_to_bevy() -> Transform {
    Transform::from_rotation(Quat::from_rotation_x(-FRAC_PI_2))
}

/// A point in simulation coordinates, in Bevy's.
pub fn sim_point(p: [f32; 3]) -> Vec3 {
    Vec3::new(p[0], p[2], -p[1])
}

fn spawn_lights(mut commands: Commands) {
    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 600.0,
        ..default()
    });
}

/// A viewport's sun, in the simulation frame (a child of the scene root).
/// One per viewport, on its layer: a sun on every layer would cast each
/// viewport's shadows into the others, and cost every view all cascades.
fn sun() -> impl Bundle {
    // The sun comes from where the policy camera's light comes from.
    let sun = Vec3::new(-0.35, -0.45, 0.82);
    (
        DirectionalLight {
            illuminance: 9_000.0,
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::from_translation(sun).looking_at(Vec3::ZERO, Vec3::Z),
        // The scene is a few decimetres across: fit the shadow map to it.
        CascadeShadowConfigBuilder {
            num_cascades: 2,
            minimum_distance: 0.01,
            first_cascade_far_bound: 0.8,
            maximum_distance: 3.0,
            ..default()
        }
        .build(),
    )
}

type NewViewport<'a> = (
    Entity,
    &'a Viewport,
    Option<&'a SceneMirror>,
    Option<&'a Pane>,
);

fn build_mirrors(
    mut commands: Commands,
    viewports: Query<NewViewport>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    for (id, vp, mirror, pane) in &viewports {
        let scene = vp.env.scene();
        if let Some(m) = mirror {
            if Arc::ptr_eq(&m.scene, scene) {
                continue;
            }
            commands.entity(m.root).despawn();
        }
        let layers = pane.copied().unwrap_or_default().layers();
        let root = commands
            .spawn((SceneRoot, sim_to_bevy(), Visibility::default(), PartOf(id)))
            .id();
        commands.spawn((sun(), layers.clone(), ChildOf(root)));
        let mut colliders = Vec::with_capacity(scene.visuals.len());
        for v in &scene.visuals {
            let Some(c) = scene.physics.colliders.get(v.collider) else {
                continue;
            };
            let Some(mesh) = shape_mesh(c.shape()) else {
                warn!(
                    "no mesh for a collider of shape {:?}",
                    c.shape().shape_type()
                );
                continue;
            };
            let [r, g, b] = v.rgb;
            let material = StandardMaterial {
                base_color: Color::srgb(r, g, b),
                perceptual_roughness: 0.7,
                ..default()
            };
            let e = commands
                .spawn((
                    Mesh3d(meshes.add(mesh)),
                    MeshMaterial3d(materials.add(material)),
                    Transform::default(),
                    layers.clone(),
                    ChildOf(root),
                ))
                .id();
            colliders.push((e, v.collider));
        }
        commands.entity(id).insert(SceneMirror {
            scene: scene.clone(),
            root,
            colliders,
            markers: Vec::new(),
            marker_entities: Vec::new(),
            revision: None,
            layers,
        });
    }
}

fn sync_mirrors(
    mut commands: Commands,
    mut viewports: Query<(&Viewport, &mut SceneMirror)>,
    mut transforms: Query<&mut Transform>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    for (vp, mut m) in &mut viewports {
        if m.revision == Some(vp.revision) {
            continue;
        }
        m.revision = Some(vp.revision);
        let physics = vp.env.physics();
        for &(e, c) in &m.colliders {
            if let (Some(pose), Ok(mut t)) = (collider_pose(physics, c), transforms.get_mut(e)) {
                *t = pose;
            }
        }
        let markers = &vp.env.goal().markers;
        if *markers != m.markers {
            for e in m.marker_entities.drain(..) {
                commands.entity(e).despawn();
            }
            let (root, layers) = (m.root, m.layers.clone());
            m.marker_entities = markers
                .iter()
                .map(|mk| {
                    let e = spawn_marker(&mut commands, root, mk, &mut meshes, &mut materials);
                    commands.entity(e).insert(layers.clone());
                    e
                })
                .collect();
            m.markers = markers.clone();
        }
    }
}

fn spawn_marker(
    commands: &mut Commands,
    root: Entity,
    mk: &Marker,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) -> Entity {
    let [r, g, b] = mk.rgb;
    // Translucent and shadowless: a goal, not an object.
    let material = StandardMaterial {
        base_color: Color::srgba(r, g, b, 0.55),
        emissive: LinearRgba::rgb(r, g, b) * 0.3,
        alpha_mode: AlphaMode::Blend,
        ..default()
    };
    commands
        .spawn((
            Mesh3d(meshes.add(Sphere::new(mk.radius))),
            MeshMaterial3d(materials.add(material)),
            Transform::from_translation(Vec3::from_array(mk.center.to_array())),
            NotShadowCaster,
            ChildOf(root),
        ))
        .id()
}

/// A collider's pose in simulation coordinates, composed from its parent
/// body: collider poses are only synced inside a physics step, and resets
/// and restores move bodies without stepping.
pub fn collider_pose(p: &Physics, c: ColliderHandle) -> Option<Transform> {
    let col = p.colliders.get(c)?;
    let pose = match (col.parent(), col.position_wrt_parent()) {
        (Some(parent), Some(local)) => p
            .bodies
            .get(parent)
            .map_or(*col.position(), |rb| *rb.position() * *local),
        _ => *col.position(),
    };
    Some(Transform {
        translation: Vec3::from_array(pose.translation.to_array()),
        rotation: Quat::from_array(pose.rotation.to_array()),
        scale: Vec3::ONE,
    })
}

/// A mesh of a collider shape in its local frame; `None` for shapes the
/// MJCF loader never makes (heightfields, meshes).
pub fn shape_mesh(shape: &dyn Shape) -> Option<Mesh> {
    let v = |p: rapier3d::prelude::Vector| Vec3::from_array(p.to_array());
    if let Some(b) = shape.as_ball() {
        return Sphere::new(b.radius).mesh().ico(4).ok();
    }
    if let Some(c) = shape.as_cuboid() {
        let e = v(c.half_extents) * 2.0;
        return Some(Cuboid::new(e.x, e.y, e.z).into());
    }
    if let Some(c) = shape.as_capsule() {
        let (a, b) = (v(c.segment.a), v(c.segment.b));
        let axis = b - a;
        let rotation = match axis.try_normalize() {
            Some(dir) => Quat::from_rotation_arc(Vec3::Y, dir),
            None => Quat::IDENTITY,
        };
        let place = Transform::from_translation((a + b) * 0.5).with_rotation(rotation);
        return Some(Mesh::from(Capsule3d::new(c.radius, axis.length())).transformed_by(place));
    }
    if let Some(c) = shape.as_cylinder() {
        return Some(Cylinder::new(c.radius, 2.0 * c.half_height).into());
    }
    if let Some(h) = shape.as_halfspace() {
        let n = v(h.normal);
        return Some(Plane3d::new(n, Vec2::splat(GROUND_HALF)).into());
    }
    if let Some(cp) = shape.as_convex_polyhedron() {
        let (points, tris) = cp.to_trimesh();
        let positions: Vec<[f32; 3]> = points.iter().map(|p| p.to_array()).collect();
        let mesh = Mesh::new(
            PrimitiveTopology::TriangleList,
            RenderAssetUsages::default(),
        )
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
        .with_inserted_indices(Indices::U32(tris.into_iter().flatten().collect()));
        return Some(mesh.with_duplicated_vertices().with_computed_flat_normals());
    }
    None
}

#[cfg(test)]
mod tests {
    use bevy::prelude::*;
    use dexsim::{Catalog, Env, EnvConfig};

    use super::{SceneMirror, SceneViewPlugin, collider_pose, shape_mesh, sim_point, sim_to_bevy};
    use crate::sim_step::Viewport;
    use crate::testing::{headless_app, viewport};

    #[test]
    fn every_bundled_collider_has_a_mesh() {
        let cat = Catalog::bundled().expect("catalog");
        for task in ["reach-easy", "obj-hold-easy", "scissors", "spray-1"] {
            let env = Env::from_catalog(&cat, task, EnvConfig::default()).expect("env");
            let p = env.physics();
            for v in &env.scene().visuals {
                let c = p.colliders.get(v.collider).expect("collider");
                let mesh = shape_mesh(c.shape());
                assert!(mesh.is_some(), "{task}: {:?}", c.shape().shape_type());
                assert!(collider_pose(p, v.collider).is_some());
            }
        }
    }

    #[test]
    fn mirror_follows_steps_and_task_changes() {
        let mut app = headless_app();
        app.add_plugins((AssetPlugin::default(), SceneViewPlugin))
            .init_asset::<Mesh>()
            .init_asset::<StandardMaterial>();
        let vp = viewport("obj-hold-easy");
        let visuals = vp.env.scene().visuals.len();
        let id = app.world_mut().spawn(vp).id();
        for _ in 0..3 {
            app.update();
        }
        let world = app.world();
        let mirror = world.get::<SceneMirror>(id).expect("mirror");
        assert_eq!(mirror.colliders.len(), visuals);
        assert_eq!(
            mirror.marker_entities.len(),
            1,
            "obj-hold has one goal marker"
        );
        let vp = world.get::<Viewport>(id).expect("vp");
        for &(e, c) in &mirror.colliders {
            let t = world.get::<Transform>(e).expect("transform");
            let want = collider_pose(vp.env.physics(), c).expect("pose");
            assert!(t.translation.distance(want.translation) < 1e-6);
        }
        let old_root = mirror.root;

        *app.world_mut().get_mut::<Viewport>(id).expect("vp") = viewport("reach-easy");
        app.update();
        let mirror = app.world().get::<SceneMirror>(id).expect("mirror");
        assert_ne!(mirror.root, old_root);
        assert!(
            app.world().get_entity(old_root).is_err(),
            "old meshes despawned"
        );
        assert_eq!(mirror.marker_entities.len(), 4, "one marker per fingertip");
    }

    #[test]
    fn sim_up_is_bevy_up() {
        let up = sim_to_bevy().transform_point(Vec3::Z);
        assert!(up.distance(Vec3::Y) < 1e-6);
        let p = sim_to_bevy().transform_point(Vec3::new(0.1, 0.2, 0.3));
        assert!(p.distance(sim_point([0.1, 0.2, 0.3])) < 1e-6);
    }
}
