//! `dexstudio studio`: the desktop studio window, and screenshots of it for
//! checks without a person at the screen.

mod split;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use bevy::prelude::*;
use dexlearn::session::{Recent, Session};
use dexsim::Catalog;
use dexstudio_plugins::capture::{Capture, Shot, VideoSource};
use dexstudio_plugins::driver::PolicyChoice;
use dexstudio_plugins::encode::VideoFormat;
use dexstudio_plugins::session::parse_driver;
use dexstudio_plugins::student::{StudentCkpt, StudentPlugin};
use dexstudio_plugins::studio::{DEFAULT_SESSION, SPEED_RANGE};
use dexstudio_plugins::{ActiveSession, Driver, SessionPlugin, Timeline, Viewport};
use dexstudio_plugins::{
    CaptureCmd, CaptureCmds, CapturePlugin, DriverPlugin, OrbitCameraPlugin, OverlayPlugin,
    PerturbPlugin, RecordCmd, RecordCmds, Recorder, RecorderPlugin, SceneViewPlugin, SimStepPlugin,
    Studio, StudioPlugin, StudioUiPlugin, TeleopPlugin, TimelinePlugin, ViewportsPlugin,
};

/// Frames to wait for a requested screenshot before giving up.
const SCREENSHOT_PATIENCE: u32 = 600;

