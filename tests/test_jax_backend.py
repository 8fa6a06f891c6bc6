"""The JAX backend: against the numpy reference and numba, compilation reuse, scoped
float64, isolation.

Under ``backend="jax"`` every pass over the data is a JAX program on the default device:
the heads and objectives (``head_loss``, ``linear_value_grad``), the products and
Hessians of Newton's method and subspace descent (``outputs``, ``transposed_product``,
``weighted_gram``, ``head_along``) and the networks' ``epoch``. The backend has no
sequential kernels (dual and L1 coordinate descent): the solver table trains those
configurations by smoothed L-BFGS and accelerated proximal gradient instead. The kernels
are checked against the numpy reference, the fits against the numba backend's different
algorithms (dcd, cd) and against scipy's L-BFGS-B on the reference objective.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from sksvmnet import LogisticNetClassifier, SVMNetClassifier, _losses
from sksvmnet.backends import get_backend

jax = pytest.importorskip("jax", reason="the JAX backend needs the optional jax extra")
jax_backend = get_backend("jax")

LOSS_HEADS = [
    (loss, head)
    for loss in ("hinge", "squared_hinge", "log_loss")
    for head in ("binary", "ovr", "crammer_singer", "weston_watkins")
] + [("log_loss", "multinomial")]
#: Kernels against the float64 reference (measured: 4e-16 and 2e-7 at most).
KERNEL_RTOL = {np.float64: 1e-10, np.float32: 1e-5}
#: Loss curves of networks trained by the two backends, rounding compounded over epochs.
RTOL = {np.float64: 1e-6, np.float32: 1e-4}


def _problem(head, dtype, sparse, n=60, d=7, seed=0):
    rng = np.random.default_rng(seed)
    K = 1 if head == "binary" else 4
    X = rng.normal(size=(n, d)).astype(dtype)
    if sparse:
        X[rng.random(X.shape) < 0.6] = 0.0
        X = sp.csr_matrix(X)
    y = rng.integers(0, 2 if K == 1 else K, n)
    s = rng.uniform(0.5, 2.0, n)
    W = rng.normal(size=(d, K))
    b = rng.normal(size=K)
    return X, y, s, W, b


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_head_loss_matches_reference(loss, head, dtype, ties):
    # "ties": outputs from four values, so that rivals tie (the Crammer-Singer subgradient
    # is shared among them, which autodiff of max does not do by itself) and margins are
    # 0. No margin is 1, the hinge's kink (test_hinge_subgradient_at_the_kink_...).
    rng = np.random.default_rng(0)
    K = 1 if head == "binary" else 4
    n = 60  # padded to 64 rows of zero weight
    if ties:
        F = rng.choice([-0.4, 0.0, 0.3, 0.7], size=(n, K))
    else:
        F = 1.5 * rng.standard_normal((n, K))
    F = F.astype(dtype)
    y = rng.integers(0, max(K, 2), n)
    s = rng.uniform(0.5, 2.0, n)
    s[3] = 0.0
    value, G = jax_backend.head_loss(F, y, s, loss, head)
    expected_value, expected_G = _losses.head_loss(F, y, s.astype(dtype), loss, head)
    rtol = KERNEL_RTOL[dtype]
    assert G.shape == F.shape
    assert value == pytest.approx(expected_value, rel=rtol)
    np.testing.assert_allclose(G, expected_G, rtol=rtol, atol=rtol * np.abs(expected_G).max())
    assert np.all(G[3] == 0.0)


def _reference_objective(W, b, X, y, s, *, C, loss, head, intercept_penalty,
                         fit_intercept=True, l2=1.0):
    """``(J, dJ/dW, dJ/db)`` by the numpy reference, with linear_value_grad's options."""
    X = X.toarray() if sp.issparse(X) else X
    b = b if fit_intercept else np.zeros_like(b)
    value, (gW,), (gb,) = _losses.objective(
        [W], [b], X.astype(np.float64), y, s, C=C, loss=loss, head=head,
        intercept_penalty=intercept_penalty if fit_intercept else 0.0)
    if l2 == 0.0:
        value, gW = value - 0.5 * np.sum(W * W), gW - W
    return value, gW, gb if fit_intercept else np.zeros_like(b)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_linear_value_grad_matches_reference(loss, head, dtype, sparse):
    X, y, s, W, b = _problem(head, dtype, sparse)
    # Representable in the dtype, so that both sides see the same parameters.
    W, b = W.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)
    kw = dict(C=0.7, loss=loss, head=head, intercept_penalty=0.25)
    value, gW, gb = jax_backend.linear_value_grad(W, b, X, y, s, fit_intercept=True, **kw)
    expected = _reference_objective(W, b, X, y, s.astype(dtype), **kw)
    rtol = KERNEL_RTOL[dtype]
    assert value == pytest.approx(expected[0], rel=rtol)
    scale = np.abs(expected[1]).max()
    np.testing.assert_allclose(gW, expected[1], rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(gb, expected[2], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_linear_value_grad_without_intercept_or_penalty(loss, head, sparse):
    # fit_intercept=False (b ignored, its gradient zero) and l2=0 (C=None): traced apart.
    X, y, s, W, b = _problem(head, np.float64, sparse)
    kw = dict(C=0.7, loss=loss, head=head, intercept_penalty=0.25, fit_intercept=False,
              l2=0.0)
    value, gW, gb = jax_backend.linear_value_grad(W, b, X, y, s, **kw)
    expected = _reference_objective(W, b, X, y, s, **kw)
    rtol = KERNEL_RTOL[np.float64]
    assert value == pytest.approx(expected[0], rel=rtol)
    np.testing.assert_allclose(gW, expected[1], rtol=rtol,
                               atol=rtol * np.abs(expected[1]).max())
    np.testing.assert_array_equal(gb, 0.0)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_and_weighted_gram_match_numpy(dtype, sparse):
    # Newton's method's passes on the device, against numpy on the same numbers.
    X, _, _, W, _ = _problem("ovr", dtype, sparse, n=70)
    A = X.toarray() if sparse else X
    A = A.astype(np.float64)
    rng = np.random.default_rng(1)
    G = rng.normal(size=(70, 4))
    rows = np.sort(rng.choice(70, 30, replace=False))
    weights = rng.uniform(0.1, 2.0, 30)
    rtol = KERNEL_RTOL[dtype]
    W32 = W.astype(dtype).astype(np.float64)  # (the product runs in X's dtype)
    G32 = G.astype(dtype).astype(np.float64)
    np.testing.assert_allclose(jax_backend.outputs(X, W), A @ W32, rtol=rtol,
                               atol=rtol * np.abs(A @ W32).max())
    np.testing.assert_allclose(jax_backend.outputs(X, W[:, :1]), A @ W32[:, :1],
                               rtol=rtol, atol=rtol * np.abs(A @ W32).max())
    np.testing.assert_allclose(jax_backend.transposed_product(X, G), A.T @ G32, rtol=rtol,
                               atol=rtol * np.abs(A.T @ G32).max())
    H, v, total = jax_backend.weighted_gram(X, rows, weights)
    w32 = weights.astype(dtype).astype(np.float64)
    expected_H = A[rows].T @ (w32[:, None] * A[rows])
    np.testing.assert_allclose(H, expected_H, rtol=rtol,
                               atol=rtol * np.abs(expected_H).max())
    np.testing.assert_allclose(v, A[rows].T @ w32, rtol=rtol,
                               atol=rtol * np.abs(A[rows].T @ w32).max())
    assert total == pytest.approx(weights.sum())


def _curvature_reference(F, y, s, loss, head):
    """The head's Hessian with respect to F, row by row (K x K), by the reference."""
    n, K = F.shape
    D = np.zeros((n, K, K))
    if head == "multinomial":
        P = np.exp(F - F.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        D = s[:, None, None] * (P[:, :, None] * np.eye(K) - P[:, :, None] * P[:, None, :])
        return D
    T = 2.0 * y[:, None] - 1.0 if head == "binary" else np.where(
        y[:, None] == np.arange(K), 1.0, -1.0)
    curvature = s[:, None] * _losses.MARGIN_CURVATURES[loss](T * F)
    D[:, np.arange(K), np.arange(K)] = curvature
    return D


@pytest.mark.parametrize("loss, head", [("log_loss", "binary"), ("log_loss", "ovr"),
                                        ("squared_hinge", "binary"),
                                        ("squared_hinge", "ovr"),
                                        ("log_loss", "multinomial")])
def test_head_along_matches_reference(loss, head):
    # Subspace descent's pass on the device: the head at F = Z + alpha U, its gradient,
    # and its first and second derivatives along the directions U, against the numpy
    # reference's loss, gradient and curvature.
    rng = np.random.default_rng(3)
    n, K, r = 50, 1 if head == "binary" else 4, 3
    Z = rng.normal(size=(n, K))
    U = rng.normal(size=(r, n, K))
    alpha = rng.normal(size=r) * 0.3
    y = rng.integers(0, 2 if K == 1 else K, n)
    s = rng.uniform(0.5, 2.0, n)
    F = Z + np.tensordot(alpha, U, 1)
    expected_value, expected_G = _losses.head_loss(F, y, s, loss, head)
    D = _curvature_reference(F, y, s, loss, head)
    G = np.empty_like(Z)
    value, slopes, H = jax_backend.head_along(Z, U, alpha, y, s, loss, head, G)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(G, expected_G, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(slopes, np.einsum("rnk,nk->r", U, expected_G), rtol=1e-10)
    np.testing.assert_allclose(H, np.einsum("ank,nkl,bnl->ab", U, D, U), rtol=1e-10)
    # alpha=None: the derivatives at Z, G left as it was.
    G_before = G.copy()
    none_value, slopes0, _ = jax_backend.head_along(Z, U, None, y, s, loss, head, G)
    assert none_value is None
    np.testing.assert_array_equal(G, G_before)
    np.testing.assert_allclose(
        slopes0, np.einsum("rnk,nk->r", U, _losses.head_loss(Z, y, s, loss, head)[1]),
        rtol=1e-10)


def _smoothed_reference(F, y, s, loss, head, width):
    """The smoothed data term by numpy: the hinge's kink rounded over ``width``
    (``_losses.smoothed_hinge``), the Crammer-Singer rivals' max a soft maximum."""
    from scipy.special import logsumexp

    def margin(z):
        if loss == "hinge":
            return _losses.smoothed_hinge(z, width)[0]
        return _losses.MARGIN_LOSSES[loss](z)[0]

    rows = np.arange(len(y))
    if head == "binary":
        values = margin((2.0 * y - 1.0) * F[:, 0])
    elif head == "ovr":
        values = margin(np.where(y[:, None] == np.arange(F.shape[1]), 1.0, -1.0) * F).sum(1)
    elif head == "weston_watkins":
        values = margin(F[rows, y][:, None] - F)
        values[rows, y] = 0.0
        values = values.sum(axis=1)
    else:
        others = F.copy()
        others[rows, y] = -np.inf
        values = margin(F[rows, y] - width * logsumexp(others / width, axis=1))
    return float(s @ values)


@pytest.mark.parametrize("name", ["numba", "jax"])
@pytest.mark.parametrize("loss, head", [(loss, head) for loss in ("hinge", "squared_hinge")
                                        for head in ("binary", "ovr", "crammer_singer",
                                                     "weston_watkins")
                                        if loss == "hinge" or head == "crammer_singer"])
def test_smoothed_head_matches_reference(name, loss, head):
    # What smoothed L-BFGS minimises, on both backends: the value against the numpy
    # reference, the gradient against central differences of it.
    backend = get_backend(name)
    rng = np.random.default_rng(4)
    K = 1 if head == "binary" else 4
    F = rng.normal(size=(40, K))
    y = rng.integers(0, 2 if K == 1 else K, 40)
    s = rng.uniform(0.5, 2.0, 40)
    width = 0.3
    value, G = backend.head_loss(F, y, s, loss, head, width)
    expected = _smoothed_reference(F, y, s, loss, head, width)
    assert value == pytest.approx(expected, rel=1e-12)
    numeric = np.zeros_like(F)
    h = 1e-6
    for index in np.ndindex(F.shape):
        step = np.zeros_like(F)
        step[index] = h
        numeric[index] = (_smoothed_reference(F + step, y, s, loss, head, width)
                          - _smoothed_reference(F - step, y, s, loss, head, width))
    numeric /= 2 * h
    np.testing.assert_allclose(G, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", ["numba", "jax"])
@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("head", ["binary", "ovr", "crammer_singer", "weston_watkins"])
def test_duality_gap_bounds_the_distance_to_the_optimum(loss, head, name):
    # Smoothed L-BFGS stops on this gap, so it must bound P - min P everywhere: at the
    # optimum and away from it, for any width: D = P - gap at most min P, itself at most
    # the objective of a tight fit by another algorithm on numba (Newton's method or
    # dual coordinate descent, at tol=1e-10).
    from sksvmnet._solvers._common import linear_start
    from sksvmnet._solvers.quasi_newton import _duality_gap

    X, y = _configuration_data(2 if head == "binary" else 3, "dense")
    y = y if head != "binary" else (y > 0).astype(int)
    K = 1 if head == "binary" else 3
    s = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    best = SVMNetClassifier(loss=loss, multi_class="ovr" if head == "binary" else head,
                            backend="numba", tol=1e-10, max_iter=100_000).fit(
        X, y, sample_weight=s)
    optimum = best.loss_curve_[-1] * float(np.sum(s))  # (C = 1)
    l2, C, scale, _, _ = linear_start(X, s, C=1.0, n_outputs=K, fit_intercept=True,
                                      intercept_penalty=1.0)
    problem = dict(backend=get_backend(name), X=X, y=y, s=s, C=C, l2=l2, scale=scale,
                   loss=loss, head=head, n_outputs=K, fit_intercept=True,
                   intercept_penalty=1.0, tol=1e-8)
    theta = np.concatenate([best.coef_.T.ravel(), best.intercept_])
    rng = np.random.default_rng(1)
    for spread in (0.0, 1e-3, 0.1, 1.0):
        for width in (1.0, 1e-2, 1e-4):
            point = theta + spread * rng.normal(size=theta.shape)
            value, gap = _duality_gap(point, width, problem)
            assert value - gap <= optimum * (1 + 1e-9)  # D is a lower bound
            assert gap >= -1e-12 * value
    # Outside the SVM's penalty (no penalty on the weights) there is no certificate.
    assert _duality_gap(theta, 1e-2, dict(problem, l2=0.0))[1] == np.inf
    # (That it closes near the smoothed optimum, so that fits end certified, the
    # every-configuration test shows: none of its n > d fits warns.)


def _classification(n_classes, layout):
    """Data for the fitted-model tests: "dense", "sparse" (the same shape as CSR, most
    entries zero) or "wide" (CSR with more features than rows)."""
    if layout == "wide":
        X, y = make_classification(60, 100, n_informative=10, n_classes=n_classes,
                                   random_state=0)
        return sp.csr_matrix(np.where(np.abs(X) < 1.0, 0.0, X)), y
    X, y = make_classification(200, 10, n_informative=6, n_classes=n_classes,
                               random_state=0)
    return (sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X)) if layout == "sparse"
            else X), y


#: Linear models that the JAX backend fits with its own arithmetic: L-BFGS on the jitted
#: linear_value_grad (preconditioned where X has few features, plain on "wide" X). Each
#: with the model it fits (loss, head, intercept penalty) and how close its fits come to
#: the optimum, relative to the largest weight (measured: 1e-8; 2e-6 for plain L-BFGS on
#: the wide, ill-conditioned problem).
LBFGS_FITS = [
    pytest.param(SVMNetClassifier, dict(solver="lbfgs", dual=False), 2, "dense",
                 "squared_hinge", "binary", 1.0, 1e-6, id="svm-binary-dense"),
    pytest.param(SVMNetClassifier, dict(solver="lbfgs", dual=False), 3, "sparse",
                 "squared_hinge", "ovr", 1.0, 1e-6, id="svm-ovr-sparse"),
    pytest.param(SVMNetClassifier, dict(multi_class="weston_watkins", dual=False), 3,
                 "dense", "squared_hinge", "weston_watkins", 1.0, 1e-6, id="svm-ww-dense"),
    pytest.param(SVMNetClassifier, dict(multi_class="weston_watkins", dual=False), 3,
                 "wide", "squared_hinge", "weston_watkins", 1.0, 2e-5, id="svm-ww-wide"),
    pytest.param(LogisticNetClassifier, dict(solver="lbfgs"), 2, "dense", "log_loss",
                 "binary", 0.0, 1e-6, id="logistic-binary-dense"),
    pytest.param(LogisticNetClassifier, dict(solver="lbfgs"), 3, "sparse", "log_loss",
                 "multinomial", 0.0, 1e-6, id="logistic-multinomial-sparse"),
    pytest.param(LogisticNetClassifier, dict(solver="lbfgs", multi_class="ovr"), 3,
                 "dense", "log_loss", "ovr", 0.0, 1e-6, id="logistic-ovr-dense"),
]


def _reference_minimum(W, b, X, y, s, **model):
    """``(W, b)`` moved to the minimum of the reference's objective by scipy's L-BFGS-B,
    started at ``(W, b)``: it stays put only if that is the minimum already."""
    d, K = W.shape

    def fun(theta):
        value, gW, gb = _reference_objective(theta[:d * K].reshape(d, K), theta[d * K:],
                                             X, y, s, **model)
        return value, np.concatenate([gW.ravel(), gb])

    result = scipy.optimize.minimize(
        fun, np.concatenate([W.ravel(), b]), jac=True, method="L-BFGS-B",
        options={"maxiter": 10_000, "gtol": 1e-14, "ftol": 0.0})
    return result.x[:d * K].reshape(d, K), result.x[d * K:]


@pytest.mark.parametrize(
    "Estimator, params, n_classes, layout, loss, head, intercept_penalty, rtol",
    LBFGS_FITS)
def test_fitted_linear_model_is_the_reference_optimum_and_numbas(
        Estimator, params, n_classes, layout, loss, head, intercept_penalty, rtol):
    X, y = _classification(n_classes, layout)
    s = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    kw = dict(tol=1e-10, max_iter=5000, **params)
    a = Estimator(backend="numba", **kw).fit(X, y, sample_weight=s)
    b = Estimator(backend="jax", **kw).fit(X, y, sample_weight=s)
    assert (b.backend_, b.solver_, a.solver_) == ("jax", "lbfgs", "lbfgs")
    assert b.device_ != "host"  # its arithmetic, not the host kernels
    # The oracle: the minimum of the reference's objective (C = 1), from the JAX fit.
    # (Scaling the JAX log loss by 1 + 1e-4, as C by as much, moves the fit by 3e-6.)
    W, intercept = _reference_minimum(b.coef_.T, b.intercept_, X, y, s, C=1.0, loss=loss,
                                      head=head, intercept_penalty=intercept_penalty)
    atol = rtol * np.abs(W).max()
    np.testing.assert_allclose(b.coef_, W.T, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b.intercept_, intercept, rtol=rtol, atol=atol)
    # numba's fit by the same solver, on the host: the same model.
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b.intercept_, a.intercept_, rtol=rtol, atol=atol)


@pytest.mark.parametrize("estimator, solver", [
    (SVMNetClassifier(dual=True), "dcd"),
    (SVMNetClassifier(solver="dcd"), "dcd"),
    (SVMNetClassifier(penalty="l1", dual=False, solver="cd"), "cd"),
], ids=["dual=True", "dcd", "cd"])
def test_sequential_solvers_are_refused_by_name(estimator, solver):
    # The JAX backend has no sequential kernels: asking for one explicitly is an error
    # that names the backend, never a silent switch to another algorithm.
    X, y = _classification(3, "dense")
    clf = clone(estimator).set_params(backend="jax")
    with pytest.raises(ValueError, match="'jax' backend") as error:
        clf.fit(X, y)
    assert "backend='numba'" in str(error.value)
    assert not hasattr(clf, "coef_")


#: Every configuration of the linear models: (estimator arguments, classes).
CONFIGURATIONS = [
    *[(dict(loss=loss, multi_class=head), 3)
      for loss in ("squared_hinge", "hinge")
      for head in ("ovr", "crammer_singer", "weston_watkins")],
    (dict(loss="squared_hinge"), 2),
    (dict(loss="hinge"), 2),
    (dict(penalty="l1", dual=False), 2),
    (dict(penalty="l1", dual=False), 3),
    (dict(logistic=True), 2),
    (dict(logistic=True), 3),
    (dict(logistic=True, multi_class="ovr"), 3),
]


def _estimator(params, backend, tol):
    params = dict(params)
    Estimator = LogisticNetClassifier if params.pop("logistic", False) else SVMNetClassifier
    return Estimator(backend=backend, tol=tol, max_iter=20_000, **params)


def _configuration_data(n_classes, layout):
    """Dense, sparse (more rows than features) or wide (CSR, fewer rows than features,
    separable) data."""
    if layout == "wide":
        return _classification(n_classes, layout)
    X, y = make_classification(200, 10, n_informative=6, n_classes=n_classes,
                               random_state=1)
    return (sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X)) if layout == "sparse"
            else X), y


