//! Capture: screenshots of the window (F12), of the 3D view and of the
//! policy's observation; videos of the 3D view or of the observation with
//! one frame per 1/25 s of simulated time, whatever the render speed.
//!
//! The simulator renders the observation at every step, so its video is
//! sampled on the fixed tick. The 3D view exists only once the GPU has drawn
//! it, so its video runs in lockstep: the fixed clock is paused, and each
//! video frame steps the simulation by one frame time, asks for a screenshot
//! and waits for it. A slow renderer slows the simulation down rather than
//! dropping frames. Files go to `<session>/captures/` unless a save dialog
//! picks another path; PNG and video encoding run on threads of their own.

use std::path::{Path, PathBuf};

use bevy::app::FixedMain;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Capturing, Screenshot, ScreenshotCaptured};
use bevy_egui::input::EguiWantsInput;
use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
use dexsim::render::Image as Rgb;

use crate::encode::{VideoFormat, VideoWriter, upscale, write_png};
use crate::orbit_camera::OrbitCamera;
use crate::scene_view::SceneViewSet;
use crate::sim_step::{SimStepSet, Viewport};
use crate::studio::Studio;

/// Video frames per second; each frame is `1 / VIDEO_FPS` s of sim time.
pub const VIDEO_FPS: u32 = 25;
/// Observation frames are enlarged this much in videos (64 px to 256 px).
pub const EYE_SCALE: usize = 4;
/// App frames to wait for a screenshot before asking again.
const PATIENCE: u32 = 30;
/// App frames before a 3D-view video's first shot, so the panels have laid
/// out and the view's size (the video's size) is final.
const SETTLE: u32 = 3;

/// What a screenshot shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shot {
    /// The whole window, panels included.
    Window,
    /// The 3D view between the panels.
    View,
    /// The policy's camera image, at its own resolution.
    Eye,
}

/// What a video shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoSource {
    /// The 3D view (lockstep with the renderer).
    View,
    /// The policy's camera image, enlarged [`EYE_SCALE`] times.
    Eye,
}

/// What the capture panel and keys ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum CaptureCmd {
    /// Save a PNG; `None` picks a new file in the session's captures.
    Screenshot(Shot, Option<PathBuf>),
    /// Start a video; `None` picks a new file in the session's captures.
    StartVideo(VideoSource, VideoFormat, Option<PathBuf>),
    /// Stop the video; it is completed in the background.
    StopVideo,
    /// Ask where to save with a dialog, then run the command with that path.
    SaveAs(Box<CaptureCmd>),
}

impl CaptureCmd {
    fn with_path(self, path: PathBuf) -> Self {
        match self {
            Self::Screenshot(s, _) => Self::Screenshot(s, Some(path)),
            Self::StartVideo(s, f, _) => Self::StartVideo(s, f, Some(path)),
            other => other,
        }
    }
}

/// Capture commands pushed this frame.
#[derive(Resource, Default)]
pub struct CaptureCmds(pub Vec<CaptureCmd>);

/// Where a file went, or why it did not.
type Saved = Result<PathBuf, String>;

/// The video being recorded.
struct Video {
    writer: VideoWriter,
    source: VideoSource,
    /// Sim time of the viewport's state, from the start (s).
    sim_t: f64,
    /// Sim time of the next frame (s).
    next_t: f64,
    /// Control steps owed to the next frame (3D view).
    owed: f64,
    phase: Phase,
    /// The fixed clock was paused for the lockstep and is resumed after.
    resume_clock: bool,
}

/// Where the 3D view's lockstep is.
enum Phase {
    /// Let the layout settle for this many more frames.
    Settle(u32),
    /// Ask for a screenshot of the current state.
    Shoot,
    /// Waiting for it, for this many frames.
    Wait(Receiver<Rgb>, u32),
    /// Step the simulation by one frame time (once it is playing).
    Advance,
}

/// Capture state: the video in progress, files being written, and the
/// last outcome for the panel.
#[derive(Resource)]
pub struct Capture {
    video: Option<Video>,
    /// Videos still encoding after their stop.
    finishing: Vec<VideoWriter>,
    dialogs: Vec<Receiver<Option<CaptureCmd>>>,
    saved: (Sender<Saved>, Receiver<Saved>),
    /// Screenshots being written.
    pub pending: usize,
    /// The last file saved, or the last error.
    pub message: Option<Result<PathBuf, String>>,
    /// Frames after which a video started from now on takes no more
    /// (`--video-frames`); it still needs a stop to be completed.
    pub video_limit: Option<usize>,
    serial: u32,
}

