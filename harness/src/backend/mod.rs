//! Backend and device selection at run time: `--device cpu` (burn's Flex backend),
//! `--device cuda[:N]` (burn's CUDA backend with fusion and autotune, when compiled with the
//! `cuda` feature) or `--device wgpu[:N]` (burn's wgpu backend, the same cubecl kernels, fusion
//! and autotune over Vulkan, Metal or DX12, when compiled with the `wgpu` feature). Work that
//! must run on "whatever backend was chosen" implements [`BackendTask`] and goes through
//! [`dispatch`].

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
#[cfg(feature = "wgpu")]
pub type WgpuBackend = burn::backend::Wgpu;
#[cfg(feature = "wgpu")]
pub type WgpuTrainBackend = Autodiff<WgpuBackend>;

#[cfg(feature = "wgpu")]
pub mod wgpu;

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
    /// `None`: the default adapter (what wgpu picks for high performance, or
    /// `CUBECL_WGPU_DEFAULT_DEVICE`); `Some(n)`: the n-th adapter that `clipscale devices` lists.
    Wgpu(Option<usize>),
}

#[derive(Debug, Error, PartialEq)]
pub enum DeviceError {
    #[error("unknown device `{0}`: expected `cpu`, `cuda`, `cuda:N`, `wgpu` or `wgpu:N`")]
    Unknown(String),
    #[error(
        "device `{0}` needs the CUDA backend, but this clipscale was built without it; rebuild with \
         `CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda` (the version of your CUDA driver)"
    )]
    CudaNotCompiled(String),
    #[error(
        "device `{0}` needs the wgpu backend, but this clipscale was built without it; rebuild with \
         `cargo build --release --features wgpu`"
    )]
    WgpuNotCompiled(String),
    #[error("device `{device}` failed: {message}\n({hint})")]
    Failed {
        device: String,
        message: String,
        hint: &'static str,
    },
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec = match s.trim() {
            "cpu" => DeviceSpec::Cpu,
            "cuda" | "gpu" => DeviceSpec::Cuda(0),
            "wgpu" => DeviceSpec::Wgpu(None),
            other => {
                let index = |prefix: &str| other.strip_prefix(prefix)?.parse::<usize>().ok();
                match (index("cuda:"), index("wgpu:")) {
                    (Some(i), _) => DeviceSpec::Cuda(i),
                    (_, Some(i)) => DeviceSpec::Wgpu(Some(i)),
                    _ => return Err(DeviceError::Unknown(s.to_string())),
                }
            }
        };
        match spec {
            DeviceSpec::Cuda(_) if !cfg!(feature = "cuda") => {
                Err(DeviceError::CudaNotCompiled(s.to_string()))
            }
            DeviceSpec::Wgpu(_) if !cfg!(feature = "wgpu") => {
                Err(DeviceError::WgpuNotCompiled(s.to_string()))
            }
            _ => Ok(spec),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceSpec::Wgpu(None) => write!(f, "wgpu"),
            DeviceSpec::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
        }
    }
}

/// The name of the processor (Linux), else "unknown cpu".
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into())
}

/// The device's name: the processor's, the GPU's from nvidia-smi, or the wgpu adapter's.
pub fn device_name(device: DeviceSpec) -> String {
    match device {
        DeviceSpec::Cpu => cpu_name(),
        DeviceSpec::Cuda(i) => std::process::Command::new("nvidia-smi")
            .args([
                "--query-gpu=name",
                "--format=csv,noheader",
                &format!("--id={i}"),
            ])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown GPU".into()),
        #[cfg(feature = "wgpu")]
        DeviceSpec::Wgpu(i) => {
            wgpu::adapter(i).map_or_else(|| "no wgpu adapter".into(), |a| a.describe())
        }
        #[cfg(not(feature = "wgpu"))]
        DeviceSpec::Wgpu(_) => "unknown wgpu adapter".into(),
    }
}

/// What a run records about where it ran.
#[derive(Debug, Clone)]
pub struct BackendInfo {
    /// "flex", "cuda" or "wgpu"
    pub backend: &'static str,
    pub device: DeviceSpec,
    pub float_type: &'static str,
}

