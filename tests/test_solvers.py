"""The solvers' own logic: schedules, stopping rules, what they ask the backend for."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from _helpers import count_calls
from sksvmnet import SVMNetClassifier
from sksvmnet._solvers import (
    LEARNING_RATE_SCHEDULES,
    MIN_ADAPTIVE_RATE,
    init_params,
    init_state,
    stochastic,
)


class RecordingBackend:
    """A backend whose epoch records what it was asked and returns a fixed loss."""

    def __init__(self, losses):
        self.losses = iter(losses)
        self.calls = []

    def epoch(self, params, state, X, y, s, perm, **kwargs):
        self.calls.append(kwargs)
        return next(self.losses) * X.shape[0]


def _run(backend, max_iter, **kwargs):
    X = np.zeros((10, 3))
    y = np.arange(10) % 2
    coefs, intercepts = init_params([3, 1], "relu", np.float64, np.random.default_rng(0))
    defaults = dict(backend=backend, coefs=coefs, intercepts=intercepts,
                    state=init_state(coefs, intercepts), optimizer="sgd", C=1e12,
                    loss="hinge", head="binary", activation="relu", batch_size=5,
                    learning_rate_init=0.1, momentum=0.0, max_iter=max_iter, tol=1e-4,
                    n_iter_no_change=3, input_noise=0.0, dropout=0.0,
                    random_state=np.random.default_rng(0))
    defaults.update(kwargs)
    return stochastic(X, y, np.ones(10), **defaults)


def test_every_schedule_is_registered_in_the_estimators():
    assert set(LEARNING_RATE_SCHEDULES) == {"constant", "linear", "invscaling", "adaptive"}
    for name in LEARNING_RATE_SCHEDULES:
        SVMNetClassifier(learning_rate=name)._validate_params()


@pytest.mark.parametrize("schedule, expected", [
    ("constant", [0.1, 0.1, 0.1, 0.1]),
    ("linear", [0.1, 0.075, 0.05, 0.025]),
    ("invscaling", [0.1, 0.1 / 2 ** 0.5, 0.1 / 3 ** 0.5, 0.1 / 2]),
])
def test_schedules_give_the_documented_rates(schedule, expected):
    backend = RecordingBackend(losses=[4.0, 3.0, 2.0, 1.0])
    _run(backend, max_iter=4, learning_rate=schedule)
    rates = [call["learning_rate"] for call in backend.calls]
    np.testing.assert_allclose(rates, expected)


def test_adaptive_divides_by_five_when_the_loss_stalls_then_stops():
    backend = RecordingBackend(losses=[1.0] * 100)  # never improves
    result = _run(backend, max_iter=100, learning_rate="adaptive", learning_rate_init=1e-3)
    rates = sorted({call["learning_rate"] for call in backend.calls}, reverse=True)
    np.testing.assert_allclose(rates, [1e-3, 2e-4, 4e-5, 8e-6, 1.6e-6])
    assert rates[-1] / 5 < MIN_ADAPTIVE_RATE
    # the first epoch improves on nothing; then 5 rates x 3 stalled epochs each
    assert result.converged and result.n_iter == 1 + 3 * 5


def test_input_noise_decays_geometrically_and_partial_fit_continues_the_schedule():
    backend = RecordingBackend(losses=[3.0, 2.0, 1.0])
    _run(backend, max_iter=3, input_noise=0.4, input_noise_decay=0.5)
    np.testing.assert_allclose([c["input_noise"] for c in backend.calls], [0.4, 0.2, 0.1])
    backend = RecordingBackend(losses=[1.0])
    _run(backend, max_iter=1, learning_rate="linear", first_epoch=2, schedule_epochs=4,
         input_noise=0.4, input_noise_decay=0.5)
    assert backend.calls[0]["learning_rate"] == pytest.approx(0.05)
    assert backend.calls[0]["input_noise"] == pytest.approx(0.1)


def test_linear_schedule_trains_a_network():
    from sklearn.datasets import make_classification

    X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
    clf = SVMNetClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate="linear",
                           learning_rate_init=0.01, max_iter=60, tol=0.0,
                           n_iter_no_change=100, random_state=0)
    with pytest.warns(ConvergenceWarning):  # stops at max_iter by design (tol=0)
        clf.fit(X, y)
    assert clf.score(X, y) > 0.85
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_partial_fit_refuses_the_adaptive_schedule():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="learning_rate='adaptive'"):
        SVMNetClassifier(learning_rate="adaptive").partial_fit(X, y, classes=[0, 1])


# ---------------------------------------------------------------- Newton's method


def _newton_problem(n_classes, sparse=False, seed=0):
    from sklearn.datasets import make_classification
    X, y = make_classification(600, 12, n_informative=6, n_classes=n_classes,
                               random_state=seed)
    s = np.random.default_rng(seed).uniform(0.5, 2.0, len(y))
    if sparse:
        import scipy.sparse as sp
        X[np.abs(X) < 0.7] = 0.0
        X = sp.csr_matrix(X)
    return X, y.astype(np.int64), s


@pytest.mark.parametrize("loss", ["squared_hinge", "log_loss"])
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fit_intercept, rho", [(True, 1.0), (True, 0.0), (False, 0.0)])
@pytest.mark.parametrize("sparse", [False, True])
def test_newton_reaches_the_lbfgs_optimum_in_few_iterations(loss, n_classes, fit_intercept,
                                                            rho, sparse):
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _newton_problem(n_classes, sparse)
    K = 1 if n_classes == 2 else n_classes
    common = dict(backend=_numba, C=0.7, loss=loss, head="binary" if K == 1 else "ovr",
                  fit_intercept=fit_intercept, intercept_penalty=rho)
    newton = _solvers.newton(X, y, s, n_outputs=K, tol=1e-10, max_iter=50, **common)
    lbfgs = _solvers.lbfgs(X, y, s, n_outputs=K, tol=1e-12, max_iter=10_000, **common)
    assert newton.converged and newton.n_iter <= 10
    objective = [_solvers.linear_objective(r, X, y, s, **common) for r in (newton, lbfgs)]
    assert objective[0] <= objective[1] * (1 + 1e-12)
    np.testing.assert_allclose(newton.coefs[0], lbfgs.coefs[0], atol=1e-5)
    if not fit_intercept:
        assert np.all(newton.intercepts[0] == 0.0)


def test_newton_updates_the_squared_hinge_hessian_by_the_changed_rows():
    # Each step moves 5% of the rows across the margin, so the Hessian is updated by
    # those rows alone (the backend is asked for grams of them only), and must equal
    # the Hessian formed afresh.
    from types import SimpleNamespace

    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, _, s = _newton_problem(2)
    asked = []

    def weighted_gram(X, rows, weights):
        asked.append(len(rows))
        return _numba.weighted_gram(X, rows, weights)

    backend = SimpleNamespace(weighted_gram=weighted_gram)
    rng = np.random.default_rng(1)
    inside = rng.random(len(s)) < 0.6
    previous = None
    for step in range(5):
        if step:
            inside ^= rng.random(len(s)) < 0.05
        D = np.where(inside, 2.0 * s, 0.0)
        asked.clear()
        H, v, total = _solvers._updated_hessian(backend, X, D, previous)
        previous = (D, H, v, total)
        rows = np.flatnonzero(D)
        if step:
            assert 0 < sum(asked) < 0.2 * len(rows)
        np.testing.assert_allclose(H, (X[rows].T * D[rows]) @ X[rows], rtol=1e-10)
        np.testing.assert_allclose(v, X[rows].T @ D[rows], rtol=1e-10)
        assert total == pytest.approx(D.sum())


@pytest.mark.parametrize("transposed", [False, True])
def test_lbfgs_triangular_solve_solves_with_l_or_its_transpose(transposed):
    from sksvmnet._solvers.quasi_newton import _triangular_solve
    rng = np.random.default_rng(0)
    L = np.tril(rng.normal(size=(7, 7))) + 5.0 * np.eye(7)
    B = rng.normal(size=(7, 3))
    X = _triangular_solve(L, B, transposed=transposed)
    np.testing.assert_allclose((L.T if transposed else L) @ X, B, rtol=1e-12, atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError, match="info=2"):
        _triangular_solve(L - np.diag(np.diag(L) * (np.arange(7) == 1)), B)


def test_low_rank_solve_corrects_a_stale_factor_for_rows_that_entered_and_left():
    # M_f = I + sum over the rows inside then of D_i b_i b_i^T; three rows enter and two
    # leave. The Woodbury correction of M_f's factor solves with M as a direct solve
    # does, and refuses (None) a factor that is not of M_f.
    import scipy.linalg

    from sksvmnet._solvers._curvature import _low_rank_solve
    rng = np.random.default_rng(0)
    B = rng.normal(size=(80, 30))
    D = rng.uniform(0.5, 2.0, 80)
    before = rng.random(80) < 0.5
    crossed = np.concatenate([np.flatnonzero(~before)[:3], np.flatnonzero(before)[:2]])
    after = before.copy()
    after[crossed] = ~after[crossed]

    def hessian(inside):
        return np.eye(30) + (B[inside].T * D[inside]) @ B[inside]

    M, g = hessian(after), rng.normal(size=30)
    L = scipy.linalg.cholesky(hessian(before), lower=True)
    weights = np.where(after[crossed], D[crossed], -D[crossed])
    x = _low_rank_solve(M, g, L, B[crossed].T, weights, 1e-9)
    np.testing.assert_allclose(x, np.linalg.solve(M, g), rtol=1e-9, atol=1e-12)
    assert _low_rank_solve(M, g, np.sqrt(2.0) * L, B[crossed].T, weights, 1e-9) is None


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
def test_newton_with_stale_factors_reaches_the_same_optimum(monkeypatch, fit_intercept,
                                                            sparse):
    # The squared hinge at a large C moves rows across the margin for many iterations;
    # where few have crossed since an output's last factorisation, its system is solved
    # with that factor and the crossed rows (fewer factorisations), to the optimum that
    # factorising every system anew reaches.
    from sksvmnet import _solvers
    from sksvmnet._solvers import _curvature, newton_method
    from sksvmnet.backends import _numba
    from sklearn.datasets import make_classification
    X, y = make_classification(3000, 40, n_informative=10, n_classes=4, flip_y=0.05,
                               random_state=0)
    s = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    if sparse:
        import scipy.sparse as sp
        X[np.abs(X) < 0.5] = 0.0
        X = sp.csr_matrix(X)
    assert not _curvature.newton_small_suits(X, 4)  # (the loop in Python, not compiled)
    common = dict(backend=_numba, C=50.0, loss="squared_hinge", head="ovr",
                  fit_intercept=fit_intercept, intercept_penalty=1.0 * fit_intercept,
                  n_outputs=4, tol=1e-10, max_iter=100)
    results, calls = {}, {}
    for fraction in (0.0, 0.5):
        monkeypatch.setattr(newton_method, "STALE_FACTOR_ROWS_PER_FEATURE", fraction)
        calls[fraction] = count_calls(monkeypatch, newton_method,
                                      ["_cholesky", "_low_rank_solve"])
        results[fraction] = _solvers.newton(X, y, s, **common)
        monkeypatch.undo()
    assert calls[0.0]["_low_rank_solve"] == 0
    assert calls[0.5]["_low_rank_solve"] > 0
    assert calls[0.5]["_cholesky"] < calls[0.0]["_cholesky"]
    objective = {key: _solvers.linear_objective(r, X, y, s, **{
        k: v for k, v in common.items() if k not in ("n_outputs", "tol", "max_iter")})
        for key, r in results.items()}
    assert all(r.converged for r in results.values())
    assert objective[0.5] == pytest.approx(objective[0.0], rel=1e-9)
    np.testing.assert_allclose(results[0.5].coefs[0], results[0.0].coefs[0], atol=1e-6)


@pytest.mark.parametrize("loss", ["squared_hinge", "log_loss", "hinge"])
def test_newton_line_search_finds_the_minimum_along_the_direction(loss):
    from sksvmnet._losses import smoothed_hinge
    from sksvmnet._solvers import _line_search
    rng = np.random.default_rng(0)
    n = 200
    z, q = rng.normal(size=n), rng.normal(size=n)
    t, s = np.where(rng.random(n) < 0.5, 1.0, -1.0), rng.uniform(0.5, 2.0, n)
    w, p = rng.normal(size=5), rng.normal(size=5)

    def along(alpha):
        M = t * (z + alpha * q)
        data = {"squared_hinge": np.maximum(1 - M, 0) ** 2,
                "log_loss": np.logaddexp(0, -M),
                "hinge": smoothed_hinge(M, 0.1)[0]}[loss]
        return 0.5 * np.sum((w + alpha * p) ** 2) + 0.5 * (0.3 + alpha * 0.2) ** 2 + 2.0 * s @ data

    alpha = _line_search(z, q, t, s, 2.0, 1.0, w, p, 1.0, 0.3, 0.2, loss, 0.1)
    grid = np.linspace(alpha - 1e-3, alpha + 1e-3, 201)
    assert along(alpha) <= min(along(a) for a in grid) + 1e-9


def test_newton_without_penalty_on_separable_data_stays_finite():
    from sksvmnet import LogisticNetClassifier
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    y = np.array([0, 0, 1, 1])
    # The infimum is at infinity; the gradient vanishes on the way and the fit stops there.
    clf = LogisticNetClassifier(C=np.inf, solver="newton-cholesky", max_iter=30).fit(X, y)
    assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    assert clf.score(X, y) == 1.0


@pytest.mark.parametrize("make_estimator", [
    lambda: SVMNetClassifier(),
    lambda: __import__("sksvmnet").LogisticNetClassifier(multi_class="ovr"),
])
def test_auto_picks_newton_for_dense_data_with_few_features(make_estimator):
    import scipy.sparse as sp
    X, y, _ = _newton_problem(3)
    assert make_estimator()._resolve_solver(X, 3) == "newton"
    # The shape decides, not the format: the same data as CSR runs the same solver.
    assert make_estimator()._resolve_solver(sp.csr_matrix(X), 3) == "newton"
    wide = sp.csr_matrix(np.hstack([X] * (1 + 1000 // X.shape[1])))
    assert make_estimator()._resolve_solver(wide, 3) != "newton"


@pytest.mark.parametrize("n_classes", [2, 4])
def test_newton_trains_the_hinge_to_a_certified_gap(n_classes):
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _newton_problem(n_classes)
    K = 1 if n_classes == 2 else n_classes
    common = dict(backend=_numba, C=0.7, loss="hinge", head="binary" if K == 1 else "ovr",
                  fit_intercept=True, intercept_penalty=1.0)
    tol = 1e-6
    newton = _solvers.newton(X, y, s, n_outputs=K, tol=tol, max_iter=500, **common)
    # liblinear's dual coordinate descent, run to a tight dual gap, as the reference.
    dcd = _solvers.dcd(X, y, s, n_outputs=K, tol=1e-10, max_iter=100_000,
                       intercept_scaling=1.0, random_state=np.random.default_rng(0),
                       **{k: v for k, v in common.items() if k != "intercept_penalty"})
    assert newton.converged
    objective = [_solvers.linear_objective(r, X, y, s, **common) for r in (newton, dcd)]
    assert objective[0] <= objective[1] * (1 + tol)
    assert objective[1] <= objective[0] * (1 + 1e-9)


def test_smoothed_hinge_is_within_half_the_width_below_the_hinge():
    from sksvmnet._losses import MARGIN_LOSSES, smoothed_hinge
    z = np.linspace(-2, 2, 401) + 1e-3  # away from the joints 1 - width and 1
    eps = 1e-6
    for width in (1.0, 0.1):
        value, slope, curvature = smoothed_hinge(z, width)
        hinge = MARGIN_LOSSES["hinge"](z)[0]
        assert np.all(value <= hinge) and np.all(hinge - value <= width / 2 + 1e-15)
        up, down = smoothed_hinge(z + eps, width), smoothed_hinge(z - eps, width)
        np.testing.assert_allclose(slope, (up[0] - down[0]) / (2 * eps), atol=1e-6)
        np.testing.assert_allclose(curvature, (up[1] - down[1]) / (2 * eps), atol=1e-6)


def test_verbose_prints_loss_time_and_a_progress_bar(capsys):
    from sksvmnet._solvers import _progress
    assert _progress(5, 20, 10.0) == "[#####...............] 5/20, 10s elapsed, ~30s left"
    backend = RecordingBackend(losses=[4.0, 3.0])
    _run(backend, max_iter=2, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("Epoch 2, loss = ") and "[" + "#" * 20 + "] 2/2" in lines[1]


@pytest.mark.parametrize("loss", ["squared_hinge", "log_loss"])
def test_newton_default_tol_ends_close_to_the_optimum_on_badly_scaled_data(loss):
    # Columns on scales from 1 to 1000, like unscaled pixels: a gradient test at tol=1e-4
    # stopped 3e-5 above the optimum on Fashion-MNIST; the Newton decrement does not.
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _newton_problem(4)
    X = X * np.logspace(0, 3, X.shape[1])
    common = dict(backend=_numba, C=1.0, loss=loss, head="ovr", fit_intercept=True,
                  intercept_penalty=1.0)
    default = _solvers.newton(X, y, s, n_outputs=4, tol=1e-4, max_iter=100, **common)
    tight = _solvers.newton(X, y, s, n_outputs=4, tol=1e-12, max_iter=100, **common)
    objective = [_solvers.linear_objective(r, X, y, s, **common) for r in (default, tight)]
    assert default.converged
    assert objective[0] <= objective[1] * (1 + 1e-7)


# ------------------------------------------------------------ preconditioned L-BFGS


def _ill_conditioned_problem(n_classes, seed=0):
    """Correlated columns on scales from 1 to 100: slow for plain L-BFGS."""
    X, y, s = _newton_problem(n_classes, seed=seed)
    mixed = X @ np.random.default_rng(seed).normal(size=(X.shape[1], 6))
    X = np.hstack([X, mixed + 0.01 * X[:, :6]]) * np.logspace(0, 2, X.shape[1] + 6)
    return X, y, s


@pytest.mark.parametrize("head, loss", [("multinomial", "log_loss"),
                                        ("weston_watkins", "squared_hinge")])
def test_preconditioned_lbfgs_reaches_the_optimum_in_fewer_iterations(head, loss,
                                                                     monkeypatch):
    import scipy.sparse as sp

    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _ill_conditioned_problem(4)
    common = dict(backend=_numba, C=1.0, loss=loss, head=head, n_outputs=4,
                  fit_intercept=True, intercept_penalty=0.0, max_iter=20_000)
    fast = _solvers.lbfgs(X, y, s, tol=1e-4, **common)
    tight = [_solvers.lbfgs(X, y, s, tol=1e-12, **common),
             _lbfgs_b(sp.csr_matrix(X), y, s, monkeypatch, tol=1e-12, **common)]
    # The same problem, solved by plain L-BFGS (no preconditioner).
    plain = _lbfgs_b(X, y, s, monkeypatch, tol=1e-4, **common)
    del common["max_iter"], common["n_outputs"]
    best = min(_solvers.linear_objective(r, X, y, s, **common) for r in tight)
    assert fast.converged and plain.converged
    assert fast.n_iter < plain.n_iter / 3
    assert _solvers.linear_objective(fast, X, y, s, **common) <= best * (1 + 1e-6)


@pytest.mark.parametrize("head, loss, n_outputs", [("binary", "log_loss", 1),
                                                   ("ovr", "squared_hinge", 3),
                                                   ("multinomial", "log_loss", 3)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lbfgs_preconditioner_is_the_hessian_at_zero(head, loss, n_outputs, fit_intercept):
    # Checked against central differences of the gradient along random directions; for
    # the multinomial along directions summing to zero over the classes (the softmax
    # ignores the rest). Zero sample weights must drop their rows.
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _newton_problem(2 if n_outputs == 1 else n_outputs)
    s[::7] = 0.0
    d = X.shape[1]
    C, rho = 0.3, 0.5
    L = _solvers._preconditioner(X, s, _numba, C, 1.0, rho, loss, head, n_outputs,
                                 fit_intercept)
    rng = np.random.default_rng(0)
    V = rng.normal(size=(d + fit_intercept, n_outputs))
    if head == "multinomial":
        V -= V.mean(axis=1, keepdims=True)

    def gradient(Theta):
        W, b = (Theta[:-1], Theta[-1]) if fit_intercept else (Theta, np.zeros(n_outputs))
        _, gW, gb = _numba.linear_value_grad(
            W, b, X, y, s, C=C, loss=loss, head=head, intercept_penalty=rho,
            fit_intercept=fit_intercept)
        return np.vstack([gW, gb]) if fit_intercept else gW

    # The squared hinge is quadratic around zero outputs (all rows inside the margin).
    eps = 1e-5
    HV = (gradient(eps * V) - gradient(-eps * V)) / (2 * eps)
    np.testing.assert_allclose(L @ (L.T @ V), HV, rtol=1e-6, atol=1e-6 * np.abs(HV).max())


def test_lbfgs_counts_iterations_as_scipy_does(monkeypatch):
    # Without the preconditioner the run is scipy's L-BFGS-B with our gradient test in
    # place of its own; the iterations and the point must be the same.
    import scipy.optimize

    from sksvmnet import _solvers
    from sksvmnet._solvers import quasi_newton
    from sksvmnet._solvers._common import linear_start
    from sksvmnet.backends import _numba
    monkeypatch.setattr(quasi_newton, "newton_suits", lambda X: False)
    X, y, s = _newton_problem(4)
    common = dict(C=1.0, loss="log_loss", head="multinomial", fit_intercept=True,
                  intercept_penalty=0.0)
    ours = _solvers.lbfgs(X, y, s, backend=_numba, n_outputs=4, tol=1e-4, max_iter=500,
                          **common)
    d = X.shape[1]
    scale = 1.0 / float(np.sum(s))

    def fun(theta):
        value, gW, gb = _numba.linear_value_grad(theta[:-4].reshape(d, 4), theta[-4:], X,
                                                 y, s, **common)
        return value * scale, np.concatenate([gW.ravel(), gb]) * scale

    # (from the same start: zero weights, the intercept-only model's optimum)
    start = linear_start(X, s, n_outputs=4, y=y, **common)[-1]
    assert np.any(start[-4:])
    theirs = scipy.optimize.minimize(
        fun, start, method="L-BFGS-B", jac=True,
        options={"maxiter": 500, "maxls": 50, "gtol": 1e-4,
                 "ftol": 64 * np.finfo(float).eps})
    assert theirs.status == 0 and ours.converged
    assert ours.n_iter == theirs.nit
    np.testing.assert_array_equal(ours.coefs[0].ravel(), theirs.x[:-4])


def _text_like_problem(n_classes=2, n=1500, d=4000, words=25, seed=0):
    """The sparse benchmark's shape, small: each row draws Zipf-distributed words, weighs
    them like sublinear tf-idf and has unit length; labels come from a sparse linear
    teacher with noise."""
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    frequency = 1.0 / np.arange(1, d + 1)
    frequency /= frequency.sum()
    indices, data, indptr = [], [], [0]
    for _ in range(n):
        row = np.unique(rng.choice(d, size=words, p=frequency))
        values = (1.0 + np.log(rng.integers(1, 4, len(row)))) * -np.log(frequency[row])
        indices.append(row)
        data.append(values / np.linalg.norm(values))
        indptr.append(indptr[-1] + len(row))
    X = sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(n, d))
    teacher = np.where(rng.random((d, n_classes)) < 0.2, rng.normal(size=(d, n_classes)), 0.0)
    scores = X @ teacher + 0.1 * rng.normal(size=(n, n_classes))
    y = scores[:, 0] > np.median(scores[:, 0]) if n_classes == 2 else scores.argmax(axis=1)
    return X, y.astype(np.int64), rng.uniform(0.5, 2.0, n)


def _lbfgs_b(X, y, s, monkeypatch, **kwargs):
    """:func:`_solvers.lbfgs` without its preconditioner: scipy's L-BFGS-B on the
    objective."""
    from sksvmnet import _solvers
    from sksvmnet._solvers import quasi_newton
    with monkeypatch.context() as patch:
        patch.setattr(quasi_newton, "newton_suits", lambda X: False)
        return _solvers.lbfgs(X, y, s, **kwargs)


@pytest.mark.parametrize("head, loss, n_classes", [("binary", "log_loss", 2),
                                                   ("ovr", "squared_hinge", 3),
                                                   ("ovr", "log_loss", 3),
                                                   ("multinomial", "log_loss", 3)])
@pytest.mark.parametrize("fit_intercept, rho", [(True, 0.0), (True, 1.0), (False, 0.0)])
def test_subspace_descent_reaches_the_optimum(head, loss, n_classes, fit_intercept, rho,
                                              monkeypatch):
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _text_like_problem(n_classes, n=400, d=900)
    s[::9] = 0.0  # rows without weight drop out
    K = 1 if head == "binary" else n_classes
    common = dict(backend=_numba, C=3.0, loss=loss, head=head, fit_intercept=fit_intercept,
                  intercept_penalty=rho)
    ours = _solvers.subspace(X, y, s, n_outputs=K, tol=1e-4, max_iter=500, **common)
    tight = _lbfgs_b(X, y, s, monkeypatch, n_outputs=K, tol=1e-11, max_iter=20_000,
                     **common)
    best = _solvers.linear_objective(tight, X, y, s, **common)
    assert ours.converged and tight.converged
    # The stopping rule asks the predicted decrease for 1e-6 of the objective.
    assert _solvers.linear_objective(ours, X, y, s, **common) <= best * (1 + 1e-5)
    assert ours.loss_curve[-1] == pytest.approx(
        _solvers.linear_objective(ours, X, y, s, **common), rel=1e-12)
    if not fit_intercept:
        assert not np.any(ours.intercepts[0])


@pytest.mark.parametrize("head, n_classes", [("binary", 2), ("multinomial", 4)])
def test_subspace_descent_beats_lbfgs_b_on_text(head, n_classes, monkeypatch):
    # Fewer iterations, each one X P and one X^T G where L-BFGS-B's evaluations make
    # both, and a lower objective: L-BFGS-B's gradient test alone stops it early.
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _text_like_problem(n_classes)
    K = 1 if head == "binary" else n_classes
    common = dict(backend=_numba, C=10.0, loss="log_loss", head=head, fit_intercept=True,
                  intercept_penalty=0.0, n_outputs=K, tol=1e-4, max_iter=1000)
    calls = count_calls(monkeypatch, _numba, ["outputs", "transposed_product"])
    ours = _solvers.subspace(X, y, s, **common)
    # One X P and one X^T G per iteration, plus the Hessian's diagonal.
    assert calls == {"outputs": ours.n_iter, "transposed_product": ours.n_iter + 1}
    theirs = _lbfgs_b(X, y, s, monkeypatch, **common)
    del common["n_outputs"], common["tol"], common["max_iter"]
    assert ours.converged and theirs.converged
    assert ours.n_iter < theirs.n_iter
    assert (_solvers.linear_objective(ours, X, y, s, **common)
            <= _solvers.linear_objective(theirs, X, y, s, **common))


@pytest.mark.parametrize("head, loss, K", [("binary", "log_loss", 1),
                                           ("multinomial", "log_loss", 3)])
def test_minimise_in_subspace_finds_the_minimum(head, loss, K):
    import scipy.optimize

    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    rng = np.random.default_rng(1)
    n, r = 80, 4
    Z, U = rng.normal(size=(n, K)), rng.normal(size=(r, n, K))
    y = rng.integers(0, 2 if K == 1 else K, n)
    s = rng.uniform(0.5, 2.0, n)
    B = rng.normal(size=(r, r))
    gram, linear, constant, C = B @ B.T, rng.normal(size=r), 1.5, 0.3

    def phi(a):
        data, G = _numba.head_loss(Z + np.tensordot(a, U, axes=1), y, s, loss, head)
        return (C * data + constant + a @ linear + 0.5 * a @ gram @ a,
                C * (U.reshape(r, -1) @ G.ravel()) + linear + gram @ a)

    G = np.empty((n, K))
    data, slope, curvature = _numba.head_along(Z, U, np.zeros(r), y, s, loss, head, G)
    value = C * data + constant
    alpha, found, G_found, _ = _solvers._minimise_in_subspace(
        Z, U, G, np.empty_like(G), value, constant, linear, gram, _numba, slope=slope,
        curvature=curvature, y=y, s=s, loss=loss, head=head, C=C, tol=1e-14)
    best = scipy.optimize.minimize(phi, np.zeros(r), jac=True, method="BFGS",
                                   options={"gtol": 1e-12})
    np.testing.assert_allclose(alpha, best.x, rtol=1e-6, atol=1e-8)
    assert found == pytest.approx(phi(alpha)[0], rel=1e-12)
    np.testing.assert_allclose(
        G_found, _numba.head_loss(Z + np.tensordot(alpha, U, axes=1), y, s, loss, head)[1],
        rtol=1e-12, atol=1e-15)
    assert found < value


@pytest.mark.parametrize("head, loss, n_outputs", [("binary", "log_loss", 1),
                                                   ("ovr", "squared_hinge", 3),
                                                   ("multinomial", "log_loss", 3)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_hessian_diagonal_is_the_preconditioners(head, loss, n_outputs, fit_intercept):
    import scipy.sparse as sp

    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _newton_problem(2 if n_outputs == 1 else n_outputs, sparse=True)
    s[::5] = 0.0
    X = X.toarray()
    X[:, 3] = 0.0  # an empty column, unpenalised below
    d = X.shape[1]
    args = (_numba, 0.3, 1.0, 0.5, loss, head, n_outputs, fit_intercept)
    L = _solvers._preconditioner(X, s, *args)
    full = np.diag(L @ L.T)
    diagonal = _solvers._hessian_diagonal(sp.csr_matrix(X), s, *args)
    np.testing.assert_allclose(diagonal[:d * n_outputs].reshape(d, n_outputs),
                               np.repeat(full[:d, None], n_outputs, axis=1), rtol=1e-12)
    if fit_intercept:
        np.testing.assert_allclose(diagonal[d * n_outputs:], full[d], rtol=1e-12)
    no_penalty = _solvers._hessian_diagonal(sp.csr_matrix(X), s, _numba, 0.3, 0.0, 0.0,
                                            loss, head, n_outputs, fit_intercept)
    assert np.all(no_penalty > 0) and np.all(no_penalty[3 * n_outputs:4 * n_outputs] == 1)


@pytest.mark.parametrize("C, l1", [(0.5, False), (None, False), (0.5, True)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_objective_is_the_backends_objective(C, l1, fit_intercept):
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _newton_problem(3, sparse=True)
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(X.shape[1], 3)), rng.normal(size=3)
    result = _solvers.SolverResult(coefs=[W], intercepts=[b], n_iter=0, converged=True)
    common = dict(loss="squared_hinge", head="ovr", fit_intercept=fit_intercept)
    ours = _solvers.linear_objective(result, X, y, s, backend=_numba, C=C,
                                     intercept_penalty=0.7, l1=l1, **common)
    value, _, _ = _numba.linear_value_grad(
        W, b, X, y, s, C=1.0 if C is None else C, intercept_penalty=0.0 if l1 else 0.7,
        l2=0.0 if (C is None or l1) else 1.0, **common)
    if l1:
        value += np.abs(W).sum() + (np.abs(b).sum() * np.sqrt(0.7) if fit_intercept else 0)
    assert ours == pytest.approx(value / ((1.0 if C is None else C) * s.sum()), rel=1e-13)


def test_remaining_extrapolates_a_geometric_decay():
    from sksvmnet._solvers import _remaining
    assert _remaining([8.0, 4.0, 2.0, 1.0]) == pytest.approx(1.0)  # 1/2 + 1/4 + ...
    assert _remaining([100.0, 8.0, 4.0, 2.0, 1.0]) == pytest.approx(1.0)  # last 3 only
    assert _remaining([8.0, 4.0, 1.0, 0.5]) == pytest.approx(0.5)  # the slowest rate, 1/2
    assert _remaining([4.0, 1.0, 2.0, 0.5]) == np.inf  # a rise in the window
    assert _remaining([1.0]) == np.inf  # no rate yet
    assert _remaining([1.0, 2.0]) == np.inf  # not falling
    assert _remaining([0.0, 0.0]) == np.inf
    assert _remaining([1.0, 0.0]) == 0.0


@pytest.mark.parametrize("fit_intercept, rho", [(True, 0.0), (True, 0.7), (False, 0.0)])
@pytest.mark.parametrize("l2", [1.0, 0.0])
def test_direction_products_are_the_penalised_products(fit_intercept, rho, l2):
    # The new direction d = -g against steps and theta, from outputs alone, as the
    # penalised products written out.
    import scipy.sparse as sp

    from sksvmnet import _solvers
    rng = np.random.default_rng(4)
    n, d, K, C, scale = 30, 8, 3, 2.5, 0.01
    X = sp.random(n, d, density=0.4, random_state=1, format="csr")
    G = rng.normal(size=(n, K))
    on = 1.0 if fit_intercept else 0.0
    theta, steps = rng.normal(size=d * K + K), rng.normal(size=(4, d * K + K))
    theta[d * K:] *= on
    steps[:, d * K:] *= on
    weights = np.r_[np.full(d * K, l2), np.full(K, rho)] * scale

    def outputs(v):
        return X @ v[:d * K].reshape(d, K) + v[d * K:]

    g = np.r_[(C * scale * (X.T @ G) + l2 * scale * theta[:d * K].reshape(d, K)).ravel(),
              on * scale * (C * G.sum(axis=0) + rho * theta[d * K:])]
    others = np.vstack([steps, theta])
    products = _solvers._direction_products(
        G, -g[d * K:], np.array([np.sum(G * outputs(v)) for v in others]),
        others[:, d * K:], others @ (weights * theta), theta[d * K:], C=C * scale,
        scale=scale, l2=l2, rho=rho)
    np.testing.assert_allclose(products, others @ (weights * -g), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("head, K", [("binary", 1), ("ovr", 3)])
@pytest.mark.parametrize("rho", [0.0, 0.5])
@pytest.mark.parametrize("l2", [1.0, 0.3])
def test_duality_gap_is_primal_minus_dual(head, K, rho, l2):
    # Against the dual written out: the intercept as the weight of a feature of value
    # 1/sqrt(rho), the dual variables a = 2 C s max(0, 1 - T F).
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    rng = np.random.default_rng(5)
    n, d, C = 60, 7, 0.8
    X, y, s = rng.normal(size=(n, d)), rng.integers(0, max(K, 2), n), rng.uniform(0, 2, n)
    s[::7] = 0.0
    W, b = rng.normal(size=(d, K)), (rng.normal(size=K) if rho > 0 else np.zeros(K))
    T = _solvers._signed_targets(y, head, K)
    F = X @ W + b
    data, G = _numba.head_loss(F, y, s, "squared_hinge", head)
    a = 2 * C * s[:, None] * np.maximum(0.0, 1.0 - T * F)
    penalty = 0.5 * l2 * np.sum(W ** 2) + 0.5 * rho * np.sum(b ** 2)
    primal = C * data + penalty
    weight = np.where(s > 0, 1 / (4 * C * np.where(s > 0, s, 1.0)), 0.0)
    dual = (a.sum() - np.sum(weight[:, None] * a ** 2)
            - 0.5 / l2 * np.sum((X.T @ (a * T)) ** 2)
            - (0.5 / rho * np.sum((a * T).sum(axis=0) ** 2) if rho > 0 else 0.0))
    squared = float(np.sum((X.T @ G) ** 2))
    gap = _solvers._duality_gap(data, G, T, squared, penalty, C, l2, rho)
    assert gap == pytest.approx(primal - dual, rel=1e-12)
    assert gap > 0


@pytest.mark.parametrize("head, n_classes", [("binary", 2), ("ovr", 3)])
@pytest.mark.parametrize("fit_intercept, rho", [(True, 1.0), (False, 0.0)])
def test_subspace_descent_certifies_the_squared_hinge(head, n_classes, fit_intercept, rho,
                                                      monkeypatch):
    # Its duality gap ends the fit within DUAL_GAP_FACTOR * tol of the optimum (the
    # decay of the decreases alone stopped such fits 1e-4 above it on text).
    from sksvmnet import _solvers
    from sksvmnet._solvers import subspace_descent
    from sksvmnet.backends import _numba
    X, y, s = _text_like_problem(n_classes, n=600, d=1500)
    K = 1 if head == "binary" else n_classes
    common = dict(backend=_numba, C=2.0, loss="squared_hinge", head=head,
                  fit_intercept=fit_intercept, intercept_penalty=rho)
    gaps, gap = [], _solvers._duality_gap

    def recorded(*args):
        gaps.append(gap(*args))
        return gaps[-1]

    monkeypatch.setattr(subspace_descent, "_duality_gap", recorded)
    ours = _solvers.subspace(X, y, s, n_outputs=K, tol=1e-4, max_iter=1000, **common)
    monkeypatch.undo()
    tight = _lbfgs_b(X, y, s, monkeypatch, n_outputs=K, tol=1e-12, max_iter=50_000,
                     **common)
    value = _solvers.linear_objective(ours, X, y, s, **common)
    best = _solvers.linear_objective(tight, X, y, s, **common)
    assert ours.converged and len(gaps) == ours.n_iter + 1  # a test per iteration
    gap = gaps[-1] / (common["C"] * s.sum())  # in linear_objective's J / (C sum(s))
    assert 0 <= value - best <= gap <= _solvers.DUAL_GAP_FACTOR * 1e-4 * value


@pytest.mark.parametrize("head, loss, n_classes", [("binary", "log_loss", 2),
                                                   ("multinomial", "log_loss", 3),
                                                   ("ovr", "squared_hinge", 3)])
def test_subspace_descent_keeps_its_products_at_a_tight_tol(head, loss, n_classes,
                                                            monkeypatch):
    # The inner products are carried by algebra from iteration to iteration; over a long
    # fit at a tight tol they must not drift: it still reaches the optimum, and the
    # objective it carried is the one computed afresh.
    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _text_like_problem(n_classes, n=300, d=700)
    K = 1 if head == "binary" else n_classes
    common = dict(backend=_numba, C=50.0, loss=loss, head=head, fit_intercept=True,
                  intercept_penalty=1.0)
    ours = _solvers.subspace(X, y, s, n_outputs=K, tol=1e-10, max_iter=2000, **common)
    tight = _lbfgs_b(X, y, s, monkeypatch, n_outputs=K, tol=1e-12, max_iter=50_000,
                     **common)
    value = _solvers.linear_objective(ours, X, y, s, **common)
    assert ours.converged and ours.n_iter > 25  # (31 to 279 iterations)
    assert ours.loss_curve[-1] == pytest.approx(value, rel=1e-12)
    # (The squared hinge stalls 1.6e-10 above it, as it did before the algebra: its
    # generalised Hessian is exact only away from the kinks.)
    assert value <= _solvers.linear_objective(tight, X, y, s, **common) * (1 + 1e-9)


def test_subspace_descent_reaches_the_optimum_on_badly_scaled_features():
    # Feature scales from 1 to 100 and six near-copies: its weak case (usage.md).
    import scipy.sparse as sp

    from sksvmnet import _solvers
    from sksvmnet.backends import _numba
    X, y, s = _ill_conditioned_problem(4)
    common = dict(backend=_numba, C=1.0, loss="log_loss", head="ovr",
                  fit_intercept=True, intercept_penalty=0.0)
    ours = _solvers.subspace(sp.csr_matrix(X), y, s, n_outputs=4, tol=1e-4,
                             max_iter=20_000, **common)
    tight = _solvers.lbfgs(X, y, s, n_outputs=4, tol=1e-12, max_iter=20_000, **common)
    assert ours.converged
    best = _solvers.linear_objective(tight, X, y, s, **common)
    assert _solvers.linear_objective(ours, X, y, s, **common) <= best * (1 + 1e-6)


def test_the_small_problem_tolerance_does_not_raise_the_users_convergence_warning(
        monkeypatch):
    # On small binary and one-vs-rest problems DCD runs to SMALL_PROBLEM_TOL, tighter
    # than the user's tol. Running out of max_iter there, where a run at tol converges,
    # is no reason to warn; the model is the one of the longer run.
    import warnings

    from sksvmnet import SVMNetClassifier
    from sksvmnet._solvers import coordinate_descent

    from sklearn.datasets import make_classification

    X, y = make_classification(60, 80, n_informative=10, random_state=0)  # n < d: dcd
    loose = SVMNetClassifier(random_state=0, max_iter=5, tol=10.0).fit(X, y)
    assert loose.solver_ == "dcd"
    monkeypatch.setattr(coordinate_descent, "SMALL_PROBLEM_TOL", 1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = SVMNetClassifier(random_state=0, max_iter=5, tol=10.0).fit(X, y)
    assert quiet.n_iter_ == 5  # the tight run used them all
    with pytest.warns(ConvergenceWarning):  # where tol itself is not met, it warns
        SVMNetClassifier(random_state=0, max_iter=1, tol=1e-12).fit(X, y)


@pytest.mark.parametrize("head", ["binary", "ovr", "multinomial"])
def test_log_loss_starts_from_the_intercept_only_optimum(head):
    # Zero weights and the intercept whose probabilities are the weighted class
    # frequencies: the optimum where the penalty dominates.
    from sksvmnet._solvers._common import linear_start
    rng = np.random.default_rng(0)
    K = 2 if head == "binary" else 4
    y = rng.choice(K, size=500, p=[0.7, 0.3] if K == 2 else [0.9, 0.06, 0.03, 0.01])
    s = rng.uniform(0.5, 2.0, 500)
    X = rng.normal(size=(500, 3))
    n_outputs = 1 if head == "binary" else K
    theta = linear_start(X, s, C=1.0, n_outputs=n_outputs, fit_intercept=True,
                         intercept_penalty=0.0, y=y, loss="log_loss", head=head)[-1]
    assert not np.any(theta[:-n_outputs])
    b = theta[-n_outputs:]
    frequencies = np.bincount(y, weights=s) / s.sum()
    if head == "multinomial":
        probabilities = np.exp(b) / np.exp(b).sum()
    else:
        probabilities = 1.0 / (1.0 + np.exp(-b))
    np.testing.assert_allclose(probabilities, frequencies[-n_outputs:], rtol=1e-12)
    # A penalised intercept (liblinear's) or another loss starts from zero.
    for other in (dict(intercept_penalty=1.0, loss="log_loss"),
                  dict(intercept_penalty=0.0, loss="squared_hinge")):
        theta = linear_start(X, s, C=1.0, n_outputs=n_outputs, fit_intercept=True, y=y,
                             head=head, **other)[-1]
        assert not np.any(theta)


@pytest.mark.parametrize("multi_class", ["multinomial", "ovr"])
def test_lbfgs_from_the_intercept_only_optimum_is_a_step_where_the_penalty_dominates(
        multi_class):
    # From zero, the rare classes' intercepts (curvature: their frequency) took 15 to 18
    # iterations here.
    from sksvmnet import LogisticNetClassifier
    rng = np.random.default_rng(0)
    y = rng.choice(4, size=2000, p=[0.9, 0.07, 0.02, 0.01])
    X = rng.normal(size=(2000, 30)) + 0.5 * y[:, None]
    fit = LogisticNetClassifier(C=1e-7, solver="lbfgs", multi_class=multi_class,
                                tol=1e-8).fit(X, y)
    reference = LogisticRegression(C=1e-7, tol=1e-12, max_iter=10_000)
    if multi_class == "ovr":
        reference = OneVsRestClassifier(reference)
    reference.fit(X, y)
    assert fit.n_iter_ <= 3
    np.testing.assert_allclose(fit.predict_proba(X), reference.predict_proba(X),
                               rtol=1e-6)
