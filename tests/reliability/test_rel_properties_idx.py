"""Property tests of the IDX reader: any file gives the right array or an IDXFormatError.

Never another exception, a hang or a blow-up in memory: random bytes, random gzip streams,
mutations of valid files and a gzip bomb all end in a clear error that names the file.
"""

from __future__ import annotations

import gzip
import io
import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from plausible.data.idx import IDXFormatError, read_idx, write_idx

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
DTYPES = ["uint8", "int8", ">i2", ">i4", ">f4", ">f8"]
CODES = {"uint8": 0x08, "int8": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def _check(path: Path) -> np.ndarray | None:
    """Read ``path``; an array must match its own header, an error must be an IDXFormatError."""
    try:
        array = read_idx(path)
    except IDXFormatError as err:
        assert str(path) in str(err) and "Replace the file" in str(err), err
        return None
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            head = f.read(4 + 4 * 255)
    else:
        head = raw
    ndim = head[3]
    dims = tuple(int(d) for d in np.frombuffer(head, ">u4", count=ndim, offset=4))
    assert array.shape == dims
    if head is raw:
        assert len(raw) == 4 + 4 * ndim + math.prod(dims) * array.dtype.itemsize
    return array


arrays = st.sampled_from(DTYPES).flatmap(
    lambda dtype: hnp.arrays(
        np.dtype(dtype),
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements={"allow_nan": True, "allow_infinity": True} if "f" in dtype else None,
    )
)


@FAST
@given(array=arrays, compress=st.booleans())
def test_round_trip_of_any_array(tmp_path: Path, array: np.ndarray, compress: bool) -> None:
    path = write_idx(tmp_path / "a.idx", array, compress=compress)
    back = _check(path)
    assert back is not None
    np.testing.assert_array_equal(back, array.astype(array.dtype.newbyteorder("=")))


@FAST
@given(data=st.binary(max_size=200), gzipped=st.booleans())
def test_random_bytes_never_crash(tmp_path: Path, data: bytes, gzipped: bool) -> None:
    path = tmp_path / "random.idx"
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    _check(path)


@FAST
@given(
    dtype=st.sampled_from(DTYPES),
    dims=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4),
    payload=st.binary(max_size=64),
)
def test_any_header_with_any_payload(
    tmp_path: Path, dtype: str, dims: list, payload: bytes
) -> None:
    """Headers that declare huge sizes (up to 2**32 - 1 per dimension) are checked, not trusted."""
    header = bytes([0, 0, CODES[dtype], len(dims)]) + np.asarray(dims, ">u4").tobytes()
    path = tmp_path / "header.idx"
    path.write_bytes(header + payload)
    _check(path)


@FAST
@given(
    array=arrays,
    compress=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 10**6) | st.none(),
    extra=st.binary(max_size=8),
)
def test_mutated_files(
    tmp_path: Path, array: np.ndarray, compress: bool, edits: list, cut: int | None, extra: bytes
) -> None:
    """Flipped bytes, truncation and trailing junk, applied to the file as stored (gzip too)."""
    data = bytearray(write_idx(tmp_path / "m.idx", array, compress=compress).read_bytes())
    for where, value in edits:
        data[where % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path / "m.idx"
    path.write_bytes(bytes(data) + extra)
    _check(path)


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    """200 MB of zeros behind a header that declares 784 bytes: refused after the first chunks."""
    header = bytes([0, 0, 0x08, 2, 0, 0, 0, 28, 0, 0, 0, 28])
    member = gzip.compress(bytes(1 << 20), mtime=0)  # 1 MiB of zeros in about 1 KB
    path = tmp_path / "bomb.idx.gz"
    path.write_bytes(gzip.compress(header, mtime=0) + member * 200)
    assert path.stat().st_size < 1 << 20
    tic = time.perf_counter()
    with pytest.raises(IDXFormatError, match="declares 784 bytes of data, but the decompressed"):
        read_idx(path)
    assert time.perf_counter() - tic < 5.0


def test_a_truncated_gzip_stream_is_a_clear_error(tmp_path: Path) -> None:
    data = write_idx(tmp_path / "t.idx", np.zeros((4, 4), np.uint8), compress=True).read_bytes()
    (tmp_path / "t.idx").write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXFormatError, match="complete gzip stream"):
        read_idx(tmp_path / "t.idx")
