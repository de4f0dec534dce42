"""The console script's entry point: a Ctrl-C at any moment ends in one line and exit code 130.

The script pip writes imports this module first, and it imports nothing: the command (typer, and
NumPy and pyarrow once it runs) is imported inside :func:`main`, so an interrupt while those
load is caught here rather than printed as a traceback.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process stopped by Ctrl-C


def main() -> None:
    """Run ``ce-eval`` with ``sys.argv``; exits with its code."""
    try:
        from ce_cli.cli import entrypoint

        entrypoint()
    except KeyboardInterrupt:
        print("ce-eval: error: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
