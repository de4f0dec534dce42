"""The command as users and CI run it: CliRunner, main(argv) and real subprocesses.

Every sample file in every output format, gates, baselines, compare, version and help. Interrupts
are in ``test_interrupts.py``, configuration files in ``test_config_files.py``, the README's
examples in ``test_readme_examples.py``."""

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
