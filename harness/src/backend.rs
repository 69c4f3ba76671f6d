//! Backend and device selection at run time: `--device cpu` (burn's Flex backend) or
//! `--device cuda[:N]` (burn's CUDA backend with fusion and autotune, when compiled with the
//! `cuda` feature). Work that must run on "whatever backend was chosen" implements
//! [`BackendTask`] and goes through [`dispatch`].

use std::fmt;
use std::str::FromStr;

use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use thiserror::Error;

/// The CPU backend.
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend with autodiff, for training.
pub type CpuTrainBackend = Autodiff<CpuBackend>;
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;
#[cfg(feature = "cuda")]
pub type CudaTrainBackend = Autodiff<CudaBackend>;

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

#[derive(Debug, Error, PartialEq)]
pub enum DeviceError {
    #[error("unknown device `{0}`: expected `cpu`, `cuda` or `cuda:N`")]
    Unknown(String),
    #[error(
        "device `{0}` needs the CUDA backend, but this clipscale was built without it; rebuild with \
         `CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda` (the version of your CUDA driver)"
    )]
    CudaNotCompiled(String),
    #[error(
        "device `{device}` failed: {message}\n(for CUDA: is an NVIDIA driver installed, is the GPU \
         visible (nvidia-smi), and are libcuda.so and libnvrtc.so on LD_LIBRARY_PATH?)"
    )]
    Failed { device: String, message: String },
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec = match s.trim() {
            "cpu" => DeviceSpec::Cpu,
            "cuda" | "gpu" => DeviceSpec::Cuda(0),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => DeviceSpec::Cuda(i),
                _ => return Err(DeviceError::Unknown(s.to_string())),
            },
        };
        if matches!(spec, DeviceSpec::Cuda(_)) && !cfg!(feature = "cuda") {
            return Err(DeviceError::CudaNotCompiled(s.to_string()));
        }
        Ok(spec)
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// What a run records about where it ran.
#[derive(Debug, Clone)]
pub struct BackendInfo {
    /// "flex" or "cuda"
    pub backend: &'static str,
    pub device: DeviceSpec,
    pub float_type: &'static str,
}

impl BackendInfo {
    /// What a run on `device` will report.
    pub fn for_device(device: DeviceSpec) -> Self {
        match device {
            DeviceSpec::Cpu => Self {
                backend: "flex",
                device,
                float_type: "f32",
            },
            DeviceSpec::Cuda(_) => Self {
                backend: "cuda",
                device,
                float_type: "f32",
            },
        }
    }
}

/// Work generic over the backend, run by [`dispatch`] on the chosen one.
pub trait BackendTask {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device, info: BackendInfo) -> Self::Output;
}

/// Runs `task` on the backend and device that `spec` names.
pub fn dispatch<T: BackendTask>(spec: DeviceSpec, task: T) -> Result<T::Output, DeviceError> {
    match spec {
        DeviceSpec::Cpu => {
            Ok(task.run::<CpuTrainBackend>(Default::default(), BackendInfo::for_device(spec)))
        }
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(i) => catch_device_panic(&spec.to_string(), || {
            task.run::<CudaTrainBackend>(
                burn::backend::cuda::CudaDevice::new(i),
                BackendInfo::for_device(spec),
            )
        }),
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(_) => Err(DeviceError::CudaNotCompiled(spec.to_string())),
    }
}

/// Runs `f`, turning a panic into [`DeviceError::Failed`] with the panic's message. burn's CUDA
/// backend panics when the driver or a library is missing (on the first operation, not at
/// device creation); a researcher should get an error that names the device and what to check,
/// not a backtrace. The default panic hook is silenced meanwhile, so the message is printed once.
pub fn catch_device_panic<R>(device: &str, f: impl FnOnce() -> R) -> Result<R, DeviceError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked without a message".to_string());
        DeviceError::Failed {
            device: device.to_string(),
            message,
        }
    })
}

/// A tensor's values on the host, as f32.
pub fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("converted to f32 just above")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_device_becomes_an_error_that_names_it() {
        let err = catch_device_panic("cuda:0", || -> u32 {
            panic!("Unable to load libcuda.so: not found")
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cuda:0") && text.contains("libcuda.so: not found"),
            "{text}"
        );
        assert!(text.contains("LD_LIBRARY_PATH"), "{text}");
        // and a device that works passes its result through
        assert_eq!(catch_device_panic("cuda:0", || 7), Ok(7));
    }
}
