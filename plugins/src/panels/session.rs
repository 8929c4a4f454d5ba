//! The session panel: which session is open, New / Open / Save / Save As,
//! and the sessions opened before.

use std::path::PathBuf;

use bevy_egui::egui;

use crate::session::SessionCmd;

/// What the panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionView {
    /// The session's name.
    pub name: String,
    /// Its folder.
    pub dir: String,
    /// Changes not yet saved.
    pub dirty: bool,
    /// Seconds between autosaves, when autosave is on.
    pub autosave_s: Option<u64>,
    /// When the manifest was last saved.
    pub modified: String,
    /// A dialog or a copy is under way.
    pub busy: bool,
    /// Other sessions opened before, newest first.
    pub recent: Vec<PathBuf>,
    /// What happened last.
    pub note: Option<String>,
}

/// Draw the panel; buttons push [`SessionCmd`]s.
pub fn session(ui: &mut egui::Ui, v: &SessionView, cmds: &mut Vec<SessionCmd>) {
    ui.heading("Session");
    ui.label(egui::RichText::new(&v.name).strong())
        .on_hover_text(&v.dir);
    ui.label(egui::RichText::new(&v.dir).small());
    ui.add_enabled_ui(!v.busy, |ui| {
        ui.horizontal_wrapped(|ui| {
            let buttons = [
                (
                    "new…",
                    "start an empty session in a folder",
                    SessionCmd::New,
                ),
                ("open…", "open a session folder", SessionCmd::Open),
                ("save", "save the session now", SessionCmd::Save),
                (
                    "save as…",
                    "copy the session to a folder and go on there",
                    SessionCmd::SaveAs,
                ),
            ];
            for (label, hover, cmd) in buttons {
                if ui.button(label).on_hover_text(hover).clicked() {
                    cmds.push(cmd);
                }
            }
        });
    });
    let status = match (v.dirty, v.autosave_s) {
        (true, Some(s)) => format!("unsaved changes (autosave every {s} s and on exit)"),
        (true, None) => "unsaved changes (autosave is off)".to_owned(),
        (false, _) => format!("saved {}", v.modified),
    };
    ui.colored_label(egui::Color32::GRAY, status);
    if v.busy {
        ui.label("waiting for a folder or a copy…");
    }
    if let Some(n) = &v.note {
        ui.colored_label(egui::Color32::GRAY, n);
    }
    if !v.recent.is_empty() {
        egui::CollapsingHeader::new("recent").show(ui, |ui| {
            for dir in &v.recent {
                let name = dir
                    .file_name()
                    .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
                let button = ui.add_enabled(!v.busy, egui::Button::new(name));
                if button.on_hover_text(dir.display().to_string()).clicked() {
                    cmds.push(SessionCmd::OpenAt(dir.clone()));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    use super::{SessionView, session};
    use crate::session::SessionCmd;

    fn view() -> SessionView {
        SessionView {
            name: "grasping".into(),
            dir: "/home/me/sessions/grasping".into(),
            dirty: true,
            autosave_s: Some(30),
            modified: "2025-01-02T03:04:05Z".into(),
            busy: false,
            recent: vec!["/home/me/sessions/default".into()],
            note: Some("saved as /home/me/sessions/grasping".into()),
        }
    }

    fn harness(v: SessionView) -> Harness<'static, Vec<SessionCmd>> {
        Harness::new_ui_state(move |ui, cmds| session(ui, &v, cmds), Vec::new())
    }

    #[test]
    fn panel_shows_the_session_and_its_state() {
        let h = harness(view());
        for label in [
            "grasping",
            "/home/me/sessions/grasping",
            "unsaved changes (autosave every 30 s and on exit)",
            "saved as /home/me/sessions/grasping",
            "recent",
        ] {
            h.get_by_label(label);
        }
        let saved = harness(SessionView {
            dirty: false,
            ..view()
        });
        saved.get_by_label("saved 2025-01-02T03:04:05Z");
    }

    #[test]
    fn buttons_push_session_commands() {
        for (label, cmd) in [
            ("new…", SessionCmd::New),
            ("open…", SessionCmd::Open),
            ("save", SessionCmd::Save),
            ("save as…", SessionCmd::SaveAs),
        ] {
            let mut h = harness(view());
            h.get_by_label(label).click();
            h.run();
            assert_eq!(h.state(), &vec![cmd], "{label}");
        }
    }

    #[test]
    fn a_recent_session_opens_with_a_click() {
        let mut h = harness(view());
        h.get_by_label("recent").click();
        h.run();
        h.get_by_label("default").click();
        h.run();
        assert_eq!(
            h.state(),
            &vec![SessionCmd::OpenAt("/home/me/sessions/default".into())]
        );
    }

    #[test]
    fn buttons_wait_while_busy() {
        let mut h = harness(SessionView {
            busy: true,
            ..view()
        });
        h.get_by_label("save").click();
        h.run();
        h.get_by_label("recent").click();
        h.run();
        h.get_by_label("default").click();
        h.run();
        assert!(h.state().is_empty());
        h.get_by_label("waiting for a folder or a copy…");
    }
}
