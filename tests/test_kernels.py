"""The fused multi-class kernels against the definitions, and the scratch workspace they use.

The fast paths (hard labels from logits, hard labels from probabilities) compute the report's
numbers without rows × classes temporaries; here they are checked against the formulas of
SPEC.md written out directly, and a workspace reused across chunks must never leak into results.
"""

from __future__ import annotations

import decimal
from dataclasses import fields
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec, SampleValues
from ce_cli.core.workspace import Workspace
from ce_cli.state.accumulator import Accumulator

F32_EPS = float(np.finfo(np.float32).eps)


def _definition(q: np.ndarray, t: np.ndarray, eps: float) -> dict[str, np.ndarray]:
    """The SPEC's per-row numbers for probability rows ``q`` and hard labels ``t``, written out."""
    rows = np.arange(len(t))
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
    onehot = np.eye(q.shape[1])[t]
    return {
        "cross_entropy": -np.log(np.clip(q[rows, t], eps, 1 - eps)),
        "entropy": -plogp.sum(axis=1),
        "brier": ((q - onehot) ** 2).sum(axis=1),
        "confidence": q.max(axis=1),
        "correct": (q.argmax(axis=1) == t).astype(float),
        "true_prob": q[rows, t],
    }


def _assert_values_equal(a: SampleValues, b: SampleValues, rtol: float = 1e-12) -> None:
    for f in fields(SampleValues):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert (x is None) == (y is None), f.name
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-300, err_msg=f.name)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    c=st.integers(2, 12),
    seed=st.integers(0, 2**32 - 1),
    temperature=st.sampled_from([0.1, 1.0, 10.0, 60.0]),
)
def test_probability_kernel_matches_the_definitions(
    n: int, c: int, seed: int, temperature: float
) -> None:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * temperature
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    t = rng.integers(0, c, n)
    got = evaluate_rows(q, LossSpec("multiclass", logits=False), labels=t, workspace=Workspace())
    want = _definition(q, t, float(np.finfo(np.float64).eps))
    for name, expected in want.items():
        np.testing.assert_allclose(getattr(got, name), expected, rtol=1e-9, atol=1e-15)


def test_probability_kernel_clips_zero_and_one_and_counts_the_rows() -> None:
    q = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])
    t = np.array([1, 2, 0])
    got = evaluate_rows(q, LossSpec("multiclass", logits=False, eps=F32_EPS), labels=t)
    assert got.clipped.tolist() == [True, False, True]
    np.testing.assert_allclose(got.cross_entropy, -np.log([F32_EPS, 0.5, F32_EPS]), rtol=1e-12)
    # Entropy uses the unclipped q with 0 log 0 = 0: a one-hot row has entropy exactly 0.
    assert got.entropy[0] == 0.0
    np.testing.assert_allclose(got.entropy[2], np.log(2.0), rtol=1e-12)


def test_confident_rows_keep_every_digit_of_their_brier_score() -> None:
    """(1 - q_t)² + Σ_{j≠t} q_j², not Σ q² - 2 q_t + 1, which rounds 2e-24 to 0 or 1e-24."""
    q = np.array([[1 - 1e-12, 1e-12]])
    logits = np.log(q)
    for spec, predictions in (
        (LossSpec("multiclass", logits=False), q),
        (LossSpec("multiclass", logits=True), logits),
    ):
        got = evaluate_rows(predictions, spec, labels=np.array([0]), workspace=Workspace())
        np.testing.assert_allclose(got.brier, [2e-24], rtol=1e-3)


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("order", ["C", "F"])
def test_a_reused_workspace_never_leaks_into_results(logits: bool, order: str) -> None:
    rng = np.random.default_rng(7)
    spec = LossSpec("multiclass", logits=logits)
    workspace = Workspace()
    chunks = []
    for _ in range(3):
        z = np.asarray(rng.standard_normal((50, 6)) * 3, order=order)  # type: ignore[call-overload]
        q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        chunks.append((np.asarray(z if logits else q, order=order), rng.integers(0, 6, 50)))
    kept = [evaluate_rows(p, spec, labels=t, workspace=workspace) for p, t in chunks]
    for (p, t), values in zip(chunks, kept, strict=True):
        _assert_values_equal(values, evaluate_rows(p, spec, labels=t))


def test_float32_logits_give_the_float64_numbers() -> None:
    """z - max z is formed in float64, so float32 logits lose nothing before the exp."""
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((64, 10)) * 4).astype(np.float32)
    t = rng.integers(0, 10, 64)
    spec = LossSpec("multiclass", logits=True)
    _assert_values_equal(
        evaluate_rows(z, spec, labels=t), evaluate_rows(z.astype(np.float64), spec, labels=t)
    )


def test_the_kernel_leaves_its_input_alone() -> None:
    q = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    before = q.copy()
    q.setflags(write=False)
    evaluate_rows(q, LossSpec("multiclass", logits=False), labels=np.array([0, 2]))
    np.testing.assert_array_equal(q, before)


