//! `dexstudio distill`: collect what demonstrations are missing, then
//! distill the suite's experts into one visuomotor student; or train one of
//! the baselines of METHOD §6 that do not share the student's networks
//! (BC-RNN, PolyTask: see `distill/baselines.rs`).

mod baselines;
mod dagger;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use dexlearn::Control;
use dexlearn::collect::{CollectConfig, collect};
use dexlearn::data::Dataset;
use dexlearn::student::select::{SELECTION_JSON, Selection};
use dexlearn::student::{
    Corpus, CriticSpan, DistillJob, DistillProgress, LrSchedule, Method, QNorm, Stage, Student,
    StudentConfig, TrainGoal, distill,
};
use dexsim::Catalog;
use serde::Serialize;

use super::expert::{ctrlc_hook, set_threads};
use crate::output::emit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodArg {
    /// VQ-VAE action chunks, behaviour cloning and critic guidance.
    Acgd,
    /// The same student without the critic term.
    Bc,
    /// Vanilla ACT (CVAE latent).
    Act,
    /// Vanilla ACT with the critic term.
    ActCritic,
    /// Recurrent behaviour cloning (robomimic's BC-RNN) on the dataset.
    BcRnn,
    /// PolyTask behaviour distillation from relabelled expert buffers.
    Polytask,
    /// DAgger rounds on top of a trained student (`--from`, default the
    /// session's BC student of the same suite and demonstrations).
    Dagger,
}

impl MethodArg {
    /// The student's method, `None` for the baselines with their own networks.
    fn student_method(self) -> Option<Method> {
        match self {
            MethodArg::Acgd => Some(Method::Acgd),
            MethodArg::Bc => Some(Method::Bc),
            MethodArg::Act => Some(Method::Act),
            MethodArg::ActCritic => Some(Method::ActCritic),
            MethodArg::BcRnn | MethodArg::Polytask | MethodArg::Dagger => None,
        }
    }
}

/// PolyTask's goal conditioning.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoalModeArg {
    /// A one-hot task slot.
    Onehot,
    /// The features of the episode's goal image.
    Image,
}

/// Which decoded actions the critic grades (`StudentConfig::critic_span`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriticSpanArg {
    /// The chunk's first action (the paper).
    First,
    /// Every action of the chunk at its own dataset state, weighted like
    /// temporal ensembling.
    Chunk,
}

/// `StudentConfig::q_norm`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QNormArg {
    /// Mean |Q| of the task's dataset (as TD3+BC).
    MeanAbs,
    /// Mean |dQ/da| at the task's dataset states and actions.
    Grad,
}

/// `StudentConfig::train_goal`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainGoalArg {
    /// Each demonstration's last frame, as collected.
    LastFrame,
    /// Re-rendered from each demonstration's reset seed: the goal image
    /// the student is shown at test time.
    Rendered,
}

/// `StudentConfig::lr_schedule`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrScheduleArg {
    /// The learning rate throughout.
    Constant,
    /// Cosine decay to a tenth of it over each stage.
    Cosine,
}