impl Default for Capture {
    fn default() -> Self {
        Self {
            video: None,
            finishing: Vec::new(),
            dialogs: Vec::new(),
            saved: unbounded(),
            pending: 0,
            message: None,
            video_limit: None,
            serial: 0,
        }
    }
}

impl Capture {
    /// The video in progress: what it shows, frames so far, its file.
    pub fn video(&self) -> Option<(VideoSource, usize, &Path)> {
        self.video
            .as_ref()
            .map(|v| (v.source, v.writer.sent, v.writer.path()))
    }

    /// Videos still being encoded.
    pub fn encoding(&self) -> usize {
        self.finishing.len()
    }

    /// A new file in `<session>/captures/` for `kind` of `task`.
    fn default_path(&mut self, studio: &Studio, kind: &str, task: &str, ext: &str) -> PathBuf {
        self.serial += 1;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        studio
            .session_dir()
            .join("captures")
            .join(format!("{kind}-{task}-{secs}-{}.{ext}", self.serial))
    }
}

/// Screenshots, videos and their keys.
pub struct CapturePlugin;

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CaptureCmds>()
            .init_resource::<Capture>()
            .add_systems(FixedUpdate, eye_frames.before(SimStepSet::Step))
            .add_systems(
                Update,
                (capture_keys, apply_cmds, poll, lockstep)
                    .chain()
                    .before(SceneViewSet::Sync),
            );
    }
}

/// F12 saves the window, unless egui wants the keyboard.
fn capture_keys(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    egui: Option<Res<EguiWantsInput>>,
    mut cmds: ResMut<CaptureCmds>,
) {
    let wanted = egui.is_some_and(|e| e.wants_any_keyboard_input());
    if !wanted && keys.is_some_and(|k| k.just_pressed(KeyCode::F12)) {
        cmds.0.push(CaptureCmd::Screenshot(Shot::Window, None));
    }
}

/// The physical rectangle of the 3D view, if it does not fill the window.
type Crop = Option<(UVec2, UVec2)>;

/// With viewports side by side, the rectangle around all of them.
fn view_crop(cameras: &Query<&Camera, With<OrbitCamera>>) -> Crop {
    cameras
        .iter()
        .filter_map(|c| c.viewport.as_ref())
        .map(|v| (v.physical_position, v.physical_position + v.physical_size))
        .reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1)))
        .map(|(min, max)| (min, max - min))
}

/// A screenshot as RGB, cut to `crop`.
fn screenshot_rgb(image: &Image, crop: Crop) -> Result<Rgb, String> {
    let rgb = image
        .clone()
        .try_into_dynamic()
        .map_err(|e| format!("screenshot in an unsupported format: {e}"))?
        .to_rgb8();
    let full = Rgb {
        width: rgb.width() as usize,
        height: rgb.height() as usize,
        rgb: rgb.into_raw(),
    };
    Ok(match crop {
        Some((pos, size)) => cut(
            &full,
            pos.x as usize,
            pos.y as usize,
            size.x as usize,
            size.y as usize,
        ),
        None => full,
    })
}

/// The `w` x `h` rectangle at (`x`, `y`), clamped to the image.
pub fn cut(img: &Rgb, x: usize, y: usize, w: usize, h: usize) -> Rgb {
    let (x, y) = (x.min(img.width), y.min(img.height));
    let (w, h) = (w.min(img.width - x), h.min(img.height - y));
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in y..y + h {
        rgb.extend_from_slice(&img.rgb[(row * img.width + x) * 3..][..w * 3]);
    }
    Rgb {
        width: w,
        height: h,
        rgb,
    }
}

/// The observer of a screenshot entity: `deliver` receives the image as
/// RGB, cut to `crop`.
fn on_shot(
    crop: Crop,
    deliver: impl Fn(Result<Rgb, String>) + Send + Sync + 'static,
) -> impl Fn(On<ScreenshotCaptured>) + Send + Sync + 'static {
    move |shot: On<ScreenshotCaptured>| deliver(screenshot_rgb(&shot.image, crop))
}

fn save_in_background(img: Rgb, path: PathBuf, done: Sender<Result<PathBuf, String>>) {
    std::thread::spawn(move || {
        let _ = done.send(write_png(&path, &img).map(|()| path));
    });
}

