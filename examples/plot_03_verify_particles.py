"""
Verify a closure against particles
==================================

The moment equations describe the *mean-field* limit. ``gf.verify`` checks them against the
interacting-particle system of the same attention: it draws n tokens from the initial Gaussian, runs the
particles (``gf.simulate_particles``, no closure involved), starts the moment ODE from the cloud's own
empirical moments, and reports per time the Bures–Wasserstein distance between the cloud's Gaussian and the
closure's, the relative mean and covariance errors and Mardia's skewness/kurtosis tests.

For a closure that is exact (softmax) the remaining error is the :math:`O(n^{-1/2})` sampling error; for one
that is not (sigmoid, integrated with the Gaussian-projection approximation) a bias stays as n grows, and
Mardia's tests reject Gaussianity as the cloud leaves the Gaussian family. Reduced sizes here
(n = 1000 and 600, t ≤ 2); ``gaussflow verify softmax`` runs the n = 4000 defaults.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import gaussflow as gf

np.set_printoptions(precision=6, suppress=True, legacy="1.25")

law0 = gf.Gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]])
t = np.linspace(0.0, 1.0, 5)
softmax = gf.attention("softmax", A=[[0.6, 0.2], [-0.2, 0.1]], V=-np.eye(2))
rep_softmax = gf.verify(softmax, law0, t, n=1000, seed=0)
print(rep_softmax.summary())

# %%
# Sigmoid attention does not preserve Gaussians (``gf.derive("sigmoid").certificate``); ``verify`` integrates
# its Gaussian projection and says it is an approximation.
# A strong score and a bias make the sigmoid field clearly non-linear, so the bias is visible.
sigmoid = gf.attention("sigmoid", A=[[3.0, 1.0], [-1.0, 2.5]], V=np.eye(2), b=2.0)
law1 = gf.Gaussian([0.5, -0.3], [[1.0, 0.3], [0.3, 0.6]])
rep_sigmoid = gf.verify(sigmoid, law1, np.linspace(0.0, 2.0, 5), n=600, seed=0)
print(rep_sigmoid.summary())

# %%
# The particle runs themselves are available too, e.g. the cloud's empirical moments over time:
X0 = np.random.default_rng(1).multivariate_normal(law0.mean, law0.cov, size=500)
pt = gf.simulate_particles(softmax, X0, t)
print(pt)
print("empirical covariance of the cloud at t = 1:\n", pt.cov[-1])

# %%
# The reports' panels: Bures–Wasserstein distance and relative errors against time, for the exact closure
# (errors at the sampling scale) and the projection (errors that grow).
fig, axes = plt.subplots(2, 2, figsize=(10, 6.4), layout="constrained")
rep_softmax.plot(axes[0])
rep_sigmoid.plot(axes[1])
axes[0, 0].set_title("softmax (exact closure): " + axes[0, 0].get_title())
axes[1, 0].set_title("sigmoid (projection): " + axes[1, 0].get_title())
