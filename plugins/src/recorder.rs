//! Recording episodes into the session's dataset, in exactly the format
//! `dexstudio collect` writes (images included), whoever drives: a person
//! at the keys (source `teleop`), the expert, random actions.
//!
//! Keys follow LeRobot's `record`: → keeps the episode and starts the next,
//! ← throws it away and records the same seed again, Esc stops (keeping the
//! episode in progress). Frames are gathered on the fixed tick around each
//! step; finished episodes go to a writer thread, which also asks the
//! expert for `Q(s_t, a_t)`, so the UI never waits on the disk. Without an
//! expert Q is written as 0 (consumers need finite values) and the source
//! says so: `teleop-noq`.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use crossbeam_channel::{Receiver, Sender, unbounded};
use dexlearn::Expert;
use dexlearn::data::{DatasetWriter, EpisodeEntry, Frames, TaskEntry};
use dexsim::Catalog;
use dexsim::task::Task;

use crate::driver::{Driver, DriverSet};
use crate::sim_step::{Outcome, SimStepSet, Viewport};
use crate::studio::Studio;

/// Episodes per shard, as `dexstudio collect` writes by default.
pub const CHUNK: usize = 10;

/// What the record panel and keys ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordCmd {
    /// Start recording from a fresh episode.
    Start,
    /// Keep the episode in progress and start the next (→).
    Keep,
    /// Throw the episode away and record its seed again (←).
    Rerecord,
    /// Keep the episode in progress and stop (Esc).
    Stop,
}

/// Record commands pushed this frame.
#[derive(Resource, Default)]
pub struct RecordCmds(pub Vec<RecordCmd>);

/// Phases of the plugin on the fixed tick.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordSet {
    /// Before the step: what the policy saw and did.
    Capture,
    /// After the step: what it got.
    Commit,
}

/// An episode being recorded.
struct Take {
    task: TaskEntry,
    task_ref: Arc<Task>,
    episode: u64,
    seed: u64,
    image_size: usize,
    source: String,
    expert: Option<Arc<Expert>>,
    frames: Frames,
    /// Per frame: the episode was solved at or before it.
    solved: Vec<bool>,
}

impl Take {
    /// A take of the episode `vp` is at, which must be at its first step.
    fn new(vp: &Viewport, driver: &Driver, catalog: &Catalog) -> Result<Self, String> {
        let env = &vp.env;
        if !env.config().render {
            return Err("rendering is off: there are no images to record".into());
        }
        let name = env.task().spec.name.clone();
        let index = catalog.tasks.keys().position(|n| *n == name).unwrap_or(0) as u32;
        let expert = driver.expert.as_ref().ok().cloned();
        let label = driver.policy.label();
        let source = match expert {
            Some(_) => label.to_owned(),
            None => format!("{label}-noq"),
        };
        Ok(Self {
            task: TaskEntry {
                name,
                index,
                state_dim: env.state_dim(),
                proprio_dim: env.proprio().len(),
                action_dim: env.action_dim(),
            },
            task_ref: env.task().clone(),
            episode: vp.episode,
            seed: env.seed(),
            image_size: env.config().image_size,
            source,
            expert,
            frames: Frames::default(),
            solved: Vec::new(),
        })
    }

    fn push(&mut self, p: Pending, o: Outcome) {
        let f = &mut self.frames;
        f.image.extend_from_slice(&p.image);
        f.proprio.extend_from_slice(&p.proprio);
        f.state.extend_from_slice(&p.state);
        f.action.extend_from_slice(&p.action);
        f.reward.push(o.reward);
        f.done.push(u8::from(o.done));
        f.success.push(u8::from(o.success));
        f.task.push(self.task.index);
        self.solved.push(o.solved);
    }

