"""``compare`` as a paired collector on the engine: its numbers against a reference built from
the evaluate command's own per-sample output, no temporary files, every pairing error named, and
paired sums that merge like one pass."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ce_cli
from ce_cli.cli.main import main
from ce_cli.engine import paired as paired_module
from ce_cli.engine.paired import PAIRED_METRICS
from ce_cli.judge.compare import compare
from ce_cli.judge.verdicts import VERDICTS
from ce_cli.render.compare_table import render_compare_table
from ce_cli.report.registry import BY_NAME
from ce_cli.settings import Settings
from ce_cli.state.bootstrap import poisson_weights
from ce_cli.state.paired import PairedSums

N = 257


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


# Each case: two models of the same rows (A sharp, B blurred), the options, whether B is
# shuffled (paired by --id-col), the interval level and the replicates.
CASES: dict[str, dict[str, Any]] = {
    "binary_probs_focal_weights": {
        "options": {"weight_col": "w", "loss": "focal", "gamma": 1.5, "alpha": 0.3}
    },
    "binary_logits_bits_class_weights": {"options": {"base": "bits", "class_weights": "1,3"}},
    "multiclass_probs": {"options": {"loss": "focal", "gamma": 2.0}, "level": 0.8},
    "multiclass_logits_smoothing": {
        "options": {"smoothing": 0.1, "class_weights": "1,2,0.5,1"},
    },
    "multiclass_balanced": {"options": {"class_weights": "balanced", "seed": 3}},
    "multiclass_id_col": {"options": {"id_col": "id", "weight_col": "w"}, "level": 0.9},
    "multilabel": {
        "options": {"target_cols": "y_*", "task": "multilabel", "weight_col": "w"},
        "level": 0.9,
    },
    "soft_targets": {"options": {"target_cols": "t_*", "prob_cols": "p_*"}},
}


def _columns(case: str, rng: np.random.Generator) -> tuple[dict[str, Any], dict, dict]:
    n = N
    if case.startswith("binary"):
        z = rng.normal(size=n) * 2
        y = (rng.random(n) < _sigmoid(z)).astype(np.int64)
        zb = 0.3 * z + rng.normal(size=n)
        if "logits" in case:
            return {"label": y}, {"logit": z}, {"logit": zb}
        common = {"label": y, "w": rng.uniform(0.2, 3, n)}
        return common, {"p": _sigmoid(z)}, {"p": _sigmoid(zb)}
    if case == "multilabel":
        z = rng.normal(size=(n, 3)) * 2
        y = (rng.random((n, 3)) < _sigmoid(z)).astype(np.int64)
        zb = 0.3 * z + rng.normal(size=(n, 3))
        common = {f"y_{j}": y[:, j] for j in range(3)} | {"w": rng.uniform(0.2, 3, n)}
        a = {f"logit_{j}": z[:, j] for j in range(3)}
        return common, a, {f"logit_{j}": zb[:, j] for j in range(3)}
    if case == "soft_targets":
        z = rng.normal(size=(n, 3)) * 2
        t = rng.dirichlet(np.ones(3), n)
        pa_, pb = _softmax(z), _softmax(0.3 * z + rng.normal(size=(n, 3)))
        common = {f"t_{j}": t[:, j] for j in range(3)}
        return (
            common,
            {f"p_{j}": pa_[:, j] for j in range(3)},
            {f"p_{j}": pb[:, j] for j in range(3)},
        )
    z = rng.normal(size=(n, 4)) * 2
    y = np.array([rng.choice(4, p=p) for p in _softmax(z)])
    zb = 0.4 * z + rng.normal(size=(n, 4))
    common = {"label": y, "w": rng.uniform(0.2, 3, n)}
    if "logits" in case:
        return (
            common,
            {f"logit_{j}": z[:, j] for j in range(4)},
            {f"logit_{j}": zb[:, j] for j in range(4)},
        )
    pa_, pb = _softmax(z), _softmax(zb)
    return common, {f"p_{j}": pa_[:, j] for j in range(4)}, {f"p_{j}": pb[:, j] for j in range(4)}


def _write_case(tmp: Path, case: str) -> tuple[str, str]:
    """A as Parquet in row groups of 50, B as CSV (shuffled where paired by id)."""
    rng = np.random.default_rng(sum(map(ord, case)))
    common, a, b = _columns(case, rng)
    ids = np.array([f"r{i:04d}" for i in range(N)])
    table_a = pa.table({"id": ids, **common, **a})
    table_b = pa.table({"id": ids, **common, **b})
    if "id_col" in case:
        table_b = table_b.take(pa.array(rng.permutation(N)))
    pq.write_table(table_a, tmp / "a.parquet", row_group_size=50)
    pcsv.write_csv(table_b, tmp / "b.csv")
    return str(tmp / "a.parquet"), str(tmp / "b.csv")


def _reference(
    path_a: str, path_b: str, options: dict[str, Any], level: float, replicates: int, tmp: Path
) -> dict[str, Any]:
    """The comparison rebuilt from the evaluate command's reports and per-sample files: rows
    paired in NumPy (by id, or by position), the Poisson replicates of A's input rows."""
    settings_ = Settings(**options)
    report_a = ce_cli.evaluate(path_a, settings=settings_, per_sample=str(tmp / "ra.parquet"))
    report_b = ce_cli.evaluate(path_b, settings=settings_, per_sample=str(tmp / "rb.parquet"))
    rows_a = pq.read_table(tmp / "ra.parquet").to_pydict()
    rows_b = pq.read_table(tmp / "rb.parquet").to_pydict()
    if settings_.id_col is not None:
        where = {key: i for i, key in enumerate(rows_b["id"])}
        order = [where[key] for key in rows_a["id"]]
        rows_b = {k: [v[i] for i in order] for k, v in rows_b.items()}
    assert rows_a.get("label") == rows_b.get("label")
    n = len(rows_a["row"])
    s = np.asarray(rows_a.get("weight", np.ones(n)), dtype=np.float64)
    w = poisson_weights(np.asarray(rows_a["row"]), replicates, settings_.seed) * s[:, None]
    detection = report_a.detection
    hard = not detection.soft_targets and detection.task != "multilabel"
    out: dict[str, Any] = {}
    for m in PAIRED_METRICS:
        column = m.per_row if m.per_row in rows_a else "accuracy"  # multi-label rows
        xa = np.asarray(rows_a[column], dtype=np.float64)
        xb = np.asarray(rows_b[column], dtype=np.float64)
        d = np.ones(n)
        if m.name == "loss" and report_a.class_weights is not None and hard:
            weight_of = dict(zip(detection.classes, report_a.class_weights, strict=True))
            d = np.array([weight_of[str(label)] for label in rows_a["label"]])
        replicate = ((xa - xb) @ w) / (d @ w)
        tail = (1 - level) / 2
        out[m.name] = np.quantile(replicate[np.isfinite(replicate)], [tail, 1 - tail])
    return {"a": report_a.metrics, "b": report_b.metrics, "intervals": out, "n": report_a.n_samples}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compare_matches_the_per_sample_reference(tmp_path: Path, case: str) -> None:
    spec = CASES[case]
    level, replicates = spec.get("level", 0.95), 150
    path_a, path_b = _write_case(tmp_path, case)
    result = compare(path_a, path_b, level=level, replicates=replicates, **spec["options"])
    ref = _reference(path_a, path_b, spec["options"], level, replicates, tmp_path)
    assert result["n_samples"] == ref["n"] == N
    assert result["paired_by"] == ("id" if "id_col" in case else "row order")
    assert result["passes"] == (2 if "balanced" in case else 1)
    assert set(result["metrics"]) == set(ref["a"]) & set(BY_NAME)
    for name, m in result["metrics"].items():
        assert (m["a"], m["b"]) == (ref["a"][name], ref["b"][name]), name
        if name in ref["intervals"]:
            low, high = ref["intervals"][name]
            assert m["low"] == pytest.approx(low, rel=1e-12, abs=1e-300), name
            assert m["high"] == pytest.approx(high, rel=1e-12, abs=1e-300), name
        assert m["verdict"] in VERDICTS


