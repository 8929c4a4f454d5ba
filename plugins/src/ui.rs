//! The studio's egui layout: the task browser on the left; HUD, controls
//! and the policy's eye on the right; the 3D view in the space between.
//!
//! egui draws through a camera of its own on top of the scene camera, so
//! the scene camera can render into the free middle only and the scene
//! stays centred there rather than hidden under the panels. With two
//! viewports the middle is split in columns, one per pane, each with a
//! small HUD; the right-hand panels control the focused viewport.

use bevy::camera::visibility::RenderLayers;
use bevy::camera::{CameraOutputMode, Viewport as CameraViewport};
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::window::PrimaryWindow;
use bevy_egui::{
    EguiContexts, EguiGlobalSettings, EguiPlugin, EguiPrimaryContextPass, PrimaryEguiContext, egui,
};

use crate::capture::{Capture, CaptureCmds};
use crate::driver::Driver;
use crate::driver::Policy;
use crate::driver::PolicyChoice;
use crate::orbit_camera::OrbitCamera;
use crate::overlay::Overlay;
use crate::panels::capture::{CaptureView, capture};
use crate::panels::controls::{ControlsView, controls};
use crate::panels::hud::{HudView, hud, pane_hud};
use crate::panels::policy_eye::{PolicyEyeView, color_image, policy_eye};
use crate::panels::record::{RecordView, record};
use crate::panels::replay::{ReplayPicker, ReplayStatus};
use crate::panels::session::session;
use crate::panels::students::{StudentsView, students};
use crate::panels::tasks::{TaskBrowserView, task_browser};
use crate::panels::teleop::{TeleopView, teleop};
use crate::panels::viewports::{ViewportsView, overlay_toggles, viewport_bar};
use crate::recorder::{EpisodeSink, RecordCmds, Recorder};
use crate::session::{ActiveSession, SessionCmds};
use crate::sim_step::Viewport;
use crate::student::{StudentCmds, Students};
use crate::studio::{Studio, StudioCmds};
use crate::timeline::Timeline;
use crate::viewports::{Focus, MAX_VIEWPORTS, Pane};

/// Draws the panels each frame and queues what they ask for in
/// [`StudioCmds`].
pub struct StudioUiPlugin;

impl Plugin for StudioUiPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            app.add_plugins(EguiPlugin::default());
        }
        // The UI camera is ours (see the module docs), not the first one.
        app.world_mut()
            .resource_mut::<EguiGlobalSettings>()
            .auto_create_primary_context = false;
        app.init_resource::<ReplayPicker>()
            .add_systems(Startup, spawn_ui_camera)
            .add_systems(EguiPrimaryContextPass, draw);
    }
}

fn spawn_ui_camera(mut commands: Commands) {
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
}

/// Textures of the policy's images, refreshed when the focused viewport
/// or its state changes.
#[derive(Default)]
struct EyeTextures {
    revision: Option<(Entity, u64)>,
    obs: Option<egui::TextureHandle>,
    goal: Option<egui::TextureHandle>,
    recorded: Option<egui::TextureHandle>,
}

impl EyeTextures {
    fn update(&mut self, ctx: &egui::Context, id: Entity, vp: &Viewport, driver: &Driver) {
        if self.revision == Some((id, vp.revision)) {
            return;
        }
        self.revision = Some((id, vp.revision));
        let (o, g) = (&vp.obs.image, &vp.obs.goal_image);
        // The stored image of the step the live one shows, during a replay.
        let stored = match &driver.policy {
            Policy::Replay(r) => r.image(vp.step).map(|rgb| (r.image_size(), rgb)),
            _ => None,
        };
        let images = [
            (&mut self.obs, "obs", Some((o.width, o.height, &o.rgb[..]))),
            (
                &mut self.goal,
                "goal",
                Some((g.width, g.height, &g.rgb[..])),
            ),
            (
                &mut self.recorded,
                "recorded",
                stored.map(|(n, rgb)| (n, n, rgb)),
            ),
        ];
        for (slot, name, img) in images {
            let Some(image) = img.and_then(|(w, h, rgb)| color_image(w, h, rgb)) else {
                *slot = None;
                continue;
            };
            let nearest = egui::TextureOptions::NEAREST;
            match slot {
                // In place: bevy_egui turns a whole-texture `set` into a new
                // asset that is not on the GPU until the next frame, so an
                // image replaced every frame would never be drawn.
                Some(tex) if tex.size() == image.size => tex.set_partial([0, 0], image, nearest),
                _ => *slot = Some(ctx.load_texture(name, image, nearest)),
            }
        }
    }