def _fitted_objective(params, coef, intercept, X, y):
    """The objective (C = 1, unit weights) of fitted coefficients, by the numpy
    reference: liblinear's L1 norm (the intercept a weight of value 1) or the L2 penalty
    (the SVM's intercept penalised, the logistic one not)."""
    n_classes = len(np.unique(y))
    logistic = params.get("logistic", False)
    if n_classes == 2:
        head = "binary"
    elif logistic:
        head = "ovr" if params.get("multi_class") == "ovr" else "multinomial"
    else:
        head = params.get("multi_class", "ovr")
    loss = "log_loss" if logistic else params.get("loss", "squared_hinge")
    s = np.ones(len(y))
    if params.get("penalty") == "l1":
        F = (X @ coef.T) + intercept
        data, _ = _losses.head_loss(np.asarray(F), y, s, loss, head)
        return data + np.abs(coef).sum() + np.abs(intercept).sum()
    return _losses.objective([coef.T], [intercept], X, y, s, C=1.0, loss=loss, head=head,
                             intercept_penalty=0.0 if logistic else 1.0)[0]


def _smoothed_on_separable(params, layout):
    """Whether L-BFGS trains ``params`` through smoothing on separable data, where its
    gap certificate falls short (see test_uncertified_smoothed_fits_say_so)."""
    return layout == "wide" and (params.get("loss") == "hinge"
                                 or params.get("multi_class") == "crammer_singer")


