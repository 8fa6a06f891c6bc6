"""Solvers: the algorithms that minimise the primal objective of DESIGN.md.

A solver receives validated arrays and a backend module, asks the backend for numbers and
returns plain numpy results. It never inspects which backend it has.

Every solver returns a :class:`SolverResult`.
"""

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.special
import scipy.sparse as sp

from ._losses import MARGIN_CURVATURES, MARGIN_LOSSES, forward, smoothed_hinge
from ._threads import one_blas_thread
from .backends import auto_backend, get_backend


@dataclass
class SolverResult:
    """What a solver hands back to an estimator."""

    coefs: list
    intercepts: list
    n_iter: int
    converged: bool
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    best_loss: float = np.inf
    state: dict = None
    #: The algorithm that ran (a key of :data:`SOLVER_PASSES`).
    solver: str = None


#: What the passes over the data of each algorithm ask the backend for. Where a backend
#: runs those functions is where a fit's arithmetic ran (:func:`device_of`).
SOLVER_PASSES = {
    "newton": ("outputs", "transposed_product", "weighted_gram"),
    "lbfgs": ("linear_value_grad",),
    "subspace": ("outputs", "transposed_product", "head_along"),
    "dcd": ("dcd",),
    "cd": ("cd_l1",),
    "adam": ("epoch",),
    "sgd": ("epoch",),
}


def device_of(solver, backend):
    """Where ``solver``'s passes over the data run with ``backend``: its device, or
    ``"host"`` where the backend hands any of them to host kernels."""
    if set(SOLVER_PASSES[solver]) & set(backend.HOST_FUNCTIONS):
        return "host"
    return backend.device()


def _check_finite(value, solver):
    if not np.isfinite(value):
        raise FloatingPointError(
            f"The {solver!r} solver produced a non-finite objective ({value}); the fit "
            "diverged. Use a smaller learning_rate_init, scale the features (e.g. with "
            "StandardScaler), or a smaller C."
        )


#: Where :func:`newton_suits` holds (more rows than features, at most
#: ``NEWTON_MAX_FEATURES`` of them; dense or sparse), L-BFGS works in
#: coordinates whitened by the objective's curvature at ``W = 0``
#: (:func:`_preconditioner`), estimated from at most this many evenly spaced rows (ten
#: a feature at ``NEWTON_MAX_FEATURES``).
PRECONDITION_ROWS = 10_000
#: Preconditioned L-BFGS also waits until the decrease a Newton step with that curvature
#: predicts is at most this times ``tol`` times the objective (1e-6 at the default
#: tol=1e-4). L-BFGS converges linearly, so each further digit costs as many iterations
#: as the last; Newton's method, which converges quadratically, asks for one more.
LBFGS_DECREMENT_FACTOR = 1e-2


class _Converged(Exception):
    """Raised inside the objective once the stopping rule holds at ``theta``."""

    def __init__(self, theta, value):
        super().__init__()
        self.theta, self.value = theta, value


def lbfgs(X, y, s, **kwargs):
    """Full-batch L-BFGS on the linear model, all outputs jointly (:func:`_lbfgs`).

    On sparse X its own BLAS work is on vectors and a few small matrices while the
    backend's passes over X run on several threads; BLAS is held to one thread then,
    lest its idle threads spin on the cores the backend needs (``sksvmnet._threads``).
    """
    if not sp.issparse(X):
        return _lbfgs(X, y, s, **kwargs)
    with one_blas_thread():
        return _lbfgs(X, y, s, **kwargs)


def _lbfgs(X, y, s, *, backend, C, loss, head, n_outputs, fit_intercept, intercept_penalty,
           tol, max_iter, coef_init=None, intercept_init=None):
    """Full-batch L-BFGS on the linear model, all outputs jointly.

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
    predicts, is at most ``LBFGS_DECREMENT_FACTOR * tol`` times the objective. (Where
    the curvature has fallen since ``W = 0``, as for confidently classified rows of the
    log loss, the prediction is optimistic: on Fashion-MNIST it stops 3e-4 above the
    optimum, where LogisticRegression's gradient test alone stops 1.7e-3 above it.)

    Where X is not of that shape (too many features, or no more rows than features) the
    binary, one-vs-rest and multinomial heads are trained by :func:`_subspace_descent`
    instead, which needs fewer passes over X; the other heads by plain L-BFGS-B. The
    choice looks at the shape alone, never at whether X is sparse: the same data as a
    dense array and as a sparse matrix run the same algorithm and give the same model.
    """
    n_features = X.shape[1]
    # C=None is the unpenalised model (LogisticRegression's C=np.inf).
    l2 = 0.0 if C is None else 1.0
    C = 1.0 if C is None else C
    scale = 1.0 / (C * float(np.sum(s)))
    size = n_features * n_outputs
    theta0 = np.zeros(size + n_outputs)
    if coef_init is None and head == "crammer_singer":
        # The Crammer-Singer objective has a kink wherever rivals tie, and W = 0 ties
        # them all: L-BFGS would stop there. Start from the one-vs-rest solution instead.
        start = _lbfgs(X, y, s, backend=backend, C=None if l2 == 0.0 else C, loss=loss,
                      head="ovr", n_outputs=n_outputs, fit_intercept=fit_intercept,
                      intercept_penalty=intercept_penalty, tol=tol, max_iter=max_iter)
        coef_init, intercept_init = start.coefs[0], start.intercepts[0]
    if coef_init is not None:
        theta0[:size] = np.asarray(coef_init, dtype=np.float64).ravel()
        theta0[size:] = np.asarray(intercept_init, dtype=np.float64)
    rho = intercept_penalty if fit_intercept else 0.0
    preconditioned = newton_suits(X)
    if not preconditioned and head in SUBSPACE_HEADS:
        return _subspace_descent(X, y, s, backend=backend, C=C, l2=l2, rho=rho,
                                 scale=scale, loss=loss, head=head, n_outputs=n_outputs,
                                 fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                                 theta=theta0)
    L = None
    if preconditioned:
        L = _preconditioner(X, s, backend, C * scale, l2 * scale, rho * scale, loss,
                            head, n_outputs, fit_intercept)
    decrement_tol = None if L is None else LBFGS_DECREMENT_FACTOR * tol
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
        return on_block(v, scipy.linalg.solve_triangular, lower=True, trans="T")

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
        step = on_block(gradient, scipy.linalg.solve_triangular, lower=True)  # L^-1 g
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


