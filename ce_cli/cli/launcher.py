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
# pyarrow's allocator (mimalloc) keeps freed pages for a second and commits its arena eagerly:
# a Parquet read holds a page and a dictionary per column (about 2 MB a column), made anew for
# every row group, and the pages freed from the last ones stayed resident on top. Freed pages go
# back at once, and the arena is committed as it is used: 2,000,000 x 100 float32 in
# 500,000-row groups peaked at 538 MiB before, 426 MiB after (medians of 5; CPU seconds paired
# 0.99-1.08x, median 1.00x). mimalloc reads these once, when pyarrow loads; a value the user
# set is kept.
_ARROW_ALLOCATOR = {"MIMALLOC_PURGE_DELAY": "0", "MIMALLOC_ARENA_EAGER_COMMIT": "0"}


def main() -> None:
    """Run ``ce-eval`` with ``sys.argv``; exits with its code."""
    for name in _BLAS_THREADS:
        os.environ.setdefault(name, "1")
    for name, value in _ARROW_ALLOCATOR.items():
        os.environ.setdefault(name, value)
    try:
        from ce_cli.cli.main import entrypoint

        entrypoint()
    except KeyboardInterrupt:
        print("ce-eval: error: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
