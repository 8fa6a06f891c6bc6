"""The Crammer-Singer dual coordinate descent of the numba backend, hinge and squared hinge.

The dual, in liblinear's variables: ``W[:, m] = sum_i alpha_i^m x~_i`` with ``x~_i = [x_i,
B]``, minimise ``F(alpha) = 1/2 ||W~||^2 + sum_i sum_{m != y_i} alpha_i^m [+ sum_i
(alpha_i^{y_i})^2 / (4 cw_i)]`` subject to ``sum_m alpha_i^m = 0``, ``alpha_i^m <= 0`` for
``m != y_i`` and, for the hinge, ``alpha_i^{y_i} <= cw_i``. By weak duality ``P(W(alpha)) +
F(alpha) >= P(W(alpha)) - min P >= 0``: the tests compute that gap with numpy from the
kernel's dual variables, and compare the solution with an optimum found by scipy's SLSQP on
the primal written as a smooth constrained problem.
"""

import itertools

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from sksvmnet import _losses
from sksvmnet.backends import _numba as backend

K = 3  # classes of the small problems (digits has 10)
LOSSES = pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
INTERCEPTS = pytest.mark.parametrize("B", [0.0, 1.5], ids=["no-intercept", "intercept"])


def _problem(n=40, d=5, seed=0, layout="dense"):
    """Overlapping classes (so that many samples have slack), weights with zeros."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    X = rng.standard_normal((n, d)) + 0.8 * np.eye(K, d)[y]
    X[rng.random((n, d)) < 0.3] = 0.0
    s = rng.uniform(0.2, 3.0, n)
    s[::7] = 0.0
    return (sp.csr_matrix(X) if layout == "sparse" else X), y, s


def _layout(X, W):
    """``W`` (n_features, K) as the kernels hold it: class by class for dense data."""
    return W if sp.issparse(X) else np.ascontiguousarray(W.T)


def _fit(X, y, s, *, C, loss, B, tol, gap_tol=0.0, seed=0, max_iter=100_000, n_classes=K):
    """The kernel itself: ``(W, Wb, alpha, n_iter, converged)``, ``W`` (n_features, K)."""
    W, Wb = _layout(X, np.zeros((X.shape[1], n_classes))), np.zeros(n_classes)
    alpha = np.zeros((len(y), n_classes))
    n_iter, converged = backend.dual._dcd_crammer_singer(
        *backend.rows._as_kernel_data(X), y, C * s, backend.LOSS_CODES[loss], B, tol, gap_tol,
        max_iter, seed, W, Wb, alpha, backend.rows.PREFETCH_MIN_BYTES)
    return (W if sp.issparse(X) else W.T), Wb, alpha, n_iter, converged


def _gap(X, y, s, *, C, loss, B, alpha, W, Wb):
    """The kernel's duality gap: ``(P + F, P)``."""
    sqnorm = np.einsum("ij,ij->i", _dense(X), _dense(X)) + B * B
    return backend.dual._cs_duality_gap(
        *backend.rows._as_kernel_data(X), y, C * s, backend.LOSS_CODES[loss], B, sqnorm, alpha,
        _layout(X, W), Wb, np.arange(K, dtype=np.uint32), np.empty(K), np.empty(K))


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)


def _primal(W, Wb, X, y, s, *, C, loss, B):
    """The oracle's objective; its intercept is ``B * Wb``, penalised by ``1 / B^2``."""
    if B == 0.0:
        return _losses.objective([W], [np.zeros(K)], X, y, s, C=C, loss=loss,
                                 head="crammer_singer")[0]
    return _losses.objective([W], [B * Wb], X, y, s, C=C, loss=loss, head="crammer_singer",
                             intercept_penalty=1.0 / B ** 2)[0]


def _dual_objective(alpha, X, y, s, *, C, loss, B):
    """``F(alpha)`` and ``W~(alpha)``, after checking that ``alpha`` is feasible."""
    cw = C * s
    rows = np.arange(len(y))
    assert_allclose(alpha.sum(axis=1), 0.0, atol=1e-12 * max(1.0, np.abs(alpha).max()))
    rivals = alpha.copy()
    rivals[rows, y] = 0.0
    assert np.all(rivals <= 0.0)
    if loss == "hinge":
        assert np.all(alpha[rows, y] <= cw)
    assert_array_equal(alpha[cw == 0.0], 0.0)
    Xt = np.hstack([_dense(X), np.full((len(y), 1), B)])
    V = Xt.T @ alpha
    value = 0.5 * np.sum(V * V) - np.sum(alpha[rows, y])
    if loss == "squared_hinge":
        used = cw > 0.0
        value += np.sum(alpha[rows, y][used] ** 2 / (4.0 * cw[used]))
    return value, V[:-1], V[-1]


