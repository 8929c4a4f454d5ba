//! Gamepad teleoperation: the first connected gamepad drives the same
//! [`TeleopInput`] as the keys.
//!
//! The mapping, [`gamepad_input`], is plain and always built; only the
//! system that reads Bevy's `Gamepad` needs the `gamepad` cargo feature
//! (gilrs, which links libudev).

use bevy::math::Vec2;

use crate::teleop::{SYNERGY_RATE, TeleopInput, WRIST_RATE};

/// Axis values inside this band read as zero; beyond it they are rescaled
/// so a full deflection still gives the full rate.
pub const DEAD_ZONE: f32 = 0.15;

/// A gamepad's analog inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PadAxes {
    /// Left stick, x right and y up, each in [-1, 1].
    pub left: Vec2,
    /// Right stick, x right and y up, each in [-1, 1].
    pub right: Vec2,
    /// Left and right trigger, 0 (released) to 1.
    pub triggers: [f32; 2],
}

/// A gamepad's buttons.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PadButtons {
    /// Left and right bumper held.
    pub bumpers: [bool; 2],
    /// A, B and X held: grasp, pinch and spread.
    pub synergy: [bool; 3],
    /// Y held: the synergy buttons open instead of close.
    pub open: bool,
    /// D-pad right or left pressed this frame: the first or second hand.
    pub hand: Option<usize>,
    /// Start pressed this frame.
    pub home: bool,
}

/// `x` with the dead zone removed and the rest rescaled to [-1, 1].
fn dead_zone(x: f32) -> f32 {
    let m = (x.abs() - DEAD_ZONE).max(0.0) / (1.0 - DEAD_ZONE);
    (m * x.signum()).clamp(-1.0, 1.0)
}

/// What the gamepad asks for over `dt` seconds: left stick wrist tx/ty,
/// triggers tz (right up, left down), right stick rx (y) and ry (x),
/// bumpers rz; A/B/X close grasp/pinch/spread, or open them with Y held.
pub fn gamepad_input(axes: PadAxes, buttons: PadButtons, dt: f32) -> TeleopInput {
    let bumpers = f32::from(i8::from(buttons.bumpers[1]) - i8::from(buttons.bumpers[0]));
    let tz = dead_zone(axes.triggers[1]) - dead_zone(axes.triggers[0]);
    let rates = [
        dead_zone(axes.left.x),
        dead_zone(axes.left.y),
        tz,
        dead_zone(axes.right.y),
        dead_zone(axes.right.x),
        bumpers,
    ];
    let sign = if buttons.open { -1.0 } else { 1.0 };
    let [grasp, pinch, spread] = buttons
        .synergy
        .map(|held| if held { sign * SYNERGY_RATE * dt } else { 0.0 });
    TeleopInput {
        wrist: rates.map(|r| r * WRIST_RATE * dt),
        grasp,
        pinch,
        spread,
        hand: buttons.hand,
        home: buttons.home,
    }
}

#[cfg(feature = "gamepad")]
pub use plugin::GamepadTeleopPlugin;

#[cfg(feature = "gamepad")]
mod plugin {
    use bevy::input::gamepad::{Gamepad, GamepadButton as B};
    use bevy::prelude::*;

    use super::{PadAxes, PadButtons, gamepad_input};
    use crate::driver::Driver;

    /// Moves the teleoperated hands of every viewport from the first
    /// connected gamepad; [`crate::TeleopPlugin`] adds it.
    pub struct GamepadTeleopPlugin;

    impl Plugin for GamepadTeleopPlugin {
        fn build(&self, app: &mut App) {
            app.add_systems(Update, read_gamepad);
        }
    }

    fn read_gamepad(
        time: Res<Time<Real>>,
        pads: Query<(Entity, &Gamepad)>,
        mut drivers: Query<&mut Driver>,
    ) {
        // Bevy removes `Gamepad` on disconnection; the oldest entity is first.
        let Some((_, pad)) = pads.iter().min_by_key(|(e, _)| *e) else {
            return;
        };
        let axes = PadAxes {
            left: pad.left_stick(),
            right: pad.right_stick(),
            triggers: [B::LeftTrigger2, B::RightTrigger2].map(|b| pad.get(b).unwrap_or(0.0)),
        };
        let hand = if pad.just_pressed(B::DPadRight) {
            Some(0)
        } else if pad.just_pressed(B::DPadLeft) {
            Some(1)
        } else {
            None
        };
        let buttons = PadButtons {
            bumpers: [B::LeftTrigger, B::RightTrigger].map(|b| pad.pressed(b)),
            synergy: [B::South, B::East, B::West].map(|b| pad.pressed(b)),
            open: pad.pressed(B::North),
            hand,
            home: pad.just_pressed(B::Start),
        };
        gamepad_input(axes, buttons, time.delta_secs()).send(&mut drivers);
    }
}