#[derive(clap::Args, Debug)]
pub struct DistillArgs {
    /// Distillation method.
    #[arg(long, value_enum, default_value_t = MethodArg::Acgd)]
    method: MethodArg,
    /// Suite of tasks (dex10, dex5-easy, dex5-hard, opdex, bidex, ...).
    #[arg(long, default_value = "dex10")]
    suite: String,
    /// Distill these tasks only (repeatable), instead of a suite; the run
    /// is named `custom`.
    #[arg(long, conflicts_with = "suite")]
    task: Vec<String>,
    /// Demonstrations per task (collected first where the dataset has fewer).
    #[arg(long, default_value_t = 100)]
    demos_per_task: usize,
    /// Session folder: data in <session>/data, experts from
    /// <session>/experts (else the shipped ones), the student in
    /// <session>/students/<method>-<suite>-<demos> (PolyTask:
    /// polytask[-image][-lifelong]-<suite>-<demos>).
    #[arg(long, default_value = "sessions/default")]
    session: PathBuf,
    /// Output folder (default under the session, see --session).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue an interrupted run in the output folder.
    #[arg(long)]
    resume: bool,
    /// Use only the demonstrations already in the dataset.
    #[arg(long)]
    no_collect: bool,
    /// A TOML file with any `StudentConfig` fields (with --method bc-rnn:
    /// `BcRnnConfig`; polytask: `PolyTaskConfig`); flags below win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Image encoder weights (safetensors) instead of pre-training one.
    #[arg(long)]
    backbone: Option<PathBuf>,
    /// Seed of initialisation and batches.
    #[arg(long)]
    seed: Option<u64>,
    /// Behaviour-cloning (stage b) steps; the baselines' gradient steps
    /// (PolyTask: per lifelong stage).
    #[arg(long)]
    steps: Option<usize>,
    /// Tokenizer (stage a) steps.
    #[arg(long)]
    tokenizer_steps: Option<usize>,
    /// Image-encoder pre-training steps.
    #[arg(long)]
    encoder_steps: Option<usize>,
    /// Weight α of the behaviour-cloning loss against L_distill.
    #[arg(long)]
    alpha: Option<f32>,
    /// Share of each batch drawn from the episodes' first frames
    /// (--start-window of them).
    #[arg(long)]
    start_share: Option<f32>,
    /// Frames from each episode's start that --start-share draws from.
    #[arg(long)]
    start_window: Option<usize>,
    /// Which decoded actions L_distill grades [default: chunk].
    #[arg(long, value_enum)]
    critic_span: Option<CriticSpanArg>,
    /// The per-task constant each critic is divided by [default: mean-abs].
    #[arg(long, value_enum)]
    q_norm: Option<QNormArg>,
    /// Chunk length k.
    #[arg(long)]
    chunk: Option<usize>,
    /// Codebook size n_c.
    #[arg(long)]
    codes: Option<usize>,
    /// Code width n_q.
    #[arg(long)]
    code_width: Option<usize>,
    /// Temporal-ensembling decay η.
    #[arg(long)]
    eta: Option<f32>,
    /// Transformer width.
    #[arg(long)]
    width: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate schedule of the tokenizer and policy stages
    /// [default: constant].
    #[arg(long, value_enum)]
    lr_schedule: Option<LrScheduleArg>,
    /// The goal image demonstration frames are trained with
    /// [default: last-frame].
    #[arg(long, value_enum)]
    train_goal: Option<TrainGoalArg>,
    /// Roll the policy-stage weights on validation seeds every this many
    /// steps and keep the best (0: keep the last) [default: 0].
    #[arg(long)]
    select_every: Option<usize>,
    /// Validation episodes per task at each --select-every check
    /// [default: 20].
    #[arg(long)]
    select_episodes: Option<usize>,
    /// Image side of collected demonstrations (and of PolyTask's
    /// buffers) [default: 64].
    #[arg(long)]
    image: Option<usize>,
    /// Gaussian noise on the executed action of demonstrations collected
    /// here; labels stay the mean action (see `collect --action-noise`)
    /// [default: 0].
    #[arg(long, default_value_t = 0.0)]
    action_noise: f32,
    /// PolyTask: lifelong run (tasks arrive one by one; distillation from
    /// every buffer so far against sequential fine-tuning).
    #[arg(long)]
    lifelong: bool,
    /// PolyTask: goal as a one-hot task slot or as the goal image.
    #[arg(long, value_enum)]
    goal_mode: Option<GoalModeArg>,
    /// PolyTask: relabelled frames per task buffer.
    #[arg(long)]
    frames_per_task: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
    /// DAgger: the trained student to start from (default
    /// <session>/students/bc-<suite>-<demos>).
    #[arg(long)]
    from: Option<PathBuf>,
    /// DAgger: aggregation rounds.
    #[arg(long, default_value_t = 2)]
    dagger_rounds: usize,
    /// DAgger: episodes rolled per task and round.
    #[arg(long, default_value_t = 10)]
    dagger_episodes: usize,
    /// DAgger: the student's share of actions in round 1 (round r:
    /// 1 - (1 - beta)^r).
    #[arg(long, default_value_t = 0.5)]
    dagger_beta: f32,
}

/// What a finished run reports.
#[derive(Serialize)]
struct Summary {
    out: String,
    method: &'static str,
    suite: String,
    episodes_per_task: Vec<(String, usize)>,
    frames: usize,
    wall_s: f64,
    samples_per_s: f64,
    /// Checkpoint selection's checks, with --select-every.
    selection: Option<Selection>,
}

