"""Every source and layout gives the same numbers as the same data in a plain Parquet file;
rows left out by --ignore-label / --on-nan drop, and --renormalize, are applied and counted."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import ce_cli
import ce_cli.errors
import ce_cli.io.batching
import ce_cli.io.readers
import ce_cli.io.text

CLASSES = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(17)
    n = 900
    z = rng.normal(size=(n, 3)) * 1.5
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, n)
    ids = [f"r{i:04d}" for i in range(n)]
    wide = pa.table(
        {
            "id": ids,
            "label": np.array(CLASSES)[labels],
            **{f"p_{c}": probs[:, j] for j, c in enumerate(CLASSES)},
        }
    )
    paths: dict[str, Path] = {"parquet": root / "plain.parquet"}
    pq.write_table(wide, paths["parquet"])
    paths["csv"] = root / "plain.csv"
    pcsv.write_csv(wide, paths["csv"])
    paths["csv.gz"] = root / "plain.csv.gz"
    paths["csv.gz"].write_bytes(gzip.compress(paths["csv"].read_bytes()))
    paths["tsv"] = root / "plain.tsv"
    pcsv.write_csv(wide, paths["tsv"], pcsv.WriteOptions(delimiter="\t"))
    paths["arrow"] = root / "plain.arrow"
    feather.write_feather(wide, paths["arrow"])
    paths["jsonl"] = root / "plain.jsonl"
    paths["jsonl"].write_text("\n".join(json.dumps(r) for r in wide.to_pylist()) + "\n")
    parts = root / "parts"
    parts.mkdir()
    pq.write_table(wide.slice(0, 300), parts / "a.parquet")
    pq.write_table(wide.slice(300), parts / "b.parquet")
    paths["dir"] = parts
    # list column with the classes fixed by --classes
    list_table = pa.table(
        {
            "label": np.array(CLASSES)[labels],
            "probs": pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), 3),
        }
    )
    paths["list"] = root / "list.parquet"
    pq.write_table(list_table, paths["list"])
    # predictions and labels in two files, the labels shuffled
    paths["preds_only"] = root / "preds.parquet"
    pq.write_table(wide.drop_columns(["label"]), paths["preds_only"])
    order = rng.permutation(n)
    paths["labels_by_id"] = root / "labels.csv"
    pcsv.write_csv(wide.select(["id", "label"]).take(order), paths["labels_by_id"])
    paths["labels_in_order"] = root / "labels_in_order.parquet"
    pq.write_table(wide.select(["label"]), paths["labels_in_order"])
    # one-hot label columns, and columns in another order
    onehot = {f"y_{c}": (labels == j).astype(np.int8) for j, c in enumerate(CLASSES)}
    paths["onehot"] = root / "onehot.parquet"
    pq.write_table(
        pa.table({**{f"p_{c}": probs[:, j] for j, c in enumerate(CLASSES)}, **onehot}),
        paths["onehot"],
    )
    paths["reordered"] = root / "reordered.parquet"
    pq.write_table(wide.select(["label", "p_bird", "id", "p_cat", "p_dog"]), paths["reordered"])
    return paths


def metrics(path: Path | str, **options: object) -> dict[str, float]:
    return dict(ce_cli.evaluate(str(path), **options).metrics)


def assert_same(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert b[key] == pytest.approx(a[key], rel=1e-12, abs=1e-15), key


@pytest.mark.parametrize("layout", ["csv", "csv.gz", "tsv", "arrow", "jsonl", "dir", "reordered"])
def test_formats_and_layouts_match_parquet(data: dict[str, Path], layout: str) -> None:
    assert_same(metrics(data["parquet"]), metrics(data[layout]))


def test_glob_of_parquet_files(data: dict[str, Path]) -> None:
    assert_same(metrics(data["parquet"]), metrics(str(data["dir"] / "*.parquet")))


def test_list_column_with_classes(data: dict[str, Path]) -> None:
    assert_same(metrics(data["parquet"]), metrics(data["list"], classes="cat,dog,bird"))


def test_labels_joined_by_id_and_by_row_order(data: dict[str, Path]) -> None:
    plain = metrics(data["parquet"])
    joined = metrics(data["preds_only"], labels_file=str(data["labels_by_id"]), id_col="id")
    assert_same(plain, joined)
    assert_same(plain, metrics(data["preds_only"], labels_file=str(data["labels_in_order"])))


def test_one_hot_columns_equal_a_label_column_even_with_class_weights(
    data: dict[str, Path],
) -> None:
    assert_same(
        metrics(data["parquet"], class_weights="1,2,0.5", smoothing=0.1),
        metrics(data["onehot"], target_cols="y_*", class_weights="1,2,0.5", smoothing=0.1),
    )


def test_classes_option_reorders_columns(data: dict[str, Path]) -> None:
    report = ce_cli.evaluate(str(data["parquet"]), classes="bird,cat,dog")
    assert report.detection.classes == ("bird", "cat", "dog")
    assert_same(metrics(data["parquet"]), dict(report.metrics))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_stdin_matches_the_file(data: dict[str, Path], fmt: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ce_cli", "-", "--format", "json"],
        input=data[fmt].read_bytes(),
        capture_output=True,
        check=True,
    )
    assert_same(metrics(data["parquet"]), json.loads(result.stdout)["metrics"])


def test_ignore_label_excludes_and_counts_rows(data: dict[str, Path]) -> None:
    table = pq.read_table(data["parquet"])
    keep = pa.compute.not_equal(table.column("label"), "dog")
    expected = ce_cli.evaluate(table.filter(keep))
    report = ce_cli.evaluate(str(data["parquet"]), ignore_label="dog")
    assert_same(dict(expected.metrics), dict(report.metrics))
    assert report.counts["ignored_rows"] == table.num_rows - expected.n_samples


def test_on_nan_drop_excludes_and_counts_rows(tmp_path: Path) -> None:
    p = np.array([[0.2, 0.8], [np.nan, 0.5], [0.6, 0.4], [0.9, 0.1]])
    table = pa.table({"label": [1, 0, 0, 1], "p_a": p[:, 0], "p_b": p[:, 1]})
    path = tmp_path / "nan.parquet"
    pq.write_table(table, path)
    with pytest.raises(ce_cli.CeEvalError, match="row 2"):
        ce_cli.evaluate(str(path))
    report = ce_cli.evaluate(str(path), on_nan="drop")
    expected = ce_cli.evaluate(table.take([0, 2, 3]))
    assert report.counts["dropped_rows"] == 1
    assert_same(dict(expected.metrics), dict(report.metrics))


def test_renormalize_divides_rows_by_their_sum(tmp_path: Path) -> None:
    p = np.array([[0.2, 0.6, 0.1], [0.3, 0.3, 0.4], [0.5, 0.5, 0.2]])
    table = pa.table({"label": [1, 2, 0], **{f"p_{j}": p[:, j] for j in range(3)}})
    with pytest.raises(ce_cli.CeEvalError, match=r"row 1.*sum"):
        ce_cli.evaluate(table, logits=False)
    report = ce_cli.evaluate(table, logits=False, renormalize=True)
    fixed = p / p.sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(fixed[[0, 1, 2], [1, 2, 0]]))
    assert report.metrics["cross_entropy"] == pytest.approx(expected, rel=1e-12)
    assert report.counts["renormalized_rows"] == 2


def test_per_sample_rows_keep_input_numbering_after_ignored_rows(
    data: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "samples.csv"
    ce_cli.evaluate(str(data["parquet"]), ignore_label="cat", per_sample=str(out), id_col="id")
    samples = pcsv.read_csv(io.BytesIO(out.read_bytes()))
    labels = pq.read_table(data["parquet"]).column("label").to_numpy(zero_copy_only=False)
    assert samples.column("row").to_pylist() == [i + 1 for i, v in enumerate(labels) if v != "cat"]


@pytest.mark.parametrize("layout", ["csv", "tsv", "csv.gz"])
def test_large_file_readers_match_the_whole_file_read(
    data: dict[str, Path], layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CSV_WHOLE_FILE_BYTES (and gzip'd at any size) a CSV is streamed block by block;
    small blocks here make a 900-row file take that path, in many batches joined again."""
    whole = metrics(data[layout])
    monkeypatch.setattr(ce_cli.io.text, "CSV_WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(ce_cli.io.text, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setattr(ce_cli.io.batching, "BATCH_ROWS", 100)
    assert_same(whole, metrics(data[layout]))


def test_block_parse_error_names_its_row_in_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = ["label,p_a,p_b"] + [f"{i % 2},0.25,0.75" for i in range(2000)]
    rows[1500] = "1,0.25,oops"  # data row 1500: line 1501 of the file
    path = tmp_path / "late_error.csv"
    path.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(ce_cli.io.text, "CSV_WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(ce_cli.io.text, "CSV_BLOCK_BYTES", 4096)
    with pytest.raises(ce_cli.errors.CeEvalError) as caught:
        ce_cli.evaluate(str(path))
    message = str(caught.value)
    assert "row 1500" in message and "p_b" in message and "oops" in message, message


def test_float32_list_logits_match_float64_columns() -> None:
    """A float32 list column reaches the logits kernel without a float64 copy; the numbers are
    those of the same values widened to float64 columns."""
    rng = np.random.default_rng(5)
    z = (rng.normal(size=(700, 4)) * 3).astype(np.float32)
    labels = rng.integers(0, 4, 700)
    as_list = pa.table(
        {"label": labels, "logits": pa.FixedSizeListArray.from_arrays(pa.array(z.reshape(-1)), 4)}
    )
    as_columns = pa.table(
        {"label": labels, **{f"logit_{j}": z[:, j].astype(np.float64) for j in range(4)}}
    )
    assert_same(
        dict(ce_cli.evaluate(as_columns, logits=True).metrics),
        dict(ce_cli.evaluate(as_list, logits=True).metrics),
    )


def test_huge_finite_logits_pass_the_screen_without_warnings() -> None:
    """The chunk screen sums the logits; a sum that overflows is a false alarm, not a warning
    (the tests run with warnings as errors) and not an error: every value is finite."""
    z = np.zeros((300, 2))
    z[200] = [1e308, 1e308]
    table = pa.table({"label": np.arange(300) % 2, "logit_a": z[:, 0], "logit_b": z[:, 1]})
    assert ce_cli.evaluate(table).n_samples == 300
    z[250] = [np.inf, -np.inf]
    table = pa.table({"label": np.arange(300) % 2, "logit_a": z[:, 0], "logit_b": z[:, 1]})
    with pytest.raises(ce_cli.errors.CeEvalError, match="row 251"):
        ce_cli.evaluate(table)


def test_a_dictionary_shared_by_every_batch_is_checked_once() -> None:
    """Parquet and Arrow hand every batch the same dictionary: validating it once per batch
    made the UTF-8 check quadratic in the file's length. A new dictionary is still checked."""
    from ce_cli.io.locate import TextCheck

    ids = pa.array(["a", "b", "c"] * 4).dictionary_encode()
    batches = [pa.record_batch([ids.slice(3 * i, 3)], names=["id"]) for i in range(4)]
    check = TextCheck("ids.parquet")
    for i, batch in enumerate(batches):
        check(batch, 1 + 3 * i)
    assert len(check._dictionaries) == 1

    bad_text = pa.Array.from_buffers(
        pa.string(),
        2,
        [None, pa.py_buffer(np.array([0, 1, 2], dtype=np.int32)), pa.py_buffer(b"x\xff")],
    )
    bad = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), bad_text)
    with pytest.raises(ce_cli.errors.InputFormatError, match="not UTF-8"):
        check(pa.record_batch([bad], names=["id"]), 13)


