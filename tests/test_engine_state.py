"""The engine's pure batch function and mergeable state: any split, merged, is one pass.

``evaluate_batch(plan, batch, row_offset)`` of consecutive pieces of an input, merged with
``State.merge`` in row order (and in any grouping of the merges), gives the report of the whole
input in one batch: sums to rounding (1e-12 relative), counts, extremes, worst rows and the
bootstrap's draws exactly. This is what lets threads and Dask partitions share the work.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ce_cli.api import _table_source
from ce_cli.engine.batch import evaluate_batch
from ce_cli.engine.local import LocalDriver
from ce_cli.engine.plan import Plan
from ce_cli.engine.run import finish
from ce_cli.engine.state import State
from ce_cli.settings import Settings

N = 240


def _load_helper() -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("reports_close.py")
    spec = importlib.util.spec_from_file_location("reports_close", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.assert_reports_close


assert_reports_close = _load_helper()


def _table(task: str) -> pa.Table:
    rng = np.random.default_rng(11)
    weight = rng.uniform(0.1, 2.0, N)
    group = rng.choice(["a", "b", "c"], N)
    if task == "multiclass":
        z = rng.normal(size=(N, 4)) * 2
        y = rng.integers(0, 4, N)
        # Repeated rows: equal losses, so the worst rows' ties are exercised.
        z[::7], y[::7] = z[0], y[0]
        return pa.table(
            {"label": y, **{f"z_{j}": z[:, j] for j in range(4)}, "w": weight, "g": group}
        )
    if task == "binary":
        p = rng.uniform(0.001, 0.999, N)
        return pa.table({"label": rng.integers(0, 2, N), "p": p, "w": weight, "g": group})
    q = rng.uniform(0.01, 0.99, (N, 3))
    y = (rng.uniform(size=(N, 3)) < q).astype(float)
    return pa.table(
        {
            **{f"p_{j}": q[:, j] for j in range(3)},
            **{f"y_{j}": y[:, j] for j in range(3)},
            "w": weight,
            "g": group,
        }
    )


_OPTIONS: dict[str, dict[str, Any]] = {
    "multiclass": {"logits": True, "prob_cols": "z_*", "class_weights": "balanced"},
    "binary": {"loss": "focal", "gamma": 2.0, "alpha": 0.3, "prob_cols": "p"},
    "multilabel": {"task": "multilabel", "prob_cols": "p_*", "target_cols": "y_*"},
}


@functools.cache
def _plan(task: str) -> tuple[Plan, pa.RecordBatch]:
    table = _table(task)
    options = {"weight_col": "w", "group_col": "g", "top": 6, "ci": 0.9, "bootstrap": 12}
    options |= {"label_col": "label"} if task != "multilabel" else {}
    settings = Settings(**(options | _OPTIONS[task]))
    plan = LocalDriver(_table_source(table, "t")).plan(settings)
    if plan.needs_label_counts:  # explicit weights stand in for the label-count pass here
        plan = plan.with_class_weights(np.array([1.0, 2.0, 0.5, 1.5]))
    return plan, table.combine_chunks().to_batches()[0]


def _report(plan: Plan, state: State) -> dict[str, Any]:
    return finish(plan, state).to_dict()


@settings(max_examples=15, deadline=None)
@given(
    task=st.sampled_from(sorted(_OPTIONS)),
    cuts=st.lists(st.integers(1, N - 1), max_size=6, unique=True).map(sorted),
    right_first=st.booleans(),
)
def test_merge_of_any_split_is_one_pass(task: str, cuts: list[int], right_first: bool) -> None:
    plan, batch = _plan(task)
    whole = _report(plan, evaluate_batch(plan, batch, 0))
    bounds = [0, *cuts, N]
    states = [evaluate_batch(plan, batch.slice(a, b - a), a) for a, b in itertools.pairwise(bounds)]
    if right_first:  # ((s0 (s1 (s2 …)))): merges grouped the other way round
        merged = functools.reduce(lambda acc, s: s.merge(acc), reversed(states))
    else:
        merged = functools.reduce(State.merge, states)
    assert_reports_close(_report(plan, merged), whole)


def test_merge_leaves_its_inputs_alone() -> None:
    plan, batch = _plan("multiclass")
    a, b = evaluate_batch(plan, batch.slice(0, 100), 0), evaluate_batch(plan, batch.slice(100), 100)
    before = _report(plan, a), _report(plan, b)
    a.merge(b)
    assert (_report(plan, a), _report(plan, b)) == before


def test_the_row_offset_numbers_rows_in_errors() -> None:
    plan, batch = _plan("binary")
    columns = batch.schema.names
    bad = pa.RecordBatch.from_arrays(
        [pa.array([1.5]) if name == "p" else batch.column(name).slice(0, 1) for name in columns],
        names=columns,
    )
    with pytest.raises(Exception, match="row 1001"):
        evaluate_batch(plan, bad, 1000)


def test_a_plan_survives_pickling() -> None:
    import pickle

    plan, batch = _plan("multiclass")
    again = pickle.loads(pickle.dumps(plan))
    assert_reports_close(
        _report(again, evaluate_batch(again, batch, 0)),
        _report(plan, evaluate_batch(plan, batch, 0)),
        rel=0.0,
        absolute=0.0,
    )


def test_huge_logits_keep_the_classwise_probabilities_finite() -> None:
    """A row of logits near 1e300 (a damaged file can hold them) rounds its log-sum-exp by
    far more than 1: its classwise probabilities come from a softmax of its own, not exp(z-lse)
    (which overflowed), and equal the scaled-down row's."""
    import warnings

    from ce_cli.api import evaluate

    # Three classes (multi-class). Row 2: CE + z_t cancels to 0 where the lse is 1e200.
    big = [[1e300, -1e300, 0.0], [3.0, 5.0, 1.0], [1e200, -1e299, 0.0]]
    huge = pa.table({"label": [0, 1, 1], **{f"z_{j}": [r[j] for r in big] for j in range(3)}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = evaluate(huge, prob_cols="z_*", logits=True).to_dict()
    scaled = [[1e3, -1e3, 0.0], [3.0, 5.0, 1.0], [1e3, -1e3, 0.0]]
    small = pa.table({"label": [0, 1, 1], **{f"z_{j}": [r[j] for r in scaled] for j in range(3)}})
    expected = evaluate(small, prob_cols="z_*", logits=True).to_dict()
    assert report["detected"]["task"] == "multiclass"
    assert report["calibration"] == expected["calibration"]
