"""Output files are written whole or not at all, as ordinary files."""

from __future__ import annotations

import os

import pytest

from simshop_core.files import atomic_path, atomic_write_text


def test_a_finished_write_replaces_the_file_with_ordinary_permissions(tmp_path) -> None:
    target = tmp_path / "out" / "results.csv"
    atomic_write_text(target, "a,b\n")
    assert target.read_text() == "a,b\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["results.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "model.zip"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        assert tmp.suffix == ".zip" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]
