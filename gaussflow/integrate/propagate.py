"""Discrete depth: push a Gaussian through an L-layer residual attention network exactly.

A residual layer x ← x + hΓ(x) with Γ affine on N(α, Σ) (Γ(x) = Γ(α) + J(x − α)) maps the Gaussian
N(α, Σ) to the Gaussian (docs/math.md §3, Lemma)

    α ← α + h Γ(α),        Σ ← (I + hJ) Σ (I + hJ)ᵀ,        J = J(α, Σ),

exactly — this is the law of a real L-layer network applied to Gaussian tokens, not an ODE
discretization. It differs from explicit Euler on Σ̇ = JΣ + ΣJᵀ by h²JΣJᵀ per layer, keeps Σ PSD and
never increases its rank, and converges to :func:`gaussflow.integrate.solve` at first order in h.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._checks import check_positive, check_real
from ..attention import Attention
from ..trajectory import Trajectory
from .common import CAP, LawLike, attention_at, drift_and_jacobian, law


def _layers(attn: Any, layers: Any, d: int) -> tuple[list[Callable[[float], Attention]], int]:
    if isinstance(attn, Sequence) and not isinstance(attn, str):
        if len(attn) == 0:
            raise ValueError("`attn` must be an Attention, a callable t -> Attention or a non-empty list")
        if layers is not None and (isinstance(layers, bool) or layers != len(attn)):
            raise ValueError(f"`layers` = {layers!r} but `attn` lists {len(attn)} layers")
        per = [attention_at(a, d, f"attn[{i}]") for i, a in enumerate(attn)]
        return per, len(attn)
    if isinstance(layers, bool) or not isinstance(layers, int | np.integer) or layers < 1:
        raise ValueError(f"`layers` must be a positive integer; got {layers!r}")
    one = attention_at(attn, d)
    return [one] * int(layers), int(layers)


def propagate(
    attn: Attention | Callable[[float], Attention] | Sequence[Attention],
    law0: LawLike,
    layers: int | None,
    step: float,
    *,
    blowup_threshold: float = 1e8,
) -> Trajectory:
    """Exact law of Gaussian tokens through ``layers`` residual attention layers x ← x + hΓ(x).

    Parameters
    ----------
    attn : Attention, callable or sequence of Attention
        The layer (shared weights), ``t -> Attention`` evaluated at the layer's input depth
        t_l = l·h, or one Attention per layer (then ``layers`` may be None).
    law0 : Gaussian or (mean, cov)
        Law of the input tokens, mean (d,), cov (d, d) symmetric PSD (singular allowed).
    layers : int or None
        Number of layers L.
    step : float > 0
        Residual step h (depth T = L·h).
    blowup_threshold : float > 1
        Stop (status "blowup") once tr Σ exceeds this multiple of tr Σ₀ or tr Σ / ‖α‖ exceed 1e100.

    Returns
    -------
    Trajectory
        ``t = h·arange(L + 1)`` (truncated at a blow-up), ``mean`` (L+1, d), ``cov`` (L+1, d, d):
        α_{l+1} = α_l + hΓ(α_l), Σ_{l+1} = (I + hJ_l)Σ_l(I + hJ_l)ᵀ.

    Raises
    ------
    ValueError
        Malformed input (named), non-Gaussian-preserving variant, dimension mismatch.
    """
    alpha, Sigma = law(law0)
    d = alpha.shape[0]
    per_layer, L = _layers(attn, layers, d)
    h = check_positive("step", step)
    R = check_real("blowup_threshold", blowup_threshold, low=1.0)
    first = per_layer[0](0.0)
    for i, f in enumerate(per_layer[:1] if len({id(f) for f in per_layer}) == 1 else per_layer):
        a_i = f(i * h)
        if not a_i.preserves_gaussian or not a_i.kind.factor_form:
            raise ValueError(f"`attn`: variant {a_i.name!r} does not preserve Gaussians (its {a_i.kind.name} "
                             "closure has no x-independent Jacobian); propagate needs an exact closure — "
                             "use gaussflow.integrate.solve for the Gaussian-projection approximation")
    distinct = len({id(f) for f in per_layer}) > 1
    if distinct:
        params: dict[str, Any] = {}
        for i, f in enumerate(per_layer):
            params.update({f"layer{i}:{k}": v for k, v in f(i * h).params.items()})
    else:
        params = dict(first.params)
    meta = {
        "variant": first.name, "params": params, "exact": bool(first.kind.exact),  # only exact kinds pass above
        "solver": {"method": "residual-layers", "step": h, "layers": L, "blowup_threshold": R,
                   "time_dependent": not isinstance(attn, Attention | Sequence)},
    }
    limit = min(R * float(np.trace(Sigma)), CAP) if np.trace(Sigma) > 0 else CAP
    I = np.eye(d)
    means, covs = [alpha], [Sigma]
    status, message = "ok", f"propagated through {L} layers (depth {L * h:.10g})"
    with np.errstate(all="ignore"):
        for ell in range(L):
            a = per_layer[ell](ell * h)
            if not a.preserves_gaussian:
                raise ValueError(f"`attn`({ell * h:.10g}) is {a.name!r}, which does not preserve Gaussians")
            g, J = drift_and_jacobian(a, alpha, Sigma)
            M = I + h * J
            new_alpha = alpha + h * g
            new_Sigma = M @ Sigma @ M.T
            new_Sigma = 0.5 * (new_Sigma + new_Sigma.T)
            tr = float(np.trace(new_Sigma))
            finite = bool(np.all(np.isfinite(new_alpha)) and np.all(np.isfinite(new_Sigma)))
            if not finite or not math.isfinite(tr) or float(np.linalg.norm(new_alpha)) > CAP:
                status = "blowup"
                message = (f"layer {ell + 1} would leave the finite range (depth {(ell + 1) * h:.10g}); "
                           f"stopped after {ell} layers — use a smaller `step`")
                break
            alpha, Sigma = new_alpha, new_Sigma
            means.append(alpha)
            covs.append(Sigma)
            if tr > limit:
                status = "blowup"
                message = (f"tr Σ exceeded {limit:.3g} (blowup_threshold × tr Σ₀) after layer {ell + 1} "
                           f"(depth {(ell + 1) * h:.10g}); stopped there")
                break
    n = len(means)
    return Trajectory(t=h * np.arange(n), mean=np.array(means), cov=np.array(covs), status=status,
                      message=message, t_blowup=None, nfev=n - 1, **meta)


__all__ = ["propagate"]
