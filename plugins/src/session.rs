//! Sessions in the studio: New, Open, Save, Save As, the recent list, and
//! autosave (every [`AUTOSAVE`] while there are unsaved changes, and on
//! exit). A thin adapter over `dexlearn::session`, which owns the format
//! and the atomic writes.
//!
//! Folder dialogs and Save As copies run on threads of their own, so the
//! window never waits on the desktop or the disk. Errors go to
//! `Studio::message`; nothing here panics.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use crossbeam_channel::{Receiver, unbounded};
use dexlearn::session::{Recent, Session, ViewState, absolute};

use crate::driver::{Driver, PolicyChoice};
use crate::panels::session::SessionView;
use crate::sim_step::Viewport;
use crate::studio::{Studio, StudioCmd, StudioCmds};
use crate::viewports::Pane;

/// How long unsaved changes wait before they are saved.
pub const AUTOSAVE: Duration = Duration::from_secs(30);

/// Phases of the plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionSet {
    /// Answers from dialogs and copies, then the queued commands
    /// (`PreUpdate`, so a restored task is applied in the same frame).
    Apply,
    /// Follow the studio's state into the manifest and autosave (`Last`).
    Track,
}

/// What the session panel asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionCmd {
    /// Ask for a folder, then start a session there.
    New,
    /// Ask for a session folder, then open it.
    Open,
    /// Save the manifest now.
    Save,
    /// Ask for a folder, then copy the session there and go on in it.
    SaveAs,
    /// Start a session in this folder from what the studio shows.
    NewAt(PathBuf),
    /// Open the session in this folder and restore its task, seed,
    /// driver and speed.
    OpenAt(PathBuf),
    /// Copy the session to this folder and go on in the copy.
    SaveAsAt(PathBuf),
}

/// Commands pushed by panels this frame.
#[derive(Resource, Default)]
pub struct SessionCmds(pub Vec<SessionCmd>);

/// What a background job sends back.
enum Done {
    /// A dialog's answer (`None`: cancelled).
    Asked(Option<SessionCmd>),
    /// A Save As copy.
    Copied(Result<Session, String>),
}

/// The open session and what the studio keeps about sessions.
#[derive(Resource)]
pub struct ActiveSession {
    /// The session; its manifest follows the studio's state every frame.
    pub session: Session,
    /// The manifest has changes not yet on disk.
    pub dirty: bool,
    /// Sessions opened before, newest first.
    pub recent: Recent,
    /// Where `recent` is kept (`None`: not kept).
    pub recent_file: Option<PathBuf>,
    /// Autosave period; `None` turns off autosave and the save on exit
    /// (screenshots and tests must not touch the session).
    pub autosave: Option<Duration>,
    /// What happened last, for the panel (errors go to `Studio::message`).
    pub note: Option<String>,
    since_save: Duration,
    jobs: Vec<Receiver<Done>>,
}

impl ActiveSession {
    /// `session` as the open one, with the recent list from `recent_file`
    /// (a corrupt list is replaced, and the note says so).
    pub fn new(session: Session, recent_file: Option<PathBuf>) -> Self {
        let (recent, note) = match &recent_file {
            Some(path) => Recent::load(path),
            None => (Recent::empty(), None),
        };
        if let Some(warn) = &note {
            warn!("{warn}");
        }
        let mut me = Self {
            session,
            dirty: false,
            recent,
            recent_file,
            autosave: Some(AUTOSAVE),
            note,
            since_save: Duration::ZERO,
            jobs: Vec::new(),
        };
        me.remember();
        me
    }

