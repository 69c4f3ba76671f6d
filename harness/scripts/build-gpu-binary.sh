#!/usr/bin/env bash
# Builds the CUDA binary for a GPU host that has no Rust toolchain, strips it, and puts it in .gpu/
# (ignored by git; carry it to the GPU host together with the repository).
# CUDARC_CUDA_VERSION picks the CUDA API bindings: 13000 for a CUDA 13.0 driver (580).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
cargo build --release -p clipscale --features cuda
mkdir -p .gpu
cp target/release/clipscale .gpu/clipscale
strip .gpu/clipscale
ls -lh .gpu/clipscale
