"""Dual coordinate descent for the multinomial log loss: a row's K dual variables at a
time, with a duality-gap stopping test.

The problem is ``min_{W, b} |W|^2 / 2 + sum_i c_i l(x_i W + b, y_i)``, ``l`` the softmax
cross-entropy, ``c_i = C s_i``. Its dual variables are, for every row, a point
``alpha_i`` of ``c_i`` times the probability simplex (at the optimum, ``c_i`` times the
row's predicted probabilities), and ``W = X^T (Y_c - A)`` (``Y_c`` the one-hot labels,
row i times ``c_i``). A step minimises the dual over one row's ``alpha_i`` with the other
rows' fixed (:func:`_softmax_subproblem`), then updates W by that row alone (Yu, Huang
and Lin, "Dual coordinate descent methods for logistic regression and maximum entropy
models", 2011). An epoch is one sweep over the rows in a random order: about the cost of
one pass of ``X W`` and one of ``X^T G``.

The intercept is not penalised, which the dual cannot express row by row: it would ask
the columns of ``A`` to keep their sums. Instead the intercept follows the column sums'
residual ``r = sum_i (c_i y_i - alpha_i)``, which is minus its gradient at the optimum
of W: within a sweep ``b = b0 + q r`` moves with every row as the weights of a
penalised constant feature of value ``sqrt(q)`` would (``q`` the mean squared norm of
the rows, so that the feature is of the rows' scale), and after each sweep the centre
``b0`` moves to ``b``: a proximal-point method in the intercept. At the optimum
``r = 0`` and the centre stays put.
"""

import numpy as np
import scipy.sparse as sp
from numba import njit

from .dual import DCD_SPARSE_DENSITY, _next_gap_check
from .rows import (
    _as_kernel_data,
    _row_minus_outer,
    _row_sqnorm,
    _row_times_matrix,
    _shuffle,
    _shuffle_state,
)

#: The joint Newton iterations of one row's subproblem stop after this many, or ...
SUBPROBLEM_STEPS = 60
#: ... once every stationarity equation holds to this, relative to the size of its
#: terms (rounding alone leaves an absolute error of that size where ``a c`` is large).
SUBPROBLEM_TOL = 1e-11
#: The dual variables start at ``c_i (1 - START_SHARE)`` for the row's class and share
#: ``c_i START_SHARE`` evenly among the others: near W = 0, inside the simplex (the
#: entropy's logarithms need every one positive).
START_SHARE = 1e-3


@njit(cache=True)
def _softmax_subproblem(a, c, alpha, u, z, new_alpha, new_u, F, h):
    """One row's step: ``beta`` minimising ``a |beta - alpha|^2 / 2 - beta z +
    sum_k beta_k log beta_k`` over ``beta >= 0``, ``sum beta = c``, into ``new_alpha``
    (and its logarithms into ``new_u``).

    ``a = |x_i|^2`` (plus the intercept feature's ``q``), ``z`` the row's outputs, ``u``
    the logarithms of ``alpha``. The minimum solves ``a beta_k + log beta_k = a alpha_k +
    z_k - mu`` for the multiplier ``mu`` that makes the sum ``c``: Newton's method on
    ``(log beta, mu)`` jointly, from ``(u, mean(z - u))``; each equation's derivative is
    ``a beta_k + 1`` in ``log beta_k`` and 1 in ``mu``, so a step costs K exponentials.
    A step in a logarithm is held to at least -20 and at most 2 or up to ``log c`` (no
    variable can exceed c), which keeps the exponentials finite far from the solution
    and lets a vanishing variable come back in one step. Returns the number of steps
    taken.
    """
    K = alpha.shape[0]
    log_c = np.log(c)
    mu = 0.0
    for k in range(K):
        new_u[k] = u[k]
        mu += z[k] - u[k]
    mu /= K
    total = 0.0
    solved = False
    steps = 0
    for steps in range(1, SUBPROBLEM_STEPS + 1):
        total = 0.0
        weighted = 0.0
        spread = 0.0
        worst = 0.0
        for k in range(K):
            beta = np.exp(new_u[k])
            new_alpha[k] = beta
            f = a * (beta - alpha[k]) + new_u[k] + mu - z[k]
            hk = a * beta + 1.0
            F[k] = f
            h[k] = hk
            total += beta
            weighted += beta * f / hk
            spread += beta / hk
            size = 1.0 + a * (beta + alpha[k]) + abs(new_u[k]) + abs(mu) + abs(z[k])
            worst = max(worst, abs(f) / size)
        excess = total - c
        if worst <= SUBPROBLEM_TOL and abs(excess) <= SUBPROBLEM_TOL * c:
            solved = True
            break
        step_mu = (excess - weighted) / spread
        for k in range(K):
            up = max(2.0, log_c - new_u[k])
            step = min(max(-(F[k] + step_mu) / h[k], -20.0), up)
            new_u[k] += step
        mu += step_mu
    if not solved:
        total = 0.0
        for k in range(K):
            new_alpha[k] = np.exp(new_u[k])
            total += new_alpha[k]
    # The sum exactly c (a relative correction of rounding's size).
    ratio = c / total
    shift = np.log(ratio)
    for k in range(K):
        new_alpha[k] *= ratio
        new_u[k] += shift
    return steps


