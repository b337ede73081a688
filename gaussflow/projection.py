r"""Gaussian-projection closure for attention variants that do not preserve Gaussians.

For any velocity field Γ = Γ[N(α, Σ)] the *Gaussian projection* keeps the first two moments
of the exact flow at the current Gaussian (docs/math.md §3):

    α̇ = E[Γ(X)],    Σ̇ = E[(X − α) Γ(X)ᵀ] + E[Γ(X) (X − α)ᵀ],    X ~ N(α, Σ).

For closing variants (Γ affine) this *is* the closure; for ``sigmoid`` and ``unnormalized``
it is an approximation (the law leaves the Gaussian family and only its mean and covariance
are followed).  Two evaluation paths:

* :func:`projection_rhs` — cubature on N(α, Σ): nodes ``α + Σ^{1/2} z`` (PSD square root by
  ``eigh``, so singular Σ integrates over range(Σ)) with a standard-normal rule for ``z``:
  tensor Gauss–Hermite (probabilists') in low dimension, a Smolyak sparse grid of
  Gauss–Hermite rules, or the 2d+1-point unscented rule (degree 3).  Works for every variant.
* :func:`unnormalized_projection_rhs` — closed form for ``unnormalized`` attention, whose
  velocity is exp-quadratic × polynomial.  The Gaussian-integral rule

      E[e^{½XᵀGX + hᵀX} p(X)] = Z · E_{N(m̃, S̃)}[p],   S̃ = (I − ΣG)⁻¹Σ,  m̃ = (I − ΣG)⁻¹(α + Σh),
      Z = det(I − ΣG)^{−1/2} exp(f(α) + ½ gᵀS̃g),   f(x) = ½xᵀGx + hᵀx,  g = ∇f(α) = Gα + h,

  is *derived* here with SymPy (completing the square on matrix symbols) and applied to the
  velocity of the derived :class:`~gaussflow.symbolic.Closure`; the NumPy right-hand side is
  printed by :mod:`gaussflow.codegen`'s matrix printer.  It is finite only while
  Σ⁻¹ − G ≻ 0, i.e. λ_min(I − Σ^{1/2}GΣ^{1/2}) > 0 (:meth:`ProjectionRHS.divergence_margin`);
  beyond, :class:`ProjectionDivergence` is raised.

:func:`projection_closure` picks the closed form for ``unnormalized`` and cubature otherwise.

References
----------
.. [1] E. Novak, K. Ritter, "Simple cubature formulas with high polynomial exactness",
   Constr. Approx. 15 (1999) 499–522 (Smolyak exactness 2(q − d) + 1).
.. [2] S. J. Julier, J. K. Uhlmann, "Unscented filtering and nonlinear estimation",
   Proc. IEEE 92 (2004) 401–422.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._checks import check_cov, check_mean
from .cubature import (
    RULES,
    SMOLYAK_DEFAULT_DEGREE,
    TENSOR_DEFAULT_DEGREE,
    cubature_moments,
    cubature_rule,
    default_rule,
    project,
)
from .symbolic.projection import closed_form_projection, derive_unnormalized_projection

#: duck-typed so that this module stays below the Attention layer that calls it: an ``Attention``
#: (``closure``, ``compiled``, ``prepared``, ``params``, ``d``, ``name``) and a derived ``Closure``
Attention = Any
Closure = Any

__all__ = [
    "RULES",
    "SMOLYAK_DEFAULT_DEGREE",
    "TENSOR_DEFAULT_DEGREE",
    "ProjectionDivergence",
    "ProjectionInfo",
    "ProjectionRHS",
    "cubature_moments",
    "cubature_rule",
    "divergence_margin",
    "projection_closure",
    "projection_rhs",
    "unnormalized_projection_rhs",
]

class ProjectionDivergence(ValueError):
    """The Gaussian integral defining the projected moments diverges.

    Attributes
    ----------
    reason : str
        Plain-language explanation (the finiteness condition and its value).
    margin : float
        λ_min(I − Σ^{1/2}GΣ^{1/2}) at the offending state (≤ 0, or too small to trust).
    """

    def __init__(self, reason: str, margin: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.margin = float(margin)


@dataclass(frozen=True)
class ProjectionInfo:
    """Which projection was used (for reports).

    Attributes
    ----------
    variant : str
    method : str
        ``"closed-form"`` or ``"cubature"``.
    rule : str
        Cubature rule name (a key of :data:`RULES`) or ``"exp-quadratic"``.
    degree : int or None
        Polynomial degree of exactness of the cubature rule in z ~ N(0, I) (None for closed form).
    n_points : int
        Velocity evaluations per right-hand side (0 for closed form).
    exact : bool
        True when the variant preserves Gaussians, so the projection is the exact closure.
    """

    variant: str
    method: str
    rule: str
    degree: int | None
    n_points: int
    exact: bool

    def __str__(self) -> str:
        kind = "exact closure" if self.exact else "Gaussian-projection approximation"
        if self.method == "closed-form":
            how = "closed form (exp-quadratic Gaussian integral, derived symbolically)"
        else:
            kind_ = {"tensor": "tensor Gauss–Hermite", "smolyak": "Smolyak sparse-grid Gauss–Hermite"}
            how = f"{kind_.get(self.rule, self.rule)} cubature of degree {self.degree} ({self.n_points} nodes)"
        return f"{self.variant}: {kind}, {how}"


@dataclass(frozen=True, eq=False)
class ProjectionRHS:
    """Projected moment right-hand side ``(alpha (d,), Sigma (d, d)) -> (alpha_dot (d,), Sigma_dot (d, d))``.

    Calling it does not validate (integrators own their state); :meth:`checked` does.
    Σ̇ is returned exactly symmetric (``P + P.T``).

    Attributes
    ----------
    info : ProjectionInfo
    d : int
    source : str
        Generated NumPy source of the closed form ("" for cubature).
    """

    info: ProjectionInfo
    d: int
    _fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    _margin: Callable[[np.ndarray, np.ndarray], float] | None = field(default=None, repr=False)
    source: str = field(default="", repr=False)

    def __call__(self, alpha: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._fn(np.asarray(alpha, dtype=float), np.asarray(Sigma, dtype=float))

    def checked(self, alpha: Any, Sigma: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`__call__` after validating ``alpha`` (d,) and ``Sigma`` (d, d) symmetric PSD."""
        return self._fn(check_mean("alpha", alpha, self.d), check_cov("Sigma", Sigma, self.d))

    def divergence_margin(self, alpha: Any, Sigma: Any) -> float:
        """λ_min(I − Σ^{1/2}GΣ^{1/2}) (closed form; > 0 ⇔ finite), ``+inf`` for cubature.

        Smooth in (α, Σ) away from eigenvalue crossings, so a solver can use it as an event."""
        if self._margin is None:
            return math.inf
        return self._margin(np.asarray(alpha, dtype=float), np.asarray(Sigma, dtype=float))


