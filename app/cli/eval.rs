//! `dexstudio eval`: a policy's success per task with bootstrap 95%
//! intervals, on evaluation seeds no training or collection ever uses.
//!
//! Any policy folder `dexstudio distill` writes: a student
//! (`student.json`), BC-RNN (`bcrnn.json`), PolyTask (`polytask.json`), or
//! a lifelong PolyTask run (`lifelong.json`: every stage on the tasks it
//! has seen, both modes, with the effective number of tasks per stage).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use dexlearn::Expert;
use dexlearn::baselines::{
    BcRnn, LifelongStage, PolyTask, effective_tasks, evaluate_bc_rnn, evaluate_polytask,
    load_lifelong,
};
use dexlearn::bootstrap::mean_ci95;
use dexlearn::data::Dataset;
use dexlearn::student::Student;
use dexlearn::student::eval::{GoalSource, Lead, TaskEval, evaluate_student};
use dexlearn::student::gap::{GapSummary, summarise};
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
    /// Policy folder: a student (student.json), BC-RNN (bcrnn.json),
    /// PolyTask (polytask.json) or a lifelong PolyTask run (lifelong.json).
    #[arg(long)]
    policy: PathBuf,
    /// Suite to evaluate on (default: the policy's own).
    #[arg(long)]
    suite: Option<String>,
    /// Evaluate on these tasks only (repeatable), instead of a suite; the
    /// report is saved as `eval-custom-<goal>.json`.
    #[arg(long, conflicts_with = "suite")]
    task: Vec<String>,
    /// Episodes per task.
    #[arg(long, default_value_t = 50)]
    episodes: usize,
    /// Where goal images come from.
    #[arg(long, value_enum, default_value_t = GoalArg::Rendered)]
    goal: GoalArg,
    /// Dataset for --goal demo (default: the one the policy learned from;
    /// PolyTask: the data folder of the session the policy is in).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Base of the evaluation seeds.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the markdown table here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Also write each task's goal error per step and episode here:
    /// `trace-<task>.csv` and `trace-<task>.svg` (mean over solved and over
    /// failed episodes), to see how a policy fails.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Temporal-ensembling decay `η` for a student instead of the one it
    /// was trained with (0: plain mean of the last `k` chunks; large: the
    /// newest chunk alone). The report is then saved as
    /// `eval-<suite>-<goal>-eta<η>.json`, apart from the trained setting.
    #[arg(long)]
    eta: Option<f32>,
    /// The task's expert acts for the first N steps of every episode while
    /// the policy watches, then the policy takes over: how much of a
    /// failure is decided at the start. The expert comes from the policy's
    /// session (`<session>/experts/<task>`), else the shipped one. The
    /// report is saved as `eval-<suite>-<goal>-lead<N>.json`.
    #[arg(long, default_value_t = 0)]
    expert_lead: usize,
    /// Set every action against the task's expert's at the same state
    /// (found like --expert-lead's): mean |a − e|, the share of the
    /// expert's decisive values (|e| > 0.5) whose sign the policy gets
    /// wrong, and the share of values at their limits, over every step and
    /// over the first 10. With --trace, also per step. The episodes are
    /// the same as without it.
    #[arg(long)]
    expert_gap: bool,
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
    /// The policy against the task's expert (`--expert-gap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_gap: Option<GapSummary>,
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
    s + &super::eval_trace::gap_markdown(&r.tasks)
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

/// A loaded policy folder.
enum Loaded {
    Student(Arc<Student>),
    BcRnn(Arc<BcRnn>),
    PolyTask(Arc<PolyTask>),
    Lifelong(Vec<LifelongStage>),
}

