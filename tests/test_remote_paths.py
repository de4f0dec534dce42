"""Remote paths through fsspec: its in-memory and local filesystems (no network).

A URL gives the report of the same bytes read from a local path (the source's name aside), for
a Parquet file, a directory of Parquet files, a glob, and a CSV file; a scheme whose package is
not installed is one line naming the package.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

fsspec = pytest.importorskip("fsspec")

import ce_cli  # noqa: E402
from ce_cli.cli.main import main  # noqa: E402
from ce_cli.errors import CeEvalError  # noqa: E402

OPTIONS: dict[str, Any] = {"label_col": "label", "weight_col": "w", "ci": 0.9, "bootstrap": 20}


def _table(seed: int, n: int = 300) -> pa.Table:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(3), n)
    return pa.table(
        {
            "label": rng.integers(0, 3, n),
            **{f"p_{j}": p[:, j] for j in range(3)},
            "w": rng.uniform(0.5, 2.0, n),
        }
    )


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """A dataset of two Parquet files (in a sub-folder, found recursively) and a CSV file."""
    (tmp_path / "parts" / "b").mkdir(parents=True)
    pq.write_table(_table(1), tmp_path / "parts" / "a.parquet", row_group_size=100)
    pq.write_table(_table(2), tmp_path / "parts" / "b" / "c.parquet", row_group_size=100)
    pa_csv.write_csv(_table(3), tmp_path / "one.csv")
    return tmp_path


@pytest.fixture
def memory(local: Path) -> Iterator[str]:
    """The same files in fsspec's in-memory filesystem, under a fresh root."""
    fs = fsspec.filesystem("memory")
    root = f"/ce-eval-{uuid.uuid4().hex}"
    for path in local.rglob("*"):
        if path.is_file():
            fs.pipe(root + "/" + path.relative_to(local).as_posix(), path.read_bytes())
    yield "memory://" + root
    fs.rm(root, recursive=True)


def _numbers(source: str, **options: Any) -> dict[str, Any]:
    out: dict[str, Any] = ce_cli.evaluate(source, **(OPTIONS | options)).to_dict()
    out.pop("source")
    return out


@pytest.mark.parametrize(
    ("local_name", "remote_name"),
    [
        ("parts/a.parquet", "parts/a.parquet"),
        ("parts", "parts"),
        ("parts/**/*.parquet", "parts/**/*.parquet"),
        ("one.csv", "one.csv"),
    ],
)
def test_a_memory_url_reads_as_the_local_path(
    local: Path, memory: str, local_name: str, remote_name: str
) -> None:
    assert _numbers(f"{memory}/{remote_name}") == _numbers(str(local / local_name))


def test_a_file_url_reads_as_the_local_path(local: Path) -> None:
    assert _numbers((local / "parts").as_uri()) == _numbers(str(local / "parts"))


def test_the_source_is_named_by_its_url(memory: str) -> None:
    url = f"{memory}/parts/a.parquet"
    assert ce_cli.evaluate(url, **OPTIONS).source == url


def test_errors_name_the_url_and_row(memory: str) -> None:
    fs = fsspec.filesystem("memory")
    root = memory.removeprefix("memory://")
    fs.pipe(root + "/bad.csv", b"label,p_0,p_1\n0,0.5,0.5\n1,0.2,0.9\n")
    with pytest.raises(CeEvalError) as caught:
        ce_cli.evaluate(f"{memory}/bad.csv", label_col="label")
    text = str(caught.value)
    assert text.startswith(f"{memory}/bad.csv") and "row 2" in text


def test_a_missing_remote_file_is_one_line(memory: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"{memory}/nothing.parquet", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err


def test_a_scheme_without_its_package_names_the_package(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if s3fs were not installed
    assert main(["s3://bucket/predictions.parquet", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "needs the s3fs package" in err and "pip install s3fs" in err


def test_without_fsspec_a_url_says_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "fsspec", None)
    assert main(["gs://bucket/predictions.parquet", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install fsspec gcsfs" in err


def test_the_dask_engine_reads_a_file_url(local: Path) -> None:
    pytest.importorskip("distributed")
    url = (local / "parts").as_uri()
    remote = ce_cli.evaluate(url, engine="dask", workers=1, partition_rows=100, **OPTIONS)
    expected = _numbers(str(local / "parts"))
    got = remote.to_dict()
    got.pop("source")
    assert got.keys() == expected.keys()
    assert got["metrics"] == pytest.approx(expected["metrics"], rel=1e-12)
