//! `dexstudio distill --method dagger`: DAgger rounds on a trained student.

use std::path::PathBuf;

use anyhow::{Context, bail};
use dexlearn::Control;
use dexlearn::student::dagger::{DaggerConfig, DaggerRound, dagger};
use dexlearn::student::{DistillJob, Student};
use dexsim::Catalog;
use serde::Serialize;

use super::{DistillArgs, collect_missing, command_line, expert_of, load_corpus};
use crate::output::emit;

#[derive(Serialize)]
struct DaggerSummary {
    out: String,
    from: String,
    label: String,
    rounds: Vec<DaggerRound>,
    /// Environment steps DAgger consumed beyond the demonstrations.
    extra_env_steps: usize,
}

pub(super) fn run_dagger(
    a: &DistillArgs,
    catalog: &Catalog,
    suite: &str,
    tasks: &[String],
    control: &Control,
) -> anyhow::Result<()> {
    let from = a.from.clone().unwrap_or_else(|| {
        a.session
            .join("students")
            .join(format!("bc-{suite}-{}", a.demos_per_task))
    });
    let base = Student::load(&from).with_context(|| {
        format!(
            "DAgger starts from a trained student; train one first \
             (`dexstudio distill --method bc --suite {suite} --demos-per-task {} --session {}`) \
             or name one with --from",
            a.demos_per_task,
            a.session.display()
        )
    })?;
    if base.meta.tasks != tasks {
        bail!(
            "{} was trained on {}, not on {suite} ({})",
            from.display(),
            base.meta.tasks.join(", "),
            tasks.join(", ")
        );
    }
    let data = a.session.join("data");
    collect_missing(a, catalog, tasks, &data, control)?;
    // The aggregate trains on the goals its base student was trained on.
    let corpus = load_corpus(a, catalog, tasks, &data, base.meta.config.train_goal)?;
    let label = format!("dagger-{}", base.meta.config.method.name());
    let out: PathBuf = a.out.clone().unwrap_or_else(|| {
        a.session
            .join("students")
            .join(format!("{label}-{suite}-{}", a.demos_per_task))
    });
    let experts: Vec<_> = tasks
        .iter()
        .map(|t| match expert_of(&a.session, t) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("warning: no expert for {t} ({e}); DAgger does not roll it");
                None
            }
        })
        .collect();
    let cfg = DaggerConfig {
        rounds: a.dagger_rounds,
        episodes: a.dagger_episodes,
        beta: a.dagger_beta,
        steps: a.steps.unwrap_or(DaggerConfig::default().steps),
        seed: DaggerConfig::default().seed ^ a.seed.unwrap_or(0),
    };
    let template = DistillJob {
        cfg: base.meta.config.clone(),
        corpus: &corpus,
        critics: Vec::new(),
        out: out.clone(),
        backbone: None,
        resume: false,
        suite: suite.to_string(),
        dataset: data.display().to_string(),
        command: command_line(),
        save_every: 0,
        init: Some(from.clone()),
        label: label.clone(),
        catalog: Some(catalog),
    };
    let bar = crate::output::progress(
        (cfg.rounds * cfg.steps) as u64,
        a.json,
        "dagger [{bar:30}] {pos}/{len} retraining steps {elapsed_precise} eta {eta} {msg}",
    )?;
    let steps = cfg.steps;
    let mut round = 0;
    let (_, rounds) = dagger(
        catalog,
        corpus.clone(),
        &experts,
        template,
        &cfg,
        control,
        |what, p| {
            if let Some(p) = p {
                if p.stage == dexlearn::student::Stage::Policy {
                    bar.set_position((round * steps + p.step) as u64);
                    if p.step == p.total {
                        round += 1;
                    }
                }
                bar.set_message(format!(
                    "{what}: act {:.3} lat {:.3}",
                    p.terms.act, p.terms.lat
                ));
            } else {
                bar.set_message(what.to_string());
            }
        },
    )
    .with_context(|| format!("DAgger into {}", out.display()))?;
    bar.finish_and_clear();
    let summary = DaggerSummary {
        out: out.display().to_string(),
        from: from.display().to_string(),
        label,
        extra_env_steps: rounds.iter().map(|r| r.rollout_steps + r.label_steps).sum(),
        rounds,
    };
    emit(a.json, &summary, |s| {
        println!("{} written to {} (from {})", s.label, s.out, s.from);
        println!(
            "{:>5} {:>6} {:>8} {:>10} {:>10} {:>8}",
            "round", "beta", "frames", "rollout", "labelling", "solved"
        );
        for r in &s.rounds {
            println!(
                "{:>5} {:>6.2} {:>8} {:>10} {:>10} {:>5}/{}",
                r.round, r.beta, r.frames, r.rollout_steps, r.label_steps, r.solved, r.episodes
            );
        }
        println!(
            "extra environment steps: {} (the demonstrations' own are not counted)",
            s.extra_env_steps
        );
    })
}
