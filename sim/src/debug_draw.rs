//! Collider outlines and contact points as coloured line segments, drawn
//! by rapier's own `DebugRenderPipeline`, so a viewer (the studio's
//! overlay) shows exactly what collides without knowing rapier's sets.

use rapier3d::prelude::*;

use crate::physics::Physics;

pub use rapier3d::pipeline::{
    DebugColor, DebugRenderBackend, DebugRenderMode, DebugRenderObject, DebugRenderStyle,
};

/// One segment of the debug drawing, in the simulation frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DebugLine {
    /// Start point (m).
    pub a: [f32; 3],
    /// End point (m).
    pub b: [f32; 3],
    /// Colour as rapier gives it: hue (0..360), saturation, lightness, alpha.
    pub hsla: [f32; 4],
    /// Part of a contact (penetration segment or normal) rather than a
    /// collider outline.
    pub contact: bool,
}

impl Physics {
    /// Draw this world through `backend` with `pipeline`'s mode and style.
    ///
    /// Attached colliders are drawn at their parent body's pose: rapier
    /// only syncs collider poses inside a step, and resets and restores
    /// move bodies without stepping.
    pub fn debug_render(
        &self,
        pipeline: &mut DebugRenderPipeline,
        backend: &mut impl DebugRenderBackend,
    ) {
        let mut colliders = self.colliders.clone();
        for (_, co) in colliders.iter_mut() {
            let pose = match (co.parent(), co.position_wrt_parent()) {
                (Some(parent), Some(local)) => {
                    self.bodies.get(parent).map(|b| *b.position() * *local)
                }
                _ => None,
            };
            if let Some(pose) = pose {
                co.set_position(pose);
            }
        }
        pipeline.render(
            backend,
            &self.bodies,
            &colliders,
            &self.impulse_joints,
            &self.multibody_joints,
            &self.narrow_phase,
            &self.soft_bodies,
        );
    }

    /// The debug drawing of `mode` (e.g. `COLLIDER_SHAPES | CONTACTS`) as
    /// a list of segments, in [`hand_style`].
    pub fn debug_lines(&self, mode: DebugRenderMode) -> Vec<DebugLine> {
        let mut pipeline = DebugRenderPipeline::new(hand_style(), mode);
        let mut lines = Lines(Vec::new());
        self.debug_render(&mut pipeline, &mut lines);
        lines.0
    }
}

/// rapier's default style at the scale of a hand: its 0.3 m contact
/// normals are longer than the hand, 2 cm ones point without hiding it.
pub fn hand_style() -> DebugRenderStyle {
    DebugRenderStyle {
        contact_normal_length: 0.02,
        subdivisions: 12,
        ..DebugRenderStyle::default()
    }
}

/// Collects segments.
struct Lines(Vec<DebugLine>);

impl DebugRenderBackend for Lines {
    fn draw_line(&mut self, object: DebugRenderObject, a: Vector, b: Vector, color: DebugColor) {
        self.0.push(DebugLine {
            a: a.to_array(),
            b: b.to_array(),
            hsla: color,
            contact: matches!(object, DebugRenderObject::ContactPair(..)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::DebugRenderMode;
    use crate::{Catalog, Env, EnvConfig};

    #[test]
    fn shapes_and_contacts_become_lines() {
        let cat = Catalog::bundled().expect("catalog");
        let mut env = Env::from_catalog(&cat, "obj-hold-easy", EnvConfig::default()).expect("env");
        env.reset(0);
        let shapes = env.physics().debug_lines(DebugRenderMode::COLLIDER_SHAPES);
        assert!(shapes.len() > 100, "{} segments", shapes.len());
        assert!(shapes.iter().all(|l| !l.contact));
        // The object rests on the table after a few steps: contacts appear.
        let zero = vec![0.0; env.action_dim()];
        for _ in 0..5 {
            env.step(&zero).expect("step");
        }
        let contacts = env.physics().debug_lines(DebugRenderMode::CONTACTS);
        assert!(!contacts.is_empty() && contacts.iter().all(|l| l.contact));
        assert!(
            contacts
                .iter()
                .flat_map(|l| l.a.into_iter().chain(l.b))
                .all(f32::is_finite)
        );
    }
}
