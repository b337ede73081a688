"""What every integrator shares: limits, the bound generated functions of an Attention, input checks."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.integrate import OdeSolver

from .._checks import as_array, check_cov, check_mean
from ..attention import Attention
from ..gaussian import Gaussian

#: ODE methods accepted by name (scipy.integrate.solve_ivp's); an OdeSolver subclass also works
METHODS: tuple[str, ...] = ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")

#: hard cap on tr Σ and ‖α‖: (1e100)² and products with moderate weights stay finite
CAP = 1e100

#: collapse floors ε_Σ, ε_α relative to the initial scale max(‖α₀‖, √‖Σ₀‖_F)
COLLAPSE_RTOL = 1e-8

_TINY = 1e-300

AttentionLike = Attention | Callable[[float], Attention]
LawLike = Gaussian | tuple[Any, Any]


# --------------------------------------------------------------------------- attention evaluation


class Kernels:
    """The generated NumPy functions of one Attention, bound to its prepared parameters.

    ``Attention.*_unchecked`` look the compiled closure up (hashing the variant) on every call, which
    costs more than the whole d = 2 right-hand side; integrators call these bound versions instead.
    """

    def __init__(self, attn: Attention) -> None:
        compiled = attn.compiled
        prepared = tuple(attn.prepared)
        self.d = attn.d
        self._rhs = attn.kind.rhs(attn)  # the closure kind's moment RHS (exact or projected)
        self._jacobian = compiled.jacobian
        self._velocity = compiled.velocity
        self._prepared = prepared

    def moments(self, alpha: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(α̇ (d,), Σ̇ (d, d)) = (Γ(α), JΣ + ΣJᵀ), or the projected E[Γ(X)], E[(X−α)Γ(X)ᵀ] + transpose."""
        return self._rhs(alpha, Sigma)

    def drift_and_jacobian(self, alpha: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Γ(α) (d,), J (d, d)); Γ(α) from the generated velocity at x = α, which skips the d×d
        product JΣ that the generated moments would also form."""
        assert self._jacobian is not None
        a = alpha[:, None]
        J = np.asarray(self._jacobian(a, Sigma, *self._prepared), dtype=float)
        g = self._velocity(a, a, Sigma, *self._prepared)
        return np.broadcast_to(np.asarray(g, dtype=float), (self.d, 1)).reshape(self.d), J


_KERNELS: weakref.WeakKeyDictionary[Attention, Kernels] = weakref.WeakKeyDictionary()


def kernels(attn: Attention) -> Kernels:
    """Bound generated functions of ``attn`` (cached per Attention object)."""
    k = _KERNELS.get(attn)
    if k is None:
        k = _KERNELS[attn] = Kernels(attn)
    return k


def drift_and_jacobian(attn: Attention, alpha: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Γ(α) (d,) and J = ∂Γ/∂x (d, d) on N(α, Σ), without validation (Gaussian-preserving ``attn``)."""
    return kernels(attn).drift_and_jacobian(alpha, Sigma)


def attention_at(attn: Any, d: int, where: str = "attn") -> Callable[[float], Attention]:
    """``t -> Attention`` for a fixed layer or a time-dependent callable, checking what it returns."""

    def check(a: Any, label: str) -> Attention:
        if not isinstance(a, Attention):
            raise ValueError(f"`{where}` must be an Attention or a callable t -> Attention; "
                             f"{label} is {type(a).__name__}")
        if a.d != d:
            raise ValueError(f"{label} has d = {a.d} but `law0` has d = {d}")
        return a

    if isinstance(attn, Attention):
        fixed = check(attn, f"`{where}`")
        return lambda t: fixed
    if not callable(attn):
        raise ValueError(f"`{where}` must be an Attention or a callable t -> Attention; got {type(attn).__name__}")
    return lambda t: check(attn(t), f"`{where}`({float(t):.10g})")


# --------------------------------------------------------------------------- validation




def law(law0: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(law0, Gaussian):
        return np.array(law0.mean, dtype=float), np.array(law0.cov, dtype=float)
    if isinstance(law0, tuple | list) and len(law0) == 2:
        m = check_mean("law0.mean", law0[0])
        S = check_cov("law0.cov", law0[1], m.shape[0])
        return m, S
    raise ValueError(f"`law0` must be a Gaussian or a (mean, cov) pair; got {type(law0).__name__}")


def times(t_span: Any, t_eval: Any) -> tuple[float, float, np.ndarray | None]:
    ts = as_array("t_span", t_span, 1)
    if ts.shape != (2,):
        raise ValueError(f"`t_span` must be (t0, t1); got shape {ts.shape}")
    t0, t1 = float(ts[0]), float(ts[1])
    if not t1 > t0:
        raise ValueError(f"`t_span` must be increasing (t0 < t1); got ({t0!r}, {t1!r})")
    if t_eval is None:
        return t0, t1, None
    te = as_array("t_eval", t_eval, 1)
    if te.size == 0:
        raise ValueError("`t_eval` must hold at least one time (or be None for the solver's own steps)")
    if np.any(np.diff(te) <= 0):
        raise ValueError(f"`t_eval` must be strictly increasing; got {te}")
    if te[0] < t0 or te[-1] > t1:
        raise ValueError(f"`t_eval` must lie within t_span = ({t0:g}, {t1:g}); got [{te[0]:g}, {te[-1]:g}]")
    return t0, t1, te


def method_of(method: Any) -> tuple[Any, str]:
    if isinstance(method, str) and method in METHODS:
        return method, method
    if isinstance(method, type) and issubclass(method, OdeSolver):
        return method, method.__name__
    raise ValueError(f"unknown `method` {method!r}; valid: {', '.join(METHODS)} or an OdeSolver subclass")


def numerical_rank(Sigma: np.ndarray) -> int:
    """Rank of a symmetric PSD matrix: eigenvalues > d·eps·λ_max (numpy.linalg.matrix_rank's rule)."""
    d = Sigma.shape[0]
    if d == 0:
        return 0
    w = np.linalg.eigvalsh(Sigma)
    top = max(float(w[-1]), 0.0)
    return int(np.count_nonzero((w > d * np.finfo(float).eps * top) & (w > 0)))


