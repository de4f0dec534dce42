"""``--sequence-col``: per-sequence perplexity, the contiguity check, the mergeable state and
``--per-sequence`` output."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ce_cli
import ce_cli.io.batching
import ce_cli.io.readers
from ce_cli.cli.main import main
from ce_cli.errors import InputFormatError
from ce_cli.state.sequences import BIN_NATS, BatchSequences, Sequence, SequenceStats, report_section


def _export(
    path: Path, ids: list[Any], seed: int = 0, width: int = 6, weights: bool = False
) -> dict[str, np.ndarray]:
    """Token rows: logits in a list column, labels with some -100, sequence ids ``ids``."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    z = rng.standard_normal((n, width)) * 2.0
    labels = rng.integers(0, width, n)
    labels[rng.random(n) < 0.15] = -100
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    columns: dict[str, Any] = {
        "doc": ids,
        "label": labels,
        "logits": pa.ListArray.from_arrays(offsets, pa.array(z.reshape(-1))),
    }
    w = rng.uniform(0.5, 2.0, n)
    if weights:
        columns["w"] = w
    pq.write_table(pa.table(columns), path, row_group_size=max(1, n // 3))
    return {"z": z, "labels": labels, "w": w if weights else np.ones(n)}


def _expected(ids: list[Any], data: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per sequence, by hand: the weighted mean token cross-entropy over the kept tokens."""
    z, labels, w = data["z"], data["labels"], data["w"]
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    out = []
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or ids[end] != ids[start]:
            rows = np.arange(start, end)
            kept = rows[labels[rows] != -100]
            ce = lse[kept] - z[kept, labels[kept]]
            weight = float(w[kept].sum())
            mean = float((w[kept] * ce).sum() / weight) if len(kept) else math.nan
            out.append(
                {
                    "sequence": ids[start],
                    "first_row": start + 1,
                    "last_row": end,
                    "tokens": len(kept),
                    "weight": weight,
                    "ce": mean,
                }
            )
            start = end
    return out


IDS = ["d1"] * 7 + ["d2"] * 12 + ["d3"] * 3 + ["d4"] * 9


def test_per_sequence_perplexity_matches_a_hand_computation(tmp_path: Path) -> None:
    path = tmp_path / "tokens.parquet"
    data = _export(path, IDS, weights=True)
    report = ce_cli.evaluate(
        str(path), sequence_col="doc", ignore_label="-100", weight_col="w", base="bits"
    )
    section = report.extra["sequences"]
    expected = [e for e in _expected(IDS, data) if e["tokens"]]
    ppl = np.array([math.exp(e["ce"]) for e in expected])
    weight = np.array([e["weight"] for e in expected])
    assert section["column"] == "doc" and section["n_sequences"] == len(expected)
    p = section["perplexity"]
    assert p["mean"] == pytest.approx(ppl.mean(), rel=1e-12)
    assert p["token_weighted_mean"] == pytest.approx((weight * ppl).sum() / weight.sum(), rel=1e-12)
    assert p["min"] == pytest.approx(ppl.min(), rel=1e-12)
    assert p["max"] == pytest.approx(ppl.max(), rel=1e-12)
    # Quantiles from the histogram: within half a bin of the order statistic (±0.2 %).
    tolerance = math.exp(BIN_NATS / 2) - 1
    ranked = np.sort(ppl)
    for key, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        exact = ranked[math.ceil(fraction * len(ranked)) - 1]
        assert p[key] == pytest.approx(exact, rel=tolerance), key
    ce_bits = np.array([e["ce"] for e in expected]) / math.log(2)
    assert section["mean_cross_entropy"] == pytest.approx(ce_bits.mean(), rel=1e-12)
    # The corpus perplexity is the token-weighted geometric mean of the sequences'.
    geometric = math.exp((weight * np.log(ppl)).sum() / weight.sum())
    assert report.metrics["perplexity"] == pytest.approx(geometric, rel=1e-12)
    assert report.metrics["perplexity"] <= p["token_weighted_mean"]
    worst = section["worst"]
    assert [w["sequence"] for w in worst] == [
        e["sequence"] for e in sorted(expected, key=lambda e: -e["ce"])
    ]
    top = max(expected, key=lambda e: e["ce"])
    assert worst[0]["first_row"] == top["first_row"] and worst[0]["last_row"] == top["last_row"]
    assert worst[0]["tokens"] == top["tokens"]
    assert worst[0]["cross_entropy"] == pytest.approx(top["ce"] / math.log(2), rel=1e-12)


def test_ignored_tokens_do_not_count_and_a_sequence_of_only_ignored_tokens_is_counted_apart(
    tmp_path: Path,
) -> None:
    ids = [7, 7, 7, 8, 8, 9, 9, 9]
    path = tmp_path / "tokens.parquet"
    z = np.log(np.array([[0.5, 0.25, 0.25]] * 8))
    labels = [0, 1, -100, -100, -100, 2, 0, -100]
    offsets = pa.array(np.arange(0, 9 * 3, 3, dtype=np.int32))
    lists = pa.ListArray.from_arrays(offsets, pa.array(z.reshape(-1)))
    pq.write_table(pa.table({"seq": ids, "label": labels, "logits": lists}), path)
    out = tmp_path / "sequences.csv"
    report = ce_cli.evaluate(
        str(path), sequence_col="seq", ignore_label="-100", per_sequence=str(out)
    )
    section = report.extra["sequences"]
    assert section["n_sequences"] == 2 and section["without_tokens"] == 1
    # Sequence 7: -log 0.5 and -log 0.25, mean 1.5 log 2: perplexity 2^1.5; sequence 9 the same.
    assert section["perplexity"]["mean"] == pytest.approx(2**1.5, rel=1e-12)
    rows = pcsv.read_csv(out).to_pylist()
    assert [r["sequence"] for r in rows] == [7, 8, 9]
    assert [r["tokens"] for r in rows] == [2, 0, 2]
    assert [r["rows"] for r in rows] == [3, 2, 3]
    assert rows[1]["perplexity"] is None and rows[1]["cross_entropy"] is None
    assert rows[0]["perplexity"] == pytest.approx(2**1.5, rel=1e-12)


@pytest.mark.parametrize("budget", [7, 1 << 22])
def test_a_sequence_seen_again_later_is_an_error_naming_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """Within a batch and across batches (7 values a batch: one row of 6 logits a batch)."""
    monkeypatch.setattr(ce_cli.io.batching, "BATCH_VALUES", budget)
    ids = ["a"] * 4 + ["b"] * 3 + ["a"] * 2 + ["c"]
    path = tmp_path / "tokens.parquet"
    _export(path, ids)
    with pytest.raises(InputFormatError, match="row 8") as caught:
        ce_cli.evaluate(str(path), sequence_col="doc", ignore_label="-100")
    assert "reappears" in str(caught.value) and "row 1;" in str(caught.value)
    assert caught.value.column == "doc"


def test_the_command_reports_a_split_sequence_in_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.parquet"
    _export(path, ["a", "a", "b", "a"])
    assert main([str(path), "--sequence-col", "doc", "--ignore-label", "-100"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "column 'doc', row 4: a sequence reappears" in err


def test_a_missing_sequence_id_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "tokens.parquet"
    _export(path, ["a", "a", None, "b"])
    with pytest.raises(InputFormatError, match="row 3: missing sequence id"):
        ce_cli.evaluate(str(path), sequence_col="doc")


def test_per_sequence_needs_sequence_col(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.parquet"
    _export(path, ["a", "b"])
    code = main([str(path), "--per-sequence", str(tmp_path / "s.csv")])
    assert code == 2 and "--per-sequence needs --sequence-col" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def _sections(path: Path, **options: Any) -> dict[str, Any]:
    report = ce_cli.evaluate(str(path), sequence_col="doc", ignore_label="-100", **options)
    return json.loads(json.dumps(report.extra["sequences"]))


@pytest.mark.parametrize("budget", [1, 20, 1000])
def test_the_sequences_section_does_not_depend_on_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    rng = np.random.default_rng(3)
    ids = list(np.repeat(np.arange(40), rng.integers(1, 12, 40)))
    path = tmp_path / "tokens.parquet"
    _export(path, [int(i) for i in ids], seed=4, width=5, weights=True)
    whole = _sections(path, weight_col="w", top=5)
    monkeypatch.setattr(ce_cli.io.batching, "BATCH_VALUES", budget)
    split = _sections(path, weight_col="w", top=5)
    assert [w["sequence"] for w in split["worst"]] == [w["sequence"] for w in whole["worst"]]
    assert split["n_sequences"] == whole["n_sequences"]
    for key, value in whole["perplexity"].items():
        assert split["perplexity"][key] == pytest.approx(value, rel=1e-12), key


def test_per_sequence_output_has_one_row_per_sequence_in_input_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.parquet"
    data = _export(path, IDS, seed=5)
    out = tmp_path / "seq.parquet"
    samples = tmp_path / "rows.csv"
    options = ["--sequence-col", "doc", "--ignore-label", "-100", "--format", "json"]
    code = main([str(path), *options, "--per-sequence", str(out), "--per-sample", str(samples)])
    assert code == 0, capsys.readouterr().err
    rows = pq.read_table(out).to_pylist()
    expected = _expected(IDS, data)
    assert [r["sequence"] for r in rows] == ["d1", "d2", "d3", "d4"]
    for row, e in zip(rows, expected, strict=True):
        assert (row["first_row"], row["last_row"], row["tokens"]) == (
            e["first_row"],
            e["last_row"],
            e["tokens"],
        )
        assert row["cross_entropy"] == pytest.approx(e["ce"], rel=1e-12)
        assert row["perplexity"] == pytest.approx(math.exp(e["ce"]), rel=1e-12)
    per_token = pcsv.read_csv(samples)
    assert per_token.column("sequence").to_pylist() == [
        d for d, y in zip(IDS, data["labels"], strict=True) if y != -100
    ]


# -- the mergeable state --------------------------------------------------------------------


def _part(ids: list[int], ce: np.ndarray, w: np.ndarray, start: int, stop: int) -> SequenceStats:
    batch = BatchSequences(pa.array(ids[start:stop], pa.int64()), start + 1)
    keep = np.arange(stop - start)[(np.arange(start, stop) % 5) != 3]  # some rows left out
    batch.add(keep, ce[start:stop][keep], w[start:stop][keep])
    return batch.part(k=4)


def _summary_of(stats: SequenceStats) -> tuple[Any, list[Sequence]]:
    closed: list[Sequence] = []
    stats.on_close = closed.append
    for s in stats.closed:  # a merged part's complete sequences not yet summarised
        stats.summary.add(s)
        closed.append(s)
    stats.closed = []
    summary = stats.finish()
    return report_section(summary, "doc", 1.0), closed


@settings(max_examples=60, deadline=None)
@given(
    runs=st.lists(st.integers(1, 6), min_size=1, max_size=25),
    cuts=st.lists(st.integers(0, 150), max_size=8),
    tree=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_any_split_of_the_rows_merges_to_the_numbers_of_one_pass(
    runs: list[int], cuts: list[int], tree: bool, seed: int
) -> None:
    """Parts cut anywhere (inside a sequence too), merged left to right or as a tree, give the
    one-pass summary: the same sequences, sums equal to 1e-12, the same histogram."""
    ids = [i for i, n in enumerate(runs) for _ in range(n)]
    rng = np.random.default_rng(seed)
    ce = rng.exponential(2.0, len(ids))
    w = rng.uniform(0.5, 2.0, len(ids))
    one = _part(ids, ce, w, 0, len(ids))
    bounds = sorted({0, len(ids), *(c for c in cuts if c < len(ids))})
    parts = [_part(ids, ce, w, a, b) for a, b in itertools.pairwise(bounds)]
    while len(parts) > 1:
        if tree:  # pairwise, as a distributed reduce would
            merged = []
            for i in range(0, len(parts) - 1, 2):
                parts[i].absorb(parts[i + 1])
                merged.append(parts[i])
            parts = merged + ([parts[-1]] if len(parts) % 2 else [])
        else:
            parts[0].absorb(parts.pop(1))
    expected, expected_closed = _summary_of(one)
    got, _ = _summary_of(parts[0])
    assert got["n_sequences"] == expected["n_sequences"] == len(runs) - got["without_tokens"]
    for key, value in expected["perplexity"].items():
        assert got["perplexity"][key] == pytest.approx(value, rel=1e-12), key
    assert [s["sequence"] for s in got["worst"]] == [s["sequence"] for s in expected["worst"]]
    assert parts[0].summary.histogram.tolist() == one.summary.histogram.tolist()
    assert sorted(s.id for s in expected_closed) == sorted(set(ids))


def test_the_top_level_state_hands_out_each_sequence_once_in_input_order() -> None:
    ids = [1, 1, 2, 3, 3, 3, 4]
    ce = np.arange(1.0, 8.0)
    closed: list[Sequence] = []
    stats = SequenceStats(3, on_close=closed.append, open_left=False)
    for a, b in ((0, 1), (1, 3), (3, 4), (4, 7)):
        batch = BatchSequences(pa.array(ids[a:b]), a + 1)
        batch.add(np.arange(b - a), ce[a:b])
        stats.absorb(batch.part(3))
        assert [s.id for s in closed] == sorted(set(ids[:b]))[:-1]  # all but the open
    stats.finish()
    assert [(s.id, s.tokens, s.ce) for s in closed] == [
        (1, 2, 3.0),
        (2, 1, 3.0),
        (3, 3, 15.0),
        (4, 1, 7.0),
    ]


def test_the_report_with_sequences_validates_against_the_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files

    from ce_cli.render.json import render_json

    schema = json.loads(files("ce_cli").joinpath("report.schema.json").read_text("utf-8"))
    path = tmp_path / "tokens.parquet"
    _export(path, [3, 3, 5, 5, 5, 9])
    report = ce_cli.evaluate(str(path), sequence_col="doc", ignore_label="-100")
    data = json.loads(render_json(report))
    jsonschema.Draft202012Validator(schema).validate(data)
    data["sequences"]["worst"][0]["first_row"] = 0
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)
