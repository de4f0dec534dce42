"""The corpus of bad inputs and bad options: each must end in exit 2 with ONE short line on stderr.

For every case: exit code 2; stderr is exactly one line starting with ``ce-eval: error:`` that
names what is wrong (the column, the 1-based data row, the offending value, the file, or the
option, as the case makes them known); no traceback; nothing on stdout; and an ``-o`` report
file and a ``--per-sample`` file that existed before the run are left exactly as they were,
with no temporary files left beside them.
"""

from __future__ import annotations

import decimal
import gzip
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from ce_cli.cli.main import main

CE_EVAL = Path(sys.executable).with_name("ce-eval")
OLD_REPORT = "OLD"
OLD_SAMPLES = "OLD-SAMPLES"

# A fragment is a string that must appear in the message, or a tuple of alternatives of which
# one must appear (compared case-insensitively).
Fragment = str | tuple[str, ...]
Maker = Callable[[Path], str | None]


@dataclass(frozen=True)
class Case:
    id: str
    make: Maker
    args: list[str] = field(default_factory=list)
    fragments: list[Fragment] = field(default_factory=list)
    stdin: bytes | None = None


# -- makers: each writes a file under ``root`` and returns the argument naming it ------------


def text_file(name: str, content: str | bytes) -> Maker:
    def make(root: Path) -> str:
        data = content.encode() if isinstance(content, str) else content
        (root / name).write_bytes(data)
        return name

    return make


def csv3(
    edits: dict[tuple[int, str], str] | None = None,
    rows: int = 10,
    name: str = "bad.csv",
    row_values: tuple[str, str, str] = ("0.2", "0.3", "0.5"),
) -> Maker:
    """A 3-class CSV (label,p_a,p_b,p_c) with some cells replaced: {(1-based row, col): text}."""
    columns = ("label", "p_a", "p_b", "p_c")

    def make(root: Path) -> str:
        lines = [",".join(columns)]
        for i in range(1, rows + 1):
            cells = dict(zip(columns, (str(i % 3), *row_values), strict=True))
            for (row, column), value in (edits or {}).items():
                if row == i:
                    cells[column] = value
            lines.append(",".join(cells[c] for c in columns))
        (root / name).write_text("\n".join(lines) + "\n")
        return name

    return make


def logits_csv_with(row: int, column: str, value: str) -> Maker:
    def make(root: Path) -> str:
        rng = np.random.default_rng(1)
        z = rng.normal(size=(10, 4))
        lines = ["label,logit_0,logit_1,logit_2,logit_3"]
        for i in range(10):
            cells = [str(i % 4), *(repr(float(v)) for v in z[i])]
            if i + 1 == row:
                cells[1 + int(column.rsplit("_", 1)[1])] = value
            lines.append(",".join(cells))
        (root / "logits.csv").write_text("\n".join(lines) + "\n")
        return "logits.csv"

    return make


def parquet_file(columns: dict[str, object], name: str = "bad.parquet") -> Maker:
    def make(root: Path) -> str:
        pq.write_table(pa.table(columns), root / name)
        return name

    return make


