"""Small, good input files for the command-line tests, one per task and layout.

Every fixture writes its file into ``tmp_path`` (from a seeded NumPy generator, so the data is
the same on every run) and returns the path. ``task_input`` runs a test once per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

N_ROWS = 200
CLASS_NAMES = ("cat", "dog", "bird")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.fixture
def binary_csv(tmp_path: Path, rng: np.random.Generator) -> Path:
    """``id,label,p_fraud``: one probability column, 0/1 labels."""
    labels = (rng.uniform(size=N_ROWS) < 0.3).astype(int)
    z = rng.normal(size=N_ROWS) + np.where(labels == 1, 1.2, -1.2)
    p = _sigmoid(1.5 * z)
    lines = ["id,label,p_fraud"]
    lines += [f"r{i:04d},{y},{float(q)!r}" for i, (y, q) in enumerate(zip(labels, p, strict=True))]
    path = tmp_path / "binary.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def multiclass_parquet(tmp_path: Path, rng: np.random.Generator) -> Path:
    """``id,label,p_cat,p_dog,p_bird,weight``: string labels that name the classes."""
    k = len(CLASS_NAMES)
    y = rng.integers(0, k, N_ROWS)
    z = rng.normal(size=(N_ROWS, k))
    z[np.arange(N_ROWS), y] += 1.5
    p = _softmax(z)
    table = pa.table(
        {
            "id": [f"m{i:04d}" for i in range(N_ROWS)],
            "label": [CLASS_NAMES[i] for i in y],
            **{f"p_{name}": p[:, j] for j, name in enumerate(CLASS_NAMES)},
            "weight": rng.uniform(0.5, 2.0, N_ROWS),
        }
    )
    path = tmp_path / "multiclass.parquet"
    pq.write_table(table, path)
    return path


@pytest.fixture
def logits_csv(tmp_path: Path, rng: np.random.Generator) -> Path:
    """``id,label,logit_0..logit_3``: integer labels, unnormalised scores."""
    k = 4
    y = rng.integers(0, k, N_ROWS)
    z = rng.normal(scale=2.0, size=(N_ROWS, k))
    z[np.arange(N_ROWS), y] += 2.0
    lines = ["id,label," + ",".join(f"logit_{j}" for j in range(k))]
    for i in range(N_ROWS):
        lines.append(f"l{i:04d},{y[i]}," + ",".join(repr(float(v)) for v in z[i]))
    path = tmp_path / "logits.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def multilabel_parquet(tmp_path: Path, rng: np.random.Generator) -> Path:
    """``id,logit_a..logit_d,y_a..y_d``: independent labels, sigmoid logits, multi-hot targets."""
    names = "abcd"
    y = (rng.uniform(size=(N_ROWS, len(names))) < 0.4).astype(np.int64)
    z = rng.normal(size=y.shape) + np.where(y == 1, 1.0, -1.0)
    table = pa.table(
        {
            "id": [f"t{i:04d}" for i in range(N_ROWS)],
            **{f"logit_{c}": z[:, j] for j, c in enumerate(names)},
            **{f"y_{c}": y[:, j] for j, c in enumerate(names)},
        }
    )
    path = tmp_path / "multilabel.parquet"
    pq.write_table(table, path)
    return path


@pytest.fixture
def soft_parquet(tmp_path: Path, rng: np.random.Generator) -> Path:
    """``p_x,p_y,p_z,t_x,t_y,t_z``: predicted and target distributions."""
    names = "xyz"
    p = rng.dirichlet([2.0, 2.0, 2.0], N_ROWS)
    t = rng.dirichlet([1.0, 1.0, 1.0], N_ROWS)
    table = pa.table(
        {
            **{f"p_{c}": p[:, j] for j, c in enumerate(names)},
            **{f"t_{c}": t[:, j] for j, c in enumerate(names)},
        }
    )
    path = tmp_path / "soft.parquet"
    pq.write_table(table, path)
    return path


@pytest.fixture
def list_parquet(tmp_path: Path, rng: np.random.Generator) -> Path:
    """``probs`` (fixed_size_list<float32>[4]) and an integer ``label``."""
    k = 4
    y = rng.integers(0, k, N_ROWS)
    p = rng.dirichlet([1.0] * k, N_ROWS).astype(np.float32)
    probs = pa.FixedSizeListArray.from_arrays(pa.array(p.reshape(-1), pa.float32()), k)
    table = pa.table({"probs": probs, "label": pa.array(y, pa.int64())})
    path = tmp_path / "list.parquet"
    pq.write_table(table, path)
    return path


@dataclass(frozen=True)
class TaskInput:
    """A good input for one task, with the options the task needs and what the report says."""

    name: str
    path: Path
    args: list[str] = field(default_factory=list)
    task: str = "multiclass"
    n_classes: int = 2


TASKS = ("binary", "multiclass", "logits", "multilabel", "soft", "list")


@pytest.fixture(params=TASKS)
def task_input(request: pytest.FixtureRequest) -> TaskInput:
    """Each task's good input in turn (a test using this runs once per task)."""
    name = request.param
    if name == "binary":
        path = request.getfixturevalue("binary_csv")
        return TaskInput(name, path, [], "binary", 2)
    if name == "multiclass":
        path = request.getfixturevalue("multiclass_parquet")
        return TaskInput(name, path, [], "multiclass", 3)
    if name == "logits":
        return TaskInput(name, request.getfixturevalue("logits_csv"), [], "multiclass", 4)
    if name == "multilabel":
        path = request.getfixturevalue("multilabel_parquet")
        return TaskInput(
            name, path, ["--target-cols", "y_*", "--task", "multilabel"], "multilabel", 4
        )
    if name == "soft":
        path = request.getfixturevalue("soft_parquet")
        return TaskInput(name, path, ["--target-cols", "t_*"], "multiclass", 3)
    path = request.getfixturevalue("list_parquet")
    return TaskInput(name, path, [], "multiclass", 4)