WITHOUT_NUMBA = """
    import sys, json, pickle, warnings
    sys.modules["numba"] = None  # any `import numba` now raises ImportError
    from sklearn.exceptions import ConvergenceWarning
    cases = pickle.load(open(CASES, "rb"))
    rows = []
    for clf, X, y in cases:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X, y)
        rows.append([clf.solver_, clf.device_, clf.loss_curve_[-1], len(caught),
                     clf.coef_.tolist(), clf.intercept_.tolist()])
    try:
        import numba
    except ImportError:
        rows.append("numba blocked")
    print(json.dumps(rows))
"""


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_configuration_trains_on_jax_without_numba(tmp_path):
    # In a process where numba cannot be imported, every configuration trains with
    # backend="jax" on its device, by a solver of the table that the backend has, to the
    # numba backend's objective (its own algorithm: dual or L1 coordinate descent, or
    # Newton's compiled loop, at tol=1e-8) or below, within 1e-6 relative, in float64.
    # At tol=1e-6 the smoothed fits certify their gap within 1e-6 of the objective, so
    # reaching it is their promise, not luck; except on separable data, where they end
    # uncertified and say so (test_uncertified_smoothed_fits_say_so) but still reach it.
    import json
    import pickle

    cases, expected, layouts = [], [], []
    for params, n_classes in CONFIGURATIONS:
        for layout in ("dense", "sparse", "wide"):
            X, y = _configuration_data(n_classes, layout)
            cases.append((_estimator(params, "jax", 1e-6), X, y))
            expected.append(_estimator(params, "numba", 1e-8).fit(X, y))
            layouts.append((params, layout))
    path = tmp_path / "cases.pkl"
    path.write_bytes(pickle.dumps(cases))
    rows = json.loads(_run(WITHOUT_NUMBA.replace("CASES", repr(str(path)))))
    assert rows.pop() == "numba blocked"
    for (params, layout), (solver, device, reported, warned, coef, intercept), numba_fit, (
            _, X, y) in zip(layouts, rows, expected, cases):
        case = (params, layout, solver)
        assert solver not in ("dcd", "dcd_log", "cd"), case
        assert device.startswith("jax:"), case
        assert warned == _smoothed_on_separable(params, layout), case
        # The objectives by the numpy reference, from the fitted coefficients (not what
        # the fits report, which is checked against it too).
        objective = _fitted_objective(params, np.array(coef), np.array(intercept), X, y)
        expected_objective = _fitted_objective(params, numba_fit.coef_,
                                               numba_fit.intercept_, X, y)
        assert objective <= expected_objective * (1 + 1e-6), case
        assert reported * len(y) == pytest.approx(objective, rel=1e-9), case


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_never_reuses_the_device_copy_of_changed_data():
    # The device copy of X is found by the array's identity within a fit only: refitting
    # on an array changed in place, or feeding partial_fit one buffer refilled between
    # calls, trains on the new numbers.
    X, y = make_classification(200, 10, n_informative=6, random_state=0)
    other = make_classification(200, 10, n_informative=6, random_state=1)[0]
    buffer = X.copy()
    clf = SVMNetClassifier(backend="jax", tol=1e-10).fit(buffer, y)
    buffer[...] = other
    clf.fit(buffer, y)
    fresh = SVMNetClassifier(backend="jax", tol=1e-10).fit(other.copy(), y)
    np.testing.assert_allclose(clf.coef_, fresh.coef_, rtol=1e-9, atol=1e-12)
    net = dict(hidden_layer_sizes=(4,), backend="jax", random_state=0)
    a, b = SVMNetClassifier(**net), SVMNetClassifier(**net)
    buffer[...] = X
    for batch in (X, other):
        buffer[...] = batch
        a.partial_fit(buffer, y, classes=[0, 1])
        b.partial_fit(batch.copy(), y, classes=[0, 1])
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("params", [dict(loss="hinge"),
                                    dict(multi_class="crammer_singer", loss="hinge")],
                         ids=["hinge", "cs-hinge"])
