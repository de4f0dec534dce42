"""The report's per-class table, held as columns.

A vocabulary of 256,000 classes has 256,000 per-class rows. Built as Python dicts, one
``_ratio`` at a time, and encoded one ``json.dumps`` a row, they took seconds; here every column
is one NumPy expression over the accumulator's per-class sums, and the JSON writer formats a
column at a time (one C call of the encoder per column) and joins the rows with one format
string. The rows read as before: :class:`PerClassRows` is a sequence of row dicts (built when
asked for), and :meth:`PerClassRows.json_lines` writes exactly what ``json.dumps`` writes for
each of those dicts with non-finite numbers as ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]
Mask = NDArray[np.bool_]

KEYS = (
    "class",
    "support",
    "weight",
    "loss",
    "cross_entropy",
    "accuracy",
    "mean_confidence",
    "mean_true_prob",
    "predicted",
    "ece",
)
_NUMBERS = KEYS[2:]  # float columns (``None`` where masked)


class PerClassRows(Sequence[dict[str, Any]]):
    """Per-class rows as columns: class names, integer supports, and float columns each with a
    mask of the rows whose value is ``None`` (no denominator, or no ECE)."""

    __slots__ = ("_missing", "_names", "_numbers", "_support")

    def __init__(
        self,
        names: Sequence[str],
        support: NDArray[np.int64],
        numbers: dict[str, Float],
        missing: dict[str, Mask],
    ) -> None:
        self._names = list(names)
        self._support = support
        self._numbers = numbers
        self._missing = missing

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError("per-class row out of range")
        return self._row(index % n)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._row(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, compared by value

    def __repr__(self) -> str:
        return f"PerClassRows({len(self)} rows)"

    def _row(self, i: int) -> dict[str, Any]:
        row: dict[str, Any] = {"class": self._names[i], "support": int(self._support[i])}
        for key in _NUMBERS:
            row[key] = None if self._missing[key][i] else float(self._numbers[key][i])
        return row

    def json_lines(self) -> list[str]:
        """Each row as ``json.dumps`` writes it (non-finite numbers as ``null``, as the JSON
        report cleans them)."""
        # A NUL never appears raw in JSON (json.dumps escapes it), so it marks where rows start.
        return (",\n" + self.json_text("\x00")).split(",\n\x00")[1:] if self._names else []

    def json_text(self, pad: str) -> str:
        """Every row as ``json.dumps`` writes it, each after ``pad``, joined by ``",\n"``:
        formatted a column at a time and joined once (no call per row)."""
        n = len(self._names)
        if not n:
            return ""
        encode = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str
        values: list[list[str]] = [
            list(map(encode, self._names)),
            list(map(int.__repr__, self._support.tolist())),
        ]
        for key in _NUMBERS:
            values.append(_float_tokens(self._numbers[key], self._missing[key]))
        # Row i is pieces[i * k : (i + 1) * k]: a fixed text before each value, then "}".
        fixed = [f"{pad}{{" + json.dumps(KEYS[0]) + ": "]
        fixed += [", " + json.dumps(key) + ": " for key in KEYS[1:]]
        k = 2 * len(KEYS) + 1
        pieces: list[str] = [""] * (n * k)
        for j, (text, column) in enumerate(zip(fixed, values, strict=True)):
            pieces[2 * j :: k] = [text] * n
            pieces[2 * j + 1 :: k] = column
        pieces[k - 1 :: k] = ["},\n"] * n
        pieces[-1] = "}"
        return "".join(pieces)


def _float_tokens(values: Float, missing: Mask) -> list[str]:
    """Each float as ``json.dumps`` writes it (``float.__repr__``), ``null`` where missing or
    not finite. A column of whole numbers below 2^53 (weights and counts, mostly) is written
    through ``int`` (``12`` and ``".0"`` is ``repr(12.0)``; repr turns to exponents only from
    1e16), several times faster."""
    hidden = missing | ~np.isfinite(values)
    whole = ~hidden & (values == np.floor(values)) & (np.abs(values) < 2.0**53)
    whole &= ~((values == 0) & np.signbit(values))  # -0.0 is not the integer 0
    if whole.all():
        return [text + ".0" for text in map(int.__repr__, values.astype(np.int64).tolist())]
    tokens = list(map(float.__repr__, values.tolist()))
    for i in np.flatnonzero(hidden).tolist():
        tokens[i] = "null"
    return tokens


@np.errstate(all="ignore")  # an overflow is inf, as Python's float division gives
def per_class_rows(
    names: Sequence[str],
    *,
    rows: Float,
    weight: Float,
    loss: Float,
    loss_denominator: Float,
    cross_entropy: Float,
    correct: Float,
    confidence: Float,
    true_prob: Float,
    predicted: Float,
    denominator: Float,
    eces: Float | None,
    base_divisor: float,
) -> PerClassRows:
    """The per-class table from per-class sums: ``loss`` over ``loss_denominator``, and
    cross-entropy, accuracy, mean confidence and mean p(true) over ``denominator`` (each
    ``None`` where its denominator is not positive); the logs divided by ``base_divisor``;
    ``ece`` ``None`` where NaN or not given. The same floating-point operations, value for
    value, as dividing the sums one class at a time.
    """

    def ratio(numerator: Float, under: Float) -> tuple[Float, Mask]:
        usable = under > 0  # NaN is not
        out = np.zeros(numerator.shape, dtype=np.float64)
        np.divide(numerator, under, out=out, where=usable)
        return out, ~usable

    numbers: dict[str, Float] = {"weight": np.asarray(weight, dtype=np.float64)}
    missing: dict[str, Mask] = {"weight": np.zeros(len(names), dtype=bool)}
    numbers["loss"], missing["loss"] = ratio(loss, loss_denominator)
    numbers["loss"] /= base_divisor
    numbers["cross_entropy"], missing["cross_entropy"] = ratio(cross_entropy, denominator)
    numbers["cross_entropy"] /= base_divisor
    numbers["accuracy"], missing["accuracy"] = ratio(correct, denominator)
    numbers["mean_confidence"], missing["mean_confidence"] = ratio(confidence, denominator)
    numbers["mean_true_prob"], missing["mean_true_prob"] = ratio(true_prob, denominator)
    numbers["predicted"] = np.asarray(predicted, dtype=np.float64)
    missing["predicted"] = np.zeros(len(names), dtype=bool)
    if eces is None:
        numbers["ece"] = np.zeros(len(names))
        missing["ece"] = np.ones(len(names), dtype=bool)
    else:
        numbers["ece"] = np.asarray(eces, dtype=np.float64)
        missing["ece"] = np.isnan(numbers["ece"])
    support = np.asarray(rows).astype(np.int64)
    return PerClassRows(names, support, numbers, missing)
