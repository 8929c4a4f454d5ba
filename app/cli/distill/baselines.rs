//! `dexstudio distill --method bc-rnn | polytask [--lifelong]`: the
//! baselines of METHOD §6 with networks of their own (`dexlearn::baselines`).
//!
//! BC-RNN learns from the session's dataset like the student (after the
//! same top-up collection); PolyTask regenerates relabelled buffers from
//! the experts. Both train in minutes and do not resume: Ctrl-C stops them
//! and leaves no checkpoint.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dexlearn::Control;
use dexlearn::baselines::{
    BaselineProgress, BcRnnConfig, GoalMode, LifelongMode, Phase, PolyTaskConfig, train_bc_rnn,
    train_polytask, train_polytask_lifelong,
};
use dexsim::Catalog;
use indicatif::ProgressBar;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{DistillArgs, GoalModeArg, MethodArg, collect_missing, command_line, expert_of};
use crate::output::emit;

/// Reject flags that do not apply to the chosen method, naming them.
pub(super) fn check_flags(a: &DistillArgs) -> anyhow::Result<()> {
    let method = match a.method {
        MethodArg::BcRnn => "bc-rnn",
        MethodArg::Polytask => "polytask",
        _ => {
            let baseline_only = [
                ("--lifelong", a.lifelong),
                ("--goal-mode", a.goal_mode.is_some()),
                ("--frames-per-task", a.frames_per_task.is_some()),
            ];
            if let Some((flag, _)) = baseline_only.iter().find(|(_, set)| *set) {
                bail!("{flag} applies to --method polytask only");
            }
            if a.method == MethodArg::Dagger
                && (a.select_every.is_some() || a.select_episodes.is_some())
            {
                bail!(
                    "--select-every and --select-episodes do not apply to --method dagger: its \
                     rounds select as its base student (--from) was trained to"
                );
            }
            if a.method == MethodArg::Dagger && a.train_goal.is_some() {
                bail!(
                    "--train-goal does not apply to --method dagger: DAgger trains on the \
                     goals its base student (--from) was trained on"
                );
            }
            return Ok(());
        }
    };
    let student_only = [
        ("--resume", a.resume),
        ("--backbone", a.backbone.is_some()),
        ("--tokenizer-steps", a.tokenizer_steps.is_some()),
        ("--alpha", a.alpha.is_some()),
        ("--chunk", a.chunk.is_some()),
        ("--codes", a.codes.is_some()),
        ("--code-width", a.code_width.is_some()),
        ("--eta", a.eta.is_some()),
        ("--width", a.width.is_some()),
        ("--train-goal", a.train_goal.is_some()),
        ("--select-every", a.select_every.is_some()),
        ("--select-episodes", a.select_episodes.is_some()),
    ];
    if let Some((flag, _)) = student_only.iter().find(|(_, set)| *set) {
        bail!(
            "{flag} applies to the student methods (acgd, bc, act, act-critic), not {method}{}",
            if *flag == "--resume" {
                " (the baselines train in minutes and start afresh)"
            } else {
                ""
            }
        );
    }
    if a.method == MethodArg::BcRnn {
        let polytask_only = [
            ("--lifelong", a.lifelong),
            ("--goal-mode", a.goal_mode.is_some()),
            ("--frames-per-task", a.frames_per_task.is_some()),
        ];
        if let Some((flag, _)) = polytask_only.iter().find(|(_, set)| *set) {
            bail!("{flag} applies to --method polytask only");
        }
    }
    Ok(())
}

/// Read a baseline config from TOML, rejecting keys the config does not
/// have (its serde default would silently drop them).
fn read_config<T: Serialize + DeserializeOwned + Default>(
    path: Option<&Path>,
    what: &str,
) -> anyhow::Result<T> {
    let Some(p) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not TOML", p.display()))?;
    let known = toml::Table::try_from(T::default())?;
    for (key, value) in &table {
        let Some(default) = known.get(key) else {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            bail!(
                "{}: unknown field `{key}` of a {what} config (known: {})",
                p.display(),
                names.join(", ")
            );
        };
        if let (Some(sub), Some(dsub)) = (value.as_table(), default.as_table())
            && let Some(k) = sub.keys().find(|k| !dsub.contains_key(*k))
        {
            bail!(
                "{}: unknown field `{key}.{k}` of a {what} config",
                p.display()
            );
        }
    }
    table
        .try_into()
        .with_context(|| format!("{}: not a {what} config", p.display()))
}

