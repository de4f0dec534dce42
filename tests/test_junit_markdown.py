"""The JUnit XML and Markdown renderers: well-formed, countable, and tables that GitHub renders."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest

import ce_cli
from ce_cli.judge.gates import compare_to_baseline, evaluate_gates, gates_to_dict, parse_gate
from ce_cli.render.json import clean
from ce_cli.render.junit import render_junit
from ce_cli.render.markdown import render_markdown

# The shape GitLab and Jenkins read (after Jenkins' junit-10.xsd): testsuites > testsuite >
# (properties?, testcase*, system-out?, system-err?); testcase > failure/error/skipped.
JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:simpleType name="count"><xs:restriction base="xs:nonNegativeInteger"/></xs:simpleType>
  <xs:complexType name="outcome" mixed="true">
    <xs:attribute name="message" type="xs:string"/>
    <xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="property">
    <xs:complexType>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="value" type="xs:string" use="required"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="properties">
    <xs:complexType>
      <xs:sequence><xs:element ref="property" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="testcase">
    <xs:complexType>
      <xs:choice minOccurs="0" maxOccurs="unbounded">
        <xs:element name="skipped" type="outcome"/>
        <xs:element name="error" type="outcome"/>
        <xs:element name="failure" type="outcome"/>
        <xs:element name="system-out" type="xs:string"/>
        <xs:element name="system-err" type="xs:string"/>
      </xs:choice>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="classname" type="xs:string"/>
      <xs:attribute name="time" type="xs:decimal"/>
      <xs:attribute name="assertions" type="xs:string"/>
      <xs:attribute name="status" type="xs:string"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="properties" minOccurs="0"/>
        <xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element name="system-out" type="xs:string" minOccurs="0"/>
        <xs:element name="system-err" type="xs:string" minOccurs="0"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="count" use="required"/>
      <xs:attribute name="failures" type="count"/>
      <xs:attribute name="errors" type="count"/>
      <xs:attribute name="skipped" type="count"/>
      <xs:attribute name="disabled" type="count"/>
      <xs:attribute name="time" type="xs:decimal"/>
      <xs:attribute name="timestamp" type="xs:string"/>
      <xs:attribute name="hostname" type="xs:string"/>
      <xs:attribute name="id" type="xs:string"/>
      <xs:attribute name="package" type="xs:string"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence><xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="tests" type="count"/>
      <xs:attribute name="failures" type="count"/>
      <xs:attribute name="errors" type="count"/>
      <xs:attribute name="skipped" type="count"/>
      <xs:attribute name="disabled" type="count"/>
      <xs:attribute name="time" type="xs:decimal"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""

RNG = np.random.default_rng(5)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _report(n_classes: int = 3, **options: Any) -> Any:
    probs = _softmax(RNG.normal(scale=2.0, size=(120, n_classes)))
    labels = RNG.integers(0, n_classes, size=120)
    return ce_cli.evaluate_arrays(probs, labels, **options)


def _judged(report: Any, gates: list[str], baseline: dict[str, Any] | None = None) -> Any:
    """What the CLI does before rendering: gates and baseline rows into ``extra``, cleaned."""
    data = report.to_dict()
    extra = dict(report.extra)
    parsed = [parse_gate(text[4:], text[:3]) for text in gates]  # type: ignore[arg-type]
    extra["gates"] = gates_to_dict(evaluate_gates(data, parsed))
    if baseline is not None:
        extra["baseline"] = compare_to_baseline(data, baseline, {})
    return clean(dataclasses.replace(report, extra=extra).to_dict())


# --- JUnit ------------------------------------------------------------------------------


def _suite(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "ce-eval"
    return suite


def test_junit_counts_gates_and_failures() -> None:
    data = _judged(_report(), ["max ece=0", "min accuracy=0", "max loss=1000"])
    xml = render_junit(data, data["gates"])
    assert xml.startswith("<?xml")
    suite = _suite(xml)
    cases = suite.findall("testcase")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    assert len(cases) == 3
    assert {c.get("classname") for c in cases} == {"ce-eval.gates"}
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 1
    assert "ece" in (failed[0].get("name") or "")
    message = failed[0].find("failure").get("message")  # type: ignore[union-attr]
    ece = data["metrics"]["ece"]
    assert message == f"ece = {ece:.6g} > 0"


def test_junit_without_gates_is_one_passing_report_case() -> None:
    data = clean(_report().to_dict())
    suite = _suite(render_junit(data, []))
    [case] = suite.findall("testcase")
    assert case.get("name") == "report"
    assert list(case) == []
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")


def test_junit_properties_carry_the_metrics() -> None:
    data = clean(_report().to_dict())
    suite = _suite(render_junit(data, []))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    for name, value in data["metrics"].items():
        assert any(key is not None and key.endswith(name) for key in props)
        assert float(props[f"metric.{name}"] or "nan") == pytest.approx(value)


def test_junit_escapes_markup_in_names() -> None:
    data = clean(_report().to_dict())
    data["source"] = "a <b> & \"c\" 'd'.csv"
    suite = _suite(render_junit(data, []))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["source"] == data["source"]


def test_junit_missing_gate_value_fails_with_a_message() -> None:
    data = clean(_report().to_dict())
    gates = [{"metric": "ece", "op": "max", "threshold": 0.1, "value": None, "passed": False}]
    gates[0]["bound"] = "point"
    case = _suite(render_junit(data, gates)).find("testcase")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None and failure.get("message")


def test_junit_is_well_formed_with_control_characters_in_the_source() -> None:
    data = clean(_report().to_dict())
    data["source"] = "bad\x01name.csv"
    _suite(render_junit(data, []))


def test_junit_validates_against_a_junit_xsd() -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(JUNIT_XSD)
    data = _judged(_report(), ["max ece=0", "min accuracy=0.01"])
    schema.validate(render_junit(data, data["gates"]))
    plain = clean(_report().to_dict())
    schema.validate(render_junit(plain, []))


# --- Markdown ---------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """The cells of a table line, splitting on unescaped pipes."""
    inner = line.strip()
    assert inner.startswith("|") and inner.endswith("|"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner[1:-1])]


def _tables(markdown: str) -> list[list[list[str]]]:
    """Every table (header, separator, body rows) as lists of cells; checks GFM structure."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.strip().startswith("|"):
            current.append(_cells(line))
            continue
        if current:
            assert len(current) >= 2, current
            assert all(re.fullmatch(r":?-{3,}:?", c) for c in current[1]), current[1]
            assert {len(row) for row in current} == {len(current[0])}, current
            tables.append(current)
            current = []
    return tables


def _table_after(markdown: str, heading: str) -> list[list[str]]:
    part = markdown.split(heading, 1)[1]
    return _tables(part)[0]


def test_markdown_has_a_heading_a_headline_and_a_summary_table() -> None:
    data = clean(_report().to_dict())
    text = render_markdown(data)
    assert text.lstrip().startswith("#")
    assert data["source"] in text.splitlines()[0]
    assert "multiclass" in text and "probabilities" in text
    summary = _tables(text)[0]
    assert summary[0][:2] == ["metric", "value"]
    values = {row[0]: row[1] for row in summary[2:]}
    for name in ("loss", "cross_entropy", "accuracy", "ece"):
        assert values[name] == f"{data['metrics'][name]:.6g}"


def test_markdown_gates_and_baseline_tables() -> None:
    report = _report()
    baseline = clean(report.to_dict())
    baseline["metrics"]["ece"] /= 2
    data = _judged(report, ["max ece=0", "min accuracy=0"], baseline)
    text = render_markdown(data)
    gates = _table_after(text, "Gates")
    assert len(gates) == 4
    assert "❌" in " ".join(gates[2]) and "ece" in gates[2][0]
    assert "✅" in " ".join(gates[3])
    rows = {row[0]: row for row in _table_after(text, "baseline")[2:]}
    assert "❌" in " ".join(rows["ece"])
    assert "❌" not in " ".join(rows["loss"])


def test_markdown_per_class_table_is_capped_and_escapes_pipes() -> None:
    report = _report(n_classes=30)
    data = clean(report.to_dict())
    data["per_class"][0]["class"] = "a|b"
    text = render_markdown(data)
    per_class = _table_after(text, "Per class")
    assert len(per_class) == 2 + 25
    assert per_class[2][0] == r"a\|b"
    assert "5 more" in text


def test_markdown_calibration_lists_only_non_empty_bins() -> None:
    data = clean(_report().to_dict())
    text = render_markdown(data)
    bins = _table_after(text, "Calibration")
    non_empty = [b for b in data["calibration"]["bins"] if b["count"]]
    assert len(bins) - 2 == len(non_empty)


def test_markdown_all_tables_are_well_formed_for_every_task() -> None:
    q = RNG.uniform(0.01, 0.99, size=(50, 3))
    y = (RNG.uniform(size=(50, 3)) < q).astype(int)
    for report in (
        _report(),
        ce_cli.evaluate_arrays(q[:, 0], y[:, 0]),
        ce_cli.evaluate_arrays(q, targets=y, task="multilabel"),
    ):
        assert len(_tables(render_markdown(clean(report.to_dict())))) >= 3


def test_markdown_baseline_row_with_null_delta() -> None:
    report = _report()
    data = clean(report.to_dict())
    data["baseline"] = [
        {
            "metric": "ece",
            "baseline": 0.1,
            "current": None,
            "delta": None,
            "allowed": 0.0,
            "direction": "lower is better",
            "passed": False,
        }
    ]
    render_markdown(data)
