"""The variant protocol: an attention variant is *data* (scores, value maps, parameters).

Every module in :mod:`gaussflow.variants` defines ``NAME``, ``SUMMARY`` and
``build(**options) -> Variant``; nothing else about a variant is typed anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from .._checks import check_flag
from ..kernels import NORMALIZATIONS as _KERNELS
from ..symbols import DIMS, d, scalar, x, y

Normalization = Literal["softmax", "sinkhorn", "sigmoid", "none"]
#: the registered normalizations (one module each in :mod:`gaussflow.kernels`); the live registry
#: :data:`gaussflow.kernels.NORMALIZATIONS` is what a Variant is validated against
NORMALIZATIONS: tuple[str, ...] = tuple(_KERNELS)


@dataclass(frozen=True)
class Param:
    """A numeric parameter of a variant.

    ``shape`` uses the dimension names ``"d"``, ``"k"``, ``"d_v"`` (``()`` = scalar);
    ``group``/``index`` tie per-head parameters (``Q_1``, ``Q_2``, ...) to one stacked
    user argument (``Q`` of shape (H, k, d)).
    """

    name: str
    shape: tuple[str, ...]
    doc: str
    positive: bool = False
    symmetric: bool = False
    default: float | None = None
    group: str | None = None
    index: int | None = None

    @property
    def symbol(self) -> sp.Symbol | sp.MatrixSymbol:
        if not self.shape:
            return sp.Symbol(self.name, positive=True) if self.positive else sp.Symbol(self.name, real=True)
        rows = DIMS[self.shape[0]]
        cols = DIMS[self.shape[1]] if len(self.shape) > 1 else 1
        return sp.MatrixSymbol(self.name, rows, cols)


@dataclass(frozen=True)
class Head:
    """One attention head: score ``s(x, y)`` (1x1 matrix expression in the token ``x``
    and the attended token ``y``) and the value/output map ``C`` (d x d)."""

    score: MatrixExpr
    value: MatrixExpr

    def __post_init__(self) -> None:
        if self.score.shape != (1, 1):
            raise ValueError(f"score must be a 1x1 matrix expression, got shape {self.score.shape}")
        if self.value.shape != (d, d):
            raise ValueError(f"value map must be d x d, got shape {self.value.shape}")


@dataclass(frozen=True)
class Variant:
    """An attention variant as data::

        Γ(x) = Σ_h C_h E_h[y | x]          (``residual``: C_h (E_h[y | x] − x))
               + W_ff x + b_ff               (``feedforward``)

    where E_h is the expectation under the head's normalized kernel (``normalization``).
    """

    name: str
    normalization: Normalization
    heads: tuple[Head, ...]
    params: tuple[Param, ...]
    summary: str = ""
    residual: bool = False
    feedforward: bool = False
    options: tuple[tuple[str, object], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.normalization not in _KERNELS:
            raise ValueError(
                f"normalization must be one of {tuple(_KERNELS)}; got {self.normalization!r}"
            )
        if not self.heads:
            raise ValueError("a variant needs at least one head")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in {names}")
        known = {p.symbol for p in self.params} | {x, y}
        for h in self.heads:
            for e in (h.score, h.value):
                extra = {
                    s for s in e.free_symbols
                    if s not in known and s not in DIMS.values()
                }
                if extra:
                    raise ValueError(f"variant {self.name!r} uses undeclared symbols {sorted(map(str, extra))}")

    @classmethod
    def from_score(
        cls,
        name: str,
        *,
        score: MatrixExpr,
        value: MatrixExpr,
        normalization: Normalization = "softmax",
        summary: str = "",
        docs: dict[str, str] | None = None,
    ) -> Variant:
        """A one-head variant from its score s(x, y) and value map, parameters read off the symbols.

        Parameters
        ----------
        name : str
            Label used in results, LaTeX and plots.
        score : MatrixExpr, shape (1, 1)
            s(x, y) in the token ``x`` and the attended token ``y`` of :mod:`gaussflow.symbols` and any
            ``MatrixSymbol``/``Symbol`` parameters (shapes written in ``d``, ``k``, ``d_v``).
        value : MatrixExpr, shape (d, d)
            The value/output map C: Γ(x) = C E[y | x].
        normalization : {"softmax", "sinkhorn", "sigmoid", "none"}
        summary : str
        docs : dict, optional
            One-line descriptions of the parameters by name.

        Every free ``MatrixSymbol`` other than x, y becomes a :class:`Param` of its shape
        (a d × 1 symbol is a vector parameter, passed as shape (d,)); every scalar ``Symbol`` a real
        scalar parameter (positive when the symbol is declared positive).

        Raises
        ------
        ValueError
            Wrong shapes, a shape that is not written in d, k, d_v, or an unknown normalization.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string; got {name!r}")
        for label, e in (("score", score), ("value", value)):
            if not isinstance(e, MatrixExpr):
                raise ValueError(f"`{label}` must be a SymPy matrix expression; got {type(e).__name__}")
        docs = docs or {}
        dim_names = {v: k for k, v in DIMS.items()}
        params: list[Param] = []
        repl: dict[sp.Basic, sp.Basic] = {}
        seen: set[str] = set()
        atoms = (score.free_symbols | value.free_symbols) - {x, y} - set(DIMS.values())
        for s in sorted(atoms, key=lambda a: str(a)):
            if s.name in seen:
                raise ValueError(f"two different symbols are both named {s.name!r}")
            seen.add(s.name)
            if isinstance(s, sp.MatrixSymbol):
                rows, cols = s.shape
                dims = (rows,) if cols == 1 else (rows, cols)
                bad = [n for n in dims if n not in dim_names]
                if bad:
                    raise ValueError(f"parameter `{s.name}` has shape {s.shape}; its dimensions must be d, k or "
                                     "d_v (a trailing 1 makes a vector)")
                params.append(Param(s.name, tuple(dim_names[n] for n in dims),
                                    docs.get(s.name, f"parameter {s.name}")))
            elif isinstance(s, sp.Symbol):
                p = Param(s.name, (), docs.get(s.name, f"scalar parameter {s.name}"),
                          positive=bool(s.is_positive))
                params.append(p)
                repl[s] = p.symbol
            else:  # pragma: no cover - free_symbols holds only Symbols and MatrixSymbols
                raise ValueError(f"unsupported symbol {s!r}")
        return cls(name, normalization, (Head(score.xreplace(repl), value.xreplace(repl)),), tuple(params),
                   summary or f"custom variant, score {score}")

    @property
    def symmetric(self) -> frozenset[sp.Basic]:
        return frozenset(p.symbol for p in self.params if p.symmetric)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def bilinear_score(Q: MatrixExpr, K: MatrixExpr, beta: sp.Expr) -> MatrixExpr:
    """s(x, y) = β⟨Qx, Ky⟩ = yᵀ(βKᵀQ)x."""
    return beta * (Q * x).T * (K * y)


