"""Newton's method on small dense problems as one compiled loop."""

import math

import numpy as np
from numba import njit

from ._codes import LOSS_CODES, _LOG_LOSS, _SQUARED_HINGE


# A small problem's Newton iteration is a few microseconds of arithmetic and a few hundred
# of Python around it (one call per output for the Hessian, its Cholesky factor and the
# line search). These kernels run the whole method in compiled code: the same
# iterations, Hessians, steps and stopping tests as the solvers' Newton's method.


@njit(cache=True, inline="always")
def _margin_terms(m, loss, width):
    """(l, l', l'') at margin m of the log loss, the squared hinge or the hinge smoothed
    over ``width`` (the package's ``_losses`` definitions)."""
    if loss == _LOG_LOSS:
        if m > 0.0:
            e = math.exp(-m)
            p = e / (1.0 + e)  # sigmoid(-m)
            return math.log1p(e), -p, p * (1.0 - p)
        e = math.exp(m)
        p = 1.0 / (1.0 + e)
        return -m + math.log1p(e), -p, p * (1.0 - p)
    r = 1.0 - m
    if r <= 0.0:
        return 0.0, 0.0, 0.0
    if loss == _SQUARED_HINGE:
        return r * r, -2.0 * r, 2.0
    if r >= width:
        return r - 0.5 * width, -1.0, 0.0
    return r * r / (2.0 * width), -r / width, 1.0 / width


@njit(cache=True)
def _cholesky_solve(H, g, out):
    """out = H^-1 g for symmetric positive semi-definite H (m x m), by Cholesky, with
    the diagonal damped by growing multiples of its largest entry until it factors."""
    m = H.shape[0]
    L = np.empty_like(H)
    largest = 0.0
    for i in range(m):
        largest = max(largest, abs(H[i, i]))
    damping = 0.0
    while True:
        ok = True
        for j in range(m):
            total = H[j, j] + damping
            for p in range(j):
                total -= L[j, p] * L[j, p]
            if not total > 0.0:
                ok = False
                break
            L[j, j] = math.sqrt(total)
            for i in range(j + 1, m):
                total = H[i, j]
                for p in range(j):
                    total -= L[i, p] * L[j, p]
                L[i, j] = total / L[j, j]
        if ok:
            break
        damping = max(10.0 * damping, 1e-12 * max(largest, 1e-300))
    for i in range(m):  # L u = g, then L^T out = u
        total = g[i]
        for p in range(i):
            total -= L[i, p] * out[p]
        out[i] = total / L[i, i]
    for i in range(m - 1, -1, -1):
        total = out[i]
        for p in range(i + 1, m):
            total -= L[p, i] * out[p]
        out[i] = total / L[i, i]


@njit(cache=True)
def _small_line_search(z, q, t, s, C, wp, pp, loss, width):
    """The exact minimiser ``alpha >= 0`` of one output's objective along ``(p, pb)``:
    Newton's method on its derivative, safeguarded by bisection (as the solvers' line
    search of Newton's method)."""
    n = z.shape[0]
    slope0 = wp
    for i in range(n):
        slope0 += C * s[i] * t[i] * q[i] * _margin_terms(t[i] * z[i], loss, width)[1]
    slope0 = abs(slope0)
    lo, hi, alpha = 0.0, np.inf, 1.0
    for _ in range(60):
        slope = wp + alpha * pp
        curvature = pp
        for i in range(n):
            _, d1, d2 = _margin_terms(t[i] * (z[i] + alpha * q[i]), loss, width)
            slope += C * s[i] * t[i] * q[i] * d1
            curvature += C * s[i] * q[i] * q[i] * d2
        if abs(slope) <= 1e-12 * slope0:
            break
        if slope > 0.0:
            hi = alpha
        else:
            lo = alpha
        step = alpha - slope / curvature if curvature > 0.0 else np.inf
        if lo < step < hi:
            alpha = step
        elif hi < np.inf:
            alpha = 0.5 * (lo + hi)
        else:
            alpha = 2.0 * max(alpha, 1.0)
        if hi - lo <= 1e-15 * max(alpha, 1.0):
            break
    return alpha


