//! Transformer blocks for the student: dense layers on token tensors,
//! multi-head attention, pre-norm encoder and decoder layers.
//!
//! Written on plain candle ops (no candle-transformers) so the models stay
//! small, CPU-friendly and fully seeded by [`crate::init::seeded_init`].

use candle_core::{CpuStorage, CustomOp3, D, Layout, Shape, Storage, Tensor, bail};
use candle_nn::{Linear, VarBuilder, linear};

use crate::error::Result;
use crate::ops::contiguous;

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
        let q = self.q.forward(x)?;
        let k = self.k.forward(mem)?;
        let v = self.v.forward(mem)?;
        let y = q.apply_op3(&k, &v, Sdpa { heads: self.heads })?;
        self.o.forward(&y)
    }
}

/// Scaled dot-product attention of `q: [B, T, d]` over `k, v: [B, S, d]`,
/// heads interleaved along `d`, forward and backward each in one pass.
///
/// The composite version (head transposes, copies, two batched matmuls,
/// a scale and a softmax) cost a dozen allocating ops each way for the
/// student's 3–8 tokens; here nothing is transposed or copied.
struct Sdpa {
    heads: usize,
}

/// Token counts and widths of one attention call.
#[derive(Clone, Copy)]
struct SdpaDims {
    b: usize,
    t: usize,
    s: usize,
    d: usize,
    dh: usize,
    scale: f32,
}

impl SdpaDims {
    fn new(q: &Layout, k: &Layout, v: &Layout, heads: usize) -> candle_core::Result<Self> {
        let (b, t, d) = q.shape().dims3()?;
        let (bk, s, dk) = k.shape().dims3()?;
        if (bk, dk) != (b, d) || v.shape().dims() != k.shape().dims() || heads == 0 {
            bail!(
                "attention: q {:?}, k {:?}, v {:?}, {heads} heads",
                q.shape(),
                k.shape(),
                v.shape()
            )
        }
        let dh = d / heads;
        Ok(Self {
            b,
            t,
            s,
            d,
            dh,
            scale: 1.0 / (dh as f32).sqrt(),
        })
    }

    /// Softmax weights of query row `(bi, ti)` in head `h`, into `p[..s]`.
    fn weights(&self, q: &[f32], k: &[f32], bi: usize, ti: usize, h: usize, p: &mut [f32]) {
        let (d, dh) = (self.d, self.dh);
        let qr = &q[(bi * self.t + ti) * d + h * dh..][..dh];
        let mut m = f32::NEG_INFINITY;
        for (si, pi) in p.iter_mut().enumerate() {
            let kr = &k[(bi * self.s + si) * d + h * dh..][..dh];
            *pi = dot(qr, kr) * self.scale;
            m = m.max(*pi);
        }
        let mut sum = 0.0;
        for pi in p.iter_mut() {
            *pi = (*pi - m).exp();
            sum += *pi;
        }
        p.iter_mut().for_each(|pi| *pi /= sum);
    }
}

