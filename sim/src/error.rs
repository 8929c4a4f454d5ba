//! The one error type of `dexsim`. Every variant names the file, field or
//! value at fault, so a user can fix the input without reading the source.

use std::path::PathBuf;

/// Errors raised while loading scenes and tasks, or while stepping them.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file could not be read.
    #[error("{path}: cannot read file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The MJCF parser or loader rejected a scene file.
    #[error("{path}: malformed MJCF: {message}")]
    Mjcf {
        /// The scene file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A task or suite TOML file is invalid: the message names the field.
    #[error("{path}:{line}:{column}: {message}")]
    Spec {
        /// The TOML file.
        path: PathBuf,
        /// 1-based line of the offending field.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A task name that no spec defines.
    #[error("unknown task `{name}`; known tasks: {known}")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// Comma-separated list of known names.
        known: String,
    },
    /// A suite name that `suites.toml` does not define.
    #[error("unknown suite `{name}`; known suites: {known}")]
    UnknownSuite {
        /// The name asked for.
        name: String,
        /// Comma-separated list of known names.
        known: String,
    },
    /// The scene lacks a body, joint or site that the task refers to.
    #[error("{path}: the task needs {what} `{name}`, which the scene does not define")]
    MissingName {
        /// The scene file.
        path: PathBuf,
        /// "body", "joint" or "site".
        what: &'static str,
        /// The missing name.
        name: String,
    },
    /// An action of the wrong length.
    #[error("action has {got} values but task `{task}` has {expected} actuators")]
    ActionDim {
        /// The task.
        task: String,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// An action with NaN or infinite entries. Out-of-range finite values are
    /// clamped to [-1, 1] instead (documented in docs/tasks.md).
    #[error("action[{index}] = {value} is not finite; actions must be finite numbers in [-1, 1]")]
    NonFiniteAction {
        /// Index of the first bad entry.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// The physics state became non-finite; the step was rolled back.
    #[error("simulation of task `{task}` diverged at step {step}: {what}")]
    Diverged {
        /// The task.
        task: String,
        /// The control step.
        step: usize,
        /// Which quantity went non-finite.
        what: String,
    },
    /// A caller-supplied value outside its domain (e.g. a zero image size).
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The parameter.
        what: &'static str,
        /// Why it is invalid.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SimError>;