fn bc_rnn_config(a: &DistillArgs) -> anyhow::Result<BcRnnConfig> {
    let mut c: BcRnnConfig = read_config(a.config.as_deref(), "BC-RNN")?;
    macro_rules! set {
        ($($f:ident => $g:ident),*) => { $( if let Some(v) = a.$f { c.$g = v; } )* };
    }
    set!(seed => seed, steps => steps, batch => batch, lr => lr);
    if let Some(s) = a.encoder_steps {
        c.encoder.steps = s;
    }
    c.episodes_per_task = a.demos_per_task;
    c.validate()?;
    Ok(c)
}

fn polytask_config(a: &DistillArgs) -> anyhow::Result<PolyTaskConfig> {
    let mut c: PolyTaskConfig = read_config(a.config.as_deref(), "PolyTask")?;
    macro_rules! set {
        ($($f:ident => $g:ident),*) => { $( if let Some(v) = a.$f { c.$g = v; } )* };
    }
    set!(seed => seed, steps => steps, batch => batch, lr => lr, image => image_size,
         frames_per_task => frames_per_task);
    if let Some(s) = a.encoder_steps {
        c.encoder.steps = s;
    }
    if let Some(g) = a.goal_mode {
        c.goal = match g {
            GoalModeArg::Onehot => GoalMode::OneHot,
            GoalModeArg::Image => GoalMode::Image,
        };
    }
    c.validate()?;
    Ok(c)
}

/// One progress bar per phase (and per lifelong regression), each with its
/// own ETA, and the losses logged to `losses.csv` every 50 steps.
struct Bars {
    json: bool,
    bar: Option<ProgressBar>,
    key: Option<(Phase, usize)>,
    /// Regressions started so far (lifelong: mode = r / tasks, stage = r % tasks).
    regressions: usize,
    last_step: usize,
    /// Lifelong modes in training order, and the number of tasks.
    lifelong: Option<(Vec<LifelongMode>, usize)>,
    log: std::fs::File,
    log_path: PathBuf,
    log_err: Option<std::io::Error>,
}

impl Bars {
    fn new(
        json: bool,
        out: &Path,
        lifelong: Option<(Vec<LifelongMode>, usize)>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let log_path = out.join("losses.csv");
        let mut log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        writeln!(log, "phase,mode,stage,step,loss,samples_per_s")?;
        Ok(Self {
            json,
            bar: None,
            key: None,
            regressions: 0,
            last_step: 0,
            lifelong,
            log,
            log_path,
            log_err: None,
        })
    }

    /// The lifelong mode of the current regression, if lifelong.
    fn mode(&self) -> Option<LifelongMode> {
        let (modes, n) = self.lifelong.as_ref()?;
        let r = self.regressions.saturating_sub(1);
        modes.get(r / (*n).max(1)).copied()
    }

