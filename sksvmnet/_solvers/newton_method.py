"""Newton's method on the linear model for the binary and one-vs-rest heads: exact
(generalised) Hessians per output, exact line searches; the hinge through smoothed
hinges."""

import numpy as np
import scipy.sparse as sp

from .._losses import MARGIN_CURVATURES, MARGIN_LOSSES, smoothed_hinge
from ._common import SolverResult, _check_finite, _signed_targets
from ._curvature import (
    _bordered,
    _cholesky,
    _low_rank_solve,
    _solve_factored,
    newton_small_suits,
)


#: Hessians kept between Newton iterations (squared and smoothed hinge) only while all
#: outputs together hold at most this many entries (256 MiB of float64).
NEWTON_CACHE_ENTRIES = 2 ** 25
#: Newton's method stops an output once the decrease its next step predicts is at most
#: this times ``tol`` times the output's objective (a relative accuracy of 1e-7 at the
#: default tol=1e-4), after taking that step, or once its largest gradient entry of
#: ``J / (C sum(s))`` is at most this times ``tol``.
NEWTON_DECREMENT_FACTOR = 1e-3
#: For the log loss, whose Hessian must be formed afresh from every row, Newton's method
#: keeps an output's Hessian for its next step once the decrease predicted by the last
#: one was at most this fraction of its objective.
HESSIAN_REUSE_FACTOR = 1e-5
#: Newton's method trains the hinge through smoothed hinges of these widths, then of
#: widths ten times smaller each, until the certified gap is below ``tol``.
HINGE_FIRST_WIDTH = 1.0
HINGE_WIDTH_FACTOR = 0.1
#: A squared or smoothed hinge's Hessian changes only by the rows that cross the margin
#: (or the band). Where at most this fraction of the features' count of an output's rows
#: have crossed since its Hessian was last factorised, its Newton system is solved with
#: that factor, corrected for them by the Woodbury identity: solves for the r crossed
#: rows (``2 d^2 r``) and an r x r system, where factorising anew costs ``d^3 / 3``.
STALE_FACTOR_ROWS_PER_FEATURE = 0.0625
#: ... provided the result's residual is at most this relative to the gradient (a direct
#: solve's is about 1e-13); otherwise the Hessian is factorised anew.
STALE_FACTOR_TOLERANCE = 1e-9


def _derivatives(M, loss, width):
    """``(l(M), l'(M), l''(M))`` of the margin loss, or of the hinge smoothed over
    ``width``."""
    if loss == "hinge":
        return smoothed_hinge(M, width)
    return (*MARGIN_LOSSES[loss](M), MARGIN_CURVATURES[loss](M))


def _line_search(z, q, t, s, C, l2, w, p, rho, b, pb, loss, width):
    """Exact minimiser ``alpha >= 0`` of the objective along ``(w, b) + alpha (p, pb)``.

    ``z`` and ``q`` are the outputs of ``(w, b)`` and of ``(p, pb)``. The function of
    alpha is convex (piecewise quadratic for the squared and smoothed hinge); Newton's
    method on its derivative, safeguarded by bisection of the bracket it keeps, finds the
    minimum in a few O(n) steps.
    """
    wp, pp = l2 * float(w @ p) + rho * b * pb, l2 * float(p @ p) + rho * pb * pb
    tz, tq = t * z, t * q
    stq = s * tq
    lo, hi, alpha = 0.0, np.inf, 1.0
    slope0 = abs(wp + C * float(stq @ _derivatives(tz, loss, width)[1]))
    for _ in range(60):
        _, d1, d2 = _derivatives(tz + alpha * tq, loss, width)
        slope = wp + alpha * pp + C * float(stq @ d1)
        if abs(slope) <= 1e-12 * slope0:
            break
        if slope > 0:
            hi = alpha
        else:
            lo = alpha
        curvature = pp + C * float((stq * tq) @ d2)
        step = alpha - slope / curvature if curvature > 0 else np.inf
        if lo < step < hi:
            alpha = step
        elif np.isfinite(hi):
            alpha = 0.5 * (lo + hi)
        else:
            alpha = 2.0 * max(alpha, 1.0)
        if hi - lo <= 1e-15 * max(alpha, 1.0):
            break
    return alpha