/// Load whatever policy `dir` holds; `eta` replaces a student's
/// temporal-ensembling decay.
fn load(dir: &Path, eta: Option<f32>) -> anyhow::Result<Loaded> {
    let ctx = |what: &str| format!("loading the {what} in {}", dir.display());
    if let (Some(eta), false) = (eta, dir.join("student.json").exists()) {
        bail!(
            "--eta {eta}: {} holds no student (student.json); only students ensemble action chunks",
            dir.display()
        );
    }
    if dir.join("lifelong.json").exists() {
        return Ok(Loaded::Lifelong(
            load_lifelong(dir).with_context(|| ctx("lifelong PolyTask run"))?,
        ));
    }
    if dir.join("student.json").exists() {
        let mut student = Student::load(dir).with_context(|| ctx("student"))?;
        if let Some(eta) = eta {
            student.set_eta(eta).context("--eta")?;
        }
        return Ok(Loaded::Student(Arc::new(student)));
    }

    if dir.join("bcrnn.json").exists() {
        return Ok(Loaded::BcRnn(Arc::new(
            BcRnn::load(dir).with_context(|| ctx("BC-RNN policy"))?,
        )));
    }
    if dir.join("polytask.json").exists() {
        return Ok(Loaded::PolyTask(Arc::new(
            PolyTask::load(dir).with_context(|| ctx("PolyTask policy"))?,
        )));
    }
    bail!(
        "{}: no policy here (none of student.json, bcrnn.json, polytask.json, lifelong.json); \
         train one with `dexstudio distill`",
        dir.display()
    )
}

/// The suite whose tasks are exactly `tasks`, else `custom`.
fn suite_of(catalog: &Catalog, tasks: &[String]) -> String {
    catalog
        .suites
        .iter()
        .find(|(_, t)| t.as_slice() == tasks)
        .map_or_else(|| "custom".to_string(), |(s, _)| s.clone())
}

/// The suite name and tasks to evaluate on: `--task`s, `--suite`, or the
/// policy's own (`own_suite`, `own_tasks`).
fn targets(
    a: &EvalArgs,
    catalog: &Catalog,
    own_suite: &str,
    own_tasks: &[String],
) -> anyhow::Result<(String, Vec<String>)> {
    if !a.task.is_empty() {
        for t in &a.task {
            catalog.task(t)?;
        }
        return Ok(("custom".to_string(), a.task.clone()));
    }
    match &a.suite {
        Some(s) => Ok((s.clone(), catalog.suite(s)?.to_vec())),
        None if own_suite == "custom" || catalog.suites.contains_key(own_suite) => {
            Ok((own_suite.to_string(), own_tasks.to_vec()))
        }
        None => Ok((own_suite.to_string(), catalog.suite(own_suite)?.to_vec())),
    }
}

/// The session a policy folder sits in: `<session>/students/<name>`.
fn policy_session(policy: &Path) -> Option<&Path> {
    policy.parent().and_then(Path::parent)
}

/// Where `--goal demo` images come from: `--data`, else `dataset` (the
/// one the policy learned from), else the data folder of the session the
/// policy folder sits in (`<session>/students/<name>`).
fn demo_data(a: &EvalArgs, dataset: Option<&str>) -> anyhow::Result<PathBuf> {
    if let Some(d) = &a.data {
        return Ok(d.clone());
    }
    if let Some(d) = dataset {
        return Ok(PathBuf::from(d));
    }
    match policy_session(&a.policy).map(|s| s.join("data")) {
        Some(d) if d.join("manifest.json").exists() => Ok(d),
        _ => bail!(
            "--goal demo: {} learned from no dataset and sits in no session with one; \
             pass --data DIR",
            a.policy.display()
        ),
    }
}

/// Evaluates one task: `(task, goal, done)`.
type EvalOne<'a> =
    dyn Fn(&str, &GoalSource, &(dyn Fn() + Sync)) -> dexlearn::error::Result<TaskEval> + 'a;

/// Evaluate every task of `tasks` with `one`; `(rows, outcome groups, steps)`.
fn run_tasks(
    a: &EvalArgs,
    tasks: &[String],
    dataset: Option<&str>,
    one: &EvalOne<'_>,
    bar: &indicatif::ProgressBar,
    prefix: &str,
) -> anyhow::Result<(Vec<TaskRow>, Vec<Vec<f64>>, usize)> {
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    let mut steps = 0;
    for (ti, task) in tasks.iter().enumerate() {
        bar.set_message(format!("{prefix}{task}"));
        let goal = match a.goal {
            GoalArg::Rendered => GoalSource::Rendered,
            GoalArg::Demo => GoalSource::Demo(demo_goals(&demo_data(a, dataset)?, task)?),
        };
        let e =
            one(task, &goal, &|| bar.inc(1)).with_context(|| format!("evaluating on {task}"))?;
        if let Some(dir) = &a.trace {
            super::eval_trace::write(dir, &e)?;
        }
        let outcomes: Vec<f64> = e.solved.iter().map(|&s| f64::from(u8::from(s))).collect();
        steps += e.steps;
        rows.push(TaskRow {
            task: task.clone(),
            success: e.success(),
            ci95: mean_ci95(std::slice::from_ref(&outcomes), 2000, ti as u64),
            mean_return: e.mean_return(),
            episodes: a.episodes,
            expert_gap: (!e.expert_gap.is_empty())
                .then(|| summarise(&e.expert_gap, &e.value_flips, &e.actuators)),
        });
        groups.push(outcomes);
    }
    Ok((rows, groups, steps))
}

