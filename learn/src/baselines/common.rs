//! What both baselines share: progress reports, frozen image features
//! (the student's encoder and pre-training), proprioception statistics and
//! checkpoint plumbing.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{LearnError, Result};
use crate::expert::{read_tensors, write_tensors};
use crate::student::config::EncoderConfig;
use crate::student::corpus::{PROPRIO_STD_FLOOR, normalise};
use crate::student::encoder::{ImageEncoder, PretrainData, encode_all, named_vars, pretrain};
use crate::train::Control;

/// Where a baseline's training is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Rolling experts to regenerate relabelled buffers (PolyTask).
    Buffer,
    /// Pre-training the image encoder.
    Encoder,
    /// Caching image features.
    Features,
    /// Training the policy.
    Policy,
    /// Finished.
    Done,
}

/// Progress, sent every step.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineProgress {
    /// Phase.
    pub phase: Phase,
    /// Lifelong stage (tasks seen - 1); 0 outside lifelong runs.
    pub stage: usize,
    /// Step (frames for [`Phase::Buffer`] and [`Phase::Features`]).
    pub step: usize,
    /// Steps of the phase.
    pub total: usize,
    /// Loss of the step (0 where there is none).
    pub loss: f32,
    /// Samples (or frames) per second over the phase.
    pub samples_per_s: f64,
}

/// The error a cancelled run returns (baselines train in minutes and do
/// not resume).
pub fn cancelled(what: &str) -> LearnError {
    LearnError::Config {
        field: "control",
        message: format!("cancelled during {what}"),
    }
}

/// A ChaCha stream for one step: a function of `(seed, salt, step)` only,
/// so runs are reproducible whatever happened before.
pub fn step_rng(seed: u64, salt: u64, step: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed ^ salt.rotate_left(17) ^ (step as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    )
}

/// Images, privileged states and task slots to pre-train an encoder on.
pub struct FeatureData<'a> {
    /// `n` HWC images of `size`² pixels, back to back.
    pub images: &'a [u8],
    /// Image side.
    pub size: usize,
    /// Per frame: task slot and raw privileged state.
    pub states: Vec<(usize, &'a [f32])>,
    /// Privileged-state width per slot.
    pub state_dims: Vec<usize>,
}

/// Pre-train `enc` (variables under `enc.` in `map`) as the student does,
/// with each slot's states standardised so no dimension dominates; then
/// return the frozen features of every image (`[n * F]`).
pub fn frozen_features(
    enc: &ImageEncoder,
    map: &VarMap,
    cfg: &EncoderConfig,
    data: &FeatureData,
    seed: u64,
    control: &Control,
    progress: &mut dyn FnMut(&BaselineProgress),
) -> Result<Vec<f32>> {
    let slots = data.state_dims.len();
    let mut sum = vec![Vec::new(); slots];
    let mut sq = vec![Vec::new(); slots];
    let mut n = vec![0f64; slots];
    for &(s, row) in &data.states {
        if sum[s].is_empty() {
            sum[s] = vec![0f64; row.len()];
            sq[s] = vec![0f64; row.len()];
        }
        for (j, &v) in row.iter().enumerate() {
            sum[s][j] += f64::from(v);
            sq[s][j] += f64::from(v) * f64::from(v);
        }
        n[s] += 1.0;
    }
    let stats: Vec<Vec<(f32, f32)>> = (0..slots)
        .map(|s| {
            let m = n[s].max(1.0);
            sum[s]
                .iter()
                .zip(&sq[s])
                .map(|(&a, &b)| {
                    let mean = a / m;
                    (
                        mean as f32,
                        (b / m - mean * mean).max(0.0).sqrt().max(1e-3) as f32,
                    )
                })
                .collect()
        })
        .collect();
    let norm: Vec<Vec<f32>> = data
        .states
        .iter()
        .map(|&(s, row)| {
            row.iter()
                .zip(&stats[s])
                .map(|(&v, &(m, sd))| (v - m) / sd)
                .collect()
        })
        .collect();
    let pre = PretrainData {
        images: data.images,
        size: data.size,
        states: data
            .states
            .iter()
            .zip(&norm)
            .map(|(&(s, _), r)| (s, r.as_slice()))
            .collect(),
        state_dims: data.state_dims.clone(),
    };
    let t0 = Instant::now();
    pretrain(enc, map, cfg, &pre, seed, |step, loss| {
        progress(&BaselineProgress {
            phase: Phase::Encoder,
            stage: 0,
            step,
            total: cfg.steps,
            loss,
            samples_per_s: (step * cfg.batch) as f64 / t0.elapsed().as_secs_f64().max(1e-9),
        });
        !control.wait_or_cancelled()
    })?;
    if control.is_cancelled() {
        return Err(cancelled("encoder pre-training"));
    }
    let total = data.states.len();
    let t0 = Instant::now();
    encode_all(enc, data.images, data.size, 256, |done| {
        progress(&BaselineProgress {
            phase: Phase::Features,
            stage: 0,
            step: done,
            total,
            loss: 0.0,
            samples_per_s: done as f64 / t0.elapsed().as_secs_f64().max(1e-9),
        });
    })
}

