"""A staged output that was neither committed nor aborted (a signal between the constructor and
the caller's ``with``) is removed as the command ends; a committed one is left alone."""

from __future__ import annotations

import os
from pathlib import Path

from ce_cli.io.atomic import AtomicOutput, remove_unfinished


def test_a_staged_file_left_unfinished_is_removed_and_a_committed_one_kept(tmp_path: Path) -> None:
    left = AtomicOutput(str(tmp_path / "left.json"))
    done = AtomicOutput(str(tmp_path / "done.json"))
    Path(done.temp_path).write_text("{}")
    done.commit()
    assert os.path.exists(left.temp_path)
    remove_unfinished()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.json"]
    assert (tmp_path / "done.json").read_text() == "{}"
    remove_unfinished()  # nothing left to do, and no error
