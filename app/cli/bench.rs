//! `dexstudio bench sim`: environment and camera throughput.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use dexsim::render::render;
use dexsim::{Catalog, Env, EnvConfig, Scene, VecEnv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::output::emit;

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Env steps/s on one thread and on the VecEnv over all cores, and
    /// camera frames/s.
    Sim {
        /// Task name.
        #[arg(long, default_value = "reach-hard")]
        task: String,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Environments in the VecEnv measurement.
        #[arg(long, default_value_t = 8)]
        envs: usize,
        /// Camera image size.
        #[arg(long, default_value_t = 64)]
        image: usize,
        /// Also run the MuJoCo peer (bench/mujoco_peer.py) on the same MJCF
        /// scene, timestep and control pattern, and report the ratio.
        #[arg(long)]
        peer: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What the MuJoCo peer reported, or why it was skipped.
#[derive(Serialize, serde::Deserialize, Default)]
struct Peer {
    #[serde(default)]
    engine: String,
    #[serde(default)]
    physics_steps_per_sec: f64,
    #[serde(default)]
    skipped: Option<String>,
}

/// Run the peer script on one thread (pinned to core 0 when taskset exists).
fn run_peer(scene: &std::path::Path, frame_skip: usize, seconds: f64) -> Peer {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/mujoco_peer.py");
    let mut cmd = if which("taskset") {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "0", "python3"]);
        c
    } else {
        std::process::Command::new("python3")
    };
    cmd.arg(&script).arg(scene).args([
        "--frame-skip",
        &frame_skip.to_string(),
        "--seconds",
        &seconds.to_string(),
    ]);
    match cmd.output() {
        Err(e) => Peer {
            skipped: Some(format!("cannot run python3 ({e})")),
            ..Peer::default()
        },
        Ok(out) if !out.status.success() => Peer {
            skipped: Some(format!(
                "peer failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            ..Peer::default()
        },
        Ok(out) => serde_json::from_slice(&out.stdout).unwrap_or_else(|e| Peer {
            skipped: Some(format!("unreadable peer output ({e})")),
            ..Peer::default()
        }),
    }
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// Raw physics steps per second: the peer's exact workload (random PD
/// targets every `frame_skip` steps), without observations or rewards.
fn physics_rate(scene: &Scene, frame_skip: usize, secs: f64, rng: &mut ChaCha8Rng) -> f64 {
    let mut p = scene.physics.clone();
    let mut pipeline = rapier3d::prelude::PhysicsPipeline::new();
    let (mut steps, t0) = (0usize, Instant::now());
    while t0.elapsed().as_secs_f64() < secs {
        let ctrl: Vec<f32> = scene
            .actuators
            .iter()
            .map(|a| rng.random_range(a.lo..=a.hi))
            .collect();
        scene
            .controls
            .apply_controls_multibody(&mut p.bodies, &mut p.multibody_joints, &ctrl);
        for _ in 0..frame_skip {
            p.step(&mut pipeline);
        }
        steps += frame_skip;
    }
    steps as f64 / t0.elapsed().as_secs_f64()
}

#[derive(Serialize)]
struct SimBench {
    task: String,
    dof: usize,
    physics_dt: f32,
    frame_skip: usize,
    /// Control (env) steps per second, one thread, no camera.
    env_steps_per_sec_1thread: f64,
    /// Physics steps per second, one thread (env steps × frame skip).
    physics_steps_per_sec_1thread: f64,
    /// Physics steps per second of the bare world under the peer's workload.
    raw_physics_steps_per_sec_1thread: f64,
    /// The MuJoCo peer on the same file, if run.
    peer: Option<Peer>,
    /// raw_physics_steps_per_sec_1thread / peer physics steps per second.
    ratio_vs_peer: Option<f64>,
    /// Env steps per second with the camera image rendered every step.
    env_steps_per_sec_1thread_with_camera: f64,
    /// VecEnv env steps per second on a 1-thread pool (the scaling baseline).
    vec_env_steps_per_sec_1core: f64,
    /// VecEnv env steps per second on all cores.
    vec_env_steps_per_sec_all_cores: f64,
    cores: usize,
    /// all-core / 1-core VecEnv throughput.
    vec_scaling: f64,
    /// Camera frames per second on one thread, at `image` pixels square.
    camera_fps: f64,
    camera_ms_per_frame: f64,
    image: usize,
}

fn random_actions(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..=1.0)).collect()
}

/// Env steps per second of one env over `secs`.
fn env_rate(env: &mut Env, secs: f64, rng: &mut ChaCha8Rng) -> anyhow::Result<f64> {
    let n = env.action_dim();
    let (mut steps, t0) = (0usize, Instant::now());
    let mut seed = 100;
    while t0.elapsed().as_secs_f64() < secs {
        let s = env.step(&random_actions(rng, n))?;
        steps += 1;
        if s.done {
            seed += 1;
            env.reset(seed);
        }
    }
    Ok(steps as f64 / t0.elapsed().as_secs_f64())
}

fn vec_rate(v: &mut VecEnv, n_act: usize, secs: f64, rng: &mut ChaCha8Rng) -> anyhow::Result<f64> {
    let (mut steps, t0) = (0usize, Instant::now());
    while t0.elapsed().as_secs_f64() < secs {
        let actions: Vec<Vec<f32>> = (0..v.len()).map(|_| random_actions(rng, n_act)).collect();
        v.step(&actions)?;
        steps += v.len();
    }
    Ok(steps as f64 / t0.elapsed().as_secs_f64())
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    let BenchCmd::Sim {
        task,
        seconds,
        envs,
        image,
        peer,
        json,
    } = cmd;
    let catalog = Catalog::bundled()?;
    let spec = catalog.task(&task)?;
    let scene = Arc::new(Scene::load(&catalog.dir.join(&spec.scene))?);
    let t = Arc::new(dexsim::task::Task::new(spec, &scene)?);
    let state_only = EnvConfig {
        image_size: image,
        render: false,
    };
    let with_cam = EnvConfig {
        image_size: image,
        render: true,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    if !json {
        eprintln!(
            "measuring {task}: {seconds:.0} s per figure, {} figures ...",
            if peer { 7 } else { 6 }
        );
    }
    let mut env = Env::new(Arc::clone(&scene), Arc::clone(&t), state_only)?;
    env_rate(&mut env, 0.3, &mut rng)?; // warm-up
    let one = env_rate(&mut env, seconds, &mut rng)?;
    let mut env_cam = Env::new(Arc::clone(&scene), Arc::clone(&t), with_cam)?;
    let one_cam = env_rate(&mut env_cam, seconds, &mut rng)?;

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n_act = env.action_dim();
    let pool1 = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let pool_all = rayon::ThreadPoolBuilder::new().num_threads(cores).build()?;
    let mut v = VecEnv::new(Arc::clone(&scene), Arc::clone(&t), state_only, envs, 11)?;
    let vec1 = pool1.install(|| vec_rate(&mut v, n_act, seconds, &mut rng))?;
    let vec_all = pool_all.install(|| vec_rate(&mut v, n_act, seconds, &mut rng))?;

    let cam = env.camera();
    let (mut frames, t0) = (0usize, Instant::now());
    while t0.elapsed() < Duration::from_secs_f64(seconds) {
        let img = render(env.physics(), &scene.visuals, &env.goal().markers, &cam);
        std::hint::black_box(&img);
        frames += 1;
    }
    let camera_fps = frames as f64 / t0.elapsed().as_secs_f64();
    let raw = physics_rate(&scene, env.frame_skip(), seconds, &mut rng);
    let peer = peer.then(|| run_peer(&scene.path, env.frame_skip(), seconds));
    let ratio = peer
        .as_ref()
        .filter(|p| p.skipped.is_none() && p.physics_steps_per_sec > 0.0)
        .map(|p| raw / p.physics_steps_per_sec);
    let report = SimBench {
        task: task.clone(),
        dof: n_act,
        physics_dt: scene.physics.params.dt,
        frame_skip: env.frame_skip(),
        env_steps_per_sec_1thread: one,
        physics_steps_per_sec_1thread: one * env.frame_skip() as f64,
        raw_physics_steps_per_sec_1thread: raw,
        peer,
        ratio_vs_peer: ratio,
        env_steps_per_sec_1thread_with_camera: one_cam,
        vec_env_steps_per_sec_1core: vec1,
        vec_env_steps_per_sec_all_cores: vec_all,
        cores,
        vec_scaling: vec_all / vec1,
        camera_fps,
        camera_ms_per_frame: 1000.0 / camera_fps,
        image,
    };
    emit(json, &report, |r| {
        println!(
            "task {} ({} DoF, dt {} s, {} physics steps per env step)",
            r.task, r.dof, r.physics_dt, r.frame_skip
        );
        println!(
            "  env steps/s, 1 thread            {:>10.0}",
            r.env_steps_per_sec_1thread
        );
        println!(
            "  physics steps/s, 1 thread        {:>10.0}",
            r.physics_steps_per_sec_1thread
        );
        println!(
            "  raw physics steps/s, 1 thread    {:>10.0}",
            r.raw_physics_steps_per_sec_1thread
        );
        match (&r.peer, r.ratio_vs_peer) {
            (Some(p), Some(ratio)) => println!(
                "  {} physics steps/s     {:>10.0}  (dexsim/peer {:.2}x)",
                p.engine, p.physics_steps_per_sec, ratio
            ),
            (Some(p), None) => println!(
                "  peer skipped: {}",
                p.skipped.as_deref().unwrap_or("no figure")
            ),
            _ => {}
        }
        println!(
            "  env steps/s, 1 thread + camera   {:>10.0}",
            r.env_steps_per_sec_1thread_with_camera
        );
        println!(
            "  VecEnv env steps/s, 1 core       {:>10.0}",
            r.vec_env_steps_per_sec_1core
        );
        println!(
            "  VecEnv env steps/s, {} cores      {:>10.0}  (scaling {:.2}x)",
            r.cores, r.vec_env_steps_per_sec_all_cores, r.vec_scaling
        );
        println!(
            "  camera {}x{} frames/s           {:>10.0}  ({:.3} ms/frame)",
            r.image, r.image, r.camera_fps, r.camera_ms_per_frame
        );
    })
}