def test_compare_writes_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path_a, path_b = _write_case(tmp_path, "multilabel")
    expected = compare(path_a, path_b, replicates=50, **CASES["multilabel"]["options"])
    locked = tmp_path / "no-tmp"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv("TMPDIR", str(locked))
    monkeypatch.setattr(tempfile, "tempdir", None)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("compare made a temporary file")

    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory", "TemporaryFile"):
        monkeypatch.setattr(tempfile, name, refuse)
    result = compare(path_a, path_b, replicates=50, **CASES["multilabel"]["options"])
    assert result == expected


def test_compare_reads_one_input_from_stdin(tmp_path: Path) -> None:
    path_a, path_b = _write_case(tmp_path, "binary_probs_focal_weights")
    options = ["--weight-col", "w", "--bootstrap", "50", "--format", "json"]
    files = compare(path_a, path_b, replicates=50, weight_col="w")
    for args, stdin in ((["-", path_b], path_a), ([path_a, "-"], path_b)):
        done = subprocess.run(
            [sys.executable, "-m", "ce_cli", "compare", *args, *options],
            input=Path(stdin).read_bytes(),
            capture_output=True,
            check=True,
        )
        result = json.loads(done.stdout)
        assert "<stdin>" in (result["a"], result["b"])
        assert result["metrics"] == files["metrics"]