def _reference(X, y, s, *, C, loss, B):
    """``(W, Wb)`` minimising the primal, by SLSQP on its smooth constrained form.

    ``min 1/2 ||V||^2 + sum_i cw_i l(xi_i)`` over ``V = [W; Wb]`` and ``xi`` subject to
    ``x~_i (V_y - V_m) >= 1 - xi_i`` for every rival ``m`` (and ``xi >= 0`` for the hinge;
    the squared hinge needs no such bound: a negative slack only costs more).
    """
    used = s > 0.0
    Xt = np.hstack([_dense(X), np.full((X.shape[0], 1), B)])[used]
    y, cw = y[used], C * s[used]
    n, p = Xt.shape
    n_v = p * K
    # One constraint row per (sample, rival), as a linear map of z = [V.ravel(), xi].
    A = []
    for i in range(n):
        for m in range(K):
            if m != y[i]:
                row = np.zeros(n_v + n)
                row[np.arange(p) * K + y[i]] += Xt[i]
                row[np.arange(p) * K + m] -= Xt[i]
                row[n_v + i] = 1.0
                A.append(row)
    A = np.array(A)
    square = loss == "squared_hinge"

    def fun(z):
        V, xi = z[:n_v], z[n_v:]
        value = 0.5 * V @ V + cw @ (xi * xi if square else xi)
        return value, np.concatenate([V, cw * (2.0 * xi if square else 1.0)])

    bounds = [(None, None)] * n_v + [(None if square else 0.0, None)] * n
    result = scipy.optimize.minimize(
        fun, np.concatenate([np.zeros(n_v), np.ones(n)]), jac=True, method="SLSQP",
        bounds=bounds, constraints=[dict(type="ineq", fun=lambda z: A @ z - 1.0,
                                         jac=lambda z: A)],
        options=dict(ftol=1e-12, maxiter=2000))
    assert result.success, result.message
    V = result.x[:n_v].reshape(p, K)
    return V[:-1], V[-1]


# ------------------------------------------------------------------ the subproblem


def _brute_force(A, A_y, Bv, Cv, yq, rest):
    """The subproblem's minimiser by trying every set of classes held at their bound."""
    k = len(Bv)
    Aq = np.where(np.arange(k) == yq, A_y, A)
    best, best_value = None, np.inf
    finite = [q for q in range(k) if np.isfinite(Cv[q])]
    for n_capped in range(len(finite) + 1):
        for capped in itertools.combinations(finite, n_capped):
            free = np.ones(k, dtype=bool)
            free[list(capped)] = False
            if not free.any():
                continue
            a = np.where(free, 0.0, Cv)
            # sum_free (beta - Bv) / A = -rest - sum_capped Cv
            beta = ((-rest - a[~free].sum() + np.sum(Bv[free] / Aq[free]))
                    / np.sum(1.0 / Aq[free]))
            a[free] = (beta - Bv[free]) / Aq[free]
            if np.any(a > Cv + 1e-12):
                continue
            value = np.sum(0.5 * Aq * a * a + Bv * a)
            if value < best_value:
                best, best_value = a, value
    return best


@pytest.mark.parametrize("case", ["hinge", "hinge-true-class-out", "squared_hinge"])
def test_subproblem_matches_brute_force(case):
    rng = np.random.default_rng(1)
    n_spread = 0
    for trial in range(200):
        k = int(rng.integers(2, 7))
        A = rng.uniform(0.1, 5.0)
        c = rng.uniform(0.1, 3.0)
        Bv = rng.standard_normal(k) * rng.choice([0.1, 1.0, 10.0])
        if trial % 5 == 0:
            Bv[1] = Bv[0]  # ties among the breakpoints
        Cv = np.zeros(k)
        yq, rest = int(rng.integers(k)), 0.0
        if case == "hinge":
            A_y, Cv[yq] = A, c
        elif case == "squared_hinge":
            A_y, Cv[yq] = A + 0.5 / c, np.inf
        else:  # the true class sits at its bound c, out of the subproblem
            A_y, yq, rest = A, -1, c
        total = rest + Cv[np.isfinite(Cv)].sum()
        new, D, order = np.empty(k), np.empty(k), np.empty(k, dtype=np.int64)
        backend.dual._cs_subproblem(A, A_y, Bv, Cv, yq, k, total, new, D, order)
        expected = _brute_force(A, A_y, Bv, Cv, yq, rest)
        scale = max(1.0, np.abs(expected).max())
        assert_allclose(new, expected, rtol=0, atol=1e-10 * scale)
        assert np.all(new <= Cv) and abs(new.sum() + rest) <= 1e-10 * scale
        n_spread += np.count_nonzero(new < Cv) > 2  # more than one breakpoint passed
    assert n_spread > 20


