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

#[path = "bench_student.rs"]
mod bench_student;

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
    /// Fingertip positions of the same MJCF hand under the same position
    /// targets, dexsim against MuJoCo (needs `pip install mujoco`).
    Agree {
        /// Task whose scene is compared.
        #[arg(long, default_value = "reach-hard")]
        task: String,
        /// Random target sets.
        #[arg(long, default_value_t = 20)]
        targets: usize,
        /// Physics steps each target is held.
        #[arg(long, default_value_t = 500)]
        steps: usize,
        /// Build the hand with the split articulation instead of the exact one.
        #[arg(long)]
        split: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One expert update step (critic AdamW, full TD3) in candle, and with
    /// --peer in PyTorch on the same network and batch.
    Update(super::bench_update::UpdateArgs),
    /// The ACGD student: one control step at batch 1, and one stage (b)
    /// training step (BC, ACGD) in candle and with --peer in PyTorch.
    Student(bench_student::StudentArgs),
    /// Solver iterations (rapier substeps) against contact penetration and
    /// joint-limit excursions: how the default was chosen.
    Substeps {
        /// Task name.
        #[arg(long, default_value = "obj-hold-hard")]
        task: String,
        /// Episodes per setting.
        #[arg(long, default_value_t = 10)]
        episodes: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Solver iterations compared by `bench substeps`.
const ITERATIONS: [usize; 4] = [1, 2, 4, 8];

#[derive(Serialize)]
struct SubstepRow {
    solver_iterations: usize,
    physics_steps_per_sec: f64,
    /// Deepest contact penetration seen (mm).
    max_penetration_mm: f64,
    /// Mean over steps with contact of the deepest penetration (mm).
    mean_penetration_mm: f64,
    /// Largest excursion of an actuated joint past its limit (mrad or mm).
    max_limit_violation_milli: f64,
    /// Episodes that ended in a divergence error.
    diverged: usize,
}

/// Compare rapier solver iterations on one task: speed against contact
/// penetration and joint-limit excursions, under random actions held for
/// five control steps (so contacts build up and persist).
fn substeps(task: &str, episodes: u64, json: bool) -> anyhow::Result<()> {
    let catalog = Catalog::bundled()?;
    let spec = catalog.task(task)?;
    let base = Scene::load(&catalog.dir.join(&spec.scene))?;
    let mut rows = Vec::new();
    for it in ITERATIONS {
        let mut scene = base.clone();
        scene.physics.params.num_solver_iterations = it;
        let scene = Arc::new(scene);
        let t = Arc::new(dexsim::task::Task::new(spec, &scene)?);
        let cfg = EnvConfig {
            image_size: 16,
            render: false,
            ..EnvConfig::default()
        };
        let mut env = Env::new(Arc::clone(&scene), t, cfg)?;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut max_pen, mut sum_pen, mut n_pen, mut max_viol, mut diverged) =
            (0.0f32, 0.0f64, 0usize, 0.0f32, 0);
        let (mut steps, t0) = (0usize, Instant::now());
        for ep in 0..episodes {
            env.reset(500 + ep);
            let mut action = random_actions(&mut rng, env.action_dim());
            while !env.is_done() {
                if env.snapshot().step() % 5 == 0 {
                    action = random_actions(&mut rng, env.action_dim());
                }
                if env.step(&action).is_err() {
                    diverged += 1;
                    break;
                }
                steps += env.frame_skip();
                let p = env.physics();
                let pen = p.max_penetration();
                if pen > 0.0 {
                    max_pen = max_pen.max(pen);
                    sum_pen += f64::from(pen);
                    n_pen += 1;
                }
                for a in &scene.actuators {
                    let q = p.joint_q(a.joint);
                    max_viol = max_viol.max((a.lo - q).max(q - a.hi).max(0.0));
                }
            }
        }
        rows.push(SubstepRow {
            solver_iterations: it,
            physics_steps_per_sec: steps as f64 / t0.elapsed().as_secs_f64(),
            max_penetration_mm: f64::from(max_pen) * 1e3,
            mean_penetration_mm: sum_pen / n_pen.max(1) as f64 * 1e3,
            max_limit_violation_milli: f64::from(max_viol) * 1e3,
            diverged,
        });
    }
    emit(json, &rows, |rows| {
        println!("{task}: {episodes} episodes of held random actions per setting");
        println!(
            "{:>10} {:>16} {:>14} {:>15} {:>16} {:>9}",
            "iterations",
            "physics steps/s",
            "max pen. (mm)",
            "mean pen. (mm)",
            "limit exc. (m-)",
            "diverged"
        );
        for r in rows {
            println!(
                "{:>10} {:>16.0} {:>14.2} {:>15.2} {:>16.2} {:>9}",
                r.solver_iterations,
                r.physics_steps_per_sec,
                r.max_penetration_mm,
                r.mean_penetration_mm,
                r.max_limit_violation_milli,
                r.diverged
            );
        }
    })
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
    peer_json(cmd.output()).unwrap_or_else(|why| Peer {
        skipped: Some(why),
        ..Peer::default()
    })
}

/// A peer script's JSON on stdout, or why there is none (python missing,
/// the script failed, unreadable output).
pub(super) fn peer_json<T: serde::de::DeserializeOwned>(
    out: std::io::Result<std::process::Output>,
) -> Result<T, String> {
    let o = out.map_err(|e| format!("cannot run python3 ({e})"))?;
    if !o.status.success() {
        return Err(format!(
            "peer failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    serde_json::from_slice(&o.stdout).map_err(|e| format!("unreadable peer output ({e})"))
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
        scene.apply_controls(&mut p, &ctrl);
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
    /// The same with `Articulation::Split` (fingers as separate multibodies).
    raw_physics_split_steps_per_sec_1thread: f64,
    /// The MuJoCo peer on the same file, if run.
    peer: Option<Peer>,
    /// raw_physics_steps_per_sec_1thread / peer physics steps per second.
    ratio_vs_peer: Option<f64>,
    /// The split articulation's raw physics / peer.
    split_ratio_vs_peer: Option<f64>,
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

/// Env steps per second of a fresh VecEnv over a fixed list of action
/// batches: every pool size does exactly the same work.
fn vec_rate(
    make: impl Fn() -> dexsim::Result<VecEnv>,
    batches: &[Vec<Vec<f32>>],
) -> anyhow::Result<f64> {
    let mut v = make()?;
    let t0 = Instant::now();
    for actions in batches {
        v.step(actions)?;
    }
    Ok((batches.len() * v.len()) as f64 / t0.elapsed().as_secs_f64())
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Update(a) => super::bench_update::run(a),
        BenchCmd::Student(a) => bench_student::run(a),
        BenchCmd::Substeps {
            task,
            episodes,
            json,
        } => substeps(&task, episodes, json),
        BenchCmd::Agree {
            task,
            targets,
            steps,
            split,
            json,
        } => super::agree::run(&task, targets, steps, split, json),
        BenchCmd::Sim {
            task,
            seconds,
            envs,
            image,
            peer,
            json,
        } => sim(&task, seconds, envs, image, peer, json),
    }
}

fn sim(
    task: &str,
    seconds: f64,
    envs: usize,
    image: usize,
    peer: bool,
    json: bool,
) -> anyhow::Result<()> {
    let task = task.to_string();
    let catalog = Catalog::bundled()?;
    let spec = catalog.task(&task)?;
    let scene = Arc::new(Scene::load(&catalog.dir.join(&spec.scene))?);
    let t = Arc::new(dexsim::task::Task::new(spec, &scene)?);
    let state_only = EnvConfig {
        image_size: image,
        render: false,
        ..EnvConfig::default()
    };
    let with_cam = EnvConfig {
        image_size: image,
        render: true,
        ..EnvConfig::default()
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
    let make = || VecEnv::new(Arc::clone(&scene), Arc::clone(&t), state_only, envs, 11);
    // About `seconds / 3` of work on one core, the same batches on every pool.
    let n_batches = ((one * seconds / 3.0) as usize / envs.max(1)).max(4);
    let batches: Vec<Vec<Vec<f32>>> = (0..n_batches)
        .map(|_| (0..envs).map(|_| random_actions(&mut rng, n_act)).collect())
        .collect();
    // Best of three alternating runs: the least disturbed figure of each.
    let (mut vec1, mut vec_all) = (0.0f64, 0.0f64);
    for _ in 0..3 {
        vec1 = vec1.max(pool1.install(|| vec_rate(make, &batches))?);
        vec_all = vec_all.max(pool_all.install(|| vec_rate(make, &batches))?);
    }

    let cam = env.camera();
    let (mut frames, t0) = (0usize, Instant::now());
    while t0.elapsed() < Duration::from_secs_f64(seconds) {
        let img = render(env.physics(), &scene.visuals, &env.goal().markers, &cam);
        std::hint::black_box(&img);
        frames += 1;
    }
    let camera_fps = frames as f64 / t0.elapsed().as_secs_f64();
    let raw = physics_rate(&scene, env.frame_skip(), seconds, &mut rng);
    let split_scene = Scene::load_with(&scene.path, dexsim::Articulation::Split)?;
    let raw_split = physics_rate(&split_scene, env.frame_skip(), seconds, &mut rng);
    let peer = peer.then(|| run_peer(&scene.path, env.frame_skip(), seconds));
    let ratio = peer
        .as_ref()
        .filter(|p| p.skipped.is_none() && p.physics_steps_per_sec > 0.0)
        .map(|p| p.physics_steps_per_sec);
    let split_ratio = ratio.map(|p| raw_split / p);
    let ratio = ratio.map(|p| raw / p);
    let report = SimBench {
        task: task.clone(),
        dof: n_act,
        physics_dt: scene.physics.params.dt,
        frame_skip: env.frame_skip(),
        env_steps_per_sec_1thread: one,
        physics_steps_per_sec_1thread: one * env.frame_skip() as f64,
        raw_physics_steps_per_sec_1thread: raw,
        raw_physics_split_steps_per_sec_1thread: raw_split,
        peer,
        ratio_vs_peer: ratio,
        split_ratio_vs_peer: split_ratio,
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
        println!(
            "  raw physics steps/s, split        {:>9.0}{}",
            r.raw_physics_split_steps_per_sec_1thread,
            r.split_ratio_vs_peer
                .map_or(String::new(), |x| format!("  (dexsim/peer {x:.2}x)"))
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
