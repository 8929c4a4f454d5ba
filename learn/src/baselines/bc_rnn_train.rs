//! Training BC-RNN: pre-train and freeze the image encoder on the
//! demonstrations (as the student does), cache features, then regress the
//! expert's actions over windows of `T` consecutive frames sampled
//! task-balanced from episodes, each window from a zero hidden state.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::Rng;

use crate::adam::{Adam, AdamConfig};
use crate::baselines::bc_rnn::{ActionLoss, BcRnn, BcRnnConfig, BcRnnMeta, BcRnnNets};
use crate::baselines::common::{
    BaselineProgress, FeatureData, Phase, cancelled, frozen_features, normalise_row, step_rng,
};
use crate::baselines::relabel::gaussian;
use crate::error::{LearnError, Result};
use crate::student::corpus::Corpus;
use crate::student::encoder::named_vars;
use crate::train::Control;

/// Salt of the window-sampling streams.
const SALT: u64 = 0xb0c7_4e11;

/// Train BC-RNN on `tasks` of the dataset at `dataset` and save it in
/// `out` (`bcrnn.safetensors` + `bcrnn.json`).
pub fn train_bc_rnn(
    dataset: &Path,
    tasks: &[String],
    cfg: &BcRnnConfig,
    out: &Path,
    control: &Control,
    mut progress: impl FnMut(&BaselineProgress),
) -> Result<BcRnn> {
    cfg.validate()?;
    let started = Instant::now();
    let c = Corpus::load(dataset, tasks, cfg.episodes_per_task)?;
    let nets = BcRnnNets::new(cfg, c.dims)?;
    let data = FeatureData {
        images: &c.images,
        size: c.dims.image,
        states: (0..c.len())
            .map(|i| (c.slot[i] as usize, c.state(i)))
            .collect(),
        state_dims: c.state_dims.clone(),
    };
    let features = frozen_features(
        &nets.encoder,
        &nets.map,
        &cfg.encoder,
        &data,
        cfg.seed,
        control,
        &mut progress,
    )?;
    let (mean, std) = c.proprio_stats();
    let p = c.dims.proprio;
    let proprio: Vec<f32> = c
        .proprio
        .chunks_exact(p.max(1))
        .flat_map(|r| normalise_row(r, &mean, &std))
        .collect();

    let vars = named_vars(&nets.map, "")
        .into_iter()
        .filter(|(n, _)| !n.starts_with("enc."))
        .collect();
    let mut opt = Adam::new(
        vars,
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    );
    let slots: Vec<usize> = (0..c.tasks.len())
        .filter(|&s| !c.frames_of[s].is_empty())
        .collect();
    let (f, a, t) = (cfg.encoder.features, c.dims.action, cfg.seq_len);
    let width = 2 * f + p;
    let t0 = Instant::now();
    let mut last = f32::NAN;
    for step in 0..cfg.steps {
        if control.wait_or_cancelled() {
            return Err(cancelled(&format!("BC-RNN training (step {step})")));
        }
        let mut rng = step_rng(cfg.seed, SALT, step);
        let mut seen = Vec::with_capacity(cfg.batch * t * width);
        let mut target = Vec::with_capacity(cfg.batch * t * a);
        let mut task = Vec::with_capacity(cfg.batch);
        for _ in 0..cfg.batch {
            let s = slots[rng.random_range(0..slots.len())];
            let i = c.frames_of[s][rng.random_range(0..c.frames_of[s].len())] as usize;
            let ep = &c.episodes[c.episode[i] as usize];
            let g = c.goal_frame(i);
            // Past the episode's end the last frame repeats (robomimic pads so).
            for j in (i..i + t).map(|j| j.min(ep.end - 1)) {
                let at = seen.len();
                seen.extend_from_slice(&features[j * f..(j + 1) * f]);
                seen.extend_from_slice(&features[g * f..(g + 1) * f]);
                seen.extend_from_slice(&proprio[j * p..(j + 1) * p]);
                if cfg.input_noise > 0.0 {
                    let (cur, rest) = seen[at..].split_at_mut(f);
                    for v in cur.iter_mut().chain(rest[f..].iter_mut()) {
                        *v += cfg.input_noise * gaussian(&mut rng);
                    }
                }
                target.extend_from_slice(&c.actions[j * a..(j + 1) * a]);
            }
            task.push(s as u32);
        }
        let dev = &Device::Cpu;
        let seen = Tensor::from_vec(seen, (cfg.batch, t, width), dev)?;
        let target = Tensor::from_vec(target, (cfg.batch, t, a), dev)?;
        let task = nets.task(&Tensor::from_vec(task, cfg.batch, dev)?)?;
        let diff = (nets.forward(&seen, &task)? - target)?;
        let loss = match cfg.loss {
            ActionLoss::Mse => diff.sqr()?.mean_all()?,
            ActionLoss::L1 => diff.abs()?.mean_all()?,
        };
        last = loss.to_scalar::<f32>()?;
        if !last.is_finite() {
            return Err(LearnError::Diverged {
                step: step as u64,
                what: format!("BC-RNN loss is {last}"),
                last_good: None,
            });
        }
        opt.step(&loss.backward()?)?;
        progress(&BaselineProgress {
            phase: Phase::Policy,
            stage: 0,
            step: step + 1,
            total: cfg.steps,
            loss: last,
            samples_per_s: ((step + 1) * cfg.batch * t) as f64
                / t0.elapsed().as_secs_f64().max(1e-9),
        });
    }
    let wall_s = started.elapsed().as_secs_f64();
    let model = BcRnn {
        meta: BcRnnMeta {
            format: String::new(),
            config: cfg.clone(),
            dims: c.dims,
            tasks: c.tasks.clone(),
            episodes_per_task: c.episodes_per_task.clone(),
            dataset: dataset.display().to_string(),
            final_loss: last,
            samples_per_s: (cfg.steps * cfg.batch * t) as f64
                / t0.elapsed().as_secs_f64().max(1e-9),
            wall_s,
            weights: String::new(),
            weights_fnv1a: String::new(),
        },
        nets,
        proprio_mean: mean,
        proprio_std: std,
    };
    model.save(out)?;
    progress(&BaselineProgress {
        phase: Phase::Done,
        stage: 0,
        step: cfg.steps,
        total: cfg.steps,
        loss: last,
        samples_per_s: model.meta.samples_per_s,
    });
    Ok(model)
}
