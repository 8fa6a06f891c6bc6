"""The losses and the objective, written once as plain numpy.

This module is the mathematical reference of the package (DESIGN.md, "The models"). Every
backend computes the same numbers with its own kernels; the tests use the functions here as
the oracle. Nothing here is fast and nothing here needs to be.

Notation: ``F`` holds the network outputs, shape ``(n, K)`` (``K = 1`` for a binary problem),
``y`` the encoded labels ``0 .. n_classes - 1`` and ``s`` the per-sample weights
(sample_weight times class_weight).
"""

import numpy as np
from scipy.special import expit, logsumexp


def _hinge(z):
    return np.maximum(0.0, 1.0 - z), -(z < 1.0).astype(z.dtype)


def _squared_hinge(z):
    r = np.maximum(0.0, 1.0 - z)
    return r * r, -2.0 * r


def _log_loss(z):
    # log(1 + exp(-z)) without overflow, and its derivative -sigmoid(-z).
    return np.logaddexp(0.0, -z), -expit(-z)


#: Margin losses ``l(z)`` on ``z = t * f``: name -> function returning ``(l(z), l'(z))``.
MARGIN_LOSSES = {
    "hinge": _hinge,
    "squared_hinge": _squared_hinge,
    "log_loss": _log_loss,
}


def _log_loss_curvature(z):
    p = expit(z)
    return p * (1.0 - p)


#: Second derivatives ``l''(z)`` of the smooth margin losses (the generalised one, 0 at
#: the kink, for the squared hinge), used by Newton's method.
MARGIN_CURVATURES = {
    "squared_hinge": lambda z: 2.0 * (z < 1.0),
    "log_loss": _log_loss_curvature,
}


def smoothed_hinge(z, width):
    """The hinge with its kink rounded over ``1 - width < z < 1``: ``(l, l', l'')``.

    ``l(z) = 1 - z - width/2`` below the band, ``(1 - z)^2 / (2 width)`` inside it and 0
    above, so ``hinge(z) - width/2 <= l(z) <= hinge(z)``. Newton's method trains the
    hinge through a decreasing sequence of widths (see ``_solvers.newton``).
    """
    r = 1.0 - z
    linear = r >= width
    band = (r > 0.0) & ~linear
    value = np.where(linear, r - 0.5 * width, np.where(band, r * r / (2.0 * width), 0.0))
    slope = np.where(linear, -1.0, np.where(band, -r / width, 0.0))
    return value, slope, band / width


def _binary_head(F, y, loss):
    t = 2.0 * y - 1.0
    value, dz = MARGIN_LOSSES[loss](t * F[:, 0])
    return value, (t * dz)[:, None]


def _ovr_head(F, y, loss):
    T = -np.ones_like(F)
    T[np.arange(len(y)), y] = 1.0
    value, dz = MARGIN_LOSSES[loss](T * F)
    return value.sum(axis=1), T * dz


def _crammer_singer_head(F, y, loss):
    rows = np.arange(len(y))
    others = F.copy()
    others[rows, y] = -np.inf
    best = others.max(axis=1)
    value, dz = MARGIN_LOSSES[loss](F[rows, y] - best)
    # Where several rivals tie for the max, share the subgradient equally among them:
    # picking one would not be a descent direction at the all-tied point W = 0.
    tied = others == best[:, None]
    G = -tied.astype(F.dtype) * (dz / tied.sum(axis=1))[:, None]
    G[rows, y] = dz
    return value, G


def _weston_watkins_head(F, y, loss):
    rows = np.arange(len(y))
    Z = F[rows, y][:, None] - F
    value, dz = MARGIN_LOSSES[loss](Z)
    value[rows, y] = 0.0
    dz[rows, y] = 0.0
    G = -dz
    G[rows, y] = dz.sum(axis=1)
    return value.sum(axis=1), G


def _multinomial_head(F, y, loss):
    rows = np.arange(len(y))
    lse = logsumexp(F, axis=1)
    G = np.exp(F - lse[:, None])
    G[rows, y] -= 1.0
    return lse - F[rows, y], G


