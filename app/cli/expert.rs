//! `dexstudio expert train | eval | critic-report`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use dexlearn::train::{CurvePoint, Phase, TrainConfig, train_files};
use dexlearn::{Control, Expert};
use dexsim::Catalog;
use serde::Serialize;

use crate::output::emit;
use crate::plot::{XySeries, xy_lines};

#[derive(Subcommand, Debug)]
pub enum ExpertCmd {
    /// Train the privileged-state expert of one task (TD3, twin Q critics).
    Train(TrainArgs),
    /// Success rate and mean return of an expert on held-out seeds.
    Eval(super::expert_eval::EvalArgs),
    /// Critic error per task on held-out rollouts (METHOD §2), table and bar chart.
    CriticReport(super::expert_eval::CriticArgs),
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Task name.
    #[arg(long)]
    task: String,
    /// Environment steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Seed of weights, exploration and training episodes.
    #[arg(long)]
    seed: Option<u64>,
    /// Session folder; the expert goes to <session>/experts/<task>/.
    #[arg(long, default_value = "sessions/default")]
    session: PathBuf,
    /// Continue the run saved in the session (train.safetensors).
    #[arg(long)]
    resume: bool,
    /// A TOML file of TrainConfig fields overriding the defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Parallel environments.
    #[arg(long)]
    envs: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the result as JSON (no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct TrainReport {
    task: String,
    dir: PathBuf,
    env_steps: u64,
    wall_s: f64,
    cancelled: bool,
    validation_success: Option<f32>,
    validation_return: Option<f32>,
    selected_at_env_steps: Option<u64>,
    curve_csv: PathBuf,
    curve_svg: PathBuf,
}

pub fn run(cmd: ExpertCmd) -> anyhow::Result<()> {
    match cmd {
        ExpertCmd::Train(a) => train_cmd(a),
        ExpertCmd::Eval(a) => super::expert_eval::eval(a),
        ExpertCmd::CriticReport(a) => super::expert_eval::critic_report(a),
    }
}

/// Set the global rayon pool size once (candle and the VecEnv share it).
pub fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("cannot size the worker pool")?;
    }
    Ok(())
}

