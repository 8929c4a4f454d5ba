//! End-to-end: the baselines of METHOD §6 through the CLI on a two-task
//! custom run with tiny networks and a handful of steps (shipped experts):
//! `distill --method bc-rnn | polytask [--lifelong]`, `eval --json` on each
//! policy folder, and `report` with its PolyTask section.

mod common;

use std::path::{Path, PathBuf};

use common::{dexstudio, json};

const TASKS: [&str; 4] = ["--task", "reach-easy", "--task", "pose-easy"];

fn session(name: &str) -> PathBuf {
    let s = std::env::temp_dir().join(format!("dexstudio-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&s);
    std::fs::create_dir_all(&s).expect("session");
    s
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("config");
    p.to_str().expect("utf8").to_string()
}

const ENCODER: &str = "[encoder]\nchannels = [4, 8]\nfeatures = 16\nsteps = 3\nbatch = 8\n";

/// `distill` with the common tiny flags plus `extra`; its JSON summary.
fn distill(s: &str, method: &str, config: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "distill",
        "--method",
        method,
        "--demos-per-task",
        "2",
        "--image",
        "32",
        "--steps",
        "5",
        "--seed",
        "3",
        "--threads",
        "2",
        "--session",
        s,
        "--config",
        config,
        "--json",
    ];
    args.extend(TASKS);
    args.extend(extra);
    json(&args)
}

/// A student config small enough to train in a second, in `dir`.
fn tiny_student(dir: &Path) -> String {
    write(
        dir,
        "student.toml",
        &format!(
            "chunk = 4\ncodes = 8\ncode_width = 8\nwidth = 16\nheads = 2\nlayers = 1\n\
             decoder_layers = 1\nhistory = 2\ntokenizer_steps = 5\nbatch = 8\n{ENCODER}"
        ),
    )
}

/// `eval --json` of `policy` with two episodes per task.
fn eval(policy: &Path, extra: &[&str]) -> serde_json::Value {
    let p = policy.to_str().expect("utf8");
    let mut args = vec![
        "eval",
        "--policy",
        p,
        "--episodes",
        "2",
        "--threads",
        "2",
        "--json",
    ];
    args.extend(extra);
    json(&args)
}

/// The fields every `EvalReport` has, checked against `method` and `tasks`.
fn check_report(r: &serde_json::Value, method: &str, tasks: &[&str]) {
    assert_eq!(r["method"], method, "{r}");
    assert_eq!(r["suite"], "custom");
    assert_eq!(r["episodes"], 2);
    let rows = r["tasks"].as_array().expect("tasks");
    let names: Vec<&str> = rows
        .iter()
        .map(|t| t["task"].as_str().expect("task"))
        .collect();
    assert_eq!(names, tasks);
    for row in rows {
        assert_eq!(row["episodes"], 2);
        let rate = row["success"].as_f64().expect("success");
        let (lo, hi) = (
            row["ci95"][0].as_f64().expect("lo"),
            row["ci95"][1].as_f64().expect("hi"),
        );
        assert!(
            (0.0..=1.0).contains(&rate) && lo <= rate && rate <= hi,
            "{row}"
        );
        assert!(row["mean_return"].as_f64().expect("return").is_finite());
    }
    let mean = r["mean_success"].as_f64().expect("mean");
    let (lo, hi) = (
        r["mean_ci95"][0].as_f64().expect("lo"),
        r["mean_ci95"][1].as_f64().expect("hi"),
    );
    assert!(lo <= mean && mean <= hi);
    assert!(r["steps_per_s"].as_f64().expect("rate") > 0.0);
}

#[test]
fn bc_rnn_distill_then_eval() {
    let dir = session("bcrnn-cli");
    let s = dir.to_str().expect("utf8");
    let cfg = write(
        &dir,
        "bc.toml",
        &format!("seq_len = 4\nhidden = 16\nhead = 16\ntask_embedding = 4\nbatch = 4\n{ENCODER}"),
    );
    let d = distill(s, "bc-rnn", &cfg, &[]);
    assert_eq!(d["method"], "bc-rnn");
    assert_eq!(d["suite"], "custom");
    assert!(d["final_loss"].as_f64().expect("loss").is_finite());
    let out = dir.join("students/bc-rnn-custom-2");
    assert_eq!(Path::new(d["out"].as_str().expect("out")), out);
    for f in ["bcrnn.json", "bcrnn.safetensors", "losses.csv"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bcrnn.json")).expect("json"))
            .expect("bcrnn.json");
    assert_eq!(meta["config"]["reset_every"], 8, "the default resets");
    assert_eq!(meta["config"]["steps"], 5);

    let r = eval(&out, &[]);
    check_report(&r, "bc-rnn", &["reach-easy", "pose-easy"]);
    assert!(out.join("eval-custom-rendered.json").is_file());
    // Demonstration goal images come from the dataset it learned from.
    let r = eval(&out, &["--goal", "demo", "--task", "pose-easy"]);
    check_report(&r, "bc-rnn", &["pose-easy"]);
    assert_eq!(r["goal"], "demo");
    // --trace: every step of both episodes, and the plot.
    let trace = dir.join("trace");
    let t = trace.to_str().expect("utf8");
    eval(&out, &["--task", "reach-easy", "--trace", t]);
    let csv = std::fs::read_to_string(trace.join("trace-reach-easy.csv")).expect("trace csv");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // reach-easy runs its full 75 steps.
    assert_eq!(rows.len(), 2 * 75, "{csv}");
    let finite = |v: &str| v.parse::<f32>().is_ok_and(f32::is_finite);
    assert!(
        rows.iter()
            .all(|r| r.len() == 5 && finite(r[2]) && finite(r[3]))
    );
    // Reach measures success by distance: its goal error is positive.
    assert!(
        rows.iter()
            .all(|r| r[2].parse::<f32>().is_ok_and(|g| g > 0.0))
    );
    assert_eq!((rows[0][0], rows[0][1]), ("0", "1"));
    assert_eq!((rows[149][0], rows[149][1]), ("1", "75"));
    assert!(trace.join("trace-reach-easy.svg").is_file());
    // --expert-lead longer than the episode: the shipped expert solves
    // both, saved apart from the policy's own report.
    let r = eval(&out, &["--task", "pose-easy", "--expert-lead", "200"]);
    assert_eq!(r["tasks"][0]["success"], 1.0, "{r}");
    assert!(out.join("eval-custom-rendered-lead200.json").is_file());
    // --expert-gap: the policy against the shipped expert at every step,
    // summed in the report and per step in the trace.
    assert!(r["tasks"][0].get("expert_gap").is_none(), "{r}");
    let r = eval(
        &out,
        &["--task", "reach-easy", "--trace", t, "--expert-gap"],
    );
    let gap = &r["tasks"][0]["expert_gap"];
    assert_eq!(gap["steps"], 2 * 75, "{r}");
    for k in [
        "mean_abs",
        "mean_abs_start",
        "sign_flips",
        "saturated_expert",
    ] {
        let v = gap[k].as_f64().expect(k);
        assert!((0.0..=2.0).contains(&v), "{k} = {v}");
    }
    assert!(gap["mean_abs"].as_f64().expect("abs") > 0.0, "{r}");
    let csv = std::fs::read_to_string(trace.join("trace-reach-easy.csv")).expect("trace csv");
    assert!(
        csv.starts_with("episode,step,goal_error,progress,solved,expert_gap,decisive,sign_flips\n")
    );
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2 * 75);
    assert!(rows.iter().all(|r| r.len() == 8 && finite(r[5])));
    // The mean of the per-step gaps is the report's.
    let mean = rows
        .iter()
        .map(|r| r[5].parse::<f64>().expect("gap"))
        .sum::<f64>()
        / 150.0;
    assert!(
        (mean - gap["mean_abs"].as_f64().expect("abs")).abs() < 1e-5,
        "{mean} vs {gap}"
    );
    assert!(trace.join("trace-reach-easy-expert.svg").is_file());
    // --eta is a student's setting.
    let p = out.to_str().expect("utf8");
    let (ok, _, err) = dexstudio(&["eval", "--policy", p, "--eta", "1"]);
    assert!(
        !ok && err.contains("--eta") && err.contains("no student"),
        "{err}"
    );

    // Flags of other methods are refused by name.
    let (ok, _, err) = dexstudio(&[
        "distill",
        "--method",
        "bc-rnn",
        "--chunk",
        "4",
        "--session",
        s,
    ]);
    assert!(!ok && err.contains("--chunk"), "{err}");
    let bad = write(&dir, "bad.toml", "hiden = 3\n");
    let (ok, _, err) = dexstudio(&[
        "distill",
        "--method",
        "bc-rnn",
        "--config",
        &bad,
        "--session",
        s,
    ]);
    assert!(
        !ok && err.contains("hiden") && err.contains("bad.toml"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn polytask_multitask_and_lifelong_then_eval_and_report() {
    let dir = session("polytask-cli");
    let s = dir.to_str().expect("utf8");
    let cfg = write(
        &dir,
        "pt.toml",
        &format!("hidden = [16]\nbatch = 8\nnoise = 0.1\n{ENCODER}"),
    );
    let frames = ["--frames-per-task", "30"];
    let d = distill(s, "polytask", &cfg, &frames);
    assert_eq!(d["method"], "polytask");
    assert_eq!(d["goal_mode"], "one-hot");
    assert_eq!(d["lifelong"], false);
    assert_eq!(d["frames_per_task"][1][0], "pose-easy");
    assert_eq!(d["frames_per_task"][1][1], 30);
    let multi = dir.join("students/polytask-custom-2");
    assert!(multi.join("polytask.json").is_file());
    let r = eval(&multi, &[]);
    check_report(&r, "polytask", &["reach-easy", "pose-easy"]);

    let mut extra = frames.to_vec();
    extra.extend(["--lifelong", "--goal-mode", "image"]);
    let d = distill(s, "polytask", &cfg, &extra);
    assert_eq!(d["lifelong"], true);
    assert_eq!(d["goal_mode"], "image");
    let stages = d["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 4, "two modes x two stages: {d}");
    let life = dir.join("students/polytask-image-lifelong-custom-2");
    assert!(life.join("lifelong.json").is_file());
    for m in ["distill", "finetune"] {
        for k in 0..2 {
            let p = life.join(format!("lifelong/{m}/stage-{k}/polytask.json"));
            assert!(p.is_file(), "{} missing", p.display());
        }
    }

    let r = eval(&life, &[]);
    assert_eq!(r["method"], "polytask-lifelong");
    assert_eq!(r["suite"], "custom");
    assert_eq!(
        r["curriculum"],
        serde_json::json!(["reach-easy", "pose-easy"])
    );
    let rows = r["stages"].as_array().expect("stages");
    assert_eq!(rows.len(), 4);
    for row in rows {
        let k = row["stage"].as_u64().expect("stage") as usize;
        assert!(row["mode"] == "distill" || row["mode"] == "finetune");
        let tasks = row["tasks"].as_array().expect("tasks");
        assert_eq!(
            tasks.len(),
            k + 1,
            "stage {k} is evaluated on its seen tasks"
        );
        assert_eq!(row["seen"].as_array().expect("seen").len(), k + 1);
        let sum: f64 = tasks
            .iter()
            .map(|t| t["success"].as_f64().expect("s"))
            .sum();
        let eff = row["effective_tasks"].as_f64().expect("effective");
        assert!(
            (eff - sum).abs() < 1e-9,
            "effective tasks = sum of success: {row}"
        );
        let (lo, hi) = (
            row["effective_ci95"][0].as_f64().expect("lo"),
            row["effective_ci95"][1].as_f64().expect("hi"),
        );
        assert!(lo <= eff && eff <= hi && hi <= (k + 1) as f64, "{row}");
    }
    assert!(life.join("eval-lifelong-custom-rendered.json").is_file());

    let mut args = vec!["report", "--session", s, "--expert-episodes", "1", "--json"];
    args.extend(TASKS);
    let rep = json(&args);
    let methods: Vec<&str> = rep["students"]
        .as_array()
        .expect("students")
        .iter()
        .map(|e| e["method"].as_str().expect("method"))
        .collect();
    assert_eq!(methods, ["polytask"], "the lifelong run is no Table I row");
    let md = rep["markdown"].as_str().expect("markdown");
    assert!(md.contains("| polytask (one-hot goal, 30 relabelled frames per task) |"));
    assert!(md.contains("effective number of tasks"));
    assert_eq!(rep["polytask"]["tasks"], 2);
    assert_eq!(
        rep["polytask"]["lifelong"][0]["name"],
        "polytask-image-lifelong-custom-2"
    );
    let figures: Vec<&str> = rep["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .map(|f| f.as_str().expect("figure"))
        .collect();
    for f in [
        "polytask-multitask.svg",
        "lifelong-polytask-image-lifelong-custom-2.svg",
    ] {
        assert!(
            figures.iter().any(|p| p.ends_with(f)),
            "{f} not in {figures:?}"
        );
        assert!(dir.join("report").join(f).is_file(), "{f} missing");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A student trained on goal images re-rendered from its demonstrations'
/// seeds records it, DAgger on top of it keeps them, and the flag is
/// refused where it cannot apply.
#[test]
fn rendered_training_goals_then_dagger_keeps_them() {
    let dir = session("train-goal-cli");
    let s = dir.to_str().expect("utf8");
    let cfg = tiny_student(&dir);
    let d = distill(s, "bc", &cfg, &["--train-goal", "rendered"]);
    let out = dir.join("students/bc-custom-2");
    assert_eq!(Path::new(d["out"].as_str().expect("out")), out);
    let goal_of = |p: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(p.join("student.json")).expect("student.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["config"]["train_goal"].clone()
    };
    assert_eq!(goal_of(&out), "rendered");
    let p = out.to_str().expect("utf8");
    let d = distill(
        s,
        "dagger",
        &cfg,
        &[
            "--from",
            p,
            "--dagger-rounds",
            "1",
            "--dagger-episodes",
            "1",
        ],
    );
    assert!(d["extra_env_steps"].as_u64().expect("steps") > 0, "{d}");
    let dagger = dir.join("students/dagger-bc-custom-2");
    assert_eq!(goal_of(&dagger), "rendered", "DAgger follows its base");
    // The default stays the last frame.
    let d = distill(s, "acgd", &cfg, &["--no-collect"]);
    let acgd = Path::new(d["out"].as_str().expect("out")).to_path_buf();
    assert_eq!(goal_of(&acgd), "last-frame");

    for (method, expect) in [("dagger", "base student"), ("bc-rnn", "--train-goal")] {
        let (ok, _, err) = dexstudio(&[
            "distill",
            "--method",
            method,
            "--train-goal",
            "rendered",
            "--session",
            s,
        ]);
        assert!(!ok && err.contains(expect), "{method}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--select-every` rolls validation episodes during the policy stage,
/// reports every check and keeps the best, and `report` shows them; it is
/// refused where it cannot apply, and a check with no episodes is refused
/// by field name.
#[test]
fn checkpoint_selection_reports_its_checks() {
    let dir = session("select-cli");
    let s = dir.to_str().expect("utf8");
    let cfg = tiny_student(&dir);
    let d = distill(
        s,
        "bc",
        &cfg,
        &["--select-every", "2", "--select-episodes", "1"],
    );
    let sel = &d["selection"];
    let steps: Vec<u64> = sel["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["step"].as_u64().expect("step"))
        .collect();
    assert_eq!(steps, vec![2, 4, 5], "{d}");
    assert_eq!(sel["tasks"].as_array().map(Vec::len), Some(TASKS.len() / 2));
    assert!(sel["best_step"].as_u64().is_some(), "{d}");
    let out = Path::new(d["out"].as_str().expect("out")).to_path_buf();
    assert!(out.join("selection.json").is_file());
    let text = std::fs::read_to_string(out.join("student.json")).expect("student.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["config"]["select_every"], 2);
    // The report tabulates the checks beside the test success and plots them.
    eval(&out, &TASKS);
    let mut args = vec!["report", "--session", s, "--expert-episodes", "1", "--json"];
    args.extend(TASKS);
    let rep = json(&args);
    let row = &rep["selection"][0];
    assert_eq!(row["selection"], *sel, "{rep}");
    assert!(row["test"].as_f64().is_some(), "{rep}");
    let md = rep["markdown"].as_str().expect("markdown");
    assert!(md.contains("## Checkpoint selection"), "{md}");
    assert!(dir.join("report/selection.svg").is_file());

    let refusals: [(&str, &[&str], &str); 3] = [
        ("dagger", &["--select-every", "2"], "base student"),
        ("bc-rnn", &["--select-every", "2"], "--select-every"),
        (
            "bc",
            &["--select-every", "2", "--select-episodes", "0"],
            "select_episodes",
        ),
    ];
    for (method, flags, expect) in refusals {
        let mut args = vec![
            "distill",
            "--method",
            method,
            "--session",
            s,
            "--no-collect",
        ];
        args.extend(TASKS);
        args.extend(flags);
        let (ok, _, err) = dexstudio(&args);
        assert!(!ok && err.contains(expect), "{method}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
