"""Which columns are predictions (SPEC's auto-detection): the real exports people write give the
right number or a refusal that names --prob-cols, never a number from a wrong guess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from ce_cli import evaluate_arrays
from ce_cli.cli.main import main
from ce_cli.resolve.columns import is_index_column

N = 120
RNG = np.random.default_rng(13)
CLASSES = [f"c{i}" for i in range(5)]
PROBS = RNG.dirichlet(np.ones(5), N)
LABELS = RNG.integers(0, 5, N)
P1 = RNG.uniform(0.05, 0.95, N)
Y = (RNG.uniform(size=N) < P1).astype(int)


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code = main([*args, "--format", "json", "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report: dict[str, object] = json.loads(out)
    return report


def _refusal(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main([*args, "-q"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("name", ["", "Unnamed: 0", "index", "__index_level_0__", "level_0"])
def test_index_columns_are_recognised(name: str) -> None:
    assert is_index_column(name)


@pytest.mark.parametrize("name", ["p_0", "score", "cat", "prob", "indexed", "c0"])
def test_ordinary_columns_are_not_index_columns(name: str) -> None:
    assert not is_index_column(name)


def test_pandas_to_csv_with_its_index_and_class_named_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # df.to_csv() keeps the index as a first column with an empty name; it is not a class.
    df = pd.DataFrame(PROBS, columns=CLASSES)
    df["label"] = [CLASSES[i] for i in LABELS]
    df.to_csv(tmp_path / "preds.csv")
    report = _report(capsys, str(tmp_path / "preds.csv"))
    metrics, detected = report["metrics"], report["detected"]
    assert isinstance(metrics, dict) and isinstance(detected, dict)
    assert metrics["cross_entropy"] == pytest.approx(log_loss(LABELS, PROBS), rel=1e-12)
    assert detected["classes"] == CLASSES
    assert "index column ''" in detected["columns"]["predictions_reason"]


@pytest.mark.parametrize("index_name", ["Unnamed: 0", "index", "__index_level_0__"])
def test_other_index_columns_are_left_out(
    index_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pa.table(
        {index_name: np.arange(N), **{c: PROBS[:, i] for i, c in enumerate(CLASSES)}}
        | {"label": LABELS}
    )
    pq.write_table(table, tmp_path / "p.parquet")
    report = _report(capsys, str(tmp_path / "p.parquet"))
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss(LABELS, PROBS), rel=1e-12
    )


@pytest.mark.parametrize("column", ["id", "user_id", "fold", "seed"])
def test_integer_columns_beside_a_probability_are_not_predictions(
    column: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = np.arange(N) % 5 if column == "fold" else np.arange(1000, 1000 + N)
    pd.DataFrame({column: values, "prob": P1, "label": Y}).to_csv(tmp_path / "b.csv", index=False)
    report = _report(capsys, str(tmp_path / "b.csv"))
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss(Y, P1), rel=1e-12
    )
    assert report["detected"]["columns"]["predictions"] == ["prob"]  # type: ignore[index]


@pytest.mark.parametrize("column", ["w", "weight", "sample_weight", "user_id", "split", "fold"])
def test_a_float_column_named_otherwise_is_refused_naming_prob_cols(
    column: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = RNG.uniform(0, 1, N).round(3)
    pd.DataFrame({column: values, "prob": P1, "label": Y}).to_csv(tmp_path / "b.csv", index=False)
    err = _refusal(capsys, str(tmp_path / "b.csv"))
    assert "--prob-cols" in err and f"'{column}'" in err and "prob" in err
    # Naming the columns gives the right number.
    report = _report(capsys, str(tmp_path / "b.csv"), "--prob-cols", "prob")
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss(Y, P1), rel=1e-12
    )


def test_weight_col_given_is_not_a_prediction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = RNG.uniform(0.5, 2, N)
    pd.DataFrame({"w": w, "prob": P1, "label": Y}).to_csv(tmp_path / "b.csv", index=False)
    report = _report(capsys, str(tmp_path / "b.csv"), "--weight-col", "w")
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss(Y, P1, sample_weight=w), rel=1e-12
    )


def test_an_integer_prefixed_prediction_column_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.DataFrame({"p_a": [0, 1, 1], "p_b": [1.0, 0.0, 0.0], "label": [1, 0, 0]}).to_csv(
        tmp_path / "i.csv", index=False
    )
    err = _refusal(capsys, str(tmp_path / "i.csv"))
    assert "integers" in err and "--prob-cols" in err


def test_only_integer_columns_left_is_refused_naming_prob_cols(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.DataFrame({"score": [0, 1, 1], "label": [1, 0, 0]}).to_csv(tmp_path / "i.csv", index=False)
    err = _refusal(capsys, str(tmp_path / "i.csv"))
    assert "score" in err and "--prob-cols" in err


def test_class_named_columns_win_over_other_float_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = pd.DataFrame(PROBS, columns=CLASSES)
    df["latency_ms"] = RNG.uniform(1, 50, N)
    df["label"] = [CLASSES[i] for i in LABELS]
    df.to_parquet(tmp_path / "p.parquet", index=False)
    report = _report(capsys, str(tmp_path / "p.parquet"))
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss(LABELS, PROBS), rel=1e-12
    )
    assert "latency_ms left out" in report["detected"]["columns"]["predictions_reason"]  # type: ignore[index]


def test_two_column_predict_proba_is_binary_as_scikit_learn_scores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proba = np.c_[1 - P1, P1]
    names = np.array(["neg", "pos"])
    pd.DataFrame({"p_neg": proba[:, 0], "p_pos": proba[:, 1], "label": names[Y]}).to_csv(
        tmp_path / "two.csv", index=False
    )
    report = _report(capsys, str(tmp_path / "two.csv"))
    metrics, detected = report["metrics"], report["detected"]
    assert detected["task"] == "binary" and detected["classes"] == ["neg", "pos"]  # type: ignore[index]
    assert metrics["brier"] == pytest.approx(brier_score_loss(Y, P1), rel=1e-12)  # type: ignore[index]
    assert metrics["cross_entropy"] == pytest.approx(log_loss(Y, P1), rel=1e-12)  # type: ignore[index]
    one = evaluate_arrays(P1, Y)
    assert metrics["ece"] == pytest.approx(one.metrics["ece"], rel=1e-12)  # type: ignore[index]
    kept = _report(capsys, str(tmp_path / "two.csv"), "--task", "multiclass")
    assert kept["detected"]["task"] == "multiclass"  # type: ignore[index]
    assert kept["metrics"]["brier"] == pytest.approx(2 * brier_score_loss(Y, P1), rel=1e-12)  # type: ignore[index]


def test_two_columns_in_reverse_order_use_the_column_named_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.DataFrame({"p_1": P1, "p_0": 1 - P1, "label": Y}).to_csv(tmp_path / "r.csv", index=False)
    report = _report(capsys, str(tmp_path / "r.csv"))
    assert report["metrics"]["brier"] == pytest.approx(brier_score_loss(Y, P1), rel=1e-12)  # type: ignore[index]


def test_two_logit_columns_are_binary_on_their_difference() -> None:
    z = RNG.normal(size=(N, 2)) * 3
    two = evaluate_arrays(z, Y, logits=True)
    one = evaluate_arrays(z[:, 1] - z[:, 0], Y, logits=True)
    assert two.detection.task == "binary"
    for key in ("cross_entropy", "brier", "ece", "accuracy", "entropy"):
        assert two.metrics[key] == pytest.approx(one.metrics[key], rel=1e-12, abs=1e-15), key


def test_two_columns_that_do_not_sum_to_one_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.DataFrame({"p_0": [0.2, 0.5], "p_1": [0.3, 0.5], "label": [1, 0]}).to_csv(
        tmp_path / "s.csv", index=False
    )
    err = _refusal(capsys, str(tmp_path / "s.csv"))
    assert "sum" in err and "row" in err


def test_classes_name_positional_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = np.array(["neg", "neu", "pos"])
    probs = PROBS[:, :3] / PROBS[:, :3].sum(axis=1, keepdims=True)
    labels = LABELS % 3
    table = pa.table({"p_0": probs[:, 0], "p_1": probs[:, 1], "p_2": probs[:, 2]})
    table = table.append_column("label", pa.array(names[labels]))
    pq.write_table(table, tmp_path / "p.parquet")
    report = _report(capsys, str(tmp_path / "p.parquet"), "--classes", "neg,neu,pos")
    assert report["detected"]["classes"] == ["neg", "neu", "pos"]  # type: ignore[index]
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss(labels, probs), rel=1e-12
    )
    err = _refusal(capsys, str(tmp_path / "p.parquet"), "--classes", "neg,pos")
    assert "--classes names 2 classes" in err


def test_table_says_which_columns_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = pd.DataFrame(PROBS, columns=CLASSES)
    df["label"] = [CLASSES[i] for i in LABELS]
    df.to_csv(tmp_path / "preds.csv")
    assert main([str(tmp_path / "preds.csv"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "predictions c0, c1" in out and "every other floating-point column" in out


def test_two_list_columns_are_refused_naming_prob_cols(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Spark ML's output: label, a hard prediction, and two vectors.
    pq.write_table(
        pa.table(
            {
                "label": [0.0, 1.0],
                "prediction": [0.0, 1.0],
                "probability": [[0.8, 0.2], [0.3, 0.7]],
                "rawPrediction": [[1.4, -1.4], [-0.8, 0.8]],
            }
        ),
        tmp_path / "spark.parquet",
    )
    err = _refusal(capsys, str(tmp_path / "spark.parquet"))
    assert "probability, rawPrediction" in err and "--prob-cols" in err
    report = _report(capsys, str(tmp_path / "spark.parquet"), "--prob-cols", "probability")
    assert report["detected"]["task"] == "binary"  # type: ignore[index]
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss([0, 1], [0.2, 0.7]), rel=1e-12
    )


@pytest.mark.parametrize("column", ["loss", "confidence", "entropy", "latency_ms"])
def test_a_per_sample_number_beside_the_probabilities_is_refused(
    column: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = pd.DataFrame(PROBS, columns=CLASSES)
    df[column] = RNG.uniform(0, 3, N)
    df["label"] = LABELS
    df.to_csv(tmp_path / "p.csv", index=False)
    err = _refusal(capsys, str(tmp_path / "p.csv"))
    assert f"'{column}'" in err and "--prob-cols" in err


def test_guessed_columns_of_only_zeros_and_ones_warn_as_hard_predictions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hard = (P1 > 0.5).astype(float)
    pd.DataFrame({"guess": hard, "label": Y}).to_csv(tmp_path / "h.csv", index=False)
    code = main([str(tmp_path / "h.csv"), "-q", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["n_samples"] == N
    assert err.count("\n") == 1 and err.startswith("ce-eval: warning:")
    assert "only 0 and 1" in err and "--prob-cols" in err


def test_an_all_zero_class_written_as_integers_is_refused_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probs = PROBS.copy()
    probs[:, 2] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    lines = ["label," + ",".join(CLASSES)]
    for y, row in zip(LABELS, probs, strict=True):
        lines.append(f"{y}," + ",".join("0" if v == 0 else repr(float(v)) for v in row))
    (tmp_path / "z.csv").write_text("\n".join(lines) + "\n")
    err = _refusal(capsys, str(tmp_path / "z.csv"))
    assert "'c2'" in err and "--prob-cols" in err
    labels = np.where(LABELS == 2, 0, LABELS)
    lines = ["label," + ",".join(CLASSES)] + [
        f"{y}," + ",".join("0" if v == 0 else repr(float(v)) for v in row)
        for y, row in zip(labels, probs, strict=True)
    ]
    (tmp_path / "z.csv").write_text("\n".join(lines) + "\n")
    report = _report(capsys, str(tmp_path / "z.csv"), "--prob-cols", "c*")
    assert report["metrics"]["cross_entropy"] == pytest.approx(  # type: ignore[index]
        log_loss(labels, probs, labels=range(5)), rel=1e-12
    )
