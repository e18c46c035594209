import os
import stat

import pytest

from ponder.files import atomic_write_bytes, atomic_write_text, staged_dir, staged_file


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    p = tmp_path / "r.json"
    atomic_write_text(p, "old")
    with pytest.raises(TypeError):
        atomic_write_text(p, object())  # not a string: the write fails
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["r.json"]  # no temp file left


def test_written_files_have_the_umask_permissions_and_parents_are_made(tmp_path):
    old = os.umask(0o022)
    try:
        text = atomic_write_text(tmp_path / "a" / "r.json", "é\n")
        raw = atomic_write_bytes(tmp_path / "b.bin", lambda f: f.write(b"\x00\x01"))
        with staged_file(tmp_path / "c.gguf") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert text.read_text(encoding="utf-8") == "é\n" and raw.read_bytes() == b"\x00\x01"
    for p in (text, raw, tmp_path / "c.gguf"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644  # not a temporary file's 0600


def test_staged_dir_replaces_whole_or_not_at_all(tmp_path):
    final = tmp_path / "model"
    with staged_dir(final) as d:
        (d / "x").write_text("1")
    with pytest.raises(RuntimeError), staged_dir(final) as d:
        (d / "x").write_text("2")
        raise RuntimeError("interrupted")
    assert (final / "x").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with staged_dir(final) as d:
        (d / "y").write_text("3")
    assert [p.name for p in final.iterdir()] == ["y"]
