"""IDX reader and writer: round trips and every kind of malformed file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from plausible.data.idx import IDXFormatError, read_idx, write_idx

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def _sample(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    if dtype.startswith("float"):
        return (rng.standard_normal((3, 4, 5)) * 1e3).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)


@pytest.mark.parametrize("compress", [False, True], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_round_trip(tmp_path: Path, dtype: str, compress: bool) -> None:
    array = _sample(dtype)
    path = write_idx(tmp_path / "a.idx", array, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.flags.writeable
    np.testing.assert_array_equal(back, array)
    assert [p.name for p in tmp_path.iterdir()] == ["a.idx"]  # no temporary file left behind


def test_round_trip_one_dimension_and_gzip_detected_by_content(tmp_path: Path) -> None:
    labels = np.arange(10, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "raw.gz", labels)), labels)
    gz = write_idx(tmp_path / "packed", labels, compress=True)
    np.testing.assert_array_equal(read_idx(gz), labels)


def test_known_header_bytes(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "a", np.zeros((2, 3), dtype=">i2"))
    assert path.read_bytes()[:12] == bytes([0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 3])


def _header(code: int, *dims: int) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes()


_VALID = _header(0x08, 2, 3, 4) + bytes(24)
CORRUPT = {
    "empty file": (b"", ["0 bytes"]),
    "bad magic": (b"\x01\x00" + _VALID[2:], ["00 00", "01 00"]),
    "unknown type code": (_header(0x0A, 2) + bytes(2), ["0x0A", "0x08 (uint8)"]),
    "zero dimensions": (bytes([0, 0, 8, 0]), ["0 dimensions"]),
    "header shorter than dims": (bytes([0, 0, 8, 3]) + bytes(4), ["3 dimensions", "16", "8"]),
    "truncated payload": (_VALID[:-4], ["2 x 3 x 4 uint8 = 24 bytes", "holds 20"]),
    "extra bytes": (_VALID + b"\x00", ["2 x 3 x 4 uint8 = 24 bytes", "holds 25"]),
    "wrong itemsize": (_header(0x0D, 5) + bytes(5), ["5 float32 = 20 bytes", "holds 5"]),
    "truncated gzip": (gzip.compress(_VALID)[:-10], ["gzip"]),
    "corrupt gzip": (gzip.compress(_VALID)[:12] + b"garbage" * 5, ["gzip"]),
}


@pytest.mark.parametrize("case", list(CORRUPT), ids=str)
def test_corrupt_files_raise_idx_format_error(tmp_path: Path, case: str) -> None:
    content, expected = CORRUPT[case]
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(path) in message
    assert "Replace the file" in message
    for text in expected:
        assert text in message


def test_write_idx_refuses_unsupported_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "a", np.array(3, dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []
