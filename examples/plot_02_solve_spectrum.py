"""
Solve the moment equations and read the spectrum
================================================

``gf.solve`` integrates the closed moment ODEs :math:`\\dot\\alpha = \\Gamma(\\alpha)`,
:math:`\\dot\\Sigma = J\\Sigma + \\Sigma J^\\top` of a layer from an initial Gaussian. A finite-time blow-up, a
collapse or a stationary state is a *result* (``traj.status``), not NaNs. ``traj.spectrum()`` turns the
sampled :math:`\\Sigma(t_k)` into tracked eigenvalues and shape measures, and ``traj.classify()`` names the
asymptotic regime with the numbers that decided it.

For softmax attention with :math:`V = vI` the covariance has the closed form
:math:`\\Sigma(t) = (\\Sigma_0^{-1} - vt(A + A^\\top))^{-1}` (:doc:`/math` §4): with :math:`v > 0` and
:math:`A + A^\\top` having a positive eigenvalue it blows up at
:math:`T^* = 1/\\lambda_{\\max}(\\Sigma_0^{1/2}(A+A^\\top)\\Sigma_0^{1/2})`, with :math:`v < 0` it collapses to
zero. Three layers show three regimes.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import gaussflow as gf
from gaussflow.plot import plot_eigenvalues, plot_unit_disk

np.set_printoptions(precision=6, suppress=True, legacy="1.25")

law0 = gf.Gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]])
A = np.array([[1.0, 0.5], [-0.5, 0.2]])
# name: (layer, final time); the collapse is slow (Σ ~ 1/t), so it gets a longer horizon
layers = {
    "blow-up (V = I)": (gf.attention("softmax", A=A, V=np.eye(2)), 5.0),
    "collapse (V = −I)": (gf.attention("softmax", A=A, V=-np.eye(2)), 50.0),
    "L2 attention": (gf.attention("l2", Q=np.eye(2), K=np.eye(2), V=np.eye(2)), 5.0),
}
trajs = {name: gf.solve(att, law0, (0.0, t_end)) for name, (att, t_end) in layers.items()}
for name, traj in trajs.items():
    print(f"{name:18s} {traj!r}")

# %%
# The blow-up time against the closed form
# ----------------------------------------
# ``t_blowup`` is extrapolated from :math:`1/\\operatorname{tr}\\Sigma \\to 0` past the solver's terminal
# event; ``gf.softmax_blowup_time`` is the closed form above, computed independently of the ODE.
traj = trajs["blow-up (V = I)"]
print("solver  T* =", traj.t_blowup)
print("closed  T* =", gf.softmax_blowup_time(law0.cov, A))

# %%
# The spectrum
# ------------
# Near :math:`T^*` the covariance becomes rank one in shape: :math:`\\Sigma/\\operatorname{tr}\\Sigma` tends to
# a projector, the effective rank to 1.
sp = traj.spectrum()
print(sp)
print("effective rank, first and last sample:", sp.effective_rank[[0, -1]])
print("distance of Σ/trΣ to rank one, last sample:", sp.rank_one_distance[-1])

# %%
# The regimes
# -----------
# ``classify`` reads the spectrum and the solver's status; each regime keeps its evidence.
for name, tr in trajs.items():
    reg = tr.classify()
    print(f"{name:18s} {reg.kind:22s} rank {reg.rank}: {reg.reason}")

# %%
# Pictures: eigenvalues of Σ(t) for each layer, and the normalized path Σ/trΣ in the unit disk (its boundary
# circle is the rank-one matrices; a blow-up reaches it).
fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), layout="constrained")
for ax, (name, tr) in zip(axes[:3], trajs.items(), strict=True):
    plot_eigenvalues(tr, ax=ax, legend=False)
    ax.set_title(name)
axes[0].legend(loc="upper left")
plot_unit_disk(list(trajs.values()), ax=axes[3])
axes[3].legend(axes[3].lines[1::2], list(trajs), loc="lower left", fontsize="small")
axes[3].set_title("Σ/trΣ in the unit disk")
