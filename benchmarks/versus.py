"""This checkout's default report against another ce-eval (an older commit's), as whole processes.
Run by hand, with the other version installed in a virtual environment of its own:

    git worktree add /tmp/before 0e81499 && python3 -m venv /tmp/before/.venv \\
        && /tmp/before/.venv/bin/pip install -e /tmp/before
    .venv/bin/python benchmarks/versus.py /tmp/before/.venv/bin/ce-eval
    .venv/bin/python benchmarks/versus.py /tmp/before/.venv/bin/ce-eval --threads 2 --repeat 9

On the 1,000,000 x 100 float32 probabilities and logits Parquet files of ``path_matrix.py``
(made under ``benchmarks/data/`` if missing), the two commands run in turn (ours, theirs, ours,
...) after a warm-up of each, with ``CE_EVAL_THREADS`` set; for each figure (CPU = user + system
seconds, user seconds, wall seconds, from the finished process's own accounting) it prints both
medians and the median of the pair-by-pair ratios ours / theirs, with their range, which holds
when the machine's speed drifts. Compare ratios on a shared machine, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CE_EVAL = str(Path(sys.executable).parent / "ce-eval")


def run(argv: list[str], threads: int) -> tuple[float, float, float]:
    """CPU (user + system), user and wall seconds of one whole process."""
    env = dict(os.environ, CE_EVAL_THREADS=str(threads))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: a gate failed, still a report
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}\n{err}")
    return usage.ru_utime + usage.ru_stime, usage.ru_utime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the other ce-eval executable")
    parser.add_argument("--threads", type=int, default=1, help="CE_EVAL_THREADS (default 1)")
    parser.add_argument("--repeat", type=int, default=7, help="pairs per file (default 7)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the rows")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import path_matrix

    for path in path_matrix.paths(args.scale):
        if path.name not in ("probs", "logits"):
            continue
        target = path_matrix.DATA / path.file
        if not target.exists():
            print(f"making {target.name} …", file=sys.stderr, flush=True)
            path.make(target)
        ours, theirs = [CE_EVAL, str(target)], [args.other, str(target)]
        run(ours, args.threads)
        run(theirs, args.threads)
        pairs = [(run(ours, args.threads), run(theirs, args.threads)) for _ in range(args.repeat)]
        print(f"{path.title}, {args.threads} thread(s), {args.repeat} pairs:")
        for k, figure in enumerate(("CPU", "user CPU", "wall")):
            a = statistics.median(p[0][k] for p in pairs)
            b = statistics.median(p[1][k] for p in pairs)
            ratios = [p[0][k] / p[1][k] for p in pairs]
            print(
                f"  {figure:9s} ours {a:6.2f} s  theirs {b:6.2f} s  paired median "
                f"{statistics.median(ratios):.2f}x (pairs {min(ratios):.2f}-{max(ratios):.2f}x)"
            )


if __name__ == "__main__":
    main()