def newton(X, y, s, *, backend, C, loss, head, n_outputs, fit_intercept, intercept_penalty,
           tol, max_iter, coef_init=None, intercept_init=None):
    """Newton's method on the linear model for the binary and one-vs-rest heads.

    The outputs are independent problems; the data passes serve all of them at once
    (``X P`` and ``X^T G`` are one matrix product each per iteration). Each output's
    Newton system uses the exact (generalised, for the squared hinge) Hessian
    ``l2 I + C X_A^T D X_A`` over the rows ``A`` where the loss is curved, solved by
    Cholesky, and the step length is the exact minimiser along the direction. For the
    squared hinge ``D`` is ``2 s`` on the rows inside the margin, so a Hessian changes
    only by the rows that enter or leave the margin and is updated by those rows alone,
    and its Cholesky factor is kept while few rows have crossed since, the solves with
    it corrected for them (:func:`_stale_factor_solve`).
    An output is done when the decrease its Newton step predicts (the Newton decrement)
    is at most ``NEWTON_DECREMENT_FACTOR * tol`` times its objective, after that step, or
    when its largest gradient entry of ``J / (C sum(s))`` is at most
    ``NEWTON_DECREMENT_FACTOR * tol``; near the optimum each step squares the error, so
    the stricter test costs about one iteration more than L-BFGS's ``tol`` on the
    gradient and ends far closer to the optimum.

    Where the Hessians cost little (``newton_small_suits``: at most ``SMALL_NEWTON_WORK``
    multiply-adds an iteration), the same iterations run as one compiled loop,
    ``backend.newton_small``, which forms each Hessian afresh: a fit of breast cancer or
    iris then takes a few hundred microseconds instead of milliseconds of Python calls.

    The hinge is not differentiable. It is trained through the smoothed hinge
    (``_losses.smoothed_hinge``) of widths 1, 0.1, 0.01, ..., each stage starting from the
    last one's solution, until the gap certified by the smoothing, ``J_hinge(w) -
    J_smooth(w) >= J_hinge(w) - min J_hinge``, is at most ``tol`` times ``J_hinge(w)``.
    """
    n_features = X.shape[1]
    K = n_outputs
    l2 = 0.0 if C is None else 1.0
    C = 1.0 if C is None else C
    rho = intercept_penalty if fit_intercept else 0.0
    T = _signed_targets(y, head, K)
    W = np.zeros((n_features, K))
    b = np.zeros(K)
    if coef_init is not None:
        W[:] = np.asarray(coef_init, dtype=np.float64).reshape(n_features, K)
        b[:] = np.asarray(intercept_init, dtype=np.float64) if fit_intercept else 0.0
    # One compiled loop (the same iterations) where the backend has it: an optional pass
    # of the solver table (the JAX backend runs the loop below, its passes on the device).
    if newton_small_suits(X, K) and hasattr(backend, "newton_small"):
        X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
        s = np.asarray(s, dtype=np.float64)
        Z, stage = X @ W + b, _small_stage
    else:
        Z, stage = backend.outputs(X, W) + b, _newton_stage
    problem = dict(backend=backend, X=X, T=T, s=s, C=C, l2=l2, rho=rho, loss=loss,
                   fit_intercept=fit_intercept, tol=tol)
    if loss != "hinge":
        n_iter, converged = stage(W, b, Z, max_iter=max_iter, width=None, **problem)
        return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                            solver="newton")
    n_iter, width = 0, HINGE_FIRST_WIDTH
    while True:
        used, converged = stage(W, b, Z, max_iter=max_iter - n_iter, width=width,
                                **problem)
        n_iter += used
        margins = T * Z
        penalty = 0.5 * (l2 * float(np.sum(W * W)) + rho * float(b @ b))
        hinge = penalty + C * float(s @ MARGIN_LOSSES["hinge"](margins)[0].sum(axis=1))
        smooth = penalty + C * float(s @ smoothed_hinge(margins, width)[0].sum(axis=1))
        if not converged or hinge - smooth <= tol * hinge:
            break
        width *= HINGE_WIDTH_FACTOR
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        solver="newton")


