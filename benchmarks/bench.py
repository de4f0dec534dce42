"""Side-by-side benchmark of ce-eval against its anchors, as whole processes. Run by hand:

    .venv/bin/python benchmarks/bench.py                    # 1,000,000 x 100 float32
    .venv/bin/python benchmarks/bench.py --rows 200000      # quicker
    .venv/bin/python benchmarks/bench.py --torch-python /path/to/python-with-torch

It makes seeded inputs under ``benchmarks/data/`` and prints, for each comparison, the median wall
time and peak resident memory of each side over ``--repeat`` runs taken in turn (whole processes:
start-up, reading and computing included) and the ratio ce-eval / other, the median of the
pair-by-pair ratios (robust to the machine's speed drifting during the run):

* the whole report on a Parquet file of float32 probabilities, against (a) pandas +
  scikit-learn computing the same report and (c) the floor, pyarrow reading the file plus one
  NumPy log pass over every value;
* the core on in-memory float32 logits, against (b) PyTorch's CPU ``cross_entropy`` (run with
  ``--torch-python``, an interpreter that has torch; torch is never a dependency) and a plain
  NumPy log-softmax;
* CSV: ce-eval on a CSV file against ``pyarrow.csv`` reading the same file alone, on a small
  file (where start-up shows) and one five times larger (where parsing speed does);
* start-up: ``ce-eval --help`` and ``--version``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CE_EVAL = str(Path(sys.executable).parent / "ce-eval")


def run_process(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0


def measure(argv: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and median peak memory over ``repeat`` runs after one warm-up."""
    run_process(argv)
    runs = [run_process(argv) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def measure_paired(
    ours: list[str], other: list[str], repeat: int
) -> tuple[float, float, float, float, float]:
    """Both commands in turn (ours, other, ours, other, ...) after a warm-up of each: the median
    wall time and peak memory of each, and the median of the pair-by-pair wall ratios, which
    holds when the machine's speed drifts during the run."""
    run_process(ours)
    run_process(other)
    pairs = [(run_process(ours), run_process(other)) for _ in range(repeat)]
    return (
        statistics.median(a[0] for a, _ in pairs),
        statistics.median(a[1] for a, _ in pairs),
        statistics.median(b[0] for _, b in pairs),
        statistics.median(b[1] for _, b in pairs),
        statistics.median(a[0] / b[0] for a, b in pairs),
    )


def python_snippet(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def make_inputs(rows: int, classes: int) -> dict[str, Path]:
    paths = {
        "parquet": DATA / f"probs_{rows}x{classes}.parquet",
        "logits": DATA / f"logits_{rows}x{classes}.npy",
        "labels": DATA / f"labels_{rows}.npy",
        "csv": DATA / f"probs_{rows // 5}x{classes // 5}.csv",
        "csv_large": DATA / f"probs_{rows}x{classes // 5}.csv",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261123)
    labels = rng.integers(0, classes, rows)
    logits = rng.standard_normal((rows, classes), dtype=np.float32) * 2.0
    logits[np.arange(rows), labels] += 2.0
    np.save(paths["logits"], logits)
    np.save(paths["labels"], labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted.astype(np.float64))
    probs /= probs.sum(axis=1, keepdims=True)
    probs32 = probs.astype(np.float32)
    columns = {"label": labels}
    columns.update({f"p_{j}": probs32[:, j] for j in range(classes)})
    pq.write_table(pa.table(columns), paths["parquet"], row_group_size=65_536)
    narrow = classes // 5
    for name, csv_rows in (("csv", rows // 5), ("csv_large", rows)):
        part = probs[:csv_rows, :narrow]
        part = part / part.sum(axis=1, keepdims=True)
        csv_columns = {"label": labels[:csv_rows] % narrow}
        csv_columns.update({f"p_{j}": part[:, j] for j in range(narrow)})
        pcsv.write_csv(pa.table(csv_columns), paths[name])
    return paths


SKLEARN_REPORT = """
import sys, numpy as np, pandas as pd
from sklearn.metrics import accuracy_score, log_loss
from scipy.stats import entropy
df = pd.read_parquet(sys.argv[1])
y = df["label"].to_numpy()
P = df[[c for c in df.columns if c.startswith("p_")]].to_numpy(dtype=np.float64)
ce = log_loss(y, y_proba=P, labels=np.arange(P.shape[1]))
H = entropy(P, axis=1).mean()
onehot = np.eye(P.shape[1])[y]
brier = ((P - onehot) ** 2).sum(axis=1).mean()
acc = accuracy_score(y, P.argmax(axis=1))
conf = P.max(axis=1); correct = P.argmax(axis=1) == y
bins = np.minimum((conf * 15).astype(int), 14)
ece = sum(abs(correct[bins == b].mean() - conf[bins == b].mean()) * (bins == b).mean()
          for b in range(15) if (bins == b).any())
print(ce, H, brier, acc, ece)
"""

FLOOR = """
import sys, numpy as np, pyarrow.parquet as pq
total = 0.0
for batch in pq.ParquetFile(sys.argv[1], pre_buffer=False).iter_batches(batch_size=65536):
    for column in batch.columns[1:]:
        total += float(np.log(column.to_numpy()).sum())
print(total)
"""

CSV_FLOOR = """
import sys, pyarrow.csv as pcsv
print(pcsv.read_csv(sys.argv[1]).num_rows)
"""

CORE_CE_EVAL = """
import sys, time, numpy as np
from ce_cli.state.accumulator import Accumulator
from ce_cli.engine.kernel import kernel as _evaluate_batch
from ce_cli.core.sample_values import LossSpec
from ce_cli.resolve.typed import NumberBlock, Rows, TypedBatch

class Direct:  # the resolver's checks are not part of the kernel being timed
    def predictions(self, typed, a, b, workspace=None):
        return typed.predictions.rows(a, b, workspace, float32=True), 0
    def rows_in_place(self, typed):
        return typed.predictions.in_place(float32=True)

Z = np.load(sys.argv[1]); t = np.load(sys.argv[2])
spec = LossSpec(task="multiclass", logits=True)
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    typed = TypedBatch(NumberBlock(matrix=Z), t, None, None, None, Rows(1))
    acc = Accumulator("multiclass", Z.shape[1], 15)
    for _ in _evaluate_batch(typed, spec, Direct(), acc, keep_values=False):
        pass
    best = min(best, time.perf_counter() - start)
print(best)
"""

CORE_NUMPY = """
import sys, time, numpy as np
Z = np.load(sys.argv[1]); t = np.load(sys.argv[2])
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    shifted = Z - Z.max(axis=1, keepdims=True)
    logq = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logq[np.arange(len(t)), t].mean()
    best = min(best, time.perf_counter() - start)
print(best)
"""

CORE_TORCH = """
import sys, time, numpy as np, torch
import torch.nn.functional as F
Z = torch.from_numpy(np.load(sys.argv[1])); t = torch.from_numpy(np.load(sys.argv[2]))
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    F.cross_entropy(Z, t)
    best = min(best, time.perf_counter() - start)
print(best)
"""


def in_process_seconds(argv: list[str]) -> float:
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def in_process_paired(ours: list[str], other: list[str], repeat: int) -> tuple[float, float, float]:
    """Medians of two in-process timings taken in turn, and the median pair-by-pair ratio."""
    pairs = [(in_process_seconds(ours), in_process_seconds(other)) for _ in range(repeat)]
    return (
        statistics.median(a for a, _ in pairs),
        statistics.median(b for _, b in pairs),
        statistics.median(a / b for a, b in pairs),
    )


def row(name: str, ours: float, other: float, unit: str = "s", ratio: float | None = None) -> str:
    ratio = ours / other if ratio is None else ratio
    return f"  {name:<46} {ours:>9.3f} {unit:<3} {other:>9.3f} {unit:<3} {ratio:>7.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--torch-python", help="a Python interpreter that has torch installed")
    parser.add_argument("--make-inputs-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_inputs_only:
        make_inputs(args.rows, args.classes)
        return
    # Inputs are made in a child process: a child forked from a parent holding gigabytes would
    # inherit that peak in its ru_maxrss and spoil every memory figure.
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--make-inputs-only",
            "--rows",
            str(args.rows),
            "--classes",
            str(args.classes),
        ],
        check=True,
    )
    paths = make_inputs(args.rows, args.classes)
    size = paths["parquet"].stat().st_size / 1e6
    print(
        f"inputs: {args.rows:,} x {args.classes} float32 ({size:.0f} MB Parquet), "
        f"{os.cpu_count()} cores; medians of {args.repeat} runs of each side, taken in turn "
        "after a warm-up; ratios are the medians of the pair-by-pair ratios\n"
    )
    print(f"  {'comparison (ce-eval vs other)':<46} {'ce-eval':>13} {'other':>13} {'ratio':>8}")

    report = [CE_EVAL, str(paths["parquet"]), "--format", "json", "-q"]
    sklearn = [*python_snippet(SKLEARN_REPORT), str(paths["parquet"])]
    ours_wall, ours_mem, sk_wall, sk_mem, sk_ratio = measure_paired(report, sklearn, 1)
    print(row("report vs pandas + scikit-learn (wall)", ours_wall, sk_wall, ratio=sk_ratio))
    print(row("report vs pandas + scikit-learn (peak RSS)", ours_mem, sk_mem, "MiB"))
    floor = [*python_snippet(FLOOR), str(paths["parquet"])]
    ours_wall, ours_mem, floor_wall, floor_mem, floor_ratio = measure_paired(
        report, floor, args.repeat
    )
    print(
        row(
            "report vs floor: pyarrow read + log pass (wall)",
            ours_wall,
            floor_wall,
            ratio=floor_ratio,
        )
    )
    print(row("report vs floor (peak RSS)", ours_mem, floor_mem, "MiB"))

    core_args = [str(paths["logits"]), str(paths["labels"])]
    core = python_snippet(CORE_CE_EVAL) + core_args
    ours, other, ratio = in_process_paired(
        core, python_snippet(CORE_NUMPY) + core_args, args.repeat
    )
    print(row("core on in-memory logits vs NumPy log-softmax", ours, other, ratio=ratio))
    if args.torch_python:
        torch_core = [args.torch_python, "-c", textwrap.dedent(CORE_TORCH), *core_args]
        ours, other, ratio = in_process_paired(core, torch_core, args.repeat)
        print(row("core on in-memory logits vs PyTorch cross_entropy", ours, other, ratio=ratio))
    else:
        print("  (PyTorch: pass --torch-python PYTHON to compare against F.cross_entropy)")

    for key in ("csv", "csv_large"):
        csv = [CE_EVAL, str(paths[key]), "--format", "json", "-q"]
        csv_floor = [*python_snippet(CSV_FLOOR), str(paths[key])]
        csv_wall, _, floor_wall, _, ratio = measure_paired(csv, csv_floor, args.repeat)
        size = paths[key].stat().st_size / 1e6
        print(
            row(
                f"CSV ({size:.0f} MB) report vs pyarrow.csv read alone",
                csv_wall,
                floor_wall,
                ratio=ratio,
            )
        )

    help_wall, _ = measure([CE_EVAL, "--help"], 5)
    version_wall, _ = measure([CE_EVAL, "--version"], 5)
    print(f"  {'start-up: --help / --version':<46} {help_wall:>9.3f} s   {version_wall:>9.3f} s")


if __name__ == "__main__":
    main()
