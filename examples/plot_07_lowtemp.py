"""
Low temperature
===============

At inverse temperature :math:`\\beta \\to \\infty` the softmax weights concentrate on the maximizers of the
score, and the residual dynamics :math:`\\dot x = V(m_\\beta[\\mu](x) - x)` (``residual=True``) concentrates the
token law, within times of order :math:`\\log\\beta`, onto :math:`P_\\#\\mu_0`, where :math:`P` is the limit map
of the :math:`\\beta = \\infty` (hardmax) flow (Alcalde, Bungert, Riedl, Roith 2026). ``gaussflow.lowtemp``
holds the hardmax particles, the limit map, and Lagrangian quadrature solvers of the mean-field equation that
resolve the :math:`O(1/\\beta)` boundary layers. Details: :doc:`/lowtemp`.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import gaussflow as gf

np.set_printoptions(precision=6, suppress=True, legacy="1.25")

# %%
# Hardmax and the limit map
# -------------------------
# With :math:`Q = K = V = I` in d = 2 each hardmax token moves towards the token that maximizes
# :math:`\langle x, y\rangle`; for the uniform law on the square the limit map is :math:`P(x) =
# \operatorname{sign}(x)`, every token ends at the corner of its quadrant. For N tokens the corners are
# replaced by the extreme tokens of the cloud (they tend to the corners as N grows).
att = gf.attention("softmax", residual=True, Q=np.eye(2), K=np.eye(2), V=np.eye(2))
X0 = np.random.default_rng(0).uniform(-1.0, 1.0, size=(200, 2))
P = gf.lowtemp.limit_map(att, X0)
corners = np.unique(P.round(8), axis=0)
print("distinct limit points:\n", corners)
print("fraction of tokens whose limit is in their own quadrant:", np.mean(np.all(np.sign(P) == np.sign(X0), axis=1)))
pt = gf.simulate_particles(att, X0, np.linspace(0.0, 4.0, 9), beta=np.inf, keep="all")
print(pt)

# %%
# Concentration in the mean-field limit
# -------------------------------------
# For :math:`\nu_0 = U[-1, 1]` and :math:`A = V = 1`, ``mean_field_1d`` solves the mean-field equation at
# finite β and returns :math:`W_2(\nu_t, P_\#\nu_0)` with :math:`P_\#\nu_0 = \frac12(\delta_{-1} + \delta_1)`
# (exact quantile coupling). The distance falls to a floor close to :math:`\ln\beta/\beta` (boundary layers
# of width :math:`O(1/\beta)`) and stays there on this interval.
t = np.linspace(0.0, 8.0, 81)
runs = {beta: gf.lowtemp.mean_field_1d(beta, t) for beta in (10.0, 30.0, 100.0)}
for beta, r in runs.items():
    floor, t_floor = r.floor()
    print(f"β = {beta:5g}: floor W2 = {floor:.3e} at t = {t_floor:5.2f}   (ln β/β = {np.log(beta) / beta:.3e})")

# %%
# A Gaussian has no metastable window: with :math:`A = \beta K^\top Q` the Gaussian residual closure blows up
# at :math:`T^* = \frac12\ln(\beta\sigma_0/(\beta\sigma_0 - 1))` in d = 1 — the solver against that closed form:
beta, s0 = 5.0, 1.0
traj = gf.solve(gf.attention("softmax", residual=True, A=[[beta]], V=[[1.0]]), gf.Gaussian([0.0], [[s0]]), (0, 5))
print("solve T* =", traj.t_blowup, "| closed form:", gf.lowtemp.gaussian_blowup_time_1d(beta, s0))

# %%
# Pictures: hardmax tokens moving to the corners, and W2 to the limit law for three β.
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
for i in range(0, X0.shape[0], 4):
    ax0.plot(pt.X[:, i, 0], pt.X[:, i, 1], color="0.7", lw=0.6)
ax0.scatter(X0[:, 0], X0[:, 1], s=5, color="C0", label="$t = 0$")
ax0.scatter(pt.X[-1, :, 0], pt.X[-1, :, 1], s=12, color="C3", label=f"$t = {pt.t[-1]:g}$ (hardmax)")
ax0.set_aspect("equal")
ax0.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2)
ax0.set_title("β = ∞ (hardmax) tokens → extreme tokens ≈ sign(x)")
for beta, r in runs.items():
    ax1.semilogy(r.t, r.w2, label=f"β = {beta:g}")
ax1.set_xlabel("time $t$")
ax1.set_ylabel("$W_2(\\nu_t, P_\\#\\nu_0)$")
ax1.legend()
ax1.set_title("mean field on U[−1, 1]")