    /// A dialog or a copy is under way.
    pub fn busy(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// What the session panel shows.
    pub fn view(&self) -> SessionView {
        let here = absolute(&self.session.dir);
        SessionView {
            name: self.session.manifest.name.clone(),
            dir: self.session.dir.display().to_string(),
            dirty: self.dirty,
            autosave_s: self.autosave.map(|d| d.as_secs()),
            modified: self.session.manifest.modified.clone(),
            busy: self.busy(),
            recent: (self.recent.sessions.iter())
                .filter(|d| **d != here)
                .cloned()
                .collect(),
            note: self.note.clone(),
        }
    }

    /// Write the manifest now.
    pub fn save(&mut self) -> Result<(), String> {
        self.session.save().map_err(|e| e.to_string())?;
        self.dirty = false;
        self.since_save = Duration::ZERO;
        Ok(())
    }

    /// Put the open session first in the recent list and keep the list.
    fn remember(&mut self) {
        self.recent.add(&self.session.dir);
        if let Some(path) = &self.recent_file
            && let Err(e) = self.recent.save(path)
        {
            warn!("cannot keep the recent sessions: {e}");
        }
    }

    /// Make `session` the open one; the old one is saved first if it has
    /// changes, and stays open if that fails.
    fn switch(&mut self, session: Session, studio: &mut Studio) -> Result<(), String> {
        if self.dirty && self.autosave.is_some() {
            self.save()
                .map_err(|e| format!("not switching sessions: {e}"))?;
        }
        studio.session = Some(session.dir.clone());
        self.note = Some(format!("session {}", session.dir.display()));
        self.session = session;
        self.dirty = false;
        self.since_save = Duration::ZERO;
        self.remember();
        Ok(())
    }

    /// Copy the manifest fields from the studio; true if any changed.
    fn follow(&mut self, studio: &Studio, views: &[ViewState]) -> bool {
        let m = &mut self.session.manifest;
        let mut changed = m.speed != studio.speed;
        m.speed = studio.speed;
        if let Some(first) = views.first() {
            changed |= (&m.task, m.seed, &m.driver) != (&first.task, first.seed, &first.driver);
            m.task.clone_from(&first.task);
            m.seed = first.seed;
            m.driver.clone_from(&first.driver);
        }
        let layout: &[ViewState] = if views.len() > 1 { views } else { &[] };
        changed |= m.viewports != layout;
        m.viewports = layout.to_vec();
        changed
    }
}

/// The manifest's name for a driver.
pub fn driver_name(choice: PolicyChoice) -> &'static str {
    match choice {
        PolicyChoice::Zero => "zero",
        PolicyChoice::Random => "random",
        PolicyChoice::Expert => "expert",
        PolicyChoice::Teleop => "teleop",
        PolicyChoice::Replay => "replay",
        PolicyChoice::Student => "student",
    }
}

/// The driver a manifest names, if it can be restored (a replay needs its
/// episode and a student its folder, which the manifest does not keep).
pub fn parse_driver(name: &str) -> Option<PolicyChoice> {
    [
        PolicyChoice::Zero,
        PolicyChoice::Random,
        PolicyChoice::Expert,
        PolicyChoice::Teleop,
    ]
    .into_iter()
    .find(|&c| driver_name(c) == name)
}

/// New / Open / Save / Save As, the recent list and autosave. Needs an
/// [`ActiveSession`] resource (`dexstudio studio` opens one from
/// `--session`); without one the plugin does nothing.
pub struct SessionPlugin;

impl Plugin for SessionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SessionCmds>()
            .init_resource::<StudioCmds>()
            .add_systems(PreUpdate, (poll, apply).chain().in_set(SessionSet::Apply))
            .add_systems(Last, (track, title).chain().in_set(SessionSet::Track));
    }
}

type ViewportParts<'a> = (Entity, &'a Viewport, &'a Driver, Option<&'a Pane>);

/// The studio's state, one entry per viewport, left to right.
fn views(viewports: &Query<ViewportParts>) -> Vec<ViewState> {
    let mut all: Vec<_> = viewports.iter().collect();
    all.sort_by_key(|(e, _, _, pane)| (pane.map(|p| p.0), *e));
    all.into_iter()
        .map(|(_, vp, d, _)| ViewState {
            task: vp.env.task().spec.name.clone(),
            seed: vp.env.seed(),
            driver: driver_name(PolicyChoice::of(&d.policy)).into(),
        })
        .collect()
}

/// Hand the answers of finished dialogs and copies on.
fn poll(
    state: Option<ResMut<ActiveSession>>,
    mut studio: ResMut<Studio>,
    mut cmds: ResMut<SessionCmds>,
) {
    let Some(mut state) = state else { return };
    let done = crate::jobs::drain_finished(&mut state.jobs);
    for d in done {
        match d {
            Done::Asked(answer) => cmds.0.extend(answer),
            Done::Copied(Ok(session)) => {
                // The copy holds the state as it was when Save As began;
                // what changed since makes it dirty on the next track.
                let dir = session.dir.clone();
                match state.switch(session, &mut studio) {
                    Ok(()) => state.note = Some(format!("saved as {}", dir.display())),
                    Err(e) => studio.message = Some(e),
                }
            }
            Done::Copied(Err(e)) => studio.message = Some(e),
        }
    }
}

