//! Softmax over the last axis and layer norm as single passes with
//! hand-written backward passes.
//!
//! candle-nn's fused `softmax_last_dim` and `layer_norm` have no backward
//! pass (gradients silently stop there), and the composite versions cost a
//! dozen allocating ops each. These fuse both directions.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, bail};

use crate::ops::contiguous;

fn last_dim(l: &Layout) -> usize {
    l.shape().dims().last().copied().unwrap_or(1).max(1)
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax-last"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "softmax-last")?;
        let n = last_dim(l);
        let mut out = x.to_vec();
        for row in out.chunks_exact_mut(n) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                sum += *v;
            }
            row.iter_mut().for_each(|v| *v /= sum);
        }
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(res.contiguous()?.apply_op2_no_bwd(&g, &SoftmaxBwd)?))
    }
}

struct SoftmaxBwd;

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "softmax-last-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = contiguous(s1, l1, "softmax-last-bwd")?;
        let g = contiguous(s2, l2, "softmax-last-bwd")?;
        let n = last_dim(l1);
        let mut out = vec![0f32; y.len()];
        for ((o, y), g) in out
            .chunks_exact_mut(n)
            .zip(y.chunks_exact(n))
            .zip(g.chunks_exact(n))
        {
            let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
            for j in 0..n {
                o[j] = y[j] * (g[j] - dot);
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Softmax over the last axis, differentiable.
pub fn softmax_last(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax)
}

struct LayerNorm {
    eps: f32,
}

/// Per row: mean and 1/σ.
fn stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm-bwd-able"
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
        let x = contiguous(s1, l1, "layer-norm")?;
        let w = contiguous(s2, l2, "layer-norm")?;
        let b = contiguous(s3, l3, "layer-norm")?;
        let n = last_dim(l1);
        if w.len() != n || b.len() != n {
            bail!(
                "layer-norm: width {n}, weight {}, bias {}",
                w.len(),
                b.len()
            )
        }
        let mut out = x.to_vec();
        for row in out.chunks_exact_mut(n) {
            let (m, r) = stats(row, self.eps);
            for j in 0..n {
                row[j] = (row[j] - m) * r * w[j] + b[j];
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = w.elem_count();
        let rows = x.elem_count() / n.max(1);
        let all = x.contiguous()?.apply_op3_no_bwd(
            &w.contiguous()?,
            &grad.contiguous()?,
            &LayerNormBwd { eps: self.eps },
        )?;
        let dx = all.narrow(0, 0, rows * n)?.reshape(x.shape())?;
        let dw = all.narrow(0, rows * n, n)?;
        let db = all.narrow(0, rows * n + n, n)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// Gradients of x, weight and bias, concatenated into one flat buffer.
struct LayerNormBwd {
    eps: f32,
}

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "layer-norm-bwd"
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
        let x = contiguous(s1, l1, "layer-norm-bwd")?;
        let w = contiguous(s2, l2, "layer-norm-bwd")?;
        let g = contiguous(s3, l3, "layer-norm-bwd")?;
        let n = w.len();
        let mut out = vec![0f32; x.len() + 2 * n];
        let (dx, rest) = out.split_at_mut(x.len());
        let (dw, db) = rest.split_at_mut(n);
        let mut xhat = vec![0f32; n];
        let mut dxhat = vec![0f32; n];
        for ((xr, gr), dr) in x
            .chunks_exact(n)
            .zip(g.chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            let (m, r) = stats(xr, self.eps);
            let (mut mean_d, mut mean_dx) = (0.0, 0.0);
            for j in 0..n {
                xhat[j] = (xr[j] - m) * r;
                dxhat[j] = gr[j] * w[j];
                mean_d += dxhat[j];
                mean_dx += dxhat[j] * xhat[j];
                dw[j] += gr[j] * xhat[j];
                db[j] += gr[j];
            }
            mean_d /= n as f32;
            mean_dx /= n as f32;
            for j in 0..n {
                dr[j] = r * (dxhat[j] - mean_d - xhat[j] * mean_dx);
            }
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// Layer norm over the last axis with weight and bias, differentiable in
/// all three.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(w, b, LayerNorm { eps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    fn num_grad(f: impl Fn(&[f32]) -> f32, x: &[f32]) -> Vec<f32> {
        (0..x.len())
            .map(|i| {
                let (mut a, mut b) = (x.to_vec(), x.to_vec());
                a[i] += 1e-3;
                b[i] -= 1e-3;
                (f(&a) - f(&b)) / 2e-3
            })
            .collect()
    }

    #[test]
    fn softmax_matches_candle_and_finite_differences() {
        let x = [0.3f32, -1.2, 2.0, 0.5, 0.1, -0.4];
        let w = [1.0f32, -2.0, 0.5, 3.0, 1.5, -1.0];
        let dev = &Device::Cpu;
        let loss = |x: &[f32]| -> f32 {
            let t = Tensor::from_slice(x, (2, 3), dev).unwrap();
            let y = softmax_last(&t)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            y.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        let v = Var::from_slice(&x, (2, 3), dev).unwrap();
        let y = softmax_last(v.as_tensor()).unwrap();
        let reference = candle_nn::ops::softmax(v.as_tensor(), D::Minus1).unwrap();
        let d: f32 = (&y - reference)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(d < 1e-5);
        let wt = Tensor::from_slice(&w, (2, 3), dev).unwrap();
        let g = (y * wt).unwrap().sum_all().unwrap().backward().unwrap();
        let got = g
            .get(v.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in got.iter().zip(num_grad(loss, &x)) {
            assert!((a - b).abs() < 1e-2, "{got:?}");
        }
    }

    #[test]
    fn layer_norm_gradients_match_finite_differences() {
        let dev = &Device::Cpu;
        let x = [0.3f32, -1.2, 2.0, 0.5, 0.1, -0.4, 1.0, 0.7];
        let w = [1.0f32, 0.5, -1.5, 2.0];
        let b = [0.1f32, -0.2, 0.3, 0.0];
        let c = [1.0f32, -2.0, 0.5, 3.0, 1.5, -1.0, 0.25, 2.0];
        let f = |x: &[f32], w: &[f32], b: &[f32]| -> f32 {
            let y = layer_norm(
                &Tensor::from_slice(x, (2, 4), dev).unwrap(),
                &Tensor::from_slice(w, 4, dev).unwrap(),
                &Tensor::from_slice(b, 4, dev).unwrap(),
                1e-5,
            )
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
            y.iter().zip(&c).map(|(a, b)| a * b).sum()
        };
        let (vx, vw, vb) = (
            Var::from_slice(&x, (2, 4), dev).unwrap(),
            Var::from_slice(&w, 4, dev).unwrap(),
            Var::from_slice(&b, 4, dev).unwrap(),
        );
        let y = layer_norm(vx.as_tensor(), vw.as_tensor(), vb.as_tensor(), 1e-5).unwrap();
        let ct = Tensor::from_slice(&c, (2, 4), dev).unwrap();
        let g = (y * ct).unwrap().sum_all().unwrap().backward().unwrap();
        let flat = |v: &Var| {
            g.get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let checks = [
            (flat(&vx), num_grad(|x| f(x, &w, &b), &x)),
            (flat(&vw), num_grad(|w| f(&x, w, &b), &w)),
            (flat(&vb), num_grad(|b| f(&x, &w, b), &b)),
        ];
        for (got, want) in checks {
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 2e-2, "{got:?} vs {want:?}");
            }
        }
    }
}