impl CustomOp3 for Sdpa {
    fn name(&self) -> &'static str {
        "student-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let z = SdpaDims::new(l1, l2, l3, self.heads)?;
        let q = contiguous(s1, l1, "attention")?;
        let k = contiguous(s2, l2, "attention")?;
        let v = contiguous(s3, l3, "attention")?;
        let (d, dh) = (z.d, z.dh);
        let mut out = vec![0f32; z.b * z.t * d];
        let mut p = vec![0f32; z.s];
        for bi in 0..z.b {
            for ti in 0..z.t {
                for h in 0..self.heads {
                    z.weights(q, k, bi, ti, h, &mut p);
                    let o = &mut out[(bi * z.t + ti) * d + h * dh..][..dh];
                    for (si, &pi) in p.iter().enumerate() {
                        let vr = &v[(bi * z.s + si) * d + h * dh..][..dh];
                        axpy(pi, vr, o);
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (q, k, v, g) = (
            q.contiguous()?,
            k.contiguous()?,
            v.contiguous()?,
            grad.contiguous()?,
        );
        let (qs, ql) = q.storage_and_layout();
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        let (gs, gl) = g.storage_and_layout();
        let z = SdpaDims::new(ql, kl, vl, self.heads)?;
        let (qd, kd, vd, gd) = (
            cpu_f32(&qs, ql)?,
            cpu_f32(&ks, kl)?,
            cpu_f32(&vs, vl)?,
            cpu_f32(&gs, gl)?,
        );
        let (d, dh) = (z.d, z.dh);
        let mut dq = vec![0f32; qd.len()];
        let mut dk = vec![0f32; kd.len()];
        let mut dv = vec![0f32; vd.len()];
        let (mut p, mut dp) = (vec![0f32; z.s], vec![0f32; z.s]);
        for bi in 0..z.b {
            for ti in 0..z.t {
                let row = (bi * z.t + ti) * d;
                for h in 0..self.heads {
                    z.weights(qd, kd, bi, ti, h, &mut p);
                    let gr = &gd[row + h * dh..][..dh];
                    // dV += p·g, dp = g·v, then the softmax backward.
                    let mut pdp = 0.0;
                    for si in 0..z.s {
                        let at = (bi * z.s + si) * d + h * dh;
                        let vr = &vd[at..][..dh];
                        dp[si] = dot(gr, vr);
                        pdp += p[si] * dp[si];
                        let pi = p[si];
                        axpy(pi, gr, &mut dv[at..at + dh]);
                    }
                    let qr = &qd[row + h * dh..][..dh];
                    for si in 0..z.s {
                        let ds = p[si] * (dp[si] - pdp) * z.scale;
                        let at = (bi * z.s + si) * d + h * dh;
                        let kr = &kd[at..][..dh];
                        axpy(ds, kr, &mut dq[row + h * dh..row + h * dh + dh]);
                        axpy(ds, qr, &mut dk[at..at + dh]);
                    }
                }
            }
        }
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(dq, ql.shape(), dev)?),
            Some(Tensor::from_vec(dk, kl.shape(), dev)?),
            Some(Tensor::from_vec(dv, vl.shape(), dev)?),
        ))
    }
}

/// `a · b` in eight independent lanes, so it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += alpha · x`.
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y += alpha * x);
}

/// The f32 values of a contiguous CPU storage.
fn cpu_f32<'a>(s: &'a Storage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match s {
        Storage::Cpu(c) => contiguous(c, l, "attention backward"),
        _ => bail!("attention backward: only CPU tensors"),
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
    use candle_core::{DType, Device, Var};
    use candle_nn::VarMap;

    /// The composite attention the fused op replaced.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, h: usize) -> Tensor {
        let (b, t, d) = q.dims3().unwrap();
        let s = k.dim(1).unwrap();
        let dh = d / h;
        let split = |y: &Tensor, n: usize| {
            y.reshape((b, n, h, dh))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let (q, k, v) = (split(q, t), split(k, s), split(v, s));
        let scores = (q.matmul(&k.t().unwrap().contiguous().unwrap()).unwrap()
            / (dh as f64).sqrt())
        .unwrap();
        let w = candle_nn::ops::softmax(&scores, D::Minus1).unwrap();
        w.matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((b, t, d))
            .unwrap()
    }

    #[test]
    fn fused_attention_matches_the_composite_one() {
        let dev = &Device::Cpu;
        let (b, t, s, d, h) = (3, 4, 5, 8, 2);
        let vals = |n: usize, seed: f32| -> Vec<f32> {
            (0..n)
                .map(|i| (i as f32 * 0.37 + seed).sin() * 1.5)
                .collect()
        };
        let q = Var::from_vec(vals(b * t * d, 0.1), (b, t, d), dev).unwrap();
        let k = Var::from_vec(vals(b * s * d, 1.3), (b, s, d), dev).unwrap();
        let v = Var::from_vec(vals(b * s * d, 2.7), (b, s, d), dev).unwrap();
        let c = Tensor::from_vec(vals(b * t * d, 4.2), (b, t, d), dev).unwrap();
        let fused = q
            .as_tensor()
            .apply_op3(k.as_tensor(), v.as_tensor(), Sdpa { heads: h })
            .unwrap();
        let slow = reference(q.as_tensor(), k.as_tensor(), v.as_tensor(), h);
        let flat = |x: &Tensor| x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let close = |a: Vec<f32>, b: Vec<f32>| {
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
            }
        };
        close(flat(&fused), flat(&slow));
        let gf = (fused * &c).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (slow * &c).unwrap().sum_all().unwrap().backward().unwrap();
        for var in [&q, &k, &v] {
            close(
                flat(gf.get(var.as_tensor()).unwrap()),
                flat(gs.get(var.as_tensor()).unwrap()),
            );
        }
    }

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
