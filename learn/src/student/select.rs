//! Checkpoint selection by validation rollouts. Every `select_every`
//! policy-stage steps the weights are rolled on seeds of the validation
//! domain (never collected, trained on or evaluated: `SeedDomain`), and
//! the best mean success over the tasks it has demonstrations of is what
//! `distill` saves: robomimic's "best rollout success" checkpoint, and how the
//! experts here are selected. Every check rolls the same episodes, so
//! checkpoints are compared on equal terms.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use dexsim::{Catalog, SeedDomain};

use crate::error::{LearnError, Result};
use crate::expert::{read_tensors, write_tensors};
use crate::fsio::{file_hash, read_json, write_json};
use crate::student::ckpt::{Student, StudentMeta, load_vars};
use crate::student::encoder::named_vars;
use crate::student::eval::{EpisodePolicy, GoalSource, evaluate_in};
use crate::student::model::StudentNets;
use crate::student::policy::StudentRollout;

/// The checks, in `selection.json` beside the student.
pub const SELECTION_JSON: &str = "selection.json";
/// The best weights so far (so `--resume` keeps them).
const BEST: &str = "select-best.safetensors";

/// One check of the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Policy-stage step.
    pub step: usize,
    /// Validation success rate per task, in `Selection::tasks` order.
    pub success: Vec<f64>,
    /// Mean over the tasks.
    pub mean: f64,
}

/// Every check of one run and which one was kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Tasks rolled, in the student's slot order.
    pub tasks: Vec<String>,
    /// Validation episodes per task and check.
    pub episodes: usize,
    /// The checks, in step order.
    pub checks: Vec<Check>,
    /// Step of the kept weights.
    pub best_step: Option<usize>,
    /// FNV-1a of the kept weights' file.
    pub best_fnv1a: String,
}

impl Selection {
    /// The kept check.
    pub fn best(&self) -> Option<&Check> {
        let step = self.best_step?;
        self.checks.iter().find(|c| c.step == step)
    }

    /// Whether `mean` replaces the kept check: higher wins, and a tie goes
    /// to the later (longer-trained) weights.
    pub fn beats(&self, mean: f64) -> bool {
        self.best().is_none_or(|b| mean >= b.mean)
    }
}

/// Progress of the selection, carried by `DistillProgress`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SelectNote {
    /// Step of the latest check.
    pub step: usize,
    /// Its mean validation success.
    pub mean: f64,
    /// Step of the kept weights.
    pub best_step: usize,
    /// Their mean validation success.
    pub best_mean: f64,
}

/// Runs one distillation's checks, keeping the best weights in `dir`.
pub struct Selector<'a> {
    catalog: &'a Catalog,
    dir: PathBuf,
    /// What has been checked so far.
    pub selection: Selection,
}

impl<'a> Selector<'a> {
    /// A selector writing into `dir`; with `resume`, it continues the
    /// checks saved there.
    pub fn new(
        catalog: &'a Catalog,
        dir: &Path,
        tasks: &[String],
        episodes: usize,
        resume: bool,
    ) -> Result<Self> {
        let path = dir.join(SELECTION_JSON);
        let selection = if resume && path.exists() {
            read_json(&path)?
        } else {
            Selection {
                tasks: tasks.to_vec(),
                episodes,
                ..Selection::default()
            }
        };
        Ok(Self {
            catalog,
            dir: dir.to_path_buf(),
            selection,
        })
    }

    /// Roll the weights of `nets` at `step` (`meta` and the proprio
    /// statistics make them a student) and keep them if they are the best
    /// so far. `done()` after every episode.
    pub fn check(
        &mut self,
        step: usize,
        nets: &StudentNets,
        meta: StudentMeta,
        proprio: (&[f32], &[f32]),
        done: &(dyn Fn() + Sync),
    ) -> Result<SelectNote> {
        let student = Arc::new(snapshot(nets, meta, proprio)?);
        let mut success = Vec::with_capacity(self.selection.tasks.len());
        for task in &self.selection.tasks {
            let start = |g: &[u8]| -> Result<Box<dyn EpisodePolicy>> {
                Ok(Box::new(StudentRollout::new(
                    Arc::clone(&student),
                    task,
                    g,
                )?))
            };
            let e = evaluate_in(
                self.catalog,
                task,
                student.meta.dims.image,
                self.selection.episodes,
                (SeedDomain::Validate, 0),
                &GoalSource::Rendered,
                &start,
                None,
                done,
            )?;
            success.push(e.success());
        }
        self.keep(step, success, nets)
    }