fn eval_bar(len: usize, json: bool) -> anyhow::Result<indicatif::ProgressBar> {
    crate::output::progress(
        len as u64,
        json,
        "eval [{bar:30}] {pos}/{len} episodes {elapsed_precise} eta {eta} {msg}",
    )
}

/// Evaluate a single (non-lifelong) policy: a student, BC-RNN or PolyTask.
fn evaluate_single(a: &EvalArgs, catalog: &Catalog, loaded: &Loaded) -> anyhow::Result<EvalReport> {
    let (method, own_suite, own_tasks, dataset): (String, String, Vec<String>, Option<String>) =
        match loaded {
            Loaded::Student(s) => (
                s.meta.row_name(),
                s.meta.suite.clone(),
                s.meta.tasks.clone(),
                Some(s.meta.dataset.clone()),
            ),
            Loaded::BcRnn(m) => (
                "bc-rnn".into(),
                suite_of(catalog, &m.meta.tasks),
                m.meta.tasks.clone(),
                Some(m.meta.dataset.clone()),
            ),
            Loaded::PolyTask(m) => (
                "polytask".into(),
                suite_of(catalog, &m.meta.tasks),
                m.meta.tasks.clone(),
                None,
            ),
            Loaded::Lifelong(_) => bail!("a lifelong run has no single policy"),
        };
    let (suite, tasks) = targets(a, catalog, &own_suite, &own_tasks)?;
    let experts = lead_experts(a, &tasks)?;
    let one = |task: &str, goal: &GoalSource, done: &(dyn Fn() + Sync)| {
        let lead = experts.get(task).map(|expert| Lead {
            expert,
            steps: a.expert_lead,
            compare: a.expert_gap,
        });
        let (n, seed, lead) = (a.episodes, a.seed, lead.as_ref());
        match loaded {
            Loaded::Student(s) => evaluate_student(catalog, s, task, n, seed, goal, lead, done),
            Loaded::BcRnn(m) => evaluate_bc_rnn(catalog, m, task, n, seed, goal, lead, done),
            Loaded::PolyTask(m) => evaluate_polytask(catalog, m, task, n, seed, goal, lead, done),
            Loaded::Lifelong(_) => unreachable!("rejected above"),
        }
    };
    let bar = eval_bar(tasks.len() * a.episodes, a.json)?;
    let t0 = std::time::Instant::now();
    let (rows, groups, steps) = run_tasks(a, &tasks, dataset.as_deref(), &one, &bar, "")?;
    bar.finish_and_clear();
    let wall_s = t0.elapsed().as_secs_f64();
    Ok(EvalReport {
        policy: a.policy.display().to_string(),
        method,
        suite,
        goal: a.goal,
        episodes: a.episodes,
        mean_success: rows.iter().map(|r| r.success).sum::<f64>() / rows.len().max(1) as f64,
        mean_ci95: mean_ci95(&groups, 2000, 99),
        tasks: rows,
        wall_s,
        steps_per_s: steps as f64 / wall_s.max(1e-9),
    })
}

/// One stage of a lifelong run, evaluated on the tasks it has seen.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageRow {
    /// `distill` (PolyTask) or `finetune` (sequential fine-tuning).
    pub mode: String,
    /// Stage `k`: the first `k + 1` tasks have arrived.
    pub stage: usize,
    /// Tasks seen so far, in arrival order.
    pub seen: Vec<String>,
    /// Effective number of tasks: the sum of success rates over the
    /// evaluated seen tasks.
    pub effective_tasks: f64,
    /// Bootstrap 95% interval of the effective number of tasks.
    pub effective_ci95: (f64, f64),
    /// Per seen task (those selected by --task / --suite).
    pub tasks: Vec<TaskRow>,
}

