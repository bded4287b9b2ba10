//! fusec's own seeded random generator. candle's CPU RNG cannot be seeded, so every random draw of a run —
//! parameter initialisation, dropout masks (one seed per mask, `nn::dropout_mask`), GAN noise, shuffling —
//! comes from here, and its state is saved in
//! checkpoints so a resumed run continues the exact same stream.

use candle_core::{Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A seeded ChaCha8 stream. Independent streams for different purposes come from [`SeededRng::stream`], so
/// adding a draw in one place (say, a dropout layer) does not shift the shuffling order.
#[derive(Clone, Debug)]
pub struct SeededRng {
    inner: ChaCha8Rng,
}

/// The serialisable position of a [`SeededRng`]: seed, stream and word position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: u64,
    pub stream: u64,
    /// ChaCha word position (u128 split so JSON keeps it exact).
    pub word_pos_hi: u64,
    pub word_pos_lo: u64,
}

impl SeededRng {
    pub fn new(seed: u64) -> SeededRng {
        SeededRng::stream(seed, 0)
    }

    /// Stream `stream` of generator `seed`: streams are independent of each other.
    pub fn stream(seed: u64, stream: u64) -> SeededRng {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        SeededRng { inner }
    }

    pub fn state(&self) -> RngState {
        let pos = self.inner.get_word_pos();
        RngState {
            seed: u64::from_le_bytes(self.inner.get_seed()[..8].try_into().unwrap_or([0; 8])),
            stream: self.inner.get_stream(),
            word_pos_hi: (pos >> 64) as u64,
            word_pos_lo: pos as u64,
        }
    }

    /// Rebuilds a generator at a saved position. `seed` in the state is the raw ChaCha key prefix, so the
    /// original u64 seed must be passed again.
    pub fn restore(seed: u64, state: &RngState) -> SeededRng {
        let mut rng = SeededRng::stream(seed, state.stream);
        rng.inner
            .set_word_pos(((state.word_pos_hi as u128) << 64) | state.word_pos_lo as u128);
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.random()
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.inner.random::<f64>()
    }

    pub fn normal(&mut self) -> f64 {
        StandardNormal.sample(&mut self.inner)
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.inner.random_range(0..=i);
            items.swap(i, j);
        }
    }

    /// An f32 tensor of N(0, std²) draws.
    pub fn normal_tensor(&mut self, shape: &[usize], std: f64, device: &Device) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (self.normal() * std) as f32).collect();
        Tensor::from_vec(v, shape, device)
    }

    /// An f32 tensor of U(lo, hi) draws.
    pub fn uniform_tensor(
        &mut self,
        shape: &[usize],
        lo: f64,
        hi: f64,
        device: &Device,
    ) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.uniform(lo, hi) as f32).collect();
        Tensor::from_vec(v, shape, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_continues_the_same_stream() {
        let mut a = SeededRng::stream(7, 3);
        for _ in 0..10 {
            a.next_u64();
        }
        let saved = a.state();
        let next: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let mut b = SeededRng::restore(7, &saved);
        let again: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(next, again);
    }

    #[test]
    fn streams_differ() {
        assert_ne!(
            SeededRng::stream(1, 0).next_u64(),
            SeededRng::stream(1, 1).next_u64()
        );
    }
}
