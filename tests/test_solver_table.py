"""The solver table (``_solvers.table``) against the estimators.

An explicit ``solver=`` is accepted exactly where the table says it trains the
configuration, and then it is what ran (``solver_``); ``solver="auto"`` picks a solver
the table says trains it; the errors list the table's solvers; subspace descent is a
solver of its own, reaching L-BFGS's optimum.
"""

import ast
import itertools
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.special
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sksvmnet import LogisticNetClassifier, SVMNetClassifier
from sksvmnet._logistic import LOGISTIC_SOLVERS
from sksvmnet._solvers import table
from sksvmnet._svm import SVM_SOLVERS
from sksvmnet.backends import _numba


def _svm_configurations():
    """``(params, n_classes)`` of every loss, head, penalty and model SVMNetClassifier
    exposes (two classes give the binary head, whatever ``multi_class`` says)."""
    for loss, penalty, hidden in itertools.product(("hinge", "squared_hinge"),
                                                   ("l2", "l1"), ((), (3,))):
        params = dict(loss=loss, penalty=penalty, hidden_layer_sizes=hidden)
        yield params, 2
        for multi_class in ("ovr", "crammer_singer", "weston_watkins"):
            yield dict(params, multi_class=multi_class), 3


def _logistic_configurations():
    for penalty, hidden in itertools.product(("l2", None), ((), (3,))):
        params = dict(penalty=penalty, hidden_layer_sizes=hidden)
        yield params, 2
        for multi_class in ("multinomial", "ovr"):
            yield dict(params, multi_class=multi_class), 3


def _config(clf, n_classes):
    return clf._configuration(n_classes)


def _id(estimator, solver, n_classes, params):
    return "-".join([estimator, solver, f"{n_classes}classes",
                     *(f"{key}={value}" for key, value in params.items())])


def _cases():
    """Every configuration with every solver the estimator names after the table."""
    for params, n_classes in _svm_configurations():
        for solver in SVM_SOLVERS[1:]:
            yield pytest.param(SVMNetClassifier, params, n_classes, solver,
                               id=_id("svm", solver, n_classes, params))
    ours = [name for name, algorithm in LOGISTIC_SOLVERS.items() if name == algorithm
            and name in table.SOLVERS]
    for params, n_classes in _logistic_configurations():
        for solver in ours:
            yield pytest.param(LogisticNetClassifier, params, n_classes, solver,
                               id=_id("logistic", solver, n_classes, params))


def _tiny(n_classes, n=40, d=5):
    X, y = make_classification(n, d, n_informative=3, n_redundant=0,
                               n_classes=n_classes, random_state=0)
    return X, y


def _listed(message):
    """The solvers an error message says can train the configuration."""
    if "no solver can" in message:
        return []
    return ast.literal_eval(re.search(r"the solvers that can are (\[[^\]]*\])",
                                      message).group(1))


@pytest.mark.parametrize("Estimator, params, n_classes, solver", list(_cases()))
def test_an_explicit_solver_trains_exactly_what_the_table_says(Estimator, params,
                                                               n_classes, solver):
    X, y = _tiny(n_classes)
    clf = Estimator(solver=solver, max_iter=3, random_state=0, **params)
    config = _config(clf, n_classes)
    if table.SOLVERS[solver].trains(**config):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert clf.solver_ == solver
        return
    with pytest.raises(ValueError) as error:
        clf.fit(X, y)
    message = str(error.value)
    if Estimator is SVMNetClassifier and not config["network"] and (
            params["penalty"] == "l1" and params["loss"] == "hinge"):
        # LinearSVC's own refusal comes first (and no solver trains it: the table agrees).
        assert "Unsupported set of arguments" in message
        assert table.usable(**config) == []
        return
    assert message.startswith(f"solver={solver!r} ")
    assert _listed(message) == table.usable(**config)
    assert not hasattr(clf, "coefs_")


