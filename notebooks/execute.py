"""Execute Jupyter notebooks headless with nbclient; exit 1 on the first failing cell.

Usage: python execute.py OUTPUT_DIR KERNEL_NAME NOTEBOOK [NOTEBOOK ...]

Each notebook runs with its own folder as the working directory; the executed copy (with
outputs) is written to OUTPUT_DIR. Called by notebooks/run.sh.
"""

import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = Path(argv[1])
    kernel = argv[2]
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in argv[3:]:
        path = Path(name).resolve()
        nb = nbformat.read(path, as_version=4)
        # Kernel over local (IPC) sockets in the output folder rather than TCP.
        km = KernelManager(
            kernel_name=kernel, transport="ipc", ip=str(out_dir / f".{path.stem}-kernel")
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=600,
            kernel_name=kernel,
            resources={"metadata": {"path": str(path.parent)}},
        )
        t0 = time.monotonic()
        try:
            client.execute()
        except CellExecutionError as e:
            print(f"FAIL {path.name}: a cell raised an error:\n{e}", file=sys.stderr)
            failed.append(path.name)
        except Exception as e:  # kernel died, timeout, bad notebook, ...
            print(f"FAIL {path.name}: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(path.name)
        finally:
            if km.has_kernel:
                km.shutdown_kernel()
            nbformat.write(nb, out_dir / path.name)
        if path.name not in failed:
            print(f"ok   {path.name} ({time.monotonic() - t0:.1f} s) -> {out_dir / path.name}")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
