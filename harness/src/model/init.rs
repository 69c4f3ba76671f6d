//! Weight initialisation on the host, from a seed, independent of the backend: the same seed
//! gives bit-identical weights on the CPU and on CUDA (which the GPU check relies on).
//!
//! Each parameter draws from its own stream, keyed by (seed, parameter path), so adding a
//! parameter elsewhere never changes the others. Distributions mirror open_clip's init:
//! PyTorch defaults for the image tower (open_clip leaves it as OpenAI did) and the per-family
//! normal standard deviations of `TextTransformer.init_parameters` for the text tower.

use burn::module::Param;
use burn::prelude::*;
use clipscale_core::rng::{Random, SplitMix64, fnv1a};

/// The generator of one named parameter: SplitMix64 keyed by the seed and the FNV-1a hash of the
/// parameter's path (its first output dropped).
pub fn param_stream(seed: u64, path: &str) -> SplitMix64 {
    let mut rng = SplitMix64::new(seed ^ fnv1a(path.as_bytes()).rotate_left(17));
    rng.next_u64();
    rng
}

/// How one parameter tensor is filled.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    Zeros,
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
        let mut rng = param_stream(self.seed, &format!("{}.{name}", self.prefix));
        (0..len)
            .map(|_| match init {
                Init::Zeros => 0.0,
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
