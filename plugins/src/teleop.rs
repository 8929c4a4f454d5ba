//! Teleoperation: the keyboard and mouse move the six wrist joints and
//! three finger synergies (grasp, pinch, spread) of one hand at a time.
//!
//! The teleop only chooses position targets; they leave as actions in
//! [-1, 1] that the environment maps onto each actuator's range exactly as
//! it does for a policy, so a recorded teleop episode is a valid
//! demonstration. A held key moves its target at a fixed rate and a
//! released key holds it, so a grasp stays closed while the wrist moves.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use dexsim::Env;
use dexsim::task::FINGERS;

use crate::driver::{Driver, Policy};
use crate::error::PluginError;

/// Wrist joints, in the order of [`HandCmd::wrist`].
pub const WRIST: [&str; 6] = ["tx", "ty", "tz", "rx", "ry", "rz"];
/// Action units per second while a wrist key is held: a full range in 2 s.
pub(crate) const WRIST_RATE: f32 = 1.0;
/// Synergy units per second while a synergy key is held.
pub(crate) const SYNERGY_RATE: f32 = 1.5;
/// Action units per pixel of a shift-drag.
const DRAG_RATE: f32 = 0.004;
/// Action units per wheel line with shift held.
const WHEEL_RATE: f32 = 0.05;
/// How far a full grasp curls each finger joint, from rest towards its
/// upper limit (joint 0 is the spread, handled apart).
const CURL: [f32; 4] = [0.0, 0.9, 0.8, 0.7];
/// Which way a positive spread turns joint 0 of index, middle and ring
/// (the middle finger stays straight; the thumb's joint 0 is opposition).
const SPREAD_SIGN: [f32; 3] = [1.0, 0.0, -1.0];
/// Share of the grasp that curls the thumb (a power grasp wraps it less).
const THUMB_GRASP: f32 = 0.6;
/// How far the thumb opposes at full grasp or pinch.
const OPPOSITION: f32 = 0.8;

/// Keys: for each wrist joint (+, -); for each synergy (close, open).
pub const WRIST_KEYS: [(KeyCode, KeyCode); 6] = [
    (KeyCode::KeyD, KeyCode::KeyA),
    (KeyCode::KeyW, KeyCode::KeyS),
    (KeyCode::KeyR, KeyCode::KeyF),
    (KeyCode::KeyI, KeyCode::KeyK),
    (KeyCode::KeyL, KeyCode::KeyJ),
    (KeyCode::KeyO, KeyCode::KeyU),
];
/// Grasp closes with Z, opens with X.
pub const GRASP_KEYS: (KeyCode, KeyCode) = (KeyCode::KeyZ, KeyCode::KeyX);
/// Pinch closes with C, opens with V.
pub const PINCH_KEYS: (KeyCode, KeyCode) = (KeyCode::KeyC, KeyCode::KeyV);
/// Spread opens with B, closes with N.
pub const SPREAD_KEYS: (KeyCode, KeyCode) = (KeyCode::KeyB, KeyCode::KeyN);
/// Back to the rest posture.
pub const HOME_KEY: KeyCode = KeyCode::Backspace;
/// Pick the hand: 1 the first (right), 2 the second (left).
pub const HAND_KEYS: [KeyCode; 2] = [KeyCode::Digit1, KeyCode::Digit2];

/// Actuator indices of one hand, by role.
#[derive(Clone, Debug)]
struct HandMap {
    name: &'static str,
    wrist: [Option<usize>; 6],
    /// `[finger][joint]`, fingers in [`FINGERS`] order.
    fingers: [[Option<usize>; 4]; 4],
}

/// One hand's command: wrist targets as actions, and the synergies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HandCmd {
    /// Wrist targets in action units, in [`WRIST`] order.
    pub wrist: [f32; 6],
    /// All fingers curl together, 0 (open) to 1 (closed).
    pub grasp: f32,
    /// Index and thumb curl towards each other, 0 to 1.
    pub pinch: f32,
    /// Index and ring fan out (positive) or cross (negative), -1 to 1.
    pub spread: f32,
}

/// Changes asked for in one frame (already scaled by the frame time).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TeleopInput {
    /// Wrist offsets in action units.
    pub wrist: [f32; 6],
    /// Grasp offset.
    pub grasp: f32,
    /// Pinch offset.
    pub pinch: f32,
    /// Spread offset.
    pub spread: f32,
    /// Switch to this hand.
    pub hand: Option<usize>,
    /// Return the active hand to rest.
    pub home: bool,
}