    fn view(&self, pixels: usize) -> PolicyEyeView {
        PolicyEyeView {
            obs: self.obs.as_ref().map(egui::TextureHandle::id),
            goal: self.goal.as_ref().map(egui::TextureHandle::id),
            recorded: self.recorded.as_ref().map(egui::TextureHandle::id),
            pixels,
        }
    }
}

type ViewportView<'a> = (
    Entity,
    &'a Viewport,
    &'a Driver,
    &'a Timeline,
    Option<&'a Recorder>,
    Option<&'a Pane>,
);

/// What the split screen adds to the layout: the focus, the overlay
/// toggles, the replay and student pickers and one camera per pane.
#[derive(SystemParam)]
struct SplitUi<'w, 's> {
    focus: Res<'w, Focus>,
    overlay: Option<ResMut<'w, Overlay>>,
    picker: ResMut<'w, ReplayPicker>,
    students: Option<ResMut<'w, Students>>,
    student_cmds: Option<ResMut<'w, StudentCmds>>,
    cameras: Query<'w, 's, (&'static mut Camera, Option<&'static Pane>), With<OrbitCamera>>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "a Bevy system: one parameter per resource"
)]
fn draw(
    mut contexts: EguiContexts,
    studio: Res<Studio>,
    viewports: Query<ViewportView>,
    mut cmds: ResMut<StudioCmds>,
    mut record_cmds: Option<ResMut<RecordCmds>>,
    sink: Option<Res<EpisodeSink>>,
    mut capture_cmds: Option<ResMut<CaptureCmds>>,
    capture_state: Option<Res<Capture>>,
    active_session: Option<Res<ActiveSession>>,
    mut session_cmds: Option<ResMut<SessionCmds>>,
    mut eye: Local<EyeTextures>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut split: SplitUi,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "studio".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let mut panes: Vec<(Entity, Pane)> = viewports
        .iter()
        .map(|(e, .., p)| (e, p.copied().unwrap_or_default()))
        .collect();
    panes.sort_by_key(|(_, p)| *p);
    let focused = split.focus.target(panes.iter().copied());
    let Some((id, vp, driver, tl, recorder, _)) = focused.and_then(|e| viewports.get(e).ok())
    else {
        return Ok(());
    };
    eye.update(&ctx, id, vp, driver);
    split.picker.refresh(&studio.data_dir());
    if let Some(st) = split.students.as_deref_mut() {
        st.refresh(&studio.session_dir());
    }
    let bar = ViewportsView {
        panes: panes
            .iter()
            .filter_map(|(e, p)| viewports.get(*e).ok().map(|v| (*e, pane_title(*p, v.2))))
            .collect(),
        focused,
        can_add: panes.len() < MAX_VIEWPORTS,
    };
    let task = &vp.env.task().spec.name;
    let mut out = Vec::new();
    let mut rec_out = Vec::new();
    let mut cap_out = Vec::new();
    let mut ses_out = Vec::new();
    let mut stu_out = Vec::new();
    egui::Panel::left("tasks")
        .default_size(250.0)
        .show(&mut root, |ui| {
            if let Some(s) = active_session.as_deref() {
                session(ui, &s.view(), &mut ses_out);
                ui.separator();
            }
            if let Some(msg) = &studio.message {
                ui.colored_label(egui::Color32::from_rgb(230, 90, 70), msg);
            }
            if let Some(v) = TaskBrowserView::new(&studio.catalog, task, vp.env.seed()) {
                task_browser(ui, &v, &mut out);
            }
        });
    egui::Panel::right("viewport")
        .default_size(360.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                viewport_bar(ui, &bar, &mut out);
                if let Some(o) = split.overlay.as_deref_mut() {
                    overlay_toggles(ui, o);
                }
                ui.separator();
                hud(ui, &hud_view(vp, driver, tl));
                ui.separator();
                controls(ui, &controls_view(vp, driver, tl, studio.speed), &mut out);
                ui.separator();
                if let Some(st) = split.students.as_deref_mut() {
                    let v = StudentsView {
                        found: st.found.clone(),
                        loading: st.loading.clone(),
                        driving: match &driver.policy {
                            Policy::Student(s) => Some(s.ckpt.dir.clone()),
                            _ => None,
                        },
                    };
                    students(ui, &v, &mut st.typed, &mut stu_out);
                    ui.separator();
                }
                if let (Some(rec), Some(sink)) = (recorder, sink.as_deref()) {
                    record(ui, &record_view(rec, sink, &studio), &mut rec_out);
                    ui.separator();
                }
                if let Policy::Teleop(t) = &driver.policy {
                    let v = TeleopView {
                        hands: t.hand_names().iter().map(|&h| h.to_owned()).collect(),
                        active: t.active(),
                        cmd: t.cmd(),
                    };
                    teleop(ui, &v);
                    ui.separator();
                }
                if let Some(c) = capture_state.as_deref() {
                    capture(ui, &capture_view(c, &studio), &mut cap_out);
                    ui.separator();
                }
                split
                    .picker
                    .ui(ui, replay_status(vp, driver).as_ref(), &mut out);
                ui.separator();
                ui.heading("Policy's eye");
                policy_eye(ui, &eye.view(vp.obs.image.width));
            });
        });
    let free = root.available_rect_before_wrap();
    cmds.0.extend(out);
    if let Some(rc) = record_cmds.as_mut() {
        rc.0.extend(rec_out);
    }
    if let Some(cc) = capture_cmds.as_mut() {
        cc.0.extend(cap_out);
    }
    if let Some(sc) = session_cmds.as_mut() {
        sc.0.extend(ses_out);
    }
    if let Some(sc) = split.student_cmds.as_mut() {
        sc.0.extend(stu_out);
    }
    let rects = pane_rects(free, panes.len());
    let key =
        |v: &Option<CameraViewport>| v.as_ref().map(|v| (v.physical_position, v.physical_size));
    for (mut cam, pane) in &mut split.cameras {
        let k = panes
            .iter()
            .position(|(_, p)| *p == pane.copied().unwrap_or_default())
            .unwrap_or(0);
        let area = rects
            .get(k)
            .and_then(|r| physical_area(*r, ctx.pixels_per_point(), &window));
        if key(&cam.viewport) != key(&area) {
            cam.viewport = area;
        }
    }
    if panes.len() > 1 {
        for ((e, pane), rect) in panes.iter().zip(&rects) {
            let Ok((_, vp, driver, tl, ..)) = viewports.get(*e) else {
                continue;
            };
            draw_pane_hud(&ctx, *rect, &pane.name(), &hud_view(vp, driver, tl));
            if focused == Some(*e) {
                let painter = ctx.layer_painter(egui::LayerId::new(
                    egui::Order::Foreground,
                    egui::Id::new("focused-pane"),
                ));
                let stroke = egui::Stroke::new(2.0, egui::Color32::from_rgb(90, 160, 240));
                painter.rect_stroke(rect.shrink(1.0), 0.0, stroke, egui::StrokeKind::Inside);
            }
        }
    }
    Ok(())
}