fn apply_cmds(
    mut cmds: ResMut<CaptureCmds>,
    mut cap: ResMut<Capture>,
    studio: Res<Studio>,
    viewports: Query<&Viewport>,
    cameras: Query<&Camera, With<OrbitCamera>>,
    mut time: ResMut<Time<Virtual>>,
    mut commands: Commands,
) {
    let Some(vp) = viewports.iter().next() else {
        return;
    };
    let task = vp.env.task().spec.name.clone();
    for cmd in std::mem::take(&mut cmds.0) {
        match cmd {
            CaptureCmd::Screenshot(shot, path) => {
                let kind = match shot {
                    Shot::Window => "window",
                    Shot::View => "view",
                    Shot::Eye => "eye",
                };
                let path = path.unwrap_or_else(|| cap.default_path(&studio, kind, &task, "png"));
                let done = cap.saved.0.clone();
                cap.pending += 1;
                match shot {
                    Shot::Eye => save_in_background(vp.obs.image.clone(), path, done),
                    Shot::Window | Shot::View => {
                        let crop = if shot == Shot::View {
                            view_crop(&cameras)
                        } else {
                            None
                        };
                        let deliver = move |img| match img {
                            Ok(img) => save_in_background(img, path.clone(), done.clone()),
                            Err(e) => {
                                let _ = done.send(Err(e));
                            }
                        };
                        commands
                            .spawn(Screenshot::primary_window())
                            .observe(on_shot(crop, deliver));
                    }
                }
            }
            CaptureCmd::StartVideo(source, format, path) => {
                if cap.video.is_some() {
                    cap.message = Some(Err("a video is already recording".into()));
                    continue;
                }
                let kind = match source {
                    VideoSource::View => "view",
                    VideoSource::Eye => "eye",
                };
                let path = path
                    .unwrap_or_else(|| cap.default_path(&studio, kind, &task, format.extension()));
                let mut writer = match VideoWriter::start(path, VIDEO_FPS) {
                    Ok(w) => w,
                    Err(e) => {
                        cap.message = Some(Err(e));
                        continue;
                    }
                };
                writer.limit = cap.video_limit;
                let resume_clock = source == VideoSource::View && !time.is_paused();
                if resume_clock {
                    time.pause();
                }
                if source == VideoSource::Eye {
                    // The frame at t = 0; the fixed tick adds the others.
                    writer.push(upscale(&vp.obs.image, EYE_SCALE));
                }
                cap.video = Some(Video {
                    writer,
                    source,
                    sim_t: 0.0,
                    next_t: 1.0 / f64::from(VIDEO_FPS),
                    owed: 0.0,
                    phase: Phase::Settle(SETTLE),
                    resume_clock,
                });
            }
            CaptureCmd::StopVideo => {
                if let Some(mut v) = cap.video.take() {
                    if v.resume_clock {
                        time.unpause();
                    }
                    v.writer.finish();
                    cap.finishing.push(v.writer);
                }
            }
            CaptureCmd::SaveAs(inner) => {
                let default = match &*inner {
                    CaptureCmd::Screenshot(..) => {
                        cap.default_path(&studio, "capture", &task, "png")
                    }
                    CaptureCmd::StartVideo(_, f, _) => {
                        cap.default_path(&studio, "video", &task, f.extension())
                    }
                    _ => continue,
                };
                cap.dialogs.push(ask_path(*inner, default));
            }
        }
    }
}

/// A save dialog on a thread of its own (it blocks until answered); the
/// command comes back with the chosen path, or `None` if cancelled.
fn ask_path(cmd: CaptureCmd, default: PathBuf) -> Receiver<Option<CaptureCmd>> {
    let (tx, rx) = unbounded();
    std::thread::spawn(move || {
        let ext = default
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut dialog = rfd::FileDialog::new().add_filter(ext.to_uppercase(), &[&ext]);
        if let Some(dir) = default.parent() {
            let _ = std::fs::create_dir_all(dir);
            dialog = dialog.set_directory(dir);
        }
        if let Some(name) = default.file_name() {
            dialog = dialog.set_file_name(name.to_string_lossy());
        }
        let _ = tx.send(dialog.save_file().map(|p| cmd.with_path(p)));
    });
    rx
}

fn poll(mut cap: ResMut<Capture>, mut cmds: ResMut<CaptureCmds>) {
    let cap = &mut *cap;
    for answer in crate::jobs::drain_finished(&mut cap.dialogs) {
        cmds.0.extend(answer);
    }
    for r in cap.saved.1.try_iter() {
        cap.pending = cap.pending.saturating_sub(1);
        log_outcome(&r);
        cap.message = Some(r);
    }
    let mut still = Vec::new();
    for w in cap.finishing.drain(..) {
        match w.poll() {
            Some(r) => {
                log_outcome(&r);
                cap.message = Some(r);
            }
            None => still.push(w),
        }
    }
    cap.finishing = still;
}

