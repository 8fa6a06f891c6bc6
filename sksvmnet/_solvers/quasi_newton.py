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
from .newton_method import HINGE_FIRST_WIDTH, HINGE_WIDTH_FACTOR


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

    The hinge and the Crammer-Singer head are not differentiable (the hinge's kink, the
    max over the rivals, which W = 0 ties): L-BFGS trains them through smoothed
    objectives of shrinking widths until a duality gap certifies the fit
    (:func:`_smoothed_stages`). This is how backends without dual coordinate descent
    (JAX) train those models.
    """
    n_features = X.shape[1]
    size = n_features * n_outputs
    l2, C, scale, _, theta0 = linear_start(
        X, s, C=C, n_outputs=n_outputs, fit_intercept=fit_intercept,
        intercept_penalty=intercept_penalty, coef_init=coef_init,
        intercept_init=intercept_init, y=y, loss=loss, head=head)
    problem = dict(backend=backend, X=X, y=y, s=s, C=C, l2=l2, scale=scale, loss=loss,
                   head=head, n_outputs=n_outputs, fit_intercept=fit_intercept,
                   intercept_penalty=intercept_penalty, tol=tol)
    if loss == "hinge" or head == "crammer_singer":
        theta, value, converged, n_iter = _smoothed_stages(theta0, max_iter, problem)
    else:
        theta, value, converged, n_iter = _run_lbfgs(theta0, max_iter=max_iter,
                                                     width=None, **problem)
    W = theta[:size].reshape(n_features, n_outputs)
    b = theta[size:] if fit_intercept else np.zeros(n_outputs)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter,
                        converged=converged, loss_curve=[float(value)], solver="lbfgs")


#: The narrowest smoothing L-BFGS tries; a gap still above ``tol`` there ends the fit
#: unconverged (a ConvergenceWarning) rather than divide by a vanishing width.
MIN_SMOOTHING_WIDTH = 1e-10


def _smoothed_stages(theta, max_iter, problem):
    """The hinge, or the Crammer-Singer head, by L-BFGS on smoothed objectives (the
    backend's ``width``: the hinge's kink rounded, the largest rival a soft maximum) of
    widths ``HINGE_FIRST_WIDTH`` and then ``HINGE_WIDTH_FACTOR`` times smaller each, each
    run starting from the last one's solution, until the duality gap of
    :func:`_duality_gap` is at most ``tol`` times the objective. Returns what
    :func:`_run_lbfgs` does, with the unsmoothed objective's value (scaled as there) and
    whether the gap was certified."""
    n_iter, width = 0, HINGE_FIRST_WIDTH
    while True:
        theta, _, converged, used = _run_lbfgs(theta, max_iter=max_iter - n_iter,
                                               width=width, **problem)
        n_iter += used
        value, gap = _duality_gap(theta, width, problem)
        certified = gap <= problem["tol"] * value
        if certified or not converged or n_iter >= max_iter or width <= MIN_SMOOTHING_WIDTH:
            return theta, value * problem["scale"], certified, n_iter
        # (Jumping straight to the width the gap asks for, in proportion, was tried: a
        # far narrower band from a wide one's solution costs L-BFGS more iterations.)
        width *= HINGE_WIDTH_FACTOR


def _duality_gap(theta, width, problem):
    """``(P, P - D)``: the SVM objective at ``theta`` and a duality gap, which bounds
    ``P - min P`` at any point, optimal or not.

    Every SVM head's objective is ``1/2 |W|^2 + rho/2 |b|^2 + C sum_i s_i L_i`` with
    ``L_i`` the (squared) hinge of margins linear in ``(W, b)``: one per output
    (binary, one-vs-rest), per rival (Weston-Watkins), or of the worst rival
    (Crammer-Singer, whose dual lets the rivals share one budget per row). The smoothed
    objective's slopes give dual variables ``alpha >= 0`` within those budgets, and its
    gradient ``g`` their weights: ``(W - g_W, b - g_b / rho)``. Then ``D = sum alpha -
    q(alpha) - 1/2 |W - g_W|^2 - |rho b - g_b|^2 / (2 rho)``, with ``q`` the squared
    hinge's ``sum (budget used)^2 / (4 C s)`` (0 for the hinge), is at most ``min P``.
    Unlike ``P - J_smooth`` it counts only the rows inside the smoothing band, so a
    moderate width certifies a tight gap. It assumes the SVM's penalty, ``l2 = 1`` and
    ``rho > 0`` with an intercept; anything else gets no certificate (an infinite gap:
    the fit ends with a ConvergenceWarning).
    """
    backend, X, y, s, C = (problem[key] for key in ("backend", "X", "y", "s", "C"))
    loss, head, fit_intercept = problem["loss"], problem["head"], problem["fit_intercept"]
    n_features, K = X.shape[1], problem["n_outputs"]
    W, b = theta[:n_features * K].reshape(n_features, K), theta[n_features * K:]
    model = dict(C=C, loss=loss, head=head, l2=problem["l2"],
                 intercept_penalty=problem["intercept_penalty"],
                 fit_intercept=fit_intercept)
    value = backend.linear_value_grad(W, b, X, y, s, **model)[0]
    _, gW, gb = backend.linear_value_grad(W, b, X, y, s, width=width, **model)
    rho = problem["intercept_penalty"] if fit_intercept else 0.0
    if problem["l2"] != 1.0 or (fit_intercept and rho <= 0.0):
        return value, np.inf
    F = backend.outputs(X, W) + (b if fit_intercept else 0.0)
    _, G = backend.head_loss(F, y, s, loss, head, width)
    # Each budget's alpha is C |G| (G is s times the loss's slope on the outputs): every
    # entry for the binary and one-vs-rest heads, every rival's for Weston-Watkins; for
    # Crammer-Singer the true class's entry, minus the sum over the rivals, which share
    # one budget per row.
    if head == "crammer_singer":
        budgets = np.abs(G[np.arange(len(y)), y])[:, None]
    elif head == "weston_watkins":
        budgets = np.where(np.arange(K)[None, :] == np.asarray(y)[:, None], 0.0, np.abs(G))
    else:
        budgets = np.abs(G)
    weights = np.asarray(s, np.float64)[:, None]
    mass = C * float(budgets.sum())
    dual = mass - 0.5 * float(np.sum((W - gW) ** 2))
    if loss == "squared_hinge":
        used = weights > 0
        dual -= C * float(np.sum(np.where(used, budgets ** 2, 0.0)
                                 / (4.0 * np.where(used, weights, 1.0))))
    if fit_intercept:
        dual -= 0.5 * float(np.sum((rho * b - gb) ** 2)) / rho
    return value, value - dual


def _run_lbfgs(theta0, *, backend, X, y, s, C, l2, scale, loss, head, n_outputs,
               fit_intercept, intercept_penalty, tol, max_iter, width):
    """L-BFGS from ``theta0`` (the hinge smoothed over ``width`` where one is given):
    ``(theta, value, converged, iterations)``, the value scaled by ``scale``."""
    n_features = X.shape[1]
    size = n_features * n_outputs
    rho = intercept_penalty if fit_intercept else 0.0
    # (The smoothed hinge has no curvature at W = 0 outside its band: no preconditioner.)
    preconditioned = newton_suits(X) and loss != "hinge"
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
        return on_block(v, _triangular_solve, transposed=True)

    def to_v(theta):  # V = L^T theta
        return on_block(theta, lambda L, block: L.T @ block)

    def fun(v):
        theta = to_theta(v)
        W = theta[:size].reshape(n_features, n_outputs)
        smoothing = {} if width is None else {"width": width}
        value, gW, gb = backend.linear_value_grad(
            W, theta[size:], X, y, s, C=C, loss=loss, head=head,
            intercept_penalty=intercept_penalty, fit_intercept=fit_intercept, l2=l2,
            **smoothing)
        _check_finite(value, "lbfgs")
        value, gradient = value * scale, np.concatenate([gW.ravel(), gb]) * scale
        step = on_block(gradient, _triangular_solve)  # L^-1 g (its value checked finite)
        evaluations[0] += 1
        if np.abs(gradient).max() <= tol and (
                decrement_tol is None or 0.5 * float(step @ step) <= decrement_tol * value
        ) and (width is None or abs(float(theta @ gradient)) <= 0.1 * tol * value):
            # (A smoothed stage also waits for theta . g, by which an inexact solution
            # lowers the dual bound of _duality_gap, to be a tenth of its target.)
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
    return theta, value, converged, iterations[0]


_trtrs = scipy.linalg.get_lapack_funcs("trtrs", (np.empty(1),))  # float64's


def _triangular_solve(L, B, transposed=False):
    """``L^-1 B`` (``L^-T B`` if ``transposed``) for a lower triangular, non-singular L,
    by LAPACK's ``trtrs`` directly: ``scipy.linalg.solve_triangular``'s checks of its
    arguments cost more than the solve on a small problem, twice per evaluation."""
    solution, info = _trtrs(L, B, lower=1, trans=int(transposed))
    if info != 0:
        raise np.linalg.LinAlgError(f"trtrs failed: info={info}")
    return solution

