"""``python -m ce_cli``: the same as the ``ce-eval`` command."""

from ce_cli.cli.launcher import main

main()
