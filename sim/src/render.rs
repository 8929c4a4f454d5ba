//! The observation camera: a CPU ray caster over the world's colliders.
//!
//! It needs no GPU, so training, the headless CLI and the studio's
//! policy-eye panel all produce the very same pixels. Each frame gathers the
//! visible colliders with a bounding sphere, then casts one ray per pixel;
//! a ray only tests the shapes whose projected sphere covers it, which keeps
//! a 64×64 frame in well under 2 ms on one core.

use rapier3d::parry::query::Ray;
use rapier3d::prelude::*;

use crate::physics::Physics;
use crate::scene::Visual;

/// A pinhole camera.
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    /// Eye position.
    pub eye: Vector,
    /// Point looked at.
    pub target: Vector,
    /// Vertical field of view (degrees).
    pub fov_deg: f32,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
}

/// A goal marker: a sphere drawn in the image but absent from the physics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Marker {
    /// Centre.
    pub center: Vector,
    /// Radius.
    pub radius: f32,
    /// RGB in [0, 1].
    pub rgb: [f32; 3],
}

/// An RGB8 image, row-major from the top-left pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

struct Item<'a> {
    shape: Option<&'a dyn Shape>,
    pose: Pose,
    center: Vector,
    radius: f32,
    rgb: [f32; 3],
    halfspace: bool,
}

const LIGHT: Vector = Vector::new(-0.35, -0.45, 0.82);
const SKY_TOP: [f32; 3] = [0.80, 0.86, 0.93];
const SKY_BOTTOM: [f32; 3] = [0.55, 0.6, 0.68];

/// Render the world from `cam`, with goal markers.
pub fn render(physics: &Physics, visuals: &[Visual], markers: &[Marker], cam: &Camera) -> Image {
    let mut items: Vec<Item> = Vec::with_capacity(visuals.len() + markers.len());
    for v in visuals {
        let Some(c) = physics.colliders.get(v.collider) else {
            continue;
        };
        // Compose from the parent body: collider poses are only synced from
        // their bodies inside a physics step, and a reset or a goal state
        // moves bodies without stepping.
        let pose = match (c.parent(), c.position_wrt_parent()) {
            (Some(parent), Some(local)) => physics
                .bodies
                .get(parent)
                .map_or(*c.position(), |rb| *rb.position() * *local),
            _ => *c.position(),
        };
        let shape = c.shape();
        let halfspace = shape.as_halfspace().is_some();
        let (center, radius) = if halfspace {
            (pose.translation, f32::INFINITY)
        } else {
            let s = shape.compute_local_bounding_sphere();
            (pose.transform_point(s.center), s.radius)
        };
        items.push(Item {
            shape: Some(shape),
            pose,
            center,
            radius,
            rgb: v.rgb,
            halfspace,
        });
    }
    for m in markers {
        items.push(Item {
            shape: None,
            pose: Pose::from_translation(m.center),
            center: m.center,
            radius: m.radius,
            rgb: m.rgb,
            halfspace: false,
        });
    }

    let forward = (cam.target - cam.eye).normalize();
    let right = forward.cross(Vector::Z).normalize();
    let up = right.cross(forward);
    let half_h = (cam.fov_deg.to_radians() * 0.5).tan();
    let aspect = cam.width as f32 / cam.height as f32;
    let light = LIGHT.normalize();
    let mut rgb = Vec::with_capacity(cam.width * cam.height * 3);
    // Per-row culling: keep only items whose sphere the row's rays can reach.
    let mut row_items: Vec<usize> = Vec::with_capacity(items.len());
    for y in 0..cam.height {
        let v = (1.0 - 2.0 * (y as f32 + 0.5) / cam.height as f32) * half_h;
        row_items.clear();
        let row_dir = forward + up * v;
        for (i, it) in items.iter().enumerate() {
            if it.halfspace || row_may_hit(cam.eye, row_dir, right, it) {
                row_items.push(i);
            }
        }
        for x in 0..cam.width {
            let u = (2.0 * (x as f32 + 0.5) / cam.width as f32 - 1.0) * half_h * aspect;
            let dir = (forward + right * u + up * v).normalize();
            let colour = shade(cam.eye, dir, &items, &row_items, light, v / half_h);
            for c in colour {
                rgb.push(to_srgb8(c));
            }
        }
    }
    Image {
        width: cam.width,
        height: cam.height,
        rgb,
    }
}

