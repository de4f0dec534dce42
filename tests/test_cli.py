"""The command as users type it: through Typer's CliRunner, through ``main(argv)`` (which
returns the exit code), and as real processes (``ce-eval`` and ``python -m ce_cli``).

Covers the SPEC's surface: a table for every task, the JSON keys, ``-o``, ``--per-sample`` (one
row per input row, in input order), ``--per-sample -``, both option spellings, the command as
typed in the SPEC, ``--version``, ``--help``, standard input, no ANSI codes off a terminal, and
``--base``.
"""

from __future__ import annotations

import io
import json
import math
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ce_cli._version import __version__
from ce_cli.cli.app import app
from ce_cli.cli.main import main

CE_EVAL = Path(sys.executable).with_name("ce-eval")
SPEC_METRICS = (
    "loss",
    "cross_entropy",
    "entropy",
    "label_entropy",
    "kl_divergence",
    "perplexity",
    "accuracy",
    "brier",
    "ece",
    "mce",
)
ANSI = "\x1b["


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def report(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run([*args, "--format", "json"], capsys)
    assert code == 0, err
    assert err == ""
    return json.loads(out)


def process(
    args: list[str],
    cwd: Path,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    module: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "ce_cli"] if module else [str(CE_EVAL)]
    environment = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    environment.update(env or {})
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=120,
        env=environment,
    )


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- the report for every task -------------------------------------------------------------------


def test_table_for_each_task(task_input, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([task_input.path, *task_input.args], capsys)
    assert code == 0, err
    assert err == ""
    assert "Summary" in out
    assert "200 rows" in out
    assert task_input.task in out
    for label in ("cross-entropy", "entropy", "KL divergence", "perplexity", "accuracy", "ECE"):
        assert label in out, label
    assert ANSI not in out


def test_table_through_cli_runner(task_input) -> None:
    result = CliRunner().invoke(app, [str(task_input.path), *task_input.args])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Summary" in result.stdout
    assert task_input.task in result.stdout
    assert ANSI not in result.stdout


def test_json_report_has_the_spec_keys(task_input, capsys: pytest.CaptureFixture[str]) -> None:
    data = report([task_input.path, *task_input.args], capsys)
    assert isinstance(data["schema_version"], int)
    assert not isinstance(data["schema_version"], bool)
    assert data["n_samples"] == 200
    metrics = data["metrics"]
    for key in SPEC_METRICS:
        assert key in metrics, key
        assert is_number(metrics[key]) and math.isfinite(metrics[key]), (key, metrics[key])
    # The identities the SPEC defines.
    assert metrics["cross_entropy"] == pytest.approx(
        metrics["label_entropy"] + metrics["kl_divergence"], rel=1e-9, abs=1e-12
    )
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["cross_entropy"]), rel=1e-9)
    assert metrics["loss"] == pytest.approx(metrics["cross_entropy"], rel=1e-12)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert 0.0 <= metrics["ece"] <= metrics["mce"] <= 1.0
    assert metrics["entropy"] >= 0.0 and metrics["brier"] >= 0.0
    if task_input.name != "soft":
        assert metrics["label_entropy"] == 0.0


