"""Command-line pieces shared by the subcommands (a leaf module: the subcommands live in ``cli/``,
``verify/`` and ``experiments/``, which must not import one another's parsers).

* :func:`subcommand` — a sub-parser with the common layout (description, ``examples:`` epilog).
* :func:`add_layer_arguments` / :func:`layer_arguments` — one attention layer and an initial law from
  ``--params FILE`` (JSON/TOML), ``--param KEY=JSON``, ``--A``/``--V`` (JSON) and ``--mean``/``--cov``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._io import ensure_directory, load_mapping


def subcommand(sub: argparse._SubParsersAction, name: str, *, help: str, description: str,
               examples: Sequence[str]) -> argparse.ArgumentParser:
    """``sub.add_parser(name, ...)`` with the raw-text layout and an ``examples:`` epilog."""
    return sub.add_parser(name, help=help, description=description,
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog="examples:\n" + "\n".join(f"  {e}" for e in examples))


def out_dir(flag: str, path: str | os.PathLike[str]) -> Path:
    """The directory of ``--flag``, created if needed; a ValueError naming the flag when ``path`` is an
    existing regular file or cannot be created (instead of a FileExistsError traceback)."""
    return ensure_directory(f"--{flag}", path)


def json_arg(flag: str, text: str | None) -> Any:
    """The JSON value of ``--flag`` (None when not given); a ValueError naming the flag otherwise."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"`--{flag}` must be JSON (e.g. '[[1, 0], [0, 1]]'); got {text!r}: {exc.msg}") from None


def add_layer_arguments(p: argparse.ArgumentParser, *, pairs: bool = True, A_help: str | None = None) -> None:
    """``--params FILE``, ``--param KEY=JSON`` (with ``pairs``), ``--A``, ``--V``, ``--mean``, ``--cov``."""
    p.add_argument("--params", metavar="FILE",
                   help="JSON or TOML file with the layer's parameters (and optionally mean, cov)")
    if pairs:
        p.add_argument("--param", action="append", metavar="KEY=JSON",
                       help="one parameter as NAME=JSON, e.g. beta=0.5 (repeatable; overrides --params)")
    p.add_argument("--A", help=A_help or "score matrix A = βKᵀQ as JSON (bilinear variants)")
    p.add_argument("--V", help="value matrix V as JSON (d × d)")
    p.add_argument("--mean", help="initial mean α₀ as JSON (length d)")
    p.add_argument("--cov", help="initial covariance Σ₀ as JSON (d × d, symmetric PSD)")


def layer_arguments(args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any]:
    """(parameters, mean, cov) from the options of :func:`add_layer_arguments`.

    The file is read first, ``--param`` pairs and ``--A``/``--V`` override its entries; ``mean``/``cov``
    come out of the parameters (file) unless ``--mean``/``--cov`` are given. Missing values are None.

    Raises
    ------
    ValueError
        Unreadable file, a pair without ``=``, a value that is not JSON (each names the option).
    """
    params: dict[str, Any] = dict(load_mapping(args.params, "--params")) if args.params else {}
    for pair in getattr(args, "param", None) or []:
        key, sep, val = pair.partition("=")
        if not sep:
            raise ValueError(f"`--param` must be KEY=JSON; got {pair!r}")
        params[key.strip()] = json_arg(f"param {key.strip()}", val)
    for flag in ("A", "V"):
        val = json_arg(flag, getattr(args, flag))
        if val is not None:
            params[flag] = val
    mean, cov = params.pop("mean", None), params.pop("cov", None)
    if args.mean is not None:
        mean = json_arg("mean", args.mean)
    if args.cov is not None:
        cov = json_arg("cov", args.cov)
    return params, mean, cov


__all__ = ["add_layer_arguments", "json_arg", "layer_arguments", "out_dir", "subcommand"]
