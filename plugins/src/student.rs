//! A distilled student as a viewport's driver: the checkpoints a session
//! and the shipped assets hold, loaded off the main thread (a load reads
//! and hashes the weights, ~100 ms) and handed to the viewport that asked.
//!
//! The student sees what it saw in evaluation: the camera image and the
//! proprioception each step, and the episode's goal image rendered from the
//! sampled goal. Its rollout carries per-episode state (proprioception
//! history, chunks for temporal ensembling), so it starts over whenever the
//! viewport leaves the step it expects next: a reset, a new episode, a
//! timeline scrub.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, unbounded};
use dexlearn::student::{Student, StudentRollout};
use dexsim::Env;

use crate::driver::Driver;
use crate::error::PluginError;
use crate::sim_step::Viewport;
use crate::studio::Studio;
use crate::viewports::{Focus, Pane};

/// Where shipped students live, one folder each.
pub const SHIPPED_STUDENTS: &str = "assets/students";

/// A loaded student checkpoint and the folder it came from.
#[derive(Clone)]
pub struct StudentCkpt {
    /// Its folder (shown in panels and messages).
    pub dir: PathBuf,
    /// The networks, shared by every viewport it drives.
    pub student: Arc<Student>,
}

impl StudentCkpt {
    /// Load the student in `dir` (blocking: call it off the main thread).
    pub fn load(dir: &Path) -> Result<Self, PluginError> {
        let student = Student::load(dir).map_err(|source| PluginError::Student {
            dir: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            student: Arc::new(student),
        })
    }

    /// The folder's name, for panels.
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// A student driving one viewport, with its episode's rollout.
pub struct StudentDriver {
    /// The checkpoint.
    pub ckpt: StudentCkpt,
    task: String,
    rollout: Option<StudentRollout>,
    /// `(episode, step)` the rollout expects to act at next.
    next: Option<(u64, usize)>,
}

impl StudentDriver {
    /// A driver for `env`, if the student knows its task and was trained
    /// on its image, proprioception and action sizes.
    pub fn new(ckpt: StudentCkpt, env: &Env) -> Result<Self, PluginError> {
        let task = env.task().spec.name.clone();
        let (m, obs) = (&ckpt.student.meta, env.observe());
        let unfit = |message: String| PluginError::StudentFit {
            dir: ckpt.dir.clone(),
            task: task.clone(),
            message,
        };
        if !m.tasks.contains(&task) {
            return Err(unfit(format!("it knows only {}", m.tasks.join(", "))));
        }
        let d = m.dims;
        if d.image != obs.image.width {
            return Err(unfit(format!(
                "it sees {0}x{0} images, the viewport renders {1}x{1}",
                d.image, obs.image.width
            )));
        }
        if (d.proprio, d.action) != (obs.proprio.len(), env.action_dim()) {
            return Err(unfit(format!(
                "its proprioception/action sizes are {}/{}, the task's {}/{}",
                d.proprio,
                d.action,
                obs.proprio.len(),
                env.action_dim()
            )));
        }
        Ok(Self {
            ckpt,
            task,
            rollout: None,
            next: None,
        })
    }

    /// The action for the observation `vp` holds; a new rollout (from the
    /// episode's goal image) whenever `vp` is not where the last one left.
    pub fn act(&mut self, vp: &Viewport) -> Result<Vec<f32>, PluginError> {
        let err = |e: dexlearn::LearnError| PluginError::Act {
            policy: "student",
            message: e.to_string(),
        };
        let at = (vp.episode, vp.step);
        let rollout = match &mut self.rollout {
            Some(r) if self.next == Some(at) => r,
            slot => slot.insert(
                StudentRollout::new(
                    self.ckpt.student.clone(),
                    &self.task,
                    &vp.obs.goal_image.rgb,
                )
                .map_err(err)?,
            ),
        };
        let a = rollout
            .act(&vp.obs.image.rgb, &vp.obs.proprio)
            .map_err(err)?;
        self.next = Some((vp.episode, vp.step + 1));
        Ok(a)
    }
}

/// What the Students panel asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum StudentCmd {
    /// Load the student in this folder into the focused viewport.
    Load(PathBuf),
    /// Ask for a student folder, then load it.
    Browse,
    /// Look for students again.
    Rescan,
}

/// Commands pushed by panels this frame.
#[derive(Resource, Default)]
pub struct StudentCmds(pub Vec<StudentCmd>);

/// What a background job sends back.
enum Done {
    /// A folder dialog's answer (`None`: cancelled).
    Picked(Option<PathBuf>),
    /// A load, for the viewport that asked.
    Loaded(Entity, PathBuf, Result<StudentCkpt, String>),
}

/// The students found, the loads under way, and the path typed.
#[derive(Resource, Default)]
pub struct Students {
    /// Student folders: the session's `students/*`, then the shipped ones.
    pub found: Vec<PathBuf>,
    /// Folders being loaded.
    pub loading: Vec<PathBuf>,
    /// The folder typed in the panel.
    pub typed: String,
    scanned: Option<PathBuf>,
    jobs: Vec<Receiver<Done>>,
}

