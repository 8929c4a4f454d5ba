//! How hard each task's critic pulls on the student's action next to
//! `L_act`: the scale behind `--q-norm` (docs/method.md).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use dexlearn::data::Dataset;
use dexlearn::expert::{Expert, expert_dir};
use dexlearn::student::qnorm::{action_grad_direction, action_grad_scale};
use serde::Serialize;

/// Frames per task read from the start of the dataset.
const FRAMES: usize = 4096;
/// Half-width of the uniform noise the direction check moves actions by.
const NOISE: f32 = 0.5;

/// One task's critic scales at its demonstrations.
#[derive(Clone, Debug, Serialize)]
pub struct PullRow {
    pub task: String,
    pub frames: usize,
    /// Mean |Q| of the dataset's labels: the `mean-abs` constant.
    pub mean_abs_q: f32,
    /// Mean |∂Q/∂a| per action value: the `grad` constant.
    pub mean_abs_dq_da: f32,
    /// The critic's pull on an action value relative to `L_act`'s at
    /// α = 1 under `mean-abs` (under `grad` it is 1 by construction).
    pub pull_mean_abs: f32,
    /// Mean cosine between `∂Q/∂a` at demonstrated actions moved by
    /// uniform noise in ±0.5 and the step back to them (seed 0).
    pub direction: f32,
}

/// One task's first frames: states, actions and Q labels, row-major.
#[derive(Default)]
struct Frames {
    states: Vec<f32>,
    actions: Vec<f32>,
    q: Vec<f32>,
    action_dim: usize,
}

/// Rows for the `tasks` with demonstrations in `data` and a critic; empty
/// without a dataset.
pub fn rows(data: &Path, tasks: &[String]) -> anyhow::Result<Vec<PullRow>> {
    if !data.join("manifest.json").exists() {
        return Ok(Vec::new());
    }
    let ds = Dataset::open(data)?;
    let mut by: BTreeMap<String, Frames> = BTreeMap::new();
    for i in 0..ds.manifest.shards.len() {
        let name = &ds.manifest.shards[i].task;
        if !tasks.contains(name) || by.get(name).is_some_and(|e| e.q.len() >= FRAMES) {
            continue;
        }
        let (task, f) = ds.read_shard(i)?;
        let e = by.entry(task.name.clone()).or_default();
        let take = (FRAMES - e.q.len()).min(f.q.len());
        e.states
            .extend_from_slice(&f.state[..take * task.state_dim]);
        e.actions
            .extend_from_slice(&f.action[..take * task.action_dim]);
        e.q.extend_from_slice(&f.q[..take]);
        e.action_dim = task.action_dim;
    }
    let mut out = Vec::new();
    for t in tasks {
        let Some(Frames {
            states: s,
            actions: a,
            q,
            action_dim: a_dim,
        }) = by.get(t)
        else {
            continue;
        };
        let Ok(expert) = Expert::load(&expert_dir(None, t)) else {
            continue;
        };
        let mean_abs_q = q.iter().map(|v| v.abs()).sum::<f32>() / q.len().max(1) as f32;
        let g = action_grad_scale(&expert, s, a, *a_dim)
            .with_context(|| format!("critic gradient of {t}"))?;
        let direction = action_grad_direction(&expert, s, a, *a_dim, NOISE, 0)?;
        out.push(PullRow {
            task: t.clone(),
            frames: q.len(),
            mean_abs_q,
            mean_abs_dq_da: g,
            pull_mean_abs: g / mean_abs_q.max(1e-12),
            direction,
        });
    }
    Ok(out)
}

/// The markdown section (empty without rows).
pub fn markdown(rows: &[PullRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Critic pull on the action\n\nAt the first demonstration frames of each task \
         (shipped critics): `L_act` pulls on every action value with strength 1 at α = 1; \
         the critic pulls with mean |∂Q/∂a| / c, where c is mean |Q| (`--q-norm mean-abs`, \
         the default) or mean |∂Q/∂a| itself (`--q-norm grad`, pull 1). Direction: mean \
         cosine between ∂Q/∂a at each demonstrated action moved by uniform noise in ±0.5 and \
         the step back to it (1: the critic leads straight back).\n\n\
         | task | frames | mean \\|Q\\| | mean \\|∂Q/∂a\\| | pull under mean-abs | direction |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        md += &format!(
            "| {} | {} | {:.1} | {:.3} | {:.3} | {:.2} |\n",
            r.task, r.frames, r.mean_abs_q, r.mean_abs_dq_da, r.pull_mean_abs, r.direction
        );
    }
    md
}