impl TeleopInput {
    /// Whether anything was asked.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Hand this frame's input to every viewport a teleoperator drives
    /// (keyboard and mouse, or gamepad).
    pub fn send(&self, drivers: &mut Query<&mut Driver>) {
        if self.is_empty() {
            return;
        }
        for mut d in drivers.iter_mut() {
            if let Policy::Teleop(t) = &mut d.policy {
                t.apply(self);
            }
        }
    }
}

/// The teleoperation state of one viewport: what each hand is told.
#[derive(Clone, Debug)]
pub struct Teleop {
    hands: Vec<HandMap>,
    cmds: Vec<HandCmd>,
    active: usize,
    /// Target range of every actuator.
    ranges: Vec<(f32, f32)>,
    /// The episode the commands belong to; a new one starts from rest.
    episode: Option<u64>,
}

/// The action that puts a target `q` in `[lo, hi]`.
fn to_action(q: f32, (lo, hi): (f32, f32)) -> f32 {
    if hi > lo {
        (2.0 * (q.clamp(lo, hi) - lo) / (hi - lo) - 1.0).clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// The rest target of a joint: zero within its range, as `Env::reset`
/// places it.
fn rest((lo, hi): (f32, f32)) -> f32 {
    0.0f32.clamp(lo.min(hi), hi.max(lo))
}

impl Teleop {
    /// Teleoperation of the hands of `env`'s task; an error if it has none
    /// whose joints follow the hand's naming (`rh_wrist_tx`, `rh_index0`).
    pub fn new(env: &Env) -> Result<Self, PluginError> {
        let acts = &env.scene().actuators;
        let find = |name: String| acts.iter().position(|a| a.joint_name == name);
        let hands: Vec<HandMap> = env
            .task()
            .hands
            .iter()
            .map(|h| HandMap {
                name: if h.prefix.starts_with('l') {
                    "left"
                } else {
                    "right"
                },
                wrist: WRIST.map(|w| find(format!("{}wrist_{w}", h.prefix))),
                fingers: FINGERS.map(|f| [0, 1, 2, 3].map(|j| find(format!("{}{f}{j}", h.prefix)))),
            })
            .filter(|m| {
                m.wrist.iter().any(Option::is_some)
                    || m.fingers.iter().flatten().any(Option::is_some)
            })
            .collect();
        if hands.is_empty() {
            return Err(PluginError::Unavailable(format!(
                "task {} has no hand to teleoperate",
                env.task().spec.name
            )));
        }
        let ranges: Vec<(f32, f32)> = acts.iter().map(|a| (a.lo, a.hi)).collect();
        let mut t = Self {
            cmds: Vec::new(),
            hands,
            active: 0,
            ranges,
            episode: None,
        };
        t.cmds = (0..t.hands.len()).map(|h| t.rest_cmd(h)).collect();
        Ok(t)
    }

    fn rest_cmd(&self, hand: usize) -> HandCmd {
        let wrist = self.hands[hand].wrist.map(|a| {
            a.map_or(0.0, |a| {
                let r = self.ranges[a];
                to_action(rest(r), r)
            })
        });
        HandCmd {
            wrist,
            grasp: 0.0,
            pinch: 0.0,
            spread: 0.0,
        }
    }

    /// The hand the keys move.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Names of the hands ("right", "left").
    pub fn hand_names(&self) -> Vec<&'static str> {
        self.hands.iter().map(|h| h.name).collect()
    }

    /// The command of the active hand.
    pub fn cmd(&self) -> HandCmd {
        self.cmds[self.active]
    }

    /// Apply one frame of input to the active hand.
    pub fn apply(&mut self, input: &TeleopInput) {
        if let Some(h) = input.hand.filter(|&h| h < self.hands.len()) {
            self.active = h;
        }
        if input.home {
            self.cmds[self.active] = self.rest_cmd(self.active);
        }
        let c = &mut self.cmds[self.active];
        for (w, d) in c.wrist.iter_mut().zip(input.wrist) {
            *w = (*w + d).clamp(-1.0, 1.0);
        }
        c.grasp = (c.grasp + input.grasp).clamp(0.0, 1.0);
        c.pinch = (c.pinch + input.pinch).clamp(0.0, 1.0);
        c.spread = (c.spread + input.spread).clamp(-1.0, 1.0);
    }

    /// The action for the coming step of episode `episode`: every hand at
    /// rest when the episode is new, else the commands.
    pub fn act(&mut self, episode: u64) -> Vec<f32> {
        if self.episode != Some(episode) {
            self.episode = Some(episode);
            self.cmds = (0..self.hands.len()).map(|h| self.rest_cmd(h)).collect();
        }
        self.action()
    }

    /// The actions that realise the current commands.
    pub fn action(&self) -> Vec<f32> {
        let mut out: Vec<f32> = self.ranges.iter().map(|&r| to_action(rest(r), r)).collect();
        for (map, c) in self.hands.iter().zip(&self.cmds) {
            for (a, w) in map.wrist.iter().zip(c.wrist) {
                if let Some(a) = *a {
                    out[a] = w;
                }
            }
            for (f, joints) in map.fingers.iter().enumerate() {
                let flex = match f {
                    0 => c.grasp + c.pinch,
                    3 => THUMB_GRASP * c.grasp + c.pinch,
                    _ => c.grasp,
                }
                .clamp(0.0, 1.0);
                for (j, a) in joints.iter().enumerate() {
                    let Some(a) = *a else { continue };
                    let r @ (lo, hi) = self.ranges[a];
                    let q0 = rest(r);
                    let q = match (f, j) {
                        (3, 0) => q0 + OPPOSITION * c.grasp.max(c.pinch) * (hi - q0),
                        (_, 0) => q0 + SPREAD_SIGN[f.min(2)] * c.spread * 0.5 * (hi - lo),
                        _ => q0 + flex * CURL[j] * (hi - q0),
                    };
                    out[a] = to_action(q, r);
                }
            }
        }
        out
    }
}

/// What the held keys ask for over `dt` seconds.
pub fn key_input(
    pressed: impl Fn(KeyCode) -> bool,
    just: impl Fn(KeyCode) -> bool,
    dt: f32,
) -> TeleopInput {
    let axis = |(plus, minus): (KeyCode, KeyCode)| {
        f32::from(i8::from(pressed(plus)) - i8::from(pressed(minus)))
    };
    TeleopInput {
        wrist: WRIST_KEYS.map(|k| axis(k) * WRIST_RATE * dt),
        grasp: axis(GRASP_KEYS) * SYNERGY_RATE * dt,
        pinch: axis(PINCH_KEYS) * SYNERGY_RATE * dt,
        spread: axis(SPREAD_KEYS) * SYNERGY_RATE * dt,
        hand: HAND_KEYS.iter().position(|&k| just(k)),
        home: just(HOME_KEY),
    }
}

/// Moves the teleoperated hands of every viewport from the keyboard and
/// mouse, and from a gamepad with the `gamepad` feature. Keys are ignored
/// while egui wants them (a text field has focus), the mouse while it is
/// over a panel.
pub struct TeleopPlugin;

impl Plugin for TeleopPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, read_input);
        #[cfg(feature = "gamepad")]
        app.add_plugins(crate::teleop_gamepad::GamepadTeleopPlugin);
    }
}