    /// Record the check of `nets` at `step` with `success` per task, and
    /// keep its weights if they are the best so far.
    pub fn keep(
        &mut self,
        step: usize,
        success: Vec<f64>,
        nets: &StudentNets,
    ) -> Result<SelectNote> {
        let mean = success.iter().sum::<f64>() / success.len().max(1) as f64;
        // A resumed run may check a step again: the new roll replaces it.
        self.selection.checks.retain(|c| c.step != step);
        let better = self.selection.beats(mean);
        self.selection.checks.push(Check {
            step,
            success,
            mean,
        });
        if better {
            let best = self.dir.join(BEST);
            let tensors = named_vars(&nets.map, "")
                .into_iter()
                .map(|(n, v)| (n, v.as_tensor().clone()))
                .collect();
            write_tensors(&best, tensors)?;
            self.selection.best_fnv1a = file_hash(&best)?;
            self.selection.best_step = Some(step);
        }
        write_json(&self.dir.join(SELECTION_JSON), &self.selection)?;
        let kept = self.selection.best().ok_or_else(|| LearnError::Config {
            field: "select_every",
            message: "no check was kept".into(),
        })?;
        Ok(SelectNote {
            step,
            mean,
            best_step: kept.step,
            best_mean: kept.mean,
        })
    }

    /// Set `nets` to the kept weights (unchanged if nothing was checked).
    pub fn restore_best(&self, nets: &StudentNets) -> Result<()> {
        if self.selection.best_step.is_none() {
            return Ok(());
        }
        let best = self.dir.join(BEST);
        let tensors: HashMap<String, Tensor> = read_tensors(&best, &self.selection.best_fnv1a)?;
        load_vars(nets, &tensors, &best)
    }
}

/// A student holding a copy of the weights of `nets`: training goes on
/// changing `nets` in place.
fn snapshot(nets: &StudentNets, meta: StudentMeta, proprio: (&[f32], &[f32])) -> Result<Student> {
    let copy = StudentNets::new(&meta.config, meta.dims)?;
    let tensors: HashMap<String, Tensor> = named_vars(&nets.map, "")
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    load_vars(&copy, &tensors, Path::new("<weights in training>"))?;
    Ok(Student {
        meta,
        nets: copy,
        proprio_mean: proprio.0.to_vec(),
        proprio_std: proprio.1.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(step: usize, mean: f64) -> Check {
        Check {
            step,
            success: vec![mean],
            mean,
        }
    }

    fn nets(seed: u64) -> StudentNets {
        let cfg = crate::student::StudentConfig {
            width: 8,
            heads: 2,
            layers: 1,
            decoder_layers: 1,
            codes: 4,
            code_width: 4,
            seed,
            ..crate::student::StudentConfig::default()
        };
        let dims = crate::student::model::Dims {
            tasks: 1,
            action: 2,
            proprio: 2,
            image: 16,
        };
        StudentNets::new(&cfg, dims).expect("tiny nets")
    }

    fn values(n: &StudentNets) -> Vec<Vec<f32>> {
        named_vars(&n.map, "")
            .into_iter()
            .map(|(_, v)| {
                v.as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1())
                    .expect("f32")
            })
            .collect()
    }

    #[test]
    fn restore_brings_back_the_kept_weights() {
        let dir = std::env::temp_dir().join(format!("dexlearn-select-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let catalog = Catalog::bundled().unwrap();
        let mut sel = Selector::new(&catalog, &dir, &["t".into()], 1, false).unwrap();
        let (a, b, c, d) = (nets(1), nets(2), nets(3), nets(4));
        assert_ne!(values(&a), values(&b));
        let n = sel.keep(10, vec![0.5], &a).unwrap();
        assert_eq!((n.best_step, n.best_mean), (10, 0.5));
        let n = sel.keep(20, vec![0.25], &b).unwrap();
        assert_eq!((n.step, n.mean, n.best_step), (20, 0.25, 10));
        sel.restore_best(&c).unwrap();
        assert_eq!(values(&c), values(&a), "the step-10 weights are back");
        // A tie goes to the later weights; resuming reads the checks back.
        sel.keep(30, vec![0.5], &b).unwrap();
        let again = Selector::new(&catalog, &dir, &["t".into()], 1, true).unwrap();
        assert_eq!(again.selection, sel.selection);
        assert_eq!(again.selection.best_step, Some(30));
        again.restore_best(&d).unwrap();
        assert_eq!(values(&d), values(&b));
        // Altered kept weights are refused, naming the file.
        std::fs::write(dir.join(BEST), b"not weights").unwrap();
        let err = again.restore_best(&d).unwrap_err().to_string();
        assert!(err.contains(BEST), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_best_mean_wins_and_a_tie_goes_to_the_later_step() {
        let mut s = Selection::default();
        assert!(s.beats(0.0), "the first check is always kept");
        s.checks = vec![check(1000, 0.3), check(2000, 0.5)];
        s.best_step = Some(2000);
        assert_eq!(s.best().map(|c| c.step), Some(2000));
        assert!(!s.beats(0.49));
        assert!(s.beats(0.5));
        assert!(s.beats(0.6));
    }
}
