#!/usr/bin/env bash
# The GPU check, one script that builds nothing on the GPU host:
#   1. correctness: forward, backward and one AdamW step of w64-d3 and ViT-B-32 on CUDA against
#      the host's CPU in f32, same weights (initialised on the host from one seed) and batch;
#   2. timings: clipscale and open_clip (PyTorch; bf16 autocast for mixed precision) training
#      ViT-B-32 (224 px, context 77) at batch 256, in f32 and in mixed precision, with peak GPU
#      memory; both sides cycle a pool of 4 batches made beforehand and kept on the device;
#   2b. data feeding: clipscale's mixed-precision run again, streaming photo-like 256 px JPEG
#      shards (written by `clipscale bench shards`) through the decoding pipeline on all cores,
#      so its data wait is that of real data (step 2's pooled batches never wait);
#   3. the largest batch that fits (mixed precision, doubling from 256);
#   4. a short table, printed last.
#
#   harness/scripts/gpu-check.sh         on a machine with an NVIDIA GPU
#   harness/scripts/gpu-check.sh --dry   no GPU: every step on the CPU with the smallest model and
#                                        a few steps, so the whole script (and its table) is tested
#
# The binary: $CLIPSCALE_BIN, else .gpu/clipscale (a stripped CUDA build carried to the GPU host,
# see harness/scripts/build-gpu-binary.sh), else target/release/clipscale, else target/debug/clipscale.
# The peer needs a Python with torch and open_clip ($PEER_PYTHON, default python3); without them
# its rows say "not run". Results go to $OUT (if set) or results/gpu-check/.
set -euo pipefail
cd "$(dirname "$0")/../.."

dry=0
for a in "$@"; do
    case "$a" in
        --dry) dry=1 ;;
        *) echo "usage: $0 [--dry]" >&2; exit 2 ;;
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
py="${PEER_PYTHON:-python3}"

if [ "$dry" = 0 ]; then
    device=cuda:0; peer_device=cuda; model=ViT-B-32; batch=256; warmup=10; steps=30; max_batch=8192
    shard_images=8192; shard_side=256
    check=(gpu-check --model w64-d3 --model ViT-B-32 --device cuda:0)
    # libcuda comes with the driver; NVRTC with a CUDA toolkit or PyTorch's pip wheels.
    dirs=""
    for lib in libcuda.so libnvrtc.so; do
        found="$( (ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 ~ "^"l {print $NF; exit}') || true)"
        if [ -z "$found" ]; then
            found="$(find /usr/local/nvidia /usr/local/cuda* /usr/lib/x86_64-linux-gnu /usr/lib64 \
                $("$py" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null) \
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
else
    device=cpu; peer_device=cpu; model=w32-d2; batch=16; warmup=1; steps=2; max_batch=64
    shard_images=64; shard_side=64
    check=(gpu-check --model w32-d2 --dry-run)
fi

echo "== 1. correctness ($device against the CPU, f32)"
"$bin" "${check[@]}" --json "$out/check-$stamp.json" 2>&1 | tee "$out/check-$stamp.txt"

# Peak GPU memory in use while a command runs (nvidia-smi, so it includes the CUDA context);
# empty on the CPU.
with_memory() {
    local log="$1"; shift
    : >"$log"
    local pid=""
    if [ "$dry" = 0 ] && command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$log" 2>/dev/null &
        pid=$!
    fi
    local rc=0
    "$@" || rc=$?
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    return $rc
}

echo "== 2. timings: $model, batch $batch, $steps steps after $warmup warm-up"
for precision in f32 bf16; do
    with_memory "$out/mem-clipscale-$precision.log" \
        "$bin" bench train --device "$device" --model "$model" --batch "$batch" --warmup "$warmup" \
        --steps "$steps" --precision "$precision" --data-pool 4 --json --no-record \
        >"$out/clipscale-$precision.json" || echo "clipscale $precision failed" >&2
    if "$py" -c 'import torch, open_clip' 2>/dev/null; then
        with_memory "$out/mem-openclip-$precision.log" \
            "$py" harness/bench/openclip_peer.py --device "$peer_device" --model "$model" \
            --batch "$batch" --warmup "$warmup" --steps "$steps" --precision "$precision" --json \
            >"$out/openclip-$precision.json" || echo "open_clip $precision failed" >&2
    else
        echo "open_clip peer not run: $py cannot import torch and open_clip" >&2
        : >"$out/openclip-$precision.json"
    fi
