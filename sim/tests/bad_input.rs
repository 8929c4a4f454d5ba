//! Bad input gets a clear error that names the file, field or value, and
//! never a panic.

mod common;

use std::path::Path;

use dexsim::{Catalog, Scene, SimError, TaskSpec};

fn tmp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dexsim-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn malformed_mjcf_names_the_file() {
    for (name, text) in [
        (
            "unclosed.xml",
            "<mujoco><worldbody><body name=\"a\"></worldbody></mujoco>",
        ),
        ("not_xml.xml", "this is not xml at all"),
        (
            "bad_number.xml",
            "<mujoco><worldbody><body><geom type=\"sphere\" size=\"abc\"/></body></worldbody></mujoco>",
        ),
        (
            "no_actuators.xml",
            "<mujoco><worldbody><body><joint type=\"hinge\"/><geom type=\"sphere\" size=\"0.1\"/></body></worldbody></mujoco>",
        ),
    ] {
        let path = tmp(name, text);
        let err = Scene::load(&path)
            .err()
            .unwrap_or_else(|| panic!("{name} must be rejected"));
        assert!(matches!(err, SimError::Mjcf { .. }), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(name) && msg.contains("malformed MJCF"),
            "{msg}"
        );
    }
    let missing = Scene::load(Path::new("/nonexistent/scene.xml"))
        .err()
        .expect("missing file");
    assert!(
        missing.to_string().contains("/nonexistent/scene.xml"),
        "{missing}"
    );
}

#[test]
fn unknown_task_lists_the_known_ones() {
    let cat = Catalog::bundled().expect("catalog");
    let err = cat.task("key-turn-extreme").expect_err("unknown task");
    let msg = err.to_string();
    assert!(msg.contains("unknown task `key-turn-extreme`"), "{msg}");
    assert!(
        msg.contains("key-turn-hard"),
        "the message must list the known tasks: {msg}"
    );
    let err = cat.suite("dex99").expect_err("unknown suite");
    assert!(err.to_string().contains("dex10"), "{err}");
}

fn reach_easy_text() -> String {
    std::fs::read_to_string(dexsim::catalog::scenes_dir().join("tasks/reach-easy.toml"))
        .expect("spec")
}

#[test]
fn wrong_toml_field_names_file_field_and_line() {
    let text = reach_easy_text().replace("action = 0.05", "acton = 0.05");
    let line = text
        .lines()
        .position(|l| l.starts_with("acton"))
        .expect("line")
        + 1;
    let path = tmp("typo.toml", &text);
    let err = TaskSpec::load(&path).expect_err("typo must be rejected");
    match &err {
        SimError::Spec {
            path: p,
            line: l,
            message,
            ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*l, line, "{err}");
            assert!(message.contains("acton"), "{message}");
        }
        other => panic!("expected a spec error, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&format!("typo.toml:{line}:")),
        "{err}"
    );
}

#[test]
fn invalid_toml_values_name_the_field() {
    let cases = [
        ("episode_steps = 75", "episode_steps = 0", "episode_steps"),
        ("control_hz = 25.0", "control_hz = -3.0", "control_hz"),
        ("curl = 0.45", "curl = [0.9, 0.1]", "curl"),
        ("curl = 0.45", "twist = 0.45", "twist"),
        (
            "episode_steps = 75",
            "episode_steps = \"long\"",
            "episode_steps",
        ),
        ("family = \"reach\"", "family = \"juggle\"", "juggle"),
    ];
    for (from, to, field) in cases {
        let text = reach_easy_text().replace(from, to);
        let line = text.lines().position(|l| l.starts_with(to)).expect("line") + 1;
        let err = TaskSpec::parse(Path::new("case.toml"), &text)
            .err()
            .unwrap_or_else(|| panic!("{to} must be rejected"));
        let msg = err.to_string();
        assert!(msg.contains(field), "{to}: {msg}");
        assert!(
            msg.starts_with(&format!("case.toml:{line}:")),
            "{to}: {msg}"
        );
    }
}

#[test]
fn nan_actions_are_errors_and_out_of_range_is_clamped() {
    let mut env = common::env("reach-easy", false);
    let n = env.action_dim();
    let before = env.state_vector();
    let mut a = vec![0.0f32; n];
    a[3] = f32::NAN;
    let err = env.step(&a).expect_err("NaN must be rejected");
    assert!(
        matches!(err, SimError::NonFiniteAction { index: 3, .. }),
        "{err:?}"
    );
    a[3] = f32::INFINITY;
    assert!(env.step(&a).is_err());
    assert_eq!(
        env.state_vector(),
        before,
        "a rejected action leaves the state untouched"
    );
    let err = env.step(&vec![0.0; n - 1]).expect_err("wrong length");
    assert!(err.to_string().contains(&format!("{n} actuators")), "{err}");
    // Finite values beyond [-1, 1] act exactly like the bound.
    let snap = env.snapshot();
    let big = env.step(&vec![7.5; n]).expect("clamped").obs.state;
    env.restore(&snap);
    let one = env.step(&vec![1.0; n]).expect("step").obs.state;
    assert_eq!(big, one);
}

#[test]
fn zero_image_size_is_an_error() {
    let cat = Catalog::bundled().expect("catalog");
    let cfg = dexsim::EnvConfig {
        image_size: 0,
        render: true,
        ..dexsim::EnvConfig::default()
    };
    let err = dexsim::Env::from_catalog(&cat, "reach-easy", cfg)
        .err()
        .expect("rejected");
    assert!(err.to_string().contains("image size"), "{err}");
}
