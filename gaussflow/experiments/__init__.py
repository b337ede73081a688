"""Experiments: paper reproductions (one package each, one registry line), phase diagrams and sweeps.

A paper package (e.g. :mod:`gaussflow.experiments.castin2025`) exposes

``add_arguments(parser)``
    its own command-line options (the ``reproduce`` command adds ``--out``, ``--force``, ``--quick`` and
    ``--full`` to every paper);
``main(args) -> int``
    run it, write figures / report / summary JSON into ``args.out``, return an exit code.

``gaussflow reproduce <paper>`` and ``make run`` read :data:`PAPERS`; packages are imported lazily so that
``gaussflow --help`` stays fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: paper name → module path (one line per paper)
PAPERS: dict[str, str] = {
    "castin2025": "gaussflow.experiments.castin2025",
    "alcalde2026": "gaussflow.experiments.alcalde2026",
    "burger2025": "gaussflow.experiments.burger2025",
    "minilm": "gaussflow.experiments.minilm",
}


def paper(name: str) -> ModuleType:
    """The package of a registered paper.

    Raises
    ------
    ValueError
        ``name`` is not in :data:`PAPERS`.
    """
    if name not in PAPERS:
        raise ValueError(f"`paper` must be one of {sorted(PAPERS)}; got {name!r}")
    return importlib.import_module(PAPERS[name])


__all__ = ["PAPERS", "paper"]
