//! The Students panel: the student checkpoints found in the session and
//! the shipped assets, a folder typed or browsed for, and what is loading.
//! A load replaces the focused viewport's driver once it is done.

use std::path::PathBuf;

use bevy_egui::egui;

use crate::student::StudentCmd;

/// What the panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StudentsView {
    /// Student folders found, session first.
    pub found: Vec<PathBuf>,
    /// Folders being loaded.
    pub loading: Vec<PathBuf>,
    /// Folder of the student driving the focused viewport, if one does.
    pub driving: Option<PathBuf>,
}

/// Draw the panel; `typed` is the folder field. Buttons push
/// [`StudentCmd`]s.
pub fn students(
    ui: &mut egui::Ui,
    v: &StudentsView,
    typed: &mut String,
    cmds: &mut Vec<StudentCmd>,
) {
    ui.horizontal(|ui| {
        ui.heading("Students");
        if ui
            .small_button("rescan")
            .on_hover_text("look in the session's students/ and assets/students/ again")
            .clicked()
        {
            cmds.push(StudentCmd::Rescan);
        }
    });
    if v.found.is_empty() {
        ui.colored_label(
            egui::Color32::GRAY,
            "none in the session's students/ or assets/students/; distill one with \
             `dexstudio distill`",
        );
    }
    for dir in &v.found {
        let name = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        let driving = v.driving.as_ref() == Some(dir);
        let label = if driving { format!("{name} ✔") } else { name };
        if ui
            .button(label)
            .on_hover_text(format!("drive the viewport with {}", dir.display()))
            .clicked()
        {
            cmds.push(StudentCmd::Load(dir.clone()));
        }
    }
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(typed)
                .hint_text("student folder")
                .desired_width(170.0),
        );
        if ui
            .add_enabled(!typed.trim().is_empty(), egui::Button::new("load"))
            .clicked()
        {
            cmds.push(StudentCmd::Load(PathBuf::from(typed.trim())));
        }
        if ui.button("browse…").clicked() {
            cmds.push(StudentCmd::Browse);
        }
    });
    for dir in &v.loading {
        ui.label(format!("loading {}…", dir.display()));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{StudentsView, students};
    use crate::student::StudentCmd;
    use crate::testing::{click, panel_text};

    fn view() -> StudentsView {
        StudentsView {
            found: vec![PathBuf::from("sessions/s/students/acgd-easy-100")],
            loading: vec![PathBuf::from("/tmp/big")],
            driving: None,
        }
    }

    #[test]
    fn panel_lists_students_and_loads() {
        let v = view();
        let text = panel_text(|ui| students(ui, &v, &mut String::new(), &mut Vec::new()));
        for needle in ["acgd-easy-100", "loading /tmp/big", "browse"] {
            assert!(text.contains(needle), "the panel must show {needle}");
        }
        let empty = StudentsView::default();
        let text = panel_text(|ui| students(ui, &empty, &mut String::new(), &mut Vec::new()));
        assert!(text.contains("dexstudio distill"), "{text}");
        assert_eq!(
            click("acgd-easy-100", |ui, cmds| students(
                ui,
                &v,
                &mut String::new(),
                cmds
            )),
            vec![StudentCmd::Load("sessions/s/students/acgd-easy-100".into())]
        );
        assert_eq!(
            click("load", |ui, cmds| students(
                ui,
                &v,
                &mut "/a/b".to_owned(),
                cmds
            )),
            vec![StudentCmd::Load("/a/b".into())]
        );
    }
}
