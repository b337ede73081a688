"""Reading results: covariance spectra and regimes (:mod:`.spectrum`) and closed-form oracles
(:mod:`.oracles`) that tests and users compare solvers against.
"""

from __future__ import annotations

from .oracles import softmax_blowup_time, softmax_isotropic_cov
from .regimes import KINDS, Regime, classify
from .spectrum import Spectrum, spectrum

__all__ = ["KINDS", "Regime", "Spectrum", "classify", "softmax_blowup_time", "softmax_isotropic_cov", "spectrum"]
