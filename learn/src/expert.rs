//! A frozen expert: actor, twin critics and the observation statistics
//! they were trained with, stored as safetensors weights plus a JSON file
//! beside them that records shapes, provenance and the weights' hash.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::error::{LearnError, Result};
use crate::fsio::{file_hash, read_json, write_atomic_with, write_json};
use crate::norm::RunningNorm;
use crate::td3::Nets;

/// Format tag of `expert.json`.
pub const EXPERT_FORMAT: &str = "dexstudio-expert/1";

/// The JSON file beside an expert's weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertMeta {
    /// Always [`EXPERT_FORMAT`].
    pub format: String,
    /// Task name.
    pub task: String,
    /// Learning algorithm ("td3").
    pub algorithm: String,
    /// Width of the privileged state.
    pub state_dim: usize,
    /// Width of the action.
    pub action_dim: usize,
    /// Hidden widths of actor and critics.
    pub hidden: Vec<usize>,
    /// Discount the critics were trained with.
    pub gamma: f32,
    /// Rewards were multiplied by this before learning; Q is in those units.
    pub reward_scale: f32,
    /// Training seed.
    pub seed: u64,
    /// Environment steps trained when this checkpoint was taken.
    pub env_steps: u64,
    /// Gradient updates of the critics.
    pub updates: u64,
    /// Wall time of training up to this checkpoint (s).
    pub wall_s: f64,
    /// Success rate on the validation episodes when selected.
    pub validation_success: f32,
    /// Mean return on the validation episodes when selected.
    pub validation_return: f32,
    /// File name of the weights, beside this file.
    pub weights: String,
    /// FNV-1a 64 of the weights file.
    pub weights_fnv1a: String,
}

/// Where the experts shipped with dexstudio live (`$DEXSTUDIO_ASSETS`
/// overrides, for installed binaries).
pub fn assets_dir() -> PathBuf {
    std::env::var_os("DEXSTUDIO_ASSETS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets"),
        PathBuf::from,
    )
}

/// The folder of the expert of `task`: under `session/experts/` when a
/// session is given, else the shipped one.
pub fn expert_dir(session: Option<&Path>, task: &str) -> PathBuf {
    match session {
        Some(s) => s.join("experts").join(task),
        None => assets_dir().join("experts").join(task),
    }
}

/// Write named tensors as safetensors, atomically.
pub fn write_tensors(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<()> {
    let map: HashMap<String, Tensor> = tensors.into_iter().collect();
    write_atomic_with(path, |tmp| {
        candle_core::safetensors::save(&map, tmp).map_err(std::io::Error::other)
    })
}

/// Read safetensors after checking the hash recorded for them.
pub fn read_tensors(path: &Path, expected_hash: &str) -> Result<HashMap<String, Tensor>> {
    let got = file_hash(path)?;
    if got != expected_hash {
        return Err(LearnError::checkpoint(
            path,
            format!(
                "weights do not match the hash recorded beside them (fnv1a {got}, expected \
                 {expected_hash}): the file is truncated, altered or from another checkpoint"
            ),
        ));
    }
    candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| LearnError::checkpoint(path, format!("not readable as safetensors: {e}")))
}

/// Observation statistics as tensors `norm.mean`, `norm.m2`, `norm.count`.
pub fn norm_tensors(norm: &RunningNorm) -> Result<Vec<(String, Tensor)>> {
    let (mean, m2, count) = norm.to_parts();
    let dev = Device::Cpu;
    Ok(vec![
        (
            "norm.mean".into(),
            Tensor::from_vec(mean, norm.dim(), &dev)?,
        ),
        ("norm.m2".into(), Tensor::from_vec(m2, norm.dim(), &dev)?),
        ("norm.count".into(), Tensor::new(&[count], &dev)?),
    ])
}

/// Rebuild observation statistics from [`norm_tensors`].
pub fn norm_from(
    get: impl Fn(&str) -> Option<Tensor>,
    dim: usize,
) -> std::result::Result<RunningNorm, String> {
    let vec = |k: &str| -> std::result::Result<Vec<f32>, String> {
        let t = get(k).ok_or_else(|| format!("missing tensor `{k}`"))?;
        t.to_vec1::<f32>().map_err(|e| format!("tensor `{k}`: {e}"))
    };
    let (mean, m2, count) = (vec("norm.mean")?, vec("norm.m2")?, vec("norm.count")?);
    if mean.len() != dim || m2.len() != dim || count.len() != 1 {
        return Err(format!(
            "observation statistics have {} dimensions, the state has {dim}",
            mean.len()
        ));
    }
    Ok(RunningNorm::from_parts(&mean, &m2, count[0]))
}

