//! `eval --trace`: each task's goal error after every step of every
//! episode, as CSV and as a plot of its mean over solved and over failed
//! episodes, so a failure can be told apart: never reached, or reached
//! and drifted away.

use std::path::Path;

use anyhow::Context;
use dexlearn::student::eval::TaskEval;

use crate::plot::{XySeries, xy_lines};

/// Write `dir/trace-<task>.csv` and `dir/trace-<task>.svg`.
pub fn write(dir: &Path, e: &TaskEval) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut csv = String::from("episode,step,goal_error,solved\n");
    for (ep, (trace, solved)) in e.goal_error.iter().zip(&e.solved).enumerate() {
        for (t, g) in trace.iter().enumerate() {
            csv += &format!("{ep},{},{g},{}\n", t + 1, u8::from(*solved));
        }
    }
    dexlearn::fsio::write_atomic(&dir.join(format!("trace-{}.csv", e.task)), csv.as_bytes())?;
    let solved = mean_curve(e, true);
    let failed = mean_curve(e, false);
    let n = |s: bool| e.solved.iter().filter(|&&v| v == s).count();
    let (ls, lf) = (
        format!("solved episodes ({})", n(true)),
        format!("failed episodes ({})", n(false)),
    );
    let series: Vec<XySeries> = [(&ls, &solved), (&lf, &failed)]
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(name, points)| XySeries { name, points })
        .collect();
    xy_lines(
        &dir.join(format!("trace-{}.svg", e.task)),
        &format!("{}: mean goal error after each step", e.task),
        "step",
        &series,
    )
}

/// Mean goal error per step over the episodes whose outcome is `solved`
/// (over those still running at that step).
fn mean_curve(e: &TaskEval, solved: bool) -> Vec<(f32, f32)> {
    let runs: Vec<&Vec<f32>> = e
        .goal_error
        .iter()
        .zip(&e.solved)
        .filter(|(_, s)| **s == solved)
        .map(|(t, _)| t)
        .collect();
    let len = runs.iter().map(|t| t.len()).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let v: Vec<f32> = runs.iter().filter_map(|t| t.get(i).copied()).collect();
            ((i + 1) as f32, v.iter().sum::<f32>() / v.len() as f32)
        })
        .collect()
}
