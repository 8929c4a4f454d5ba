//! The studio's second viewport from the command line (`--viewports 2`,
//! `--compare DRIVER`) and its frame-rate benchmark (`--bench-frames N`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use bevy::prelude::*;
use bevy::window::PresentMode;
use dexstudio_plugins::driver::PolicyChoice;
use dexstudio_plugins::replay::list_episodes;
use dexstudio_plugins::viewports::MAX_VIEWPORTS;
use dexstudio_plugins::{Driver, Overlay, Pane, Studio, StudioCmd, StudioCmds, Timeline, Viewport};
use serde::Serialize;

use super::DriverArg;

/// Frames rendered before the benchmark starts timing (pipelines compile,
/// shadow maps and textures upload).
const BENCH_WARMUP: u32 = 20;

#[derive(clap::Args, Debug)]
pub struct SplitArgs {
    /// Viewports side by side at start (1 or 2); the second shows the same
    /// task and seed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=MAX_VIEWPORTS as i64))]
    viewports: u8,
    /// Open a second viewport driven by DRIVER, to compare with the first
    /// (implies `--viewports 2`).
    #[arg(long, value_enum, value_name = "DRIVER")]
    compare: Option<DriverArg>,
    /// Measure the frame rate over N frames (after a warm-up of 20), print
    /// mean fps and frame-time percentiles, then exit.
    #[arg(long, value_name = "N", conflicts_with = "screenshot")]
    bench_frames: Option<u32>,
    /// Print the benchmark's figures as JSON.
    #[arg(long, requires = "bench_frames")]
    json: bool,
    /// Show the collider and contact overlay from the start (F3 toggles it).
    #[arg(long)]
    overlay: bool,
    /// Replay episode N of the session's dataset in the first viewport.
    #[arg(long, value_name = "N")]
    replay: Option<usize>,
}

impl SplitArgs {
    /// A run that measures rather than serves a person (no vsync, the
    /// session left as it was).
    pub fn benchmarking(&self) -> bool {
        self.bench_frames.is_some()
    }

    /// No vsync while benchmarking, so the figure is the renderer's.
    pub fn present_mode(&self) -> PresentMode {
        if self.benchmarking() {
            PresentMode::AutoNoVsync
        } else {
            PresentMode::default()
        }
    }
}

/// The picker's choice for a `--driver` or `--compare` value.
pub fn choice(d: DriverArg) -> PolicyChoice {
    match d {
        DriverArg::Zero => PolicyChoice::Zero,
        DriverArg::Random => PolicyChoice::Random,
        DriverArg::Expert => PolicyChoice::Expert,
        DriverArg::Teleop => PolicyChoice::Teleop,
        DriverArg::Student => PolicyChoice::Student,
    }
}

type Parts = (Viewport, Driver, Timeline);

/// Task and seed of the episode `--replay` asks for, from the dataset's
/// manifest; `None` when there is none (the Replay command then says why).
pub fn replay_start(a: &SplitArgs, data: &std::path::Path) -> Option<(String, u64)> {
    let n = a.replay?;
    let episodes = list_episodes(data).ok()?;
    let e = episodes.get(n)?;
    Some((e.task.clone(), e.entry.seed))
}

/// The viewports beside the first: same task and seed, driven by
/// `--compare` or else like the first.
pub fn extra_viewports(
    studio: &Studio,
    first: &Parts,
    a: &SplitArgs,
) -> anyhow::Result<Vec<Parts>> {
    let n = if a.compare.is_some() {
        2
    } else {
        usize::from(a.viewports)
    };
    let task = &first.0.env.task().spec.name;
    let seed = first.0.env.seed();
    let want = a
        .compare
        .map_or_else(|| PolicyChoice::of(&first.1.policy), choice);
    (1..n)
        .map(|_| {
            let mut parts = studio
                .viewport(task, seed)
                .with_context(|| format!("cannot open task {task}"))?;
            parts.1.student.clone_from(&first.1.student);
            parts
                .1
                .choose(want, &parts.0.env)
                .map_err(anyhow::Error::msg)?;
            Ok(parts)
        })
        .collect()
}