@pytest.mark.parametrize("Estimator, configurations", [
    (SVMNetClassifier, _svm_configurations),
    (LogisticNetClassifier, _logistic_configurations),
])
@pytest.mark.parametrize("shape, sparse", [
    ((60, 8), False), ((60, 8), True),  # Newton's shape
    ((20, 40), False), ((20, 40), True),  # no more rows than features
    ((1200, 1001), True),  # more rows than features, but too many of them for Newton
])
def test_auto_picks_a_solver_the_table_says_can(Estimator, configurations, shape, sparse):
    n, d = shape
    X = sp.random(n, d, density=0.05, format="csr", random_state=0)
    X = X if sparse else X.toarray()
    for params, n_classes in configurations():
        duals = ("auto", True, False) if Estimator is SVMNetClassifier else (False,)
        for dual in duals:
            clf = Estimator(dual=dual, **params)
            config = _config(clf, n_classes)
            if not table.usable(**config):
                with pytest.raises(ValueError):
                    clf._resolve_solver(X, n_classes)
                continue
            try:
                solver = clf._resolve_solver(X, n_classes)
            except ValueError as error:  # LinearSVC's refusals, whatever the solver
                assert "Unsupported set of arguments" in str(error)
                continue
            n_outputs = 1 if n_classes == 2 else n_classes
            assert solver == table.choose(X, dual=dual, n_outputs=n_outputs,
                                          C=clf._effective_C(), **config)
            assert table.SOLVERS[solver].trains(**config), (params, dual, solver)


def test_choose_raises_where_no_solver_trains_the_configuration():
    with pytest.raises(ValueError, match="No solver trains loss='hinge'.*penalty='l1'"):
        table.choose(np.zeros((5, 2)), loss="hinge", head="ovr", penalty="l1", dual=False,
                     network=False)


def _wide(n_classes=3):
    X, y = make_classification(60, 150, n_informative=10, n_classes=n_classes,
                               random_state=0)
    return X, y


def _narrow(n_classes=3):
    X, y = make_classification(200, 8, n_informative=5, n_classes=n_classes,
                               random_state=0)
    return X, y


def _text(n_classes=4):
    # TF-IDF-like: sparse non-negative rows of unit norm, fewer rows than features
    X = sp.random(300, 2000, density=0.01, format="csr", random_state=0)
    X = sp.diags(1.0 / np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())) @ X
    y = np.arange(300) % n_classes
    return X.tocsr(), y


def _dense_unit_rows(n_classes=4):
    # _text's shape and norms, every entry non-zero
    X, y = make_classification(300, 2000, n_informative=10, n_classes=n_classes,
                               random_state=0)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def _many_features():
    X = sp.random(1500, 1200, density=0.01, format="csr", random_state=0)
    y = np.arange(1500) % 3
    return X, y


#: The auto rule's effect on representative problems (docs/usage.md states the rule).
AUTO_CASES = [
    (SVMNetClassifier(), _narrow, "newton"),
    (SVMNetClassifier(dual=True), _narrow, "dcd"),
    (SVMNetClassifier(multi_class="crammer_singer", dual=False), _narrow, "dcd"),
    (SVMNetClassifier(penalty="l1", dual=False), _wide, "cd"),
    (SVMNetClassifier(), _wide, "dcd"),
    (SVMNetClassifier(dual=False), _wide, "subspace"),
    (SVMNetClassifier(dual=False, multi_class="weston_watkins"), _wide, "lbfgs"),
    (SVMNetClassifier(multi_class="weston_watkins"), _narrow, "lbfgs"),
    (SVMNetClassifier(), _many_features, "subspace"),
    (SVMNetClassifier(loss="hinge"), _many_features, "dcd"),
    (SVMNetClassifier(hidden_layer_sizes=(4,)), _narrow, "adam"),
    (LogisticNetClassifier(), _narrow, "lbfgs"),
    (LogisticNetClassifier(multi_class="ovr"), _narrow, "newton"),
    (LogisticNetClassifier(), _wide, "subspace"),
    (LogisticNetClassifier(multi_class="ovr", C=np.inf), _wide, "subspace"),
    (LogisticNetClassifier(multi_class="ovr"), _many_features, "subspace"),
    (LogisticNetClassifier(hidden_layer_sizes=(4,)), _wide, "adam"),
    # the dual of the softmax: at most a tenth of the entries non-zero (in any format),
    # no more rows than features, and C |x|^2 small
    (LogisticNetClassifier(), _text, "dcd_log"),
    (LogisticNetClassifier(), lambda: (_text()[0].toarray(), _text()[1]), "dcd_log"),
    (LogisticNetClassifier(), _dense_unit_rows, "subspace"),
    (LogisticNetClassifier(), lambda: (sp.csr_matrix(_dense_unit_rows()[0]),
                                       _dense_unit_rows()[1]), "subspace"),
    (LogisticNetClassifier(C=29.9), _text, "dcd_log"),
    (LogisticNetClassifier(C=30.1), _text, "subspace"),
    (LogisticNetClassifier(C=np.inf), _text, "subspace"),
    (LogisticNetClassifier(multi_class="ovr"), _text, "subspace"),
    (LogisticNetClassifier(), lambda: _text(2), "subspace"),
    (LogisticNetClassifier(solver="dcd_log"), _narrow, "dcd_log"),
    # LogisticRegression's names: Newton's (L-BFGS or subspace descent for the softmax),
    # and the algorithms we do not implement run L-BFGS or subspace descent as auto does.
    (LogisticNetClassifier(solver="newton-cholesky", multi_class="ovr"), _narrow, "newton"),
    (LogisticNetClassifier(solver="newton-cg"), _narrow, "lbfgs"),
    (LogisticNetClassifier(solver="newton-cg", multi_class="ovr"), _narrow, "newton"),
    # (LogisticRegression's newton-cg forms no Hessian: none where Newton does not suit)
    (LogisticNetClassifier(solver="newton-cg", multi_class="ovr"), _wide, "subspace"),
    (LogisticNetClassifier(solver="newton-cholesky", multi_class="ovr"), _wide, "newton"),
    (LogisticNetClassifier(solver="newton-cg"), _wide, "subspace"),
    (LogisticNetClassifier(solver="sag", multi_class="ovr"), _narrow, "lbfgs"),
    (LogisticNetClassifier(solver="saga"), _wide, "subspace"),
    (LogisticNetClassifier(solver="liblinear"), _many_features, "subspace"),
]


