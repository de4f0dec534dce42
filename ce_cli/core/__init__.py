"""The NumPy core: pure functions on arrays (no I/O, no printing, no global state).

Modules: :mod:`~ce_cli.core.logprob` (stable log-softmax / log-sigmoid, clipping),
:mod:`~ce_cli.core.losses` (cross-entropy, focal, smoothing, class weights),
:mod:`~ce_cli.core.information` (entropy, KL), :mod:`~ce_cli.core.calibration` (bins, ECE, MCE,
RMSCE, equal-mass and classwise ECE, Murphy's Brier parts, the fine confidence histogram),
:mod:`~ce_cli.core.smooth` (smooth ECE as relplot computes it), :mod:`~ce_cli.core.temperature`
(temperature scaling), :mod:`~ce_cli.core.persample` (every per-sample number for a task).
Imports NumPy only.
"""

from ce_cli.core.calibration import (
    adaptive_calibration_error,
    expected_calibration_error,
    max_calibration_error,
    rms_calibration_error,
)
from ce_cli.core.logprob import log_sigmoid, log_softmax
from ce_cli.core.persample import LossSpec, SampleValues, evaluate_rows
from ce_cli.core.smooth import smooth_calibration_error

__all__ = [
    "LossSpec",
    "SampleValues",
    "adaptive_calibration_error",
    "evaluate_rows",
    "expected_calibration_error",
    "log_sigmoid",
    "log_softmax",
    "max_calibration_error",
    "rms_calibration_error",
    "smooth_calibration_error",
]
