"""Renderers: a :class:`~ce_cli.report.report.Report` in, text out. They compute nothing."""

from __future__ import annotations

from ce_cli.render.json import render_json

__all__ = ["render_json"]
