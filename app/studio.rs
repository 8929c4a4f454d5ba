//! `dexstudio studio`: the desktop studio window, and screenshots of it for
//! checks without a person at the screen.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use bevy::prelude::*;
use dexsim::Catalog;
use dexstudio_plugins::capture::{Capture, Shot, VideoSource};
use dexstudio_plugins::driver::PolicyChoice;
use dexstudio_plugins::encode::VideoFormat;
use dexstudio_plugins::scene_view::sim_point;
use dexstudio_plugins::{
    CaptureCmd, CaptureCmds, CapturePlugin, DriverPlugin, OrbitCamera, OrbitCameraPlugin,
    PerturbPlugin, RecordCmd, RecordCmds, Recorder, RecorderPlugin, SceneViewPlugin, SimStepPlugin,
    Studio, StudioPlugin, StudioUiPlugin, TeleopPlugin, TimelinePlugin,
};

/// Frames to wait for a requested screenshot before giving up.
const SCREENSHOT_PATIENCE: u32 = 600;

#[derive(clap::Args, Debug)]
pub struct StudioArgs {
    /// Task opened at start.
    #[arg(long, default_value = "reach-easy")]
    task: String,
    /// Seed of the first episode.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Session folder: its `experts/<task>/` is tried before the shipped
    /// expert, recordings go to its `data/` (default `sessions/default`).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Who acts at start (the panel can change it).
    #[arg(long, value_enum, default_value_t = DriverArg::Zero)]
    driver: DriverArg,
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
    /// Save a PNG of the window after `--frames` frames, then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Frames to run before the screenshot.
    #[arg(long, default_value_t = 60, requires = "screenshot")]
    frames: u32,
    /// What the screenshot shows.
    #[arg(long, value_enum, default_value_t = ShotArg::Window, requires = "screenshot")]
    screenshot_of: ShotArg,
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
}

/// Open the studio; returns when the window is closed or the screenshot is
/// written.
pub fn run(args: StudioArgs) -> anyhow::Result<()> {
    let video = match &args.video {
        Some(path) => Some((
            VideoFormat::of(path).map_err(anyhow::Error::msg)?,
            path.clone(),
        )),
        None => None,
    };
    check_display()?;
    let studio = Studio::new(Catalog::bundled()?, args.session.clone());
    let mut viewport = studio
        .viewport(&args.task, args.seed)
        .with_context(|| format!("cannot open task {}", args.task))?;
    let choice = match args.driver {
        DriverArg::Zero => PolicyChoice::Zero,
        DriverArg::Random => PolicyChoice::Random,
        DriverArg::Expert => PolicyChoice::Expert,
        DriverArg::Teleop => PolicyChoice::Teleop,
    };
    viewport
        .1
        .choose(choice, &viewport.0.env)
        .map_err(anyhow::Error::msg)?;
    let cam_spec = viewport.0.env.task().spec.camera.clone();

    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "dexstudio".into(),
            resolution: (1280, 720).into(),
            ..default()
        }),
        ..default()
    }))
    .insert_resource(ClearColor(Color::srgb(0.62, 0.68, 0.76)))
    .insert_resource(studio)
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
    ));
    app.world_mut().spawn((viewport, Recorder::default()));
    if args.record {
        app.world_mut()
            .resource_mut::<RecordCmds>()
            .0
            .push(RecordCmd::Start);
    }
    if let Some((format, path)) = video {
        let source = match args.video_source {
            VideoArg::View => VideoSource::View,
            VideoArg::Eye => VideoSource::Eye,
        };
        app.world_mut()
            .resource_mut::<CaptureCmds>()
            .0
            .push(CaptureCmd::StartVideo(source, format, Some(path)));
    }

    // Start from the policy camera's viewpoint, a little further back so the
    // whole scene fits the larger window.
    let (eye, target) = (sim_point(cam_spec.eye), sim_point(cam_spec.target));
    let mut orbit = OrbitCamera::looking_at(eye, target);
    orbit.distance *= 1.4;
    app.world_mut().spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: cam_spec.fov_deg.to_radians(),
            near: 0.005,
            ..default()
        }),
        orbit.transform(),
        orbit,
    ));

    let failure = Arc::new(Mutex::new(None));
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
    Ok(())
}

/// Winit needs a display server; without one say what to run instead
/// rather than failing deep inside the windowing backend.
fn check_display() -> anyhow::Result<()> {
    let has = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if cfg!(target_os = "linux") && !has("DISPLAY") && !has("WAYLAND_DISPLAY") {
        let args: Vec<String> = std::env::args().skip(1).collect();
        bail!(
            "no display found; run `xvfb-run -a -s \"-screen 0 1280x720x24\" env WGPU_BACKEND=vulkan \
             dexstudio {}` or use the CLI (`dexstudio --help`)",
            args.join(" ")
        );
    }
    Ok(())
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