def test_subproblem_solves_only_the_classes_in_play():
    # Entries past k are stale: they must neither be read nor written.
    A, k = 2.0, 3
    Bv = np.array([1.0, -0.5, 0.3, -100.0, 100.0])
    Cv = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    new = np.full(5, 7.0)
    backend.dual._cs_subproblem(A, A, Bv, Cv, 1, k, 1.0, new, np.empty(5),
                           np.empty(5, dtype=np.int64))
    assert_allclose(new[:k], _brute_force(A, A, Bv[:k], Cv[:k], 1, 0.0), atol=1e-14)
    assert_array_equal(new[k:], 7.0)


# ------------------------------------------------------------------ the duality gap


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@LOSSES
@INTERCEPTS
def test_duality_gap_is_primal_plus_dual_objective(layout, loss, B):
    X, y, s = _problem(layout=layout)
    C, cw = 0.7, 0.7 * s
    rng = np.random.default_rng(2)
    rows = np.arange(len(y))
    for scale in (0.01, 1.0, 10.0):
        # alpha_y in [0, cw] (hinge) or [0, scale], spread over the rivals.
        top = rng.uniform(0.0, 1.0, len(y)) * (cw if loss == "hinge" else scale)
        share = rng.uniform(0.0, 1.0, (len(y), K)) * (rng.random((len(y), K)) < 0.7)
        share[rows, y] = 0.0
        share[rows, (y + 1) % K] += 0.1
        alpha = -top[:, None] * share / share.sum(axis=1, keepdims=True)
        alpha[rows, y] = top
        alpha[cw == 0.0] = 0.0
        dual, W, Wb = _dual_objective(alpha, X, y, s, C=C, loss=loss, B=B)
        primal = _primal(W, Wb, X, y, s, C=C, loss=loss, B=B)
        gap, value = _gap(X, y, s, C=C, loss=loss, B=B, alpha=alpha, W=W, Wb=Wb)
        assert_allclose([gap, value], [primal + dual, primal], rtol=1e-12)
        assert gap > 0.0


# ------------------------------------------------------------------ the solver


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@LOSSES
@INTERCEPTS
def test_dcd_reaches_the_certified_optimum(layout, loss, B):
    X, y, s = _problem(layout=layout)
    C = 0.5
    kwargs = dict(C=C, loss=loss, B=B)
    W, Wb, alpha, n_iter, converged = _fit(X, y, s, tol=1e-12, **kwargs)
    assert converged and n_iter > 1
    value = _primal(W, Wb, X, y, s, **kwargs)
    # The weights are the dual variables' (up to the rounding of the updates) ...
    dual, W_alpha, Wb_alpha = _dual_objective(alpha, X, y, s, **kwargs)
    assert_allclose(W, W_alpha, rtol=0, atol=1e-12 * np.abs(W).max())
    assert_allclose(Wb, Wb_alpha, rtol=0, atol=1e-12 * np.abs(W).max())
    # ... which certify the objective: 0 <= P - min P <= P + F, as the kernel finds too.
    assert -1e-13 * value <= value + dual <= 1e-10 * value
    gap, primal = _gap(X, y, s, alpha=alpha, W=W, Wb=Wb, **kwargs)
    assert_allclose([gap, primal], [value + dual, value], rtol=0, atol=1e-12 * value)
    # An optimum found without the dual agrees; ours is worse by no more than rounding.
    W_ref, Wb_ref = _reference(X, y, s, **kwargs)
    best = _primal(W_ref, Wb_ref, X, y, s, **kwargs)
    assert value <= best * (1 + 1e-12)
    assert_allclose(value, best, rtol=1e-8)
    # The objective is strongly convex in (W, Wb): the minimisers agree too.
    assert_allclose(W, W_ref, atol=1e-4 * np.abs(W).max())
    assert_allclose(Wb, Wb_ref, atol=1e-4 * np.abs(W).max())
    if B == 0.0:
        assert_array_equal(Wb, 0.0)


@LOSSES
@INTERCEPTS
def test_dcd_solves_one_sample_in_one_step(loss, B):
    # With one sample the dual has one block: its step is the exact minimiser, which a
    # wrong curvature (say of the squared hinge's true class) would miss.
    X, y, s = _problem(n=12, seed=4)
    for i in np.flatnonzero(s)[:6]:
        one = (X[i:i + 1], y[i:i + 1], s[i:i + 1])
        for C in (0.05, 1.0, 20.0):
            kwargs = dict(C=C, loss=loss, B=B)
            W, Wb, *_ = _fit(*one, tol=1e-12, max_iter=1, **kwargs)
            W_ref, Wb_ref = _reference(*one, **kwargs)
            scale = max(1.0, np.abs(W_ref).max())
            assert_allclose(W, W_ref, rtol=0, atol=1e-9 * scale)
            assert_allclose(Wb, Wb_ref, rtol=0, atol=1e-9 * scale)