    /// Keep only the first `n` frames (the timeline went back to step `n`).
    fn truncate(&mut self, n: usize) {
        let (f, t) = (&mut self.frames, &self.task);
        f.image.truncate(n * self.image_size * self.image_size * 3);
        f.proprio.truncate(n * t.proprio_dim);
        f.state.truncate(n * t.state_dim);
        f.action.truncate(n * t.action_dim);
        f.reward.truncate(n);
        f.done.truncate(n);
        f.success.truncate(n);
        f.task.truncate(n);
        // Q is only filled in by the writer; nothing to cut yet.
        f.q.truncate(n);
        self.solved.truncate(n);
    }

    /// The write job of this episode; `None` when it has no frames. An
    /// episode the user ended is marked done at its last frame, as one
    /// the environment ended is.
    fn into_job(mut self, dir: PathBuf) -> Option<Job> {
        let n = self.frames.len();
        let last = self.frames.done.last_mut()?;
        *last = 1;
        let entry = EpisodeEntry {
            start: 0,
            frames: n,
            seed: self.seed,
            ret: self.frames.reward.iter().map(|&r| f64::from(r)).sum(),
            solved: self.solved.last().copied().unwrap_or(false),
            source: self.source,
        };
        Some(Job {
            dir,
            image_size: self.image_size,
            task: self.task,
            entry,
            frames: self.frames,
            expert: self.expert,
        })
    }
}

/// A frame's first half, taken before the step.
struct Pending {
    revision: u64,
    image: Vec<u8>,
    proprio: Vec<f32>,
    state: Vec<f32>,
    action: Vec<f32>,
}

/// Recording state of one viewport.
#[derive(Component, Default)]
pub struct Recorder {
    recording: bool,
    /// The episode in progress; `None` while waiting for a fresh one.
    take: Option<Take>,
    pending: Option<Pending>,
    /// Episodes handed to the writer.
    pub kept: usize,
    /// Episodes thrown away.
    pub discarded: usize,
    /// What happened last, for the panel.
    pub message: Option<String>,
}

impl Recorder {
    /// Whether recording is on.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Frames of the episode in progress.
    pub fn frames(&self) -> usize {
        self.take.as_ref().map_or(0, |t| t.frames.len())
    }

    /// The source the episode in progress will be stored with.
    pub fn source(&self) -> Option<&str> {
        self.take.as_ref().map(|t| t.source.as_str())
    }

    fn begin(&mut self, vp: &Viewport, driver: &Driver, catalog: &Catalog) {
        match Take::new(vp, driver, catalog) {
            Ok(t) => self.take = Some(t),
            Err(e) => {
                self.recording = false;
                self.take = None;
                self.message = Some(e);
            }
        }
    }

    fn keep(&mut self, studio: &Studio, sink: &mut EpisodeSink) {
        if let Some(job) = self.take.take().and_then(|t| t.into_job(studio.data_dir())) {
            self.kept += 1;
            sink.send(job);
        }
    }

    fn discard(&mut self, why: &str) {
        if self.take.take().is_some_and(|t| !t.frames.is_empty()) {
            self.discarded += 1;
            self.message = Some(format!("episode discarded: {why}"));
        }
    }

    fn apply(
        &mut self,
        cmd: RecordCmd,
        vp: &mut Viewport,
        driver: &Driver,
        studio: &Studio,
        sink: &mut EpisodeSink,
    ) {
        self.pending = None;
        match (cmd, self.recording) {
            (RecordCmd::Start, false) => {
                self.recording = true;
                self.message = None;
                vp.reset(vp.next_seed);
                self.begin(vp, driver, &studio.catalog);
            }
            (RecordCmd::Keep, true) => {
                self.keep(studio, sink);
                vp.reset(vp.next_seed);
                self.begin(vp, driver, &studio.catalog);
            }
            (RecordCmd::Rerecord, true) => {
                let seed = self.take.as_ref().map_or(vp.env.seed(), |t| t.seed);
                self.discard("re-recording");
                vp.reset(seed);
                self.begin(vp, driver, &studio.catalog);
            }
            (RecordCmd::Stop, true) => {
                self.keep(studio, sink);
                self.recording = false;
            }
            _ => {}
        }
    }

