"""The NumPy core: pure functions on arrays (no I/O, no printing, no global state).

Modules: :mod:`~ce_cli.core.logprob` (stable log-softmax / log-sigmoid, clipping),
:mod:`~ce_cli.core.losses` (cross-entropy, focal, smoothing, class weights),
:mod:`~ce_cli.core.information` (entropy, KL), :mod:`~ce_cli.core.calibration` (equal-width
bins, ECE, MCE, RMSCE), :mod:`~ce_cli.core.classwise` (classwise ECE, Murphy's Brier parts),
:mod:`~ce_cli.core.equal_mass` (equal-mass bins, the fine confidence histogram),
:mod:`~ce_cli.core.smooth` (smooth ECE as relplot computes it), :mod:`~ce_cli.core.temperature`
(temperature scaling), :mod:`~ce_cli.core.persample` (every per-sample number for a task, with
the multi-class kernels in :mod:`~ce_cli.core.multiclass` and the types in
:mod:`~ce_cli.core.sample_values`). Imports NumPy only.
"""

from ce_cli.core.calibration import (
    expected_calibration_error,
    max_calibration_error,
    rms_calibration_error,
)
from ce_cli.core.equal_mass import adaptive_calibration_error
from ce_cli.core.logprob import log_sigmoid, log_softmax
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec, SampleValues
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