#[derive(clap::Args, Debug)]
pub struct StudioArgs {
    /// Task opened at start (default: the session's last task).
    #[arg(long)]
    task: Option<String>,
    /// Seed of the first episode (default: the session's last seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Session folder, opened or created: its `experts/<task>/` is tried
    /// before the shipped expert, recordings go to its `data/` (default
    /// `sessions/default`).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Who acts at start (default: the session's last driver); `student`
    /// needs `--student`.
    #[arg(long, value_enum)]
    driver: Option<DriverArg>,
    /// Student checkpoint folder (with student.json) loaded into the
    /// viewports, for `--driver student`, `--compare student` or the
    /// picker.
    #[arg(long, value_name = "DIR")]
    student: Option<PathBuf>,
    /// Start recording episodes into the session's dataset at once.
    #[arg(long)]
    record: bool,
    /// Record a video (.mp4 or .gif) from the start until the studio
    /// closes, one frame per 1/25 s of simulated time.
    #[arg(long)]
    video: Option<PathBuf>,
    /// What the video shows.
    #[arg(long, value_enum, default_value_t = VideoArg::View, requires = "video")]
    video_source: VideoArg,
    /// Stop the video after N frames (N/25 s of simulated time), wait
    /// until the file is complete, then exit.
    #[arg(
        long,
        value_name = "N",
        requires = "video",
        conflicts_with = "screenshot"
    )]
    video_frames: Option<usize>,
    /// Save a PNG of the window after `--frames` frames, then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Frames to run before the screenshot.
    #[arg(long, default_value_t = 60, requires = "screenshot")]
    frames: u32,
    /// What the screenshot shows.
    #[arg(long, value_enum, default_value_t = ShotArg::Window, requires = "screenshot")]
    screenshot_of: ShotArg,
    #[command(flatten)]
    split: split::SplitArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ShotArg {
    /// The whole window.
    Window,
    /// The 3D view between the panels.
    View,
    /// The policy's camera image.
    Eye,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum VideoArg {
    /// The 3D view.
    View,
    /// The policy's camera image.
    Eye,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DriverArg {
    Zero,
    Random,
    Expert,
    Teleop,
    Student,
}

impl StudioArgs {
    /// The options of a bare `dexstudio`: every default.
    pub fn defaults() -> anyhow::Result<Self> {
        use clap::{Args, FromArgMatches};
        let cmd = Self::augment_args(clap::Command::new("studio"));
        let matches = cmd.try_get_matches_from(["studio"])?;
        Ok(Self::from_arg_matches(&matches)?)
    }
}

/// Open the studio; returns when the window is closed or the screenshot is
/// written.
pub fn run(mut args: StudioArgs) -> anyhow::Result<()> {
    let video = match &args.video {
        Some(path) => Some((
            VideoFormat::of(path).map_err(anyhow::Error::msg)?,
            path.clone(),
        )),
        None => None,
    };
    check_display()?;
    let dir = args
        .session
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SESSION));
    let session = Session::open_or_create(&dir)?;
    let mut studio = Studio::new(Catalog::bundled()?, Some(dir));
    // A replay opens its episode's task and seed at once, so that a
    // `--compare` viewport shows the same start.
    if let Some((task, seed)) = split::replay_start(&args.split, &studio.data_dir()) {
        (args.task, args.seed) = (Some(task), Some(seed));
    }
    let viewport = restore(&mut studio, &session, &args)?;
    let extra = split::extra_viewports(&studio, &viewport, &args.split)?;
    // A screenshot or benchmark run is a check: it leaves the session and
    // the recent list as they were.
    let checking = args.screenshot.is_some() || args.split.benchmarking();
    let mut active = ActiveSession::new(session, Recent::default_path().filter(|_| !checking));
    if checking {
        active.autosave = None;
    }

    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "dexstudio".into(),
            resolution: (1280, 720).into(),
            present_mode: args.split.present_mode(),
            ..default()
        }),
        ..default()
    }))
    .insert_resource(ClearColor(Color::srgb(0.62, 0.68, 0.76)))
    .insert_resource(studio)
    .insert_resource(active)
    .add_plugins((
        SimStepPlugin,
        DriverPlugin,
        TeleopPlugin,
        RecorderPlugin,
        CapturePlugin,
        PerturbPlugin,
        TimelinePlugin,
        StudioPlugin,
        SceneViewPlugin,
        OrbitCameraPlugin,
        StudioUiPlugin,
        SessionPlugin,
        ViewportsPlugin,
        OverlayPlugin,
        StudentPlugin,
    ));
    split::spawn(&mut app, (viewport, Recorder::default()), extra);
    if args.record {
        app.world_mut()
            .resource_mut::<RecordCmds>()
            .0
            .push(RecordCmd::Start);
    }
    let failure = Arc::new(Mutex::new(None));
    if let Some((format, path)) = video {
        let source = match args.video_source {
            VideoArg::View => VideoSource::View,
            VideoArg::Eye => VideoSource::Eye,
        };
        if let Some(frames) = args.video_frames {
            app.world_mut().resource_mut::<Capture>().video_limit = Some(frames.max(1));
            app.insert_resource(VideoPlan {
                path: path.clone(),
                frames: frames.max(1),
                stopped: false,
                failure: failure.clone(),
            })
            .add_systems(Update, end_video);
        }
        app.world_mut()
            .resource_mut::<CaptureCmds>()
            .0
            .push(CaptureCmd::StartVideo(source, format, Some(path)));
    }

    // Each viewport's camera comes from ViewportsPlugin.
    let bench = split::configure(&mut app, &args.split);
    if let Some(path) = args.screenshot {
        let shot = match args.screenshot_of {
            ShotArg::Window => Shot::Window,
            ShotArg::View => Shot::View,
            ShotArg::Eye => Shot::Eye,
        };
        app.insert_resource(ShotPlan {
            path,
            shot,
            frames: args.frames.max(1),
            seen: 0,
            failure: failure.clone(),
        })
        .add_systems(Update, shoot);
    }
    let exit = app.run();
    if let Some(why) = failure.lock().ok().and_then(|mut f| f.take()) {
        bail!(why);
    }
    if let AppExit::Error(code) = exit {
        bail!("the studio exited with code {code}");
    }
    if let Some(result) = bench {
        split::print(&args.split, &result)?;
    }
    Ok(())
}

/// The first viewport, its driver chosen: the command line's task, seed
/// and driver where given, else the session's. A session whose task or
/// driver no longer works opens on reach-easy / zero actions with a
/// message, rather than keeping the studio shut.
fn restore(
    studio: &mut Studio,
    session: &Session,
    args: &StudioArgs,
) -> anyhow::Result<(Viewport, Driver, Timeline)> {
    let m = &session.manifest;
    studio.speed = m.speed.clamp(SPEED_RANGE.0, SPEED_RANGE.1);
    let seed = args.seed.unwrap_or(m.seed);
    let mut viewport = match &args.task {
        Some(task) => studio
            .viewport(task, seed)
            .with_context(|| format!("cannot open task {task}"))?,
        None => studio.viewport(&m.task, seed).or_else(|e| {
            studio.message = Some(format!("session task {}: {e}", m.task));
            studio.viewport("reach-easy", seed)
        })?,
    };
    if let Some(dir) = &args.student {
        // Before the window opens: a load of ~100 ms blocks no frame here.
        viewport.1.student = Some(StudentCkpt::load(dir).map_err(anyhow::Error::msg)?);
    } else if matches!(args.driver, Some(DriverArg::Student)) {
        bail!("--driver student needs --student DIR (a folder with student.json)");
    }
    let choice = match args.driver {
        Some(d) => split::choice(d),
        None => {
            // The manifest names no student folder: `--student` supplies it.
            let choice = match parse_driver(&m.driver) {
                Some(c) => c,
                None if m.driver == "student" && viewport.1.student.is_some() => {
                    PolicyChoice::Student
                }
                None => PolicyChoice::Zero,
            };
            if let Err(e) = viewport.1.choose(choice, &viewport.0.env) {
                studio.message = Some(format!("session driver {}: {e}", m.driver));
            }
            return Ok(viewport);
        }
    };
    viewport
        .1
        .choose(choice, &viewport.0.env)
        .map_err(anyhow::Error::msg)?;
    Ok(viewport)
}

