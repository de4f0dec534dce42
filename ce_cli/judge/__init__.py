"""Decisions on reports: quality gates, baselines, and ``compare`` of two models."""