def _small_stage(W, b, Z, *, backend, X, T, s, C, l2, rho, loss, fit_intercept, tol,
                 max_iter, width):
    """:func:`_newton_stage` as one compiled loop over the outputs
    (``backend.newton_small``; dense float64 X). Returns ``(iterations, converged)``."""
    factor = NEWTON_DECREMENT_FACTOR * tol
    iterations, converged = backend.newton_small(
        X, T, s, W, b, Z, C=C, l2=l2, rho=rho, loss=loss, width=width,
        fit_intercept=fit_intercept, decrement_tol=factor, gradient_tol=factor,
        max_iter=max_iter)
    return int(iterations.max()), bool(converged.all())


def _newton_stage(W, b, Z, *, backend, X, T, s, C, l2, rho, loss, fit_intercept, tol,
                  max_iter, width):
    """Newton iterations in place on ``W``, ``b`` and the outputs ``Z = X W + b``.

    Returns ``(iterations, converged)``.
    """
    n_features, K = W.shape
    scale = 1.0 / (C * float(np.sum(s)))
    cache = K * (n_features + 1) ** 2 <= NEWTON_CACHE_ENTRIES
    hessians = [None] * K  # (D, H, v, total) of each output's last Hessian
    factors = [None] * K  # (L, the curvature D then) of each output's factor
    low_rank_rows = int(STALE_FACTOR_ROWS_PER_FEATURE * n_features)
    reusable = cache and loss != "log_loss"  # the curvature changes only by crossings
    done = np.zeros(K, dtype=bool)
    close = np.zeros(K, dtype=bool)  # the last step left a tiny decrease to make
    for n_iter in range(max_iter):
        values, d1, d2 = _derivatives(T * Z, loss, width)
        G = s[:, None] * T * d1
        gW = l2 * W + C * backend.transposed_product(X, G)
        gb = rho * b + C * G.sum(axis=0) if fit_intercept else np.zeros(K)
        largest = np.maximum(np.abs(gW).max(axis=0), np.abs(gb)) * scale
        done |= largest <= NEWTON_DECREMENT_FACTOR * tol
        todo = np.flatnonzero(~done)
        if len(todo) == 0:
            return n_iter, True
        objective = (0.5 * (l2 * np.sum(W * W, axis=0) + rho * b * b)
                     + C * (s @ values))
        P = np.zeros((n_features, len(todo)))
        pb = np.zeros(len(todo))
        last = None
        for j, k in enumerate(todo):
            D = C * s * d2[:, k]
            # last: [D, H, v, total, factor] of the last Hessian formed this iteration
            shared = last is not None and np.array_equal(last[0], D)
            formed = False  # whether this output formed its Hessian (and set last)
            L = None  # the factor of this output's Hessian, where one is at hand
            if shared:  # from W = 0 all outputs share their curvature
                H, v, total, L = last[1:]
            elif cache and close[k] and loss == "log_loss":
                # Near the optimum the log loss's curvature hardly moves in a step:
                # keep the Hessian (the exact line search keeps every step a descent),
                # and its factor.
                H, v, total = hessians[k][1:]
                L = None if factors[k] is None else factors[k][0]
            else:
                if reusable:
                    H, v, total = _updated_hessian(backend, X, D, hessians[k])
                else:
                    rows = np.flatnonzero(D)
                    H, v, total = backend.weighted_gram(X, rows, D[rows])
                last, formed = [D, H, v, total, None], True
            if cache:
                hessians[k] = (D, H, v, total)
            H = H.copy()
            H[np.diag_indices_from(H)] += l2
            if fit_intercept:
                H = _bordered(H, v, rho + total)
                g = np.append(gW[:, k], gb[k])
            else:
                g = gW[:, k]
            step = None
            if formed and reusable and factors[k] is not None:
                step = _stale_factor_solve(X, H, g, D, *factors[k], low_rank_rows,
                                           fit_intercept)
            if step is None:
                if L is None:
                    L = _cholesky(H)
                    if formed or shared:  # last's Hessian: the next alike shares it
                        last[4] = L
                if cache:
                    factors[k] = (L, D)
                step = _solve_factored(L, g)
            step = -step
            if fit_intercept:
                P[:, j], pb[j] = step[:-1], step[-1]
            else:
                P[:, j] = step
            # The Newton decrement g^T H^-1 g / 2 predicts J - min J; once it is a
            # small fraction of J, the step about to be taken finishes this output.
            decrement = -0.5 * (gW[:, k] @ P[:, j] + gb[k] * pb[j])
            done[k] = decrement <= NEWTON_DECREMENT_FACTOR * tol * objective[k]
            close[k] = decrement <= HESSIAN_REUSE_FACTOR * objective[k]
        Q = backend.outputs(X, P) + pb
        for j, k in enumerate(todo):
            alpha = _line_search(Z[:, k], Q[:, j], T[:, k], s, C, l2, W[:, k], P[:, j],
                                 rho, b[k], pb[j], loss, width)
            _check_finite(alpha, "newton")
            W[:, k] += alpha * P[:, j]
            b[k] += alpha * pb[j]
            Z[:, k] += alpha * Q[:, j]
    return max_iter, False


