"""``gaussflow solve``: integrate the closed moment ODEs; blow-up time, regime, plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._cli import add_layer_arguments, layer_arguments, subcommand
from .._io import check_writable
from .._progress import echo

#: built-in example for ``gaussflow solve`` without parameters: A + Aᵀ ≻ 0, V = I blows up
SOLVE_DEFAULTS: dict[str, object] = {
    "A": [[1.0, 0.5], [-0.5, 0.2]],
    "V": [[1.0, 0.0], [0.0, 1.0]],
    "mean": [0.0, 0.0],
    "cov": [[1.0, 0.3], [0.3, 0.5]],
}


def run(args: argparse.Namespace) -> int:

    import numpy as np

    from ..attention import attention
    from ..gaussian import Gaussian
    from ..integrate.solve import solve

    params, mean, cov = layer_arguments(args)
    if not params and args.variant in ("softmax", "sinkhorn"):
        params = {k: v for k, v in SOLVE_DEFAULTS.items() if k in ("A", "V")}
    opts = {"residual": args.residual, "feedforward": args.feedforward}
    att = attention(args.variant, **opts, **params)
    if mean is None:
        mean = np.zeros(att.d) if att.d != 2 else SOLVE_DEFAULTS["mean"]
    if cov is None:
        cov = np.eye(att.d) if att.d != 2 else SOLVE_DEFAULTS["cov"]
    outputs = [Path(p) for p in (args.plot, args.save) if p]
    check_writable(outputs, args.force)
    if args.samples < 0 or args.samples == 1:
        raise ValueError(f"`--samples` must be 0 (the solver's own steps) or ≥ 2; got {args.samples}")
    if not np.isfinite(args.t_end) or args.t_end <= 0:
        raise ValueError(f"`--t-end` must be a positive finite time; got {args.t_end}")
    for p in outputs:
        if not p.parent.is_dir():
            raise ValueError(f"the directory of {str(p)!r} does not exist (`--plot`/`--save` write into an "
                             "existing directory)")
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
        echo(f"wrote {traj.save(args.save)}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..plot import plot_solution

        fig = np.ravel(plot_solution(traj, att.params, att.name))[0].figure  # it returns its Axes
        fig.savefig(args.plot, dpi=300)
        plt.close(fig)
        echo(f"wrote {args.plot}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    ps = subcommand(
        sub, "solve", help="integrate the closed moment ODEs; blow-up time, regime, plots",
        description="Solve α̇ = Γ(α), Σ̇ = JΣ + ΣJᵀ from N(mean, cov) and classify the covariance regime. "
                    "Parameter files hold the variant's parameters (Q, K, V, beta or A, V; mean, cov).",
        examples=["gaussflow solve softmax --t-end 5 --plot blowup.png",
                  "gaussflow solve l2 --A '[[0.5, 1], [-1, 0.5]]' --V '[[1, 0], [0, 1]]' --t-end 3",
                  "gaussflow solve softmax --params layer.toml --save run.npz"],
    )
    ps.add_argument("variant", help="variant name (see `gaussflow variants`)")
    add_layer_arguments(ps)
    ps.add_argument("--residual", action="store_true", help="residual value form V(y − x)")
    ps.add_argument("--feedforward", action="store_true",
                    help="add the feed-forward term W_ff x + b_ff (parameters W_ff, b_ff)")
    ps.add_argument("--t-end", type=float, default=5.0,
                    help="final time of the integration, in the model's time units (default: %(default)s)")
    ps.add_argument("--samples", type=int, default=0,
                    help="number of equally spaced output times in [0, t-end]; 0 = the solver's own accepted "
                         "steps (default: %(default)s)")
    ps.add_argument("--form", choices=["full", "factor"], default=None,
                    help="state layout: 'full' integrates (α, Σ); 'factor' integrates Σ = LLᵀ with L̇ = JL "
                         "(PSD and rank-preserving by construction). Default: factor when Σ₀ is singular, "
                         "else full")
    ps.add_argument("--rtol", type=float, default=1e-10,
                    help="relative tolerance of the DOP853 integrator on every state entry "
                         "(dimensionless; default: %(default)s)")
    ps.add_argument("--plot", metavar="PNG", help="write eigenvalue (and unit-disk for d = 2) plot to this PNG")
    ps.add_argument("--save", metavar="NPZ", help="write the trajectory (.npz + JSON metadata)")
    ps.add_argument("--force", action="store_true", help="overwrite existing files")
    ps.set_defaults(func=run)


__all__ = ["SOLVE_DEFAULTS", "add_parser", "run"]
