//! The viewport bar: which viewport the panels below control, opening and
//! closing the second one, and the collider/contact overlay toggles.

use bevy::prelude::Entity;
use bevy_egui::egui;

use crate::overlay::Overlay;
use crate::studio::StudioCmd;

/// What the bar shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewportsView {
    /// Every viewport, left to right: its entity and a label
    /// ("viewport 1 · expert").
    pub panes: Vec<(Entity, String)>,
    /// The one the panels control.
    pub focused: Option<Entity>,
    /// Another viewport can be opened.
    pub can_add: bool,
}

/// Draw the bar; focus changes and opening/closing go to `cmds`.
pub fn viewport_bar(ui: &mut egui::Ui, v: &ViewportsView, cmds: &mut Vec<StudioCmd>) {
    ui.horizontal_wrapped(|ui| {
        for (id, label) in &v.panes {
            let on = v.focused == Some(*id);
            if ui
                .selectable_label(on, label)
                .on_hover_text(
                    "the panels below control this viewport; a click in its 3D view also picks it",
                )
                .clicked()
                && !on
            {
                cmds.push(StudioCmd::Focus(*id));
            }
        }
        if v.can_add
            && ui
                .button("+ viewport")
                .on_hover_text("open a second viewport on this task and seed, side by side")
                .clicked()
        {
            cmds.push(StudioCmd::AddViewport);
        }
        if v.panes.len() > 1
            && ui
                .button("close")
                .on_hover_text("close the focused viewport")
                .clicked()
        {
            cmds.push(StudioCmd::CloseViewport);
        }
    });
    if v.panes.len() > 1
        && let Some((_, label)) = v.panes.iter().find(|(id, _)| v.focused == Some(*id))
    {
        ui.label(egui::RichText::new(format!("controls below: {label}")).strong());
    }
}

/// The overlay toggles (F3 flips both).
pub fn overlay_toggles(ui: &mut egui::Ui, overlay: &mut Overlay) {
    ui.horizontal(|ui| {
        ui.label("overlay");
        ui.checkbox(&mut overlay.colliders, "colliders")
            .on_hover_text("collider outlines, drawn by rapier (F3)");
        ui.checkbox(&mut overlay.contacts, "contacts")
            .on_hover_text("contact points and normals (F3)");
    });
}

#[cfg(test)]
mod tests {
    use bevy::prelude::Entity;

    use super::{ViewportsView, overlay_toggles, viewport_bar};
    use crate::overlay::Overlay;
    use crate::studio::StudioCmd;
    use crate::testing::{click, panel_text};

    fn two() -> (ViewportsView, Entity, Entity) {
        let (a, b) = (
            Entity::from_raw_u32(1).expect("id"),
            Entity::from_raw_u32(2).expect("id"),
        );
        let v = ViewportsView {
            panes: vec![
                (a, "viewport 1 · expert".into()),
                (b, "viewport 2 · random".into()),
            ],
            focused: Some(b),
            can_add: false,
        };
        (v, a, b)
    }

    #[test]
    fn bar_names_the_focused_viewport_and_switches() {
        let (v, a, _) = two();
        let text = panel_text(|ui| viewport_bar(ui, &v, &mut Vec::new()));
        assert!(
            text.contains("controls below: viewport 2 · random"),
            "{text}"
        );
        assert_eq!(
            click("viewport 1 · expert", |ui, cmds| viewport_bar(
                ui, &v, cmds
            )),
            vec![StudioCmd::Focus(a)]
        );
        assert_eq!(
            click("close", |ui, cmds| viewport_bar(ui, &v, cmds)),
            vec![StudioCmd::CloseViewport]
        );
        let one = ViewportsView {
            panes: vec![(a, "viewport 1 · zero".into())],
            focused: Some(a),
            can_add: true,
        };
        assert_eq!(
            click("+ viewport", |ui, cmds| viewport_bar(ui, &one, cmds)),
            vec![StudioCmd::AddViewport]
        );
    }

    #[test]
    fn toggles_show_both_switches() {
        let mut o = Overlay::default();
        let text = panel_text(|ui| overlay_toggles(ui, &mut o));
        assert!(text.contains("colliders") && text.contains("contacts"));
    }
}
