//! egui panels: functions from a view of the data to widgets; panels that
//! can change the world push `StudioCmd`s instead of mutating it.

pub mod capture;
pub mod controls;
pub mod hud;
pub mod policy_eye;
pub mod record;
pub mod replay;
pub mod session;
pub mod students;
pub mod tasks;
pub mod teleop;
pub mod viewports;
