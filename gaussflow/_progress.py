"""One progress facility for every long path: a one-line ``\\r`` bar on **stderr**, and the CLI's chatter.

No dependency: the bar is the throttled one the particle stepper always had (``gaussflow.particles``),
generalized to counts, stages and nesting. It is shown only when asked (``enabled=True``) or, by default
(``enabled=None``), when stderr is a terminal, the caller is the main thread of the main process and
:func:`quiet` is not in effect. Hence worker processes and executor threads never draw: the parent updates.

Nesting: while a bar is being drawn, a bar opened inside it (any library call reached from it, e.g. the
particle runs of :func:`gaussflow.verify.verify`) does not draw a line of its own; its fraction moves the
outer bar within the outer bar's current unit. So there is never more than one line on the terminal.

>>> with progress_bar(3, "cells", enabled=False) as bar:
...     for _ in range(3):
...         bar.update()
>>> bar.n, bar.fraction
(3.0, 1.0)

Rendering (throttled to 5 redraws per second, always on the last update)::

    cells [##########--------------------]  33.3%  1/3  2.4s  eta 4.8s
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import multiprocessing
import numbers
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

#: bar width in characters and the least time between two redraws (seconds)
WIDTH, THROTTLE = 30, 0.2

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("gaussflow_quiet", default=False)
_ACTIVE: contextvars.ContextVar[ProgressBar | None] = contextvars.ContextVar("gaussflow_bar", default=None)


def _in_worker() -> bool:
    return multiprocessing.parent_process() is not None or threading.current_thread() is not threading.main_thread()


def resolve(enabled: bool | None, stream: TextIO | None = None) -> bool:
    """Whether a bar with ``enabled`` draws: True/False as given; None → stderr is a terminal, not inside
    :func:`quiet`, and not in a worker process or thread.

    Raises
    ------
    ValueError
        ``enabled`` is not True, False or None.
    """
    if enabled is not None and not isinstance(enabled, bool):
        raise ValueError(f"`progress` must be True, False or None; got {enabled!r}")
    if enabled is not None:
        return enabled
    s = sys.stderr if stream is None else stream
    return not _QUIET.get() and not _in_worker() and bool(getattr(s, "isatty", lambda: False)())


@contextlib.contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Within the block, bars with ``enabled=None`` stay silent and :func:`echo` prints nothing (``--quiet``)."""
    token = _QUIET.set(bool(on) or _QUIET.get())
    try:
        yield
    finally:
        _QUIET.reset(token)


def is_quiet() -> bool:
    """True inside :func:`quiet`."""
    return _QUIET.get()


def echo(*parts: Any, file: TextIO | None = None) -> None:
    """``print(*parts)`` (stdout by default) unless :func:`quiet` is in effect; clears and redraws an active bar
    around the line so the two never share a terminal line."""
    if _QUIET.get():
        return
    bar = _ACTIVE.get()
    if bar is not None:
        bar.write(" ".join(str(p) for p in parts), file=file)
    else:
        print(*parts, file=sys.stdout if file is None else file, flush=True)


