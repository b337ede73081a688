"""A batched Dormand–Prince 5(4) integrator with per-member step control, blow-up and convergence
monitoring (members stop independently)."""

from __future__ import annotations

import math

import numpy as np

from .batch_result import BatchResult
from .batched import BatchedClosure, Form
from .common import CAP, COLLAPSE_RTOL

_TINY = 1e-300

# Dormand–Prince 5(4), as in scipy.integrate._ivp.rk.RK45 (FSAL: the 7th stage is f at the new state)
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_ORDER_ERR = 4  # exponent 1/(q+1) of the step-size controller, q = 4 the order of the error estimate
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0


# --------------------------------------------------------------------------- integrator


def _rms(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(X**2, axis=(1, 2)))


def _trace(S: np.ndarray) -> np.ndarray:
    return np.trace(S, axis1=1, axis2=2)


def _fro(S: np.ndarray) -> np.ndarray:
    m = np.max(np.abs(S), axis=(1, 2), initial=0.0)  # scaled: no overflow for |S| ~ 1e160
    m = np.where(np.isfinite(m) & (m > 0), m, 1.0)
    return m * np.sqrt(np.sum((S / m[:, None, None]) ** 2, axis=(1, 2)))


def integrate(
    form: Form, rhs: BatchedClosure, S0: np.ndarray, a0: np.ndarray | None, t0: float, t1: float,
    te: np.ndarray, record: bool, rtol: float, atol: float, R: float, tol: float, max_steps: int,
) -> BatchResult:
    B, d = S0.shape[0], S0.shape[1]
    n_eval = te.size
    hist = np.full((B, n_eval, d, d), np.nan) if record else None
    mhist = np.full((B, n_eval, d), np.nan) if record and form.with_mean else None
    k_eval = np.zeros(B, dtype=np.intp)  # next sample index per member
    if hist is not None and te[0] == t0:
        hist[:, 0] = S0
        if mhist is not None and a0 is not None:
            mhist[:, 0] = a0
        k_eval[:] = 1

    everyone = np.arange(B)
    t = np.full(B, t0)
    Y = form.init(S0, a0)
    f = form.deriv(rhs.take(everyone), Y)
    status = np.full(B, "ok", dtype=object)
    t_blowup = np.full(B, np.nan)
    nsteps = np.zeros(B, dtype=np.int64)
    nrej = np.zeros(B, dtype=np.int64)
    active = np.ones(B, dtype=bool)
    mon = _Monitor(S0, R, tol, t0)

    bad0 = ~np.all(np.isfinite(f.reshape(B, -1)), axis=1)  # RHS not finite at the start: nothing to integrate
    status[bad0] = "failed"
    active &= ~bad0
    done0 = active & mon.stationary(S0, form.sigma_dot(Y, f), everyone, form.alpha(Y), form.alpha(f))
    status[done0] = "converged"
    active &= ~done0

    # initial step (Hairer–Nørsett–Wanner II.4, as scipy's select_initial_step), per member
    scale = atol + np.abs(Y) * rtol
    d0, d1 = _rms(Y / scale), _rms(f / scale)
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
    h0 = np.minimum(h0, t1 - t0)
    f1 = form.deriv(rhs.take(everyone), Y + h0[:, None, None] * f)
    d2 = _rms((f1 - f) / scale) / h0
    dm = np.maximum(d1, d2)
    h1 = np.where(dm <= 1e-15, np.maximum(1e-6, h0 * 1e-3), (0.01 / np.where(dm > 0, dm, 1.0)) ** (1 / 5))
    h = np.minimum(100 * h0, h1)
    h = np.where(np.isfinite(h) & (h > 0), h, 1e-6)

    K = np.empty((7, *Y.shape))
    while True:
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        ta, Ya, fa, ha = t[ia], Y[ia], f[ia], h[ia]
        prep = rhs.take(ia)
        if record:
            ka = k_eval[ia]
            t_next = np.where(ka < n_eval, te[np.minimum(ka, n_eval - 1)], t1)
        else:
            t_next = np.full(ia.size, t1)
        hit = ha >= t_next - ta
        hs = np.where(hit, t_next - ta, ha)
        Ka = K[:, : ia.size]
        Ka[0] = fa
        hb = hs[:, None, None]
        for s in range(1, 6):
            dY = np.tensordot(np.asarray(_A[s]), Ka[:s], axes=(0, 0))
            Ka[s] = form.deriv(prep, Ya + hb * dY)
        Y_new = form.clean(Ya + hb * np.tensordot(_B, Ka[:6], axes=(0, 0)))
        f_new = form.deriv(prep, Y_new)
        Ka[6] = f_new
        err = hb * np.tensordot(_E, Ka, axes=(0, 0))
        sc = atol + np.maximum(np.abs(Ya), np.abs(Y_new)) * rtol
        en = _rms(err / sc)
        finite = np.isfinite(en) & np.all(np.isfinite(f_new), axis=(1, 2))
        en = np.where(finite, en, np.inf)
        acc = en < 1.0
        with np.errstate(divide="ignore"):
            fac = np.where(en == 0, _MAX_FACTOR, _SAFETY * en ** (-1.0 / (_ORDER_ERR + 1)))
        fac = np.where(acc, np.minimum(_MAX_FACTOR, fac), np.clip(fac, _MIN_FACTOR, 1.0))
        fac = np.where(np.isfinite(fac), fac, _MIN_FACTOR)
        # a step shortened to land on a sample says little about the natural step: never shrink h for it
        h[ia] = np.where(acc & hit, np.maximum(ha, hs * fac), hs * fac)
        nsteps[ia] += acc
        nrej[ia] += ~acc

        ja = ia[acc]
        if ja.size:
            t[ja] = np.where(hit[acc], t_next[acc], ta[acc] + hs[acc])
            Y[ja] = Y_new[acc]
            f[ja] = f_new[acc]
            S_acc = form.sigma(Y_new[acc])
            if hist is not None:
                rec = hit[acc] & (k_eval[ja] < n_eval)
                jr = ja[rec]
                hist[jr, k_eval[jr]] = S_acc[rec]
                if mhist is not None:
                    mhist[jr, k_eval[jr]] = Y_new[acc][rec][..., d]
                k_eval[jr] += 1
            Sd_acc = form.sigma_dot(Y_new[acc], f_new[acc])
            stop = mon.check(ja, t[ja], S_acc, Sd_acc, status, t_blowup, form.alpha(Y_new[acc]),
                             form.alpha(f_new[acc]))
            active[ja[stop]] = False
            live = ja[~stop]
            active[live[t[live] >= t1]] = False
        # budget and step-size underflow
        spent = active & (nsteps + nrej >= max_steps)
        status[spent] = "failed"
        active &= ~spent
        tiny = active & (h <= 10 * np.spacing(np.maximum(np.abs(t), 1.0)))
        status[tiny] = "failed"
        active &= ~tiny

    return BatchResult(t_final=t, Sigma_final=form.sigma(Y), status=status.astype(str), t_blowup=t_blowup,
                       nsteps=nsteps, nrejected=nrej, t_eval=te if record else None, history=hist,
                       variant=rhs.name, t_span=(t0, t1), mean_final=form.alpha(Y), mean_history=mhist)


