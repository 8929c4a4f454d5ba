//! dexstudio-plugins: the studio's Bevy plugins, one capability per file.
//!
//! Each plugin is a thin adapter over `dexsim` and `dexlearn`: the
//! simulation state lives in `dexsim`, the plugins only schedule it and
//! show it. Panels are plain functions of their data.

pub mod capture;
pub mod driver;
pub mod encode;
pub mod error;
mod jobs;
pub mod orbit_camera;
pub mod overlay;
pub mod panels;
pub mod perturb;
pub mod recorder;
pub mod replay;
pub mod scene_view;
pub mod session;
pub mod sim_step;
pub mod student;
pub mod studio;
pub mod teleop;
pub mod teleop_gamepad;
pub mod timeline;
pub mod ui;
pub mod viewports;

#[cfg(test)]
mod testing;

pub use capture::{CaptureCmd, CaptureCmds, CapturePlugin};
pub use driver::{Driver, DriverPlugin, DriverSet, Policy};
pub use error::PluginError;
pub use orbit_camera::{OrbitCamera, OrbitCameraPlugin};
pub use overlay::{Overlay, OverlayPlugin};
pub use perturb::PerturbPlugin;
pub use recorder::{RecordCmd, RecordCmds, Recorder, RecorderPlugin};
pub use replay::Replay;
pub use scene_view::SceneViewPlugin;
pub use session::{ActiveSession, SessionCmd, SessionCmds, SessionPlugin, SessionSet};
pub use sim_step::{SimStepPlugin, SimStepSet, Viewport};
pub use student::{StudentCmd, StudentCmds, StudentPlugin, Students};
pub use studio::{Studio, StudioCmd, StudioCmds, StudioPlugin};
pub use teleop::{Teleop, TeleopPlugin};
pub use timeline::{Timeline, TimelinePlugin, TimelineSet};
pub use ui::StudioUiPlugin;
pub use viewports::{Focus, Pane, ViewportsPlugin};
