//! End-to-end tests of the dexstudio binary.

mod common;

use common::{dexstudio, json};

#[test]
fn tasks_list_shows_15_tasks_and_6_suites() {
    let v = json(&["tasks", "list", "--json"]);
    let tasks = v["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 15);
    let suites = v["suites"].as_object().expect("suites");
    let mut names: Vec<&str> = suites.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["all", "bidex", "dex10", "dex5-easy", "dex5-hard", "opdex"]
    );
    let bimanual = tasks.iter().filter(|t| t["dof"] == 44).count();
    assert_eq!(bimanual, 3, "scissors, switch and bottle-cap use two hands");
    assert!(
        tasks
            .iter()
            .all(|t| t["image"] == serde_json::json!([64, 64, 3]))
    );
}

#[test]
fn rollout_hash_is_reproducible() {
    let args = [
        "sim",
        "rollout",
        "--task",
        "key-turn-hard",
        "--policy",
        "random",
        "--seed",
        "7",
        "--steps",
        "60",
        "--json",
    ];
    let a = json(&args);
    let b = json(&args);
    assert_eq!(a["hash"], b["hash"]);
    assert_eq!(a["return"], b["return"]);
    let mut other = args;
    other[7] = "8";
    assert_ne!(json(&other)["hash"], a["hash"]);
}

#[test]
fn rollout_writes_a_gif() {
    let path = std::env::temp_dir().join(format!("dexstudio-cli-{}.gif", std::process::id()));
    let p = path.to_str().expect("utf-8 path");
    let v = json(&[
        "sim",
        "rollout",
        "--task",
        "reach-easy",
        "--policy",
        "scripted",
        "--steps",
        "10",
        "--frames",
        p,
        "--json",
    ]);
    assert_eq!(v["steps"], 10);
    let bytes = std::fs::read(&path).expect("gif written");
    assert!(bytes.starts_with(b"GIF89a"), "not a GIF");
    assert!(bytes.len() > 2000, "too small to hold 11 frames");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_input_gives_clear_errors_and_exit_code() {
    let (ok, _, err) = dexstudio(&["sim", "rollout", "--task", "juggle", "--steps", "1"]);
    assert!(!ok);
    assert!(
        err.contains("unknown task `juggle`") && err.contains("reach-easy"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let dir = std::env::temp_dir().join(format!("dexstudio-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\ndescription = \"d\"\nfamily = \"reach\"\nscene = \"scene_hand.xml\"\nepisode_steps = 10\ncontrol_hz = 25.0\nsuccess_threshold = 0.1\nrewrd = 1\n").expect("write");
    let (ok, _, err) = dexstudio(&["tasks", "check", bad.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(
        err.contains("bad.toml:8:") && err.contains("rewrd"),
        "{err}"
    );

    let (ok, _, err) = dexstudio(&[
        "sim",
        "rollout",
        "--task",
        "pose-easy",
        "--policy",
        "scripted",
        "--steps",
        "1",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = dexstudio(&[
        "sim", "rollout", "--task", "spray-1", "--policy", "scripted", "--steps", "1",
    ]);
    assert!(!ok && err.contains("no scripted controller"), "{err}");
}

#[test]
fn tasks_check_accepts_every_bundled_spec() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/tasks");
    for entry in std::fs::read_dir(dir).expect("tasks dir") {
        let path = entry.expect("entry").path();
        let v = json(&["tasks", "check", path.to_str().expect("utf-8"), "--json"]);
        assert_eq!(v["ok"], true, "{}", path.display());
    }
}

#[test]
fn sim_demo_writes_its_gif_without_a_window() {
    let dir = std::env::temp_dir().join(format!("dexstudio-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dexstudio"))
        .args(["sim", "demo"])
        .current_dir(&dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.join("dexstudio-demo.gif")).expect("gif written");
    assert!(bytes.starts_with(b"GIF89a"), "not a GIF");
    let _ = std::fs::remove_dir_all(&dir);
}
