//! TD3: a deterministic actor and twin Q critics with target networks,
//! clipped double-Q targets, target-policy smoothing and delayed actor
//! updates. The critics are action-value functions `Q(s, a)`,
//! differentiable in `a`, which is what critic-guided distillation needs.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::adam::{Adam, AdamConfig, polyak};
use crate::error::Result;
use crate::mlp::{Activation, Mlp, MlpConfig};
use crate::replay::Batch;
use crate::rng::normal;

/// Hyper-parameters of the TD3 update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Td3Config {
    /// Hidden widths of actor and critics.
    pub hidden: Vec<usize>,
    /// Discount.
    pub gamma: f32,
    /// Polyak rate of the target networks.
    pub tau: f32,
    /// Minibatch size.
    pub batch: usize,
    /// Actor learning rate.
    pub actor_lr: f64,
    /// Critic learning rate.
    pub critic_lr: f64,
    /// Std of the target-policy smoothing noise.
    pub policy_noise: f32,
    /// Clip of that noise.
    pub noise_clip: f32,
    /// Critic updates per actor (and target) update.
    pub policy_delay: u64,
    /// Steps folded into each bootstrapped target.
    pub n_step: usize,
}

impl Default for Td3Config {
    fn default() -> Self {
        Self {
            hidden: vec![128, 128],
            gamma: 0.98,
            tau: 0.005,
            batch: 256,
            actor_lr: 3e-4,
            critic_lr: 3e-4,
            policy_noise: 0.2,
            noise_clip: 0.5,
            policy_delay: 2,
            n_step: 3,
        }
    }
}

/// Actor and twin critics under one name prefix.
#[derive(Clone, Debug)]
pub struct Nets {
    /// `s -> a` (tanh-squashed).
    pub actor: Mlp,
    /// First critic `(s, a) -> Q`.
    pub q1: Mlp,
    /// Second critic.
    pub q2: Mlp,
}

impl Nets {
    /// Build actor and critics under `vb` (`actor.*`, `q1.*`, `q2.*`).
    pub fn new(sdim: usize, adim: usize, hidden: &[usize], vb: &VarBuilder) -> Result<Self> {
        let actor = MlpConfig {
            input: sdim,
            hidden: hidden.to_vec(),
            output: adim,
            activation: Activation::Relu,
        };
        let critic = MlpConfig {
            input: sdim + adim,
            hidden: hidden.to_vec(),
            output: 1,
            activation: Activation::Relu,
        };
        Ok(Self {
            actor: Mlp::new(&actor, vb.pp("actor"))?,
            q1: Mlp::new(&critic, vb.pp("q1"))?,
            q2: Mlp::new(&critic, vb.pp("q2"))?,
        })
    }

    /// Actions for normalised states `[B, S]`.
    pub fn act(&self, s: &Tensor) -> Result<Tensor> {
        Ok(self.actor.forward(s)?.tanh()?)
    }

    /// Actions with the actor's weights detached (no weight gradients).
    pub fn act_frozen(&self, s: &Tensor) -> Result<Tensor> {
        Ok(self.actor.forward_frozen(s)?.tanh()?)
    }

    /// Both critics at `(s, a)`, each `[B]`.
    pub fn q(&self, s: &Tensor, a: &Tensor) -> Result<(Tensor, Tensor)> {
        let sa = Tensor::cat(&[s, a], D::Minus1)?;
        Ok((
            self.q1.forward(&sa)?.squeeze(D::Minus1)?,
            self.q2.forward(&sa)?.squeeze(D::Minus1)?,
        ))
    }

    /// `min(Q1, Q2)`: the pessimistic value used for targets and reports.
    pub fn q_min(&self, s: &Tensor, a: &Tensor) -> Result<Tensor> {
        let (q1, q2) = self.q(s, a)?;
        Ok(q1.minimum(&q2)?)
    }

    /// `min(Q1, Q2)` with the critics' weights detached: differentiable in
    /// `a` (and `s`) only, as a frozen critic must be.
    pub fn q_min_frozen(&self, s: &Tensor, a: &Tensor) -> Result<Tensor> {
        let sa = Tensor::cat(&[s, a], D::Minus1)?;
        let q1 = self.q1.forward_frozen(&sa)?.squeeze(D::Minus1)?;
        let q2 = self.q2.forward_frozen(&sa)?.squeeze(D::Minus1)?;
        Ok(q1.minimum(&q2)?)
    }
}

/// Losses of one update.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Losses {
    /// Sum of the two critics' mean squared TD errors.
    pub critic: f32,
    /// `-mean Q1(s, pi(s))`, when the actor was updated.
    pub actor: Option<f32>,
    /// Mean of `Q1(s, a)` over the batch.
    pub q_mean: f32,
}

/// A TD3 learner: online and target networks with their optimizers.
pub struct Td3 {
    /// Hyper-parameters.
    pub cfg: Td3Config,
    sdim: usize,
    adim: usize,
    /// Every variable: `actor.*`, `q1.*`, `q2.*` and `target.*`.
    pub map: VarMap,
    /// Online networks.
    pub online: Nets,
    target: Nets,
    actor_opt: Adam,
    critic_opt: Adam,
    pairs: Vec<(Var, Var)>,
    updates: u64,
    rng: ChaCha8Rng,
}

