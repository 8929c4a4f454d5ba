//! `dexstudio report`: Table I and Table II in markdown, and the scaling,
//! critic and PolyTask figures, from the policies evaluated in a session.
//!
//! Each policy folder holds `eval-<suite>-<goal>.json` files written by
//! `dexstudio eval` (lifelong PolyTask runs `eval-lifelong-<suite>-<goal>.json`);
//! the expert row and the critic errors are computed here from held-out
//! expert rollouts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use dexsim::Catalog;
use serde::Serialize;

use super::eval::{EvalReport, GoalArg, LifelongReport, lifelong_markdown};
use super::expert_eval::critic_rows;
use crate::output::emit;
use crate::plot::{BarGroup, XySeries, bars, xy_lines};

mod per_suite;
mod pull;
mod seeds;
mod selection;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Session whose `students/*/eval-*.json` are tabulated.
    #[arg(long, default_value = "sessions/default")]
    session: PathBuf,
    /// Suite of Table I.
    #[arg(long, default_value = "dex10")]
    suite: String,
    /// Tabulate these tasks only (repeatable), instead of a suite: the
    /// evaluations named `custom` (`dexstudio eval --task ...`).
    #[arg(long, conflicts_with = "suite")]
    task: Vec<String>,
    /// Goal images the evaluations used.
    #[arg(long, value_enum, default_value_t = GoalArg::Rendered)]
    goal: GoalArg,
    /// Held-out expert episodes per task for the expert row.
    #[arg(long, default_value_t = 50)]
    expert_episodes: usize,
    /// Demonstrations per task of the students Table II and the critic
    /// figure compare (another count where a method has none at this one).
    #[arg(long, default_value_t = 100)]
    demos: usize,
    /// Folder for report.md and the figures (default <session>/report).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One policy's evaluation and where it came from.
#[derive(Clone, Debug, Serialize)]
struct Entry {
    name: String,
    /// The evaluation's method; `polytask-image` for PolyTask with goal
    /// images.
    method: String,
    /// Demonstrations per task (PolyTask: the `<demos>` its folder is named
    /// with; it learns from regenerated buffers instead).
    demos: usize,
    /// Row label of the tables.
    label: String,
    report: EvalReport,
    /// Student setting (config without seed) and seed, for the seeds table.
    #[serde(skip)]
    setting: Option<(String, u64)>,
    /// The suite the student was distilled for (empty when unknown).
    #[serde(skip)]
    trained_suite: String,
}

/// A policy's effective number of tasks on the report's tasks.
#[derive(Clone, Debug, Serialize)]
struct Effective {
    name: String,
    method: String,
    label: String,
    effective_tasks: f64,
    /// Bootstrap 95% interval, where the evaluation covered exactly these tasks.
    ci95: Option<(f64, f64)>,
}

/// A lifelong PolyTask run's evaluation.
#[derive(Clone, Debug, Serialize)]
struct LifelongEntry {
    name: String,
    report: LifelongReport,
}

/// The PolyTask products: effective number of tasks, multi-task and lifelong.
#[derive(Serialize)]
struct PolyTaskSection {
    tasks: usize,
    multitask: Vec<Effective>,
    lifelong: Vec<LifelongEntry>,
}

#[derive(Serialize)]
struct Report {
    markdown: String,
    figures: Vec<String>,
    students: Vec<Entry>,
    seeds: Vec<seeds::SeedGroup>,
    per_suite: Vec<per_suite::SuiteRow>,
    critic_pull: Vec<pull::PullRow>,
    selection: Vec<selection::SelectRow>,
    polytask: PolyTaskSection,
}