/// Mouse input of a frame: the drag in pixels, the wheel in lines.
#[derive(Clone, Copy, Debug, Default)]
struct Mouse {
    drag: Vec2,
    wheel: f32,
}

/// Shift + left-drag moves the wrist sideways (tx) and up and down (tz);
/// shift + wheel moves it forwards and back (ty).
fn mouse_input(m: Mouse) -> TeleopInput {
    let mut wrist = [0.0; 6];
    wrist[0] = m.drag.x * DRAG_RATE;
    wrist[2] = -m.drag.y * DRAG_RATE;
    wrist[1] = m.wheel * WHEEL_RATE;
    TeleopInput {
        wrist,
        ..TeleopInput::default()
    }
}

fn read_input(
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    time: Res<Time<Real>>,
    egui: Option<Res<EguiWantsInput>>,
    mut drivers: Query<&mut Driver>,
) {
    let dt = time.delta_secs();
    let mut input = if egui.as_ref().is_some_and(|e| e.wants_any_keyboard_input()) {
        TeleopInput::default()
    } else {
        key_input(|k| keys.pressed(k), |k| keys.just_pressed(k), dt)
    };
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if shift && !egui.as_ref().is_some_and(|e| e.wants_any_pointer_input()) {
        let wheel = match scroll.unit {
            MouseScrollUnit::Line => scroll.delta.y,
            MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
        };
        let drag = if buttons.pressed(MouseButton::Left) {
            motion.delta
        } else {
            Vec2::ZERO
        };
        let m = mouse_input(Mouse { drag, wheel });
        for (w, d) in input.wrist.iter_mut().zip(m.wrist) {
            *w += d;
        }
    }
    input.send(&mut drivers);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::input::InputPlugin;
    use bevy::prelude::*;
    use bevy::time::TimeUpdateStrategy;

    use super::{GRASP_KEYS, Teleop, TeleopInput, TeleopPlugin, key_input};
    use crate::driver::{Driver, Policy};
    use crate::testing::viewport;

    #[test]
    fn rest_command_holds_the_reset_posture() {
        let vp = viewport("reach-easy");
        let t = Teleop::new(&vp.env).expect("teleop");
        let a = t.action();
        assert_eq!(a.len(), vp.env.action_dim());
        // Every actuator's target is where reset puts the joint (zero,
        // clamped into range), so taking over does not jerk the hand.
        for (x, act) in a.iter().zip(&vp.env.scene().actuators) {
            let q = act.lo + 0.5 * (x + 1.0) * (act.hi - act.lo);
            assert!(
                (q - 0.0f32.clamp(act.lo, act.hi)).abs() < 1e-5,
                "{}",
                act.name
            );
        }
    }

    #[test]
    fn grasp_curls_every_finger_and_pinch_only_index_and_thumb() {
        let vp = viewport("reach-easy");
        let acts = &vp.env.scene().actuators;
        let idx = |name: &str| acts.iter().position(|a| a.joint_name == name).expect(name);
        let mut t = Teleop::new(&vp.env).expect("teleop");
        let rest = t.action();
        t.apply(&TeleopInput {
            grasp: 1.0,
            ..TeleopInput::default()
        });
        let grasp = t.action();
        for j in [
            "rh_index2",
            "rh_middle2",
            "rh_ring2",
            "rh_thumb2",
            "rh_thumb0",
        ] {
            assert!(grasp[idx(j)] > rest[idx(j)] + 0.3, "{j} curls");
        }
        assert_eq!(grasp[idx("rh_wrist_tx")], rest[idx("rh_wrist_tx")]);

        t.apply(&TeleopInput {
            grasp: -1.0,
            pinch: 1.0,
            spread: 0.5,
            ..TeleopInput::default()
        });
        let pinch = t.action();
        assert!(pinch[idx("rh_index2")] > rest[idx("rh_index2")] + 0.3);
        assert!(pinch[idx("rh_thumb2")] > rest[idx("rh_thumb2")] + 0.3);
        assert_eq!(pinch[idx("rh_middle2")], rest[idx("rh_middle2")]);
        assert!(pinch[idx("rh_index0")] > 0.2 && pinch[idx("rh_ring0")] < -0.2);
        assert!(pinch.iter().all(|x| (-1.0..=1.0).contains(x)));
    }

    #[test]
    fn a_new_episode_starts_from_rest_and_hands_switch() {
        let vp = viewport("switch");
        let mut t = Teleop::new(&vp.env).expect("teleop");
        assert_eq!(t.hand_names(), vec!["right", "left"]);
        let rest = t.act(0);
        t.apply(&TeleopInput {
            hand: Some(1),
            wrist: [0.5, 0.0, 0.0, 0.0, 0.0, 0.0],
            ..TeleopInput::default()
        });
        assert_eq!(t.active(), 1);
        assert_ne!(t.act(0), rest, "the left wrist moved");
        assert_eq!(t.act(1), rest, "a new episode starts from rest");
    }

    #[test]
    fn held_keys_move_targets_at_their_rate() {
        let held = |k| k == GRASP_KEYS.0 || k == KeyCode::KeyW;
        let i = key_input(held, |_| false, 0.5);
        assert_eq!(i.wrist[1], 0.5);
        assert_eq!(i.grasp, 0.75);
        assert_eq!(i.pinch, 0.0);
        assert!(key_input(|_| false, |_| false, 0.5).is_empty());
    }

    #[test]
    fn keys_drive_the_teleop_policy_in_an_app() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, InputPlugin, TeleopPlugin))
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                100,
            )));
        let vp = viewport("reach-easy");
        let mut d = Driver::new(Err("none".into()));
        d.policy = Policy::Teleop(Box::new(Teleop::new(&vp.env).expect("teleop")));
        let id = app.world_mut().spawn(d).id();
        app.update();
        app.world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .press(GRASP_KEYS.0);
        for _ in 0..3 {
            app.update();
        }
        let d = app.world().get::<Driver>(id).expect("driver");
        let Policy::Teleop(t) = &d.policy else {
            panic!("teleop policy")
        };
        assert!(t.cmd().grasp > 0.2, "grasp {}", t.cmd().grasp);
    }
}