#: Subspace descent keeps this many of its last steps as directions.
SUBSPACE_MEMORY = 8
#: Its Newton iterations within a subspace stop once their predicted decrease is at most
#: this times ``LBFGS_DECREMENT_FACTOR * tol`` times the objective.
SUBSPACE_NEWTON_FACTOR = 1e-3
#: ... or after this many steps.
SUBSPACE_NEWTON_STEPS = 30
#: The decay rate of the objective's decreases is measured over this many iterations.
SUBSPACE_RATE_WINDOW = 3
#: The heads whose curvature along the outputs ``backend.head_along`` knows.
SUBSPACE_HEADS = ("binary", "ovr", "multinomial")


def _subspace_descent(X, y, s, *, backend, C, l2, rho, scale, loss, head, n_outputs,
                      fit_intercept, tol, max_iter, theta):
    """Sequential subspace optimisation (SESOP) of the linear model on sparse X.

    On sparse X the two products of an objective pass, ``X P`` and ``X^T G``, are nearly
    all of the work, and they cannot share a pass over X. Every iteration here makes
    exactly one of each: the outputs ``X d`` of a new direction ``d``, and the gradient
    at the point it moves to. Between them it minimises the objective over the span of
    ``d`` and its last ``SUBSPACE_MEMORY`` steps by Newton's method in those few
    coordinates (:func:`_minimise_in_subspace`): the outputs of every direction are kept,
    so that costs O(n K r^2), one pass over them per Newton step (``backend.head_along``)
    and no pass over X (Narkiss and Zibulevsky, "Sequential
    subspace optimization method for large-scale unconstrained problems", 2005); on a
    quadratic that is conjugate gradients. The new direction is the negative gradient;
    the first is a Newton step with the diagonal of the Hessian at ``W = 0``
    (:func:`_hessian_diagonal`), which scales the frequent words' weights of text against
    the rare ones' (a gradient step from zero barely lowers the objective there).
    (Directions from L-BFGS's two-loop recursion instead of the gradient took as many
    iterations on text and more on badly scaled data, and twice the memory.)

    Same objective, scaling and gradient test as :func:`lbfgs`. The second test asks the
    objective still to be gained, estimated from the geometric decay of its decreases
    over the last ``SUBSPACE_RATE_WINDOW`` iterations (:func:`_remaining`), to be at most
    ``LBFGS_DECREMENT_FACTOR * tol`` times the objective. On the sparse benchmark it
    stops after 7 iterations, 6e-7 above the optimum, where lbfgs stops after 13 and
    5e-4 above it. The squared hinge's decreases are too irregular for that estimate
    (its curvature jumps as margins cross 1: it stopped fits on text 1e-4 above the
    optimum); its fit stops instead once the duality gap, which bounds how far the
    objective is above its minimum and costs one pass over the gradient, is at most
    ``DUAL_GAP_FACTOR * tol`` times the objective, as dual coordinate descent's does.
    """
    n, d = X.shape
    K = n_outputs
    size = d * K
    width = size + K
    M = SUBSPACE_MEMORY
    theta = theta.copy()

    def penalised(U, V):  # sum over entries of the penalty's weight times U V, row by row
        return scale * (l2 * (U @ V.T) + (rho - l2) * (U[..., size:] @ V[..., size:].T))

    # The squared hinge's fit ends on a certificate: the duality gap of _duality_gap.
    certify = (loss == "squared_hinge" and head in ("binary", "ovr") and l2 > 0
               and (rho > 0 or not fit_intercept))
    T = _signed_targets(y, head, K) if certify else None

    def negative_gradient(G, out):  # -g at theta into out (G: the head's gradient there)
        backend.transposed_product(X, G, out=out[:size].reshape(d, K))
        squared = float(np.dot(out[:size], out[:size])) if certify else None  # |X^T G|^2
        out[:size] *= -C * scale
        # (in place: daxpy updates its y where y is a contiguous float64 array)
        scipy.linalg.blas.daxpy(theta[:size], out[:size], a=-l2 * scale)
        if fit_intercept:
            out[size:] = -scale * (C * G.sum(axis=0) + rho * theta[size:])
        else:
            out[size:] = 0.0
        return max(out.max(), -out.min()), squared  # max |g|

    diagonal = scale * _hessian_diagonal(X, s, backend, C, l2, rho, loss, head, n_outputs,
                                         fit_intercept)
    Z = np.zeros((n, K))
    if np.any(theta[:size]):
        Z += backend.outputs(X, theta[:size].reshape(d, K))
    if fit_intercept:
        Z += theta[size:]
    data, G = backend.head_loss(Z, y, s, loss, head)
    G = np.array(G, dtype=np.float64)  # (head_along writes into it; a backend's may not be)
    constant = 0.5 * float(penalised(theta, theta))
    value = scale * C * data + constant
    _check_finite(value, "lbfgs")
    # Row 0 of `directions`: the new direction; rows 1..len(ring): the last steps, oldest
    # first in `ring` (the order of the rows does not matter to the subspace, so they are
    # one slice). Their penalised inner products are kept by algebra rather than passes
    # over the rows: `gram` among the rows, `linear` with theta, `constant` half theta's
    # with itself. A step is a combination of the rows, so its products with them are
    # too, and the new direction's follow from the outputs (:func:`_direction_products`).
    directions, outputs = np.zeros((M + 1, width)), np.zeros((M + 1, n, K))
    spare, spare_outputs, spare_G = np.empty(width), np.empty((n, K)), np.empty((n, K))
    gram, linear = np.zeros((M + 1, M + 1)), np.zeros(M + 1)
    ring, decreases, n_iter, converged = [], [], 0, False
    problem = dict(y=y, s=s, loss=loss, head=head, C=C * scale)
    while n_iter < max_iter:
        r = 1 + len(ring)
        P, U = directions[:r], outputs[:r]
        largest, squared = negative_gradient(G, P[0])  # (tests are on theta, not the step)
        if certify and _duality_gap((value - constant) / (C * scale), G, T, squared,
                                    constant / scale, C, l2, rho) <= (
                DUAL_GAP_FACTOR * tol * value / scale):
            converged = True
            break
        if not ring:
            P[0] /= diagonal
        backend.outputs(X, P[0, :size].reshape(d, K), out=U[0])
        if fit_intercept:
            U[0] += P[0, size:]
        # The data term's derivatives along the rows at theta, unscaled.
        _, slope, curvature = backend.head_along(Z, U, None, y, s, loss, head, G)
        if ring:  # the products with the steps, then with theta
            products = _direction_products(
                G, P[0, size:], np.append(slope[1:], np.vdot(G, Z)),
                np.vstack([P[1:, size:], theta[size:]]),
                np.append(linear[1:r], 2 * constant), theta[size:], C=C * scale,
                scale=scale, l2=l2, rho=rho)
            gram[0, 1:r] = gram[1:r, 0] = products[:-1]
            linear[0] = products[-1]
        else:
            linear[0] = float(penalised(P[0], theta))
        gram[0, 0] = float(penalised(P[0], P[0]))
        alpha, new_value, G, spare_G = _minimise_in_subspace(
            Z, U, G, spare_G, value, constant, linear[:r], gram[:r, :r], backend,
            slope=slope, curvature=curvature,
            tol=SUBSPACE_NEWTON_FACTOR * LBFGS_DECREMENT_FACTOR * tol * abs(value),
            **problem)
        _check_finite(new_value, "lbfgs")
        n_iter += 1
        # The step goes in the next free row, or in place of the oldest step (by way of
        # the spare rows: it is a combination of the rows, the oldest among them).
        row = r if r <= M else ring[0]
        step, step_outputs = (
            (directions[r], outputs[r]) if row == r else (spare, spare_outputs))
        np.dot(alpha, P, out=step)
        np.dot(alpha, U.reshape(r, -1), out=step_outputs.reshape(-1))
        theta += step
        Z += step_outputs
        if row != r:
            directions[row], outputs[row] = step, step_outputs
        # The step's products: with the rows, with theta before it, with itself.
        with_step = gram[:r, :r] @ alpha
        with_theta, squared_step = float(alpha @ linear[:r]), float(alpha @ with_step)
        constant += with_theta + 0.5 * squared_step
        linear[:r] += with_step
        linear[row] = with_theta + squared_step  # (with theta after it)
        gram[row, :r] = gram[:r, row] = with_step
        gram[row, row] = squared_step
        ring = [j for j in ring if j != row] + [row]
        decreases.append(value - new_value)
        stalled = decreases[-1] <= 64 * np.finfo(float).eps * max(abs(value), 1.0)
        value = new_value
        if stalled or (not certify and largest <= tol and _remaining(decreases) <= (
                LBFGS_DECREMENT_FACTOR * tol * value)):
            # A stall of the objective ends LogisticRegression's fit as converged too.
            # (The gradient test is on the iteration's starting point: its step is a
            # bonus, and computing the gradient after it would cost a pass over X.)
            converged = True
            break
    W = theta[:size].reshape(d, K)
    b = theta[size:] if fit_intercept else np.zeros(K)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        loss_curve=[float(value)], solver="subspace")


