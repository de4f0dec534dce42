"""The layout holds the architecture: which folder may import what, and how long a module gets.

Read from the source with :mod:`ast` (nothing is imported), every ``import`` counts, also one
inside a function (the lazy imports that keep start-up fast are still dependencies). The rules,
as ARCHITECTURE.md states them:

* ``core/`` imports NumPy, the standard library and ``core/`` only;
* typer (and click, under it) only in ``cli/``; rich only in ``cli/`` and ``render/`` (the
  table renderers live in ``render/``, the progress line in ``cli/``);
* optional extras only where they are used: matplotlib in ``plot/``, fsspec in ``io/remote.py``,
  dask and distributed in ``engine/dask.py``;
* nothing imports ``ce_cli.cli`` but ``cli/`` itself and ``python -m ce_cli``;
* what a pass collects (``state/``) and the report built from it (``report/``) know nothing of
  where rows come from or where results go: no ``io/``, ``resolve/``, ``engine/``, ``judge/``,
  ``render/``, ``plot/``, ``cli/``, nor the API modules;
* renderers (``render/``, ``plot/``) take the finished report: no ``engine/``, ``resolve/``,
  ``state/``, ``judge/`` (but for the verdicts' words, ``judge/verdicts.py``), ``cli/``;
* no module over :data:`MAX_LINES` lines.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ce_cli"
MAX_LINES = 550

# Modules that may import rich although they are neither in cli/ nor in render/, and why.
RICH_ELSEWHERE: dict[str, str] = {}

OPTIONAL_EXTRAS = {
    "matplotlib": ("plot/",),
    "fsspec": ("io/remote.py",),
    "dask": ("engine/dask.py",),
    "distributed": ("engine/dask.py",),
}

API_MODULES = ("ce_cli.api", "ce_cli.arrays", "ce_cli.metrics")


@functools.cache
def _modules() -> dict[str, Path]:
    """Every module of the package by its path relative to ``ce_cli/`` (``io/readers.py``)."""
    return {p.relative_to(PACKAGE).as_posix(): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(source: str, module: str = "ce_cli.x") -> set[str]:
    """The absolute names ``source`` imports, anywhere in it (relative imports resolved
    against ``module``); ``from a import b`` counts as ``a.b`` as well as ``a``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@functools.cache
def _imports(relative: str) -> set[str]:
    module = "ce_cli." + relative.removesuffix(".py").replace("/", ".")
    return imports_of(_modules()[relative].read_text(encoding="utf-8"), module)


def _top(name: str) -> str:
    return name.split(".")[0]


def _under(relative: str, places: tuple[str, ...]) -> bool:
    """Whether a module is one of ``places``: a module (``io/remote.py``) or folder (``plot/``)."""
    return any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in places)


def _breaks(
    places: tuple[str, ...] | None, allowed: tuple[str, ...], flagged: Callable[[str], bool]
) -> list[str]:
    """``module imports name`` for each import that ``flagged`` flags, of the modules in
    ``places`` (every module when None) that are not ``allowed``."""
    found = []
    for relative in _modules():
        if (places is None or _under(relative, places)) and not _under(relative, allowed):
            found += [f"{relative} imports {n}" for n in sorted(_imports(relative)) if flagged(n)]
    return found


def _inside(name: str, folders: tuple[str, ...]) -> bool:
    return any(name == f"ce_cli.{f}" or name.startswith(f"ce_cli.{f}.") for f in folders)


def test_the_package_has_modules_in_every_folder_the_rules_name() -> None:
    modules = _modules()
    for folder in ("core", "io", "resolve", "state", "engine", "report", "judge", "render", "cli"):
        assert any(m.startswith(folder + "/") and m != folder + "/__init__.py" for m in modules)
    for place in ("io/remote.py", "engine/dask.py", "plot/__init__.py", *RICH_ELSEWHERE):
        assert place in modules, place


def test_core_imports_numpy_the_standard_library_and_core_only() -> None:
    def outside(name: str) -> bool:
        top = _top(name)
        if top == "ce_cli":
            return not (name == "ce_cli.core" or name.startswith("ce_cli.core."))
        return top != "numpy" and top not in sys.stdlib_module_names

    assert _breaks(("core/",), (), outside) == []


def test_typer_and_click_are_imported_in_cli_only() -> None:
    assert _breaks(None, ("cli/",), lambda n: _top(n) in {"typer", "click"}) == []


def test_rich_is_imported_in_cli_and_render_only() -> None:
    allowed = ("cli/", "render/", *RICH_ELSEWHERE)
    assert _breaks(None, allowed, lambda n: _top(n) == "rich") == []
    for relative in RICH_ELSEWHERE:  # an exception nobody needs any more is taken out
        assert any(_top(n) == "rich" for n in _imports(relative)), relative


def test_optional_extras_are_imported_only_where_they_are_used() -> None:
    for extra, places in OPTIONAL_EXTRAS.items():
        assert _breaks(None, places, lambda n, e=extra: _top(n) == e) == [], extra


def test_nothing_below_the_command_line_imports_it() -> None:
    assert _breaks(None, ("cli/", "__main__.py"), lambda n: _inside(n, ("cli",))) == []


def test_state_and_report_know_nothing_of_sources_drivers_or_renderers() -> None:
    outside = ("io", "resolve", "engine", "judge", "render", "plot", "cli")

    def upward(name: str) -> bool:
        return name in API_MODULES or _inside(name, outside)

    assert _breaks(("state/", "report/"), (), upward) == []


def test_renderers_take_the_finished_report() -> None:
    outside = ("engine", "resolve", "state", "judge", "cli")

    def computes(name: str) -> bool:
        if _inside(name, ("judge.verdicts",)):  # the words compare's verdicts take, no code
            return False
        return name in API_MODULES or _inside(name, outside)

    assert _breaks(("render/", "plot/"), (), computes) == []


@functools.cache
def _lines(relative: str) -> int:
    return len(_modules()[relative].read_text(encoding="utf-8").splitlines())


def test_no_module_is_over_the_line_limit() -> None:
    over = {m: _lines(m) for m in _modules() if _lines(m) > MAX_LINES}
    assert over == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import numpy as np", {"numpy"}),
        ("from rich.table import Table", {"rich.table", "rich.table.Table"}),
        ("def f():\n    import typer\n", {"typer"}),
        ("from . import gates", {"ce_cli.judge", "ce_cli.judge.gates"}),
        ("from ..core import losses", {"ce_cli.core", "ce_cli.core.losses"}),
    ],
)
def test_imports_are_found_also_inside_functions_and_relative(
    source: str, expected: set[str]
) -> None:
    assert imports_of(source, "ce_cli.judge.compare") == expected
