//! `dexstudio sim rollout`, and the default demo.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use dexsim::hash::TrajectoryHash;
use dexsim::scripted::Scripted;
use dexsim::{Catalog, Env, EnvConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::output::emit;

#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Roll out a policy for N control steps; prints the return, the success
    /// and a hash of the trajectory.
    Rollout(RolloutArgs),
}

/// Which policy drives the hand.
#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Uniform random actions in [-1, 1], seeded by `--seed`.
    Random,
    /// All-zero actions (every joint to the middle of its range).
    Zero,
    /// Inverse kinematics plus the PD servos (reach and pose tasks).
    Scripted,
}

#[derive(clap::Args, Debug)]
pub struct RolloutArgs {
    /// Task name (see `dexstudio tasks list`).
    #[arg(long)]
    task: String,
    /// Policy.
    #[arg(long, value_enum, default_value = "random")]
    policy: Policy,
    /// Seed of the episode and of the random policy.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Control steps; episodes that end reset with the next seed.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Write the camera frames to this GIF (or the last frame to a PNG).
    #[arg(long)]
    frames: Option<PathBuf>,
    /// Camera image size (pixels).
    #[arg(long, default_value_t = 64)]
    image: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RolloutReport {
    task: String,
    policy: Policy,
    seed: u64,
    steps: usize,
    episodes: usize,
    #[serde(rename = "return")]
    ret: f64,
    success: bool,
    solved_episodes: usize,
    hash: String,
    seconds: f64,
    frames: Option<PathBuf>,
}

pub fn run(cmd: SimCmd) -> anyhow::Result<()> {
    match cmd {
        SimCmd::Rollout(a) => {
            let report = rollout(&a)?;
            emit(a.json, &report, |r| {
                println!(
                    "task {}  policy {:?}  seed {}  steps {}  episodes {}",
                    r.task, r.policy, r.seed, r.steps, r.episodes
                );
                println!(
                    "return {:.3}  success {}  ({} of {} episodes solved)",
                    r.ret, r.success, r.solved_episodes, r.episodes
                );
                println!("trajectory hash {}", r.hash);
                if let Some(f) = &r.frames {
                    println!("frames written to {}", f.display());
                }
            })
        }
    }
}

fn rollout(a: &RolloutArgs) -> anyhow::Result<RolloutReport> {
    let catalog = Catalog::bundled()?;
    let render = a.frames.is_some();
    let mut env = Env::from_catalog(
        &catalog,
        &a.task,
        EnvConfig {
            image_size: a.image,
            render,
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ 0x5eed_0f_a11_ac7);
    let mut scripted = Scripted::default();
    let mut hash = TrajectoryHash::default();
    let mut seed = a.seed;
    let obs = env.reset(seed);
    hash.floats(&obs.state);
    let mut frames = vec![obs.image];
    let (mut ret, mut episodes, mut solved) = (0.0f64, 1usize, 0usize);
    let t0 = Instant::now();
    for _ in 0..a.steps {
        let n = env.action_dim();
        let action = match a.policy {
            Policy::Random => (0..n).map(|_| rng.random_range(-1.0f32..=1.0)).collect(),
            Policy::Zero => vec![0.0; n],
            Policy::Scripted => scripted.act(&env).with_context(|| {
                format!(
                    "task `{}` has no scripted controller (reach and pose tasks do)",
                    a.task
                )
            })?,
        };
        let step = env.step(&action)?;
        hash.floats(&action);
        hash.floats(&step.obs.state);
        hash.floats(&[step.reward]);
        ret += f64::from(step.reward);
        if render {
            frames.push(step.obs.image.clone());
        }
        if step.done {
            solved += usize::from(step.info.solved);
            seed += 1;
            let obs = env.reset(seed);
            hash.floats(&obs.state);
            episodes += 1;
        }
    }
    // The last episode counts if it has started.
    if env.snapshot().step() == 0 {
        episodes -= 1;
    } else if env.is_solved() {
        solved += 1;
    }
    let seconds = t0.elapsed().as_secs_f64();
    if let Some(path) = &a.frames {
        let fps = catalog.task(&a.task)?.control_hz.round() as u32;
        crate::frames::write(path, &frames, fps, 4)?;
    }
    Ok(RolloutReport {
        task: a.task.clone(),
        policy: a.policy,
        seed: a.seed,
        steps: a.steps,
        episodes: episodes.max(1),
        ret,
        success: solved > 0,
        solved_episodes: solved,
        hash: hash.hex(),
        seconds,
        frames: a.frames.clone(),
    })
}

/// The default command until the studio lands: a scripted reach rollout
/// written as a GIF the user can open.
pub fn demo() -> anyhow::Result<()> {
    let out = PathBuf::from("dexstudio-demo.gif");
    let args = RolloutArgs {
        task: "reach-hard".into(),
        policy: Policy::Scripted,
        seed: 1,
        steps: 150,
        frames: Some(out.clone()),
        image: 96,
        json: false,
    };
    println!(
        "dexstudio demo: scripted controller on reach-hard, two episodes, camera frames to {}",
        out.display()
    );
    run(SimCmd::Rollout(args))?;
    println!(
        "\nNext: `dexstudio tasks list`, `dexstudio sim rollout --help`, `dexstudio bench sim --task reach-hard`."
    );
    Ok(())
}