/// A lifelong PolyTask run's evaluation, saved as
/// `eval-lifelong-<suite>-<goal>.json` in the run's folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LifelongReport {
    pub policy: String,
    /// `polytask-lifelong`.
    pub method: String,
    pub suite: String,
    pub goal: GoalArg,
    pub episodes: usize,
    /// The curriculum: tasks in arrival order.
    pub curriculum: Vec<String>,
    /// Every stage of every mode, modes in training order.
    pub stages: Vec<StageRow>,
    pub wall_s: f64,
    pub steps_per_s: f64,
}

/// Evaluate every stage of a lifelong run on the tasks it has seen (those
/// among --task / --suite when given).
fn evaluate_lifelong(
    a: &EvalArgs,
    catalog: &Catalog,
    stages: &[LifelongStage],
) -> anyhow::Result<LifelongReport> {
    let curriculum = stages
        .iter()
        .max_by_key(|s| s.seen.len())
        .map(|s| s.seen.clone())
        .unwrap_or_default();
    let own_suite = suite_of(catalog, &curriculum);
    let (suite, tasks) = targets(a, catalog, &own_suite, &curriculum)?;
    let selected = |s: &LifelongStage| -> Vec<String> {
        s.seen
            .iter()
            .filter(|t| tasks.contains(t))
            .cloned()
            .collect()
    };
    let episodes: usize = stages.iter().map(|s| selected(s).len()).sum::<usize>() * a.episodes;
    let bar = eval_bar(episodes, a.json)?;
    let t0 = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut all_steps = 0;
    for s in stages {
        let seen = selected(s);
        let one = |task: &str, goal: &GoalSource, done: &(dyn Fn() + Sync)| {
            evaluate_polytask(
                catalog, &s.policy, task, a.episodes, a.seed, goal, None, done,
            )
        };
        let prefix = format!("{} stage {}: ", s.mode.name(), s.stage);
        let (task_rows, groups, steps) = run_tasks(a, &seen, None, &one, &bar, &prefix)?;
        all_steps += steps;
        let evals: Vec<TaskEval> = groups
            .iter()
            .zip(&seen)
            .map(|(g, t)| TaskEval {
                task: t.clone(),
                solved: g.iter().map(|&v| v > 0.5).collect(),
                returns: Vec::new(),
                steps: 0,
                goal_error: Vec::new(),
                progress: Vec::new(),
                expert_gap: Vec::new(),
                value_flips: Vec::new(),
                actuators: Vec::new(),
            })
            .collect();
        let n = seen.len() as f64;
        let (lo, hi) = mean_ci95(&groups, 2000, 99 + s.stage as u64);
        rows.push(StageRow {
            mode: s.mode.name().to_string(),
            stage: s.stage,
            seen: s.seen.clone(),
            effective_tasks: effective_tasks(&evals),
            effective_ci95: if seen.is_empty() {
                (0.0, 0.0)
            } else {
                (lo * n, hi * n)
            },
            tasks: task_rows,
        });
    }
    bar.finish_and_clear();
    let wall_s = t0.elapsed().as_secs_f64();
    Ok(LifelongReport {
        policy: a.policy.display().to_string(),
        method: "polytask-lifelong".into(),
        suite,
        goal: a.goal,
        episodes: a.episodes,
        curriculum,
        stages: rows,
        wall_s,
        steps_per_s: all_steps as f64 / wall_s.max(1e-9),
    })
}