/// Method, demonstrations and row label of the policy in `d` whose
/// evaluation says `method`.
fn describe(
    d: &Path,
    student: Option<&dexlearn::student::StudentMeta>,
    method: &str,
) -> (String, usize, String) {
    let max = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    if let Some(m) = student {
        let n = max(&m.episodes_per_task);
        // Variants (other settings, `--out` elsewhere) keep their folder name.
        let folder = d.file_name().and_then(|f| f.to_str()).unwrap_or_default();
        let label = if folder == format!("{method}-{}-{n}", m.suite) {
            format!("{method} ({n} demos)")
        } else {
            format!("{method} [{folder}] ({n} demos)")
        };
        return (method.to_string(), n, label);
    }
    if let Ok(m) =
        dexlearn::fsio::read_json::<dexlearn::baselines::BcRnnMeta>(&d.join("bcrnn.json"))
    {
        let n = max(&m.episodes_per_task);
        return (method.to_string(), n, format!("{method} ({n} demos)"));
    }
    if let Ok(m) =
        dexlearn::fsio::read_json::<dexlearn::baselines::PolyTaskMeta>(&d.join("polytask.json"))
    {
        let n = d
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit('-').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let (method, goal) = match m.config.goal {
            dexlearn::baselines::GoalMode::OneHot => (method.to_string(), "one-hot goal"),
            dexlearn::baselines::GoalMode::Image => (format!("{method}-image"), "goal image"),
        };
        let frames = max(&m.frames_per_task);
        let label = format!("{method} ({goal}, {frames} relabelled frames per task)");
        return (method, n, label);
    }
    (method.to_string(), 0, method.to_string())
}

