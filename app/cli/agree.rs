//! `dexstudio bench agree`: does dexsim move the same MJCF hand like
//! MuJoCo does? Both hold the same random position targets from the same
//! start, and the fingertip positions are compared.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::Context;
use dexsim::{Catalog, Scene};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::output::emit;

#[derive(Serialize)]
struct Agreement {
    scene: String,
    articulation: dexsim::Articulation,
    targets: usize,
    steps: usize,
    /// Mean over targets and fingertips of the distance (mm).
    mean_tip_error_mm: Option<f64>,
    /// Largest distance (mm).
    max_tip_error_mm: Option<f64>,
    /// Largest fingertip distance of each target set (mm).
    per_target_max_mm: Vec<f64>,
    skipped: Option<String>,
}

#[derive(Deserialize)]
struct PeerTips {
    #[serde(default)]
    tips: Vec<Vec<[f64; 3]>>,
    #[serde(default)]
    skipped: Option<String>,
}

/// Compare fingertip positions after `steps` physics steps under `targets`
/// random target vectors.
pub fn run(
    task: &str,
    targets: usize,
    steps: usize,
    split: bool,
    json: bool,
) -> anyhow::Result<()> {
    let catalog = Catalog::bundled()?;
    let spec = catalog.task(task)?;
    let articulation = if split {
        dexsim::Articulation::Split
    } else {
        dexsim::Articulation::Exact
    };
    let scene = Scene::load_with(&catalog.dir.join(&spec.scene), articulation)?;
    let sites: Vec<String> = scene
        .sites
        .keys()
        .filter(|s| s.ends_with("_tip"))
        .cloned()
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    // Targets inside the middle 80% of each range, away from the limits,
    // with the wrist kept high enough that no finger reaches the table:
    // this compares free-space kinematics and actuation, where the two
    // engines should agree; contact outcomes legitimately differ.
    let target_sets: Vec<Vec<f32>> = (0..targets)
        .map(|_| {
            scene
                .actuators
                .iter()
                .map(|a| {
                    let lo = if a.joint_name.ends_with("wrist_tz") {
                        0.0f32.max(a.lo)
                    } else {
                        a.lo
                    };
                    lo + (a.hi - lo) * rng.random_range(0.1f32..0.9)
                })
                .collect()
        })
        .collect();
    let mut ours = Vec::new();
    for t in &target_sets {
        let mut p = scene.physics.clone();
        let init: Vec<_> = scene
            .actuators
            .iter()
            .map(|a| (a.joint, 0.0f32.clamp(a.lo, a.hi)))
            .collect();
        p.set_joint_q(&init);
        scene.apply_controls(&mut p, t);
        let mut pipeline = rapier3d::prelude::PhysicsPipeline::new();
        for _ in 0..steps {
            p.step(&mut pipeline);
        }
        let tips: Vec<[f64; 3]> = sites
            .iter()
            .filter_map(|s| scene.sites.get(s))
            .map(|&(b, l)| {
                dexsim::task::world_point(&p, b, l)
                    .to_array()
                    .map(f64::from)
            })
            .collect();
        ours.push(tips);
    }
    let request = serde_json::json!({
        "scene": scene.path,
        "steps": steps,
        "targets": target_sets,
        "sites": sites,
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/mujoco_agreement.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run python3 for the MuJoCo side")?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(request.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    let peer: PeerTips = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "unreadable MuJoCo output: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let mut report = Agreement {
        scene: scene.path.display().to_string(),
        articulation,
        targets,
        steps,
        mean_tip_error_mm: None,
        max_tip_error_mm: None,
        per_target_max_mm: Vec::new(),
        skipped: peer.skipped.clone(),
    };
    if peer.skipped.is_none() {
        report.per_target_max_mm = ours
            .iter()
            .zip(&peer.tips)
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| dist(x, y) * 1e3)
                    .fold(0.0, f64::max)
            })
            .collect();
        let errs: Vec<f64> = ours
            .iter()
            .zip(&peer.tips)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| dist(x, y) * 1e3))
            .collect();
        report.mean_tip_error_mm = Some(errs.iter().sum::<f64>() / errs.len().max(1) as f64);
        report.max_tip_error_mm = Some(errs.iter().copied().fold(0.0, f64::max));
    }
    emit(json, &report, |r| {
        match (&r.skipped, r.mean_tip_error_mm, r.max_tip_error_mm) {
            (Some(why), _, _) => println!("skipped: {why}"),
            (None, Some(mean), Some(max)) => println!(
                "{} ({:?} articulation): {} random target sets held for {} steps\nfingertip distance dexsim vs MuJoCo: mean {:.2} mm, max {:.2} mm; per target max {:?} mm",
                r.scene,
                r.articulation,
                r.targets,
                r.steps,
                mean,
                max,
                r.per_target_max_mm
                    .iter()
                    .map(|x| (x * 10.0).round() / 10.0)
                    .collect::<Vec<_>>()
            ),
            _ => println!("no figures"),
        }
    })
}

fn dist(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}
