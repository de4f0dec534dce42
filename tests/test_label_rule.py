"""The positive outcome of a binary or multi-label target, and the predicted one, have one rule
each, in ``core``; the accumulator's per-label counts use them (a logit of -1e-17 included)."""

from __future__ import annotations

import numpy as np
import pytest

from ce_cli import evaluate_arrays
from ce_cli.core.persample import true_positive


def test_per_label_counts_follow_the_core_rules_with_a_logit_just_below_zero() -> None:
    z = np.array([[-1e-17, 40.0], [-1e-17, -40.0], [3.0, 1e-17]])
    y = np.array([[0.5, 0.0], [0.49, 1.0], [1.0, 0.5]])  # soft targets at and near 1/2
    report = evaluate_arrays(z, targets=y, logits=True, task="multilabel")
    # Support: targets of at least 1/2 (the core's rule), [2, 2].
    assert [c["support"] for c in report.per_class] == true_positive(y).sum(axis=0).tolist()
    assert [c["support"] for c in report.per_class] == [2, 2]
    # σ(-1e-17) rounds to 0.5, yet the logit says negative: label 0 is predicted once (z = 3).
    assert [c["predicted"] for c in report.per_class] == [1.0, 2.0]
    # Right where the predicted and true outcomes agree: label 0 [0, 1, 1], label 1 [0, 0, 1].
    assert report.per_class[0]["accuracy"] == pytest.approx(2 / 3, rel=1e-15)
    assert report.per_class[1]["accuracy"] == pytest.approx(1 / 3, rel=1e-15)


def test_a_binary_target_of_one_half_is_the_positive_class() -> None:
    report = evaluate_arrays(np.array([-1e-17, 0.0]), targets=np.array([0.5, 0.5]), logits=True)
    # True class 1 for both rows; the -1e-17 logit predicts class 0, the 0 logit class 1.
    assert [c["support"] for c in report.per_class] == [0, 2]
    assert report.metrics["accuracy"] == 0.5
