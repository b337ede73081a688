"""The one outcome vocabulary of every result (a leaf module).

Moment trajectories (:func:`gaussflow.integrate.solve`, :func:`gaussflow.integrate.propagate`), batches
(:func:`gaussflow.solve_batch`), particle runs (:func:`gaussflow.simulate_particles`) and the closure
side of :func:`gaussflow.verify` all report a :class:`Status`. It is a ``str`` enum, so
``traj.status == "blowup"`` keeps working and it saves to JSON as its value; ``Status(...).advice``
says what to do about it.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Outcome of a run.

    ``OK``
        the requested end time was reached.
    ``BLOWUP``
        tr Σ (or a particle) left every bound: a finite-time singularity (``t_blowup`` holds the extrapolated
        T*) or unbounded exponential growth; a result, not an error.
    ``CONVERGED``
        a stationary state (or a collapse to Σ = 0) was reached before the end time.
    ``FAILED``
        the integrator gave up (step-size underflow, evaluation budget, non-finite values).
    """

    OK = "ok"
    BLOWUP = "blowup"
    CONVERGED = "converged"
    FAILED = "failed"

    def __repr__(self) -> str:
        return repr(self.value)

    def __str__(self) -> str:
        return self.value

    @property
    def advice(self) -> str:
        """What to do about this outcome (one sentence)."""
        return _ADVICE[self]


_ADVICE: dict[Status, str] = {
    Status.OK: "nothing to do: the run reached the end of t_span",
    Status.BLOWUP: "a finite-time blow-up is a property of the flow: read t_blowup; shorten t_span or lower "
                   "blowup_threshold to stop earlier, or raise it to follow exponential growth further",
    Status.CONVERGED: "a stationary (or collapsed) state was reached: pass stationary_tol=None to integrate "
                      "on to the end of t_span",
    Status.FAILED: "the integrator gave up: read the message; loosen rtol/atol, raise the evaluation budget "
                   "(max_nfev / max_steps), or use form='factor' for nearly singular Σ",
}

#: every status value, in a fixed order
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)

__all__ = ["STATUSES", "Status"]
