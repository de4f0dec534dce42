"""Defaults from a configuration file (``ce-eval.toml``, or ``[tool.ce-eval]`` in
``pyproject.toml``): where they are found, how they are read, and that the command line wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ce_cli.cli.main import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


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


def test_compare_reads_shared_keys_and_passes_over_evaluate_only_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """One file serves both commands: compare takes ``bins``, passes over ``max``, ``min`` and
    ``labels`` (evaluate's), and still refuses a key neither command knows."""
    monkeypatch.chdir(tmp_path)
    binary = str(SAMPLES / "binary.csv")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ce-eval]\nbins = 7\nbase = "bits"\nmax = {ece = 0.05}\nmin = {accuracy = 0.9}\n'
        'labels = "labels.csv"\n'
    )
    code, out, err = run(
        ["compare", binary, binary, "--bootstrap", "20", "--format", "json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["base"] == "bits"
    (tmp_path / "pyproject.toml").write_text("[tool.ce-eval]\nbins = 7\nci = 0.9\n")
    code, _, err = run([binary, "--format", "json"], capsys)  # evaluate passes over compare's ci
    assert code == 0, err
    (tmp_path / "pyproject.toml").write_text("[tool.ce-eval]\nmax = {ece = 0.05}\nbogus = 1\n")
    code, _, err = run(["compare", binary, binary], capsys)
    assert code == 2 and "unknown option 'bogus'" in err and len(err.splitlines()) == 1


def test_bad_value_in_config_file_names_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    binary = str(SAMPLES / "binary.csv")
    (tmp_path / "ce-eval.toml").write_text('bins = "x"\n')
    for args in ([binary], ["compare", binary, binary]):
        code, _, err = run(args, capsys)
        assert code == 2 and len(err.splitlines()) == 1
        assert "ce-eval.toml: config key 'bins' = 'x'" in err and "--bins" in err
    # The same bad value on the command line names no file.
    (tmp_path / "ce-eval.toml").write_text("bins = 5\n")
    code, _, err = run([binary, "--bins", "x"], capsys)
    assert code == 2 and "ce-eval.toml" not in err


def test_config_values_the_command_refuses_name_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A value that parses but the command refuses (``max``, ``ci``), and a list or table
    where one value belongs, say where it came from; one line, exit 2, never a traceback."""
    monkeypatch.chdir(tmp_path)
    binary = str(SAMPLES / "binary.csv")
    cases = [
        ('max = {ece = "x"}\n', [binary], "(from ./ce-eval.toml, key 'max')"),
        ("ci = 2\n", ["compare", binary, binary], "(from ./ce-eval.toml, key 'ci')"),
        (
            "gamma = [1]\n",
            [binary],
            "ce-eval.toml: the config key 'gamma' takes one value, not a list",
        ),
        (
            "bins = {a = 1}\n",
            [binary],
            "ce-eval.toml: the config key 'bins' takes one value, not a table",
        ),
    ]
    for text, args, expected in cases:
        (tmp_path / "ce-eval.toml").write_text(text)
        code, _, err = run(args, capsys)
        assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    (tmp_path / "ce-eval.toml").write_text("ci = 0.9\n")
    code, _, err = run(["compare", binary, binary, "--ci", "2"], capsys)
    assert code == 2 and "ce-eval.toml" not in err
