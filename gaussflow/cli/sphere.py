"""``gaussflow sphere``: tokens on the sphere (layer normalization).

Examples
--------
gaussflow sphere classify --D 1 0.25 1            # certified minimizer / maximizer of E for D = diag(...)
gaussflow sphere simulate --D 1 0.5 --n 100 --t 20 --sign -1 --normalization softmax --plot run.png
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from .._progress import echo


def _matrix(args: argparse.Namespace) -> np.ndarray:
    if args.matrix is not None:
        try:
            D = np.array(json.loads(args.matrix), dtype=float)
        except (ValueError, TypeError):
            raise ValueError(f"`--matrix` must be a JSON list of lists; got {args.matrix!r}") from None
        return D
    return np.diag(np.asarray(args.D, dtype=float))


def run_classify(args: argparse.Namespace) -> int:
    from ..sphere.cases import classify_extremals

    D = _matrix(args)
    c = classify_extremals(D, beta=args.beta, n=args.grid)
    print(f"D case: {c.case}   (E of the uniform measure: {c.uniform_energy:.12g})")
    if c.minimizer is not None:
        print(f"minimizer: {c.min_description}")
        print(f"  certified by: {c.min_certificate}")
    else:
        print(f"minimizer: {c.min_description} ({c.min_certificate})")
    mx = c.maximizer
    print(f"maximizer: {mx.kind} on eigenvector {mx.info.get('index')} (λ = {mx.info.get('eigenvalue'):.6g}), "
          f"E = {mx.energy:.12g}, first-order gap {mx.gap:.1e}")
    print(f"  certified by: {c.max_certificate}")
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from .. import sphere as gs

    D = _matrix(args)
    d = D.shape[0]
    rng = np.random.default_rng(args.seed)
    X0 = rng.standard_normal((args.n, d))
    X0 /= np.linalg.norm(X0, axis=1, keepdims=True)
    mdl = gs.gradient_model(D, beta=args.beta, normalization=args.normalization, sign=args.sign)
    tr = gs.simulate(mdl, X0, args.t, args.dt, method=args.method, every=max(1, round(args.t / args.dt / 50)))
    E = [gs.energy(x, D, args.beta) for x in tr.X]
    print(f"{args.method}: {tr.meta['steps']} steps of {tr.meta['dt']:.4g}; norm drift {tr.norm_drift():.1e}")
    print(f"energy: {E[0]:.10g} -> {E[-1]:.10g}; final speed max|P⊥F| = {gs.speed(mdl, tr.final, tr.weights):.2e}")
    if args.save:
        echo(f"wrote {tr.save(args.save)}")
    if args.plot:
        from .. import style
        from ..sphere.plot import circle_axes, points_on_sphere, sphere_axes

        fig = style.figure("double", height=3.0, ncols=2, projection="3d" if d == 3 else None)[0]
        ax0, ax1 = fig.axes
        if d == 3:
            sphere_axes(ax0, D, "final particles")
            points_on_sphere(ax0, tr.final)
            ax1.remove()
            ax1 = fig.add_subplot(1, 2, 2)
        elif d == 2:
            circle_axes(ax0, D, "final particles")
            ax0.scatter(tr.final[:, 0], tr.final[:, 1], color=style.COLORS["particles"], zorder=3)
        ax1.plot(tr.t, E, color=style.COLORS["exact"])
        style.label(ax1, x="time $t$", y="energy $E$", title=f"{args.normalization}, sign {args.sign:+d}, N = {args.n}")
        style.save(fig, args.plot)
        echo(f"wrote {args.plot}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sphere", help="tokens on the sphere: simulate, classify extremal measures",
                       description=__doc__.splitlines()[0], epilog=__doc__.split("Examples\n--------\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = p.add_subparsers(dest="sphere_command", required=True, metavar="ACTION",
                          help="classify or simulate (`gaussflow sphere ACTION --help`)")
    for name, func, hlp in (("classify", run_classify, "certified minimizer and maximizer of E for D"),
                            ("simulate", run_simulate, "particles of the gradient case QᵀK = V = D")):
        q = ss.add_parser(name, help=hlp, description=hlp)
        g = q.add_mutually_exclusive_group(required=True)
        g.add_argument("--D", nargs="+", type=float, help="diagonal of D = QᵀK = V (d numbers)")
        g.add_argument("--matrix", help="D as a JSON list of lists (symmetric d × d)")
        q.add_argument("--beta", type=float, default=1.0, help="inverse temperature β > 0 (default: %(default)s)")
        if name == "classify":
            q.add_argument("--grid", type=int, default=None, help="QP grid size (default 720 on S¹, 1500 on S²)")
        if name == "simulate":
            q.add_argument("--n", type=int, default=100, help="number of particles (default: %(default)s)")
            q.add_argument("--t", type=float, default=10.0,
                           help="final time, in the model's time units (default: %(default)s)")
            q.add_argument("--dt", type=float, default=0.05, help="time step (default: %(default)s)")
            q.add_argument("--sign", type=int, choices=(1, -1), default=1,
                           help="+1 ascent, -1 descent of the energy E (default: %(default)s)")
            q.add_argument("--normalization", choices=("softmax", "none"), default="none",
                           help="softmax-normalized or unnormalized attention (default: %(default)s)")
            q.add_argument("--method", choices=("rkmk4", "euler"), default="rkmk4",
                           help="integrator: Runge–Kutta–Munthe-Kaas of order 4, or explicit Euler + "
                                "renormalization (default: %(default)s)")
            q.add_argument("--seed", type=int, default=0,
                           help="seed of the uniform initial particles (default: %(default)s)")
            q.add_argument("--plot", metavar="PNG", help="write a PNG of the final particles and E(t)")
            q.add_argument("--save", metavar="NPZ", help="save the trajectory (.npz)")
        q.set_defaults(func=func)


__all__ = ["add_parser", "run_classify", "run_simulate"]
