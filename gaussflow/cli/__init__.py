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
import sys
from collections.abc import Sequence

from .._progress import quiet
from ..version import __version__
from . import derive as _derive_cmd
from . import reproduce as _reproduce_cmd
from . import solve as _solve_cmd
from . import sphere as _sphere_cmd
from . import variants as _variants_cmd
from .derive import ALL_DERIVATIONS
from .solve import SOLVE_DEFAULTS


def build_parser() -> argparse.ArgumentParser:
    """The ``gaussflow`` argument parser: one module per subcommand, each with ``add_parser(sub)``."""
    p = argparse.ArgumentParser(
        prog="gaussflow",
        description="Closed Gaussian moment dynamics of transformer attention.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples\n--------\n", 1)[1],
    )
    p.add_argument("--version", action="version", version=f"gaussflow {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="one of the commands below (`gaussflow COMMAND --help` for its options)")
    from ..experiments.phase import add_parser as add_phase_diagram
    from ..experiments.sweep import add_parser as add_sweep
    from ..verify import add_parser as add_verify

    for add in (_variants_cmd.add_parser, _derive_cmd.add_parser, _solve_cmd.add_parser, add_verify,
                _reproduce_cmd.add_parser, _sphere_cmd.add_parser,
                add_sweep, add_phase_diagram):
        add(sub)
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
    parser = build_parser()
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


__all__ = ["ALL_DERIVATIONS", "SOLVE_DEFAULTS", "build_parser", "main"]
