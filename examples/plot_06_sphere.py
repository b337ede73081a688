"""
Tokens on the sphere
====================

With layer normalization tokens live on the sphere :math:`S^{d-1}`. ``gaussflow.sphere`` implements the model
of Burger, Kabri, Korolev, Roith and Weigand (2025),

.. math:: \\dot x_i = \\pm P^\\perp_{x_i} F_i, \\qquad P^\\perp_x = I - x x^\\top, \\qquad
          F_i = \\sum_j w_j e^{\\beta\\langle Q x_i, K x_j\\rangle} V x_j / Z_i,

with softmax (SA, :math:`Z_i` the row sum) or unnormalized (USA, :math:`Z_i = 1`) attention. In the gradient
case :math:`Q^\\top K = V = D` symmetric, the unnormalized flow is the gradient ascent (sign +1) or descent
(sign −1) of the interaction energy :math:`E(\\mu) = \\iint e^{\\beta x\\cdot D y}\\,d\\mu\\,d\\mu`.
``gs.simulate`` integrates with RKMK4, a Lie-group method that keeps every token on the sphere to rounding.
See :doc:`/sphere` for the model, the certificates and the closures.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import gaussflow.sphere as gs

np.set_printoptions(precision=6, suppress=True, legacy="1.25")

D = np.diag([1.0, 0.6, 0.2])
rng = np.random.default_rng(0)
X0 = rng.standard_normal((200, 3))
X0 /= np.linalg.norm(X0, axis=1, keepdims=True)

ascent = gs.gradient_model(D, beta=1.0, normalization="none", sign=1)
tr = gs.simulate(ascent, X0, t_end=8.0, dt=0.1, every=2)
print(tr.X.shape, "| max | |x_i(t)| − 1 | over the run:", tr.norm_drift())

# %%
# The energy increases along the ascent, at the rate ``energy_rate`` predicts (an identity checked against
# finite differences):
E = np.array([gs.energy(X, D) for X in tr.X])
h = 1e-4
rate0 = gs.energy_rate(X0, D, normalization="none", sign=1)
X_plus = gs.simulate(ascent, X0, t_end=h, dt=h).final
X_minus = gs.simulate(gs.gradient_model(D, beta=1.0, normalization="none", sign=-1), X0, t_end=h, dt=h).final
fd = (gs.energy(X_plus, D) - gs.energy(X_minus, D)) / (2 * h)
print(f"E(0) = {E[0]:.6f}, E(T) = {E[-1]:.6f}; dE/dt at 0: identity {rate0:.8f}, central difference {fd:.8f}")

# %%
# The maximizer is certified by convexity (:math:`D \succeq 0`): a Dirac at the top eigenvector, energy
# :math:`e^{\beta\lambda_{\max}}`; the minimizer by a convex QP on a sphere grid.
cls = gs.classify_extremals(D)
print("case:", cls.case)
print("maximizer:", cls.max_certificate, "| E =", cls.maximizer.energy)
print("minimizer:", cls.min_certificate, "|", cls.min_description)
print("energy of the Dirac at e_1:", gs.dirac_energy(D, [1.0, 0.0, 0.0]), "= e =", np.e)

# %%
# The tokens gather into a few clusters; the energy increases monotonically and levels off below the
# maximum :math:`e` (a single Dirac at :math:`e_1`), which an ascent from spread-out tokens need not reach:
# clusters far apart barely interact at β = 1.
fig = plt.figure(figsize=(10, 4), layout="constrained")
ax0 = fig.add_subplot(1, 2, 1, projection="3d")
for X, c, lab in ((tr.X[0], "0.6", "t = 0"), (tr.X[-1], "C3", f"t = {tr.t[-1]:g}")):
    ax0.scatter(X[:, 0], X[:, 1], X[:, 2], s=6, color=c, label=lab)
ax0.set_box_aspect((1, 1, 1))
ax0.legend(loc="upper left")
ax0.set_title("tokens on $S^2$, ascent of E, D = diag(1, 0.6, 0.2)")
ax1 = fig.add_subplot(1, 2, 2)
ax1.plot(tr.t, E, marker=".")
ax1.axhline(np.e, color="k", ls="--", lw=0.8, label="max E = $e^{\\beta\\lambda_1}$ (Dirac)")
ax1.set_xlabel("time $t$")
ax1.set_ylabel("energy $E(\\mu_t)$")
ax1.legend(loc="lower right")
