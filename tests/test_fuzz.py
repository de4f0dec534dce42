"""Fuzzing: random tables and random bytes never produce a traceback or a wrong exit code.

Any input ends in exit 0 (a report) or 2 (one line on stderr); exit 3 would be a bug.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ce_cli.cli.main import main

NAMES = ["label", "y", "p_a", "p_b", "p_c", "logit_a", "logit_b", "w", "id", "x"]
VALUES = st.one_of(
    st.none(),
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(0, 1),
    st.sampled_from(["a", "b", "cat", "", "=1+1", "nan"]),
)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ce-eval: error: "), err


def _column(values: list[object]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values])


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    rows = draw(st.integers(0, 12))
    columns = {}
    for name in names:
        values = draw(st.lists(VALUES, min_size=rows, max_size=rows))
        if name.startswith("p_") and draw(st.booleans()):
            values = [draw(st.floats(0, 1)) for _ in range(rows)]
        columns[name] = _column(values)
    return pa.table(columns)


OPTIONS = st.lists(
    st.sampled_from(
        [["--logits"], ["--probs"], ["--task", "binary"], ["--task", "multilabel"],
         ["--target-cols", "p_*"], ["--weight-col", "w"], ["--loss", "focal"],
         ["--class-weights", "balanced"], ["--smoothing", "0.1"], ["--on-nan", "drop"],
         ["--ignore-label", "1"], ["--renormalize"], ["--ci", "0.9", "--bootstrap", "10"]]
    ),
    max_size=3,
)  # fmt: skip


@FUZZ
@given(table=tables(), options=OPTIONS, fmt=st.sampled_from(["csv", "parquet"]))
def test_random_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table, options, fmt
) -> None:
    path = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    code = main([str(path), "--format", "json", "-q", *[a for o in options for a in o]])
    _out, err = capsys.readouterr()
    _check(code, err)


@FUZZ
@given(
    data=st.binary(max_size=400),
    suffix=st.sampled_from([".csv", ".parquet", ".jsonl", ".arrow", ".csv.gz"]),
)
def test_random_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, suffix: str
) -> None:
    path = tmp_path / f"b{suffix}"
    path.write_bytes(data)
    code = main([str(path), "-q"])
    _out, err = capsys.readouterr()
    _check(code, err)


def test_finite_report_from_extreme_but_valid_logits(tmp_path: Path, capsys) -> None:
    path = tmp_path / "x.csv"
    path.write_text("label,logit_a,logit_b\n0,1e300,-1e300\n1,1e300,-1e300\n")
    code = main([str(path), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json

    assert all(v is None or math.isfinite(v) for v in json.loads(out)["metrics"].values())


# -- Wider fuzzing: many column types, option combinations, text, stdin and damaged files. --------
#
# Every run goes through ``main([...])``. The contract checked on every example:
# exit 0 or 2 (never 3, never an exception), on 2 exactly one ``ce-eval: error:`` line on stderr,
# nothing on stdout, an existing ``-o`` file untouched, no ``--per-sample`` file created and no
# temporary file left; on 0 a strict-JSON report with the SPEC's keys and, with
# ``--per-sample``, one output row per evaluated row.

POOL = [
    "label", "y", "target", "p_a", "p_b", "p_c", "prob_a", "logit_0", "logit_1", "logit_2",
    "t_a", "t_b", "y_a", "y_b", "w", "id", "probs", "grp", "x", "p_\u00e9",
]  # fmt: skip
SPEC_METRICS = {
    "loss", "cross_entropy", "entropy", "label_entropy", "kl_divergence",
    "perplexity", "accuracy", "brier", "ece", "mce",
}  # fmt: skip
SPECIAL_FLOATS = [
    0.0, 1.0, 0.5, -0.0, -1.0, 2.0, 1e-320, 1e308, -1e308, 1e300, math.nan, math.inf, -math.inf,
]  # fmt: skip
KINDS = [
    "int8", "int64", "uint64", "float16", "float32", "float64", "bool", "string", "dictionary",
    "null", "date", "decimal", "binary", "list", "fixed_list", "struct", "list_string",
]  # fmt: skip
WIDE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _float_values(width: int) -> st.SearchStrategy[float | None]:
    return st.one_of(
        st.none(),
        st.sampled_from(SPECIAL_FLOATS),
        st.floats(0, 1, width=width),
        st.floats(allow_nan=True, allow_infinity=True, width=width),
    )


@st.composite
def typed_column(draw: st.DrawFn, kind: str, rows: int) -> pa.Array:
    def values(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(strategy, min_size=rows, max_size=rows))

    if kind in ("int8", "int64", "uint64"):
        info = np.iinfo(getattr(np, kind))
        small = st.integers(-2, 5) if kind != "uint64" else st.integers(0, 5)
        ints = st.one_of(st.none(), small, st.integers(int(info.min), int(info.max)))
        return pa.array(values(ints), type=getattr(pa, kind)())
    if kind in ("float16", "float32", "float64"):
        width = {"float16": 16, "float32": 32, "float64": 64}[kind]
        column = pa.array(values(_float_values(64)), type=pa.float64())
        if kind == "float64":
            return column
        numbers = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        with np.errstate(over="ignore"):
            cast = numbers.astype(np.float16 if width == 16 else np.float32)
        return pa.array(cast, mask=np.asarray(column.is_null().to_numpy(zero_copy_only=False)))
    if kind == "bool":
        return pa.array(values(st.one_of(st.none(), st.booleans())), type=pa.bool_())
    texts = st.one_of(
        st.none(),
        st.sampled_from(["0", "1", "2", "0.5", "nan", "inf", "-1", "1e400", "", "cat", "=1+1"]),
        st.text(max_size=5),
    )
    if kind == "string":
        return pa.array(values(texts), type=pa.string())
    if kind == "dictionary":
        return pa.array(values(texts), type=pa.string()).dictionary_encode()
    if kind == "null":
        return pa.nulls(rows)
    if kind == "date":
        return pa.array(values(st.one_of(st.none(), st.dates())), type=pa.date32())
    if kind == "decimal":
        decimals = st.one_of(
            st.none(), st.decimals(-10, 10, places=2, allow_nan=False, allow_infinity=False)
        )
        return pa.array(values(decimals), type=pa.decimal128(6, 2))
    if kind == "binary":
        return pa.array(values(st.one_of(st.none(), st.binary(max_size=4))), type=pa.binary())
    if kind == "list":
        lists = st.one_of(st.none(), st.lists(_float_values(64), max_size=4))
        return pa.array(values(lists), type=pa.list_(pa.float64()))
    if kind == "fixed_list":
        size = draw(st.integers(1, 4))
        flat = draw(st.lists(st.floats(0, 1, width=32), min_size=rows * size, max_size=rows * size))
        return pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.float32()), size)
    if kind == "struct":
        return pa.array(values(st.one_of(st.none(), st.fixed_dictionaries({"a": st.floats()}))))
    lists = st.one_of(st.none(), st.lists(texts.filter(lambda t: t is not None), max_size=3))
    return pa.array(values(lists), type=pa.list_(pa.string()))


@st.composite
def wide_tables(draw: st.DrawFn) -> pa.Table:
    names = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=7, unique=True))
    rows = draw(st.integers(0, 10))
    columns = {}
    for name in names:
        if name.startswith(("p_", "prob_", "logit_", "t_")) and draw(st.booleans()):
            kind = draw(st.sampled_from(["float64", "float32"]))
        elif name in ("label", "y", "target", "y_a", "y_b") and draw(st.booleans()):
            kind = "int64"
        else:
            kind = draw(st.sampled_from(KINDS))
        columns[name] = draw(typed_column(kind, rows))
    return pa.table(columns)


def _plain(value: Any) -> Any:
    """A JSON-ready version of a cell (bytes, dates and decimals as text)."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _write(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "arrow":
        import pyarrow.feather as feather

        feather.write_feather(table, path)
    elif fmt == "jsonl":
        lines = [json.dumps(_plain(row)) for row in table.to_pylist()]
        path.write_text("".join(line + "\n" for line in lines))
    else:
        nested = (pa.types.is_list, pa.types.is_fixed_size_list, pa.types.is_struct)
        fields = {}
        for name, column in zip(table.column_names, table.columns, strict=True):
            if any(test(column.type) for test in nested) or pa.types.is_binary(column.type):
                text = [None if v is None else str(_plain(v)) for v in column.to_pylist()]
                column = pa.array(text, type=pa.string())
            elif pa.types.is_dictionary(column.type):
                column = column.cast(pa.string())
            fields[name] = column
        pcsv.write_csv(pa.table(fields) if fields else table, path)


