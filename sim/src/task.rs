//! Task logic over a scene: hand layout, goal sampling, state vectors,
//! reward terms, the success predicate and drops, per family. The numbers a
//! task can tune live in its TOML spec; this file holds their meaning.

use rand::Rng;
use rapier3d::prelude::*;

use crate::error::Result;
use crate::physics::{JointRef, Physics};
use crate::render::Marker;
use crate::scene::Scene;
use crate::spec::{Family, GoalValue, TaskSpec};

/// Fingers of a hand, in state-vector order.
pub const FINGERS: [&str; 4] = ["index", "middle", "ring", "thumb"];
const FINGER_RGB: [[f32; 3]; 4] = [
    [0.95, 0.2, 0.2],
    [0.2, 0.85, 0.25],
    [0.2, 0.4, 0.95],
    [0.95, 0.8, 0.1],
];
const GOAL_RGB: [f32; 3] = [0.95, 0.2, 0.85];
/// Minimum magnitude of a sampled key angle or pen heading (rad), so that a
/// hard goal never asks for (almost) nothing.
pub const MIN_TURN: f64 = 0.4;
/// A bottle counts as upright while `cos(tilt)` stays above this (≈25°).
pub const UPRIGHT_COS: f32 = 0.9;

/// One hand of the scene.
#[derive(Clone, Debug)]
pub struct Hand {
    /// Name prefix (`rh_` or `lh_`).
    pub prefix: String,
    /// Actuator indices of this hand (the wrist first, then the fingers).
    pub actuators: Vec<usize>,
    /// Actuator indices of the 16 finger joints.
    pub fingers: Vec<usize>,
    /// Fingertip sites, in [`FINGERS`] order.
    pub tips: Vec<(RigidBodyHandle, Vector)>,
    /// The palm body.
    pub palm: RigidBodyHandle,
}

/// The goal of one episode.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// Family-specific goal vector (part of the privileged state).
    pub vector: Vec<f32>,
    /// Hand joint targets, for reach and pose (actuator index, value).
    pub hand_q: Vec<(usize, f32)>,
    /// Goal markers drawn in the camera image.
    pub markers: Vec<Marker>,
}

