//! The teleop panel: which hand the keys move, its synergies and wrist
//! targets, and the key map.

use bevy::prelude::KeyCode;
use bevy_egui::egui;

use crate::teleop::{
    GRASP_KEYS, HAND_KEYS, HOME_KEY, HandCmd, PINCH_KEYS, SPREAD_KEYS, WRIST, WRIST_KEYS,
};

/// What the panel shows.
#[derive(Clone, Debug, PartialEq)]
pub struct TeleopView {
    /// Hand names.
    pub hands: Vec<String>,
    /// The hand the keys move.
    pub active: usize,
    /// Its command.
    pub cmd: HandCmd,
}

/// A key as printed on the keyboard.
pub fn key_label(k: KeyCode) -> String {
    let name = format!("{k:?}");
    name.trim_start_matches("Key")
        .trim_start_matches("Digit")
        .to_owned()
}

/// Every teleop binding as (keys, what they do), for the panel and docs.
pub fn bindings() -> Vec<(String, String)> {
    let pair = |(a, b): (KeyCode, KeyCode)| format!("{} / {}", key_label(a), key_label(b));
    let mut rows: Vec<(String, String)> = WRIST
        .iter()
        .zip(WRIST_KEYS)
        .map(|(w, k)| (pair(k), format!("wrist {w} + / -")))
        .collect();
    rows.push((pair(GRASP_KEYS), "grasp close / open".into()));
    rows.push((pair(PINCH_KEYS), "pinch close / open".into()));
    rows.push((pair(SPREAD_KEYS), "spread out / in".into()));
    rows.push((key_label(HOME_KEY), "hand back to rest".into()));
    rows.push((
        format!("{} / {}", key_label(HAND_KEYS[0]), key_label(HAND_KEYS[1])),
        "right / left hand".into(),
    ));
    rows.push(("Shift + drag".into(), "wrist tx (sideways), tz (up)".into()));
    rows.push(("Shift + wheel".into(), "wrist ty".into()));
    rows
}

/// Draw the panel.
pub fn teleop(ui: &mut egui::Ui, v: &TeleopView) {
    ui.heading("Teleop");
    if v.hands.len() > 1 {
        ui.horizontal(|ui| {
            ui.label("hand");
            for (i, h) in v.hands.iter().enumerate() {
                let text = format!("{h} ({})", i + 1);
                if i == v.active {
                    ui.strong(text);
                } else {
                    ui.weak(text);
                }
            }
        });
    }
    let c = &v.cmd;
    for (name, value) in [
        ("grasp", c.grasp),
        ("pinch", c.pinch),
        ("spread", 0.5 * (c.spread + 1.0)),
    ] {
        ui.add(
            egui::ProgressBar::new(value)
                .desired_height(12.0)
                .text(format!("{name} {value:.2}")),
        );
    }
    let wrist: Vec<String> = WRIST
        .iter()
        .zip(c.wrist)
        .map(|(w, x)| format!("{w} {x:+.2}"))
        .collect();
    ui.label(format!("wrist  {}", wrist.join("  ")));
    egui::CollapsingHeader::new("keys")
        .default_open(false)
        .show(ui, |ui| {
            egui::Grid::new("teleop-keys")
                .num_columns(2)
                .show(ui, |ui| {
                    for (keys, what) in bindings() {
                        ui.monospace(keys);
                        ui.label(what);
                        ui.end_row();
                    }
                });
        });
}

#[cfg(test)]
mod tests {
    use super::{TeleopView, bindings, teleop};
    use crate::teleop::HandCmd;
    use crate::testing::panel_text;

    #[test]
    fn panel_shows_hand_synergies_and_keys() {
        let v = TeleopView {
            hands: vec!["right".into(), "left".into()],
            active: 1,
            cmd: HandCmd {
                wrist: [0.25, 0.0, 0.0, 0.0, 0.0, -0.5],
                grasp: 0.75,
                pinch: 0.0,
                spread: 0.0,
            },
        };
        let text = panel_text(|ui| teleop(ui, &v));
        for needle in ["left (2)", "grasp 0.75", "tx +0.25", "rz -0.50", "keys"] {
            assert!(text.contains(needle), "the panel must show {needle}");
        }
        let keys = bindings();
        assert_eq!(keys.len(), 13);
        for (k, what) in [
            ("D / A", "wrist tx + / -"),
            ("Z / X", "grasp close / open"),
            ("Backspace", "hand back to rest"),
            ("1 / 2", "right / left hand"),
        ] {
            assert!(keys.contains(&(k.into(), what.into())), "{k}: {what}");
        }
    }
}