/// The lifelong report as a markdown table: effective tasks per stage.
pub fn lifelong_markdown(r: &LifelongReport) -> String {
    let mut modes: Vec<&str> = Vec::new();
    for s in &r.stages {
        if !modes.contains(&s.mode.as_str()) {
            modes.push(&s.mode);
        }
    }
    let mut s = "| stage | tasks seen | newest task |".to_string();
    for m in &modes {
        s += &format!(" {m} | {m} 95% CI |");
    }
    s += &format!("\n|---|---|---|{}\n", "---|---|".repeat(modes.len()));
    let n = r.stages.iter().map(|s| s.stage + 1).max().unwrap_or(0);
    for k in 0..n {
        let newest = r.curriculum.get(k).map_or("", String::as_str);
        s += &format!("| {k} | {} | {newest} |", k + 1);
        for m in &modes {
            match r.stages.iter().find(|s| s.stage == k && s.mode == *m) {
                Some(row) => {
                    s += &format!(
                        " {:.2} | [{:.2}, {:.2}] |",
                        row.effective_tasks, row.effective_ci95.0, row.effective_ci95.1
                    )
                }
                None => s += " — | |",
            }
        }
        s += "\n";
    }
    s
}

/// The experts of `tasks` for `--expert-lead` and `--expert-gap` (none
/// without them).
fn lead_experts(a: &EvalArgs, tasks: &[String]) -> anyhow::Result<HashMap<String, Expert>> {
    if a.expert_lead == 0 && !a.expert_gap {
        return Ok(HashMap::new());
    }
    let session = policy_session(&a.policy).unwrap_or(Path::new("."));
    tasks
        .iter()
        .map(|t| {
            let e = super::distill::expert_of(session, t).with_context(|| {
                format!("--expert-lead and --expert-gap need the expert of {t}; train one with `dexstudio expert train --task {t}`")
            })?;
            Ok((t.clone(), e))
        })
        .collect()
}

/// File the report is saved to beside the policy; `tag` marks a
/// non-default inference setting (empty for the policy's own).
pub fn report_file(policy: &Path, suite: &str, goal: GoalArg, tag: &str) -> PathBuf {
    policy.join(format!("eval-{suite}-{}{tag}.json", goal_name(goal)))
}

/// File a lifelong run's report is saved to.
pub fn lifelong_file(policy: &Path, suite: &str, goal: GoalArg) -> PathBuf {
    policy.join(format!("eval-lifelong-{suite}-{}.json", goal_name(goal)))
}

fn goal_name(goal: GoalArg) -> &'static str {
    match goal {
        GoalArg::Rendered => "rendered",
        GoalArg::Demo => "demo",
    }
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    set_threads(a.threads)?;
    let catalog = Catalog::bundled()?;
    let loaded = load(&a.policy, a.eta)?;
    if let Loaded::Lifelong(stages) = &loaded {
        if a.expert_lead > 0 || a.expert_gap {
            bail!(
                "--expert-lead and --expert-gap evaluate one policy; a lifelong run holds one per stage"
            );
        }
        let r = evaluate_lifelong(&a, &catalog, stages)?;
        dexlearn::fsio::write_json(&lifelong_file(&a.policy, &r.suite, r.goal), &r)?;
        if let Some(p) = &a.markdown {
            dexlearn::fsio::write_atomic(p, lifelong_markdown(&r).as_bytes())?;
        }
        return emit(a.json, &r, |r| {
            println!(
                "{} (lifelong PolyTask) on {} ({} episodes per task, {:?} goal images, {:.0} s, {:.0} steps/s)\n\
                 effective number of tasks (sum of success rates over the tasks seen):\n",
                r.policy, r.suite, r.episodes, r.goal, r.wall_s, r.steps_per_s
            );
            print!("{}", lifelong_markdown(r));
        });
    }
    let r = evaluate_single(&a, &catalog, &loaded)?;
    // Non-default inference settings are saved apart, and the report
    // leaves them out.
    let mut tag = String::new();
    if let Some(eta) = a.eta {
        tag += &format!("-eta{eta}");
    }
    if a.expert_lead > 0 {
        tag += &format!("-lead{}", a.expert_lead);
    }
    let file = report_file(&a.policy, &r.suite, r.goal, &tag);
    dexlearn::fsio::write_json(&file, &r)?;
    if let Some(p) = &a.markdown {
        dexlearn::fsio::write_atomic(p, markdown(&r).as_bytes())?;
    }
    emit(a.json, &r, |r| {
        println!(
            "{} ({}) on {} ({} episodes per task, {:?} goal images, {:.0} s, {:.0} steps/s)\n",
            r.policy, r.method, r.suite, r.episodes, r.goal, r.wall_s, r.steps_per_s
        );
        print!("{}", markdown(r));
    })
}