/// Per-dimension mean and standard deviation (floored like the
/// student's) of rows of width `p`.
pub fn proprio_stats(proprio: &[f32], p: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (proprio.len() / p.max(1)).max(1) as f64;
    let mut mean = vec![0f64; p];
    let mut sq = vec![0f64; p];
    for row in proprio.chunks_exact(p.max(1)) {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += f64::from(v) / n;
            sq[j] += f64::from(v) * f64::from(v) / n;
        }
    }
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| (s - m * m).max(0.0).sqrt().max(PROPRIO_STD_FLOOR) as f32)
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

/// One proprioception row, normalised and clipped like the student's.
pub fn normalise_row(row: &[f32], mean: &[f32], std: &[f32]) -> Vec<f32> {
    row.iter()
        .zip(mean.iter().zip(std))
        .map(|(&v, (&m, &s))| normalise(v, m, s))
        .collect()
}

/// Check a proprioception row and an image against the model's widths.
pub fn check_inputs(image: &[u8], size: usize, proprio: &[f32], p: usize) -> Result<()> {
    if image.len() != size * size * 3 {
        return Err(LearnError::Config {
            field: "image",
            message: format!(
                "image has {} bytes; the policy sees {size}x{size} RGB",
                image.len()
            ),
        });
    }
    if proprio.len() != p {
        return Err(LearnError::Config {
            field: "proprio",
            message: format!("{} values, the policy expects {p}", proprio.len()),
        });
    }
    Ok(())
}

/// Write every variable of `map` and the proprio statistics to `path`;
/// returns the file's hash for the JSON beside it.
pub fn save_weights(path: &Path, map: &VarMap, mean: &[f32], std: &[f32]) -> Result<String> {
    let mut tensors: Vec<(String, Tensor)> = named_vars(map, "")
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    tensors.push(("proprio.mean".into(), Tensor::new(mean, &Device::Cpu)?));
    tensors.push(("proprio.std".into(), Tensor::new(std, &Device::Cpu)?));
    write_tensors(path, tensors)?;
    crate::fsio::file_hash(path)
}

/// Read `path` (checked against `hash`) into the variables of `map`,
/// checking names and shapes; returns the proprio statistics.
pub fn load_weights(
    path: &Path,
    hash: &str,
    map: &VarMap,
    proprio: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let tensors: HashMap<String, Tensor> = read_tensors(path, hash)?;
    for (name, var) in named_vars(map, "") {
        let t = tensors
            .get(&name)
            .ok_or_else(|| LearnError::checkpoint(path, format!("missing tensor `{name}`")))?;
        if t.dims() != var.dims() {
            return Err(LearnError::checkpoint(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, the config implies {:?}",
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(t)?;
    }
    let vec = |name: &str| -> Result<Vec<f32>> {
        let t = tensors
            .get(name)
            .ok_or_else(|| LearnError::checkpoint(path, format!("missing tensor `{name}`")))?;
        let v = t.to_vec1::<f32>()?;
        if v.len() != proprio {
            return Err(LearnError::checkpoint(
                path,
                format!("tensor `{name}` has {} values, expected {proprio}", v.len()),
            ));
        }
        Ok(v)
    };
    Ok((vec("proprio.mean")?, vec("proprio.std")?))
}

/// `name.json` for a folder, or the path itself when it names a JSON file.
pub fn meta_path(path: &Path, name: &str) -> std::path::PathBuf {
    if path.extension().is_some_and(|e| e == "json") {
        path.to_path_buf()
    } else {
        path.join(name)
    }
}

/// Reject a JSON file of another format.
pub fn check_format(json: &Path, got: &str, want: &str) -> Result<()> {
    if got != want {
        return Err(LearnError::checkpoint(
            json,
            format!("field `format` is `{got}`, expected `{want}`"),
        ));
    }
    Ok(())
}
