"""Subspace descent (SESOP) on the linear model, all outputs jointly: one ``X d`` and one
``X^T G`` per iteration, Newton's method within the span of the last few steps."""

import numpy as np
import scipy.linalg

from ._common import (
    DUAL_GAP_FACTOR,
    LBFGS_DECREMENT_FACTOR,
    SolverResult,
    _check_finite,
    _signed_targets,
    linear_start,
    one_blas_thread_on_sparse,
)
from ._curvature import _hessian_diagonal


#: Subspace descent keeps this many of its last steps as directions.
SUBSPACE_MEMORY = 8
#: Its Newton iterations within a subspace stop once their predicted decrease is at most
#: this times ``LBFGS_DECREMENT_FACTOR * tol`` times the objective.
SUBSPACE_NEWTON_FACTOR = 1e-3
#: ... or after this many steps.
SUBSPACE_NEWTON_STEPS = 30
#: The decay rate of the objective's decreases is measured over this many iterations.
SUBSPACE_RATE_WINDOW = 3
#: The relative error allowed in ``||theta||^2 / 2`` as subspace descent keeps it, by
#: algebra on the products of its directions, before it computes them all again.
PENALTY_DRIFT = 1e-8


@one_blas_thread_on_sparse
def subspace(X, y, s, *, backend, C, loss, head, n_outputs, fit_intercept,
             intercept_penalty, tol, max_iter, coef_init=None, intercept_init=None):
    """Subspace descent on the linear model, all outputs jointly
    (:func:`_subspace_descent`).

    It trains the heads and losses of its entry in ``table.SOLVERS`` (those whose
    curvature along the outputs ``backend.head_along`` knows); X of any shape, dense or
    sparse. The objective, its scale, the start and ``C=None`` are
    :func:`~.quasi_newton.lbfgs`'s (:func:`~._common.linear_start`). On sparse X, BLAS
    is held to one thread (:func:`~._common.one_blas_thread_on_sparse`).
    """
    l2, C, scale, rho, theta = linear_start(
        X, s, C=C, n_outputs=n_outputs, fit_intercept=fit_intercept,
        intercept_penalty=intercept_penalty, coef_init=coef_init,
        intercept_init=intercept_init, y=y, loss=loss, head=head)
    return _subspace_descent(X, y, s, backend=backend, C=C, l2=l2, rho=rho, scale=scale,
                             loss=loss, head=head, n_outputs=n_outputs,
                             fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                             theta=theta)


def _subspace_descent(X, y, s, *, backend, C, l2, rho, scale, loss, head, n_outputs,
                      fit_intercept, tol, max_iter, theta):
    """Sequential subspace optimisation (SESOP) of the linear model, made for sparse X.

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

    Same objective, scaling and gradient test as :func:`~.quasi_newton.lbfgs`. The second
    test asks the objective still to be gained, estimated from the geometric decay of its
    decreases over the last ``SUBSPACE_RATE_WINDOW`` iterations (:func:`_remaining`), to
    be at most ``LBFGS_DECREMENT_FACTOR * tol`` times the objective. On the sparse
    benchmark it
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
        return squared

    # (at the start where it is zero weights and an intercept, as linear_start's for the
    # log loss)
    start_intercept = (theta[size:] if fit_intercept and not np.any(theta[:size])
                       and np.any(theta[size:]) else None)
    diagonal = scale * _hessian_diagonal(X, s, backend, C, l2, rho, loss, head, n_outputs,
                                         fit_intercept, intercept=start_intercept)
    Z = np.zeros((n, K))
    if np.any(theta[:size]):
        Z += backend.outputs(X, theta[:size].reshape(d, K))
    if fit_intercept:
        Z += theta[size:]
    data, G = backend.head_loss(Z, y, s, loss, head)
    G = np.array(G, dtype=np.float64)  # (head_along writes into it; a backend's may not be)
    constant = 0.5 * float(penalised(theta, theta))
    value = scale * C * data + constant
    _check_finite(value, "subspace")
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
        squared = negative_gradient(G, P[0])  # (tests are on theta, not the step)
        # The gradient test reads max |g| at theta only once the cheaper decrease test
        # has passed (two passes over a vector of the weights' size, a few percent of an
        # iteration on text); row 0 keeps -g until the next iteration, but the first
        # iteration scales it, so there it is read now.
        largest = None if ring else _largest(P[0])
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
        _check_finite(new_value, "subspace")
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
        # The products kept by algebra gather rounding from each step's combination of
        # the rows; where the penalty dominates (a small C) and the steps are nearly
        # parallel, large, nearly cancelling coefficients let it grow until the
        # subspace's model of the penalty is wrong and the fit diverges (at C=1e-4 on
        # text, ||theta||^2 / 2 kept this way turned negative). Half theta's own
        # product, one pass over it, checks them; past the drift allowed, all of them
        # are computed again from the rows.
        # (The step's decrease is judged before the correction, which belongs to no
        # one step: booked to this one it could fake a stall.)
        decreases.append(value - new_value)
        exact = 0.5 * float(penalised(theta, theta))
        if abs(constant - exact) > PENALTY_DRIFT * exact:
            kept = np.array(ring)
            gram[np.ix_(kept, kept)] = penalised(directions[kept], directions[kept])
            linear[kept] = penalised(directions[kept], theta)
            new_value += exact - constant
            constant = exact
        stalled = decreases[-1] <= 64 * np.finfo(float).eps * max(abs(value), 1.0)
        value = new_value
        if stalled or (not certify and _remaining(decreases) <= (
                LBFGS_DECREMENT_FACTOR * tol * value)
                and (_largest(P[0]) if largest is None else largest) <= tol):
            # A stall of the objective ends LogisticRegression's fit as converged too.
            # (The gradient test is on the iteration's starting point: its step is a
            # bonus, and computing the gradient after it would cost a pass over X.)
            converged = True
            break
    W = theta[:size].reshape(d, K)
    b = theta[size:] if fit_intercept else np.zeros(K)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        loss_curve=[float(value)], solver="subspace")


def _largest(v):
    """``max |v|``, without a temporary of v's size."""
    return max(float(v.max()), -float(v.min()))


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
