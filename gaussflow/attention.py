"""``Attention``: a variant bound to numeric parameters, with generated NumPy RHS."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ._checks import as_array, check_cov, check_flag, check_mean, check_positive, check_shape
from .closures import ClosureKind, kind_of
from .codegen import CompiledClosure, compile_closure
from .symbolic.closure import Closure, derive
from .symbols import x, y
from .variants import REGISTRY, Param, Variant
from .variants._base import bilinear_score


class NonFiniteResult(ValueError):
    """A result of :class:`Attention` would be inf/NaN: the state is outside the float64 range of the
    closure (the message names the argument and the overflowing quantity)."""


def _row(v: np.ndarray) -> str:
    return np.array2string(v, precision=4, threshold=6)


#: most heads a registered multi-head variant is derived for (derivation cost grows with H)
MAX_HEADS = 64


@dataclass(frozen=True, eq=False)
class Attention:
    """A validated attention layer: variant + numeric parameters.

    Build with :func:`attention`. ``params`` maps the variant's parameter names
    (``Q``, ``K``, ``V``, ``beta`` or per-head ``Q_1``, ...) to arrays (vectors as (d, 1));
    ``prepared`` holds the parameter-only products computed once by the generated ``prepare``
    (the trailing arguments of every generated function, ``compiled.source``); ``compiled`` is the
    generated code, specialized to these parameter shapes when that changes the product order.
    """

    closure: Closure
    params: Mapping[str, Any]
    d: int
    prepared: tuple[Any, ...] = field(repr=False, default=())
    compiled: CompiledClosure | None = field(repr=False, default=None)

    def __post_init__(self) -> None:
        if self.compiled is None:
            object.__setattr__(self, "compiled", self.closure.compile())

    @property
    def name(self) -> str:
        return self.closure.name

    @property
    def preserves_gaussian(self) -> bool:
        return self.closure.preserves_gaussian

    def moment_rhs(self, alpha: Any, Sigma: Any) -> tuple[np.ndarray, np.ndarray]:
        """Closed moment equations at (α, Σ).

        Parameters
        ----------
        alpha : array_like, shape (d,)
        Sigma : array_like, shape (d, d), symmetric PSD (singular allowed)

        Returns
        -------
        alpha_dot : ndarray, shape (d,)
            α̇ = Γ(α).
        Sigma_dot : ndarray, shape (d, d)
            Σ̇ = JΣ + ΣJᵀ, J = ∂Γ/∂x (exactly symmetric).

        For variants that do not close (sigmoid, unnormalized) this is the Gaussian-projection
        closure α̇ = E[Γ(X)], Σ̇ = E[(X−α)Γ(X)ᵀ] + transpose, X ~ N(α, Σ) — an approximation
        (closed form for unnormalized, cubature otherwise; see :mod:`gaussflow.projection`).
        """
        a = check_mean("alpha", alpha, self.d)
        S = check_cov("Sigma", Sigma, self.d)
        from .projection import ProjectionDivergence

        try:
            with np.errstate(all="ignore"):
                da, dS = self.moment_rhs_unchecked(a, S)
        except ProjectionDivergence as exc:
            raise ProjectionDivergence(f"`Sigma`: {exc.reason}", exc.margin) from None
        except (np.linalg.LinAlgError, OverflowError, ZeroDivisionError, FloatingPointError) as exc:
            raise ValueError(f"`Sigma`: the moment right-hand side cannot be evaluated at this state "
                             f"({type(exc).__name__}: {exc})") from None
        da, dS = np.asarray(da, dtype=float), np.asarray(dS, dtype=float)
        if not (np.all(np.isfinite(da)) and np.all(np.isfinite(dS))):
            raise NonFiniteResult(
                f"`Sigma`/`alpha`: the moment right-hand side overflows float64 at this state "
                f"(max |α| = {np.max(np.abs(a)):.3g}, max |Σ| = {np.max(np.abs(S)):.3g}): "
                f"{int(np.size(da) + np.size(dS) - np.isfinite(da).sum() - np.isfinite(dS).sum())} non-finite entries")
        return da, dS

    def moment_rhs_unchecked(self, alpha: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`moment_rhs` without validation (for integrators that own their state)."""
        rhs = self.__dict__.get("_rhs")
        if rhs is None:  # frozen dataclass: memoize the closure kind's right-hand side on the instance
            rhs = self.kind.rhs(self)
            object.__setattr__(self, "_rhs", rhs)
        return rhs(alpha, Sigma)

    @property
    def kind(self) -> ClosureKind:
        """The closure kind that evolves this layer's moments (:mod:`gaussflow.closures`)."""
        return kind_of(self.closure)

    def jacobian(self, alpha: Any, Sigma: Any) -> np.ndarray:
        """J = ∂Γ/∂x on N(α, Σ), shape (d, d) (constant in x for closing variants)."""
        a = check_mean("alpha", alpha, self.d)
        S = check_cov("Sigma", Sigma, self.d)
        return self.jacobian_unchecked(a, S)

    def jacobian_unchecked(self, alpha: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
        """:meth:`jacobian` without validation."""
        fn = self.compiled.jacobian
        if fn is None:
            raise ValueError(f"variant {self.name!r} does not preserve Gaussians; J depends on x")
        return fn(alpha[:, None], Sigma, *self.prepared)

    def velocity(self, x: Any, alpha: Any, Sigma: Any) -> np.ndarray:
        """Γ[N(α, Σ)] at the points ``x``.

        Parameters
        ----------
        x : array_like, shape (n, d) or (d,)
        alpha : array_like, shape (d,)
        Sigma : array_like, shape (d, d)

        Returns
        -------
        ndarray, shape (n, d) (or (d,) for a single point)
        """
        X = as_array("x", x)
        single = X.ndim == 1
        X2 = X[None, :] if single else X
        check_shape("x", X2, (None, self.d))
        a = check_mean("alpha", alpha, self.d)
        S = check_cov("Sigma", Sigma, self.d)
        with np.errstate(all="ignore"):
            out = self.compiled.velocity(X2.T, a[:, None], S, *self.prepared)
        out = np.broadcast_to(np.asarray(out, dtype=float), (self.d, X2.shape[0])).T
        bad = ~np.all(np.isfinite(out), axis=1)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise NonFiniteResult(
                f"`x`: the velocity overflows float64 at {int(bad.sum())} of {X2.shape[0]} point(s) "
                f"(first: row {i}, x = {_row(X2[i])}); the attention weights exceed the float range there")
        return out[0] if single else np.ascontiguousarray(out)

    def __repr__(self) -> str:
        """One line: variant, d, heads, and the parameters by group with their stacked shapes, e.g.
        ``Attention('multihead', d=384, heads=12, params: Q(12,64,384) K(12,64,384) V(12,384,384) ... beta=1)``;
        a scalar shared by every head shows its value."""
        groups: dict[str, list[Any]] = {}
        for p in self.closure.variant.params:
            if p.name in self.params:
                groups.setdefault(p.group or p.name, []).append(self.params[p.name])
        for k, v in self.params.items():  # parameters the variant does not list (none today)
            if not any(k == p.name for p in self.closure.variant.params):
                groups[k] = [v]
        shown = []
        for g, vals in groups.items():
            if all(np.ndim(v) == 0 for v in vals) and len({float(v) for v in vals}) == 1:
                shown.append(f"{g}={float(vals[0]):g}")
            else:
                shape = np.shape(vals[0]) if len(vals) == 1 else (len(vals), *np.shape(vals[0]))
                shown.append(f"{g}({','.join(map(str, shape))})")
        heads = len(self.closure.variant.heads)
        return f"Attention({self.name!r}, d={self.d}, heads={heads}, params: {' '.join(shown)})"


def _dims(p: Param, arr: np.ndarray, dims: dict[str, int], name: str) -> None:
    shape = p.shape
    if arr.ndim != len(shape):
        want = "(" + ", ".join(shape) + ")"
        raise ValueError(f"`{name}` must have shape {want}; got shape {arr.shape}")
    for sym, n in zip(shape, arr.shape, strict=True):
        if dims.setdefault(sym, n) != n:
            raise ValueError(
                f"`{name}` has {sym} = {n} but another parameter fixed {sym} = {dims[sym]}; got shape {arr.shape}"
            )


def attention(
    variant: str | Variant,
    *,
    residual: bool = False,
    feedforward: bool = False,
    heads: int | None = None,
    **params: Any,
) -> Attention:
    """Bind numeric parameters to a variant: a registered name or any :class:`~gaussflow.Variant`.

    Parameters
    ----------
    variant : str or Variant
        A name from :func:`gaussflow.variants`, or a variant built as data (e.g.
        :meth:`Variant.from_score`); its closure comes from :func:`gaussflow.derive`.
    residual, feedforward : bool
        Add-ons of a registered variant: value acts on y − x; add W_ff x + b_ff (``W_ff`` (d, d),
        ``b_ff`` (d,)). A Variant carries its add-ons itself.
    heads : int, optional
        Number of heads of a registered variant that takes ``heads`` (inferred from the stacked arrays
        when omitted).
    **params
        The variant's parameters by name (per-head parameters of one group stacked: ``Q`` (H, k, d) for
        ``Q_1, …, Q_H``; a scalar may be shared by every head). Vectors have shape (d,). Registered
        variants: ``Q``, ``K`` (k, d), ``V`` (d, d), ``beta`` > 0 (default 1), ``b`` (sigmoid bias,
        default 0); multi-head ``Q``, ``K`` (H, k, d), ``V`` (H, d_v, d), ``W`` (H, d, d_v), ``beta``.
        Shortcut for a bilinear score β⟨Qx, Ky⟩: ``A`` (d, d) means A = βKᵀQ directly
        (Q = A, K = I, β = 1); with stacked heads ``A`` (H, d, d) and ``C`` (H, d, d) = W_h V_h.

    Raises
    ------
    ValueError
        Unknown variant or parameter, wrong shapes, non-finite entries, β ≤ 0.
    RuleError
        A custom variant whose score no rule of the engine handles (from :func:`gaussflow.derive`).
    """
    params = dict(params)
    opts: dict[str, Any] = {}
    residual = check_flag("residual", residual)
    feedforward = check_flag("feedforward", feedforward)
    if heads is not None and (isinstance(heads, bool) or not isinstance(heads, int | np.integer)
                              or not 1 <= heads <= MAX_HEADS):
        raise ValueError(f"`heads` must be an integer in [1, {MAX_HEADS}]; got {heads!r}")
    if isinstance(variant, Variant):
        if residual or feedforward or heads is not None:
            raise ValueError("`residual`, `feedforward`, `heads` configure registered variants; a Variant "
                             "carries its add-ons (use gaussflow.variants.with_addons)")
        closure = derive(variant)
        name = variant.name
    else:
        if not isinstance(variant, str) or variant not in REGISTRY:
            raise ValueError(f"unknown variant {variant!r}; valid names: {', '.join(REGISTRY)}, or a Variant")
        name = variant
        if residual:
            opts["residual"] = True
        if feedforward:
            opts["feedforward"] = True
        takes_heads = "heads" in inspect.signature(REGISTRY[name]).parameters
        if takes_heads:
            if heads is None:
                stack = params.get("Q", params.get("A"))
                if stack is None:
                    raise ValueError(f"{name!r} needs stacked `Q` (H, k, d) or `A` (H, d, d)")
                heads = len(stack)
                if not 1 <= heads <= MAX_HEADS:
                    raise ValueError(f"`{'Q' if 'Q' in params else 'A'}` stacks {heads} heads; "
                                     f"between 1 and {MAX_HEADS} are supported")
            opts["heads"] = int(heads)
        elif heads is not None:
            raise ValueError(f"`heads` does not apply to {name!r}; got heads={heads!r}")
        closure = derive(name, **opts)
    _expand_shortcuts(closure.variant, params)
    values: dict[str, Any] = {}
    dims: dict[str, int] = {}
    declared = closure.variant.params
    groups = {p.group for p in declared if p.group}
    accepted = {p.name for p in declared if not p.group} | groups
    unknown = set(params) - accepted
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {sorted(unknown)} for {name!r}; accepted: {sorted(accepted)}"
        )
    for p in declared:
        key = p.group or p.name
        if key not in params:
            if p.default is None:
                raise ValueError(f"missing parameter `{key}` for variant {name!r}")
            raw: Any = p.default
        else:
            raw = params[key]
        label = key
        if p.group:
            stacked = as_array(key, raw) if not isinstance(raw, list | tuple) else raw
            if np.ndim(stacked) == len(p.shape):  # one value shared by every head (e.g. beta)
                item = stacked
            else:
                n_group = sum(1 for q in declared if q.group == p.group)
                if len(stacked) != n_group:
                    raise ValueError(f"`{key}` must stack {n_group} heads; got {len(stacked)}")
                item = stacked[p.index]
            label = f"{key}[{p.index}]"
            raw = item
        if not p.shape:
            v = check_positive(label, raw) if p.positive else float(as_array(label, raw, 0))
            values[p.name] = v
            continue
        arr = as_array(label, raw)
        if 0 in arr.shape:
            raise ValueError(f"`{label}` has a zero-size dimension (shape {arr.shape}); every size must be ≥ 1")
        _dims(p, arr, dims, label)
        values[p.name] = arr.reshape(-1, 1) if len(p.shape) == 1 else arr
    d = dims.get("d")
    if d is None:  # pragma: no cover - every variant has a d-shaped parameter
        raise ValueError("could not infer the dimension d from the parameters")
    empty = sorted(k for k, n in dims.items() if n == 0)
    if empty:
        raise ValueError(f"parameter dimension(s) {', '.join(f'{k} = 0' for k in empty)}: every size must be ≥ 1 "
                         f"(arrays given: {sorted(params)})")
    compiled = compile_closure(closure, dims)  # product order chosen from these shapes
    prepared = compiled.prepare(**values)
    return Attention(closure, values, d, prepared, compiled)


