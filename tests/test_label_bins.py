"""Multi-label calibration events binned once (``label_bin_sums``), and the fused multi-label
kernel (each chunk folded into a full part on the worker) against the general path.

The fused path sums the same events in another order (per chunk, per label, then across labels
and tasks), so its numbers are held to the general path's within 1e-12, for any chunk size.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import ce_cli.engine.kernel as kernel_module
from ce_cli.api import evaluate
from ce_cli.core.calibration import bin_index, weighted_bin_sums
from ce_cli.core.classwise import classwise_sums
from ce_cli.core.label_bins import label_bin_sums, label_events
from ce_cli.state.accumulator import Accumulator
from tests.reports_close import assert_reports_close


def _events(rng: np.random.Generator, n: int, labels: int, soft: bool) -> tuple:
    q = rng.uniform(0.0, 1.0, (n, labels))
    q[rng.uniform(size=q.shape) < 0.05] = 1.0  # the last bin's closed edge
    q[rng.uniform(size=q.shape) < 0.05] = 0.0
    edges = np.arange(11) / 10  # values exactly on an edge go to the upper bin
    on_edge = rng.uniform(size=q.shape) < 0.05
    q[on_edge] = rng.choice(edges, int(on_edge.sum()))
    y = rng.uniform(size=(n, labels)) if soft else (rng.uniform(size=(n, labels)) < q) * 1.0
    return q, y


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    labels=st.integers(1, 6),
    n_bins=st.sampled_from([1, 2, 10, 15]),
    weighted=st.booleans(),
    soft=st.booleans(),
    by_label=st.booleans(),
)
def test_label_bins_equal_the_separate_views(
    seed: int, n: int, labels: int, n_bins: int, weighted: bool, soft: bool, by_label: bool
) -> None:
    """One bin index per event gives the top-label bins (every (row, label) event) and the
    classwise bins (each label's events) of the separate computations, in either layout."""
    rng = np.random.default_rng(seed)
    q, y = _events(rng, n, labels, soft)
    s = rng.uniform(0.1, 3.0, n) if weighted else None
    if by_label:  # stacked columns: label-major memory
        q, y = np.asfortranarray(q), np.asfortranarray(y)
    (w, conf, hit, events), sums = label_bin_sums(q, y, s, n_bins, classwise=True, hard=not soft)
    assert sums is not None

    flat_q, flat_y = np.ascontiguousarray(q).reshape(-1), np.ascontiguousarray(y).reshape(-1)
    flat_s = None if s is None else np.repeat(s, labels)
    index = bin_index(flat_q, n_bins)
    expected = weighted_bin_sums(index, flat_q, flat_y, flat_s, n_bins)
    for got, want in zip((w, conf, hit), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(events, np.bincount(index, minlength=n_bins))

    separate = classwise_sums(np.ascontiguousarray(q), s, n_bins, targets=np.ascontiguousarray(y))
    for name in ("weight", "confidence", "outcome"):
        np.testing.assert_allclose(
            getattr(sums, name), getattr(separate, name), rtol=1e-12, atol=1e-12, err_msg=name
        )
    for name in ("square", "cross", "target_spread"):
        assert np.isclose(getattr(sums, name), getattr(separate, name), rtol=1e-12, atol=1e-12)

    # Each classwise cell adds its events in row order whatever the layout: the same bits.
    other = np.ascontiguousarray(q) if by_label else np.asfortranarray(q)
    _, sums_other = label_bin_sums(other, y, s, n_bins, classwise=True)
    assert sums_other is not None
    np.testing.assert_array_equal(sums.weight, sums_other.weight)
    np.testing.assert_array_equal(sums.confidence, sums_other.confidence)


def test_label_events_flatten_stacked_columns_without_a_copy() -> None:
    q = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(4, 3) / 12)
    conf, _, w, by_label = label_events(q, q, np.arange(4.0))
    assert by_label and np.shares_memory(conf, q)
    assert conf.tolist() == q.T.reshape(-1).tolist()  # label 0's rows, then label 1's, ...
    assert w is not None and w.tolist() == [0.0, 1.0, 2.0, 3.0] * 3


def _table(rng: np.random.Generator, n: int, labels: int) -> pa.Table:
    y = (rng.uniform(size=(n, labels)) < 0.3).astype(np.int8)
    z = rng.normal(size=(n, labels)) + 2.5 * (y - 0.5)
    q = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    columns: dict[str, object] = {f"p_{j}": q[:, j] for j in range(labels)}
    columns.update({f"y_{j}": y[:, j] for j in range(labels)})
    columns["w"] = rng.uniform(0.2, 2.0, n)
    columns["g"] = rng.choice(["a", "b", "c"], n)
    return pa.table(columns)


_TABLE = _table(np.random.default_rng(20261202), 40_000, 8)  # 320,000 events: two fused tasks


def _report(fused: bool, chunk: int, **options: object) -> dict:
    """The report, through the fused kernel or the general path (whose fine histogram the
    calling thread fills: the fused path never calls ``update_fine``)."""
    general = mock.patch.object(kernel_module, "DENSE_CLASSWISE_CELLS", 0)  # no fused parts
    fine = mock.patch.object(
        Accumulator,
        "update_fine",
        side_effect=AssertionError("the fused kernel fills its own fine histogram"),
    )
    with (
        mock.patch.object(kernel_module, "LABEL_CHUNK_VALUES", chunk),
        general if not fused else fine,
    ):
        report = evaluate(_TABLE, target_cols="y_*", prob_cols="p_*", task="multilabel", **options)
    out: dict = report.to_dict()
    out.pop("timing", None)
    return out


@settings(max_examples=6, deadline=None)
@given(
    chunk=st.sampled_from([1 << 10, 5_000, 1 << 16, 1 << 18]),
    weighted=st.booleans(),
    extras=st.sampled_from([{}, {"group_col": "g", "top": 5}, {"ci": 0.9, "bootstrap": 10}]),
)
def test_fused_multilabel_kernel_gives_the_general_path_numbers(
    chunk: int, weighted: bool, extras: dict
) -> None:
    """Any chunk size of the fused kernel (every sum split differently) gives the numbers of the
    general path (per-task parts, fine histogram on the calling thread) to 1e-12, with the
    collectors that keep the per-sample values (groups, worst rows, bootstrap) too."""
    options = dict(extras, weight_col="w") if weighted else dict(extras)
    general = _report(fused=False, chunk=1 << 16, **options)
    fused = _report(fused=True, chunk=chunk, **options)
    assert_reports_close(fused, general, rel=1e-12, absolute=1e-14)


def test_many_labels_and_bins_fall_back_to_sparse_classwise_sums() -> None:
    """Where labels × bins outnumber an update's events, the accumulator sums the classwise view
    sparse (no dense cells per update): the same sums as the dense binning."""
    from ce_cli.core.persample import evaluate_rows
    from ce_cli.core.sample_values import MULTILABEL, LossSpec

    rng = np.random.default_rng(3)
    q, y = _events(rng, 4, 6000, soft=False)  # 24,000 events, 90,000 cells
    s = rng.uniform(0.5, 2.0, 4)
    values = evaluate_rows(q, LossSpec(MULTILABEL, logits=False), targets=y)
    acc = Accumulator(MULTILABEL, 6000, 15)
    acc.update(values, s)
    (w, conf, hit, events), dense = label_bin_sums(q, y, s, 15, classwise=True)
    assert dense is not None
    np.testing.assert_allclose(acc.bin_confidence, conf, rtol=1e-12)
    np.testing.assert_allclose(acc.bin_outcome, hit, rtol=1e-12)
    np.testing.assert_allclose(acc.classwise_weight, dense.weight, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc.classwise_confidence, dense.confidence, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc.classwise_outcome, dense.outcome, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc.bin_weight, w, rtol=1e-12)
    np.testing.assert_array_equal(acc.bin_rows, events)
    assert acc.classwise_rows == 4
