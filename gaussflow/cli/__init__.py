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
    sub = p.add_subparsers(dest="command", required=True)
    from ..experiments.phase import add_parser as add_phase_diagram
    from ..experiments.sweep import add_parser as add_sweep
    from ..verify import add_parser as add_verify

    for add in (_variants_cmd.add_parser, _derive_cmd.add_parser, _solve_cmd.add_parser, add_verify,
                _reproduce_cmd.add_parser, _sphere_cmd.add_parser,
                add_sweep, add_phase_diagram):
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"gaussflow {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["ALL_DERIVATIONS", "SOLVE_DEFAULTS", "build_parser", "main"]