@pytest.mark.parametrize("clf, data, solver", AUTO_CASES)
def test_auto_and_logisticregression_names_resolve_as_documented(clf, data, solver):
    X, y = data()
    assert clf._resolve_solver(X, len(np.unique(y))) == solver


@pytest.mark.parametrize("Estimator, params", [
    (LogisticNetClassifier, dict(C=10.0)),
    (LogisticNetClassifier, dict(multi_class="ovr")),
    (SVMNetClassifier, dict(C=0.5)),
])
@pytest.mark.parametrize("data", ["wide", "sparse"])
def test_subspace_and_lbfgs_reach_the_same_optimum(Estimator, params, data):
    if data == "wide":  # dense, fewer rows than features
        X, y = make_classification(50, 120, n_informative=8, n_classes=3, random_state=1)
    else:
        X = sp.random(400, 300, density=0.03, format="csr", random_state=2)
        y = np.asarray(X @ np.random.default_rng(0).normal(size=(300, 3))).argmax(axis=1)
    fits = {solver: Estimator(solver=solver, tol=1e-9, max_iter=5000, **params).fit(X, y)
            for solver in ("subspace", "lbfgs")}
    assert {solver: fit.solver_ for solver, fit in fits.items()} == {
        "subspace": "subspace", "lbfgs": "lbfgs"}
    a, b = fits["subspace"].loss_, fits["lbfgs"].loss_
    assert abs(a - b) <= 1e-6 * min(a, b)


def _softmax_objective(clf, X, y, s, C):
    """``|W|^2 / 2 + C sum_i s_i l_i``, the softmax cross-entropy, from the fitted model
    (independent of what the solvers report)."""
    F = np.asarray(X @ clf.coef_.T) + clf.intercept_
    losses = scipy.special.logsumexp(F, axis=1) - F[np.arange(len(y)), y]
    return 0.5 * float(np.sum(clf.coef_ ** 2)) + C * float(s @ losses)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("data, C", [("text", 1.0), ("text", 30.0), ("dense", 0.05)])
@pytest.mark.parametrize("weighted", [False, True])
def test_dual_of_the_softmax_reaches_the_optimum_lbfgs_reaches(data, C, fit_intercept,
                                                               weighted):
    if data == "text":
        X, y = _text(5)
    else:  # dense and wide, unscaled: a larger |x|^2
        X, y = make_classification(60, 150, n_informative=8, n_classes=3,
                                   random_state=0)
    rng = np.random.default_rng(0)
    s = rng.random(len(y)) * (rng.random(len(y)) > 0.2) if weighted else np.ones(len(y))
    fits = {solver: LogisticNetClassifier(
        solver=solver, C=C, fit_intercept=fit_intercept, tol=1e-8, max_iter=20_000,
        random_state=0).fit(X, y, sample_weight=s) for solver in ("dcd_log", "lbfgs")}
    assert fits["dcd_log"].solver_ == "dcd_log"
    dual, primal = (_softmax_objective(fits[name], X, y, s, C)
                    for name in ("dcd_log", "lbfgs"))
    assert dual <= primal * (1 + 1e-9)
    assert abs(dual - primal) <= 1e-8 * primal
    # what the solver reports is the objective's value, scaled as L-BFGS's
    assert fits["dcd_log"].loss_ == pytest.approx(fits["lbfgs"].loss_, rel=1e-7)
    np.testing.assert_allclose(fits["dcd_log"].predict_proba(X),
                               fits["lbfgs"].predict_proba(X), atol=1e-4)
    if not fit_intercept:
        assert not np.any(fits["dcd_log"].intercept_)


