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

/// A loaded scene and task to share between environments, and a small
/// state-only config.
pub fn shared(
    task: &str,
) -> (
    std::sync::Arc<dexsim::Scene>,
    std::sync::Arc<dexsim::task::Task>,
    EnvConfig,
) {
    let cat = catalog();
    let spec = cat.task(task).expect("task");
    let scene =
        std::sync::Arc::new(dexsim::Scene::load(&cat.dir.join(&spec.scene)).expect("scene"));
    let task = std::sync::Arc::new(dexsim::task::Task::new(spec, &scene).expect("task"));
    let cfg = EnvConfig {
        image_size: 16,
        render: false,
        ..EnvConfig::default()
    };
    (scene, task, cfg)
}