fn config(a: &DistillArgs) -> anyhow::Result<StudentConfig> {
    let mut c = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{}: not a student config", p.display()))?
        }
        None => StudentConfig::default(),
    };
    c.method = a.method.student_method().context("not a student method")?;
    macro_rules! set {
        ($($f:ident => $g:ident),*) => { $( if let Some(v) = a.$f { c.$g = v; } )* };
    }
    set!(seed => seed, steps => steps, tokenizer_steps => tokenizer_steps, alpha => alpha,
         chunk => chunk, codes => codes, code_width => code_width, eta => eta, width => width,
         batch => batch, lr => lr, start_share => start_share, start_window => start_window,
         select_every => select_every, select_episodes => select_episodes);
    if let Some(s) = a.encoder_steps {
        c.encoder.steps = s;
    }
    if let Some(sched) = a.lr_schedule {
        c.lr_schedule = match sched {
            LrScheduleArg::Constant => LrSchedule::Constant,
            LrScheduleArg::Cosine => LrSchedule::Cosine,
        };
    }
    if let Some(g) = a.train_goal {
        c.train_goal = match g {
            TrainGoalArg::LastFrame => TrainGoal::LastFrame,
            TrainGoalArg::Rendered => TrainGoal::Rendered,
        };
    }
    if let Some(span) = a.critic_span {
        c.critic_span = match span {
            CriticSpanArg::First => CriticSpan::First,
            CriticSpanArg::Chunk => CriticSpan::Chunk,
        };
    }
    if let Some(n) = a.q_norm {
        c.q_norm = match n {
            QNormArg::MeanAbs => QNorm::MeanAbs,
            QNormArg::Grad => QNorm::Grad,
        };
    }
    c.validate()?;
    Ok(c)
}

/// The expert of `task`: the session's if it has one, else the shipped one.
pub fn expert_of(session: &Path, task: &str) -> dexlearn::error::Result<dexlearn::Expert> {
    let own = dexlearn::expert::expert_dir(Some(session), task);
    if own.join("expert.json").exists() {
        dexlearn::Expert::load(&own)
    } else {
        dexlearn::Expert::load(&dexlearn::expert::expert_dir(None, task))
    }
}

/// Episodes per task already in the dataset at `dir` (none if absent).
fn have(dir: &Path, tasks: &[String]) -> anyhow::Result<Vec<usize>> {
    if !dir.join("manifest.json").exists() {
        return Ok(vec![0; tasks.len()]);
    }
    let ds = Dataset::open(dir)?;
    Ok(tasks
        .iter()
        .map(|t| {
            ds.manifest
                .shards
                .iter()
                .filter(|s| &s.task == t)
                .map(|s| s.episodes.len())
                .sum()
        })
        .collect())
}

fn top_up(
    a: &DistillArgs,
    catalog: &Catalog,
    tasks: &[String],
    data: &Path,
    control: &Control,
) -> anyhow::Result<()> {
    let counts = have(data, tasks)?;
    for (t, &n) in tasks.iter().zip(&counts) {
        if n >= a.demos_per_task || control.is_cancelled() {
            continue;
        }
        let want = a.demos_per_task - n;
        let bar = crate::output::progress(
            want as u64,
            a.json,
            "collect [{bar:30}] {pos}/{len} episodes {elapsed_precise} eta {eta} {msg}",
        )?;
        let cfg = CollectConfig {
            tasks: vec![t.clone()],
            episodes: want,
            image_size: a.image.unwrap_or(64),
            keep_failures: false,
            chunk: 10,
            // collect() continues after the episodes already stored.
            seed: 0,
            max_attempts_factor: 4,
            action_noise: a.action_noise,
        };
        let session = a.session.clone();
        let summary = collect(
            catalog,
            &cfg,
            &|task: &str| expert_of(&session, task),
            data,
            control,
            &mut |p| {
                bar.set_position(p.kept as u64);
                bar.set_message(format!(
                    "{}: kept {}/{} rolled",
                    p.task, p.kept, p.attempted
                ));
            },
        )
        .with_context(|| format!("collecting {t} into {}", data.display()))?;
        bar.finish_and_clear();
        let kept: usize = summary.tasks.iter().map(|r| r.kept).sum();
        if kept < want {
            let rolled: usize = summary.tasks.iter().map(|r| r.attempted).sum();
            eprintln!(
                "warning: {t}: the expert solved {kept} of {rolled} episodes rolled ({want} wanted); \
                 the student gets {} demonstrations of it",
                n + kept
            );
        }
    }
    Ok(())
}