def test_dual_of_the_softmax_leaves_out_rows_of_weight_zero():
    X, y = _text(4)
    s = np.where(np.arange(len(y)) % 3 == 0, 0.0, 1.0)
    kept = s > 0
    params = dict(solver="dcd_log", tol=1e-8, max_iter=5000, random_state=0)
    weighted = LogisticNetClassifier(**params).fit(X, y, sample_weight=s)
    subset = LogisticNetClassifier(**params).fit(X[kept], y[kept])
    np.testing.assert_allclose(weighted.predict_proba(X), subset.predict_proba(X),
                               atol=1e-5)


def test_dual_of_the_softmax_warns_when_it_runs_out_of_epochs():
    X, y = _text(4)
    clf = LogisticNetClassifier(solver="dcd_log", max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="'dcd_log' solver stopped at max_iter=1"):
        clf.fit(X, y)
    assert clf.n_iter_ == 1 and np.all(np.isfinite(clf.coef_))


def test_auto_chooses_by_C_at_each_C_of_a_path():
    # The dual below the threshold of C |x|^2, subspace descent above it, in separate
    # fits and along the CV estimators' path alike
    X, y = _text(4)
    solvers = [LogisticNetClassifier(C=C, max_iter=500).fit(X, y).solver_
               for C in (1.0, 1000.0)]
    assert solvers == ["dcd_log", "subspace"]
    path = LogisticNetClassifier(max_iter=500)._fit_path(X, y, None, [1.0, 1000.0])
    assert [fit.solver_ for fit in path] == ["dcd_log", "subspace"]  # (read at each C)


@pytest.mark.parametrize("C", [1e-4, 1e-3])
def test_subspace_descent_reaches_the_optimum_where_the_penalty_dominates(C):
    # Sparse text-like rows, many classes, a small C, from zero (the estimator now starts
    # the log loss at the intercept-only optimum, from which this converges before any
    # drift): the steps are nearly parallel and the penalty's products, kept by
    # algebra, drifted until the fit diverged (coef_ of 1e5, a negative objective)
    # before they were checked against theta's own.
    from sksvmnet._solvers.subspace_descent import _subspace_descent
    rng = np.random.default_rng(0)
    n, d, K = 500, 5000, 20
    X = sp.random(n, d, density=0.01, format="csr", random_state=0)
    X.data[:] = rng.random(X.nnz)
    X = sp.csr_matrix(X.multiply(1 / np.sqrt(X.multiply(X).sum(axis=1))))
    y = rng.integers(0, K, n)
    s = np.ones(n)
    result = _subspace_descent(X, y, s, backend=_numba, C=C, l2=1.0, rho=0.0,
                               scale=1.0 / (C * n), loss="log_loss", head="multinomial",
                               n_outputs=K, fit_intercept=True, tol=1e-4, max_iter=100,
                               theta=np.zeros(d * K + K))
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=5000).fit(X, y)

    def objective(W, b):
        Z = X @ W + b
        return 0.5 * np.sum(W * W) + C * np.sum(
            scipy.special.logsumexp(Z, axis=1) - Z[np.arange(n), y])

    best = objective(reference.coef_.T, reference.intercept_)
    assert result.converged and result.n_iter < 100
    assert objective(result.coefs[0], result.intercepts[0]) - best <= 1e-6 * best


@pytest.mark.parametrize("loss", table.LOSSES)
@pytest.mark.parametrize("head", table.HEADS)
def test_head_along_knows_what_the_subspace_entry_says(loss, head):
    # Subspace descent trains what the backend's head_along computes: the table's entry
    # and the kernel's dispatch agree.
    n, K, r = 12, 1 if head == "binary" else 3, 2
    rng = np.random.default_rng(0)
    Z, U = rng.normal(size=(n, K)), rng.normal(size=(r, n, K))
    y, s, G = rng.integers(0, max(K, 2), n), np.ones(n), np.zeros((n, K))
    entry = table.SOLVERS["subspace"]
    if loss in entry.losses and head in entry.heads:
        _numba.head_along(Z, U, np.zeros(r), y, s, loss, head, G)
    else:
        with pytest.raises(ValueError, match="head_along knows"):
            _numba.head_along(Z, U, np.zeros(r), y, s, loss, head, G)


