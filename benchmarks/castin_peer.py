"""Time the authors' ``evolution()`` against gaussflow's faithful Euler on members of experiment (e).

The authors' code (github vcastin/2025-transformers-PDEs) is imported from a checkout given by
``--peer DIR`` or the environment variable ``CASTIN_PEER``; it is run, never copied here.

    .venv/bin/python benchmarks/castin_peer.py --peer /tmp/peer_castin            # L2 (e), 12 members
    .venv/bin/python benchmarks/castin_peer.py --peer DIR --variants l2 softmax --members 24

For each variant, ``--members`` Σ₀ spread over the 40 × 40 grid of (e) run through the authors' loop
one by one (as their script does); gaussflow's :func:`gaussflow.experiments.castin2025.euler_sigma` runs the whole
grid as one batch, as ``gaussflow reproduce`` does (``--batch subset``: only those members), and its
seconds per member are the batch time over the batch size. Both must give the same status and
iteration count on the timed members. Printed: seconds per member for each side and their ratio
(authors / ours), measured in this one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

import gaussflow.experiments.castin2025 as R

#: gaussflow run label in experiment (e) → the authors' right-hand side and evolution() keywords
PEER_CALLS = {
    "softmax": ("rhs_trad", {"max_iter": 100_000, "step_size": 0.01, "tol_low": 1e-4}),
    "multihead": ("rhs_multihead", {"max_iter": 100_000, "step_size": 0.002, "tol_low": 1e-4, "H": 2}),
    "l2": ("rhs_L2", {"step_size": 0.001, "tol_low": 1e-5, "tol_high": 1e4}),
    "sinkhorn": ("rhs_sinkhorn", {"step_size": 0.01, "tol_low": 1e-5, "tol_high": 1e4}),
}


def load_peer(path: str) -> ModuleType:
    """Import the authors' ``utils.py`` from the checkout at ``path`` (matplotlib on the Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    f = Path(path) / "utils.py"
    if not f.is_file():
        raise SystemExit(f"no utils.py under {path!r}: pass --peer DIR or set CASTIN_PEER to the authors' checkout")
    spec = importlib.util.spec_from_file_location("castin_peer_utils", f)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", default=os.environ.get("CASTIN_PEER"), help="authors' checkout (or env CASTIN_PEER)")
    p.add_argument("--variants", nargs="+", default=["l2"], choices=sorted(PEER_CALLS))
    p.add_argument("--members", type=int, default=12, help="members of the (e) grid per variant (default 12)")
    p.add_argument("--batch", choices=("grid", "subset"), default="grid",
                   help="gaussflow batch: the whole (e) grid (default, as reproduce runs it) or the timed members")
    a = p.parse_args(argv)
    if not a.peer:
        p.error("give --peer DIR or set CASTIN_PEER")
    peer = load_peer(a.peer)
    exp = R.experiment("e")
    S0_all = R.initial_grid(exp.grid, exp.half_width)
    sel = np.linspace(0, len(S0_all) - 1, a.members).round().astype(int)
    S0 = S0_all[sel]
    Q, K = exp.draws["Q"], exp.draws["K"]
    print(f"experiment (e), members {sel.tolist()} of {len(S0_all)}; numpy {np.__version__}, python "
          f"{sys.version.split()[0]}")
    print(f"gaussflow batch: {'the whole grid' if a.batch == 'grid' else 'the timed members'}")
    print(f"{'variant':<10} {'members':>7} {'authors s/member':>17} {'gaussflow s/member':>19} {'ratio':>8}  statuses")
    for variant in a.variants:
        run = next(r for r in exp.runs if r.variant == variant)
        rhs_name, kw = PEER_CALLS[variant]
        rhs = getattr(peer, rhs_name)
        t0 = time.perf_counter()
        peer_out = []
        for S in S0:
            S_list, conv = peer.evolution(S.copy(), Q, K, V=np.eye(2), rhs=rhs, print_status=False, **kw)
            peer_out.append((conv, len(S_list)))
        t_peer = (time.perf_counter() - t0) / len(S0)
        batch = S0_all if a.batch == "grid" else S0
        t0 = time.perf_counter()
        eu = R.euler_sigma(run.variant, run.params, batch, step=run.step, tol=run.tol, tol_high=run.tol_high,
                           max_iter=run.max_iter)
        t_ours = (time.perf_counter() - t0) / len(batch)
        if a.batch == "grid":
            eu.status, eu.iters = eu.status[sel], eu.iters[sel]
        for m, (conv, n) in enumerate(peer_out):
            # the authors' list holds Σ_0 … Σ_i for a stop at iteration i
            same = (conv == (eu.status[m] == "converged")) and (n == min(eu.iters[m] + 1, run.max_iter))
            if not same:
                print(f"  MISMATCH member {sel[m]}: authors converged={conv} len={n}; ours {eu.status[m]} "
                      f"iters={eu.iters[m]}")
        stats = ", ".join(f"{s} {int(np.sum(eu.status == s))}" for s in ("converged", "diverged", "max_iter")
                          if np.any(eu.status == s))
        print(f"{run.label:<10} {len(S0):>7} {t_peer:>17.4f} {t_ours:>19.5f} {t_peer / t_ours:>7.1f}×  {stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
