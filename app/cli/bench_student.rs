//! `dexstudio bench student`: the ACGD student's control step at batch 1
//! and its stage (b) training steps in candle, timed against PyTorch
//! (bench/torch_student.py) on the same networks and batch.

use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use dexlearn::Expert;
use dexlearn::adam::{Adam, AdamConfig};
use dexlearn::student::model::{Dims, StudentNets, VarGroup};
use dexlearn::student::policy::ensemble_weights;
use dexlearn::student::train::{Batch, bc_loss, critic_sum};
use dexlearn::student::{CriticSpan, Student, StudentConfig, StudentMeta, StudentRollout};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::output::emit;

#[derive(clap::Args, Debug)]
pub struct StudentArgs {
    /// Tasks the student knows (dex10).
    #[arg(long, default_value_t = 10)]
    tasks: usize,
    /// Action width.
    #[arg(long, default_value_t = 22)]
    action: usize,
    /// Proprioception width of one frame (44 on every bundled task).
    #[arg(long, default_value_t = 44)]
    proprio: usize,
    /// Task whose shipped expert's critic guides the ACGD step.
    #[arg(long, default_value = "reach-easy")]
    critic: String,
    /// Training batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Timed iterations per measurement (after 20 warm-up ones).
    #[arg(long, default_value_t = 200)]
    iters: usize,
    /// Thread counts to measure the training steps at.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Also time PyTorch CPU on the same work (skips if torch is missing).
    #[arg(long)]
    peer: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Milliseconds per training step at one thread count.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct StepTimes {
    /// Threads.
    pub threads: usize,
    /// Stage (b) without the critic: `α·(L_lat + L_act)`, backward, AdamW.
    pub bc_ms: f64,
    /// Stage (b) of ACGD: the BC loss plus `-Q/norm` through the frozen
    /// twin critics, backward, AdamW.
    pub acgd_ms: f64,
    /// Samples per second of the BC step (batch / step time).
    #[serde(default)]
    pub bc_samples_per_s: f64,
    /// Samples per second of the ACGD step.
    #[serde(default)]
    pub acgd_samples_per_s: f64,
}

/// One control step at batch 1 on one thread.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ActTimes {
    /// Mean milliseconds per step.
    pub mean_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
}

#[derive(Serialize, Deserialize, Default)]
struct PeerOut {
    #[serde(default)]
    engine: String,
    #[serde(default)]
    act: Option<ActTimes>,
    #[serde(default)]
    rows: Vec<StepTimes>,
    #[serde(default)]
    skipped: Option<String>,
}

#[derive(Serialize)]
struct Ratio {
    threads: usize,
    /// candle BC step time / PyTorch's.
    bc: f64,
    /// candle ACGD step time / PyTorch's.
    acgd: f64,
}

