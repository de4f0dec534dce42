"""The README's examples run: every ``ce-eval sample_data/...`` line exits 0, and the Python API's
``pycon`` blocks pass as doctests, with every name the section advertises present."""

from __future__ import annotations

from pathlib import Path

import pytest

from ce_cli.cli.main import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


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