@LOSSES
def test_dcd_same_on_dense_csr_and_float32(loss):
    X, y, s = _problem(n=60, d=8)
    X = X.astype(np.float32)
    kwargs = dict(C=0.5, loss=loss, B=1.0, tol=1e-4, gap_tol=1e-7)
    dense = _fit(X, y, s, **kwargs)
    for other in (sp.csr_matrix(X), X.astype(np.float64)):
        fit = _fit(other, y, s, **kwargs)
        assert fit[3] == dense[3]
        assert_allclose(fit[0], dense[0], rtol=1e-10, atol=1e-10 * np.abs(dense[0]).max())
        assert_allclose(fit[1], dense[1], rtol=1e-10, atol=1e-10 * np.abs(dense[0]).max())


@LOSSES
@INTERCEPTS
def test_dcd_stops_once_the_duality_gap_certifies_the_objective(loss, B):
    X, y, s = _problem(n=80, d=6, seed=3)
    kwargs = dict(C=3.0, loss=loss, B=B)
    W, Wb, alpha, n_tight, ok = _fit(X, y, s, tol=1e-12, **kwargs)
    best = _primal(W, Wb, X, y, s, **kwargs)
    gap_tol = 1e-5
    W, Wb, alpha, n_iter, ok = _fit(X, y, s, tol=1e-12, gap_tol=gap_tol, **kwargs)
    assert ok and n_iter < n_tight
    value = _primal(W, Wb, X, y, s, **kwargs)
    dual = _dual_objective(alpha, X, y, s, **kwargs)[0]
    assert value + dual <= gap_tol * value
    assert best * (1 - 1e-12) <= value <= best * (1 + gap_tol)


@LOSSES
def test_dcd_wrapper_returns_the_scaled_intercept(loss):
    X, y, s = _problem()
    common = dict(C=1.0, loss=loss, tol=1e-8)
    W, Wb, *_ = _fit(X, y, s, B=2.0, **common)
    W2, b, n_iter, converged, *_ = backend.dcd(
        X, y, s, head="crammer_singer", intercept_scaling=2.0, fit_intercept=True,
        n_outputs=K, max_iter=100_000, seed=0, gap_tol=0.0, **common)
    assert converged
    assert_array_equal(W2, W)
    assert_array_equal(b, 2.0 * Wb)


@LOSSES
def test_dcd_without_intercept_leaves_empty_rows_out(loss):
    # Without an intercept an all-zero row has slack 1 whatever W: a constant.
    X, y, s = _problem()
    X_empty = np.vstack([X, np.zeros((3, X.shape[1]))])
    y_empty, s_empty = np.concatenate([y, [0, 1, 2]]), np.concatenate([s, [1.0, 2.0, 0.5]])
    kwargs = dict(C=1.0, loss=loss, B=0.0, tol=1e-12)
    W_empty, _, alpha, _, ok = _fit(X_empty, y_empty, s_empty, **kwargs)
    W = _fit(X, y, s, **kwargs)[0]
    assert ok
    assert_array_equal(alpha[-3:], 0.0)
    assert_allclose(W_empty, W, rtol=1e-9, atol=1e-9 * np.abs(W).max())


@LOSSES
def test_digits_reach_a_certified_optimum(loss):
    # At tol=1e-10 on standardised digits the fit is certified. (The JAX backend has no
    # dual coordinate descent; its smoothed L-BFGS is tested in test_jax_backend.py.)
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    from sksvmnet import SVMNetClassifier

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    s = np.ones(len(y))
    params = dict(multi_class="crammer_singer", loss=loss, tol=1e-10, max_iter=100_000,
                  random_state=0)
    fits = [SVMNetClassifier(backend="numba", **params).fit(X, y)]
    values = [_losses.objective([clf.coef_.T], [clf.intercept_], X, y, s, C=1.0, loss=loss,
                                head="crammer_singer", intercept_penalty=1.0)[0]
              for clf in fits]
    assert [clf.solver_ for clf in fits] == ["dcd"]
    # The certificate, from the dual variables by numpy (not the kernel's own gap).
    W, Wb, alpha, _, converged = _fit(X, y, s, C=1.0, loss=loss, B=1.0, tol=1e-10,
                                      gap_tol=1e-13, n_classes=10)
    dual, V, Vb = _dual_objective(alpha, X, y, s, C=1.0, loss=loss, B=1.0)
    assert converged
    assert_allclose(V, W, rtol=1e-9, atol=1e-12)
    primal = _primal(W, Wb, X, y, s, C=1.0, loss=loss, B=1.0)
    assert 0.0 <= primal + dual <= 1e-10 * primal
    assert min(values) >= -dual  # weak duality: nothing beats the dual bound
    assert max(values) <= primal * (1 + 1e-9)
