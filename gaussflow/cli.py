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
from pathlib import Path

from .symbolic.closure import Closure, derive
from .variants import SUMMARIES, get_variant, variants
from .version import __version__

#: closures written by ``derive --all``: every registered variant plus the add-ons
ALL_DERIVATIONS: tuple[tuple[str, dict[str, object]], ...] = tuple(
    (n, {}) for n in variants()
) + (("softmax", {"residual": True, "feedforward": True}),)



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
    from ._io import check_writable

    check_writable(paths, force)


def _cmd_derive(args: argparse.Namespace) -> int:
    from .latex import compile_pdf, pdflatex, write_derivations
    from .masked import masked_latex

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
    sections = {"masked": masked_latex()} if args.all else None
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


#: built-in example for ``gaussflow solve`` without parameters: A + Aᵀ ≻ 0, V = I blows up
SOLVE_DEFAULTS: dict[str, object] = {
    "A": [[1.0, 0.5], [-0.5, 0.2]],
    "V": [[1.0, 0.0], [0.0, 1.0]],
    "mean": [0.0, 0.0],
    "cov": [[1.0, 0.3], [0.3, 0.5]],
}


def _load_params(path: str | None, pairs: Sequence[str]) -> dict[str, object]:
    """Parameters from a JSON/TOML file, overridden by ``KEY=JSON`` pairs."""
    import json

    from ._io import load_mapping

    params: dict[str, object] = dict(load_mapping(path, "--params")) if path else {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not sep:
            raise ValueError(f"`--param` must be KEY=JSON; got {pair!r}")
        try:
            params[key.strip()] = json.loads(val)
        except ValueError:
            raise ValueError(f"`--param {key}` value is not JSON: {val!r}") from None
    return params


def _cmd_solve(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from .attention import attention
    from .gaussian import Gaussian
    from .solve import solve

    params = _load_params(args.params, args.param)
    for flag in ("A", "V"):
        val = getattr(args, flag)
        if val is not None:
            try:
                params[flag] = json.loads(val)
            except ValueError:
                raise ValueError(f"`--{flag}` is not JSON: {val!r}") from None
    mean = params.pop("mean", None)
    cov = params.pop("cov", None)
    if not params and args.variant in ("softmax", "sinkhorn"):
        params = {k: v for k, v in SOLVE_DEFAULTS.items() if k in ("A", "V")}
    if args.mean is not None:
        mean = json.loads(args.mean)
    if args.cov is not None:
        cov = json.loads(args.cov)
    opts = {"residual": args.residual, "feedforward": args.feedforward}
    att = attention(args.variant, **opts, **params)
    if mean is None:
        mean = np.zeros(att.d) if att.d != 2 else SOLVE_DEFAULTS["mean"]
    if cov is None:
        cov = np.eye(att.d) if att.d != 2 else SOLVE_DEFAULTS["cov"]
    outputs = [Path(p) for p in (args.plot, args.save) if p]
    _check_writable(outputs, args.force)
    t_eval = np.linspace(0.0, args.t_end, args.samples) if args.samples else None
    traj = solve(att, Gaussian(mean, cov), (0.0, args.t_end), t_eval=t_eval, form=args.form, rtol=args.rtol)
    regime = traj.classify() if len(traj.t) >= 3 else None
    lam = np.linalg.eigvalsh(traj.cov[-1])[::-1]
    print(f"{att!r}")
    print(f"status: {traj.status}   t_final: {traj.t[-1]:.10g}   nfev: {traj.nfev}")
    if traj.t_blowup is not None:
        print(f"blow-up time T*: {traj.t_blowup:.12g}")
    print(f"message: {traj.message}")
    print("final eigenvalues of Sigma: " + ", ".join(f"{v:.10g}" for v in lam))
    if regime is not None:
        print(f"regime: {regime}")
    if args.save:
        print(f"wrote {traj.save(args.save)}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .plot import plot_solution

        fig = plot_solution(traj, att.params, att.name)
        fig.savefig(args.plot, dpi=300)
        plt.close(fig)
        print(f"wrote {args.plot}")
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

    ps = sub.add_parser(
        "solve", help="integrate the closed moment ODEs; blow-up time, regime, plots",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Solve α̇ = Γ(α), Σ̇ = JΣ + ΣJᵀ from N(mean, cov) and classify the covariance regime.",
        epilog="examples:\n  gaussflow solve softmax --t-end 5 --plot blowup.png\n"
               "  gaussflow solve l2 --A '[[0.5, 1], [-1, 0.5]]' --V '[[1, 0], [0, 1]]' --t-end 3\n"
               "  gaussflow solve softmax --params layer.toml --save run.npz\n"
               "parameter files hold the variant's parameters (Q, K, V, beta or A, V; mean, cov).",
    )
    ps.add_argument("variant", help="variant name (see `gaussflow variants`)")
    ps.add_argument("--params", help="JSON or TOML file with parameters (and optionally mean, cov)")
    ps.add_argument("--param", action="append", default=[], metavar="KEY=JSON", help="one parameter")
    ps.add_argument("--A", help="score matrix A = βKᵀQ as JSON (bilinear variants)")
    ps.add_argument("--V", help="value matrix as JSON")
    ps.add_argument("--mean", help="initial mean as JSON")
    ps.add_argument("--cov", help="initial covariance as JSON")
    ps.add_argument("--residual", action="store_true")
    ps.add_argument("--feedforward", action="store_true")
    ps.add_argument("--t-end", type=float, default=5.0, help="final time (default 5)")
    ps.add_argument("--samples", type=int, default=0,
                    help="number of equally spaced output times (default: the solver's steps)")
    ps.add_argument("--form", choices=["full", "factor"], default=None)
    ps.add_argument("--rtol", type=float, default=1e-10)
    ps.add_argument("--plot", help="write eigenvalue (and unit-disk for d = 2) plot to this PNG")
    ps.add_argument("--save", help="write the trajectory (.npz + JSON metadata)")
    ps.add_argument("--force", action="store_true", help="overwrite existing files")
    ps.set_defaults(func=_cmd_solve)
    from .phase import add_parser as add_phase_diagram
    from .reproduce import add_parser as add_reproduce
    from .sweep import add_parser as add_sweep
    from .verify import add_parser as add_verify

    add_verify(sub)
    add_reproduce(sub)
    add_sweep(sub)
    add_phase_diagram(sub)
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