def _named(strategy: st.SearchStrategy[str], option: str) -> st.SearchStrategy[list[str]]:
    return st.tuples(st.just(option), strategy).map(list)


COLUMN_VALUES = st.sampled_from([*POOL, "p_*", "t_*", "y_*", "logit_*", "*", "p_a,p_b", "nope"])
WIDE_OPTIONS = st.lists(
    st.one_of(
        _named(COLUMN_VALUES, "--label-col"),
        _named(COLUMN_VALUES, "--prob-cols"),
        _named(COLUMN_VALUES, "--target-cols"),
        _named(st.sampled_from(["w", "x", "id", "p_a"]), "--weight-col"),
        _named(st.sampled_from(["id", "x", "label"]), "--id-col"),
        _named(st.sampled_from(["grp", "label", "id"]), "--group-col"),
        _named(st.sampled_from(["auto", "binary", "multiclass", "multilabel"]), "--task"),
        _named(st.sampled_from(["0", "0.5", "2", "1e9"]), "--gamma"),
        _named(st.sampled_from(["0", "0.25", "1"]), "--alpha").map(
            lambda o: [*o, "--loss", "focal"]
        ),
        _named(st.sampled_from(["0", "0.1", "0.999"]), "--smoothing"),
        _named(st.sampled_from(["balanced", "1,2", "1,2,3", "0,0,0", "1"]), "--class-weights"),
        _named(st.sampled_from(["nats", "bits", "10"]), "--base"),
        _named(st.sampled_from(["1", "3", "1000"]), "--bins"),
        _named(st.sampled_from(["0", "1", "cat", ""]), "--ignore-label"),
        _named(st.sampled_from(["1", "5"]), "--top"),
        _named(st.sampled_from(["a,b", "a,b,c", "0,1"]), "--classes"),
        st.sampled_from(
            [
                ["--logits"],
                ["--probs"],
                ["--loss", "focal"],
                ["--on-nan", "drop"],
                ["--renormalize"],
                ["--ci", "0.9", "--bootstrap", "10"],
                ["-q"],
            ]
        ),
    ),
    max_size=4,
)


