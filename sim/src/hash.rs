//! A stable 64-bit hash of trajectories (FNV-1a over little-endian bytes),
//! printed by `sim rollout` so two runs can be compared at a glance.

/// Incremental FNV-1a hasher.
#[derive(Clone, Copy, Debug)]
pub struct TrajectoryHash(u64);

impl Default for TrajectoryHash {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl TrajectoryHash {
    /// Feed raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Feed floats by their exact bit patterns.
    pub fn floats(&mut self, values: &[f32]) {
        for v in values {
            self.bytes(&v.to_bits().to_le_bytes());
        }
    }

    /// The digest as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}
