"""Shared persistence helpers: JSON-safe metadata, package versions, atomic ``.npz`` files."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def package_versions() -> dict[str, str]:
    """Versions of gaussflow and the numerical stack, recorded with every saved result."""
    import scipy
    import sympy

    from .version import __version__

    return {"gaussflow": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "sympy": sympy.__version__}


def jsonable(value: Any) -> Any:
    """Plain JSON types (arrays become nested lists, NumPy scalars Python scalars)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def ensure_directory(label: str, path: str | os.PathLike[str]) -> Path:
    """``path`` as a directory, created if needed; one ValueError naming ``label`` (the argument, e.g.
    ``"checkpoint"`` or ``"--out"``) when it is an existing regular file or cannot be created."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"`{label}` must be a directory; {str(p)!r} is an existing file")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"`{label}` directory {str(p)!r} cannot be created: {exc.strerror or exc}") from None
    return p


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: permission bits of files written by :func:`write_atomic` (0o666 minus the process umask)
_FILE_MODE = _umask_mode()


def write_atomic(
    path: str | os.PathLike[str], write: Any, mode: str = "wb", tmp_prefix: str | None = None, tmp_suffix: str = ".tmp"
) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync, then ``os.replace`` it into
    place: readers never see a partial file and an interrupted write leaves nothing behind.
    The temporary name is ``tmp_prefix + random + tmp_suffix`` (default ``.NAME.<random>.tmp``)."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ValueError(f"cannot write {str(target)!r}: its directory {str(target.parent)!r} does not exist")
    if target.is_dir():
        raise ValueError(f"cannot write {str(target)!r}: it is a directory")
    prefix = f".{target.name}." if tmp_prefix is None else tmp_prefix
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=tmp_suffix, dir=target.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a saved file gets the mode open() would give it
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> Path:
    """Arrays plus JSON metadata in one ``.npz``, written atomically (the path is used as given)."""
    meta = json.dumps(jsonable(dict(metadata)), allow_nan=True)
    return write_atomic(path, lambda fh: np.savez(fh, metadata=np.array(meta), **arrays))


def load_npz(path: str | os.PathLike[str], required: set[str], kind: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_npz` (never unpickles); checks the ``required`` arrays.

    Any damage (missing/truncated/garbage file, missing arrays, unreadable metadata) raises
    :class:`FileFormatError` (a ``ValueError``) naming the file and what is wrong."""
    data = read_npz(path, kind)
    missing = (set(required) | {"metadata"}) - set(data)
    if missing:
        raise FileFormatError(path, f"is not a saved {kind}: missing {sorted(missing)}")
    raw = data.pop("metadata")
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise FileFormatError(path, f"the metadata of this {kind} is not a JSON string")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, f"the metadata of this {kind} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise FileFormatError(path, f"the metadata of this {kind} must be a JSON object; got {type(meta).__name__}")
    return data, meta


def load_mapping(path: str | os.PathLike[str], argname: str) -> dict[str, Any]:
    """A table from a TOML (``.toml``) or JSON file, with one clear ``ValueError`` naming ``argname``."""
    import tomllib

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"`{argname}` file {str(path)!r} does not exist")
    raw = p.read_bytes()
    kind = "TOML" if p.suffix == ".toml" else "JSON"
    try:
        data = tomllib.loads(raw.decode()) if kind == "TOML" else json.loads(raw)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"`{argname}` file {str(path)!r} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"`{argname}` file {str(path)!r} must hold a table/object")
    return data


def check_writable(paths: Any, force: bool, hint: str = "pass --force") -> None:
    """Refuse to overwrite existing output files unless ``force``: one ``ValueError`` naming the first."""
    existing = [str(p) for p in paths if p is not None and Path(p).exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ValueError(f"refusing to overwrite {existing[0]}{more}; {hint}")


class FileFormatError(ValueError):
    """A file that cannot be read as what it claims to be (truncated, empty, garbage, wrong type,
    missing keys, invalid values). The message names the file and what is wrong; ``path`` holds it."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


#: tags of :func:`encode_tree` (a dict holding one of these keys is itself encoded as tagged pairs)
_TAGS = ("__ndarray__", "__tuple__", "__items__", "__float__")


def encode_tree(value: Any, where: str = "value") -> tuple[Any, dict[str, np.ndarray]]:
    """Split ``value`` into a JSON tree and the numeric arrays it holds (no pickle, bit-exact arrays).

    Storable: None, bool, int, float (inf/NaN included), str, list, tuple, dict (string keys),
    NumPy scalars and arrays of a numeric/bool/string dtype. Anything else raises ``TypeError``
    naming ``where`` and the offending type.
    """
    arrays: dict[str, np.ndarray] = {}

    def enc(v: Any, at: str) -> Any:
        if isinstance(v, np.ndarray | np.generic):
            arr = np.asarray(v)
            if arr.dtype.kind not in "biufcUS":
                raise TypeError(f"{at}: cannot store a NumPy array of dtype {arr.dtype} without pickle")
            name = f"a{len(arrays)}"
            arrays[name] = arr
            return {"__ndarray__": name, "scalar": isinstance(v, np.generic)}
        if v is None or isinstance(v, bool | str):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            return int(v)
        if isinstance(v, float):
            return v if np.isfinite(v) else {"__float__": repr(float(v))}
        if isinstance(v, tuple):
            return {"__tuple__": [enc(x, f"{at}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [enc(x, f"{at}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, Mapping):
            if not all(isinstance(k, str) for k in v):
                raise TypeError(f"{at}: cannot store a dict with non-string keys {list(v)[:4]!r}")
            items = {k: enc(x, f"{at}[{k!r}]") for k, x in v.items()}
            return {"__items__": list(items.items())} if any(k in _TAGS for k in items) else items
        raise TypeError(f"{at}: cannot store a {type(v).__name__} without pickle; return numbers, strings, "
                        "lists, tuples, dicts with string keys or NumPy arrays")

    return enc(value, where), arrays


def decode_tree(tree: Any, arrays: Mapping[str, np.ndarray], path: str | os.PathLike[str]) -> Any:
    """Inverse of :func:`encode_tree`; a malformed tree raises :class:`FileFormatError` naming ``path``."""

    def dec(v: Any) -> Any:
        if isinstance(v, list):
            return [dec(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "__ndarray__" in v:
            name = v["__ndarray__"]
            if not isinstance(name, str) or name not in arrays:
                raise FileFormatError(path, f"refers to a missing array {name!r}")
            arr = arrays[name]
            return arr[()] if v.get("scalar") else arr
        if "__tuple__" in v:
            if not isinstance(v["__tuple__"], list):
                raise FileFormatError(path, "malformed tuple entry")
            return tuple(dec(x) for x in v["__tuple__"])
        if "__float__" in v:
            text = v["__float__"]
            if text not in ("inf", "-inf", "nan"):
                raise FileFormatError(path, f"malformed float entry {text!r}")
            return float(text)
        if "__items__" in v:
            pairs = v["__items__"]
            if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                raise FileFormatError(path, "malformed dict entry")
            return {str(k): dec(x) for k, x in pairs}
        return {k: dec(x) for k, x in v.items()}

    return dec(tree)


def read_npz(path: str | os.PathLike[str], kind: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (never unpickling); any damage raises :class:`FileFormatError`."""
    import zipfile

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(p, f"no such {kind} file")
    try:
        with np.load(p, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise FileFormatError(p, f"is a single .npy array, not a {kind} (.npz)")
            return {k: data[k] for k in data.files}
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise FileFormatError(p, f"is not a readable {kind} (.npz): {type(exc).__name__}: {exc}") from None
