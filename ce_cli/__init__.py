"""ce-eval: cross-entropy, entropy, KL divergence and calibration of predicted probabilities.

The public API (imported lazily, so ``import ce_cli`` is cheap):

* :func:`evaluate` — a file, stdin, Arrow table or DataFrame → :class:`Report`;
* :func:`evaluate_arrays` — NumPy predictions and labels/targets → :class:`Report`;
* :mod:`ce_cli.metrics` — one function per number (``cross_entropy``, ``focal_loss``,
  ``entropy``, ``kl_divergence``, ``brier_score``, ``expected_calibration_error``, …);
* :mod:`ce_cli.core` — the per-sample NumPy kernels every path uses;
* :class:`Accumulator` — the mergeable state, for streaming and distributed use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ce_cli._version import __version__

if TYPE_CHECKING:
    from ce_cli.api import evaluate
    from ce_cli.arrays import evaluate_arrays
    from ce_cli.errors import CeEvalError
    from ce_cli.report.report import Report
    from ce_cli.state.accumulator import Accumulator

__all__ = ["Accumulator", "CeEvalError", "Report", "__version__", "evaluate", "evaluate_arrays"]

_LAZY = {
    "evaluate": "ce_cli.api",
    "evaluate_arrays": "ce_cli.arrays",
    "Report": "ce_cli.report.report",
    "Accumulator": "ce_cli.state.accumulator",
    "CeEvalError": "ce_cli.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ce_cli' has no attribute {name!r}")
