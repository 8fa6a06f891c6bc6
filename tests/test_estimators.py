"""The estimators as a scikit-learn user meets them: parity, attributes, errors, pipelines."""

import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError

from sksvmnet import LogisticNetClassifier, SVMNetClassifier
from sksvmnet._losses import objective

from _helpers import fit_quietly

TIGHT = dict(tol=1e-8, max_iter=100_000)


def _primal(clf, X, y, *, loss, C=1.0, intercept_scaling=None, l1=False, sample_weight=None):
    """Primal objective of a fitted linear model, the same way for every estimator."""
    classes = np.unique(y)
    y_enc = np.searchsorted(classes, y)
    if len(classes) == 2:
        head = "binary"
    elif loss == "log_loss":
        head = "multinomial"
    else:
        head = getattr(clf, "multi_class", "ovr")
    W = np.asarray(clf.coef_, dtype=np.float64).T
    b = np.atleast_1d(np.asarray(clf.intercept_, dtype=np.float64))
    b = np.broadcast_to(b, (W.shape[1],))
    s = np.ones(len(y)) if sample_weight is None else sample_weight
    penalty = 0.0 if intercept_scaling is None else 1.0 / intercept_scaling ** 2
    value, _, _ = objective([W], [b], X, y_enc, s, C=C, loss=loss, head=head,
                            intercept_penalty=0.0 if l1 else penalty)
    if l1:
        value += np.abs(W).sum() - 0.5 * np.sum(W * W) + np.abs(b).sum() / intercept_scaling
    return value


def _data(n_classes, sparse, n_samples=300, n_features=20, seed=0):
    if sparse:
        rng = np.random.default_rng(seed)
        X = sp.random(n_samples, 4 * n_features, density=0.1, format="csr",
                      random_state=seed)
        y = rng.integers(0, n_classes, n_samples)
        return X, y
    return make_classification(n_samples, n_features, n_informative=8, n_redundant=2,
                               n_classes=n_classes, random_state=seed)


# ------------------------------------------------------------------------ parity

SVM_CASES = {
    "squared_hinge primal": dict(loss="squared_hinge", dual=False),
    "squared_hinge dual": dict(loss="squared_hinge", dual=True),
    "hinge": dict(loss="hinge", C=0.1),
    "intercept_scaling": dict(loss="squared_hinge", intercept_scaling=5.0),
    "l1": dict(loss="squared_hinge", penalty="l1", dual=False),
}


@pytest.mark.parametrize("case", list(SVM_CASES))
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_svm_reaches_linearsvc_objective(case, n_classes, sparse):
    params = SVM_CASES[case]
    X, y = _data(n_classes, sparse)
    ref = LinearSVC(**params, **TIGHT).fit(X, y)
    ours = SVMNetClassifier(**params, **TIGHT).fit(X, y)
    kw = dict(loss=params["loss"], C=params.get("C", 1.0),
              intercept_scaling=params.get("intercept_scaling", 1.0),
              l1=params.get("penalty") == "l1")
    j_ref, j_ours = _primal(ref, X, y, **kw), _primal(ours, X, y, **kw)
    assert j_ours <= j_ref * (1 + 1e-4)
    assert j_ours == pytest.approx(j_ref, rel=1e-4)
    assert ours.coef_.shape == ref.coef_.shape
    assert ours.intercept_.shape == ref.intercept_.shape
    assert np.mean(ours.predict(X) == ref.predict(X)) >= 0.98


def test_svm_crammer_singer_matches_linearsvc():
    X, y = _data(3, sparse=False)
    ref = LinearSVC(multi_class="crammer_singer", C=0.1, **TIGHT).fit(X, y)
    ours = SVMNetClassifier(multi_class="crammer_singer", loss="hinge", C=0.1,
                            **TIGHT).fit(X, y)
    j_ref = _primal(ref, X, y, loss="hinge", C=0.1, intercept_scaling=1.0)
    j_ours = _primal(ours, X, y, loss="hinge", C=0.1, intercept_scaling=1.0)
    assert j_ours == pytest.approx(j_ref, rel=1e-4)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("C", [1.0, np.inf])
def test_logistic_reaches_logisticregression_objective(n_classes, sparse, C):
    X, y = _data(n_classes, sparse)
    if C == np.inf:
        X = X[:, :3]  # a problem that is not separable keeps the unpenalised optimum finite
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    ours = LogisticNetClassifier(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    C_obj = 1.0 if C == np.inf else C
    j_ref = _primal(ref, X, y, loss="log_loss", C=C_obj)
    j_ours = _primal(ours, X, y, loss="log_loss", C=C_obj)
    if C == np.inf:  # drop the penalty from the comparison
        j_ref -= 0.5 * np.sum(ref.coef_ ** 2)
        j_ours -= 0.5 * np.sum(ours.coef_ ** 2)
    assert j_ours == pytest.approx(j_ref, rel=1e-4)
    assert ours.coef_.shape == ref.coef_.shape
    assert ours.intercept_.shape == ref.intercept_.shape
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)


