"""The command as users and CI run it: CliRunner, main(argv) and real subprocesses."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ce_cli.cli.app import app
from ce_cli.cli.main import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
SCHEMA = json.loads(files("ce_cli").joinpath("report.schema.json").read_text())
SPEC_METRICS = {
    "loss", "cross_entropy", "entropy", "label_entropy", "kl_divergence",
    "perplexity", "accuracy", "brier", "ece", "mce",
}  # fmt: skip


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def report_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = run([*args, "--format", "json", "-q"], capsys)
    assert code == 0, err
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    return data


CASES = {
    "binary": [str(SAMPLES / "binary.csv")],
    "binary gz focal": [str(SAMPLES / "binary.csv.gz"), "--loss", "focal", "--alpha", "0.25"],
    "multiclass weighted": [str(SAMPLES / "multiclass.parquet"), "--weight-col", "weight"],
    "logits smoothing balanced": [
        str(SAMPLES / "multiclass_logits.csv"), "--smoothing", "0.1", "--class-weights", "balanced",
    ],
    "tsv bits": [str(SAMPLES / "multiclass.tsv"), "--base", "bits"],
    "multilabel": [
        str(SAMPLES / "multilabel.parquet"), "--target-cols", "y_*", "--task", "multilabel",
    ],
    "soft": [str(SAMPLES / "soft_labels.parquet"), "--target-cols", "t_*"],
    "list column": [str(SAMPLES / "list_column.parquet")],
    "everything": [
        str(SAMPLES / "multiclass.parquet"), "--ci", "0.9", "--bootstrap", "20", "--top", "3",
        "--id-col", "id", "--group-col", "label", "--max", "ece=1", "--min", "accuracy=0",
    ],
}  # fmt: skip


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_every_sample_gives_a_valid_json_report(args: list[str], capsys) -> None:
    data = report_json(args, capsys)
    assert data["metrics"].keys() >= SPEC_METRICS
    assert isinstance(data["schema_version"], int)
    assert data["n_samples"] > 0
    assert all(v is None or math.isfinite(v) for v in data["metrics"].values())


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_every_sample_gives_a_table(args: list[str], capsys) -> None:
    code, out, err = run([*args, "-q"], capsys)
    assert code == 0, err
    assert "Summary" in out and "Calibration" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_schema_rejects_a_report_without_metrics(capsys) -> None:
    data = report_json([str(SAMPLES / "binary.csv")], capsys)
    del data["metrics"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_cli_runner_and_option_spellings(tmp_path: Path) -> None:
    runner = CliRunner()
    a = runner.invoke(
        app, [str(SAMPLES / "binary.csv"), "--loss", "focal", "--gamma", "2", "--format", "json"]
    )
    b = runner.invoke(
        app, [str(SAMPLES / "binary.csv"), "--loss=focal", "--gamma=2", "--format=json"]
    )
    assert a.exit_code == b.exit_code == 0
    assert json.loads(a.stdout)["metrics"] == json.loads(b.stdout)["metrics"]


def test_output_file_and_nothing_on_stdout(tmp_path: Path, capsys) -> None:
    out_path = tmp_path / "report.json"
    code, out, _ = run(
        [str(SAMPLES / "binary.csv"), "--format", "json", "-o", str(out_path)], capsys
    )
    assert code == 0 and out == ""
    assert json.loads(out_path.read_text())["n_samples"] == 2000


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_per_sample_one_row_per_input_row_in_order(tmp_path: Path, suffix: str, capsys) -> None:
    path = tmp_path / f"samples{suffix}"
    code, _, err = run(
        [str(SAMPLES / "multiclass.parquet"), "--id-col", "id", "--per-sample", str(path), "-q"],
        capsys,
    )
    assert code == 0, err
    if suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    elif suffix == ".csv":
        import pyarrow.csv as pcsv

        rows = pcsv.read_csv(path).to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    ids = pq.read_table(SAMPLES / "multiclass.parquet").column("id").to_pylist()
    assert [r["id"] for r in rows] == ids
    assert [r["row"] for r in rows] == list(range(1, len(ids) + 1))
    assert {"loss", "p_true", "predicted", "confidence", "entropy"} <= rows[0].keys()


def test_per_sample_to_stdout_puts_the_report_elsewhere(tmp_path: Path, capsys) -> None:
    code, out, err = run([str(SAMPLES / "binary.csv"), "--per-sample", "-"], capsys)
    assert code == 0 and out.startswith('"row","label"') and "cross-entropy" in err
    code, out, _ = run(
        [str(SAMPLES / "binary.csv"), "--per-sample", "-", "-o", str(tmp_path / "r.txt")], capsys
    )
    assert code == 0
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2000
    assert list(rows[0])[:3] == ["row", "label", "loss"]


def test_formula_injection_is_neutralised_in_csv(tmp_path: Path, capsys) -> None:
    import pyarrow as pa

    src = tmp_path / "x.parquet"
    pq.write_table(pa.table({"id": ["=cmd()", "ok"], "label": [0, 1], "p_x": [0.2, 0.9]}), src)
    out_path = tmp_path / "s.csv"
    assert run([str(src), "--id-col", "id", "--per-sample", str(out_path)], capsys)[0] == 0
    assert "'=cmd()" in out_path.read_text()


def test_gates_exit_1_exactly_when_a_threshold_fails(tmp_path: Path, capsys) -> None:
    base = [str(SAMPLES / "multiclass.parquet"), "-q", "--format", "json"]
    ece = report_json(base[:1], capsys)["metrics"]["ece"]
    assert run([*base, "--max", f"ece={ece * 1.01}"], capsys)[0] == 0
    code, out, err = run([*base, "--max", f"ece={ece * 0.99}", "--min", "accuracy=0"], capsys)
    assert code == 1
    data = json.loads(out)  # the report is still written
    assert [g["passed"] for g in data["gates"]] == [False, True]
    assert "gate failed: ece" in err


def test_gate_on_interval_is_stricter(capsys) -> None:
    base = [str(SAMPLES / "multiclass.parquet"), "-q", "--format", "json", "--ci", "0.95"]
    ece = report_json(base[:1], capsys)["metrics"]["ece"]
    assert run([*base, "--max", f"ece={ece * 1.01}"], capsys)[0] == 0
    assert run([*base, "--max", f"ece={ece * 1.01}", "--gate-on-interval"], capsys)[0] == 1


def test_junit_is_valid_and_shows_the_failed_gate(capsys) -> None:
    code, out, _ = run(
        [
            str(SAMPLES / "binary.csv"),
            "--max",
            "ece=0.0001",
            "--min",
            "accuracy=0.5",
            "--format",
            "junit",
        ],
        capsys,
    )
    assert code == 1
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(failures) == 1 and "ece" in failures[0].get("name", "")


def test_markdown_renders_tables(capsys) -> None:
    code, out, _ = run(
        [str(SAMPLES / "binary.csv"), "--format", "markdown", "--max", "ece=1"], capsys
    )
    assert code == 0
    assert "| metric | value |" in out and "|---|---|" in out
    assert "✅" in out


def test_baseline_comparison(tmp_path: Path, capsys) -> None:
    old = tmp_path / "old.json"
    assert (
        run([str(SAMPLES / "multiclass.parquet"), "--format", "json", "-o", str(old)], capsys)[0]
        == 0
    )
    same = run([str(SAMPLES / "multiclass.parquet"), "--baseline", str(old), "-q"], capsys)
    assert same[0] == 0 and "Against the baseline" in same[1]
    worse = run(
        [str(SAMPLES / "multiclass.parquet"), "--smoothing", "0.3", "--baseline", str(old),
         "--format", "json"],
        capsys,
    )  # fmt: skip
    assert worse[0] == 1
    assert any(
        r["metric"] == "loss" and r["passed"] is False for r in json.loads(worse[1])["baseline"]
    )


def test_config_file_supplies_defaults_and_the_command_line_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ce-eval]\nbase = "bits"\nloss = "focal"\nmax = {ece = 0.0001}\n'
    )
    code, out, _ = run([str(SAMPLES / "binary.csv"), "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["base"] == "bits" and data["settings"]["loss"] == "focal"
    code, out, _ = run([str(SAMPLES / "binary.csv"), "--format", "json", "--base", "nats"], capsys)
    assert json.loads(out)["base"] == "nats"
    (tmp_path / "pyproject.toml").write_text("[tool.ce-eval]\nnot-an-option = 1\n")
    code, _, err = run([str(SAMPLES / "binary.csv")], capsys)
    assert code == 2 and "not-an-option" in err


def test_compare_two_models(tmp_path: Path, capsys) -> None:
    code, out, err = run(
        ["compare", str(SAMPLES / "multiclass.parquet"), str(SAMPLES / "multiclass.parquet"),
         "--id-col", "id", "--format", "json", "--bootstrap", "50"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["metrics"]["loss"]["difference"] == 0.0
    assert result["metrics"]["loss"]["verdict"] == "no significant difference"


def test_version_and_help(capsys) -> None:
    from ce_cli import __version__

    assert run(["--version"], capsys)[1].strip() == f"ce-eval {__version__}"
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for example in ("--loss focal", "--task multilabel", "--target-cols 't_*'", "compare"):
        assert example in out
    assert run(["compare", "--help"], capsys)[0] == 0


def test_subprocess_stdin_and_exit_codes(tmp_path: Path) -> None:
    data = (SAMPLES / "binary.csv").read_bytes()
    env = {**os.environ, "NO_COLOR": "1"}
    ok = subprocess.run(
        [sys.executable, "-m", "ce_cli", "-", "--format", "json"],
        input=data,
        capture_output=True,
        env=env,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["n_samples"] == 2000
    bad = subprocess.run(
        [sys.executable, "-m", "ce_cli", "-"],
        input=b"label,p\n0,zz\n",
        capture_output=True,
        env=env,
    )
    assert bad.returncode == 2 and bad.stdout == b""
    assert bad.stderr.decode().count("\n") == 1 and b"Traceback" not in bad.stderr


def test_base_bits_is_nats_over_ln2(capsys) -> None:
    nats = report_json([str(SAMPLES / "binary.csv")], capsys)["metrics"]
    bits = report_json([str(SAMPLES / "binary.csv"), "--base", "bits"], capsys)["metrics"]
    assert bits["cross_entropy"] == pytest.approx(nats["cross_entropy"] / math.log(2), rel=1e-12)


def test_github_annotations(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, _, err = run([str(SAMPLES / "binary.csv"), "--max", "ece=0.0001", "-q"], capsys)
    assert code == 1 and err.startswith("::error title=ce-eval::gate failed: ece")


def test_readme_examples_run(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `ce-eval sample_data/...` line of the README runs and exits 0."""
    root = SAMPLES.parent
    monkeypatch.chdir(root)
    import re
    import shlex

    text = (root / "README.md").read_text()
    lines = re.findall(r"`(ce-eval sample_data/[^`]*)`", text)
    lines += re.findall(r"^\$ (ce-eval sample_data/.*)$", text, flags=re.M)
    assert len(lines) >= 6
    for line in lines:
        args = shlex.split(line.split("#")[0])[1:]
        code, _, err = run([*args, "-q"], capsys)
        assert code == 0, (line, err)


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
    process = subprocess.Popen(
        [sys.executable, "-m", "ce_cli", "-", "-o", str(report)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
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


def test_config_files_found_read_or_passed_over(tmp_path: Path) -> None:
    from ce_cli.cli.config import find_config
    from ce_cli.errors import UsageError

    assert find_config(None, str(tmp_path)) is None
    # Another project's pyproject.toml, even a broken one, is passed over unparsed.
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'other'\n")
    assert find_config(None, str(tmp_path)) is None
    (tmp_path / "pyproject.toml").write_text('[tool."ce-eval"]\nloss = "focal"\n')
    assert find_config(None, str(tmp_path)) == (str(tmp_path / "pyproject.toml"), {"loss": "focal"})
    # ce-eval.toml comes first, and a broken one is an error naming the file.
    (tmp_path / "ce-eval.toml").write_text("loss = \n")
    with pytest.raises(UsageError, match="not valid TOML") as error:
        find_config(None, str(tmp_path))
    assert error.value.file == str(tmp_path / "ce-eval.toml")


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


def test_readme_python_api_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's ```pycon blocks run as doctests, from the repository root, and every name
    the Python API section advertises exists."""
    import doctest
    import re

    root = SAMPLES.parent
    monkeypatch.chdir(root)
    text = (root / "README.md").read_text()
    blocks = re.findall(r"```pycon\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    # The blocks run as one session, as a reader would type them.
    runner.run(parser.get_doctest("\n".join(blocks), {}, "README Python API", "README.md", 0))
    assert runner.summarize(verbose=False).failed == 0

    import ce_cli
    import ce_cli.core
    import ce_cli.errors
    import ce_cli.metrics

    for name in ("evaluate", "evaluate_arrays", "Accumulator", "CeEvalError", "Report"):
        assert getattr(ce_cli, name) is not None
    section = text[text.index("## Python API") : text.index("## Performance")]
    advertised = section[section.index("`ce_cli.metrics` has one function") :].split("```")[0]
    names = re.findall(r"`(\w+)`", advertised.split("float:", 1)[1])
    assert len(names) >= 9
    for name in names:
        assert callable(getattr(ce_cli.metrics, name)), name
    for name in ("log_softmax", "log_sigmoid", "evaluate_rows", "expected_calibration_error"):
        assert callable(getattr(ce_cli.core, name))
    assert issubclass(ce_cli.errors.CeEvalWarning, Warning)