impl Students {
    /// List the students of `session` and the shipped ones, unless they
    /// were listed for this session already (reads two folders).
    pub fn refresh(&mut self, session: &Path) {
        if self.scanned.as_deref() == Some(session) {
            return;
        }
        self.scanned = Some(session.to_path_buf());
        self.found = [session.join("students"), PathBuf::from(SHIPPED_STUDENTS)]
            .iter()
            .flat_map(|d| list_students(d))
            .collect();
    }
}

/// Folders under `dir` holding a `student.json`, sorted; none if `dir` is
/// missing.
pub fn list_students(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("student.json").is_file())
        .collect();
    found.sort();
    found
}

/// Loads students on threads and gives them to viewports.
pub struct StudentPlugin;

impl Plugin for StudentPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<StudentCmds>()
            .init_resource::<Students>()
            .init_resource::<Focus>()
            .add_systems(Update, (apply, poll).chain());
    }
}

fn apply(
    mut cmds: ResMut<StudentCmds>,
    mut students: ResMut<Students>,
    focus: Res<Focus>,
    viewports: Query<(Entity, Option<&Pane>), With<Viewport>>,
) {
    for cmd in std::mem::take(&mut cmds.0) {
        let (tx, rx) = unbounded();
        match cmd {
            StudentCmd::Rescan => {
                students.scanned = None;
                continue;
            }
            StudentCmd::Browse => {
                std::thread::spawn(move || {
                    let dir = rfd::FileDialog::new()
                        .set_title("Load a student: pick its folder (with student.json)")
                        .pick_folder();
                    let _ = tx.send(Done::Picked(dir));
                });
            }
            StudentCmd::Load(dir) => {
                let all = viewports
                    .iter()
                    .map(|(e, p)| (e, p.copied().unwrap_or_default()));
                let Some(target) = focus.target(all) else {
                    continue;
                };
                students.loading.push(dir.clone());
                std::thread::spawn(move || {
                    let loaded = StudentCkpt::load(&dir).map_err(|e| e.to_string());
                    let _ = tx.send(Done::Loaded(target, dir, loaded));
                });
            }
        }
        students.jobs.push(rx);
    }
}

