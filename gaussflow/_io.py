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


def write_atomic(
    path: str | os.PathLike[str], write: Any, mode: str = "wb", tmp_prefix: str | None = None, tmp_suffix: str = ".tmp"
) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync, then ``os.replace`` it into
    place: readers never see a partial file and an interrupted write leaves nothing behind.
    The temporary name is ``tmp_prefix + random + tmp_suffix`` (default ``.NAME.<random>.tmp``)."""
    target = Path(path)
    prefix = f".{target.name}." if tmp_prefix is None else tmp_prefix
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=tmp_suffix, dir=target.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
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
    """Read a file written by :func:`save_npz` (never unpickles); checks the ``required`` arrays."""
    with np.load(Path(path), allow_pickle=False) as data:
        missing = (set(required) | {"metadata"}) - set(data.files)
        if missing:
            raise ValueError(f"`path` is not a saved {kind}: missing {sorted(missing)} in {path}")
        meta = json.loads(str(data["metadata"]))
        arrays = {k: data[k] for k in data.files if k != "metadata"}
    return arrays, meta


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
