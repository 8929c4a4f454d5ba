//! The Replay panel: pick a dataset (the session's `data/` by default) and
//! an episode, and replay it in the focused viewport.

use std::path::{Path, PathBuf};

use bevy::prelude::Resource;
use bevy_egui::egui;

use crate::replay::{EpisodeSummary, list_episodes};
use crate::studio::StudioCmd;

/// The panel's own state: the folder typed and the episode picked, and the
/// dataset's episode list, read again only when the folder changes or on
/// **refresh**.
#[derive(Resource, Default)]
pub struct ReplayPicker {
    /// Dataset or session folder (empty until first shown: then the
    /// session's `data/`).
    pub dir: String,
    /// Episode index.
    pub episode: usize,
    listing: Option<(String, Result<Vec<EpisodeSummary>, String>)>,
}

/// The replay running in the focused viewport, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayStatus {
    /// Dataset folder.
    pub dir: PathBuf,
    /// Episode index.
    pub episode: usize,
    /// Step reached and stored steps.
    pub step: usize,
    /// Stored steps.
    pub frames: usize,
    /// The stored reward of the last step taken, beside the live one.
    pub stored_reward: Option<f32>,
}

impl ReplayPicker {
    /// Fill in `default` as the folder the first time, and list the
    /// dataset's episodes when the folder changed (reads its manifest).
    pub fn refresh(&mut self, default: &Path) {
        if self.dir.is_empty() {
            self.dir = default.display().to_string();
        }
        if self.listing.as_ref().is_some_and(|(d, _)| *d == self.dir) {
            return;
        }
        let listed = list_episodes(Path::new(&self.dir)).map_err(|e| e.to_string());
        self.listing = Some((self.dir.clone(), listed));
    }

    /// Draw the panel; **replay** pushes [`StudioCmd::Replay`].
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        status: Option<&ReplayStatus>,
        cmds: &mut Vec<StudioCmd>,
    ) {
        ui.heading("Replay");
        ui.horizontal(|ui| {
            ui.label("dataset");
            ui.add(egui::TextEdit::singleline(&mut self.dir).desired_width(200.0));
            if ui.button("refresh").clicked() {
                self.listing = None;
            }
        });
        let episodes = match self.listing.as_ref().map(|(_, l)| l) {
            Some(Ok(eps)) if !eps.is_empty() => eps,
            Some(Ok(_)) => {
                ui.colored_label(egui::Color32::GRAY, "the dataset has no episodes");
                return;
            }
            Some(Err(why)) => {
                ui.colored_label(egui::Color32::GRAY, why);
                return;
            }
            None => return,
        };
        self.episode = self.episode.min(episodes.len() - 1);
        ui.horizontal(|ui| {
            ui.label(format!("episode (of {})", episodes.len()));
            ui.add(egui::DragValue::new(&mut self.episode).range(0..=episodes.len() - 1));
            if ui
                .button("replay")
                .on_hover_text("reset with the episode's seed and apply its stored actions")
                .clicked()
            {
                cmds.push(StudioCmd::Replay(PathBuf::from(&self.dir), self.episode));
            }
        });
        let e = &episodes[self.episode];
        ui.label(format!(
            "{} · {} steps · return {:+.2} · {}{}",
            e.task,
            e.entry.frames,
            e.entry.ret,
            e.entry.source,
            if e.entry.solved { " · solved" } else { "" }
        ));
        ui.label(format!("seed {}", e.entry.seed));
        if let Some(s) = status {
            let stored = s
                .stored_reward
                .map_or_else(String::new, |r| format!(", stored reward {r:+.3}"));
            ui.label(format!(
                "replaying episode {}: step {} / {}{stored}",
                s.episode, s.step, s.frames
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::ReplayPicker;
    use crate::testing::panel_text;

    #[test]
    fn a_missing_dataset_is_explained() {
        let mut p = ReplayPicker::default();
        p.refresh(Path::new("/nonexistent/dexstudio-data"));
        let text = panel_text(|ui| p.ui(ui, None, &mut Vec::new()));
        assert!(text.contains("manifest.json"), "{text}");
    }
}
