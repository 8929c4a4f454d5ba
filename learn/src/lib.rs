//! dexlearn: candle networks and learning algorithms of dexstudio.
//!
//! This crate never imports Bevy: the studio runs it on a trainer thread
//! and talks to it through channels. Today it holds the building block every
//! later network shares (an MLP with a serde config); experts, critics and
//! students build on it.

pub mod error;
pub mod mlp;

pub use error::LearnError;
pub use mlp::{Mlp, MlpConfig};