def _duality_gap(data, G, T, squared, penalty, C, l2, rho):
    """``P - D``, primal minus dual objective, of the squared-hinge SVM at the head's
    gradient ``G``, unscaled: an upper bound on ``P - min P``.

    ``P = C data + penalty`` (``data = sum s l(T F)``, ``penalty = l2 |W|^2 / 2 +
    rho |b|^2 / 2``); the dual variables are the optimum's function of the margins,
    ``a = -C G T = 2 C s max(0, 1 - T F)``, whose weights are ``-C X^T G / l2``
    (``|X^T G|^2 = squared``) and intercept ``-C sum(G) / rho``. Then ``sum a^2 / (4 C s)
    = C data`` and ``D = -C sum(G T) - C data - C^2 squared / (2 l2) - C^2 |sum(G)|^2 /
    (2 rho)`` (the last term without an intercept, rho = 0).
    """
    intercept = C * C * float(np.sum(G.sum(axis=0) ** 2)) / (2 * rho) if rho > 0 else 0.0
    dual = -C * float(np.sum(G * T)) - C * data - C * C * squared / (2 * l2) - intercept
    return C * data + penalty - dual


def _remaining(decreases):
    """The objective still to gain if its decreases keep falling geometrically, at the
    slowest rate seen between consecutive ones over the last ``SUBSPACE_RATE_WINDOW``
    iterations; infinite if they do not fall. (The slowest, not the mean: on the
    squared hinge one small step among larger ones made a mean rate stop fits 5e-4 above
    the optimum.)"""
    window = np.asarray(decreases[-SUBSPACE_RATE_WINDOW - 1:])
    if len(window) < 2 or not np.all(window[:-1] > 0):
        return np.inf
    rate = float(np.max(window[1:] / window[:-1]))
    return window[-1] * rate / (1.0 - rate) if rate < 1.0 else np.inf


