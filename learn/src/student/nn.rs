//! Transformer blocks for the student: dense layers on token tensors,
//! multi-head attention, pre-norm encoder and decoder layers.
//!
//! Written on plain candle ops (no candle-transformers) so the models stay
//! small, CPU-friendly and fully seeded by [`crate::init::seeded_init`].

use candle_core::{D, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

use crate::error::Result;

/// A linear layer applied to the last axis of a tensor of any rank, as one
/// 2-D matmul and a contiguous bias add.
#[derive(Clone, Debug)]
pub struct Dense(Linear);

impl Dense {
    /// `inp -> out` under `vb`.
    pub fn new(inp: usize, out: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self(linear(inp, out, vb)?))
    }

    /// Apply to `[.., inp]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let inp = *dims.last().unwrap_or(&1);
        let rows = x.elem_count() / inp.max(1);
        let x2 = x.reshape((rows, inp))?;
        let mut y = x2.matmul(&self.0.weight().t()?)?;
        if let Some(b) = self.0.bias() {
            y = crate::ops::bias_add(&y, b)?;
        }
        let mut out = dims;
        if let Some(last) = out.last_mut() {
            *last = y.dim(1)?;
        }
        Ok(y.reshape(out)?)
    }
}

/// Layer norm over the last axis (weight 1 and bias 0 at start, see
/// [`crate::init`]), through the differentiable fused op.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    w: Tensor,
    b: Tensor,
}

impl LayerNorm {
    /// Width `d` under `vb` (`weight`, `bias`).
    pub fn new(d: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            w: vb.get(d, "weight")?,
            b: vb.get(d, "bias")?,
        })
    }

    /// Normalise `[.., d]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(crate::ops_norm::layer_norm(x, &self.w, &self.b, 1e-5)?)
    }
}

/// Multi-head scaled dot-product attention.
#[derive(Clone, Debug)]
pub struct Attention {
    q: Dense,
    k: Dense,
    v: Dense,
    o: Dense,
    heads: usize,
}

impl Attention {
    /// `heads` heads over width `d` (which `heads` must divide).
    pub fn new(d: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q: Dense::new(d, d, vb.pp("q"))?,
            k: Dense::new(d, d, vb.pp("k"))?,
            v: Dense::new(d, d, vb.pp("v"))?,
            o: Dense::new(d, d, vb.pp("o"))?,
            heads,
        })
    }

    /// Queries `x: [B, T, d]` attend to `mem: [B, S, d]`.
    pub fn forward(&self, x: &Tensor, mem: &Tensor) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let s = mem.dim(1)?;
        let h = self.heads;
        let dh = d / h;
        let split = |y: Tensor, n: usize| -> Result<Tensor> {
            Ok(y.reshape((b, n, h, dh))?.transpose(1, 2)?.contiguous()?)
        };
        let q = split(self.q.forward(x)?, t)?;
        let k = split(self.k.forward(mem)?, s)?;
        let v = split(self.v.forward(mem)?, s)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (dh as f64).sqrt())?;
        let w = crate::ops_norm::softmax_last(&scores)?;
        let y = w
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, d))?;
        self.o.forward(&y)
    }
}

/// Two dense layers with a ReLU, widening by 2.
#[derive(Clone, Debug)]
struct FeedForward(Dense, Dense);

impl FeedForward {
    fn new(d: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self(
            Dense::new(d, 2 * d, vb.pp("f0"))?,
            Dense::new(2 * d, d, vb.pp("f1"))?,
        ))
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.1.forward(&self.0.forward(x)?.relu()?)
    }
}

/// A pre-norm transformer encoder layer (BERT-style, bidirectional).
#[derive(Clone, Debug)]
pub struct EncoderLayer {
    ln1: LayerNorm,
    att: Attention,
    ln2: LayerNorm,
    ff: FeedForward,
}

impl EncoderLayer {
    /// Width `d`, `heads` heads.
    pub fn new(d: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            ln1: LayerNorm::new(d, vb.pp("ln1"))?,
            att: Attention::new(d, heads, vb.pp("att"))?,
            ln2: LayerNorm::new(d, vb.pp("ln2"))?,
            ff: FeedForward::new(d, vb.pp("ff"))?,
        })
    }

    /// `[B, T, d] -> [B, T, d]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = self.ln1.forward(x)?;
        let x = (x + self.att.forward(&n, &n)?)?;
        let n = self.ln2.forward(&x)?;
        Ok((&x + self.ff.forward(&n)?)?)
    }
}

/// A pre-norm decoder layer: self-attention over the queries, then
/// cross-attention to a memory, then a feed-forward block.
#[derive(Clone, Debug)]
pub struct DecoderLayer {
    ln1: LayerNorm,
    selfatt: Attention,
    ln2: LayerNorm,
    cross: Attention,
    ln3: LayerNorm,
    ff: FeedForward,
}

impl DecoderLayer {
    /// Width `d`, `heads` heads.
    pub fn new(d: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            ln1: LayerNorm::new(d, vb.pp("ln1"))?,
            selfatt: Attention::new(d, heads, vb.pp("self"))?,
            ln2: LayerNorm::new(d, vb.pp("ln2"))?,
            cross: Attention::new(d, heads, vb.pp("cross"))?,
            ln3: LayerNorm::new(d, vb.pp("ln3"))?,
            ff: FeedForward::new(d, vb.pp("ff"))?,
        })
    }

    /// Queries `[B, k, d]` over memory `[B, S, d]`.
    pub fn forward(&self, x: &Tensor, mem: &Tensor) -> Result<Tensor> {
        let n = self.ln1.forward(x)?;
        let x = (x + self.selfatt.forward(&n, &n)?)?;
        let n = self.ln2.forward(&x)?;
        let x = (&x + self.cross.forward(&n, mem)?)?;
        let n = self.ln3.forward(&x)?;
        Ok((&x + self.ff.forward(&n)?)?)
    }
}

/// Stack `tokens` (each `[B, d]`) into `[B, n, d]` and add the learned
/// position embedding `pos: [n', d]` (first `n` rows).
pub fn stack_tokens(tokens: &[Tensor], pos: &Tensor) -> Result<Tensor> {
    let x = Tensor::stack(tokens, 1)?;
    let n = tokens.len();
    Ok(x.broadcast_add(&pos.narrow(0, 0, n)?)?)
}

/// Mean of `|a - b|` summed over the last axis, averaged over the rest.
pub fn l1_rows(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((a - b)?.abs()?.sum(D::Minus1)?.mean_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn attention_keeps_shapes_and_mixes_tokens() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let layer = DecoderLayer::new(8, 2, vb.pp("d")).unwrap();
        crate::init::seeded_init(&map, 3).unwrap();
        let q = Tensor::zeros((2, 3, 8), DType::F32, &Device::Cpu).unwrap();
        let mem_a = Tensor::ones((2, 4, 8), DType::F32, &Device::Cpu).unwrap();
        let mem_b = (mem_a.clone() * 2.0).unwrap();
        let ya = layer.forward(&q, &mem_a).unwrap();
        let yb = layer.forward(&q, &mem_b).unwrap();
        assert_eq!(ya.dims(), &[2, 3, 8]);
        let diff: f32 = (ya - yb)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff > 1e-4, "the memory must change the output");
    }
}
