"""Make the sample files in this folder: one small, realistic file per task and layout.

The model behind every file is decent but overconfident (its logits are the true class's
signal plus noise, scaled by a temperature above 1), and the classes are imbalanced where that
is natural, so every number in the report — calibration included — has something to say.
Deterministic: running it twice gives byte-identical files.

    python sample_data/make_samples.py
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent
SEED = 20261123


def softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def overconfident_logits(
    rng: np.random.Generator, labels: NDArray[np.int64], n_classes: int, signal: float
) -> NDArray[np.float64]:
    z = rng.normal(size=(labels.size, n_classes))
    z[np.arange(labels.size), labels] += signal
    return z * 1.8  # temperature below 1 on the way out: overconfident


def write_parquet(table: pa.Table, name: str) -> None:
    pq.write_table(table, HERE / name, compression="zstd")


def binary(rng: np.random.Generator) -> None:
    n = 2000
    labels = (rng.uniform(size=n) < 0.15).astype(np.int64)
    z = rng.normal(size=n) + np.where(labels == 1, 1.6, -1.6) - 1.0
    p = 1.0 / (1.0 + np.exp(-1.6 * z))
    table = pa.table(
        {"id": [f"tx-{i:06d}" for i in range(1, n + 1)], "label": labels, "p_fraud": p}
    )
    pcsv.write_csv(table, HERE / "binary.csv")
    data = (HERE / "binary.csv").read_bytes()
    (HERE / "binary.csv.gz").write_bytes(gzip.compress(data, mtime=0))


def multiclass(rng: np.random.Generator) -> pa.Table:
    classes = ["cat", "dog", "bird", "fish", "horse"]
    n = 3000
    labels = rng.choice(len(classes), size=n, p=[0.35, 0.30, 0.15, 0.12, 0.08])
    probs = softmax(overconfident_logits(rng, labels, len(classes), signal=1.4))
    table = pa.table(
        {
            "id": [f"img-{i:05d}" for i in range(1, n + 1)],
            "label": np.array(classes)[labels],
            **{f"p_{c}": probs[:, j] for j, c in enumerate(classes)},
            "weight": rng.gamma(4.0, 0.25, size=n),
        }
    )
    write_parquet(table, "multiclass.parquet")
    tsv = table.select(["label", *(f"p_{c}" for c in classes)]).slice(0, 500)
    pcsv.write_csv(tsv, HERE / "multiclass.tsv", pcsv.WriteOptions(delimiter="\t"))
    return table


def multiclass_logits(rng: np.random.Generator) -> None:
    n, k = 1500, 10
    labels = rng.integers(0, k, n)
    z = overconfident_logits(rng, labels, k, signal=2.0)
    z[::50] *= 12.0  # a few rows with very large logits exercise the stable log-softmax
    table = pa.table({"label": labels, **{f"logit_{j}": z[:, j] for j in range(k)}})
    pcsv.write_csv(table, HERE / "multiclass_logits.csv")


def multilabel(rng: np.random.Generator) -> None:
    genres = ["action", "comedy", "drama", "horror"]
    n = 1500
    prevalence = np.array([0.35, 0.4, 0.5, 0.15])
    y = (rng.uniform(size=(n, len(genres))) < prevalence).astype(np.int8)
    z = (rng.normal(size=y.shape) + np.where(y == 1, 1.3, -1.3)) * 1.5
    table = pa.table(
        {
            "id": [f"movie-{i:05d}" for i in range(1, n + 1)],
            **{f"logit_{g}": z[:, j].astype(np.float32) for j, g in enumerate(genres)},
            **{f"y_{g}": y[:, j] for j, g in enumerate(genres)},
        }
    )
    write_parquet(table, "multilabel.parquet")


def soft_labels(rng: np.random.Generator) -> None:
    names = ["neg", "neu", "pos"]
    n = 1000
    truth = rng.dirichlet([2.0, 1.0, 2.0], size=n)
    votes = np.stack([rng.multinomial(5, row) for row in truth])
    targets = votes / 5.0
    logits = np.log(truth + 0.05) * 1.5 + rng.normal(scale=0.4, size=truth.shape)
    probs = softmax(logits)
    table = pa.table(
        {
            **{f"p_{c}": probs[:, j] for j, c in enumerate(names)},
            **{f"t_{c}": targets[:, j] for j, c in enumerate(names)},
        }
    )
    write_parquet(table, "soft_labels.parquet")


def list_column(rng: np.random.Generator) -> None:
    n, k = 2000, 10
    labels = rng.integers(0, k, n)
    probs = softmax(overconfident_logits(rng, labels, k, signal=1.8)).astype(np.float32)
    probs = (probs / probs.sum(axis=1, keepdims=True, dtype=np.float64)).astype(np.float32)
    values = pa.array(probs.reshape(-1), type=pa.float32())
    table = pa.table({"label": labels, "probs": pa.FixedSizeListArray.from_arrays(values, k)})
    write_parquet(table, "list_column.parquet")


def tokens(rng: np.random.Generator) -> None:
    """A language model's token export: one row per token, ``doc`` (contiguous), the next
    token's id as ``label`` (``-100`` where there is none: each document's last token), and
    the float32 logits over a 32-token vocabulary in one list column. Documents differ in how
    predictable they are, so their perplexities spread out."""
    vocab = 32
    lengths = rng.integers(30, 121, 12)
    signals = rng.uniform(0.6, 3.0, 12)
    signals[7] = 0.2  # one document the model finds hard
    docs, labels, logits = [], [], []
    for d, (length, signal) in enumerate(zip(lengths, signals, strict=True)):
        label = rng.integers(0, vocab, length)
        z = rng.normal(size=(length, vocab))
        z[np.arange(length), label] += signal
        label[-1] = -100
        docs += [f"doc-{d:02d}"] * int(length)
        labels.append(label)
        logits.append((z * 1.5).astype(np.float32))
    values = pa.array(np.concatenate(logits).reshape(-1), type=pa.float32())
    n = int(lengths.sum())
    offsets = pa.array(np.arange(0, (n + 1) * vocab, vocab, dtype=np.int32))
    table = pa.table(
        {
            "doc": docs,
            "label": np.concatenate(labels),
            "logits": pa.ListArray.from_arrays(offsets, values),
        }
    )
    write_parquet(table, "tokens.parquet")


def main() -> None:
    rng = np.random.default_rng(SEED)
    binary(rng)
    multiclass(rng)
    multiclass_logits(rng)
    multilabel(rng)
    soft_labels(rng)
    list_column(rng)
    tokens(rng)
    for path in sorted(HERE.iterdir()):
        if path.suffix != ".py" and path.name != "README.md":
            print(f"{path.name:<26} {path.stat().st_size / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