def _direction_products(G, direction_b, others_G, others_b, others_linear, theta_b, *, C,
                        scale, l2, rho):
    """Penalised products of the new direction ``d = -g`` with other vectors ``v``.

    ``<d, v> = -scale (l2 g_W v_W + rho g_b v_b)``, and ``g_W = C X^T G + l2 scale W``
    (``C`` carrying the objective's scale), so ``g_W v_W`` needs no pass over ``v``:
    ``X^T G`` meets ``v_W`` as ``G`` meets the outputs of v without its intercept
    (``others_G - others_b G_sum``), and ``l2 scale W v_W`` is v's penalised product with
    theta (``others_linear``) less its intercept part. ``others_G``, ``others_b`` and
    ``others_linear``: each v's ``<G, X v_W + v_b>``, intercept part and product with theta.
    """
    return -scale * (l2 * (C * (others_G - others_b @ G.sum(axis=0)) + others_linear
                           - scale * rho * (others_b @ theta_b))
                     - rho * (others_b @ direction_b))


def _minimise_in_subspace(Z, U, G, spare, value, constant, linear, gram, backend, *, slope,
                          curvature, y, s, loss, head, C, tol):
    """Newton's method on ``phi(a)``, the scaled objective at ``theta + a P``, over ``a``.

    ``U`` holds the outputs of the directions ``P`` (``Z + a U`` are the outputs at
    ``theta + a P``); ``G``, ``value``, ``slope`` and ``curvature`` are the head's
    gradient, ``phi`` and the data term's derivatives along U (``U G``, ``U D U^T``;
    ``backend.head_along``) at ``a = 0``. The penalty is ``constant + a linear + a gram
    a / 2``; ``C`` carries the objective's scale. Steps are halved until ``phi`` falls
    enough (Armijo); after the first, which is always tried (late in a slow fit a whole
    iteration may gain less than ``tol``), the method stops once a step predicts a
    decrease of at most ``tol``. ``spare``: room for a trial's G. Both ``G`` and
    ``spare`` may be written over; use the returned pair ``(G(a), spare)``. Returns
    ``(a, phi(a), G(a), spare)``.
    """
    r = U.shape[0]

    def penalty(a):
        return constant + float(a @ linear) + 0.5 * float(a @ gram @ a)

    alpha = np.zeros(r)
    for step in range(SUBSPACE_NEWTON_STEPS):
        grad = C * slope + linear + gram @ alpha
        delta = _solve_scaled(C * curvature + gram, grad)
        decrement = 0.5 * float(grad @ delta)
        if step > 0 and not decrement > tol:
            break
        t = 1.0
        while t >= 1e-10:
            trial = alpha - t * delta
            data, trial_slope, trial_curvature = backend.head_along(Z, U, trial, y, s, loss,
                                                                    head, spare)
            trial_value = C * data + penalty(trial)
            if trial_value <= value - 2e-4 * t * decrement:
                break
            t *= 0.5
        else:  # no step decreases phi: rounding has the last word
            break
        alpha, value, slope, curvature = trial, trial_value, trial_slope, trial_curvature
        G, spare = spare, G
        if t == 1.0 and decrement <= np.sqrt(tol * abs(value)):
            # Near the minimum a full Newton step about squares the relative error (a
            # heuristic: exact for self-concordant functions in the right units).
            break
    return alpha, value, G, spare