def test_logistic_defaults_reach_the_optimum():
    """With default tol, L-BFGS stops well within 1e-4 of the optimum."""
    X, y = _data(3, sparse=False)
    ref = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    ours = LogisticNetClassifier().fit(X, y)
    assert _primal(ours, X, y, loss="log_loss") == pytest.approx(
        _primal(ref, X, y, loss="log_loss"), rel=1e-4)


def test_svm_defaults_reach_the_optimum():
    X, y = _data(3, sparse=False)
    ref = LinearSVC(**TIGHT).fit(X, y)
    ours = SVMNetClassifier().fit(X, y)
    kw = dict(loss="squared_hinge", intercept_scaling=1.0)
    assert _primal(ours, X, y, **kw) == pytest.approx(_primal(ref, X, y, **kw), rel=1e-4)


# ------------------------------------------------------- LinearSVC's behaviours

@pytest.mark.parametrize("Estimator, params", [
    (SVMNetClassifier, dict(dual=False)),
    (SVMNetClassifier, dict(dual=True)),
    (LogisticNetClassifier, {}),
])
def test_sample_weight_equals_repeating_rows(Estimator, params):
    X, y = _data(3, sparse=False, n_samples=120)
    weights = np.random.default_rng(0).integers(0, 3, len(y))
    weighted = Estimator(**params, **TIGHT, random_state=0).fit(X, y, sample_weight=weights)
    repeated = Estimator(**params, **TIGHT, random_state=0).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights))
    np.testing.assert_allclose(weighted.decision_function(X),
                               repeated.decision_function(X), rtol=1e-4, atol=1e-5)


def test_class_weight_balanced_equals_sample_weight():
    X, y = _data(3, sparse=False)
    y = np.where(np.arange(len(y)) < 40, 2, np.minimum(y, 1))
    balanced = SVMNetClassifier(class_weight="balanced", **TIGHT).fit(X, y)
    counts = np.bincount(y)
    weights = (len(y) / (len(counts) * counts))[y]
    manual = SVMNetClassifier(**TIGHT).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(balanced.coef_, manual.coef_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("Estimator", [SVMNetClassifier, LogisticNetClassifier])
def test_class_weight_balanced_counts_the_sample_weights(Estimator):
    # "balanced" weighs each class by n / (K * its total sample weight), as
    # LogisticRegression and LinearSVC do: with weights of 2 for half the rows the same
    # as repeating those rows, class weights included.
    X, y = _data(3, sparse=False, n_samples=120)
    y = np.where(np.arange(len(y)) < 20, 2, np.minimum(y, 1))
    weights = np.where(np.arange(len(y)) % 2 == 0, 2, 1)
    weighted = Estimator(class_weight="balanced", **TIGHT).fit(X, y, sample_weight=weights)
    repeated = Estimator(class_weight="balanced", **TIGHT).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights))
    np.testing.assert_allclose(weighted.decision_function(X),
                               repeated.decision_function(X), rtol=1e-4, atol=1e-5)


def test_intercept_scaling_reduces_the_intercept_penalty():
    X, y = _data(2, sparse=False)
    X = X + 5.0  # an intercept far from zero
    small = SVMNetClassifier(intercept_scaling=0.1, **TIGHT).fit(X, y)
    large = SVMNetClassifier(intercept_scaling=100.0, **TIGHT).fit(X, y)
    ref = LinearSVC(intercept_scaling=100.0, **TIGHT).fit(X, y)
    assert abs(small.intercept_[0]) < abs(large.intercept_[0])
    np.testing.assert_allclose(large.intercept_, ref.intercept_, rtol=1e-3)


def test_n_iter_is_an_int():
    X, y = load_iris(return_X_y=True)
    for clf in (SVMNetClassifier(max_iter=5000), LogisticNetClassifier(max_iter=5000)):
        assert isinstance(clf.fit(X, y).n_iter_, int)


def test_setting_coef_by_hand_changes_decision_function():
    X, y = load_iris(return_X_y=True)
    clf = SVMNetClassifier(max_iter=5000).fit(X, y)
    clf.coef_ = np.zeros_like(clf.coef_)
    clf.intercept_ = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(clf.decision_function(X[:2]), [[1, 2, 3], [1, 2, 3]])
    assert set(clf.predict(X)) == {2}