/// "viewport 1 · expert".
fn pane_title(pane: Pane, driver: &Driver) -> String {
    format!("{} · {}", pane.name(), driver.policy.label())
}

/// `n` columns of `free`, left to right, two points apart.
pub fn pane_rects(free: egui::Rect, n: usize) -> Vec<egui::Rect> {
    let n = n.max(1);
    let gap = 2.0;
    let w = (free.width() - gap * (n - 1) as f32) / n as f32;
    (0..n)
        .map(|k| {
            let x = free.min.x + k as f32 * (w + gap);
            egui::Rect::from_min_max(egui::pos2(x, free.min.y), egui::pos2(x + w, free.max.y))
        })
        .collect()
}

/// The two-line HUD in the top-left corner of a pane.
fn draw_pane_hud(ctx: &egui::Context, rect: egui::Rect, title: &str, v: &HudView) {
    egui::Area::new(egui::Id::new(("pane-hud", title)))
        .fixed_pos(rect.min + egui::vec2(8.0, 8.0))
        .order(egui::Order::Foreground)
        .interactable(false)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| pane_hud(ui, title, v));
        });
}

/// The replay running in `vp`, for the Replay panel.
fn replay_status(vp: &Viewport, driver: &Driver) -> Option<ReplayStatus> {
    let Policy::Replay(r) = &driver.policy else {
        return None;
    };
    Some(ReplayStatus {
        dir: r.dir.clone(),
        episode: r.index,
        step: vp.step,
        frames: r.frames(),
        stored_reward: vp.step.checked_sub(1).and_then(|s| r.reward(s)),
    })
}