def test_uncertified_smoothed_fits_say_so(params):
    # On separable data (fewer rows than features) every support vector sits on the
    # margin, inside the smoothing band: the certified gap shrinks only in proportion to
    # the width, and L-BFGS stalls at narrow ones before the gap reaches tol. The fit
    # must then warn rather than claim convergence; it is tested above to reach numba's
    # objective all the same.
    from sklearn.exceptions import ConvergenceWarning

    X, y = _classification(3, "wide")
    with pytest.warns(ConvergenceWarning, match="'lbfgs'"):
        SVMNetClassifier(backend="jax", tol=1e-6, **params).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("Estimator, params", [
    (SVMNetClassifier, dict(solver="adam")),
    (SVMNetClassifier, dict(solver="sgd", multi_class="crammer_singer")),
    (LogisticNetClassifier, dict(solver="adam", activation="tanh")),
])
def test_network_predictions_match_numba(Estimator, params, sparse, dtype):
    X, y = make_classification(600, 12, n_informative=8, n_classes=3, random_state=1)
    X = X.astype(dtype)
    X_train, X_test, y_train = X[:400], X[400:], y[:400]
    X_train = sp.csr_matrix(X_train) if sparse else X_train
    kw = dict(hidden_layer_sizes=(32, 16), max_iter=5, random_state=0,
              learning_rate_init=0.01, dtype=dtype, **params)
    a = Estimator(backend="numba", **kw).fit(X_train, y_train)
    b = Estimator(backend="jax", **kw).fit(X_train, y_train)
    assert b.device_ != "host"
    assert np.mean(a.predict(X_test) == b.predict(X_test)) >= 0.99
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=RTOL[dtype])


