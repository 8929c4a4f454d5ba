//! The baselines of METHOD §6: the GRU's gradients, BC-RNN and PolyTask
//! trained end to end on a two-task mini suite (beating the zero policy),
//! checkpoint round trips and corruption, lifelong stages, and seeded
//! determinism.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use dexlearn::baselines::{
    BcRnn, BcRnnConfig, BcRnnRollout, GoalMode, Gru, LifelongMode, PolyTask, PolyTaskConfig,
    PolyTaskRollout, effective_tasks, evaluate_bc_rnn, evaluate_polytask, load_lifelong,
    train_bc_rnn, train_polytask, train_polytask_lifelong,
};
use dexlearn::expert::{Expert, expert_dir};
use dexlearn::student::EncoderConfig;
use dexlearn::student::encoder::named_vars;
use dexlearn::student::eval::{GoalSource, TaskEval};
use dexlearn::train::Control;
use dexsim::Catalog;

mod common;

const TASKS: [&str; 2] = ["reach-easy", "pose-easy"];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dexbaseline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn tasks() -> Vec<String> {
    TASKS.iter().map(|t| t.to_string()).collect()
}

fn experts(task: &str) -> dexlearn::error::Result<Expert> {
    Expert::load(&expert_dir(None, task))
}

fn tiny_encoder(steps: usize) -> EncoderConfig {
    EncoderConfig {
        channels: vec![8, 16, 16],
        features: 32,
        steps,
        batch: 32,
        lr: 1e-3,
    }
}

/// A two-task dataset from the shipped experts, collected once per run.
fn dataset() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::collect_mini(&tmp("data"), &tasks(), 12, 32))
}

/// The last frames of the mini dataset's demonstrations of `task`.
fn demo_goals(task: &str) -> GoalSource {
    let c = dexlearn::student::Corpus::load(dataset(), &tasks(), 12).expect("corpus");
    let slot = c.tasks.iter().position(|x| x == task).expect("task") as u32;
    let px = c.dims.image * c.dims.image * 3;
    GoalSource::Demo(
        c.episodes
            .iter()
            .filter(|e| c.slot[e.start] == slot)
            .map(|e| c.images[(e.end - 1) * px..e.end * px].to_vec())
            .collect(),
    )
}

/// Mean return of the zero action over the evaluation episodes.
fn zero_return(catalog: &Catalog, task: &str, episodes: usize) -> f64 {
    let mut env = dexsim::Env::from_catalog(catalog, task, dexsim::EnvConfig::default())
        .expect("environment");
    let mut ret = 0.0;
    for i in 0..episodes {
        env.reset(dexlearn::rollout::domain_seed(
            dexsim::SeedDomain::Eval,
            0,
            i,
        ));
        let zero = vec![0.0; env.action_dim()];
        loop {
            let s = env.step(&zero).expect("step");
            ret += f64::from(s.reward) / episodes as f64;
            if s.done {
                break;
            }
        }
    }
    ret
}

fn summarise(name: &str, evals: &[TaskEval], catalog: &Catalog) -> (f64, f64) {
    let ret: f64 = evals.iter().map(TaskEval::mean_return).sum();
    let zero: f64 = TASKS.iter().map(|t| zero_return(catalog, t, 4)).sum();
    eprintln!(
        "{name}: return {ret:.2} (zero {zero:.2}), effective tasks {:.2}, success {:?}",
        effective_tasks(evals),
        evals.iter().map(TaskEval::success).collect::<Vec<_>>()
    );
    (ret, zero)
}

fn probe(size: usize, proprio: usize) -> (Vec<u8>, Vec<f32>) {
    let img = (0..size * size * 3).map(|i| (i * 7 % 251) as u8).collect();
    let prop = (0..proprio).map(|i| i as f32 * 0.01).collect();
    (img, prop)
}

fn corrupt_and_check(dir: &Path, weights: &str, json: &str, load: impl Fn(&Path) -> bool) {
    let w = dir.join(weights);
    let mut bytes = std::fs::read(&w).expect("weights");
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(&w, bytes).expect("write");
    assert!(load(&w), "corrupt weights must fail naming {weights}");
    std::fs::write(dir.join(json), "{ not json").expect("write");
    assert!(load(&dir.join(json)), "bad JSON must fail naming {json}");
}

