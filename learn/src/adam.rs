//! AdamW and Polyak averaging as single fused passes over each parameter.
//!
//! candle-nn's AdamW runs about a dozen tensor ops per parameter, each one
//! allocating a fresh tensor; for the small MLPs of experts that chain cost
//! as much as the matmuls. Here the moments live in plain vectors and one
//! in-place op per parameter reads the gradient and updates moments and
//! weights together.

use std::sync::Mutex;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor, Var, bail};

use crate::error::Result;
use crate::ops::{contiguous, contiguous_mut};

/// AdamW hyper-parameters (PyTorch's defaults except the learning rate).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 3e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// AdamW over a fixed list of named variables.
#[derive(Debug)]
pub struct Adam {
    cfg: AdamConfig,
    vars: Vec<(String, Var)>,
    moments: Vec<Mutex<(Vec<f32>, Vec<f32>)>>,
    step: u64,
}

struct StepOp<'a> {
    moments: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    lr: f32,
    b1: f32,
    b2: f32,
    eps: f32,
    wd: f32,
    c1: f32,
    c2: f32,
}

impl InplaceOp2 for StepOp<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let p = contiguous_mut(s1, l1, "fused optimizer")?;
        let g = contiguous(s2, l2, "fused optimizer")?;
        let mut guard = match self.moments.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (m, v) = &mut *guard;
        if p.len() != g.len() || m.len() != p.len() || v.len() != p.len() {
            bail!("fused optimizer: length mismatch")
        }
        let decay = 1.0 - self.lr * self.wd;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = self.b1 * *m + (1.0 - self.b1) * g;
            *v = self.b2 * *v + (1.0 - self.b2) * g * g;
            let mh = *m / self.c1;
            let vh = *v / self.c2;
            *p = *p * decay - self.lr * mh / (vh.sqrt() + self.eps);
        }
        Ok(())
    }
}

struct PolyakOp {
    tau: f32,
}

impl InplaceOp2 for PolyakOp {
    fn name(&self) -> &'static str {
        "polyak"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let t = contiguous_mut(s1, l1, "polyak")?;
        let p = contiguous(s2, l2, "polyak")?;
        if t.len() != p.len() {
            bail!("polyak: length mismatch")
        }
        for (t, &p) in t.iter_mut().zip(p) {
            *t += self.tau * (p - *t);
        }
        Ok(())
    }
}

/// `target <- target + tau (source - target)` for each pair, in place.
pub fn polyak(pairs: &[(Var, Var)], tau: f32) -> Result<()> {
    let op = PolyakOp { tau };
    for (target, source) in pairs {
        target.as_tensor().inplace_op2(source.as_tensor(), &op)?;
    }
    Ok(())
}

impl Adam {
    /// An optimizer over `vars` (name, variable), moments at zero.
    pub fn new(vars: Vec<(String, Var)>, cfg: AdamConfig) -> Self {
        let moments = vars
            .iter()
            .map(|(_, v)| Mutex::new((vec![0.0; v.elem_count()], vec![0.0; v.elem_count()])))
            .collect();
        Self {
            cfg,
            vars,
            moments,
            step: 0,
        }
    }

