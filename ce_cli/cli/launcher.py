"""The console script's entry point: a Ctrl-C at any moment ends in one line and exit code 130.

The script pip writes imports this module first, and it imports nothing: the command (typer, and
NumPy and pyarrow once it runs) is imported inside :func:`main`, so an interrupt while those
load is caught here rather than printed as a traceback.
"""

from __future__ import annotations

import os
import sys

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process stopped by Ctrl-C
# ce-eval runs its own tasks on every core; a BLAS library's own threads (the bootstrap's matrix
# products) would only oversubscribe them, and OpenBLAS's spin-waiting threads then burn CPU:
# --ci on 1,000,000 x 100 took 18 s of CPU against 8.5 s with one BLAS thread. A value the user
# set is kept. Set before NumPy loads (it reads these once). Not OMP_NUM_THREADS: pyarrow sizes
# its own thread pool (CSV parsing on every core) by that one.
_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:
    """Run ``ce-eval`` with ``sys.argv``; exits with its code."""
    for name in _BLAS_THREADS:
        os.environ.setdefault(name, "1")
    try:
        from ce_cli.cli.main import entrypoint

        entrypoint()
    except KeyboardInterrupt:
        print("ce-eval: error: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