fn poll(
    mut students: ResMut<Students>,
    mut cmds: ResMut<StudentCmds>,
    mut studio: ResMut<Studio>,
    mut viewports: Query<(&Viewport, &mut Driver)>,
) {
    let done = crate::jobs::drain_finished(&mut students.jobs);
    for d in done {
        match d {
            Done::Picked(dir) => cmds.0.extend(dir.map(StudentCmd::Load)),
            Done::Loaded(target, dir, loaded) => {
                students.loading.retain(|p| *p != dir);
                let result = loaded.and_then(|ckpt| match viewports.get_mut(target) {
                    Ok((vp, mut driver)) => {
                        driver.use_student(ckpt, &vp.env).map_err(|e| e.to_string())
                    }
                    Err(_) => Err(format!(
                        "the viewport that asked for {} is closed",
                        dir.display()
                    )),
                });
                studio.message = result.err();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use bevy::prelude::*;
    use dexlearn::student::model::{Dims, StudentNets};
    use dexlearn::student::{
        EncoderConfig, Method, Student, StudentConfig, StudentMeta, StudentRollout,
    };
    use dexsim::Catalog;

    use super::{StudentCmd, StudentCmds, StudentPlugin, Students, list_students};
    use crate::driver::{Driver, DriverPlugin, DriverSet, Policy, PolicyChoice};
    use crate::sim_step::{SimStepSet, Viewport};
    use crate::studio::{Studio, StudioCmd, StudioCmds, StudioPlugin};
    use crate::testing::headless_app;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "dexstudio-plugins-student-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// An untrained student of `tasks` for `env`'s sizes, saved to `dir`.
    fn tiny_student(dir: &Path, tasks: &[&str], vp: &Viewport) {
        let cfg = StudentConfig {
            method: Method::Acgd,
            chunk: 4,
            codes: 8,
            code_width: 8,
            width: 16,
            heads: 2,
            layers: 1,
            decoder_layers: 1,
            history: 2,
            encoder: EncoderConfig {
                channels: vec![4, 8, 8],
                features: 16,
                ..EncoderConfig::default()
            },
            ..StudentConfig::default()
        };
        let dims = Dims {
            tasks: tasks.len(),
            action: vp.env.action_dim(),
            proprio: vp.obs.proprio.len(),
            image: vp.obs.image.width,
        };
        let student = Student {
            meta: StudentMeta {
                format: String::new(),
                config: cfg.clone(),
                dims,
                tasks: tasks.iter().map(|&t| t.to_owned()).collect(),
                suite: "test".into(),
                episodes_per_task: vec![0; tasks.len()],
                q_norms: vec![1.0; tasks.len()],
                dataset: String::new(),
                samples_per_s: 0.0,
                wall_s: 0.0,
                weights: String::new(),
                weights_fnv1a: String::new(),
                command: "test".into(),
                label: String::new(),
            },
            nets: StudentNets::new(&cfg, dims).expect("nets"),
            proprio_mean: vec![0.1; dims.proprio],
            proprio_std: vec![2.0; dims.proprio],
        };
        student.save(dir).expect("save");
    }

    /// What the driver saw and did at each tick: episode, goal image,
    /// image, proprioception, action.
    type Tick = (u64, Vec<u8>, Vec<u8>, Vec<f32>, Vec<f32>);

    #[derive(Resource, Default)]
    struct Seen(Vec<Tick>);

    fn watch(mut seen: ResMut<Seen>, viewports: Query<(&Viewport, &Driver)>) {
        for (vp, d) in &viewports {
            if matches!(d.policy, Policy::Student(_)) && vp.wants_step() {
                let o = &vp.obs;
                seen.0.push((
                    vp.episode,
                    o.goal_image.rgb.clone(),
                    o.image.rgb.clone(),
                    o.proprio.clone(),
                    vp.action.clone(),
                ));
            }
        }
    }

    /// A studio app on `task` with the student plugin and an action log.
    fn app(task: &str) -> (App, Entity) {
        let mut app = headless_app();
        let studio = Studio::new(Catalog::bundled().expect("catalog"), None);
        let parts = studio.viewport(task, 4).expect("viewport");
        app.insert_resource(studio)
            .init_resource::<Seen>()
            .add_plugins((StudioPlugin, DriverPlugin, StudentPlugin))
            .add_systems(
                FixedUpdate,
                watch.after(DriverSet::Act).before(SimStepSet::Step),
            );
        let id = app.world_mut().spawn(parts).id();
        (app, id)
    }

    /// Ask for `dir` and update until the load has come back.
    fn load(app: &mut App, dir: &Path) {
        app.world_mut()
            .resource_mut::<StudentCmds>()
            .0
            .push(StudentCmd::Load(dir.to_path_buf()));
        app.update();
        for _ in 0..500 {
            if app.world().resource::<Students>().loading.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
            app.update();
        }
        panic!("the student never loaded");
    }

    #[test]
    fn student_drives_a_viewport_like_its_rollout_by_hand() {
        let root = temp("drive");
        let (mut app, id) = app("reach-easy");
        let dir = root.join("students/tiny");
        tiny_student(
            &dir,
            &["obj-hold-easy", "reach-easy"],
            app.world().get::<Viewport>(id).expect("vp"),
        );
        app.world_mut().resource_mut::<Students>().refresh(&root);
        assert_eq!(app.world().resource::<Students>().found, vec![dir.clone()]);

        load(&mut app, &dir);
        assert_eq!(app.world().resource::<Studio>().message, None);
        for _ in 0..5 {
            app.update();
        }
        // A reset mid-way: the rollout must start over with the new goal.
        app.world_mut()
            .resource_mut::<StudioCmds>()
            .0
            .push(StudioCmd::Reset(9));
        for _ in 0..5 {
            app.update();
        }
        let w = app.world();
        let d = w.get::<Driver>(id).expect("driver");
        assert_eq!(d.policy.label(), "student");
        assert!(d.note.is_none(), "{:?}", d.note);
        let seen = &w.resource::<Seen>().0;
        assert!(seen.len() >= 8, "{} ticks", seen.len());
        assert!(seen.iter().any(|t| t.0 != seen[0].0), "a reset happened");

        let student = Arc::new(Student::load(&dir).expect("load"));
        let mut by_hand: Option<(u64, StudentRollout)> = None;
        for (i, (episode, goal, image, proprio, action)) in seen.iter().enumerate() {
            if by_hand.as_ref().is_none_or(|(e, _)| e != episode) {
                let r = StudentRollout::new(student.clone(), "reach-easy", goal).expect("rollout");
                by_hand = Some((*episode, r));
            }
            let (_, r) = by_hand.as_mut().expect("rollout");
            let want = r.act(image, proprio).expect("act");
            assert_eq!(*action, want, "tick {i}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_student_of_other_tasks_leaves_the_driver_and_says_why() {
        let root = temp("other");
        let (mut app, id) = app("reach-easy");
        let dir = root.join("hold-only");
        tiny_student(
            &dir,
            &["obj-hold-easy"],
            app.world().get::<Viewport>(id).expect("vp"),
        );
        app.world_mut()
            .resource_mut::<StudioCmds>()
            .0
            .push(StudioCmd::SetPolicy(PolicyChoice::Random));
        app.update();
        load(&mut app, &dir);
        let msg = app
            .world()
            .resource::<Studio>()
            .message
            .clone()
            .unwrap_or_default();
        assert!(
            msg.contains("cannot drive reach-easy") && msg.contains("obj-hold-easy"),
            "{msg}"
        );
        let d = app.world().get::<Driver>(id).expect("driver");
        assert!(matches!(d.policy, Policy::Random(_)), "unchanged");
        assert!(d.student.is_none());

        load(&mut app, &root.join("nowhere"));
        let msg = app
            .world()
            .resource::<Studio>()
            .message
            .clone()
            .unwrap_or_default();
        assert!(msg.contains("student.json"), "{msg}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_student_folders_list_nothing() {
        assert!(list_students(Path::new("/nonexistent/dexstudio-students")).is_empty());
    }
}
