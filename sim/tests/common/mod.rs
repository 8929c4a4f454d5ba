//! Helpers shared by the integration tests.
#![allow(dead_code)]

use dexsim::{Catalog, Env, EnvConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn catalog() -> Catalog {
    Catalog::bundled().expect("bundled catalog loads")
}

pub fn env(task: &str, render: bool) -> Env {
    Env::from_catalog(
        &catalog(),
        task,
        EnvConfig {
            image_size: 32,
            render,
            ..EnvConfig::default()
        },
    )
    .expect("task loads")
}

pub fn random_actions(seed: u64, steps: usize, n: usize) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..steps)
        .map(|_| (0..n).map(|_| rng.random_range(-1.0f32..=1.0)).collect())
        .collect()
}
