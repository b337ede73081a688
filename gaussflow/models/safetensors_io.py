"""Read (and write) safetensors files with NumPy alone.

A safetensors file is

    [8 bytes: n, little-endian u64] [n bytes: UTF-8 JSON header] [raw tensor bytes]

where the header maps each tensor name to ``{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}``
(offsets relative to the start of the data block, little-endian, C order) plus an optional
``"__metadata__"`` string map. No code is executed on load (unlike pickle-based checkpoints).

Why not the ``safetensors`` package: its NumPy API does the same ~40 lines but pulls in a compiled
Rust wheel; the format is fully specified by the layout above, so the project reads it with
``numpy.memmap`` and validates every field itself (offsets in range, contiguous, sizes matching
dtype × shape), keeping the runtime dependencies at sympy/numpy/scipy/mpmath/matplotlib.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: safetensors dtype codes → little-endian NumPy dtypes (BF16 and F8 have no NumPy dtype: refused)
DTYPES: dict[str, str] = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
#: header sizes above this are refused (the format's own limit is 100 MB)
MAX_HEADER = 100_000_000


class SafetensorsError(ValueError):
    """A file that is not a well-formed safetensors file (the message names the file and the field)."""


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, dict], dict[str, str], int]:
    """Parse and validate the header of a safetensors file.

    Returns
    -------
    tensors : dict
        name → {"dtype", "shape", "data_offsets"} as stored.
    metadata : dict
        The ``__metadata__`` string map (empty when absent).
    data_start : int
        Byte offset of the data block in the file.

    Raises
    ------
    SafetensorsError
        Truncated file, header length out of range, invalid JSON, unknown dtype, shape/offset mismatch,
        overlapping or out-of-range tensors.
    """
    p = Path(path)
    if not p.is_file():
        raise SafetensorsError(f"`path` {str(p)!r} is not a file")
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{p}: {size} bytes, too short for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > MAX_HEADER or 8 + n > size:
            raise SafetensorsError(f"{p}: header length {n} out of range for a {size}-byte file "
                                   "(not a safetensors file?)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafetensorsError(f"{p}: header is not UTF-8 JSON ({exc})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{p}: header must be a JSON object; got {type(header).__name__}")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict):
        raise SafetensorsError(f"{p}: __metadata__ must be an object")
    data_start = 8 + n
    data_len = size - data_start
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{p}: tensor {name!r} needs exactly dtype, shape, data_offsets; got {info!r}")
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in DTYPES:
            raise SafetensorsError(f"{p}: tensor {name!r} has dtype {dt!r}; readable: {', '.join(DTYPES)}")
        if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise SafetensorsError(f"{p}: tensor {name!r} has shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
            raise SafetensorsError(f"{p}: tensor {name!r} has data_offsets {offs!r}")
        b, e = offs
        want = math.prod(shape) * np.dtype(DTYPES[dt]).itemsize
        if not 0 <= b <= e <= data_len or e - b != want:
            raise SafetensorsError(f"{p}: tensor {name!r} ({dt}, shape {shape}) needs {want} bytes; data_offsets "
                                   f"{offs} in a {data_len}-byte data block")
        spans.append((b, e, name))
    spans.sort()
    for (_, e0, n0), (b1, _, n1) in itertools.pairwise(spans):
        if b1 < e0:
            raise SafetensorsError(f"{p}: tensors {n0!r} and {n1!r} overlap")
    return header, {str(k): str(v) for k, v in meta.items()}, data_start


def read_safetensors(path: str | os.PathLike[str], names: set[str] | None = None) -> dict[str, np.ndarray]:
    """Load tensors of a safetensors file as NumPy arrays (copies, native byte order).

    Parameters
    ----------
    path : path-like
    names : set of str, optional
        Load only these tensors (all when None); a name not in the file raises.

    Returns
    -------
    dict[str, ndarray]
        name → array of the stored shape and dtype.
    """
    header, _, start = read_header(path)
    if names is not None:
        missing = sorted(set(names) - set(header))
        if missing:
            raise SafetensorsError(f"{path}: no tensor(s) {missing}")
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if names is not None and name not in names:
            continue
        b, e = info["data_offsets"]
        dt = np.dtype(DTYPES[info["dtype"]])
        arr = np.frombuffer(mm[start + b: start + e].tobytes(), dtype=dt).reshape(info["shape"])
        out[name] = arr.astype(dt.newbyteorder("="), copy=False)
    del mm
    return out


def write_safetensors(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str] | None = None) -> Path:
    """Write arrays as a safetensors file (for tests and small exports).

    Parameters
    ----------
    tensors : mapping name → ndarray of a dtype in :data:`DTYPES`
    metadata : mapping of str → str, optional
    """
    codes = {np.dtype(v).newbyteorder("<") if np.dtype(v).itemsize > 1 else np.dtype(v): k for k, v in DTYPES.items()}
    header: dict[str, object] = {}
    blobs: list[bytes] = []
    pos = 0
    for name, value in tensors.items():
        a = np.ascontiguousarray(value)
        le = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
        if le not in codes:
            raise ValueError(f"`tensors[{name!r}]` has dtype {a.dtype}, not storable in safetensors")
        blob = a.astype(le, copy=False).tobytes()
        header[name] = {"dtype": codes[le], "shape": list(a.shape), "data_offsets": [pos, pos + len(blob)]}
        blobs.append(blob)
        pos += len(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the reference writer pads the header to 8 bytes
    p = Path(path)
    with p.open("wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    return p


__all__ = ["DTYPES", "SafetensorsError", "read_header", "read_safetensors", "write_safetensors"]
