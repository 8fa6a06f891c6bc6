"""SVMNetClassifierCV and LogisticNetClassifierCV: scikit-learn's checks, agreement with
GridSearchCV over the same C values and folds, the refit and its absence."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from _helpers import count_calls
from sksvmnet import (
    LogisticNetClassifier,
    LogisticNetClassifierCV,
    SVMNetClassifier,
    SVMNetClassifierCV,
)

CHECKED = [
    SVMNetClassifierCV(Cs=3, cv=3),
    SVMNetClassifierCV(Cs=[0.1, 1.0], cv=3, multi_class="crammer_singer"),
    LogisticNetClassifierCV(Cs=3, cv=3),
    LogisticNetClassifierCV(Cs=[0.1, 1.0], cv=3, multi_class="ovr"),
]


def _expected_failures(estimator):
    # A weight of 2 and a repeated row are one row in a fold, or two rows that may land
    # in different folds: cross-validation scores other splits, and may choose another
    # C (LogisticRegressionCV is no different). Where the same C wins, the fits agree
    # to the solvers' tolerance, and the check may pass.
    reason = "the folds of repeated rows are not the folds of weighted ones"
    return {"check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)


PAIRS = [(SVMNetClassifierCV, SVMNetClassifier),
         (LogisticNetClassifierCV, LogisticNetClassifier)]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("CV, Estimator", PAIRS, ids=["svm", "logistic"])
def test_linear_path_agrees_with_grid_search(CV, Estimator, sparse):
    # The warm-started path reaches each C's optimum, so the folds score as separate
    # fits do: the same C_ and the same mean fold scores (within 1e-3) as GridSearchCV
    # over the same Cs and folds, and the same refitted model.
    X, y = make_classification(600, 20, n_informative=8, n_classes=3, random_state=0)
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) < 0.8, 0.0, X))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    Cs = [100.0, 0.01, 1.0, 0.001, 10.0, 0.1]  # (any order: the path sorts them)
    cv = CV(Cs=Cs, cv=folds, tol=1e-8).fit(X, y)
    search = GridSearchCV(Estimator(tol=1e-8), {"C": Cs}, cv=folds).fit(X, y)
    assert cv.C_ == search.best_params_["C"]
    np.testing.assert_array_equal(cv.Cs_, Cs)
    assert cv.scores_.shape == cv.n_iter_.shape == (5, len(Cs))
    np.testing.assert_allclose(cv.scores_.mean(axis=0),
                               search.cv_results_["mean_test_score"], atol=1e-3)
    best = search.best_estimator_
    np.testing.assert_allclose(cv.coef_, best.coef_, rtol=1e-5,
                               atol=1e-6 * np.abs(best.coef_).max())
    np.testing.assert_array_equal(cv.predict(X), best.predict(X))
    assert cv.estimator_.C == cv.C_


def test_the_path_warm_starts_the_linear_model():
    # Along the path each fit starts from the last C's solution: fewer L-BFGS
    # iterations than the same fits from zero.
    X, y = make_classification(600, 20, n_informative=8, n_classes=3, random_state=0)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    Cs = np.logspace(-2, 2, 6)
    path = LogisticNetClassifierCV(Cs=Cs, cv=folds, solver="lbfgs", tol=1e-8).fit(X, y)
    cold = [[LogisticNetClassifier(C=C, solver="lbfgs", tol=1e-8).fit(
        X[train], y[train]).n_iter_ for C in Cs] for train, _ in folds.split(X, y)]
    assert path.n_iter_[:, 1:].sum() < np.asarray(cold)[:, 1:].sum()


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "ovr"])
def test_dual_coordinate_descent_follows_the_path_from_the_last_duals(loss, n_classes):
    # Along the path dual coordinate descent starts from the last C's dual variables
    # (projected onto this C's box for the hinge): each fit reaches the optimum a cold
    # fit reaches, and a fit started from its own C's solution stops within two epochs.
    X, y = make_classification(300, 400, n_informative=10, n_classes=n_classes,
                               random_state=0)
    X = sp.csr_matrix(np.where(np.abs(X) < 1.0, 0.0, X))
    params = dict(loss=loss, solver="dcd", tol=1e-6, max_iter=100_000, random_state=0)
    Cs = [0.01, 0.1, 1.0, 10.0]
    path = SVMNetClassifier(**params)
    epochs = {}
    for C, fitted in zip(Cs, path._fit_path(X, y, None, Cs)):
        cold = SVMNetClassifier(C=C, **params).fit(X, y)
        assert fitted.solver_ == "dcd" and fitted.C == C
        assert abs(fitted.loss_ - cold.loss_) <= 1e-6 * cold.loss_
        epochs[C] = cold.n_iter_
    # (an epoch or two: the test measures the projected gradients during an epoch)
    again = list(SVMNetClassifier(**params)._fit_path(X, y, None, [1.0, 1.0]))[-1]
    assert again.n_iter_ <= 2 < epochs[1.0]


def test_dual_warm_start_from_a_larger_c_reaches_the_cold_optimum():
    # The hinge's duals are capped at C s_i: a smaller C's fit from a larger C's duals
    # (some above its cap) reaches the optimum of a fit from zero.
    X, y = make_classification(200, 50, n_informative=5, flip_y=0.2, random_state=0)
    params = dict(loss="hinge", solver="dcd", tol=1e-6, max_iter=100_000)
    down = list(SVMNetClassifier(**params)._fit_path(X, y, None, [1.0, 0.01]))[-1]
    cold = SVMNetClassifier(C=0.01, **params).fit(X, y)
    assert abs(down.loss_ - cold.loss_) <= 1e-6 * cold.loss_
    # The start itself is the projection (no epoch run): within [0, C s_i].
    from sksvmnet.backends import _numba
    kernel = dict(loss="hinge", head="binary", intercept_scaling=1.0, fit_intercept=True,
                  n_outputs=1, tol=1e-6, seed=0)
    s = np.ones(len(y))
    duals = _numba.dcd(X, y, s, C=1.0, max_iter=100_000, **kernel)[-1]
    assert duals.max() > 0.01
    start = _numba.dcd(X, y, s, C=0.01, max_iter=0, dual_init=duals, **kernel)[-1]
    assert start.min() >= 0.0 and start.max() <= 0.01
    np.testing.assert_array_equal(start, np.minimum(duals, 0.01))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_networks_train_each_c_from_the_same_start():
    # Networks do not follow a path: each C trains from random_state's initialisation,
    # exactly as GridSearchCV's separate fits do.
    X, y = make_classification(200, 8, n_informative=5, n_classes=3, random_state=0)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    kw = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0, backend="numba")
    cv = SVMNetClassifierCV(Cs=[0.1, 10.0], cv=folds, **kw).fit(X, y)
    search = GridSearchCV(SVMNetClassifier(**kw), {"C": [0.1, 10.0]}, cv=folds).fit(X, y)
    np.testing.assert_array_equal(cv.scores_.mean(axis=0),
                                  search.cv_results_["mean_test_score"])


JAX_PATH_CASES = [
    (SVMNetClassifier, {}),
    (LogisticNetClassifier, dict(early_stopping=True, n_iter_no_change=3,
                                 learning_rate_init=0.05)),
    (SVMNetClassifier, dict(dropout=0.2, input_noise=0.1, activation="tanh")),
    (SVMNetClassifier, dict(learning_rate="adaptive", n_iter_no_change=2, tol=1e-2)),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator, options", JAX_PATH_CASES)
def test_networks_on_jax_train_the_cs_together_as_separate_fits(
        Estimator, options, monkeypatch):
    # On JAX the Cs of a path train in one program per epoch, vectorised over C; each
    # network is still the one its separate fit gives (its start, minibatch order,
    # noise, stopping test and, with early stopping, its best epoch).
    pytest.importorskip("jax", reason="the JAX backend needs the optional jax extra")
    from sksvmnet.backends import _jax

    X, y = make_classification(600, 20, n_informative=8, n_classes=3, random_state=0)
    # (in float64: the vectorised program sums in another order than the separate
    # fits, which float32's rounding would show over 15 epochs, float64's not)
    kw = dict(hidden_layer_sizes=(16,), max_iter=15, random_state=0, backend="jax",
              dtype=np.float64, **options)
    Cs = [0.1, 1.0, 10.0]
    calls = count_calls(monkeypatch, _jax, ["epoch", "epochs"])
    traced = _jax.TRACE_COUNTS["epochs"]
    path = [(model.n_iter_, [W.copy() for W in model.coefs_], list(model.loss_curve_))
            for model in Estimator(**kw)._fit_path(X, y, None, Cs)]
    # One call (one program) per epoch for the three Cs together, compiled once.
    assert calls == {"epoch": 0, "epochs": max(n_iter for n_iter, _, _ in path)}
    assert _jax.TRACE_COUNTS["epochs"] <= traced + 1
    monkeypatch.undo()
    separate = [Estimator(C=C, **kw).fit(X, y) for C in Cs]
    assert len({model.n_iter_ for model in separate}) > 1 or not options.get(
        "early_stopping")  # (early stopping ends the Cs at different epochs)
    for (n_iter, coefs, curve), model in zip(path, separate):
        assert n_iter == model.n_iter_
        for ours, theirs in zip(coefs, model.coefs_):
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(curve, model.loss_curve_, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_network_cv_on_jax_compiles_its_program_once():
    # Fixed shapes (rows padded to buckets, the stopped Cs training on in scratch
    # weights): the five folds, of unequal sizes, run one program.
    pytest.importorskip("jax", reason="the JAX backend needs the optional jax extra")
    from sksvmnet.backends import _jax

    X, y = make_classification(310, 9, n_informative=5, n_classes=3, random_state=1)
    kw = dict(hidden_layer_sizes=(7,), max_iter=6, random_state=0, backend="jax",
              early_stopping=True, n_iter_no_change=2)
    traced = _jax.TRACE_COUNTS["epochs"]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    cv = SVMNetClassifierCV(Cs=4, cv=folds, refit=False, **kw).fit(X, y)
    assert _jax.TRACE_COUNTS["epochs"] <= traced + 1  # the first fold's, if new
    search = GridSearchCV(SVMNetClassifier(**kw), {"C": cv.Cs_}, cv=folds).fit(X, y)
    np.testing.assert_array_equal(cv.scores_.mean(axis=0),
                                  search.cv_results_["mean_test_score"])


def test_in_a_pipeline_and_with_a_scorer():
    X, y = make_classification(300, 10, n_informative=5, random_state=1)
    pipe = make_pipeline(StandardScaler(),
                         SVMNetClassifierCV(Cs=4, cv=3, scoring="balanced_accuracy"))
    pipe.fit(X, y)
    model = pipe[-1]
    assert model.C_ in model.Cs_
    assert pipe.score(X, y) == model.estimator_.score(StandardScaler().fit_transform(X), y)


def test_without_refit_there_is_no_model():
    X, y = make_classification(200, 6, random_state=0)
    cv = LogisticNetClassifierCV(Cs=3, cv=3, refit=False).fit(X, y)
    assert cv.scores_.shape == (3, 3) and cv.C_ in cv.Cs_
    assert not hasattr(cv, "coef_") and not hasattr(cv, "estimator_")
    with pytest.raises(NotFittedError):
        cv.predict(X)
    # A refit-less fit after a refitted one leaves none of the old model behind.
    cv.set_params(refit=True).fit(X, y)
    assert hasattr(cv, "coef_")
    cv.set_params(refit=False).fit(X, y)
    assert not hasattr(cv, "coef_") and not hasattr(cv, "estimator_")
    assert cv.n_features_in_ == X.shape[1]  # (this fit's input check, kept)


def test_warm_start_refits_from_the_last_model_with_the_new_parameters():
    X, y = make_classification(300, 8, n_informative=5, random_state=0)
    cv = LogisticNetClassifierCV(Cs=[1.0], cv=3, warm_start=True, solver="lbfgs",
                                 tol=1e-8).fit(X, y)
    first = cv.estimator_
    cv.set_params(tol=1e-10).fit(X, y)
    assert cv.estimator_ is not first and first.tol == 1e-8  # the last model untouched
    assert cv.estimator_.tol == 1e-10
    assert cv.estimator_.n_iter_ < first.n_iter_  # it went on from the last solution


@pytest.mark.parametrize("Cs, message", [
    ([1.0, -1.0], r"positive finite numbers; got \[1.0, -1.0\]"),
    ([], r"positive finite numbers; got \[\]"),
    (["a", 1.0], r"positive finite numbers; got \['a', 1.0\]"),
    ([[1.0, 2.0]], r"1-d list .* got \[\[1.0, 2.0\]\]"),
    (0, "'Cs' parameter"),
])
def test_bad_cs_are_named_before_any_work(Cs, message):
    X, y = make_classification(60, 4, random_state=0)
    cv = SVMNetClassifierCV(Cs=Cs, cv=3)
    with pytest.raises(ValueError, match=message):
        cv.fit(X, y)
    assert not hasattr(cv, "Cs_")
    with pytest.raises(TypeError):
        SVMNetClassifierCV(C=1.0)  # C is what fit chooses
    with pytest.raises(ValueError, match="'tol' parameter"):
        SVMNetClassifierCV(tol=-1.0).fit(X, y)  # the wrapped estimator's checks too


@pytest.mark.parametrize("CV", [SVMNetClassifierCV, LogisticNetClassifierCV],
                         ids=["svm", "logistic"])
def test_a_failed_fit_leaves_the_last_model(CV):
    X, y = make_classification(150, 5, n_informative=3, n_classes=3, random_state=0)
    cv = CV(Cs=3, cv=3).fit(X, y)
    before = {name: value for name, value in vars(cv).items() if name.endswith("_")}
    with pytest.raises(ValueError, match="one class"):
        cv.fit(X[:, :3], np.zeros(len(y)))  # (its input check passes first)
    assert cv.n_features_in_ == 5 and cv.estimator_ is before["estimator_"]
    np.testing.assert_array_equal(cv.predict(X), before["estimator_"].predict(X))
    mixed = np.where(y == 0, "a", y.astype(object))
    with pytest.raises(ValueError, match="Mix of label input types"):
        cv.fit(X, mixed)
    assert cv.estimator_ is before["estimator_"]


@pytest.mark.filterwarnings("ignore:One or more of the .* non-finite")
def test_a_fold_of_one_class_fails_its_fits_not_the_search():
    X, y = make_classification(120, 5, random_state=0)
    zeros, ones = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    folds = [(zeros[:40], np.concatenate([zeros[40:], ones])),  # trains on one class
             (np.concatenate([zeros[:30], ones[:30]]),
              np.concatenate([zeros[30:], ones[30:]]))]
    with pytest.warns(FitFailedWarning, match="2 of the 4 fits"):
        cv = SVMNetClassifierCV(Cs=[0.1, 1.0], cv=folds, error_score=0.0).fit(X, y)
    search = GridSearchCV(SVMNetClassifier(), {"C": [0.1, 1.0]}, cv=folds,
                          error_score=0.0)
    with pytest.warns(FitFailedWarning):
        search.fit(X, y)
    assert np.all(cv.scores_[0] == 0.0) and np.all(cv.scores_[1] > 0.5)
    for k in range(2):
        np.testing.assert_allclose(cv.scores_[k],
                                   search.cv_results_[f"split{k}_test_score"])
    # With NaN for the failed fold every mean is NaN: nothing to choose by.
    with pytest.warns(FitFailedWarning), pytest.raises(ValueError, match="Every C"):
        SVMNetClassifierCV(Cs=[0.1, 1.0], cv=folds).fit(X, y)


def test_folds_of_a_group_splitter_and_none_at_all():
    X, y = make_classification(120, 5, random_state=0)
    groups = np.arange(len(y)) % 6
    cv = SVMNetClassifierCV(Cs=[0.1, 1.0], cv=GroupKFold(3)).fit(X, y, groups=groups)
    search = GridSearchCV(SVMNetClassifier(), {"C": [0.1, 1.0]}, cv=GroupKFold(3))
    search.fit(X, y, groups=groups)
    np.testing.assert_allclose(cv.scores_.mean(axis=0),
                               search.cv_results_["mean_test_score"], atol=1e-3)
    with pytest.raises(ValueError, match="gave no folds"):
        SVMNetClassifierCV(Cs=2, cv=[]).fit(X, y)


@pytest.mark.parametrize("CV, Estimator", PAIRS, ids=["svm", "logistic"])
def test_sample_weights_weigh_the_scores_as_in_grid_search(CV, Estimator):
    X, y = make_classification(150, 5, n_informative=3, n_classes=3, random_state=0)
    weights = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    folds = KFold(3, shuffle=True, random_state=0)
    cv = CV(Cs=[0.1, 1.0], cv=folds).fit(X, y, sample_weight=weights)
    search = GridSearchCV(Estimator(), {"C": [0.1, 1.0]}, cv=folds)
    search.fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(cv.scores_.mean(axis=0),
                               search.cv_results_["mean_test_score"], atol=1e-3)
    # The same fits, scored without the weights: a scorer that does not take them.
    with pytest.warns(UserWarning, match="does not take sample_weight"):
        plain = CV(Cs=[0.1, 1.0], cv=folds,
                   scoring=lambda est, X, y: est.score(X, y)).fit(
            X, y, sample_weight=weights)
    assert not np.allclose(cv.scores_, plain.scores_)


@pytest.mark.filterwarnings("ignore:One or more of the .* non-finite")
@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_a_failed_fit_scores_error_score_and_nan_ranks_last(backend):
    if backend == "jax":
        pytest.importorskip("jax")
    X, y = load_iris(return_X_y=True)
    # SGD at this rate diverges under the strong weight decay of a small C only (on
    # JAX, where the Cs train together, that C alone fails too).
    options = dict(hidden_layer_sizes=(8,), max_iter=30, backend=backend,
                   random_state=0, solver="sgd", learning_rate_init=10.0)
    Cs = [1e-4, 1e4]
    with pytest.warns(FitFailedWarning, match="of the 6 fits .* failed"):
        cv = SVMNetClassifierCV(Cs=Cs, cv=3, refit=False, **options).fit(100 * X, y)
    search = GridSearchCV(SVMNetClassifier(**options), {"C": Cs}, cv=3, refit=False)
    with pytest.warns(FitFailedWarning):
        search.fit(100 * X, y)
    failed = np.isnan(search.cv_results_["mean_test_score"])
    assert failed.any() and not failed.all()
    np.testing.assert_array_equal(np.isnan(cv.scores_.mean(axis=0)), failed)
    assert cv.C_ == Cs[int(np.flatnonzero(~failed)[0])]
    assert np.all(cv.n_iter_[:, failed] == 0)
    with pytest.raises(FloatingPointError):
        SVMNetClassifierCV(Cs=Cs, cv=3, error_score="raise", **options).fit(100 * X, y)

    # A scorer that gives NaN ranks last too; every C NaN is an error.
    def nan_below_one(est, X, y):
        return np.nan if est.C < 1 else est.score(X, y)
    assert SVMNetClassifierCV(Cs=[0.01, 1.0, 100.0], cv=3,
                              scoring=nan_below_one).fit(X, y).C_ == 1.0
    with pytest.raises(ValueError, match="Every C has a NaN mean"):
        SVMNetClassifierCV(Cs=[0.01, 0.1], cv=3, scoring=nan_below_one).fit(X, y)


def test_a_failed_score_scores_error_score():
    X, y = make_classification(150, 5, n_informative=3, n_classes=3, random_state=0)
    order = np.argsort(y, kind="stable")  # unshuffled folds of sorted rows: a
    X, y = X[order], y[order]  # training fold lacks a class, and log loss fails
    with pytest.warns(UserWarning, match="scores .* failed and score error_score=-1"):
        cv = LogisticNetClassifierCV(Cs=[1.0], cv=KFold(3), scoring="neg_log_loss",
                                     error_score=-1.0, refit=False).fit(X, y)
    search = GridSearchCV(LogisticNetClassifier(), {"C": [1.0]}, cv=KFold(3),
                          scoring="neg_log_loss", error_score=-1.0, refit=False)
    with pytest.warns(UserWarning):
        search.fit(X, y)
    splits = [search.cv_results_[f"split{k}_test_score"][0] for k in range(3)]
    assert -1.0 in splits
    np.testing.assert_allclose(cv.scores_[:, 0], splits, rtol=1e-6)
    # All fits failing is an error, as in GridSearchCV.
    with pytest.raises(ValueError, match="All 3 fits failed"):
        SVMNetClassifierCV(Cs=[1.0], cv=3, hidden_layer_sizes=(8,), max_iter=30,
                           backend="numba", random_state=0, solver="sgd",
                           learning_rate_init=1e6).fit(100 * X, y)
