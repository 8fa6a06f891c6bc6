"""Primal coordinate descent for the L1-penalised squared hinge (liblinear's CDN)."""

import numpy as np
import scipy.sparse as sp
from numba import njit

from .rows import _unsigned


@njit(cache=True)
def _cd_l1_squared_hinge(data, indices, indptr, n_samples, t, cw, B, tol, max_iter, w):
    """Primal coordinate descent for ``||w||_1 + sum_i cw_i max(0, 1 - t_i w x_i)^2``.

    The CDN method of Yuan et al. (2010) that liblinear uses: a one-variable Newton step
    on the smooth part plus the absolute value, then a backtracking line search. ``X`` is
    CSC; when ``B > 0`` the last weight is the intercept's, a constant column of value B.
    Returns ``(n_iter, converged)``.
    """
    n_features = indptr.shape[0] - 1
    n_weights = w.shape[0]
    margin = np.ones(n_samples)  # b_i = 1 - t_i w x_i
    for j in range(n_weights):
        if w[j] != 0.0:
            if j < n_features:
                for p in range(indptr[j], indptr[j + 1]):
                    margin[indices[p]] -= t[indices[p]] * w[j] * data[p]
            else:
                for i in range(n_samples):
                    margin[i] -= t[i] * w[j] * B
    sigma = 0.01
    first_violation = -1.0
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        max_violation = 0.0
        for j in range(n_weights):
            G = 0.0
            H = 0.0
            if j < n_features:
                for p in range(indptr[j], indptr[j + 1]):
                    i = indices[p]
                    if margin[i] > 0.0:
                        v = data[p]
                        G -= 2.0 * cw[i] * t[i] * v * margin[i]
                        H += 2.0 * cw[i] * v * v
            else:
                for i in range(n_samples):
                    if margin[i] > 0.0:
                        G -= 2.0 * cw[i] * t[i] * B * margin[i]
                        H += 2.0 * cw[i] * B * B
            H = max(H, 1e-12)
            wj = w[j]
            if wj > 0.0:
                violation = abs(G + 1.0)
            elif wj < 0.0:
                violation = abs(G - 1.0)
            else:
                violation = max(G - 1.0, -1.0 - G, 0.0)
            max_violation = max(max_violation, violation)
            if G + 1.0 <= H * wj:
                d = -(G + 1.0) / H
            elif G - 1.0 >= H * wj:
                d = -(G - 1.0) / H
            else:
                d = -wj
            if abs(d) < 1e-12:
                continue
            # Backtracking line search on the exact change of the objective.
            step = 1.0
            bound = G * d + abs(wj + d) - abs(wj)
            for _ in range(30):
                delta = step * d
                change = abs(wj + delta) - abs(wj)
                if j < n_features:
                    for p in range(indptr[j], indptr[j + 1]):
                        i = indices[p]
                        old = max(margin[i], 0.0)
                        nb = max(margin[i] - t[i] * delta * data[p], 0.0)
                        change += cw[i] * (nb * nb - old * old)
                else:
                    for i in range(n_samples):
                        old = max(margin[i], 0.0)
                        nb = max(margin[i] - t[i] * delta * B, 0.0)
                        change += cw[i] * (nb * nb - old * old)
                if change <= sigma * step * bound:
                    break
                step *= 0.5
            delta = step * d
            w[j] = wj + delta
            if j < n_features:
                for p in range(indptr[j], indptr[j + 1]):
                    margin[indices[p]] -= t[indices[p]] * delta * data[p]
            else:
                for i in range(n_samples):
                    margin[i] -= t[i] * delta * B
        if first_violation < 0.0:
            first_violation = max_violation
        if max_violation <= tol * max(first_violation, 1e-12):
            converged = True
            break
    return it, converged


def cd_l1(X, y, s, *, C, head, intercept_scaling, fit_intercept, n_outputs, tol, max_iter):
    """L1-penalised linear SVM (squared hinge), one output at a time.

    Returns ``(W, b, n_iter, converged)``; the intercept is penalised as liblinear does.
    """
    if head not in ("binary", "ovr"):
        raise ValueError(f"the L1 coordinate descent solves binary and one-vs-rest "
                         f"problems; got head={head!r}")
    Xc = sp.csc_matrix(X) if not sp.issparse(X) else X.tocsc()
    Xc.sort_indices()
    n_samples, n_features = Xc.shape
    B = float(intercept_scaling) if fit_intercept else 0.0
    cw = C * np.asarray(s, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    W = np.zeros((n_features, n_outputs))
    b = np.zeros(n_outputs)
    n_iter, converged = 0, True
    for k in range(n_outputs):
        target = y if head == "binary" else (y == k).astype(np.int64)
        t = 2.0 * target - 1.0
        w = np.zeros(n_features + (1 if fit_intercept else 0))
        it, ok = _cd_l1_squared_hinge(Xc.data, _unsigned(Xc.indices),
                                      _unsigned(Xc.indptr), n_samples, t, cw, B, tol,
                                      max_iter, w)
        W[:, k] = w[:n_features]
        if fit_intercept:
            b[k] = w[-1] * B
        n_iter = max(n_iter, it)
        converged = converged and ok
    return W, b, int(n_iter), bool(converged)
