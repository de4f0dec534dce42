"""ce-eval against values recorded with PyTorch and torchmetrics (``tests/torch_reference.py``).

PyTorch is not a dependency: the reference file holds the inputs and the outputs as constants,
with the script that produced them. Mapping of each PyTorch call onto ce-eval's options:

* ``F.cross_entropy(z, t, weight=w, label_smoothing=ε)`` (mean) = multi-class ``loss`` with
  ``class_weights=w, smoothing=ε``; a probability-target ``F.cross_entropy`` = ``targets=...``.
* ``F.binary_cross_entropy_with_logits`` (mean) = binary ``loss`` from one column of logits.
* torchvision's ``sigmoid_focal_loss`` (mean) = binary ``loss="focal", gamma, alpha``.
* ``F.cross_entropy`` of the two-class logits ``[0, z]`` with ``weight=[w0, w1]`` = the binary
  task (one column ``z``, labels 0/1) with ``class_weights=(w0, w1)``.
* multi-label ``F.binary_cross_entropy_with_logits``: the element mean = ``loss_per_label``; the
  mean over rows of the per-row sum = ``loss``; with ``weight=w`` (one per label) the element mean
  = ``loss_per_label`` with ``class_weights=w``.
* torchmetrics' ``BinaryCalibrationError`` / ``MulticlassCalibrationError`` (``norm="l1"`` is ECE,
  ``"max"`` is MCE) = ``ece`` / ``mce`` with the same ``bins``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from ce_cli.arrays import evaluate_arrays
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec

REL = 1e-9


def _load_reference() -> ModuleType:
    path = Path(__file__).with_name("torch_reference.py")
    spec = importlib.util.spec_from_file_location("torch_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

MC_LOGITS = np.array(ref.MC_LOGITS, dtype=np.float64)
MC_LABELS = np.array(ref.MC_LABELS, dtype=np.int64)
MC_WEIGHTS = tuple(float(w) for w in ref.MC_CLASS_WEIGHTS)
MC_SOFT = np.array(ref.MC_SOFT_TARGETS, dtype=np.float64)
BIN_LOGITS = np.array(ref.BIN_LOGITS, dtype=np.float64)
BIN_LABELS = np.array(ref.BIN_LABELS, dtype=np.int64)
ML_LOGITS = np.array(ref.ML_LOGITS, dtype=np.float64)
ML_TARGETS = np.array(ref.ML_TARGETS, dtype=np.float64)
ML_WEIGHTS = tuple(float(w) for w in ref.ML_LABEL_WEIGHTS)

# The reference file records the three multi-label numbers in one dict ``ML_BCE``; accept the
# separate constants too, in case it is regenerated that way.
if hasattr(ref, "ML_BCE"):
    ML_BCE = dict(ref.ML_BCE)
else:
    ML_BCE = {
        "element_mean": ref.ML_BCE_ELEMENT_MEAN,
        "row_sum_mean": ref.ML_BCE_ROW_SUM_MEAN,
        "weighted_element_mean": ref.ML_BCE_WEIGHTED_ELEMENT_MEAN,
    }

# Each MC_CE case as (labels or soft targets, ce-eval options).
MC_CASES: dict[str, tuple[bool, dict[str, object]]] = {
    "plain": (False, {}),
    "weighted": (False, {"class_weights": MC_WEIGHTS}),
    "smoothed_0.1": (False, {"smoothing": 0.1}),
    "weighted_smoothed_0.1": (False, {"class_weights": MC_WEIGHTS, "smoothing": 0.1}),
    "soft": (True, {}),
    "soft_weighted_smoothed_0.2": (True, {"class_weights": MC_WEIGHTS, "smoothing": 0.2}),
}


def test_reference_file_covers_every_case() -> None:
    assert set(ref.MC_CE) == set(MC_CASES)
    assert set(ref.MC_CE_NONE) <= set(MC_CASES)
    assert set(ref.BIN_FOCAL) == {"g2_a0.25", "g2_noalpha", "g0.5_a0.75"}
    assert set(ref.BIN_AS_TWO_CLASS) == {
        "plain",
        "weighted_w0_1.5_w1_0.5",
        "weighted_smoothed_0.1",
        "smoothed_0.2",
    }
    assert set(ML_BCE) == {"element_mean", "row_sum_mean", "weighted_element_mean"}
    # The soft targets are distributions, so ce-eval reads them as soft-label multi-class.
    np.testing.assert_allclose(MC_SOFT.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", list(MC_CASES))
def test_multiclass_cross_entropy_matches_torch(case: str) -> None:
    soft, options = MC_CASES[case]
    r = evaluate_arrays(
        MC_LOGITS,
        None if soft else MC_LABELS,
        targets=MC_SOFT if soft else None,
        logits=True,
        **options,
    )
    assert r.detection.task == "multiclass"
    assert r.metrics["loss"] == pytest.approx(ref.MC_CE[case], rel=REL)


@pytest.mark.parametrize("case", list(MC_CASES))
def test_multiclass_per_row_losses_match_torch_reduction_none(case: str) -> None:
    if case not in ref.MC_CE_NONE:
        pytest.skip(f"no reduction='none' values recorded for {case}")
    soft, options = MC_CASES[case]
    weights = options.get("class_weights")
    spec = LossSpec(
        task="multiclass",
        logits=True,
        smoothing=float(options.get("smoothing", 0.0)),  # type: ignore[arg-type]
        class_weights=None if weights is None else np.array(weights),
    )
    values = evaluate_rows(
        MC_LOGITS,
        spec,
        labels=None if soft else MC_LABELS,
        targets=MC_SOFT if soft else None,
    )
    # reduction="none" rows are w_{t_i}-weighted row losses, before the mean's denominator.
    np.testing.assert_allclose(values.loss, ref.MC_CE_NONE[case], rtol=REL, atol=0)


def test_multiclass_extreme_logits_rows_are_finite() -> None:
    # The reference has a logit of 40 (row 2, label 2: CE ≈ 42.55) and of -30 (row 5, label 3).
    r = evaluate_arrays(MC_LOGITS[[2, 5]], MC_LABELS[[2, 5]], logits=True)
    expected = (ref.MC_CE_NONE["plain"][2] + ref.MC_CE_NONE["plain"][5]) / 2
    assert r.metrics["cross_entropy"] == pytest.approx(expected, rel=REL)


def test_binary_cross_entropy_with_logits_matches_torch() -> None:
    r = evaluate_arrays(BIN_LOGITS, BIN_LABELS, logits=True)
    assert r.detection.task == "binary"
    assert r.metrics["loss"] == pytest.approx(ref.BIN_BCE, rel=REL)
    assert r.metrics["cross_entropy"] == pytest.approx(ref.BIN_BCE, rel=REL)


@pytest.mark.parametrize(
    ("case", "gamma", "alpha"),
    [("g2_a0.25", 2.0, 0.25), ("g2_noalpha", 2.0, None), ("g0.5_a0.75", 0.5, 0.75)],
)
def test_binary_focal_matches_torchvision(case: str, gamma: float, alpha: float | None) -> None:
    r = evaluate_arrays(BIN_LOGITS, BIN_LABELS, logits=True, loss="focal", gamma=gamma, alpha=alpha)
    assert r.metrics["loss"] == pytest.approx(ref.BIN_FOCAL[case], rel=REL)
    # cross_entropy stays the plain binary cross-entropy.
    assert r.metrics["cross_entropy"] == pytest.approx(ref.BIN_BCE, rel=REL)


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("plain", {}),
        ("weighted_w0_1.5_w1_0.5", {"class_weights": (1.5, 0.5)}),
        ("weighted_smoothed_0.1", {"class_weights": (1.5, 0.5), "smoothing": 0.1}),
        ("smoothed_0.2", {"smoothing": 0.2}),
    ],
)
def test_binary_is_torchs_two_class_cross_entropy(case: str, options: dict[str, object]) -> None:
    r = evaluate_arrays(BIN_LOGITS, BIN_LABELS, logits=True, **options)
    assert r.detection.task == "binary"
    assert r.metrics["loss"] == pytest.approx(ref.BIN_AS_TWO_CLASS[case], rel=REL)
    # The two-class layout [0, z] gives the same number, read as binary on the second column
    # (scikit-learn's predict_proba layout) or, with task="multiclass", as two classes.
    two = np.stack([np.zeros_like(BIN_LOGITS), BIN_LOGITS], axis=1)
    r2 = evaluate_arrays(two, BIN_LABELS, logits=True, **options)
    assert r2.detection.task == "binary"
    assert r2.metrics["loss"] == pytest.approx(ref.BIN_AS_TWO_CLASS[case], rel=REL)
    r3 = evaluate_arrays(two, BIN_LABELS, logits=True, task="multiclass", **options)
    assert r3.detection.task == "multiclass"
    assert r3.metrics["loss"] == pytest.approx(ref.BIN_AS_TWO_CLASS[case], rel=REL)


def test_multilabel_bce_matches_torch() -> None:
    r = evaluate_arrays(ML_LOGITS, targets=ML_TARGETS, task="multilabel", logits=True)
    assert r.detection.task == "multilabel"
    assert r.metrics["loss_per_label"] == pytest.approx(ML_BCE["element_mean"], rel=REL)
    assert r.metrics["loss"] == pytest.approx(ML_BCE["row_sum_mean"], rel=REL)
    assert r.metrics["cross_entropy"] == pytest.approx(ML_BCE["row_sum_mean"], rel=REL)


def test_multilabel_label_weights_match_torch() -> None:
    r = evaluate_arrays(
        ML_LOGITS, targets=ML_TARGETS, task="multilabel", logits=True, class_weights=ML_WEIGHTS
    )
    assert r.metrics["loss_per_label"] == pytest.approx(ML_BCE["weighted_element_mean"], rel=REL)
    # cross_entropy ignores the class weights.
    assert r.metrics["cross_entropy"] == pytest.approx(ML_BCE["row_sum_mean"], rel=REL)


# torchmetrics' calibration error. The recorded binary values agree with float64 arithmetic to the
# last digit (BinaryCalibrationError keeps the float64 input here), so rel 1e-9 holds. The
# multi-class ones carry float32 rounding (MulticlassCalibrationError casts the top-label
# confidences with ``.float()`` before binning; ~1e-8 relative observed), so rel 1e-6 is the
# tolerance that fits. No confidence lies within 1e-6 of a bin edge, so float32 cannot move one
# to another bin (which would change the value far more than 1e-6).


def test_binary_calibration_error_matches_torchmetrics() -> None:
    probs = np.array(ref.TM_BIN_PROBS, dtype=np.float64)
    targets = np.array(ref.TM_BIN_TARGETS, dtype=np.int64)
    edges = np.linspace(0.0, 1.0, 11)
    assert np.abs(probs[:, None] - edges[None, :]).min() > 1e-6
    r = evaluate_arrays(probs, targets, bins=10)
    assert r.detection.task == "binary"
    assert r.metrics["ece"] == pytest.approx(ref.TM_BIN_ECE_10, rel=REL)
    assert r.metrics["mce"] == pytest.approx(ref.TM_BIN_MCE_10, rel=REL)


def test_multiclass_calibration_error_matches_torchmetrics() -> None:
    probs = np.array(ref.TM_MC_PROBS, dtype=np.float64)
    targets = np.array(ref.TM_MC_TARGETS, dtype=np.int64)
    edges = np.linspace(0.0, 1.0, 16)
    assert np.abs(probs.max(axis=1)[:, None] - edges[None, :]).min() > 1e-6
    r = evaluate_arrays(probs, targets, bins=15)
    assert r.detection.task == "multiclass"
    assert r.metrics["ece"] == pytest.approx(ref.TM_MC_ECE_15, rel=1e-6)
    assert r.metrics["mce"] == pytest.approx(ref.TM_MC_MCE_15, rel=1e-6)