def _reject_constant(name: str) -> None:
    raise AssertionError(f"the JSON report holds {name}, which is not strict JSON")


def _check_contract(
    code: int,
    out: str,
    err: str,
    root: Path,
    before: set[str],
    report: Path | None = None,
    samples: Path | None = None,
) -> None:
    """Exit 0 or 2, and everything the SPEC promises for each."""
    assert code in (0, 2), f"exit {code}: {err}"
    assert "Traceback" not in err, err
    leftovers = [n for n in os.listdir(root) if n.startswith(".ce-eval-") and n not in before]
    assert not leftovers, leftovers
    if code == 2:
        assert out == "", out
        assert err.endswith("\n") and err.count("\n") == 1, repr(err)
        assert err.startswith("ce-eval: error: "), err
        if report is not None:
            assert report.read_text() == "OLD"
        if samples is not None:
            assert not samples.exists(), "a --per-sample file was written by a failed run"
        return
    text = report.read_text() if report is not None else out
    data = json.loads(text, parse_constant=_reject_constant)
    assert isinstance(data["schema_version"], int)
    assert data["metrics"].keys() >= SPEC_METRICS
    for name, value in data["metrics"].items():
        assert value is None or isinstance(value, int | float), (name, value)
    if samples is not None:
        assert pq.read_table(samples).num_rows == data["n_samples"]


