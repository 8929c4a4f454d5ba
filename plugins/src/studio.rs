//! The studio's state outside any viewport (catalog, playback speed) and
//! the one place where panel commands change the world.
//!
//! Panels only push [`StudioCmd`]s; applying them here keeps every change
//! to viewports in one system that headless tests can drive. Commands act
//! on the focused viewport ([`Focus`]).

use std::path::PathBuf;

use bevy::prelude::*;
use dexsim::{Catalog, Env, EnvConfig, SimError};

use crate::driver::{Driver, Policy, PolicyChoice, load_expert};
use crate::error::PluginError;
use crate::replay::Replay;
use crate::sim_step::Viewport;
use crate::timeline::Timeline;
use crate::viewports::{Focus, MAX_VIEWPORTS, Pane};

/// Slowest and fastest playback, as multiples of the task's control rate.
pub const SPEED_RANGE: (f32, f32) = (0.1, 4.0);
/// Where recordings and captures go when no session is given (the folder
/// `dexstudio collect` writes to by default).
pub const DEFAULT_SESSION: &str = "sessions/default";

/// Studio-wide state.
#[derive(Resource)]
pub struct Studio {
    /// The tasks that can be opened.
    pub catalog: Catalog,
    /// Session folder: searched for experts before the shipped ones, and
    /// where recordings and captures go ([`DEFAULT_SESSION`] when `None`).
    pub session: Option<PathBuf>,
    /// Playback speed (multiple of real time).
    pub speed: f32,
    /// The last command that failed, for the UI.
    pub message: Option<String>,
}

impl Studio {
    /// Real-time playback over `catalog`.
    pub fn new(catalog: Catalog, session: Option<PathBuf>) -> Self {
        Self {
            catalog,
            session,
            speed: 1.0,
            message: None,
        }
    }

    /// The session folder recordings and captures go to.
    pub fn session_dir(&self) -> PathBuf {
        self.session
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SESSION))
    }

    /// The dataset recorded episodes are appended to.
    pub fn data_dir(&self) -> PathBuf {
        self.session_dir().join("data")
    }

    /// A viewport on `task` reset with `seed`, its driver (zero actions,
    /// the task's expert as critic if there is one) and an empty timeline.
    pub fn viewport(
        &self,
        task: &str,
        seed: u64,
    ) -> Result<(Viewport, Driver, Timeline), SimError> {
        let env = Env::from_catalog(&self.catalog, task, EnvConfig::default())?;
        let expert = load_expert(self.session.as_deref(), &env).map_err(|e| e.to_string());
        let mut vp = Viewport::new(env);
        vp.reset(seed);
        Ok((vp, Driver::new(expert), Timeline::default()))
    }
}

/// What panels ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum StudioCmd {
    /// Play if paused, pause if playing.
    TogglePlay,
    /// One control step, then stay paused.
    Step,
    /// A new episode with this seed.
    Reset(u64),
    /// Playback speed, clamped to [`SPEED_RANGE`].
    SetSpeed(f32),
    /// Open a task in the viewport, with this seed.
    OpenTask(String, u64),
    /// Change the driver's policy.
    SetPolicy(PolicyChoice),
    /// Go back (or forward) to a recorded step of the episode.
    Scrub(usize),
    /// Replay episode `.1` of the dataset in folder `.0` (a dataset or a
    /// session), opening its task if the viewport shows another.
    Replay(PathBuf, usize),
    /// Let the panels control this viewport.
    Focus(Entity),
    /// Open another viewport beside the others on the focused one's task
    /// and seed, and focus it.
    AddViewport,
    /// Close the focused viewport (never the last one).
    CloseViewport,
}

/// Commands pushed by panels this frame.
#[derive(Resource, Default)]
pub struct StudioCmds(pub Vec<StudioCmd>);

/// Applies [`StudioCmd`]s and keeps the fixed clock at the task's control
/// rate times the playback speed.
pub struct StudioPlugin;

impl Plugin for StudioPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<StudioCmds>()
            .init_resource::<Focus>()
            .add_systems(Update, (apply_cmds, sync_clock).chain());
    }
}

type ViewportParts<'a> = (
    Entity,
    &'a mut Viewport,
    &'a mut Driver,
    &'a mut Timeline,
    Option<&'a Pane>,
);