class ProgressBar:
    """A bar over ``total`` units (a count, or a span of time with ``start``).

    Attributes
    ----------
    total : float
        Units of the whole job (``start + total`` is the end position).
    n : float
        Position reached (``start`` at the beginning).
    enabled : bool
        Whether this bar draws (False for a silent or a nested bar).
    """

    def __init__(self, total: float, desc: str = "", *, enabled: bool = False, start: float = 0.0,
                 unit: str = "", stream: TextIO | None = None, parent: ProgressBar | None = None) -> None:
        if isinstance(total, bool) or not isinstance(total, numbers.Real) or not math.isfinite(total) or total < 0:
            raise ValueError(f"`total` must be a finite number ≥ 0; got {total!r}")
        self.total, self.desc, self.start, self.unit = float(total), str(desc), float(start), unit
        self.n = self.start
        self.enabled, self.parent = enabled, parent
        self.stream = stream
        self.postfix = ""
        self.sub = 0.0  # units of the current step done by a nested bar
        self.step = 1.0  # units a nested bar spans (the current stage's)
        self.t0 = time.perf_counter()
        self.last = -math.inf
        self.width = 0

    # ------------------------------------------------------------------ position
    @property
    def fraction(self) -> float:
        """Share done, in [0, 1] (1 for an empty job)."""
        if self.total <= 0:
            return 1.0
        return min(1.0, max(0.0, (self.n - self.start + self.sub) / self.total))

    def update(self, k: float = 1) -> None:
        """Advance by ``k`` units."""
        self.set(self.n + k)

    def set(self, value: float, force: bool = False) -> None:
        """Move to position ``value`` (e.g. the current time of a time-stepping run)."""
        self.n, self.sub = float(value), 0.0
        self._changed(force)

    def set_description(self, desc: str, postfix: str | None = None) -> None:
        """Change the text before the bar (and optionally after it)."""
        self.desc = str(desc)
        if postfix is not None:
            self.postfix = postfix
        self._changed(True)

    def set_postfix(self, text: str) -> None:
        """Text after the numbers (e.g. ``t=0.35``)."""
        self.postfix = text
        self._changed(False)

    @contextlib.contextmanager
    def stage(self, name: str, units: float = 1) -> Iterator[ProgressBar]:
        """One step of a multi-step job: shows ``name``; on leaving, the bar has advanced by ``units``."""
        target, self.step = self.n + units, float(units)
        self.postfix = name
        self._changed(True)
        try:
            yield self
        finally:
            self.step = 1.0
            self.set(target, force=True)

    def _nested(self, fraction: float) -> None:
        room = max(0.0, self.start + self.total - self.n)
        self.sub = min(1.0, max(0.0, fraction)) * min(self.step, room)
        self._changed(False)

    def _changed(self, force: bool) -> None:
        if self.parent is not None:
            self.parent._nested(self.fraction)
        elif self.enabled:
            now = time.perf_counter()
            if force or now - self.last >= THROTTLE:
                self.last = now
                self._draw(now)

    # ------------------------------------------------------------------ drawing
    def render(self, now: float | None = None) -> str:
        """The bar's text (without ``\\r``)."""
        now = time.perf_counter() if now is None else now
        frac = self.fraction
        elapsed = now - self.t0
        fill = int(WIDTH * frac)
        parts = [f"{self.desc} " if self.desc else "", f"[{'#' * fill}{'-' * (WIDTH - fill)}] {100 * frac:5.1f}%"]
        if self.unit:
            parts.append(f"  {self.unit}={self.n:.4g}")
        else:
            parts.append(f"  {self.n - self.start:.0f}/{self.total:.0f}")
        parts.append(f"  {elapsed:.1f}s")
        if 0.0 < frac < 1.0 and elapsed > 1.0:
            parts.append(f"  eta {elapsed * (1.0 - frac) / frac:.0f}s")
        if self.postfix:
            parts.append(f"  {self.postfix}")
        return "".join(parts)

    def _out(self) -> TextIO:
        return sys.stderr if self.stream is None else self.stream

    def _draw(self, now: float) -> None:
        text = self.render(now)
        pad = max(0, self.width - len(text))
        self.width = len(text)
        s = self._out()
        s.write("\r" + text + " " * pad)
        s.flush()

    def clear(self) -> None:
        """Erase the bar's line (before other output)."""
        if self.enabled and self.parent is None and self.width:
            s = self._out()
            s.write("\r" + " " * self.width + "\r")
            s.flush()
            self.width = 0

    def write(self, line: str, file: TextIO | None = None) -> None:
        """Print ``line`` (stdout by default) above the bar: clear, print, redraw."""
        if self.parent is not None:
            self.parent.write(line, file)
            return
        self.clear()
        print(line, file=sys.stdout if file is None else file, flush=True)
        if self.enabled:
            self._draw(time.perf_counter())

    def close(self) -> None:
        """Last redraw and newline (a drawn bar keeps its final state on the terminal)."""
        if self.parent is not None:
            self.parent._nested(1.0)
            return
        if self.enabled:
            self._draw(time.perf_counter())
            s = self._out()
            s.write("\n")
            s.flush()


@contextlib.contextmanager
def progress_bar(total: float, desc: str = "", enabled: bool | None = None, *, start: float = 0.0, unit: str = "",
                 stream: TextIO | None = None) -> Iterator[ProgressBar]:
    """A :class:`ProgressBar` for the block; closed (final state and newline) on leaving it.

    Parameters
    ----------
    total : float
        Units of work (a count; or a time span with ``start`` and ``unit``).
    desc : str
        Text before the bar.
    enabled : bool, optional
        Draw on stderr (True), never (False), or when :func:`resolve` says so (None, the default).
    start : float
        Initial position (e.g. t₀ of a time-stepping run; the end is ``start + total``).
    unit : str
        Name of a continuous position, shown as ``unit=value`` (e.g. ``"t"``) instead of the ``k/n`` count.
    stream : text stream, optional
        Where to draw (default ``sys.stderr``, looked up at each write).

    Notes
    -----
    Inside another drawn bar, the new bar is nested (see the module docstring) whatever ``enabled`` says,
    unless ``enabled`` is False.
    """
    outer = _ACTIVE.get()
    if enabled is not False and outer is not None and not _in_worker():
        bar = ProgressBar(total, desc, start=start, unit=unit, stream=stream, parent=outer)
    else:
        bar = ProgressBar(total, desc, enabled=resolve(enabled, stream), start=start, unit=unit, stream=stream)
    token = _ACTIVE.set(bar) if bar.enabled or bar.parent is not None else None
    try:
        if bar.enabled:
            bar.set(bar.n, force=True)
        yield bar
    finally:
        if token is not None:
            _ACTIVE.reset(token)
        bar.close()


def active() -> ProgressBar | None:
    """The bar being drawn in this context (None outside one)."""
    return _ACTIVE.get()


def logger(log: Callable[[str], Any] | None) -> Callable[[str], Any]:
    """``log`` if given, else :func:`echo` (the default of the experiments' ``log`` arguments)."""
    return echo if log is None else log


__all__ = ["THROTTLE", "WIDTH", "ProgressBar", "active", "echo", "is_quiet", "logger", "progress_bar", "quiet",
           "resolve"]