class _Monitor:
    """Per-member blow-up thresholds and the termination tests of the module docstring."""

    def __init__(self, S0: np.ndarray, R: float, tol: float, t0: float) -> None:
        B = S0.shape[0]
        self.R, self.tol = R, tol
        self.ref = _trace(S0)
        eps = COLLAPSE_RTOL * _fro(S0)
        self.eps_S = np.where(eps > 0, eps, COLLAPSE_RTOL)
        self.eps_a = COLLAPSE_RTOL * np.sqrt(np.where(eps > 0, _fro(S0), 1.0))
        self.watch = self.ref > 0
        self.thr = np.minimum(self.ref * R, CAP)
        self.pre = np.minimum(self.ref * math.sqrt(R), self.thr)
        self.seg_start = np.full(B, t0)
        self.tau_pre = np.full(B, np.nan)  # Newton estimate at the first state past √threshold (Richardson)
        self.T_pre = np.full(B, np.nan)

    def stationary(self, S: np.ndarray, Sd: np.ndarray, j: np.ndarray, a: np.ndarray | None = None,
                   ad: np.ndarray | None = None) -> np.ndarray:
        """(‖Σ̇‖_F ≤ tol·max(‖Σ‖_F, ε_Σ) or ‖Σ‖_F ≤ ε_Σ) and, with a mean, ‖α̇‖ ≤ tol·max(‖α‖, ε_α)."""
        if self.tol <= 0:
            return np.zeros(S.shape[0], dtype=bool)
        nS, e = _fro(S), self.eps_S[j]
        ok = (_fro(Sd) <= self.tol * np.maximum(nS, e)) | (nS <= e)
        if a is not None and ad is not None:
            ok &= np.linalg.norm(ad, axis=-1) <= self.tol * np.maximum(np.linalg.norm(a, axis=-1), self.eps_a[j])
        return ok

    def check(self, j: np.ndarray, t: np.ndarray, S: np.ndarray, Sd: np.ndarray, status: np.ndarray,
              t_blowup: np.ndarray, a: np.ndarray | None = None, ad: np.ndarray | None = None) -> np.ndarray:
        """Update members ``j`` (at times t, with Σ, Σ̇ stacked) after an accepted step; True = stop."""
        tr, trd = _trace(S), _trace(Sd)
        tau = np.where((trd > 0) & np.isfinite(trd), tr / np.where(trd > 0, trd, 1.0), np.inf)
        TN = t + tau
        first = self.watch[j] & (tr >= self.pre[j]) & np.isnan(self.tau_pre[j])
        self.tau_pre[j[first]] = tau[first]
        self.T_pre[j[first]] = TN[first]
        stop = np.zeros(j.size, dtype=bool)

        big = np.flatnonzero(self.watch[j] & (tr >= self.thr[j]))
        if big.size:
            jb = j[big]
            grown = tr[big] / self.ref[jb]
            sig = tau[big] * np.sqrt(grown) <= t[big] - self.seg_start[jb]
            kf = big[sig]
            if kf.size:  # finite-time singularity: Newton estimate, Richardson with the √threshold one
                jf = j[kf]
                tb, Tb = tau[kf], TN[kf]
                ta, Ta = self.tau_pre[jf], self.T_pre[jf]
                use = np.isfinite(ta) & (ta > 2 * tb)
                Tr = (ta**2 * Tb - tb**2 * Ta) / np.where(use, ta**2 - tb**2, 1.0)
                use &= np.abs(Tr - Tb) <= tb
                t_blowup[jf] = np.where(use, Tr, Tb)
                status[jf] = "blowup"
                stop[kf] = True
            kg = big[~sig]  # fast growth without a finite-time singularity: raise the threshold
            if kg.size:
                jg = j[kg]
                capped = self.thr[jg] >= CAP
                status[jg[capped]] = "blowup"
                stop[kg[capped]] = True
                kc = kg[~capped]
                jc = j[kc]
                self.seg_start[jc] = t[kc]
                self.ref[jc] = tr[kc]
                self.thr[jc] = np.minimum(tr[kc] * self.R, CAP)
                self.pre[jc] = np.minimum(tr[kc] * math.sqrt(self.R), self.thr[jc])
                self.tau_pre[jc] = np.nan
                self.T_pre[jc] = np.nan
        live = np.flatnonzero(~stop)
        conv = live[self.stationary(S[live], Sd[live], j[live], None if a is None else a[live],
                                    None if ad is None else ad[live])]
        status[j[conv]] = "converged"
        stop[conv] = True
        return stop


__all__ = ["integrate"]
