"""String labels name classes by the prediction columns' names: exactly, or ignoring case and
outer spaces on both sides alike (said once), never by a fold two classes share."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from ce_cli import evaluate
from ce_cli.errors import CeEvalWarning, LabelError


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_labels_match_column_names_whatever_the_case_of_either(tmp_path: Path) -> None:
    rows = "DOG,0.2,0.7,0.1\nx,0.3,0.3,0.4\ncat,0.5,0.2,0.3\n"
    path = _csv(tmp_path, "label,p_Cat,p_dog,p_x\n" + rows)
    with pytest.warns(CeEvalWarning, match="'DOG' taken as class 'dog'"):
        report = evaluate(path)
    expected = -(math.log(0.7) + math.log(0.4) + math.log(0.5)) / 3
    assert report.metrics["loss"] == pytest.approx(expected, rel=1e-15)


def test_a_fold_two_classes_share_is_an_error_not_a_guess(tmp_path: Path) -> None:
    path = _csv(tmp_path, "label,p_Cat,p_cat,p_x\ncat,0.2,0.7,0.1\nCAT,0.3,0.3,0.4\n")
    with pytest.raises(LabelError, match="row 2"):
        evaluate(path)


def test_binary_words_fold_without_a_warning(tmp_path: Path) -> None:
    path = _csv(tmp_path, "y,p\nTrue,0.8\nFALSE,0.3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CeEvalWarning)
        report = evaluate(path)
    assert report.metrics["loss"] == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2, rel=1e-15)


def test_evaluate_takes_a_pathlib_path_as_it_takes_its_text(tmp_path: Path) -> None:
    path = _csv(tmp_path, "y,p\n1,0.8\n0,0.3\n")
    assert evaluate(path).metrics == evaluate(str(path)).metrics
