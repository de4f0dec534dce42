"""Input errors say what is true of the input, one kind per test: standard input that cannot be
read (or cannot be read yet), the first unknown class name in row order, and a ``--config``
that is not a regular file."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.cli.main import main

CSV = b"label,p_cat,p_dog\ncat,0.4,0.6\ndog,0.3,0.7\n"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ce-eval: error: "), err
    return lines[0]


def _ce_eval_with_stdin_replaced(tmp_path: Path, setup: str) -> subprocess.CompletedProcess[str]:
    """``ce-eval -`` in a process whose descriptor 0 ``setup`` replaced after start-up (Python
    itself refuses to start on some of them, so the command's own check is tested this way)."""
    code = (
        "import os, sys\n"
        f"{setup}\n"
        "sys.argv = ['ce-eval', '-']\n"
        "from ce_cli.cli.launcher import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_stdin_that_is_a_directory_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    proc = _ce_eval_with_stdin_replaced(
        tmp_path, "os.dup2(os.open('inside', os.O_RDONLY | os.O_DIRECTORY), 0)"
    )
    assert proc.returncode == 2, proc.stderr
    line = _one_error_line(proc.stderr)
    assert "standard input is a directory" in line
    assert "empty" not in line


def test_stdin_open_for_writing_only_is_named_as_such(tmp_path: Path) -> None:
    proc = _ce_eval_with_stdin_replaced(
        tmp_path, "os.dup2(os.open('out.txt', os.O_WRONLY | os.O_CREAT), 0)"
    )
    assert proc.returncode == 2, proc.stderr
    line = _one_error_line(proc.stderr)
    assert "standard input is open for writing only" in line
    assert "empty" not in line


def test_non_blocking_stdin_is_waited_for_not_reported_empty() -> None:
    """A caller that left O_NONBLOCK on the pipe: the rows come later, and are evaluated (the
    first read found nothing yet, which was reported as empty input)."""
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(read_end, fcntl.F_GETFL)
    fcntl.fcntl(read_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ce_cli", "-", "--format", "json", "-q"],
            stdin=read_end,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(read_end)

    def feed() -> None:
        time.sleep(0.5)  # ce-eval is reading by now, and finds nothing
        os.write(write_end, CSV[:20])
        time.sleep(0.2)
        os.write(write_end, CSV[20:])
        os.close(write_end)

    feeder = threading.Thread(target=feed)
    feeder.start()
    out, err = proc.communicate(timeout=60)
    feeder.join()
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["n_samples"] == 2
    assert report["metrics"]["accuracy"] == 0.5  # cat: 0.4 < 0.6 wrong; dog: 0.7 right


def test_empty_stdin_is_still_reported_empty(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ce_cli", "-"],
        input=b"",
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "standard input is empty" in _one_error_line(proc.stderr.decode())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_first_unknown_class_name_in_row_order_is_named(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'zebra' (row 3) comes before 'ant' (row 5) in the file, though not in sorted order."""
    labels = ["cat", "dog", "zebra", "cat", "ant", "zebra"]
    table = pa.table(
        {"label": labels, "p_cat": [0.4] * 6, "p_dog": [0.6] * 6},
    )
    path = tmp_path / f"preds.{fmt}"
    if fmt == "csv":
        rows = [f"{y},0.4,0.6" for y in labels]
        path.write_text("label,p_cat,p_dog\n" + "\n".join(rows) + "\n")
    else:
        pq.write_table(table, path)
    assert main([str(path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "column 'label', row 3: label is not one of the classes (got 'zebra')" in line
    assert "ant" not in line


def test_the_first_unknown_class_name_is_counted_past_earlier_batches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows are counted over the whole input: the bad label is in the second row group."""
    good = ["cat", "dog"] * 40_000
    path = tmp_path / "preds.parquet"
    first = pa.table({"label": good, "p_cat": [0.4] * len(good), "p_dog": [0.6] * len(good)})
    second = pa.table({"label": ["dog", "yak", "emu"], "p_cat": [0.5] * 3, "p_dog": [0.5] * 3})
    with pq.ParquetWriter(path, first.schema) as writer:
        writer.write_table(first)
        writer.write_table(second)
    assert main([str(path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"row {len(good) + 2}: label is not one of the classes (got 'yak')" in line


def test_config_naming_dev_null_means_no_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--config /dev/null``: no configuration, not even the working directory's file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ce-eval.toml").write_text("not-an-option = 1\n")
    preds = tmp_path / "preds.csv"
    preds.write_bytes(CSV)
    assert main([str(preds)]) == 2  # without --config the working directory's file is read
    assert "not-an-option" in capsys.readouterr().err
    assert main([str(preds), "--config", os.devnull]) == 0
    assert capsys.readouterr().err == ""


def test_config_naming_a_directory_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds = tmp_path / "preds.csv"
    preds.write_bytes(CSV)
    assert main([str(preds), "--config", str(tmp_path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--config names a directory, not a config file" in line


def test_config_naming_a_pipe_says_so_without_reading_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named pipe is refused as such, never opened (opening it would wait for a writer)."""
    preds = tmp_path / "preds.csv"
    preds.write_bytes(CSV)
    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    assert main([str(preds), "--config", str(fifo)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--config names a pipe, not a regular config file" in line


def test_config_that_does_not_exist_still_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds = tmp_path / "preds.csv"
    preds.write_bytes(CSV)
    assert main([str(preds), "--config", str(tmp_path / "nope.toml")]) == 2
    assert "--config names a file that does not exist" in _one_error_line(capsys.readouterr().err)