#[derive(Serialize)]
struct Report {
    dims: Dims,
    width: usize,
    heads: usize,
    layers: usize,
    decoder_layers: usize,
    chunk: usize,
    codes: usize,
    batch: usize,
    critic_state: usize,
    critic_hidden: Vec<usize>,
    /// `StudentRollout::act` at batch 1, one thread: image encoder, latent
    /// encoder, decoder and temporal ensembling.
    act: ActTimes,
    candle: Vec<StepTimes>,
    peer: Option<PeerOut>,
    ratios: Vec<Ratio>,
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn time_ms(iters: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    for _ in 0..20 {
        f()?;
    }
    let t = Instant::now();
    for _ in 0..iters {
        f()?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / iters as f64)
}

fn dims(a: &StudentArgs) -> Dims {
    Dims {
        tasks: a.tasks,
        action: a.action,
        proprio: a.proprio,
        image: 64,
    }
}

/// A randomly initialised student with identity proprio statistics.
fn student(a: &StudentArgs, cfg: &StudentConfig) -> anyhow::Result<Student> {
    let dims = dims(a);
    Ok(Student {
        meta: StudentMeta {
            format: String::new(),
            config: cfg.clone(),
            dims,
            tasks: (0..a.tasks).map(|i| format!("task{i}")).collect(),
            suite: "bench".into(),
            episodes_per_task: vec![0; a.tasks],
            q_norms: vec![1.0; a.tasks],
            dataset: String::new(),
            samples_per_s: 0.0,
            wall_s: 0.0,
            weights: String::new(),
            weights_fnv1a: String::new(),
            command: String::new(),
            label: String::new(),
        },
        nets: StudentNets::new(cfg, dims)?,
        proprio_mean: vec![0.0; a.proprio],
        proprio_std: vec![1.0; a.proprio],
    })
}

/// Per-step times of `StudentRollout::act` on a fresh episode.
fn measure_act(a: &StudentArgs, cfg: &StudentConfig) -> anyhow::Result<ActTimes> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let px = 64 * 64 * 3;
    let images: Vec<Vec<u8>> = (0..4)
        .map(|_| (0..px).map(|_| rng.random::<u8>()).collect())
        .collect();
    let st = Arc::new(student(a, cfg)?);
    let mut roll = StudentRollout::new(st, "task0", &images[3])?;
    let proprio = random(&mut rng, a.proprio);
    for i in 0..20 {
        std::hint::black_box(roll.act(&images[i % 3], &proprio)?);
    }
    let mut ms = Vec::with_capacity(a.iters);
    for i in 0..a.iters {
        let t = Instant::now();
        std::hint::black_box(roll.act(&images[i % 3], &proprio)?);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let p95 = ms[((ms.len() as f64 * 0.95) as usize).min(ms.len().saturating_sub(1))];
    Ok(ActTimes {
        mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        p95_ms: p95,
    })
}

/// Chunk rows the critic grades.
fn span_of(cfg: &StudentConfig) -> usize {
    match cfg.critic_span {
        CriticSpan::Chunk => cfg.chunk,
        CriticSpan::First => 1,
    }
}

/// BC and ACGD stage (b) steps on a random cached-feature batch.
fn measure_steps(
    a: &StudentArgs,
    cfg: &StudentConfig,
    expert: &Expert,
) -> anyhow::Result<StepTimes> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let dev = &Device::Cpu;
    let (b, k, f) = (a.batch, cfg.chunk, cfg.encoder.features);
    let nets = StudentNets::new(cfg, dims(a))?;
    let task: Vec<u32> = (0..b)
        .map(|_| rng.random_range(0..a.tasks as u32))
        .collect();
    let bt = Batch {
        history: Tensor::from_vec(
            random(&mut rng, b * cfg.history * a.proprio),
            (b, cfg.history * a.proprio),
            dev,
        )?,
        task: Tensor::from_vec(task, b, dev)?,
        chunk: Tensor::from_vec(random(&mut rng, b * k * a.action), (b, k, a.action), dev)?,
        image: Tensor::from_vec(random(&mut rng, b * f), (b, f), dev)?,
        goal: Tensor::from_vec(random(&mut rng, b * f), (b, f), dev)?,
    };
    let target: Vec<u32> = (0..b)
        .map(|_| rng.random_range(0..cfg.codes as u32))
        .collect();
    // One state per graded action (`critic_span`: the whole chunk), and
    // the ensembling weights of the chunk's rows.
    let span = span_of(cfg);
    let states = random(&mut rng, b * span * expert.meta.state_dim);
    let w = ensemble_weights(span, cfg.eta);
    let sum: f32 = w.iter().sum();
    let weights: Vec<f32> = (0..b).flat_map(|_| w.iter().map(|v| v / sum)).collect();
    let weights = Tensor::from_vec(weights, b * span, dev)?;
    let opt_cfg = AdamConfig {
        lr: cfg.lr,
        ..AdamConfig::default()
    };
    let mut opt = Adam::new(nets.vars(VarGroup::Policy), opt_cfg);
    let bc_ms = time_ms(a.iters, || {
        let (total, _, _) = bc_loss(&nets, &bt, &target)?;
        std::hint::black_box(total.to_scalar::<f32>()?);
        opt.step(&total.backward()?)?;
        Ok(())
    })?;
    let mut opt = Adam::new(nets.vars(VarGroup::Policy), opt_cfg);
    let acgd_ms = time_ms(a.iters, || {
        let (total, pred, _) = bc_loss(&nets, &bt, &target)?;
        // As `distill_term`: the graded rows of the chunk through the critic.
        let graded = pred
            .narrow(1, 0, span)?
            .reshape((b * span, a.action))?
            .contiguous()?;
        let d = (critic_sum(expert, &states, &graded, Some(&weights), 1.0)? / b as f64)?;
        std::hint::black_box(d.to_scalar::<f32>()?);
        let total = (total + d)?;
        std::hint::black_box(total.to_scalar::<f32>()?);
        opt.step(&total.backward()?)?;
        Ok(())
    })?;
    Ok(StepTimes {
        threads: rayon::current_num_threads(),
        bc_ms,
        acgd_ms,
        bc_samples_per_s: b as f64 * 1e3 / bc_ms,
        acgd_samples_per_s: b as f64 * 1e3 / acgd_ms,
    })
}