#[cfg(test)]
mod tests {
    use bevy::math::Vec2;

    use super::{DEAD_ZONE, PadAxes, PadButtons, gamepad_input};
    use crate::teleop::{SYNERGY_RATE, WRIST_RATE};

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn dead_zone_reads_zero_and_full_deflection_full_rate() {
        let small = PadAxes {
            left: Vec2::splat(0.9 * DEAD_ZONE),
            right: Vec2::new(-0.9 * DEAD_ZONE, 0.5 * DEAD_ZONE),
            triggers: [0.9 * DEAD_ZONE; 2],
        };
        assert!(gamepad_input(small, PadButtons::default(), 0.5).is_empty());
        let full = PadAxes {
            left: Vec2::new(1.0, -1.0),
            ..PadAxes::default()
        };
        let i = gamepad_input(full, PadButtons::default(), 0.5);
        assert!(close(i.wrist[0], 0.5 * WRIST_RATE) && close(i.wrist[1], -0.5 * WRIST_RATE));
        // Just past the dead zone the rate starts from zero, not with a jump.
        let edge = PadAxes {
            left: Vec2::new(DEAD_ZONE + 0.01, 0.0),
            ..PadAxes::default()
        };
        let i = gamepad_input(edge, PadButtons::default(), 1.0);
        assert!(i.wrist[0] > 0.0 && i.wrist[0] < 0.02 * WRIST_RATE);
    }

    #[test]
    fn each_axis_moves_its_wrist_joint() {
        let one = |axes: PadAxes, buttons: PadButtons| {
            let i = gamepad_input(axes, buttons, 1.0);
            let moved: Vec<usize> = (0..6).filter(|&j| i.wrist[j] != 0.0).collect();
            (moved, i.wrist)
        };
        let none = PadButtons::default();
        let cases = [
            (
                PadAxes {
                    left: Vec2::X,
                    ..PadAxes::default()
                },
                none,
                0,
                1.0,
            ),
            (
                PadAxes {
                    left: Vec2::Y,
                    ..PadAxes::default()
                },
                none,
                1,
                1.0,
            ),
            (
                PadAxes {
                    triggers: [0.0, 1.0],
                    ..PadAxes::default()
                },
                none,
                2,
                1.0,
            ),
            (
                PadAxes {
                    triggers: [1.0, 0.0],
                    ..PadAxes::default()
                },
                none,
                2,
                -1.0,
            ),
            (
                PadAxes {
                    right: Vec2::Y,
                    ..PadAxes::default()
                },
                none,
                3,
                1.0,
            ),
            (
                PadAxes {
                    right: -Vec2::X,
                    ..PadAxes::default()
                },
                none,
                4,
                -1.0,
            ),
            (
                PadAxes::default(),
                PadButtons {
                    bumpers: [false, true],
                    ..none
                },
                5,
                1.0,
            ),
            (
                PadAxes::default(),
                PadButtons {
                    bumpers: [true, false],
                    ..none
                },
                5,
                -1.0,
            ),
        ];
        for (axes, buttons, joint, sign) in cases {
            let (moved, wrist) = one(axes, buttons);
            assert_eq!(moved, vec![joint], "{axes:?} {buttons:?}");
            assert!(close(wrist[joint], sign * WRIST_RATE), "{wrist:?}");
        }
    }

    #[test]
    fn buttons_drive_synergies_hands_and_home() {
        let b = PadButtons {
            synergy: [true, false, true],
            ..PadButtons::default()
        };
        let i = gamepad_input(PadAxes::default(), b, 0.5);
        assert!(close(i.grasp, 0.5 * SYNERGY_RATE) && close(i.spread, 0.5 * SYNERGY_RATE));
        assert_eq!(i.pinch, 0.0);
        assert_eq!(i.wrist, [0.0; 6]);
        let i = gamepad_input(PadAxes::default(), PadButtons { open: true, ..b }, 0.5);
        assert!(close(i.grasp, -0.5 * SYNERGY_RATE));
        let b = PadButtons {
            synergy: [false, true, false],
            open: true,
            hand: Some(1),
            home: true,
            ..PadButtons::default()
        };
        let i = gamepad_input(PadAxes::default(), b, 0.5);
        assert!(close(i.pinch, -0.5 * SYNERGY_RATE));
        assert_eq!((i.hand, i.home), (Some(1), true));
        // Y alone asks for nothing.
        let y = PadButtons {
            open: true,
            ..PadButtons::default()
        };
        assert!(gamepad_input(PadAxes::default(), y, 0.5).is_empty());
    }
}
