"""The paired sums of ``compare``: two models' per-row values on the same rows, in fixed size.

A collector that knows nothing of where the rows come from: :mod:`ce_cli.engine.paired` pairs the
rows and calls :meth:`PairedSums.update`; ``merge`` is addition, so any split of the rows, merged
in row order, gives the sums of one pass (to rounding).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ce_cli.state.bootstrap import CHUNK_VALUES, poisson_weights

Float = NDArray[np.float64]


@dataclass
class PairedSums:
    """Fixed-size paired sums: ``k`` metrics × ``replicates``, whatever the number of rows.

    Per metric ``m`` and row ``i`` (sample weight ``s_i``, share of the denominator ``d_mi``:
    ``w_{t_i}`` for a class-weighted loss with hard labels, else 1): ``weight = Σ s d``,
    ``sum_a = Σ s x_A``, ``sum_b = Σ s x_B``; per replicate ``r`` with the Poisson(1) weight
    ``b_ir`` of the row's input row number (A's), ``boot_weight = Σ b s d`` and
    ``boot_diff = Σ b s (x_A − x_B)``. ``merge`` is addition.
    """

    names: tuple[str, ...]
    replicates: int
    seed: int
    rows: int = 0
    weight: Float = field(init=False)
    sum_a: Float = field(init=False)
    sum_b: Float = field(init=False)
    boot_weight: Float = field(init=False)
    boot_diff: Float = field(init=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        self.weight, self.sum_a, self.sum_b = np.zeros(k), np.zeros(k), np.zeros(k)
        self.boot_weight = np.zeros((k, self.replicates))
        self.boot_diff = np.zeros((k, self.replicates))

    def update(self, a: Float, b: Float, d: Float, s: Float, rows: NDArray[np.int64]) -> None:
        """Add paired rows: ``a``, ``b``, ``d`` are (metrics × rows), ``s`` the sample weights,
        ``rows`` the 1-based input row numbers that draw the Poisson weights."""
        self.rows += len(rows)
        self.weight += d @ s
        self.sum_a += a @ s
        self.sum_b += b @ s
        step = max(1, CHUNK_VALUES // max(self.replicates, 1))  # bounded rows × replicates
        for i in range(0, len(rows), step):
            j = i + step
            w = poisson_weights(rows[i:j], self.replicates, self.seed) * s[i:j, None]
            self.boot_weight += d[:, i:j] @ w
            self.boot_diff += (a[:, i:j] - b[:, i:j]) @ w

    def absorb(self, other: PairedSums) -> None:
        """Add ``other``'s rows (which follow this one's) in place."""
        self.rows += other.rows
        self.weight += other.weight
        self.sum_a += other.sum_a
        self.sum_b += other.sum_b
        self.boot_weight += other.boot_weight
        self.boot_diff += other.boot_diff

    def merge(self, other: PairedSums) -> PairedSums:
        out = copy.deepcopy(self)
        out.absorb(other)
        return out

    def replicate_differences(self, name: str) -> Float:
        """The finite replicate means of ``A − B`` for one metric (nats where it is a log)."""
        k = self.names.index(name)
        with np.errstate(divide="ignore", invalid="ignore"):
            diffs = self.boot_diff[k] / self.boot_weight[k]
        return np.asarray(diffs[np.isfinite(diffs)])
