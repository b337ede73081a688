"""``gaussflow derive``: closures by the rule engine; LaTeX derivations and the generated source."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._cli import out_dir
from .._io import check_writable
from ..symbolic.closure import Closure, derive
from ..variants import variants

#: closures written by ``derive --all``: every registered variant plus the add-ons
ALL_DERIVATIONS: tuple[tuple[str, dict[str, object]], ...] = tuple(
    (n, {}) for n in variants()
) + (("softmax", {"residual": True, "feedforward": True}),)


def describe(c: Closure) -> str:
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


def run(args: argparse.Namespace) -> int:
    from ..latex import compile_pdf, file_stem, pdflatex, write_derivations
    from ..masked import masked_latex
    from ..sphere.proof import latex_document as sphere_latex

    if args.all == bool(args.name):
        raise ValueError("give one variant NAME or --all")
    if args.all:
        closures = [derive(n, **o) for n, o in ALL_DERIVATIONS]
    else:
        opts: dict[str, object] = {}
        if args.heads is not None:
            from ..attention import MAX_HEADS

            if not 1 <= args.heads <= MAX_HEADS:
                raise ValueError(f"`--heads` must be between 1 and {MAX_HEADS}; got {args.heads} "
                                 "(the derivation grows with the number of heads)")
            opts["heads"] = args.heads
        if args.residual:
            opts["residual"] = True
        if args.feedforward:
            opts["feedforward"] = True
        closures = [derive(args.name, **opts)]
    for c in closures:
        print(describe(c))
        if args.code:
            print(c.compile().source)
    if args.out is None:
        if args.pdf:
            raise ValueError("--pdf needs --out DIR")
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`--out` must be a directory; {str(out)!r} is an existing file")
    sections = {"masked": masked_latex(), "sphere": sphere_latex()} if args.all else None
    targets = [out / f"{file_stem(c)}.tex" for c in closures]
    targets += [out / f"{stem}.tex" for stem in sections or {}]
    if args.all:
        targets.append(out / "gaussflow.tex")
    check_writable(targets, args.force)
    out_dir("out", out)
    written = write_derivations(closures, out, master=args.all, sections=sections)
    for p in written:
        print(f"wrote {p}")
    if args.pdf:
        if pdflatex() is None:
            print("pdflatex not found: skipped the PDF (Debian: apt-get install texlive-latex-base)", file=sys.stderr)
            return 0
        main_tex = out / "gaussflow.tex" if args.all else written[0]
        print(f"wrote {compile_pdf(main_tex)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    pd.set_defaults(func=run)



__all__ = ["ALL_DERIVATIONS", "add_parser", "describe", "run"]
