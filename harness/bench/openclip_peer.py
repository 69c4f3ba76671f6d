#!/usr/bin/python3
"""PyTorch/open_clip peer of `clipscale bench train`.

Builds open_clip's CLIP (open_clip_torch 2.24.0) with the dimensions of one model of
sweeps/models.toml, trains it on synthetic batches with open_clip's optimiser settings, and prints
the same figures as `clipscale bench train`: one JSON line on stdout with --json.

Setup: harness/bench/setup-peer.sh (Debian's python3-torch 1.13 on /usr/bin/python3, OpenBLAS
OpenMP). See harness/bench/README.md.
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_MODELS = os.path.join(REPO, "sweeps", "models.toml")
SETUP_HINT = "run harness/bench/setup-peer.sh (it installs Debian's python3-torch and open_clip_torch==2.24.0 for /usr/bin/python3)"
SYSTEM_PYTHON = "/usr/bin/python3"


def die(msg, code=2):
    print(f"openclip_peer: error: {msg}", file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="open_clip training-throughput peer of `clipscale bench train` (CPU).")
    ap.add_argument("--model", required=True, help="model name in sweeps/models.toml, e.g. w32-d2")
    ap.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    ap.add_argument("--threads", type=int, default=None,
                    help="intra-op threads (torch.set_num_threads, OMP_NUM_THREADS); default: all cores")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps (default 5)")
    ap.add_argument("--vocab", type=int, default=150, help="text vocabulary size (default 150)")
    ap.add_argument("--context", type=int, default=None,
                    help="text context length (default: the model's context_length)")
    ap.add_argument("--json", action="store_true", help="print exactly one JSON line on stdout")
    ap.add_argument("--check-params", action="store_true",
                    help="build the model, compare its parameter count with the analytic count, and exit "
                         "(exit code 1 on a mismatch)")
    ap.add_argument("--lr", type=float, default=1e-4, help="constant learning rate (default 1e-4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh-data", action="store_true",
                    help="generate every batch inside the timed loop (counted as data wait) instead of "
                         "cycling through a pool of pre-generated batches")
    ap.add_argument("--data-pool", type=int, default=4,
                    help="pre-generated batches cycled through (default 4; ignored with --fresh-data)")
    ap.add_argument("--omp-wait-policy", choices=("passive", "active"), default=None,
                    help="set OMP_WAIT_POLICY before torch loads (default: leave it as it is). PASSIVE keeps "
                         "2 threads usable on a 2-core machine that other processes also use")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cpu (default) or cuda (the first GPU)")
    ap.add_argument("--precision", choices=("f32", "bf16", "f16"), default="f32",
                    help="f32 (default), bf16 autocast (open_clip's --precision amp_bf16) or f16 "
                         "autocast with a GradScaler (open_clip's --precision amp)")
    ap.add_argument("--models-toml", default=DEFAULT_MODELS, help="model ladder (default sweeps/models.toml)")
    a = ap.parse_args(argv)
    for name in ("batch", "steps", "data_pool"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if a.warmup < 0:
        ap.error("--warmup must be >= 0")
    if a.threads is not None and a.threads < 1:
        ap.error("--threads must be >= 1")
    if a.vocab < 3:
        ap.error("--vocab must be >= 3 (pad 0, ordinary ids, end-of-text = vocab-1)")
    return a


def load_model_cfg(path, name):
    import tomllib
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        die(f"cannot read {path}: {e}")
    models = doc.get("model", [])
    for m in models:
        if m.get("name") == name:
            return m
    die(f"model '{name}' not in {path}; known: {', '.join(m.get('name', '?') for m in models)}")


# ---- analytic counts (same conventions as harness/src/flops.rs) -------------------------------

def block_params(w, m):
    # ln_1, in_proj (3w^2 + 3w), out_proj (w^2 + w), ln_2, c_fc (wm + m), c_proj (mw + w)
    return 2 * w + (3 * w * w + 3 * w) + (w * w + w) + 2 * w + (w * m + m) + (m * w + w)


def block_macs(w, m, n):
    # q, k, v + scores + weighted values + output projection + MLP: matrix products only
    return 4 * n * w * w + 2 * n * n * w + 2 * n * w * m


def analytic_counts(cfg, vocab, ctx):
    v, t, e = cfg["vision"], cfg["text"], cfg["embed_dim"]
    vw, tw, p = v["width"], t["width"], v["patch_size"]
    g = v["image_size"] // p
    vn = g * g + 1
    vm = int(vw * v["mlp_ratio"])
    tm = int(tw * t["mlp_ratio"])
    image_params = 3 * p * p * vw + vw + vn * vw + 2 * vw + v["layers"] * block_params(vw, vm) + 2 * vw + vw * e
    text_params = vocab * tw + ctx * tw + t["layers"] * block_params(tw, tm) + 2 * tw + tw * e
    image_macs = g * g * 3 * p * p * vw + v["layers"] * block_macs(vw, vm, vn) + vw * e
    text_macs = t["layers"] * block_macs(tw, tm, ctx) + tw * e
    return {
        "params": image_params + text_params + 1,
        "image_params": image_params,
        "text_params": text_params,
        "fwd_macs_per_pair": image_macs + text_macs,
        "image_fwd_macs": image_macs,
        "text_fwd_macs": text_macs,
    }


# ---- environment ------------------------------------------------------------------------------

def cpu_has_avx512f():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def import_torch_and_open_clip():
    """Imports torch and open_clip, or re-runs under Debian's python, or exits with a hint."""
    try:
        import torch  # noqa: F401
        import open_clip  # noqa: F401
        return
    except ImportError as e:
        err = e
    if (os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
            and os.path.exists(SYSTEM_PYTHON) and not os.environ.get("CLIPSCALE_PEER_REEXEC")):
        # Probably a pyenv/venv python3 first on PATH: the peer's environment is Debian's python.
        os.environ["CLIPSCALE_PEER_REEXEC"] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    die(f"cannot import torch/open_clip with {sys.executable} ({err}); {SETUP_HINT}")


