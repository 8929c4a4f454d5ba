//! Expert training end to end on small configurations: improvement over
//! random, determinism, save/load, resume, cancel, divergence, corruption.

use std::sync::Mutex;

use dexlearn::LearnError;
use dexlearn::expert::{Expert, ExpertMeta};
use dexlearn::norm::RunningNorm;
use dexlearn::rollout::{Episodes, evaluate};
use dexlearn::td3::{Td3, Td3Config};
use dexlearn::train::{Control, TrainConfig, train};
use dexsim::{Catalog, SeedDomain};
use rand::{Rng, SeedableRng};

fn tiny(task: &str, steps: u64) -> TrainConfig {
    TrainConfig {
        task: task.into(),
        steps,
        seed: 5,
        envs: 4,
        warmup: 1_000,
        utd: 0.5,
        eval_every: steps,
        eval_episodes: 8,
        replay: 50_000,
        td3: Td3Config {
            hidden: vec![64, 64],
            batch: 128,
            ..Td3Config::default()
        },
        ..TrainConfig::default()
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dexlearn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A few seconds of TD3 on reach-easy beats uniform random actions by a
/// wide margin in validation return.
#[test]
fn tiny_training_beats_random() {
    let catalog = Catalog::bundled().expect("catalog");
    let dir = tmp("improve");
    let cfg = tiny("reach-easy", 8_000);
    let out = train(&catalog, &cfg, &dir, false, &Control::new(), &mut |_| {}).expect("train");
    let trained = out.curve.last().expect("curve").val_return;
    let expert = Expert::load(&dir).expect("load");
    let spec = catalog.task("reach-easy").expect("task");
    let scene =
        std::sync::Arc::new(dexsim::Scene::load(&catalog.dir.join(&spec.scene)).expect("scene"));
    let task = std::sync::Arc::new(dexsim::task::Task::new(spec, &scene).expect("task"));
    let rng = Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(9));
    let random = |_: &[f32]| -> dexlearn::error::Result<Vec<f32>> {
        let mut r = rng.lock().expect("rng");
        Ok((0..expert.meta.action_dim)
            .map(|_| r.random_range(-1.0f32..1.0))
            .collect())
    };
    let which = Episodes::new(8, cfg.seed, SeedDomain::Validate);
    let logs = evaluate(&scene, &task, &random, which).expect("eval");
    let random_ret = logs.iter().map(|l| l.ret as f32).sum::<f32>() / logs.len() as f32;
    assert!(
        trained > random_ret + 0.25 * random_ret.abs(),
        "trained validation return {trained} vs random {random_ret}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same seed gives byte-identical checkpoints.
#[test]
fn same_seed_same_bytes() {
    let catalog = Catalog::bundled().expect("catalog");
    let mut bytes = Vec::new();
    for run in 0..2 {
        let dir = tmp(&format!("det{run}"));
        let mut cfg = tiny("pose-easy", 1_600);
        cfg.warmup = 800;
        cfg.eval_episodes = 2;
        train(&catalog, &cfg, &dir, false, &Control::new(), &mut |_| {}).expect("train");
        bytes.push(std::fs::read(dir.join("train.safetensors")).expect("read"));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(bytes[0] == bytes[1], "two runs with seed 5 differ");
}

/// Saving and loading an expert reproduces its actions and Q values bit
/// for bit.
#[test]
fn save_load_round_trip() {
    let agent = Td3::new(
        6,
        3,
        Td3Config {
            hidden: vec![16, 16],
            ..Td3Config::default()
        },
        3,
    )
    .expect("td3");
    let mut norm = RunningNorm::new(6);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let states: Vec<f32> = (0..6 * 5).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    for row in states.chunks(6) {
        norm.update(row);
    }
    let before = agent.act(&norm.apply(&states)).expect("act");
    let dir = tmp("roundtrip");
    let meta = ExpertMeta {
        format: String::new(),
        task: "toy".into(),
        algorithm: "td3".into(),
        state_dim: 6,
        action_dim: 3,
        hidden: vec![16, 16],
        gamma: 0.98,
        reward_scale: 1.0,
        seed: 3,
        env_steps: 0,
        updates: 0,
        wall_s: 0.0,
        validation_success: 0.0,
        validation_return: 0.0,
        weights: String::new(),
        weights_fnv1a: String::new(),
    };
    let nets: Vec<_> = agent
        .state_tensors()
        .expect("tensors")
        .into_iter()
        .filter(|(k, _)| ["actor.", "q1.", "q2."].iter().any(|p| k.starts_with(p)))
        .collect();
    Expert::save(&dir, meta, nets, &norm).expect("save");
    let a = Expert::load(&dir).expect("load");
    let b = Expert::load(&dir).expect("load again");
    assert_eq!(a.act(&states).expect("act"), before);
    let actions = a.act(&states).expect("act");
    assert_eq!(
        a.q(&states, &actions).expect("q"),
        b.q(&states, &actions).expect("q")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A corrupted weights file is refused with its path in the message.
#[test]
fn corrupted_checkpoint_names_the_file() {
    let catalog = Catalog::bundled().expect("catalog");
    let dir = tmp("corrupt");
    let mut cfg = tiny("reach-easy", 400);
    cfg.warmup = 400;
    cfg.eval_episodes = 1;
    train(&catalog, &cfg, &dir, false, &Control::new(), &mut |_| {}).expect("train");
    let w = dir.join("expert.safetensors");
    let bytes = std::fs::read(&w).expect("read");
    std::fs::write(&w, &bytes[..bytes.len() / 2]).expect("truncate");
    let err = Expert::load(&dir)
        .map(|_| ())
        .expect_err("corrupt accepted");
    let msg = err.to_string();
    assert!(
        msg.contains("expert.safetensors") && msg.contains("truncated"),
        "{msg}"
    );
    // garbage JSON beside it names the JSON file and the problem
    std::fs::write(dir.join("expert.json"), "{ not json").expect("write");
    let msg = Expert::load(&dir)
        .map(|_| ())
        .expect_err("bad json")
        .to_string();
    assert!(msg.contains("expert.json"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cancelling saves a resumable state; resuming continues the step count
/// and the curve.
#[test]
fn cancel_then_resume() {
    let catalog = Catalog::bundled().expect("catalog");
    let dir = tmp("resume");
    let mut cfg = tiny("reach-easy", 1_200);
    cfg.warmup = 400;
    cfg.eval_every = 400;
    cfg.eval_episodes = 1;
    let control = Control::new();
    let mut seen = 0;
    let out = train(&catalog, &cfg, &dir, false, &control, &mut |p| {
        seen += 1;
        if p.env_steps >= 400 && p.last.is_some() {
            control.cancel();
        }
    })
    .expect("train");
    assert!(out.cancelled, "cancel ignored");
    assert!(out.env_steps < 1_200 && seen > 0);
    let out2 = train(&catalog, &cfg, &dir, true, &Control::new(), &mut |_| {}).expect("resume");
    assert!(!out2.cancelled);
    assert!(
        out2.env_steps >= 1_200,
        "resumed run stopped at {}",
        out2.env_steps
    );
    assert!(out2.curve.len() > out.curve.len());
    assert!(
        out2.curve
            .windows(2)
            .all(|w| w[0].env_steps < w[1].env_steps)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pausing from the progress callback holds the loop until another thread
/// resumes it, and the pause is reported.
#[test]
fn pause_and_resume_from_another_thread() {
    let catalog = Catalog::bundled().expect("catalog");
    let dir = tmp("pause");
    let mut cfg = tiny("reach-easy", 800);
    cfg.warmup = 400;
    cfg.eval_every = 400;
    cfg.eval_episodes = 1;
    let control = Control::new();
    let (mut paused_seen, mut resumer) = (false, None);
    let t0 = std::time::Instant::now();
    train(&catalog, &cfg, &dir, false, &control, &mut |p| {
        if resumer.is_none() {
            control.pause();
            let c = control.clone();
            resumer = Some(std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                c.resume();
            }));
        }
        paused_seen |= p.phase == dexlearn::train::Phase::Paused;
    })
    .expect("train");
    assert!(paused_seen, "no Paused report");
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An absurd learning rate blows the critic up; training stops with a
/// divergence error that names the last good checkpoint.
#[test]
fn divergence_is_reported() {
    let catalog = Catalog::bundled().expect("catalog");
    let dir = tmp("diverge");
    let mut cfg = tiny("reach-easy", 4_000);
    cfg.warmup = 400;
    cfg.eval_every = 400;
    cfg.eval_episodes = 1;
    cfg.td3.critic_lr = 1e9;
    cfg.td3.actor_lr = 1e9;
    let err = train(&catalog, &cfg, &dir, false, &Control::new(), &mut |_| {})
        .expect_err("no divergence");
    match err {
        LearnError::Diverged { last_good, .. } => {
            if let Some(p) = last_good {
                assert!(p.exists(), "last good checkpoint {} missing", p.display());
            }
        }
        other => panic!("expected a divergence, got {other}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
