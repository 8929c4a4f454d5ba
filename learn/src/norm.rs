//! Running mean and variance of observations (Welford / Chan's parallel
//! merge), applied as `clip((x - mean) / std, -5, 5)` before every network.

/// Per-dimension running statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningNorm {
    /// Mean per dimension.
    pub mean: Vec<f64>,
    /// Sum of squared deviations per dimension.
    pub m2: Vec<f64>,
    /// Samples seen.
    pub count: f64,
}

/// Normalised values are clipped to this magnitude.
pub const CLIP: f32 = 5.0;

impl RunningNorm {
    /// Statistics of `dim` dimensions with nothing seen.
    pub fn new(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
            count: 0.0,
        }
    }

    /// Width of the vectors.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Fold one sample in.
    pub fn update(&mut self, x: &[f32]) {
        self.count += 1.0;
        for ((m, m2), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(x) {
            let d = f64::from(x) - *m;
            *m += d / self.count;
            *m2 += d * (f64::from(x) - *m);
        }
    }

    /// Standard deviation per dimension, floored so constant features map
    /// to zero rather than blowing up.
    pub fn std(&self) -> Vec<f32> {
        self.m2
            .iter()
            .map(|&m2| {
                let var = if self.count > 1.0 {
                    m2 / self.count
                } else {
                    1.0
                };
                var.sqrt().max(1e-2) as f32
            })
            .collect()
    }

    /// Normalise a batch of row vectors laid out back to back.
    pub fn apply(&self, rows: &[f32]) -> Vec<f32> {
        let d = self.dim();
        let std = self.std();
        let mean: Vec<f32> = self.mean.iter().map(|&m| m as f32).collect();
        rows.chunks(d.max(1))
            .flat_map(|row| {
                row.iter()
                    .zip(&mean)
                    .zip(&std)
                    .map(|((&x, &m), &s)| ((x - m) / s).clamp(-CLIP, CLIP))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Mean, standard deviation and count as flat f32 vectors (for
    /// checkpoints: the frozen expert applies exactly these).
    pub fn to_parts(&self) -> (Vec<f32>, Vec<f32>, f32) {
        (
            self.mean.iter().map(|&m| m as f32).collect(),
            self.m2.iter().map(|&m| m as f32).collect(),
            self.count as f32,
        )
    }

    /// Rebuild from [`RunningNorm::to_parts`].
    pub fn from_parts(mean: &[f32], m2: &[f32], count: f32) -> Self {
        Self {
            mean: mean.iter().map(|&m| f64::from(m)).collect(),
            m2: m2.iter().map(|&m| f64::from(m)).collect(),
            count: f64::from(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RunningNorm;

    #[test]
    fn mean_and_std_match_direct_formula() {
        let mut n = RunningNorm::new(2);
        for x in [[1.0f32, 10.0], [2.0, 10.0], [3.0, 10.0], [6.0, 10.0]] {
            n.update(&x);
        }
        assert!((n.mean[0] - 3.0).abs() < 1e-12);
        // population variance of 1,2,3,6 = (4+1+0+9)/4 = 3.5
        assert!((n.std()[0] - 3.5f32.sqrt()).abs() < 1e-6);
        // constant dimension: floored std, normalises to zero
        let y = n.apply(&[3.0, 10.0]);
        assert_eq!(y, vec![0.0, 0.0]);
        let far = n.apply(&[1000.0, 10.0]);
        assert_eq!(far[0], super::CLIP);
    }
}