@njit(cache=True)
def _softmax_gap(Xd, data, indices, indptr, sparse, y, cw, W, b, r, A, U, z, g):
    """``(P, gap, max |g_b|)`` at ``W`` and the intercept ``b``.

    ``P`` is the primal objective; ``gap`` is ``P`` minus the dual objective of the
    problem with the intercept held at ``b``, an upper bound on how far ``P`` is above
    its minimum over W alone; ``g_b`` is the gradient in the intercept, ``sum_i c_i
    (p_i - y_i)``, left in ``g``. The dual objective at ``A`` (whose logarithms are
    ``U``) is ``-|W|^2 / 2 - r b - sum alpha log(alpha / c)``.
    """
    n = cw.shape[0]
    K = W.shape[1]
    for k in range(K):
        g[k] = 0.0
    data_term = 0.0
    entropy = 0.0
    for i in range(n):
        c = cw[i]
        if c <= 0.0:
            continue
        _row_times_matrix(Xd, data, indices, indptr, sparse, i, W, z)
        top = -np.inf
        for k in range(K):
            z[k] += b[k]
            top = max(top, z[k])
        total = 0.0
        for k in range(K):
            total += np.exp(z[k] - top)
        log_total = top + np.log(total)
        data_term += c * (log_total - z[y[i]])
        log_c = np.log(c)
        for k in range(K):
            g[k] += c * np.exp(z[k] - log_total)
            if A[i, k] > 0.0:
                entropy += A[i, k] * (U[i, k] - log_c)
        g[y[i]] -= c
    squared = 0.0
    for j in range(W.shape[0]):
        for k in range(K):
            squared += W[j, k] * W[j, k]
    largest = 0.0
    coupling = 0.0
    for k in range(K):
        largest = max(largest, abs(g[k]))
        coupling += r[k] * b[k]
    primal = 0.5 * squared + data_term
    return primal, squared + data_term + coupling + entropy, largest


@njit(cache=True)
def _dcd_softmax(Xd, data, indices, indptr, sparse, y, cw, sqnorm, q, fit_intercept, W,
                 b0, r, A, U, gap_tol, intercept_tol, max_iter, seed):
    """The epochs (module docstring), until the gap is at most ``gap_tol`` times the
    objective and (with an intercept) ``max |g_b|`` at most ``intercept_tol``, or
    ``max_iter`` epochs. The gap is computed after the epochs :func:`_next_gap_check`
    picks. Returns ``(n_iter, converged, objective)``."""
    n = cw.shape[0]
    K = W.shape[1]
    state = _shuffle_state(seed)
    order = np.empty(n, dtype=np.int64)
    active = 0
    for i in range(n):
        if cw[i] > 0.0:  # (a row of weight 0 keeps alpha_i = 0: it is not in the dual)
            order[active] = i
            active += 1
    z = np.empty(K)
    new_alpha = np.empty(K)
    new_u = np.empty(K)
    F = np.empty(K)
    h = np.empty(K)
    b = b0.copy()
    extra = q if fit_intercept else 0.0
    n_iter = 0
    converged = False
    objective = np.nan
    next_check = 1
    last_epoch = 0
    last_gap = -1.0
    for epoch in range(1, max_iter + 1):
        state = _shuffle(order, active, state)
        for s in range(active):
            i = order[s]
            _row_times_matrix(Xd, data, indices, indptr, sparse, i, W, z)
            if fit_intercept:
                for k in range(K):
                    z[k] += b0[k] + r[k] * q
            _softmax_subproblem(sqnorm[i] + extra, cw[i], A[i], U[i], z, new_alpha,
                                new_u, F, h)
            for k in range(K):
                z[k] = new_alpha[k] - A[i, k]  # (z now holds the step)
                A[i, k] = new_alpha[k]
                U[i, k] = new_u[k]
                r[k] -= z[k]
            _row_minus_outer(Xd, data, indices, indptr, sparse, i, z, W)
        n_iter = epoch
        for k in range(K):
            b[k] = b0[k] + r[k] * q if fit_intercept else 0.0
        if epoch >= next_check or epoch == max_iter:
            objective, gap, largest = _softmax_gap(Xd, data, indices, indptr, sparse, y,
                                                   cw, W, b, r, A, U, z, F)
            if gap <= gap_tol * objective and (not fit_intercept
                                               or largest <= intercept_tol):
                converged = True
                break
            next_check = _next_gap_check(epoch, gap, last_epoch, last_gap,
                                         gap_tol * objective)
            last_epoch = epoch
            last_gap = gap
        for k in range(K):
            b0[k] = b[k]
    for k in range(K):
        b0[k] = b[k]
    return n_iter, converged, objective


