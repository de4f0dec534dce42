"""The words a comparison's verdict takes, worded once: the JSON and every renderer of ``compare``
show these strings as they are."""

from __future__ import annotations

A_BETTER, B_BETTER = "A better", "B better"
NO_DIFFERENCE = "no significant difference"
DESCRIPTIVE, NO_INTERVAL = "descriptive", "no interval"
VERDICTS = (A_BETTER, B_BETTER, NO_DIFFERENCE, DESCRIPTIVE, NO_INTERVAL)
"""Every verdict, worded once: the JSON and every renderer show these strings as they are."""