fn load_config(a: &TrainArgs, dir: &Path) -> anyhow::Result<TrainConfig> {
    let mut cfg = if a.resume {
        let (json, _) = train_files(dir);
        let text = std::fs::read_to_string(&json)
            .with_context(|| format!("cannot resume: {} is missing", json.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", json.display()))?;
        serde_json::from_value(v["config"].clone())
            .with_context(|| format!("{}: field `config`", json.display()))?
    } else if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
    } else {
        TrainConfig::default()
    };
    cfg.task = a.task.clone();
    if let Some(s) = a.steps {
        cfg.steps = s;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(e) = a.envs {
        cfg.envs = e;
    }
    Ok(cfg)
}

fn train_cmd(a: TrainArgs) -> anyhow::Result<()> {
    set_threads(a.threads)?;
    let catalog = Catalog::bundled()?;
    catalog.task(&a.task)?;
    let dir = a.session.join("experts").join(&a.task);
    let cfg = load_config(&a, &dir)?;
    let control = Control::new();
    {
        let c = control.clone();
        // Ctrl-C asks the loop to save and stop; a second one kills.
        ctrlc_hook(move || c.cancel())?;
    }
    let bar = crate::output::progress(
        cfg.steps,
        a.json,
        "{prefix:>14} [{bar:28}] {pos}/{len} steps {elapsed_precise} eta {eta} {msg}",
    )?;
    bar.set_prefix(a.task.clone());
    let mut on_progress = |p: &dexlearn::Progress| {
        bar.set_position(p.env_steps);
        let val = p
            .last
            .as_ref()
            .map(|c| {
                format!(
                    " | val success {:.2} return {:.1}",
                    c.val_success, c.val_return
                )
            })
            .unwrap_or_default();
        let phase = match p.phase {
            Phase::Warmup => "warm-up ",
            Phase::Validating => "validating ",
            Phase::Paused => "paused ",
            _ => "",
        };
        bar.set_message(format!(
            "{phase}{:.0} steps/s | return {:.1} success {:.2}{val}",
            p.env_steps_per_s, p.train_return, p.train_success
        ));
    };
    let outcome = dexlearn::train(&catalog, &cfg, &dir, a.resume, &control, &mut on_progress)
        .with_context(|| format!("training the expert of {}", a.task))?;
    bar.finish();
    let svg = dir.join("curve.svg");
    draw_curve(&svg, &a.task, &outcome.curve)?;
    let report = TrainReport {
        task: a.task.clone(),
        dir: dir.clone(),
        env_steps: outcome.env_steps,
        wall_s: outcome.wall_s,
        cancelled: outcome.cancelled,
        validation_success: outcome.expert.as_ref().map(|m| m.validation_success),
        validation_return: outcome.expert.as_ref().map(|m| m.validation_return),
        selected_at_env_steps: outcome.expert.as_ref().map(|m| m.env_steps),
        curve_csv: dir.join("curve.csv"),
        curve_svg: svg,
    };
    emit(a.json, &report, |r| {
        println!(
            "{}: {} env steps in {:.0} s{}",
            r.task,
            r.env_steps,
            r.wall_s,
            if r.cancelled {
                " (cancelled; resume with --resume)"
            } else {
                ""
            }
        );
        if let (Some(s), Some(ret), Some(at)) = (
            r.validation_success,
            r.validation_return,
            r.selected_at_env_steps,
        ) {
            println!(
                "expert: validation success {s:.2}, return {ret:.1} (checkpoint at {at} steps)"
            );
        }
        println!("expert:  {}", r.dir.join("expert.json").display());
        println!(
            "curve:   {} and {}",
            r.curve_csv.display(),
            r.curve_svg.display()
        );
    })
}

/// Draw validation success and return against environment steps.
pub fn draw_curve(path: &Path, task: &str, curve: &[CurvePoint]) -> anyhow::Result<()> {
    let pts = |f: fn(&CurvePoint) -> f32| -> Vec<(f32, f32)> {
        curve.iter().map(|p| (p.env_steps as f32, f(p))).collect()
    };
    let max_ret = curve
        .iter()
        .map(|p| p.val_return.abs().max(p.train_return.abs()))
        .fold(1e-6f32, f32::max);
    let norm = |f: fn(&CurvePoint) -> f32| -> Vec<(f32, f32)> {
        curve
            .iter()
            .map(|p| (p.env_steps as f32, f(p) / max_ret))
            .collect()
    };
    xy_lines(
        path,
        &format!("{task}: expert learning curve (returns / {max_ret:.1})"),
        "environment steps",
        &[
            XySeries {
                name: "validation success",
                points: &pts(|p| p.val_success),
            },
            XySeries {
                name: "training success",
                points: &pts(|p| p.train_success),
            },
            XySeries {
                name: "validation return (scaled)",
                points: &norm(|p| p.val_return),
            },
            XySeries {
                name: "training return (scaled)",
                points: &norm(|p| p.train_return),
            },
        ],
    )
}

/// Load an expert, saying where it was looked for.
pub fn load_expert(session: Option<&Path>, task: &str) -> anyhow::Result<Expert> {
    let dir = dexlearn::expert::expert_dir(session, task);
    Expert::load(&dir).with_context(|| format!("loading the expert of {task}"))
}

/// Run `f` on Ctrl-C or SIGTERM, once; checkpoints are atomic, so even a
/// hard kill loses only the steps since the last validation.
pub fn ctrlc_hook(f: impl Fn() + Send + 'static) -> anyhow::Result<()> {
    ctrlc::set_handler(f).context("cannot install the Ctrl-C handler")
}
