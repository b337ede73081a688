"""gaussflow's warning classes (a leaf module: no gaussflow imports).

Every warning the package issues derives from :class:`GaussflowWarning`, so one filter silences or
escalates all of them, and a narrower class one kind::

    import warnings, gaussflow as gf
    warnings.simplefilter("ignore", gf.ApproximateClosureWarning)   # accept the projection closure
    warnings.simplefilter("error", gf.GaussflowWarning)             # every gaussflow warning raises

The hierarchy mirrors ``numpy``'s (``RankWarning``) and ``scipy``'s (``IntegrationWarning``): warnings are
``UserWarning`` subclasses, shown once per call site by the default filters.
"""

from __future__ import annotations

import warnings


class GaussflowWarning(UserWarning):
    """Base class of every warning issued by gaussflow."""


class ApproximateClosureWarning(GaussflowWarning):
    """A result was computed with a closure that is not exact (e.g. the Gaussian projection of a variant
    whose velocity is not affine on N(α, Σ)): the moments are an approximation of the true law's.

    The exactness is read from the closure kind (``Attention.kind.exact``), never from a variant name;
    ``Trajectory.exact`` records it on the result.
    """


#: the advice appended to every :class:`ApproximateClosureWarning`
SILENCE_HINT = ("silence with warnings.simplefilter('ignore', gaussflow.ApproximateClosureWarning); "
                "measure the error against particles with gaussflow.verify")


def warn_approximate(what: str, variant: str, kind: str, stacklevel: int = 3) -> None:
    """Issue :class:`ApproximateClosureWarning`: ``what`` integrated ``variant`` with the non-exact ``kind``.

    Parameters
    ----------
    what : str
        The calling function, e.g. ``"solve"``.
    variant : str
        Name of the attention variant (for the message only).
    kind : str
        The closure kind's description (``Attention.kind.describe(attn)``).
    stacklevel : int
        Passed to :func:`warnings.warn`; the default points at the caller of ``what``.
    """
    warnings.warn(f"{what}: variant {variant!r} does not close, so the moments integrated are an approximation "
                  f"(closure: {kind}; traj.exact is False); {SILENCE_HINT}",
                  ApproximateClosureWarning, stacklevel=stacklevel)


__all__ = ["SILENCE_HINT", "ApproximateClosureWarning", "GaussflowWarning", "warn_approximate"]