def _pairs(tmp: Path, a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    pcsv.write_csv(pa.table(a), tmp / "a.csv")
    pcsv.write_csv(pa.table(b), tmp / "b.csv")
    return str(tmp / "a.csv"), str(tmp / "b.csv")


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["compare", *args, "--bootstrap", "20"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    return err


def _model(ids: list[str], seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "id": ids,
        "label": [i % 2 for i in range(len(ids))],
        "p": list(rng.uniform(size=len(ids))),
    }


def test_by_id_with_fewer_rows_names_the_first_missing_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [f"k{i}" for i in range(8)]
    a, b = _model(ids, 1), _model(ids, 2)
    b = {k: v[:5] + v[6:] for k, v in b.items()}  # B lacks k5, A's row 6
    err = _refused(capsys, *_pairs(tmp_path, a, b), "--id-col", "id")
    assert "a.csv, row 6: this id is not in the second input (got 'k5')" in err
    assert "--id-col" not in err and "rows" not in err.split(":")[0]


def test_by_id_an_id_only_in_the_second_input_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [f"k{i}" for i in range(8)]
    a, b = _model(ids[:7], 1), _model(ids, 2)
    err = _refused(capsys, *_pairs(tmp_path, a, b), "--id-col", "id")
    assert "b.csv, row 8: this id is not in the first input (got 'k7')" in err


@pytest.mark.parametrize("side", ["a", "b"])
def test_by_id_a_repeated_id_is_named_with_both_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    ids = [f"k{i}" for i in range(8)]
    twice = [*ids[:6], "k2", "k7"]
    a, b = (_model(twice, 1), _model(ids, 2)) if side == "a" else (_model(ids, 1), _model(twice, 2))
    err = _refused(capsys, *_pairs(tmp_path, a, b), "--id-col", "id")
    assert f"{side}.csv: an id appears twice (rows 3 and 7)" in err and "'k2'" in err


def test_by_position_a_row_dropped_on_one_side_is_named(tmp_path: Path) -> None:
    a, b = _model([f"x{i}" for i in range(6)], 1), _model([f"y{i}" for i in range(6)], 2)
    del a["id"], b["id"]
    a["p"] = [*a["p"][:3], float("nan"), *a["p"][4:]]
    path_a, path_b = _pairs(tmp_path, a, b)
    with pytest.raises(ce_cli.CeEvalError, match=r"input row 4 is evaluated in .*b\.csv but left"):
        compare(path_a, path_b, replicates=20, on_nan="drop")


def test_by_position_multilabel_targets_that_differ_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, (6, 2))
    cols = {f"p_{j}": rng.uniform(size=6) for j in range(2)}
    a = {"y_0": y[:, 0], "y_1": y[:, 1], **cols}
    y_b = y.copy()
    y_b[3, 1] = 1 - y_b[3, 1]
    b = {"y_0": y_b[:, 0], "y_1": y_b[:, 1], **cols}
    err = _refused(capsys, *_pairs(tmp_path, a, b), "--target-cols", "y_*", "--task", "multilabel")
    assert "the targets differ at row 4 of the first (class '1')" in err
    assert f"{float(y[3, 1])!r} in " in err and f"but {float(y_b[3, 1])!r} in " in err


def test_different_classes_name_the_first_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = np.random.default_rng(5).dirichlet(np.ones(3), 6)
    label = ["cat", "dog"] * 3
    a = {"label": label, **{f"p_{c}": p[:, j] for j, c in enumerate(["cat", "dog", "emu"])}}
    b = {"label": label, **{f"p_{c}": p[:, j] for j, c in enumerate(["cat", "eel", "dog"])}}
    err = _refused(capsys, *_pairs(tmp_path, a, b))
    assert "the classes differ: 3 in the first input (cat, dog, emu)" in err
    assert "class 2 is 'dog' in the first, 'eel' in the second" in err


def test_the_table_words_each_verdict_as_the_json_does(tmp_path: Path) -> None:
    ids = [f"k{i}" for i in range(40)]
    path_a, path_b = _pairs(tmp_path, _model(ids, 1), _model(ids, 1))  # the same model twice
    result = compare(path_a, path_b, replicates=30)
    table = render_compare_table(result, width=120)
    verdicts = {m["verdict"] for m in result["metrics"].values()}
    assert "no significant difference" in verdicts
    assert verdicts <= set(VERDICTS)
    for name, m in result["metrics"].items():
        row = next(line for line in table.splitlines() if line.startswith(f" {name} "))
        assert row.endswith(m["verdict"]), row


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 60),
    replicates=st.integers(1, 9),
)
def test_paired_sums_merge_of_any_split_is_one_pass(
    data: st.DataObject, n: int, replicates: int
) -> None:
    rng = np.random.default_rng(n * 31 + replicates)
    k = 3
    a, b = rng.normal(size=(k, n)), rng.normal(size=(k, n))
    d, s = rng.uniform(0.5, 2, (k, n)), rng.uniform(0, 3, n)
    rows = np.arange(1, n + 1, dtype=np.int64) + 1000
    names = ("x", "y", "z")
    whole = PairedSums(names, replicates, 7)
    whole.update(a, b, d, s, rows)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    merged = PairedSums(names, replicates, 7)
    for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
        part = PairedSums(names, replicates, 7)
        part.update(a[:, lo:hi], b[:, lo:hi], d[:, lo:hi], s[lo:hi], rows[lo:hi])
        merged = merged.merge(part)
    assert merged.rows == whole.rows == n
    # Sums of signed terms cancel: another order of summation is exact to 1e-12 of the sum of
    # the terms' magnitudes (Poisson weights below 20), not of the (possibly tiny) sum.
    magnitude = 20 * float(s.max(initial=0.0)) * float((np.abs(a) + np.abs(b) + d).sum())
    for field in ("weight", "sum_a", "sum_b", "boot_weight", "boot_diff"):
        np.testing.assert_allclose(
            getattr(merged, field), getattr(whole, field), rtol=1e-12, atol=1e-12 * magnitude
        )