impl BackendInfo {
    /// What a run on `device` will report.
    pub fn for_device(device: DeviceSpec) -> Self {
        let backend = match device {
            DeviceSpec::Cpu => "flex",
            DeviceSpec::Cuda(_) => "cuda",
            DeviceSpec::Wgpu(_) => "wgpu",
        };
        Self {
            backend,
            device,
            float_type: "f32",
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
        DeviceSpec::Cuda(i) => catch_device_panic(spec, || {
            task.run::<CudaTrainBackend>(
                burn::backend::cuda::CudaDevice::new(i),
                BackendInfo::for_device(spec),
            )
        }),
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(_) => Err(DeviceError::CudaNotCompiled(spec.to_string())),
        #[cfg(feature = "wgpu")]
        DeviceSpec::Wgpu(i) => {
            let device = wgpu::device(i).ok_or_else(|| DeviceError::Failed {
                device: spec.to_string(),
                message: format!(
                    "wgpu sees {} adapter(s) (`clipscale devices` lists them)",
                    wgpu::adapters().len()
                ),
                hint: device_hint(spec),
            })?;
            catch_device_panic(spec, || {
                task.run::<WgpuTrainBackend>(device, BackendInfo::for_device(spec))
            })
        }
        #[cfg(not(feature = "wgpu"))]
        DeviceSpec::Wgpu(_) => Err(DeviceError::WgpuNotCompiled(spec.to_string())),
    }
}

/// What to check when `device` fails to start.
fn device_hint(device: DeviceSpec) -> &'static str {
    match device {
        DeviceSpec::Cpu => "the CPU backend failed: please report this as a bug",
        DeviceSpec::Cuda(_) => {
            "for CUDA: is an NVIDIA driver installed, is the GPU visible (nvidia-smi), and are \
             libcuda.so and libnvrtc.so on LD_LIBRARY_PATH?"
        }
        DeviceSpec::Wgpu(_) => {
            "for wgpu: is a Vulkan, Metal or DX12 driver installed and does it list an adapter \
             (`vulkaninfo --summary` on Linux; without a GPU, Mesa's lavapipe from the \
             mesa-vulkan-drivers package is one)? `clipscale devices` lists the adapters"
        }
    }
}

/// Runs `f`, turning a panic into [`DeviceError::Failed`] with the panic's message. burn's CUDA
/// and wgpu backends panic when the driver, a library or an adapter is missing (on the first
/// operation, not at device creation); a researcher should get an error that names the device
/// and what to check, not a backtrace. The default panic hook is silenced meanwhile, so the
/// message is printed once.
pub fn catch_device_panic<R>(device: DeviceSpec, f: impl FnOnce() -> R) -> Result<R, DeviceError> {
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
            hint: device_hint(device),
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
        let err = catch_device_panic(DeviceSpec::Cuda(0), || -> u32 {
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
        assert_eq!(catch_device_panic(DeviceSpec::Cuda(0), || 7), Ok(7));
        // a wgpu failure points at the Vulkan driver instead
        let err = catch_device_panic(DeviceSpec::Wgpu(Some(1)), || -> u32 {
            panic!("No Discrete GPU device found")
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("wgpu:1") && err.contains("vulkaninfo"),
            "{err}"
        );
    }

    #[test]
    fn device_names_parse_and_print_back() {
        for (text, spec) in [
            ("cpu", DeviceSpec::Cpu),
            ("cuda:2", DeviceSpec::Cuda(2)),
            ("wgpu", DeviceSpec::Wgpu(None)),
            ("wgpu:1", DeviceSpec::Wgpu(Some(1))),
        ] {
            let compiled = match spec {
                DeviceSpec::Cuda(_) => cfg!(feature = "cuda"),
                DeviceSpec::Wgpu(_) => cfg!(feature = "wgpu"),
                DeviceSpec::Cpu => true,
            };
            match text.parse::<DeviceSpec>() {
                Ok(parsed) => {
                    assert!(compiled, "{text} parsed without its feature");
                    assert_eq!(parsed, spec);
                    assert_eq!(parsed.to_string(), text);
                }
                Err(e) => assert!(!compiled, "{text}: {e}"),
            }
        }
        for bad in ["wgpu:", "wgpu:x", "cuda:-1", "tpu"] {
            assert_eq!(
                bad.parse::<DeviceSpec>(),
                Err(DeviceError::Unknown(bad.to_string()))
            );
        }
    }
}
