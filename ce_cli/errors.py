"""The errors ce-eval raises: one type per kind of problem, each a value a user can act on.

Every error carries where it happened (file, column, 1-based data row, offending value) and what to
do about it; ``str(error)`` is the single line the command prints. The command maps
:class:`CeEvalError` subclasses to exit code 2 and anything else to exit code 3 (internal error).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ce_cli.printable import printable

_MAX_VALUE_CHARS = 60


def _short(value: Any) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"did you mean 'label'? "`` for the closest of ``choices`` (case first, then spelling),
    or ``""``.

    >>> did_you_mean("Label", ["id", "label"]), did_you_mean("xyz", ["label"])
    ("did you mean 'label'? ", '')
    """
    import difflib

    options = [str(c) for c in choices]
    folded = [c for c in options if c.lower() == name.lower()]
    close = folded or difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not close:
        by_lower = {c.lower(): c for c in options}
        close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), 1)]
    return f"did you mean '{close[0]}'? " if close else ""


class CeEvalError(Exception):
    """Base of every error caused by the user's options or data (exit code 2)."""

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        value: Any = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.row = row
        self.value = value
        self.hint = hint

    def with_file(self, file: str) -> CeEvalError:
        """Attach the input's name when the raiser did not know it."""
        if self.file is None:
            self.file = file
        return self

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        text = ", ".join(where)
        text = f"{text}: {self.message}" if text else self.message
        if self.value is not None:
            text += f" (got {_short(self.value)})"
        if self.hint:
            text += f"; {self.hint}"
        # Control characters (from file, column and cell text) would break the promise of one
        # line on stderr, or drive the terminal; they are shown escaped.
        return printable(text)


class UsageError(CeEvalError):
    """An option has a value outside its domain, or options contradict each other."""


class InputFormatError(CeEvalError):
    """The input cannot be read: unknown format, corrupt or truncated file, ragged rows."""


class EmptyInputError(CeEvalError):
    """The input has no data rows."""


class MissingColumnError(CeEvalError):
    """A column the options name, or the layout needs, is not in the input."""


class NonNumericError(CeEvalError):
    """A prediction, target or weight column holds something that is not a number."""


class NonFiniteError(CeEvalError):
    """A value is NaN or infinite."""


class ProbabilityRangeError(CeEvalError):
    """A probability (or target) lies outside [0, 1]."""


class RowSumError(CeEvalError):
    """A row of class probabilities (or soft targets) does not sum to 1."""


class LabelError(CeEvalError):
    """A label is not one of the classes (out of range, unknown name, or not an integer)."""


class AmbiguousPredictionsError(CeEvalError):
    """The prediction columns could be logits or probabilities; the user must say which."""


class WeightError(CeEvalError):
    """A sample or class weight is negative, or all weights are zero."""


class OutputError(CeEvalError):
    """An output path cannot be written: a directory, a missing directory, or refused."""


class CeEvalWarning(UserWarning):
    """A flag that contradicts the data (``--logits`` on rows that look like probabilities):
    the run goes on, and the command prints one ``ce-eval: warning:`` line."""


class PipeClosed(Exception):  # noqa: N818 - not an error: the reader has what it wanted
    """The reader of standard output closed the pipe (``| head -1``); the command ends quietly.

    Not an ``OSError``: click turns a ``BrokenPipeError`` into exit code 1, which a CI gate
    reads as a failed gate."""


class InternalError(CeEvalError):
    """A bug in ce-eval, not in the user's data (exit code 3)."""

    exit_code = 3
