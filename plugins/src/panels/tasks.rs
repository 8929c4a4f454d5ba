//! The task browser: tasks grouped by suite, and the open task's
//! description and success rule.

use bevy_egui::egui;
use dexsim::task::UPRIGHT_COS;
use dexsim::{Catalog, Family, TaskSpec};

use crate::studio::StudioCmd;

/// One task as the browser lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskEntry {
    /// Task name.
    pub name: String,
    /// The spec's description.
    pub description: String,
    /// When an episode counts as solved, in words.
    pub success: String,
}

/// What the browser shows.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskBrowserView {
    /// Suites by name, each with its tasks.
    pub suites: Vec<(String, Vec<TaskEntry>)>,
    /// The open task.
    pub current: TaskEntry,
    /// Seed a newly opened task starts with.
    pub seed: u64,
}

impl TaskBrowserView {
    /// The view of `catalog` with `current` open; `None` if `current` is
    /// not in the catalog.
    pub fn new(catalog: &Catalog, current: &str, seed: u64) -> Option<Self> {
        let entry = |name: &str| {
            catalog.tasks.get(name).map(|spec| TaskEntry {
                name: name.to_owned(),
                description: spec.description.clone(),
                success: success_rule(spec),
            })
        };
        let suites = catalog
            .suites
            .iter()
            .map(|(suite, names)| {
                (
                    suite.clone(),
                    names.iter().filter_map(|n| entry(n)).collect(),
                )
            })
            .collect();
        Some(Self {
            suites,
            current: entry(current)?,
            seed,
        })
    }
}

/// The success predicate of a task in words, with its thresholds.
pub fn success_rule(spec: &TaskSpec) -> String {
    let t = spec.success_threshold;
    let pct = t * 100.0;
    let upright = f64::from(UPRIGHT_COS).acos().to_degrees();
    let rule = match spec.family {
        Family::Reach => format!("every fingertip within {:.1} cm of its goal", t * 100.0),
        Family::Pose => format!("L2 norm of the finger joint errors below {t:.2} rad"),
        Family::ObjHold => format!("object centre within {:.1} cm of the goal", t * 100.0),
        Family::KeyTurn => format!("key within {t:.2} rad of the goal angle"),
        Family::PenTwirl => format!(
            "pen axis within {:.0}° of the goal heading, pen not dropped",
            t.clamp(-1.0, 1.0).acos().to_degrees()
        ),
        Family::Spray => {
            format!("at least {pct:.0}% of the goal press, bottle within {upright:.0}° of upright")
        }
        Family::Scissors => format!("scissors at least {pct:.0}% of the goal opening"),
        Family::Switch => format!("both switches at least {pct:.0}% of their goals at once"),
        Family::BottleCap => {
            format!("at least {pct:.0}% of the cap lift, bottle within {upright:.0}° of upright")
        }
    };
    format!(
        "{rule}, held {} control steps (episode of {} steps)",
        spec.hold_steps, spec.episode_steps
    )
}

/// Draw the browser; opening a task pushes [`StudioCmd::OpenTask`].
pub fn task_browser(ui: &mut egui::Ui, v: &TaskBrowserView, cmds: &mut Vec<StudioCmd>) {
    ui.heading(&v.current.name);
    ui.label(&v.current.description);
    ui.label(egui::RichText::new(format!("Success: {}", v.current.success)).italics());
    ui.separator();
    egui::ScrollArea::vertical().show(ui, |ui| {
        for (suite, tasks) in &v.suites {
            let open = tasks.iter().any(|t| t.name == v.current.name);
            egui::CollapsingHeader::new(suite)
                .default_open(open && suite != "all")
                .show(ui, |ui| {
                    for t in tasks {
                        let selected = t.name == v.current.name;
                        let r = ui.selectable_label(selected, &t.name);
                        if r.on_hover_text(&t.description).clicked() && !selected {
                            cmds.push(StudioCmd::OpenTask(t.name.clone(), v.seed));
                        }
                    }
                });
        }
    });
}

#[cfg(test)]
mod tests {
    use dexsim::Catalog;

    use super::{TaskBrowserView, success_rule, task_browser};
    use crate::studio::StudioCmd;
    use crate::testing::{click, panel_text};

    #[test]
    fn browser_shows_suites_description_and_rule() {
        let cat = Catalog::bundled().expect("catalog");
        let v = TaskBrowserView::new(&cat, "reach-easy", 0).expect("view");
        let text = panel_text(|ui| task_browser(ui, &v, &mut Vec::new()));
        for needle in [
            "dex5-easy",
            "bidex",
            "reach-easy",
            "fingertip within 2.0 cm",
        ] {
            assert!(text.contains(needle), "the browser must show {needle}");
        }
        assert!(TaskBrowserView::new(&cat, "no-such-task", 0).is_none());
    }

    #[test]
    fn every_task_has_a_success_rule() {
        let cat = Catalog::bundled().expect("catalog");
        for spec in cat.tasks.values() {
            let rule = success_rule(spec);
            assert!(rule.contains("held"), "{}: {rule}", spec.name);
        }
    }

    #[test]
    fn clicking_a_task_opens_it() {
        let cat = Catalog::bundled().expect("catalog");
        let v = TaskBrowserView::new(&cat, "reach-easy", 4).expect("view");
        let cmds = click("pose-easy", |ui, cmds| task_browser(ui, &v, cmds));
        assert_eq!(cmds, vec![StudioCmd::OpenTask("pose-easy".into(), 4)]);
    }
}