@pytest.fixture
def compilations():
    """The XLA compilations of the test, as JAX reports them (every program counts:
    products, padding, casts, not only this package's jitted functions)."""
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield events
    jax.monitoring.unregister_event_duration_listener(listener)


GRID_ESTIMATORS = [
    pytest.param(SVMNetClassifier(), "dense", "newton", id="svm-newton"),
    pytest.param(SVMNetClassifier(), "sparse", "newton", id="svm-newton-sparse"),
    pytest.param(SVMNetClassifier(loss="hinge", multi_class="weston_watkins"), "dense",
                 "lbfgs", id="svm-smoothed"),
    pytest.param(SVMNetClassifier(penalty="l1", dual=False), "sparse", "proximal",
                 id="svm-proximal"),
    pytest.param(SVMNetClassifier(), "wide", "subspace", id="svm-subspace"),
    pytest.param(LogisticNetClassifier(), "dense", "lbfgs", id="logistic-lbfgs"),
    pytest.param(LogisticNetClassifier(), "sparse", "lbfgs", id="logistic-lbfgs-sparse"),
    pytest.param(SVMNetClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
                 "dense", "adam", id="network"),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator, layout, solver", GRID_ESTIMATORS)
def test_grid_search_after_a_warm_up_fit_compiles_at_most_twice(estimator, layout, solver,
                                                                 compilations):
    # The folds (four fifths of the rows) and the refit (all of them) reuse the padded
    # shapes of the fit before, and every row subset, output count and C is an argument,
    # not a shape: once warm, a 5-fold search over 4 values of C compiles at most twice.
    if layout == "wide":
        X = sp.random(1003, 1500, density=0.01, format="csr", random_state=0)
        y = np.arange(1003) % 3
    else:
        X, y = make_classification(1003, 10, n_informative=6, n_classes=3,
                                   random_state=0)
        X = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X)) if layout == "sparse" else X
    clf = clone(estimator).set_params(backend="jax")
    clf.fit(X, y)  # the warm-up
    compilations.clear()
    search = GridSearchCV(clf, {"C": [0.1, 1.0, 10.0, 100.0]}, cv=5).fit(X, y)
    assert search.best_estimator_.solver_ == solver
    assert search.best_estimator_.device_.startswith("jax:")
    assert len(compilations) <= 2


