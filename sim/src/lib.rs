//! dexsim: dexterous-hand tasks on rapier3d, headless and deterministic.
//!
//! Scenes are MJCF files (MuJoCo's format, so MuJoCo can load the same
//! files); tasks are TOML specs over them. [`Env`] is one environment with
//! `reset(seed)` / `step(action)`, [`VecEnv`] steps many on rayon, and
//! [`render`] draws the observation image on the CPU.

pub mod catalog;
pub mod debug_draw;
pub mod env;
pub mod error;
pub mod hash;
pub mod physics;
pub mod render;
pub mod scene;
pub mod scripted;
pub mod spec;
pub mod stats;
pub mod task;
pub mod vec_env;

pub use catalog::Catalog;
pub use env::{Env, EnvConfig, Info, Observation, Snapshot, Step};
pub use error::{Result, SimError};
pub use scene::{Articulation, Scene};
pub use spec::{Family, TaskSpec};
pub use vec_env::{SeedDomain, VecEnv};
