//! Scripted controllers: inverse kinematics plus the hand's own PD servos.
//! They show that reach and pose are solvable, and give a non-learned
//! baseline for any task.

use rapier3d::prelude::*;

use crate::env::Env;
use crate::physics::JointRef;
use crate::spec::Family;

/// Damped-least-squares IK from fingertip goals to finger joint targets,
/// solved once per episode, then held by the position servos.
#[derive(Default)]
pub struct Scripted {
    plan: Option<(u64, Vec<f32>)>,
}

impl Scripted {
    /// The action for the current state of `env`, or `None` when the task's
    /// family has no scripted solution (object tasks).
    pub fn act(&mut self, env: &Env) -> Option<Vec<f32>> {
        let family = env.task().spec.family;
        if !matches!(family, Family::Reach | Family::Pose) {
            return None;
        }
        let seed = env.seed();
        if self.plan.as_ref().is_none_or(|(s, _)| *s != seed) {
            self.plan = Some((seed, plan(env)));
        }
        self.plan.as_ref().map(|(_, a)| a.clone())
    }
}

/// Joint targets (as actions) that solve the episode's goal.
fn plan(env: &Env) -> Vec<f32> {
    let scene = env.scene();
    let task = env.task();
    let acts = &scene.actuators;
    // Start from the rest posture: wrist at zero, fingers where they are.
    let mut q: Vec<f32> = acts.iter().map(|a| 0.0f32.clamp(a.lo, a.hi)).collect();
    let hand = &task.hands[0];
    match task.spec.family {
        Family::Pose => {
            for &(a, target) in &env.goal().hand_q {
                q[a] = target;
            }
        }
        _ => {
            let goal: Vec<Vector> = env
                .goal()
                .vector
                .chunks(3)
                .map(|c| Vector::new(c[0], c[1], c[2]))
                .collect();
            let fingers = &hand.fingers;
            for &a in fingers {
                q[a] = 0.5 * (acts[a].lo + acts[a].hi);
            }
            let mut probe = env.physics().clone();
            let joints: Vec<JointRef> = acts.iter().map(|a| a.joint).collect();
            let tips_at = |probe: &mut crate::physics::Physics, q: &[f32]| -> Vec<Vector> {
                let t: Vec<(JointRef, f32)> =
                    joints.iter().copied().zip(q.iter().copied()).collect();
                probe.set_joint_q(&t);
                hand.tips
                    .iter()
                    .map(|&(b, l)| crate::task::world_point(probe, b, l))
                    .collect()
            };
            const EPS: f32 = 1e-3;
            const LAMBDA: f64 = 0.02;
            for _ in 0..40 {
                let tips = tips_at(&mut probe, &q);
                let err: Vec<f64> = tips
                    .iter()
                    .zip(&goal)
                    .flat_map(|(t, g)| (*g - *t).to_array())
                    .map(f64::from)
                    .collect();
                if err
                    .chunks(3)
                    .all(|e| (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt() < 1e-3)
                {
                    break;
                }
                // Finite-difference Jacobian of the 12 tip coordinates.
                let mut jac = vec![vec![0.0f64; fingers.len()]; 12];
                for (col, &a) in fingers.iter().enumerate() {
                    let mut qp = q.clone();
                    qp[a] += EPS;
                    let tp = tips_at(&mut probe, &qp);
                    for (f, (tp, t)) in tp.iter().zip(&tips).enumerate() {
                        let d = (*tp - *t) / EPS;
                        for (k, dk) in d.to_array().iter().enumerate() {
                            jac[3 * f + k][col] = f64::from(*dk);
                        }
                    }
                }
                let dq = dls_step(&jac, &err, LAMBDA);
                for (col, &a) in fingers.iter().enumerate() {
                    q[a] = (q[a] + dq[col] as f32).clamp(acts[a].lo, acts[a].hi);
                }
            }
        }
    }
    q.iter()
        .zip(acts)
        .map(|(&q, a)| (2.0 * (q - a.lo) / (a.hi - a.lo) - 1.0).clamp(-1.0, 1.0))
        .collect()
}

/// `dq = Jᵀ (J Jᵀ + λ² I)⁻¹ e`, solved by Gaussian elimination.
fn dls_step(jac: &[Vec<f64>], err: &[f64], lambda: f64) -> Vec<f64> {
    let m = jac.len();
    let n = jac.first().map_or(0, Vec::len);
    let mut a = vec![vec![0.0; m + 1]; m];
    for i in 0..m {
        for j in 0..m {
            a[i][j] = (0..n).map(|k| jac[i][k] * jac[j][k]).sum::<f64>();
        }
        a[i][i] += lambda * lambda;
        a[i][m] = err[i];
    }
    for col in 0..m {
        let pivot = (col..m)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let p = a[col][col];
        if p.abs() < 1e-12 {
            continue;
        }
        let pivot_row = a[col].clone();
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / p;
                for (x, pv) in r.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * pv;
                }
            }
        }
    }
    let y: Vec<f64> = (0..m)
        .map(|i| {
            if a[i][i].abs() < 1e-12 {
                0.0
            } else {
                a[i][m] / a[i][i]
            }
        })
        .collect();
    (0..n)
        .map(|k| (0..m).map(|i| jac[i][k] * y[i]).sum())
        .collect()
}
