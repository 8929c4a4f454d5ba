//! The student: loss terms against hand-computed values, the differentiable
//! code path, temporal ensembling, checkpoints, and a two-task suite that
//! distils end to end and beats the zero policy.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use candle_core::{Device, Tensor, Var};
use dexlearn::expert::{Expert, expert_dir};
use dexlearn::student::eval::{GoalSource, Lead, evaluate_student};
use dexlearn::student::loss;
use dexlearn::student::model::{Dims, StudentNets};
use dexlearn::student::policy::{ensemble, ensemble_weights};
use dexlearn::student::train::distill_term;
use dexlearn::student::{
    Corpus, CriticSpan, DistillJob, Method, QNorm, Student, StudentConfig, StudentRollout, distill,
};
use dexlearn::train::Control;
use dexsim::Catalog;

mod common;

use common::tiny_config;

const TASKS: [&str; 2] = ["reach-easy", "pose-easy"];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dexstudent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn straight_through_has_one_hot_value_and_softmax_gradient() {
    let logits = Var::from_slice(&[0.5f32, -1.0, 2.0], (1, 3), &Device::Cpu).unwrap();
    let probs = dexlearn::ops_norm::softmax_last(logits.as_tensor()).unwrap();
    let z = loss::straight_through(&probs, &[0]).unwrap();
    assert_eq!(
        z.to_vec2::<f32>().unwrap(),
        vec![vec![1.0, 0.0, 0.0]],
        "forward is the one-hot"
    );
    // d(z · w)/d logits must equal d(σ · w)/d logits.
    let w = Tensor::new(&[[1.0f32], [2.0], [3.0]], &Device::Cpu).unwrap();
    let g_st = z.matmul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let g_soft = probs
        .matmul(&w)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let a = g_st
        .get(logits.as_tensor())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let b = g_soft
        .get(logits.as_tensor())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (x, y) in a[0].iter().zip(&b[0]) {
        assert!(close(*x, *y), "{a:?} vs {b:?}");
    }
    assert!(
        a[0].iter().any(|v| v.abs() > 1e-3),
        "gradient reaches the logits"
    );
}

#[test]
fn code_loss_matches_hand_computation() {
    // σ = [0.7, 0.2, 0.1], sampled code 1; codebook rows e0=[1,0], e1=[0,1], e2=[1,1].
    let probs = Tensor::new(&[[0.7f32, 0.2, 0.1]], &Device::Cpu).unwrap();
    let cb = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]], &Device::Cpu).unwrap();
    let l = loss::code_loss(&probs, &[1], &cb)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    // align: |0.7-0| + |0.2-1| + |0.1-0| = 1.6
    // commit: σ·C = [0.8, 0.3], e1 = [0, 1]: |0.8| + |0.3-1| = 1.5
    assert!(close(l, 3.1), "L_code = {l}");
}

#[test]
fn act_loss_is_l1_over_actions_averaged_over_steps() {
    // One chunk of k = 2 steps, 2 action dims.
    let pred = Tensor::new(&[[[0.5f32, -0.5], [1.0, 0.0]]], &Device::Cpu).unwrap();
    let tgt = Tensor::new(&[[[0.0f32, 0.0], [0.0, 0.0]]], &Device::Cpu).unwrap();
    let l = loss::act_loss(&pred, &tgt)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    // (|0.5| + |-0.5| + |1| + |0|) / k = 1.0
    assert!(close(l, 1.0), "L_act = {l}");
}

