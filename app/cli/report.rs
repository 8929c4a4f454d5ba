//! `dexstudio report`: Table I and Table II in markdown, and the scaling
//! and critic figures, from the students evaluated in a session.
//!
//! Each student folder holds `eval-<suite>-<goal>.json` files written by
//! `dexstudio eval`; the expert row and the critic errors are computed here
//! from held-out expert rollouts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use dexsim::Catalog;
use serde::Serialize;

use super::eval::{EvalReport, GoalArg};
use super::expert_eval::critic_rows;
use crate::output::emit;
use crate::plot::{BarGroup, bars};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Session whose `students/*/eval-*.json` are tabulated.
    #[arg(long, default_value = "sessions/default")]
    session: PathBuf,
    /// Suite of Table I.
    #[arg(long, default_value = "dex10")]
    suite: String,
    /// Goal images the evaluations used.
    #[arg(long, value_enum, default_value_t = GoalArg::Rendered)]
    goal: GoalArg,
    /// Held-out expert episodes per task for the expert row.
    #[arg(long, default_value_t = 50)]
    expert_episodes: usize,
    /// Folder for report.md and the figures (default <session>/report).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One student's evaluation and where it came from.
#[derive(Clone, Debug, Serialize)]
struct Entry {
    name: String,
    method: String,
    demos: usize,
    report: EvalReport,
}

#[derive(Serialize)]
struct Report {
    markdown: String,
    figures: Vec<String>,
    students: Vec<Entry>,
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
        let meta: Option<dexlearn::student::StudentMeta> =
            dexlearn::fsio::read_json(&d.join("student.json")).ok();
        for f in files.filter_map(|e| e.ok().map(|e| e.path())) {
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if !(name.starts_with("eval-") && name.ends_with(suffix)) {
                continue;
            }
            let report: EvalReport = dexlearn::fsio::read_json(&f)
                .with_context(|| format!("reading {}", f.display()))?;
            out.push(Entry {
                name: d
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string(),
                method: report.method.clone(),
                demos: meta.as_ref().map_or(0, |m| {
                    m.episodes_per_task.iter().copied().max().unwrap_or(0)
                }),
                report,
            });
        }
    }
    Ok(out)
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

/// The entry with the most demonstrations for `method` covering `tasks`.
fn best<'a>(entries: &'a [Entry], method: &str, tasks: &[String]) -> Option<&'a Entry> {
    entries
        .iter()
        .filter(|e| e.method == method && mean_over(e, tasks).is_some())
        .max_by_key(|e| e.demos)
}

pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    let catalog = Catalog::bundled()?;
    let tasks: Vec<String> = catalog.suite(&a.suite)?.to_vec();
    let out = a.out.clone().unwrap_or_else(|| a.session.join("report"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let entries = load_entries(&a.session, a.goal)?;
    let experts = critic_rows(&catalog, &tasks, None, a.expert_episodes, a.json)?;
    let mut md = format!(
        "# Results: {} ({:?} goal images)\n\nRegenerate with `dexstudio report --session {} --suite {}`.\n\n",
        a.suite,
        a.goal,
        a.session.display(),
        a.suite
    );

    // Table I: methods x tasks, expert row first.
    md += "## Table I: success per task\n\n| method | ";
    md += &tasks.join(" | ");
    md += " | mean |\n|---|";
    md += &"---|".repeat(tasks.len() + 1);
    md += "\n| expert (50 held-out episodes) | ";
    let expert_mean =
        experts.iter().map(|r| r.success_rate).sum::<f64>() / experts.len().max(1) as f64;
    for r in &experts {
        md += &format!("{:.2} | ", r.success_rate);
    }
    md += &format!("{expert_mean:.2} |\n");
    for e in entries.iter().filter(|e| mean_over(e, &tasks).is_some()) {
        md += &format!("| {} ({} demos) | ", e.method, e.demos);
        for t in &tasks {
            md += &format!("{} | ", cell(success_of(e, t)));
        }
        md += &format!("{} |\n", cell(mean_over(e, &tasks)));
    }

    // Table II: VQ-VAE vs vanilla x critic / none / DAgger.
    md += "\n## Table II: mean success, VQ-VAE vs vanilla latent\n\n| latent | suite | critic | none | DAgger |\n|---|---|---|---|---|\n";
    for suite in ["dex5-easy", "dex5-hard"] {
        let st: Vec<String> = catalog.suite(suite)?.to_vec();
        for (latent, critic, none) in [("VQ-VAE", "acgd", "bc"), ("vanilla", "act-critic", "act")] {
            let c = best(&entries, critic, &st).and_then(|e| mean_over(e, &st));
            let n = best(&entries, none, &st).and_then(|e| mean_over(e, &st));
            let d = best(&entries, &format!("dagger-{none}"), &st).and_then(|e| mean_over(e, &st));
            md += &format!(
                "| {latent} | {suite} | {} | {} | {} |\n",
                cell(c),
                cell(n),
                cell(d)
            );
        }
    }

    // Scaling: mean success by demonstrations, per suite and method.
    let mut figures = Vec::new();
    let mut scaling: BTreeMap<(String, usize), Vec<f32>> = BTreeMap::new();
    let suites = ["dex5-easy", "dex5-hard", "dex10"];
    for e in &entries {
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
    let acgd = best(&entries, "acgd", &tasks);
    let bc = best(&entries, "bc", &tasks);
    if let (Some(acgd), Some(bc)) = (acgd, bc) {
        md += "\n## Critic error against ACGD's gain over BC\n\n| task | critic error | ACGD − BC |\n|---|---|---|\n";
        let mut groups = Vec::new();
        for r in &experts {
            let gain = success_of(acgd, &r.task).unwrap_or(f64::NAN)
                - success_of(bc, &r.task).unwrap_or(f64::NAN);
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
    };
    emit(a.json, &report, |r| {
        print!("{}", r.markdown);
        println!("\nwritten to {}", out.join("report.md").display());
    })
}
