"""Command line: a thin shim over the public API.

Examples
--------
gaussflow variants
gaussflow derive softmax                       # print the closure
gaussflow derive multihead --heads 12 --code   # print the generated NumPy source
gaussflow derive --all --out derivations/ --pdf --force
gaussflow solve softmax --t-end 5 --plot blowup.png   # built-in blow-up example
gaussflow solve l2 --params layer.toml --mean "[0, 0]" --cov "[[1, 0], [0, 2]]" --t-end 3
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._lazy import attach
from .._progress import quiet
from ..version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .derive import ALL_DERIVATIONS
    from .solve import SOLVE_DEFAULTS

__getattr__, __dir__, _public = attach(__name__, {"derive": ("ALL_DERIVATIONS",), "solve": ("SOLVE_DEFAULTS",)})

#: command → the module whose ``add_parser(sub)`` registers it (in ``gaussflow --help`` order). A command line
#: names one command, so :func:`main` imports only that module: ``gaussflow variants`` does not load SciPy's
#: statistics for ``verify`` or the batch integrator for ``phase-diagram``.
COMMANDS: dict[str, str] = {
    "variants": "gaussflow.cli.variants",
    "derive": "gaussflow.cli.derive",
    "solve": "gaussflow.cli.solve",
    "verify": "gaussflow.verify.cli",
    "reproduce": "gaussflow.cli.reproduce",
    "sphere": "gaussflow.cli.sphere",
    "sweep": "gaussflow.experiments.sweep",
    "phase-diagram": "gaussflow.experiments.phase",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``gaussflow`` argument parser: one module per subcommand, each with ``add_parser(sub)``.

    Parameters
    ----------
    only : str, optional
        Register only this command of :data:`COMMANDS` (what :func:`main` does once it knows the command);
        default: every command (``gaussflow --help`` lists them all).
    """
    if only is not None and only not in COMMANDS:
        raise ValueError(f"`only` must be one of {sorted(COMMANDS)}; got {only!r}")
    p = argparse.ArgumentParser(
        prog="gaussflow",
        description="Closed Gaussian moment dynamics of transformer attention.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples\n--------\n", 1)[1],
    )
    p.add_argument("--version", action="version", version=f"gaussflow {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="one of the commands below (`gaussflow COMMAND --help` for its options)")
    for name, module in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(module).add_parser(sub)
    for leaf in _leaves(p):
        leaf.add_argument("-q", "--quiet", action="store_true",
                          help="no progress bar and no status lines (what runs, which files are written); "
                               "results are still printed")
    return p


def _leaves(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The sub-parsers that run a command (``reproduce castin2025``, ``sphere simulate``, ``solve`` ...)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [p]
    return [leaf for a in subs for q in dict.fromkeys(a.choices.values()) for leaf in _leaves(q)]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None and argv == ["--version"]:  # no parser needed
        print(f"gaussflow {__version__}")
        return 0
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        with quiet(bool(getattr(args, "quiet", False))):
            return int(args.func(args))
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"gaussflow {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["ALL_DERIVATIONS", "COMMANDS", "SOLVE_DEFAULTS", "build_parser", "main"]
