//! `dexstudio sim rollout`, `sim eval` and `sim demo`.

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
    /// Success rate of a policy over N episodes, with a 95% interval.
    Eval(EvalArgs),
    /// A scripted reach rollout written to dexstudio-demo.gif: a look at
    /// the simulator without a window.
    Demo,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Task names (repeatable); or use --suite.
    #[arg(long, required_unless_present = "suite")]
    task: Vec<String>,
    /// Evaluate every task of a suite.
    #[arg(long)]
    suite: Option<String>,
    /// Policy.
    #[arg(long, value_enum, default_value = "scripted")]
    policy: Policy,
    /// Episodes per task.
    #[arg(long, default_value_t = 50)]
    episodes: u64,
    /// First episode seed; episode i uses seed + i.
    #[arg(long, default_value_t = 1_000_000)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct EvalRow {
    task: String,
    policy: Policy,
    episodes: u64,
    solved: usize,
    success_rate: f64,
    ci95: (f64, f64),
    mean_return: f64,
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
    /// Write the first episode's goal image to this PNG.
    #[arg(long)]
    goal_image: Option<PathBuf>,
    /// Plot the reward and its unweighted terms per step to this SVG.
    #[arg(long)]
    plot: Option<PathBuf>,
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
        SimCmd::Demo => demo(),
        SimCmd::Eval(a) => {
            let catalog = Catalog::bundled()?;
            let tasks: Vec<String> = match &a.suite {
                Some(s) => catalog.suite(s)?.to_vec(),
                None => a.task.clone(),
            };
            let mut rows = Vec::new();
            for t in &tasks {
                rows.push(evaluate(&catalog, t, &a)?);
            }
            emit(a.json, &rows, |rows| {
                println!(
                    "{:<16} {:>9} {:>9} {:>8} {:>17} {:>11}",
                    "task", "policy", "episodes", "success", "95% CI", "mean return"
                );
                for r in rows {
                    println!(
                        "{:<16} {:>9} {:>9} {:>8.3} {:>17} {:>11.2}",
                        r.task,
                        format!("{:?}", r.policy).to_lowercase(),
                        r.episodes,
                        r.success_rate,
                        format!("[{:.3}, {:.3}]", r.ci95.0, r.ci95.1),
                        r.mean_return
                    );
                }
            })
        }
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

fn action(
    policy: Policy,
    env: &Env,
    rng: &mut ChaCha8Rng,
    scripted: &mut Scripted,
) -> anyhow::Result<Vec<f32>> {
    let n = env.action_dim();
    Ok(match policy {
        Policy::Random => (0..n).map(|_| rng.random_range(-1.0f32..=1.0)).collect(),
        Policy::Zero => vec![0.0; n],
        Policy::Scripted => scripted.act(env).with_context(|| {
            format!(
                "task `{}` has no scripted controller (reach and pose tasks do)",
                env.task().spec.name
            )
        })?,
    })
}

fn evaluate(catalog: &Catalog, task: &str, a: &EvalArgs) -> anyhow::Result<EvalRow> {
    let mut env = Env::from_catalog(
        catalog,
        task,
        EnvConfig {
            render: false,
            ..EnvConfig::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let mut scripted = Scripted::default();
    let bar = crate::output::progress(
        a.episodes,
        a.json,
        "{prefix:>16} [{bar:30}] {pos}/{len} episodes {msg}",
    )?;
    bar.set_prefix(task.to_string());
    let (mut solved, mut ret) = (0usize, 0.0f64);
    for ep in 0..a.episodes {
        env.reset(a.seed + ep);
        while !env.is_done() {
            let act = action(a.policy, &env, &mut rng, &mut scripted)?;
            env.step(&act)?;
        }
        solved += usize::from(env.is_solved());
        ret += env.episode_return();
        bar.inc(1);
        bar.set_message(format!("success {:.2}", solved as f64 / (ep + 1) as f64));
    }
    bar.finish_and_clear();
    Ok(EvalRow {
        task: task.to_string(),
        policy: a.policy,
        episodes: a.episodes,
        solved,
        success_rate: solved as f64 / a.episodes.max(1) as f64,
        ci95: dexsim::stats::wilson95(solved, a.episodes as usize),
        mean_return: ret / a.episodes.max(1) as f64,
    })
}

fn rollout(a: &RolloutArgs) -> anyhow::Result<RolloutReport> {
    let catalog = Catalog::bundled()?;
    let render = a.frames.is_some() || a.goal_image.is_some();
    let mut env = Env::from_catalog(
        &catalog,
        &a.task,
        EnvConfig {
            image_size: a.image,
            render,
            ..EnvConfig::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ 0x05ee_d0fa_11ac);
    let mut scripted = Scripted::default();
    let mut hash = TrajectoryHash::default();
    let mut seed = a.seed;
    let obs = env.reset(seed);
    hash.floats(&obs.state);
    if let Some(path) = &a.goal_image {
        crate::frames::write(path, std::slice::from_ref(&*obs.goal_image), 1, 4)?;
    }
    let mut frames = vec![obs.image];
    let (mut ret, mut episodes, mut solved) = (0.0f64, 1usize, 0usize);
    let mut curves: Vec<(&'static str, Vec<f32>)> = Vec::new();
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
        if a.plot.is_some() {
            if curves.is_empty() {
                curves.push(("reward", Vec::new()));
                curves.extend(step.info.terms.iter().map(|&(n, _)| (n, Vec::new())));
            }
            curves[0].1.push(step.reward);
            for (c, &(_, v)) in curves[1..].iter_mut().zip(&step.info.terms) {
                c.1.push(v);
            }
        }
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
    if let Some(path) = &a.plot {
        // Terms the task never uses stay at zero: leave them out.
        let series: Vec<crate::plot::Series> = curves
            .iter()
            .filter(|(_, ys)| ys.iter().any(|&y| y != 0.0))
            .map(|(name, ys)| crate::plot::Series { name, ys })
            .collect();
        let title = format!("{} · {:?} policy · seed {}", a.task, a.policy, a.seed);
        crate::plot::lines(path, &title, "control step", &series)?;
    }
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

/// A scripted reach rollout written as a GIF the user can open, for
/// machines without a display.
fn demo() -> anyhow::Result<()> {
    let out = PathBuf::from("dexstudio-demo.gif");
    let args = RolloutArgs {
        task: "reach-hard".into(),
        policy: Policy::Scripted,
        seed: 1,
        steps: 150,
        frames: Some(out.clone()),
        image: 96,
        plot: None,
        goal_image: None,
        json: false,
    };
    println!(
        "dexstudio sim demo: scripted controller on reach-hard, two episodes, camera frames to {}",
        out.display()
    );
    run(SimCmd::Rollout(args))?;
    println!(
        "\nNext: `dexstudio tasks list`, `dexstudio sim rollout --help`, `dexstudio bench sim --task reach-hard`."
    );
    Ok(())
}
