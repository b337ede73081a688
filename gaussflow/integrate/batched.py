"""The generated functions of one closure bound to B members (shared or per-member weights), and the
state layout of the batched integrator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..attention import Attention

# --------------------------------------------------------------------------- batched generated code


def _sym(P: np.ndarray) -> np.ndarray:
    return P + np.swapaxes(P, -1, -2)


class BatchedClosure:
    """The generated functions of one closure bound to B members' prepared parameters.

    Parameters
    ----------
    attn : Attention or sequence of Attention
        One Attention (weights shared by every member) or B Attentions of one variant and one d
        (per-member weights, stacked through the generated ``prepare``).

    Raises
    ------
    ValueError
        Empty sequence, mixed variants or dimensions, or a variant that does not close.
    """

    def __init__(self, attn: Attention | Sequence[Attention]) -> None:
        if isinstance(attn, Attention):
            members: list[Attention] = [attn]
            self.shared = True
        elif isinstance(attn, Sequence) and not isinstance(attn, str) and len(attn) > 0 and all(
                isinstance(a, Attention) for a in attn):
            members = list(attn)
            self.shared = len(members) == 1
        else:
            raise ValueError("`attn` must be an Attention or a non-empty sequence of Attentions; "
                             f"got {type(attn).__name__}")
        first = members[0]
        shapes = {k: np.shape(v) for k, v in first.params.items()}
        for i, a in enumerate(members):
            if a.closure.variant != first.closure.variant or a.d != first.d:
                raise ValueError(f"`attn[{i}]` is {a.name!r} with d = {a.d}; every member must be "
                                 f"{first.name!r} with d = {first.d}")
            other = {k: np.shape(v) for k, v in a.params.items()}
            if other != shapes:
                raise ValueError(f"`attn[{i}]` has parameter shapes {other}; member 0 has {shapes}")
        if not first.preserves_gaussian:
            raise ValueError(f"`attn`: variant {first.name!r} does not close (see its certificate); "
                             "solve_batch integrates exact closures only — use gaussflow.integrate.solve for the "
                             "Gaussian-projection approximation")
        self.closure = first.closure
        self.name = first.name
        self.d = first.d
        self.B = 1 if self.shared else len(members)
        cc = first.compiled
        self._moments, self._jacobian, self._velocity = cc.moments, cc.jacobian, cc.velocity
        if self.shared:
            self.prepared = tuple(first.prepared)
        else:
            stacked: dict[str, np.ndarray] = {}
            for k in first.params:
                vals = [np.asarray(a.params[k], dtype=float) for a in members]
                arr = np.stack(vals)
                stacked[k] = arr[:, None, None] if arr.ndim == 1 else arr
            self.prepared = tuple(cc.prepare(**stacked))
        self.mean_enters = first.closure.cov_depends_on_mean

    def take(self, idx: np.ndarray) -> tuple[Any, ...]:
        """Prepared parameters of the members ``idx`` (shared parameters are returned as they are)."""
        if self.shared:
            return self.prepared
        return tuple(p[idx] if isinstance(p, np.ndarray) and p.ndim >= 1 and p.shape[0] == self.B else p
                     for p in self.prepared)

    def moments(self, alpha: np.ndarray, Sigma: np.ndarray, prep: tuple[Any, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
        """(α̇ (B, d, 1), Σ̇ (B, d, d)) from the generated ``moments`` at α (B, d, 1), Σ (B, d, d)."""
        m, S = self._moments(alpha, Sigma, *prep)
        if m.shape != alpha.shape:
            m = np.broadcast_to(m, alpha.shape)
        return m, (S if S.shape == Sigma.shape else np.broadcast_to(S, Sigma.shape))

    def drift(self, alpha: np.ndarray, Sigma: np.ndarray, prep: tuple[Any, ...]) -> np.ndarray:
        """α̇ = Γ(α) (B, d, 1) from the generated velocity at x = α (no d × d product JΣ)."""
        g = self._velocity(alpha, alpha, Sigma, *prep)
        return g if g.shape == alpha.shape else np.broadcast_to(g, alpha.shape)

    def jacobian(self, alpha: np.ndarray, Sigma: np.ndarray, prep: tuple[Any, ...]) -> np.ndarray:
        """J = ∂Γ/∂x (B, d, d) from the generated ``jacobian``."""
        J = self._jacobian(alpha, Sigma, *prep)
        return J if J.shape == Sigma.shape else np.broadcast_to(J, Sigma.shape)


class Form:
    """State layout: Y (B, d, d) = Σ or L, or (B, d, d + 1) = [Σ or L | α] when the mean is evolved."""

    def __init__(self, rhs: BatchedClosure, factor: bool, with_mean: bool, d: int) -> None:
        self.rhs, self.factor, self.with_mean, self.d = rhs, factor, with_mean, d

    def init(self, S0: np.ndarray, a0: np.ndarray | None) -> np.ndarray:
        if self.factor:
            w, U = np.linalg.eigh(S0)
            S0 = U * np.sqrt(np.clip(w, 0.0, None))[:, None, :]
        return np.concatenate([S0, a0[:, :, None]], axis=2) if self.with_mean and a0 is not None else S0.copy()

    def _split(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.d
        core = Y[..., :d]
        alpha = Y[..., d:] if self.with_mean else np.zeros(Y.shape[:-1] + (1,))
        return core, alpha

    def deriv(self, prep: tuple[Any, ...], Y: np.ndarray) -> np.ndarray:
        core, alpha = self._split(Y)
        if self.factor:
            S = core @ np.swapaxes(core, 1, 2)
            dcore = self.rhs.jacobian(alpha, S, prep) @ core
            if not self.with_mean:
                return dcore
            da = self.rhs.drift(alpha, S, prep)
        else:
            da, dcore = self.rhs.moments(alpha, core, prep)
            if not self.with_mean:
                return np.array(dcore)
        return np.concatenate([dcore, da], axis=2)

    def sigma(self, Y: np.ndarray) -> np.ndarray:
        core = Y[..., : self.d]
        return core @ np.swapaxes(core, 1, 2) if self.factor else core

    def alpha(self, Y: np.ndarray) -> np.ndarray | None:
        return Y[..., self.d] if self.with_mean else None

    def sigma_dot(self, Y: np.ndarray, dY: np.ndarray) -> np.ndarray:
        core, dcore = Y[..., : self.d], dY[..., : self.d]
        return _sym(dcore @ np.swapaxes(core, 1, 2)) if self.factor else dcore

    def clean(self, Y: np.ndarray) -> np.ndarray:
        if self.factor:
            return Y
        Y = Y.copy()
        core = Y[..., : self.d]
        Y[..., : self.d] = 0.5 * (core + np.swapaxes(core, 1, 2))
        return Y


__all__ = ["BatchedClosure", "Form"]