@settings(max_examples=6, deadline=None)
@given(
    range_rows=st.integers(16, 300),
    group_a=st.integers(1, 300),
    group_b=st.integers(1, 300),
)
def test_compare_does_not_depend_on_how_the_rows_are_cut(
    tmp_path_factory: pytest.TempPathFactory, range_rows: int, group_a: int, group_b: int
) -> None:
    tmp = tmp_path_factory.mktemp("cuts")
    path_a, path_b = _write_case(tmp, "multiclass_logits_smoothing")
    options = CASES["multiclass_logits_smoothing"]["options"]
    expected = compare(path_a, path_b, replicates=40, **options)
    table_a, table_b = pq.read_table(path_a), pcsv.read_csv(path_b)
    pq.write_table(table_a, tmp / "a2.parquet", row_group_size=group_a)
    pq.write_table(table_b, tmp / "b2.parquet", row_group_size=group_b)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(paired_module, "RANGE_ROWS", range_rows)
        result = compare(str(tmp / "a2.parquet"), str(tmp / "b2.parquet"), replicates=40, **options)
    for name, m in result["metrics"].items():
        for key in ("a", "b", "low", "high"):
            want = expected["metrics"][name][key]
            assert m[key] == (want if want is None else pytest.approx(want, rel=1e-12)), name