/// Whether any ray of a row can come within the item's bounding sphere.
fn row_may_hit(eye: Vector, row_dir: Vector, right: Vector, it: &Item) -> bool {
    // The row's rays span a plane through the eye containing `row_dir` and
    // `right`; a sphere farther than its radius from that plane is missed.
    let normal = row_dir.cross(right).normalize();
    (it.center - eye).dot(normal).abs() <= it.radius
}

fn ray_sphere(origin: Vector, dir: Vector, center: Vector, radius: f32) -> Option<(f32, Vector)> {
    let oc = origin - center;
    let b = oc.dot(dir);
    let c = oc.length_squared() - radius * radius;
    let disc = b * b - c;
    if disc < 0.0 {
        return None;
    }
    let t = -b - disc.sqrt();
    (t > 0.0).then(|| (t, (origin + dir * t - center) / radius))
}

fn shade(
    eye: Vector,
    dir: Vector,
    items: &[Item],
    candidates: &[usize],
    light: Vector,
    v: f32,
) -> [f32; 3] {
    let mut best_t = f32::INFINITY;
    let mut best: Option<(usize, Vector)> = None;
    for &i in candidates {
        let it = &items[i];
        if !it.halfspace && ray_sphere(eye, dir, it.center, it.radius).is_none() {
            // Also keep the eye-inside-sphere case out: the camera is outside.
            continue;
        }
        let hit = match it.shape {
            None => ray_sphere(eye, dir, it.center, it.radius),
            Some(shape) => {
                let local = Ray::new(
                    it.pose.inverse_transform_point(eye),
                    it.pose.rotation.inverse() * dir,
                );
                shape
                    .cast_local_ray_and_get_normal(&local, best_t, true)
                    .map(|h| (h.time_of_impact, it.pose.rotation * h.normal))
            }
        };
        if let Some((t, n)) = hit
            && t < best_t
        {
            best_t = t;
            best = Some((i, n));
        }
    }
    let Some((i, n)) = best else {
        let k = (v * 0.5 + 0.5).clamp(0.0, 1.0);
        return std::array::from_fn(|c| SKY_BOTTOM[c] + (SKY_TOP[c] - SKY_BOTTOM[c]) * k);
    };
    let it = &items[i];
    let n = if n.dot(dir) > 0.0 { -n } else { n };
    let mut base = it.rgb;
    if it.halfspace {
        // A faint 5 cm checker gives the table depth cues.
        let p = eye + dir * best_t;
        let check = ((p.x / 0.05).floor() as i64 + (p.y / 0.05).floor() as i64).rem_euclid(2);
        let k = if check == 0 { 1.0 } else { 0.88 };
        base = base.map(|c| c * k);
        // Fade the far table into the background.
        let fog = ((best_t - 0.4) / 0.8).clamp(0.0, 1.0);
        let lit = lambert(base, n, light);
        return std::array::from_fn(|c| lit[c] * (1.0 - fog) + SKY_BOTTOM[c] * fog);
    }
    lambert(base, n, light)
}

/// Gamma-encode a linear value to a byte through a table: `powf` per
/// channel was a fifth of the frame time.
fn to_srgb8(c: f32) -> u8 {
    const N: usize = 4096;
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..N)
            .map(|i| ((i as f32 / (N - 1) as f32).powf(1.0 / 2.2) * 255.0 + 0.5) as u8)
            .collect()
    });
    table[(c.clamp(0.0, 1.0) * (N - 1) as f32 + 0.5) as usize]
}

fn lambert(base: [f32; 3], n: Vector, light: Vector) -> [f32; 3] {
    let diffuse = n.dot(light).max(0.0);
    let k = 0.35 + 0.65 * diffuse;
    base.map(|c| (c * c) * k)
}

impl Image {
    /// A blank image (used before the first render).
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            rgb: vec![0; width * height * 3],
        }
    }

    /// Nearest-neighbour upscaling by `k`, so 64×64 frames are legible in
    /// GIFs, PNGs and videos. An image whose pixels do not match its size
    /// (a camera that never rendered) is returned as is.
    pub fn upscaled(&self, k: usize) -> Self {
        if k <= 1 || self.rgb.len() != self.width * self.height * 3 {
            return self.clone();
        }
        let (w, h) = (self.width * k, self.height * k);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let i = ((y / k) * self.width + x / k) * 3;
                rgb.extend_from_slice(&self.rgb[i..i + 3]);
            }
        }
        Self {
            width: w,
            height: h,
            rgb,
        }
    }
}
