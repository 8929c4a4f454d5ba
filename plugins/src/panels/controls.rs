//! Playback controls of a viewport: play/pause, step, reset, seed, speed,
//! driver picker and the episode scrubber.

use bevy_egui::egui;

use crate::driver::PolicyChoice;
use crate::studio::{SPEED_RANGE, StudioCmd};

/// What the controls show; built from a viewport each frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlsView {
    /// The viewport is playing.
    pub playing: bool,
    /// Playback speed.
    pub speed: f32,
    /// Seed of the current episode.
    pub seed: u64,
    /// The policy driving.
    pub policy: PolicyChoice,
    /// `Err(why)` when the task has no usable expert.
    pub expert: Result<(), String>,
    /// Name of the student loaded into the viewport, if one is.
    pub student: Option<String>,
    /// First and last recorded steps of the episode.
    pub recorded: Option<(usize, usize)>,
    /// The step shown.
    pub cursor: usize,
}

/// Draw the controls; what the user asks for is pushed to `cmds`.
pub fn controls(ui: &mut egui::Ui, v: &ControlsView, cmds: &mut Vec<StudioCmd>) {
    ui.horizontal(|ui| {
        let play = if v.playing { "⏸ pause" } else { "▶ play" };
        if ui.button(play).clicked() {
            cmds.push(StudioCmd::TogglePlay);
        }
        if ui
            .button("step")
            .on_hover_text("one control step")
            .clicked()
        {
            cmds.push(StudioCmd::Step);
        }
        if ui
            .button("reset")
            .on_hover_text("replay this seed")
            .clicked()
        {
            cmds.push(StudioCmd::Reset(v.seed));
        }
        if ui.button("next").on_hover_text("the next seed").clicked() {
            cmds.push(StudioCmd::Reset(v.seed.wrapping_add(1)));
        }
    });
    egui::Grid::new("controls").num_columns(2).show(ui, |ui| {
        ui.label("seed");
        let mut seed = v.seed;
        if ui.add(egui::DragValue::new(&mut seed)).changed() {
            cmds.push(StudioCmd::Reset(seed));
        }
        ui.end_row();
        ui.label("speed");
        let mut speed = v.speed;
        let slider = egui::Slider::new(&mut speed, SPEED_RANGE.0..=SPEED_RANGE.1)
            .logarithmic(true)
            .suffix("×");
        if ui.add(slider).changed() {
            cmds.push(StudioCmd::SetSpeed(speed));
        }
        ui.end_row();
        ui.label("driver");
        let mut policy = v.policy;
        ui.horizontal(|ui| {
            ui.selectable_value(&mut policy, PolicyChoice::Zero, "zero");
            ui.selectable_value(&mut policy, PolicyChoice::Random, "random");
            ui.add_enabled_ui(v.expert.is_ok(), |ui| {
                ui.selectable_value(&mut policy, PolicyChoice::Expert, "expert")
            });
            ui.selectable_value(&mut policy, PolicyChoice::Teleop, "teleop")
                .on_hover_text("drive the hand from the keyboard and mouse");
            let student = v.student.as_deref().unwrap_or("load one under Students");
            ui.add_enabled_ui(v.student.is_some(), |ui| {
                ui.selectable_value(&mut policy, PolicyChoice::Student, "student")
                    .on_hover_text(student)
            });
        });
        if policy != v.policy {
            cmds.push(StudioCmd::SetPolicy(policy));
        }
        ui.end_row();
    });
    if let Err(why) = &v.expert {
        ui.colored_label(egui::Color32::GRAY, why);
    }
    if let Some((first, last)) = v.recorded {
        ui.label("episode");
        let mut step = v.cursor.clamp(first, last);
        let slider = egui::Slider::new(&mut step, first..=last.max(first)).prefix("step ");
        if ui.add(slider).changed() {
            cmds.push(StudioCmd::Scrub(step));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ControlsView, controls};
    use crate::driver::PolicyChoice;
    use crate::studio::StudioCmd;
    use crate::testing::{click, panel_text};

    fn view() -> ControlsView {
        ControlsView {
            playing: true,
            speed: 1.0,
            seed: 7,
            policy: PolicyChoice::Zero,
            expert: Err("no expert for reach-easy".into()),
            student: Some("acgd-easy-100".into()),
            recorded: Some((0, 12)),
            cursor: 12,
        }
    }

    #[test]
    fn controls_show_state_and_missing_expert() {
        let v = view();
        let text = panel_text(|ui| controls(ui, &v, &mut Vec::new()));
        for needle in [
            "pause",
            "step",
            "reset",
            "seed",
            "speed",
            "random",
            "no expert for",
        ] {
            assert!(text.contains(needle), "the controls must show {needle}");
        }
    }

    #[test]
    fn buttons_push_commands() {
        let v = view();
        assert_eq!(
            click("⏸ pause", |ui, cmds| controls(ui, &v, cmds)),
            vec![StudioCmd::TogglePlay]
        );
        assert_eq!(
            click("reset", |ui, cmds| controls(ui, &v, cmds)),
            vec![StudioCmd::Reset(7)]
        );
        assert_eq!(
            click("random", |ui, cmds| controls(ui, &v, cmds)),
            vec![StudioCmd::SetPolicy(PolicyChoice::Random)]
        );
        assert_eq!(
            click("teleop", |ui, cmds| controls(ui, &v, cmds)),
            vec![StudioCmd::SetPolicy(PolicyChoice::Teleop)]
        );
        assert_eq!(
            click("student", |ui, cmds| controls(ui, &v, cmds)),
            vec![StudioCmd::SetPolicy(PolicyChoice::Student)]
        );
    }
}