def _solve_scaled(H, g):
    """``H^+ g`` for a small symmetric positive semi-definite H, by its eigenvectors after
    scaling its diagonal to ones: the directions of a subspace differ in length by orders
    of magnitude, and when they are nearly parallel H is close to singular."""
    scale = np.sqrt(np.maximum(np.diag(H), np.finfo(float).tiny))
    values, vectors = np.linalg.eigh(H / np.outer(scale, scale))
    keep = values > 1e-12 * values.max()
    kept = vectors[:, keep]
    return kept @ ((kept.T @ (g / scale)) / values[keep]) / scale


def _signed_targets(y, head, n_outputs):
    """The +-1 target of every row and output of the binary and one-vs-rest heads."""
    if head == "binary":
        return (2.0 * y - 1.0)[:, None]
    return np.where(y[:, None] == np.arange(n_outputs), 1.0, -1.0)


def _hessian_diagonal(X, s, backend, C, l2, rho, loss, head, n_outputs, fit_intercept):
    """The diagonal of :func:`_preconditioner`'s matrix, over all rows, flat like theta.

    ``C c sum_n s_n x_nj^2 + l2`` for each feature and output, ``C c sum(s) + rho`` for
    each intercept. Entries that would be zero (an empty column without a penalty) are
    one: their gradient stays zero.
    """
    c = C * _curvature_at_zero(loss, head, n_outputs)
    s = np.asarray(s, np.float64)[:, None]
    if sp.issparse(X):
        X = X.tocsr()  # (no copy for the CSR X that estimators pass)
        columns = sp.csr_matrix((np.square(X.data, dtype=np.float64), X.indices, X.indptr),
                                shape=X.shape)
        weights = c * backend.transposed_product(columns, s)
    else:  # by blocks of rows: squaring all of X at once would copy it
        weights = np.zeros((X.shape[1], 1))
        for lo in range(0, X.shape[0], PRECONDITION_ROWS):
            block = np.square(X[lo:lo + PRECONDITION_ROWS], dtype=np.float64)
            weights += block.T @ s[lo:lo + PRECONDITION_ROWS]
        weights *= c
    intercept = c * float(np.sum(s)) + rho if fit_intercept else 1.0
    diagonal = np.concatenate([np.repeat(weights[:, 0] + l2, n_outputs),
                               np.full(n_outputs, intercept)])
    diagonal[diagonal <= 0] = 1.0
    return diagonal


def _preconditioner(X, s, backend, C, l2, rho, loss, head, n_outputs, fit_intercept):
    """Lower Cholesky factor of ``C c A^T S A + diag(l2, ..., l2, rho)``.

    ``A`` is X with a column of ones when there is an intercept, ``S`` the sample weights
    and ``c`` the loss's curvature at zero outputs. That is each output's Hessian at
    ``W = 0`` for the binary and one-vs-rest heads (``c = l''(0)``) and for the
    multinomial (``c = 1/K``: its Hessian there is ``A^T S A`` times ``I/K - 1 1^T / K^2``,
    so this is it but along the direction the softmax ignores). For Weston-Watkins,
    ``c = 2 l''(0)`` matches the Hessian's ``2 l''(0) (I - 1 1^T / K)`` of balanced
    classes; Crammer-Singer starts at its one-vs-rest solution, where ``l''(0)`` is
    only a scale. ``A^T S A`` comes from an evenly spaced subset of the rows, scaled to all
    of them, which is plenty for a preconditioner.
    """
    n, d = X.shape
    curvature = _curvature_at_zero(loss, head, n_outputs)
    rows = np.unique(np.linspace(0, n - 1, min(n, PRECONDITION_ROWS)).astype(np.int64))
    weights = np.asarray(s, dtype=np.float64)[rows]
    keep = weights > 0
    H, v, total = backend.weighted_gram(X, rows[keep], weights[keep])
    factor = C * curvature * float(np.sum(s)) / max(total, 1e-300)
    M = factor * np.asarray(H, dtype=np.float64)
    M[np.diag_indices(d)] += l2
    if fit_intercept:
        M = _bordered(M, factor * np.asarray(v, dtype=np.float64), factor * total + rho)
    return _cholesky(M)


def _curvature_at_zero(loss, head, n_outputs):
    """``c`` of :func:`_preconditioner`: the head's curvature at zero outputs."""
    if head == "multinomial":
        return 1.0 / n_outputs
    curvature = float(MARGIN_CURVATURES[loss](np.zeros(1))[0])
    return 2.0 * curvature if head == "weston_watkins" else curvature


def _bordered(H, v, corner):
    """``[[H, v], [v^T, corner]]``: a Hessian with the intercept's row and column."""
    return np.block([[H, v[:, None]], [v[None, :], np.array([[corner]])]])


def _cholesky(M):
    """Lower Cholesky factor of a symmetric positive (semi-)definite M, damped if needed."""
    if not np.all(np.isfinite(M)):
        raise FloatingPointError(
            "The curvature matrix of the data (X^T X) has non-finite entries: the "
            "features are too large for the training dtype. Scale them (e.g. with "
            "StandardScaler) or train in float64.")
    damping = 0.0
    scale = max(float(np.trace(M)) / len(M), 1e-300)
    while True:
        try:
            return scipy.linalg.cholesky(M + damping * np.eye(len(M)), lower=True,
                                         check_finite=False)
        except np.linalg.LinAlgError:
            damping = max(10.0 * damping, 1e-12 * scale)


