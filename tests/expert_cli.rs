//! End-to-end: train a tiny expert through the CLI, evaluate it, collect a
//! dataset with it and inspect the dataset; and the shipped experts.

mod common;

use common::{dexstudio, json};

#[test]
fn train_eval_collect_inspect() {
    let session = std::env::temp_dir().join(format!("dexstudio-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&session);
    std::fs::create_dir_all(&session).expect("session");
    let cfg = session.join("tiny.toml");
    std::fs::write(
        &cfg,
        "envs = 2\nwarmup = 300\neval_every = 600\neval_episodes = 2\nreplay = 10000\n\
         [td3]\nhidden = [32, 32]\nbatch = 64\n",
    )
    .expect("config");
    let s = session.to_str().expect("utf8");
    let c = cfg.to_str().expect("utf8");
    let t = json(&[
        "expert",
        "train",
        "--task",
        "reach-easy",
        "--steps",
        "600",
        "--seed",
        "3",
        "--session",
        s,
        "--config",
        c,
        "--json",
    ]);
    assert_eq!(t["env_steps"], 600);
    let dir = session.join("experts/reach-easy");
    for f in [
        "expert.json",
        "expert.safetensors",
        "curve.csv",
        "curve.svg",
        "train.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(dir.join("curve.csv")).expect("csv");
    assert_eq!(
        csv.lines().count(),
        2,
        "header and one validation row: {csv}"
    );

    let e = json(&[
        "expert",
        "eval",
        "--task",
        "reach-easy",
        "--episodes",
        "3",
        "--session",
        s,
        "--json",
    ]);
    let row = &e[0];
    assert_eq!(row["episodes"], 3);
    let (lo, hi) = (
        row["ci95"][0].as_f64().expect("lo"),
        row["ci95"][1].as_f64().expect("hi"),
    );
    let rate = row["success_rate"].as_f64().expect("rate");
    assert!(lo <= rate && rate <= hi);

    // Keep failures: a 600-step expert rarely solves the task.
    let col = json(&[
        "collect",
        "--task",
        "reach-easy",
        "--episodes",
        "2",
        "--session",
        s,
        "--keep-failures",
        "--chunk",
        "1",
        "--json",
    ]);
    assert_eq!(col["tasks"][0]["kept"], 2);
    let info = json(&["data", "info", s, "--json"]);
    assert_eq!(info["episodes"], 2);
    assert_eq!(info["shards"], 2);
    assert_eq!(info["frames"], col["frames"]);
    assert_eq!(info["tasks"][0]["task"], "reach-easy");
    assert!(info["bytes"].as_u64().expect("bytes") > 2 * 75 * 64 * 64 * 3);
    assert!(info["tasks"][0].get("action_change").is_none());
    // --actions: how fast the actions change, step by step from the start,
    // in [0, 2] per value (actions lie in [-1, 1]).
    let info = json(&["data", "info", s, "--actions", "--json"]);
    let change = &info["tasks"][0]["action_change"];
    let first = change["first_steps"].as_array().expect("first_steps");
    assert_eq!(first.len(), 4, "{change}");
    for v in first.iter().chain([&change["later"]]) {
        let v = v.as_f64().expect("number");
        assert!((0.0..=2.0).contains(&v), "{change}");
    }
    let share = change["saturated"].as_f64().expect("saturated");
    assert!((share - saturated_share(&session)).abs() < 1e-9, "{change}");
    assert!(info["tasks"][0].get("goal_gap").is_none());
    // --goals: the last frames against the goals re-rendered from their
    // seeds, per byte.
    let info = json(&["data", "info", s, "--goals", "--json"]);
    let gap = info["tasks"][0]["goal_gap"].as_f64().expect("goal_gap");
    assert!(gap > 0.0 && gap < 255.0, "{info}");
    let gif = session.join("ep.gif");
    let (ok, _, err) = dexstudio(&[
        "data",
        "view",
        s,
        "--episode",
        "1",
        "--out",
        gif.to_str().expect("utf8"),
    ]);
    assert!(ok, "{err}");
    assert!(std::fs::read(&gif).expect("gif").starts_with(b"GIF89a"));
    let (ok, _, err) = dexstudio(&["data", "view", s, "--episode", "7"]);
    assert!(!ok && err.contains("no episode 7"), "{err}");

    let (ok, _, err) = dexstudio(&[
        "expert",
        "eval",
        "--task",
        "reach-easy",
        "--session",
        "/nonexistent",
    ]);
    assert!(!ok && err.contains("expert.json"), "{err}");
    let _ = std::fs::remove_dir_all(&session);
}

/// The shipped reach-easy expert meets its quality target on held-out seeds.
#[test]
fn shipped_reach_easy_expert_solves_the_task() {
    let e = json(&[
        "expert",
        "eval",
        "--task",
        "reach-easy",
        "--episodes",
        "20",
        "--json",
    ]);
    let rate = e[0]["success_rate"].as_f64().expect("rate");
    assert!(rate >= 0.9, "shipped reach-easy expert: success {rate}");
}

/// The share of a session's action values at their limits (|a| ≥ 0.99),
/// counted here from the shards.
fn saturated_share(session: &std::path::Path) -> f64 {
    let d = dexlearn::data::Dataset::open(&session.join("data")).expect("dataset");
    let (mut at, mut all) = (0usize, 0usize);
    for i in 0..d.manifest.shards.len() {
        let (_, frames) = d.read_shard(i).expect("shard");
        at += frames.action.iter().filter(|v| v.abs() >= 0.99).count();
        all += frames.action.len();
    }
    at as f64 / all.max(1) as f64
}

#[test]
fn shipped_switch_expert_acts_at_its_limits() {
    // `data info --actions` reports how bang-bang an expert is: the shipped
    // switch expert keeps nearly every action value at ±1.
    let session = std::env::temp_dir().join(format!("dexstudio-switch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&session);
    let s = session.to_str().expect("utf8");
    let col = json(&[
        "collect",
        "--task",
        "switch",
        "--episodes",
        "1",
        "--session",
        s,
        "--json",
    ]);
    assert_eq!(col["tasks"][0]["kept"], 1, "{col}");
    let info = json(&["data", "info", s, "--actions", "--json"]);
    let share = info["tasks"][0]["action_change"]["saturated"]
        .as_f64()
        .expect("saturated");
    assert!((share - saturated_share(&session)).abs() < 1e-9, "{info}");
    assert!(share > 0.9, "switch expert at its limits: {share}");
    let _ = std::fs::remove_dir_all(&session);
}
