#!/usr/bin/env bash
# Sets up the PyTorch/open_clip peer of `clipscale bench train` (see harness/bench/README.md).
#
# Interpreter: Debian's /usr/bin/python3 (NOT a pyenv/venv python3 that may be first on PATH).
#   apt: python3-torch (1.13.1, CPU build), libopenblas0-openmp (OpenBLAS 0.3.21, OpenMP
#        threading), python3-torchvision (0.14.1, matches that torch; open_clip imports it at
#        import time: open_clip/utils.py and transform.py).
#   pip (--no-deps, so torch is never upgraded): open_clip_torch==2.24.0 and the modules that
#        open_clip imports unconditionally: ftfy (+ its dependency wcwidth), regex, tqdm; and
#        safetensors==0.4.5 (no dependencies), which the open_clip parity tests
#        (harness/tests/openclip.rs) exchange tensors in. Other optional imports
#        (huggingface_hub, timm, transformers, nltk, horovod) are wrapped in try/except by
#        open_clip and are not installed.
# BLAS: points the libblas.so.3 / liblapack.so.3 alternatives at openblas-openmp if they are not.
# Idempotent: anything already present is skipped. Needs root (or sudo) only for what is missing.
set -euo pipefail

PY=/usr/bin/python3
OPEN_CLIP_VERSION=2.24.0
SAFETENSORS_VERSION=0.4.5
ARCH_TRIPLET=x86_64-linux-gnu

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

say() { printf '[setup-peer] %s\n' "$*"; }

if [ ! -x "$PY" ]; then
    say "no $PY: this script needs Debian's system python3 (Debian 12 / bookworm)"
    exit 1
fi

# --- apt packages -----------------------------------------------------------------------------
apt_missing=()
for pkg in python3-torch python3-torchvision libopenblas0-openmp python3-pip; do
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        say "apt: $pkg present"
    else
        apt_missing+=("$pkg")
    fi
done
if [ ${#apt_missing[@]} -gt 0 ]; then
    say "apt: installing ${apt_missing[*]}"
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${apt_missing[@]}"
fi

# --- BLAS alternatives: OpenBLAS, OpenMP flavour ----------------------------------------------
for lib in libblas.so.3 liblapack.so.3; do
    alt="$lib-$ARCH_TRIPLET"
    want="/usr/lib/$ARCH_TRIPLET/openblas-openmp/$lib"
    cur="$(update-alternatives --query "$alt" 2>/dev/null | sed -n 's/^Value: //p')"
    if [ "$cur" = "$want" ]; then
        say "blas: $alt -> $cur"
    else
        say "blas: $alt was '${cur:-unset}', setting it to $want"
        $SUDO update-alternatives --set "$alt" "$want"
    fi
done

# --- pip packages (no dependencies, never touching torch) -------------------------------------
pip_missing=()
have_dist() { "$PY" -c "import importlib.metadata as m, sys; v = m.version('$1'); sys.exit(0 if ('$2' in ('', v)) else 1)" 2>/dev/null; }
have_dist open_clip_torch "$OPEN_CLIP_VERSION" || pip_missing+=("open_clip_torch==$OPEN_CLIP_VERSION")
have_dist safetensors "$SAFETENSORS_VERSION" || pip_missing+=("safetensors==$SAFETENSORS_VERSION")
for dist in ftfy wcwidth regex tqdm; do
    have_dist "$dist" "" || pip_missing+=("$dist")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
    say "pip: installing ${pip_missing[*]} (--no-deps)"
    $SUDO "$PY" -m pip install --no-deps --break-system-packages "${pip_missing[@]}"
else
    say "pip: open_clip_torch==$OPEN_CLIP_VERSION safetensors==$SAFETENSORS_VERSION ftfy wcwidth regex tqdm present"
fi

# --- CPU kernel for OpenBLAS 0.3.21 -----------------------------------------------------------
# 0.3.21's DYNAMIC_ARCH detection falls back to the generic 'Prescott' kernels on some AVX-512
# Xeons (seen on this VM), so the peer forces the core type (openclip_peer.py does it for you).
if grep -qw avx512f /proc/cpuinfo; then coretype=SKYLAKEX; else coretype=HASWELL; fi

# --- report -----------------------------------------------------------------------------------
DEB_TORCH="$(dpkg-query -W -f='${Version}' python3-torch)" OPENBLAS_CORETYPE="$coretype" "$PY" - <<'EOF'
import ctypes, importlib.metadata as md, os, torch, open_clip
lib = ctypes.CDLL("libblas.so.3")
lib.openblas_get_config.restype = ctypes.c_char_p
lib.openblas_get_corename.restype = ctypes.c_char_p
loaded = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l})
print("[setup-peer] python  ", __import__("sys").version.split()[0], "(/usr/bin/python3)")
print("[setup-peer] torch   ", torch.__version__, "(Debian python3-torch " + os.environ["DEB_TORCH"] + ")")
print("[setup-peer] open_clip", md.version("open_clip_torch"))
print("[setup-peer] extras  ", ", ".join(f"{d} {md.version(d)}" for d in ("torchvision", "safetensors", "ftfy", "wcwidth", "regex", "tqdm")))
print("[setup-peer] openblas", lib.openblas_get_config().decode(), "| core", lib.openblas_get_corename().decode())
print("[setup-peer] blas libs loaded:", ", ".join(loaded))
EOF
say "run the peer with OPENBLAS_CORETYPE=$coretype (openclip_peer.py sets it if unset)"