def test_float64_trains_in_float64_and_leaves_jax_config_unchanged():
    X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
    assert not jax.config.jax_enable_x64
    kw = dict(solver="lbfgs", tol=1e-10, max_iter=1000)
    clf = LogisticNetClassifier(backend="jax", **kw).fit(X, y)
    assert clf.device_ != "host"
    assert not jax.config.jax_enable_x64
    assert jax.numpy.zeros(1).dtype == np.float32
    # The arithmetic was float64: the same fit in float32 ends 7e-4 (relative) away from
    # numba's float64 one, the float64 fit 1e-12.
    reference = LogisticNetClassifier(backend="numba", **kw).fit(X, y)
    assert clf.coef_.dtype == np.float64
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(clf.coef_, reference.coef_, rtol=1e-9, atol=1e-9 * scale)


def _run(code, env=None):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_jax_model_predicts_where_jax_cannot_import(tmp_path):
    X, y = make_classification(100, 5, random_state=0)
    clf = LogisticNetClassifier(hidden_layer_sizes=(4,), backend="jax", max_iter=50,
                                random_state=0, tol=1e-2).fit(X, y)
    assert clf.device_ != "host"  # trained by the jitted epoch
    path = tmp_path / "model.pkl"
    import pickle
    path.write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X)
    expected = clf.predict_proba(X)
    out = _run(f"""
        import sys
        sys.modules["jax"] = None  # any `import jax` now raises ImportError
        import pickle, numpy as np
        clf = pickle.loads(open({str(path)!r}, "rb").read())
        np.save({str(tmp_path / 'p.npy')!r}, clf.predict_proba(np.load({str(tmp_path / 'X.npy')!r})))
        try:
            import jax
        except ImportError:
            print("jax blocked")
    """)
    assert "jax blocked" in out
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)


