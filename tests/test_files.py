"""utils/files.py: atomic writes leave the old file or the new one, never half of one and never a stray temporary."""
from __future__ import annotations

import os
import stat

import pytest

from utils.errors import UserError
from utils.files import (
    atomic_write, check_output_dir, check_output_file, folder_lock, remove_stale_temporaries, write_text_atomic,
)


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    write_text_atomic(path, "old\n")
    assert path.read_text() == "old\n"
    with atomic_write(path) as f:
        f.write("new")
        assert path.read_text() == "old\n"  # nothing visible before the writer finishes
    assert path.read_text() == "new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]
    # the umask's permissions, not mkstemp's private 0600
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, error):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(type(error)):
        with atomic_write(path, binary=True) as f:
            f.write(b"half a fi")
            raise error
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_output_paths_are_checked_before_any_work(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert check_output_file(tmp_path / "new" / "deeper" / "out.json", "--output_json").name == "out.json"
    assert check_output_dir(tmp_path / "plots", "--plots").name == "plots"
    with pytest.raises(UserError, match="is a folder"):
        check_output_file(folder, "--output_json")
    with pytest.raises(UserError, match="is a file"):
        check_output_dir(a_file, "--plots")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_output_file(a_file / "out.json", "--output_json")
    if os.geteuid() != 0:  # root writes into read-only folders
        folder.chmod(0o555)
        try:
            with pytest.raises(UserError, match="read-only"):
                check_output_dir(folder / "run", "--out")
        finally:
            folder.chmod(0o755)


def test_folder_lock_refuses_a_second_writer_and_is_released(tmp_path):
    with folder_lock(tmp_path, "--out"):
        with pytest.raises(UserError, match="in use by another training run"):
            with folder_lock(tmp_path, "--out"):
                pass
    with folder_lock(tmp_path, "--out"):  # free again after the first holder left
        pass


def test_temporaries_of_a_killed_writer_are_removed(tmp_path):
    (tmp_path / "plots").mkdir()
    stale = [tmp_path / ".last.pt.x1y2.tmp", tmp_path / "plots" / ".curve.png.abcd.tmp"]
    keep = [tmp_path / "last.pt", tmp_path / "notes.tmp", tmp_path / ".lock"]
    for p in stale + keep:
        p.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