/// The free middle of the window in physical pixels; `None` (the whole
/// window) when the panels leave no room.
fn physical_area(free: egui::Rect, ppp: f32, window: &Window) -> Option<CameraViewport> {
    let size = UVec2::new(window.physical_width(), window.physical_height());
    let min = (Vec2::new(free.min.x, free.min.y) * ppp)
        .max(Vec2::ZERO)
        .as_uvec2()
        .min(size);
    let max = (Vec2::new(free.max.x, free.max.y) * ppp)
        .as_uvec2()
        .min(size);
    let extent = max.saturating_sub(min);
    (extent.x >= 16 && extent.y >= 16).then(|| CameraViewport {
        physical_position: min,
        physical_size: extent,
        ..default()
    })
}

fn hud_view(vp: &Viewport, driver: &Driver, tl: &Timeline) -> HudView {
    let env = &vp.env;
    HudView {
        task: env.task().spec.name.clone(),
        step: tl.cursor(),
        episode_steps: env.task().spec.episode_steps,
        reward: vp.reward,
        ret: env.episode_return(),
        success: vp.success,
        solved: env.is_solved(),
        driver: driver.policy.label().to_owned(),
        q: driver.q,
        note: driver.note.clone(),
        vs_expert: driver.vs_expert.clone(),
    }
}

fn capture_view(c: &Capture, studio: &Studio) -> CaptureView {
    let shown = |r: &Result<std::path::PathBuf, String>| match r {
        Ok(p) => Ok(p.display().to_string()),
        Err(e) => Err(e.clone()),
    };
    CaptureView {
        video: c.video().map(|(s, n, p)| (s, n, p.display().to_string())),
        encoding: c.encoding(),
        pending: c.pending,
        message: c.message.as_ref().map(shown),
        dir: studio.session_dir().join("captures").display().to_string(),
    }
}

fn record_view(rec: &Recorder, sink: &EpisodeSink, studio: &Studio) -> RecordView {
    RecordView {
        recording: rec.is_recording(),
        frames: rec.frames(),
        source: rec.source().map(str::to_owned),
        kept: rec.kept,
        written: sink.written,
        queued: sink.queued,
        discarded: rec.discarded,
        dir: studio.data_dir().display().to_string(),
        message: rec.message.clone(),
        error: sink.error.clone(),
    }
}

fn controls_view(vp: &Viewport, driver: &Driver, tl: &Timeline, speed: f32) -> ControlsView {
    ControlsView {
        playing: vp.playing,
        speed,
        seed: vp.env.seed(),
        policy: PolicyChoice::of(&driver.policy),
        expert: driver.expert.as_ref().map(|_| ()).map_err(Clone::clone),
        student: driver.student.as_ref().map(|s| s.name()),
        recorded: tl.range(),
        cursor: tl.cursor(),
    }
}