#[test]
fn distill_loss_falls_as_q_rises() {
    let norm = Tensor::new(&[2.0f32, 2.0], &Device::Cpu).unwrap();
    let low = Tensor::new(&[1.0f32, 3.0], &Device::Cpu).unwrap();
    let high = Tensor::new(&[5.0f32, 7.0], &Device::Cpu).unwrap();
    let l_low = loss::distill_loss(&low, &norm)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let l_high = loss::distill_loss(&high, &norm)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(close(l_low, -1.0), "-(1/2 + 3/2)/2 = -1, got {l_low}");
    assert!(close(l_high, -3.0));
    assert!(l_high < l_low, "higher Q must give a lower loss");
    // Its gradient pushes Q up.
    let q = Var::from_slice(&[1.0f32, 3.0], 2, &Device::Cpu).unwrap();
    let g = loss::distill_loss(q.as_tensor(), &norm)
        .unwrap()
        .backward()
        .unwrap();
    let gq = g.get(q.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
    assert!(gq.iter().all(|&v| close(v, -0.25)), "{gq:?}");
}

#[test]
fn kl_of_the_prior_is_zero_and_positive_elsewhere() {
    let zero = Tensor::new(&[[0.0f32, 0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
    assert!(close(
        loss::kl_loss(&zero).unwrap().to_scalar::<f32>().unwrap(),
        0.0
    ));
    // μ = 1, log σ² = 0 on one dim: KL = 0.5 · 1 = 0.5.
    let one = Tensor::new(&[[1.0f32, 0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
    assert!(close(
        loss::kl_loss(&one).unwrap().to_scalar::<f32>().unwrap(),
        0.5
    ));
}

#[test]
fn temporal_ensembling_weights_and_average() {
    let w = ensemble_weights(3, 0.5);
    assert!(close(w[0], 1.0) && close(w[1], (-0.5f32).exp()) && close(w[2], (-1.0f32).exp()));
    // Newest chunk first; a chunk made i steps ago contributes its row i.
    let mut chunks = VecDeque::new();
    chunks.push_back(vec![10.0, 0.0, 0.0]); // now: row 0 = 10
    chunks.push_back(vec![0.0, 20.0, 0.0]); // 1 step ago: row 1 = 20
    let a = ensemble(&chunks, 1, 0.5);
    let e = (-0.5f32).exp();
    assert!(close(a[0], (10.0 + 20.0 * e) / (1.0 + e)), "{a:?}");
    // η = 0: a plain mean.
    assert!(close(ensemble(&chunks, 1, 0.0)[0], 15.0));
}

#[test]
fn distill_gradient_reaches_the_latent_encoder() {
    let dims = Dims {
        tasks: 1,
        action: 3,
        proprio: 2,
        image: 8,
    };
    let mut cfg = tiny_config(Method::Acgd);
    cfg.encoder.channels = vec![4];
    let nets = StudentNets::new(&cfg, dims).unwrap();
    let dev = &Device::Cpu;
    let hist = Tensor::zeros((2, cfg.history * 2), candle_core::DType::F32, dev).unwrap();
    let task = Tensor::new(&[0u32, 0], dev).unwrap();
    let ctx = nets.context(&hist, &task).unwrap();
    let feat = Tensor::ones((2, cfg.encoder.features), candle_core::DType::F32, dev).unwrap();
    let seen = nets.seen(&feat, &feat).unwrap();
    let logits = nets.latent(&seen, &ctx).unwrap();
    let probs = dexlearn::ops_norm::softmax_last(&logits).unwrap();
    let codes = StudentNets::argmax(&logits).unwrap();
    let z = loss::straight_through(&probs, &codes)
        .unwrap()
        .matmul(&nets.codebook().detach())
        .unwrap();
    let first = nets
        .decode(&z, &ctx, None)
        .unwrap()
        .narrow(1, 0, 1)
        .unwrap()
        .squeeze(1)
        .unwrap();
    // A stand-in critic, linear in the action: Q = Σ a.
    let q = first.sum(1).unwrap();
    let norm = Tensor::new(&[1.0f32, 1.0], dev).unwrap();
    let grads = loss::distill_loss(&q, &norm).unwrap().backward().unwrap();
    let lat_out = nets
        .vars(dexlearn::student::model::VarGroup::Policy)
        .into_iter()
        .find(|(n, _)| n == "lat.out.weight")
        .expect("latent encoder output layer");
    let g = grads
        .get(lat_out.1.as_tensor())
        .expect("L_distill must reach the latent encoder");
    let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
    assert!(norm > 0.0, "gradient of L_distill on lat.out is zero");
}

/// `L_distill`'s gradient on each chunk position of the decoded actions.
fn position_gradients(span: CriticSpan) -> Vec<f32> {
    let corpus = Corpus::load(dataset(), &tasks(), 12).expect("mini corpus");
    let critics = critics_of(&corpus);
    let cfg = StudentConfig {
        critic_span: span,
        eta: 2.0,
        ..tiny_config(Method::Acgd)
    };
    let (k, a) = (cfg.chunk, corpus.dims.action);
    // Frames at the start of episodes, so every position has its own state.
    let idx: Vec<usize> = corpus.episodes.iter().map(|e| e.start).collect();
    let pred = Var::zeros((idx.len(), k, a), candle_core::DType::F32, &Device::Cpu).expect("pred");
    let norms = vec![1.0; corpus.tasks.len()];
    let d = distill_term(&corpus, &norms, &idx, pred.as_tensor(), &critics, &cfg)
        .expect("distill term")
        .expect("both tasks have critics");
    let g = d.backward().expect("backward");
    let g = g.get(pred.as_tensor()).expect("gradient on the actions");
    (0..k)
        .map(|j| {
            g.narrow(1, j, 1)
                .and_then(|t| t.sqr())
                .and_then(|t| t.sum_all())
                .and_then(|t| t.to_scalar::<f32>())
                .expect("position norm")
                .sqrt()
        })
        .collect()
}

#[test]
fn critic_span_first_grades_only_the_first_action() {
    let g = position_gradients(CriticSpan::First);
    assert!(g[0] > 0.0, "the first action must be graded: {g:?}");
    assert!(
        g[1..].iter().all(|&v| v == 0.0),
        "later actions graded: {g:?}"
    );
}

#[test]
fn critic_span_chunk_grades_every_action() {
    let g = position_gradients(CriticSpan::Chunk);
    assert!(g.iter().all(|&v| v > 0.0), "every position graded: {g:?}");
    // Position weights decay like exp(-η j): with η = 2 the last of four
    // carries 1/400 of the first's, far beyond what the differing states
    // can undo.
    assert!(
        g[0] > g[g.len() - 1],
        "weights decay along the chunk: {g:?}"
    );
}

#[test]
fn grad_q_norm_gives_every_critic_unit_action_gradient() {
    let corpus = Corpus::load(dataset(), &tasks(), 12).expect("mini corpus");
    let critics = critics_of(&corpus);
    let grad = dexlearn::student::qnorm::q_norms(&corpus, &critics, QNorm::Grad).unwrap();
    let mean_abs = dexlearn::student::qnorm::q_norms(&corpus, &critics, QNorm::MeanAbs).unwrap();
    let a_dim = corpus.dims.action;
    for (slot, frames) in corpus.frames_of.iter().enumerate() {
        // Every frame of the slot (under 4096, so all are used): the mean
        // |d(Q/c)/da| at the demonstrated actions must be exactly 1.
        let idx: Vec<usize> = frames.iter().map(|&i| i as usize).collect();
        let states: Vec<f32> = idx.iter().flat_map(|&i| corpus.state(i).to_vec()).collect();
        let expert = critics[slot].as_ref().expect("shipped critic");
        let a = Var::from_vec(actions_of(&corpus, &idx), (idx.len(), a_dim), &Device::Cpu).unwrap();
        let q = expert
            .nets()
            .q_min_frozen(&expert.state_tensor(&states).unwrap(), a.as_tensor())
            .unwrap();
        let g = (q.sum_all().unwrap() / f64::from(grad[slot]))
            .unwrap()
            .backward()
            .unwrap();
        let g = g.get(a.as_tensor()).unwrap();
        let m: f32 = g.abs().unwrap().mean_all().unwrap().to_scalar().unwrap();
        assert!(
            (m - 1.0).abs() < 1e-3,
            "slot {slot}: mean |dQ/da| / c = {m}"
        );
        // The shipped critics point back to the demonstrated actions.
        let dir = dexlearn::student::qnorm::action_grad_direction(
            expert,
            &states,
            &actions_of(&corpus, &idx),
            a_dim,
            0.5,
            0,
        )
        .unwrap();
        assert!(dir > 0.2, "slot {slot}: critic direction cosine {dir}");
        // The reach and pose returns carry a large offset, so mean |Q|
        // is far larger than the action gradient's scale.
        assert!(
            mean_abs[slot] > 5.0 * grad[slot],
            "slot {slot}: mean |Q| {} against grad scale {}",
            mean_abs[slot],
            grad[slot]
        );
    }
}

/// The shipped critic of each of the corpus's tasks.
fn critics_of(corpus: &Corpus) -> Vec<Option<Expert>> {
    corpus
        .tasks
        .iter()
        .map(|t| Expert::load(&expert_dir(None, t)).ok())
        .collect()
}

/// The demonstrated actions of frames `idx`, row-major.
fn actions_of(corpus: &Corpus, idx: &[usize]) -> Vec<f32> {
    let a = corpus.dims.action;
    idx.iter()
        .flat_map(|&i| corpus.actions[i * a..(i + 1) * a].to_vec())
        .collect()
}

/// A two-task dataset from the shipped experts, collected once per run.
fn dataset() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::collect_mini(&tmp("data"), &tasks(), 12, 32))
}

fn job<'a>(cfg: StudentConfig, corpus: &'a Corpus, out: PathBuf) -> DistillJob<'a> {
    common::job(cfg, corpus, critics_of(corpus), out)
}

fn tasks() -> Vec<String> {
    TASKS.iter().map(|t| t.to_string()).collect()
}

#[test]
fn two_task_suite_distills_and_beats_the_zero_policy() {
    let corpus = Corpus::load(dataset(), &tasks(), 12).unwrap();
    assert_eq!(corpus.episodes_per_task, vec![12, 12]);
    let out = tmp("acgd");
    let student = distill(
        job(tiny_config(Method::Acgd), &corpus, out.clone()),
        &Control::new(),
        |_| {},
    )
    .unwrap();
    let student = Arc::new(student);
    let catalog = Catalog::bundled().unwrap();
    let mut student_ret = 0.0;
    let mut zero_ret = 0.0;
    let mut solved = 0;
    for task in TASKS {
        let e = evaluate_student(
            &catalog,
            &student,
            task,
            4,
            0,
            &GoalSource::Rendered,
            None,
            &|| {},
        )
        .unwrap();
        student_ret += e.mean_return();
        solved += e.solved.iter().filter(|&&s| s).count();
        let mut env =
            dexsim::Env::from_catalog(&catalog, task, dexsim::EnvConfig::default()).unwrap();
        for i in 0..4 {
            env.reset(dexlearn::rollout::domain_seed(
                dexsim::SeedDomain::Eval,
                0,
                i,
            ));
            let zero = vec![0.0; env.action_dim()];
            loop {
                let s = env.step(&zero).unwrap();
                zero_ret += f64::from(s.reward) / 4.0;
                if s.done {
                    break;
                }
            }
        }
    }
    assert!(
        student_ret > zero_ret,
        "student return {student_ret:.2} vs zero {zero_ret:.2}"
    );
    // The zero policy solves neither task.
    assert!(solved > 0, "the student solved none of 8 episodes");

    // With the expert leading the whole episode the student only watches:
    // the shipped pose-easy expert solves every episode.
    let expert = Expert::load(&expert_dir(None, "pose-easy")).unwrap();
    let pose = |steps: usize, compare: bool| {
        let lead = Lead {
            expert: &expert,
            steps,
            compare,
        };
        let lead = (steps > 0 || compare).then_some(&lead);
        evaluate_student(
            &catalog,
            &student,
            "pose-easy",
            4,
            0,
            &GoalSource::Rendered,
            lead,
            &|| {},
        )
        .unwrap()
    };
    let led = pose(1000, false);
    assert_eq!(led.solved, vec![true; 4]);
    assert!(led.expert_gap.is_empty());

    // Comparing with the expert at every step records one gap per step
    // and leaves the episodes as they were.
    let plain = pose(0, false);
    let compared = pose(0, true);
    assert_eq!(compared.returns, plain.returns);
    assert_eq!(compared.expert_gap.len(), 4);
    for (gaps, goal) in compared.expert_gap.iter().zip(&compared.goal_error) {
        assert_eq!(gaps.len(), goal.len());
        assert!(gaps.iter().all(|g| g.abs.is_finite() && g.abs <= 2.0));
    }
    let summary = dexlearn::student::gap::summarise(
        &compared.expert_gap,
        &compared.value_flips,
        &compared.actuators,
    );
    assert_eq!(compared.value_flips.len(), compared.actuators.len());
    let decisive: u32 = compared.value_flips.iter().map(|c| c[0]).sum();
    let per_step: usize = compared
        .expert_gap
        .iter()
        .flatten()
        .map(|g| usize::from(g.decisive))
        .sum();
    assert_eq!(decisive as usize, per_step);
    assert_eq!(summary.steps, compared.steps);
    assert!(
        summary.mean_abs > 0.0,
        "a tiny student matches its expert exactly?"
    );

    // A save/load round trip acts identically.
    let loaded = Arc::new(Student::load(&out).unwrap());
    let size = student.meta.dims.image;
    let img: Vec<u8> = (0..size * size * 3).map(|i| (i * 7 % 251) as u8).collect();
    let prop: Vec<f32> = (0..student.meta.dims.proprio)
        .map(|i| i as f32 * 0.01)
        .collect();
    let mut a = StudentRollout::new(Arc::clone(&student), "pose-easy", &img).unwrap();
    let mut b = StudentRollout::new(loaded, "pose-easy", &img).unwrap();
    for _ in 0..3 {
        assert_eq!(a.act(&img, &prop).unwrap(), b.act(&img, &prop).unwrap());
    }

    // An inference-time η changes how chunks mix, not the first action
    // (one chunk), and a bad one is refused.
    let mut newest = Student::load(&out).unwrap();
    assert!(newest.set_eta(f32::NAN).is_err());
    assert!(newest.set_eta(-1.0).is_err());
    newest.set_eta(50.0).unwrap();
    let mut a = StudentRollout::new(Arc::clone(&student), "pose-easy", &img).unwrap();
    let mut b = StudentRollout::new(Arc::new(newest), "pose-easy", &img).unwrap();
    let mut differs = false;
    for step in 0..4 {
        let p: Vec<f32> = prop.iter().map(|v| v + step as f32 * 0.3).collect();
        let (x, y) = (a.act(&img, &p).unwrap(), b.act(&img, &p).unwrap());
        if step == 0 {
            assert_eq!(x, y);
        } else {
            differs |= x != y;
        }
    }
    assert!(differs, "eta 50 acted like the trained eta");

    // A student.json from before start sampling existed reads as it was
    // trained: with it off, whatever today's default.
    let json = out.join("student.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        v["config"]["start_share"].as_f64(),
        Some(f64::from(StudentConfig::default().start_share))
    );
    v["config"].as_object_mut().unwrap().remove("start_share");
    std::fs::write(&json, v.to_string()).unwrap();
    assert_eq!(Student::load(&out).unwrap().meta.config.start_share, 0.0);
}

#[test]
fn same_seed_same_bytes_and_resume_continues() {
    let corpus = Corpus::load(dataset(), &tasks(), 2).unwrap();
    let mut cfg = tiny_config(Method::Acgd);
    cfg.tokenizer_steps = 10;
    cfg.steps = 10;
    cfg.encoder.steps = 5;
    let (a, b) = (tmp("seed-a"), tmp("seed-b"));
    distill(
        job(cfg.clone(), &corpus, a.clone()),
        &Control::new(),
        |_| {},
    )
    .unwrap();
    distill(
        job(cfg.clone(), &corpus, b.clone()),
        &Control::new(),
        |_| {},
    )
    .unwrap();
    let bytes = |d: &PathBuf| std::fs::read(d.join("student.safetensors")).unwrap();
    assert_eq!(bytes(&a), bytes(&b), "same seed, same weights");

    // Cancel mid-way, then resume: it finishes and writes a student.
    let c = tmp("resume");
    let control = Control::new();
    let stop = control.clone();
    let err = distill(job(cfg.clone(), &corpus, c.clone()), &control, |p| {
        if p.stage == dexlearn::student::Stage::Policy && p.step == 3 {
            stop.cancel();
        }
    });
    assert!(err.is_err(), "a cancelled run reports it");
    assert!(!c.join("student.json").exists());
    let mut j = job(cfg, &corpus, c.clone());
    j.resume = true;
    distill(j, &Control::new(), |_| {}).unwrap();
    assert!(Student::load(&c).is_ok());
}

#[test]
fn act_baselines_train_and_act() {
    let corpus = Corpus::load(dataset(), &tasks(), 2).unwrap();
    for method in [Method::Act, Method::ActCritic] {
        let mut cfg = tiny_config(method);
        cfg.tokenizer_steps = 10;
        cfg.steps = 20;
        cfg.encoder.steps = 5;
        let out = tmp(method.name());
        let s = Arc::new(distill(job(cfg, &corpus, out), &Control::new(), |_| {}).unwrap());
        let size = s.meta.dims.image;
        let img = vec![128u8; size * size * 3];
        let mut r = StudentRollout::new(s.clone(), "reach-easy", &img).unwrap();
        let a = r.act(&img, &vec![0.0; s.meta.dims.proprio]).unwrap();
        assert_eq!(a.len(), s.meta.dims.action);
        assert!(a.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    }
}

#[test]
fn corrupt_student_checkpoint_is_named() {
    let corpus = Corpus::load(dataset(), &tasks(), 1).unwrap();
    let mut cfg = tiny_config(Method::Bc);
    cfg.tokenizer_steps = 2;
    cfg.steps = 2;
    cfg.encoder.steps = 2;
    let out = tmp("corrupt");
    distill(job(cfg, &corpus, out.clone()), &Control::new(), |_| {}).unwrap();
    let w = out.join("student.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(&w, bytes).unwrap();
    let err = Student::load(&out)
        .err()
        .expect("corrupt weights must fail")
        .to_string();
    assert!(err.contains("student.safetensors"), "{err}");
    std::fs::write(out.join("student.json"), "{ not json").unwrap();
    let err = Student::load(&out)
        .err()
        .expect("bad json must fail")
        .to_string();
    assert!(err.contains("student.json"), "{err}");
}

#[test]
fn dagger_aggregates_expert_chunks_and_counts_its_steps() {
    use dexlearn::student::dagger::{DaggerConfig, dagger};
    let corpus = Corpus::load(dataset(), &tasks(), 2).unwrap();
    let before = corpus.len();
    let mut cfg = tiny_config(Method::Bc);
    cfg.tokenizer_steps = 10;
    cfg.steps = 10;
    cfg.encoder.steps = 5;
    let base = tmp("dagger-base");
    distill(
        job(cfg.clone(), &corpus, base.clone()),
        &Control::new(),
        |_| {},
    )
    .unwrap();
    let experts = critics_of(&corpus);
    let out = tmp("dagger");
    let mut template = job(cfg, &corpus, out.clone());
    template.init = Some(base);
    template.label = "dagger-bc".into();
    let dcfg = DaggerConfig {
        rounds: 1,
        episodes: 2,
        steps: 10,
        ..DaggerConfig::default()
    };
    let catalog = Catalog::bundled().unwrap();
    let (student, rounds) = dagger(
        &catalog,
        corpus.clone(),
        &experts,
        template,
        &dcfg,
        &Control::new(),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(rounds.len(), 1);
    let r = &rounds[0];
    assert_eq!(r.episodes, 4);
    assert_eq!(
        r.frames, r.rollout_steps,
        "one labelled frame per visited state"
    );
    assert!(r.rollout_steps > 0);
    // Each visited state costs up to k labelling steps (fewer at episode ends).
    assert!(r.label_steps > r.rollout_steps && r.label_steps <= 4 * r.rollout_steps);
    assert_eq!(student.meta.row_name(), "dagger-bc");
    let loaded = Student::load(&out).unwrap();
    assert_eq!(loaded.meta.row_name(), "dagger-bc");
    assert!(out.join("dagger.json").exists());
    assert!(corpus.len() == before, "the caller's corpus is untouched");
}

#[test]
fn cosine_schedule_runs_from_lr_to_a_tenth() {
    use dexlearn::student::LrSchedule;
    let at = |s| LrSchedule::Cosine.at(1e-3, s, 100);
    assert!((at(0) - 1e-3).abs() < 1e-12, "starts at lr");
    assert!((at(50) - 5.5e-4).abs() < 1e-12, "halfway: (lr + lr/10) / 2");
    assert!((at(100) - 1e-4).abs() < 1e-12, "ends at lr / 10");
    assert!(at(25) > at(75), "falls");
    assert_eq!(LrSchedule::Constant.at(1e-3, 70, 100), 1e-3);
}
