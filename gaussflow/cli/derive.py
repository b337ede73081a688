"""``gaussflow derive``: closures by the rule engine; LaTeX derivations and the generated source."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import sympy as sp

from .. import symbols
from .._cli import out_dir
from .._io import check_writable
from .._progress import echo, progress_bar
from ..symbolic.closure import Closure, derive
from ..variants import variants

#: closures written by ``derive --all``: every registered variant plus the add-ons
ALL_DERIVATIONS: tuple[tuple[str, dict[str, object]], ...] = tuple(
    (n, {}) for n in variants()
) + (("softmax", {"residual": True, "feedforward": True}),)


#: the token/law symbols and the dimension symbols, described in :data:`gaussflow.symbols.DESCRIPTIONS`
_SHARED = {sym: symbols.DESCRIPTIONS[sym] for sym in (symbols.x, symbols.y, symbols.alpha, symbols.Sigma)}
_DIMS = {sym: symbols.DESCRIPTIONS[sym] for sym in symbols.DIMS.values()}


def _shape(shape: tuple[str, ...]) -> str:
    return "scalar" if not shape else "×".join(shape) + ("×1" if len(shape) == 1 else "")


def where(c: Closure, exprs: list[sp.Basic]) -> list[str]:
    """The definitions of every symbol in ``exprs`` (the printed formulas of ``c``), from the closure itself.

    Named products from ``c.definitions`` (A = beta*K.T*Q, ...; their own symbols are defined too), the
    variant's parameters (``c.variant.params``: doc and shape), the shared symbols of :mod:`gaussflow.symbols`,
    the d = 1 scalars of a non-closure certificate (``c.certificate.symbols``), special functions (their
    docstrings) and the matrix notation used.
    """
    defs = dict(c.definitions)
    todo, seen = list(exprs), []
    names: set[str] = set()
    while todo:
        e = todo.pop()
        for sym in e.free_symbols:
            if sym in defs and sym not in seen:
                seen.append(sym)
                todo.append(defs[sym])
            names.add(str(sym))
    out: list[str] = []
    named = [f"{sym} = {defs[sym]}" for sym, _ in c.definitions if sym in seen]
    if named:
        out.append("named products: " + ", ".join(named))
    params = [f"{p.name}: {p.doc} ({_shape(p.shape)})" for p in c.variant.params if p.name in names]
    if params:
        out.append("parameters: " + "; ".join(params))
    shared = [f"{sym}: {text}" for sym, text in _SHARED.items() if str(sym) in names]
    if any(e.atoms(sp.Identity) for e in exprs):
        shared.append("I: the d×d identity")
    if shared:
        out.append("symbols: " + "; ".join(shared))
    dims = {str(d) for p in c.variant.params if p.name in names for d in p.shape} | ({"d"} if shared else set())
    dim_text = [f"{sym} = {text}" for sym, text in _DIMS.items() if str(sym) in dims]
    if dim_text:
        out.append("dimensions: " + ", ".join(dim_text))
    if c.certificate is not None:
        scal = [f"{v} = {k} in d = 1" for k, v in c.certificate.symbols.items() if str(v) != k and str(v) in names]
        if scal:
            out.append("d = 1 scalars: " + ", ".join(scal))
    funcs = sorted({type(f) for e in exprs for f in e.atoms(sp.Function)
                    if type(f).__module__.startswith("gaussflow.") and type(f).__doc__}, key=lambda t: t.__name__)
    for f in funcs:
        out.append(f"{f.__name__} = {(f.__doc__ or '').strip().splitlines()[0].rstrip('.')}")
    for mod in dict.fromkeys(sys.modules[f.__module__] for f in funcs):
        out += [line.strip().split(".  ")[0].rstrip(".") for line in (mod.__doc__ or "").splitlines() if ":=" in line]
    notation = []
    if any(e.atoms(sp.Transpose) for e in exprs):
        notation.append("M.T = transpose")
    if any(e.atoms(sp.Inverse) for e in exprs):
        notation.append("M**(-1) = inverse")
    if any(m.exp == sp.S.Half for e in exprs for m in e.atoms(sp.MatPow)):
        notation.append("M**(1/2) = the symmetric PSD square root")
    if any(e.atoms(sp.Trace) for e in exprs):
        notation.append("Trace(m) = the entry of a 1×1 matrix m")
    if notation:
        out.append("notation: " + ", ".join(notation) + ", products are matrix products")
    return out


def describe(c: Closure) -> str:
    """The closure's formulas, then a ``where`` block defining every symbol they use (:func:`where`)."""
    lines = [f"variant: {c.name}  preserves_gaussian: {c.preserves_gaussian}"]
    lines.append(f"  Gamma(x)   = {c.velocity}")
    exprs: list[sp.Basic] = [c.velocity]
    if c.preserves_gaussian:
        lines.append(f"  J          = {c.jacobian}")
        lines.append(f"  alpha_dot  = {c.mean_rhs}")
        lines.append(f"  Sigma_dot  = P + P.T,  P = {c.cov_half}")
        exprs += [e for e in (c.jacobian, c.mean_rhs, c.cov_half) if e is not None]
    elif c.certificate is not None:
        lines.append(f"  certificate: {c.certificate.statement}")
        lines.append(f"  d2Gamma/dx2(x0) = {c.certificate.second_derivative}")
        exprs.append(c.certificate.second_derivative)
    block = where(c, exprs)
    if block:
        lines.append("  where")
        lines += [textwrap.fill(line, 116, initial_indent="    ", subsequent_indent="      ", break_long_words=False,
                                break_on_hyphens=False) for line in block]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..latex import compile_pdf, file_stem, pdflatex, write_derivations
    from ..masked import masked_latex
    from ..sphere.proof import latex_document as sphere_latex

    if args.all == bool(args.name):
        raise ValueError("give one variant NAME or --all")
    if args.all:
        echo(f"derive --all: {len(ALL_DERIVATIONS)} closures by the rule engine"
             + (f"; writing LaTeX into {args.out}" if args.out else ""))
        with progress_bar(len(ALL_DERIVATIONS), "derive") as bar:
            closures = []
            for n, o in ALL_DERIVATIONS:
                with bar.stage(n):
                    closures.append(derive(n, **o))
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
        echo(f"wrote {p}")
    if args.pdf:
        if pdflatex() is None:
            print("pdflatex not found: skipped the PDF (Debian: apt-get install texlive-latex-base)", file=sys.stderr)
            return 0
        main_tex = out / "gaussflow.tex" if args.all else written[0]
        echo(f"compiling {main_tex} with pdflatex")
        echo(f"wrote {compile_pdf(main_tex)}")
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
    pd.add_argument("--heads", type=int, help="number of heads of multihead (default: the variant's, 2)")
    pd.add_argument("--residual", action="store_true", help="residual value form V(y - x)")
    pd.add_argument("--feedforward", action="store_true", help="add W_ff x + b_ff")
    pd.add_argument("--out", metavar="DIR", help="directory for NAME.tex (and gaussflow.tex with --all); "
                                                 "default: print only")
    pd.add_argument("--pdf", action="store_true", help="compile with pdflatex")
    pd.add_argument("--code", action="store_true", help="print the generated NumPy source")
    pd.add_argument("--force", action="store_true", help="overwrite existing files")
    pd.set_defaults(func=run)



__all__ = ["ALL_DERIVATIONS", "add_parser", "describe", "run"]