def blas_info(torch):
    """What torch was built against and which BLAS library is actually loaded."""
    import ctypes
    cfg = torch.__config__.show()
    info = {}
    for key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP"):
        marker = key + "="
        if marker in cfg:
            info[key.lower()] = cfg.split(marker, 1)[1].split(",", 1)[0].strip()
    for line in cfg.splitlines():
        if "CPU capability usage" in line:
            info["cpu_capability"] = line.split(":", 1)[1].strip()
    info["mkl"] = bool(torch.backends.mkl.is_available())
    loaded = sorted({ln.split()[-1] for ln in open("/proc/self/maps")
                     if ("blas" in ln or "lapack" in ln or "libmkl" in ln) and "/" in ln})
    info["loaded_libs"] = loaded
    openblas = [p for p in loaded if "libopenblas" in p]
    if openblas:
        try:
            lib = ctypes.CDLL(openblas[0])
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info["openblas_config"] = lib.openblas_get_config().decode()
            info["openblas_core"] = lib.openblas_get_corename().decode()
            info["openblas_threads"] = int(lib.openblas_get_num_threads())
            info["openblas_parallel"] = {0: "sequential", 1: "pthreads", 2: "openmp"}.get(
                int(lib.openblas_get_parallel()), "?")
        except (OSError, AttributeError) as e:
            info["openblas_error"] = str(e)
    if openblas:
        summary = f"OpenBLAS ({info.get('openblas_parallel', '?')}, core {info.get('openblas_core', '?')})"
    elif any("libmkl" in p for p in loaded) or info["mkl"]:
        summary = "MKL"
    elif any("libblas.so" in p for p in loaded):
        summary = "reference BLAS (" + ", ".join(p for p in loaded if "libblas" in p) + ")"
    else:
        summary = "unknown (no BLAS library loaded yet)"
    info["summary"] = summary
    return info


def max_rss_mib():
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- model, data, optimiser -------------------------------------------------------------------

def build_clip(cfg, vocab, ctx):
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
    v, t = cfg["vision"], cfg["text"]
    for tower, d in (("vision", v), ("text", t)):
        if d["width"] % d["heads"]:
            die(f"{cfg['name']}: {tower} width {d['width']} is not divisible by heads {d['heads']}")
    vision = CLIPVisionCfg(
        layers=v["layers"], width=v["width"], head_width=v["width"] // v["heads"],
        mlp_ratio=float(v["mlp_ratio"]), patch_size=v["patch_size"], image_size=v["image_size"])
    text = CLIPTextCfg(
        context_length=ctx, vocab_size=vocab, width=t["width"], heads=t["heads"], layers=t["layers"],
        mlp_ratio=float(t["mlp_ratio"]))
    model = CLIP(cfg["embed_dim"], vision_cfg=vision, text_cfg=text,
                 quick_gelu=bool(cfg.get("quick_gelu", False)))
    # sanity: heads as configured (open_clip derives vision heads from head_width)
    assert model.visual.transformer.resblocks[0].attn.num_heads == v["heads"]
    assert model.transformer.resblocks[0].attn.num_heads == t["heads"]
    return model