    fn update(&mut self, p: &BaselineProgress) {
        if p.phase == Phase::Done {
            if let Some(b) = self.bar.take() {
                b.finish_and_clear();
            }
            return;
        }
        let new_regression = p.phase == Phase::Policy
            && (self.key.map(|k| k.0) != Some(Phase::Policy) || p.step <= self.last_step);
        if new_regression {
            self.regressions += 1;
        }
        self.last_step = p.step;
        if new_regression || self.key.map(|k| k.0) != Some(p.phase) {
            if let Some(b) = self.bar.take() {
                b.finish_and_clear();
            }
            let (unit, name) = match p.phase {
                Phase::Buffer => ("frames", "buffers".to_string()),
                Phase::Encoder => ("steps", "encoder".to_string()),
                Phase::Features => ("frames", "features".to_string()),
                _ => match self.mode() {
                    Some(m) => ("steps", format!("{} stage {}", m.name(), p.stage)),
                    None => ("steps", "policy".to_string()),
                },
            };
            let template = format!(
                "{name} [{{bar:30}}] {{pos}}/{{len}} {unit} {{elapsed_precise}} eta {{eta}} {{msg}}"
            );
            self.bar = crate::output::progress(p.total as u64, self.json, &template).ok();
        }
        self.key = Some((p.phase, p.stage));
        let Some(bar) = &self.bar else {
            return;
        };
        bar.set_position(p.step as u64);
        bar.set_message(match p.phase {
            Phase::Buffer | Phase::Features => format!("{:.0} frames/s", p.samples_per_s),
            _ => format!("loss {:.4} | {:.0} samples/s", p.loss, p.samples_per_s),
        });
        let due = p.step.is_multiple_of(50) || p.step == p.total;
        if matches!(p.phase, Phase::Encoder | Phase::Policy)
            && due
            && let Err(e) = writeln!(
                self.log,
                "{},{},{},{},{},{:.1}",
                match p.phase {
                    Phase::Encoder => "encoder",
                    _ => "policy",
                },
                self.mode().map_or("", LifelongMode::name),
                p.stage,
                p.step,
                p.loss,
                p.samples_per_s
            )
        {
            self.log_err = Some(e);
        }
    }

    fn finish(mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if let Some(e) = self.log_err {
            eprintln!(
                "warning: could not log losses to {}: {e}",
                self.log_path.display()
            );
        }
    }
}

/// A lifelong stage in the summary.
#[derive(Serialize)]
struct StageSummary {
    mode: &'static str,
    stage: usize,
    seen: Vec<String>,
    dir: String,
    final_loss: f32,
}

/// What a finished baseline run reports.
#[derive(Serialize)]
struct Summary {
    out: String,
    method: &'static str,
    suite: String,
    tasks: Vec<String>,
    /// BC-RNN: demonstrations used per task.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    episodes_per_task: Vec<(String, usize)>,
    /// PolyTask: goal conditioning (`one-hot` or `image`).
    #[serde(skip_serializing_if = "Option::is_none")]
    goal_mode: Option<GoalMode>,
    /// PolyTask: relabelled frames per task.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    frames_per_task: Vec<(String, usize)>,
    lifelong: bool,
    /// Lifelong: every stage's policy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stages: Vec<StageSummary>,
    final_loss: f32,
    wall_s: f64,
    samples_per_s: f64,
    command: String,
}

fn out_dir(a: &DistillArgs, name: &str, suite: &str) -> PathBuf {
    a.out.clone().unwrap_or_else(|| {
        a.session
            .join("students")
            .join(format!("{name}-{suite}-{}", a.demos_per_task))
    })
}

/// Turn a cancelled or failed run into one clear error.
fn failed(e: dexlearn::error::LearnError, control: &Control, out: &Path) -> anyhow::Error {
    if control.is_cancelled() {
        anyhow::anyhow!(
            "interrupted; no new checkpoint was written to {} (the baselines do not resume: run the command again)",
            out.display()
        )
    } else {
        anyhow::Error::new(e).context(format!("training into {}", out.display()))
    }
}

fn print_summary(s: &Summary) {
    println!("{} written to {}", s.method, s.out);
    for (t, n) in &s.episodes_per_task {
        println!("  {t:<16} {n:>4} demonstrations");
    }
    for (t, n) in &s.frames_per_task {
        println!("  {t:<16} {n:>6} relabelled frames");
    }
    for st in &s.stages {
        println!(
            "  {:<8} stage {:>2}: {} task(s) seen, loss {:.4}, {}",
            st.mode,
            st.stage,
            st.seen.len(),
            st.final_loss,
            st.dir
        );
    }
    println!(
        "final loss {:.4}, {:.0} s, {:.0} samples/s; evaluate with `dexstudio eval --policy {}`",
        s.final_loss, s.wall_s, s.samples_per_s, s.out
    );
}

