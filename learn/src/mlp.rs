//! A multi-layer perceptron: the trunk of actors, critics and heads.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

use crate::error::{LearnError, Result};

/// Shape of an MLP; serialised beside checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input width.
    pub input: usize,
    /// Hidden layer widths.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Output width.
    pub output: usize,
    /// Nonlinearity between layers.
    #[serde(default)]
    pub activation: Activation,
}

/// Nonlinearity between the layers of an [`Mlp`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(x, 0)`: the default; one compare per element, where ELU's
    /// exponential was 15% of an expert update on the CPU.
    #[default]
    Relu,
    /// `x` if positive, else `exp(x) - 1`.
    Elu,
}

fn default_hidden() -> Vec<usize> {
    vec![256, 256]
}

/// Linear layers with a nonlinearity between them (none after the last).
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// Build under `vb`, naming layers `l0`, `l1`, ... so checkpoints mirror
    /// the struct tree.
    pub fn new(cfg: &MlpConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.input == 0 || cfg.output == 0 || cfg.hidden.contains(&0) {
            return Err(LearnError::Config {
                field: "hidden",
                message: format!("layer widths must be positive, got {cfg:?}"),
            });
        }
        let widths: Vec<usize> = std::iter::once(cfg.input)
            .chain(cfg.hidden.iter().copied())
            .chain(std::iter::once(cfg.output))
            .collect();
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], vb.pp(format!("l{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            activation: cfg.activation,
        })
    }

    /// Apply the network to a `[batch, input]` tensor.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, false)
    }

    /// Like [`Mlp::forward`] with the weights detached: gradients still
    /// flow to `x`, but none are computed for the weights. Frozen critics
    /// (the actor's loss, target networks, critic-guided distillation)
    /// skip a third of their backward matmuls this way.
    pub fn forward_frozen(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true)
    }

    fn run(&self, x: &Tensor, frozen: bool) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.layers.len().saturating_sub(1);
        for (i, l) in self.layers.iter().enumerate() {
            let (w, b) = if frozen {
                (l.weight().detach(), l.bias().map(Tensor::detach))
            } else {
                (l.weight().clone(), l.bias().cloned())
            };
            h = match b {
                Some(b) if h.rank() == 2 => crate::ops::bias_add(&h.matmul(&w.t()?)?, &b)?,
                _ => Linear::new(w, b).forward(&h)?,
            };
            if i < last {
                h = match self.activation {
                    Activation::Relu => h.relu()?,
                    Activation::Elu => h.elu(1.0)?,
                };
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};

    use super::{Mlp, MlpConfig};

    #[test]
    fn forward_shape_and_zero_width_error() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let cfg = MlpConfig {
            input: 5,
            hidden: vec![8, 8],
            output: 3,
            activation: super::Activation::Elu,
        };
        let mlp = Mlp::new(&cfg, vb.pp("actor")).expect("build");
        let x = Tensor::ones((4, 5), DType::F32, &Device::Cpu).expect("x");
        let y = mlp.forward(&x).expect("forward");
        assert_eq!(y.dims(), &[4, 3]);
        assert!(
            map.data()
                .lock()
                .expect("lock")
                .contains_key("actor.l2.weight")
        );
        let bad = MlpConfig {
            input: 5,
            hidden: vec![0],
            output: 3,
            activation: super::Activation::Relu,
        };
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let err = Mlp::new(&bad, vb).expect_err("zero width rejected");
        assert!(err.to_string().contains("hidden"), "{err}");
    }
}
