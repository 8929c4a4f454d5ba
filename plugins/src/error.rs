//! `PluginError`, the crate's one error type for failures that cross
//! module boundaries (loading experts, students and datasets, choosing drivers,
//! opening tasks, naming videos). Messages name the file, the field or the
//! task, because they end up in the studio's message line.

use std::path::PathBuf;

use dexlearn::LearnError;
use dexsim::SimError;

/// What can go wrong in the studio's plugins.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No expert could be loaded for a task.
    #[error("no expert for {task}: {source}")]
    NoExpert {
        /// The task.
        task: String,
        /// Why the last place tried failed.
        source: LearnError,
    },
    /// An expert was trained for other state or action sizes.
    #[error(
        "expert in {} has state/action sizes {expert_state}/{expert_action}, task {task} has {state}/{action}",
        dir.display()
    )]
    ExpertShape {
        /// The expert's folder.
        dir: PathBuf,
        /// The task.
        task: String,
        /// The expert's `state_dim`.
        expert_state: usize,
        /// The expert's `action_dim`.
        expert_action: usize,
        /// The task's state width.
        state: usize,
        /// The task's action width.
        action: usize,
    },
    /// A policy could not compute an action.
    #[error("{policy} failed to act: {message}")]
    Act {
        /// Which policy.
        policy: &'static str,
        /// Why.
        message: String,
    },
    /// A policy gave an action of the wrong width.
    #[error("the {policy} gives {got} actions, the task has {want}")]
    ActionSize {
        /// Which policy.
        policy: &'static str,
        /// Its action width.
        got: usize,
        /// The task's.
        want: usize,
    },
    /// A driver cannot drive this task (no expert, no hand for teleop...).
    #[error("{0}")]
    Unavailable(String),
    /// A task could not be opened.
    #[error("cannot open {task}: {source}")]
    Task {
        /// The task.
        task: String,
        /// The simulator's reason.
        source: SimError,
    },
    /// A dataset or one of its episodes could not be read.
    #[error("dataset {}: {source}", dir.display())]
    Dataset {
        /// The dataset (or session) folder.
        dir: PathBuf,
        /// The reader's reason (it names the file and field).
        source: LearnError,
    },
    /// A dataset episode does not fit the task it names.
    #[error("dataset {}, episode {episode}: field `{field}` {message}", dir.display())]
    Episode {
        /// The dataset folder.
        dir: PathBuf,
        /// The episode index.
        episode: usize,
        /// The manifest field at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A student checkpoint could not be loaded.
    #[error("student {}: {source}", dir.display())]
    Student {
        /// The student's folder.
        dir: PathBuf,
        /// The loader's reason (it names the file and field).
        source: LearnError,
    },
    /// A student cannot drive a task (unknown task, other sizes).
    #[error("the student in {} cannot drive {task}: {message}", dir.display())]
    StudentFit {
        /// The student's folder.
        dir: PathBuf,
        /// The viewport's task.
        task: String,
        /// Why not.
        message: String,
    },
    /// A video path with an unknown extension.
    #[error("{}: a video must end in .mp4 or .gif", path.display())]
    VideoFormat {
        /// The path asked for.
        path: PathBuf,
    },
}