fn log_outcome(r: &Result<PathBuf, String>) {
    match r {
        Ok(p) => info!("capture saved to {}", p.display()),
        Err(e) => error!("capture failed: {e}"),
    }
}

/// Frames of an observation video: the state before each step, whenever
/// it reaches the next frame time.
fn eye_frames(mut cap: ResMut<Capture>, viewports: Query<&Viewport>) {
    let Some(v) = cap.video.as_mut().filter(|v| v.source == VideoSource::Eye) else {
        return;
    };
    let Some(vp) = viewports.iter().find(|vp| vp.wants_step()) else {
        return;
    };
    if v.sim_t + 1e-9 >= v.next_t {
        v.writer.push(upscale(&vp.obs.image, EYE_SCALE));
        v.next_t += 1.0 / f64::from(VIDEO_FPS);
    }
    v.sim_t += 1.0 / vp.env.task().spec.control_hz;
}

/// Control steps to take for the next video frame, and what stays owed:
/// `owed` plus one frame's worth, rounded down.
pub fn steps_due(owed: f64, control_hz: f64, fps: u32) -> (usize, f64) {
    let total = owed + control_hz / f64::from(fps.max(1));
    let n = (total + 1e-9).floor().max(0.0);
    (n as usize, (total - n).max(0.0))
}

