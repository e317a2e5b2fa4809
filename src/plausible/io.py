"""Atomic file writes: every file the project writes appears complete or not at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "describe_write_error",
    "fsync_dir",
    "write_error",
]

#: errno values that mean "the disk (or the user's quota) is full".
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def describe_write_error(err: OSError, path: str | Path) -> str:
    """One sentence on why writing ``path`` failed and what to do, for an ``OSError``."""
    reason = err.strerror or str(err)
    if err.errno in _FULL:
        return (
            f"writing {path} failed because the disk is full ({reason}); free some space "
            f"on the file system of {Path(path).parent} or write somewhere else"
        )
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"writing {path} failed: {reason}; check that the folder {Path(path).parent} "
            "is writable or choose another output folder"
        )
    return f"writing {path} failed: {reason}"


def write_error(err: OSError, path: str | Path, note: str = "") -> OSError:
    """``err`` restated for ``path`` (plus ``note``), keeping its errno so ENOSPC stays testable."""
    message = describe_write_error(err, path) + (f"; {note}" if note else "")
    return OSError(message) if err.errno is None else OSError(err.errno, message)


def fsync_dir(path: str | Path) -> None:
    """Flush ``path``'s directory entries to disk, so a rename inside it survives a power cut.

    Without it, the renamed file's data is on disk but the new name may not be. Platforms that
    cannot open a directory (Windows) are skipped: their renames are durable by other means.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory; the rename still happened
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it, rename it over ``path`` and
    fsync the folder.

    On an exception (a full disk, an interrupt) the temporary file is removed and ``path`` keeps
    its previous content. An ``OSError`` is re-raised with the same ``errno`` and a message that
    names ``path``, says whether the disk is full and that the previous content is unchanged.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        fsync_dir(path.parent)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError):
            note = f"the previous content of {path.name}, if any, is unchanged"
            raise write_error(err, path, note) from err
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")
