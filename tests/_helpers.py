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


def count_calls(monkeypatch, module, names):
    """Wrap ``module``'s functions ``names`` to count their calls; returns the counts."""
    calls = {name: 0 for name in names}
    for name in names:
        def counted(*args, _name=name, _function=getattr(module, name), **kwargs):
            calls[_name] += 1
            return _function(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)
    return calls


def fit_quietly(estimator, X, y):
    """A clone of ``estimator`` fitted to X, y, a ConvergenceWarning ignored (short
    network fits stop at max_iter where the test is about something else)."""
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clone(estimator).fit(X, y)