/// Winit needs a display server; without one say what to run instead
/// rather than failing deep inside the windowing backend.
fn check_display() -> anyhow::Result<()> {
    let has = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if cfg!(target_os = "linux") && !has("DISPLAY") && !has("WAYLAND_DISPLAY") {
        let line: Vec<String> = std::iter::once("dexstudio".to_owned())
            .chain(std::env::args().skip(1))
            .collect();
        bail!(
            "no display found: the studio needs one. Run it under a virtual display with \
             `xvfb-run -a -s \"-screen 0 1280x720x24\" env WGPU_BACKEND=vulkan {}`, \
             or use the CLI, which needs none (`dexstudio --help`; `dexstudio sim demo` \
             writes a scripted rollout to a GIF)",
            line.join(" ")
        );
    }
    Ok(())
}

/// A video of a fixed length, then exit; where a failure is told.
#[derive(Resource)]
struct VideoPlan {
    path: PathBuf,
    frames: usize,
    stopped: bool,
    failure: Arc<Mutex<Option<String>>>,
}

/// Stop the video once it has its frames, then exit once it is on disk.
fn end_video(
    mut plan: ResMut<VideoPlan>,
    mut cmds: ResMut<CaptureCmds>,
    capture: Res<Capture>,
    mut exit: MessageWriter<AppExit>,
) {
    if !plan.stopped {
        if capture.video().is_some_and(|(_, n, _)| n >= plan.frames) {
            cmds.0.push(CaptureCmd::StopVideo);
            plan.stopped = true;
        }
        return;
    }
    match &capture.message {
        Some(Ok(p)) if *p == plan.path && capture.encoding() == 0 => {
            println!("video of {} frames written to {}", plan.frames, p.display());
            exit.write(AppExit::Success);
        }
        Some(Err(e)) => {
            if let Ok(mut f) = plan.failure.lock() {
                *f = Some(format!(
                    "cannot write the video to {}: {e}",
                    plan.path.display()
                ));
            }
            exit.write(AppExit::error());
        }
        _ => {}
    }
}

/// A screenshot to take after some frames, and where a failure is told.
#[derive(Resource)]
struct ShotPlan {
    path: PathBuf,
    shot: Shot,
    frames: u32,
    seen: u32,
    failure: Arc<Mutex<Option<String>>>,
}

/// Ask the capture plugin for the screenshot (the same path the F12 key
/// and the panel take), then exit once it is on disk.
fn shoot(
    mut plan: ResMut<ShotPlan>,
    mut cmds: ResMut<CaptureCmds>,
    capture: Res<Capture>,
    mut exit: MessageWriter<AppExit>,
) {
    plan.seen += 1;
    if plan.seen == plan.frames {
        cmds.0
            .push(CaptureCmd::Screenshot(plan.shot, Some(plan.path.clone())));
        return;
    }
    if plan.seen < plan.frames {
        return;
    }
    let failed = match &capture.message {
        Some(Ok(p)) if *p == plan.path => {
            println!("screenshot written to {}", p.display());
            exit.write(AppExit::Success);
            return;
        }
        Some(Err(e)) => format!(
            "cannot write the screenshot to {}: {e}",
            plan.path.display()
        ),
        _ if plan.seen >= plan.frames + SCREENSHOT_PATIENCE => format!(
            "no screenshot after {SCREENSHOT_PATIENCE} more frames: the renderer never \
             delivered one"
        ),
        _ => return,
    };
    if let Ok(mut f) = plan.failure.lock() {
        *f = Some(failed);
    }
    exit.write(AppExit::error());
}
