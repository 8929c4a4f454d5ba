//! The one error type of `dexlearn`.

use std::path::PathBuf;

/// Errors of network construction, training, checkpoints and datasets.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A tensor operation failed (shape mismatch, device error, ...).
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// The simulator refused a step or a task.
    #[error(transparent)]
    Sim(#[from] dexsim::SimError),
    /// A configuration value is out of its domain.
    #[error("invalid config field `{field}`: {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why it is invalid.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint is missing, corrupt or does not fit the network.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A dataset shard or manifest is missing, corrupt or inconsistent.
    #[error("dataset {}: {message}", path.display())]
    Dataset {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A session manifest is corrupt, of an unknown format, or in the way.
    #[error("session {}: {message}", path.display())]
    Session {
        /// The manifest or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training diverged; the last good checkpoint is kept.
    #[error("training diverged at step {step}: {what} (last good checkpoint: {})", last_good.as_ref().map_or_else(|| "none yet".to_string(), |p| p.display().to_string()))]
    Diverged {
        /// Environment step of the divergence.
        step: u64,
        /// Which quantity diverged.
        what: String,
        /// The checkpoint written before it.
        last_good: Option<PathBuf>,
    },
}

impl LearnError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A checkpoint error on `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A session error on `path`.
    pub fn session(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Session {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A dataset error on `path`.
    pub fn dataset(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Dataset {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, LearnError>;