fn apply_cmds(
    mut commands: Commands,
    mut cmds: ResMut<StudioCmds>,
    mut studio: ResMut<Studio>,
    mut focus: ResMut<Focus>,
    mut viewports: Query<ViewportParts>,
) {
    // Panes taken, including those spawned by this batch (not yet queryable).
    let mut panes: Vec<(Entity, Pane)> = viewports
        .iter()
        .map(|(e, .., p)| (e, p.copied().unwrap_or_default()))
        .collect();
    for cmd in std::mem::take(&mut cmds.0) {
        studio.message = None;
        let target = focus.target(panes.iter().copied());
        let result = match &cmd {
            StudioCmd::SetSpeed(s) => {
                if s.is_finite() {
                    studio.speed = s.clamp(SPEED_RANGE.0, SPEED_RANGE.1);
                }
                Ok(())
            }
            StudioCmd::Focus(e) => {
                if panes.iter().any(|(p, _)| p == e) {
                    focus.0 = Some(*e);
                }
                Ok(())
            }
            StudioCmd::AddViewport => {
                let from = target.and_then(|e| viewports.get(e).ok());
                let (task, seed) = from.map_or(("reach-easy".to_owned(), 0), |(_, vp, ..)| {
                    (vp.env.task().spec.name.clone(), vp.env.seed())
                });
                add_viewport(&mut commands, &studio, &mut panes, &task, seed).map(|e| {
                    focus.0 = Some(e);
                })
            }
            StudioCmd::CloseViewport => {
                if let (Some(e), true) = (target, panes.len() > 1) {
                    commands.entity(e).despawn();
                    panes.retain(|(p, _)| *p != e);
                    focus.0 = None;
                }
                Ok(())
            }
            _ => match target.and_then(|e| viewports.get_mut(e).ok()) {
                Some((_, mut vp, mut driver, mut tl, _)) => {
                    apply(&cmd, &studio, &mut vp, &mut driver, &mut tl)
                }
                None => Ok(()),
            },
        };
        if let Err(e) = result {
            studio.message = Some(e.to_string());
        }
    }
}

/// Spawn a viewport on `task` in the leftmost free pane.
fn add_viewport(
    commands: &mut Commands,
    studio: &Studio,
    panes: &mut Vec<(Entity, Pane)>,
    task: &str,
    seed: u64,
) -> Result<Entity, PluginError> {
    let Some(free) = (0..MAX_VIEWPORTS)
        .map(Pane)
        .find(|p| panes.iter().all(|(_, q)| q != p))
    else {
        return Err(PluginError::Unavailable(format!(
            "the studio shows at most {MAX_VIEWPORTS} viewports"
        )));
    };
    let parts = studio
        .viewport(task, seed)
        .map_err(|source| PluginError::Task {
            task: task.to_owned(),
            source,
        })?;
    let id = commands.spawn((parts, free)).id();
    panes.push((id, free));
    Ok(id)
}

fn apply(
    cmd: &StudioCmd,
    studio: &Studio,
    vp: &mut Viewport,
    driver: &mut Driver,
    tl: &mut Timeline,
) -> Result<(), PluginError> {
    match cmd {
        StudioCmd::TogglePlay => vp.playing = !vp.playing,
        StudioCmd::Step => {
            vp.playing = false;
            vp.step_once = true;
        }
        StudioCmd::Reset(seed) => vp.reset(*seed),
        StudioCmd::SetSpeed(_)
        | StudioCmd::Focus(_)
        | StudioCmd::AddViewport
        | StudioCmd::CloseViewport => {}
        StudioCmd::OpenTask(task, seed) => {
            let (new_vp, new_driver, new_tl) =
                studio
                    .viewport(task, *seed)
                    .map_err(|source| PluginError::Task {
                        task: task.clone(),
                        source,
                    })?;
            let choice = PolicyChoice::of(&driver.policy);
            let student = driver.student.clone();
            (*vp, *driver, *tl) = (new_vp, new_driver, new_tl);
            // Keep the picked policy (and the loaded student) where the new
            // task allows it.
            driver.student = student;
            driver.choose(choice, &vp.env)?;
        }
        StudioCmd::SetPolicy(choice) => driver.choose(*choice, &vp.env)?,
        StudioCmd::Scrub(step) => tl.scrub(vp, *step),
        StudioCmd::Replay(dir, episode) => {
            let replay = Replay::load(dir, *episode)?;
            if vp.env.task().spec.name != replay.task {
                let task = &replay.task;
                let student = driver.student.clone();
                (*vp, *driver, *tl) =
                    studio
                        .viewport(task, replay.seed)
                        .map_err(|source| PluginError::Task {
                            task: task.clone(),
                            source,
                        })?;
                driver.student = student;
            }
            replay.check(&vp.env)?;
            vp.reset(replay.seed);
            vp.playing = true;
            driver.note = None;
            driver.policy = Policy::Replay(Box::new(replay));
        }
    }
    Ok(())
}

