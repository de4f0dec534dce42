"""Time the per-row kernel (``evaluate_rows``) on each of its paths, in memory. Run by hand:

    .venv/bin/python benchmarks/paths.py                         # every path, 200,000 x 100
    .venv/bin/python benchmarks/paths.py --path focal --rows 500000

Each path is a kind of input and a loss variant: the fused kernels (hard labels, plain
cross-entropy, from logits or probabilities), the general multi-class path (focal, label
smoothing with class weights, soft targets), and the binary and multi-label paths. The inputs are
seeded float32 arrays made before the clock starts, fed to the kernel in chunks of
``CHUNK_VALUES`` values with the command's allocator setting, as the command does (one thread).
Each figure is the minimum over ``--repeat`` runs of the kernel alone, in seconds of the
thread's own CPU time (``time.thread_time``: on a shared machine, time spent waiting for a core
is not counted; still, compare only figures taken together).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from ce_cli.cli.allocator import keep_freed_memory_for_reuse
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec
from ce_cli.core.workspace import Workspace
from ce_cli.engine.kernel import CHUNK_VALUES

Case = Callable[[], object]


def chunked(x: np.ndarray, spec: LossSpec, ws: Workspace | None = None, **kw: np.ndarray) -> Case:
    """Evaluate ``x`` (and the labels or targets in ``kw``) a chunk of rows at a time."""
    width = x.shape[1] if x.ndim == 2 else 1
    step = max(1, CHUNK_VALUES // width)

    def run() -> None:
        for a in range(0, x.shape[0], step):
            part = {k: v[a : a + step] for k, v in kw.items()}
            evaluate_rows(x[a : a + step], spec, workspace=ws, **part)  # type: ignore[arg-type]

    return run


def cases(rows: int, classes: int) -> dict[str, Case]:
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((rows, classes)) * 3).astype(np.float32)
    labels = rng.integers(0, classes, rows)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    q = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    soft = rng.dirichlet(np.ones(classes), size=rows)
    weights = rng.uniform(0.5, 2.0, classes)
    z1 = (rng.standard_normal(rows * 10) * 4).astype(np.float32)
    y1 = rng.integers(0, 2, rows * 10)
    q1 = 1.0 / (1.0 + np.exp(-z1.astype(np.float64)))
    zl = z[:, :20]
    yl = (rng.random((rows, 20)) < 0.3).astype(np.float64)
    ws = Workspace()

    def multiclass(x: np.ndarray, spec: LossSpec, **kw: np.ndarray) -> Case:
        return chunked(x, spec, ws, **kw)

    mc = "multiclass"
    return {
        "fused_logits": multiclass(z, LossSpec(mc, logits=True), labels=labels),
        "fused_probs": multiclass(q, LossSpec(mc, logits=False), labels=labels),
        "focal": multiclass(z, LossSpec(mc, logits=True, loss="focal"), labels=labels),
        "weights": multiclass(z, LossSpec(mc, logits=True, class_weights=weights), labels=labels),
        "smoothing_weights": multiclass(
            z, LossSpec(mc, logits=True, smoothing=0.1, class_weights=weights), labels=labels
        ),
        "soft_logits": multiclass(z, LossSpec(mc, logits=True), targets=soft),
        "soft_focal": multiclass(z, LossSpec(mc, logits=True, loss="focal"), targets=soft),
        "binary_logits": chunked(z1, LossSpec("binary", logits=True), labels=y1),
        "binary_probs": chunked(q1, LossSpec("binary", logits=False), labels=y1),
        "multilabel_logits": chunked(zl, LossSpec("multilabel", logits=True), targets=yl),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--path", action="append", help="one path (repeatable); default all")
    args = parser.parse_args()
    keep_freed_memory_for_reuse()
    table = cases(args.rows, args.classes)
    for name in args.path or list(table):
        run = table[name]
        run()  # warm-up: the workspace's scratch matrices, the page cache
        best = float("inf")
        for _ in range(args.repeat):
            start = time.thread_time()
            run()
            best = min(best, time.thread_time() - start)
        print(f"{name:18s} {best:.4f} s")


if __name__ == "__main__":
    main()