fn vars_with(map: &VarMap, prefixes: &[&str]) -> Vec<(String, Var)> {
    let data = map.data().lock().map(|m| m.clone()).unwrap_or_default();
    let mut v: Vec<(String, Var)> = data
        .into_iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

impl Td3 {
    /// A learner with weights drawn from `seed`; targets start equal to
    /// the online networks.
    pub fn new(sdim: usize, adim: usize, cfg: Td3Config, seed: u64) -> Result<Self> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let online = Nets::new(sdim, adim, &cfg.hidden, &vb)?;
        let target = Nets::new(sdim, adim, &cfg.hidden, &vb.pp("target"))?;
        crate::init::seeded_init(&map, seed)?;
        let all = vars_with(&map, &["actor.", "q1.", "q2."]);
        let pairs: Vec<(Var, Var)> = {
            let data = map.data().lock().map(|m| m.clone()).unwrap_or_default();
            all.iter()
                .filter_map(|(k, v)| {
                    data.get(&format!("target.{k}"))
                        .map(|t| (t.clone(), v.clone()))
                })
                .collect()
        };
        polyak(&pairs, 1.0)?;
        let actor_opt = Adam::new(
            vars_with(&map, &["actor."]),
            AdamConfig {
                lr: cfg.actor_lr,
                ..AdamConfig::default()
            },
        );
        let critic_opt = Adam::new(
            vars_with(&map, &["q1.", "q2."]),
            AdamConfig {
                lr: cfg.critic_lr,
                ..AdamConfig::default()
            },
        );
        Ok(Self {
            cfg,
            sdim,
            adim,
            map,
            online,
            target,
            actor_opt,
            critic_opt,
            pairs,
            updates: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7d3),
        })
    }

    /// Updates taken.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Deterministic actions for normalised states (row-major `[n, S]`).
    pub fn act(&self, states: &[f32]) -> Result<Vec<f32>> {
        let n = states.len() / self.sdim.max(1);
        let s = Tensor::from_slice(states, (n, self.sdim), &Device::Cpu)?;
        Ok(self.online.act(&s)?.flatten_all()?.to_vec1()?)
    }

    /// One critic update, and every `policy_delay`-th call an actor and
    /// target update. States in `b` must already be normalised.
    pub fn update(&mut self, b: &Batch) -> Result<Losses> {
        let dev = Device::Cpu;
        let n = b.reward.len();
        let s = Tensor::from_slice(&b.state, (n, self.sdim), &dev)?;
        let a = Tensor::from_slice(&b.action, (n, self.adim), &dev)?;
        let s2 = Tensor::from_slice(&b.next_state, (n, self.sdim), &dev)?;
        let r = Tensor::from_slice(&b.reward, n, &dev)?;
        let disc = Tensor::from_slice(&b.discount, n, &dev)?;
        let c = self.cfg.noise_clip;
        let noise: Vec<f32> = (0..n * self.adim)
            .map(|_| (normal(&mut self.rng) * self.cfg.policy_noise).clamp(-c, c))
            .collect();
        let noise = Tensor::from_vec(noise, (n, self.adim), &dev)?;
        let a2 = (self.target.act_frozen(&s2)? + noise)?.clamp(-1f32, 1f32)?;
        let y = (r + (disc * self.target.q_min_frozen(&s2, &a2)?)?)?.detach();
        let (q1, q2) = self.online.q(&s, &a)?;
        let critic = ((&q1 - &y)?.sqr()?.mean_all()? + (&q2 - &y)?.sqr()?.mean_all()?)?;
        let grads = critic.backward()?;
        self.critic_opt.step(&grads)?;
        self.updates += 1;
        let mut out = Losses {
            critic: critic.to_scalar()?,
            actor: None,
            q_mean: q1.mean_all()?.to_scalar()?,
        };
        if self.updates.is_multiple_of(self.cfg.policy_delay.max(1)) {
            let pi = self.online.act(&s)?;
            let sa = Tensor::cat(&[&s, &pi], D::Minus1)?;
            let actor = self.online.q1.forward_frozen(&sa)?.mean_all()?.neg()?;
            let grads = actor.backward()?;
            self.actor_opt.step(&grads)?;
            polyak(&self.pairs, self.cfg.tau)?;
            out.actor = Some(actor.to_scalar()?);
        }
        Ok(out)
    }

    /// Every variable and optimizer moment, for a resumable checkpoint.
    pub fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out: Vec<(String, Tensor)> = vars_with(&self.map, &[""])
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().clone()))
            .collect();
        out.extend(self.actor_opt.state("opt.actor")?);
        out.extend(self.critic_opt.state("opt.critic")?);
        out.push((
            "opt.updates".into(),
            Tensor::new(&[self.updates as f64], &Device::Cpu)?,
        ));
        Ok(out)
    }

    /// Restore [`Td3::state_tensors`]; `get` looks a tensor up by name.
    pub fn load_state(
        &mut self,
        get: impl Fn(&str) -> Option<Tensor>,
    ) -> std::result::Result<(), String> {
        for (name, var) in vars_with(&self.map, &[""]) {
            let t = get(&name).ok_or_else(|| format!("missing tensor `{name}`"))?;
            if t.dims() != var.dims() {
                return Err(format!(
                    "tensor `{name}` has shape {:?}, the network needs {:?}",
                    t.dims(),
                    var.dims()
                ));
            }
            var.set(&t).map_err(|e| format!("tensor `{name}`: {e}"))?;
        }
        self.actor_opt.load_state("opt.actor", &get)?;
        self.critic_opt.load_state("opt.critic", &get)?;
        self.updates = get("opt.updates")
            .and_then(|t| t.to_vec1::<f64>().ok())
            .and_then(|v| v.first().copied())
            .ok_or("missing tensor `opt.updates`")? as u64;
        Ok(())
    }
}
