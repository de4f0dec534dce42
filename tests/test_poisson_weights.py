"""The bootstrap's Poisson(1) weights drawn by integer thresholds are the draws of the inverse
CDF on the float uniform, exactly (so intervals did not change when the draw got faster)."""

from __future__ import annotations

import numpy as np
import pytest

from ce_cli.state.bootstrap import _POISSON1_CDF, _splitmix64, poisson_weights


def _float_inverse_cdf(rows: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """The draw as first written: a float uniform in [0, 1) and a search of the float CDF."""
    r = np.asarray(rows, dtype=np.uint64)[:, None]
    c = np.arange(replicates, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        key = r * np.uint64(replicates) + c + np.uint64(seed) * np.uint64(0xD1B54A32D192ED03)
    bits = _splitmix64(_splitmix64(key))
    uniform = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    return np.searchsorted(_POISSON1_CDF, uniform, side="right").astype(np.float64)


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_integer_thresholds_draw_the_float_inverse_cdf_exactly(seed: int) -> None:
    rows = np.random.default_rng(seed % 997).integers(1, 2**40, 30_000)
    expected = _float_inverse_cdf(rows, 64, seed)
    got = poisson_weights(rows, 64, seed)
    assert np.array_equal(got, expected)
    assert got.max() >= 6  # the looked-up tail (k >= 4) is exercised


def test_a_uniform_on_a_threshold_counts_as_reaching_it() -> None:
    """m / 2^53 == CDF_j exactly: searchsorted(side='right') counts CDF_j, and so must we."""
    from ce_cli.state import bootstrap

    m = bootstrap._POISSON1_THRESHOLDS[:6]
    assert np.all(m.astype(np.float64) / 2.0**53 >= _POISSON1_CDF[:6])
    assert np.all((m - np.uint64(1)).astype(np.float64) / 2.0**53 < _POISSON1_CDF[:6])