def dcd_log(X, y, s, *, C, fit_intercept, n_outputs, tol, max_iter, seed, gap_tol):
    """Multinomial logistic regression by dual coordinate descent (module docstring).

    ``y``: class indices ``0..n_outputs-1``; ``s``: sample weights. The fit ends once
    the duality gap (with the intercept held) is at most ``gap_tol`` times the
    objective and, with an intercept, its gradient's largest entry at most ``tol`` times
    ``C * sum(s)`` (L-BFGS's scaled gradient test), or after ``max_iter`` epochs.
    Returns ``(W, b, n_iter, converged, objective)`` with ``W`` of shape
    ``(n_features, n_outputs)``, in float64, and ``objective`` the primal objective
    ``|W|^2 / 2 + sum_i c_i l_i`` at ``(W, b)``.
    """
    if not sp.issparse(X) and np.count_nonzero(X) <= DCD_SPARSE_DENSITY * X.size:
        X = sp.csr_matrix(X)
    Xd, data, indices, indptr, sparse = _as_kernel_data(X)
    n = X.shape[0]
    K = int(n_outputs)
    y = np.asarray(y, dtype=np.int64)
    cw = C * np.asarray(s, dtype=np.float64)
    sqnorm = _sqnorms(Xd, data, indices, indptr, sparse, n)
    active = cw > 0.0
    mean_sqnorm = float(np.mean(sqnorm[active])) if np.any(active) else 1.0
    q = mean_sqnorm if mean_sqnorm > 0.0 else 1.0  # (the intercept feature's square)
    A = np.zeros((n, K))
    A[active] = (cw[active] * START_SHARE / (K - 1))[:, None]
    rows = np.flatnonzero(active)
    A[rows, y[rows]] = cw[rows] * (1.0 - START_SHARE)
    with np.errstate(divide="ignore"):
        U = np.log(A)  # (-inf for the rows left out, which every sum skips)
    signed = -A
    signed[rows, y[rows]] += cw[rows]
    W = np.ascontiguousarray(np.asarray(X.T @ signed, dtype=np.float64))
    r = signed.sum(axis=0)
    b0 = np.zeros(K)
    if fit_intercept:
        # The start: the intercept alone's optimum, log of the classes' weighted shares.
        shares = np.bincount(y, weights=cw, minlength=K)
        b0 = np.log(np.maximum(shares / shares.sum(), np.finfo(float).tiny)) - r * q
    n_iter, converged, objective = _dcd_softmax(
        Xd, data, indices, indptr, sparse, y, cw, sqnorm, q, bool(fit_intercept), W,
        b0, r, A, U, float(gap_tol), float(tol) * float(cw.sum()), int(max_iter),
        int(seed))
    b = b0 if fit_intercept else np.zeros(K)
    return W, b, int(n_iter), bool(converged), float(objective)


@njit(cache=True)
def _sqnorms(Xd, data, indices, indptr, sparse, n):
    """Every row's squared norm."""
    out = np.empty(n)
    for i in range(n):
        out[i] = _row_sqnorm(Xd, data, indices, indptr, sparse, i)
    return out
