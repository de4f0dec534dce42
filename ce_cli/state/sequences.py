"""Per-sequence perplexity (``--sequence-col``): the distribution over a token export's documents.

A token export has one row per token and a column naming the sequence (document) each token
belongs to; the rows of one sequence are contiguous. For a sequence ``s`` with evaluated tokens
``i`` (rows left out by ``--ignore-label`` or ``--on-nan drop`` do not count) and sample weights
``w_i`` (1 without ``--weight-col``)::

    CE_s  = Σ_i w_i CE_i / Σ_i w_i          (mean token cross-entropy, nats)
    PPL_s = exp(CE_s)                        (the sequence's perplexity, whatever --base)

and over the ``S`` sequences that have evaluated tokens (``W_s = Σ_i w_i``, the token weight)::

    mean                = Σ_s PPL_s / S                      (each sequence counts once)
    token_weighted_mean = Σ_s W_s PPL_s / Σ_s W_s            (each token counts once)
    mean_cross_entropy  = Σ_s CE_s / S                       (in the report's base)

The report's corpus ``perplexity`` is ``exp(Σ_s W_s CE_s / Σ_s W_s)``, the token-weighted
*geometric* mean of the ``PPL_s``, so it never exceeds ``token_weighted_mean``.

State is mergeable and bounded but for one thing: ``p50``/``p90``/``p99`` come from a histogram
of ``CE_s`` in bins of :data:`BIN_NATS` nats (so ``PPL_s`` to within ±0.2 %; ``min`` and
``max`` exact), and the ``k`` worst sequences are a bounded selection; only the set of sequence
ids already seen grows with the number of sequences (not of tokens), to catch a sequence that
reappears after another began (an input error naming the row). A part of the stream is a
:class:`SequenceStats` whose first and last sequences may continue across its edges;
``merge(A, B)`` joins A's last sequence to B's first when their ids are equal, so any split of
the rows (batches, tasks, processes) gives the numbers of one pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.errors import InputFormatError, UsageError

BIN_NATS = 1.0 / 256.0
MAX_BIN_NATS = 64.0
N_BINS = int(MAX_BIN_NATS / BIN_NATS) + 1  # the last bin holds everything above MAX_BIN_NATS
DEFAULT_WORST = 10


@dataclass(frozen=True)
class Sequence:
    """One sequence's sums (possibly a part of it, where it crosses a part's edge)."""

    id: Any
    first_row: int  # 1-based input rows
    last_row: int
    rows: int  # input rows, left-out rows included
    tokens: int  # evaluated rows
    weight: float  # Σ w_i
    ce: float  # Σ w_i CE_i, nats

    def joined(self, other: Sequence) -> Sequence:
        return replace(
            self,
            last_row=other.last_row,
            rows=self.rows + other.rows,
            tokens=self.tokens + other.tokens,
            weight=self.weight + other.weight,
            ce=self.ce + other.ce,
        )

    @property
    def cross_entropy(self) -> float:
        """Mean token cross-entropy in nats (NaN without token weight)."""
        return self.ce / self.weight if self.weight > 0 else math.nan

    @property
    def perplexity(self) -> float:
        return _exp(self.cross_entropy)


def _exp(ce: float) -> float:
    """``exp(ce)``, infinite past float64's range (a sequence's CE above 709 nats)."""
    if math.isnan(ce):
        return math.nan
    return math.exp(ce) if ce < 709.0 else math.inf


def _worst_key(s: Sequence) -> tuple[float, int]:
    return (-s.cross_entropy, s.first_row)


@dataclass
class Summary:
    """Fixed-size sums over complete sequences."""

    k: int = DEFAULT_WORST
    n: int = 0
    without_tokens: int = 0
    ppl_sum: float = 0.0
    ppl_weighted_sum: float = 0.0
    weight: float = 0.0
    ce_sum: float = 0.0
    ce_min: float = math.inf
    ce_max: float = -math.inf
    histogram: NDArray[np.int64] = field(default_factory=lambda: np.zeros(N_BINS, np.int64))
    worst: list[Sequence] = field(default_factory=list)

    def add(self, s: Sequence) -> None:
        if not s.weight > 0:
            self.without_tokens += 1
            return
        ce = s.cross_entropy
        ppl = s.perplexity
        self.n += 1
        self.ppl_sum += ppl
        self.ppl_weighted_sum += s.weight * ppl
        self.weight += s.weight
        self.ce_sum += ce
        self.ce_min = min(self.ce_min, ce)
        self.ce_max = max(self.ce_max, ce)
        self.histogram[_bin(ce)] += 1
        if self.k:
            self.worst.append(s)
            if len(self.worst) > 4 * self.k:
                self._trim()

    def _trim(self) -> None:
        self.worst.sort(key=_worst_key)
        del self.worst[self.k :]

    def absorb(self, other: Summary) -> None:
        self.n += other.n
        self.without_tokens += other.without_tokens
        self.ppl_sum += other.ppl_sum
        self.ppl_weighted_sum += other.ppl_weighted_sum
        self.weight += other.weight
        self.ce_sum += other.ce_sum
        self.ce_min = min(self.ce_min, other.ce_min)
        self.ce_max = max(self.ce_max, other.ce_max)
        self.histogram += other.histogram
        self.worst.extend(other.worst)
        self._trim()

    def quantile(self, fraction: float) -> float:
        """The sequence perplexity below which ``fraction`` of the sequences lie."""
        if self.n == 0:
            return math.nan
        cumulative = np.cumsum(self.histogram)
        index = int(np.searchsorted(cumulative, fraction * self.n, side="left"))
        middle = (min(index, N_BINS - 2) + 0.5) * BIN_NATS
        return _exp(min(max(middle, self.ce_min), self.ce_max))


def _bin(ce: float) -> int:
    return min(int(max(ce, 0.0) / BIN_NATS), N_BINS - 1)


@dataclass
class SequenceStats:
    """The sequences of a contiguous part of the input; see the module's docstring.

    ``first`` and ``last`` are the part's edge sequences (the same when the part holds one
    sequence), which may continue in the parts before and after; ``closed`` are the complete
    sequences between them, in input order, not yet summed into ``summary``.
    """

    k: int = DEFAULT_WORST
    first: Sequence | None = None
    last: Sequence | None = None
    closed: list[Sequence] = field(default_factory=list)
    summary: Summary = field(init=False)
    seen: dict[Any, int] = field(default_factory=dict)  # id -> its first row
    on_close: Callable[[Sequence], None] | None = None
    # False where the part begins the input: its first sequence is then complete as soon as
    # another follows, and is closed (and handed to ``on_close``) in input order.
    open_left: bool = True

    def __post_init__(self) -> None:
        self.summary = Summary(self.k)

    def _close(self, s: Sequence) -> None:
        self.summary.add(s)
        if self.on_close is not None:
            self.on_close(s)

    def absorb(self, other: SequenceStats, column: str | None = None) -> None:
        """Append ``other``, the part that follows this one in the input, in place.

        Raises :class:`~ce_cli.errors.InputFormatError` naming the row where a sequence that
        ended before reappears.
        """
        if other.first is None:
            self.summary.absorb(other.summary)
            return
        assert other.last is not None
        to_close: list[Sequence] = []
        if self.first is None:
            first, last = other.first, other.last
        else:
            assert self.last is not None
            joined = self.last.id == other.first.id
            self._check_repeats(other, joined, column)
            one_self = self.first is self.last
            one_other = other.first is other.last
            first, last = self.first, other.last
            if joined:
                middle = self.last.joined(other.first)
                first = middle if one_self else first
                last = middle if one_other else last
                if not one_self and not one_other:
                    to_close.append(middle)
            else:
                if not one_self:
                    to_close.append(self.last)
                if not one_other:
                    to_close.append(other.first)
        if not self.open_left and first is not last:
            to_close.insert(0, first)  # nothing precedes it: complete, and first in order
            first = last
        for s in [*to_close, *other.closed]:
            self._close(s)
        self.summary.absorb(other.summary)
        self.first, self.last = first, last
        for key, row in other.seen.items():
            self.seen.setdefault(key, row)  # a joined sequence keeps its first row

    def _check_repeats(self, other: SequenceStats, joined: bool, column: str | None) -> None:
        assert other.first is not None
        repeated = [
            (row, key)
            for key, row in other.seen.items()
            if key in self.seen and not (joined and key == other.first.id)
        ]
        if repeated:
            row, key = min(repeated, key=lambda item: item[0])
            raise InputFormatError(
                "a sequence reappears after another one began (its rows must be contiguous)",
                column=column,
                row=row,
                value=key,
                hint=f"its earlier rows start at row {self.seen[key]}; sort the rows by "
                "sequence, keeping each sequence's token order",
            )

    def finish(self) -> Summary:
        """Close the edge sequences (the input has ended) and return the summary."""
        if self.first is not None:
            assert self.last is not None
            self._close(self.first)
            if self.last is not self.first:
                self._close(self.last)
            self.first = self.last = None
        return self.summary


class BatchSequences:
    """The sequences of one record batch: its runs of equal ids, then the evaluated rows'
    cross-entropy summed per run (:meth:`add`, any number of times), then :meth:`part`."""

    def __init__(self, ids: pa.Array, first_row: int, column: str | None = None) -> None:
        import pyarrow.compute as pc  # ~25 ms to import: only where used

        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if pa.types.is_dictionary(ids.type):
            ids = ids.cast(ids.type.value_type)
        if not (
            pa.types.is_integer(ids.type)
            or pa.types.is_string(ids.type)
            or pa.types.is_large_string(ids.type)
        ):
            raise UsageError(
                f"--sequence-col holds {ids.type}; sequence ids are integers or text",
                column=column,
            )
        if ids.null_count:
            valid = np.asarray(ids.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            raise InputFormatError(
                "missing sequence id",
                column=column,
                row=first_row + int(np.argmin(valid)),
                hint="every token row needs the id of its sequence",
            )
        n = len(ids)
        self.first_row = first_row
        self.column = column
        if n > 1:
            changed = pc.not_equal(ids.slice(1), ids.slice(0, n - 1))
            starts = np.flatnonzero(np.asarray(changed.to_numpy(zero_copy_only=False))) + 1
        else:
            starts = np.empty(0, dtype=np.int64)
        self.starts = np.concatenate([[0], starts]).astype(np.int64) if n else starts
        self.ends = np.append(self.starts[1:], n).astype(np.int64)
        self.ids = ids.take(pa.array(self.starts)).to_pylist() if n else []
        runs = len(self.starts)
        self.tokens = np.zeros(runs, dtype=np.int64)
        self.weight = np.zeros(runs, dtype=np.float64)
        self.ce = np.zeros(runs, dtype=np.float64)

    def add(
        self,
        positions: NDArray[np.int64],
        cross_entropy: NDArray[np.float64],
        weights: NDArray[np.float64] | None = None,
    ) -> None:
        """Rows at 0-based ``positions`` of the batch, with their cross-entropy (nats)."""
        if len(positions) == 0:
            return
        run = np.searchsorted(self.starts, positions, side="right") - 1
        runs = len(self.starts)
        self.tokens += np.bincount(run, minlength=runs)
        if weights is None:
            self.weight += np.bincount(run, minlength=runs)
            self.ce += np.bincount(run, weights=cross_entropy, minlength=runs)
        else:
            self.weight += np.bincount(run, weights=weights, minlength=runs)
            self.ce += np.bincount(run, weights=weights * cross_entropy, minlength=runs)

    def part(self, k: int = DEFAULT_WORST) -> SequenceStats:
        """The batch as a :class:`SequenceStats` (raises where an id repeats within it)."""
        stats = SequenceStats(k)
        sequences = []
        for r, key in enumerate(self.ids):
            first = self.first_row + int(self.starts[r])
            if key in stats.seen:
                raise InputFormatError(
                    "a sequence reappears after another one began (its rows must be contiguous)",
                    column=self.column,
                    row=first,
                    value=key,
                    hint=f"its earlier rows start at row {stats.seen[key]}; sort the rows by "
                    "sequence, keeping each sequence's token order",
                )
            stats.seen[key] = first
            sequences.append(
                Sequence(
                    id=key,
                    first_row=first,
                    last_row=self.first_row + int(self.ends[r]) - 1,
                    rows=int(self.ends[r] - self.starts[r]),
                    tokens=int(self.tokens[r]),
                    weight=float(self.weight[r]),
                    ce=float(self.ce[r]),
                )
            )
        if sequences:
            stats.first, stats.last = sequences[0], sequences[-1]
            stats.closed = sequences[1:-1]
        return stats


def _json_id(key: Any) -> Any:
    return key if isinstance(key, int | str) else str(key)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def report_section(summary: Summary, column: str, base_divisor: float) -> dict[str, Any]:
    """The report's ``sequences`` section (cross-entropy in the report's base)."""
    n = summary.n
    worst = sorted(summary.worst, key=_worst_key)[: summary.k]
    return {
        "column": column,
        "n_sequences": n,
        "without_tokens": summary.without_tokens,
        "perplexity": {
            "mean": _finite(summary.ppl_sum / n) if n else None,
            "token_weighted_mean": _finite(summary.ppl_weighted_sum / summary.weight)
            if n
            else None,
            "p50": _finite(summary.quantile(0.5)),
            "p90": _finite(summary.quantile(0.9)),
            "p99": _finite(summary.quantile(0.99)),
            "min": _finite(_exp(summary.ce_min)) if n else None,
            "max": _finite(_exp(summary.ce_max)) if n else None,
        },
        "mean_cross_entropy": summary.ce_sum / n / base_divisor if n else None,
        "worst": [sequence_record(s, base_divisor) for s in worst],
    }


def sequence_record(s: Sequence, base_divisor: float) -> dict[str, Any]:
    """One sequence as a row of the report's ``worst`` list and of ``--per-sequence``."""
    ce = s.cross_entropy
    return {
        "sequence": _json_id(s.id),
        "first_row": s.first_row,
        "last_row": s.last_row,
        "rows": s.rows,
        "tokens": s.tokens,
        "weight": s.weight,
        "cross_entropy": None if math.isnan(ce) else ce / base_divisor,
        "perplexity": None if math.isnan(ce) else _finite(s.perplexity),
    }
