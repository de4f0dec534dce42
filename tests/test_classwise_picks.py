"""The classwise view's picks (the probabilities at or above 1/B), found once per chunk and
shared with the kernel: the packed-bit nonzero, the argmax read from the picks, the logits
kernel's hand-off of its exponentials (q = e / s), and the fold's two scatter paths. Each
against the plain NumPy computation of the same thing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ce_cli.core.calibration import bin_edges, bin_sums
from ce_cli.core.classwise import ClasswisePart, ClasswiseSums, classwise_part, classwise_sums
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.picks import Picks, ScaledPicks, classwise_threshold, sparse_flatnonzero
from ce_cli.core.sample_values import LossSpec


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_sparse_flatnonzero_equals_numpy(size, density, seed):
    mask = np.random.default_rng(seed).random(size) < density
    np.testing.assert_array_equal(sparse_flatnonzero(mask), np.flatnonzero(mask))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("width", [3, 40, 100])
def test_picks_are_every_value_at_or_above_the_threshold(order, width):
    rng = np.random.default_rng(width)
    q = np.array(_softmax(rng.standard_normal((257, width)) * 2), order=order)
    q[5, :] = 1.0 / width  # a row of ties
    threshold = classwise_threshold(15)
    picks = Picks(q, threshold)
    rows, cols = np.nonzero(q >= threshold)
    if picks.every:
        assert 2 * rows.size > q.size and picks.values.size == q.size
        rows, cols = np.nonzero(np.ones_like(q, dtype=bool))
    got = sorted(zip(picks.rows.tolist(), picks.cols.tolist(), strict=True))
    assert got == sorted(zip(rows.tolist(), cols.tolist(), strict=True))
    np.testing.assert_array_equal(picks.values, q[picks.rows, picks.cols])


def test_the_threshold_is_the_first_bin_edge():
    for n_bins in (2, 3, 10, 15, 49, 100):
        assert classwise_threshold(n_bins) == bin_edges(n_bins)[1]


def test_picks_compare_in_float64_whatever_the_input_type():
    # 1/15 rounded to float32 lies above the float64 edge: a float32 compare would miss it.
    edge = classwise_threshold(15)
    just_above = np.float32(edge)
    assert float(just_above) > edge
    below = np.nextafter(np.float32(edge), np.float32(0))
    assert float(below) < edge
    q = np.zeros((2, 40), dtype=np.float32, order="F")
    q[0, :2] = below, 1 - below
    q[1, :2] = just_above, 1 - just_above
    picks = Picks(q, edge)
    assert not picks.every
    assert (0, 0) not in set(zip(picks.rows.tolist(), picks.cols.tolist(), strict=True))
    assert (1, 0) in set(zip(picks.rows.tolist(), picks.cols.tolist(), strict=True))


def test_argmax_from_picks_is_numpys_first_argmax():
    rng = np.random.default_rng(3)
    q = _softmax(rng.standard_normal((400, 60)) * 2)
    q[7, [4, 9]] = q[7].max() + 0.01  # a tie at the top: the first column wins
    q[8] = 1.0 / 60  # no pick: every value below 1/15
    q /= q.sum(axis=1, keepdims=True)
    qf = np.asfortranarray(q)
    first, top, missing = Picks(qf, classwise_threshold(15)).row_argmax()
    expected = np.argmax(q, axis=1)
    assert missing[8] and not missing[7]
    np.testing.assert_array_equal(first[~missing], expected[~missing])
    np.testing.assert_array_equal(top[~missing], q[~missing, expected[~missing]])


@pytest.mark.parametrize("no_pick_rows", [0, 3, 200])
def test_kernel_values_are_the_same_with_and_without_picks(no_pick_rows):
    rng = np.random.default_rng(no_pick_rows)
    n, k = 300, 80
    q = _softmax(rng.standard_normal((n, k)) * 2)
    q[:no_pick_rows] = _softmax(rng.standard_normal((no_pick_rows, k)) * 0.01)  # flat rows
    q[10, [1, 2]] = 0.4
    q[10] /= q[10].sum()
    q[11] = 0.0  # one-hot: clipped at 1 - eps (the maximum) and at eps (the zeros)
    q[11, 5] = 1.0
    q[12, 0] = 0.9  # a large maximum below 1 - eps
    q[12, 1:] = 0.1 / (k - 1)
    q = np.asfortranarray(q)
    t = rng.integers(0, k, n)
    for eps in (float(np.finfo(np.float64).eps), 1e-7):
        spec = LossSpec("multiclass", logits=False, eps=eps)
        plain = evaluate_rows(q, spec, labels=t)
        shared = evaluate_rows(q, spec, labels=t, picks=Picks(q, classwise_threshold(15)))
        for name in (
            "predicted",
            "confidence",
            "cross_entropy",
            "entropy",
            "brier",
            "true_prob",
            "clipped",
        ):
            got, want = getattr(shared, name), getattr(plain, name)
            np.testing.assert_array_equal(got, want, err_msg=name)
        assert plain.clipped[11]


def test_scaled_picks_are_exactly_the_values_whose_e_over_s_reaches_the_threshold():
    rng = np.random.default_rng(5)
    n, k = 64, 40
    e = np.asfortranarray(np.exp(rng.standard_normal((n, k)) * 2))
    total = e.sum(axis=1)
    threshold = classwise_threshold(15)
    # Values on the edge and one ulp either side of it.
    e[0, 0] = threshold * total[0]
    e[1, 1] = np.nextafter(threshold * total[1], 0)
    e[2, 2] = np.nextafter(threshold * total[2], np.inf)
    w = rng.uniform(0.5, 2.0, n)
    scaled = ScaledPicks(n, k, threshold, w)
    scaled.add(0, e[:30], total[:30])
    scaled.add(30, e[30:], total[30:])
    picks = scaled.picks()
    q = e / total[:, None]
    rows, cols = np.nonzero(q >= threshold)
    got = sorted(zip(picks.rows.tolist(), picks.cols.tolist(), strict=True))
    assert got == sorted(zip(rows.tolist(), cols.tolist(), strict=True))
    np.testing.assert_array_equal(picks.values, q[picks.rows, picks.cols])
    np.testing.assert_allclose(scaled.totals, (w[:, None] * q).sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
def test_logits_classwise_state_from_the_kernels_exponentials_equals_the_softmax(weighted, order):
    rng = np.random.default_rng(11)
    n, k, bins = 500, 45, 15
    z = rng.standard_normal((n, k)) * 3
    z[:5] *= 200  # rows past the kernel's unshifted range
    t = rng.integers(0, k, n)
    s = rng.uniform(0.5, 2.0, n) if weighted else None
    spec = LossSpec("multiclass", logits=True)
    zf = np.array(z, order=order)
    scaled = ScaledPicks(n, k, classwise_threshold(bins), s)
    values = evaluate_rows(zf, spec, labels=t, scaled_picks=scaled)
    part = classwise_part(
        None,
        s,
        bins,
        labels=t,
        row_squares=np.zeros(0),
        picks=scaled.picks(),
        true_prob=values.true_prob,
        class_totals=scaled.totals,
    )
    got = ClasswiseSums(k, bins)
    got.add(part)
    q = _softmax(z)
    for j in range(k):
        w, c, y = bin_sums(q[:, j], (t == j) * 1.0, s, bins)
        np.testing.assert_allclose(got.weight[j], w, atol=1e-9)
        np.testing.assert_allclose(got.confidence[j], c, atol=1e-9)
        np.testing.assert_allclose(got.outcome[j], y, atol=1e-9)


def test_fold_by_bincount_and_by_scatter_give_the_same_sums():
    rng = np.random.default_rng(2)
    q = _softmax(rng.standard_normal((300, 50)) * 2)
    t = rng.integers(0, 50, 300)
    s = rng.uniform(0.5, 2.0, 300)
    part = classwise_part(q, s, 15, labels=t)
    dense = ClasswiseSums(50, 15)
    dense.add(part)  # few cells: bincount
    wide = [np.zeros((50, 15 * 40)) for _ in range(3)]  # many cells: np.add.at
    sparse = ClasswisePart(15 * 40)
    for name in ClasswisePart.__slots__:
        setattr(sparse, name, getattr(part, name))
    sparse.n_bins = 15 * 40
    sparse.sel_cell = part.sel_class * sparse.n_bins + part.sel_cell % 15
    sparse.own_cell = t * sparse.n_bins + part.own_cell % 15
    sparse.fold(*wide)
    for got, want in zip(wide, (dense.weight, dense.confidence, dense.outcome), strict=True):
        np.testing.assert_allclose(got[:, :15], want, atol=1e-12)
        assert not got[:, 15:].any()


def test_classwise_sums_of_column_and_row_major_matrices_agree():
    rng = np.random.default_rng(4)
    q = _softmax(rng.standard_normal((333, 70)) * 2)
    q[0, :15] = bin_edges(15)[1]  # values on the first edge (a row summing to 1 within rounding)
    q[0, 15:] = 0.0
    t = rng.integers(0, 70, 333)
    a = classwise_sums(q, None, 15, labels=t)
    b = classwise_sums(np.asfortranarray(q), None, 15, labels=t)
    for name in ("weight", "confidence", "outcome"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-12)


@pytest.mark.parametrize("logits", [False, True])
def test_report_of_many_classes_equals_the_array_functions(tmp_path, logits):
    """40 classes (the gathered path: picks binned once per task), several chunks and tasks,
    weights, float32 columns stacked from Parquet, against the definitions on the softmax."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import ce_cli
    from ce_cli.core.calibration import ece_from_bins, rms_calibration_error

    rng = np.random.default_rng(31)
    n, k = 20_000, 40
    z = (rng.standard_normal((n, k)) * 2).astype(np.float32)
    t = rng.integers(0, k, n)
    z[np.arange(n), t] += 2
    s = rng.uniform(0.2, 2, n)
    given = z if logits else _softmax(z.astype(np.float64)).astype(np.float32)
    q = _softmax(z.astype(np.float64)) if logits else given.astype(np.float64)
    cols = {f"x_{j}": given[:, j] for j in range(k)}
    cols.update({"label": t, "weight": s})
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table(cols), path)
    report = ce_cli.evaluate(
        str(path), weight_col="weight", label_col="label", prob_cols=("x_*",), logits=logits
    ).to_dict()
    m = report["metrics"]
    conf, correct = q.max(axis=1), (q.argmax(axis=1) == t) * 1.0
    assert m["rmsce"] == pytest.approx(rms_calibration_error(conf, correct, 15, s), abs=1e-9)
    eces = [ece_from_bins(*bin_sums(q[:, j], (t == j) * 1.0, s, 15)) for j in range(k)]
    assert m["ece_classwise"] == pytest.approx(np.mean(eces), abs=1e-9)
    assert [r["ece"] for r in report["per_class"]] == pytest.approx(eces, abs=1e-9)
    parts = report["calibration"]["brier_decomposition"]
    total = (
        m["brier_reliability"]
        - m["brier_resolution"]
        + m["brier_uncertainty"]
        + parts["within_bin_variance"]
        + parts["within_bin_covariance"]
        + parts["target_variance"]
    )
    assert total == pytest.approx(m["brier"], abs=1e-9)
