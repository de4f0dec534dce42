"""Defaults from a configuration file: ``ce-eval.toml``, or ``[tool.ce-eval]`` in
``pyproject.toml``, in the working directory (or the file given by ``--config``).

Keys are option names (``label-col`` or ``label_col``); gates may be tables
(``max = {ece = 0.05}``) or lists (``max = ["ece=0.05"]``). Options on the command line win.

    [tool.ce-eval]
    label-col = "y"
    loss = "focal"
    gamma = 2
    max = {ece = 0.05, loss = 0.7}
    min = {accuracy = 0.9}
"""

from __future__ import annotations

import os
from typing import Any

from ce_cli.errors import UsageError

_LISTS = ("max_gate", "min_gate", "allow_regression")
# Option names whose parameter is spelled differently in the command.
_ALIASES = {"max": "max_gate", "min": "min_gate", "format": "output_format", "o": "output"}


def find_config(explicit: str | None, cwd: str = ".") -> tuple[str, dict[str, Any]] | None:
    """The config file's path and its ce-eval table, or ``None`` when there is none."""
    if explicit is not None:
        candidates = [explicit]
    else:
        candidates = [os.path.join(cwd, "ce-eval.toml"), os.path.join(cwd, "pyproject.toml")]
    for path in candidates:
        if not os.path.isfile(path):
            if explicit is not None:
                raise UsageError("--config names a file that does not exist", file=path)
            continue
        with open(path, "rb") as f:
            text = f.read()
        implicit_pyproject = path.endswith("pyproject.toml") and explicit is None
        if implicit_pyproject and b"ce-eval" not in text:
            continue  # another project's file: no need to parse it (or import tomllib)
        import tomllib

        try:
            data = tomllib.loads(text.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"the config file is not valid TOML ({exc})", file=path) from None
        if implicit_pyproject:
            table = data.get("tool", {}).get("ce-eval")
            if table is None:
                continue
        else:
            table = data.get("tool", {}).get("ce-eval", data)
        if not isinstance(table, dict):
            raise UsageError("the ce-eval configuration must be a table", file=path)
        return path, table
    return None


def to_default_map(table: dict[str, Any], path: str, known: set[str]) -> dict[str, Any]:
    """Option defaults for the command (unknown keys are an error naming the file)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        name = _ALIASES.get(name, name)
        if name not in known:
            raise UsageError(
                f"unknown option '{key}' in the configuration",
                file=path,
                hint="keys are option names, e.g. label-col, loss, max",
            )
        if name in _LISTS:
            if isinstance(value, dict):
                value = [f"{k}={v}" for k, v in value.items()]
            elif isinstance(value, str):
                value = [value]
        elif isinstance(value, list) and name in (
            "prob_cols",
            "target_cols",
            "classes",
            "class_weights",
        ):
            value = ",".join(map(str, value))
        out[name] = value
    return out