def _stale_factor_solve(X, M, g, D, L, factored_D, max_rows, fit_intercept):
    """``M^{-1} g`` from ``L``, the factor of the Hessian where the curvature was
    ``factored_D``, corrected for the rows that have crossed since
    (:func:`~._curvature._low_rank_solve`); None where more than ``max_rows`` have, or
    the correction is inaccurate."""
    inside, before = D > 0, factored_D > 0
    crossed = np.flatnonzero(inside != before)
    if len(crossed) == 0:
        return _solve_factored(L, g)
    if len(crossed) > max_rows:
        return None
    rows = X[crossed]
    U = (rows.toarray() if sp.issparse(rows) else np.asarray(rows)).astype(np.float64).T
    if fit_intercept:
        U = np.vstack([U, np.ones(len(crossed))])
    weights = np.where(inside[crossed], D[crossed], -factored_D[crossed])
    return _low_rank_solve(M, g, L, U, weights, STALE_FACTOR_TOLERANCE)


def _updated_hessian(backend, X, D, previous):
    """The Hessian pieces for curvature ``D``, updated from ``previous`` by the rows that
    changed.

    For the squared hinge ``D`` is ``2 C s`` inside the margin and 0 outside (``C s /
    width`` in the band of the smoothed hinge), so the Hessian depends only on which rows
    are inside: add the rows that entered and subtract those that left, or start afresh
    when more rows changed than stayed. ``previous`` is ``(D, H, v, total)`` of the last
    Hessian, or None.
    """
    mask = D > 0
    if previous is not None:
        old_D, H, v, total = previous
        old_mask = old_D > 0
        entered = np.flatnonzero(mask & ~old_mask)
        left = np.flatnonzero(old_mask & ~mask)
        if len(entered) + len(left) < np.count_nonzero(mask):
            H, v = H.copy(), v.copy()
            for rows, weights, sign in ((entered, D, 1.0), (left, old_D, -1.0)):
                if len(rows):
                    dH, dv, dtotal = backend.weighted_gram(X, rows, weights[rows])
                    H += sign * dH
                    v += sign * dv
                    total += sign * dtotal
            return H, v, total
    rows = np.flatnonzero(mask)
    return backend.weighted_gram(X, rows, D[rows])
