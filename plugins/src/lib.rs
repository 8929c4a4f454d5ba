//! dexstudio-plugins: the studio's Bevy plugins, one capability per file.
//!
//! Each plugin is a thin adapter over `dexsim` (and later `dexlearn`): the
//! simulation state lives in `dexsim`, the plugins only schedule it and
//! show it. Panels are plain functions of their data.

pub mod panels;
pub mod sim_step;

pub use sim_step::{SimStepPlugin, SimStepSet, Viewport};
