"""The compiled Newton's method for small problems (``backend.newton_small``).

It is checked against an independent oracle: scipy's L-BFGS-B, run to a tight tolerance on
the objective written out in numpy here, which shares no code with the kernel.
"""

import numpy as np
import pytest
import scipy.optimize

from sksvmnet._losses import MARGIN_LOSSES, smoothed_hinge
from sksvmnet.backends import get_backend

numba_backend = get_backend("numba")


def _margin_loss(M, loss, width):
    if loss == "hinge":
        return smoothed_hinge(M, width)[:2]
    return MARGIN_LOSSES[loss](M)


def _oracle(X, T, s, C, l2, rho, loss, width, fit_intercept):
    """Each output's minimiser of ``l2 |w|^2 / 2 + rho b^2 / 2 + C sum s l(t (x w + b))``."""
    d = X.shape[1]
    solutions = []
    for t in T.T:
        def fun(theta):
            w, b = theta[:d], theta[d] if fit_intercept else 0.0
            value, slope = _margin_loss(t * (X @ w + b), loss, width)
            G = C * s * t * slope
            grad = np.append(l2 * w + X.T @ G, rho * b + G.sum())
            J = 0.5 * (l2 * w @ w + rho * b * b) + C * s @ value
            return J, grad if fit_intercept else grad[:d]
        theta0 = np.zeros(d + fit_intercept)
        done = scipy.optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                       options={"gtol": 1e-12, "ftol": 1e-15,
                                                "maxiter": 20000, "maxcor": 30})
        solutions.append((done.x, done.fun))
    return solutions


def _problem(n, d, n_outputs, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.2, 3.0, d)  # unevenly scaled
    y = rng.integers(0, max(2, n_outputs), n)
    T = np.where(y[:, None] == np.arange(n_outputs), 1.0, -1.0)
    if n_outputs == 1:
        T = np.where(rng.standard_normal(n) + X[:, 0] > 0, 1.0, -1.0)[:, None]
    s = rng.uniform(0.5, 2.0, n)
    return X, T, s


@pytest.mark.parametrize("loss, width", [("squared_hinge", None), ("log_loss", None),
                                         ("hinge", 0.1)])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_newton_small_reaches_the_optimum(loss, width, fit_intercept, n_outputs):
    X, T, s = _problem(120, 6, n_outputs, seed=n_outputs)
    C, l2, rho = 0.7, 1.0, (0.0 if loss == "log_loss" else 1.0)
    n, d = X.shape
    W, b, Z = np.zeros((d, n_outputs)), np.zeros(n_outputs), np.zeros((n, n_outputs))
    iters, converged = numba_backend.newton_small(
        X, T, s, W, b, Z, C=C, l2=l2, rho=rho, loss=loss, width=width,
        fit_intercept=fit_intercept, decrement_tol=1e-14, gradient_tol=1e-14,
        max_iter=100)
    assert converged.all() and (iters >= 1).all()
    np.testing.assert_allclose(Z, X @ W + b, rtol=1e-10, atol=1e-10)
    if not fit_intercept:
        assert np.all(b == 0)
    for k, (theta, best) in enumerate(_oracle(X, T, s, C, l2, rho, loss, width or 1.0,
                                              fit_intercept)):
        value, _ = _margin_loss(T[:, k] * Z[:, k], loss, width)
        J = 0.5 * (l2 * W[:, k] @ W[:, k] + rho * b[k] ** 2) + C * s @ value
        assert J <= best * (1 + 1e-12)
        np.testing.assert_allclose(W[:, k], theta[:d], rtol=1e-5, atol=1e-6)


def test_newton_small_continues_from_a_warm_start_and_counts_iterations():
    X, T, s = _problem(80, 4, 2, seed=7)
    common = dict(C=1.0, l2=1.0, rho=0.0, loss="log_loss", width=None,
                  fit_intercept=True, decrement_tol=1e-12, gradient_tol=1e-12)
    W, b, Z = np.zeros((4, 2)), np.zeros(2), np.zeros((80, 2))
    first, _ = numba_backend.newton_small(X, T, s, W, b, Z, max_iter=50, **common)
    again, converged = numba_backend.newton_small(X, T, s, W, b, Z, max_iter=50, **common)
    assert (first >= 3).all() and converged.all()
    assert (again <= 1).all()  # at the optimum already
    capped, capped_ok = numba_backend.newton_small(
        X, T, s, np.zeros((4, 2)), np.zeros(2), np.zeros((80, 2)), max_iter=1, **common)
    assert (capped == 1).all() and not capped_ok.any()