def test_a_list_column_is_decided_on_the_rows_its_columns_would_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The decision window holds a number of rows that depends on the width alone: the same
    values as a list column or as separate columns are read as the same kind of prediction
    (here: probabilities from the first 10 rows, so a later value above 1 is an error)."""
    import ce_cli.resolve.converter

    monkeypatch.setattr(ce_cli.resolve.converter, "WINDOW_VALUES", 40)  # 4 classes: 10 rows
    rng = np.random.default_rng(9)
    probs = rng.dirichlet(np.ones(4), 50)
    probs[30] = [3.0, -1.0, 0.5, 0.2]
    labels = rng.integers(0, 4, 50)
    columns = pa.table({"label": labels, **{f"p_{j}": probs[:, j] for j in range(4)}})
    as_list = pa.table(
        {"label": labels, "p": pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), 4)}
    )
    for table in (columns, as_list):
        with pytest.raises(ce_cli.errors.CeEvalError, match="row 31"):
            ce_cli.evaluate(table)


def test_a_line_longer_than_a_block_is_parsed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row longer than a parse block is read whole."""
    width = 400  # a line of about 4 KB, with blocks of 1 KB
    rng = np.random.default_rng(2)
    q = rng.dirichlet(np.ones(width), 30)
    header = "label," + ",".join(f"p_{j}" for j in range(width))
    lines = [f"{i % width}," + ",".join(repr(float(v)) for v in row) for i, row in enumerate(q)]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    whole = metrics(path)
    monkeypatch.setattr(ce_cli.io.text, "CSV_WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(ce_cli.io.text, "CSV_BLOCK_BYTES", 1024)
    assert_same(whole, metrics(path))


def _quoted_ids_csv(path: Path, n: int, every: int, phase: int, after: str, seed: int) -> Path:
    """A binary CSV whose id holds a quoted line break, then ``after``, in every ``every``-th
    row (from row ``phase``)."""
    rng = np.random.default_rng(seed)
    lines = ["id,label,p_a,p_b"]
    for i in range(n):
        q = float(rng.random())
        ident = f'"row {i}\n{after}"' if i % every == phase else f"r{i}"
        lines.append(f"{ident},{i % 2},{1 - q!r},{q!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("streamed", [False, True])
def test_quoted_line_breaks_survive_small_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """Ids with a quoted line break in every third row: wherever a parse block ends, the rows
    stay whole, read whole (with the quote-aware chunker, as quotes follow the header) or
    streamed."""
    path = _quoted_ids_csv(tmp_path / "quoted.csv", 3000, 3, 0, "second line", seed=4)
    expected = metrics(path, id_col="id")
    monkeypatch.setattr(ce_cli.io.text, "CSV_BLOCK_BYTES", 2048)
    if streamed:
        monkeypatch.setattr(ce_cli.io.text, "CSV_WHOLE_FILE_BYTES", 0)
    report = ce_cli.evaluate(str(path), id_col="id")
    assert report.n_samples == 3000
    assert_same(expected, metrics(path, id_col="id"))


def test_a_block_cut_right_after_a_quoted_line_break_is_no_extra_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text after a quoted line break here reads like a row of its own: a fast chunker
    cutting a block there would count it silently. Every offset of the cut comes up."""
    path = _quoted_ids_csv(tmp_path / "tricky.csv", 1500, 7, 3, "1,0.5,0.5,x", seed=6)
    monkeypatch.setattr(ce_cli.io.text, "CSV_BLOCK_BYTES", 997)  # cuts fall everywhere
    whole = ce_cli.evaluate(str(path), id_col="id")
    monkeypatch.setattr(ce_cli.io.text, "CSV_WHOLE_FILE_BYTES", 0)
    streamed = ce_cli.evaluate(str(path), id_col="id")
    assert whole.n_samples == streamed.n_samples == 1500
    assert whole.to_dict()["metrics"] == streamed.to_dict()["metrics"]


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_carriage_return_line_ends_read_as_newlines(tmp_path: Path, newline: str) -> None:
    rng = np.random.default_rng(8)
    q = rng.dirichlet(np.ones(3), 400)
    lines = ["label,p_a,p_b,p_c"] + [
        f"{i % 3}," + ",".join(map(repr, r)) for i, r in enumerate(q.tolist())
    ]
    plain, other = tmp_path / "lf.csv", tmp_path / "other.csv"
    plain.write_text("\n".join(lines) + "\n")
    other.write_bytes((newline.join(lines) + newline).encode())
    assert ce_cli.io.text._longest_first_line(str(other)) < 100  # lines, not the whole file
    assert metrics(other) == metrics(plain)


def test_whole_and_streamed_reads_give_the_same_report_to_the_last_digit(
    data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both cut the rows into batches of exactly BATCH_ROWS, and every row's numbers depend on
    its own values only."""
    monkeypatch.setattr(ce_cli.io.batching, "BATCH_ROWS", 128)
    monkeypatch.setattr(ce_cli.io.text, "CSV_BLOCK_BYTES", 3000)
    whole = ce_cli.evaluate(str(data["csv"])).to_dict()
    monkeypatch.setattr(ce_cli.io.text, "CSV_WHOLE_FILE_BYTES", 0)
    streamed = ce_cli.evaluate(str(data["csv"])).to_dict()
    assert whole["metrics"] == streamed["metrics"]
    assert whole["calibration"] == streamed["calibration"]


def test_ignore_label_compares_integers_exactly_past_2_to_the_53(tmp_path: Path) -> None:
    """A float64 cast of such labels was refused (exit 3), and would have rounded them."""
    big = 2**53 + 1
    path = tmp_path / "big_labels.csv"
    path.write_text(f"label,p_a,p_b\n0,0.2,0.8\n{big},0.5,0.5\n1,0.3,0.7\n{big - 1},0.4,0.6\n")
    with pytest.raises(ce_cli.errors.LabelError, match="row 4"):  # 2^53 is not ignored
        ce_cli.evaluate(str(path), ignore_label=str(big))
    path.write_text(f"label,p_a,p_b\n0,0.2,0.8\n{big},0.5,0.5\n1,0.3,0.7\n")
    report = ce_cli.evaluate(str(path), ignore_label=str(big))
    assert report.n_samples == 2 and report.counts["ignored_rows"] == 1
    # A float spelling of an integer label matches it too.
    path.write_text("label,p_a,p_b\n0,0.2,0.8\n1,0.5,0.5\n1,0.3,0.7\n")
    assert ce_cli.evaluate(str(path), ignore_label="1e0").n_samples == 1


def test_a_carriage_return_only_file_with_quoted_line_breaks_reads_whole(tmp_path: Path) -> None:
    """The header ends at its \\r: the quotes after it choose pyarrow's quote-aware chunker."""
    rows = [f'{i % 2},0.25,0.75,"note {i}\rsecond line"' for i in range(40_000)]
    path = tmp_path / "cr_quoted.csv"
    path.write_bytes(("\r".join(["label,p_0,p_1,note", *rows]) + "\r").encode())
    assert ce_cli.evaluate(str(path)).n_samples == 40_000


def test_a_float16_label_column_takes_ignore_label(tmp_path: Path) -> None:
    import pyarrow.feather as feather

    table = pa.table(
        {
            "label": pa.array(np.array([0, 1, -100, 1], dtype=np.float16)),
            "p_0": [0.2] * 4,
            "p_1": [0.8] * 4,
        }
    )
    feather.write_feather(table, tmp_path / "half.arrow")
    assert ce_cli.evaluate(str(tmp_path / "half.arrow"), ignore_label="-100").n_samples == 3


def test_a_streamed_id_column_empty_in_its_first_rows_is_read_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids filled in only after the first block: the id column is read as text whatever its
    first rows look like, so the streaming reader takes the later ids as it does whole."""
    lines = ["id,label,p_a,p_b"]
    lines += [f"{'' if i < 6000 else f'r{i}'},{i % 2},0.25,0.75" for i in range(7000)]
    path = tmp_path / "late_ids.csv"
    path.write_text("\n".join(lines) + "\n")
    assert ce_cli.evaluate(str(path), id_col="id").n_samples == 7000  # read whole: fine
    monkeypatch.setattr(ce_cli.io.text, "CSV_WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(ce_cli.io.text, "CSV_BLOCK_BYTES", 4096)
    assert ce_cli.evaluate(str(path), id_col="id").n_samples == 7000


def test_on_nan_drop_drops_an_empty_class_name_and_decimals_take_ignore_label(
    tmp_path: Path,
) -> None:
    path = tmp_path / "names.csv"
    path.write_text("label,p_cat,p_dog\ncat,.4,.6\n,.5,.5\ndog,.1,.9\n")
    report = ce_cli.evaluate(str(path), on_nan="drop")
    assert report.n_samples == 2 and report.counts["dropped_rows"] == 1
    from decimal import Decimal

    labels = pa.array([Decimal(0), Decimal(-100), Decimal(2)], pa.decimal128(6, 2))
    table = pa.table({"label": labels, "p_0": [0.2] * 3, "p_1": [0.3] * 3, "p_2": [0.5] * 3})
    pq.write_table(table, tmp_path / "decimal.parquet")
    report = ce_cli.evaluate(str(tmp_path / "decimal.parquet"), ignore_label="-100")
    assert report.n_samples == 2 and report.counts["ignored_rows"] == 1


def test_decimal_labels_are_compared_exactly(tmp_path: Path) -> None:
    """Through float64, 1 + 1e-20 was class 1 and --ignore-label matched 10**30 + 1 to 10**30."""
    from decimal import Decimal

    def evaluate(labels: list[Decimal], kind: pa.DataType, **options: object) -> object:
        columns = {"label": pa.array(labels, kind), **{f"p_{j}": [0.2, 0.3, 0.5][j : j + 1] * 3
                   for j in range(3)}}  # fmt: skip
        pq.write_table(pa.table(columns), tmp_path / "labels.parquet")
        return ce_cli.evaluate(str(tmp_path / "labels.parquet"), **options)

    tiny = [Decimal(0), Decimal("1.00000000000000000001"), Decimal(2)]
    with pytest.raises(ce_cli.errors.LabelError, match="whole number"):
        evaluate(tiny, pa.decimal128(38, 20))
    big = [Decimal(0), Decimal(1), Decimal(10**30)]
    with pytest.raises(ce_cli.errors.LabelError, match="outside the classes"):
        evaluate(big, pa.decimal128(38, 0), ignore_label=str(10**30 + 1))
    assert evaluate(big, pa.decimal128(38, 0), ignore_label=str(10**30)).n_samples == 2
    halves = [Decimal(0), Decimal("1.5"), Decimal(2)]
    assert evaluate(halves, pa.decimal128(5, 2), ignore_label="1.50").n_samples == 2


def test_dask_partitions_of_a_csv_read_the_id_column_as_text(tmp_path: Path) -> None:
    """A worker re-opens a CSV partition; its id column is text there too (``0001``)."""
    from ce_cli.engine.dask import Partition, partition_batches

    path = tmp_path / "ids.csv"
    path.write_text("id,label,p\n0001,0,0.2\n0002,1,0.7\n")
    part = Partition(str(path), "csv", None, 1, 0)
    batches = [b for b, _ in partition_batches(part, ["id", "label", "p"], ["p"], None, "id")]
    assert batches[0].column("id").to_pylist() == ["0001", "0002"]