def test_check_names_the_solver_the_configuration_and_the_alternatives():
    config = dict(loss="squared_hinge", head="crammer_singer", penalty="l2")
    with pytest.raises(ValueError) as error:
        table.check("newton", network=False, **config)
    assert str(error.value) == (
        "solver='newton' cannot train loss='squared_hinge', head='crammer_singer', "
        "penalty='l2' (the linear model); the solvers that can are ['lbfgs', 'dcd', "
        "'adam', 'sgd'].")
    network = (r"solver='newton-cg' \(which runs 'newton'\) trains only the linear "
               r"model.*\['adam', 'sgd'\]")
    with pytest.raises(ValueError, match=network):
        table.check("newton", network=True, name="newton-cg", **dict(config, head="ovr"))
    with pytest.raises(ValueError, match="Unknown solver 'lbfgsb'"):
        table.check("lbfgsb", network=False, **config)


def test_every_solver_is_named_by_an_estimator_and_has_its_passes():
    logistic = set(LOGISTIC_SOLVERS.values())
    assert set(table.SOLVERS) <= set(SVM_SOLVERS) | logistic
    backends = __import__("sksvmnet.backends", fromlist=["INTERFACE"])
    interface = set(backends.INTERFACE) | set(backends.SEQUENTIAL)
    for name, solver in table.SOLVERS.items():
        assert solver.passes and set(solver.passes) <= interface, name
        assert set(solver.optional_passes) <= interface, name
        assert solver.losses <= set(table.LOSSES) and solver.heads <= set(table.HEADS)
        assert solver.penalties <= set(table.PENALTIES) and solver.cost


class _NoSequentialKernels:
    """A backend module's stand-in without the sequential kernels (as JAX's)."""

    def __init__(self):
        backends = __import__("sksvmnet.backends", fromlist=["INTERFACE"])
        for name in backends.INTERFACE:
            setattr(self, name, None)
        self.__name__ = "sksvmnet.backends._device"


@pytest.mark.parametrize("shape", [(60, 8), (20, 40), (1200, 1001)])
def test_auto_without_sequential_kernels_picks_what_the_backend_has(shape):
    # Every configuration the table trains at all, it trains on a backend without dcd
    # and cd, by a solver whose passes the backend has; an explicit dual=True is refused.
    backend = _NoSequentialKernels()
    X = sp.random(*shape, density=0.05, format="csr", random_state=0)
    for loss in table.LOSSES:
        for head in table.HEADS:
            for penalty in table.PENALTIES:
                config = dict(loss=loss, head=head, penalty=penalty, network=False)
                if not table.usable(**config):
                    continue
                solver = table.choose(X, dual="auto", backend=backend, **config)
                assert table.SOLVERS[solver].runs_on(backend), (config, solver)
                assert solver not in ("dcd", "cd"), (config, solver)
                assert solver in table.usable(**config, backend=backend)
    with pytest.raises(ValueError, match="dual=True asks for dual coordinate descent.*"
                                         "'device' backend"):
        table.choose(X, dual=True, backend=backend, loss="hinge", head="ovr",
                     penalty="l2", network=False)
    with pytest.raises(ValueError, match=r"solver='dcd' needs the backend's \['dcd'\]"):
        table.check("dcd", backend=backend, loss="hinge", head="ovr", penalty="l2",
                    network=False)


def test_dual_of_the_softmax_on_float32_and_on_a_class_without_weight():
    # float32 X reaches float64's optimum (the kernel works in float64), and a class
    # whose rows all weigh nothing gets no probability and no NaN
    X, y = _text(4)
    params = dict(solver="dcd_log", tol=1e-8, max_iter=5000, random_state=0)
    single = LogisticNetClassifier(**params).fit(X.astype(np.float32), y)
    double = LogisticNetClassifier(**params).fit(X, y)
    s = np.ones(len(y))
    a, b = (_softmax_objective(fit, X, y, s, 1.0) for fit in (single, double))
    assert abs(a - b) <= 1e-6 * b
    s = np.where(y == 3, 0.0, 1.0)
    weighted = LogisticNetClassifier(**params).fit(X, y, sample_weight=s)
    proba = weighted.predict_proba(X)
    assert np.all(np.isfinite(weighted.coef_)) and np.all(np.isfinite(proba))
    assert proba[:, 3].max() < 1e-6
