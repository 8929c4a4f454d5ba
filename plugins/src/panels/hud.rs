//! The heads-up display of one viewport: step, reward, return, success,
//! who drives, the expert's Q of the action taken and, while another
//! policy drives, how far its action is from the expert's.

use bevy_egui::egui;

/// What the HUD shows; built from a viewport each frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HudView {
    /// Task name.
    pub task: String,
    /// Control step in the episode.
    pub step: usize,
    /// Episode length.
    pub episode_steps: usize,
    /// Last reward.
    pub reward: f32,
    /// Return so far.
    pub ret: f64,
    /// Success predicate now.
    pub success: bool,
    /// Episode solved.
    pub solved: bool,
    /// The driving policy.
    pub driver: String,
    /// The expert's Q of the last state and action, if an expert is loaded.
    pub q: Option<f32>,
    /// Why there is no expert, or why the driver fell back to zero actions.
    pub note: Option<String>,
    /// The driving policy's action against the expert's at this state
    /// (none while the expert drives, or without one).
    pub vs_expert: Option<VsExpert>,
}

/// One step's action against the expert's at the same state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VsExpert {
    /// Mean |a − e| per action value.
    pub abs: f32,
    /// Expert values with |e| > 0.5 (decisive).
    pub decisive: u16,
    /// Of those, the ones the policy pushes the other way.
    pub flipped: u16,
    /// Their actuators, largest |a − e| first.
    pub wrong: Vec<String>,
}

/// Joints the HUD names before "+N more".
const NAMED: usize = 3;

impl VsExpert {
    /// "0.123 · 3/43 signs wrong".
    fn line(&self) -> String {
        format!(
            "|a − e| {:.3} · {}/{} signs wrong",
            self.abs, self.flipped, self.decisive
        )
    }

    /// The wrong joints, the first few by name.
    fn joints(&self) -> Option<String> {
        if self.wrong.is_empty() {
            return None;
        }
        let mut s = self.wrong[..self.wrong.len().min(NAMED)].join(", ");
        if self.wrong.len() > NAMED {
            s += &format!(" +{} more", self.wrong.len() - NAMED);
        }
        Some(s)
    }
}

/// Draw the HUD.
pub fn hud(ui: &mut egui::Ui, v: &HudView) {
    ui.heading(&v.task);
    egui::Grid::new("hud").num_columns(2).show(ui, |ui| {
        ui.label("step");
        ui.label(format!("{} / {}", v.step, v.episode_steps));
        ui.end_row();
        ui.label("reward");
        ui.label(format!("{:+.3}", v.reward));
        ui.end_row();
        ui.label("return");
        ui.label(format!("{:+.2}", v.ret));
        ui.end_row();
        ui.label("success");
        let (text, colour) = match (v.solved, v.success) {
            (true, _) => ("solved", egui::Color32::from_rgb(60, 180, 90)),
            (false, true) => ("holding", egui::Color32::from_rgb(220, 180, 40)),
            (false, false) => ("not yet", egui::Color32::GRAY),
        };
        ui.colored_label(colour, text);
        ui.end_row();
        ui.label("driver");
        ui.label(&v.driver);
        ui.end_row();
        ui.label("Q(s, a)");
        ui.label(v.q.map_or_else(|| "–".to_owned(), |q| format!("{q:+.3}")))
            .on_hover_text("the task's expert critic, min(Q1, Q2), of this state and action");
        ui.end_row();
        if let Some(g) = &v.vs_expert {
            ui.label("vs expert").on_hover_text(
                "the expert's action at this state: the mean gap per action value, and the \
                 decisive values (|e| > 0.5) this policy pushes the other way",
            );
            ui.label(g.line());
            ui.end_row();
            if let Some(j) = g.joints() {
                ui.label("");
                ui.label(j);
                ui.end_row();
            }
        }
    });
    if let Some(note) = &v.note {
        ui.colored_label(egui::Color32::from_rgb(220, 140, 40), note);
    }
}

/// The HUD in two lines, drawn over a pane's 3D view when viewports sit
/// side by side, so both can be compared at a glance.
pub fn pane_hud(ui: &mut egui::Ui, title: &str, v: &HudView) {
    let success = match (v.solved, v.success) {
        (true, _) => "solved",
        (false, true) => "holding",
        (false, false) => "not yet",
    };
    let q = v.q.map_or_else(|| "–".to_owned(), |q| format!("{q:+.2}"));
    let gap = v
        .vs_expert
        .as_ref()
        .map_or_else(String::new, |g| format!("  gap {:.2}", g.abs));
    ui.label(egui::RichText::new(format!("{title} · {} · {}", v.task, v.driver)).strong());
    ui.label(format!(
        "step {}/{}  r {:+.3}  R {:+.2}  {success}  Q {q}{gap}",
        v.step, v.episode_steps, v.reward, v.ret
    ));
}

#[cfg(test)]
mod tests {
    use super::{HudView, VsExpert, hud, pane_hud};

    #[test]
    fn hud_lays_out_every_row() {
        let ctx = bevy_egui::egui::Context::default();
        let view = HudView {
            task: "key-turn-hard".into(),
            step: 12,
            episode_steps: 100,
            reward: 0.5,
            ret: 3.25,
            success: true,
            solved: false,
            driver: "expert".into(),
            q: Some(-1.5),
            note: Some("no expert for key-turn-hard".into()),
            vs_expert: Some(VsExpert {
                abs: 0.126,
                decisive: 43,
                flipped: 4,
                wrong: ["rh_a_wrist_rz", "lh_a_ring2", "lh_a_middle2", "rh_a_thumb0"]
                    .map(String::from)
                    .to_vec(),
            }),
        };
        let out = ctx.run_ui(Default::default(), |ui| hud(ui, &view));
        let text = format!("{:?}", out.shapes);
        for needle in [
            "key-turn-hard",
            "12 / 100",
            "+3.25",
            "holding",
            "expert",
            "-1.500",
            "no expert for",
            "0.126",
            "4/43 signs wrong",
            "rh_a_wrist_rz, lh_a_ring2, lh_a_middle2 +1 more",
        ] {
            assert!(text.contains(needle), "the HUD must show {needle}");
        }
        let out = ctx.run_ui(Default::default(), |ui| pane_hud(ui, "viewport 2", &view));
        let text = format!("{:?}", out.shapes);
        for needle in [
            "viewport 2",
            "expert",
            "12/100",
            "+3.25",
            "holding",
            "-1.50",
            "gap 0.13",
        ] {
            assert!(text.contains(needle), "the pane HUD must show {needle}");
        }
    }
}
