"""The calibration estimators against the libraries that define them (relplot,
uncertainty-calibration), Murphy's parts adding up to Brier, the fine histogram's resolution,
merging, and the fitted temperature against a direct optimiser."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

import ce_cli
from ce_cli.core.calibration import (
    bin_sums,
    debiased_rms_calibration_error_from_bins,
    ece_from_bins,
    overconfidence_from_bins,
    rms_calibration_error,
)
from ce_cli.core.classwise import (
    classwise_eces,
    classwise_part,
    classwise_sums,
    murphy_decomposition,
)
from ce_cli.core.equal_mass import (
    FINE_SIZE,
    adaptive_bins,
    adaptive_calibration_error,
    fine_cell_means,
    fine_equal_mass_bins,
    fine_histogram_update,
)
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec
from ce_cli.core.smooth import smooth_calibration_error, smooth_ece_bandwidth
from ce_cli.state.accumulator import Accumulator

relplot = pytest.importorskip("relplot")
uc = pytest.importorskip("calibration")


def _events(n: int, seed: int, kind: str = "smooth") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.beta(5, 2, n)
    if kind == "ties":
        c = np.round(c, 2)
    if kind == "ones":
        c[rng.uniform(size=n) < 0.3] = 1.0
    o = (rng.uniform(size=n) < c**1.3).astype(np.float64)
    return c, o


def _histogram(c: np.ndarray, o: np.ndarray, s: np.ndarray | None = None) -> tuple:
    hist = (
        np.zeros(FINE_SIZE),
        np.zeros(FINE_SIZE),
        np.zeros(FINE_SIZE),
        np.full(FINE_SIZE, np.inf),
        np.full(FINE_SIZE, -np.inf),
    )
    fine_histogram_update(hist, c, o, s)
    return hist


@pytest.mark.parametrize("n", [50, 1000, 20000])
@pytest.mark.parametrize("kind", ["smooth", "ties", "ones"])
def test_equal_mass_ece_matches_uncertainty_calibration_and_the_histogram(n: int, kind: str):
    c, o = _events(n, n, kind)
    exact = adaptive_calibration_error(c, o, 15)
    assert exact == pytest.approx(uc.get_ece_em(c, o.astype(int), num_bins=15), abs=1e-12)
    _, w, s, y = fine_equal_mass_bins(*_histogram(c, o), 15)
    tolerance = 2e-4 if kind == "smooth" else 5e-3
    assert abs(ece_from_bins(w, s, y) - exact) <= tolerance


@pytest.mark.parametrize("n", [4, 50, 3000])
@pytest.mark.parametrize("kind", ["smooth", "ties", "ones"])
def test_smooth_ece_matches_relplot_from_events_and_from_the_histogram(n: int, kind: str):
    c, o = _events(n, 7 * n, kind)
    want, width = relplot.smECE(c, o, return_width=True)
    value, sigma = smooth_calibration_error(c, o)
    assert value == pytest.approx(want, abs=1e-12) and sigma == width
    from_cells, _ = smooth_ece_bandwidth(*fine_cell_means(*_histogram(c, o)[:3]))
    assert abs(from_cells - want) <= (2e-4 if kind == "smooth" else 5e-3)


def test_integer_weights_count_as_repeated_events():
    c, o = _events(300, 3)
    s = np.random.default_rng(3).integers(1, 4, 300).astype(np.float64)
    rc, ro = np.repeat(c, s.astype(int)), np.repeat(o, s.astype(int))
    assert adaptive_calibration_error(c, o, 10, s) == pytest.approx(
        adaptive_calibration_error(rc, ro, 10), abs=1e-12
    )
    assert smooth_calibration_error(c, o, s) == pytest.approx(
        smooth_calibration_error(rc, ro), abs=1e-12
    )
    assert rms_calibration_error(c, o, 10, s) == pytest.approx(
        rms_calibration_error(rc, ro, 10), abs=1e-12
    )


def test_debiased_rmsce_matches_uncertainty_calibration_on_equal_width_bins():
    c, o = _events(5000, 11)
    c = c[(c * 15) % 1 > 1e-9]  # no confidence on an edge: its bins are right-closed
    o = o[: len(c)]
    ours = debiased_rms_calibration_error_from_bins(*bin_sums(c, o, None, 15))
    want = uc.utils.lower_bound_scaling_ce(
        c, o.astype(int), p=2, debias=True, num_bins=15, binning_scheme=uc.utils.get_equal_prob_bins
    )
    assert ours == pytest.approx(want, abs=1e-12)
    plain = rms_calibration_error(c, o, 15)
    want_plain = uc.utils.lower_bound_scaling_ce(
        c,
        o.astype(int),
        p=2,
        debias=False,
        num_bins=15,
        binning_scheme=uc.utils.get_equal_prob_bins,
    )
    assert plain == pytest.approx(want_plain, abs=1e-12)


def test_classwise_ece_matches_uncertainty_calibration_marginal():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((2000, 4)) * 2
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    t = rng.integers(0, 4, 2000)
    ours = float(np.mean(classwise_eces(classwise_sums(q, None, 15, labels=t))))
    want = uc.get_calibration_error(q, t, p=1, debias=False, mode="marginal")
    # uncertainty-calibration's marginal mode bins equal-mass; ours equal-width: compare our
    # per-class ECE with a direct loop instead, and the library's on equal-width bins.
    direct = np.mean(
        [ece_from_bins(*bin_sums(q[:, k], (t == k) * 1.0, None, 15)) for k in range(4)]
    )
    assert ours == pytest.approx(direct, abs=1e-12)
    marginal = np.mean(
        [
            uc.utils.lower_bound_scaling_ce(
                q[:, k],
                (t == k).astype(int),
                p=1,
                debias=False,
                num_bins=15,
                binning_scheme=uc.utils.get_equal_prob_bins,
            )
            for k in range(4)
        ]
    )
    assert ours == pytest.approx(marginal, abs=1e-12)
    assert want > 0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(2, 6),
    st.integers(1, 20),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**31),
)
def test_murphy_parts_add_up_to_brier(n, k, bins, weighted, soft, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * 3
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    s = rng.uniform(0.1, 3, n) if weighted else None
    if soft:
        p = rng.dirichlet(np.ones(k), n)
        sums = classwise_sums(q, s, bins, targets=p)
    else:
        t = rng.integers(0, k, n)
        p = np.eye(k)[t]
        sums = classwise_sums(q, s, bins, labels=t)
    w = np.ones(n) if s is None else s
    brier = float(np.sum(w * ((q - p) ** 2).sum(axis=1)) / w.sum())
    parts = murphy_decomposition(sums)
    total = (
        parts["reliability"]
        - parts["resolution"]
        + parts["uncertainty"]
        + parts["within_bin_variance"]
        + parts["within_bin_covariance"]
        + parts["target_variance"]
    )
    assert total == pytest.approx(brier, abs=1e-9)
    # within-bin terms against their two-pass definitions
    direct_wbv = 0.0
    for j in range(k):
        b = np.minimum((q[:, j] * bins).astype(int), bins - 1)
        b[(b + 1 < bins) & (q[:, j] >= (b + 1) / bins)] += 1
        for v in np.unique(b):
            m = b == v
            cbar = np.sum(w[m] * q[m, j]) / w[m].sum()
            direct_wbv += np.sum(w[m] * (q[m, j] - cbar) ** 2)
    assert parts["within_bin_variance"] == pytest.approx(direct_wbv / w.sum(), abs=1e-9)


def test_classwise_first_bin_by_subtraction_equals_binning_every_probability():
    rng = np.random.default_rng(9)
    z = rng.standard_normal((500, 30)) * 2
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    t = rng.integers(0, 30, 500)
    s = rng.uniform(0.5, 2, 500)
    for matrix in (q, np.asfortranarray(q), q.astype(np.float32)):
        sums = classwise_sums(matrix, s, 15, labels=t)
        for k in range(30):
            w, c, y = bin_sums(matrix[:, k].astype(np.float64), (t == k) * 1.0, s, 15)
            np.testing.assert_allclose(sums.weight[k], w, atol=1e-9)
            np.testing.assert_allclose(sums.confidence[k], c, atol=1e-9)
            np.testing.assert_allclose(sums.outcome[k], y, atol=1e-9)


def test_equal_mass_bins_put_a_tie_on_a_boundary_in_the_lower_bin():
    c = np.array([0.1, 0.5, 0.5, 0.5, 0.9, 0.95])
    o = np.array([0, 1, 0, 1, 1, 1.0])
    bounds, w, _, _ = adaptive_bins(c, o, 2)
    assert bounds.tolist() == [0.5] and w.tolist() == [4.0, 2.0]
    _, w_hist, _, _ = fine_equal_mass_bins(*_histogram(c, o), 2)
    assert w_hist.tolist() == [4.0, 2.0]


def test_overconfidence_is_signed():
    w, s, y = bin_sums(np.array([0.9, 0.8]), np.array([0.0, 1.0]), None, 10)
    assert overconfidence_from_bins(w, s, y) == pytest.approx(0.35)
    w, s, y = bin_sums(np.array([0.2, 0.3]), np.array([1.0, 1.0]), None, 10)
    assert overconfidence_from_bins(w, s, y) == pytest.approx(-0.75)


def test_merge_of_any_split_keeps_the_fine_histogram_and_classwise_bins():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((200, 5))
    t = rng.integers(0, 5, 200)
    spec = LossSpec("multiclass", logits=True)
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    whole = Accumulator("multiclass", 5, 10)
    whole.update(evaluate_rows(z, spec, labels=t), None, classwise_part(q, None, 10, labels=t))
    merged = Accumulator("multiclass", 5, 10)
    for a, b in ((0, 70), (70, 71), (71, 200)):
        part = Accumulator("multiclass", 5, 10)
        part.update(
            evaluate_rows(z[a:b], spec, labels=t[a:b]),
            None,
            classwise_part(q[a:b], None, 10, labels=t[a:b]),
        )
        merged = merged.merge(part)
    for name in ("fine_weight", "fine_low", "fine_high", "classwise_weight", "murphy_sums"):
        np.testing.assert_allclose(getattr(whole, name), getattr(merged, name), atol=1e-12)
    assert merged.classwise_rows == 200


def _report(path, *args: str) -> dict:
    from ce_cli.render.json import render_json

    return json.loads(render_json(ce_cli.evaluate(str(path), **dict(args))))  # type: ignore[arg-type]


def _write(tmp_path, columns: dict[str, np.ndarray]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def test_report_estimators_equal_the_array_functions(tmp_path):
    rng = np.random.default_rng(21)
    n, k = 3000, 4
    z = rng.standard_normal((n, k)) * 2
    t = rng.integers(0, k, n)
    s = rng.uniform(0.2, 2, n)
    cols = {f"logit_{j}": z[:, j] for j in range(k)}
    cols.update({"label": t, "weight": s})
    report = ce_cli.evaluate(str(_write(tmp_path, cols)), weight_col="weight").to_dict()
    m = report["metrics"]
    q = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    conf, correct = q.max(axis=1), (q.argmax(axis=1) == t) * 1.0
    assert m["rmsce"] == pytest.approx(rms_calibration_error(conf, correct, 15, s), abs=1e-9)
    assert m["ece_adaptive"] == pytest.approx(
        adaptive_calibration_error(conf, correct, 15, s), abs=2e-4
    )
    assert m["smece"] == pytest.approx(smooth_calibration_error(conf, correct, s)[0], abs=2e-4)
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
    smooth = report["calibration"]["smooth"]
    assert len(smooth["grid"]) == len(smooth["accuracy"]) == len(smooth["density"])
    assert len(report["calibration"]["equal_mass_bins"]) == 15


def _direct_temperature(z: np.ndarray, t: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    def ce(beta: float) -> float:
        lse = logsumexp(beta * z, axis=1)
        return float(np.sum(s * (lse - beta * z[np.arange(len(z)), t])) / s.sum())

    best = minimize_scalar(ce, bounds=(1e-3, 50), method="bounded", options={"xatol": 1e-12})
    return 1.0 / best.x, best.fun


@pytest.mark.parametrize("scale", [0.4, 1.0, 2.5])
def test_fitted_temperature_matches_a_direct_optimiser(tmp_path, scale: float):
    rng = np.random.default_rng(int(scale * 10))
    n, k = 4000, 5
    z = rng.standard_normal((n, k)) * 2
    t = np.array([rng.choice(k, p=np.exp(r - logsumexp(r))) for r in z * scale])
    s = rng.uniform(0.5, 1.5, n)
    cols = {f"logit_{j}": z[:, j] for j in range(k)}
    cols.update({"label": t, "weight": s})
    report = ce_cli.evaluate(
        str(_write(tmp_path, cols)), weight_col="weight", fit_temperature=True
    ).to_dict()
    m = report["metrics"]
    temperature, ce_star = _direct_temperature(z, t, s)
    assert m["temperature"] == pytest.approx(temperature, rel=1e-6)
    assert m["cross_entropy_refinement"] == pytest.approx(ce_star, abs=1e-9)
    assert m["cross_entropy_calibration"] == pytest.approx(m["cross_entropy"] - ce_star, abs=1e-9)
    assert m["cross_entropy_calibration"] >= 0
    assert report["temperature"]["passes"] >= 2


def test_temperature_one_is_optimal_for_labels_drawn_from_the_model():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((20000, 3)) * 2
    p = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    t = (rng.uniform(size=(20000, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    temperature, _ = _direct_temperature(z, t, np.ones(len(t)))
    report = ce_cli.evaluate(
        __import__("pyarrow").table(
            {"logit_0": z[:, 0], "logit_1": z[:, 1], "logit_2": z[:, 2], "label": t}
        ),
        fit_temperature=True,
    )
    assert report.metrics["temperature"] == pytest.approx(temperature, rel=1e-6)
    assert abs(report.metrics["temperature"] - 1.0) < 0.05  # within sampling noise
    assert report.metrics["cross_entropy_calibration"] < 1e-3


def test_binary_temperature_from_probabilities_uses_the_clipped_logit(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(3000) * 3
    q = 1 / (1 + np.exp(-x))
    y = (rng.uniform(size=3000) < 1 / (1 + np.exp(-0.5 * x))).astype(int)
    report = ce_cli.evaluate(
        str(_write(tmp_path, {"p": q, "label": y})), fit_temperature=True, prob_cols="p"
    )
    eps = np.finfo(np.float64).eps
    qc = np.clip(q, eps, 1 - eps)
    z = np.stack([np.zeros_like(qc), np.log(qc) - np.log1p(-qc)], axis=1)
    temperature, _ = _direct_temperature(z, y, np.ones(3000))
    assert report.metrics["temperature"] == pytest.approx(temperature, rel=1e-6)


# -- the command: gates, standard input, schema, groups --------------------------------------


def _cli(*args: str) -> int:
    from ce_cli.cli.main import main

    return main([*args])


def _logit_file(tmp_path, n: int = 400, k: int = 3, seed: int = 2):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * 3
    cols = {f"logit_{j}": z[:, j] for j in range(k)}
    labels = np.argmax(z + 3 * rng.standard_normal((n, k)), axis=1)  # informative, not perfect
    cols.update({"label": labels, "site": np.array(["a", "b"])[np.arange(n) % 2]})
    return _write(tmp_path, cols)


def test_new_metrics_gate_and_temperature_gates_need_the_fit(tmp_path, capsys):
    path = str(_logit_file(tmp_path))
    out = tmp_path / "r.json"
    assert _cli(path, "--format", "json", "-o", str(out), "--max", "smece=1") == 0
    assert _cli(path, "--format", "json", "-o", str(out), "--max", "smece=0") == 1
    gates = json.loads(out.read_text())["gates"]
    assert [(g["metric"], g["passed"]) for g in gates] == [("smece", False)]
    capsys.readouterr()
    assert _cli(path, "--max", "cross_entropy_calibration=0.01") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().endswith("add --fit-temperature")
    args = ("--fit-temperature", "--max", "cross_entropy_calibration=10", "-o", str(out))
    assert _cli(path, *args) == 0


def test_fit_temperature_on_stdin_reads_a_spooled_copy_and_removes_it(tmp_path):
    import os
    import subprocess
    import sys

    path = _logit_file(tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ce_cli", "-", "--fit-temperature", "--format", "json"],
        input=path.read_bytes(),
        capture_output=True,
        env={**os.environ, "TMPDIR": str(spool)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    from_stdin = json.loads(proc.stdout)
    from ce_cli.render.json import render_json

    from_file = json.loads(render_json(ce_cli.evaluate(str(path), fit_temperature=True)))
    assert from_stdin["metrics"] == from_file["metrics"]
    assert from_stdin["metrics"]["temperature"] > 0
    assert from_stdin["temperature"]["passes"] >= 2
    assert list(spool.iterdir()) == []


def test_reports_with_every_new_section_validate_against_the_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files

    schema = json.loads(files("ce_cli").joinpath("report.schema.json").read_text("utf-8"))
    path = str(_logit_file(tmp_path))
    report = ce_cli.evaluate(path, fit_temperature=True, group_col="site", ci=0.9, bootstrap=20)
    data = json.loads(json.dumps(report.to_dict()))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert {"smooth", "equal_mass_bins", "brier_decomposition"} <= set(data["calibration"])
    # Groups keep neither the fine histogram nor classwise bins: bounded memory.
    for group in data["groups"]:
        assert "smece" not in group["metrics"] and "rmsce" in group["metrics"]
    assert {"rmsce", "rmsce_debiased", "overconfidence"} <= set(data["confidence_intervals"])


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_binary_and_multilabel_reports_match_the_array_functions(tmp_path, task: str):
    rng = np.random.default_rng(8)
    n = 500
    if task == "binary":
        q = rng.beta(2, 2, n)
        q[:40] = 1.0  # confidences of exactly 1
        y = (rng.uniform(size=n) < q).astype(int)
        report = ce_cli.evaluate(str(_write(tmp_path, {"p": q, "label": y})), prob_cols="p")
        c, o = q, y * 1.0
        views = [(1 - q, 1.0 - y), (q, y * 1.0)]
    else:
        q = rng.beta(2, 2, (n, 3))
        y = (rng.uniform(size=(n, 3)) < q).astype(float)
        cols = {f"p_{j}": q[:, j] for j in range(3)}
        cols.update({f"y_{j}": y[:, j] for j in range(3)})
        report = ce_cli.evaluate(str(_write(tmp_path, cols)), target_cols="y_*", task="multilabel")
        c, o = q.reshape(-1), y.reshape(-1)
        views = [(q[:, j], y[:, j]) for j in range(3)]
    m = report.metrics
    assert m["rmsce"] == pytest.approx(rms_calibration_error(c, o, 15), abs=1e-9)
    assert m["overconfidence"] == pytest.approx(float(np.mean(c - o)), abs=1e-9)
    eces = [ece_from_bins(*bin_sums(cv, ov, None, 15)) for cv, ov in views]
    assert m["ece_classwise"] == pytest.approx(np.mean(eces), abs=1e-9)
    assert m["ece_adaptive"] == pytest.approx(adaptive_calibration_error(c, o, 15), abs=5e-3)
    assert m["smece"] == pytest.approx(relplot.smECE(c, o), abs=5e-3)
    parts = report.calibration["brier_decomposition"]
    total = sum(
        parts[k]
        for k in (
            "reliability",
            "uncertainty",
            "within_bin_variance",
            "within_bin_covariance",
            "target_variance",
        )
    )
    assert total - parts["resolution"] == pytest.approx(m["brier"], abs=1e-9)


def test_n50_with_ties_on_bin_edges_and_weights(tmp_path):
    rng = np.random.default_rng(50)
    n, k = 50, 3
    q = rng.dirichlet(np.ones(k), n)
    q[:10] = [0.6, 0.2, 0.2]  # a tie, on an equal-width edge (0.6 = 9/15)
    q[10:15] = [1.0, 0.0, 0.0]
    t = rng.integers(0, k, n)
    s = rng.uniform(0.5, 2.0, n)
    cols = {f"p_{j}": q[:, j] for j in range(k)}
    cols.update({"label": t, "w": s})
    report = ce_cli.evaluate(str(_write(tmp_path, cols)), weight_col="w")
    conf, correct = q.max(axis=1), (q.argmax(axis=1) == t) * 1.0
    m = report.metrics
    w, sc, y = bin_sums(conf, correct, s, 15)
    assert m["ece"] == pytest.approx(ece_from_bins(w, sc, y), abs=1e-9)
    assert m["rmsce_debiased"] == pytest.approx(
        debiased_rms_calibration_error_from_bins(w, sc, y), abs=1e-9
    )
    assert m["ece_adaptive"] == pytest.approx(
        adaptive_calibration_error(conf, correct, 15, s), abs=5e-3
    )
    assert m["smece"] == pytest.approx(smooth_calibration_error(conf, correct, s)[0], abs=5e-3)


def test_temperature_from_probabilities_and_soft_targets_matches_a_direct_optimiser(tmp_path):
    rng = np.random.default_rng(12)
    n, k = 2000, 4
    z = rng.standard_normal((n, k)) * 2.5
    q = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    q[:5] = [1.0, 0.0, 0.0, 0.0]  # clipped to [eps, 1 - eps] before the log
    p = rng.dirichlet(np.ones(k) * 0.5, n)
    cols = {f"p_{j}": q[:, j] for j in range(k)}
    cols.update({f"t_{j}": p[:, j] for j in range(k)})
    report = ce_cli.evaluate(str(_write(tmp_path, cols)), target_cols="t_*", fit_temperature=True)
    eps = np.finfo(np.float64).eps
    logq = np.log(np.clip(q, eps, 1 - eps))

    def ce(beta: float) -> float:
        lse = logsumexp(beta * logq, axis=1)
        return float(np.mean(lse * p.sum(axis=1) - beta * (p * logq).sum(axis=1)))

    best = minimize_scalar(ce, bounds=(1e-3, 50), method="bounded", options={"xatol": 1e-12})
    assert report.metrics["temperature"] == pytest.approx(1 / best.x, rel=1e-6)
    assert report.metrics["cross_entropy_refinement"] == pytest.approx(best.fun, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**31))
def test_bin_index_puts_edges_in_the_upper_bin_and_one_in_the_last(bins, seed):
    from ce_cli.core.calibration import bin_edges, bin_index

    rng = np.random.default_rng(seed)
    edges = bin_edges(bins)
    around = np.concatenate(
        [edges, np.nextafter(edges, -1), np.nextafter(edges, 2), rng.uniform(0, 1, 200)]
    )
    c = np.clip(around, 0.0, 1.0)
    want = np.minimum(np.searchsorted(edges, c, side="right") - 1, bins - 1)
    np.testing.assert_array_equal(bin_index(c, bins), want)


# -- anchors that need PyTorch: recorded constants -------------------------------------------
# Made with torch 2.13.0 (CPU), torchmetrics 1.9.0, netcal 1.4.0, probmetrics 1.3.0 in a scratch
# environment (PyTorch is never a dependency), by this snippet on the data of _anchor_data():
#
#   torch.set_default_dtype(torch.float64)
#   for norm in ("l1", "l2", "max"):
#       metric = MulticlassCalibrationError(num_classes=4, n_bins=15, norm=norm)
#       metric(torch.tensor(q), torch.tensor(t))  # q = softmax(z)
#       BinaryCalibrationError(n_bins=15, norm=norm)(torch.tensor(qb), torch.tensor(yb))
#   # qb = sigmoid(z[:, 0]), yb = t % 2
#   netcal.metrics.ECE(bins=15).measure(q, t); netcal.metrics.ECE(bins=15).measure(qb, yb)
#   cal = probmetrics.calibrators.temperature_scaling.TemperatureScalingCalibrator()
#   cal._fit_torch_impl(CategoricalLogits(torch.tensor(z)), torch.tensor(t)); cal.invtemp_
#
# torchmetrics casts multi-class confidences to float32 (hence 1e-6 there); probmetrics bisects
# log β 30 times (2^-25 of 32: 1e-8 relative).
TORCHMETRICS_MULTICLASS = {"ece": 0.16427022218704224, "rmsce": 0.18149222433567047,
                           "mce": 0.305261492729187}  # fmt: skip
TORCHMETRICS_BINARY = {"ece": 0.42156067389372, "rmsce": 0.4736349047989165,
                       "mce": 0.7007174972349695}  # fmt: skip
NETCAL_ECE_MULTICLASS = 0.16427023541958866
NETCAL_ECE_BINARY = 0.42156067389371993
PROBMETRICS_INVERSE_TEMPERATURE = 0.4675023804926059


def _anchor_data() -> tuple[np.ndarray, np.ndarray]:
    """Deterministic logits and labels (no random generator, so the constants stay valid)."""
    n, k = 300, 4
    i, j = np.arange(n)[:, None], np.arange(k)[None, :]
    z = 2.5 * np.sin(0.37 * i * (j + 1) + j)
    t = np.argmax(z + 3.0 * np.sin(7.13 * i + 3.7 * j * j + 1.0), axis=1).astype(np.int64)
    return z, t


def test_recorded_torchmetrics_netcal_and_probmetrics_values():
    import pyarrow as pa

    z, t = _anchor_data()
    table = pa.table({**{f"logit_{c}": z[:, c] for c in range(4)}, "label": t})
    m = ce_cli.evaluate(table, fit_temperature=True).metrics
    for key, value in TORCHMETRICS_MULTICLASS.items():
        assert m[key] == pytest.approx(value, abs=1e-6), key
    assert m["ece"] == pytest.approx(NETCAL_ECE_MULTICLASS, abs=1e-12)
    assert 1 / m["temperature"] == pytest.approx(PROBMETRICS_INVERSE_TEMPERATURE, rel=1e-7)
    qb, yb = 1 / (1 + np.exp(-z[:, 0])), t % 2
    mb = ce_cli.evaluate(pa.table({"p": qb, "label": yb}), prob_cols="p").metrics
    for key, value in TORCHMETRICS_BINARY.items():
        assert mb[key] == pytest.approx(value, abs=1e-12), key
    assert mb["ece"] == pytest.approx(NETCAL_ECE_BINARY, abs=1e-12)


def test_temperature_limits_when_no_finite_temperature_minimises_the_loss():
    import pyarrow as pa

    from ce_cli.render.json import render_json

    p = np.linspace(0.1, 0.9, 30)
    right = pa.table({"p_0": p, "p_1": 1 - p, "label": (p < 0.5).astype(int)})
    report = json.loads(render_json(ce_cli.evaluate(right, fit_temperature=True)))
    # Every row right: CE falls for ever as T → 0; nothing is left after the limit.
    assert report["metrics"]["temperature"] == 0.0
    assert report["metrics"]["cross_entropy_refinement"] == pytest.approx(0.0, abs=1e-12)
    assert report["metrics"]["ece_after_temperature"] == pytest.approx(0.0, abs=1e-12)
    assert "temperature goes to 0" in report["temperature"]["note"]
    wrong = pa.table({"p_0": p, "p_1": 1 - p, "label": (p > 0.5).astype(int)})
    report = json.loads(render_json(ce_cli.evaluate(wrong, fit_temperature=True)))
    # Every row wrong: CE is least with both classes equal, an infinite temperature (null).
    assert report["metrics"]["temperature"] is None
    assert report["metrics"]["cross_entropy_refinement"] == pytest.approx(np.log(2), abs=1e-6)
    assert "infinite temperature" in report["temperature"]["note"]
    assert report["temperature"]["passes"] <= 3


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 120), max_size=5),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**31),
)
def test_any_split_of_multiclass_rows_gives_the_same_classwise_state(cuts, weighted, soft, seed):
    rng = np.random.default_rng(seed)
    n, k = 120, 6
    z = rng.standard_normal((n, k)) * 2
    q = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    s = rng.uniform(0.2, 2.0, n) if weighted else None
    p = rng.dirichlet(np.ones(k), n) if soft else None
    t = rng.integers(0, k, n)
    spec = LossSpec("multiclass", logits=True)

    def part(a: int, b: int):
        w = None if s is None else s[a:b]
        if soft:
            values = evaluate_rows(z[a:b], spec, targets=p[a:b])
            return values, w, classwise_part(q[a:b], w, 8, targets=p[a:b])
        values = evaluate_rows(z[a:b], spec, labels=t[a:b])
        return values, w, classwise_part(q[a:b], w, 8, labels=t[a:b])

    whole = Accumulator("multiclass", k, 8)
    whole.update(*part(0, n))
    merged = Accumulator("multiclass", k, 8)
    bounds = sorted(set(cuts))
    for a, b in zip([0, *bounds], [*bounds, n], strict=True):
        piece = Accumulator("multiclass", k, 8)
        piece.update(*part(a, b))
        merged = merged.merge(piece)
    for name in ("classwise_weight", "classwise_confidence", "classwise_outcome", "murphy_sums"):
        np.testing.assert_allclose(getattr(whole, name), getattr(merged, name), atol=1e-9)
    assert merged.classwise_rows == whole.classwise_rows == n


def _smoothed_at_mesh_exactly(c, amount, sigma, mesh):  # type: ignore[no-untyped-def]
    """The reflected-kernel smoothing of the definition, term by term in 40-digit arithmetic:
    events deposited linearly on the grid, each grid value reflected at 0 and 1 and weighed by
    the Gaussian at its offset (the kernel spans offsets up to 1/2), read at the mesh by linear
    interpolation."""
    import mpmath

    from ce_cli.core.smooth import _grid_points

    mpmath.mp.dps = 40
    points = _grid_points(sigma)
    n = points - 1
    deposit: dict[int, mpmath.mpf] = {}
    for ci, ai in zip(c, amount, strict=True):
        scaled = mpmath.mpf(float(ci)) * n
        k = min(max(int(scaled), 0), n - 1)
        frac = scaled - k
        deposit[k] = deposit.get(k, mpmath.mpf(0)) + (1 - frac) * mpmath.mpf(float(ai))
        deposit[k + 1] = deposit.get(k + 1, mpmath.mpf(0)) + frac * mpmath.mpf(float(ai))
    sig = mpmath.mpf(sigma)
    norm = mpmath.sqrt(2 * mpmath.pi) * sig

    def grid_value(i: int) -> mpmath.mpf:
        total = mpmath.mpf(0)
        for k, v in deposit.items():
            images = [k] + ([-k] if k >= 1 else []) + ([2 * n - k] if k <= n - 1 else [])
            for image in images:
                if abs(i - image) <= n // 2:
                    x = mpmath.mpf(i - image) / n
                    total += v * mpmath.exp(-x * x / (2 * sig * sig)) / norm
        return total

    out = []
    for t in mesh:
        k = min(max(int(t * n), 0), n - 1)
        res = (mpmath.mpf(float(t)) - mpmath.mpf(k) / n) * n
        out.append(grid_value(k) * (1 - res) + grid_value(k + 1) * res)
    return out


def test_smooth_curve_keeps_its_digits_where_the_density_is_thin():
    # The curve is a ratio of two smoothed sums; where the confidences are thin it divides a
    # small sum by a small density. By FFT (whose error is absolute, about 1e-16 of the peak)
    # it kept only 7 or 8 digits there (3.6e-8 on these rows, and a different batching of the
    # same rows moved it by 2e-12); summed directly it keeps them all.
    import mpmath

    from ce_cli.core.smooth import smooth_curve

    c = np.array([0.22689268, 0.22923271, 0.23403553])
    o = np.array([0.0, 0.0, 1.0])
    s = np.array([1.25833326, 2.81568198, 1.71286335])
    sigma = 0.0703125
    curve = smooth_curve(c, s, s * (c - o), sigma)
    mesh = np.array(curve.grid)
    r = _smoothed_at_mesh_exactly(c, s * (c - o), sigma, mesh)
    d = _smoothed_at_mesh_exactly(c, s, sigma, mesh)
    checked = 0
    for t, got, ri, di in zip(mesh, curve.accuracy, r, d, strict=True):
        if di == 0:  # beyond the kernel's reach of every event: no density, no curve
            assert got is None
            continue
        exact = mpmath.mpf(float(t)) - ri / di
        if got is None or not 0 < exact < 1:
            continue
        assert got == pytest.approx(float(exact), rel=1e-12), t
        checked += 1
    assert checked > 100
