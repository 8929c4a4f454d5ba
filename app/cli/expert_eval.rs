//! `dexstudio expert eval` and `dexstudio expert critic-report`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use dexlearn::critic::{CriticError, critic_error, discounted_returns};
use dexlearn::rollout::{Episodes, evaluate};
use dexsim::{Catalog, Scene, SeedDomain};
use serde::Serialize;

use super::expert::load_expert;
use crate::output::emit;
use crate::plot::{BarGroup, bars};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Task names (repeatable); or use --suite.
    #[arg(long, required_unless_present = "suite")]
    task: Vec<String>,
    /// Every task of a suite.
    #[arg(long)]
    suite: Option<String>,
    /// Episodes per task.
    #[arg(long, default_value_t = 50)]
    episodes: usize,
    /// Session holding the experts (default: the shipped ones in assets/).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Base of the evaluation seeds (always in the evaluation seed domain,
    /// which training and collection never use).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct EvalRow {
    task: String,
    episodes: usize,
    solved: usize,
    success_rate: f64,
    ci95: (f64, f64),
    mean_return: f64,
    std_return: f64,
    expert_env_steps: u64,
}

fn tasks_of(
    catalog: &Catalog,
    task: &[String],
    suite: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut tasks = task.to_vec();
    if let Some(s) = suite {
        tasks.extend(catalog.suite(s)?.iter().cloned());
    }
    for t in &tasks {
        catalog.task(t)?;
    }
    Ok(tasks)
}

fn load_task(
    catalog: &Catalog,
    name: &str,
) -> anyhow::Result<(Arc<Scene>, Arc<dexsim::task::Task>)> {
    let spec = catalog.task(name)?;
    let scene = Arc::new(Scene::load(&catalog.dir.join(&spec.scene))?);
    let task = Arc::new(dexsim::task::Task::new(spec, &scene)?);
    Ok((scene, task))
}

pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let catalog = Catalog::bundled()?;
    let tasks = tasks_of(&catalog, &a.task, a.suite.as_deref())?;
    let mut rows = Vec::new();
    let bar = crate::output::progress(
        tasks.len() as u64,
        a.json,
        "[{bar:30}] {pos}/{len} tasks {msg}",
    )?;
    for name in &tasks {
        bar.set_message(name.clone());
        let expert = load_expert(a.session.as_deref(), name)?;
        let (scene, task) = load_task(&catalog, name)?;
        let policy = |s: &[f32]| expert.act(s);
        let which = Episodes::new(a.episodes, a.seed, SeedDomain::Eval);
        let logs = evaluate(&scene, &task, &policy, which)
            .with_context(|| format!("evaluating the expert of {name}"))?;
        let solved = logs.iter().filter(|l| l.solved).count();
        let n = logs.len().max(1) as f64;
        let mean = logs.iter().map(|l| l.ret).sum::<f64>() / n;
        let var = logs.iter().map(|l| (l.ret - mean).powi(2)).sum::<f64>() / n;
        rows.push(EvalRow {
            task: name.clone(),
            episodes: logs.len(),
            solved,
            success_rate: solved as f64 / n,
            ci95: dexsim::stats::wilson95(solved, logs.len()),
            mean_return: mean,
            std_return: var.sqrt(),
            expert_env_steps: expert.meta.env_steps,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    emit(a.json, &rows, |rows| {
        println!(
            "{:<16} {:>8} {:>8} {:>15} {:>16} {:>10}",
            "task", "episodes", "success", "95% CI", "return", "trained"
        );
        for r in rows {
            println!(
                "{:<16} {:>8} {:>8.2} {:>15} {:>16} {:>10}",
                r.task,
                r.episodes,
                r.success_rate,
                format!("[{:.2}, {:.2}]", r.ci95.0, r.ci95.1),
                format!("{:.1} ± {:.1}", r.mean_return, r.std_return),
                r.expert_env_steps
            );
        }
    })
}

#[derive(clap::Args, Debug)]
pub struct CriticArgs {
    /// Suite of tasks.
    #[arg(long, default_value = "dex10")]
    suite: String,
    /// Extra tasks (repeatable), added to the suite's.
    #[arg(long)]
    task: Vec<String>,
    /// Held-out rollouts per task.
    #[arg(long, default_value_t = 20)]
    episodes: usize,
    /// Session holding the experts (default: the shipped ones).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Bar chart output.
    #[arg(long, default_value = "critic-report.svg")]
    out: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
pub struct CriticRow {
    pub task: String,
    pub episodes: usize,
    pub success_rate: f64,
    /// METHOD §2's figure: returns to the episode's end.
    #[serde(flatten)]
    pub critic: CriticError,
    /// The same with returns that continue past time limits, as the
    /// critic's bootstrapped target does.
    past_time_limit: CriticError,
}

/// Held-out critic rollouts use their own base in the evaluation domain,
/// apart from `expert eval`'s default base 0.
const CRITIC_BASE: u64 = 0x00c1_71c0;

/// Held-out expert rollouts per task: success and critic error (METHOD §2).
pub fn critic_rows(
    catalog: &Catalog,
    tasks: &[String],
    session: Option<&std::path::Path>,
    episodes: usize,
    json: bool,
) -> anyhow::Result<Vec<CriticRow>> {
    let mut rows = Vec::new();
    let bar = crate::output::progress(
        tasks.len() as u64,
        json,
        "[{bar:30}] {pos}/{len} tasks {msg}",
    )?;
    for name in tasks {
        bar.set_message(name.clone());
        let expert = load_expert(session, name)?;
        let (scene, task) = load_task(catalog, name)?;
        let policy = |s: &[f32]| expert.act(s);
        // Roll 5 horizons (5 / (1 - gamma) steps) past time limits for the
        // second figure; the discounted weight it leaves out is under 1%.
        let tail = (5.0 / (1.0 - expert.meta.gamma)).ceil() as usize;
        let which = Episodes {
            record: true,
            tail,
            ..Episodes::new(episodes, CRITIC_BASE, SeedDomain::Eval)
        };
        let logs = evaluate(&scene, &task, &policy, which)?;
        let (mut q, mut g, mut g_tail) = (Vec::new(), Vec::new(), Vec::new());
        let (scale, gamma) = (expert.meta.reward_scale, expert.meta.gamma);
        for l in &logs {
            q.extend(expert.q(&l.states, &l.actions)?);
            let scaled: Vec<f32> = l.rewards.iter().map(|r| r * scale).collect();
            g.extend(discounted_returns(&scaled, gamma));
            let long: Vec<f32> = scaled
                .iter()
                .copied()
                .chain(l.tail.iter().map(|r| r * scale))
                .collect();
            g_tail.extend(
                discounted_returns(&long, gamma)
                    .into_iter()
                    .take(scaled.len()),
            );
        }
        rows.push(CriticRow {
            task: name.clone(),
            episodes: logs.len(),
            success_rate: logs.iter().filter(|l| l.solved).count() as f64
                / logs.len().max(1) as f64,
            critic: critic_error(&q, &g),
            past_time_limit: critic_error(&q, &g_tail),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(rows)
}

pub fn critic_report(a: CriticArgs) -> anyhow::Result<()> {
    let catalog = Catalog::bundled()?;
    let tasks = tasks_of(&catalog, &a.task, Some(&a.suite))?;
    let rows = critic_rows(&catalog, &tasks, a.session.as_deref(), a.episodes, a.json)?;
    let groups: Vec<BarGroup> = rows
        .iter()
        .map(|r| BarGroup {
            label: &r.task,
            values: vec![r.critic.error],
        })
        .collect();
    bars(
        &a.out,
        &format!(
            "critic error per task: mean|Q - G| / std(G), {} held-out episodes",
            a.episodes
        ),
        "critic error",
        &["critic error"],
        &groups,
    )?;
    emit(a.json, &rows, |rows| {
        println!(
            "{:<16} {:>8} {:>8} {:>11} {:>9} {:>9} {:>9} {:>12}",
            "task", "episodes", "success", "critic err", "mean Q", "mean G", "std G", "err (tail)"
        );
        for r in rows {
            println!(
                "{:<16} {:>8} {:>8.2} {:>11.3} {:>9.2} {:>9.2} {:>9.2} {:>12.3}",
                r.task,
                r.episodes,
                r.success_rate,
                r.critic.error,
                r.critic.mean_q,
                r.critic.mean_g,
                r.critic.std_g,
                r.past_time_limit.error
            );
        }
        println!("err (tail): the same with returns continued past time limits, as Q bootstraps");
        println!("bar chart: {}", a.out.display());
    })
}
