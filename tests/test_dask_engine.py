"""The Dask engine gives the local engine's report, on a LocalCluster of two worker processes.

One cluster serves the module (starting one costs seconds). Inputs are small and partitioned
finely (a few hundred rows a partition), so every pass crosses several partitions and workers.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

distributed = pytest.importorskip("distributed")

import ce_cli  # noqa: E402
from ce_cli.cli.main import main  # noqa: E402
from ce_cli.engine.batch import fold_batch  # noqa: E402
from ce_cli.engine.dask import DaskDriver  # noqa: E402
from ce_cli.engine.plan import Plan  # noqa: E402
from ce_cli.engine.run import finish  # noqa: E402
from ce_cli.engine.state import State  # noqa: E402
from ce_cli.errors import CeEvalError  # noqa: E402
from ce_cli.io.readers import open_source  # noqa: E402
from ce_cli.settings import Settings  # noqa: E402


def _load_helper() -> Any:
    path = Path(__file__).with_name("reports_close.py")
    spec = importlib.util.spec_from_file_location("reports_close", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.assert_reports_close


assert_reports_close = _load_helper()
N_FILES, ROWS_PER_FILE, ROW_GROUP = 3, 700, 250
PARTITION_ROWS = 300  # two row groups of 250 would be 500: one row group a partition


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: the scheduler always serves HTTP
        silence_logs=50,
    ) as local:
        yield local


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Datasets of three Parquet files (row groups of 250 rows) per task, and a CSV file."""
    root = tmp_path_factory.mktemp("dask-data")
    rng = np.random.default_rng(16)
    n = N_FILES * ROWS_PER_FILE
    weight = rng.uniform(0.2, 3.0, n)
    group = rng.choice(["north", "south", "east"], n)
    ids = [f"r{i:05d}" for i in range(n)]
    y = rng.integers(0, 4, n)
    z = rng.normal(size=(n, 4)) * 2
    z[np.arange(n), y] += 1.0
    tables = {
        "multiclass": pa.table(
            {
                "id": ids,
                "label": y,
                **{f"z_{j}": z[:, j] for j in range(4)},
                "w": weight,
                "g": group,
            }
        ),
    }
    q = rng.uniform(0.01, 0.99, (n, 3))
    t = (rng.uniform(size=(n, 3)) < q).astype(float)
    tables["multilabel"] = pa.table(
        {
            **{f"p_{j}": q[:, j] for j in range(3)},
            **{f"y_{j}": t[:, j] for j in range(3)},
            "w": weight,
            "g": group,
        }
    )
    soft = rng.dirichlet(np.ones(3), n)
    p = rng.dirichlet(np.ones(3), n)
    tables["soft"] = pa.table(
        {
            **{f"p_{j}": p[:, j] for j in range(3)},
            **{f"t_{j}": soft[:, j] for j in range(3)},
            "w": weight,
        }
    )
    for name, table in tables.items():
        folder = root / name
        folder.mkdir()
        for f in range(N_FILES):
            part = table.slice(f * ROWS_PER_FILE, ROWS_PER_FILE)
            pq.write_table(part, folder / f"part-{f}.parquet", row_group_size=ROW_GROUP)
    label = (rng.uniform(size=n) < 0.4).astype(int)
    prob = np.clip(rng.beta(2, 3, n) + 0.3 * label, 0.001, 0.999)
    lines = ["id,label,p,w"]
    lines += [f"{ids[i]},{label[i]},{prob[i]:.17g},{weight[i]:.17g}" for i in range(n)]
    (root / "binary.csv").write_text("\n".join(lines) + "\n")
    return root


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "multiclass logits, weights, groups, intervals, worst rows, balanced class weights": (
        "multiclass",
        {
            "label_col": "label",
            "prob_cols": "z_*",
            "logits": True,
            "weight_col": "w",
            "group_col": "g",
            "id_col": "id",
            "ci": 0.9,
            "bootstrap": 50,
            "top": 5,
            "class_weights": "balanced",
        },
    ),
    "multiclass focal with smoothing and a temperature fit": (
        "multiclass",
        {
            "label_col": "label",
            "prob_cols": "z_*",
            "logits": True,
            "loss": "focal",
            "gamma": 1.5,
            "smoothing": 0.1,
            "fit_temperature": True,
        },
    ),
    "multilabel with weights, groups and intervals": (
        "multilabel",
        {
            "task": "multilabel",
            "prob_cols": "p_*",
            "target_cols": "y_*",
            "weight_col": "w",
            "group_col": "g",
            "ci": 0.95,
            "bootstrap": 30,
            "top": 3,
        },
    ),
    "soft targets": (
        "soft",
        {"prob_cols": "p_*", "target_cols": "t_*", "weight_col": "w", "top": 4},
    ),
    "binary CSV, focal with alpha, intervals": (
        "binary.csv",
        {
            "label_col": "label",
            "prob_cols": "p",
            "weight_col": "w",
            "loss": "focal",
            "alpha": 0.25,
            "ci": 0.9,
            "bootstrap": 40,
            "top": 3,
            "fit_temperature": True,
        },
    ),
}


def _without_source(report: Any) -> dict[str, Any]:
    out: dict[str, Any] = report.to_dict()
    out.pop("source", None)
    return out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_gives_the_local_numbers(variant: str, data: Path, cluster: Any) -> None:
    name, options = VARIANTS[variant]
    path = str(data / name)
    local = ce_cli.evaluate(path, **options).to_dict()
    remote = ce_cli.evaluate(
        path,
        engine="dask",
        scheduler=cluster.scheduler_address,
        partition_rows=PARTITION_ROWS,
        **options,
    ).to_dict()
    assert_reports_close(remote, local)


