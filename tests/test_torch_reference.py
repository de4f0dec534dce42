"""ce-eval against PyTorch's cross_entropy / binary_cross_entropy_with_logits, torchvision's
sigmoid_focal_loss and torchmetrics' CalibrationError, from values recorded in
``torch_reference.py`` (the script that made them is in its comments)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ce_cli import evaluate_arrays
from ce_cli.core.persample import LossSpec, evaluate_rows

_spec = importlib.util.spec_from_file_location(
    "torch_reference", Path(__file__).with_name("torch_reference.py")
)
assert _spec is not None and _spec.loader is not None
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

REL = 1e-9
MC_OPTIONS = {
    "plain": {},
    "weighted": {"class_weights": tuple(ref.MC_CLASS_WEIGHTS)},
    "smoothed_0.1": {"smoothing": 0.1},
    "weighted_smoothed_0.1": {"class_weights": tuple(ref.MC_CLASS_WEIGHTS), "smoothing": 0.1},
    "soft": {},
    "soft_weighted_smoothed_0.2": {"class_weights": tuple(ref.MC_CLASS_WEIGHTS), "smoothing": 0.2},
}


@pytest.mark.parametrize("case", list(MC_OPTIONS))
def test_multiclass_cross_entropy_matches_pytorch(case: str) -> None:
    logits = np.array(ref.MC_LOGITS)
    soft = case.startswith("soft")
    labels = None if soft else np.array(ref.MC_LABELS)
    targets = np.array(ref.MC_SOFT_TARGETS) if soft else None
    r = evaluate_arrays(logits, labels, targets=targets, logits=True, **MC_OPTIONS[case])
    assert r.metrics["loss"] == pytest.approx(ref.MC_CE[case], rel=REL)


@pytest.mark.parametrize("case", list(MC_OPTIONS))
def test_multiclass_per_sample_matches_pytorch(case: str) -> None:
    soft = case.startswith("soft")
    options = MC_OPTIONS[case]
    spec = LossSpec(
        "multiclass",
        logits=True,
        smoothing=options.get("smoothing", 0.0),
        class_weights=np.array(options["class_weights"]) if "class_weights" in options else None,
    )
    values = evaluate_rows(
        np.array(ref.MC_LOGITS),
        spec,
        labels=None if soft else np.array(ref.MC_LABELS),
        targets=np.array(ref.MC_SOFT_TARGETS) if soft else None,
    )
    np.testing.assert_allclose(values.loss, ref.MC_CE_NONE[case], rtol=REL)


def test_binary_cross_entropy_with_logits() -> None:
    r = evaluate_arrays(np.array(ref.BIN_LOGITS), np.array(ref.BIN_LABELS), logits=True)
    assert r.metrics["loss"] == pytest.approx(ref.BIN_BCE, rel=REL)


@pytest.mark.parametrize(
    ("case", "gamma", "alpha"),
    [("g2_a0.25", 2.0, 0.25), ("g2_noalpha", 2.0, None), ("g0.5_a0.75", 0.5, 0.75)],
)
def test_binary_focal_matches_torchvision(case: str, gamma: float, alpha: float | None) -> None:
    r = evaluate_arrays(
        np.array(ref.BIN_LOGITS),
        np.array(ref.BIN_LABELS),
        logits=True,
        loss="focal",
        gamma=gamma,
        alpha=alpha,
    )
    assert r.metrics["loss"] == pytest.approx(ref.BIN_FOCAL[case], rel=REL)


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("plain", {}),
        ("weighted_w0_1.5_w1_0.5", {"class_weights": (1.5, 0.5)}),
        ("weighted_smoothed_0.1", {"class_weights": (1.5, 0.5), "smoothing": 0.1}),
        ("smoothed_0.2", {"smoothing": 0.2}),
    ],
)
def test_binary_equals_pytorch_two_class_cross_entropy(case: str, options: dict) -> None:
    r = evaluate_arrays(np.array(ref.BIN_LOGITS), np.array(ref.BIN_LABELS), logits=True, **options)
    assert r.metrics["loss"] == pytest.approx(ref.BIN_AS_TWO_CLASS[case], rel=REL)


def test_multilabel_matches_pytorch_bce() -> None:
    logits, targets = np.array(ref.ML_LOGITS), np.array(ref.ML_TARGETS)
    r = evaluate_arrays(logits, targets=targets, logits=True, task="multilabel")
    assert r.metrics["loss_per_label"] == pytest.approx(ref.ML_BCE["element_mean"], rel=REL)
    assert r.metrics["loss"] == pytest.approx(ref.ML_BCE["row_sum_mean"], rel=REL)
    w = evaluate_arrays(
        logits,
        targets=targets,
        logits=True,
        task="multilabel",
        class_weights=tuple(ref.ML_LABEL_WEIGHTS),
    )
    assert w.metrics["loss_per_label"] == pytest.approx(
        ref.ML_BCE["weighted_element_mean"], rel=REL
    )


# torchmetrics bins and sums in float32, so agreement is to float32 precision.
TM_REL = 2e-6


def test_binary_calibration_matches_torchmetrics() -> None:
    r = evaluate_arrays(np.array(ref.TM_BIN_PROBS), np.array(ref.TM_BIN_TARGETS), bins=10)
    assert r.metrics["ece"] == pytest.approx(ref.TM_BIN_ECE_10, rel=TM_REL)
    assert r.metrics["mce"] == pytest.approx(ref.TM_BIN_MCE_10, rel=TM_REL)


def test_multiclass_calibration_matches_torchmetrics() -> None:
    r = evaluate_arrays(np.array(ref.TM_MC_PROBS), np.array(ref.TM_MC_TARGETS), bins=15)
    assert r.metrics["ece"] == pytest.approx(ref.TM_MC_ECE_15, rel=TM_REL)
    assert r.metrics["mce"] == pytest.approx(ref.TM_MC_MCE_15, rel=TM_REL)
