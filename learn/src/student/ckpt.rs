//! Student checkpoints: `student.safetensors` (every network, the image
//! encoder included, and the proprioception statistics) and `student.json`
//! beside it (config, tasks, normalisers, provenance, the weights' hash).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{LearnError, Result};
use crate::expert::{read_tensors, write_tensors};
use crate::fsio::{file_hash, read_json, write_json};
use crate::student::config::StudentConfig;
use crate::student::encoder::named_vars;
use crate::student::model::{Dims, StudentNets};

/// Format tag of `student.json`.
pub const STUDENT_FORMAT: &str = "dexstudio-student/1";

/// What `student.json` says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudentMeta {
    /// [`STUDENT_FORMAT`].
    pub format: String,
    /// Every knob.
    #[serde(deserialize_with = "saved_config")]
    pub config: StudentConfig,
    /// Data widths.
    pub dims: Dims,
    /// Task names by slot.
    pub tasks: Vec<String>,
    /// Suite the student was distilled for.
    pub suite: String,
    /// Demonstrations used per task.
    pub episodes_per_task: Vec<usize>,
    /// `L_distill` normaliser per task (`config.q_norm` says which).
    pub q_norms: Vec<f32>,
    /// Dataset folder it learned from.
    pub dataset: String,
    /// Training samples seen per second over the whole run.
    pub samples_per_s: f64,
    /// Wall-clock seconds of training.
    pub wall_s: f64,
    /// Weights file beside this one.
    pub weights: String,
    /// FNV-1a of the weights file.
    pub weights_fnv1a: String,
    /// The command that made it.
    pub command: String,
    /// The row name in result tables when it is not the method's
    /// (e.g. `dagger-bc`).
    #[serde(default)]
    pub label: String,
}

/// A saved config: knobs added after a student was written take the value
/// that reproduces how it was trained (start sampling off), not today's
/// default.
fn saved_config<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<StudentConfig, D::Error> {
    let mut v = serde_json::Value::deserialize(d)?;
    if let Some(o) = v.as_object_mut() {
        o.entry("start_share").or_insert(0.0.into());
    }
    serde_json::from_value(v).map_err(serde::de::Error::custom)
}

impl StudentMeta {
    /// The name of this student's row in result tables.
    pub fn row_name(&self) -> String {
        if self.label.is_empty() {
            self.config.method.name().to_string()
        } else {
            self.label.clone()
        }
    }
}

/// A saved student: networks, proprio statistics and metadata.
pub struct Student {
    /// What the JSON says.
    pub meta: StudentMeta,
    /// The networks.
    pub nets: StudentNets,
    /// Proprioception mean per dimension.
    pub proprio_mean: Vec<f32>,
    /// Proprioception standard deviation per dimension.
    pub proprio_std: Vec<f32>,
}

impl Student {
    /// Run with temporal-ensembling decay `eta` instead of the trained one
    /// (an inference setting: the weights do not depend on it).
    pub fn set_eta(&mut self, eta: f32) -> Result<()> {
        if !(eta.is_finite() && eta >= 0.0) {
            return Err(LearnError::Config {
                field: "eta",
                message: format!("must be finite and >= 0, got {eta}"),
            });
        }
        self.meta.config.eta = eta;
        self.nets.cfg.eta = eta;
        Ok(())
    }

    /// Write weights then JSON into `dir` (JSON last: it vouches for them).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| LearnError::io(dir, e))?;
        let weights = dir.join("student.safetensors");
        let mut tensors: Vec<(String, Tensor)> = named_vars(&self.nets.map, "")
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        tensors.push((
            "proprio.mean".into(),
            Tensor::new(self.proprio_mean.as_slice(), &Device::Cpu)?,
        ));
        tensors.push((
            "proprio.std".into(),
            Tensor::new(self.proprio_std.as_slice(), &Device::Cpu)?,
        ));
        write_tensors(&weights, tensors)?;
        let mut meta = self.meta.clone();
        meta.format = STUDENT_FORMAT.into();
        meta.weights = "student.safetensors".into();
        meta.weights_fnv1a = file_hash(&weights)?;
        write_json(&dir.join("student.json"), &meta)
    }

    /// Load the student in `dir` (or `dir` itself if it names the JSON).
    pub fn load(path: &Path) -> Result<Self> {
        let json = student_json(path);
        if !json.exists() {
            return Err(LearnError::checkpoint(
                &json,
                "no student here; distill one with `dexstudio distill --method acgd --suite <suite> --session <dir>`",
            ));
        }
        let meta: StudentMeta = read_json(&json)?;
        if meta.format != STUDENT_FORMAT {
            return Err(LearnError::checkpoint(
                &json,
                format!(
                    "field `format` is `{}`, expected `{STUDENT_FORMAT}`",
                    meta.format
                ),
            ));
        }
        meta.config
            .validate()
            .map_err(|e| LearnError::checkpoint(&json, e.to_string()))?;
        let dir = json.parent().map(Path::to_path_buf).unwrap_or_default();
        let weights = dir.join(&meta.weights);
        let tensors = read_tensors(&weights, &meta.weights_fnv1a)?;
        let nets = StudentNets::new(&meta.config, meta.dims)?;
        load_vars(&nets, &tensors, &weights)?;
        let vec = |name: &str| -> Result<Vec<f32>> {
            let t = tensors.get(name).ok_or_else(|| {
                LearnError::checkpoint(&weights, format!("missing tensor `{name}`"))
            })?;
            let v = t.to_vec1::<f32>()?;
            if v.len() != meta.dims.proprio {
                return Err(LearnError::checkpoint(
                    &weights,
                    format!(
                        "tensor `{name}` has {} values, expected {}",
                        v.len(),
                        meta.dims.proprio
                    ),
                ));
            }
            Ok(v)
        };
        Ok(Self {
            proprio_mean: vec("proprio.mean")?,
            proprio_std: vec("proprio.std")?,
            meta,
            nets,
        })
    }
}

/// `student.json` for a folder or a path to the JSON itself.
pub fn student_json(path: &Path) -> PathBuf {
    if path.extension().is_some_and(|e| e == "json") {
        path.to_path_buf()
    } else {
        path.join("student.json")
    }
}

/// Set every variable of `nets` from `tensors`, checking names and shapes.
pub fn load_vars(nets: &StudentNets, tensors: &HashMap<String, Tensor>, file: &Path) -> Result<()> {
    for (name, var) in named_vars(&nets.map, "") {
        let t = tensors
            .get(&name)
            .ok_or_else(|| LearnError::checkpoint(file, format!("missing tensor `{name}`")))?;
        if t.dims() != var.dims() {
            return Err(LearnError::checkpoint(
                file,
                format!(
                    "tensor `{name}` has shape {:?}, the config implies {:?}",
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(t)?;
    }
    Ok(())
}
