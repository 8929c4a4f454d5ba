//! `dexstudio collect` and `dexstudio data info | view`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use dexlearn::Control;
use dexlearn::collect::{CollectConfig, collect};
use dexlearn::data::{Dataset, resolve};
use dexlearn::student::Corpus;
use dexlearn::student::gap::SATURATED;
use dexlearn::student::goals::{last_frame_gap, render_goals};
use dexsim::Catalog;
use dexsim::render::Image;
use serde::Serialize;

use super::expert::{ctrlc_hook, set_threads};
use crate::output::emit;

#[derive(clap::Args, Debug)]
pub struct CollectArgs {
    /// Task names (repeatable); or use --suite.
    #[arg(long, required_unless_present = "suite")]
    task: Vec<String>,
    /// Every task of a suite.
    #[arg(long)]
    suite: Option<String>,
    /// Successful episodes to keep per task.
    #[arg(long, default_value_t = 100)]
    episodes: usize,
    /// Session folder: the dataset goes to <session>/data/, experts come
    /// from <session>/experts/ when present there, else the shipped ones.
    #[arg(long, default_value = "sessions/default")]
    session: PathBuf,
    /// Keep failed episodes too.
    #[arg(long)]
    keep_failures: bool,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    image: usize,
    /// Episodes per shard.
    #[arg(long, default_value_t = 10)]
    chunk: usize,
    /// Base of the collection seeds.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Gaussian noise (standard deviation) on the executed action; the
    /// stored label stays the expert's mean action (noise injection).
    #[arg(long, default_value_t = 0.0)]
    action_noise: f32,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn collect_cmd(a: CollectArgs) -> anyhow::Result<()> {
    set_threads(a.threads)?;
    let catalog = Catalog::bundled()?;
    let mut tasks = a.task.clone();
    if let Some(s) = &a.suite {
        tasks.extend(catalog.suite(s)?.iter().cloned());
    }
    for t in &tasks {
        catalog.task(t)?;
    }
    if a.image == 0 || a.episodes == 0 {
        anyhow::bail!("--image and --episodes must be positive");
    }
    let cfg = CollectConfig {
        tasks: tasks.clone(),
        episodes: a.episodes,
        image_size: a.image,
        keep_failures: a.keep_failures,
        chunk: a.chunk,
        seed: a.seed,
        max_attempts_factor: 4,
        action_noise: a.action_noise,
    };
    let session = a.session.clone();
    let expert_of = |t: &str| -> dexlearn::error::Result<dexlearn::Expert> {
        let own = dexlearn::expert::expert_dir(Some(&session), t);
        let dir = if own.join("expert.json").exists() {
            own
        } else {
            dexlearn::expert::expert_dir(None, t)
        };
        dexlearn::Expert::load(&dir)
    };
    let control = Control::new();
    {
        let c = control.clone();
        ctrlc_hook(move || c.cancel())?;
    }
    let bar = crate::output::progress(
        (tasks.len() * a.episodes) as u64,
        a.json,
        "collect [{bar:30}] {pos}/{len} episodes {elapsed_precise} eta {eta} {msg}",
    )?;
    let done_before = std::cell::Cell::new(0usize);
    let mut current = String::new();
    let mut on_progress = |p: &dexlearn::collect::CollectProgress| {
        if p.task != current {
            if !current.is_empty() {
                done_before.set(done_before.get() + a.episodes);
            }
            current = p.task.clone();
        }
        bar.set_position((done_before.get() + p.kept) as u64);
        bar.set_message(format!(
            "{}: kept {}/{} rolled | {} frames, {:.0} frames/s",
            p.task, p.kept, p.attempted, p.frames, p.frames_per_s
        ));
    };
    let out = a.session.join("data");
    let summary = collect(&catalog, &cfg, &expert_of, &out, &control, &mut on_progress)
        .with_context(|| format!("collecting into {}", out.display()))?;
    bar.finish_and_clear();
    emit(a.json, &summary, |s| {
        println!(
            "{:<16} {:>6} {:>8} {:>8}",
            "task", "kept", "rolled", "frames"
        );
        for r in &s.tasks {
            println!(
                "{:<16} {:>6} {:>8} {:>8}",
                r.task, r.kept, r.attempted, r.frames
            );
            if r.kept < a.episodes {
                println!(
                    "  warning: only {} successful episodes of {} wanted for {}",
                    r.kept, a.episodes, r.task
                );
            }
        }
        println!(
            "kept {} frames in {:.1} s ({:.0} frames/s); rolled {} ({:.0} frames/s, {}x{} images included){}",
            s.frames,
            s.wall_s,
            s.frames_per_s,
            s.rolled_frames,
            s.rolled_frames_per_s,
            a.image,
            a.image,
            if s.cancelled {
                "; interrupted, every finished episode is saved"
            } else {
                ""
            }
        );
        println!("dataset: {}", out.display());
    })?;
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum DataCmd {
    /// Episodes, frames, per-task counts and disk size of a dataset.
    Info {
        /// Dataset folder, or a session folder holding data/.
        dataset: PathBuf,
        /// Also read every shard for how fast the demonstrated actions
        /// change: mean |a_{t+1} − a_t| per action value at each of the
        /// first steps and over the rest of the episodes, and the share of
        /// action values at their limits (|a| ≥ 0.99).
        #[arg(long)]
        actions: bool,
        /// Also re-render every episode's goal image from its seed (as
        /// `distill --train-goal rendered` does) and report how far the
        /// last frames lie from them: mean |difference| per byte, 0–255.
        #[arg(long)]
        goals: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write one episode as an animated GIF (with its goal image beside
    /// every frame).
    View {
        /// Dataset folder, or a session folder holding data/.
        dataset: PathBuf,
        /// Episode index (over all shards, in order).
        #[arg(long, default_value_t = 0)]
        episode: usize,
        /// Output GIF.
        #[arg(long, default_value = "episode.gif")]
        out: PathBuf,
        /// Upscale factor.
        #[arg(long, default_value_t = 4)]
        scale: usize,
    },
}

#[derive(Serialize)]
struct TaskCount {
    task: String,
    index: u32,
    episodes: usize,
    frames: usize,
    solved: usize,
    mean_return: f64,
    /// With --actions: mean |a_{t+1} − a_t| per action value for t = 0, 1, …
    /// (the first `START_STEPS` steps), then over every later step, and the
    /// share of action values at the limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    action_change: Option<ActionChange>,
    /// With --goals: mean |last frame − rendered goal| per byte (0–255).
    #[serde(skip_serializing_if = "Option::is_none")]
    goal_gap: Option<f64>,
}

/// Steps whose action change `data info --actions` lists one by one.
const START_STEPS: usize = 4;

#[derive(Serialize)]
struct ActionChange {
    first_steps: Vec<f64>,
    later: f64,
    /// Share of all action values with |a| ≥ `SATURATED`: near 1 means a
    /// bang-bang expert, whose labels a regressing student must match where
    /// they flip sign.
    saturated: f64,
}

#[derive(Serialize)]
struct Info {
    dataset: PathBuf,
    episodes: usize,
    frames: usize,
    shards: usize,
    image_size: usize,
    bytes: u64,
    tasks: Vec<TaskCount>,
}

pub fn run(cmd: DataCmd) -> anyhow::Result<()> {
    match cmd {
        DataCmd::Info {
            dataset,
            actions,
            goals,
            json,
        } => info(dataset, actions, goals, json),
        DataCmd::View {
            dataset,
            episode,
            out,
            scale,
        } => view(dataset, episode, out, scale),
    }
}

/// One task's running sums for [`ActionChange`].
struct ChangeSums {
    /// (sum, count) of per-value changes at each of the first
    /// `START_STEPS` steps, then over every later step.
    steps: Vec<(f64, usize)>,
    /// Action values at their limits, and all action values.
    at_limit: usize,
    values: usize,
}

/// Mean |a_{t+1} − a_t| per action value of each task's episodes, and the
/// share of its action values at their limits.
fn action_change(d: &Dataset, json: bool) -> anyhow::Result<Vec<(String, ActionChange)>> {
    let mut acc: Vec<(String, ChangeSums)> = Vec::new();
    let bar = crate::output::progress(
        d.manifest.shards.len() as u64,
        json,
        "actions [{bar:30}] {pos}/{len} shards {elapsed_precise} eta {eta}",
    )?;
    for (i, shard) in d.manifest.shards.iter().enumerate() {
        let (task, frames) = d.read_shard(i)?;
        let a = task.action_dim;
        let slot = match acc.iter().position(|(t, _)| *t == task.name) {
            Some(j) => j,
            None => {
                let sums = ChangeSums {
                    steps: vec![(0.0, 0); START_STEPS + 1],
                    at_limit: 0,
                    values: 0,
                };
                acc.push((task.name.clone(), sums));
                acc.len() - 1
            }
        };
        let sums = &mut acc[slot].1;
        let mut start = 0;
        for e in &shard.episodes {
            for t in 0..e.frames.saturating_sub(1) {
                let (x, y) = ((start + t) * a, (start + t + 1) * a);
                let change: f64 = (0..a)
                    .map(|j| f64::from((frames.action[y + j] - frames.action[x + j]).abs()))
                    .sum::<f64>()
                    / a.max(1) as f64;
                let cell = &mut sums.steps[t.min(START_STEPS)];
                cell.0 += change;
                cell.1 += 1;
            }
            start += e.frames;
        }
        sums.at_limit += frames
            .action
            .iter()
            .filter(|v| v.abs() >= SATURATED)
            .count();
        sums.values += frames.action.len();
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mean = |(s, n): (f64, usize)| s / n.max(1) as f64;
    Ok(acc
        .into_iter()
        .map(|(t, sums)| {
            let change = ActionChange {
                first_steps: sums.steps[..START_STEPS].iter().map(|&c| mean(c)).collect(),
                later: mean(sums.steps[START_STEPS]),
                saturated: mean((sums.at_limit as f64, sums.values)),
            };
            (t, change)
        })
        .collect())
}

/// Each task's [`last_frame_gap`] over every episode of the dataset, one
/// task at a time (tasks of different hands cannot share a corpus).
fn goal_gaps(d: &Dataset, tasks: &[String]) -> anyhow::Result<Vec<Option<f64>>> {
    let catalog = Catalog::bundled()?;
    tasks
        .iter()
        .map(|t| {
            let mut c = Corpus::load(&d.dir, std::slice::from_ref(t), usize::MAX)?;
            render_goals(&catalog, &mut c, &d.dir).with_context(|| {
                format!("re-rendering the goal images of {t} in {}", d.dir.display())
            })?;
            Ok(last_frame_gap(&c)[0])
        })
        .collect()
}

fn info(path: PathBuf, actions: bool, goals: bool, json: bool) -> anyhow::Result<()> {
    let d = Dataset::open(&path)?;
    let mut tasks: Vec<TaskCount> = d
        .manifest
        .tasks
        .iter()
        .map(|t| TaskCount {
            task: t.name.clone(),
            index: t.index,
            episodes: 0,
            frames: 0,
            solved: 0,
            mean_return: 0.0,
            action_change: None,
            goal_gap: None,
        })
        .collect();
    if goals {
        let names: Vec<String> = tasks.iter().map(|t| t.task.clone()).collect();
        for (t, gap) in tasks.iter_mut().zip(goal_gaps(&d, &names)?) {
            t.goal_gap = gap;
        }
    }
    if actions {
        for (task, change) in action_change(&d, json)? {
            if let Some(t) = tasks.iter_mut().find(|t| t.task == task) {
                t.action_change = Some(change);
            }
        }
    }
    for s in &d.manifest.shards {
        if let Some(t) = tasks.iter_mut().find(|t| t.task == s.task) {
            for e in &s.episodes {
                t.episodes += 1;
                t.frames += e.frames;
                t.solved += usize::from(e.solved);
                t.mean_return += e.ret;
            }
        }
    }
    for t in &mut tasks {
        t.mean_return /= t.episodes.max(1) as f64;
    }
    let bytes = std::fs::read_dir(&d.dir)
        .with_context(|| format!("cannot list {}", d.dir.display()))?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let info = Info {
        dataset: resolve(&path),
        episodes: d.episodes(),
        frames: d.frames(),
        shards: d.manifest.shards.len(),
        image_size: d.manifest.image_size,
        bytes,
        tasks,
    };
    emit(json, &info, |i| {
        println!(
            "{}: {} episodes, {} frames, {} shards, {}x{} images, {:.1} MB on disk",
            i.dataset.display(),
            i.episodes,
            i.frames,
            i.shards,
            i.image_size,
            i.image_size,
            i.bytes as f64 / 1e6
        );
        println!(
            "{:<16} {:>5} {:>9} {:>8} {:>7} {:>12}",
            "task", "index", "episodes", "frames", "solved", "mean return"
        );
        for t in &i.tasks {
            println!(
                "{:<16} {:>5} {:>9} {:>8} {:>7} {:>12.1}",
                t.task, t.index, t.episodes, t.frames, t.solved, t.mean_return
            );
        }
        if i.tasks.iter().any(|t| t.action_change.is_some()) {
            println!(
                "\nmean |a(t+1) - a(t)| per action value; share of values at |a| >= {SATURATED}\n{:<16} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9}",
                "task", "t=0", "t=1", "t=2", "t=3", "later", "at limit"
            );
            for t in &i.tasks {
                if let Some(c) = &t.action_change {
                    let steps: Vec<String> =
                        c.first_steps.iter().map(|v| format!("{v:>7.3}")).collect();
                    println!(
                        "{:<16} {} {:>7.3} {:>9.3}",
                        t.task,
                        steps.join(" "),
                        c.later,
                        c.saturated
                    );
                }
            }
        }
        if i.tasks.iter().any(|t| t.goal_gap.is_some()) {
            println!(
                "\nlast frame against the goal re-rendered from its seed: mean |difference| per byte (0-255)"
            );
            for t in &i.tasks {
                if let Some(g) = t.goal_gap {
                    println!("{:<16} {g:>7.2}", t.task);
                }
            }
        }
    })
}

fn view(path: PathBuf, episode: usize, out: PathBuf, scale: usize) -> anyhow::Result<()> {
    let d = Dataset::open(&path)?;
    let ep = d.episode(episode)?;
    let s = ep.image_size;
    let goal = ep.goal_image().to_vec();
    // Each frame: observation on the left, goal image on the right.
    let frames: Vec<Image> = (0..ep.entry.frames)
        .map(|i| {
            let obs = ep.image(i);
            let mut rgb = Vec::with_capacity(2 * s * s * 3);
            for row in 0..s {
                rgb.extend_from_slice(&obs[row * s * 3..(row + 1) * s * 3]);
                rgb.extend_from_slice(&goal[row * s * 3..(row + 1) * s * 3]);
            }
            Image {
                width: 2 * s,
                height: s,
                rgb,
            }
        })
        .collect();
    crate::frames::write(&out, &frames, 25, scale.max(1))?;
    println!(
        "{}: episode {episode} of {} ({} frames, seed {}, return {:.1}, solved {}) -> {}",
        ep.task.name,
        d.episodes(),
        ep.entry.frames,
        ep.entry.seed,
        ep.entry.ret,
        ep.entry.solved,
        out.display()
    );
    Ok(())
}
