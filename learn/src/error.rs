//! The one error type of `dexlearn`.

/// Errors of network construction, training and checkpoint I/O.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A tensor operation failed (shape mismatch, device error, ...).
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// A configuration value is out of its domain.
    #[error("invalid config field `{field}`: {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why it is invalid.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, LearnError>;
