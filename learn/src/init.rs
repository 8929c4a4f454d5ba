//! Seeded weight initialisation.
//!
//! candle's CPU initialisers draw from an unseeded thread RNG, so every
//! variable is overwritten here from a ChaCha stream, in sorted name order:
//! the same seed gives the same bytes. The scheme is PyTorch's default for
//! linear and conv layers (uniform in ±1/sqrt(fan_in) for weights and
//! biases, fan_in being the product of all but the first axis); layer norms
//! (a path segment starting with `ln`) start at weight 1, bias 0.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// Re-initialise every `*.weight` / `*.bias` pair of `map` from `seed`.
pub fn seeded_init(map: &VarMap, seed: u64) -> Result<()> {
    let vars = map.data().lock().map(|m| m.clone()).unwrap_or_default();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for name in names {
        let var = &vars[name];
        if let Some(ones) = layer_norm_value(name) {
            var.set(&Tensor::full(ones, var.shape(), &Device::Cpu)?)?;
            continue;
        }
        let fan_in = if let Some(stem) = name.strip_suffix(".bias") {
            vars.get(&format!("{stem}.weight"))
                .map_or(1, |w| fan_in(w.dims()))
        } else {
            fan_in(var.dims())
        };
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
    }
    Ok(())
}

/// Inputs feeding one output unit: every axis but the first.
fn fan_in(dims: &[usize]) -> usize {
    dims.iter().skip(1).product::<usize>().max(1)
}

/// A layer norm's start value for `name`, if it is one.
fn layer_norm_value(name: &str) -> Option<f32> {
    let (stem, leaf) = name.rsplit_once('.')?;
    let layer = stem.rsplit('.').next()?;
    if !layer.starts_with("ln") {
        return None;
    }
    match leaf {
        "weight" => Some(1.0),
        "bias" => Some(0.0),
        _ => None,
    }
}
