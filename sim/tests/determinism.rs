//! Same seed and same actions give the same trajectory, bit for bit; a
//! snapshot restored later continues exactly as the original did.

mod common;

use dexsim::hash::TrajectoryHash;

fn run(task: &str, seed: u64, actions: &[Vec<f32>]) -> (String, Vec<u8>) {
    let mut env = common::env(task, true);
    let obs = env.reset(seed);
    let mut h = TrajectoryHash::default();
    h.floats(&obs.state);
    let mut last_image = Vec::new();
    for a in actions {
        let s = env.step(a).expect("step");
        h.floats(&s.obs.state);
        h.floats(&s.obs.proprio);
        h.floats(&[s.reward]);
        h.bytes(&s.obs.image.rgb);
        last_image = s.obs.image.rgb.clone();
    }
    (h.hex(), last_image)
}

#[test]
fn same_seed_same_actions_same_bytes() {
    for task in ["key-turn-hard", "switch"] {
        let n = common::env(task, false).action_dim();
        let actions = common::random_actions(5, 30, n);
        let a = run(task, 7, &actions);
        let b = run(task, 7, &actions);
        assert_eq!(a, b, "{task}: two identical runs differ");
        let c = run(task, 8, &actions);
        assert_ne!(
            a.0, c.0,
            "{task}: a different seed must give a different trajectory"
        );
    }
}

#[test]
fn snapshot_restore_continues_identically() {
    let mut env = common::env("obj-hold-hard", false);
    env.reset(3);
    let actions = common::random_actions(9, 40, env.action_dim());
    for a in &actions[..20] {
        env.step(a).expect("step");
    }
    let snap = env.snapshot();
    let first: Vec<Vec<f32>> = actions[20..]
        .iter()
        .map(|a| env.step(a).expect("step").obs.state)
        .collect();
    // Wander off, then come back.
    for a in &actions[..10] {
        env.step(a).expect("step");
    }
    env.restore(&snap);
    let second: Vec<Vec<f32>> = actions[20..]
        .iter()
        .map(|a| env.step(a).expect("step").obs.state)
        .collect();
    let bits = |v: &Vec<Vec<f32>>| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&first), bits(&second));
}

#[test]
fn vec_env_matches_single_envs() {
    use std::sync::Arc;
    let (scene, task, cfg) = common::shared("reach-hard");
    let mut v =
        dexsim::VecEnv::new(Arc::clone(&scene), Arc::clone(&task), cfg, 3, 42).expect("vec");
    let n = scene.actuators.len();
    let actions = common::random_actions(1, 5, n * 3);
    let mut singles: Vec<dexsim::Env> = (0..3)
        .map(|i| {
            let mut e = dexsim::Env::new(Arc::clone(&scene), Arc::clone(&task), cfg).expect("env");
            e.reset(dexsim::vec_env::episode_seed(42, i, 0));
            e
        })
        .collect();
    for a in &actions {
        let per_env: Vec<Vec<f32>> = a.chunks(n).map(<[f32]>::to_vec).collect();
        let out = v.step(&per_env).expect("vec step");
        for (i, e) in singles.iter_mut().enumerate() {
            let s = e.step(&per_env[i]).expect("step");
            assert_eq!(
                s.obs.state, out[i].step.obs.state,
                "env {i} diverged from its VecEnv twin"
            );
        }
    }
}

#[test]
fn vec_env_auto_resets_with_fresh_seeds() {
    use std::sync::Arc;
    let (scene, task, cfg) = common::shared("reach-hard");
    let mut v = dexsim::VecEnv::new(scene, Arc::clone(&task), cfg, 2, 1).expect("vec");
    let zero = vec![vec![0.0f32; 22]; 2];
    let seeds0: Vec<u64> = v.envs().iter().map(dexsim::Env::seed).collect();
    let mut dones = 0;
    for _ in 0..task.spec.episode_steps {
        dones += v
            .step(&zero)
            .expect("step")
            .iter()
            .filter(|s| s.step.done)
            .count();
    }
    assert_eq!(dones, 2, "both envs end their episode on the time limit");
    let seeds1: Vec<u64> = v.envs().iter().map(dexsim::Env::seed).collect();
    assert!(
        seeds0.iter().zip(&seeds1).all(|(a, b)| a != b),
        "reset must use the next episode seed"
    );
    assert!(
        v.envs()
            .iter()
            .all(|e| !e.is_done() && e.snapshot().step() == 0)
    );
}

#[test]
fn split_articulation_is_deterministic_and_places_fingers_like_exact() {
    let cat = common::catalog();
    let make = |articulation| {
        dexsim::Env::from_catalog(
            &cat,
            "reach-hard",
            dexsim::EnvConfig {
                image_size: 16,
                render: false,
                articulation,
            },
        )
        .expect("env")
    };
    let (mut exact, mut split) = (
        make(dexsim::Articulation::Exact),
        make(dexsim::Articulation::Split),
    );
    exact.reset(4);
    split.reset(4);
    // Reset places every link kinematically: both builds agree on the pose.
    let (te, ts) = (
        exact.task().tips(exact.physics()),
        split.task().tips(split.physics()),
    );
    for (a, b) in te.iter().zip(&ts) {
        assert!(a.distance(*b) < 1e-4, "fingertip {a:?} vs {b:?}");
    }
    assert_eq!(
        exact.goal().hand_q,
        split.goal().hand_q,
        "goals come from the seed alone"
    );
    for (a, b) in exact.goal().vector.iter().zip(&split.goal().vector) {
        assert!((a - b).abs() < 1e-5, "goal fingertips {a} vs {b}");
    }
    let actions = common::random_actions(2, 20, split.action_dim());
    let run = |env: &mut dexsim::Env| -> Vec<u32> {
        env.reset(4);
        actions
            .iter()
            .flat_map(|a| env.step(a).expect("step").obs.state)
            .map(f32::to_bits)
            .collect()
    };
    let first = run(&mut split);
    assert_eq!(first, run(&mut split));
}