def test_newton_small_survives_a_singular_hessian():
    # Unpenalised intercept and every row far outside the margin: the bordered Hessian
    # is singular at the start (the kernel damps it) and the fit must still finish.
    X = np.vstack([np.full((10, 2), 5.0), np.full((10, 2), -5.0)])
    T = np.r_[np.ones(10), -np.ones(10)][:, None]
    W, b = np.array([[1.0], [1.0]]), np.zeros(1)
    Z = X @ W + b
    iters, converged = numba_backend.newton_small(
        X, T, np.ones(20), W, b, Z, C=1.0, l2=1.0, rho=0.0, loss="squared_hinge",
        width=None, fit_intercept=True, decrement_tol=1e-12, gradient_tol=1e-12,
        max_iter=50)
    assert converged.all() and np.all(np.isfinite(W)) and np.isfinite(b).all()
    # By symmetry b = 0 and w1 = w2 = u / 2, where u minimises
    # u^2 / 4 + 20 (1 - 5 u)^2: u = 200 / 1000.5.
    np.testing.assert_allclose(W.ravel(), [100 / 1000.5] * 2, rtol=1e-10)
    assert abs(b[0]) < 1e-10


def test_newton_small_refuses_an_unsmoothed_hinge():
    X, T, s = _problem(10, 2, 1, seed=0)
    with pytest.raises(ValueError, match="width"):
        numba_backend.newton_small(X, T, s, np.zeros((2, 1)), np.zeros(1),
                                   np.zeros((10, 1)), C=1.0, l2=1.0, rho=1.0,
                                   loss="hinge", width=None, fit_intercept=True,
                                   decrement_tol=1e-8, gradient_tol=1e-8, max_iter=10)


# ------------------------------------------------------------ where solver="auto" uses it

@pytest.mark.parametrize("shape, n_outputs, expected", [
    ((426, 30), 1, "newton"),  # breast cancer: the compiled loop
    ((150, 4), 3, "newton"),  # iris, one-vs-rest
    ((20000, 10), 1, "lbfgs"),  # too many rows for the compiled loop
    ((60000, 200), 1, "lbfgs"),
    ((1347, 64), 10, "lbfgs"),  # digits one-vs-rest
])
def test_the_log_loss_runs_newton_only_where_it_runs_compiled(shape, n_outputs, expected):
    from sksvmnet._solvers import table

    X = np.zeros(shape)
    head = "binary" if n_outputs == 1 else "ovr"
    config = dict(head=head, penalty="l2", dual=False, network=False, n_outputs=n_outputs)
    assert table.choose(X, loss="log_loss", **config) == expected
    assert table.choose(X, loss="squared_hinge", **config) == "newton"  # whatever the size


@pytest.mark.parametrize("Estimator, params", [
    ("SVMNetClassifier", {}),
    ("SVMNetClassifier", {"loss": "hinge"}),
    ("SVMNetClassifier", {"fit_intercept": False}),
    ("LogisticNetClassifier", {"multi_class": "ovr"}),
    ("LogisticNetClassifier", {"class_weight": "balanced", "C": 0.1}),
])
@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_the_compiled_loop_and_the_python_loop_give_one_model(monkeypatch, Estimator,
                                                               params, dataset):
    import sklearn.datasets
    from sklearn.preprocessing import StandardScaler

    import sksvmnet
    from sksvmnet._solvers import _curvature

    X, y = getattr(sklearn.datasets, f"load_{dataset}")(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    solver = {"SVMNetClassifier": "newton", "LogisticNetClassifier": "newton-cholesky"}
    make = getattr(sksvmnet, Estimator)
    compiled = make(solver=solver[Estimator], tol=1e-8, **params).fit(X, y)
    calls = []
    monkeypatch.setattr(numba_backend, "newton_small",
                        lambda *a, **k: calls.append(1) or pytest.fail("compiled loop ran"))
    monkeypatch.setattr(_curvature, "SMALL_NEWTON_WORK", 0)
    python = make(solver=solver[Estimator], tol=1e-8, **params).fit(X, y)
    assert not calls
    np.testing.assert_allclose(compiled.coef_, python.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(compiled.intercept_, python.intercept_, rtol=1e-6,
                               atol=1e-8)