/// BC-RNN on the session's dataset (topped up first like the student's).
pub(super) fn run_bc_rnn(
    a: &DistillArgs,
    catalog: &Catalog,
    suite: &str,
    tasks: &[String],
    control: &Control,
) -> anyhow::Result<()> {
    let cfg = bc_rnn_config(a)?;
    let data = a.session.join("data");
    collect_missing(a, catalog, tasks, &data, control)?;
    let out = out_dir(a, "bc-rnn", suite);
    let mut bars = Bars::new(a.json, &out, None)?;
    let model = train_bc_rnn(&data, tasks, &cfg, &out, control, |p| bars.update(p))
        .map_err(|e| failed(e, control, &out));
    bars.finish();
    let model = model?;
    let m = &model.meta;
    let summary = Summary {
        out: out.display().to_string(),
        method: "bc-rnn",
        suite: suite.to_string(),
        tasks: tasks.to_vec(),
        episodes_per_task: m
            .tasks
            .iter()
            .cloned()
            .zip(m.episodes_per_task.iter().copied())
            .collect(),
        goal_mode: None,
        frames_per_task: Vec::new(),
        lifelong: false,
        stages: Vec::new(),
        final_loss: m.final_loss,
        wall_s: m.wall_s,
        samples_per_s: m.samples_per_s,
        command: command_line(),
    };
    emit(a.json, &summary, print_summary)
}

/// PolyTask, multi-task or lifelong, from buffers the experts regenerate.
pub(super) fn run_polytask(
    a: &DistillArgs,
    catalog: &Catalog,
    suite: &str,
    tasks: &[String],
    control: &Control,
) -> anyhow::Result<()> {
    let cfg = polytask_config(a)?;
    let mut name = "polytask".to_string();
    if cfg.goal == GoalMode::Image {
        name += "-image";
    }
    if a.lifelong {
        name += "-lifelong";
    }
    let out = out_dir(a, &name, suite);
    let experts = |t: &str| expert_of(&a.session, t);
    let started = std::time::Instant::now();
    let lifelong = a.lifelong.then(|| (cfg.lifelong.clone(), tasks.len()));
    let mut bars = Bars::new(a.json, &out, lifelong)?;
    let frames = |f: &[usize]| -> Vec<(String, usize)> {
        tasks.iter().cloned().zip(f.iter().copied()).collect()
    };
    let summary = if a.lifelong {
        let stages = train_polytask_lifelong(catalog, tasks, &experts, &cfg, &out, control, |p| {
            bars.update(p)
        })
        .map_err(|e| failed(e, control, &out));
        bars.finish();
        let stages = stages?;
        let last = stages.last().context("a lifelong run with no stage")?;
        let rate = stages
            .iter()
            .map(|s| s.policy.meta.samples_per_s)
            .sum::<f64>()
            / stages.len() as f64;
        Summary {
            out: out.display().to_string(),
            method: "polytask",
            suite: suite.to_string(),
            tasks: tasks.to_vec(),
            episodes_per_task: Vec::new(),
            goal_mode: Some(cfg.goal),
            frames_per_task: frames(&last.policy.meta.frames_per_task),
            lifelong: true,
            stages: stages
                .iter()
                .map(|s| StageSummary {
                    mode: s.mode.name(),
                    stage: s.stage,
                    seen: s.seen.clone(),
                    dir: s.dir.display().to_string(),
                    final_loss: s.policy.meta.final_loss,
                })
                .collect(),
            final_loss: last.policy.meta.final_loss,
            wall_s: started.elapsed().as_secs_f64(),
            samples_per_s: rate,
            command: command_line(),
        }
    } else {
        let policy = train_polytask(catalog, tasks, &experts, &cfg, &out, control, |p| {
            bars.update(p)
        })
        .map_err(|e| failed(e, control, &out));
        bars.finish();
        let policy = policy?;
        let m = &policy.meta;
        Summary {
            out: out.display().to_string(),
            method: "polytask",
            suite: suite.to_string(),
            tasks: tasks.to_vec(),
            episodes_per_task: Vec::new(),
            goal_mode: Some(cfg.goal),
            frames_per_task: frames(&m.frames_per_task),
            lifelong: false,
            stages: Vec::new(),
            final_loss: m.final_loss,
            wall_s: m.wall_s,
            samples_per_s: m.samples_per_s,
            command: command_line(),
        }
    };
    emit(a.json, &summary, print_summary)
}
