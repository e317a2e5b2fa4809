"""Atomic file writes: every file the project writes appears complete or not at all.

This is the one writer of the project's files (run folders, reports, caches): a temporary file in
the target's folder, fsync, rename over the target, fsync of the folder. Every file it writes gets
the same mode, :data:`FILE_MODE` less the umask, which is what ``open(path, "w")`` gives: ``0644``
under the usual umask ``022``, so colleagues on a shared machine can read a run folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "FILE_MODE",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "describe_write_error",
    "fsync_dir",
    "write_error",
]

#: Mode of every file written here, before the process umask removes bits from it (``open``'s).
FILE_MODE = 0o666

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


def _create_temporary(path: Path) -> tuple[int, str]:
    """Create an empty ``.{name}.{random}.tmp`` beside ``path``; return its descriptor and name.

    ``tempfile.mkstemp`` would create it with mode 0600 and reading the umask to widen that is not
    thread-safe, so the file is created here with :data:`FILE_MODE` and the kernel applies the
    umask (and a folder's default ACL) exactly as for any new file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)  # POSIX / Windows only
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name beside {path}", str(path))


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it, rename it over ``path`` and
    fsync the folder.

    The file ends with mode :data:`FILE_MODE` less the umask, whatever the mode of the file it
    replaces. On an exception (a full disk, an interrupt) the temporary file is removed and
    ``path`` keeps its previous content. An ``OSError`` is re-raised with the same ``errno`` and a
    message that names ``path``, says whether the disk is full and that the previous content is
    unchanged.

    Args:
        path: The file to write; missing parent folders are created.
        mode: ``"w"`` (UTF-8 text) or ``"wb"`` (bytes).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(path)
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


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return ``path`` as a ``Path``."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path`` as a ``Path``."""
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; return ``path`` as a ``Path``."""
    return atomic_write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n"
    )