/// The run's suite name and tasks: `--task`s make a `custom` run.
fn suite_tasks(a: &DistillArgs, catalog: &Catalog) -> anyhow::Result<(String, Vec<String>)> {
    if a.task.is_empty() {
        return Ok((a.suite.clone(), catalog.suite(&a.suite)?.to_vec()));
    }
    for t in &a.task {
        catalog.task(t)?;
    }
    Ok(("custom".to_string(), a.task.clone()))
}

/// Collect what demonstrations are missing (unless told not to); fails if
/// Ctrl-C stopped the collection.
fn collect_missing(
    a: &DistillArgs,
    catalog: &Catalog,
    tasks: &[String],
    data: &Path,
    control: &Control,
) -> anyhow::Result<()> {
    if !a.no_collect && !a.resume {
        top_up(a, catalog, tasks, data, control)?;
    }
    if control.is_cancelled() {
        bail!(
            "interrupted while collecting; every finished episode is saved in {}",
            data.display()
        );
    }
    Ok(())
}

/// The demonstrations of `tasks` in `data`, with the goal images
/// `goal` asks for.
fn load_corpus(
    a: &DistillArgs,
    catalog: &Catalog,
    tasks: &[String],
    data: &Path,
    goal: TrainGoal,
) -> anyhow::Result<Corpus> {
    let mut corpus = Corpus::load(data, tasks, a.demos_per_task)?;
    let n = dexlearn::student::goals::prepare_goals(catalog, &mut corpus, goal, data)
        .with_context(|| format!("re-rendering the goal images of {}", data.display()))?;
    if n > 0 && !a.json {
        eprintln!("re-rendered the goal images of {n} demonstrations from their seeds");
    }
    Ok(corpus)
}

