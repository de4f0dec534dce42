"""Per-group slices (``--group-col``) and the K worst rows (``--top K``), both mergeable.

Groups each get their own :class:`~ce_cli.state.accumulator.Accumulator`; the worst rows are a
bounded selection (the K largest losses seen so far), so neither grows with the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.core.sample_values import SampleValues, take_rows
from ce_cli.errors import UsageError
from ce_cli.state.accumulator import Accumulator

MAX_GROUPS = 10_000


@dataclass
class GroupAccumulators:
    """One accumulator per distinct value of the group column."""

    task: str
    n_classes: int
    n_bins: int
    groups: dict[str, Accumulator] = field(default_factory=dict)

    def update(self, values: SampleValues, keys: pa.Array, weights: NDArray[Any] | None) -> None:
        # Keys encoded by pyarrow into integer codes (no NumPy sort of Python strings); each
        # group's rows, in input order, from one stable sort of the codes.
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.combine_chunks()
        encoded = keys.cast(pa.string()).fill_null("(missing)").dictionary_encode()
        names = encoded.dictionary.to_pylist()
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
        counts = np.bincount(codes, minlength=len(names))
        order = np.argsort(codes, kind="stable") if len(names) > 1 else None
        ends = np.cumsum(counts)
        for g in sorted(range(len(names)), key=lambda i: str(names[i])):
            if counts[g] == 0:
                continue
            name = str(names[g])
            rows = np.arange(len(codes)) if order is None else order[ends[g] - counts[g] : ends[g]]
            acc = self.groups.get(name)
            if acc is None:
                if len(self.groups) >= MAX_GROUPS:
                    raise UsageError(
                        f"--group-col has more than {MAX_GROUPS:,} distinct values",
                        hint="group by a column with fewer values",
                    )
                acc = self.groups[name] = Accumulator(
                    self.task, self.n_classes, self.n_bins, detail=False
                )
            if order is None:  # one group in this block: every row, in order, uncopied
                acc.update(values, weights)
            else:
                acc.update(take_rows(values, rows), None if weights is None else weights[rows])

    def absorb(self, other: GroupAccumulators) -> None:
        """Add ``other``'s groups into these (in place; ``other`` is left as it was)."""
        for name, theirs in other.groups.items():
            mine = self.groups.get(name)
            if mine is None:
                if len(self.groups) >= MAX_GROUPS:
                    raise UsageError(
                        f"--group-col has more than {MAX_GROUPS:,} distinct values",
                        hint="group by a column with fewer values",
                    )
                mine = self.groups[name] = Accumulator(
                    self.task, self.n_classes, self.n_bins, detail=False
                )
            mine.absorb(theirs)


@dataclass
class WorstRows:
    """The ``k`` rows with the largest loss (ties: the earlier row first)."""

    k: int
    loss: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    row: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    details: list[dict[str, Any]] = field(default_factory=list)

    def update(
        self,
        values: SampleValues,
        row_numbers: NDArray[np.int64],
        ids: pa.Array | None,
        classes: tuple[str, ...],
    ) -> None:
        if self.k == 0 or values.loss.shape[0] == 0:
            return
        n = values.loss.shape[0]
        pick = np.arange(n) if n <= self.k else _largest(values.loss, self.k)
        rows_new = []
        for i in pick:
            item: dict[str, Any] = {"row": int(row_numbers[i]), "loss": float(values.loss[i])}
            if ids is not None:
                item["id"] = ids[int(i)].as_py()
            if values.true_class is not None and values.label_q is None:
                item["label"] = classes[int(values.true_class[i])]
            if values.predicted is not None and values.label_q is None:
                item["predicted"] = classes[int(values.predicted[i])]
            if values.true_prob is not None:
                item["p_true"] = float(values.true_prob[i])
            rows_new.append(item)
        self._keep(rows_new)

    def _keep(self, rows: list[dict[str, Any]]) -> None:
        merged = self.details + rows
        merged.sort(key=lambda r: (-r["loss"], r["row"]))
        self.details = merged[: self.k]

    def absorb(self, other: WorstRows) -> None:
        """Keep the ``k`` worst of both (the same rows whatever the split of the input)."""
        self._keep([dict(r) for r in other.details])

    def to_list(self, base_divisor: float) -> list[dict[str, Any]]:
        return [{**r, "loss": r["loss"] / base_divisor} for r in self.details]


def _largest(loss: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    """The indices of the ``k`` largest losses, ties at the k-th taken earliest first (rows
    are in input order), so that the pick does not depend on where batches begin."""
    kth = np.partition(loss, loss.shape[0] - k)[loss.shape[0] - k]
    above = np.flatnonzero(loss > kth)
    tied = np.flatnonzero(loss == kth)[: k - above.shape[0]]
    return np.concatenate([above, tied])