#: Newton's method forms a (d+1) x (d+1) Hessian per output from the rows in the margin,
#: ``n d^2`` multiply-adds; above this many features L-BFGS's ``n d`` per iteration wins.
NEWTON_MAX_FEATURES = 1000


def newton_suits(X):
    """Whether ``solver='auto'`` should train the linear model on X by Newton's method
    (and L-BFGS precondition it): more rows than features, and at most
    ``NEWTON_MAX_FEATURES`` of them. The shape decides, not the format: a sparse X of
    that shape is multiplied as sparse, and runs the algorithm its dense twin runs."""
    return X.shape[0] > X.shape[1] and X.shape[1] <= NEWTON_MAX_FEATURES


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


def _solve_spd(H, g):
    """``H^{-1} g`` for a symmetric positive (semi-)definite H, damped if it is singular."""
    return scipy.linalg.cho_solve((_cholesky(H), True), g, check_finite=False)


def newton(X, y, s, *, backend, C, loss, head, n_outputs, fit_intercept, intercept_penalty,
           tol, max_iter, coef_init=None, intercept_init=None):
    """Newton's method on the linear model for the binary and one-vs-rest heads.

    The outputs are independent problems; the data passes serve all of them at once
    (``X P`` and ``X^T G`` are one matrix product each per iteration). Each output's
    Newton system uses the exact (generalised, for the squared hinge) Hessian
    ``l2 I + C X_A^T D X_A`` over the rows ``A`` where the loss is curved, solved by
    Cholesky, and the step length is the exact minimiser along the direction. For the
    squared hinge ``D`` is ``2 s`` on the rows inside the margin, so a Hessian changes
    only by the rows that enter or leave the margin and is updated by those rows alone.
    An output is done when the decrease its Newton step predicts (the Newton decrement)
    is at most ``NEWTON_DECREMENT_FACTOR * tol`` times its objective, after that step, or
    when its largest gradient entry of ``J / (C sum(s))`` is at most
    ``NEWTON_DECREMENT_FACTOR * tol``; near the optimum each step squares the error, so
    the stricter test costs about one iteration more than :func:`lbfgs`'s ``tol`` on the
    gradient and ends far closer to the optimum.

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
    Z = backend.outputs(X, W) + b
    problem = dict(backend=backend, X=X, T=T, s=s, C=C, l2=l2, rho=rho, loss=loss,
                   fit_intercept=fit_intercept, tol=tol)
    if loss != "hinge":
        n_iter, converged = _newton_stage(W, b, Z, max_iter=max_iter, width=None, **problem)
        return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                            solver="newton")
    n_iter, width = 0, HINGE_FIRST_WIDTH
    while True:
        used, converged = _newton_stage(W, b, Z, max_iter=max_iter - n_iter, width=width,
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


def _newton_stage(W, b, Z, *, backend, X, T, s, C, l2, rho, loss, fit_intercept, tol,
                  max_iter, width):
    """Newton iterations in place on ``W``, ``b`` and the outputs ``Z = X W + b``.

    Returns ``(iterations, converged)``.
    """
    n_features, K = W.shape
    scale = 1.0 / (C * float(np.sum(s)))
    cache = K * (n_features + 1) ** 2 <= NEWTON_CACHE_ENTRIES
    hessians = [None] * K  # (D, H, v, total) of each output's last Hessian
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
            if last is not None and np.array_equal(last[0], D):
                H, v, total = last[1:]  # from W = 0 all outputs share their curvature
            elif cache and close[k] and loss == "log_loss":
                # Near the optimum the log loss's curvature hardly moves in a step:
                # keep the Hessian (the exact line search keeps every step a descent).
                H, v, total = hessians[k][1:]
            else:
                if cache and loss != "log_loss":
                    H, v, total = _updated_hessian(backend, X, D, hessians[k])
                else:
                    rows = np.flatnonzero(D)
                    H, v, total = backend.weighted_gram(X, rows, D[rows])
                last = (D, H, v, total)
            if cache:
                hessians[k] = (D, H, v, total)
            H = H.copy()
            H[np.diag_indices_from(H)] += l2
            if fit_intercept:
                H = _bordered(H, v, rho + total)
                step = -_solve_spd(H, np.append(gW[:, k], gb[k]))
                P[:, j], pb[j] = step[:-1], step[-1]
            else:
                P[:, j] = -_solve_spd(H, gW[:, k])
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


def linear_objective(result, X, y, s, *, backend, C, loss, head, fit_intercept,
                     intercept_penalty, l1=False):
    """Primal objective of a fitted linear model divided by ``C * sum(s)``.

    With ``l1`` the penalty is liblinear's ``||w||_1`` over the weights and the intercept
    feature; ``C=None`` means no penalty.
    """
    W = np.asarray(result.coefs[0], dtype=np.float64)
    b = np.asarray(result.intercepts[0], dtype=np.float64)
    C_value = 1.0 if C is None else C
    value, _, _ = backend.linear_value_grad(
        W, b, X, y, s, C=C_value, loss=loss, head=head,
        intercept_penalty=0.0 if l1 else intercept_penalty, fit_intercept=fit_intercept,
        l2=0.0 if (C is None or l1) else 1.0)
    if l1:
        value += float(np.abs(W).sum())
        if fit_intercept and intercept_penalty > 0:
            value += float(np.abs(b).sum()) * np.sqrt(intercept_penalty)
    return float(value) / (C_value * float(np.sum(s)))


def resolve_backend(name, n_samples=0, layer_sizes=()):
    """``(name, module)`` of the backend to train with (see ``backends.auto_backend``)."""
    if name == "auto":
        n_weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
        name = auto_backend(n_samples, n_weights, network=len(layer_sizes) > 2)
    return name, get_backend(name)


#: Dual coordinate descent also stops a binary or one-vs-rest problem once its duality
#: gap is at most this times ``tol`` times its objective (a certified relative accuracy
#: of 1e-7 at the default tol=1e-4, as Newton's method's), which on sparse text comes
#: after 21 epochs where liblinear's projected-gradient test at ``tol`` needs 31.
DUAL_GAP_FACTOR = 1e-3


#: Dual coordinate descent visits the samples in a random order, so two fits stop at
#: different points within their tolerance. On binary and one-vs-rest problems this
#: small (rows times features times outputs: the shape, so that dense and sparse X are
#: alike), it runs both of its tests at ``SMALL_PROBLEM_TOL`` where ``tol`` is larger (a
#: certified gap of 1e-11 of the objective at most): the model then no longer depends on
#: the order, nor on X being dense or sparse, to 1e-5 for the squared hinge. (The
#: Crammer-Singer and Weston-Watkins duals converge too slowly where rows outnumber
#: features for that to be cheap, and their promise is 1e-3.)
SMALL_PROBLEM_ENTRIES = 2 ** 21
SMALL_PROBLEM_TOL = 1e-8


def dcd(X, y, s, *, backend, C, loss, head, n_outputs, fit_intercept, intercept_scaling,
        tol, max_iter, random_state):
    """Dual coordinate descent (liblinear's algorithm) for hinge and squared hinge."""
    seed = int(random_state.integers(np.iinfo(np.int32).max))
    if (head in ("binary", "ovr")
            and X.shape[0] * X.shape[1] * n_outputs <= SMALL_PROBLEM_ENTRIES):
        tol = min(tol, SMALL_PROBLEM_TOL)
    W, b, n_iter, converged = backend.dcd(
        X, y, s, C=C, loss=loss, head=head, intercept_scaling=intercept_scaling,
        fit_intercept=fit_intercept, n_outputs=n_outputs, tol=tol, max_iter=max_iter,
        seed=seed, gap_tol=DUAL_GAP_FACTOR * tol)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        solver="dcd")


