//! `clipscale devices`: what `--device` can name on this machine, and what each device offers.

use anyhow::Result;
use clipscale::backend::{DeviceSpec, cpu_name, device_name};

pub fn devices() -> Result<()> {
    let threads = clipscale::provenance::cpu_threads();
    println!(
        "{:<8} {} ({threads} threads; burn's Flex backend)",
        "cpu",
        cpu_name()
    );
    cuda();
    wgpu();
    Ok(())
}

fn cuda() {
    if !cfg!(feature = "cuda") {
        println!(
            "{:<8} not in this build (rebuild with --features cuda)",
            "cuda"
        );
        return;
    }
    let listed = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=index", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    match listed {
        Some(text) => {
            for i in text.lines().filter_map(|l| l.trim().parse::<usize>().ok()) {
                let spec = DeviceSpec::Cuda(i);
                println!("{:<8} {}", spec.to_string(), device_name(spec));
            }
        }
        None => println!("{:<8} no NVIDIA GPU (nvidia-smi did not answer)", "cuda"),
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() {
    println!(
        "{:<8} not in this build (rebuild with --features wgpu)",
        "wgpu"
    );
}

#[cfg(feature = "wgpu")]
fn wgpu() {
    use clipscale::backend::wgpu::{Adapter, adapter, adapters};
    let f16 = |a: &Adapter| {
        if a.shader_f16 {
            "shader f16: yes"
        } else {
            "shader f16: no (--precision f16 unavailable)"
        }
    };
    let all = adapters();
    if all.is_empty() {
        println!(
            "{:<8} no adapter (install a Vulkan, Metal or DX12 driver; without a GPU, Mesa's lavapipe: mesa-vulkan-drivers)",
            "wgpu"
        );
        return;
    }
    if let Some(a) = adapter(None) {
        println!("{:<8} {}; {} (the default)", "wgpu", a.describe(), f16(&a));
    }
    for (i, a) in all.iter().enumerate() {
        let spec = DeviceSpec::Wgpu(Some(i));
        println!("{:<8} {}; {}", spec.to_string(), a.describe(), f16(a));
    }
}