def test_coef_is_only_for_the_linear_model():
    X, y = load_iris(return_X_y=True)
    net = SVMNetClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning):
        net.fit(X, y)
    with pytest.raises(AttributeError, match="hidden_layer_sizes"):
        net.coef_
    assert [W.shape for W in net.coefs_] == [(4, 4), (4, 3)]


def test_svm_has_no_predict_proba_but_calibrates():
    X, y = load_iris(return_X_y=True)
    assert not hasattr(SVMNetClassifier(), "predict_proba")
    calibrated = CalibratedClassifierCV(SVMNetClassifier(max_iter=5000), cv=3).fit(X, y)
    proba = calibrated.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_logistic_probabilities_are_consistent():
    X, y = load_iris(return_X_y=True)
    for multi_class in ("multinomial", "ovr"):
        clf = LogisticNetClassifier(multi_class=multi_class, max_iter=1000).fit(X, y)
        proba = clf.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-10)
        np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


def test_logistic_accepts_logisticregression_keywords():
    X, y = load_iris(return_X_y=True)
    for solver in ("newton-cg", "newton-cholesky", "sag", "saga", "liblinear"):
        clf = LogisticNetClassifier(solver=solver, max_iter=1000, n_jobs=1,
                                    l1_ratio=0.0, intercept_scaling=1).fit(X, y)
        assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match=r"l1_ratio=0\.5"):
        LogisticNetClassifier(l1_ratio=0.5).fit(X, y)
    with pytest.raises(ValueError, match="dual=True"):
        LogisticNetClassifier(dual=True).fit(X, y)
    unpenalised = LogisticNetClassifier(penalty=None, max_iter=1000).fit(X[:, :2], y)
    infinite_C = LogisticNetClassifier(C=np.inf, max_iter=1000).fit(X[:, :2], y)
    np.testing.assert_allclose(unpenalised.coef_, infinite_C.coef_)


# ----------------------------------------------------------------- input types

def test_float32_trains_in_float32_and_integers_in_float64():
    X, y = _data(3, sparse=False)
    clf = SVMNetClassifier().fit(X.astype(np.float32), y)
    assert clf.coef_.dtype == np.float32
    clf = SVMNetClassifier(max_iter=5000).fit(np.round(X * 10).astype(np.int64), y)
    assert clf.coef_.dtype == np.float64


@pytest.mark.parametrize("Estimator", [SVMNetClassifier, LogisticNetClassifier])
def test_dtype_auto_trains_networks_in_float32_and_linear_models_in_the_inputs_type(
        Estimator):
    X, y = _data(3, sparse=False)
    network = Estimator(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    for data in (X, X.astype(np.float32)):
        assert {W.dtype for W in fit_quietly(network, data, y).coefs_} == {np.dtype(np.float32)}
    linear = Estimator(max_iter=1000)
    assert fit_quietly(linear, X, y).coef_.dtype == np.float64
    assert fit_quietly(linear, X.astype(np.float32), y).coef_.dtype == np.float32
    first = Estimator(hidden_layer_sizes=(8,)).partial_fit(X, y, classes=np.unique(y))
    assert first.coefs_[0].dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float64, "float64", np.dtype(np.float64)])
def test_dtype_float64_trains_a_network_in_double_precision(dtype):
    X, y = _data(3, sparse=False)
    single = fit_quietly(SVMNetClassifier(hidden_layer_sizes=(8,), max_iter=3,
                                          random_state=0), X, y)
    double = fit_quietly(SVMNetClassifier(hidden_layer_sizes=(8,), max_iter=3,
                                          random_state=0, dtype=dtype), X, y)
    assert all(W.dtype == np.float64 for W in double.coefs_ + double.intercepts_)
    # the same network in the two precisions: close, and not the same digits
    for W32, W64 in zip(single.coefs_, double.coefs_):
        np.testing.assert_allclose(W32, W64, rtol=1e-3, atol=1e-4)
        assert not np.array_equal(W32.astype(np.float64), W64)
    linear = fit_quietly(SVMNetClassifier(dtype=dtype), X.astype(np.float32), y)
    assert linear.coef_.dtype == np.float64


