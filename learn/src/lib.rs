//! dexlearn: candle networks and learning algorithms of dexstudio.
//!
//! This crate never imports Bevy: the studio runs it on a trainer thread
//! and talks to it through channels. It holds the expert RL (TD3 with twin
//! Q critics on the privileged state), frozen experts, critic reports, the
//! demonstration datasets and the visuomotor students distilled from them.

pub mod adam;
pub mod baselines;
pub mod bootstrap;
pub mod collect;
pub mod critic;
pub mod data;
pub mod error;
pub mod expert;
pub mod fsio;
pub mod init;
pub mod mlp;
pub mod norm;
pub mod ops;
pub mod ops_norm;
pub mod replay;
pub mod rng;
pub mod rollout;
pub mod session;
pub mod student;
pub mod td3;
pub mod train;

pub use error::LearnError;
pub use expert::Expert;
pub use mlp::{Mlp, MlpConfig};
pub use train::{Control, Progress, TrainConfig, train};
