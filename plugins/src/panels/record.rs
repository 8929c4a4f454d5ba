//! The record panel: start, keep, re-record and stop episodes, and what
//! has reached the dataset.

use bevy_egui::egui;

use crate::recorder::RecordCmd;

/// Orange of warnings.
const WARN: egui::Color32 = egui::Color32::from_rgb(220, 140, 40);

/// What the panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordView {
    /// Recording is on.
    pub recording: bool,
    /// Frames of the episode in progress.
    pub frames: usize,
    /// The source the episode will be stored with.
    pub source: Option<String>,
    /// Episodes kept this session.
    pub kept: usize,
    /// Episodes on disk.
    pub written: usize,
    /// Episodes waiting for the writer.
    pub queued: usize,
    /// Episodes thrown away.
    pub discarded: usize,
    /// The dataset folder.
    pub dir: String,
    /// What happened last.
    pub message: Option<String>,
    /// The last write error.
    pub error: Option<String>,
}

/// Draw the panel; buttons push [`RecordCmd`]s.
pub fn record(ui: &mut egui::Ui, v: &RecordView, cmds: &mut Vec<RecordCmd>) {
    ui.heading("Record");
    if v.recording {
        ui.horizontal(|ui| {
            if ui
                .button("keep (Right)")
                .on_hover_text("keep this episode and start the next")
                .clicked()
            {
                cmds.push(RecordCmd::Keep);
            }
            if ui
                .button("re-record (Left)")
                .on_hover_text("discard this episode and record its seed again")
                .clicked()
            {
                cmds.push(RecordCmd::Rerecord);
            }
            if ui
                .button("stop (Esc)")
                .on_hover_text("keep this episode and stop recording")
                .clicked()
            {
                cmds.push(RecordCmd::Stop);
            }
        });
        ui.colored_label(
            egui::Color32::from_rgb(230, 70, 60),
            format!("recording: {} frames", v.frames),
        );
        match v.source.as_deref() {
            Some(s) if s.ends_with("-noq") => {
                ui.colored_label(
                    WARN,
                    format!("no expert for this task: Q is stored as 0, source `{s}`"),
                );
            }
            Some(s) => {
                ui.label(format!("source `{s}`, Q from the task's expert"));
            }
            None => {
                ui.label("waiting for a new episode");
            }
        }
    } else if ui
        .button("record")
        .on_hover_text("record episodes into the session's dataset")
        .clicked()
    {
        cmds.push(RecordCmd::Start);
    }
    ui.label(format!(
        "{} written, {} queued, {} discarded",
        v.written, v.queued, v.discarded
    ));
    ui.label(egui::RichText::new(format!("into {}", v.dir)).small());
    if let Some(m) = &v.message {
        ui.colored_label(egui::Color32::GRAY, m);
    }
    if let Some(e) = &v.error {
        ui.colored_label(egui::Color32::from_rgb(230, 90, 70), e);
    }
}

#[cfg(test)]
mod tests {
    use super::{RecordView, record};
    use crate::recorder::RecordCmd;
    use crate::testing::{click, panel_text};

    fn recording() -> RecordView {
        RecordView {
            recording: true,
            frames: 42,
            source: Some("teleop-noq".into()),
            kept: 2,
            written: 1,
            queued: 1,
            discarded: 3,
            dir: "sessions/default/data".into(),
            message: None,
            error: Some("cannot write the episode: disk full".into()),
        }
    }

    #[test]
    fn panel_shows_progress_and_the_missing_q() {
        let v = recording();
        let text = panel_text(|ui| record(ui, &v, &mut Vec::new()));
        for needle in [
            "42 frames",
            "Q is stored as 0",
            "teleop-noq",
            "1 written, 1 queued, 3 discarded",
            "sessions/default/data",
            "disk full",
        ] {
            assert!(text.contains(needle), "the panel must show {needle}");
        }
    }

    #[test]
    fn buttons_push_record_commands() {
        let v = recording();
        assert_eq!(
            click("keep (Right)", |ui, c| record(ui, &v, c)),
            vec![RecordCmd::Keep]
        );
        assert_eq!(
            click("re-record (Left)", |ui, c| record(ui, &v, c)),
            vec![RecordCmd::Rerecord]
        );
        assert_eq!(
            click("stop (Esc)", |ui, c| record(ui, &v, c)),
            vec![RecordCmd::Stop]
        );
        let idle = RecordView::default();
        assert_eq!(
            click("record", |ui, c| record(ui, &idle, c)),
            vec![RecordCmd::Start]
        );
    }
}