def test_dtype_float32_trains_a_linear_model_in_single_precision():
    X, y = _data(3, sparse=False)
    single = fit_quietly(SVMNetClassifier(dtype=np.float32), X, y)
    assert single.coef_.dtype == np.float32
    double = fit_quietly(SVMNetClassifier(), X, y)
    np.testing.assert_allclose(single.coef_, double.coef_, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_warm_start_continues_in_the_dtype_asked_for_now(backend):
    if backend == "jax":
        pytest.importorskip("jax", reason="the JAX backend needs the optional jax extra")
    X, y = _data(3, sparse=False)
    clf = fit_quietly(SVMNetClassifier(hidden_layer_sizes=(6,), max_iter=2, warm_start=True,
                                       random_state=0, backend=backend), X, y)
    for dtype in (np.float64, np.float32):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            before = [W.copy() for W in clf.coefs_]
            clf.set_params(dtype=dtype).fit(X, y)
        assert all(W.dtype == dtype for W in clf.coefs_ + clf.intercepts_)
        state = clf._optimizer_state
        assert all(a.dtype == dtype for key in ("m_coefs", "v_coefs", "m_intercepts",
                                                "v_intercepts") for a in state[key])
        # (went on from the weights it had: the first layer moved by a few steps only)
        np.testing.assert_allclose(clf.coefs_[0], before[0], atol=0.1)


def test_partial_fit_keeps_its_first_type_and_checks_dtype_every_call():
    X, y = _data(3, sparse=False)
    clf = SVMNetClassifier(hidden_layer_sizes=(6,), dtype=np.float64)
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.set_params(dtype="float32").partial_fit(X, y)
    assert clf.coefs_[0].dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        clf.set_params(dtype=int).partial_fit(X, y)


@pytest.mark.parametrize("dtype", [np.int64, np.float16, "float16", int, "single"])
def test_dtype_other_than_float32_or_float64_is_refused_before_training(dtype):
    X, y = _data(3, sparse=False)
    clf = SVMNetClassifier(hidden_layer_sizes=(8,), dtype=dtype)
    with pytest.raises(ValueError, match="dtype"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_dataframe_keeps_feature_names():
    pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticNetClassifier(max_iter=1000).fit(X, y)
    np.testing.assert_array_equal(clf.feature_names_in_, X.columns)


def test_string_labels_and_sparse_csc():
    X, y = _data(3, sparse=True)
    labels = np.array(["ham", "eggs", "spam"])[y]
    clf = SVMNetClassifier().fit(X.tocsc(), labels)
    assert set(clf.predict(X)) <= set(labels)
    np.testing.assert_array_equal(clf.classes_, ["eggs", "ham", "spam"])


@pytest.mark.parametrize("Estimator", [SVMNetClassifier, LogisticNetClassifier])
def test_label_kinds_checked_as_scikit_learn_checks_them(Estimator):
    # Integer and boolean labels skip scikit-learn's target check unless it may warn;
    # every other kind goes through it: the same errors and warnings for every kind.
    X, y = _data(2, sparse=False)
    for labels in (y.astype(np.int8), y.astype(np.uint64), y.astype(bool),
                   y.astype(np.float64)):
        clf = Estimator().fit(X, labels)
        np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        Estimator().fit(X, y + 0.5)
    # Many distinct labels: scikit-learn's warning that y may be a regression target.
    many = np.arange(len(y)) % (len(y) // 2 + 10)
    for labels in (many, many.astype(np.float64)):
        with pytest.warns(UserWarning, match="unique classes is greater than 50%"):
            Estimator().fit(X, labels)


def test_parameter_names_are_each_class_own():
    # The names are kept per class and per __init__: scikit-learn's own reading of the
    # signature for every estimator, a subclass's own, and a replaced __init__'s.
    from sklearn.base import BaseEstimator

    from sksvmnet import LogisticNetClassifierCV, SVMNetClassifierCV

    base = SVMNetClassifier._get_param_names()
    for Estimator in (SVMNetClassifier, LogisticNetClassifier, SVMNetClassifierCV,
                      LogisticNetClassifierCV):
        assert Estimator._get_param_names() == BaseEstimator._get_param_names.__func__(
            Estimator)

    class Wider(SVMNetClassifier):
        def __init__(self, extra=1):
            super().__init__()
            self.extra = extra

    assert Wider._get_param_names() == ["extra"]
    assert SVMNetClassifier._get_param_names() == base

    def wider(self, extra=1, more=2):
        super(Wider, self).__init__()
        self.extra, self.more = extra, more

    Wider.__init__ = wider
    assert Wider._get_param_names() == ["extra", "more"]


TEXTS = [
    "the cat sat on the mat", "a dog chased the cat", "cats and dogs are pets",
    "stocks fell sharply today", "the market rallied on earnings", "investors sold shares",
    "the team won the match", "a late goal decided the game", "fans cheered the players",
] * 4
TOPICS = ["pets"] * 3 + ["finance"] * 3 + ["sport"] * 3


def test_drop_in_for_linearsvc_in_a_text_grid_search():
    from sksvmnet import SVMNetClassifier as LinearSVC  # the advertised drop-in

    y = TOPICS * 4
    pipe = make_pipeline(TfidfVectorizer(), LinearSVC())
    search = GridSearchCV(pipe, {"svmnetclassifier__C": [0.1, 1.0, 10.0]}, cv=3, n_jobs=2)
    search.fit(TEXTS, y)
    assert search.best_score_ > 0.9
    assert search.predict(["the dog sat on a cat"])[0] == "pets"


# -------------------------------------------------------------------- bad input

def _assert_unfitted(clf):
    with pytest.raises(NotFittedError):
        clf.predict(np.zeros((1, 4)))


@pytest.mark.parametrize("Estimator", [SVMNetClassifier, LogisticNetClassifier])
@pytest.mark.parametrize("X, y, message", [
    ([[0.0, np.nan], [1.0, 2.0]], [0, 1], "NaN"),
    ([[0.0, np.inf], [1.0, 2.0]], [0, 1], "infinity"),
    ([[0.0, 1.0], [1.0, 2.0]], [1, 1], "one class: 1"),
    (np.zeros((0, 2)), [], "0 sample"),
    ([[0.0, 1.0], [1.0, 2.0]], ["a", 1], "Mix of label input types"),
])
def test_bad_data_is_named(Estimator, X, y, message):
    clf = Estimator()
    with pytest.raises(ValueError, match=message):
        clf.fit(np.asarray(X), np.asarray(y, dtype=object) if message.startswith("Mix")
                else np.asarray(y))
    _assert_unfitted(clf)


@pytest.mark.parametrize("params, message", [
    (dict(loss="log_loss"), "'loss' parameter of SVMNetClassifier must be"),
    (dict(solver="newton-cg"), "'solver' parameter"),
    (dict(multi_class="crammer_singer", solver="newton"),
     "solver='newton' cannot train .*head='crammer_singer'"),
    (dict(multi_class="weston_watkins", solver="newton"),
     "solver='newton' cannot train .*head='weston_watkins'"),
    (dict(multi_class="softmax"), "'multi_class' parameter"),
    (dict(C=0.0), "'C' parameter"),
    (dict(C=-1.0), "Got -1.0"),
    (dict(hidden_layer_sizes=(5,), solver="dcd"), "solver='dcd' trains only the linear"),
    (dict(loss="hinge", solver="subspace"), "solver='subspace' cannot train loss='hinge'"),
    (dict(loss="hinge", dual=False), "Unsupported set of arguments.*dual=False"),
    (dict(penalty="l1", loss="hinge"), "penalty='l1'"),
    (dict(hidden_layer_sizes=(0,)), r"hidden_layer_sizes must hold positive integers; got \(0,\)"),
])
def test_bad_parameters_are_named(params, message):
    X, y = load_iris(return_X_y=True)
    clf = SVMNetClassifier(**params)
    with pytest.raises((ValueError, InvalidParameterError), match=message):
        clf.fit(X, y)
    _assert_unfitted(clf)


def test_wrong_number_of_features_at_predict():
    X, y = load_iris(return_X_y=True)
    clf = SVMNetClassifier(max_iter=5000).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but SVMNetClassifier is "
                                         "expecting 4 features"):
        clf.predict(X[:, :3])


def test_failed_refit_keeps_the_previous_model():
    X, y = load_iris(return_X_y=True)
    clf = SVMNetClassifier(max_iter=5000).fit(X, y)
    before = clf.decision_function(X)
    with pytest.raises(ValueError):
        clf.fit(X[:, :2], np.zeros(len(y)))
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.decision_function(X), before)


def test_divergence_is_an_error_not_nan():
    X, y = load_iris(return_X_y=True)
    clf = SVMNetClassifier(hidden_layer_sizes=(16,), activation="identity", solver="sgd",
                           learning_rate_init=1e6, C=1e6, max_iter=20, random_state=0)
    with pytest.raises(FloatingPointError, match="smaller learning_rate_init"):
        clf.fit(X * 1e3, y)
    _assert_unfitted(clf)


def test_max_iter_warns():
    X, y = _data(3, sparse=False)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2\b"):
        SVMNetClassifier(max_iter=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        LogisticNetClassifier(max_iter=2).fit(X, y)


# ----------------------------------------------------------- networks and state

@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_network_fit_is_bitwise_reproducible(backend):
    if backend == "jax":
        pytest.importorskip("jax")
    X, y = _data(3, sparse=False)
    params = dict(hidden_layer_sizes=(16, 8), max_iter=5, random_state=3,
                  input_noise=0.3, dropout=0.2, backend=backend, solver="sgd",
                  learning_rate="linear")
    with pytest.warns(ConvergenceWarning):
        a = SVMNetClassifier(**params).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        b = SVMNetClassifier(**params).fit(X, y)
    for Wa, Wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(Wa, Wb)
    assert a.loss_curve_ == b.loss_curve_


@pytest.mark.parametrize("Estimator", [SVMNetClassifier, LogisticNetClassifier])
def test_network_learns(Estimator):
    X, y = _data(3, sparse=False, n_samples=400)
    # (on all the rows: early stopping, on by default, would hold a tenth out)
    clf = Estimator(hidden_layer_sizes=(32,), max_iter=1000, learning_rate_init=0.01,
                    tol=1e-3, early_stopping=False, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_early_stopping_watches_the_held_out_loss_and_accuracy():
    # It stops once neither the held-out loss has fallen nor the held-out accuracy risen
    # by tol for n_iter_no_change epochs, and keeps the weights of the best accuracy
    # (ties: the lower loss): a fit stopped at that epoch has them.
    X, y = _data(3, sparse=False, n_samples=400)
    kw = dict(hidden_layer_sizes=(16,), early_stopping=True, learning_rate_init=0.02,
              n_iter_no_change=4, tol=1e-3, random_state=0)
    clf = SVMNetClassifier(max_iter=500, **kw).fit(X, y)
    losses, scores = clf.validation_loss_curve_, clf.validation_scores_
    assert len(losses) == len(scores) == clf.n_iter_ < 500
    assert min(losses[-4:]) > min(losses[:-4]) - 1e-3  # the last 4 epochs: no gain
    assert max(scores[-4:]) < max(scores[:-4]) + 1e-3
    best = max(range(len(scores)), key=lambda epoch: (scores[epoch], -losses[epoch]))
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_validation_loss_ == losses[best]
    stopped = fit_quietly(SVMNetClassifier(max_iter=best + 1, **kw), X, y)
    np.testing.assert_allclose(stopped.validation_loss_curve_, losses[:best + 1])
    for ours, theirs in zip(clf.coefs_, stopped.coefs_):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("Estimator", [SVMNetClassifier, LogisticNetClassifier])
def test_early_stopping_auto_is_on_for_networks_only(Estimator):
    X, y = _data(3, sparse=False, n_samples=10_000)
    network = fit_quietly(Estimator(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
                          X, y)
    assert len(network.validation_loss_curve_) == 2
    assert network._train_rows == 9_000  # (a tenth held out: the 1,000 rows it needs)
    off = fit_quietly(Estimator(hidden_layer_sizes=(8,), max_iter=2, random_state=0,
                                early_stopping=False), X, y)
    assert not hasattr(off, "validation_loss_curve_") and off._train_rows == 10_000
    linear = fit_quietly(Estimator(solver="adam", max_iter=2, random_state=0), X, y)
    assert not hasattr(linear, "validation_loss_curve_") and linear._train_rows == 10_000
    # A tenth of fewer rows holds fewer than 1,000: all are trained on.
    small = fit_quietly(Estimator(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
                        X[:9_990], y[:9_990])
    assert not hasattr(small, "validation_loss_curve_") and small._train_rows == 9_990
    # ... and 10 per class: 1,000 held-out rows of 150 classes are too few.
    many = np.arange(10_000) % 150
    assert not fit_quietly(Estimator(hidden_layer_sizes=(8,), max_iter=1, random_state=0),
                           X, many)._early_stopping([8], many)
    # A refit without it drops the last fit's validation record.
    network.set_params(early_stopping=False)
    assert not hasattr(fit_quietly(network, X, y), "validation_scores_")


def test_partial_fit_continues_training():
    X, y = _data(3, sparse=False)
    clf = SVMNetClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                           random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    for _ in range(20):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 20 and len(clf.loss_curve_) == 20
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, y + 5)
    assert not hasattr(SVMNetClassifier(penalty="l1"), "partial_fit")


@pytest.mark.parametrize("classes", [[2, 0, 1], [0, 2, 1, 1]])
def test_partial_fit_takes_the_classes_in_any_order(classes):
    X, y = _data(3, sparse=False)
    kw = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    given, ordered = LogisticNetClassifier(**kw), LogisticNetClassifier(**kw)
    for _ in range(3):
        given.partial_fit(X, y, classes=classes)
        ordered.partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_array_equal(given.classes_, [0, 1, 2])
    np.testing.assert_array_equal(given.predict_proba(X), ordered.predict_proba(X))
    given.partial_fit(X, y, classes=[1, 0, 2])  # the same classes again, reordered
    with pytest.raises(ValueError, match="differs from the classes"):
        given.partial_fit(X, y, classes=[0, 1, 2, 3])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_change_of_layers_starts_afresh_or_is_refused_by_partial_fit():
    X, y = _data(3, sparse=False)
    kw = dict(learning_rate_init=0.01, random_state=0, max_iter=3)
    warm = LogisticNetClassifier(hidden_layer_sizes=(8,), warm_start=True, **kw)
    warm.fit(X, y).set_params(hidden_layer_sizes=(16,)).fit(X, y)
    cold = LogisticNetClassifier(hidden_layer_sizes=(16,), **kw).fit(X, y)
    assert [W.shape for W in warm.coefs_] == [(20, 16), (16, 3)]
    np.testing.assert_array_equal(warm.coefs_[0], cold.coefs_[0])
    stream = LogisticNetClassifier(hidden_layer_sizes=(8,), **kw)
    stream.partial_fit(X, y, classes=[0, 1, 2]).set_params(hidden_layer_sizes=(16,))
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(16,\) differs .* \(8,\)"):
        stream.partial_fit(X, y)
    assert stream.n_iter_ == 1


def test_values_beyond_float32_are_refused_where_training_runs_in_it():
    X, y = _data(2, sparse=False)
    X[0, 0] = 1e39
    with pytest.raises(ValueError, match=r"values up to 1e\+39 .* beyond the range of "
                                         r"float32 .* dtype=np.float64"):
        SVMNetClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y)
    # In float64 the check has nothing to refuse.
    assert fit_quietly(SVMNetClassifier(hidden_layer_sizes=(4,), max_iter=1,
                                        learning_rate_init=1e-45, dtype=np.float64),
                       X, y).coefs_[0].dtype == np.float64


def test_warm_start_continues_from_the_previous_solution():
    X, y = _data(3, sparse=False)
    clf = LogisticNetClassifier(warm_start=True, max_iter=1000).fit(X, y)
    first = clf.n_iter_
    clf.fit(X, y)
    assert clf.n_iter_ < first


@pytest.mark.parametrize("hidden", [(), (8,)])
def test_pickle_round_trip(hidden):
    X, y = load_iris(return_X_y=True)
    clf = LogisticNetClassifier(hidden_layer_sizes=hidden, max_iter=2000,
                                learning_rate_init=0.01, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    assert all(type(W) is np.ndarray for W in clone.coefs_ + clone.intercepts_)
    assert clone.backend_ == "numba"


def test_verbose_prints_epochs(capsys):
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning):
        SVMNetClassifier(hidden_layer_sizes=(4,), max_iter=3, verbose=1,
                         random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert re.findall(r"Epoch (\d+), loss", out) == ["1", "2", "3"]


@pytest.mark.parametrize("name", ["numba", "jax"])
def test_every_backend_implements_the_interface(name):
    from sksvmnet.backends import INTERFACE, get_backend
    if name == "jax":
        pytest.importorskip("jax")
    module = get_backend(name)
    missing = [function for function in INTERFACE if not callable(getattr(module, function, None))]
    assert missing == []


# ------------------------------------------------------- dense or sparse: one model

#: Every head and loss at default settings, with the relative agreement of dense and
#: sparse input that a user can count on: the solver is chosen from X's shape, never its
#: format, so the deterministic solvers give the same model to rounding, and dual
#: coordinate descent (random sample order) runs to a certified gap of 1e-11 on small
#: problems. The hinge and the Crammer-Singer and Weston-Watkins heads: 1e-3.
FORMAT_CASES = [
    (SVMNetClassifier, dict(), 1e-5),
    (SVMNetClassifier, dict(loss="hinge"), 1e-3),
    (SVMNetClassifier, dict(multi_class="crammer_singer"), 1e-3),
    (SVMNetClassifier, dict(multi_class="crammer_singer", loss="hinge"), 1e-3),
    (SVMNetClassifier, dict(multi_class="weston_watkins"), 1e-3),
    (SVMNetClassifier, dict(multi_class="weston_watkins", loss="hinge"), 1e-3),
    (SVMNetClassifier, dict(penalty="l1", dual=False), 1e-5),
    (LogisticNetClassifier, dict(), 1e-5),
    (LogisticNetClassifier, dict(multi_class="ovr"), 1e-5),
]


# (The L1 solver stops at max_iter on the wide problems, as liblinear's does, and so
# does dual coordinate descent on the Crammer-Singer and Weston-Watkins heads where rows
# outnumber features; both are deterministic given random_state.)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("shape", [(300, 20), (120, 200), (400, 1200)],
                         ids=["n>d", "n<d", "d>1000"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("Estimator, params, rtol", FORMAT_CASES)
def test_dense_and_sparse_input_give_one_model(Estimator, params, rtol, n_classes, shape):
    X, y = make_classification(*shape, n_informative=10, n_classes=n_classes,
                               random_state=0)
    X[np.abs(X) < 0.7] = 0.0  # half the entries zero, as sparse input has
    if (n_classes > 2 and shape[0] > shape[1]
            and params.get("multi_class") in ("crammer_singer", "weston_watkins")):
        # The dual of these heads does not converge in max_iter epochs here (liblinear's
        # neither): the model is the dual's point after max_iter epochs, which depends
        # on the sample order, the same for both formats once it is fixed.
        params = dict(params, random_state=0)
    dense = Estimator(**params).fit(X, y)
    sparse = Estimator(**params).fit(sp.csr_matrix(X), y)
    assert dense.solver_ == sparse.solver_
    expected = dense.decision_function(X)
    np.testing.assert_allclose(sparse.decision_function(X), expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())


# ------------------------------------------------------------ LinearSVC's extras

# (LinearSVC's L1 solver stops at max_iter on iris too)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator, params", [
    (SVMNetClassifier, dict(penalty="l1", dual=False, C=0.1)),
    (LogisticNetClassifier, dict()),
])
def test_sparsify_and_densify(Estimator, params):
    X, y = load_iris(return_X_y=True)
    clf = Estimator(**params).fit(X, y)
    dense_coef, expected = clf.coef_.copy(), clf.decision_function(X)
    assert clf.sparsify() is clf
    assert sp.issparse(clf.coef_) and clf.coef_.shape == dense_coef.shape
    assert clf.coef_.nnz == np.count_nonzero(dense_coef)
    np.testing.assert_allclose(clf.decision_function(X), expected, rtol=1e-12)
    np.testing.assert_allclose(clf.decision_function(sp.csr_matrix(X)), expected,
                               rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), expected.argmax(axis=1))
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clone.decision_function(X), expected, rtol=1e-12)
    assert clf.densify() is clf
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_array_equal(clf.coef_, dense_coef)


def test_warm_start_from_sparsified_coefficients():
    X, y = load_iris(return_X_y=True)
    clf = LogisticNetClassifier(warm_start=True).fit(X, y)
    expected = clf.coef_.copy()
    clf.sparsify().fit(X, y)
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_allclose(clf.coef_, expected, rtol=1e-4, atol=1e-6)


def test_sparsify_is_only_for_the_linear_model():
    net = SVMNetClassifier(hidden_layer_sizes=(4,))
    assert not hasattr(net, "sparsify") and not hasattr(net, "densify")
    with pytest.raises(AttributeError):
        net.sparsify()
    with pytest.raises(NotFittedError):
        SVMNetClassifier().sparsify()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_hidden_layer_sizes_takes_an_int_as_mlpclassifier_does():
    X, y = make_classification(200, 6, random_state=0)
    kw = dict(max_iter=3, random_state=0)
    a = SVMNetClassifier(hidden_layer_sizes=8, **kw).fit(X, y)
    b = SVMNetClassifier(hidden_layer_sizes=(8,), **kw).fit(X, y)
    assert [W.shape for W in a.coefs_] == [(6, 8), (8, 1)]
    for Wa, Wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(Wa, Wb)
    with pytest.raises(InvalidParameterError, match="hidden_layer_sizes"):
        SVMNetClassifier(hidden_layer_sizes=0).fit(X, y)


@pytest.mark.parametrize("params, solver", [
    (dict(), "newton"),
    (dict(dual=True), "dcd"),
    (dict(multi_class="weston_watkins"), "lbfgs"),
    (dict(penalty="l1", dual=False), "cd"),
    (dict(hidden_layer_sizes=(4,), max_iter=2), "adam"),
])
def test_fitted_estimator_names_its_solver_and_device(params, solver):
    X, y = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SVMNetClassifier(backend="numba", **params).fit(X, y)
    assert (clf.solver_, clf.device_) == (solver, "host")


def test_sparse_data_with_many_features_runs_subspace_descent_dense_too():
    X, y = make_classification(100, 1200, n_informative=10, random_state=0)
    for data in (X, sp.csr_matrix(X)):
        assert LogisticNetClassifier().fit(data, y).solver_ == "subspace"


def test_dual_weights_are_kept_without_a_copy():
    # The dual solvers hand back (n_outputs, n_features) weights transposed; the
    # estimator keeps them as they are (a copy doubled the peak memory of a text fit), so
    # coef_ is C-ordered, and a warm start from them still works.
    X, y = make_classification(40, 200, n_informative=10, n_classes=3, random_state=0)
    clf = SVMNetClassifier(random_state=0).fit(sp.csr_matrix(X), y)
    assert clf.solver_ == "dcd"
    assert clf.coef_.flags.c_contiguous and clf.coefs_[0].flags.f_contiguous
    again = SVMNetClassifier(random_state=0, warm_start=True, solver="lbfgs")
    again.fit(X, y)
    again.coefs_, again.intercepts_ = clf.coefs_, clf.intercepts_
    again.fit(X, y)
    assert again.score(X, y) == clf.score(X, y) == 1.0
