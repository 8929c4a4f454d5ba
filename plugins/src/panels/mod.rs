//! egui panels: functions from a view of the data to widgets.

pub mod hud;
