"""The gates as JUnit XML (GitLab, Jenkins and most CI systems show it as test results).

One ``<testcase>`` per gate (a failed gate carries a ``<failure>``), the metrics as suite
properties; with no gates, one passing test case ``report``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def render_junit(report: dict[str, Any], gates: list[dict[str, Any]]) -> str:
    """``<testsuites><testsuite name="ce-eval">…</testsuite></testsuites>``."""
    failures = sum(1 for g in gates if not g["passed"])
    suites = ET.Element("testsuites", tests=str(max(len(gates), 1)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="ce-eval",
        tests=str(max(len(gates), 1)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="source", value=_text(report.get("source")))
    ET.SubElement(properties, "property", name="n_samples", value=str(report.get("n_samples")))
    for name, value in report.get("metrics", {}).items():
        ET.SubElement(properties, "property", name=f"metric.{name}", value=repr(value))
    if not gates:
        ET.SubElement(suite, "testcase", classname="ce-eval", name="report")
    for g in gates:
        sign = "<=" if g["op"] == "max" else ">="
        case = ET.SubElement(
            suite,
            "testcase",
            classname="ce-eval.gates",
            name=f"{g['metric']} {sign} {g['threshold']:g}",
        )
        if not g["passed"]:
            value = "missing" if g["value"] is None else f"{g['value']:.6g}"
            bad = ">" if g["op"] == "max" else "<"
            message = f"{g['metric']} = {value} {bad} {g['threshold']:g}"
            failure = ET.SubElement(case, "failure", message=message, type="GateFailed")
            failure.text = message
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def render_compare_junit(result: dict[str, Any]) -> str:
    """``ce-eval compare`` as JUnit XML, A taken as the candidate: one test case per metric with
    an interval, failed where B is significantly better; the values as suite properties."""
    judged = [(n, m) for n, m in result["metrics"].items() if m["low"] is not None]
    failures = sum(1 for _, m in judged if m["verdict"] == "B better")
    tests = str(max(len(judged), 1))
    suites = ET.Element("testsuites", tests=tests, failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="ce-eval compare",
        tests=tests,
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="a", value=_text(result["a"]))
    ET.SubElement(properties, "property", name="b", value=_text(result["b"]))
    ET.SubElement(properties, "property", name="n_samples", value=str(result["n_samples"]))
    for name, m in result["metrics"].items():
        for side in ("a", "b", "difference"):
            ET.SubElement(properties, "property", name=f"{side}.{name}", value=repr(m[side]))
    if not judged:
        ET.SubElement(suite, "testcase", classname="ce-eval.compare", name="compare")
    for name, m in judged:
        case = ET.SubElement(suite, "testcase", classname="ce-eval.compare", name=f"{name}: A vs B")
        if m["verdict"] == "B better":
            message = (
                f"{name}: A = {m['a']:.6g}, B = {m['b']:.6g}, A - B = {m['difference']:+.4g} "
                f"in [{m['low']:+.4g}, {m['high']:+.4g}]: B is better"
            )
            failure = ET.SubElement(case, "failure", message=message, type="Regression")
            failure.text = message
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
