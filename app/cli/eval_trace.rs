//! `eval --trace`: each task's goal error and progress after every step
//! of every episode, as CSV and as a plot of the mean over solved and over
//! failed episodes, so a failure can be told apart: never reached, or
//! reached and drifted away. With `--expert-gap`, also how far each action
//! is from the expert's at the same state, step by step.

use std::path::Path;

use anyhow::Context;
use dexlearn::student::eval::TaskEval;
use dexlearn::student::gap::FIRST_STEPS;

use super::eval::TaskRow;

use crate::plot::{XySeries, xy_lines};

/// Write `dir/trace-<task>.csv` and `dir/trace-<task>.svg`. The plot shows
/// the goal error, or the progress for tasks that measure success by it
/// alone (their goal error is always 0). With expert gaps, the CSV gains
/// their columns and `trace-<task>-expert.svg` plots them.
pub fn write(dir: &Path, e: &TaskEval) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let gaps = !e.expert_gap.is_empty();
    let mut csv = String::from("episode,step,goal_error,progress,solved");
    csv += if gaps {
        ",expert_gap,decisive,sign_flips\n"
    } else {
        "\n"
    };
    for (ep, ((goal, progress), solved)) in e
        .goal_error
        .iter()
        .zip(&e.progress)
        .zip(&e.solved)
        .enumerate()
    {
        for (t, (g, p)) in goal.iter().zip(progress).enumerate() {
            csv += &format!("{ep},{},{g},{p},{}", t + 1, u8::from(*solved));
            match e.expert_gap.get(ep).and_then(|x| x.get(t)) {
                Some(x) => csv += &format!(",{},{},{}\n", x.abs, x.decisive, x.flipped),
                None => csv += if gaps { ",,,\n" } else { "\n" },
            }
        }
    }
    dexlearn::fsio::write_atomic(&dir.join(format!("trace-{}.csv", e.task)), csv.as_bytes())?;
    if gaps {
        write_gap_plot(dir, e)?;
    }
    let by_goal = e.goal_error.iter().flatten().any(|&g| g != 0.0);
    let (runs, what) = if by_goal {
        (&e.goal_error, "goal error")
    } else {
        (&e.progress, "progress")
    };
    plot(
        &dir.join(format!("trace-{}.svg", e.task)),
        &format!("{}: mean {what} after each step", e.task),
        &by_outcome(e, runs, &|outcome, n| format!("{outcome} episodes ({n})")),
    )
}

/// A labelled mean curve per step.
type Curve = (String, Vec<(f32, f32)>);

/// The mean curves of `runs` over solved and over failed episodes,
/// labelled by `label(outcome, episodes)`.
fn by_outcome(
    e: &TaskEval,
    runs: &[Vec<f32>],
    label: &dyn Fn(&str, usize) -> String,
) -> [Curve; 2] {
    let n = |s: bool| e.solved.iter().filter(|&&v| v == s).count();
    [
        (label("solved", n(true)), mean_curve(runs, &e.solved, true)),
        (
            label("failed", n(false)),
            mean_curve(runs, &e.solved, false),
        ),
    ]
}

/// Plot the non-empty `curves` against the step.
fn plot(path: &Path, title: &str, curves: &[Curve]) -> anyhow::Result<()> {
    let series: Vec<XySeries> = curves
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(name, points)| XySeries { name, points })
        .collect();
    xy_lines(path, title, "step", &series)
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

/// `trace-<task>-expert.svg`: mean |a − e| and the share of sign flips
/// per step, over solved and over failed episodes.
fn write_gap_plot(dir: &Path, e: &TaskEval) -> anyhow::Result<()> {
    let abs: Vec<Vec<f32>> = e
        .expert_gap
        .iter()
        .map(|ep| ep.iter().map(|g| g.abs).collect())
        .collect();
    // Per step the share of decisive values flipped (0 where none were).
    let flips: Vec<Vec<f32>> = e
        .expert_gap
        .iter()
        .map(|ep| {
            ep.iter()
                .map(|g| f32::from(g.flipped) / f32::from(g.decisive.max(1)))
                .collect()
        })
        .collect();
    let mut curves =
        by_outcome(e, &abs, &|outcome, n| format!("|a - e|, {outcome} ({n})")).to_vec();
    curves.extend(by_outcome(e, &flips, &|outcome, n| {
        format!("sign flips, {outcome} ({n})")
    }));
    plot(
        &dir.join(format!("trace-{}-expert.svg", e.task)),
        &format!("{}: the policy against its expert at each step", e.task),
        &curves,
    )
}

/// The `--expert-gap` table (empty when no row has one).
pub fn gap_markdown(rows: &[TaskRow]) -> String {
    if rows.iter().all(|r| r.expert_gap.is_none()) {
        return String::new();
    }
    let mut s = format!(
        "\nagainst the expert at the same states (first {FIRST_STEPS} steps of each episode, and all):\n\n\
         | task | mean abs(a - e), start | mean abs(a - e) | sign flips, start | sign flips | policy at limit | expert at limit | most often the wrong sign |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        if let Some(g) = &r.expert_gap {
            let worst: Vec<String> = g
                .flips_by_value
                .iter()
                .take(3)
                .map(|v| format!("{} {:.2}", v.actuator, v.share))
                .collect();
            s += &format!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} |\n",
                r.task,
                g.mean_abs_start,
                g.mean_abs,
                g.sign_flips_start,
                g.sign_flips,
                g.saturated_policy,
                g.saturated_expert,
                worst.join(", ")
            );
        }
    }
    s
}
