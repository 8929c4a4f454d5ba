//! The student's image encoder: stride-2 convolutions, a dense layer and a
//! layer norm. Pre-trained on the demonstration images (reconstruction of a
//! half-size image plus regression of each task's privileged state, so the
//! features must keep object, key and goal-marker positions), then frozen
//! and its features cached. An external backbone with the same tensor names
//! can be loaded from safetensors instead.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder, VarMap, conv2d};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::adam::{Adam, AdamConfig};
use crate::error::{LearnError, Result};
use crate::student::config::EncoderConfig;
use crate::student::nn::{Dense, LayerNorm};

/// Convolutions + dense + layer norm: `[B, 3, S, S]` in `[0, 1]` to `[B, F]`.
#[derive(Clone, Debug)]
pub struct ImageEncoder {
    convs: Vec<Conv2d>,
    fc: Dense,
    ln: LayerNorm,
}

impl ImageEncoder {
    /// Build under `vb` (`conv{i}`, `fc`, `ln_out`) for `image`-pixel squares.
    pub fn new(cfg: &EncoderConfig, image: usize, vb: VarBuilder) -> Result<Self> {
        let layers = cfg.channels.len();
        if image == 0 || !image.is_multiple_of(1 << layers) {
            return Err(LearnError::Config {
                field: "encoder.channels",
                message: format!("{layers} stride-2 layers do not divide a {image}-pixel image"),
            });
        }
        let conv_cfg = Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let mut convs = Vec::with_capacity(layers);
        let mut inp = 3;
        for (i, &out) in cfg.channels.iter().enumerate() {
            convs.push(conv2d(inp, out, 4, conv_cfg, vb.pp(format!("conv{i}")))?);
            inp = out;
        }
        let side = image >> layers;
        Ok(Self {
            convs,
            fc: Dense::new(inp * side * side, cfg.features, vb.pp("fc"))?,
            ln: LayerNorm::new(cfg.features, vb.pp("ln_out"))?,
        })
    }

    /// Features of `[B, 3, S, S]` images.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for c in &self.convs {
            h = c.forward(&h)?.relu()?;
        }
        let b = h.dim(0)?;
        let h = self.fc.forward(&h.flatten_from(1)?.reshape((b, ()))?)?;
        self.ln.forward(&h)
    }
}

/// `n` RGB images (HWC bytes, `size` square) as a `[n, 3, size, size]`
/// tensor in `[0, 1]`.
pub fn images_tensor(images: &[&[u8]], size: usize) -> Result<Tensor> {
    let px = size * size;
    let mut out = vec![0f32; images.len() * 3 * px];
    for (img, dst) in images.iter().zip(out.chunks_exact_mut(3 * px)) {
        for (p, rgb) in img.chunks_exact(3).take(px).enumerate() {
            for c in 0..3 {
                dst[c * px + p] = f32::from(rgb[c]) / 255.0;
            }
        }
    }
    Ok(Tensor::from_vec(
        out,
        (images.len(), 3, size, size),
        &Device::Cpu,
    )?)
}

/// What pre-training learns from.
pub struct PretrainData<'a> {
    /// `n` images of `size`² pixels, HWC bytes, back to back.
    pub images: &'a [u8],
    /// Image side.
    pub size: usize,
    /// Per frame: (task slot, normalised privileged state).
    pub states: Vec<(usize, &'a [f32])>,
    /// Privileged-state width of each task slot.
    pub state_dims: Vec<usize>,
}