@njit(cache=True)
def _newton_small(X, T, s, W, b, Z, C, l2, rho, loss, width, fit_intercept, decrement_tol,
                  gradient_tol, max_iter, iters, oks):
    """Newton's method on each output in turn, in place on W, b and Z = X W + b."""
    n, d = X.shape
    K = T.shape[1]
    m = d + 1 if fit_intercept else d
    total_s = 0.0
    for i in range(n):
        total_s += s[i]
    scale = 1.0 / (C * total_s)
    H = np.empty((m, m))
    g = np.empty(m)
    p = np.empty(m)
    q = np.empty(n)
    z = np.empty(n)
    t = np.empty(n)
    for k in range(K):
        for i in range(n):
            z[i] = Z[i, k]
            t[i] = T[i, k]
        iters[k] = 0
        oks[k] = False
        while iters[k] < max_iter:
            H[:, :] = 0.0
            g[:] = 0.0
            value = 0.0
            for i in range(n):
                v, d1, d2 = _margin_terms(t[i] * z[i], loss, width)
                value += s[i] * v
                gi = C * s[i] * t[i] * d1
                hi = C * s[i] * d2
                for j in range(d):
                    g[j] += gi * X[i, j]
                if fit_intercept:
                    g[d] += gi
                if hi != 0.0:
                    for j in range(d):
                        xj = hi * X[i, j]
                        for l in range(j + 1):
                            H[j, l] += xj * X[i, l]
                    if fit_intercept:
                        for l in range(d):
                            H[d, l] += hi * X[i, l]
                        H[d, d] += hi
            penalty = 0.0
            largest = 0.0
            for j in range(d):
                penalty += l2 * W[j, k] * W[j, k]
                g[j] += l2 * W[j, k]
                H[j, j] += l2
                largest = max(largest, abs(g[j]))
            if fit_intercept:
                penalty += rho * b[k] * b[k]
                g[d] += rho * b[k]
                H[d, d] += rho
                largest = max(largest, abs(g[d]))
            objective = 0.5 * penalty + C * value
            if largest * scale <= gradient_tol:
                oks[k] = True
                break
            for j in range(m):
                for l in range(j):
                    H[l, j] = H[j, l]
            _cholesky_solve(H, g, p)  # p = H^-1 g; the step is -p
            decrement = 0.0
            for j in range(m):
                p[j] = -p[j]
                decrement -= 0.5 * g[j] * p[j]
            pb = p[d] if fit_intercept else 0.0
            for i in range(n):
                total = pb
                for j in range(d):
                    total += X[i, j] * p[j]
                q[i] = total
            wp = rho * b[k] * pb
            pp = rho * pb * pb
            for j in range(d):
                wp += l2 * W[j, k] * p[j]
                pp += l2 * p[j] * p[j]
            alpha = _small_line_search(z, q, t, s, C, wp, pp, loss, width)
            if not np.isfinite(alpha):
                return False
            for j in range(d):
                W[j, k] += alpha * p[j]
            b[k] += alpha * pb
            for i in range(n):
                z[i] += alpha * q[i]
            iters[k] += 1
            if decrement <= decrement_tol * objective:
                oks[k] = True
                break
        for i in range(n):
            Z[i, k] = z[i]
    return True


def newton_small(X, T, s, W, b, Z, *, C, l2, rho, loss, width, fit_intercept,
                 decrement_tol, gradient_tol, max_iter):
    """Newton's method for the binary and one-vs-rest heads on a small dense X.

    Each output ``k`` (targets ``T[:, k]`` of +-1) is trained from ``W[:, k]``,
    ``b[k]`` with ``Z = X W + b`` given; all three are updated in place (float64). Per
    iteration: the exact Hessian ``l2 I + C X^T diag(s l'') X`` bordered by the
    intercept (penalty ``rho``), its Cholesky factor (damped if singular), the exact line
    search; an output stops when its largest gradient entry times ``1 / (C sum(s))`` is
    at most ``gradient_tol``, or after a step whose Newton decrement was at most
    ``decrement_tol`` times its objective. ``loss`` "hinge" means the hinge smoothed
    over ``width``. Returns ``(iterations, converged)``, one entry per output.
    """
    if loss == "hinge" and not (width or 0.0) > 0.0:
        raise ValueError(f"the hinge is trained smoothed: width must be > 0, got {width!r}")
    n_outputs = T.shape[1]
    iters = np.zeros(n_outputs, dtype=np.int64)
    oks = np.zeros(n_outputs, dtype=np.bool_)
    finite = _newton_small(np.ascontiguousarray(X, dtype=np.float64), T,
                           np.asarray(s, dtype=np.float64), W, b, Z, float(C), float(l2),
                           float(rho), LOSS_CODES[loss], float(width or 0.0),
                           bool(fit_intercept), float(decrement_tol), float(gradient_tol),
                           int(max_iter), iters, oks)
    if not finite:
        raise FloatingPointError("Newton's line search produced a non-finite step.")
    return iters, oks
