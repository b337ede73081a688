"""Command line: a thin shim over the public API.

Examples
--------
gaussflow variants
gaussflow derive softmax                       # print the closure
gaussflow derive multihead --heads 12 --code   # print the generated NumPy source
gaussflow derive --all --out derivations/ --pdf --force
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .symbolic.closure import Closure, derive
from .variants import SUMMARIES, get_variant, variants

#: closures written by ``derive --all``: every registered variant plus the add-ons
ALL_DERIVATIONS: tuple[tuple[str, dict[str, object]], ...] = tuple(
    (n, {}) for n in variants()
) + (("softmax", {"residual": True, "feedforward": True}),)

Handler = Callable[[argparse.Namespace], int]
_EXTRA: list[Callable[[argparse._SubParsersAction], None]] = []


def register(add: Callable[[argparse._SubParsersAction], None]) -> None:
    """Let other modules add subcommands (``add(subparsers)`` sets ``func``)."""
    _EXTRA.append(add)


def _cmd_variants(args: argparse.Namespace) -> int:
    rows = []
    for n in variants():
        c = derive(n)
        rows.append((n, get_variant(n).normalization, "closed" if c.preserves_gaussian else "not closed",
                     SUMMARIES[n]))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    return 0


def _describe(c: Closure) -> str:
    lines = [f"variant: {c.name}  preserves_gaussian: {c.preserves_gaussian}"]
    lines.append(f"  Gamma(x)   = {c.velocity}")
    if c.preserves_gaussian:
        lines.append(f"  J          = {c.jacobian}")
        lines.append(f"  alpha_dot  = {c.mean_rhs}")
        lines.append(f"  Sigma_dot  = P + P.T,  P = {c.cov_half}")
    elif c.certificate is not None:
        lines.append(f"  certificate: {c.certificate.statement}")
        lines.append(f"  d2Gamma/dx2(x0) = {c.certificate.second_derivative}")
    return "\n".join(lines)


def _check_writable(paths: Sequence[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise ValueError(f"refusing to overwrite {existing[0]} (and {len(existing) - 1} more); pass --force")


def _cmd_derive(args: argparse.Namespace) -> int:
    from .latex import compile_pdf, pdflatex, write_derivations

    if args.all == bool(args.name):
        raise ValueError("give one variant NAME or --all")
    if args.all:
        closures = [derive(n, **o) for n, o in ALL_DERIVATIONS]
    else:
        opts: dict[str, object] = {}
        if args.heads is not None:
            opts["heads"] = args.heads
        if args.residual:
            opts["residual"] = True
        if args.feedforward:
            opts["feedforward"] = True
        closures = [derive(args.name, **opts)]
    for c in closures:
        print(_describe(c))
        if args.code:
            print(c.compile().source)
    if args.out is None:
        if args.pdf:
            raise ValueError("--pdf needs --out DIR")
        return 0
    out = Path(args.out)
    from .latex import _stem

    targets = [out / f"{_stem(c)}.tex" for c in closures]
    if args.all:
        targets.append(out / "gaussflow.tex")
    _check_writable(targets, args.force)
    written = write_derivations(closures, out, master=args.all)
    for p in written:
        print(f"wrote {p}")
    if args.pdf:
        if pdflatex() is None:
            print("pdflatex not found: skipped the PDF (Debian: apt-get install texlive-latex-base)", file=sys.stderr)
            return 0
        main_tex = out / "gaussflow.tex" if args.all else written[0]
        print(f"wrote {compile_pdf(main_tex)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gaussflow",
        description="Closed Gaussian moment dynamics of transformer attention.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples\n--------\n", 1)[1],
    )
    p.add_argument("--version", action="version", version=f"gaussflow {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    pv = sub.add_parser("variants", help="list the registered attention variants",
                        description="List the registered variants, their normalization and whether they close.")
    pv.set_defaults(func=_cmd_variants)

    pd = sub.add_parser(
        "derive", help="derive closures; write LaTeX derivations",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Derive the Gaussian closure of a variant with the symbolic rule engine.",
        epilog="examples:\n  gaussflow derive softmax\n  gaussflow derive l2 --residual --code\n"
               "  gaussflow derive --all --out derivations/ --pdf --force",
    )
    pd.add_argument("name", nargs="?", help="variant name (see `gaussflow variants`)")
    pd.add_argument("--all", action="store_true", help="every registered variant plus the add-on forms")
    pd.add_argument("--heads", type=int, help="number of heads (multihead)")
    pd.add_argument("--residual", action="store_true", help="residual value form V(y - x)")
    pd.add_argument("--feedforward", action="store_true", help="add W_ff x + b_ff")
    pd.add_argument("--out", help="directory for NAME.tex (and gaussflow.tex with --all)")
    pd.add_argument("--pdf", action="store_true", help="compile with pdflatex")
    pd.add_argument("--code", action="store_true", help="print the generated NumPy source")
    pd.add_argument("--force", action="store_true", help="overwrite existing files")
    pd.set_defaults(func=_cmd_derive)
    for add in _EXTRA:
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