def test_compare_takes_the_row_and_bin_options_of_the_evaluate_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(8)
    n = 60
    label = rng.integers(0, 3, n)
    common = {"label": label}
    a = {**common, **{f"p_{j}": v for j, v in enumerate(rng.dirichlet(np.ones(3), n).T)}}
    b = {**common, **{f"p_{j}": v for j, v in enumerate(rng.dirichlet(np.ones(3), n).T)}}
    for side in (a, b):
        side["p_1"] = np.where(np.arange(n) == 5, np.nan, side["p_1"])  # row 6 in both
    path_a, path_b = _pairs(tmp_path, a, b)
    args = ["--bins", "7", "--ignore-label", "2", "--on-nan", "drop"]
    code = main(["compare", path_a, path_b, *args, "--format", "json", "--bootstrap", "30"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    options = {"bins": 7, "ignore_label": "2", "on_nan": "drop"}
    report_a = ce_cli.evaluate(path_a, **options)
    assert result["n_samples"] == report_a.n_samples == int(np.sum(label != 2) - (label[5] != 2))
    assert len(result["calibration"]["a"]["bins"]) == 7
    for name, m in result["metrics"].items():
        assert m["a"] == report_a.metrics[name], name


def _plans(table_a: pa.Table, table_b: pa.Table, **options: Any) -> tuple[Any, Any]:
    from ce_cli.api import _table_source
    from ce_cli.engine.local import LocalDriver

    settings_ = Settings(**options)
    return tuple(
        LocalDriver(_table_source(t, name)).plan(settings_)
        for t, name in ((table_a, "A"), (table_b, "B"))
    )


@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(1, 119), max_size=5, unique=True))
def test_paired_state_merge_of_any_split_is_one_pass(cuts: list[int]) -> None:
    from ce_cli.engine.paired import PairedState, pair_batch
    from ce_cli.engine.run import finish

    rng = np.random.default_rng(11)
    n = 120
    y = rng.integers(0, 3, n)
    w = rng.uniform(0.2, 3, n)
    za, zb = rng.normal(size=(n, 3)) * 2, rng.normal(size=(n, 3))
    table_a = pa.table({"label": y, "w": w, **{f"logit_{j}": za[:, j] for j in range(3)}})
    table_b = pa.table({"label": y, "w": w, **{f"logit_{j}": zb[:, j] for j in range(3)}})
    plan_a, plan_b = _plans(
        table_a, table_b, weight_col="w", class_weights="1,2,0.5", loss="focal", gamma=1.0
    )
    batch_a, batch_b = table_a.to_batches()[0], table_b.to_batches()[0]
    whole = pair_batch(plan_a, plan_b, batch_a, batch_b, 0, 17)
    merged = PairedState.empty(plan_a, plan_b, 17)
    bounds = sorted(cuts)
    for lo, hi in zip([0, *bounds], [*bounds, n], strict=True):
        part = pair_batch(
            plan_a, plan_b, batch_a.slice(lo, hi - lo), batch_b.slice(lo, hi - lo), lo, 17
        )
        merged = merged.merge(part)
    assert merged.paired.rows == whole.paired.rows == n
    for field in ("weight", "sum_a", "sum_b", "boot_weight", "boot_diff"):
        np.testing.assert_allclose(
            getattr(merged.paired, field), getattr(whole.paired, field), rtol=1e-12
        )
    for plan, one, many in ((plan_a, whole.a, merged.a), (plan_b, whole.b, merged.b)):
        expected, got = finish(plan, one).metrics, finish(plan, many).metrics
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    # The paired sums' means are the reports' own numbers for the per-row metrics.
    report_a = finish(plan_a, whole.a)
    for k, name in enumerate(whole.paired.names):
        mean_a = whole.paired.sum_a[k] / whole.paired.weight[k]
        assert mean_a == pytest.approx(report_a.metrics[name], rel=1e-12), name


def test_the_table_says_when_balanced_weights_read_each_input_twice(tmp_path: Path) -> None:
    path_a, path_b = _write_case(tmp_path, "multiclass_balanced")
    result = compare(path_a, path_b, replicates=20, class_weights="balanced")
    assert result["passes"] == 2
    assert "each input read 2 times" in render_compare_table(result, width=100)
    once = compare(path_a, path_b, replicates=20)
    assert once["passes"] == 1 and "read 2 times" not in render_compare_table(once)


def test_compare_takes_in_memory_tables_as_evaluate_does(tmp_path: Path) -> None:
    path_a, path_b = _write_case(tmp_path, "multilabel")
    options = CASES["multilabel"]["options"]
    files = compare(path_a, path_b, replicates=30, **options)
    tables = compare(pq.read_table(path_a), pcsv.read_csv(path_b), replicates=30, **options)
    assert (tables["a"], tables["b"]) == ("<table A>", "<table B>")
    for name, m in files["metrics"].items():
        for key in ("a", "b", "low", "high"):
            want = m[key]
            got = tables["metrics"][name][key]
            assert got == (want if want is None else pytest.approx(want, rel=1e-12)), name


