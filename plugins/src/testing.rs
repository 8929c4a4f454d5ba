//! Shared fixtures of the headless tests: an app on manual time and small
//! viewports and experts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_egui::egui;
use dexlearn::Expert;
use dexlearn::expert::{EXPERT_FORMAT, ExpertMeta};
use dexlearn::norm::RunningNorm;
use dexlearn::td3::{Td3, Td3Config};
use dexsim::{Catalog, Env, EnvConfig};

use crate::sim_step::{SimStepPlugin, Viewport};

/// `MinimalPlugins` and the stepping plugin; each update advances 40 ms,
/// one tick of a 25 Hz fixed clock.
pub fn headless_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, SimStepPlugin));
    app.insert_resource(Time::<Fixed>::from_hz(25.0));
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
        40,
    )));
    app
}

/// A viewport over a bundled task with small camera images.
pub fn viewport(task: &str) -> Viewport {
    let cat = Catalog::bundled().expect("catalog");
    let cfg = EnvConfig {
        image_size: 8,
        ..EnvConfig::default()
    };
    Viewport::new(Env::from_catalog(&cat, task, cfg).expect("env"))
}

/// An untrained expert with the sizes of `env`, saved and loaded back so
/// that it goes through the real file format.
pub fn tiny_expert(env: &Env) -> Arc<Expert> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dexstudio-plugins-expert-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (s, a) = (env.state_dim(), env.action_dim());
    let cfg = Td3Config {
        hidden: vec![8, 8],
        ..Td3Config::default()
    };
    let agent = Td3::new(s, a, cfg.clone(), 0).expect("td3");
    let nets = agent
        .state_tensors()
        .expect("tensors")
        .into_iter()
        .filter(|(k, _)| ["actor.", "q1.", "q2."].iter().any(|p| k.starts_with(p)))
        .collect();
    let meta = ExpertMeta {
        format: EXPERT_FORMAT.into(),
        task: env.task().spec.name.clone(),
        algorithm: "td3".into(),
        state_dim: s,
        action_dim: a,
        hidden: cfg.hidden,
        gamma: cfg.gamma,
        reward_scale: 1.0,
        seed: 0,
        env_steps: 0,
        updates: 0,
        wall_s: 0.0,
        validation_success: 0.0,
        validation_return: 0.0,
        weights: String::new(),
        weights_fnv1a: String::new(),
    };
    Expert::save(&dir, meta, nets, &RunningNorm::new(s)).expect("save");
    let e = Expert::load(&dir).expect("load");
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(e)
}

/// Everything one frame of `f` paints, as text to search.
pub fn panel_text(mut f: impl FnMut(&mut egui::Ui)) -> String {
    let ctx = egui::Context::default();
    let out = ctx.run_ui(egui::RawInput::default(), |ui| f(ui));
    format!("{:?}", out.shapes)
}

/// The commands a panel pushes when the widget labelled `label` is
/// activated from the keyboard (Tab until it has focus, then Space), the
/// way a user without a mouse would.
pub fn click<T>(label: &str, mut f: impl FnMut(&mut egui::Ui, &mut Vec<T>)) -> Vec<T> {
    let ctx = egui::Context::default();
    let key = |key, pressed| egui::Event::Key {
        key,
        physical_key: None,
        pressed,
        repeat: false,
        modifiers: egui::Modifiers::NONE,
    };
    let frame = |events: Vec<egui::Event>, f: &mut dyn FnMut(&mut egui::Ui, &mut Vec<T>)| {
        let mut cmds = Vec::new();
        let input = egui::RawInput {
            events,
            ..egui::RawInput::default()
        };
        let out = ctx.run_ui(input, |ui| f(ui, &mut cmds));
        (out, cmds)
    };
    let _ = frame(Vec::new(), &mut f);
    for _ in 0..60 {
        let (out, _) = frame(vec![key(egui::Key::Tab, true)], &mut f);
        let focused = out.platform_output.events.iter().any(|e| {
            matches!(e, egui::output::OutputEvent::FocusGained(w) if w.label.as_deref() == Some(label))
        });
        if focused {
            return frame(vec![key(egui::Key::Space, true)], &mut f).1;
        }
    }
    panic!("no focusable widget labelled {label:?}");
}
