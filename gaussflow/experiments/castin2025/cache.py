"""Results of the slowest rank-histogram cells, kept between runs.

Two of the twelve cells (softmax and L2 with V random, d = 5) take more CPU time than the other ten together
(≈ 190 of 350 s of Euler work, `tests`-independent measurement in docs/castin2025.md): their retry loops run
many 9·10⁴-step Euler runs. ``gaussflow reproduce castin2025 --full`` computes them and writes
``castin2025_cells.json`` next to the summary; a default run reads them from there when the file's settings
(Euler step, tolerances, max_iter, n_max, samples, schemes) equal the run's, and says so in the report.
Missing or stale entries are computed. The file holds JSON only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...version import __version__
from .ranks import RANK_DIMS, RANK_STEPS

#: file name in the output directory
CACHE_NAME = "castin2025_cells.json"
#: cells a default run may read from the cache (the slowest two)
SLOW_CELLS: tuple[str, ...] = ("softmax_random_d5", "l2_random_d5")
FORMAT = "gaussflow.castin2025.cells/1"


def settings(cell: str, samples: int, schemes: Sequence[str]) -> dict[str, Any]:
    """What a cell's result depends on: its Euler settings, the number of samples and the schemes run."""
    variant, vtype, dd = cell.split("_")
    steps, tol, max_iter, n_max = RANK_STEPS[(variant, vtype)]
    step = steps[RANK_DIMS.index(int(dd[1:]))]
    return {"step": step, "tol": tol, "max_iter": max_iter, "n_max": n_max, "samples": samples,
            "schemes": sorted(schemes)}


def load(out_dir: Path, cells: Sequence[str], samples: int, schemes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The cached results of ``cells`` whose settings match; an unreadable file counts as empty."""
    path = Path(out_dir) / CACHE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("cells"), dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for c in cells:
        entry = data["cells"].get(c)
        if isinstance(entry, dict) and entry.get("settings") == settings(c, samples, schemes) and "result" in entry:
            res = dict(entry["result"])
            res["cached"] = {"file": CACHE_NAME, "written_by": entry.get("written_by", "?")}
            out[c] = res
    return out


def save(out_dir: Path, results: dict[str, dict[str, Any]], samples: int, schemes: Sequence[str]) -> Path:
    """Write the results of the :data:`SLOW_CELLS` among ``results`` (other cached cells are kept)."""
    path = Path(out_dir) / CACHE_NAME
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        cells = old["cells"] if isinstance(old, dict) and old.get("format") == FORMAT else {}
    except (OSError, ValueError, KeyError):
        cells = {}
    for c, r in results.items():
        if c in SLOW_CELLS and "cached" not in r:
            cells[c] = {"settings": settings(c, samples, schemes), "result": r,
                        "written_by": f"gaussflow {__version__} reproduce castin2025"}
    path.write_text(json.dumps({"format": FORMAT, "cells": cells}, indent=0), encoding="utf-8")
    return path


__all__ = ["CACHE_NAME", "SLOW_CELLS", "load", "save", "settings"]