def test_a_glob_of_parquet_files_is_partitioned_by_row_group(data: Path) -> None:
    from ce_cli.engine.dask import partitions

    source = open_source(str(data / "multiclass" / "*.parquet"))
    try:
        parts = partitions(source, source.name, PARTITION_ROWS)
    finally:
        source.close()
    groups_per_file = -(-ROWS_PER_FILE // ROW_GROUP)
    assert len(parts) == N_FILES * groups_per_file
    offsets = [p.row_offset for p in parts]
    sizes = [ROW_GROUP, ROW_GROUP, ROWS_PER_FILE - 2 * ROW_GROUP] * N_FILES
    assert offsets == list(np.cumsum([0, *sizes[:-1]]))
    assert [p.file_row for p in parts[:3]] == [1, 251, 501]


def test_its_own_cluster_gives_the_local_numbers(data: Path) -> None:
    name, options = VARIANTS[
        "multiclass logits, weights, groups, intervals, worst rows, balanced class weights"
    ]
    path = str(data / name)
    local = ce_cli.evaluate(path, **options).to_dict()
    own = ce_cli.evaluate(path, engine="dask", workers=2, partition_rows=PARTITION_ROWS, **options)
    assert_reports_close(own.to_dict(), local)


def test_the_command_runs_on_a_scheduler(
    data: Path, cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    args = [
        str(data / "multilabel"),
        "--task",
        "multilabel",
        "--prob-cols",
        "p_*",
        "--target-cols",
        "y_*",
        "--format",
        "json",
        "-q",
    ]
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*args, "--engine", "dask", "--scheduler", cluster.scheduler_address]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert_reports_close(json.loads(out), local)


def _bad_dataset(root: Path) -> Path:
    """A multi-class dataset with the label 7 (of classes 0-2) in the last file's last row
    group."""
    folder = root / "bad"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(3)
    for f in range(N_FILES):
        p = rng.dirichlet(np.ones(3), ROWS_PER_FILE)
        label = rng.integers(0, 3, ROWS_PER_FILE)
        if f == N_FILES - 1:
            label[620] = 7
        table = pa.table({"label": label, **{f"p_{j}": p[:, j] for j in range(3)}})
        pq.write_table(table, folder / f"part-{f}.parquet", row_group_size=ROW_GROUP)
    return folder


def test_a_bad_row_in_a_late_partition_is_the_local_error(
    data: Path, cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(_bad_dataset(data))
    args = [folder, "--label-col", "label", "-q"]
    assert main(args) == 2
    local = capsys.readouterr().err
    assert main([*args, "--engine", "dask", "--scheduler", cluster.scheduler_address]) == 2
    dask_err = capsys.readouterr().err
    assert dask_err == local
    assert local.count("\n") == 1
    assert f"row {2 * ROWS_PER_FILE + 621}" in local and folder in local


class KillOnce:
    """A batch function that kills its worker process the first time it meets ``row_offset``
    (a marker file remembers it, across processes), then evaluates as usual."""

    def __init__(self, marker: str, row_offset: int) -> None:
        self.marker, self.row_offset = marker, row_offset

    def __call__(self, state: State, plan: Plan, batch: pa.RecordBatch, offset: int) -> None:
        if offset == self.row_offset and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)  # the worker dies mid-task; its nanny starts a new one
        fold_batch(state, plan, batch, offset, parallel=False)


def test_a_worker_killed_mid_run_is_retried_and_the_result_unchanged(
    data: Path, cluster: Any, tmp_path: Path
) -> None:
    import cloudpickle

    # Workers cannot import this test module by name: send KillOnce by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    name, options = VARIANTS[
        "multiclass logits, weights, groups, intervals, worst rows, balanced class weights"
    ]
    options = {k: v for k, v in options.items() if k != "class_weights"}
    path = str(data / name)
    settings = Settings(**options)
    marker = str(tmp_path / "killed")
    source = open_source(path)
    try:
        with DaskDriver(source, path, cluster.scheduler_address, None, PARTITION_ROWS) as driver:
            plan = driver.plan(settings)
            step = KillOnce(marker, 950)  # the fifth partition: file 2, second row group
            state = driver.fold(plan, functools.partial(State.empty, plan), step, State.merge)
    finally:
        source.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert os.path.exists(marker)  # a worker did die
    assert_reports_close(finish(plan, state).to_dict(), ce_cli.evaluate(path, **options).to_dict())


def test_what_the_dask_engine_refuses(data: Path, cluster: Any) -> None:
    path = str(data / "binary.csv")
    address = cluster.scheduler_address
    with pytest.raises(CeEvalError, match="--per-sequence are not written by --engine dask"):
        ce_cli.evaluate(path, engine="dask", scheduler=address, per_sample="x.parquet")
    with pytest.raises(CeEvalError, match="--sequence-col is summed by the local engine only"):
        ce_cli.evaluate(path, engine="dask", scheduler=address, sequence_col="id")
    with pytest.raises(CeEvalError, match="not in-memory tables"):
        ce_cli.evaluate(pa.table({"label": [1], "p": [0.5]}), engine="dask", scheduler=address)
    with pytest.raises(CeEvalError, match="needs --engine dask"):
        ce_cli.evaluate(path, scheduler=address)
    with pytest.raises(CeEvalError, match="cannot reach the Dask scheduler"):
        ce_cli.evaluate(path, engine="dask", scheduler="tcp://127.0.0.1:9")


def test_without_dask_the_engine_says_how_to_install_it(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = main([str(data / "binary.csv"), "--engine", "dask", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'ce-eval[dask]'" in err