fn load_entries(session: &Path, goal: GoalArg) -> anyhow::Result<Vec<Entry>> {
    let dir = session.join("students");
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut dirs: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    let suffix = match goal {
        GoalArg::Rendered => "-rendered.json",
        GoalArg::Demo => "-demo.json",
    };
    for d in dirs {
        let Ok(files) = std::fs::read_dir(&d) else {
            continue;
        };
        // Read once per folder: its label and its seeds-table setting.
        let student: Option<dexlearn::student::StudentMeta> =
            dexlearn::fsio::read_json(&d.join("student.json")).ok();
        let rounds: Vec<dexlearn::student::dagger::DaggerRound> =
            dexlearn::fsio::read_json(&d.join("dagger.json")).unwrap_or_default();
        let schedule: Vec<(f32, usize)> = rounds.iter().map(|r| (r.beta, r.episodes)).collect();
        let mut files: Vec<PathBuf> = files.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if !(name.starts_with("eval-") && name.ends_with(suffix))
                || name.starts_with("eval-lifelong-")
            {
                continue;
            }
            let report: EvalReport = dexlearn::fsio::read_json(&f)
                .with_context(|| format!("reading {}", f.display()))?;
            let (method, demos, label) = describe(&d, student.as_ref(), &report.method);
            out.push(Entry {
                name: folder_name(&d),
                method,
                demos,
                label,
                report,
                setting: student.as_ref().map(|m| seeds::setting(m, &schedule)),
                trained_suite: student
                    .as_ref()
                    .map(|m| m.suite.clone())
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

fn folder_name(d: &Path) -> String {
    d.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// Lifelong PolyTask evaluations on `suite` (`eval-lifelong-<suite>-<goal>.json`).
fn load_lifelong_entries(
    session: &Path,
    suite: &str,
    goal: GoalArg,
) -> anyhow::Result<Vec<LifelongEntry>> {
    let Ok(read) = std::fs::read_dir(session.join("students")) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        let f = super::eval::lifelong_file(&d, suite, goal);
        if f.is_file() {
            out.push(LifelongEntry {
                name: folder_name(&d),
                report: dexlearn::fsio::read_json(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
            });
        }
    }
    Ok(out)
}

/// The PolyTask section: effective number of tasks of every policy
/// evaluated on `tasks` (multi-task PolyTask against the unified students)
/// and of every lifelong stage; markdown, figures into `out`.
fn polytask_section(
    entries: &[Entry],
    lifelong: Vec<LifelongEntry>,
    suite: &str,
    tasks: &[String],
    out: &Path,
    md: &mut String,
    figures: &mut Vec<String>,
) -> anyhow::Result<PolyTaskSection> {
    let n = tasks.len();
    let multitask: Vec<Effective> = entries
        .iter()
        .filter_map(|e| {
            let mean = mean_over(e, tasks)?;
            let exact = e.report.suite == suite && e.report.tasks.len() == n;
            Some(Effective {
                name: e.name.clone(),
                method: e.method.clone(),
                label: e.label.clone(),
                effective_tasks: mean * n as f64,
                ci95: exact.then_some((
                    e.report.mean_ci95.0 * n as f64,
                    e.report.mean_ci95.1 * n as f64,
                )),
            })
        })
        .collect();
    let section = PolyTaskSection {
        tasks: n,
        multitask,
        lifelong,
    };
    let any_polytask = section
        .multitask
        .iter()
        .any(|e| e.method.starts_with("polytask"));
    if !any_polytask && section.lifelong.is_empty() {
        return Ok(section);
    }
    *md += &format!(
        "\n## PolyTask: effective number of tasks (sum of success rates, of {n})\n\n\
         ### Multi-task: one policy for every task\n\n\
         | policy | folder | effective tasks | 95% CI |\n|---|---|---|---|\n"
    );
    for e in &section.multitask {
        let ci = e
            .ci95
            .map_or("—".into(), |(lo, hi)| format!("[{lo:.2}, {hi:.2}]"));
        *md += &format!(
            "| {} | {} | {:.2} | {ci} |\n",
            e.label, e.name, e.effective_tasks
        );
    }
    if !section.multitask.is_empty() {
        let groups: Vec<BarGroup> = section
            .multitask
            .iter()
            .map(|e| BarGroup {
                label: &e.name,
                values: vec![e.effective_tasks as f32, n as f32],
            })
            .collect();
        let path = out.join("polytask-multitask.svg");
        bars(
            &path,
            "effective number of tasks: PolyTask and the unified students",
            "tasks",
            &["effective tasks", "tasks"],
            &groups,
        )?;
        figures.push(path.display().to_string());
    }
    for l in &section.lifelong {
        *md += &format!(
            "\n### Lifelong: {} (tasks arrive in the order {})\n\n",
            l.name,
            l.report.curriculum.join(", ")
        );
        *md += &lifelong_markdown(&l.report);
        let mut modes: Vec<&str> = Vec::new();
        for s in &l.report.stages {
            if !modes.contains(&s.mode.as_str()) {
                modes.push(&s.mode);
            }
        }
        let points: Vec<Vec<(f32, f32)>> = modes
            .iter()
            .map(|m| {
                l.report
                    .stages
                    .iter()
                    .filter(|s| s.mode == *m)
                    .map(|s| ((s.stage + 1) as f32, s.effective_tasks as f32))
                    .collect()
            })
            .collect();
        let ideal: Vec<(f32, f32)> = (1..=l.report.curriculum.len())
            .map(|k| (k as f32, k as f32))
            .collect();
        let mut series: Vec<XySeries> = modes
            .iter()
            .zip(&points)
            .map(|(m, p)| XySeries { name: m, points: p })
            .collect();
        series.push(XySeries {
            name: "every task solved",
            points: &ideal,
        });
        let path = out.join(format!("lifelong-{}.svg", l.name));
        xy_lines(
            &path,
            "lifelong PolyTask: effective number of tasks per stage",
            "tasks seen",
            &series,
        )?;
        figures.push(path.display().to_string());
    }
    Ok(section)
}

fn success_of(e: &Entry, task: &str) -> Option<f64> {
    e.report
        .tasks
        .iter()
        .find(|t| t.task == task)
        .map(|t| t.success)
}

fn mean_over(e: &Entry, tasks: &[String]) -> Option<f64> {
    let v: Vec<f64> = tasks.iter().filter_map(|t| success_of(e, t)).collect();
    (v.len() == tasks.len()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn cell(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}"))
}

/// The entry for `method` covering `tasks`: trained on `demos`
/// demonstrations per task where one is, the default-named run before its
/// variants, then the most demonstrations.
fn best<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    method: &str,
    tasks: &[String],
    demos: usize,
) -> Option<&'a Entry> {
    entries
        .into_iter()
        .filter(|e| e.method == method && mean_over(e, tasks).is_some())
        .max_by_key(|e| (e.demos == demos, default_named(e), e.demos))
}

/// `e` and every other seed of its setting.
fn same_setting<'a>(entries: &'a [Entry], e: &'a Entry) -> Vec<&'a Entry> {
    match &e.setting {
        Some((key, _)) => entries
            .iter()
            // One evaluation per seed: the same suite as `e`'s.
            .filter(|o| {
                o.report.suite == e.report.suite
                    && o.setting.as_ref().is_some_and(|(k, _)| k == key)
            })
            .collect(),
        None => vec![e],
    }
}

/// Success on `task` averaged over `runs` (the seeds of one setting).
fn seed_mean(runs: &[&Entry], task: &str) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(|o| success_of(o, task)).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The run sits in the folder `distill` names by default
/// (`<method>-<suite>-<demos>`), rather than a variant's `--out`.
fn default_named(e: &Entry) -> bool {
    e.name == format!("{}-{}-{}", e.method, e.report.suite, e.demos)
}

pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    let catalog = Catalog::bundled()?;
    let (suite, tasks, regenerate) = if a.task.is_empty() {
        let tasks = catalog.suite(&a.suite)?.to_vec();
        (a.suite.clone(), tasks, format!("--suite {}", a.suite))
    } else {
        for t in &a.task {
            catalog.task(t)?;
        }
        let flags: Vec<String> = a.task.iter().map(|t| format!("--task {t}")).collect();
        ("custom".to_string(), a.task.clone(), flags.join(" "))
    };
    let out = a.out.clone().unwrap_or_else(|| a.session.join("report"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let entries = load_entries(&a.session, a.goal)?;
    // Table II and the scaling bars read the students of the report's
    // suite on its subsets (dex10 students on dex5-easy), where there are
    // any: a dex5-easy student beside them would mix two kinds of row.
    // Policies without a student.json (BC-RNN, PolyTask) stay.
    let any_own = entries.iter().any(|e| e.trained_suite == suite);
    let suite_students: Vec<&Entry> = entries
        .iter()
        .filter(|e| !any_own || e.trained_suite.is_empty() || e.trained_suite == suite)
        .collect();
    let lifelong = load_lifelong_entries(&a.session, &suite, a.goal)?;
    let experts = critic_rows(&catalog, &tasks, None, a.expert_episodes, a.json)?;
    let mut md = format!(
        "# Results: {} ({:?} goal images)\n\nRegenerate with `dexstudio report --session {} {}`.\n\n",
        suite,
        a.goal,
        a.session.display(),
        regenerate
    );

    // Table I: methods x tasks, expert row first.
    md += "## Table I: success per task\n\n| method | ";
    md += &tasks.join(" | ");
    md += " | mean |\n|---|";
    md += &"---|".repeat(tasks.len() + 1);
    md += &format!("\n| expert ({} held-out episodes) | ", a.expert_episodes);
    let expert_mean =
        experts.iter().map(|r| r.success_rate).sum::<f64>() / experts.len().max(1) as f64;
    for r in &experts {
        md += &format!("{:.2} | ", r.success_rate);
    }
    md += &format!("{expert_mean:.2} |\n");
    for e in entries.iter().filter(|e| mean_over(e, &tasks).is_some()) {
        md += &format!("| {} | ", e.label);
        for t in &tasks {
            md += &format!("{} | ", cell(success_of(e, t)));
        }
        md += &format!("{} |\n", cell(mean_over(e, &tasks)));
    }

    // Table II: VQ-VAE vs vanilla x critic / none / DAgger, where any
    // policy was evaluated on those suites.
    let mut rows = String::new();
    let mut any = false;
    for suite in ["dex5-easy", "dex5-hard"] {
        let st: Vec<String> = catalog.suite(suite)?.to_vec();
        for (latent, critic, none) in [("VQ-VAE", "acgd", "bc"), ("vanilla", "act-critic", "act")] {
            let pick = |m: &str| {
                best(suite_students.iter().copied(), m, &st, a.demos)
                    .and_then(|e| mean_over(e, &st))
            };
            let (c, n, d) = (pick(critic), pick(none), pick(&format!("dagger-{none}")));
            any |= c.is_some() || n.is_some() || d.is_some();
            rows += &format!(
                "| {latent} | {suite} | {} | {} | {} |\n",
                cell(c),
                cell(n),
                cell(d)
            );
        }
    }
    if any {
        md += "\n## Table II: mean success, VQ-VAE vs vanilla latent\n\n| latent | suite | critic | none | DAgger |\n|---|---|---|---|---|\n";
        md += &rows;
    }

    let per_suite = per_suite::rows(&catalog, &entries, a.demos)?;
    md += &per_suite::markdown(&per_suite);

    // Seeds: settings trained more than once.
    let members: Vec<seeds::Member> = entries
        .iter()
        .map(|e| seeds::Member {
            label: &e.label,
            default_named: default_named(e),
            setting: e.setting.as_ref(),
            mean: mean_over(e, &tasks),
        })
        .collect();
    let seed_groups = seeds::groups(&members);
    md += &seeds::markdown(&seed_groups);

    // Scaling: mean success by demonstrations, per suite and method.
    let mut figures = Vec::new();
    let mut scaling: BTreeMap<(String, usize), Vec<f32>> = BTreeMap::new();
    let suites = ["dex5-easy", "dex5-hard", "dex10"];
    // Default-named runs only: a variant (`acgd-a0.3-…`) would overwrite
    // its method's bar.
    for e in suite_students.iter().filter(|e| default_named(e)) {
        let row = suites
            .iter()
            .map(|s| {
                let st: Vec<String> = catalog.suite(s).map(<[String]>::to_vec).unwrap_or_default();
                mean_over(e, &st).map_or(f32::NAN, |v| v as f32)
            })
            .collect();
        scaling.insert((e.method.clone(), e.demos), row);
    }
    if !scaling.is_empty() {
        let labels: Vec<String> = scaling.keys().map(|(m, n)| format!("{m} {n}")).collect();
        let groups: Vec<BarGroup> = scaling
            .iter()
            .zip(&labels)
            .map(|(((_, _), v), l)| BarGroup {
                label: l,
                values: v.clone(),
            })
            .collect();
        let path = out.join("scaling.svg");
        bars(
            &path,
            "mean success by method and demonstrations per task",
            "success",
            &suites,
            &groups,
        )?;
        figures.push(path.display().to_string());
    }

    // Critic error against ACGD's gain over BC, per task.
    let acgd = best(&entries, "acgd", &tasks, a.demos);
    let bc = best(&entries, "bc", &tasks, a.demos);
    if let (Some(acgd), Some(bc)) = (acgd, bc) {
        // Every seed of each student's setting, so the gain is not one
        // seed's luck.
        let (acgd_runs, bc_runs) = (same_setting(&entries, acgd), same_setting(&entries, bc));
        let (na, nb) = (acgd_runs.len(), bc_runs.len());
        md += &format!(
            "\n## Critic error against ACGD's gain over BC\n\nSuccess averaged over the seeds \
             of each setting: ACGD {na}, BC {nb}.\n\n| task | critic error | ACGD − BC |\n|---|---|---|\n"
        );
        let mut groups = Vec::new();
        for r in &experts {
            let gain = seed_mean(&acgd_runs, &r.task).unwrap_or(f64::NAN)
                - seed_mean(&bc_runs, &r.task).unwrap_or(f64::NAN);
            md += &format!("| {} | {:.2} | {:+.2} |\n", r.task, r.critic.error, gain);
            groups.push(BarGroup {
                label: &r.task,
                values: vec![r.critic.error, gain as f32],
            });
        }
        let path = out.join("critic-gain.svg");
        bars(
            &path,
            "critic error and ACGD's gain over BC, per task",
            "value",
            &["critic error", "ACGD - BC success"],
            &groups,
        )?;
        figures.push(path.display().to_string());
    }
    let critic_pull = pull::rows(&a.session.join("data"), &tasks)?;
    md += &pull::markdown(&critic_pull);
    let selected = selection::rows(&a.session, &entries, &tasks);
    md += &selection::markdown(&selected);
    if let Some(path) = selection::figure(&out, &selected)? {
        figures.push(path.display().to_string());
    }
    let polytask = polytask_section(
        &entries,
        lifelong,
        &suite,
        &tasks,
        &out,
        &mut md,
        &mut figures,
    )?;
    if !figures.is_empty() {
        md += "\n## Figures\n\n";
        for f in &figures {
            md += &format!("- {f}\n");
        }
    }
    dexlearn::fsio::write_atomic(&out.join("report.md"), md.as_bytes())?;
    let report = Report {
        markdown: md,
        figures,
        students: entries,
        seeds: seed_groups,
        per_suite,
        critic_pull,
        selection: selected,
        polytask,
    };
    emit(a.json, &report, |r| {
        print!("{}", r.markdown);
        println!("\nwritten to {}", out.join("report.md").display());
    })
}
