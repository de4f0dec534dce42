"""Defaults from a configuration file: ``ce-eval.toml``, or ``[tool.ce-eval]`` in
``pyproject.toml``, in the working directory (or the file given by ``--config``;
``--config /dev/null`` means no configuration at all).

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
    if explicit is not None and _is_null_device(explicit):
        return None  # `--config /dev/null`: no configuration, not even the working directory's
    if explicit is not None:
        candidates = [explicit]
    else:
        candidates = [os.path.join(cwd, "ce-eval.toml"), os.path.join(cwd, "pyproject.toml")]
    for path in candidates:
        if not os.path.isfile(path):
            if explicit is not None:
                _refuse_explicit(path)
            continue
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError as exc:
            raise UsageError(f"cannot read the config file ({exc.strerror})", file=path) from None
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


def _is_null_device(path: str) -> bool:
    try:
        return os.path.samefile(path, os.devnull)
    except OSError:
        return False


def _refuse_explicit(path: str) -> None:
    """``--config`` names something that is not a regular file: say what it is. It is never read
    (the configuration is looked up twice, and a pipe would give its text once)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise UsageError("--config names a file that does not exist", file=path) from None
    hint = "name a TOML file; without --config, ce-eval.toml or pyproject.toml is read from the "
    hint += "working directory"
    if stat.S_ISDIR(mode):
        raise UsageError("--config names a directory, not a config file", file=path, hint=hint)
    if stat.S_ISCHR(mode):
        what = "a character device"
    elif stat.S_ISFIFO(mode):
        what = "a pipe"
    elif stat.S_ISSOCK(mode):
        what = "a socket"
    else:
        what = "a special file"
    raise UsageError(f"--config names {what}, not a regular config file", file=path, hint=hint)


def to_default_map(
    table: dict[str, Any], path: str, known: set[str], other: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Option defaults for the command. A key of another command only (``other``: ``max`` or
    ``labels`` of evaluate, read by compare) is passed over; a key no command knows is an error
    naming the file."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = config_name(key)
        if name not in known and name in other:
            continue
        if name not in known:
            raise UsageError(
                f"unknown option '{key}' in the configuration",
                file=path,
                hint="keys are option names, e.g. label-col, loss, max",
            )
        joined = ("prob_cols", "target_cols", "classes", "class_weights")
        if isinstance(value, dict) and name not in _LISTS:
            raise UsageError(
                f"the config key '{key}' takes one value, not a table", file=path, value=value
            )
        if isinstance(value, list) and name not in _LISTS and name not in joined:
            raise UsageError(
                f"the config key '{key}' takes one value, not a list", file=path, value=value
            )
        if name in _LISTS:
            if isinstance(value, dict):
                value = [f"{k}={v}" for k, v in value.items()]
            elif isinstance(value, str):
                value = [value]
        elif isinstance(value, list) and name in joined:
            value = ",".join(map(str, value))
        out[name] = value
    return out


def config_name(key: str) -> str:
    """The command's parameter name for a configuration key (``max`` -> ``max_gate``)."""
    name = key.replace("-", "_")
    return _ALIASES.get(name, name)
