//! `dexstudio studio`: the desktop studio window, and screenshots of it for
//! checks without a person at the screen.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use dexsim::Catalog;
use dexstudio_plugins::driver::PolicyChoice;
use dexstudio_plugins::scene_view::sim_point;
use dexstudio_plugins::{
    DriverPlugin, OrbitCamera, OrbitCameraPlugin, SceneViewPlugin, SimStepPlugin, Studio,
    StudioPlugin, StudioUiPlugin, TimelinePlugin,
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
    /// Session folder whose `experts/<task>/` is tried before the shipped
    /// expert.
    #[arg(long)]
    session: Option<PathBuf>,
    /// Who acts at start (the panel can change it).
    #[arg(long, value_enum, default_value_t = DriverArg::Zero)]
    driver: DriverArg,
    /// Save a PNG of the window after `--frames` frames, then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Frames to run before the screenshot.
    #[arg(long, default_value_t = 60, requires = "screenshot")]
    frames: u32,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DriverArg {
    Zero,
    Random,
    Expert,
}

/// Open the studio; returns when the window is closed or the screenshot is
/// written.
pub fn run(args: StudioArgs) -> anyhow::Result<()> {
    check_display()?;
    let studio = Studio::new(Catalog::bundled()?, args.session.clone());
    let mut viewport = studio
        .viewport(&args.task, args.seed)
        .with_context(|| format!("cannot open task {}", args.task))?;
    let choice = match args.driver {
        DriverArg::Zero => PolicyChoice::Zero,
        DriverArg::Random => PolicyChoice::Random,
        DriverArg::Expert => PolicyChoice::Expert,
    };
    viewport
        .1
        .choose(choice, args.seed)
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
        TimelinePlugin,
        StudioPlugin,
        SceneViewPlugin,
        OrbitCameraPlugin,
        StudioUiPlugin,
    ));
    app.world_mut().spawn(viewport);

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
        app.insert_resource(ShotPlan {
            path,
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
    frames: u32,
    seen: u32,
    failure: Arc<Mutex<Option<String>>>,
}

fn shoot(mut plan: ResMut<ShotPlan>, mut commands: Commands, mut exit: MessageWriter<AppExit>) {
    plan.seen += 1;
    if plan.seen == plan.frames {
        let (path, failure) = (plan.path.clone(), plan.failure.clone());
        commands.spawn(Screenshot::primary_window()).observe(
            move |shot: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
                if let (Err(e), Ok(mut f)) = (save(&path, &shot.image), failure.lock()) {
                    *f = Some(format!("{e:#}"));
                }
                exit.write(AppExit::Success);
            },
        );
    } else if plan.seen == plan.frames + SCREENSHOT_PATIENCE {
        if let Ok(mut f) = plan.failure.lock() {
            *f = Some(format!(
                "no screenshot after {SCREENSHOT_PATIENCE} more frames: the renderer never \
                 delivered one"
            ));
        }
        exit.write(AppExit::error());
    }
}

fn save(path: &std::path::Path, image: &Image) -> anyhow::Result<()> {
    let rgb = image
        .clone()
        .try_into_dynamic()
        .context("screenshot in an unsupported texture format")?
        .to_rgb8();
    let frame = dexsim::render::Image {
        width: rgb.width() as usize,
        height: rgb.height() as usize,
        rgb: rgb.into_raw(),
    };
    crate::frames::write(path, &[frame], 1, 1)
        .with_context(|| format!("cannot write the screenshot to {}", path.display()))?;
    println!("screenshot written to {}", path.display());
    Ok(())
}
