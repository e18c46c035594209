"""Atomic writes, the one home for them: a file or a directory is written to a
temporary sibling and renamed into place, so a reader never sees half of it and an
interrupted write leaves the previous version as it was. What is written is readable
as any file the process writes (the umask's permissions, not a temporary file's 0600).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_dir", "atomic_write_bytes", "atomic_write_text", "commit_dir",
           "staged_dir", "staged_file"]


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def staged_file(final: Path) -> Iterator[Path]:
    """A temporary path next to ``final`` for a writer that opens files by name:
    renamed into place when the block ends; deleted when it raises."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write(path: str | Path, write: Callable[[IO[Any]], object], mode: str) -> Path:
    path = Path(path)
    encoding = None if "b" in mode else "utf-8"
    with staged_file(path) as tmp, open(tmp, mode, encoding=encoding) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return _write(path, lambda f: f.write(text), "w")


def atomic_write_bytes(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(file)`` on a binary temporary sibling of ``path``, then rename it
    into place."""
    return _write(path, write, "wb")


def atomic_dir(final: Path) -> Path:
    """A fresh temporary directory next to ``final``; ``commit_dir(tmp, final)`` puts it
    in place once everything is written (``staged_dir`` does both)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a model dir is shared like any other
    return tmp


def commit_dir(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp`` (rename is atomic on one filesystem)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """A temporary directory to write ``final`` into: renamed into place when the block
    ends, deleted when it raises (an existing ``final`` is then left as it was)."""
    tmp = atomic_dir(final)
    try:
        yield tmp
        commit_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