@WIDE
@given(
    table=wide_tables(),
    options=WIDE_OPTIONS,
    fmt=st.sampled_from(["csv", "parquet", "jsonl", "arrow"]),
    to_file=st.booleans(),
    with_samples=st.booleans(),
)
def test_wide_tables_and_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    table: pa.Table,
    options: list[list[str]],
    fmt: str,
    to_file: bool,
    with_samples: bool,
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        root = Path(folder)
        path = root / f"in.{fmt}"
        _write(table, path, fmt)
        args = [str(path), "--format", "json", *[a for o in options for a in o]]
        report = samples = None
        if to_file:
            report = root / "report.json"
            report.write_text("OLD")
            args += ["-o", str(report)]
        if with_samples:
            samples = root / "samples.parquet"
            args += ["--per-sample", str(samples)]
        before = set(os.listdir(root))
        code = main(args)
        out, err = capsys.readouterr()
        if to_file and code == 0:
            assert out == ""
        _check_contract(code, out, err, root, before, report, samples)


CELLS = [
    "0", "1", "2", "0.5", "0.25", "0.75", "-1", "3.5", "1e400", "-1e-400", "nan", "NaN", "inf",
    "-inf", "", "abc", '"a,b"', '"x\ny"', "\u00e9", "\ufeff1", " 0.5", "0x1p-1", "1_0", "TRUE",
    "null", "=1+1", '"', "1,2", "cat", "dog",
]  # fmt: skip