def truncated_parquet(root: Path) -> str:
    rng = np.random.default_rng(2)
    p = rng.dirichlet([1, 1, 1], 500)
    table = pa.table({"label": rng.integers(0, 3, 500), **{f"p_{j}": p[:, j] for j in range(3)}})
    pq.write_table(table, root / "whole.parquet")
    data = (root / "whole.parquet").read_bytes()
    (root / "truncated.parquet").write_bytes(data[: len(data) // 2])
    return "truncated.parquet"


def random_bytes(name: str, size: int = 4096, seed: int = 3) -> Maker:
    return text_file(name, np.random.default_rng(seed).bytes(size))


def ragged_list(root: Path) -> str:
    probs = [[0.2, 0.3, 0.5]] * 3 + [[0.5, 0.5]] + [[0.2, 0.3, 0.5]] * 2
    pq.write_table(pa.table({"label": [0, 1, 2, 0, 1, 2], "probs": probs}), root / "lists.parquet")
    return "lists.parquet"


def late_contradiction(suffix: str) -> Maker:
    """70,000 rows of 3 probabilities; data row 69,000 (past the 65,536-row decision window)
    holds 3.0 (and -1.0 twice, so the row still sums to 1)."""

    def make(root: Path) -> str:
        n = 70_000
        rng = np.random.default_rng(4)
        p = rng.dirichlet([1.0, 1.0, 1.0], n)
        p[69_000 - 1] = [3.0, -1.0, -1.0]
        table = pa.table({"label": rng.integers(0, 3, n), **{f"p_{j}": p[:, j] for j in range(3)}})
        name = f"late{suffix}"
        if suffix == ".csv":
            pcsv.write_csv(table, root / name)
        else:
            pq.write_table(table, root / name)
        return name

    return make


def jsonl_with(row: int, line: str) -> Maker:
    """Ten JSON Lines records (label, p_x) with the 1-based ``row`` replaced by ``line``."""

    def make(root: Path) -> str:
        lines = [f'{{"label": {i % 2}, "p_x": 0.5}}' for i in range(10)]
        lines[row - 1] = line
        (root / "bad5.jsonl").write_text("\n".join(lines) + "\n")
        return "bad5.jsonl"

    return make


def with_directory(name: str, make_input: Maker) -> Maker:
    """The input from ``make_input`` and an existing directory called ``name`` beside it."""

    def make(root: Path) -> str | None:
        (root / name).mkdir()
        return make_input(root)

    return make


def non_utf8_name(suffix: str) -> Maker:
    """A good file whose column name ``p_é`` has its bytes replaced by invalid UTF-8 (same
    length, so the file's structure stays valid)."""

    def make(root: Path) -> str:
        table = pa.table({"label": [0, 1], "p_\u00e9": [0.4, 0.6], "p_b": [0.6, 0.4]})
        path = root / f"names{suffix}"
        if suffix == ".parquet":
            pq.write_table(table, path)
        else:
            feather.write_feather(table, path, compression="uncompressed")
        data = path.read_bytes()
        assert "p_\u00e9".encode() in data
        path.write_bytes(data.replace("p_\u00e9".encode(), b"p_\xff\xfe"))
        return path.name

    return make


def huge_buffer_arrow(root: Path) -> str:
    """An LZ4-compressed Feather file with one buffer's declared size patched to 2**60: reading
    it asks for an impossible allocation (the position is searched, not hard-coded)."""
    import pyarrow.ipc as ipc

    table = pa.table({"label": [0, 1, 1, 0], "p_x": [0.2, 0.8, 0.6, 0.4]})
    sink = pa.BufferOutputStream()
    feather.write_feather(table, sink, compression="lz4")
    good = sink.getvalue().to_pybytes()
    huge = (1 << 60).to_bytes(8, "little")
    for i in range(len(good) - 8):
        bad = good[:i] + huge + good[i + 8 :]
        try:
            reader = ipc.open_file(pa.BufferReader(bad))
            for k in range(reader.num_record_batches):
                reader.get_batch(k)
        except pa.ArrowMemoryError:
            (root / "huge.arrow").write_bytes(bad)
            return "huge.arrow"
        except (pa.ArrowException, OSError, ValueError):
            continue
    pytest.skip("no patched size makes this pyarrow fail an allocation")


def directory_with_csv(root: Path) -> str:
    (root / "preds_dir").mkdir()
    (root / "preds_dir" / "a.csv").write_text("label,p_a,p_b\n0,0.5,0.5\n")
    return "preds_dir"


def empty_directory(root: Path) -> str:
    (root / "empty_dir").mkdir()
    return "empty_dir"


def missing(name: str) -> Maker:
    return lambda root: name


def no_argument(root: Path) -> None:
    return None


def damaged_gzip(root: Path) -> str:
    data = bytearray(gzip.compress((GOOD_BINARY * 50).encode(), mtime=0))
    for i in range(20, 60):
        data[i] ^= 0xFF  # the deflate stream itself, past the header
    (root / "damaged.csv.gz").write_bytes(bytes(data))
    return "damaged.csv.gz"


def gz_csv(content: str) -> Maker:
    return text_file("bad.csv.gz", gzip.compress(content.encode(), mtime=0))


def feather_file(columns: dict[str, object]) -> Maker:
    def make(root: Path) -> str:
        feather.write_feather(pa.table(columns), root / "bad.arrow")
        return "bad.arrow"

    return make


def dated_prediction(root: Path) -> str:
    import datetime as dt

    dates = [dt.date(2024, 1, d) for d in range(1, 4)]
    pq.write_table(
        pa.table({"label": [0, 1, 0], "p_a": [0.5, 0.4, 0.3], "p_b": dates}), root / "dates.parquet"
    )
    return "dates.parquet"


def duplicate_names_parquet(root: Path) -> str:
    table = pa.Table.from_arrays(
        [pa.array([0, 1]), pa.array([0.2, 0.8]), pa.array([0.3, 0.7])],
        names=["label", "p_a", "p_a"],
    )
    pq.write_table(table, root / "dup.parquet")
    return "dup.parquet"


def parts(*tables: pa.Table) -> Maker:
    def make(root: Path) -> str:
        (root / "parts").mkdir()
        for i, table in enumerate(tables):
            pq.write_table(table, root / "parts" / f"part-{i}.parquet")
        return "parts"

    return make


def baseline_with_version(version: int) -> Maker:
    def make(root: Path) -> str:
        (root / "good.csv").write_text(GOOD_BINARY)
        (root / "base.json").write_text(
            json.dumps({"schema_version": version, "metrics": {"ece": 0.1}})
        )
        return "good.csv"

    return make


def float_beside_prob(column: str) -> Maker:
    rows = [f"{i % 2},{0.25 + 0.5 * (i % 2)},{(i * 37 % 100) / 100}" for i in range(20)]
    return text_file("w.csv", f"label,prob,{column}\n" + "\n".join(rows) + "\n")


GOOD3 = csv3()
GOOD_BINARY = "label,p_x\n0,0.2\n1,0.8\n1,0.6\n0,0.3\n"
TWO = {"label": [0, 1, 1], "p_a": [0.4, 0.3, 0.5], "p_b": [0.6, 0.7, 0.5]}

CASES: list[Case] = [
    # -- unreadable or empty files ---------------------------------------------------------------
    Case("empty csv (0 bytes)", text_file("empty.csv", b""), [], ["empty.csv", "empty"]),
    Case("empty parquet (0 bytes)", text_file("empty.parquet", b""), [], ["empty.parquet"]),
    Case(
        "header only csv",
        text_file("header.csv", "label,p_a,p_b,p_c\n"),
        [],
        ["header.csv", "no data rows"],
    ),
    Case("truncated parquet", truncated_parquet, [], ["truncated.parquet", "parquet"]),
    Case(
        "csv text named .parquet",
        text_file("text.parquet", "label,p_a,p_b\n0,0.5,0.5\n"),
        [],
        ["text.parquet", "parquet"],
    ),
    Case("binary garbage .csv", random_bytes("garbage.csv"), [], ["garbage.csv"]),
    Case(
        "truncated gzip csv",
        text_file("cut.csv.gz", gzip.compress(GOOD_BINARY.encode() * 20, mtime=0)[:40]),
        [],
        ["cut.csv.gz"],
    ),
    Case("plain text named .csv.gz", text_file("plain.csv.gz", GOOD_BINARY), [], ["plain.csv.gz"]),
    Case("damaged gzip csv", damaged_gzip, [], ["damaged.csv.gz"]),
    Case("binary garbage .parquet", random_bytes("garbage.parquet"), [], ["garbage.parquet"]),
    Case(
        "garbage with parquet magic",
        text_file("magic.parquet", b"PAR1" + bytes(200) + b"PAR1"),
        [],
        ["magic.parquet"],
    ),
    Case(
        "parquet magic at the start only",
        text_file("start.parquet", b"PAR1" + bytes(300)),
        [],
        ["start.parquet", "parquet"],
    ),
    Case("binary garbage .arrow", random_bytes("garbage.arrow", seed=5), [], ["garbage.arrow"]),
    Case(
        "arrow magic then zeros",
        text_file("zeros.arrow", b"ARROW1" + bytes(100)),
        [],
        ["zeros.arrow", "arrow"],
    ),
    Case("not json at all", text_file("garbage.jsonl", "{not json\n"), [], ["garbage.jsonl"]),
    Case(
        "broken json lines",
        text_file("bad.jsonl", '{"label": 0, "p_x": 0.5}\n{"label": 1, "p_x": \n'),
        [],
        ["bad.jsonl"],
    ),
    Case(
        "broken json line at row 5",
        jsonl_with(5, '{"label": 1, "p_x": '),
        [],
        ["bad5.jsonl", "row 5"],
    ),
    Case(
        "'abc' in row 5 of a json lines number column",
        jsonl_with(5, '{"label": 1, "p_x": "abc"}'),
        [],
        ["bad5.jsonl", "row 5", "abc", "p_x"],
    ),
    Case("parquet column name not UTF-8", non_utf8_name(".parquet"), [], ["names.parquet"]),
    Case("arrow column name not UTF-8", non_utf8_name(".arrow"), [], ["names.arrow"]),
    Case(
        "json lines key not UTF-8",
        text_file("key.jsonl", b'{"label": 0, "p_\xff": 0.5}\n'),
        [],
        ["key.jsonl"],
    ),
    Case("arrow buffer declaring 2**60 bytes", huge_buffer_arrow, [], ["huge.arrow"]),
    Case("gzip that is not gzip", text_file("x.csv.gz", b"\x1f\x8bnot gzip"), [], ["x.csv.gz"]),
    # -- malformed layout ------------------------------------------------------------------------
    Case(
        "ragged csv row (extra field)",
        csv3({(5, "p_c"): "0.5,0.9"}, name="ragged.csv"),
        [],
        ["ragged.csv", "row 5", "fields"],
    ),
    Case("ragged list column", ragged_list, [], ["probs", "row 4"]),
    Case(
        "a decimal label that is no whole number",
        parquet_file(
            {
                "label": pa.array(
                    [decimal.Decimal(0), decimal.Decimal("1.5")], pa.decimal128(5, 1)
                ),
                "p_0": [0.2, 0.2],
                "p_1": [0.3, 0.3],
                "p_2": [0.5, 0.5],
            },
            "decimal_half.parquet",
        ),
        [],
        ["decimal_half.parquet", "row 2", "1.5", "whole number"],
    ),
    Case(
        "a decimal label outside the classes",
        parquet_file(
            {
                "label": pa.array([decimal.Decimal(0), decimal.Decimal(7)], pa.decimal128(5, 0)),
                "p_0": [0.2, 0.2],
                "p_1": [0.8, 0.8],
            },
            "decimal.parquet",
        ),
        [],
        ["decimal.parquet", "row 2", "7", "outside the classes"],
    ),
    Case(
        "inf in a list column's third value",
        parquet_file(
            {"label": [0, 1, 2], "logits": [[0.5, 1.0, 2.0], [1.0, 2.0, float("inf")], [0.0] * 3]},
            "lists_inf.parquet",
        ),
        [],
        ["lists_inf.parquet", "logits", "row 2", ("inf", "not finite")],
    ),
    Case(
        "duplicate header names",
        text_file("dup.csv", "label,p_a,p_a\n0,0.5,0.5\n"),
        [],
        ["dup.csv", "p_a", "twice"],
    ),
    Case(
        "no label column at all",
        text_file("nolabel.csv", "p_a,p_b\n0.5,0.5\n"),
        [],
        ["nolabel.csv", "label"],
    ),
    Case(
        "prediction column of dates",
        dated_prediction,
        [],
        ["dates.parquet", "p_b", ("date", "number", "numeric")],
    ),
    # -- bad values in prediction columns --------------------------------------------------------
    Case(
        "NaN in a probability column",
        csv3({(4, "p_b"): "NaN"}),
        [],
        ["bad.csv", "row 4", "p_b", ("nan", "not finite")],
    ),
    Case(
        "+inf in a logit column",
        logits_csv_with(5, "logit_2", "inf"),
        [],
        ["logits.csv", "row 5", "logit_2", ("inf", "not finite")],
    ),
    Case(
        "logits of one row spanning more than a float64",
        text_file(
            "spread.csv",
            "label,logit_a,logit_b\n0,0.5,0.25\n1,1e308,-1e308\n0,0.1,0.2\n",
        ),
        [],
        ["spread.csv", "row 2", "logit_a", "1e+308", "float64"],
    ),
    Case(
        "empty cell in a probability column",
        csv3({(6, "p_c"): ""}),
        [],
        ["bad.csv", "row 6", "p_c", ("missing", "empty")],
    ),
    Case(
        "'abc' in row 7 of a probability column (csv)",
        csv3({(7, "p_b"): "abc"}),
        [],
        ["bad.csv", "row 7", "abc", "p_b"],
    ),
    Case(
        "'abc' in row 7 of a string probability column (parquet)",
        parquet_file(
            {
                "label": [i % 2 for i in range(9)],
                "p_a": ["0.5"] * 6 + ["abc"] + ["0.5"] * 2,
                "p_b": [0.5] * 9,
            }
        ),
        [],
        ["bad.parquet", "row 7", "abc", "p_a"],
    ),
    Case(
        "bad number in row 2 of a gzip'd csv",
        gz_csv("label,p_a,p_b\n0,0.5,0.5\n1,oops,0.5\n"),
        [],
        ["bad.csv.gz", "row 2", "oops", "p_a"],
    ),
    Case(
        "probability above 1 with --probs",
        csv3({(3, "p_a"): "1.5"}),
        ["--probs"],
        ["bad.csv", "outside [0, 1]", "row 3", "p_a", "1.5"],
    ),
    Case(
        "negative probability with --probs",
        csv3({(2, "p_a"): "-0.2"}),
        ["--probs"],
        ["row 2", "p_a", "-0.2"],
    ),
    Case(
        "row summing to 0.8 with --probs",
        csv3({(8, "p_c"): "0.3"}),
        ["--probs"],
        ["bad.csv", "row 8", "sum", "0.8"],
    ),
    Case(
        "ambiguous predictions (in [0, 1], rows sum to 0.8)",
        csv3(row_values=("0.2", "0.3", "0.3")),
        [],
        ["bad.csv", "--logits or --probs"],
    ),
    Case(
        "3.0 in row 69000 after probabilities were chosen (parquet)",
        late_contradiction(".parquet"),
        [],
        ["late.parquet", "row 69000", "p_0", "3"],
    ),
    Case(
        "3.0 in row 69000 after probabilities were chosen (csv)",
        late_contradiction(".csv"),
        [],
        ["late.csv", "row 69000", "p_0", "3"],
    ),
    Case(
        "missing value inside a list",
        parquet_file({"label": [0, 1], "probs": [[0.5, 0.5], [0.5, None]]}),
        [],
        ["probs", "row 2"],
    ),
    Case(
        "a prediction list column of strings",
        parquet_file({"label": [0, 1, 0], "probs": [["0.5", "0.5"], ["1", "0"], ["0.5", "x"]]}),
        [],
        ["probs", "list of string", "not of numbers"],
    ),
    Case(
        "a target list column of strings",
        parquet_file({"p_a": [0.5, 0.2], "p_b": [0.5, 0.8], "t": [["0", "1"], ["1", ""]]}),
        ["--target-cols", "t"],
        ["'t'", "list of string", "not of numbers"],
    ),
    # -- bad labels ------------------------------------------------------------------------------
    Case(
        "label 5 with 3 classes",
        csv3({(2, "label"): "5"}),
        [],
        ["bad.csv", "row 2", "label", "5"],
    ),
    Case(
        "unknown class name 'zebra'",
        parquet_file(
            {
                "label": ["cat", "dog", "zebra"],
                "p_cat": [0.4, 0.3, 0.2],
                "p_dog": [0.5, 0.5, 0.5],
                "p_bird": [0.1, 0.2, 0.3],
            }
        ),
        [],
        ["bad.parquet", "zebra", "row 3"],
    ),
    Case(
        "binary label 2",
        parquet_file({"label": [0, 1, 2, 0], "p_x": [0.4, 0.3, 0.6, 0.1]}),
        [],
        ["bad.parquet", "row 3", "label", "2"],
    ),
    Case(
        "non-integer label 1.5",
        csv3({(3, "label"): "1.5"}),
        [],
        ["bad.csv", "row 3", "1.5", "whole number"],
    ),
    Case(
        "missing label (empty cell)",
        csv3({(4, "label"): ""}),
        [],
        ["bad.csv", "row 4", "label", ("missing", "empty")],
    ),
    Case(
        "json lines label that is not UTF-8",
        text_file("lab.jsonl", b'{"label": "c\x80t", "p_a": 0.5, "p_b": 0.5}\n'),
        [],
        ["lab.jsonl", "label", "row 1"],
    ),
    Case(
        "list-typed label column with --ignore-label",
        parquet_file({"label": [[0.0], [1.0]], "p_a": [0.5, 0.5], "p_b": [0.5, 0.5]}),
        ["--ignore-label", "0"],
        ["bad.parquet", "label"],
    ),
    Case(
        "NaN label in a float column",
        parquet_file({"label": [0.0, float("nan"), 1.0], "p_a": [0.5] * 3, "p_b": [0.5] * 3}),
        [],
        ["row 2", "label"],
    ),
    Case(
        "string label with unnamed classes",
        parquet_file({"label": ["cat", "dog"], "p_0": [0.5, 0.5], "p_1": [0.5, 0.5]}),
        [],
        ["row 1", "cat"],
    ),
    # -- bad weights -----------------------------------------------------------------------------
    Case(
        "negative sample weight",
        parquet_file({**TWO, "sample_wt": [1.0, 1.0, -1.0]}),
        ["--weight-col", "sample_wt"],
        ["sample_wt", "row 3", "negative", "-1"],
    ),
    Case(
        "NaN sample weight",
        parquet_file({**TWO, "sample_wt": [1.0, float("nan"), 1.0]}),
        ["--weight-col", "sample_wt"],
        ["sample_wt", "row 2", ("nan", "not finite")],
    ),
    Case(
        "all sample weights zero",
        parquet_file({**TWO, "sample_wt": [0.0, 0.0, 0.0]}),
        ["--weight-col", "sample_wt"],
        ["sum to 0"],
    ),
    # -- soft and multi-hot targets --------------------------------------------------------------
    Case(
        "soft target rows not summing to 1 (and not 0/1)",
        parquet_file(
            {
                "p_a": [0.5, 0.5, 0.5],
                "p_b": [0.5, 0.5, 0.5],
                "t_a": [0.5, 0.5, 0.3],
                "t_b": [0.5, 0.5, 0.3],
            }
        ),
        ["--target-cols", "t_*"],
        ["bad.parquet", "row 3", "sum to 1", "0.6"],
    ),
    Case(
        "target value outside [0, 1]",
        parquet_file({"p_a": [0.5, 0.5], "p_b": [0.5, 0.5], "t_a": [1.0, 1.5], "t_b": [0.0, -0.5]}),
        ["--target-cols", "t_*"],
        ["bad.parquet", "outside [0, 1]", "t_a", "row 2", "1.5"],
    ),
    # -- column options naming nothing -----------------------------------------------------------
    Case("--label-col naming a missing column", GOOD3, ["--label-col", "truth"], ["truth"]),
    Case("--prob-cols glob matching nothing", GOOD3, ["--prob-cols", "q_*"], ["q_*"]),
    Case("--prob-cols naming a missing column", GOOD3, ["--prob-cols", "p_a,p_zz"], ["p_zz"]),
    Case("--weight-col missing", GOOD3, ["--weight-col", "sample_wt"], ["sample_wt"]),
    Case("--target-cols glob matching nothing", GOOD3, ["--target-cols", "t_*"], ["t_*"]),
    # -- option values ---------------------------------------------------------------------------
    Case("--gamma -1", GOOD3, ["--loss", "focal", "--gamma", "-1"], ["--gamma", "-1"]),
    Case(
        "--alpha 1.5",
        text_file("bin.csv", GOOD_BINARY),
        ["--loss", "focal", "--alpha", "1.5"],
        ["--alpha", "1.5"],
    ),
    Case("--smoothing 1.0", GOOD3, ["--smoothing", "1.0"], ["--smoothing", "1"]),
    Case("--bins 0", GOOD3, ["--bins", "0"], ["--bins", "0"]),
    Case("--bins not a number", GOOD3, ["--bins", "abc"], ["--bins", "abc"]),
    Case("--base 3", GOOD3, ["--base", "3"], ["--base", "3"]),
    Case(
        "--class-weights with 2 weights for 3 classes",
        GOOD3,
        ["--class-weights", "1,2"],
        ["--class-weights", "2", "3 classes"],
    ),
    Case("--class-weights 'a,b'", GOOD3, ["--class-weights", "a,b"], ["--class-weights", "a"]),
    Case(
        "--class-weights negative",
        GOOD3,
        ["--class-weights", "1,-1,1"],
        ["--class-weights", "-1"],
    ),
    Case(
        "--task multilabel without --target-cols",
        GOOD3,
        ["--task", "multilabel"],
        ["--target-cols"],
    ),
    Case(
        "--task binary with 3 prediction columns",
        GOOD3,
        ["--task", "binary"],
        ["--task binary", "3"],
    ),
    Case("--task bogus", GOOD3, ["--task", "bogus"], ["--task", "bogus"]),
    Case("--loss bogus", GOOD3, ["--loss", "hinge"], ["--loss", "hinge"]),
    Case(
        "--alpha with a multiclass task",
        GOOD3,
        ["--loss", "focal", "--alpha", "0.25"],
        ["--alpha", "multi-class"],
    ),
    Case("unknown --format", GOOD3, ["--format", "xml"], ["--format", "xml"]),
    Case("--max without a value", GOOD3, ["--max", "ece"], ["--max", "METRIC=VALUE"]),
    Case("--max on an unknown metric", GOOD3, ["--max", "zzz=1"], ["zzz"]),
    Case("--ci 1.5", GOOD3, ["--ci", "1.5"], ["--ci", "1.5"]),
    Case(
        "--labels file joined on a missing --id-col",
        GOOD3,
        ["--labels", "bad.csv", "--id-col", "nope"],
        ["nope"],
    ),
    Case("unknown --input-format", GOOD3, ["--input-format", "xls"], ["--input-format", "xls"]),
    Case("unknown option", GOOD3, ["--frobnicate"], ["--frobnicate"]),
    Case("no PREDICTIONS argument", no_argument, [], [("predictions", "missing argument")]),
    Case(
        "--per-sample with an unknown extension",
        GOOD3,
        ["--per-sample", "samples.xlsx"],
        ["--per-sample", "samples.xlsx"],
    ),
    Case(
        "-o naming an existing directory",
        with_directory("outdir", GOOD3),
        ["-o", "outdir"],
        ["outdir"],
    ),
    Case(
        "--per-sample naming an existing directory",
        with_directory("samples_dir.parquet", GOOD3),
        ["--per-sample", "samples_dir.parquet"],
        ["samples_dir.parquet"],
    ),
    Case("-o into a missing directory", GOOD3, ["-o", "nodir/report.json"], ["nodir"]),
    Case(
        "--per-sample into a missing directory",
        GOOD3,
        ["--per-sample", "nodir/samples.parquet"],
        ["nodir"],
    ),
    # -- paths -----------------------------------------------------------------------------------
    Case(
        "file that does not exist",
        missing("nope.csv"),
        [],
        ["nope.csv", "no such file"],
    ),
    Case("a directory as input", directory_with_csv, [], ["preds_dir", "no Parquet files"]),
    Case("an empty directory as input", empty_directory, [], ["empty_dir", "no Parquet files"]),
    Case("missing --baseline file", GOOD3, ["--baseline", "missing.json"], ["missing.json"]),
    Case("file name with a newline", text_file("new\nline.csv", b""), [], ["line.csv"]),
    Case(
        "unknown extension .xyz",
        text_file("x.xyz", "label,p_a,p_b\n0,0.5,0.5\n"),
        [],
        ["x.xyz", "--input-format"],
    ),
    # -- standard input --------------------------------------------------------------------------
    Case("empty standard input", missing("-"), [], ["stdin", "empty"], stdin=b""),
    Case(
        "'abc' on standard input",
        missing("-"),
        [],
        ["stdin", "row 2", "abc", "p_a"],
        stdin=b"label,p_a,p_b\n0,0.5,0.5\n1,abc,0.5\n",
    ),
    Case(
        "truncated parquet on standard input",
        missing("-"),
        [],
        ["stdin", "parquet"],
        stdin=b"PAR1" + bytes(64),
    ),
    # -- issue 13: guesses refused, layouts and limits ---------------------------------------
    Case(
        "a float column named w beside the probability",
        float_beside_prob("w"),
        [],
        ["w.csv", "'w'", "--prob-cols", "prob"],
    ),
    Case(
        "a float column named user_id beside the probability",
        float_beside_prob("user_id"),
        [],
        ["'user_id'", "--prob-cols"],
    ),
    Case(
        "an integer p_ column",
        text_file("int.csv", "label,p_a,p_b\n0,1,0.0\n1,0,1.0\n"),
        [],
        ["p_a", "integers", "--prob-cols"],
    ),
    Case(
        "only integer columns beside the label",
        text_file("int.csv", "label,score\n0,1\n1,0\n"),
        [],
        ["score", "--prob-cols"],
    ),
    Case(
        "duplicate column names in parquet",
        duplicate_names_parquet,
        [],
        ["dup.parquet", "p_a", "same name"],
    ),
    Case(
        "parquet parts whose types differ",
        parts(
            pa.table({"label": [0, 1], "p_x": [0.2, 0.8]}),
            pa.table({"label": [0, 1], "p_x": pa.array([0.2, 0.8], pa.float32())}),
        ),
        [],
        ["part-1.parquet", "p_x", "float", "double"],
    ),
    Case(
        "a parquet part with an extra column",
        parts(
            pa.table({"label": [0, 1], "p_x": [0.2, 0.8]}),
            pa.table({"label": [0, 1], "p_x": [0.2, 0.8], "extra": [1.0, 2.0]}),
        ),
        [],
        ["part-1.parquet", "extra", "lacks"],
    ),
    Case(
        "a parquet part without a column",
        parts(
            pa.table({"label": [0, 1], "p_x": [0.2, 0.8], "extra": [1.0, 2.0]}),
            pa.table({"label": [0, 1], "p_x": [0.2, 0.8]}),
        ),
        [],
        ["part-1.parquet", "extra", "lacks"],
    ),
    Case(
        "UTF-16 CSV",
        text_file("u16.csv", "label,p_x\n0,0.2\n1,0.8\n".encode("utf-16")),
        [],
        ["u16.csv", "UTF-16", "UTF-8"],
    ),
    Case(
        "UTF-16 CSV without a byte-order mark",
        text_file("u16.csv", "label,p_x\n0,0.2\n1,0.8\n".encode("utf-16-le")),
        [],
        ["u16.csv", "UTF-16"],
    ),
    Case(
        "a list column of empty lists",
        parquet_file({"label": [0, 1], "p": pa.array([[], []], pa.list_(pa.float64()))}),
        [],
        ["'p'", "empty lists"],
    ),
    Case(
        "--ignore-label leaves no rows",
        text_file("ones.csv", "label,p_x\n1,0.2\n1,0.3\n"),
        ["--ignore-label", "1"],
        ["ones.csv", "no rows are left", "--ignore-label 1"],
    ),
    Case(
        "--on-nan drop leaves no rows",
        text_file("nans.csv", "label,p_x\n1,\n0,nan\n"),
        ["--on-nan", "drop"],
        ["nans.csv", "no rows are left", "--on-nan drop"],
    ),
    Case("--bins 1000000000", GOOD3, ["--bins", "1000000000"], ["--bins", "10,000"]),
    Case("--bins 1e9", GOOD3, ["--bins", "1e9"], ["--bins", "1e9"]),
    Case(
        "--bootstrap 1000000000",
        GOOD3,
        ["--ci", "0.9", "--bootstrap", "1000000000"],
        ["--bootstrap", "10,000"],
    ),
    Case(
        "--bins x --bootstrap too large together",
        GOOD3,
        ["--ci", "0.9", "--bootstrap", "10000", "--bins", "10000"],
        ["--bins", "--bootstrap"],
    ),
    Case("--top 2000000", GOOD3, ["--top", "2000000"], ["--top", "1,000,000"]),
    Case("--gamma without --loss focal", GOOD3, ["--gamma", "1"], ["--gamma", "--loss focal"]),
    Case(
        "--renormalize with --logits",
        GOOD3,
        ["--renormalize", "--logits"],
        ["--renormalize", "--logits"],
    ),
    Case(
        "--label-col Label suggests label",
        GOOD3,
        ["--label-col", "Label"],
        ["'Label'", "did you mean 'label'"],
    ),
    Case(
        "--max ECE suggests ece",
        GOOD3,
        ["--max", "ECE=0.5"],
        ["'ECE'", "did you mean 'ece'"],
    ),
    Case(
        "--prob-cols with a typo suggests the column",
        GOOD3,
        ["--prob-cols", "p_aa,p_b,p_c"],
        ["p_aa", "did you mean 'p_a'"],
    ),
    Case(
        "a baseline of a newer schema_version",
        baseline_with_version(99),
        ["--baseline", "base.json"],
        ["base.json", "schema_version 99"],
    ),
    Case(
        "--classes naming fewer classes than positional columns",
        parquet_file(
            {"label": ["a", "b"], "p_0": [0.5, 0.2], "p_1": [0.3, 0.3], "p_2": [0.2, 0.5]}
        ),
        ["--classes", "a,b"],
        ["--classes names 2 classes", "3"],
    ),
    Case("--seed -5 with --ci", GOOD3, ["--ci", "0.9", "--seed", "-5"], ["--seed", "2^64"]),
    Case(
        "--seed past 2^64",
        GOOD3,
        ["--ci", "0.9", "--seed", "100000000000000000000000"],
        ["--seed"],
    ),
    Case("-o with an empty path", GOOD3, ["-o", ""], ["-o", "empty path"]),
    Case("-o naming a directory by its slash", GOOD3, ["-o", "newdir/"], ["newdir/", "directory"]),
    Case("/dev/zero as input", missing("/dev/zero"), [], ["/dev/zero", "device"]),
    Case(
        "a CSV without a header row",
        text_file("nohdr.csv", "0,0.2,0.8\n1,0.6,0.4\n"),
        [],
        ["nohdr.csv", "header row"],
    ),
    Case(
        "a failing run drops its warnings (one line)",
        GOOD3,
        ["--logits", "--max", "nope=1"],
        ["'nope'"],
    ),
    Case(
        "a semicolon-separated CSV",
        text_file("semi.csv", "label;p_a;p_b\n0;0,2;0,8\n1;0,6;0,4\n"),
        [],
        ["semi.csv", "';'"],
    ),
    Case(
        "Latin-1 text labels",
        text_file("latin.csv", b"label,p_a,p_b\ncaf\xe9,0.2,0.8\nb,0.6,0.4\n"),
        [],
        ["latin.csv", "label", "not UTF-8"],
    ),
    Case(
        "UTF-16 JSON Lines",
        text_file(
            "u16.jsonl", '{"label": 0, "p_x": 0.2}\n{"label": 1, "p_x": 0.7}\n'.encode("utf-16")
        ),
        [],
        ["u16.jsonl", "UTF-16"],
    ),
    Case(
        "-o names the input",
        text_file("in.csv", GOOD_BINARY),
        ["-o", "in.csv"],
        ["in.csv", "-o names an input"],
    ),
    Case(
        "--per-sample names the input",
        text_file("in.csv", GOOD_BINARY),
        ["--per-sample", "in.csv"],
        ["in.csv", "--per-sample names an input"],
    ),
    Case(
        "feather with a text probability column",
        feather_file({"label": [0, 1], "p_a": ["0.5", "zz"], "p_b": [0.5, 0.5]}),
        [],
        ["bad.arrow", "row 2", "zz", "p_a"],
    ),
]


def _matches(fragment: Fragment, message: str) -> bool:
    options = (fragment,) if isinstance(fragment, str) else fragment
    return any(option.lower() in message.lower() for option in options)


def _run(
    args: list[str],
    stdin: bytes | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_error_line(err: str, fragments: list[Fragment]) -> str:
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not exactly one line: {err!r}"
    line = err.rstrip("\n")
    assert line.startswith("ce-eval: error: "), line
    assert len(line) < 600, f"not a short message ({len(line)} characters)"
    missing_parts = [f for f in fragments if not _matches(f, line)]
    assert not missing_parts, f"message lacks {missing_parts}: {line}"
    return line


def test_corpus_has_at_least_30_distinct_cases() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    target = case.make(tmp_path)
    base_args = ([target] if target is not None else []) + case.args
    report = tmp_path / "out.json"
    report.write_text(OLD_REPORT)
    extra = [] if "-o" in case.args else ["-o", "out.json"]
    samples = tmp_path / "samples.csv"
    if "--per-sample" not in case.args:
        samples.write_text(OLD_SAMPLES)
        extra += ["--per-sample", "samples.csv"]
    before = set(os.listdir(tmp_path))

    code, out, err = _run([*base_args, *extra], case.stdin, monkeypatch, capsys)

    assert code == 2, f"exit {code}, stderr: {err!r}"
    assert out == "", f"stdout not empty: {out!r}"
    _assert_one_error_line(err, case.fragments)
    assert report.read_text() == OLD_REPORT, "the existing -o file was changed"
    if samples.exists():
        assert samples.read_text() == OLD_SAMPLES, "the existing --per-sample file was changed"
    assert set(os.listdir(tmp_path)) == before, "files were left behind"

    # The same input with the report on stdout: still nothing on stdout, still one line.
    code, out, err = _run(base_args, case.stdin, monkeypatch, capsys)
    assert code == 2, f"exit {code} without -o, stderr: {err!r}"
    assert out == "", f"stdout not empty without -o: {out!r}"
    _assert_one_error_line(err, case.fragments)


SUBPROCESS_CASES = [
    "'abc' in row 7 of a probability column (csv)",
    "truncated parquet",
    "--gamma -1",
    "file that does not exist",
    "binary garbage .csv",
    "unknown option",
]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_in_a_real_process(case_id: str, tmp_path: Path) -> None:
    """The installed console script behaves the same: exit 2, one line, nothing on stdout."""
    case = next(c for c in CASES if c.id == case_id)
    target = case.make(tmp_path)
    (tmp_path / "out.json").write_text(OLD_REPORT)
    args = [*([target] if target else []), *case.args, "-o", "out.json"]
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [str(CE_EVAL), *args], cwd=tmp_path, capture_output=True, timeout=60, env=env
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert proc.stdout == b""
    _assert_one_error_line(err, case.fragments)
    assert (tmp_path / "out.json").read_text() == OLD_REPORT
