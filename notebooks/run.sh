#!/usr/bin/env bash
# Executes every notebook in notebooks/ headless and fails on any cell error.
#
#   bash notebooks/run.sh                 # install if needed, then execute
#   bash notebooks/run.sh --install-only  # create / update the environment, execute nothing
#   bash notebooks/run.sh --no-install    # execute only; exit 3 if the environment is missing
#
# The environment is a virtual environment at $CLIPSCALE_NOTEBOOK_VENV (default
# notebooks/.venv) with the pinned packages of notebooks/requirements.txt and a kernel named
# clipscale-notebooks. Installing is idempotent: when the environment already matches
# requirements.txt (a stamp holds its checksum) nothing is downloaded.
# The Python used to create it: $CLIPSCALE_PYTHON, else python3.11, else python3 (3.11 or newer).
# Executed copies go to $CLIPSCALE_NOTEBOOK_OUT (default: a fresh temporary folder).
# The notebooks read the tables under results/reference/ unless told otherwise (see each one).
# Exit status: 0 all ran, 1 a notebook failed, 2 bad usage, 3 no Python or no environment.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${CLIPSCALE_NOTEBOOK_VENV:-$here/.venv}"
kernel="clipscale-notebooks"
req="$here/requirements.txt"
stamp="$venv/.clipscale-requirements.sha256"

mode=run
case "${1:-}" in
    "") ;;
    --install-only) mode=install ;;
    --no-install) mode=execute ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (use --install-only or --no-install)" >&2; exit 2 ;;
esac

want="$(sha256sum "$req" | cut -d' ' -f1)"

ready() {
    [ -x "$venv/bin/python" ] &&
        [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
        "$venv/bin/python" -c 'import nbclient, nbformat, ipykernel, pandas, scipy, matplotlib' 2>/dev/null &&
        [ -f "$venv/share/jupyter/kernels/$kernel/kernel.json" ]
}

find_python() {
    local c
    for c in "${CLIPSCALE_PYTHON:-}" python3.11 python3; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

install() {
    if ready; then
        echo "notebook environment up to date: $venv"
        return 0
    fi
    local py
    if ! py="$(find_python)"; then
        echo "run.sh: no Python 3.11 or newer found (set CLIPSCALE_PYTHON)" >&2
        exit 3
    fi
    echo "creating the notebook environment in $venv with $py"
    if [ ! -x "$venv/bin/python" ]; then
        "$py" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    "$venv/bin/python" -m ipykernel install --sys-prefix --name "$kernel" \
        --display-name "Python (clipscale notebooks)" >/dev/null
    echo "$want" > "$stamp"
    echo "notebook environment ready: $venv"
}

case "$mode" in
    install) install; exit 0 ;;
    run) install ;;
    execute)
        if ! ready; then
            echo "run.sh: no notebook environment at $venv matching requirements.txt;" \
                "run: bash notebooks/run.sh --install-only" >&2
            exit 3
        fi
        ;;
esac

out="${CLIPSCALE_NOTEBOOK_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/clipscale-notebooks.XXXXXX")}"
mkdir -p "$out/mplconfig"
shopt -s nullglob
notebooks=("$here"/*.ipynb)
if [ "${#notebooks[@]}" -eq 0 ]; then
    echo "run.sh: no notebooks in $here" >&2
    exit 1
fi
export CLIPSCALE_REPO_ROOT="$root"
export MPLCONFIGDIR="$out/mplconfig"
export PYDEVD_DISABLE_FILE_VALIDATION=1
"$venv/bin/python" "$here/execute.py" "$out" "$kernel" "${notebooks[@]}"