/// A frozen expert, ready to act and to score actions.
pub struct Expert {
    /// What the JSON file says.
    pub meta: ExpertMeta,
    nets: Nets,
    norm: RunningNorm,
    _map: VarMap,
}

impl Expert {
    /// Save actor, critics and statistics to `dir/expert.safetensors` and
    /// then `dir/expert.json` (the JSON last: it vouches for the weights).
    pub fn save(
        dir: &Path,
        mut meta: ExpertMeta,
        nets: Vec<(String, Tensor)>,
        norm: &RunningNorm,
    ) -> Result<()> {
        let weights = dir.join("expert.safetensors");
        let mut tensors = nets;
        tensors.extend(norm_tensors(norm)?);
        write_tensors(&weights, tensors)?;
        meta.format = EXPERT_FORMAT.into();
        meta.weights = "expert.safetensors".into();
        meta.weights_fnv1a = file_hash(&weights)?;
        write_json(&dir.join("expert.json"), &meta)
    }

    /// Load the expert stored in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let json = dir.join("expert.json");
        if !json.exists() {
            return Err(LearnError::checkpoint(
                &json,
                "no expert here; train one with `dexstudio expert train --task <task> --session <dir>`",
            ));
        }
        let meta: ExpertMeta = read_json(&json)?;
        if meta.format != EXPERT_FORMAT {
            return Err(LearnError::checkpoint(
                &json,
                format!(
                    "field `format` is `{}`, expected `{EXPERT_FORMAT}`",
                    meta.format
                ),
            ));
        }
        let weights = dir.join(&meta.weights);
        let tensors = read_tensors(&weights, &meta.weights_fnv1a)?;
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let nets = Nets::new(meta.state_dim, meta.action_dim, &meta.hidden, &vb)?;
        let vars = map.data().lock().map(|m| m.clone()).unwrap_or_default();
        for (name, var) in vars {
            let t = tensors.get(&name).ok_or_else(|| {
                LearnError::checkpoint(&weights, format!("missing tensor `{name}`"))
            })?;
            if t.dims() != var.dims() {
                return Err(LearnError::checkpoint(
                    &weights,
                    format!(
                        "tensor `{name}` has shape {:?}, expert.json implies {:?}",
                        t.dims(),
                        var.dims()
                    ),
                ));
            }
            var.set(t)?;
        }
        let norm = norm_from(|k| tensors.get(k).cloned(), meta.state_dim)
            .map_err(|m| LearnError::checkpoint(&weights, m))?;
        Ok(Self {
            meta,
            nets,
            norm,
            _map: map,
        })
    }

    /// Normalised states as a `[n, S]` tensor.
    pub fn state_tensor(&self, states: &[f32]) -> Result<Tensor> {
        let d = self.meta.state_dim;
        let n = states.len() / d.max(1);
        Ok(Tensor::from_vec(
            self.norm.apply(states),
            (n, d),
            &Device::Cpu,
        )?)
    }

    /// Mean (deterministic) actions for raw states laid out row by row.
    pub fn act(&self, states: &[f32]) -> Result<Vec<f32>> {
        self.check_width("state", states.len(), self.meta.state_dim)?;
        let s = self.state_tensor(states)?;
        Ok(self.nets.act(&s)?.flatten_all()?.to_vec1()?)
    }

    /// `min(Q1, Q2)` of raw states and actions, row by row.
    pub fn q(&self, states: &[f32], actions: &[f32]) -> Result<Vec<f32>> {
        self.check_width("state", states.len(), self.meta.state_dim)?;
        self.check_width("action", actions.len(), self.meta.action_dim)?;
        let s = self.state_tensor(states)?;
        let n = s.dims()[0];
        let a = Tensor::from_slice(actions, (n, self.meta.action_dim), &Device::Cpu)?;
        Ok(self.nets.q_min(&s, &a)?.to_vec1()?)
    }

    /// The networks, for losses that backpropagate through the critic.
    pub fn nets(&self) -> &Nets {
        &self.nets
    }

    fn check_width(&self, field: &'static str, len: usize, width: usize) -> Result<()> {
        if width == 0 || !len.is_multiple_of(width) || len == 0 {
            return Err(LearnError::Config {
                field,
                message: format!(
                    "{len} values are not whole rows of width {width} (expert of {})",
                    self.meta.task
                ),
            });
        }
        Ok(())
    }
}
