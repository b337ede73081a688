"""Parameter sweeps on any ``concurrent.futures.Executor``, checkpointed per point and resumable.

>>> from concurrent.futures import ThreadPoolExecutor
>>> with ThreadPoolExecutor(2) as ex:
...     sweep(abs, [-1, 2, -3], executor=ex)
[1, 2, 3]

Checkpoint layout (``checkpoint`` is a directory, created if needed)::

    manifest.json   {"format": "gaussflow.experiments.sweep/2", "function": F, "grid": G, "n": N, "keys": [...]}
    <key>.npz       the result of one point (key k = sha256 of point k's canonical JSON), written as
                    <key>.npz.tmp-<random> then os.replace'd

No pickle anywhere: a point file is an ``.npz`` holding the result as JSON (``result``) plus its NumPy
arrays, read with ``allow_pickle=False`` — a checkpoint directory someone else wrote can be damaged but
cannot run code. Results must therefore be numbers, strings, None, lists, tuples, dicts with string
keys and NumPy arrays (bit-exact; inf/NaN kept); anything else is refused with a ``ValueError`` when
it is stored. ``F`` is a fingerprint of ``fn`` (module, qualified name, and the JSON/repr of a
``functools.partial``'s bound arguments) and ``G`` the sha256 of the sorted point keys; every point file
repeats both. Reusing a directory with a different function or grid raises ``ValueError`` (it would
otherwise return another sweep's results); re-ordering the same grid is fine. The fingerprint does not
see a changed function *body* under the same name: use a new directory after editing ``fn``.

Why one file per point: ``os.replace`` is atomic on POSIX and Windows, so a point's file either holds
its complete result or does not exist — a sweep killed at any instant loses at most the points being
computed, never a finished one (stray ``*.tmp-*`` files are ignored and removed on the next run).
A damaged point file or manifest raises :class:`gaussflow._io.FileFormatError` (a ``ValueError``)
naming the file; delete that file to recompute its point. Directories written by the pickle-based
format ``/1`` are refused, never loaded.

Parallel backends: any ``concurrent.futures.Executor``. The default is a ``ProcessPoolExecutor`` with
``os.cpu_count()`` workers, which pickles ``fn`` and the points: ``fn`` must be importable (a module-level
function or a ``functools.partial`` of one — not a lambda or a closure). With the optional ``distributed``
extra (dask; not a gaussflow dependency) a cluster works the same way::

    from distributed import Client, LocalCluster
    client = Client(LocalCluster(n_workers=4))
    results = sweep(fn, grid, executor=client.get_executor(), checkpoint="runs/sweep1")
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from .._io import (
    FileFormatError,
    check_writable,
    decode_tree,
    encode_tree,
    ensure_directory,
    load_mapping,
    read_npz,
    write_atomic,
)
from .._progress import echo, progress_bar

#: identifies the checkpoint layout
FORMAT = "gaussflow.experiments.sweep/2"


def grid_points(grid: Mapping[str, Iterable[Any]] | Iterable[Any]) -> list[Any]:
    """Expand ``grid`` into the list of points.

    A mapping ``{axis: values}`` gives the Cartesian product as dicts ``{axis: value}`` in row-major
    order (last axis fastest, like ``itertools.product``); any other iterable is taken point by point.
    Every point must be JSON-serializable (it names its checkpoint file).

    >>> grid_points({"a": [1, 2], "b": ["x", "y"]})
    [{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    if isinstance(grid, Mapping):
        names = list(grid)
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"`grid` axis names must be strings; got {names!r}")
        axes = []
        for n in names:
            vals = grid[n]
            if isinstance(vals, str | bytes) or not isinstance(vals, Iterable):
                raise ValueError(f"`grid[{n!r}]` must be an iterable of values; got {type(vals).__name__}")
            axes.append(list(vals))
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]
    if isinstance(grid, str | bytes) or not isinstance(grid, Iterable):
        raise ValueError(f"`grid` must be a mapping axis -> values or an iterable of points; got {type(grid).__name__}")
    return list(grid)