fn apply(
    state: Option<ResMut<ActiveSession>>,
    mut studio: ResMut<Studio>,
    mut cmds: ResMut<SessionCmds>,
    mut studio_cmds: ResMut<StudioCmds>,
) {
    let Some(mut state) = state else { return };
    for cmd in std::mem::take(&mut cmds.0) {
        let here = state.session.dir.clone();
        let result = match cmd {
            SessionCmd::New => ask(
                &mut state,
                "New session: pick an empty folder",
                &here,
                SessionCmd::NewAt,
            ),
            SessionCmd::Open => ask(
                &mut state,
                "Open a session folder",
                &here,
                SessionCmd::OpenAt,
            ),
            SessionCmd::SaveAs => ask(
                &mut state,
                "Save the session as: pick an empty folder",
                &here,
                SessionCmd::SaveAsAt,
            ),
            SessionCmd::Save => state.save().map(|()| {
                state.note = Some(format!("saved {}", Session::manifest_path(&here).display()));
            }),
            SessionCmd::NewAt(dir) => new_at(&mut state, &mut studio, &dir),
            SessionCmd::OpenAt(dir) => open_at(&mut state, &mut studio, &mut studio_cmds, &dir),
            SessionCmd::SaveAsAt(dir) => {
                let session = state.session.clone();
                let (tx, rx) = unbounded();
                std::thread::spawn(move || {
                    let copied = session.save_as(&dir).map_err(|e| e.to_string());
                    let _ = tx.send(Done::Copied(copied));
                });
                state.jobs.push(rx);
                Ok(())
            }
        };
        if let Err(e) = result {
            studio.message = Some(e);
        }
    }
}

/// A folder dialog on a thread of its own (it blocks until answered);
/// the answer comes back as `then(folder)`.
fn ask(
    state: &mut ActiveSession,
    title: &'static str,
    near: &Path,
    then: fn(PathBuf) -> SessionCmd,
) -> Result<(), String> {
    let start = std::path::absolute(near)
        .ok()
        .and_then(|d| d.parent().map(Path::to_path_buf));
    let (tx, rx) = unbounded();
    std::thread::spawn(move || {
        let mut dialog = rfd::FileDialog::new().set_title(title);
        if let Some(dir) = start {
            dialog = dialog.set_directory(dir);
        }
        let _ = tx.send(Done::Asked(dialog.pick_folder().map(then)));
    });
    state.jobs.push(rx);
    Ok(())
}

/// A new session in `dir` that starts from what the studio shows.
fn new_at(state: &mut ActiveSession, studio: &mut Studio, dir: &Path) -> Result<(), String> {
    let mut session = Session::create(dir).map_err(|e| e.to_string())?;
    let m = &state.session.manifest;
    (session.manifest.task, session.manifest.seed) = (m.task.clone(), m.seed);
    session.manifest.driver.clone_from(&m.driver);
    session.manifest.speed = m.speed;
    session.manifest.viewports.clone_from(&m.viewports);
    session.save().map_err(|e| e.to_string())?;
    state.switch(session, studio)?;
    state.note = Some(format!("new session {}", dir.display()));
    Ok(())
}

/// Open the session in `dir` and queue what restores its state.
fn open_at(
    state: &mut ActiveSession,
    studio: &mut Studio,
    studio_cmds: &mut StudioCmds,
    dir: &Path,
) -> Result<(), String> {
    if !Session::exists(dir) {
        return Err(format!(
            "{} is not a session (no session.json); New makes one there",
            dir.display()
        ));
    }
    let session = Session::open(dir).map_err(|e| e.to_string())?;
    let m = session.manifest.clone();
    state.switch(session, studio)?;
    studio_cmds.0.extend([
        StudioCmd::SetSpeed(m.speed),
        StudioCmd::OpenTask(m.task.clone(), m.seed),
    ]);
    match parse_driver(&m.driver) {
        Some(choice) => studio_cmds.0.push(StudioCmd::SetPolicy(choice)),
        None => {
            studio_cmds.0.push(StudioCmd::SetPolicy(PolicyChoice::Zero));
            state.note = Some(format!(
                "opened {}; driver `{}` cannot be restored, zero actions instead",
                dir.display(),
                m.driver
            ));
        }
    }
    Ok(())
}

