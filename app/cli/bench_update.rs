//! `dexstudio bench update`: one expert update step in candle, timed
//! against PyTorch (bench/torch_update.py) on the same network and batch.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use dexlearn::adam::{Adam, AdamConfig};
use dexlearn::mlp::Activation;
use dexlearn::replay::Batch;
use dexlearn::td3::{Td3, Td3Config};
use dexlearn::{Mlp, MlpConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::output::emit;

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// State width (reach-hard's privileged state is 87 wide).
    #[arg(long, default_value_t = 87)]
    state: usize,
    /// Action width.
    #[arg(long, default_value_t = 22)]
    action: usize,
    /// Hidden width (two hidden layers).
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Timed iterations per measurement (after 20 warm-up ones).
    #[arg(long, default_value_t = 200)]
    iters: usize,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Also time PyTorch CPU on the same work (skips if torch is missing).
    #[arg(long)]
    peer: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Milliseconds per step of each workload, at one thread count.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct UpdateTimes {
    /// Threads.
    pub threads: usize,
    /// One AdamW step of a single 3-layer MLP critic on an MSE loss.
    pub critic_ms: f64,
    /// One TD3 update (twin critics, and the actor and targets every
    /// second call), averaged over pairs of calls.
    pub td3_ms: f64,
}

#[derive(Serialize, Deserialize, Default)]
struct PeerOut {
    #[serde(default)]
    engine: String,
    #[serde(default)]
    rows: Vec<UpdateTimes>,
    #[serde(default)]
    skipped: Option<String>,
}

#[derive(Serialize)]
struct Report {
    state: usize,
    action: usize,
    hidden: usize,
    batch: usize,
    candle: Vec<UpdateTimes>,
    peer: Option<PeerOut>,
    /// candle time / PyTorch time per workload and thread count.
    ratios: Vec<(usize, f64, f64)>,
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

fn measure(a: &UpdateArgs) -> anyhow::Result<UpdateTimes> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let dev = Device::Cpu;
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
    let cfg = MlpConfig {
        input: a.state + a.action,
        hidden: vec![a.hidden, a.hidden],
        output: 1,
        activation: Activation::Relu,
    };
    let mlp = Mlp::new(&cfg, vb.pp("q"))?;
    dexlearn::init::seeded_init(&map, 1)?;
    let vars = {
        let data = map.data().lock().map(|m| m.clone()).unwrap_or_default();
        let mut v: Vec<_> = data.into_iter().collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    let mut opt = Adam::new(vars, AdamConfig::default());
    let x = Tensor::from_vec(
        random(&mut rng, a.batch * cfg.input),
        (a.batch, cfg.input),
        &dev,
    )?;
    let y = Tensor::from_vec(random(&mut rng, a.batch), (a.batch, 1), &dev)?;
    let critic_ms = time_ms(a.iters, || {
        let loss = (mlp.forward(&x)? - &y)?.sqr()?.mean_all()?;
        opt.step(&loss.backward()?)?;
        Ok(())
    })?;
    let td3cfg = Td3Config {
        hidden: vec![a.hidden, a.hidden],
        batch: a.batch,
        ..Td3Config::default()
    };
    let mut agent = Td3::new(a.state, a.action, td3cfg, 1)?;
    let b = Batch {
        state: random(&mut rng, a.batch * a.state),
        action: random(&mut rng, a.batch * a.action),
        reward: random(&mut rng, a.batch),
        next_state: random(&mut rng, a.batch * a.state),
        discount: vec![0.9; a.batch],
    };
    let td3_ms = time_ms(a.iters, || {
        agent.update(&b)?;
        Ok(())
    })?;
    Ok(UpdateTimes {
        threads: rayon::current_num_threads(),
        critic_ms,
        td3_ms,
    })
}

fn run_peer(a: &UpdateArgs) -> PeerOut {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/torch_update.py");
    let threads: Vec<String> = a.threads.iter().map(ToString::to_string).collect();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([
            "--state",
            &a.state.to_string(),
            "--action",
            &a.action.to_string(),
        ])
        .args([
            "--hidden",
            &a.hidden.to_string(),
            "--batch",
            &a.batch.to_string(),
        ])
        .args([
            "--iters",
            &a.iters.to_string(),
            "--threads",
            &threads.join(","),
        ])
        .output();
    super::bench::peer_json(out).unwrap_or_else(|why| PeerOut {
        skipped: Some(why),
        ..PeerOut::default()
    })
}

pub fn run(a: UpdateArgs) -> anyhow::Result<()> {
    let mut candle = Vec::new();
    for &n in &a.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()?;
        candle.push(pool.install(|| measure(&a))?);
    }
    let peer = a.peer.then(|| run_peer(&a));
    let ratios = peer
        .iter()
        .flat_map(|p| p.rows.iter())
        .filter_map(|p| {
            let c = candle.iter().find(|c| c.threads == p.threads)?;
            Some((p.threads, c.critic_ms / p.critic_ms, c.td3_ms / p.td3_ms))
        })
        .collect();
    let report = Report {
        state: a.state,
        action: a.action,
        hidden: a.hidden,
        batch: a.batch,
        candle,
        peer,
        ratios,
    };
    emit(a.json, &report, |r| {
        println!(
            "update step, state {} action {} hidden {}x2 batch {} (ms per step)",
            r.state, r.action, r.hidden, r.batch
        );
        println!(
            "{:<22} {:>8} {:>12} {:>12}",
            "engine", "threads", "critic", "TD3"
        );
        for c in &r.candle {
            println!(
                "{:<22} {:>8} {:>12.3} {:>12.3}",
                "candle (dexlearn)", c.threads, c.critic_ms, c.td3_ms
            );
        }
        match &r.peer {
            Some(p) if p.skipped.is_none() => {
                for t in &p.rows {
                    println!(
                        "{:<22} {:>8} {:>12.3} {:>12.3}",
                        p.engine, t.threads, t.critic_ms, t.td3_ms
                    );
                }
                for (n, c, t) in &r.ratios {
                    println!("ratio candle/peer at {n} thread(s): critic {c:.2}x, TD3 {t:.2}x");
                }
            }
            Some(p) => println!("peer skipped: {}", p.skipped.clone().unwrap_or_default()),
            None => {}
        }
    })
}