def cd_l1(X, y, s, *, backend, C, head, n_outputs, fit_intercept, intercept_scaling, tol,
          max_iter):
    """Primal coordinate descent for the L1-penalised squared-hinge SVM."""
    W, b, n_iter, converged = backend.cd_l1(
        X, y, s, C=C, head=head, intercept_scaling=intercept_scaling,
        fit_intercept=fit_intercept, n_outputs=n_outputs, tol=tol, max_iter=max_iter)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        solver="cd")


def init_params(layer_sizes, activation, dtype, random_state):
    """Glorot-uniform weights and biases, drawn with numpy so every backend starts alike."""
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        factor = 2.0 if activation == "logistic" else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        intercepts.append(random_state.uniform(-bound, bound, fan_out).astype(dtype))
    return coefs, intercepts


def init_state(coefs, intercepts):
    """Zero optimizer moments (shared by SGD's velocity and Adam's two moments)."""
    return {
        "m_coefs": [np.zeros_like(W) for W in coefs],
        "m_intercepts": [np.zeros_like(b) for b in intercepts],
        "v_coefs": [np.zeros_like(W) for W in coefs],
        "v_intercepts": [np.zeros_like(b) for b in intercepts],
        "step": 0,
    }


def _accuracy(coefs, intercepts, X, y, activation):
    F, _ = forward(coefs, intercepts, X, activation)
    pred = (F[:, 0] > 0).astype(np.int64) if F.shape[1] == 1 else np.argmax(F, axis=1)
    return float(np.mean(pred == y))


def _constant_rate(lr0, epoch, n_epochs, power_t):
    return lr0


def _linear_rate(lr0, epoch, n_epochs, power_t):
    # Tang (2013): from lr0 down to lr0 / n_epochs in the last epoch.
    return lr0 * (1.0 - epoch / n_epochs)


def _invscaling_rate(lr0, epoch, n_epochs, power_t):
    return lr0 / (epoch + 1) ** power_t


#: Learning-rate schedules: name -> rate of epoch ``epoch`` (0-based) of ``n_epochs``.
#: "adaptive" keeps the rate until the loss stalls, then divides it by 5 (MLPClassifier's
#: rule); the stopping loop applies that part.
LEARNING_RATE_SCHEDULES = {
    "constant": _constant_rate,
    "linear": _linear_rate,
    "invscaling": _invscaling_rate,
    "adaptive": _constant_rate,
}
#: "adaptive" stops once the rate falls below this, as MLPClassifier does.
MIN_ADAPTIVE_RATE = 1e-6