def test_ids_read_as_numbers_pair_with_the_same_ids_as_text(tmp_path: Path) -> None:
    ids = list(range(1, 31))
    a, b = _model([str(i) for i in ids], 1), _model([str(i) for i in ids], 2)
    pcsv.write_csv(pa.table(a), tmp_path / "a.csv")  # read back as integers
    order = np.random.default_rng(3).permutation(30)
    table_b = pa.table(b).take(pa.array(order))
    table_b = table_b.set_column(0, "id", table_b.column("id").dictionary_encode())
    pq.write_table(table_b, tmp_path / "b.parquet")  # text, dictionary-encoded
    result = compare(
        str(tmp_path / "a.csv"), str(tmp_path / "b.parquet"), replicates=20, id_col="id"
    )
    expected = compare(str(tmp_path / "a.csv"), str(tmp_path / "a.csv"), replicates=20, id_col="id")
    assert result["n_samples"] == 30
    assert result["metrics"]["loss"]["a"] == expected["metrics"]["loss"]["a"]


def test_list_ids_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _model([f"k{i}" for i in range(4)], 1)
    pcsv.write_csv(pa.table(a), tmp_path / "a.csv")
    pq.write_table(pa.table({**a, "id": [[i] for i in range(4)]}), tmp_path / "b.parquet")
    err = _refused(capsys, str(tmp_path / "a.csv"), str(tmp_path / "b.parquet"), "--id-col", "id")
    assert "b.parquet: the id column holds list<" in err


# Intervals recorded from ce-eval at commit 0d11947, the pipeline through two per-sample Parquet
# files that this pass replaced: ``compare(a, b, level=LEVEL, replicates=150, **options)`` on the
# files ``_write_case`` writes (pinned seeds), for the case's options in CASES.
RECORDED = {
    "multiclass_id_col": {
        "loss": (-0.5883058551921551, -0.33962519970038485),
        "entropy": (-0.2973843124764612, -0.2308866052924072),
        "accuracy": (0.16272142869521566, 0.2918466991626326),
        "brier": (-0.29233724053804744, -0.17881276978381344),
    },
    "multilabel": {
        "loss": (-0.7004971356765597, -0.46210096655437416),
        "entropy": (-0.3674420037239407, -0.2785781004185421),
        "accuracy": (0.09956716577984535, 0.1804129580653861),
        "brier": (-0.2866486614112677, -0.18702880904287675),
    },
    "binary_logits_bits_class_weights": {
        "loss": (-0.3454690697511388, -0.1424478331010052),
        "cross_entropy": (-0.3650385165993942, -0.17343432590624666),
        "entropy": (-0.2057769251847797, -0.12501134819153845),
        "accuracy": (0.04865761444019839, 0.1876492162221594),
        "brier": (-0.09936047994085113, -0.0474997413518814),
    },
}


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_compare_intervals_are_those_of_the_per_sample_file_pipeline(
    tmp_path: Path, case: str
) -> None:
    spec = CASES[case]
    path_a, path_b = _write_case(tmp_path, case)
    result = compare(
        path_a, path_b, level=spec.get("level", 0.95), replicates=150, **spec["options"]
    )
    for name, (low, high) in RECORDED[case].items():
        m = result["metrics"][name]
        assert (m["low"], m["high"]) == pytest.approx((low, high), rel=1e-12), name


def _soft(seed: int, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(3), n), rng.dirichlet(np.ones(3), n)


@pytest.mark.parametrize("by_id", [False, True])
def test_soft_targets_that_differ_but_share_the_argmax_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], by_id: bool
) -> None:
    t, p = _soft(21)
    t_b = t.copy()
    top = int(np.argmax(t[2]))
    other = (top + 1) % 3
    t_b[2, top] -= 0.05  # 0.05 moved between classes: the argmax stays where it was
    t_b[2, other] += 0.05
    assert (np.argmax(t_b, axis=1) == np.argmax(t, axis=1)).all()
    ids = [f"{i:04d}" for i in range(8)]
    cols = {f"p_{c}": p[:, j] for j, c in enumerate("abc")}
    a = {"id": ids, **{f"t_{c}": t[:, j] for j, c in enumerate("abc")}, **cols}
    b = {"id": ids, **{f"t_{c}": t_b[:, j] for j, c in enumerate("abc")}, **cols}
    extra = ["--id-col", "id"] if by_id else []
    err = _refused(capsys, *_pairs(tmp_path, a, b), "--target-cols", "t_*", *extra)
    where = "id '0002'" if by_id else "row 3 of the first"
    assert f"the targets differ at {where} (class '{'abc'[min(top, other)]}')" in err