    /// Keep the take in line with the viewport: a reset or task change
    /// from elsewhere discards it, the timeline going back truncates it,
    /// and a fresh episode starts a new one.
    fn follow(&mut self, vp: &Viewport, driver: &Driver, catalog: &Catalog) {
        if let Some(t) = &mut self.take {
            if !Arc::ptr_eq(&t.task_ref, vp.env.task()) || t.episode != vp.episode {
                self.discard("the episode was reset");
            } else if vp.step < t.frames.len() {
                t.truncate(vp.step);
            } else if vp.step > t.frames.len() {
                self.discard("the timeline skipped unrecorded steps");
            }
        }
        if self.take.is_none() && vp.step == 0 {
            self.begin(vp, driver, catalog);
        }
    }
}

/// One episode for the writer thread.
struct Job {
    dir: PathBuf,
    image_size: usize,
    task: TaskEntry,
    entry: EpisodeEntry,
    frames: Frames,
    expert: Option<Arc<Expert>>,
}

/// The writer thread, started with the first episode; dropping the sink
/// waits for the episodes already sent, so closing the studio loses none.
#[derive(Resource, Default)]
pub struct EpisodeSink {
    worker: Option<Worker>,
    /// Episodes sent and not yet written.
    pub queued: usize,
    /// Episodes written.
    pub written: usize,
    /// Frames written.
    pub frames: usize,
    /// The last write error.
    pub error: Option<String>,
}

struct Worker {
    jobs: Option<Sender<Job>>,
    reports: Receiver<Result<usize, String>>,
    thread: Option<JoinHandle<()>>,
}

impl EpisodeSink {
    fn send(&mut self, job: Job) {
        if self.worker.is_none() {
            let (jobs, rx) = unbounded();
            let (tx, reports) = unbounded();
            let thread = std::thread::Builder::new()
                .name("dexstudio-recorder".into())
                .spawn(move || write_loop(&rx, &tx));
            match thread {
                Ok(t) => {
                    self.worker = Some(Worker {
                        jobs: Some(jobs),
                        reports,
                        thread: Some(t),
                    });
                }
                Err(e) => {
                    self.error = Some(format!("cannot start the writer thread: {e}"));
                    return;
                }
            }
        }
        let sent = self
            .worker
            .as_ref()
            .and_then(|w| w.jobs.as_ref())
            .is_some_and(|j| j.send(job).is_ok());
        if sent {
            self.queued += 1;
        } else {
            self.error = Some("the writer thread stopped; episode lost".into());
        }
    }