/// Per-step evaluation of the task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Eval {
    /// Weighted sum of the terms.
    pub reward: f32,
    /// The success predicate at this step.
    pub success: bool,
    /// The object was dropped or knocked away.
    pub dropped: bool,
    /// Named unweighted terms, for logging.
    pub terms: [(&'static str, f32); 7],
}

/// A task spec resolved against its scene.
#[derive(Clone, Debug)]
pub struct Task {
    /// The spec.
    pub spec: TaskSpec,
    /// Hands (one or two).
    pub hands: Vec<Hand>,
    /// Object bodies named by the spec.
    pub bodies: Vec<RigidBodyHandle>,
    /// Object joints named by the spec.
    pub joints: Vec<JointRef>,
    /// The joint of every actuator, in action order.
    pub actuator_joints: Vec<JointRef>,
}

impl Task {
    /// Resolve a spec's names in a scene.
    pub fn new(spec: &TaskSpec, scene: &Scene) -> Result<Self> {
        let mut hands = Vec::new();
        for prefix in ["rh_", "lh_"] {
            let actuators: Vec<usize> = (0..scene.actuators.len())
                .filter(|&i| scene.actuators[i].name.starts_with(prefix))
                .collect();
            if actuators.is_empty() {
                continue;
            }
            let fingers = actuators
                .iter()
                .copied()
                .filter(|&i| !scene.actuators[i].joint_name.contains("wrist"))
                .collect();
            let tips = FINGERS
                .iter()
                .map(|f| scene.site(&format!("{prefix}{f}_tip")))
                .collect::<Result<Vec<_>>>()?;
            let palm = scene.body(&format!("{prefix}palm"))?;
            hands.push(Hand {
                prefix: prefix.to_string(),
                actuators,
                fingers,
                tips,
                palm,
            });
        }
        let bodies = spec
            .bodies
            .iter()
            .map(|b| scene.body(b))
            .collect::<Result<Vec<_>>>()?;
        let joints = spec
            .joints
            .iter()
            .map(|j| scene.joint(j))
            .collect::<Result<Vec<_>>>()?;
        let actuator_joints = scene.actuators.iter().map(|a| a.joint).collect();
        Ok(Self {
            spec: spec.clone(),
            hands,
            bodies,
            joints,
            actuator_joints,
        })
    }

    /// Fingertip positions of every hand, flattened (12 per hand).
    pub fn tips(&self, p: &Physics) -> Vec<Vector> {
        self.hands
            .iter()
            .flat_map(|h| h.tips.iter().map(|&(b, local)| world_point(p, b, local)))
            .collect()
    }

    /// Length of the goal vector.
    pub fn goal_dim(&self) -> usize {
        match self.spec.family {
            Family::Reach => 12,
            Family::Pose => 16,
            Family::ObjHold => 3,
            Family::PenTwirl | Family::Switch => 2,
            Family::KeyTurn | Family::Spray | Family::Scissors | Family::BottleCap => 1,
        }
    }

    /// Sample the goal of an episode. `start` is the initial world; reach
    /// and pose evaluate their goal posture on a copy of it.
    pub fn sample_goal(&self, scene: &Scene, start: &Physics, rng: &mut impl Rng) -> Goal {
        let g = |key: &str, default: f64, rng: &mut dyn rand::RngCore| -> f64 {
            match self.spec.goal.get(key) {
                None => default,
                Some(GoalValue::Fixed(v)) => *v,
                Some(GoalValue::Range([lo, hi])) => lo + (hi - lo) * rng.random::<f64>(),
            }
        };
        let min_turn = |v: f64| {
            if v.abs() < MIN_TURN {
                MIN_TURN.copysign(if v == 0.0 { 1.0 } else { v })
            } else {
                v
            }
        };
        match self.spec.family {
            Family::Reach | Family::Pose => {
                let hand = &self.hands[0];
                let mut hand_q = Vec::new();
                for (k, &a) in hand.fingers.iter().enumerate() {
                    let act = &scene.actuators[a];
                    let (lo, hi) = (f64::from(act.lo), f64::from(act.hi));
                    let finger = k / 4;
                    let q = match (finger, k % 4) {
                        (3, 0) => lo + (hi - lo) * g("thumb", 0.5, rng),
                        (_, 0) => 0.5 * (lo + hi) + 0.5 * (hi - lo) * g("spread", 0.0, rng),
                        _ => lo + (hi - lo) * g("curl", 0.3, rng),
                    };
                    hand_q.push((a, q as f32));
                }
                let mut probe = start.clone();
                let targets: Vec<(JointRef, f32)> = hand_q
                    .iter()
                    .map(|&(a, q)| (scene.actuators[a].joint, q))
                    .collect();
                probe.set_joint_q(&targets);
                let tips: Vec<Vector> = hand
                    .tips
                    .iter()
                    .map(|&(b, l)| world_point(&probe, b, l))
                    .collect();
                let markers = tips
                    .iter()
                    .zip(FINGER_RGB)
                    .map(|(&center, rgb)| Marker {
                        center,
                        radius: 0.008,
                        rgb,
                    })
                    .collect();
                let vector = if self.spec.family == Family::Reach {
                    tips.iter().flat_map(|t| t.to_array()).collect()
                } else {
                    hand_q.iter().map(|&(_, q)| q).collect()
                };
                Goal {
                    vector,
                    hand_q,
                    markers,
                }
            }
            Family::ObjHold => {
                let p = Vector::new(
                    g("x", 0.0, rng) as f32,
                    g("y", 0.15, rng) as f32,
                    g("z", 0.1, rng) as f32,
                );
                Goal {
                    vector: p.to_array().to_vec(),
                    hand_q: Vec::new(),
                    markers: vec![Marker {
                        center: p,
                        radius: 0.012,
                        rgb: GOAL_RGB,
                    }],
                }
            }
            Family::KeyTurn => {
                let angle = min_turn(g("angle", 1.0, rng)) as f32;
                let key = body_pose(start, self.bodies[0]);
                let tip = key.transform_point(Vector::new(
                    0.028 * angle.cos(),
                    0.028 * angle.sin(),
                    0.04,
                ));
                Goal {
                    vector: vec![angle],
                    hand_q: Vec::new(),
                    markers: vec![Marker {
                        center: tip + Vector::new(0.0, 0.0, 0.022),
                        radius: 0.006,
                        rgb: GOAL_RGB,
                    }],
                }
            }
            Family::PenTwirl => {
                let yaw = min_turn(g("yaw", 1.2, rng)) as f32;
                let pen = body_pose(start, self.bodies[0]).translation;
                let dir = Vector::new(yaw.cos(), yaw.sin(), 0.0);
                Goal {
                    vector: vec![yaw.cos(), yaw.sin()],
                    hand_q: Vec::new(),
                    markers: vec![
                        Marker {
                            center: pen + dir * 0.085 + Vector::new(0.0, 0.0, 0.01),
                            radius: 0.008,
                            rgb: [0.9, 0.15, 0.12],
                        },
                        Marker {
                            center: pen - dir * 0.075 + Vector::new(0.0, 0.0, 0.01),
                            radius: 0.005,
                            rgb: GOAL_RGB,
                        },
                    ],
                }
            }
            Family::Spray => self.fixed_goal(vec![g("press", 0.3, rng) as f32]),
            Family::Scissors => self.fixed_goal(vec![g("open", 0.6, rng) as f32]),
            Family::Switch => self.fixed_goal(vec![
                g("press", 0.008, rng) as f32,
                g("flip", 0.4, rng) as f32,
            ]),
            Family::BottleCap => self.fixed_goal(vec![g("lift", 0.04, rng) as f32]),
        }
    }

    fn fixed_goal(&self, vector: Vec<f32>) -> Goal {
        Goal {
            vector,
            hand_q: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// Put a world into the goal state, for the goal image.
    pub fn apply_goal(&self, scene: &Scene, p: &mut Physics, goal: &Goal, start_pose: &[Pose]) {
        let v = &goal.vector;
        match self.spec.family {
            Family::Reach | Family::Pose => {
                let targets: Vec<(JointRef, f32)> = goal
                    .hand_q
                    .iter()
                    .map(|&(a, q)| (scene.actuators[a].joint, q))
                    .collect();
                p.set_joint_q(&targets);
            }
            Family::ObjHold => {
                let mut pose = start_pose[0];
                pose.translation = Vector::new(v[0], v[1], v[2]);
                p.set_body_pose(self.bodies[0], pose);
            }
            Family::KeyTurn | Family::Scissors => p.set_joint_q(&[(self.joints[0], v[0])]),
            Family::PenTwirl => {
                let mut pose = start_pose[0];
                pose.rotation = Rotation::from_rotation_z(v[1].atan2(v[0])) * pose.rotation;
                p.set_body_pose(self.bodies[0], pose);
            }
            Family::Spray | Family::BottleCap => p.set_joint_q(&[(self.joints[0], v[0])]),
            Family::Switch => p.set_joint_q(&[(self.joints[0], v[0]), (self.joints[1], v[1])]),
        }
    }

    /// Evaluate reward terms, success and drop for the current world.
    pub fn evaluate(&self, p: &Physics, goal: &Goal, start_pose: &[Pose], action: &[f32]) -> Eval {
        let v = &goal.vector;
        let thr = self.spec.success_threshold as f32;
        let tips = self.tips(p);
        let centroid =
            |h: usize| -> Vector { tips[h * 4..h * 4 + 4].iter().copied().sum::<Vector>() / 4.0 };
        let reach_to = |targets: &[(usize, Vector)]| -> f32 {
            targets
                .iter()
                .map(|&(h, t)| centroid(h).distance(t))
                .sum::<f32>()
                / targets.len().max(1) as f32
        };
        let jq = |i: usize| p.joint_q(self.joints[i]);
        let pose_of = |i: usize| body_pose(p, self.bodies[i]);
        let upright = |i: usize| (pose_of(i).rotation * Vector::Z).z;
        let (mut goal_d, mut reach, mut progress, mut up) = (0.0, 0.0, 0.0, 0.0);
        let (success, dropped);
        match self.spec.family {
            Family::Reach => {
                let errs: Vec<f32> = (0..4)
                    .map(|i| tips[i].distance(Vector::new(v[3 * i], v[3 * i + 1], v[3 * i + 2])))
                    .collect();
                goal_d = errs.iter().sum();
                success = errs.iter().all(|&e| e < thr);
                dropped = false;
            }
            Family::Pose => {
                goal_d = goal
                    .hand_q
                    .iter()
                    .map(|&(a, q)| {
                        let d = p.joint_q(self.hand_joint(a)) - q;
                        d * d
                    })
                    .sum::<f32>()
                    .sqrt();
                success = goal_d < thr;
                dropped = false;
            }
            Family::ObjHold => {
                let pos = pose_of(0).translation;
                goal_d = pos.distance(Vector::new(v[0], v[1], v[2]));
                reach = reach_to(&[(0, pos)]);
                let moved = pos - start_pose[0].translation;
                dropped = moved.x.hypot(moved.y) > 0.25;
                success = goal_d < thr && !dropped;
            }
            Family::KeyTurn => {
                let (theta, target) = (jq(0), v[0]);
                goal_d = (theta - target).abs();
                progress = (theta / target).clamp(0.0, 1.0);
                let bow = pose_of(0).transform_point(Vector::new(0.0, 0.0, 0.04));
                reach = reach_to(&[(0, bow)]);
                success = goal_d < thr;
                dropped = false;
            }
            Family::PenTwirl => {
                let pose = pose_of(0);
                let axis = pose.rotation * Vector::X;
                let cos = axis.x * v[0] + axis.y * v[1];
                goal_d = 1.0 - cos;
                progress = 0.5 * (cos + 1.0);
                reach = reach_to(&[(0, pose.translation)]);
                dropped = pose.translation.distance(start_pose[0].translation) > 0.12
                    || pose.translation.z > 0.12;
                success = cos > thr && !dropped;
            }
            Family::Spray => {
                let press = (jq(0) / v[0]).clamp(0.0, 1.0);
                progress = press;
                up = upright(0) - 1.0;
                let trigger = p
                    .joint_body(self.joints[0])
                    .map_or(pose_of(0).translation, |b| body_pose(p, b).translation);
                reach = reach_to(&[(0, trigger)]);
                dropped = upright(0) < 0.5;
                success = press >= thr && upright(0) > UPRIGHT_COS;
            }
            Family::Scissors => {
                progress = (jq(0).abs() / v[0]).clamp(0.0, 1.0);
                let ring_a = pose_of(0).transform_point(Vector::new(-0.125, 0.0, 0.0));
                let ring_b = pose_of(1).transform_point(Vector::new(0.125, 0.0, 0.0));
                // Hand 0 is the right hand (blade B), hand 1 the left (blade A).
                reach = reach_to(&[(0, ring_b), (1, ring_a)]);
                dropped = false;
                success = progress >= thr;
            }
            Family::Switch => {
                let pb = (jq(0) / v[0]).clamp(0.0, 1.0);
                let pt = (jq(1) / v[1]).clamp(0.0, 1.0);
                progress = 0.5 * (pb + pt);
                let button = pose_of(0).translation + Vector::new(0.0, 0.0, 0.01);
                let toggle = pose_of(1).transform_point(Vector::new(0.0, 0.0, 0.04));
                reach = reach_to(&[(0, toggle), (1, button)]);
                dropped = false;
                success = pb.min(pt) >= thr;
            }
            Family::BottleCap => {
                progress = (jq(0) / v[0]).clamp(0.0, 1.0);
                up = upright(0) - 1.0;
                let cap = pose_of(1).translation;
                let bottle = pose_of(0).translation;
                reach = reach_to(&[(0, cap), (1, bottle)]);
                dropped = upright(0) < 0.5;
                success = progress >= thr && upright(0) > UPRIGHT_COS;
            }
        }
        let act = action.iter().map(|a| a * a).sum::<f32>() / action.len().max(1) as f32;
        let w = &self.spec.reward;
        let terms = [
            ("goal", -goal_d),
            ("reach", -reach),
            ("progress", progress),
            ("upright", up),
            ("success", f32::from(u8::from(success))),
            ("action", -act),
            ("drop", -f32::from(u8::from(dropped))),
        ];
        let weights = [
            w.goal, w.reach, w.progress, w.upright, w.success, w.action, w.drop,
        ];
        let reward = terms
            .iter()
            .zip(weights)
            .map(|(&(_, t), w)| t * w as f32)
            .sum();
        Eval {
            reward,
            success,
            dropped,
            terms,
        }
    }

    fn hand_joint(&self, actuator: usize) -> JointRef {
        self.actuator_joints[actuator]
    }
}

/// World position of a point given in a body's frame.
pub fn world_point(p: &Physics, body: RigidBodyHandle, local: Vector) -> Vector {
    p.bodies
        .get(body)
        .map_or(local, |rb| rb.position().transform_point(local))
}

/// A body's pose (identity if the handle is stale).
pub fn body_pose(p: &Physics, body: RigidBodyHandle) -> Pose {
    p.bodies
        .get(body)
        .map_or(Pose::IDENTITY, |rb| *rb.position())
}
