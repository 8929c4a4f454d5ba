//! Every task is solvable: scripted IK + PD solves reach and pose, and for
//! every object task a constructed goal state fires the success predicate
//! while the initial state does not.

mod common;

use dexsim::scripted::Scripted;

fn scripted_success_rate(task: &str, episodes: u64) -> f64 {
    let mut env = common::env(task, false);
    let mut ctl = Scripted::default();
    let mut solved = 0;
    for ep in 0..episodes {
        env.reset(1000 + ep);
        while !env.is_done() {
            let a = ctl
                .act(&env)
                .expect("reach and pose have a scripted controller");
            env.step(&a).expect("step");
        }
        solved += usize::from(env.is_solved());
    }
    solved as f64 / episodes as f64
}

#[test]
fn scripted_controller_solves_reach_and_pose() {
    for task in ["reach-easy", "reach-hard", "pose-easy", "pose-hard"] {
        let rate = scripted_success_rate(task, 10);
        assert!(rate >= 0.9, "{task}: scripted success {rate} < 0.9");
    }
}

#[test]
fn goal_state_fires_success_and_initial_state_does_not() {
    let cat = common::catalog();
    for (name, spec) in &cat.tasks {
        if matches!(spec.family, dexsim::Family::Reach | dexsim::Family::Pose) {
            continue;
        }
        let env = common::env(name, false);
        let task = env.task();
        let mut start = env.physics().clone();
        let start_pose: Vec<_> = task
            .bodies
            .iter()
            .map(|&b| dexsim::task::body_pose(&start, b))
            .collect();
        let zero = vec![0.0; env.action_dim()];
        let initial = task.evaluate(&start, env.goal(), &start_pose, &zero);
        assert!(
            !initial.success,
            "{name}: success fires in the initial state"
        );
        task.apply_goal(env.scene(), &mut start, env.goal(), &start_pose);
        let solved = task.evaluate(&start, env.goal(), &start_pose, &zero);
        assert!(
            solved.success,
            "{name}: success does not fire in the goal state ({:?})",
            solved.terms
        );
        assert!(
            solved.reward > initial.reward,
            "{name}: the goal state must earn more reward"
        );
    }
}