/// Train `enc` (whose variables live in `map` under `enc.`) on `data`;
/// `progress(step, loss)` is called every step; returns the final loss.
pub fn pretrain(
    enc: &ImageEncoder,
    map: &VarMap,
    cfg: &EncoderConfig,
    data: &PretrainData,
    seed: u64,
    mut progress: impl FnMut(usize, f32) -> bool,
) -> Result<f32> {
    let n = data.states.len();
    if n == 0 {
        return Err(LearnError::Config {
            field: "encoder",
            message: "no images to pre-train the encoder on".into(),
        });
    }
    // Heads live in their own map: they are dropped after pre-training.
    let heads_map = VarMap::new();
    let vb = VarBuilder::from_varmap(&heads_map, DType::F32, &Device::Cpu);
    let half = data.size / 2;
    let recon = Dense::new(cfg.features, 3 * half * half, vb.pp("recon"))?;
    let heads = data
        .state_dims
        .iter()
        .enumerate()
        .map(|(i, &d)| Dense::new(cfg.features, d.max(1), vb.pp(format!("state{i}"))))
        .collect::<Result<Vec<_>>>()?;
    crate::init::seeded_init(&heads_map, seed ^ 0x5eed)?;
    let mut vars: Vec<(String, candle_core::Var)> = named_vars(map, "enc.");
    vars.extend(named_vars(&heads_map, ""));
    let mut opt = Adam::new(
        vars,
        AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        },
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let px = data.size * data.size * 3;
    let mut last = f32::NAN;
    for step in 0..cfg.steps {
        let idx: Vec<usize> = (0..cfg.batch).map(|_| rng.random_range(0..n)).collect();
        let imgs: Vec<&[u8]> = idx
            .iter()
            .map(|&i| &data.images[i * px..(i + 1) * px])
            .collect();
        let x = images_tensor(&imgs, data.size)?;
        let f = enc.forward(&x)?;
        let target = x.avg_pool2d(2)?.flatten_from(1)?;
        let mut loss = (recon.forward(&f)? - target)?.sqr()?.mean_all()?;
        for (slot, head) in heads.iter().enumerate() {
            let rows: Vec<u32> = idx
                .iter()
                .enumerate()
                .filter(|(_, i)| data.states[**i].0 == slot)
                .map(|(r, _)| r as u32)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let d = data.state_dims[slot];
            let s: Vec<f32> = rows
                .iter()
                .flat_map(|&r| data.states[idx[r as usize]].1.iter().copied())
                .collect();
            let s = Tensor::from_vec(s, (rows.len(), d), &Device::Cpu)?;
            let rows = Tensor::new(rows.as_slice(), &Device::Cpu)?;
            let pred = head.forward(&f.index_select(&rows, 0)?)?;
            let w = rows.dim(0)? as f64 / cfg.batch as f64;
            loss = (loss + ((pred - s)?.sqr()?.mean_all()? * w)?)?;
        }
        last = loss.to_scalar::<f32>()?;
        if !last.is_finite() {
            return Err(LearnError::Diverged {
                step: step as u64,
                what: format!("encoder pre-training loss is {last}"),
                last_good: None,
            });
        }
        opt.step(&loss.backward()?)?;
        if !progress(step + 1, last) {
            break;
        }
    }
    Ok(last)
}

/// Features of every image, `batch` at a time: `[n * F]` row-major.
pub fn encode_all(
    enc: &ImageEncoder,
    images: &[u8],
    size: usize,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<f32>> {
    let px = size * size * 3;
    let n = images.len() / px.max(1);
    let mut out = Vec::new();
    let mut done = 0;
    while done < n {
        let m = batch.min(n - done);
        let imgs: Vec<&[u8]> = (done..done + m)
            .map(|i| &images[i * px..(i + 1) * px])
            .collect();
        let f = enc.forward(&images_tensor(&imgs, size)?)?;
        out.extend(f.flatten_all()?.to_vec1::<f32>()?);
        done += m;
        progress(done);
    }
    Ok(out)
}

/// Variables of `map` whose names start with `prefix`, sorted by name.
pub fn named_vars(map: &VarMap, prefix: &str) -> Vec<(String, candle_core::Var)> {
    let vars = map.data().lock().map(|m| m.clone()).unwrap_or_default();
    let mut out: Vec<(String, candle_core::Var)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Load external backbone weights (`conv*`, `fc`, `ln_out` tensors, with or
/// without an `enc.` prefix) into the encoder variables of `map`.
pub fn load_backbone(map: &VarMap, path: &Path) -> Result<()> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| LearnError::checkpoint(path, format!("cannot read backbone: {e}")))?;
    for (name, var) in named_vars(map, "enc.") {
        let short = name.trim_start_matches("enc.");
        let t = tensors
            .get(&name)
            .or_else(|| tensors.get(short))
            .ok_or_else(|| LearnError::checkpoint(path, format!("missing tensor `{short}`")))?;
        if t.dims() != var.dims() {
            return Err(LearnError::checkpoint(
                path,
                format!(
                    "tensor `{short}` has shape {:?}, the encoder config needs {:?}",
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(t)?;
    }
    Ok(())
}
