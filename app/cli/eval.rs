//! `dexstudio eval`: a student's success per task with bootstrap 95%
//! intervals, on evaluation seeds no training or collection ever uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use dexlearn::bootstrap::mean_ci95;
use dexlearn::data::Dataset;
use dexlearn::student::Student;
use dexlearn::student::eval::{GoalSource, evaluate_student};
use dexsim::Catalog;
use serde::{Deserialize, Serialize};

use super::expert::set_threads;
use crate::output::emit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoalArg {
    /// Rendered from the sampled goal state (correct for -hard tasks).
    Rendered,
    /// Last frames of the task's demonstrations (the papers' protocol).
    Demo,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Student folder (with student.json).
    #[arg(long)]
    policy: PathBuf,
    /// Suite to evaluate on (default: the student's own).
    #[arg(long)]
    suite: Option<String>,
    /// Episodes per task.
    #[arg(long, default_value_t = 50)]
    episodes: usize,
    /// Where goal images come from.
    #[arg(long, value_enum, default_value_t = GoalArg::Rendered)]
    goal: GoalArg,
    /// Dataset for --goal demo (default: the one the student learned from).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Base of the evaluation seeds.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the markdown table here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One task's row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskRow {
    pub task: String,
    pub success: f64,
    pub ci95: (f64, f64),
    pub mean_return: f64,
    pub episodes: usize,
}

/// A whole evaluation; also saved as `eval-<suite>-<goal>.json` beside the
/// student for `dexstudio report`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub policy: String,
    pub method: String,
    pub suite: String,
    pub goal: GoalArg,
    pub episodes: usize,
    pub tasks: Vec<TaskRow>,
    pub mean_success: f64,
    pub mean_ci95: (f64, f64),
    pub wall_s: f64,
    pub steps_per_s: f64,
}

/// The report as a markdown table.
pub fn markdown(r: &EvalReport) -> String {
    let mut s = "| task | success | 95% CI | mean return |\n|---|---|---|---|\n".to_string();
    for t in &r.tasks {
        s += &format!(
            "| {} | {:.2} | [{:.2}, {:.2}] | {:.1} |\n",
            t.task, t.success, t.ci95.0, t.ci95.1, t.mean_return
        );
    }
    s += &format!(
        "| **mean** | **{:.2}** | [{:.2}, {:.2}] | |\n",
        r.mean_success, r.mean_ci95.0, r.mean_ci95.1
    );
    s
}

fn demo_goals(data: &Path, task: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let ds = Dataset::open(data)?;
    let mut goals = Vec::new();
    let mut index = 0;
    for s in &ds.manifest.shards {
        for _ in &s.episodes {
            if s.task == task {
                goals.push(ds.episode(index)?.goal_image().to_vec());
            }
            index += 1;
        }
    }
    Ok(goals)
}

/// Evaluate `policy` on `suite`; shared with `report`.
pub fn evaluate(a: &EvalArgs) -> anyhow::Result<EvalReport> {
    let student = Arc::new(
        Student::load(&a.policy)
            .with_context(|| format!("loading the student in {}", a.policy.display()))?,
    );
    let catalog = Catalog::bundled()?;
    let suite = a
        .suite
        .clone()
        .unwrap_or_else(|| student.meta.suite.clone());
    let tasks: Vec<String> = catalog.suite(&suite)?.to_vec();
    let bar = crate::output::progress(
        (tasks.len() * a.episodes) as u64,
        a.json,
        "eval [{bar:30}] {pos}/{len} episodes {elapsed_precise} eta {eta} {msg}",
    )?;
    let t0 = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    let mut steps = 0;
    for (ti, task) in tasks.iter().enumerate() {
        bar.set_message(task.clone());
        let goal = match a.goal {
            GoalArg::Rendered => GoalSource::Rendered,
            GoalArg::Demo => {
                let data = a
                    .data
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(&student.meta.dataset));
                GoalSource::Demo(demo_goals(&data, task)?)
            }
        };
        let e = evaluate_student(&catalog, &student, task, a.episodes, a.seed, &goal, &|| {
            bar.inc(1)
        })
        .with_context(|| format!("evaluating on {task}"))?;
        let outcomes: Vec<f64> = e.solved.iter().map(|&s| f64::from(u8::from(s))).collect();
        steps += e.steps;
        rows.push(TaskRow {
            task: task.clone(),
            success: e.success(),
            ci95: mean_ci95(std::slice::from_ref(&outcomes), 2000, ti as u64),
            mean_return: e.mean_return(),
            episodes: a.episodes,
        });
        groups.push(outcomes);
    }
    bar.finish_and_clear();
    let wall_s = t0.elapsed().as_secs_f64();
    Ok(EvalReport {
        policy: a.policy.display().to_string(),
        method: student.meta.config.method.name().to_string(),
        suite: suite.clone(),
        goal: a.goal,
        episodes: a.episodes,
        mean_success: rows.iter().map(|r| r.success).sum::<f64>() / rows.len().max(1) as f64,
        mean_ci95: mean_ci95(&groups, 2000, 99),
        tasks: rows,
        wall_s,
        steps_per_s: steps as f64 / wall_s.max(1e-9),
    })
}

/// File the report is saved to beside the student.
pub fn report_file(policy: &Path, suite: &str, goal: GoalArg) -> PathBuf {
    let goal = match goal {
        GoalArg::Rendered => "rendered",
        GoalArg::Demo => "demo",
    };
    policy.join(format!("eval-{suite}-{goal}.json"))
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    set_threads(a.threads)?;
    let r = evaluate(&a)?;
    dexlearn::fsio::write_json(&report_file(&a.policy, &r.suite, r.goal), &r)?;
    if let Some(p) = &a.markdown {
        dexlearn::fsio::write_atomic(p, markdown(&r).as_bytes())?;
    }
    emit(a.json, &r, |r| {
        println!(
            "{} on {} ({} episodes per task, {:?} goal images, {:.0} s, {:.0} steps/s)\n",
            r.policy, r.suite, r.episodes, r.goal, r.wall_s, r.steps_per_s
        );
        print!("{}", markdown(r));
    })
}