def test_missing_jax_is_a_clear_import_error():
    # The failed fits leave nothing half-fitted: no model on a new estimator, and on a
    # fitted one (now asked for JAX) the model it had.
    out = _run("""
        import sys
        sys.modules["jax"] = None
        import numpy as np
        from sksvmnet import SVMNetClassifier
        X = np.random.default_rng(0).normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
        fitted = SVMNetClassifier().fit(X, y)
        print(fitted.backend_)
        coef = fitted.coef_.copy()
        new = SVMNetClassifier(backend="jax")
        for clf in (new, fitted.set_params(backend="jax")):
            try:
                clf.fit(X, y)
            except ImportError as exc:
                print("ImportError:", exc)
        print(hasattr(new, "coefs_"), fitted.backend_, np.array_equal(fitted.coef_, coef))
    """)
    lines = out.splitlines()
    assert lines[0] == "numba"
    errors = [line for line in lines if line.startswith("ImportError:")]
    assert len(errors) == 2 and all("pip install sksvmnet[jax]" in e for e in errors)
    assert lines[-1] == "False numba True"


DATA_PARALLEL = """
    import numpy as np, jax
    from sklearn.datasets import make_classification
    from sksvmnet import SVMNetClassifier
    # The batches the epoch shards over the devices (none on one device).
    sharded, constrain = [], jax.lax.with_sharding_constraint
    def spy(x, sharding):
        sharded.append(len(sharding.mesh.devices.flat))
        return constrain(x, sharding)
    jax.lax.with_sharding_constraint = spy
    X, y = make_classification(800, 12, n_informative=8, n_classes=3, random_state=0)
    # (in float64, where the devices' other order of summing stays below 1e-9)
    clf = SVMNetClassifier(hidden_layer_sizes=(32,), backend="jax", max_iter=3,
                           random_state=0, tol=0.0, dtype=np.float64)
    import warnings; warnings.simplefilter("ignore")
    clf.fit(X, y)
    print(len(jax.local_devices()), sorted(set(sharded)))
    np.save(OUT, clf.decision_function(X))
"""