def point_key(point: Any) -> str:
    """sha256 of the canonical JSON of ``point`` (sorted keys, numpy scalars as Python numbers)."""
    try:
        text = json.dumps(point, sort_keys=True, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"every `grid` point must be JSON-serializable; got {point!r}: {exc}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary ``NAME.tmp-*`` beside it, fsync, os.replace)."""
    write_atomic(path, lambda fh: fh.write(data), tmp_prefix=path.name + ".tmp-", tmp_suffix="")


def function_fingerprint(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of ``fn`` (of its type for callable objects), with the bound arguments of a
    ``functools.partial`` as canonical JSON (``repr`` when not JSON-serializable)."""
    import functools

    if isinstance(fn, functools.partial):
        bound = {"args": list(fn.args), "keywords": dict(sorted(fn.keywords.items()))}
        try:
            text = json.dumps(bound, sort_keys=True, default=_json_default)
        except (TypeError, ValueError):
            text = repr(bound)
        return f"partial({function_fingerprint(fn.func)}, {text})"
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{getattr(target, '__module__', None)}:{getattr(target, '__qualname__', type(fn).__name__)}"


def grid_fingerprint(keys: list[str]) -> str:
    """sha256 of the sorted, de-duplicated point keys (independent of the grid's order)."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()[:32]


def _store(path: Path, result: Any, key: str, fingerprint: dict[str, str]) -> None:
    try:
        tree, arrays = encode_tree(result, "result")
    except TypeError as exc:
        raise ValueError(f"`fn` returned a result that cannot be checkpointed: {exc}") from None
    header = json.dumps({"format": FORMAT, "key": key, **fingerprint, "result": tree}, allow_nan=False)
    write_atomic(path, lambda fh: np.savez(fh, header=np.array(header), **arrays),
                 tmp_prefix=path.name + ".tmp-", tmp_suffix="")


def _load(path: Path, key: str, fingerprint: dict[str, str]) -> Any:
    data = read_npz(path, "sweep checkpoint")
    raw = data.pop("header", None)
    if raw is None or raw.ndim != 0 or raw.dtype.kind != "U":
        raise FileFormatError(path, "is not a sweep point file (no JSON `header`); delete it to recompute the point")
    try:
        head = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, f"has an unreadable JSON header ({exc}); delete it to recompute "
                                    "the point") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT or "result" not in head:
        raise FileFormatError(path, f"is not a {FORMAT} point file; delete it to recompute the point")
    if head.get("key") != key:
        raise FileFormatError(path, f"holds the result of point {head.get('key')!r}, not of {key!r} "
                                    "(renamed or planted)")
    for name, want in fingerprint.items():
        if head.get(name) != want:
            raise FileFormatError(path, f"was written for {name} {head.get(name)!r}, not {want!r}")
    return decode_tree(head["result"], data, path)


def sweep(
    fn: Callable[[Any], Any],
    grid: Mapping[str, Iterable[Any]] | Iterable[Any],
    *,
    executor: Executor | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """Evaluate ``fn(point)`` for every point of ``grid``, in parallel, checkpointing each result.

    Parameters
    ----------
    fn : callable
        ``fn(point) -> result``. With a process-based executor (the default) ``fn`` and the points must be
        picklable (module-level function or ``functools.partial``). With ``checkpoint``, results must be
        storable without pickle: numbers, strings, None, lists, tuples, dicts with string keys, NumPy arrays.
    grid : mapping or iterable
        ``{axis: values}`` for a Cartesian product of dict points, or an iterable of points (see
        :func:`grid_points`); points must be JSON-serializable.
    executor : concurrent.futures.Executor, optional
        Where to run. Default: a ``ProcessPoolExecutor(os.cpu_count())`` created and shut down here.
        A caller's executor is used and left running. ``distributed.Client(...).get_executor()`` works too.
    checkpoint : path, optional
        Directory for per-point results (module docstring). Points already stored there are loaded, not
        recomputed; every new result is stored atomically as soon as it arrives. Results are looked up by
        point key, so a grid may be re-ordered or extended between runs. (A single-file checkpoint is not
        supported: one file per point is what makes every write atomic and independent.)
    progress : callable, optional
        ``progress(done, total)`` after each point finishes (loaded points count as done at the start).
        Without it, a bar on stderr (:mod:`gaussflow._progress`) when stderr is a terminal and not under
        ``--quiet``; the results arrive here, in the calling process, so workers never draw.

    Returns
    -------
    list
        ``[fn(p) for p in grid_points(grid)]``, in grid order.

    Raises
    ------
    ValueError
        Malformed ``grid``/``checkpoint``, non-JSON-serializable points, a result that cannot be stored,
        or a ``checkpoint`` directory written for another function or grid. A damaged checkpoint file
        raises :class:`gaussflow._io.FileFormatError` (a ``ValueError`` subclass naming the file).
        Exceptions raised by ``fn`` propagate (finished points stay in the checkpoint).
    """
    if not callable(fn):
        raise ValueError(f"`fn` must be callable; got {type(fn).__name__}")
    if executor is not None and not isinstance(executor, Executor):
        raise ValueError(f"`executor` must be a concurrent.futures.Executor; got {type(executor).__name__}")
    if progress is not None and not callable(progress):
        raise ValueError(f"`progress` must be callable(done, total); got {type(progress).__name__}")
    points = grid_points(grid)
    keys = [point_key(p) for p in points]
    n = len(points)
    results: list[Any] = [None] * n
    done = [False] * n
    fingerprint = {"function": function_fingerprint(fn), "grid": grid_fingerprint(keys)}
    ckpt = None if checkpoint is None else _open_checkpoint(Path(checkpoint), keys, fingerprint)
    if ckpt is not None:
        for i, k in enumerate(keys):
            f = ckpt / f"{k}.npz"
            if f.exists():
                results[i], done[i] = _load(f, k, fingerprint), True
    todo = [i for i in range(n) if not done[i]]
    with progress_bar(n, "sweep", None if progress is None else False) as bar:
        report = progress if progress is not None else (lambda k, _n: bar.set(k))
        _run(fn, points, keys, todo, results, done, executor, ckpt, fingerprint, report)
    return results


def _run(fn: Callable[[Any], Any], points: list[Any], keys: list[str], todo: list[int], results: list[Any],
         done: list[bool], executor: Executor | None, ckpt: Path | None, fingerprint: dict[str, str],
         progress: Callable[[int, int], None]) -> None:
    """The computing half of :func:`sweep`: submit the missing points, store and report each result."""
    n = len(points)
    n_done = sum(done)
    progress(n_done, n)
    if not todo:
        return

    own = executor is None
    ex = ProcessPoolExecutor(max_workers=os.cpu_count() or 1) if own else executor
    assert ex is not None
    futures: dict[Future[Any], int] = {}
    try:
        # identical points (same key) are computed once
        first: dict[str, int] = {}
        for i in todo:
            if keys[i] not in first:
                first[keys[i]] = i
                futures[ex.submit(fn, points[i])] = i
        for fut in as_completed(futures):
            i = futures[fut]
            res = fut.result()
            if ckpt is not None:
                _store(ckpt / f"{keys[i]}.npz", res, keys[i], fingerprint)
            for j in todo:
                if keys[j] == keys[i] and not done[j]:
                    results[j], done[j] = res, True
                    n_done += 1
            progress(n_done, n)
    finally:
        for fut in futures:
            fut.cancel()
        if own:
            ex.shutdown(wait=True, cancel_futures=True)


def _open_checkpoint(path: Path, keys: list[str], fingerprint: dict[str, str]) -> Path:
    ensure_directory("checkpoint", path)
    if any(path.glob("*.pkl")):
        raise ValueError(f"`checkpoint` {path} holds pickle files of the old sweep format (/1); they are never "
                         "loaded (pickle runs code) — use a new directory")
    for tmp in path.glob("*.tmp-*"):  # debris of a run killed mid-write: never a valid result
        tmp.unlink(missing_ok=True)
    manifest = path / "manifest.json"
    if manifest.exists():
        try:
            meta = json.loads(manifest.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FileFormatError(manifest, f"unreadable sweep manifest: {exc}") from None
        if not isinstance(meta, dict):
            raise FileFormatError(manifest, f"a sweep manifest must be a JSON object; got {type(meta).__name__}")
        if meta.get("format") != FORMAT:
            raise ValueError(f"`checkpoint` {path} was not written by this gaussflow.experiments.sweep "
                             f"(format {meta.get('format')!r}, expected {FORMAT!r}); use a new directory")
        for name, want in fingerprint.items():
            if meta.get(name) != want:
                raise ValueError(f"`checkpoint` {path} belongs to a sweep with a different {name} "
                                 f"({meta.get(name)!r}, this sweep: {want!r}); its results are not reused — "
                                 "use a new directory or delete the old one")
        return path
    body = {"format": FORMAT, **fingerprint, "n": len(set(keys)), "keys": sorted(set(keys))}
    atomic_write_bytes(manifest, json.dumps(body).encode())
    return path


__all__ = ["FORMAT", "atomic_write_bytes", "function_fingerprint", "grid_fingerprint", "grid_points", "point_key",
           "sweep"]


# --------------------------------------------------------------------------- CLI: sweeps of solve()


def solve_point(point: Mapping[str, Any]) -> dict[str, Any]:
    """Solve one parameter point (module level, so process pools can pickle it).

    ``point`` holds ``variant``, ``params`` (the variant's parameters), ``mean``, ``cov``, ``t_end``;
    returns status, T*, regime and final eigenvalues as JSON types.
    """
    import numpy as np

    from ..attention import attention
    from ..integrate.solve import solve

    att = attention(point["variant"], **dict(point["params"]))
    traj = solve(att, (point["mean"], point["cov"]), (0.0, float(point["t_end"])))
    regime = traj.classify() if len(traj.t) >= 3 or traj.status == "converged" else None
    return {
        "status": traj.status, "t_final": float(traj.t[-1]), "t_blowup": traj.t_blowup,
        "regime": None if regime is None else regime.kind, "rank": None if regime is None else regime.rank,
        "eigenvalues_final": np.linalg.eigvalsh(traj.cov[-1])[::-1].tolist(), "nfev": traj.nfev,
    }


def _spec_points(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    for key in ("variant", "params", "mean", "cov", "t_end", "grid"):
        if key not in spec:
            raise ValueError(f"sweep spec is missing `{key}` (see `gaussflow sweep --help`)")
    base = {k: spec[k] for k in ("variant", "mean", "cov", "t_end")}
    out = []
    for values in grid_points(dict(spec["grid"])):
        params = dict(spec["params"]) | dict(values)
        out.append(base | {"params": params})
    return out


def _cmd_sweep(args: Any) -> int:
    from concurrent.futures import ProcessPoolExecutor

    spec = load_mapping(args.spec, "spec")
    points = _spec_points(spec)
    from .._cli import out_dir

    if isinstance(args.workers, int) and args.workers < 1:
        raise ValueError(f"`--workers` must be a positive integer; got {args.workers}")
    out = out_dir("out", args.out)
    summary = out / "sweep.json"
    check_writable([summary], args.force, hint="pass --force (finished points are reused)")
    echo(f"sweep: {len(points)} solve() points of {spec['variant']} on {args.workers} worker processes; "
         f"checkpoint {out / 'checkpoint'}, summary {summary}")
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        results = sweep(solve_point, points, executor=ex, checkpoint=out / "checkpoint")
    rows = [{"point": {k: p[k] for k in ("params",)}, **r} for p, r in zip(points, results, strict=True)]
    atomic_write_bytes(summary, json.dumps(rows, indent=1, default=_json_default).encode())
    counts: dict[str, int] = {}
    for r in results:
        counts[str(r["regime"])] = counts.get(str(r["regime"]), 0) + 1
    print(f"{len(points)} points: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    echo(f"wrote {summary}")
    return 0


def add_parser(sub: Any) -> None:
    """``gaussflow sweep SPEC --out DIR``: solve() over a grid of parameters, checkpointed."""
    import argparse

    p = sub.add_parser(
        "sweep", help="solve() over a parameter grid on a process pool, checkpointed and resumable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run solve() for every point of a parameter grid; a killed sweep resumes where it stopped.",
        epilog="examples:\n  gaussflow sweep spec.toml --out runs/beta --workers 2\n\n"
               "spec.toml:\n  variant = \"softmax\"\n  t_end = 5.0\n  mean = [0.0, 0.0]\n"
               "  cov = [[1.0, 0.3], [0.3, 0.5]]\n  [params]\n  Q = [[1.0, 0.5], [-0.5, 0.2]]\n"
               "  K = [[1.0, 0.0], [0.0, 1.0]]\n  V = [[1.0, 0.0], [0.0, 1.0]]\n"
               "  [grid]            # parameter name -> values (Cartesian product)\n  beta = [0.25, 0.5, 1.0]",
    )
    p.add_argument("spec", help="TOML or JSON sweep specification")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (sweep.json + checkpoint/)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes solving points in parallel (default: the CPU count, %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite sweep.json")
    p.set_defaults(func=_cmd_sweep)