@functools.lru_cache(maxsize=128)
def _bilinear(v: Variant, group: bool) -> bool:
    """Every head's score is β⟨Qx, Ky⟩ in its own (Q, K, β) parameters (grouped per head or not)."""
    by_role: dict[int, dict[str, Param]] = {}
    for p in v.params:
        role = p.group if group else p.name
        if role in ("Q", "K", "beta") and (p.group is not None) == group:
            by_role.setdefault(p.index or 0, {})[role] = p
    if len(by_role) != len(v.heads):
        return False
    for i, head in enumerate(v.heads):
        ps = by_role.get(i, {})
        if set(ps) != {"Q", "K", "beta"}:
            return False
        rest = sp.MatAdd(head.score, -bilinear_score(ps["Q"].symbol, ps["K"].symbol, ps["beta"].symbol)).doit()
        if rest.has(x) or rest.has(y):  # terms free of x and y (a bias) may stay
            return False
    return True


def _expand_shortcuts(v: Variant, params: dict[str, Any]) -> None:
    """The ``A`` (and stacked ``C``) shortcuts, decided from the variant's data: they apply when
    every score is bilinear β⟨Qx, Ky⟩ (and, for ``C``, every value map is W_h V_h)."""
    if "A" not in params and "C" not in params:
        return
    if any(p.name in ("A", "C") or p.group in ("A", "C") for p in v.params):
        return  # the variant has parameters of these names: no shortcut
    grouped = any(p.group for p in v.params)
    if not _bilinear(v, grouped):
        raise ValueError(f"the `A`/`C` shortcuts need a bilinear score β⟨Qx, Ky⟩; {v.name!r} has none")
    if not grouped:
        if "C" in params:
            raise ValueError(f"`C` is a multi-head shortcut; use `V` for {v.name!r}")
        clash = {"Q", "K", "beta"} & set(params)
        if clash:
            raise ValueError(f"`A` replaces Q, K, beta; do not pass {sorted(clash)} with it")
        A = as_array("A", params.pop("A"), 2)
        params.update(Q=A, K=np.eye(A.shape[0]), beta=1.0)
        return
    if "A" in params:
        clash = {"Q", "K", "beta"} & set(params)
        if clash:
            raise ValueError(f"`A` replaces Q, K, beta; do not pass {sorted(clash)} with it")
        A = as_array("A", params.pop("A"), 3)
        params.update(Q=A, K=np.broadcast_to(np.eye(A.shape[1]), A.shape), beta=1.0)
    if "C" in params:
        clash = {"V", "W"} & set(params)
        if clash:
            raise ValueError(f"`C` replaces V, W; do not pass {sorted(clash)} with it")
        C = as_array("C", params.pop("C"), 3)
        params.update(V=C, W=np.broadcast_to(np.eye(C.shape[1]), C.shape))


__all__ = ["MAX_HEADS", "Attention", "NonFiniteResult", "attention"]
