"""Outputs never destroy anything: an output aimed at an input is refused before anything is read,
devices and FIFOs are written into (never replaced), and write errors or closed streams end in
one line with exit 2 (or, for a reader that closed the pipe, quietly with 141). Each case checks
the exit code, the one line on stderr, and that every file that existed is byte-identical."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CE_EVAL = Path(sys.executable).with_name("ce-eval")
ROWS = "".join(f"{i % 2},{0.2 + 0.6 * (i % 2):.1f}\n" for i in range(50))
CSV = "label,p_pos\n" + ROWS
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root``: its mode, and its bytes when it is a regular file."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        data = path.read_bytes() if stat.S_ISREG(mode) else None
        out[str(path.relative_to(root))] = (stat.S_IFMT(mode), data)
    return out


def _run(
    args: list[str], cwd: Path, shell: str | None = None, **kw: object
) -> tuple[int, str, str]:
    env = {**os.environ, "NO_COLOR": "1"}
    command: list[str] | str = [str(CE_EVAL), *args]
    if shell is not None:
        command = f"'{CE_EVAL}' {' '.join(args)} {shell}"
    proc = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        timeout=120,
        env=env,
        shell=shell is not None,
        **kw,  # type: ignore[call-overload]
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def _one_line(err: str, *fragments: str) -> None:
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("ce-eval: error: "), repr(err)
    for fragment in fragments:
        assert fragment.lower() in err.lower(), (fragment, err)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "preds.csv").write_text(CSV)
    (tmp_path / "labels.csv").write_text("label\n" + "".join(f"{i % 2}\n" for i in range(50)))
    (tmp_path / "b.csv").write_text(CSV)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["preds.csv", "-o", "preds.csv"], "-o names an input"),
        (["preds.csv", "--per-sample", "preds.csv"], "--per-sample names an input"),
        (["preds.csv", "-o", "link.csv"], "-o names an input"),
        (["preds.csv", "-o", "hard.csv"], "-o names an input"),
        (["preds.csv", "-o", "./sub/../preds.csv"], "-o names an input"),
        (["preds.csv", "-o", "base.json", "--baseline", "base.json"], "-o names an input"),
        (["preds.csv", "-o", "ce-eval.toml"], "-o names an input"),
        (["preds.csv", "-o", "my.toml", "--config", "my.toml"], "-o names an input"),
        (["preds.csv", "-o", "parts/a.parquet"], None),
        (["parts", "--per-sample", "parts/a.parquet"], "--per-sample names an input"),
        (["compare", "preds.csv", "b.csv", "-o", "b.csv"], "-o names an input"),
        (["preds.csv", "-o", "x.csv", "--per-sample", "x.csv"], "another output writes too"),
    ],
)
def test_an_output_aimed_at_an_input_is_refused_and_every_file_kept(
    args: list[str], fragment: str | None, work: Path
) -> None:
    (work / "link.csv").symlink_to("preds.csv")
    os.link(work / "preds.csv", work / "hard.csv")
    (work / "sub").mkdir()
    (work / "base.json").write_text('{"schema_version": 1}')
    (work / "ce-eval.toml").write_text('loss = "ce"\n')
    (work / "my.toml").write_text('loss = "ce"\n')
    (work / "parts").mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"label": [0, 1], "p_pos": [0.2, 0.8]}), work / "parts" / "a.parquet")
    before = _snapshot(work)
    code, out, err = _run(args, work)
    if fragment is None:  # a Parquet file that is not an input may be replaced
        assert code == 0, err
        return
    assert code == 2, err
    assert out == ""
    _one_line(err, fragment)
    assert _snapshot(work) == before


@pytest.mark.skipif(not IS_ROOT, reason="making a device node needs root")
@pytest.mark.parametrize("option", ["-o", "--per-sample"])
def test_a_device_is_written_into_never_replaced(option: str, work: Path) -> None:
    null = work / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    link = work / "out.csv"
    link.symlink_to(null)  # an extension for --per-sample, through a symlink
    code, _, err = _run(["preds.csv", option, str(link), "-q"], work)
    assert code == 0, err
    assert stat.S_ISCHR(null.lstat().st_mode), "the device was replaced"
    assert link.is_symlink()
    assert not [p for p in os.listdir(work) if p.startswith(".ce-eval-")]


@pytest.mark.skipif(not IS_ROOT, reason="making a device node needs root")
@pytest.mark.parametrize("where", ["-o", "stdout", "--per-sample", "--per-sample -"])
def test_a_full_device_is_one_line_and_exit_2(where: str, work: Path) -> None:
    full = work / "full.csv"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # a /dev/full of our own
    (work / "old.txt").write_text("OLD")
    args = {
        "-o": ["preds.csv", "-o", str(full)],
        "stdout": ["preds.csv"],
        "--per-sample": ["preds.csv", "--per-sample", str(full), "-o", "old.txt"],
        "--per-sample -": ["preds.csv", "--per-sample", "-", "-o", "old.txt"],
    }[where]
    shell = f"> '{full}'" if where in ("stdout", "--per-sample -") else ""
    before = _snapshot(work)
    code, _, err = _run(args, work, shell=shell)
    assert code == 2, err
    _one_line(err, "no space left")
    assert stat.S_ISCHR(full.lstat().st_mode)
    assert _snapshot(work) == before


def test_a_fifo_output_is_written_into(work: Path) -> None:
    fifo = work / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as f:
            received.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    code, _, err = _run(["preds.csv", "--format", "json", "-o", str(fifo)], work)
    reader.join(timeout=60)
    assert code == 0, err
    assert b'"n_samples": 50' in received[0]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


@pytest.mark.parametrize("to_stdout", [False, True])
def test_a_file_size_limit_is_one_line_and_exit_2(to_stdout: bool, work: Path) -> None:
    (work / "old.csv").write_text("OLD")
    if to_stdout:
        args, shell = ["preds.csv", "--per-sample", "-"], "> out.csv"
    else:
        args, shell = ["preds.csv", "--per-sample", "old.csv", "-q"], None
    before = _snapshot(work)
    code, _, err = _run(args, work, shell=shell, preexec_fn=_limit_file_size)
    assert code == 2, err
    _one_line(err, "file too large")
    after = _snapshot(work)
    after.pop("out.csv", None)  # the shell's own redirection target
    assert after == before


def test_closed_stdout_is_one_line_and_exit_2(work: Path) -> None:
    before = _snapshot(work)
    code, _, err = _run(["preds.csv"], work, shell=">&-")
    assert code == 2
    _one_line(err, "standard output is closed", "-o")
    assert not err.startswith("ce-eval: error: -o:"), err  # -o was not given
    assert _snapshot(work) == before
    code, _, err = _run(["preds.csv", "-o", "r.txt", "-q"], work, shell=">&-")
    assert code == 0, err
    assert "cross-entropy" in (work / "r.txt").read_text()
    assert (work / "preds.csv").read_text() == CSV


def test_closed_stdin_is_one_line_and_exit_2(work: Path) -> None:
    code, out, err = _run(["-"], work, shell="<&-")
    assert code == 2 and out == ""
    _one_line(err, "standard input is closed")


@pytest.mark.parametrize(
    "args",
    [
        ["--per-sample", "-"],
        ["--per-sample", "-", "-o", "r.txt"],
        ["--top", "20000"],  # a report of a megabyte: a short write must not pass for success
        ["--top", "20000", "--format", "json"],
    ],
)
def test_a_reader_that_closes_the_pipe_ends_it_quietly_with_141(
    args: list[str], work: Path
) -> None:
    big = "label,p_pos\n" + ROWS * 400  # 20,000 rows: more than a pipe holds
    (work / "big.csv").write_text(big)
    proc = subprocess.Popen(
        [str(CE_EVAL), "big.csv", "-q", *args],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=120)
    assert first.startswith(b'"row"' if "--per-sample" in args else (b"ce-eval", b"{"))
    assert code == 141, err  # never 1, which CI reads as a failed gate
    assert "Traceback" not in err and "error" not in err


def test_stdout_appending_to_the_input_is_refused(work: Path) -> None:
    before = _snapshot(work)
    code, _, err = _run(["preds.csv"], work, shell=">> preds.csv")
    assert code == 2
    _one_line(err, "standard output is the input file")
    assert _snapshot(work) == before
    code, _, err = _run(["preds.csv", "-o", "/dev/stdout"], work, shell=">> preds.csv")
    assert code == 2
    _one_line(err, "-o names an input")
    assert _snapshot(work) == before


def test_dev_stdout_into_a_pipe_is_written_into(work: Path) -> None:
    code, out, err = _run(["preds.csv", "-q", "--format", "json", "-o", "/dev/stdout"], work)
    assert code == 0, err
    assert '"n_samples": 50' in out


def test_a_read_only_output_is_refused(work: Path) -> None:
    report = work / "r.json"
    report.write_text("OLD")
    report.chmod(0o444)
    before = _snapshot(work)
    code, out, err = _run(["preds.csv", "-o", "r.json"], work)
    assert code == 2 and out == ""
    _one_line(err, "read-only")
    assert _snapshot(work) == before


@pytest.mark.parametrize("name", ["", ".csv"])
def test_a_fifo_input_is_read_once_as_a_stream(name: str, work: Path) -> None:
    fifo = work / f"in{name}"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w") as f:
            f.write(CSV)

    writer = threading.Thread(target=feed)
    writer.start()
    code, out, err = _run([str(fifo), "-q", "--format", "json"], work)
    writer.join(timeout=60)
    assert code == 0, err
    assert '"n_samples": 50' in out
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_process_substitution_input_does_not_hang(work: Path) -> None:
    proc = subprocess.run(
        ["bash", "-c", f"'{CE_EVAL}' <(cat preds.csv) -q --format json"],
        cwd=work,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert b'"n_samples": 50' in proc.stdout


def test_a_fifo_output_without_a_reader_is_one_line_not_a_hang(work: Path) -> None:
    fifo = work / "nobody.fifo"
    os.mkfifo(fifo)
    before = _snapshot(work)
    code, out, err = _run(["preds.csv", "-o", str(fifo)], work)
    assert code == 2 and out == ""
    _one_line(err, "no process reads this fifo")
    assert _snapshot(work) == before


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["preds.csv", "-q"], 0),  # the report on stdout; nothing needs stderr
        (["preds.csv", "--logits"], 0),  # a warning has nowhere to go, and is dropped
        (["missing.csv"], 2),  # the error line has nowhere to go; the code still says it
        (["preds.csv", "--per-sample", "-"], 2),  # the report would go to stderr
    ],
)
def test_closed_stderr_is_never_a_traceback_or_exit_3(
    args: list[str], code: int, work: Path
) -> None:
    before = _snapshot(work)
    got, out, _ = _run(args, work, shell="2>&-")
    assert got == code
    assert "Traceback" not in out
    if code == 0:
        assert "cross-entropy" in out
    else:
        assert out == ""
    assert _snapshot(work) == before


def test_the_python_api_refuses_per_sample_over_its_input(work: Path) -> None:
    from ce_cli import CeEvalError, evaluate

    with pytest.raises(CeEvalError, match="names an input"):
        evaluate(str(work / "preds.csv"), per_sample=str(work / "preds.csv"))
    assert (work / "preds.csv").read_text() == CSV


def test_a_fifo_output_whose_reader_leaves_is_one_line_and_exit_2(work: Path) -> None:
    (work / "big.csv").write_text("label,p_pos\n" + ROWS * 400)
    fifo = work / "rows.csv"
    os.mkfifo(fifo)

    def read_a_little() -> None:
        with open(fifo, "rb") as f:
            f.read(10)

    reader = threading.Thread(target=read_a_little)
    reader.start()
    code, out, err = _run(["big.csv", "-q", "--per-sample", str(fifo), "-o", "r.json"], work)
    reader.join(timeout=60)
    assert code == 2 and out == "", err
    _one_line(err, "closed")
    assert not (work / "r.json").exists()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
