"""Loss quantiles come from a fixed log-spaced histogram: within ±0.6 % of the exact ones,
exact at the extremes, and the same however the rows were split."""

from __future__ import annotations

import numpy as np
import pytest

import ce_cli
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec
from ce_cli.state.accumulator import Accumulator


@pytest.mark.parametrize("scale", [0.1, 2.0, 8.0])
def test_quantiles_within_the_stated_precision(scale: float) -> None:
    rng = np.random.default_rng(int(scale * 10))
    z = rng.normal(size=(20_000, 5)) * scale
    t = rng.integers(0, 5, 20_000)
    values = evaluate_rows(z, LossSpec("multiclass", logits=True), labels=t)
    acc = Accumulator("multiclass", 5, 15)
    acc.update(values)
    for q in (0.5, 0.9, 0.99):
        exact = float(np.quantile(values.loss, q))
        assert acc.loss_quantile(q) == pytest.approx(exact, rel=0.006)
    assert acc.loss_min == values.loss.min()
    assert acc.loss_max == values.loss.max()


def test_report_quantiles_are_in_the_chosen_base() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet([1, 1, 1], 5000)
    labels = rng.integers(0, 3, 5000)
    nats = ce_cli.evaluate_arrays(probs, labels).loss_quantiles
    bits = ce_cli.evaluate_arrays(probs, labels, base="bits").loss_quantiles
    assert bits["p90"] == pytest.approx(nats["p90"] / np.log(2), rel=1e-12)
    exact = np.quantile(-np.log(probs[np.arange(5000), labels]), 0.9)
    assert nats["p90"] == pytest.approx(exact, rel=0.006)
