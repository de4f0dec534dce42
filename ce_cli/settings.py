"""What the user asked for: the choices (as Enums) and one frozen, validated :class:`Settings`.

Argument checks run here, once, before any data is read (the data checks run per batch in
:mod:`ce_cli.resolve.converter`). Both the command line and the Python API build a ``Settings``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from ce_cli.errors import UsageError


class Task(StrEnum):
    AUTO = "auto"
    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"


class Loss(StrEnum):
    CE = "ce"
    FOCAL = "focal"


LOG_BASES: dict[str, tuple[str, float]] = {
    "nats": ("nats", 1.0),
    "e": ("nats", 1.0),
    "bits": ("bits", math.log(2.0)),
    "2": ("bits", math.log(2.0)),
    "bans": ("bans", math.log(10.0)),
    "10": ("bans", math.log(10.0)),
}


# Upper limits on options that size memory (documented in the README and --help): a typo such
# as --bins 1000000000 is a one-line error, not an out-of-memory kill.
MAX_BINS = 10_000
MAX_BOOTSTRAP = 10_000
MAX_BINS_TIMES_REPLICATES = 5_000_000  # with --ci: 3 (bins × replicates) float64 matrices
MAX_TOP = 1_000_000


def parse_base(text: str) -> str:
    """Canonical log base: ``nats``, ``bits`` or ``bans`` (aliases ``e``, ``2``, ``10``)."""
    key = text.strip().lower()
    if key not in LOG_BASES:
        raise UsageError(
            "--base must be nats (e), bits (2) or bans (10)", value=text, hint="e.g. --base bits"
        )
    return LOG_BASES[key][0]


def parse_class_weights(text: str | None) -> tuple[float, ...] | str | None:
    """``None``, ``"balanced"``, or a tuple of non-negative weights from a comma list."""
    if text is None or text.strip() == "":
        return None
    if text.strip().lower() == "balanced":
        return "balanced"
    weights = []
    for part in text.split(","):
        try:
            weight = float(part)
        except ValueError:
            raise UsageError(
                "--class-weights takes a comma list of numbers or 'balanced'",
                value=part.strip(),
                hint="e.g. --class-weights 1,2.5,1",
            ) from None
        if not math.isfinite(weight) or weight < 0:
            raise UsageError(
                "--class-weights must be finite and >= 0", value=weight, hint="e.g. 1,2.5,1"
            )
        weights.append(weight)
    return tuple(weights)


def split_patterns(text: str | None) -> tuple[str, ...] | None:
    """A comma list of column names or globs, or ``None``."""
    if text is None:
        return None
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if not parts:
        raise UsageError("a column list is empty", value=text)
    return parts


@dataclass(frozen=True)
class Settings:
    """Every option that changes what is computed, validated on construction."""

    label_col: str | None = None
    prob_cols: tuple[str, ...] | None = None
    target_cols: tuple[str, ...] | None = None
    weight_col: str | None = None
    id_col: str | None = None
    logits: bool | None = None
    task: Task = Task.AUTO
    loss: Loss = Loss.CE
    gamma: float = 2.0
    alpha: float | None = None
    smoothing: float = 0.0
    class_weights: tuple[float, ...] | str | None = None
    base: str = "nats"
    bins: int = 15
    input_format: str | None = None
    classes: tuple[str, ...] | None = None
    ignore_label: str | None = None
    on_nan: str = "error"
    renormalize: bool = False
    labels_file: str | None = None
    group_col: str | None = None
    sequence_col: str | None = None
    top: int = 0
    ci: float | None = None
    bootstrap: int = 200
    seed: int = 0
    fit_temperature: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task(self.task))
        object.__setattr__(self, "loss", Loss(self.loss))
        object.__setattr__(self, "base", parse_base(self.base))
        if isinstance(self.class_weights, str):
            object.__setattr__(self, "class_weights", parse_class_weights(self.class_weights))
        elif self.class_weights is not None:
            object.__setattr__(
                self, "class_weights", parse_class_weights(",".join(map(str, self.class_weights)))
            )
        for name in ("prob_cols", "target_cols", "classes"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, split_patterns(value))
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise UsageError("--gamma must be a number >= 0", value=self.gamma, hint="e.g. 2")
        if self.alpha is not None and not (0.0 <= self.alpha <= 1.0):
            raise UsageError("--alpha must lie in [0, 1]", value=self.alpha, hint="e.g. 0.25")
        if not (0.0 <= self.smoothing < 1.0):
            raise UsageError(
                "--smoothing must lie in [0, 1)", value=self.smoothing, hint="e.g. 0.1"
            )
        if isinstance(self.bins, bool) or not isinstance(self.bins, int) or self.bins < 1:
            raise UsageError("--bins must be a whole number >= 1", value=self.bins)
        if self.bins > MAX_BINS:
            raise UsageError(
                f"--bins must be at most {MAX_BINS:,}", value=self.bins, hint="e.g. --bins 15"
            )
        if self.bootstrap > MAX_BOOTSTRAP:
            raise UsageError(
                f"--bootstrap must be at most {MAX_BOOTSTRAP:,} replicates",
                value=self.bootstrap,
                hint="1,000 to 10,000 replicates give stable 95 % intervals",
            )
        if self.ci is not None and self.bins * self.bootstrap > MAX_BINS_TIMES_REPLICATES:
            raise UsageError(
                f"--bins × --bootstrap must be at most {MAX_BINS_TIMES_REPLICATES:,} with --ci "
                "(each replicate keeps its own calibration bins)",
                value=f"{self.bins} × {self.bootstrap}",
                hint="use fewer bins or fewer replicates",
            )
        if isinstance(self.seed, bool) or not 0 <= self.seed < 2**64:
            raise UsageError(
                "--seed must be a whole number from 0 to 2^64 - 1", value=self.seed, hint="e.g. 0"
            )
        if self.top > MAX_TOP:
            raise UsageError(f"--top must be at most {MAX_TOP:,}", value=self.top)
        if self.ci is not None and not (0.0 < self.ci < 1.0):
            raise UsageError(
                "--ci must lie strictly between 0 and 1", value=self.ci, hint="e.g. --ci 0.95"
            )
        if self.bootstrap < 10:
            raise UsageError("--bootstrap needs at least 10 replicates", value=self.bootstrap)
        if self.top < 0:
            raise UsageError("--top must be >= 0", value=self.top)
        if self.on_nan not in ("error", "drop"):
            raise UsageError("--on-nan must be 'error' or 'drop'", value=self.on_nan)
        if self.ignore_label is not None:
            object.__setattr__(self, "ignore_label", str(self.ignore_label))
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise UsageError("--classes names a class twice", value=",".join(self.classes))
        if self.renormalize and self.logits:
            raise UsageError(
                "--renormalize divides probabilities by their row sum; it contradicts --logits",
                hint="leave out one of them",
            )
        if self.loss is not Loss.FOCAL and self.alpha is not None:
            raise UsageError("--alpha applies to --loss focal only", hint="add --loss focal")

    @property
    def base_divisor(self) -> float:
        """ln(base): divide a value in nats by this to express it in the chosen base."""
        return LOG_BASES[self.base][1]

    def describe(self) -> dict[str, Any]:
        """The settings as JSON-ready values (for the report)."""
        out = asdict(self)
        out["task"] = self.task.value
        out["loss"] = self.loss.value
        for key in ("prob_cols", "target_cols", "class_weights", "classes"):
            if isinstance(out[key], tuple):
                out[key] = list(out[key])
        return out