/// The command line, for provenance.
fn command_line() -> String {
    std::iter::once("dexstudio".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(a: DistillArgs) -> anyhow::Result<()> {
    set_threads(a.threads)?;
    let catalog = Catalog::bundled()?;
    let (suite, tasks) = suite_tasks(&a, &catalog)?;
    baselines::check_flags(&a)?;
    let control = Control::new();
    {
        let c = control.clone();
        ctrlc_hook(move || c.cancel())?;
    }
    match a.method {
        MethodArg::BcRnn => baselines::run_bc_rnn(&a, &catalog, &suite, &tasks, &control),
        MethodArg::Polytask => baselines::run_polytask(&a, &catalog, &suite, &tasks, &control),
        MethodArg::Dagger => dagger::run_dagger(&a, &catalog, &suite, &tasks, &control),
        _ => run_student(&a, &catalog, &suite, &tasks, &control),
    }
}

/// ACGD and the baselines that share the student's networks.
fn run_student(
    a: &DistillArgs,
    catalog: &Catalog,
    suite: &str,
    tasks: &[String],
    control: &Control,
) -> anyhow::Result<()> {
    let cfg = config(a)?;
    let data = a.session.join("data");
    collect_missing(a, catalog, tasks, &data, control)?;
    let corpus = load_corpus(a, catalog, tasks, &data, cfg.train_goal)?;
    let out = a.out.clone().unwrap_or_else(|| {
        a.session.join("students").join(format!(
            "{}-{}-{}",
            cfg.method.name(),
            suite,
            a.demos_per_task
        ))
    });
    let critics = if cfg.method.critic() {
        tasks
            .iter()
            .map(|t| match expert_of(&a.session, t) {
                Ok(e) => Some(e),
                Err(e) => {
                    eprintln!("warning: no critic for {t} ({e}); its rows get no critic term");
                    None
                }
            })
            .collect()
    } else {
        tasks.iter().map(|_| None).collect()
    };
    let command = command_line();
    let stage_steps = if cfg.method.quantized() {
        vec![cfg.tokenizer_steps, cfg.steps]
    } else {
        vec![cfg.tokenizer_steps + cfg.steps]
    };
    let total = cfg.encoder.steps + stage_steps.iter().sum::<usize>();
    let bar = crate::output::progress(
        total as u64,
        a.json,
        "distill [{bar:30}] {pos}/{len} steps {elapsed_precise} eta {eta} {msg}",
    )?;
    let log_path = out.join("losses.csv");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    if !a.resume {
        log.set_len(0)?;
        writeln!(
            log,
            "stage,step,total,act,code,usage,lat,distill,kl,samples_per_s"
        )?;
    }
    let quantized = cfg.method.quantized();
    let offset = |stage: Stage| -> usize {
        match stage {
            Stage::Encoder | Stage::Features => 0,
            Stage::Tokenizer => cfg.encoder.steps,
            Stage::Policy | Stage::Validate if quantized => cfg.encoder.steps + cfg.tokenizer_steps,
            Stage::Policy | Stage::Validate => cfg.encoder.steps,
            Stage::Done => total,
        }
    };
    let mut log_err = None;
    let on_progress = |p: &DistillProgress| {
        if p.stage != Stage::Features {
            bar.set_position((offset(p.stage) + p.step) as u64);
        }
        let t = &p.terms;
        let kept = p.selection.map_or(String::new(), |n| {
            format!(
                " | validation {:.3} (kept {:.3} @ {})",
                n.mean, n.best_mean, n.best_step
            )
        });
        bar.set_message(match p.stage {
            Stage::Features => format!("caching image features {}/{}", p.step, p.total),
            Stage::Validate => format!(
                "rolling {} validation episodes at step {}{kept}",
                p.total, p.step
            ),
            Stage::Encoder => format!(
                "encoder loss {:.4} | {:.0} samples/s",
                t.total, p.samples_per_s
            ),
            _ => format!(
                "{:?} act {:.3} code {:.3} lat {:.3} distill {:.3} kl {:.3} | {:.0} samples/s{kept}",
                p.stage, t.act, t.code, t.lat, t.distill, t.kl, p.samples_per_s
            ),
        });
        let due = p.step.is_multiple_of(50) || p.step == p.total;
        if !matches!(p.stage, Stage::Features | Stage::Validate)
            && due
            && let Err(e) = writeln!(
                log,
                "{:?},{},{},{},{},{},{},{},{},{:.1}",
                p.stage,
                p.step,
                t.total,
                t.act,
                t.code,
                t.usage,
                t.lat,
                t.distill,
                t.kl,
                p.samples_per_s
            )
        {
            log_err = Some(e);
        }
    };
    let job = DistillJob {
        cfg: cfg.clone(),
        corpus: &corpus,
        critics,
        out: out.clone(),
        backbone: a.backbone.clone(),
        resume: a.resume,
        suite: suite.to_string(),
        dataset: data.display().to_string(),
        command,
        save_every: 500,
        init: None,
        label: String::new(),
        catalog: Some(catalog),
    };
    let student: Student = distill(job, control, on_progress)
        .with_context(|| format!("distilling into {}", out.display()))?;
    bar.finish_and_clear();
    if let Some(e) = log_err {
        eprintln!(
            "warning: could not log losses to {}: {e}",
            log_path.display()
        );
    }
    let student = Arc::new(student);
    let summary = Summary {
        out: out.display().to_string(),
        method: cfg.method.name(),
        suite: suite.to_string(),
        episodes_per_task: tasks
            .iter()
            .cloned()
            .zip(student.meta.episodes_per_task.iter().copied())
            .collect(),
        frames: corpus.len(),
        wall_s: student.meta.wall_s,
        samples_per_s: student.meta.samples_per_s,
        selection: if cfg.select_every > 0 {
            Some(dexlearn::fsio::read_json(&out.join(SELECTION_JSON))?)
        } else {
            None
        },
    };
    emit(a.json, &summary, |s| {
        println!("{} student written to {}", s.method, s.out);
        for (t, n) in &s.episodes_per_task {
            println!("  {t:<16} {n:>4} demonstrations");
        }
        if let Some(sel) = &s.selection {
            let checks: Vec<String> = sel
                .checks
                .iter()
                .map(|c| format!("{} {:.3}", c.step, c.mean))
                .collect();
            if let Some(b) = sel.best() {
                println!(
                    "kept the weights of step {} (mean validation success {:.3} over {} episodes \
                     per task); checks: {}",
                    b.step,
                    b.mean,
                    sel.episodes,
                    checks.join(", ")
                );
            }
        }
        println!(
            "{} frames, {:.0} s, {:.0} samples/s; evaluate with `dexstudio eval --policy {}`",
            s.frames, s.wall_s, s.samples_per_s, s.out
        );
    })
}
