//! Helpers shared by the learn crate's integration tests.

use std::path::{Path, PathBuf};

use dexlearn::collect::{CollectConfig, collect};
use dexlearn::expert::{Expert, expert_dir};
use dexlearn::student::{Corpus, DistillJob, EncoderConfig, Method, StudentConfig};
use dexlearn::train::Control;
use dexsim::Catalog;

/// Collect `episodes` successful demonstrations of each of `tasks` with the
/// shipped experts into `dir`, `size`×`size` images, collection seeds from 0.
pub fn collect_mini(dir: &Path, tasks: &[String], episodes: usize, size: usize) -> PathBuf {
    let cfg = CollectConfig {
        tasks: tasks.to_vec(),
        episodes,
        image_size: size,
        keep_failures: false,
        chunk: 10,
        seed: 0,
        max_attempts_factor: 4,
        action_noise: 0.0,
    };
    let catalog = Catalog::bundled().expect("bundled catalog");
    let expert_of = |t: &str| Expert::load(&expert_dir(None, t));
    collect(
        &catalog,
        &cfg,
        &expert_of,
        dir,
        &Control::new(),
        &mut |_| {},
    )
    .expect("collect the mini dataset");
    dir.to_path_buf()
}

/// A fresh (not resumed) distillation of `corpus` with `critics` into `out`,
/// with test provenance.
#[allow(dead_code)] // not every test crate that shares this module distils
pub fn job<'a>(
    cfg: StudentConfig,
    corpus: &'a Corpus,
    critics: Vec<Option<Expert>>,
    out: PathBuf,
) -> DistillJob<'a> {
    DistillJob {
        cfg,
        corpus,
        critics,
        out,
        backbone: None,
        resume: false,
        suite: "mini".into(),
        dataset: "test".into(),
        command: "test".into(),
        save_every: 0,
        init: None,
        label: String::new(),
        catalog: None,
    }
}

/// A student small enough to train in seconds.
#[allow(dead_code)] // not every test crate that shares this module distils
pub fn tiny_config(method: Method) -> StudentConfig {
    StudentConfig {
        method,
        chunk: 4,
        codes: 8,
        code_width: 8,
        width: 32,
        heads: 2,
        layers: 1,
        decoder_layers: 1,
        history: 2,
        tokenizer_steps: 500,
        steps: 1000,
        batch: 32,
        lr: 1e-3,
        encoder: EncoderConfig {
            channels: vec![8, 16, 16],
            features: 32,
            steps: 200,
            batch: 32,
            lr: 1e-3,
        },
        ..StudentConfig::default()
    }
}
