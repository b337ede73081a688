"""Built-in examples and the ``gaussflow verify`` subcommand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .._checks import check_cov, check_mean
from .._cli import add_layer_arguments, layer_arguments, subcommand
from .._io import check_writable
from .._progress import echo
from ..attention import Attention, attention
from ..gaussian import Gaussian
from .core import pos_int, verify

_A2 = [[0.1, 0.4], [-0.4, 0.05]]
_V2 = [[1.0, 0.2], [0.0, 0.8]]
#: variant -> (attention parameters, final time, default number of particles of the CLI)
_EXAMPLES: dict[str, tuple[dict[str, Any], float, int]] = {
    "softmax": ({"A": _A2, "V": _V2}, 1.0, 4000),
    "l2": ({"Q": [[1.0, 0.3], [0.0, 0.8]], "K": [[0.9, 0.0], [0.2, 1.0]], "V": _V2, "beta": 0.5}, 1.0, 4000),
    "sinkhorn": ({"A": _A2, "V": _V2}, 1.0, 1000),
    "sigmoid": ({"A": [[3.0, 1.0], [-1.0, 2.5]], "V": [[1.0, 0.0], [0.0, 1.0]], "b": 2.0}, 2.0, 2000),
    "unnormalized": ({"A": [[0.1, 0.05], [-0.05, 0.08]], "V": [[0.5, 0.1], [0.0, 0.4]]}, 1.0, 4000),
    "multihead": ({"A": [_A2, [[0.1, -0.2], [0.2, 0.1]]], "C": [[[0.5, 0.1], [0.0, 0.4]], [[0.4, 0.0], [0.1, 0.5]]]},
                  1.0, 4000),
}
_LAW0 = ([0.5, -0.3], [[1.0, 0.3], [0.3, 0.6]])
_STEPS = 10


def default_example(variant: str) -> tuple[Attention, Gaussian, np.ndarray]:
    """A built-in d = 2 example per variant with moderate weights: (attn, law0, t_eval).

    t_eval = linspace(0, T, 11) with T = 1 (sigmoid: 2); law0 = N((0.5, −0.3), [[1, 0.3], [0.3, 0.6]]).
    The bilinear softmax-type scores keep ‖Σ^{1/2}AΣ^{1/2}‖ ≲ 0.4: the finite-n softmax is an importance
    sampler whose weights e^{yᵀAx} have relative variance e^{xᵀAᵀΣAx}, integrable over x ~ N(α, Σ) only
    when that norm is < 1/√2, and the clean n^{-1/2} rate needs it well below. The sigmoid example
    (A large, b = 2) is deliberately non-linear so the projection bias is visible; the unnormalized one is
    weak because single outlier particles blow up in finite time (ẋ grows like e^{c|x|}|x|).
    """
    if not isinstance(variant, str) or variant not in _EXAMPLES:
        raise ValueError(f"`variant` must be one of {sorted(_EXAMPLES)}; got {variant!r}")
    params, T, _ = _EXAMPLES[variant]
    attn = attention(variant, **{k: np.asarray(v, dtype=float) if not np.isscalar(v) else v
                                 for k, v in params.items()})
    return attn, Gaussian(np.asarray(_LAW0[0]), np.asarray(_LAW0[1])), np.linspace(0.0, T, _STEPS + 1)


def _cmd_verify(args: argparse.Namespace) -> int:
    check_writable([Path(p) for p in (args.plot, args.json) if p], args.force)
    attn, law0, t_eval = default_example(args.variant)
    params, mean, cov = layer_arguments(args)
    if params:  # a parameter file stands alone; --A / --V alone override the example's entries
        attn = attention(args.variant, **(params if args.params else {**_EXAMPLES[args.variant][0], **params}))
    if (mean is None) != (cov is None):
        raise ValueError("give --mean and --cov together")
    if mean is not None:
        law0 = Gaussian(check_mean("--mean", mean), check_cov("--cov", cov))
    if args.t_end is not None or args.steps is not None:
        t_end = float(t_eval[-1]) if args.t_end is None else float(args.t_end)
        steps = _STEPS if args.steps is None else pos_int("--steps", args.steps)
        if not t_end > 0:
            raise ValueError(f"`--t-end` must be > 0; got {t_end!r}")
        t_eval = np.linspace(0.0, t_end, steps + 1)
    n = _EXAMPLES[args.variant][2] if args.n is None else args.n
    study = f"; convergence study over n = {' '.join(map(str, args.ns))}" if args.ns else ""
    outs = [p for p in (args.plot, args.json) if p]
    echo(f"verify {args.variant}: {n} particles (seed {args.seed}) against the closure on t in [0, {t_eval[-1]:g}] "
         f"({t_eval.size - 1} intervals){study}" + (f"; writing {' and '.join(outs)}" if outs else ""))
    rep = verify(attn, law0, t_eval, n=n, seed=args.seed, ns=args.ns, repeats=args.repeats, chunk=args.chunk)
    print(rep.summary())
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        fig = np.ravel(rep.plot())[0].figure  # the panels' figure (plot returns its Axes)
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=300)
        echo(f"wrote {args.plot}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rep.to_dict(), indent=1))
        echo(f"wrote {args.json}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gaussflow verify`` on the CLI's subparsers."""
    p = subcommand(
        sub, "verify", help="compare the Gaussian closure with the particle system",
        description="Run n particles from a Gaussian law and the moment closure from their empirical moments; "
                    "print Bures-Wasserstein / relative errors, Mardia normality tests and a verdict.",
        examples=["gaussflow verify softmax", "gaussflow verify softmax --ns 500 2000 8000 --plot v.png",
                  "gaussflow verify sigmoid --n 2000 --json out/sigmoid.json --force",
                  "gaussflow verify softmax --A '[[1,0],[0,0.5]]' --V '[[1,0],[0,1]]' --t-end 0.5 --steps 5"],
    )
    p.add_argument("variant", choices=sorted(_EXAMPLES), help="attention variant")
    add_layer_arguments(p, pairs=False, A_help="score matrix A as JSON (bilinear variants; multihead: (H, d, d))")
    p.add_argument("--t-end", type=float,
                   help="final time, in the model's time units (default: the example's, 1; sigmoid 2)")
    p.add_argument("--steps", type=int, help=f"sampling intervals of [0, t-end] (default {_STEPS})")
    p.add_argument("--n", type=int, help="particles of the main run (default per variant: 4000; sigmoid 2000, "
                                          "sinkhorn 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial particles (default: %(default)s)")
    p.add_argument("--ns", type=int, nargs="+", metavar="N",
                   help="convergence study over these particle numbers (default: none)")
    p.add_argument("--repeats", type=int, default=3,
                   help="seeds at the largest n of the convergence study (default: %(default)s)")
    p.add_argument("--chunk", type=int,
                   help="block size of the particle kernels, in particles (default: min(n, 1024))")
    p.add_argument("--plot", metavar="FILE", help="write the figure to this PNG/PDF file")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON to this file")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=_cmd_verify)
