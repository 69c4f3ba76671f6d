//! wgpu's adapters as `--device wgpu[:N]` names them: `wgpu:N` is the N-th adapter of the
//! graphics API that burn's wgpu backend uses here (Vulkan on Linux, Metal on macOS, DX12 on
//! Windows), discrete GPUs first, then integrated, virtual and CPU ones (Mesa's lavapipe), in
//! the driver's order within each kind; `wgpu` alone is the adapter wgpu picks for high
//! performance. `clipscale devices` prints the list.

use burn::backend::wgpu::WgpuDevice;
use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};
use cubecl_common::future::block_on;

/// One adapter, as `clipscale devices` shows it.
#[derive(Debug, Clone)]
pub struct Adapter {
    pub info: wgpu::AdapterInfo,
    /// Whether its shaders can compute in f16 (`--precision f16`).
    pub shader_f16: bool,
    /// The device burn's wgpu backend opens for it.
    pub device: WgpuDevice,
}

impl Adapter {
    /// "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)".
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: AutoGraphicsApi::backend().into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

fn describe(a: &wgpu::Adapter, device: WgpuDevice) -> Adapter {
    Adapter {
        info: a.get_info(),
        shader_f16: a.features().contains(wgpu::Features::SHADER_F16),
        device,
    }
}

/// Every adapter, in `wgpu:N` order, each with the device that opens it (burn counts adapters
/// within their kind, so that is what the device names). Adapters burn cannot address (a
/// second CPU adapter, or of kind "other") are left out.
pub fn adapters() -> Vec<Adapter> {
    let mut found = block_on(instance().enumerate_adapters(AutoGraphicsApi::backend().into()));
    found.sort_by_key(|a| rank(a.get_info().device_type)); // stable: the driver's order within a kind
    let mut seen = [0usize; 5];
    let mut out = Vec::new();
    for a in &found {
        let kind = a.get_info().device_type;
        let n = seen[rank(kind) as usize];
        seen[rank(kind) as usize] += 1;
        let device = match kind {
            wgpu::DeviceType::DiscreteGpu => WgpuDevice::DiscreteGpu(n),
            wgpu::DeviceType::IntegratedGpu => WgpuDevice::IntegratedGpu(n),
            wgpu::DeviceType::VirtualGpu => WgpuDevice::VirtualGpu(n),
            wgpu::DeviceType::Cpu if n == 0 => WgpuDevice::Cpu,
            _ => continue,
        };
        out.push(describe(a, device));
    }
    out
}

/// The adapter that `wgpu` (`None`) or `wgpu:N` names, if there is one.
pub fn adapter(index: Option<usize>) -> Option<Adapter> {
    match index {
        Some(n) => adapters().into_iter().nth(n),
        None => block_on(instance().request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
        }))
        .ok()
        .map(|a| describe(&a, WgpuDevice::DefaultDevice)),
    }
}

/// The device that `wgpu` (`None`) or `wgpu:N` names (`None` when there is no N-th adapter).
pub fn device(index: Option<usize>) -> Option<WgpuDevice> {
    match index {
        Some(n) => adapters().into_iter().nth(n).map(|a| a.device),
        None => Some(WgpuDevice::DefaultDevice),
    }
}