#[test]
fn gru_gradient_reaches_every_weight() {
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    let gru = Gru::new(3, 4, vb.pp("gru")).unwrap();
    dexlearn::init::seeded_init(&map, 7).unwrap();
    let x = Tensor::from_vec(
        (0..2 * 5 * 3).map(|i| (i as f32 * 0.37).sin()).collect(),
        (2, 5, 3),
        &Device::Cpu,
    )
    .unwrap();
    let h0 = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
    let (hs, last) = gru.forward(&x, &h0).unwrap();
    assert_eq!(hs.dims(), &[2, 5, 4]);
    // The last step of the unroll is the returned state.
    let diff: f32 = (hs.narrow(1, 4, 1).unwrap().squeeze(1).unwrap() - &last)
        .unwrap()
        .abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert_eq!(diff, 0.0);
    // A single step agrees with the unroll's first step.
    let one = gru
        .step(&x.narrow(1, 0, 1).unwrap().squeeze(1).unwrap(), &h0)
        .unwrap();
    let first = hs.narrow(1, 0, 1).unwrap().squeeze(1).unwrap();
    let d: f32 = (one - first)
        .unwrap()
        .abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(d < 1e-6, "step vs unroll differ by {d}");
    let grads = last.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let vars = named_vars(&map, "gru.");
    assert_eq!(vars.len(), 4, "wi, wh weights and biases");
    for (name, var) in vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient reaches {name}"));
        let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(norm > 0.0, "gradient of {name} is zero");
    }
}

fn bc_config(steps: usize, encoder_steps: usize) -> BcRnnConfig {
    BcRnnConfig {
        seq_len: 8,
        hidden: 64,
        head: 64,
        task_embedding: 8,
        steps,
        batch: 16,
        lr: 1e-3,
        episodes_per_task: 12,
        // robomimic's rollout: the hidden state restarts every window.
        reset_every: 8,
        encoder: tiny_encoder(encoder_steps),
        ..BcRnnConfig::default()
    }
}

#[test]
fn bc_rnn_trains_beats_zero_and_round_trips() {
    let out = tmp("bcrnn");
    let t0 = std::time::Instant::now();
    let mut steps = 0;
    let model = train_bc_rnn(
        dataset(),
        &tasks(),
        &bc_config(600, 200),
        &out,
        &Control::new(),
        |p| steps = p.step,
    )
    .unwrap();
    eprintln!(
        "BC-RNN trained in {:.1}s, final loss {:.4}",
        t0.elapsed().as_secs_f64(),
        model.meta.final_loss
    );
    assert_eq!(steps, 600);
    let model = Arc::new(model);
    let catalog = Catalog::bundled().unwrap();
    let evals: Vec<TaskEval> = TASKS
        .iter()
        .map(|t| {
            // The papers' protocol: goals are demonstrations' last frames,
            // the frames BC-RNN's goal input was trained on.
            let goal = demo_goals(t);
            evaluate_bc_rnn(&catalog, &model, t, 4, 0, &goal, None, &|| {}).unwrap()
        })
        .collect();
    let (ret, zero) = summarise("BC-RNN", &evals, &catalog);
    assert!(ret > zero, "BC-RNN return {ret:.2} vs zero {zero:.2}");

    // A reload acts identically, the hidden state carried step to step.
    let loaded = Arc::new(BcRnn::load(&out).unwrap());
    let (img, prop) = probe(model.meta.dims.image, model.meta.dims.proprio);
    let mut a = BcRnnRollout::new(Arc::clone(&model), "pose-easy", &img).unwrap();
    let mut b = BcRnnRollout::new(loaded, "pose-easy", &img).unwrap();
    let mut actions = Vec::new();
    for _ in 0..3 {
        let x = a.act(&img, &prop).unwrap();
        assert_eq!(x, b.act(&img, &prop).unwrap());
        assert!(x.iter().all(|v| v.abs() <= 1.0));
        actions.push(x);
    }
    assert_ne!(actions[0], actions[2], "the hidden state must matter");
    assert!(BcRnnRollout::new(Arc::clone(&model), "key-turn-easy", &img).is_err());

    corrupt_and_check(&out, "bcrnn.safetensors", "bcrnn.json", |p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        match BcRnn::load(p) {
            Ok(_) => false,
            Err(e) => e.to_string().contains(name),
        }
    });
}

fn poly_config(frames: usize, steps: usize, encoder_steps: usize) -> PolyTaskConfig {
    PolyTaskConfig {
        image_size: 32,
        frames_per_task: frames,
        hidden: vec![128, 128],
        steps,
        batch: 64,
        encoder: tiny_encoder(encoder_steps),
        ..PolyTaskConfig::default()
    }
}

