"""Test configuration: Hypothesis profiles.

``ci`` (loaded by default) is deterministic (``derandomize=True``) so a red build is
reproducible bit for bit, and it skips the shrink phase: the SymPy references cost up to
seconds per example, and shrinking a failure would take minutes (the failing example and its
reproduction blob are still printed). ``dev`` draws fresh random examples, more of them, and
shrinks. Pick one with ``HYPOTHESIS_PROFILE=dev pytest``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=10,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    print_blob=True,
    # the high-precision SymPy references are slow per example, not the data generation
    suppress_health_check=(HealthCheck.too_slow,),
)
settings.register_profile(
    "dev",
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=(HealthCheck.too_slow,),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