    /// Change the learning rate of the next steps (schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Apply one update from `grads`; variables without a gradient keep
    /// their value.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let c = &self.cfg;
        let t = self.step as i32;
        for ((_, var), moments) in self.vars.iter().zip(&self.moments) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let op = StepOp {
                moments,
                lr: c.lr as f32,
                b1: c.beta1 as f32,
                b2: c.beta2 as f32,
                eps: c.eps as f32,
                wd: c.weight_decay as f32,
                c1: 1.0 - (c.beta1 as f32).powi(t),
                c2: 1.0 - (c.beta2 as f32).powi(t),
            };
            let g = if g.is_contiguous() {
                g.clone()
            } else {
                g.contiguous()?
            };
            var.as_tensor().inplace_op2(&g, &op)?;
        }
        Ok(())
    }

    /// Moments and step count as named tensors, for resumable checkpoints.
    pub fn state(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let dev = candle_core::Device::Cpu;
        let mut out = Vec::with_capacity(2 * self.vars.len() + 1);
        for ((name, var), moments) in self.vars.iter().zip(&self.moments) {
            let guard = match moments.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let shape = var.shape().clone();
            out.push((
                format!("{prefix}.{name}.m"),
                Tensor::from_slice(&guard.0, shape.clone(), &dev)?,
            ));
            out.push((
                format!("{prefix}.{name}.v"),
                Tensor::from_slice(&guard.1, shape, &dev)?,
            ));
        }
        out.push((
            format!("{prefix}.step"),
            Tensor::new(&[self.step as f64], &dev)?,
        ));
        Ok(out)
    }

    /// Restore what [`Adam::state`] saved; `get` looks a tensor up by name.
    pub fn load_state(
        &mut self,
        prefix: &str,
        get: impl Fn(&str) -> Option<Tensor>,
    ) -> std::result::Result<(), String> {
        for ((name, _), moments) in self.vars.iter().zip(&self.moments) {
            let mut guard = match moments.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let (m, v) = &mut *guard;
            for (suffix, buf) in [("m", m), ("v", v)] {
                let key = format!("{prefix}.{name}.{suffix}");
                let t = get(&key).ok_or_else(|| format!("missing tensor `{key}`"))?;
                let values = t
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(|e| format!("tensor `{key}`: {e}"))?;
                if values.len() != buf.len() {
                    return Err(format!(
                        "tensor `{key}` has {} values, expected {}",
                        values.len(),
                        buf.len()
                    ));
                }
                *buf = values;
            }
        }
        let key = format!("{prefix}.step");
        let step = get(&key)
            .and_then(|t| t.to_vec1::<f64>().ok())
            .and_then(|v| v.first().copied())
            .ok_or_else(|| format!("missing tensor `{key}`"))?;
        self.step = step as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};
    use candle_nn::Optimizer;

    use super::{Adam, AdamConfig, polyak};

    /// The fused pass matches candle-nn's AdamW step for step.
    #[test]
    fn matches_candle_adamw() {
        let dev = Device::Cpu;
        let init = Tensor::new(&[[0.5f32, -1.0, 2.0], [0.1, 0.2, -0.3]], &dev).expect("t");
        let a = Var::from_tensor(&init).expect("var");
        let b = Var::from_tensor(&init).expect("var");
        let cfg = AdamConfig {
            lr: 0.01,
            weight_decay: 0.01,
            ..AdamConfig::default()
        };
        let mut ours = Adam::new(vec![("w".into(), a.clone())], cfg);
        let mut theirs = candle_nn::AdamW::new(
            vec![b.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
            },
        )
        .expect("adamw");
        for _ in 0..5 {
            let la = a.as_tensor().sqr().and_then(|t| t.sum_all()).expect("loss");
            ours.step(&la.backward().expect("grad")).expect("step");
            let lb = b.as_tensor().sqr().and_then(|t| t.sum_all()).expect("loss");
            theirs.backward_step(&lb).expect("step");
        }
        let da = a.as_tensor().to_dtype(DType::F32).expect("a");
        let diff = (da - b.as_tensor())
            .and_then(|d| d.abs())
            .and_then(|d| d.max_all())
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff");
        assert!(diff < 1e-6, "fused AdamW differs from candle-nn by {diff}");
    }

    #[test]
    fn polyak_moves_target_by_tau() {
        let dev = Device::Cpu;
        let t = Var::from_tensor(&Tensor::new(&[0.0f32, 10.0], &dev).expect("t")).expect("v");
        let s = Var::from_tensor(&Tensor::new(&[1.0f32, 0.0], &dev).expect("t")).expect("v");
        polyak(&[(t.clone(), s)], 0.25).expect("polyak");
        assert_eq!(t.as_tensor().to_vec1::<f32>().expect("v"), vec![0.25, 7.5]);
    }
}
