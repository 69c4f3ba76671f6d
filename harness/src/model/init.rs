//! Weight initialisation on the host, from a seed, independent of the backend: the same seed
//! gives bit-identical weights on the CPU and on CUDA (which the GPU check relies on).
//!
//! Each parameter draws from its own stream, keyed by (seed, parameter path), so adding a
//! parameter elsewhere never changes the others. Distributions mirror open_clip's init:
//! PyTorch defaults for the image tower (open_clip leaves it as OpenAI did) and the per-family
//! normal standard deviations of `TextTransformer.init_parameters` for the text tower.

use burn::module::Param;
use burn::prelude::*;

/// SplitMix64: small, fast, and good enough to seed weights.
#[derive(Debug, Clone)]
pub struct HostRng {
    state: u64,
}

impl HostRng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A stream for one named parameter.
    pub fn for_param(seed: u64, path: &str) -> Self {
        // FNV-1a of the path, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in path.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = Self::new(seed ^ h.rotate_left(17));
        rng.next_u64();
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// How one parameter tensor is filled.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    Zeros,
    Ones,
    Constant(f64),
    Normal {
        std: f64,
    },
    /// Uniform in [-bound, bound]; PyTorch's default for Linear and Conv weights and biases
    /// is bound = 1 / sqrt(fan_in).
    Uniform {
        bound: f64,
    },
}

/// Builds parameters from a seed and a path prefix.
#[derive(Debug, Clone)]
pub struct ParamFactory<'a, B: Backend> {
    pub seed: u64,
    pub prefix: String,
    pub device: &'a B::Device,
}

impl<'a, B: Backend> ParamFactory<'a, B> {
    pub fn new(seed: u64, device: &'a B::Device) -> Self {
        Self {
            seed,
            prefix: String::new(),
            device,
        }
    }

    /// The factory for a sub-module.
    pub fn child(&self, name: &str) -> Self {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Self {
            seed: self.seed,
            prefix,
            device: self.device,
        }
    }

    pub fn values(&self, name: &str, len: usize, init: Init) -> Vec<f32> {
        let mut rng = HostRng::for_param(self.seed, &format!("{}.{name}", self.prefix));
        (0..len)
            .map(|_| match init {
                Init::Zeros => 0.0,
                Init::Ones => 1.0,
                Init::Constant(c) => c as f32,
                Init::Normal { std } => (rng.normal() * std) as f32,
                Init::Uniform { bound } => ((rng.uniform() * 2.0 - 1.0) * bound) as f32,
            })
            .collect()
    }

    pub fn param<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        init: Init,
    ) -> Param<Tensor<B, D>> {
        let len = shape.iter().product();
        let data = TensorData::new(self.values(name, len, init), shape);
        Param::from_tensor(Tensor::from_data(data, self.device))
    }
}