def test_soft_targets_stored_as_float32_and_float64_still_pair(tmp_path: Path) -> None:
    """Agreement is to float32 precision: the same targets, rounded to float32 in one input."""
    t, p = _soft(22)
    cols = {f"p_{c}": p[:, j] for j, c in enumerate("abc")}
    a = pa.table({**{f"t_{c}": t[:, j] for j, c in enumerate("abc")}, **cols})
    b = pa.table(
        {**{f"t_{c}": pa.array(t[:, j], pa.float32()) for j, c in enumerate("abc")}, **cols}
    )
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    result = compare(
        str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), replicates=20, target_cols="t_*"
    )
    assert result["n_samples"] == 8


@pytest.mark.parametrize("by_id", [False, True])
def test_different_sample_weights_are_refused_naming_the_row_and_both_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], by_id: bool
) -> None:
    ids = [f"{i:04d}" for i in range(6)]
    a = {**_model(ids, 23), "w": [1.0, 2.0, 1.0, 1.5, 1.0, 1.0]}
    b = {**_model(ids, 24), "w": [1.0, 2.0, 1.0, 3.0, 1.0, 1.0]}
    b["label"] = a["label"]
    extra = ["--id-col", "id"] if by_id else []
    err = _refused(
        capsys, *_pairs(tmp_path, a, b), "--label-col", "label", "--weight-col", "w", *extra
    )
    where = "id '0003'" if by_id else "row 4 of the first"
    assert f"the sample weights differ at {where}: 1.5 in " in err and "but 3.0 in " in err


def test_csv_ids_keep_their_leading_zeros_in_compare_labels_joins_and_per_sample_output(
    tmp_path: Path,
) -> None:
    """A CSV's --id-col is text: ``0001`` pairs with the Parquet id ``'0001'`` (not the
    number 1), joins a labels file's ``0001``, and is written back as ``0001``."""
    ids = [f"{i:04d}" for i in range(1, 7)]
    a, b = _model(ids, 25), _model(ids, 26)
    pcsv.write_csv(pa.table(a), tmp_path / "a.csv")
    pq.write_table(pa.table(b).take(pa.array([5, 4, 3, 2, 1, 0])), tmp_path / "b.parquet")
    result = compare(
        str(tmp_path / "a.csv"), str(tmp_path / "b.parquet"), replicates=20, id_col="id"
    )
    assert result["n_samples"] == 6 and result["paired_by"] == "id"
    # --labels FILE --id-col: both files CSV, the labels in another order.
    pcsv.write_csv(pa.table({"id": ids, "p": a["p"]}), tmp_path / "preds.csv")
    (tmp_path / "labels.csv").write_text(
        "id,label\n"
        + "".join(f"{i},{y}\n" for i, y in reversed(list(zip(ids, a["label"], strict=True))))
    )
    report = ce_cli.evaluate(
        str(tmp_path / "preds.csv"),
        labels_file=str(tmp_path / "labels.csv"),
        id_col="id",
        per_sample=str(tmp_path / "samples.csv"),
    )
    assert report.n_samples == 6
    written = pcsv.read_csv(
        tmp_path / "samples.csv",
        convert_options=pcsv.ConvertOptions(column_types={"id": pa.string()}),
    )
    assert written.column("id").to_pylist() == ids


def test_input_format_applies_to_standard_input_not_to_a_named_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``compare a.csv - --input-format parquet``: the CSV is read by its suffix, standard
    input as Parquet."""
    import io

    ids = [f"{i:04d}" for i in range(6)]
    a, b = _model(ids, 27), _model(ids, 28)
    b["label"] = a["label"]
    pcsv.write_csv(pa.table(a), tmp_path / "a.csv")
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(b), sink)
    stdin = io.TextIOWrapper(io.BytesIO(sink.getvalue().to_pybytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    args = ["compare", str(tmp_path / "a.csv"), "-", "--input-format", "parquet"]
    code = main([*args, "--bootstrap", "20", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["n_samples"] == 6
