"""Helpers shared by several test modules (pytest puts this folder on sys.path)."""

import numpy as np


def central_difference(fun, x, eps=1e-6):
    """Gradient of the scalar ``fun()`` with respect to the array ``x``, changed in place."""
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = fun()
        x[idx] = old - eps
        down = fun()
        x[idx] = old
        grad[idx] = (up - down) / (2.0 * eps)
    return grad
