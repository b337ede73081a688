"""The symbols every stage shares (a leaf module: it imports only SymPy).

``x`` is the token whose velocity is computed and ``y`` the attended token (both d × 1);
``alpha`` (d × 1) and ``Sigma`` (d × d) are the mean and covariance of the Gaussian token law;
``d``, ``k`` (query/key width) and ``d_v`` (value width of a head) are the dimension symbols that
parameter shapes are written in (``DIMS``). Build custom scores from these::

    >>> import sympy as sp
    >>> from gaussflow.symbols import x, y, d
    >>> A = sp.MatrixSymbol("A", d, d)
    >>> (y.T * A * x).shape
    (1, 1)
"""

from __future__ import annotations

import sympy as sp

d = sp.Symbol("d", integer=True, positive=True)
k = sp.Symbol("k", integer=True, positive=True)
d_v = sp.Symbol("d_v", integer=True, positive=True)
x = sp.MatrixSymbol("x", d, 1)
y = sp.MatrixSymbol("y", d, 1)
alpha = sp.MatrixSymbol("alpha", d, 1)
Sigma = sp.MatrixSymbol("Sigma", d, d)
I = sp.Identity(d)
half = sp.S.Half

#: Dimension symbols by the name used in parameter shapes.
DIMS: dict[str, sp.Symbol] = {"d": d, "k": k, "d_v": d_v}

#: what the shared symbols stand for (``gaussflow derive`` prints them under "where")
DESCRIPTIONS: dict[sp.Basic, str] = {
    x: "the token whose velocity is computed (d×1)",
    y: "the attended token (d×1)",
    alpha: "mean of the Gaussian token law N(alpha, Sigma) (d×1)",
    Sigma: "covariance of the token law (d×d, symmetric PSD)",
    d: "token dimension",
    k: "query/key width",
    d_v: "value width of a head",
}


def scalar(m: sp.MatrixExpr) -> sp.Expr:
    """Turn a 1x1 matrix expression into a scalar expression (its trace)."""
    if m.shape != (1, 1):
        raise ValueError(f"expected a 1x1 matrix expression, got shape {m.shape}")
    return sp.Trace(m)

__all__ = ["DESCRIPTIONS", "DIMS", "I", "Sigma", "alpha", "d", "d_v", "half", "k", "scalar", "x", "y"]