def test_json_through_cli_runner_equals_main(
    task_input, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(task_input.path), *task_input.args, "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == report([task_input.path, *task_input.args], capsys)


def test_binary_cross_entropy_matches_numpy(
    binary_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pcsv.read_csv(binary_csv)
    y = table["label"].to_numpy().astype(float)
    q = table["p_fraud"].to_numpy()
    expected = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
    metrics = report([binary_csv], capsys)["metrics"]
    assert metrics["cross_entropy"] == pytest.approx(expected, rel=1e-9)
    assert metrics["accuracy"] == pytest.approx(np.mean((q >= 0.5) == (y == 1)))
    assert metrics["brier"] == pytest.approx(np.mean((q - y) ** 2), rel=1e-9)


def test_logits_cross_entropy_matches_numpy(
    logits_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pcsv.read_csv(logits_csv)
    z = np.column_stack([table[f"logit_{j}"].to_numpy() for j in range(4)])
    y = table["label"].to_numpy()
    m = z.max(axis=1, keepdims=True)
    log_q = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    expected = -np.mean(log_q[np.arange(len(y)), y])
    data = report([logits_csv], capsys)
    assert data["metrics"]["cross_entropy"] == pytest.approx(expected, rel=1e-9)
    assert data["metrics"]["accuracy"] == pytest.approx(np.mean(z.argmax(axis=1) == y))


def test_class_names_map_string_labels(
    multiclass_parquet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pq.read_table(multiclass_parquet)
    names = ["cat", "dog", "bird"]
    q = np.column_stack([table[f"p_{c}"].to_numpy() for c in names])
    y = np.array([names.index(v) for v in table["label"].to_pylist()])
    expected = -np.mean(np.log(q[np.arange(len(y)), y]))
    assert report([multiclass_parquet], capsys)["metrics"]["cross_entropy"] == pytest.approx(
        expected, rel=1e-9
    )


# -- output destinations -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_output_file_and_nothing_on_stdout(
    multiclass_parquet: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.json"
    target.write_text("OLD")  # an existing file is replaced
    code, out, err = run([multiclass_parquet, "--format", fmt, "-o", target], capsys)
    assert code == 0, err
    assert out == ""
    text = target.read_text()
    if fmt == "json":
        data = json.loads(text)
        assert data["metrics"] == report([multiclass_parquet], capsys)["metrics"]
    else:
        assert "Summary" in text and ANSI not in text
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".ce-eval-")]


def _input_ids(path: Path) -> list[str] | None:
    table = pcsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
    return table["id"].to_pylist() if "id" in table.column_names else None


def _read_samples(path: Path) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix == ".csv":
        return pcsv.read_csv(path)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pa.Table.from_pylist(rows)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_per_sample_one_row_per_input_row_in_order(
    task_input, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _input_ids(task_input.path)
    samples = tmp_path / f"samples{suffix}"
    args = [task_input.path, *task_input.args, "--per-sample", samples, "--format", "json"]
    if ids is not None:
        args += ["--id-col", "id"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    metrics = json.loads(out)["metrics"]
    table = _read_samples(samples)
    assert table.num_rows == 200
    assert "loss" in table.column_names
    loss = np.asarray(table["loss"].to_pylist(), dtype=float)
    assert np.all(np.isfinite(loss)) and np.all(loss >= 0)
    assert loss.mean() == pytest.approx(metrics["loss"], rel=1e-9)
    if ids is not None:
        assert "id" in table.column_names
        assert [str(v) for v in table["id"].to_pylist()] == ids


@pytest.mark.parametrize(
    "extra",
    [["--top", "2"], ["--per-sample", "samples.csv"], ["--group-col", "g"]],
    ids=["top", "per-sample", "group"],
)
def test_binary_with_a_target_column(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
) -> None:
    """Binary soft targets (one prediction column, one target column) with the options that
    list rows: a valid input, so exit 0 with a report."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bin_soft.csv"
    path.write_text("g,p_x,t_x\na,0.3,1\nb,0.6,0\na,0.9,0.8\n")
    code, out, err = run([path, "--target-cols", "t_x", "--format", "json", *extra], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["n_samples"] == 3
    if "--per-sample" in extra:
        assert pcsv.read_csv(tmp_path / "samples.csv").num_rows == 3


def test_per_sample_rows_follow_input_order_with_weights_and_bits(
    multiclass_parquet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Per-sample loss is in the report's base; the weighted mean of it is the report's loss."""
    samples = tmp_path / "s.parquet"
    args = [multiclass_parquet, "--weight-col", "weight", "--base", "bits", "--id-col", "id"]
    code, out, err = run([*args, "--per-sample", samples, "--format", "json"], capsys)
    assert code == 0, err
    table = pq.read_table(samples)
    source = pq.read_table(multiclass_parquet)
    assert table["id"].to_pylist() == source["id"].to_pylist()
    w = source["weight"].to_numpy()
    loss = table["loss"].to_numpy()
    assert np.sum(w * loss) / np.sum(w) == pytest.approx(json.loads(out)["metrics"]["loss"])


def test_per_sample_dash_without_output_sends_the_report_to_stderr(
    binary_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([binary_csv, "--per-sample", "-", "--format", "json"], capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith('"row","label","loss"')
    assert len(out.splitlines()) == 201
    assert json.loads(err)["n_samples"] == 200
    code, out, err = run([binary_csv, "--per-sample", "-", "-o", "-"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "stdout" in err

    target = tmp_path / "report.json"
    code, out, err = run(
        [binary_csv, "--per-sample", "-", "-o", target, "--format", "json"], capsys
    )
    assert code == 0, err
    lines = out.splitlines()
    assert "loss" in lines[0].replace('"', "").split(",")
    assert len(lines) == 1 + 200
    assert json.loads(target.read_text())["n_samples"] == 200


# -- option spellings ----------------------------------------------------------------------------

# (fixture, option, value, other arguments the case needs)
SPELLINGS = [
    ("multiclass_parquet", "--label-col", "label", []),
    ("multiclass_parquet", "--prob-cols", "p_*", []),
    ("multiclass_parquet", "--weight-col", "weight", []),
    ("multiclass_parquet", "--id-col", "id", ["--top", "3"]),
    ("multiclass_parquet", "--task", "multiclass", []),
    ("multiclass_parquet", "--loss", "focal", []),
    ("multiclass_parquet", "--gamma", "2", ["--loss", "focal"]),
    ("multiclass_parquet", "--gamma", "0.5", ["--loss", "focal"]),
    ("multiclass_parquet", "--smoothing", "0.1", []),
    ("multiclass_parquet", "--class-weights", "1,2,3", []),
    ("multiclass_parquet", "--base", "bits", []),
    ("multiclass_parquet", "--bins", "10", []),
    ("binary_csv", "--alpha", "0.25", ["--loss", "focal"]),
    ("soft_parquet", "--target-cols", "t_*", []),
    ("multilabel_parquet", "--task", "multilabel", ["--target-cols", "y_*"]),
    ("binary_csv", "--input-format", "csv", []),
]


@pytest.mark.parametrize(
    ("fixture", "option", "value", "extra"),
    SPELLINGS,
    ids=[f"{option}-{value}" for _, option, value, _ in SPELLINGS],
)
def test_option_takes_space_or_equals(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    fixture: str,
    option: str,
    value: str,
    extra: list[str],
) -> None:
    path = request.getfixturevalue(fixture)
    spaced = report([path, *extra, option, value], capsys)
    joined = report([path, *extra, f"{option}={value}"], capsys)
    assert spaced == joined
    code, out, _ = run([path, *extra, "--format", "json"], capsys)
    # The option was read: the report (its settings at least) shows it; 2 is --gamma's default.
    if code == 0 and (option, value) != ("--gamma", "2"):
        assert spaced != json.loads(out)


@pytest.mark.parametrize("option", ["--output", "--per-sample", "--format"])
def test_output_options_take_space_or_equals(
    binary_csv: Path, tmp_path: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix = ".json" if option != "--per-sample" else ".csv"
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    if option == "--format":
        code_a, out_a, _ = run([binary_csv, "--format", "json"], capsys)
        code_b, out_b, _ = run([binary_csv, "--format=json"], capsys)
        assert code_a == code_b == 0
        assert json.loads(out_a) == json.loads(out_b)
        return
    assert run([binary_csv, option, a, "-q"], capsys)[0] == 0
    assert run([binary_csv, f"{option}={b}", "-q"], capsys)[0] == 0
    assert a.read_bytes() == b.read_bytes() != b""


def test_logits_and_probs_flags(logits_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    auto = report([logits_csv], capsys)
    forced = report([logits_csv, "--logits"], capsys)
    assert auto["metrics"] == forced["metrics"]
    code, out, err = run([logits_csv, "--probs"], capsys)
    assert code == 2 and out == ""
    assert "outside [0, 1]" in err


def test_the_spec_command_exactly_as_typed(
    multiclass_parquet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ce-eval preds.parquet --loss focal --gamma 2` must work exactly as typed."""
    preds = tmp_path / "preds.parquet"
    preds.write_bytes(multiclass_parquet.read_bytes())
    proc = process(["preds.parquet", "--loss", "focal", "--gamma", "2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    text = proc.stdout.decode()
    assert "focal" in text and "Summary" in text

    data = report([preds, "--loss", "focal", "--gamma", "2"], capsys)
    assert data["metrics"]["loss"] < data["metrics"]["cross_entropy"]
    # Options before the argument work the same.
    assert report(["--loss", "focal", "--gamma", "2", preds], capsys) == data
    # The same through the CLI runner.
    result = CliRunner().invoke(app, [str(preds), "--loss", "focal", "--gamma", "2"])
    assert result.exit_code == 0 and "focal" in result.stdout


def test_focal_gamma_zero_is_cross_entropy(
    binary_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = report([binary_csv, "--loss", "focal", "--gamma", "0"], capsys)["metrics"]
    assert metrics["loss"] == pytest.approx(metrics["cross_entropy"], rel=1e-12)


# -- --version and --help ------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(["--version"], capsys)
    assert code == 0 and err == ""
    assert out.strip() == f"ce-eval {__version__}"
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout
    for module in (False, True):
        proc = process(["--version"], cwd=tmp_path, module=module)
        assert proc.returncode == 0
        assert proc.stdout.decode().strip() == f"ce-eval {__version__}"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_has_examples_for_every_task(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([flag], capsys)
    assert code == 0 and err == ""
    assert "Examples" in out
    text = " ".join(out.split())  # undo the help's line wrapping
    assert "binary" in text
    assert "--task multilabel" in text or "multi-label" in text
    assert "soft" in text and "--target-cols" in text
    assert "--logits" in text and "--per-sample" in text
    for option in ("--label-col", "--prob-cols", "--gamma", "--alpha", "--smoothing", "--base"):
        assert option in text, option


def test_help_in_a_real_process_has_no_ansi(tmp_path: Path) -> None:
    proc = process(["--help"], cwd=tmp_path, env={"TERM": "xterm-256color"})
    assert proc.returncode == 0
    assert b"Examples" in proc.stdout
    assert ANSI.encode() not in proc.stdout + proc.stderr


# -- standard input ------------------------------------------------------------------------------


def test_csv_on_stdin_in_a_real_process(
    binary_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = process(["-", "--format", "json"], cwd=tmp_path, stdin=binary_csv.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["metrics"] == report([binary_csv], capsys)["metrics"]


def test_parquet_on_stdin_in_a_real_process(
    multiclass_parquet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = process(
        ["-", "--format", "json"], cwd=tmp_path, stdin=multiclass_parquet.read_bytes(), module=True
    )
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads(proc.stdout)
    assert data["n_samples"] == 200
    assert data["metrics"] == report([multiclass_parquet], capsys)["metrics"]


@pytest.mark.parametrize("fixture", ["logits_csv", "list_parquet", "soft_parquet"])
def test_stdin_through_main_and_cli_runner(
    request: pytest.FixtureRequest,
    fixture: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path: Path = request.getfixturevalue(fixture)
    extra = ["--target-cols", "t_*"] if fixture == "soft_parquet" else []
    expected = report([path, *extra], capsys)["metrics"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    assert report(["-", *extra], capsys)["metrics"] == expected
    result = CliRunner().invoke(app, ["-", *extra, "--format", "json"], input=path.read_bytes())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"] == expected


def test_stdin_with_per_sample_and_output_file(binary_csv: Path, tmp_path: Path) -> None:
    """The README's pipeline: cat preds.csv | ce-eval - --format json -o r.json --per-sample s."""
    proc = process(
        ["-", "--format", "json", "-o", "r.json", "--per-sample", "s.parquet", "--id-col", "id"],
        cwd=tmp_path,
        stdin=binary_csv.read_bytes(),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert json.loads((tmp_path / "r.json").read_text())["n_samples"] == 200
    assert pq.read_table(tmp_path / "s.parquet")["id"].to_pylist() == _input_ids(binary_csv)


# -- colour --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}, {"TERM": "xterm-256color"}])
def test_no_ansi_when_stdout_is_not_a_terminal(
    multiclass_parquet: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    proc = process([str(multiclass_parquet)], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Summary" in proc.stdout
    assert ANSI.encode() not in proc.stdout + proc.stderr


def _run_in_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, bytes]:
    pty = pytest.importorskip("pty")
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update({"TERM": "xterm-256color", "COLUMNS": "120", **env})
    proc = subprocess.Popen(
        [str(CE_EVAL), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        output += chunk
    code = proc.wait(timeout=60)
    os.close(leader)
    return code, output


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_no_color_in_a_terminal(binary_csv: Path, tmp_path: Path) -> None:
    code, coloured = _run_in_a_terminal([str(binary_csv)], tmp_path, {})
    assert code == 0
    assert b"Summary" in coloured
    code, plain = _run_in_a_terminal([str(binary_csv)], tmp_path, {"NO_COLOR": "1"})
    assert code == 0
    assert b"Summary" in plain
    assert ANSI.encode() not in plain


def test_untrusted_class_names_do_not_reach_the_terminal_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Class names and ids come from the data; an ESC in them must not become a raw escape
    sequence in the (non-terminal) table."""
    path = tmp_path / "esc.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["a\x1b[2Jb", "c"],
                "label": ["\x1b[31mred", "blue"],
                "p_\x1b[31mred": [0.7, 0.2],
                "p_blue": [0.3, 0.8],
            }
        ),
        path,
    )
    code, out, err = run([path, "--id-col", "id", "--top", "2"], capsys)
    assert code == 0, err
    assert "Summary" in out
    assert ANSI not in out


# -- log base ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["binary_csv", "soft_parquet", "multilabel_parquet"])
@pytest.mark.parametrize(
    ("base", "divisor"),
    [("bits", math.log(2)), ("2", math.log(2)), ("bans", math.log(10)), ("10", math.log(10))],
)
def test_base_divides_the_log_metrics(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    fixture: str,
    base: str,
    divisor: float,
) -> None:
    path = request.getfixturevalue(fixture)
    extra = {
        "binary_csv": [],
        "soft_parquet": ["--target-cols", "t_*"],
        "multilabel_parquet": ["--target-cols", "y_*", "--task", "multilabel"],
    }[fixture]
    nats = report([path, *extra], capsys)["metrics"]
    other = report([path, *extra, "--base", base], capsys)["metrics"]
    for key in ("loss", "cross_entropy", "entropy", "label_entropy", "kl_divergence"):
        assert other[key] == pytest.approx(nats[key] / divisor, rel=1e-12, abs=1e-15), key
    for key in ("perplexity", "accuracy", "brier", "ece", "mce"):
        assert other[key] == pytest.approx(nats[key], rel=1e-12), key
    assert report([path, *extra, "--base", "e"], capsys)["metrics"] == nats


def test_bits_through_cli_runner(binary_csv: Path) -> None:
    runner = CliRunner()
    nats = runner.invoke(app, [str(binary_csv), "--format", "json"])
    bits = runner.invoke(app, [str(binary_csv), "--format", "json", "--base", "bits"])
    assert nats.exit_code == bits.exit_code == 0
    ce_nats = json.loads(nats.stdout)["metrics"]["cross_entropy"]
    ce_bits = json.loads(bits.stdout)["metrics"]["cross_entropy"]
    assert ce_bits == pytest.approx(ce_nats / math.log(2), rel=1e-12)


# -- exit codes ----------------------------------------------------------------------------------


def test_failed_gate_exits_1_and_still_writes_the_report(
    binary_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "r.json"
    code, out, err = run([binary_csv, "--max", "ece=0", "--format", "json", "-o", target], capsys)
    assert code == 1
    assert out == ""
    assert "ece" in err
    assert json.loads(target.read_text())["n_samples"] == 200


def test_usage_error_through_cli_runner_exits_2(binary_csv: Path) -> None:
    result = CliRunner().invoke(app, [str(binary_csv), "--format", "xml"])
    assert result.exit_code == 2
    assert result.stdout == ""


def test_per_sample_through_a_symlink_to_another_file_system(
    binary_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file a symlink points to is replaced from a temporary file beside it: the link
    stays a link, and no rename crosses file systems (/dev/shm is tmpfs where it exists)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second file system at /dev/shm")
    target = shm / f"ce-eval-test-{os.getpid()}.csv"
    target.write_text("old\n")
    link = tmp_path / "samples.csv"
    link.symlink_to(target)
    try:
        code, _out, err = run([binary_csv, "--per-sample", link, "--format", "json"], capsys)
        assert code == 0, err
        assert link.is_symlink()
        assert target.read_text().splitlines()[0].startswith('"row","label","loss"')
    finally:
        target.unlink()


def test_a_failing_per_sample_file_leaves_nothing_on_stdout(
    binary_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """Files are put in place before the report goes to stdout, so an output that fails at
    the last moment leaves stdout empty and exits 2."""
    import ce_cli.io.atomic

    real_replace = os.replace

    def refuse_samples(src: str, dst: str) -> None:
        if dst.endswith("samples.csv"):
            raise OSError(18, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(ce_cli.io.atomic.os, "replace", refuse_samples)
    code, out, err = run([binary_csv, "--per-sample", tmp_path / "samples.csv"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("ce-eval: error: ") and "samples.csv" in err
    assert not (tmp_path / "samples.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ce-eval-")]


def test_per_sample_csv_gz_is_compressed(
    binary_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    path = tmp_path / "samples.csv.gz"
    code, _out, err = run([binary_csv, "--per-sample", path, "--format", "json"], capsys)
    assert code == 0, err
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[0].startswith('"row"') and len(lines) == 1 + 200


def test_report_and_per_sample_cannot_share_a_path(
    binary_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "out.csv"
    code, out, err = run([binary_csv, "-o", path, "--per-sample", path], capsys)
    assert code == 2 and out == ""
    assert "same file" in err and err.count("\n") == 1
    assert not path.exists()


def test_debug_keeps_the_exit_code_of_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --debug adds a traceback; it must not turn bad input (2) into exit 1, a failed gate.
    path = tmp_path / "bad.csv"
    path.write_text("label,p\n1,0.3\n0,1.2\n")
    assert main([str(path), "--probs", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("ce-eval: error: ")


def test_logits_and_probs_together_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.csv"
    path.write_text("label,p\n1,0.3\n0,0.2\n")
    for flags in (["--probs", "--logits"], ["--logits", "--probs"]):
        assert main([str(path), *flags]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1 and "contradict" in captured.err


@pytest.mark.parametrize(
    ("second_row", "flag"),
    [("1,nan,0.5", ["--on-nan", "drop"]), ("-100,0.5,0.5", ["--ignore-label", "-100"])],
)
def test_decision_error_names_the_input_row_after_rows_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second_row: str, flag: list[str]
) -> None:
    # Row 2 is left out before the logits/probabilities decision; the row whose sum is off is
    # still row 4 of the file, not the 3rd row the decision saw.
    path = tmp_path / "p.csv"
    path.write_text(f"label,p_a,p_b\n0,0.3,0.7\n{second_row}\n1,0.4,0.6\n0,0.5,0.3\n")
    assert main([str(path), *flag]) == 2
    assert ", row 4:" in capsys.readouterr().err


def test_header_only_csv_is_not_said_to_hold_integers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.csv"
    path.write_text("label,p\n")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "hold no values" in err and "integers" not in err