def _progress(done, total, elapsed, width=20):
    """A text progress bar with the time left at the mean pace so far (max_iter epochs;
    early stopping may end sooner)."""
    filled = width * done // total
    left = elapsed / done * (total - done)
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}, "
            f"{elapsed:.0f}s elapsed, ~{left:.0f}s left")


def stochastic(X, y, s, *, backend, coefs, intercepts, state, optimizer, C, loss, head,
               activation, batch_size, learning_rate_init, momentum, max_iter, tol,
               n_iter_no_change, input_noise, dropout, random_state, X_val=None,
               y_val=None, verbose=0, train_output_bias=True, learning_rate="constant",
               power_t=0.5, input_noise_decay=1.0, first_epoch=0, schedule_epochs=None,
               beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Minibatch SGD with momentum or Adam over whole epochs.

    ``coefs`` and ``intercepts`` are updated in place. Training stops after ``max_iter``
    epochs, or when the objective (or the validation accuracy, when ``X_val`` is given)
    has not improved by ``tol`` for ``n_iter_no_change`` epochs, as MLPClassifier does.
    With a validation set the best parameters seen are the ones returned.
    ``train_output_bias=False`` keeps the output bias at its value (a linear model
    without intercept).

    Epoch ``e`` (counted from ``first_epoch``, for ``partial_fit``) trains with the rate
    ``LEARNING_RATE_SCHEDULES[learning_rate](learning_rate_init, e, schedule_epochs,
    power_t)`` and the input noise ``input_noise * input_noise_decay ** e``.
    """
    n = X.shape[0]
    # Minibatches estimate J / (C sum(s)), the scale the full-batch solvers report (and
    # MLPClassifier's, which divides by the sum of the weights): the weights rescaled to
    # mean 1, the penalty 1 / (C sum(s)). Estimating J / (C n) instead made every
    # gradient, and so every SGD step, grow with the level of the weights: with
    # class_weight={0: 1000, 1: 1e-4} the steps grew 500-fold and the fit diverged.
    total = float(np.sum(s))
    s = s * (n / total)
    penalty = 1.0 / (C * total)
    schedule = LEARNING_RATE_SCHEDULES[learning_rate]
    schedule_epochs = max_iter if schedule_epochs is None else schedule_epochs
    rate_scale = 1.0  # the "adaptive" schedule's divisions
    loss_curve, validation_scores = [], []
    best_loss, best_score, stall = np.inf, -np.inf, 0
    best_params = None
    converged = False
    fit_started = time.perf_counter()
    for it in range(max_iter):
        epoch_index = first_epoch + it
        rate = rate_scale * schedule(learning_rate_init, min(epoch_index, schedule_epochs - 1),
                                     schedule_epochs, power_t)
        noise = input_noise * input_noise_decay ** epoch_index
        perm = random_state.permutation(n).astype(np.int64)
        seed = int(random_state.integers(np.iinfo(np.int32).max))
        started = time.perf_counter()
        data = backend.epoch(
            (coefs, intercepts), state, X, y, s, perm, batch_size=batch_size,
            optimizer=optimizer, learning_rate=rate, momentum=momentum,
            beta1=beta1, beta2=beta2, epsilon=epsilon, penalty=penalty,
            activation=activation, loss=loss, head=head, input_noise=noise,
            dropout=dropout, train_output_bias=train_output_bias, seed=seed)
        seconds = time.perf_counter() - started
        with np.errstate(over="ignore", invalid="ignore"):
            value = data / n + 0.5 * penalty * sum(float(np.sum(W * W)) for W in coefs)
        _check_finite(value, optimizer)
        loss_curve.append(value)
        message = f"Epoch {it + 1}, loss = {value:.8f}"
        if X_val is not None:
            score = _accuracy(coefs, intercepts, X_val, y_val, activation)
            validation_scores.append(score)
            message += f", validation score = {score:.6f}"
            if score > best_score:
                best_params = ([W.copy() for W in coefs], [b.copy() for b in intercepts])
            improved = score > best_score + tol
            best_score = max(best_score, score)
        else:
            improved = value < best_loss - tol
        best_loss = min(best_loss, value)
        if verbose:
            elapsed = time.perf_counter() - fit_started
            print(f"{message}, learning rate = {rate:.3g}, time = {seconds:.2f}s "
                  f"{_progress(it + 1, max_iter, elapsed)}", flush=True)
        stall = 0 if improved else stall + 1
        if stall >= n_iter_no_change:
            if learning_rate == "adaptive" and rate / 5.0 >= MIN_ADAPTIVE_RATE:
                rate_scale /= 5.0
                stall = 0
                if verbose:
                    print(f"Learning rate divided by 5, to {rate / 5.0:.3g}")
                continue
            converged = True
            break
    if best_params is not None:
        for dst, src in zip(coefs + intercepts, best_params[0] + best_params[1]):
            dst[...] = src
    return SolverResult(coefs=coefs, intercepts=intercepts, n_iter=it + 1,
                        converged=converged, loss_curve=loss_curve,
                        validation_scores=validation_scores, best_loss=best_loss,
                        state=state, solver=optimizer)


def as_training_array(X, dtype):
    """X in the training dtype: CSR for sparse input, C-ordered otherwise (no copy if it is)."""
    if sp.issparse(X):
        return X.tocsr().astype(dtype, copy=False)
    return np.ascontiguousarray(X, dtype=dtype)
