"""``gaussflow solve``: integrate the closed moment ODEs; blow-up time, regime, plots."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .._io import check_writable

#: built-in example for ``gaussflow solve`` without parameters: A + Aᵀ ≻ 0, V = I blows up
SOLVE_DEFAULTS: dict[str, object] = {
    "A": [[1.0, 0.5], [-0.5, 0.2]],
    "V": [[1.0, 0.0], [0.0, 1.0]],
    "mean": [0.0, 0.0],
    "cov": [[1.0, 0.3], [0.3, 0.5]],
}


def load_params(path: str | None, pairs: Sequence[str]) -> dict[str, object]:
    """Parameters from a JSON/TOML file, overridden by ``KEY=JSON`` pairs."""
    import json

    from .._io import load_mapping

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


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from ..attention import attention
    from ..gaussian import Gaussian
    from ..integrate.solve import solve

    params = load_params(args.params, args.param)
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
    check_writable(outputs, args.force)
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

        from ..plot import plot_solution

        fig = plot_solution(traj, att.params, att.name)
        fig.savefig(args.plot, dpi=300)
        plt.close(fig)
        print(f"wrote {args.plot}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    ps.set_defaults(func=run)


__all__ = ["SOLVE_DEFAULTS", "add_parser", "load_params", "run"]
