#!/usr/bin/env bash
# The GPU check: forward and backward of a small model (and any others named) on CUDA against
# the host CPU in f32, same weights and batch; prints relative errors and writes JSON.
#
#   harness/scripts/gpu-check.sh            on a machine with an NVIDIA GPU
#   harness/scripts/gpu-check.sh --dry      no GPU: everything up to the GPU call
#
# The binary: $CLIPSCALE_BIN, else .gpu/clipscale (a stripped CUDA build carried to the GPU host,
# see harness/scripts/build-gpu-binary.sh), else target/release/clipscale, else target/debug/clipscale.
# Results go to $OUT (if set) or results/gpu-check/.
set -euo pipefail
cd "$(dirname "$0")/../.."

dry=0
models=(--model w64-d3)
for a in "$@"; do
    case "$a" in
        --dry) dry=1 ;;
        --model=*) models+=(--model "${a#--model=}") ;;
        *) echo "usage: $0 [--dry] [--model=NAME ...]" >&2; exit 2 ;;
    esac
done

bin="${CLIPSCALE_BIN:-}"
for candidate in .gpu/clipscale target/release/clipscale target/debug/clipscale; do
    [ -n "$bin" ] && break
    [ -x "$candidate" ] && bin="$candidate"
done
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "gpu-check: no clipscale binary found; build one with harness/scripts/build-gpu-binary.sh or cargo build --release" >&2
    exit 1
fi
out="${OUT:-results/gpu-check}"
mkdir -p "$out"
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"

if [ "$dry" = 0 ]; then
    # libcuda comes with the driver; NVRTC with a CUDA toolkit or PyTorch's pip wheels.
    dirs=""
    for lib in libcuda.so libnvrtc.so; do
        found="$( (ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 ~ "^"l {print $NF; exit}') || true)"
        if [ -z "$found" ]; then
            found="$(find /usr/local/nvidia /usr/local/cuda* /usr/lib/x86_64-linux-gnu /usr/lib64 \
                $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null) \
                -name "$lib*" 2>/dev/null | head -n 1 || true)"
        fi
        if [ -z "$found" ]; then
            echo "gpu-check: $lib not found (install the NVIDIA driver and an NVRTC: CUDA toolkit or pip's nvidia-cuda-nvrtc)" >&2
            exit 1
        fi
        dirs="$dirs:$(dirname "$found")"
        echo "found $lib at $found"
    done
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}$dirs"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt" || true
    "$bin" gpu-check "${models[@]}" --device cuda:0 --json "$out/gpu-check-$stamp.json" 2>&1 | tee "$out/gpu-check-$stamp.txt"
else
    "$bin" gpu-check "${models[@]}" --dry-run --json "$out/gpu-check-dry-$stamp.json" 2>&1 | tee "$out/gpu-check-dry-$stamp.txt"
fi
