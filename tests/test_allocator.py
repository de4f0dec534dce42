"""The command's allocator settings: applied on glibc, a no-op elsewhere, never by the API."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from ce_cli.cli.allocator import keep_freed_memory_for_reuse


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt's thresholds are glibc's",
)
def test_glibc_accepts_the_thresholds() -> None:
    assert keep_freed_memory_for_reuse() is True


def test_importing_the_api_leaves_the_allocator_alone() -> None:
    code = "import ce_cli.api, sys; sys.exit('ce_cli.cli.allocator' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