fn sync_clock(studio: Res<Studio>, viewports: Query<&Viewport>, mut time: ResMut<Time<Fixed>>) {
    let Some(vp) = viewports.iter().next() else {
        return;
    };
    let hz = vp.env.task().spec.control_hz * f64::from(studio.speed);
    if hz > 0.0 && (time.timestep().as_secs_f64() * hz - 1.0).abs() > 1e-6 {
        time.set_timestep_hz(hz);
    }
}

#[cfg(test)]
mod tests {
    use bevy::prelude::*;
    use dexsim::Catalog;

    use super::{Studio, StudioCmd, StudioCmds, StudioPlugin};
    use crate::driver::{Driver, Policy, PolicyChoice};
    use crate::sim_step::Viewport;
    use crate::testing::headless_app;

    fn studio_app() -> (App, Entity) {
        let mut app = headless_app();
        let studio = Studio::new(Catalog::bundled().expect("catalog"), None);
        let parts = studio.viewport("reach-easy", 3).expect("viewport");
        app.insert_resource(studio).add_plugins(StudioPlugin);
        let id = app.world_mut().spawn(parts).id();
        (app, id)
    }

    fn send(app: &mut App, cmds: impl IntoIterator<Item = StudioCmd>) {
        app.world_mut().resource_mut::<StudioCmds>().0.extend(cmds);
        app.update();
    }

    #[test]
    fn commands_pause_step_reset_and_open_tasks() {
        let (mut app, id) = studio_app();
        send(&mut app, [StudioCmd::TogglePlay, StudioCmd::Step]);
        app.update();
        let vp = app.world().get::<Viewport>(id).expect("vp");
        assert!(!vp.playing);
        assert_eq!(vp.env.snapshot().step(), 1, "one step, then paused");

        send(&mut app, [StudioCmd::Reset(42)]);
        let vp = app.world().get::<Viewport>(id).expect("vp");
        assert_eq!((vp.env.seed(), vp.env.snapshot().step()), (42, 0));

        send(&mut app, [StudioCmd::OpenTask("obj-hold-easy".into(), 5)]);
        let vp = app.world().get::<Viewport>(id).expect("vp");
        assert_eq!(vp.env.task().spec.name, "obj-hold-easy");
        assert_eq!(vp.env.seed(), 5);
    }

    #[test]
    fn bad_commands_leave_a_message() {
        let (mut app, id) = studio_app();
        send(&mut app, [StudioCmd::OpenTask("no-such-task".into(), 0)]);
        let msg = app.world().resource::<Studio>().message.clone();
        assert!(msg.is_some_and(|m| m.contains("no-such-task")));
        let vp = app.world().get::<Viewport>(id).expect("vp");
        assert_eq!(vp.env.task().spec.name, "reach-easy", "the old task stays");

        send(
            &mut app,
            [
                StudioCmd::SetSpeed(100.0),
                StudioCmd::SetPolicy(PolicyChoice::Random),
            ],
        );
        assert_eq!(app.world().resource::<Studio>().speed, 4.0);
        let d = app.world().get::<Driver>(id).expect("driver");
        assert!(matches!(d.policy, Policy::Random(_)));
    }

    #[test]
    fn clock_follows_control_rate_and_speed() {
        let (mut app, id) = studio_app();
        send(&mut app, [StudioCmd::SetSpeed(2.0)]);
        let hz = app
            .world()
            .get::<Viewport>(id)
            .expect("vp")
            .env
            .task()
            .spec
            .control_hz;
        let dt = app
            .world()
            .resource::<Time<Fixed>>()
            .timestep()
            .as_secs_f64();
        assert!((dt * hz * 2.0 - 1.0).abs() < 1e-6, "timestep {dt}");
    }
}
