//! A gated recurrent unit on plain candle ops (every op here has a
//! backward pass, unlike candle-nn's fused sigmoid), PyTorch's gate layout.

use candle_core::{D, Tensor};
use candle_nn::VarBuilder;

use crate::error::Result;
use crate::student::nn::Dense;

/// `h' = (1 - z) ⊙ n + z ⊙ h` with reset gate `r`, update gate `z` and
/// candidate `n = tanh(W_in x + r ⊙ (W_hn h + b_hn))`.
#[derive(Clone, Debug)]
pub struct Gru {
    input: Dense,
    hidden: Dense,
    width: usize,
}

/// `σ(x) = (tanh(x/2) + 1) / 2`: differentiable and never overflows.
fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok((((x * 0.5)?.tanh()? + 1.0)? * 0.5)?)
}

impl Gru {
    /// `inp -> width` under `vb` (`wi`, `wh`: gates `r, z, n` stacked).
    pub fn new(inp: usize, width: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            input: Dense::new(inp, 3 * width, vb.pp("wi"))?,
            hidden: Dense::new(width, 3 * width, vb.pp("wh"))?,
            width,
        })
    }

    /// Hidden width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// One step from the input projection `xi = W_i x + b_i` (`[B, 3H]`).
    fn cell(&self, xi: &Tensor, h: &Tensor) -> Result<Tensor> {
        let w = self.width;
        let hh = self.hidden.forward(h)?;
        let r = sigmoid(&(xi.narrow(D::Minus1, 0, w)? + hh.narrow(D::Minus1, 0, w)?)?)?;
        let z = sigmoid(&(xi.narrow(D::Minus1, w, w)? + hh.narrow(D::Minus1, w, w)?)?)?;
        let n =
            (xi.narrow(D::Minus1, 2 * w, w)? + (r * hh.narrow(D::Minus1, 2 * w, w)?)?)?.tanh()?;
        // (1 - z) n + z h = n + z (h - n)
        Ok((&n + (z * (h - &n)?)?)?)
    }

    /// One step: `x: [B, I]`, `h: [B, H]` to the next `h`.
    pub fn step(&self, x: &Tensor, h: &Tensor) -> Result<Tensor> {
        self.cell(&self.input.forward(x)?, h)
    }

    /// Unroll over `x: [B, T, I]` from `h: [B, H]`: every step's hidden
    /// state `[B, T, H]` and the last one.
    pub fn forward(&self, x: &Tensor, h: &Tensor) -> Result<(Tensor, Tensor)> {
        let t = x.dim(1)?;
        // The input projection of every step at once: one big matmul.
        let xi = self.input.forward(x)?;
        let mut h = h.clone();
        let mut outs = Vec::with_capacity(t);
        for i in 0..t {
            h = self.cell(&xi.narrow(1, i, 1)?.squeeze(1)?, &h)?;
            outs.push(h.clone());
        }
        Ok((Tensor::stack(&outs, 1)?, h))
    }
}