/// The 3D view's lockstep: shoot, wait for the image, step one frame time.
/// Exclusive, to run the fixed schedule itself; [`Capture`] is only
/// borrowed between those runs, since systems on the fixed tick read it.
fn lockstep(world: &mut World) {
    let playing_hz = world
        .query::<&Viewport>()
        .iter(world)
        .find(|vp| vp.playing)
        .map(|vp| vp.env.task().spec.control_hz);
    let steps = {
        let mut cap = world.resource_mut::<Capture>();
        let Some(v) = cap.video.as_mut().filter(|v| v.source == VideoSource::View) else {
            return;
        };
        if let Phase::Settle(n) = &mut v.phase {
            if *n > 0 {
                *n -= 1;
                return;
            }
            v.phase = Phase::Shoot;
        }
        if let Phase::Wait(rx, waited) = &mut v.phase {
            let got = match rx.try_recv() {
                Ok(img) => Some(img),
                Err(TryRecvError::Empty) if *waited < PATIENCE => {
                    *waited += 1;
                    return;
                }
                // Lost (or an unreadable image): shoot again.
                Err(_) => None,
            };
            v.phase = match got {
                Some(img) => {
                    v.writer.push(img);
                    Phase::Advance
                }
                None => Phase::Shoot,
            };
        }
        if matches!(v.phase, Phase::Shoot) {
            0
        } else if let Some(hz) = playing_hz {
            let (n, owed) = steps_due(v.owed, hz, VIDEO_FPS);
            v.owed = owed;
            v.phase = Phase::Shoot;
            n
        } else {
            // Paused: no sim time passes, so no frame is due.
            return;
        }
    };
    for _ in 0..steps {
        world.run_schedule(FixedMain);
    }
    // Bevy drops the second of two screenshots of a window asked for in
    // the same frame: let another one (F12, the panel) go first.
    let queued = world
        .query_filtered::<(), (With<Screenshot>, Without<Capturing>)>()
        .iter(world)
        .next()
        .is_some();
    if queued {
        if let Some(v) = world.resource_mut::<Capture>().video.as_mut() {
            v.phase = Phase::Shoot;
        }
        return;
    }
    let crop = world
        .query_filtered::<&Camera, With<OrbitCamera>>()
        .iter(world)
        .next()
        .and_then(|c| c.viewport.as_ref())
        .map(|v| (v.physical_position, v.physical_size));
    let (tx, rx) = unbounded();
    let deliver = move |img: Result<Rgb, String>| {
        if let Ok(img) = img {
            let _ = tx.send(img);
        }
    };
    world
        .spawn(Screenshot::primary_window())
        .observe(on_shot(crop, deliver));
    if let Some(v) = world.resource_mut::<Capture>().video.as_mut() {
        v.phase = Phase::Wait(rx, 0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bevy::prelude::*;
    use bevy::time::TimeUpdateStrategy;
    use dexsim::Catalog;

    use super::{
        Capture, CaptureCmd, CaptureCmds, CapturePlugin, Shot, VideoSource, cut, steps_due,
    };
    use crate::encode::VideoFormat;
    use crate::sim_step::Viewport;
    use crate::studio::Studio;
    use crate::testing::{headless_app, viewport};

    fn app(session: &std::path::Path, update_ms: u64) -> (App, Entity) {
        let mut app = headless_app();
        app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            update_ms,
        )));
        app.insert_resource(Studio::new(
            Catalog::bundled().expect("catalog"),
            Some(session.to_path_buf()),
        ))
        .add_plugins(CapturePlugin);
        let id = app.world_mut().spawn(viewport("reach-easy")).id();
        (app, id)
    }

    fn session(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dexstudio-capture-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Update until the capture reports an outcome.
    fn outcome(app: &mut App) -> std::path::PathBuf {
        let start = Instant::now();
        loop {
            app.update();
            let cap = app.world().resource::<Capture>();
            if let Some(r) = cap.message.clone() {
                return r.expect("saved");
            }
            assert!(start.elapsed() < Duration::from_secs(60), "nothing saved");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn gif_frames(path: &std::path::Path) -> usize {
        let file = std::fs::File::open(path).expect("gif file");
        let mut dec = gif::DecodeOptions::new().read_info(file).expect("gif");
        let mut n = 0;
        while dec.read_next_frame().expect("frame").is_some() {
            n += 1;
        }
        n
    }

    #[test]
    fn observation_screenshot_lands_in_the_session() {
        let dir = session("eye");
        let (mut app, _) = app(&dir, 40);
        app.world_mut()
            .resource_mut::<CaptureCmds>()
            .0
            .push(CaptureCmd::Screenshot(Shot::Eye, None));
        let path = outcome(&mut app);
        assert!(path.starts_with(dir.join("captures")), "{}", path.display());
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("png"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Frames of an observation GIF recorded over 10 control steps, with
    /// the app updating every `update_ms`.
    fn eye_video_frames(update_ms: u64) -> usize {
        let dir = session(&format!("video-{update_ms}"));
        let (mut app, id) = app(&dir, update_ms);
        let path = dir.join("eye.gif");
        app.update();
        app.world_mut()
            .resource_mut::<CaptureCmds>()
            .0
            .push(CaptureCmd::StartVideo(
                VideoSource::Eye,
                VideoFormat::Gif,
                Some(path.clone()),
            ));
        app.update();
        let start = app.world().get::<Viewport>(id).expect("vp").step;
        while app.world().get::<Viewport>(id).expect("vp").step < start + 10 {
            app.update();
        }
        app.world_mut().get_mut::<Viewport>(id).expect("vp").playing = false;
        let stepped = app.world().get::<Viewport>(id).expect("vp").step - start;
        app.world_mut()
            .resource_mut::<CaptureCmds>()
            .0
            .push(CaptureCmd::StopVideo);
        assert_eq!(outcome(&mut app), path);
        let n = gif_frames(&path);
        let _ = std::fs::remove_dir_all(&dir);
        // One frame per control step at 25 Hz, plus the start.
        assert!(
            n == stepped || n == stepped + 1,
            "{n} frames for {stepped} steps"
        );
        n - stepped
    }

    #[test]
    fn observation_video_has_one_frame_per_frame_time_at_any_render_speed() {
        // 40 ms per update is one tick each; 120 ms is three ticks each.
        assert_eq!(eye_video_frames(40), eye_video_frames(120));
    }

    #[test]
    fn lockstep_steps_one_frame_time_per_frame() {
        // 25 Hz control at 25 fps: one step a frame.
        assert_eq!(steps_due(0.0, 25.0, 25), (1, 0.0));
        // 60 Hz at 25 fps: 2.4 steps a frame, the remainder carried.
        let (mut owed, mut total) = (0.0, 0);
        for _ in 0..5 {
            let (n, o) = steps_due(owed, 60.0, 25);
            assert!(n == 2 || n == 3);
            owed = o;
            total += n;
        }
        assert_eq!(total, 12, "5 frames of 1/25 s are 12 steps of 1/60 s");
    }

    #[test]
    fn cut_clamps_to_the_image() {
        let img = dexsim::render::Image {
            width: 4,
            height: 3,
            rgb: (0..36).collect(),
        };
        let c = cut(&img, 1, 1, 10, 10);
        assert_eq!((c.width, c.height), (3, 2));
        assert_eq!(&c.rgb[..3], &[15, 16, 17]);
        assert_eq!(cut(&img, 9, 9, 2, 2).rgb.len(), 0);
    }
}