done

echo "== 2b. data feeding: $model bf16 from $shard_images JPEGs of ${shard_side} px in shards"
shard_dir="$(mktemp -d "${TMPDIR:-/tmp}/clipscale-gpucheck-shards.XXXXXX")"
if pattern="$("$bin" bench shards --out "$shard_dir" --images "$shard_images" --side "$shard_side" \
    --per-shard 1000 | tail -n 1)"; then
    "$bin" bench train --device "$device" --model "$model" --batch "$batch" --warmup "$warmup" \
        --steps "$steps" --precision bf16 --shards "$pattern" --json --no-record \
        >"$out/clipscale-shards.json" || echo "clipscale from shards failed" >&2
else
    echo "writing the JPEG shards failed" >&2
    : >"$out/clipscale-shards.json"
fi
rm -rf "$shard_dir"

echo "== 3. largest batch that fits (bf16)"
fits=""
b="$batch"
while [ "$b" -le "$max_batch" ]; do
    if "$bin" bench train --device "$device" --model "$model" --batch "$b" --warmup 1 --steps 1 \
        --precision bf16 --data-pool 1 --json --no-record >"$out/fit-$b.json" 2>"$out/fit-$b.err"; then
        fits="$b"
        echo "batch $b fits"
        b=$((b * 2))
    else
        echo "batch $b does not fit (or failed): $(tail -n 1 "$out/fit-$b.err")"
        break
    fi
done
echo "$fits" >"$out/largest-batch.txt"

echo "== 4. summary"
"$py" - "$out" "$model" "$batch" "$fits" "$dry" <<'PY' | tee "$out/summary-$stamp.txt"
import json, os, sys
out, model, batch, fits, dry = sys.argv[1:6]
PEAK_BF16 = 790e12  # measured dense bf16 matrix-product ceiling of the H200 (datasheet 989e12)
check = json.load(open(os.path.join(out, sorted(f for f in os.listdir(out) if f.startswith("check-") and f.endswith(".json"))[-1])))
def load(name):
    try:
        text = open(os.path.join(out, name)).read().strip().splitlines()
        return json.loads(text[-1]) if text else None
    except (OSError, ValueError):
        return None
def peak_mem(name):
    try:
        vals = [float(x) for x in open(os.path.join(out, name)).read().split() if x.strip()]
        return f"{max(vals) / 1024:.1f} GiB" if vals else "-"
    except OSError:
        return "-"
print(f"correctness: " + ", ".join(f"{c['model']} {'PASS' if c['pass'] else 'FAIL'}" for c in check["checks"]))
print(f"{'side':<10} {'precision':<9} {'samples/s':>10} {'step ms':>8} {'TFLOP/s':>8} {'MFU':>6} {'GPU mem':>9}")
rows = {}
for side in ("clipscale", "openclip"):
    for prec in ("f32", "bf16"):
        r = load(f"{side}-{prec}.json")
        rows[(side, prec)] = r
        if not r:
            print(f"{side:<10} {prec:<9} {'not run':>10}")
            continue
        flops = r.get("train_flop_per_s", 0.0)
        mfu = "-" if dry == "1" else f"{100 * flops / PEAK_BF16:.1f}%"
        print(f"{side:<10} {prec:<9} {r['samples_per_s']:>10.1f} {1e3 * r['step_s_median']:>8.1f} "
              f"{flops / 1e12:>8.2f} {mfu:>6} {peak_mem(f'mem-{side}-{prec}.log'):>9}")
for prec in ("f32", "bf16"):
    a, b = rows[("clipscale", prec)], rows[("openclip", prec)]
    if a and b:
        print(f"ratio clipscale / open_clip ({prec}): {a['samples_per_s'] / b['samples_per_s']:.2f}")
r = rows[("clipscale", "bf16")]
if r:
    print(f"clipscale data wait (bf16, pooled batches): {100 * r['data_wait_share']:.1f}% of step time")
r = load("clipscale-shards.json")
if r:
    print(f"clipscale bf16 from JPEG shards ({r['data']}): {r['samples_per_s']:.1f} samples/s, "
          f"data wait {100 * r['data_wait_share']:.1f}% of step time, "
          f"upload {100 * r['upload_share']:.1f}%")
else:
    print("clipscale bf16 from JPEG shards: not run")
print(f"largest batch that fits ({model}, bf16): {fits or 'none of those tried'}")
PY