/// Spawn the first viewport (with its recorder) and the extra ones, left
/// to right.
pub fn spawn(app: &mut App, first: impl Bundle, extra: Vec<Parts>) {
    app.world_mut().spawn((first, Pane(0)));
    for (k, parts) in extra.into_iter().enumerate() {
        app.world_mut().spawn((parts, Pane(k + 1)));
    }
}

/// Frame-rate figures of one run.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Viewports shown.
    pub viewports: usize,
    /// Frames timed.
    pub frames: usize,
    /// Frames per second over the timed frames.
    pub mean_fps: f64,
    /// Mean frame time (ms).
    pub mean_ms: f64,
    /// Median frame time (ms).
    pub p50_ms: f64,
    /// 95th percentile frame time (ms).
    pub p95_ms: f64,
    /// 99th percentile frame time (ms).
    pub p99_ms: f64,
    /// Longest frame (ms).
    pub max_ms: f64,
}

impl BenchReport {
    /// Figures of the frame times `ms`.
    pub fn of(viewports: usize, ms: &[f64]) -> Self {
        let mut sorted = ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted.get(i).copied().unwrap_or(0.0)
        };
        let total: f64 = ms.iter().sum();
        Self {
            viewports,
            frames: ms.len(),
            mean_fps: if total > 0.0 {
                ms.len() as f64 * 1e3 / total
            } else {
                0.0
            },
            mean_ms: total / ms.len().max(1) as f64,
            p50_ms: pct(0.5),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            max_ms: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// The figures, once the benchmark has run.
pub type BenchResult = Arc<Mutex<Option<BenchReport>>>;

#[derive(Resource)]
struct Bench {
    frames: u32,
    seen: u32,
    last: Option<Instant>,
    ms: Vec<f64>,
    out: BenchResult,
}

/// The overlay and replay asked for at start, and the frame timer if
/// `--bench-frames` asks for it (the app exits when it is done).
pub fn configure(app: &mut App, a: &SplitArgs) -> Option<BenchResult> {
    if a.overlay {
        app.insert_resource(Overlay {
            colliders: true,
            contacts: true,
        });
    }
    if let Some(episode) = a.replay {
        let dir = app.world().resource::<Studio>().data_dir();
        app.world_mut()
            .resource_mut::<StudioCmds>()
            .0
            .push(StudioCmd::Replay(dir, episode));
    }
    let frames = a.bench_frames?;
    let out = BenchResult::default();
    app.insert_resource(Bench {
        frames: frames.max(1),
        seen: 0,
        last: None,
        ms: Vec::new(),
        out: out.clone(),
    })
    .add_systems(Last, time_frames);
    Some(out)
}

fn time_frames(
    mut b: ResMut<Bench>,
    viewports: Query<&Viewport>,
    mut exit: MessageWriter<AppExit>,
) {
    let now = Instant::now();
    b.seen += 1;
    if b.seen > BENCH_WARMUP
        && let Some(last) = b.last
    {
        b.ms.push((now - last).as_secs_f64() * 1e3);
    }
    b.last = Some(now);
    if b.ms.len() >= b.frames as usize {
        let report = BenchReport::of(viewports.iter().count(), &b.ms);
        if let Ok(mut o) = b.out.lock() {
            *o = Some(report);
        }
        exit.write(AppExit::Success);
    }
}

/// Print the figures (or JSON with `--json`).
pub fn print(a: &SplitArgs, result: &BenchResult) -> anyhow::Result<()> {
    let Some(r) = result.lock().ok().and_then(|mut r| r.take()) else {
        anyhow::bail!("the studio closed before the benchmark finished");
    };
    crate::output::emit(a.json, &r, |r| {
        println!(
            "{} viewport(s), {} frames: {:.2} fps (mean {:.1} ms, p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1})",
            r.viewports, r.frames, r.mean_fps, r.mean_ms, r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms
        );
    })
}