    /// Take the writer's reports.
    fn drain(&mut self) {
        let Some(w) = &self.worker else { return };
        for r in w.reports.try_iter() {
            self.queued = self.queued.saturating_sub(1);
            match r {
                Ok(n) => {
                    self.written += 1;
                    self.frames += n;
                }
                Err(e) => self.error = Some(e),
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(jobs: &Receiver<Job>, reports: &Sender<Result<usize, String>>) {
    let mut writer = None;
    for job in jobs {
        let r = write_one(&mut writer, job);
        if let Err(e) = &r {
            bevy::log::error!("recording: {e}");
        }
        // The UI may be gone (the app is closing): keep writing anyway.
        let _ = reports.send(r);
    }
}

fn write_one(
    writer: &mut Option<(PathBuf, usize, DatasetWriter)>,
    mut job: Job,
) -> Result<usize, String> {
    let n = job.frames.len();
    job.frames.q = match &job.expert {
        Some(e) => e
            .q(&job.frames.state, &job.frames.action)
            .map_err(|e| format!("the expert's Q failed: {e}"))?,
        None => vec![0.0; n],
    };
    if job.frames.q.iter().any(|q| !q.is_finite()) {
        return Err("the expert's Q is not finite; episode not written".into());
    }
    let stale = writer
        .as_ref()
        .is_none_or(|(d, s, _)| *d != job.dir || *s != job.image_size);
    if stale {
        let w = DatasetWriter::open(&job.dir, job.image_size, CHUNK)
            .map_err(|e| format!("cannot open the dataset: {e}"))?;
        *writer = Some((job.dir.clone(), job.image_size, w));
    }
    let Some((_, _, w)) = writer.as_mut() else {
        return Err("no dataset writer".into());
    };
    w.append(&job.task, job.entry, &job.frames)
        .map_err(|e| format!("cannot write the episode: {e}"))?;
    Ok(n)
}

/// Records viewports that carry a [`Recorder`].
pub struct RecorderPlugin;

impl Plugin for RecorderPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<RecordCmds>()
            .init_resource::<EpisodeSink>()
            .configure_sets(
                FixedUpdate,
                (
                    RecordSet::Capture
                        .after(DriverSet::Act)
                        .before(SimStepSet::Step),
                    RecordSet::Commit.after(SimStepSet::Step),
                ),
            )
            .add_systems(
                FixedUpdate,
                (
                    capture.in_set(RecordSet::Capture),
                    commit.in_set(RecordSet::Commit),
                ),
            )
            .add_systems(Update, (record_keys, apply_cmds, drain).chain());
    }
}

/// → keep, ← re-record, Esc stop, while recording and egui does not want
/// the keyboard.
fn record_keys(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    egui: Option<Res<EguiWantsInput>>,
    recorders: Query<&Recorder>,
    mut cmds: ResMut<RecordCmds>,
) {
    let Some(keys) = keys else { return };
    if egui.is_some_and(|e| e.wants_any_keyboard_input())
        || !recorders.iter().any(Recorder::is_recording)
    {
        return;
    }
    for (key, cmd) in [
        (KeyCode::ArrowRight, RecordCmd::Keep),
        (KeyCode::ArrowLeft, RecordCmd::Rerecord),
        (KeyCode::Escape, RecordCmd::Stop),
    ] {
        if keys.just_pressed(key) {
            cmds.0.push(cmd);
        }
    }
}

fn apply_cmds(
    mut cmds: ResMut<RecordCmds>,
    studio: Res<Studio>,
    mut sink: ResMut<EpisodeSink>,
    mut viewports: Query<(&mut Viewport, &Driver, &mut Recorder)>,
) {
    for cmd in std::mem::take(&mut cmds.0) {
        for (mut vp, driver, mut rec) in &mut viewports {
            rec.apply(cmd, &mut vp, driver, &studio, &mut sink);
        }
    }
}

fn drain(mut sink: ResMut<EpisodeSink>) {
    sink.drain();
}

fn capture(studio: Res<Studio>, mut viewports: Query<(&Viewport, &Driver, &mut Recorder)>) {
    for (vp, driver, mut rec) in &mut viewports {
        rec.pending = None;
        if !rec.recording || !vp.wants_step() {
            continue;
        }
        rec.follow(vp, driver, &studio.catalog);
        if rec.take.is_some() {
            rec.pending = Some(Pending {
                revision: vp.revision,
                image: vp.obs.image.rgb.clone(),
                proprio: vp.obs.proprio.clone(),
                state: vp.obs.state.clone(),
                action: vp.action.clone(),
            });
        }
    }
}

fn commit(
    studio: Res<Studio>,
    mut sink: ResMut<EpisodeSink>,
    mut viewports: Query<(&Viewport, &Driver, &mut Recorder)>,
) {
    for (vp, driver, mut rec) in &mut viewports {
        let Some(p) = rec.pending.take() else {
            continue;
        };
        // No new state: the step failed and the viewport paused.
        let Some(o) = vp.last.filter(|_| vp.revision != p.revision) else {
            continue;
        };
        let Some(t) = rec.take.as_mut() else {
            continue;
        };
        t.push(p, o);
        if o.done {
            // The viewport has already reset to the next episode.
            rec.keep(&studio, &mut sink);
            rec.begin(vp, driver, &studio.catalog);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bevy::prelude::*;
    use dexlearn::data::Dataset;
    use dexsim::Catalog;

    use super::{EpisodeSink, RecordCmd, RecordCmds, Recorder, RecorderPlugin};
    use crate::driver::{Driver, DriverPlugin, Policy};
    use crate::sim_step::Viewport;
    use crate::studio::Studio;
    use crate::teleop::{Teleop, TeleopInput};
    use crate::testing::{headless_app, tiny_expert, viewport};

    fn temp_session(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dexstudio-record-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn app_with(session: &std::path::Path, expert: bool) -> (App, Entity) {
        let mut app = headless_app();
        let studio = Studio::new(
            Catalog::bundled().expect("catalog"),
            Some(session.to_path_buf()),
        );
        app.insert_resource(studio)
            .add_plugins((DriverPlugin, RecorderPlugin));
        let vp = viewport("reach-easy");
        let critic = if expert {
            Ok(tiny_expert(&vp.env))
        } else {
            Err("no expert".into())
        };
        let mut d = Driver::new(critic);
        let mut t = Teleop::new(&vp.env).expect("teleop");
        t.apply(&TeleopInput {
            grasp: 0.5,
            ..TeleopInput::default()
        });
        d.policy = Policy::Teleop(Box::new(t));
        let id = app.world_mut().spawn((vp, d, Recorder::default())).id();
        (app, id)
    }

    fn send(app: &mut App, cmd: RecordCmd, then_updates: usize) {
        app.world_mut().resource_mut::<RecordCmds>().0.push(cmd);
        for _ in 0..then_updates {
            app.update();
        }
    }

    /// Update until the writer has written `n` episodes.
    fn wait_written(app: &mut App, n: usize) {
        let start = Instant::now();
        while app.world().resource::<EpisodeSink>().written < n {
            let sink = app.world().resource::<EpisodeSink>();
            assert!(sink.error.is_none(), "{:?}", sink.error);
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "only {} episodes written",
                sink.written
            );
            std::thread::sleep(Duration::from_millis(20));
            app.update();
        }
    }

    #[test]
    fn three_teleop_episodes_read_back_with_images() {
        let session = temp_session("three");
        let (mut app, id) = app_with(&session, false);
        app.update();
        send(&mut app, RecordCmd::Start, 6);
        send(&mut app, RecordCmd::Keep, 5);
        send(&mut app, RecordCmd::Keep, 4);
        send(&mut app, RecordCmd::Stop, 3);
        let rec = app.world().get::<Recorder>(id).expect("recorder");
        assert!(!rec.is_recording());
        assert_eq!((rec.kept, rec.discarded), (3, 0));
        wait_written(&mut app, 3);

        let data = Dataset::open(&session).expect("dataset");
        assert_eq!(data.episodes(), 3);
        let vp = app.world().get::<Viewport>(id).expect("vp");
        let side = vp.env.config().image_size;
        assert_eq!(data.manifest.image_size, side);
        let mut seeds = Vec::new();
        for i in 0..3 {
            let ep = data.episode(i).expect("episode");
            let n = ep.entry.frames;
            assert!(n >= 2, "episode {i} has {n} frames");
            assert_eq!(ep.entry.source, "teleop-noq");
            assert_eq!(ep.frames.image.len(), n * side * side * 3);
            assert!(
                ep.image(0).iter().any(|&p| p != ep.image(0)[0]),
                "a real image"
            );
            assert_eq!(ep.frames.action.len(), n * vp.env.action_dim());
            assert!(ep.frames.q.iter().all(|&q| q == 0.0), "no expert, Q is 0");
            assert_eq!(ep.frames.done.last(), Some(&1), "ended episodes are done");
            assert!(ep.frames.done[..n - 1].iter().all(|&d| d == 0));
            let index = Catalog::bundled()
                .expect("catalog")
                .tasks
                .keys()
                .position(|k| k == "reach-easy")
                .expect("task") as u32;
            assert!(ep.frames.task.iter().all(|&t| t == index));
            seeds.push(ep.entry.seed);
        }
        seeds.dedup();
        assert_eq!(seeds.len(), 3, "each episode has its own seed");
        drop(app);
        let _ = std::fs::remove_dir_all(&session);
    }

    #[test]
    fn going_back_in_the_episode_truncates_the_take() {
        let session = temp_session("rewind");
        let (mut app, id) = app_with(&session, false);
        app.update();
        send(&mut app, RecordCmd::Start, 3);
        let (snap, state) = {
            let vp = app.world().get::<Viewport>(id).expect("vp");
            (vp.env.snapshot(), vp.obs.state.clone())
        };
        let back_to = snap.step();
        for _ in 0..4 {
            app.update();
        }
        // What the timeline's scrubber does, then three more steps.
        app.world_mut()
            .get_mut::<Viewport>(id)
            .expect("vp")
            .restore(&snap);
        for _ in 0..3 {
            app.update();
        }
        let now = {
            let mut vp = app.world_mut().get_mut::<Viewport>(id).expect("vp");
            vp.playing = false;
            vp.step
        };
        assert_eq!(now, back_to + 3);
        send(&mut app, RecordCmd::Stop, 1);
        wait_written(&mut app, 1);
        let rec = app.world().get::<Recorder>(id).expect("recorder");
        assert_eq!((rec.kept, rec.discarded), (1, 0));
        let ep = Dataset::open(&session)
            .expect("dataset")
            .episode(0)
            .expect("episode");
        assert_eq!(ep.entry.frames, back_to + 3, "{back_to} kept, 3 new");
        let s = state.len();
        assert_eq!(
            &ep.frames.state[back_to * s..(back_to + 1) * s],
            &state[..],
            "the step after the rewind starts from the restored state"
        );
        drop(app);
        let _ = std::fs::remove_dir_all(&session);
    }

    #[test]
    fn rerecord_and_outside_resets_discard_and_q_comes_from_the_expert() {
        let session = temp_session("rerecord");
        let (mut app, id) = app_with(&session, true);
        app.update();
        send(&mut app, RecordCmd::Start, 4);
        let seed = app.world().get::<Viewport>(id).expect("vp").env.seed();
        send(&mut app, RecordCmd::Rerecord, 1);
        let vp = app.world().get::<Viewport>(id).expect("vp");
        assert_eq!((vp.env.seed(), vp.step), (seed, 0), "same seed again");
        for _ in 0..4 {
            app.update();
        }
        // A reset from the controls throws the episode away too.
        app.world_mut()
            .get_mut::<Viewport>(id)
            .expect("vp")
            .reset(77);
        for _ in 0..4 {
            app.update();
        }
        send(&mut app, RecordCmd::Stop, 1);
        let rec = app.world().get::<Recorder>(id).expect("recorder");
        assert_eq!((rec.kept, rec.discarded), (1, 2));
        wait_written(&mut app, 1);

        let data = Dataset::open(&session).expect("dataset");
        assert_eq!(data.episodes(), 1);
        let ep = data.episode(0).expect("episode");
        assert_eq!((ep.entry.seed, ep.entry.source.as_str()), (77, "teleop"));
        let d = app.world().get::<Driver>(id).expect("driver");
        let expert = d.expert.as_ref().map(Arc::clone).expect("expert");
        let want = expert.q(&ep.frames.state, &ep.frames.action).expect("q");
        assert_eq!(ep.frames.q.len(), want.len());
        for (got, want) in ep.frames.q.iter().zip(&want) {
            assert!((got - want).abs() < 1e-5, "Q(s_t, a_t): {got} vs {want}");
        }
        drop(app);
        let _ = std::fs::remove_dir_all(&session);
    }
}
