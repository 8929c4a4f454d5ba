//! `eval --trace`: each task's goal error and progress after every step
//! of every episode, as CSV and as a plot of the mean over solved and over
//! failed episodes, so a failure can be told apart: never reached, or
//! reached and drifted away.

use std::path::Path;

use anyhow::Context;
use dexlearn::student::eval::TaskEval;

use crate::plot::{XySeries, xy_lines};

/// Write `dir/trace-<task>.csv` and `dir/trace-<task>.svg`. The plot shows
/// the goal error, or the progress for tasks that measure success by it
/// alone (their goal error is always 0).
pub fn write(dir: &Path, e: &TaskEval) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut csv = String::from("episode,step,goal_error,progress,solved\n");
    for (ep, ((goal, progress), solved)) in e
        .goal_error
        .iter()
        .zip(&e.progress)
        .zip(&e.solved)
        .enumerate()
    {
        for (t, (g, p)) in goal.iter().zip(progress).enumerate() {
            csv += &format!("{ep},{},{g},{p},{}\n", t + 1, u8::from(*solved));
        }
    }
    dexlearn::fsio::write_atomic(&dir.join(format!("trace-{}.csv", e.task)), csv.as_bytes())?;
    let by_goal = e.goal_error.iter().flatten().any(|&g| g != 0.0);
    let (runs, what) = if by_goal {
        (&e.goal_error, "goal error")
    } else {
        (&e.progress, "progress")
    };
    let solved = mean_curve(runs, &e.solved, true);
    let failed = mean_curve(runs, &e.solved, false);
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
        &format!("{}: mean {what} after each step", e.task),
        "step",
        &series,
    )
}

/// Mean per step of the `runs` whose outcome is `solved` (over those still
/// running at that step).
fn mean_curve(runs: &[Vec<f32>], outcomes: &[bool], solved: bool) -> Vec<(f32, f32)> {
    let runs: Vec<&Vec<f32>> = runs
        .iter()
        .zip(outcomes)
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
