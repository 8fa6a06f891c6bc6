"""Accelerated proximal gradient (FISTA) for the L1-penalised squared-hinge SVM: one
objective and gradient a step, every pass a matrix product, so it suits a device where
liblinear's coordinate descent (one feature at a time) does not."""

import numpy as np

from ._common import SolverResult, _check_finite


def proximal(X, y, s, *, backend, C, head, n_outputs, fit_intercept, intercept_scaling,
             tol, max_iter):
    """FISTA with backtracking and adaptive restarts on liblinear's L1 problem.

    Minimises ``|w|_1 + C sum_i s_i max(0, 1 - t_i (w x_i + B w_B))^2`` for each output,
    the problem ``cd_l1`` solves: the intercept is the weight ``w_B`` of a constant
    feature of value ``B = intercept_scaling``, penalised like the others. The objective
    is divided by ``C sum(s)``. A step is a gradient step on the squared hinge, of length
    ``1 / L`` with ``L`` found by backtracking, followed by soft thresholding (the L1
    norm's proximal map); momentum as in Beck & Teboulle (2009), restarted whenever it
    points uphill (O'Donoghue & Candes 2015).

    Stops on the test of liblinear's coordinate descent: the largest violation of the
    optimality conditions (the distance of ``-grad`` to the L1 norm's subdifferential)
    at most ``tol`` times its value at ``w = 0``.
    """
    n_features, K = X.shape[1], n_outputs
    size = n_features * K
    B = float(intercept_scaling) if fit_intercept else 0.0
    scale = 1.0 / (C * float(np.sum(s)))  # the L1 norm's weight after scaling

    def smooth(theta):
        W = theta[:size].reshape(n_features, K)
        value, gW, gb = backend.linear_value_grad(
            W, B * theta[size:], X, y, s, C=C, loss="squared_hinge", head=head,
            intercept_penalty=0.0, fit_intercept=fit_intercept, l2=0.0)
        _check_finite(value, "proximal")
        return value * scale, np.concatenate([gW.ravel(), B * gb]) * scale

    def shrink(v, step):  # the proximal map of step * scale * |.|_1
        out = np.sign(v) * np.maximum(np.abs(v) - step * scale, 0.0)
        if not fit_intercept:
            out[size:] = 0.0
        return out

    def violation(theta, grad):
        worst = np.where(theta > 0, np.abs(grad + scale),
                         np.where(theta < 0, np.abs(grad - scale),
                                  np.maximum(np.abs(grad) - scale, 0.0)))
        if not fit_intercept:
            worst[size:] = 0.0
        return float(worst.max()) if worst.size else 0.0

    x = np.zeros(size + K)
    f_point, g_point = smooth(x)
    first = max(violation(x, g_point), 1e-12)
    point = x
    momentum, lipschitz = 1.0, 1.0
    converged = violation(x, g_point) <= tol * first
    n_iter = 0
    while not converged and n_iter < max_iter:
        n_iter += 1
        while True:  # backtracking on the quadratic model's upper bound
            trial = shrink(point - g_point / lipschitz, 1.0 / lipschitz)
            f_trial, g_trial = smooth(trial)
            step = trial - point
            bound = f_point + float(g_point @ step) + 0.5 * lipschitz * float(step @ step)
            if f_trial <= bound + 1e-15 * abs(f_point) or lipschitz > 1e30:
                break
            lipschitz *= 2.0
        converged = violation(trial, g_trial) <= tol * first
        if float((point - trial) @ (trial - x)) > 0.0:  # momentum uphill: restart
            momentum, point = 1.0, trial
        else:
            following = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * momentum * momentum))
            point = trial + ((momentum - 1.0) / following) * (trial - x)
            momentum = following
        x = trial
        if point is trial:
            f_point, g_point = f_trial, g_trial
        else:
            f_point, g_point = smooth(point)
        lipschitz *= 0.9  # let the step grow again where the curvature allows
    W = x[:size].reshape(n_features, K)
    b = B * x[size:]
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        solver="proximal")