def param_groups(model, weight_decay):
    """open_clip's rule (training/main.py): no decay for gain/bias/logit-scale parameters."""
    def exempt(name, p):
        return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if exempt(name, p) else decay).append(p)
    # for CLIP this is the same split as clipscale's "decay parameters of >= 2 dimensions"
    assert all(p.ndim >= 2 for p in decay) and all(p.ndim < 2 for p in no_decay)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def make_batch(torch, gen, batch, image_size, ctx, vocab):
    """Random normal images and random captions: ids in [1, vocab-2], end-of-text id vocab-1 at a
    random position in [1, ctx-1], padding 0 after it. open_clip 2.24 pools the text at
    argmax(token id), which is then exactly the end-of-text position (clipscale pools by position)."""
    images = torch.randn(batch, 3, image_size, image_size, generator=gen)
    text = torch.randint(1, vocab - 1, (batch, ctx), generator=gen)
    eot = torch.randint(1, ctx, (batch,), generator=gen)
    pos = torch.arange(ctx).unsqueeze(0)
    text = torch.where(pos > eot.unsqueeze(1), torch.zeros_like(text), text)
    text[torch.arange(batch), eot] = vocab - 1
    return images, text


# ---- main -------------------------------------------------------------------------------------

def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = load_model_cfg(a.models_toml, a.model)
    ctx = a.context or cfg["text"]["context_length"]

    # Must be set before torch loads OpenBLAS: 0.3.21 misdetects some AVX-512 Xeons and falls
    # back to its generic Prescott kernels.
    if "OPENBLAS_CORETYPE" not in os.environ:
        os.environ["OPENBLAS_CORETYPE"] = "SKYLAKEX" if cpu_has_avx512f() else "HASWELL"
    if a.threads is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    if a.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = a.omp_wait_policy.upper()

    import_torch_and_open_clip()
    import importlib.metadata as md
    import torch
    import open_clip
    from open_clip.loss import ClipLoss

    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    rss_after_import = max_rss_mib()

    torch.manual_seed(a.seed)
    model = build_clip(cfg, a.vocab, ctx)
    counts = analytic_counts(cfg, a.vocab, ctx)
    n_image = sum(p.numel() for p in model.visual.parameters())
    n_total = sum(p.numel() for p in model.parameters())
    n_text = n_total - n_image - model.logit_scale.numel()
    params_match = n_total == counts["params"]

    versions = {
        "torch_version": torch.__version__,
        "open_clip_version": md.version("open_clip_torch"),
        "python": platform.python_version(),
        "python_executable": sys.executable,
    }

    if a.check_params:
        rec = {
            "model": a.model, "vocab": a.vocab, "context": ctx,
            "params": n_total, "image_params": n_image, "text_params": n_text, "logit_scale_params": 1,
            "analytic_params": counts["params"], "analytic_image_params": counts["image_params"],
            "analytic_text_params": counts["text_params"], "params_match": params_match,
            "params_diff": n_total - counts["params"], **versions,
        }
        if a.json:
            print(json.dumps(rec), flush=True)
        else:
            print(f"{a.model} (vocab {a.vocab}, context {ctx}): open_clip {n_total} parameters "
                  f"({n_image} image, {n_text} text, 1 logit scale); analytic {counts['params']} "
                  f"({counts['image_params']} image, {counts['text_params']} text, 1): "
                  f"{'match' if params_match else 'MISMATCH by ' + str(n_total - counts['params'])}")
        return 0 if params_match else 1

    device = torch.device(a.device)
    if a.device == "cuda" and not torch.cuda.is_available():
        die("--device cuda: torch sees no CUDA device")
    model = model.to(device)
    model.train()
    loss_fn = ClipLoss()
    opt = torch.optim.AdamW(param_groups(model, 0.2), lr=a.lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator().manual_seed(a.seed + 1)
    image_size = cfg["vision"]["image_size"]

    def on_device(pair):
        return tuple(t.to(device, non_blocking=True) for t in pair)

    pool = [] if a.fresh_data else [on_device(make_batch(torch, gen, a.batch, image_size, ctx, a.vocab))
                                    for _ in range(a.data_pool)]

    def next_batch(i):
        if a.fresh_data:
            return on_device(make_batch(torch, gen, a.batch, image_size, ctx, a.vocab))
        return pool[i % len(pool)]

    autocast_dtype = {"bf16": torch.bfloat16, "f16": torch.float16}.get(a.precision)
    # f16 needs a loss scale, as clipscale's f16 step has (65536 to start, PyTorch's default)
    scaler = torch.cuda.amp.GradScaler(enabled=a.precision == "f16" and a.device == "cuda")

    def train_step(images, text):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=a.device, dtype=autocast_dtype or torch.bfloat16,
                            enabled=autocast_dtype is not None):
            image_features, text_features, logit_scale = model(images, text)
            loss = loss_fn(image_features, text_features, logit_scale)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # as open_clip's training loop
        return loss

    losses = []
    for i in range(a.warmup):
        losses.append(float(train_step(*next_batch(i))))

    step_s, data_s = [], []
    t_start = time.perf_counter()
    for i in range(a.warmup, a.warmup + a.steps):
        t0 = time.perf_counter()
        images, text = next_batch(i)
        t1 = time.perf_counter()
        loss = train_step(images, text)
        t2 = time.perf_counter()
        data_s.append(t1 - t0)
        step_s.append(t2 - t0)
        losses.append(loss.item())  # .item() is cheap on the CPU; keeps the loss honest
    total_s = time.perf_counter() - t_start

    if not all(math.isfinite(x) for x in losses):
        die(f"non-finite loss during the benchmark: {losses}", code=3)

    samples_per_s = a.batch * a.steps / total_s
    q = statistics.quantiles(step_s, n=4) if len(step_s) >= 2 else [step_s[0]] * 3
    train_flops_per_sample = 6.0 * counts["fwd_macs_per_pair"]
    binfo = blas_info(torch)
    rec = {
        "peer": "open_clip",
        "model": a.model,
        "batch": a.batch,
        "threads": threads,
        "steps": a.steps,
        "warmup": a.warmup,
        "vocab": a.vocab,
        "context": ctx,
        "samples_per_s": samples_per_s,
        "step_s_median": statistics.median(step_s),
        "step_s_min": min(step_s),
        "step_s_max": max(step_s),
        "step_s_p25": q[0],
        "step_s_p75": q[2],
        "total_s": total_s,
        "train_flops_per_sample": train_flops_per_sample,
        "fwd_macs_per_pair": counts["fwd_macs_per_pair"],
        "train_flop_per_s": samples_per_s * train_flops_per_sample,
        "peak_rss_mib": max_rss_mib(),
        "device": a.device if a.device == "cpu" else f"cuda ({torch.cuda.get_device_name(0)})",
        "precision": a.precision,
        "peak_device_mib": (torch.cuda.max_memory_allocated() / 2**20) if a.device == "cuda" else None,
        "rss_after_import_mib": rss_after_import,
        "data_wait_share": sum(data_s) / total_s,
        "data": "fresh" if a.fresh_data else f"pool of {a.data_pool}",
        "params": n_total,
        "analytic_params": counts["params"],
        "params_match": params_match,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "lr": a.lr,
        "seed": a.seed,
        **versions,
        "blas": binfo["summary"],
        "blas_info": binfo,
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "omp_wait_policy_env": os.environ.get("OMP_WAIT_POLICY"),
        "torch_num_threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
    }
    if a.json:
        print(json.dumps(rec), flush=True)
    else:
        print(f"{a.model} batch {a.batch}, {threads} thread(s), {a.steps} timed steps after {a.warmup} warm-up "
              f"(open_clip {versions['open_clip_version']}, torch {versions['torch_version']}, {rec['blas']})")
        print(f"  samples/s        {samples_per_s:.1f}")
        print(f"  step time        median {rec['step_s_median'] * 1e3:.2f} ms, min {rec['step_s_min'] * 1e3:.2f}, "
              f"max {rec['step_s_max'] * 1e3:.2f}, IQR {q[0] * 1e3:.2f}-{q[2] * 1e3:.2f}")
        print(f"  training FLOP/s  {rec['train_flop_per_s'] / 1e9:.3f} G ({train_flops_per_sample / 1e6:.3f} MFLOPs per sample)")
        print(f"  peak RSS         {rec['peak_rss_mib']:.0f} MiB ({rss_after_import:.0f} MiB after importing torch)")
        print(f"  data wait        {rec['data_wait_share'] * 100:.2f}% ({rec['data']})")
        print(f"  parameters       {n_total} (analytic {counts['params']}{'' if params_match else ', MISMATCH'})")
        print(f"  loss             {losses[0]:.4f} -> {losses[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