@st.composite
def csv_texts(draw: st.DrawFn) -> tuple[str, str]:
    """Delimited text: a header from the name pool and rows of tricky cells, sometimes ragged."""
    delimiter = draw(st.sampled_from([",", "\t"]))
    header = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=6))
    lines = [delimiter.join(header)]
    for _ in range(draw(st.integers(0, 8))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
        cells = draw(st.lists(st.sampled_from(CELLS), min_size=width, max_size=width))
        lines.append(delimiter.join(cells))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    last = draw(st.sampled_from([newline, ""]))  # with or without a final line break
    return delimiter, newline.join(lines) + last


@WIDE
@given(
    text=csv_texts(),
    options=WIDE_OPTIONS,
    how=st.sampled_from(["file", "gzip", "stdin"]),
)
def test_tricky_delimited_text(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: tuple[str, str],
    options: list[list[str]],
    how: str,
) -> None:
    delimiter, content = text
    suffix = ".csv" if delimiter == "," else ".tsv"
    data = content.encode()
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        root = Path(folder)
        if how == "stdin":
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
            source = "-"
        elif how == "gzip":
            source = str(root / f"in{suffix}.gz")
            Path(source).write_bytes(gzip.compress(data, mtime=0))
        else:
            source = str(root / f"in{suffix}")
            Path(source).write_bytes(data)
        before = set(os.listdir(root))
        code = main([source, "--format", "json", *[a for o in options for a in o]])
        out, err = capsys.readouterr()
        _check_contract(code, out, err, root, before)


@WIDE
@given(
    data=st.binary(max_size=600),
    input_format=st.sampled_from([None, "csv", "tsv", "parquet", "arrow", "jsonl"]),
)
def test_random_bytes_on_stdin(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    data: bytes,
    input_format: str | None,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    args = ["-", "--format", "json"]
    if input_format:
        args += ["--input-format", input_format]
    before = set(os.listdir(tmp_path))
    code = main(args)
    out, err = capsys.readouterr()
    _check_contract(code, out, err, tmp_path, before)


@WIDE
@given(
    data=st.binary(max_size=600),
    suffix=st.sampled_from([".csv", ".tsv", ".parquet", ".jsonl", ".arrow", ".feather", ".gz"]),
)
def test_random_bytes_in_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, suffix: str
) -> None:
    path = tmp_path / ("b.csv.gz" if suffix == ".gz" else f"b{suffix}")
    path.write_bytes(gzip.compress(data, mtime=0) if suffix == ".gz" else data)
    before = set(os.listdir(tmp_path))
    code = main([str(path), "--format", "json"])
    out, err = capsys.readouterr()
    _check_contract(code, out, err, tmp_path, before)


def _good_files() -> dict[str, bytes]:
    """Small good inputs in every binary format, the seeds the damage is done to."""
    import pyarrow.feather as feather

    rng = np.random.default_rng(7)
    p = rng.dirichlet([1.0, 1.0, 1.0], 20)
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(20)],
            "label": rng.integers(0, 3, 20),
            "p_a": p[:, 0],
            "p_b": p[:, 1],
            "p_c": p[:, 2],
            "probs": pa.FixedSizeListArray.from_arrays(pa.array(p.reshape(-1), pa.float32()), 3),
        }
    )
    files = {}
    for name, write in (
        ("plain.parquet", lambda s: pq.write_table(table, s, row_group_size=7)),
        ("zstd.parquet", lambda s: pq.write_table(table, s, compression="zstd")),
        ("plain.arrow", lambda s: feather.write_feather(table, s, compression="uncompressed")),
        ("lz4.arrow", lambda s: feather.write_feather(table, s, compression="lz4")),
    ):
        sink = pa.BufferOutputStream()
        write(sink)
        files[name] = sink.getvalue().to_pybytes()
    files["good.jsonl"] = "".join(
        json.dumps(row) + "\n" for row in table.drop_columns(["probs"]).to_pylist()
    ).encode()
    return files


GOOD_FILES = _good_files()
DAMAGE = st.one_of(
    st.tuples(st.just("set"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 16)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("int64"), st.floats(0, 1), st.sampled_from([-1, 1 << 31, 1 << 60])),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("name"), st.just(0.0), st.integers(0x80, 0xFF)),
)


def _damage(data: bytes, edits: list[tuple[str, float, Any]]) -> bytes:
    out = bytearray(data)
    for op, where, arg in edits:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if op == "set" and out:
            out[at] = arg
        elif op == "delete":
            del out[at : at + arg]
        elif op == "insert":
            out[at:at] = arg
        elif op == "int64":
            out[at : at + 8] = int(arg).to_bytes(8, "little", signed=True)
        elif op == "truncate":
            del out[at:]
        elif op == "name":  # a column name's bytes become invalid UTF-8 (same length)
            out = bytearray(bytes(out).replace(b"p_b", b"p_" + bytes([arg])))
    return bytes(out)


@WIDE
@given(
    name=st.sampled_from(sorted(GOOD_FILES)),
    edits=st.lists(DAMAGE, min_size=1, max_size=4),
)
@example(name="plain.parquet", edits=[("name", 0.0, 0xFF)])
@example(name="plain.arrow", edits=[("name", 0.0, 0xFF)])
@example(name="good.jsonl", edits=[("name", 0.0, 0xFF)])
def test_damaged_files(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    edits: list[tuple[str, float, Any]],
) -> None:
    path = tmp_path / name
    path.write_bytes(_damage(GOOD_FILES[name], edits))
    report = tmp_path / "report.json"
    report.write_text("OLD")
    before = set(os.listdir(tmp_path))
    code = main([str(path), "--format", "json", "-o", str(report)])
    out, err = capsys.readouterr()
    _check_contract(code, out, err, tmp_path, before, report)
