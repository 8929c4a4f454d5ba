//! Noise-injected collection: the executed action is perturbed, the stored
//! label stays the expert's mean action, and the same seed gives the same
//! episode.

use std::path::{Path, PathBuf};

use dexlearn::collect::{CollectConfig, collect};
use dexlearn::data::Dataset;
use dexlearn::expert::{Expert, expert_dir};
use dexlearn::train::Control;
use dexsim::Catalog;

fn run(name: &str, noise: f32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dexcollect-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = CollectConfig {
        tasks: vec!["reach-easy".into()],
        episodes: 1,
        image_size: 16,
        keep_failures: true,
        chunk: 1,
        seed: 7,
        max_attempts_factor: 1,
        action_noise: noise,
    };
    let catalog = Catalog::bundled().expect("catalog");
    collect(
        &catalog,
        &cfg,
        &|t: &str| Expert::load(&expert_dir(None, t)),
        &dir,
        &Control::new(),
        &mut |_| {},
    )
    .expect("collect");
    dir
}

fn episode(dir: &Path) -> dexlearn::data::Episode {
    Dataset::open(dir)
        .expect("open")
        .episode(0)
        .expect("episode 0")
}

#[test]
fn noisy_collection_labels_the_mean_action_and_replays() {
    let (noisy, again, clean) = (run("a", 0.3), run("b", 0.3), run("c", 0.0));
    let (n, m, c) = (episode(&noisy), episode(&again), episode(&clean));
    assert_eq!(n.frames, m.frames, "same seed, same noisy episode");
    assert!(n.entry.source.contains("noise 0.3"), "{}", n.entry.source);
    assert_eq!(c.entry.source, "expert");
    assert_ne!(n.frames.state, c.frames.state, "the noise changed the path");
    let expert = Expert::load(&expert_dir(None, "reach-easy")).expect("expert");
    let mean = expert.act(&n.frames.state).expect("mean actions");
    let worst = mean
        .iter()
        .zip(&n.frames.action)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "stored labels are the mean actions: {worst}");
    for d in [noisy, again, clean] {
        let _ = std::fs::remove_dir_all(d);
    }
}