def _velocity_fn(attn: Attention) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Γ[N(α, Σ)] at the rows of ``X`` (m, d), unchecked (the generated code of the closure,
    the same function :meth:`Attention.velocity` calls after validation)."""
    vel = attn.compiled.velocity
    prepared = attn.prepared
    dd = attn.d

    def f(X: np.ndarray, a: np.ndarray, S: np.ndarray) -> np.ndarray:
        out = vel(X.T, a[:, None], S, *prepared)
        return np.broadcast_to(np.asarray(out, dtype=float), (dd, X.shape[0]))

    return f




def projection_rhs(attn: Attention, *, rule: str = "auto", degree: int | None = None) -> ProjectionRHS:
    """Gaussian-projection moment RHS by cubature (any variant).

    .. math::
        \\dot\\alpha = \\sum_k w_k \\Gamma(x_k),\\quad
        \\dot\\Sigma = P + P^\\top,\\ P = \\Sigma^{1/2} \\sum_k w_k z_k \\Gamma(x_k)^\\top,\\quad
        x_k = \\alpha + \\Sigma^{1/2} z_k,

    with (z_k, w_k) from :func:`cubature_rule`. Exact (to rounding) for closing variants as soon
    as the rule has degree ≥ 2 (Γ affine ⇒ the integrands are polynomials of degree ≤ 2); for
    ``sigmoid`` and ``unnormalized`` an approximation of the projection whose error decays with
    the degree (``auto``: tensor Gauss–Hermite of degree 79/47/23/15/9/7/5/5 in d = 1..8, the
    degree-5 symmetric rule for d > 8; ``rhs.info`` states the rule and degree used).

    Parameters
    ----------
    attn : Attention
    rule : {"auto", "tensor", "smolyak", "unscented", "symmetric5"}
    degree : int, optional
        Polynomial degree of exactness of the rule (see :func:`cubature_rule`).

    Returns
    -------
    ProjectionRHS
        ``rhs(alpha (d,), Sigma (d, d)) -> (alpha_dot (d,), Sigma_dot (d, d))``; Σ may be singular.
    """
    Z, W, achieved = cubature_rule(attn.d, rule, degree)
    name = default_rule(attn.d, rule)[0]
    vel = _velocity_fn(attn)

    def fn(a: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return project(lambda X: vel(X, a, S), Z, W, a, S)

    info = ProjectionInfo(attn.name, "cubature", name, achieved, len(W), attn.preserves_gaussian)
    return ProjectionRHS(info, attn.d, fn)


_COMPILED: dict[Any, tuple[str, tuple[Callable[..., Any], Callable[..., Any]]]] = {}


def _compile_unnormalized(closure: Closure) -> tuple[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    """NumPy source of ``margin_fn`` and ``rhs(alpha (d,1), Sigma, *params) -> (alpha_dot, P)``,
    printed by :mod:`gaussflow.codegen` (cached per variant)."""
    if closure.variant not in _COMPILED:
        _COMPILED[closure.variant] = _compile_unnormalized_uncached(closure)
    return _COMPILED[closure.variant]


def _compile_unnormalized_uncached(closure: Closure) -> tuple[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    from . import codegen as cg

    u = derive_unnormalized_projection(closure)
    pr = cg.Printer()
    pnames = [p.name for p in closure.variant.params]
    lines: list[tuple[str, str]] = [(str(s), pr(v)) for s, v in closure.definitions]
    lines += [("G", pr(u.G)), ("h", pr(u.h)), ("H", "_sqrtm_psd(Sigma)"), ("B", "_add_eye(-(H @ G @ H), 1.0)"),
              ("lam, U", "np.linalg.eigh(0.5 * (B + B.T))"), ("margin", "float(lam[0])")]
    src = [cg.function_source("margin_fn", ("alpha", "Sigma", *pnames), lines, "margin")]
    # past the boundary (λ ≤ 0) the values are meaningless; the caller checks ``margin`` first
    lines = lines + [("Binv", "(U / lam) @ U.T"), ("logdetB", "float(np.sum(np.log(lam)))")]
    lines += [(str(s), pr(v)) for s, v in u.bindings]
    lines.append(("Z", "float(np.asarray(Z).reshape(()))"))
    body, outs = cg.body_lines([u.mean_rhs, u.cov_half], pr)
    lines += body
    src.append(cg.function_source("rhs", ("alpha", "Sigma", *pnames), lines, f"margin, {outs[0]}, {outs[1]}"))
    source = "\n\n\n".join(src) + "\n"
    ns: dict[str, Any] = dict(cg.RUNTIME)
    exec(compile(source, f"<gaussflow projection: {closure.name}>", "exec"), ns)
    return source, (ns["margin_fn"], ns["rhs"])


#: smallest margin λ_min(I − Σ^{1/2}GΣ^{1/2}) at which the closed form is evaluated
MARGIN_TOL = 1e-12


def unnormalized_projection_rhs(attn: Attention) -> ProjectionRHS:
    """Closed-form Gaussian-projection RHS where :func:`closed_form_projection` applies (an approximation).

    With A = βKᵀQ, G = AᵀΣA, h = Aᵀα (read off Γ by SymPy), H = Σ^{1/2}, B = I − HGH,
    S̃ = HB⁻¹H, g = Gα + h, m̃ = α + S̃g, Z = det(B)^{−1/2} exp(½αᵀGα + hᵀα + ½gᵀS̃g):

        α̇ = Z V(α + ΣAm̃),    Σ̇ = P + Pᵀ,   P = Z [(m̃ − α)(α + ΣAm̃)ᵀ + S̃AᵀΣ] Vᵀ

    (printed from the SymPy derivation, see :func:`projection_steps`).

    Returns
    -------
    ProjectionRHS
        Raises :class:`ProjectionDivergence` when λ_min(B) ≤ ``MARGIN_TOL`` or the values
        overflow (close to the boundary Z ~ det(B)^{−1/2} e^{½gᵀS̃g} grows without bound);
        :meth:`ProjectionRHS.divergence_margin` returns λ_min(B).
    """
    if closed_form_projection(attn.closure) is None:
        raise ValueError(f"`attn` ({attn.name!r}) has no closed-form projection (its velocity is not "
                         "exp(quadratic) × polynomial in x); use projection_rhs (cubature)")
    source, (margin_fn, rhs) = _compile_unnormalized(attn.closure)
    params = dict(attn.params)
    names = [p.name for p in attn.closure.variant.params]
    args = [params[n] for n in names]
    dd = attn.d

    def margin(a: np.ndarray, S: np.ndarray) -> float:
        return float(margin_fn(a.reshape(dd, 1), S, *args))

    def fn(a: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            lam, m, P = rhs(a.reshape(dd, 1), S, *args)
        if not lam > MARGIN_TOL:
            raise ProjectionDivergence(
                f"Gaussian projection of {attn.name!r} diverges: λ_min(I − Σ^{{1/2}}AᵀΣAΣ^{{1/2}}) = {lam:.6g} ≤ "
                f"{MARGIN_TOL:g}, so E[e^{{½XᵀAᵀΣAX + αᵀAX}} ...] is infinite (precision Σ⁻¹ − AᵀΣA not positive)",
                lam,
            )
        P = np.asarray(P, dtype=float)
        m = np.asarray(m, dtype=float).reshape(dd)
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(P))):
            raise ProjectionDivergence(
                f"Gaussian projection of {attn.name!r} overflows near the divergence boundary "
                f"(λ_min(I − Σ^{{1/2}}AᵀΣAΣ^{{1/2}}) = {lam:.6g}): the projected moments exceed the float range",
                lam,
            )
        return m, P + P.T

    info = ProjectionInfo(attn.name, "closed-form", "exp-quadratic", None, 0, False)
    return ProjectionRHS(info, dd, fn, margin, source)


def divergence_margin(attn: Attention, alpha: Any, Sigma: Any) -> float:
    """λ_min(I − Σ^{1/2}GΣ^{1/2}), G = AᵀΣA, for ``unnormalized`` attention (validated input).

    > 0 ⇔ the projected moments are finite; use it as a solver event (terminal at 0)."""
    a = check_mean("alpha", alpha, attn.d)
    S = check_cov("Sigma", Sigma, attn.d)
    return projection_closure(attn).divergence_margin(a, S)


# =========================================================================== selection and reports

_CLOSURES: weakref.WeakKeyDictionary[Any, ProjectionRHS] = weakref.WeakKeyDictionary()


def projection_closure(attn: Attention) -> ProjectionRHS:
    """The Gaussian-projection RHS to use for ``attn`` (cached per Attention).

    ``unnormalized`` → closed form (:func:`unnormalized_projection_rhs`); every other variant →
    cubature (:func:`projection_rhs` with ``rule="auto"``: tensor Gauss–Hermite of degree
    79/47/23/15/9/7/5/5 in d = 1..8 (40/24/12/8/5/4/3/3 points per axis), the fully symmetric
    degree-5 rule (2d² + 1 nodes) for d > 8). Exact for closing variants, an approximation for sigmoid/unnormalized.
    ``rhs.info`` says which rule and degree were used.
    """
    try:
        return _CLOSURES[attn]
    except (KeyError, TypeError):
        pass
    if closed_form_projection(attn.closure) is not None:
        out = unnormalized_projection_rhs(attn)
    else:
        out = projection_rhs(attn)
    try:
        _CLOSURES[attn] = out
    except TypeError:  # pragma: no cover - not weak-referenceable
        pass
    return out


