"""Interrupts and signals: Ctrl-C or SIGTERM at any moment (reading, loading, staging the
per-sample file, finishing it) ends in one line, its exit code, and no file left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.mark.parametrize(
    ("signal_name", "code", "message"),
    [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")],
)
def test_a_signal_stops_the_command_in_one_line_and_leaves_no_file(
    tmp_path: Path, signal_name: str, code: int, message: str
) -> None:
    """Standard input that never ends keeps the command reading; the signal then stops it."""
    import signal
    import time

    report = tmp_path / "report.json"
    env = {**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp_path)}
    # A shell's background job starts with SIGINT ignored, and Python then leaves it ignored:
    # the command is started with the default action, as from a terminal.
    process = subprocess.Popen(
        [sys.executable, "-m", "ce_cli", "-", "-o", str(report)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdin is not None
    process.stdin.write(b"label,p\n0,0.25\n")
    process.stdin.flush()
    deadline = time.monotonic() + 30
    while not any(tmp_path.glob("ce-eval-stdin-*")):  # spooling: the command is running
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=30)
    assert process.returncode == code
    assert out == b"" and err.decode() == f"ce-eval: error: {message}\n"
    assert list(tmp_path.iterdir()) == []  # neither the spooled input nor a report


def test_an_interrupt_while_the_command_loads_is_one_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import ce_cli.cli.main
    from ce_cli.cli import launcher

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ce_cli.cli.main, "entrypoint", interrupted)
    with pytest.raises(SystemExit) as stop:
        launcher.main()
    assert stop.value.code == 130
    assert capsys.readouterr().err == "ce-eval: error: interrupted\n"


def test_sigterm_mid_run_leaves_neither_output_nor_temporary_file(tmp_path: Path) -> None:
    """The per-sample file is staged while the rows stream; SIGTERM removes what was staged."""
    import signal
    import time

    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    n = 2_000_000
    table = pa.table(
        {"label": rng.integers(0, 4, n), **{f"logit_{j}": rng.standard_normal(n) for j in range(4)}}
    )
    source = tmp_path / "in" / "big.parquet"
    source.parent.mkdir()
    pq.write_table(table, source, row_group_size=50_000)
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "ce_cli", str(source), "-q", "-o", str(out / "report.json"),
         "--per-sample", str(out / "rows.csv")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(out.iterdir()):  # the staged per-sample file appears once rows flow
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.skip("the run ended before it could be interrupted")
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the run ended before the signal arrived")
    assert process.returncode == 143
    assert err.decode() == "ce-eval: error: terminated\n"
    assert list(out.iterdir()) == []


def test_an_interrupt_while_the_per_sample_file_is_finished_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ce_cli
    from ce_cli.io.samples_out import PerSampleWriter

    close = PerSampleWriter._close

    def close_then_interrupt(self: PerSampleWriter) -> None:
        close(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(PerSampleWriter, "_close", close_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ce_cli.evaluate(str(SAMPLES / "binary.csv"), per_sample=str(tmp_path / "rows.csv"))
    assert list(tmp_path.iterdir()) == []