def single_head_params(value_doc: str = "value matrix") -> tuple[Param, ...]:
    return (
        Param("Q", ("k", "d"), "query matrix"),
        Param("K", ("k", "d"), "key matrix"),
        Param("V", ("d", "d"), value_doc),
        Param("beta", (), "inverse temperature β > 0", positive=True, default=1.0),
    )


def with_addons(v: Variant, residual: bool = False, feedforward: bool = False) -> Variant:
    """Add the residual form V(y − x) and/or the affine feed-forward W_ff x + b_ff.

    ``residual`` and ``feedforward`` must be booleans (``'no'`` would be truthy): ``ValueError`` otherwise."""
    residual = check_flag("residual", residual)
    feedforward = check_flag("feedforward", feedforward)
    params = v.params
    if feedforward:
        params = params + (
            Param("W_ff", ("d", "d"), "feed-forward matrix"),
            Param("b_ff", ("d",), "feed-forward bias"),
        )
    name = v.name
    opts = dict(v.options)
    if residual:
        opts["residual"] = True
    if feedforward:
        opts["feedforward"] = True
    return replace(
        v, name=name, params=params, residual=residual, feedforward=feedforward,
        options=tuple(sorted(opts.items())),
    )


__all__ = [
    "NORMALIZATIONS",
    "Head",
    "Param",
    "Variant",
    "bilinear_score",
    "scalar",
    "single_head_params",
    "with_addons",
]
