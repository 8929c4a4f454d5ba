//! Checkpoint selection (`distill --select-every`): for every student that
//! used it, the validation success at each check, the step it kept, and
//! its success on the evaluation seeds, which the selection never saw.

use std::path::{Path, PathBuf};

use dexlearn::student::select::{SELECTION_JSON, Selection};
use serde::Serialize;

use super::{Entry, cell, mean_over};
use crate::plot::{XySeries, xy_lines};

/// One selecting student.
#[derive(Clone, Debug, Serialize)]
pub struct SelectRow {
    pub name: String,
    pub label: String,
    pub selection: Selection,
    /// Mean evaluation success on the report's tasks.
    pub test: Option<f64>,
}

/// Rows for the students in `session` that kept a checked step.
pub fn rows(session: &Path, entries: &[Entry], tasks: &[String]) -> Vec<SelectRow> {
    entries
        .iter()
        .filter_map(|e| {
            let path = session.join("students").join(&e.name).join(SELECTION_JSON);
            let selection: Selection = dexlearn::fsio::read_json(&path).ok()?;
            selection.best()?;
            Some(SelectRow {
                name: e.name.clone(),
                label: e.label.clone(),
                selection,
                test: mean_over(e, tasks),
            })
        })
        .collect()
}

/// The section's table (empty without rows).
pub fn markdown(rows: &[SelectRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Checkpoint selection\n\nValidation: mean success over the tasks with \
         demonstrations, on validation seeds; test: the report's mean on evaluation seeds.\n\n\
         | student | checks (step: validation) | kept step | kept validation | test |\n\
         |---|---|---|---|---|\n",
    );
    for r in rows {
        let checks: Vec<String> = r
            .selection
            .checks
            .iter()
            .map(|c| format!("{}: {:.2}", c.step, c.mean))
            .collect();
        let (step, mean) = r.selection.best().map_or((0, 0.0), |b| (b.step, b.mean));
        md += &format!(
            "| {} | {} | {step} | {mean:.2} | {} |\n",
            r.label,
            checks.join(", "),
            cell(r.test)
        );
    }
    md
}

/// Validation success by step, one line per student.
pub fn figure(out: &Path, rows: &[SelectRow]) -> anyhow::Result<Option<PathBuf>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let points: Vec<Vec<(f32, f32)>> = rows
        .iter()
        .map(|r| {
            let mut p: Vec<(f32, f32)> = r
                .selection
                .checks
                .iter()
                .map(|c| (c.step as f32, c.mean as f32))
                .collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            p
        })
        .collect();
    let series: Vec<XySeries> = rows
        .iter()
        .zip(&points)
        .map(|(r, p)| XySeries {
            name: &r.name,
            points: p,
        })
        .collect();
    let path = out.join("selection.svg");
    xy_lines(
        &path,
        "validation success at each checkpoint check",
        "policy-stage step",
        &series,
    )?;
    Ok(Some(path))
}
