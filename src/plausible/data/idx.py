"""Read and write IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed."""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path

import numpy as np

from plausible.io import atomic_write_bytes

__all__ = ["IDXFormatError", "read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes decompressed at a time
# Type code (third header byte) -> element type; IDX stores multi-byte values big-endian.
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_WHAT_TO_DO = (
    "Replace the file with a fresh copy (re-download it, or delete it so it is fetched again) "
    "and check that it really is an IDX file."
)


class IDXFormatError(ValueError):
    """An IDX file is malformed: bad magic, unknown type code, corrupt gzip or wrong length."""


def _error(path: str | Path, problem: str) -> IDXFormatError:
    return IDXFormatError(f"{path} is not a valid IDX file: {problem}. {_WHAT_TO_DO}")


def _declared_length(head: bytes | bytearray) -> int | None:
    """Total length an IDX header declares; ``None`` while incomplete, 0 when it is invalid."""
    if len(head) < 4:
        return None
    code, ndim = head[2], head[3]
    if head[0] or head[1] or code not in _DTYPES or ndim < 1:
        return 0
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        return None
    dims = np.frombuffer(bytes(head[4:header_len]), ">u4")
    return header_len + math.prod(int(d) for d in dims) * _DTYPES[code].itemsize


def _read_bytes(path: str | Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic bytes 1f 8b.

    Decompression is streamed and stops once the data exceeds the length its header declares
    (or the header turns out invalid), so a small malicious file (a "gzip bomb") cannot expand
    into more memory than the data it claims to hold.
    """
    data = Path(path).read_bytes()
    if not data.startswith(_GZIP_MAGIC):
        return data
    out = bytearray()
    limit: int | None = None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            while chunk := f.read(_CHUNK):
                out += chunk
                limit = _declared_length(out) if limit is None else limit
                if limit == 0:
                    break  # an invalid header: read_idx says what is wrong with it
                if limit is not None and len(out) > limit:
                    raise _error(
                        path,
                        f"the header declares {limit - _header_length(out)} bytes of data, but "
                        "the decompressed file holds more",
                    )
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise _error(
            path, f"expected a complete gzip stream, but decompressing failed ({err})"
        ) from err
    return bytes(out)


def _header_length(head: bytes | bytearray) -> int:
    return 4 + 4 * head[3]


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file into an array with the shape and element type its header declares.

    Args:
        path: IDX file, raw or gzip-compressed (detected from the content, not the name).

    Returns:
        Array of shape ``dims`` in native byte order (uint8, int8, int16, int32, float32 or
        float64), writable and owning its memory.

    Raises:
        IDXFormatError: If the header is malformed or the payload is not exactly
            ``prod(dims) * itemsize`` bytes long.
    """
    data = _read_bytes(path)
    if len(data) < 4:
        raise _error(path, f"expected a 4-byte header, but the data holds only {len(data)} bytes")
    if data[0] != 0 or data[1] != 0:
        raise _error(
            path, f"expected the first two bytes to be 00 00, found {data[0]:02x} {data[1]:02x}"
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        valid = ", ".join(f"0x{c:02X} ({d.name})" for c, d in _DTYPES.items())
        raise _error(path, f"unknown type code 0x{code:02X}; expected one of {valid}")
    if ndim < 1:
        raise _error(path, "the header declares 0 dimensions; expected at least 1")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise _error(
            path,
            f"the header declares {ndim} dimensions, which needs {header_len} header bytes, "
            f"but the data holds only {len(data)} bytes",
        )
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected, found = math.prod(dims) * dtype.itemsize, len(data) - header_len
    if found != expected:
        shape = " x ".join(map(str, dims))
        raise _error(
            path,
            f"the header says {shape} {dtype.name} = {expected} bytes of data, "
            f"but the file holds {found}",
        )
    array = np.frombuffer(data, dtype, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a native, writable copy


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file, atomically (temporary file in the same folder + rename).

    Args:
        path: Destination; its parent folder must exist.
        array: At least 1-D array of uint8, int8, int16, int32, float32 or float64.
        compress: Gzip the file (the name is not changed; readers detect gzip by content).

    Returns:
        ``path`` as a ``Path``.
    """
    array = np.asarray(array)
    codes = {(d.kind, d.itemsize): c for c, d in _DTYPES.items()}
    code = codes.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        valid = ", ".join(d.name for d in _DTYPES.values())
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}; convert the array to one of {valid}"
        )
    if array.ndim < 1 or array.ndim > 255:
        raise ValueError(f"IDX needs an array with 1 to 255 dimensions, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    content = header + array.astype(_DTYPES[code], copy=False).tobytes()
    if compress:
        content = gzip.compress(content, mtime=0)

    return atomic_write_bytes(path, content)