/// Follow the studio into the manifest; save every [`AUTOSAVE`] while
/// dirty, and at exit.
fn track(
    state: Option<ResMut<ActiveSession>>,
    mut studio: ResMut<Studio>,
    viewports: Query<ViewportParts>,
    time: Res<Time<Real>>,
    mut exits: MessageReader<AppExit>,
) {
    let Some(mut state) = state else { return };
    let views = views(&viewports);
    if state.follow(&studio, &views) {
        state.dirty = true;
    }
    state.since_save += time.delta();
    let exiting = exits.read().count() > 0;
    let Some(period) = state.autosave else { return };
    if state.dirty && (exiting || state.since_save >= period) {
        if let Err(e) = state.save() {
            error!("autosave: {e}");
            studio.message = Some(format!("autosave failed: {e}"));
        }
        // A failed save waits a whole period before the next try.
        state.since_save = Duration::ZERO;
    }
}

/// The window title names the session, with `*` while unsaved.
fn title(state: Option<Res<ActiveSession>>, mut windows: Query<&mut Window, With<PrimaryWindow>>) {
    let Some(state) = state else { return };
    let m = &state.session.manifest;
    let want = format!(
        "dexstudio: {}{}",
        m.name,
        if state.dirty { " *" } else { "" }
    );
    for mut w in &mut windows {
        if w.title != want {
            w.title.clone_from(&want);
        }
    }
}

#[cfg(test)]
mod tests {
    use bevy::prelude::*;
    use dexlearn::session::{Recent, Session};
    use dexsim::Catalog;

    use super::{ActiveSession, SessionCmd, SessionCmds, SessionPlugin};
    use crate::driver::{Driver, Policy, PolicyChoice};
    use crate::sim_step::Viewport;
    use crate::studio::{Studio, StudioCmd, StudioCmds, StudioPlugin};
    use crate::testing::headless_app;

    fn temp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "dexstudio-plugins-session-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A studio on reach-easy with the session in `root/a`, the recent
    /// list in `root/recent.json` and autosave every second.
    fn app(root: &std::path::Path) -> (App, Entity) {
        let dir = root.join("a");
        let session = Session::open_or_create(&dir).expect("session");
        let studio = Studio::new(Catalog::bundled().expect("catalog"), Some(dir));
        let parts = studio.viewport("reach-easy", 3).expect("viewport");
        let mut state = ActiveSession::new(session, Some(root.join("recent.json")));
        state.autosave = Some(std::time::Duration::from_secs(1));
        let mut app = headless_app();
        app.insert_resource(studio)
            .insert_resource(state)
            .add_plugins((StudioPlugin, SessionPlugin));
        let id = app.world_mut().spawn(parts).id();
        app.update();
        (app, id)
    }

    fn send(app: &mut App, cmds: impl IntoIterator<Item = SessionCmd>) {
        app.world_mut().resource_mut::<SessionCmds>().0.extend(cmds);
        app.update();
    }

    fn studio_cmd(app: &mut App, cmd: StudioCmd) {
        app.world_mut().resource_mut::<StudioCmds>().0.push(cmd);
        app.update();
    }

    fn on_disk(dir: &std::path::Path) -> dexlearn::session::Manifest {
        Session::open(dir).expect("manifest").manifest
    }

    #[test]
    fn save_follows_the_studio_and_open_restores_it() {
        let root = temp("save-open");
        let (mut app, id) = app(&root);
        let a = root.join("a");
        studio_cmd(&mut app, StudioCmd::Reset(11));
        studio_cmd(&mut app, StudioCmd::SetSpeed(2.0));
        studio_cmd(&mut app, StudioCmd::SetPolicy(PolicyChoice::Random));
        assert!(app.world().resource::<ActiveSession>().dirty);
        send(&mut app, [SessionCmd::Save]);
        assert!(!app.world().resource::<ActiveSession>().dirty);
        let m = on_disk(&a);
        assert_eq!((m.seed, m.speed, m.driver.as_str()), (11, 2.0, "random"));

        // A second session somewhere else, then back to the first.
        let b = root.join("b");
        send(&mut app, [SessionCmd::NewAt(b.clone())]);
        assert_eq!(
            app.world().resource::<Studio>().session.as_deref(),
            Some(&*b)
        );
        studio_cmd(&mut app, StudioCmd::OpenTask("obj-hold-easy".into(), 5));
        studio_cmd(&mut app, StudioCmd::SetPolicy(PolicyChoice::Zero));
        studio_cmd(&mut app, StudioCmd::SetSpeed(0.5));
        send(&mut app, [SessionCmd::OpenAt(a.clone())]);
        assert_eq!(
            on_disk(&b).task,
            "obj-hold-easy",
            "the left session was saved"
        );
        let studio = app.world().resource::<Studio>();
        assert_eq!(studio.session.as_deref(), Some(&*a));
        assert_eq!(studio.speed, 2.0);
        let vp = app.world().get::<Viewport>(id).expect("vp");
        assert_eq!(
            (vp.env.task().spec.name.as_str(), vp.env.seed()),
            ("reach-easy", 11)
        );
        let d = app.world().get::<Driver>(id).expect("driver");
        assert!(matches!(d.policy, Policy::Random(_)));
        assert!(!app.world().resource::<ActiveSession>().dirty);

        let (recent, warn) = Recent::load(&root.join("recent.json"));
        assert!(warn.is_none());
        let names: Vec<_> = recent
            .sessions
            .iter()
            .filter_map(|p| p.file_name())
            .collect();
        assert_eq!(names, ["a", "b"], "newest first");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn autosave_and_save_as_lose_nothing() {
        let root = temp("autosave");
        let (mut app, _) = app(&root);
        let a = root.join("a");
        std::fs::write(a.join("data/manifest.json"), b"{\"episodes\": []}").expect("data");
        studio_cmd(&mut app, StudioCmd::Reset(21));
        assert_eq!(on_disk(&a).seed, 0, "not saved yet");
        for _ in 0..30 {
            app.update();
        }
        assert_eq!(on_disk(&a).seed, 21, "autosaved within a second");

        let b = root.join("copy");
        send(&mut app, [SessionCmd::SaveAsAt(b.clone())]);
        for _ in 0..200 {
            if !app.world().resource::<ActiveSession>().busy() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            app.update();
        }
        assert_eq!(
            app.world().resource::<Studio>().session.as_deref(),
            Some(&*b)
        );
        assert_eq!(on_disk(&b).seed, 21);
        assert!(
            b.join("data/manifest.json").is_file(),
            "the data came along"
        );
        assert!(a.join("data/manifest.json").is_file(), "and stayed");

        studio_cmd(&mut app, StudioCmd::Reset(22));
        app.world_mut().write_message(AppExit::Success);
        app.update();
        assert_eq!(on_disk(&b).seed, 22, "saved on exit");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn bad_folders_leave_a_message_and_the_session_open() {
        let root = temp("bad");
        let (mut app, _) = app(&root);
        let a = root.join("a");
        let plain = root.join("plain");
        std::fs::create_dir_all(&plain).expect("mkdir");
        send(&mut app, [SessionCmd::OpenAt(plain.clone())]);
        let msg = app.world().resource::<Studio>().message.clone();
        assert!(
            msg.is_some_and(|m| m.contains("not a session")),
            "no manifest"
        );

        let broken = root.join("broken");
        std::fs::create_dir_all(&broken).expect("mkdir");
        std::fs::write(broken.join("session.json"), b"{ \"format\": 3").expect("write");
        send(&mut app, [SessionCmd::OpenAt(broken.clone())]);
        let msg = app
            .world()
            .resource::<Studio>()
            .message
            .clone()
            .unwrap_or_default();
        assert!(
            msg.contains("session.json") && msg.contains("malformed JSON"),
            "{msg}"
        );

        send(&mut app, [SessionCmd::NewAt(a.clone())]);
        let msg = app
            .world()
            .resource::<Studio>()
            .message
            .clone()
            .unwrap_or_default();
        assert!(msg.contains("already exists"), "{msg}");
        assert_eq!(
            app.world().resource::<Studio>().session.as_deref(),
            Some(&*a)
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
