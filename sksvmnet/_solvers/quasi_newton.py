"""L-BFGS on the linear model, all outputs jointly, every head; preconditioned by the
curvature at ``W = 0`` where X has Newton's shape."""

import numpy as np
import scipy.linalg
import scipy.optimize

from ._common import (
    LBFGS_DECREMENT_FACTOR,
    LBFGS_MARGIN_DECREMENT_FACTOR,
    SolverResult,
    _check_finite,
    linear_start,
    one_blas_thread_on_sparse,
)
from ._curvature import _preconditioner, newton_suits


class _Converged(Exception):
    """Raised inside the objective once the stopping rule holds at ``theta``."""

    def __init__(self, theta, value):
        super().__init__()
        self.theta, self.value = theta, value


@one_blas_thread_on_sparse
def lbfgs(X, y, s, *, backend, C, loss, head, n_outputs, fit_intercept, intercept_penalty,
          tol, max_iter, coef_init=None, intercept_init=None):
    """Full-batch L-BFGS on the linear model, all outputs jointly, every head.

    The objective is divided by ``C * sum(s)`` (the mean weighted loss plus a scaled
    penalty, as scikit-learn's LogisticRegression does), and the fit stops once the
    largest entry of that function's gradient is at most ``tol``, as LogisticRegression's
    does, or once the objective stalls.

    Where X has Newton's shape (:func:`newton_suits`), dense or sparse, L-BFGS runs in
    coordinates ``V = L^T [W; b]`` where ``L L^T`` is the objective's Hessian at ``W = 0``
    (:func:`_preconditioner`; approximately, for the Weston-Watkins and Crammer-Singer
    heads): its first step is Newton's, and correlated or unevenly scaled features cost
    it nothing. There the gradient test alone can stop it early on a flat problem, whose
    gradient shrinks along the steep directions long before the flat ones are done, so it
    also waits until ``|L^-1 g|^2 / 2``, the decrease a Newton step with that Hessian
    predicts, is at most ``LBFGS_DECREMENT_FACTOR * tol`` times the objective
    (``LBFGS_MARGIN_DECREMENT_FACTOR * tol`` for the binary and one-vs-rest heads). (Where
    the curvature has fallen since ``W = 0``, as for confidently classified rows of the
    log loss, the prediction is optimistic: on Fashion-MNIST it stops 3e-4 above the
    optimum, where LogisticRegression's gradient test alone stops 1.7e-3 above it.)

    Where X is not of that shape (too many features, or no more rows than features) it
    is plain L-BFGS-B. There ``solver="auto"`` trains the binary, one-vs-rest and
    multinomial heads by subspace descent instead (``subspace_descent.subspace``; the
    rule is ``table.choose``), which needs fewer passes over X. The shape decides, never
    whether X is sparse: the same data as a dense array and as a sparse matrix run the
    same algorithm and give the same model. On sparse X, BLAS is held to one thread
    (:func:`~._common.one_blas_thread_on_sparse`).
    """
    n_features = X.shape[1]
    size = n_features * n_outputs
    if coef_init is None and head == "crammer_singer":
        # The Crammer-Singer objective has a kink wherever rivals tie, and W = 0 ties
        # them all: L-BFGS would stop there. Start from the one-vs-rest solution instead,
        # trained as the table's quasi-Newton choice for X's shape trains it (subspace
        # descent where X lacks Newton's shape). (Imported here: the table names this
        # module's solver.)
        from .table import SOLVERS, lbfgs_or_subspace
        penalty = "none" if C is None else "l2"
        ovr = lbfgs_or_subspace(X, loss=loss, head="ovr", penalty=penalty)
        start = SOLVERS[ovr].function(
            X, y, s, backend=backend, C=C, loss=loss, head="ovr", n_outputs=n_outputs,
            fit_intercept=fit_intercept, intercept_penalty=intercept_penalty, tol=tol,
            max_iter=max_iter)
        coef_init, intercept_init = start.coefs[0], start.intercepts[0]
    l2, C, scale, rho, theta0 = linear_start(
        X, s, C=C, n_outputs=n_outputs, fit_intercept=fit_intercept,
        intercept_penalty=intercept_penalty, coef_init=coef_init,
        intercept_init=intercept_init)
    preconditioned = newton_suits(X)
    L = None
    if preconditioned:
        L = _preconditioner(X, s, backend, C * scale, l2 * scale, rho * scale, loss,
                            head, n_outputs, fit_intercept)
    factor = (LBFGS_MARGIN_DECREMENT_FACTOR if head in ("binary", "ovr")
              else LBFGS_DECREMENT_FACTOR)
    decrement_tol = None if L is None else factor * tol
    # The flat vector is [W.ravel(), b]: its first `rows` rows of n_outputs are [W; b]
    # with an intercept, W without one (b, then fixed at zero, passes through).
    rows = n_features + 1 if fit_intercept else n_features

    def on_block(vector, solve, **options):
        """``vector`` with its ``[W; b]`` block ``M`` replaced by ``solve(L, M)``."""
        if L is None:
            return vector
        block = vector[:rows * n_outputs].reshape(rows, n_outputs)
        return np.concatenate([solve(L, block, **options).ravel(),
                               vector[rows * n_outputs:]])

    def to_theta(v):  # theta = L^-T V
        return on_block(v, scipy.linalg.solve_triangular, lower=True, trans="T",
                        check_finite=False)

    def to_v(theta):  # V = L^T theta
        return on_block(theta, lambda L, block: L.T @ block)

    def fun(v):
        theta = to_theta(v)
        W = theta[:size].reshape(n_features, n_outputs)
        value, gW, gb = backend.linear_value_grad(
            W, theta[size:], X, y, s, C=C, loss=loss, head=head,
            intercept_penalty=intercept_penalty, fit_intercept=fit_intercept, l2=l2)
        _check_finite(value, "lbfgs")
        value, gradient = value * scale, np.concatenate([gW.ravel(), gb]) * scale
        step = on_block(gradient, scipy.linalg.solve_triangular, lower=True,
                        check_finite=False)  # L^-1 g (the value was checked finite)
        evaluations[0] += 1
        if np.abs(gradient).max() <= tol and (
                decrement_tol is None or 0.5 * float(step @ step) <= decrement_tol * value):
            raise _Converged(theta, value)
        return value, step

    iterations, evaluations = [0], [0]

    def count(_):
        iterations[0] += 1

    try:
        result = scipy.optimize.minimize(
            fun, to_v(theta0), method="L-BFGS-B", jac=True, callback=count,
            options={"maxiter": max_iter, "maxls": 50, "gtol": 0.0,
                     "ftol": 64 * np.finfo(float).eps})
    except _Converged as stop:
        # The stop comes inside an iteration's line search (or at the start, iteration 0),
        # before scipy's callback has counted that iteration.
        theta, value, converged = stop.theta, stop.value, True
        iterations[0] += evaluations[0] > 1
    else:
        # A stall of the objective (ftol) ends LogisticRegression's fit as converged too.
        theta, value, converged = to_theta(result.x), float(result.fun), result.status == 0
    W = theta[:size].reshape(n_features, n_outputs)
    b = theta[size:] if fit_intercept else np.zeros(n_outputs)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=iterations[0],
                        converged=converged, loss_curve=[float(value)], solver="lbfgs")