fn run_peer(a: &StudentArgs, cfg: &StudentConfig, expert: &Expert) -> PeerOut {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/torch_student.py");
    let threads: Vec<String> = a.threads.iter().map(ToString::to_string).collect();
    let hidden: Vec<String> = expert.meta.hidden.iter().map(ToString::to_string).collect();
    let arg = |name: &str, v: usize| [format!("--{name}"), v.to_string()];
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(arg("tasks", a.tasks))
        .args(arg("action", a.action))
        .args(arg("proprio", a.proprio))
        .args(arg("history", cfg.history))
        .args(arg("width", cfg.width))
        .args(arg("heads", cfg.heads))
        .args(arg("layers", cfg.layers))
        .args(arg("decoder-layers", cfg.decoder_layers))
        .args(arg("chunk", cfg.chunk))
        .args(arg("span", span_of(cfg)))
        .args(["--eta", &cfg.eta.to_string()])
        .args(arg("codes", cfg.codes))
        .args(arg("code-width", cfg.code_width))
        .args(arg("features", cfg.encoder.features))
        .args(arg("critic-state", expert.meta.state_dim))
        .args(["--critic-hidden", &hidden.join(",")])
        .args(arg("batch", a.batch))
        .args(arg("iters", a.iters))
        .args(["--threads", &threads.join(",")])
        .output();
    super::peer_json(out).unwrap_or_else(|why| PeerOut {
        skipped: Some(why),
        ..PeerOut::default()
    })
}

pub fn run(a: StudentArgs) -> anyhow::Result<()> {
    let cfg = StudentConfig::default();
    let expert = Expert::load(&dexlearn::expert::expert_dir(None, &a.critic))?;
    if expert.meta.action_dim != a.action {
        anyhow::bail!(
            "the {} expert acts in {} dimensions, not --action {}",
            a.critic,
            expert.meta.action_dim,
            a.action
        );
    }
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let act = one.install(|| measure_act(&a, &cfg))?;
    let mut candle = Vec::new();
    for &n in &a.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()?;
        candle.push(pool.install(|| measure_steps(&a, &cfg, &expert))?);
    }
    let peer = a.peer.then(|| run_peer(&a, &cfg, &expert));
    let ratios = peer
        .iter()
        .flat_map(|p| p.rows.iter())
        .filter_map(|p| {
            let c = candle.iter().find(|c| c.threads == p.threads)?;
            Some(Ratio {
                threads: p.threads,
                bc: c.bc_ms / p.bc_ms,
                acgd: c.acgd_ms / p.acgd_ms,
            })
        })
        .collect();
    let report = Report {
        dims: dims(&a),
        width: cfg.width,
        heads: cfg.heads,
        layers: cfg.layers,
        decoder_layers: cfg.decoder_layers,
        chunk: cfg.chunk,
        codes: cfg.codes,
        batch: a.batch,
        critic_state: expert.meta.state_dim,
        critic_hidden: expert.meta.hidden.clone(),
        act,
        candle,
        peer,
        ratios,
    };
    emit(a.json, &report, print)
}

fn print(r: &Report) {
    println!(
        "student: {} tasks, action {}, proprio {}, width {} ({} heads, {}+{} layers), chunk {}, {} codes",
        r.dims.tasks,
        r.dims.action,
        r.dims.proprio,
        r.width,
        r.heads,
        r.layers,
        r.decoder_layers,
        r.chunk,
        r.codes
    );
    println!(
        "control step (64x64 image, batch 1, 1 thread): candle mean {:.3} ms, p95 {:.3} ms",
        r.act.mean_ms, r.act.p95_ms
    );
    if let Some(a) = r.peer.as_ref().and_then(|p| p.act.as_ref()) {
        println!(
            "control step, peer:                            mean {:.3} ms, p95 {:.3} ms",
            a.mean_ms, a.p95_ms
        );
    }
    println!(
        "stage (b) step, batch {}, critic {}->{:?}->1 x2 (ms per step, samples/s)",
        r.batch, r.critic_state, r.critic_hidden
    );
    println!(
        "{:<22} {:>8} {:>9} {:>10} {:>9} {:>10}",
        "engine", "threads", "BC", "BC/s", "ACGD", "ACGD/s"
    );
    let row = |name: &str, t: &StepTimes| {
        println!(
            "{:<22} {:>8} {:>9.3} {:>10.0} {:>9.3} {:>10.0}",
            name, t.threads, t.bc_ms, t.bc_samples_per_s, t.acgd_ms, t.acgd_samples_per_s
        );
    };
    for c in &r.candle {
        row("candle (dexlearn)", c);
    }
    match &r.peer {
        Some(p) if p.skipped.is_none() => {
            for t in &p.rows {
                row(&p.engine, t);
            }
            for x in &r.ratios {
                println!(
                    "ratio candle/peer at {} thread(s): BC {:.2}x, ACGD {:.2}x",
                    x.threads, x.bc, x.acgd
                );
            }
        }
        Some(p) => println!("peer skipped: {}", p.skipped.clone().unwrap_or_default()),
        None => {}
    }
}
