//! Checkpoint selection by validation rollouts, end to end: every check is
//! recorded, the saved student carries the kept weights, the same seed
//! gives the same bytes, and a job without the tasks to roll is refused.

use std::collections::HashMap;
use std::path::PathBuf;

use dexlearn::student::select::{SELECTION_JSON, Selection};
use dexlearn::student::{Corpus, Method, distill};
use dexlearn::train::Control;
use dexsim::Catalog;

mod common;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dexselect-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn tensors(path: &PathBuf) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .expect("readable safetensors")
        .into_iter()
        .map(|(n, t)| {
            let v = t
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .expect("f32 values");
            (n, v)
        })
        .collect()
}

#[test]
fn selection_records_every_check_and_saves_the_kept_weights() {
    let tasks: Vec<String> = ["reach-easy", "pose-easy"].map(String::from).to_vec();
    let data = common::collect_mini(&tmp("data"), &tasks, 2, 32);
    let corpus = Corpus::load(&data, &tasks, 2).unwrap();
    let catalog = Catalog::bundled().unwrap();
    let mut cfg = common::tiny_config(Method::Bc);
    cfg.encoder.steps = 5;
    cfg.tokenizer_steps = 5;
    cfg.steps = 5;
    cfg.select_every = 2;
    cfg.select_episodes = 2;
    let run = |name: &str| {
        let out = tmp(name);
        let mut job = common::job(cfg.clone(), &corpus, vec![None, None], out.clone());
        job.catalog = Some(&catalog);
        distill(job, &Control::new(), |_| {}).unwrap();
        out
    };
    let a = run("a");
    let sel: Selection =
        serde_json::from_slice(&std::fs::read(a.join(SELECTION_JSON)).unwrap()).unwrap();
    // Every second step, and the last.
    let steps: Vec<usize> = sel.checks.iter().map(|c| c.step).collect();
    assert_eq!(steps, vec![2, 4, 5]);
    for c in &sel.checks {
        assert_eq!(c.success.len(), 2);
        assert!(c.success.iter().all(|s| (0.0..=1.0).contains(s)));
        assert!((c.mean - (c.success[0] + c.success[1]) / 2.0).abs() < 1e-12);
    }
    // The kept check is the best, ties to the later step.
    let top = sel.checks.iter().map(|c| c.mean).fold(f64::MIN, f64::max);
    let want = sel
        .checks
        .iter()
        .filter(|c| c.mean == top)
        .map(|c| c.step)
        .max();
    assert_eq!(sel.best_step, want);
    // The student carries the kept weights (plus its proprio statistics).
    let saved = tensors(&a.join("student.safetensors"));
    let kept = tensors(&a.join("select-best.safetensors"));
    assert!(!kept.is_empty());
    for (name, v) in &kept {
        assert_eq!(saved.get(name), Some(v), "{name}");
    }
    // Same seed, same bytes: the weights and the record of the checks.
    let b = run("b");
    for f in ["student.safetensors", SELECTION_JSON] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    // Without the catalog there is nothing to roll: refused by name.
    let job = common::job(cfg.clone(), &corpus, vec![None, None], tmp("none"));
    let err = distill(job, &Control::new(), |_| {})
        .err()
        .expect("no catalog")
        .to_string();
    assert!(err.contains("select_every"), "{err}");
}