def test_unweighted_update_equals_unit_weights_and_absorb_equals_merge() -> None:
    rng = np.random.default_rng(11)
    z = rng.standard_normal((300, 5)) * 2
    t = rng.integers(0, 5, 300)
    values = evaluate_rows(z, LossSpec("multiclass", logits=True), labels=t)
    unweighted = Accumulator("multiclass", 5, 15)
    unweighted.update(values)
    unit = Accumulator("multiclass", 5, 15)
    unit.update(values, np.ones(300))
    halves = [Accumulator("multiclass", 5, 15) for _ in range(2)]
    for part, rows in zip(halves, (slice(0, 140), slice(140, 300)), strict=True):
        part.update(evaluate_rows(z[rows], LossSpec("multiclass", logits=True), labels=t[rows]))
    absorbed = Accumulator("multiclass", 5, 15)
    for part in halves:
        absorbed.absorb(part)
    merged = halves[0].merge(halves[1])
    for f in fields(Accumulator):
        a, b, c, d = (getattr(x, f.name) for x in (unweighted, unit, absorbed, merged))
        if isinstance(a, str):
            continue
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=f.name)
        np.testing.assert_allclose(a, c, rtol=1e-12, err_msg=f.name)
        np.testing.assert_array_equal(c, d, err_msg=f.name)


def test_a_true_class_far_below_the_maximum_gives_a_finite_loss() -> None:
    """r / e_t overflows once z_t is ~710 below the maximum; the loss is log s - (z_t - m)."""
    z = np.array([[0.0, -710.0], [0.0, -700.0], [0.0, -1000.0]])
    got = evaluate_rows(z, LossSpec("multiclass", logits=True), labels=np.array([1, 1, 1]))
    np.testing.assert_allclose(got.cross_entropy, [710.0, 700.0, 1000.0], rtol=1e-15)
    general = evaluate_rows(
        z, LossSpec("multiclass", logits=True, smoothing=1e-300), labels=np.array([1, 1, 1])
    )
    np.testing.assert_allclose(got.cross_entropy, general.cross_entropy, rtol=1e-15)


def _logit_definition(z: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """The SPEC's per-row numbers for logits, in 250-digit decimal arithmetic (enough that
    1 + e^-320 is not rounded to 1)."""
    out: dict[str, list[float]] = {
        k: [] for k in ("cross_entropy", "entropy", "brier", "confidence", "true_prob")
    }
    with decimal.localcontext() as ctx:
        ctx.prec = 250
        for row, true in zip(z.tolist(), t.tolist(), strict=True):
            top = max(row)
            shifted = [Decimal(v) - Decimal(top) for v in row]
            exps = [v.exp() for v in shifted]
            log_s = sum(exps).ln()
            log_q = [v - log_s for v in shifted]
            q = [v.exp() for v in log_q]
            out["cross_entropy"].append(float(-log_q[true]))
            out["entropy"].append(float(-sum(a * b for a, b in zip(q, log_q, strict=True))))
            out["brier"].append(float(sum((v - (j == true)) ** 2 for j, v in enumerate(q))))
            out["confidence"].append(float(max(q)))
            out["true_prob"].append(float(q[true]))
    return {k: np.array(v) for k, v in out.items()}


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 30),
    c=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    temperature=st.sampled_from([0.01, 1.0, 8.0, 40.0]),
    offset=st.sampled_from([0.0, 250.0, -280.0, 320.0, -5000.0, 1e6]),
)
def test_logit_kernel_matches_the_definitions_at_any_offset(
    n: int, c: int, seed: int, temperature: float, offset: float
) -> None:
    """Logits within ±300 are exponentiated unshifted, others after subtracting the row
    maximum: either way every number matches the definition to 1e-12 (relative)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * temperature + offset
    t = rng.integers(0, c, n)
    got = evaluate_rows(z, LossSpec("multiclass", logits=True), labels=t, workspace=Workspace())
    assert np.array_equal(got.predicted, z.argmax(axis=1))
    for name, expected in _logit_definition(z, t).items():
        np.testing.assert_allclose(
            getattr(got, name), expected, rtol=1e-12, atol=1e-300, err_msg=name
        )


def test_a_confident_row_keeps_the_digits_of_its_entropy() -> None:
    """H ≈ 99·31·e^-30 here: tiny, and computed from non-negative terms only."""
    for shift in (0.0, -200.0, 500.0):  # unshifted and shifted paths
        z = np.zeros((1, 100)) + shift
        z[0, 0] += 30.0
        got = evaluate_rows(z, LossSpec("multiclass", logits=True), labels=np.array([0]))
        want = _logit_definition(z, np.array([0]))
        for name in ("entropy", "cross_entropy", "brier"):
            np.testing.assert_allclose(getattr(got, name), want[name], rtol=1e-13)


def test_a_rows_numbers_do_not_depend_on_the_rows_beside_it() -> None:
    """Rows past ±300 are shifted by their maximum, the others not, each on its own values: a
    row gives the same bits alone and beside such a row."""
    rng = np.random.default_rng(9)
    z = rng.standard_normal((50, 8)) * 5 + 250
    z[7] += 100  # past EXP_SAFE: shifted
    t = rng.integers(0, 8, 50)
    spec = LossSpec("multiclass", logits=True)
    together = evaluate_rows(z, spec, labels=t, workspace=Workspace())
    for i in (0, 6, 7, 8, 49):
        alone = evaluate_rows(z[i : i + 1], spec, labels=t[i : i + 1], workspace=Workspace())
        for f in fields(SampleValues):
            a, b = getattr(alone, f.name), getattr(together, f.name)
            if a is not None:
                np.testing.assert_array_equal(a, b[i : i + 1], err_msg=f"{f.name}, row {i}")