def _on_host_devices(script, tmp_path, last_line):
    """Run ``script`` with 1 and then 2 forced host devices: ``{count: saved array}``,
    after checking that its last printed line is ``last_line(count)``."""
    results = {}
    for count in (1, 2):
        env = dict(os.environ)
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
        out_file = tmp_path / f"out{count}.npy"
        out = _run(script.replace("OUT", repr(str(out_file))), env=env)
        assert out.strip().splitlines()[-1] == last_line(count)
        results[count] = np.load(out_file)
    return results


def test_data_parallel_over_two_host_devices_equals_one(tmp_path):
    results = _on_host_devices(DATA_PARALLEL, tmp_path,
                               lambda count: f"{count} {[2] if count == 2 else []}")
    np.testing.assert_allclose(results[2], results[1], rtol=1e-9, atol=1e-9)


LINEAR_PARALLEL = """
    import numpy as np, jax, warnings
    from sklearn.datasets import make_classification
    from sksvmnet import LogisticNetClassifier, SVMNetClassifier
    # The arrays the backend splits over the devices (sharded rows), by device count.
    placed, put = [], jax.device_put
    def spy(x, sharding=None, **kwargs):
        if sharding is not None and hasattr(sharding, "mesh"):
            placed.append(len(sharding.mesh.devices.flat))
        return put(x, sharding, **kwargs)
    jax.device_put = spy
    warnings.simplefilter("ignore")
    X, y = make_classification(801, 12, n_informative=8, n_classes=3, random_state=0)
    fits = [SVMNetClassifier(backend="jax", tol=1e-10).fit(X, y),  # Newton's passes
            SVMNetClassifier(backend="jax", multi_class="crammer_singer").fit(X, y),
            LogisticNetClassifier(backend="jax", tol=1e-10).fit(X, y)]  # L-BFGS
    print(len(jax.local_devices()), sorted(set(placed)), [f.solver_ for f in fits])
    np.save(OUT, np.concatenate([f.decision_function(X) for f in fits], axis=1))
"""


def test_linear_models_over_two_host_devices_equal_one(tmp_path):
    # The rows of X (padded to a multiple of the devices) split over a one-axis mesh:
    # the jitted products and sums run data-parallel, and give the one-device model.
    solvers = "['newton', 'lbfgs', 'lbfgs']"
    results = _on_host_devices(
        LINEAR_PARALLEL, tmp_path,
        lambda count: f"{count} {[2] if count == 2 else []} {solvers}")
    np.testing.assert_allclose(results[2], results[1], rtol=1e-7, atol=1e-7)


def test_auto_backend_rule_on_the_cpu():
    from sksvmnet.backends import auto_backend

    assert jax.default_backend() == "cpu" or auto_backend() == "jax"
    if jax.default_backend() == "cpu":
        assert auto_backend(60_000, [70, 512, 512, 10]) == "jax"
        assert auto_backend(8_000, [784, 256, 10]) == "jax"  # wide enough, 1.6e9 an epoch
        assert auto_backend(60_000, [784, 64, 10]) == "numba"  # too narrow, however big
        assert auto_backend(60_000, [70, 128, 128, 10]) == "numba"
        assert auto_backend(1_000, [784, 256, 10]) == "numba"  # too small to repay JAX
        assert auto_backend(1_000, [20, 16, 3]) == "numba"
        assert auto_backend(10**6, [10**4, 1]) == "numba"  # the linear model: numba
    # Through the estimators: the layer sizes they pass reach the rule.
    from sksvmnet._solvers import resolve_backend
    expected = "numba" if jax.default_backend() == "cpu" else "jax"
    assert resolve_backend("auto", 60_000, [70, 512, 512, 10])[0] == "jax"
    assert resolve_backend("auto", 1_000, [20, 16, 3])[0] == expected
    X, y = make_classification(100, 5, random_state=0)
    assert SVMNetClassifier().fit(X, y).backend_ == expected
