//! Seeded weight initialisation.
//!
//! candle's CPU initialisers draw from an unseeded thread RNG, so every
//! variable is overwritten here from a ChaCha stream, in sorted name order:
//! the same seed gives the same bytes. The scheme is PyTorch's default for
//! linear layers (uniform in ±1/sqrt(fan_in) for weights and biases).

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
        let fan_in = if let Some(stem) = name.strip_suffix(".bias") {
            vars.get(&format!("{stem}.weight"))
                .and_then(|w| w.dims().get(1).copied())
                .unwrap_or(1)
        } else {
            var.dims().get(1).copied().unwrap_or(1)
        };
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
    }
    Ok(())
}