#[test]
fn polytask_trains_beats_zero_and_round_trips() {
    let out = tmp("polytask");
    let t0 = std::time::Instant::now();
    let model = train_polytask(
        &Catalog::bundled().unwrap(),
        &tasks(),
        &experts,
        &poly_config(1200, 800, 200),
        &out,
        &Control::new(),
        |_| {},
    )
    .unwrap();
    eprintln!(
        "PolyTask trained in {:.1}s, final loss {:.4}",
        t0.elapsed().as_secs_f64(),
        model.meta.final_loss
    );
    assert_eq!(model.meta.frames_per_task, vec![1200, 1200]);
    let model = Arc::new(model);
    let catalog = Catalog::bundled().unwrap();
    let evals: Vec<TaskEval> = TASKS
        .iter()
        .map(|t| {
            evaluate_polytask(
                &catalog,
                &model,
                t,
                4,
                0,
                &GoalSource::Rendered,
                None,
                &|| {},
            )
            .unwrap()
        })
        .collect();
    let (ret, zero) = summarise("PolyTask", &evals, &catalog);
    assert!(ret > zero, "PolyTask return {ret:.2} vs zero {zero:.2}");

    let loaded = Arc::new(PolyTask::load(&out).unwrap());
    let (img, prop) = probe(model.meta.dims.image, model.meta.dims.proprio);
    let mut a = PolyTaskRollout::new(Arc::clone(&model), "reach-easy", &img).unwrap();
    let mut b = PolyTaskRollout::new(loaded, "reach-easy", &img).unwrap();
    for _ in 0..3 {
        assert_eq!(a.act(&img, &prop).unwrap(), b.act(&img, &prop).unwrap());
    }
    corrupt_and_check(&out, "polytask.safetensors", "polytask.json", |p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        match PolyTask::load(p) {
            Ok(_) => false,
            Err(e) => e.to_string().contains(name),
        }
    });
}

#[test]
fn polytask_lifelong_yields_one_policy_per_stage() {
    let out = tmp("lifelong");
    let cfg = PolyTaskConfig {
        goal: GoalMode::Image,
        ..poly_config(150, 20, 5)
    };
    let stages = train_polytask_lifelong(
        &Catalog::bundled().unwrap(),
        &tasks(),
        &experts,
        &cfg,
        &out,
        &Control::new(),
        |_| {},
    )
    .unwrap();
    assert_eq!(stages.len(), 4, "two modes x two stages");
    for (s, (mode, k)) in stages.iter().zip([
        (LifelongMode::Distill, 0),
        (LifelongMode::Distill, 1),
        (LifelongMode::Finetune, 0),
        (LifelongMode::Finetune, 1),
    ]) {
        assert_eq!((s.mode, s.stage), (mode, k));
        assert_eq!(s.seen, tasks()[..=k].to_vec());
        assert_eq!(s.policy.meta.lifelong, Some(mode));
        assert!(s.dir.join("polytask.json").exists());
    }
    assert_eq!(stages[1].policy.meta.trained_on, tasks());
    assert_eq!(
        stages[3].policy.meta.trained_on,
        vec!["pose-easy".to_string()]
    );

    // The index reloads every stage, acting as trained.
    let loaded = load_lifelong(&out).unwrap();
    assert_eq!(loaded.len(), 4);
    let (img, prop) = probe(32, stages[0].policy.meta.dims.proprio);
    for (s, l) in stages.iter().zip(&loaded) {
        assert_eq!((s.mode, s.stage, &s.seen), (l.mode, l.stage, &l.seen));
        let mut a = PolyTaskRollout::new(Arc::clone(&s.policy), "reach-easy", &img).unwrap();
        let mut b = PolyTaskRollout::new(Arc::clone(&l.policy), "reach-easy", &img).unwrap();
        assert_eq!(a.act(&img, &prop).unwrap(), b.act(&img, &prop).unwrap());
    }
    // Fine-tuning moved away from the distilled stage-1 policy.
    let mut d = PolyTaskRollout::new(Arc::clone(&stages[1].policy), "reach-easy", &img).unwrap();
    let mut f = PolyTaskRollout::new(Arc::clone(&stages[3].policy), "reach-easy", &img).unwrap();
    assert_ne!(d.act(&img, &prop).unwrap(), f.act(&img, &prop).unwrap());
}

#[test]
fn same_seed_same_bytes() {
    let bytes = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    let (a, b) = (tmp("bc-a"), tmp("bc-b"));
    for d in [&a, &b] {
        let mut cfg = bc_config(10, 5);
        cfg.episodes_per_task = 2;
        train_bc_rnn(dataset(), &tasks(), &cfg, d, &Control::new(), |_| {}).unwrap();
    }
    assert_eq!(
        bytes(&a, "bcrnn.safetensors"),
        bytes(&b, "bcrnn.safetensors")
    );
    let (a, b) = (tmp("pt-a"), tmp("pt-b"));
    let catalog = Catalog::bundled().unwrap();
    for d in [&a, &b] {
        let cfg = poly_config(100, 10, 5);
        train_polytask(
            &catalog,
            &tasks(),
            &experts,
            &cfg,
            d,
            &Control::new(),
            |_| {},
        )
        .unwrap();
    }
    assert_eq!(
        bytes(&a, "polytask.safetensors"),
        bytes(&b, "polytask.safetensors")
    );
    // A cancelled run reports it and writes no policy.
    let c = tmp("pt-cancel");
    let control = Control::new();
    control.cancel();
    let cfg = poly_config(100, 10, 5);
    assert!(train_polytask(&catalog, &tasks(), &experts, &cfg, &c, &control, |_| {}).is_err());
    assert!(!c.join("polytask.json").exists());
}