#: Multi-class heads: name -> function ``(F, y, loss) -> (loss_n, dloss_n/dF)``.
#: A binary problem has one output and always uses the ``"binary"`` head.
HEADS = {
    "binary": _binary_head,
    "ovr": _ovr_head,
    "crammer_singer": _crammer_singer_head,
    "weston_watkins": _weston_watkins_head,
    "multinomial": _multinomial_head,
}


def head_loss(F, y, s, loss, head):
    """Weighted data term ``sum_n s_n loss_n`` and its gradient with respect to ``F``.

    Parameters
    ----------
    F : ndarray of shape (n_samples, n_outputs)
        Network outputs.
    y : ndarray of shape (n_samples,)
        Encoded labels in ``0 .. n_classes - 1``.
    s : ndarray of shape (n_samples,)
        Per-sample weights.
    loss : {"hinge", "squared_hinge", "log_loss"}
        Margin loss (ignored by the multinomial head).
    head : str
        A key of :data:`HEADS`.

    Returns
    -------
    value : float
    grad : ndarray of shape (n_samples, n_outputs)
    """
    F = np.asarray(F, dtype=np.float64)
    values, G = HEADS[head](F, np.asarray(y), loss)
    s = np.asarray(s, dtype=np.float64)
    return float(s @ values), G * s[:, None]


def _activate(Z, activation):
    if activation == "relu":
        return np.maximum(Z, 0.0)
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "logistic":
        return expit(Z)
    return Z


def _activation_grad(H, activation):
    """Derivative of the activation, written in terms of its output ``H``."""
    if activation == "relu":
        return (H > 0).astype(H.dtype)
    if activation == "tanh":
        return 1.0 - H * H
    if activation == "logistic":
        return H * (1.0 - H)
    return np.ones_like(H)


def forward(coefs, intercepts, X, activation):
    """Outputs of the network (no noise, no dropout), and the hidden activations.

    ``coefs[l]`` has shape ``(fan_in, fan_out)`` as in MLPClassifier.
    """
    hidden = [X]
    H = X
    for layer, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = H @ W + b
        if layer < len(coefs) - 1:
            Z = _activate(Z, activation)
            hidden.append(Z)
        H = Z
    return np.asarray(H), hidden


def objective(coefs, intercepts, X, y, s, *, C, loss, head, activation="relu",
              intercept_penalty=0.0):
    """Primal objective ``J`` of DESIGN.md and its gradient, by plain numpy.

    ``J = 1/2 sum_l ||W_l||^2 + intercept_penalty/2 ||b_L||^2 + C sum_n s_n loss_n``.
    ``intercept_penalty`` is ``1 / intercept_scaling**2`` when the linear model follows
    liblinear (the intercept is the weight of a synthetic feature of that value), else 0.

    Returns
    -------
    value : float
    grad_coefs, grad_intercepts : lists of ndarray
    """
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    X = X.astype(np.float64)
    coefs = [np.asarray(W, dtype=np.float64) for W in coefs]
    intercepts = [np.asarray(b, dtype=np.float64) for b in intercepts]
    F, hidden = forward(coefs, intercepts, X, activation)
    data, G = head_loss(F, y, s, loss, head)
    value = C * data + 0.5 * sum(float(np.sum(W * W)) for W in coefs)
    value += 0.5 * intercept_penalty * float(np.sum(intercepts[-1] ** 2))
    G = C * G
    grad_coefs, grad_intercepts = [], []
    for layer in range(len(coefs) - 1, -1, -1):
        grad_coefs.append(hidden[layer].T @ G + coefs[layer])
        gb = G.sum(axis=0)
        if layer == len(coefs) - 1:
            gb = gb + intercept_penalty * intercepts[-1]
        grad_intercepts.append(gb)
        if layer > 0:
            G = (G @ coefs[layer].T) * _activation_grad(hidden[layer], activation)
    return value, grad_coefs[::-1], grad_intercepts[::-1]
