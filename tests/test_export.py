"""to_sklearn: the fitted scikit-learn estimator predicts as ours and states our model."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC

from _helpers import fit_quietly
from sksvmnet import (
    LogisticNetClassifier,
    LogisticNetClassifierCV,
    SVMNetClassifier,
    SVMNetClassifierCV,
)

NETWORK = dict(hidden_layer_sizes=(7, 5), max_iter=30, random_state=0)

# (estimator, the scikit-learn class of its export, whether the export has predict_proba
# equal to ours)
CASES = {
    "svm-squared-hinge": (SVMNetClassifier(), LinearSVC, False),
    "svm-hinge": (SVMNetClassifier(loss="hinge", max_iter=5000), LinearSVC, False),
    "svm-l1": (SVMNetClassifier(penalty="l1"), LinearSVC, False),
    "svm-crammer-singer-hinge": (
        SVMNetClassifier(multi_class="crammer_singer", loss="hinge", max_iter=5000),
        LinearSVC, False),
    "logistic": (LogisticNetClassifier(), LogisticRegression, True),
    "logistic-no-penalty": (LogisticNetClassifier(penalty=None, max_iter=1000),
                            LogisticRegression, True),
    "svm-network-relu": (SVMNetClassifier(**NETWORK), MLPClassifier, False),
    "svm-network-tanh": (SVMNetClassifier(activation="tanh", **NETWORK),
                         MLPClassifier, False),
    "logistic-network-logistic": (
        LogisticNetClassifier(activation="logistic", **NETWORK), MLPClassifier, True),
    "logistic-network-identity": (
        LogisticNetClassifier(activation="identity", **NETWORK), MLPClassifier, True),
}


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_export_predicts_as_ours(case, n_classes, make_problem, layout):
    estimator, cls, has_proba = CASES[case]
    X, y = make_problem(120, 9, n_classes, layout == "sparse")
    labels = np.array(["ant", "bee", "cat"])[y]  # (string labels go through classes_)
    model = fit_quietly(estimator, X, labels)
    exported = model.to_sklearn()
    assert type(exported) is cls
    X_test, _ = make_problem(80, 9, n_classes, layout == "sparse", seed=1)
    assert_array_equal(exported.predict(X_test), model.predict(X_test))
    assert_array_equal(exported.classes_, model.classes_)
    assert exported.n_features_in_ == 9
    if cls is not MLPClassifier:
        assert_allclose(exported.decision_function(X_test), model.decision_function(X_test),
                        rtol=1e-12, atol=1e-12)
        assert exported.coef_.shape == model.coef_.shape
        assert exported.intercept_.shape == model.intercept_.shape
    if has_proba:
        assert_allclose(exported.predict_proba(X_test), model.predict_proba(X_test),
                        rtol=1e-12, atol=1e-14)
    # The export owns its arrays: changing it leaves our model as it was.
    before = model.decision_function(X_test).copy()
    if cls is MLPClassifier:
        exported.coefs_[0][...] = 0.0
    elif sp.issparse(exported.coef_):
        exported.coef_.data[...] = 0.0
    else:
        exported.coef_[...] = 0.0
    assert_array_equal(model.decision_function(X_test), before)


def test_export_of_a_sparsified_model_keeps_sparse_weights(make_problem):
    X, y = make_problem(150, 12, 3, False)
    model = SVMNetClassifier(penalty="l1", C=0.05).fit(X, y).sparsify()
    exported = model.to_sklearn()
    assert sp.issparse(exported.coef_)
    assert_allclose(exported.decision_function(X), model.decision_function(X), rtol=1e-12)


@pytest.mark.parametrize("estimator, reference", [
    (SVMNetClassifier(C=0.7, tol=1e-10, max_iter=100_000),
     LinearSVC(C=0.7, tol=1e-10, max_iter=100_000)),
    (SVMNetClassifier(C=0.7, loss="hinge", intercept_scaling=3.0, tol=1e-10,
                      max_iter=100_000),
     LinearSVC(C=0.7, loss="hinge", intercept_scaling=3.0, tol=1e-10, max_iter=100_000)),
    (LogisticNetClassifier(C=0.7, tol=1e-10, max_iter=1000),
     LogisticRegression(C=0.7, tol=1e-10, max_iter=1000)),
])
def test_export_states_the_model_it_holds(estimator, reference, make_problem):
    # The exported parameters describe the same training problem: refitted by
    # scikit-learn, the export reaches our weights.
    X, y = make_problem(200, 6, 3, False)
    exported = estimator.fit(X, y).to_sklearn()
    assert exported.get_params() == reference.get_params()
    refitted = clone(exported).fit(X, y)
    assert_allclose(refitted.coef_, exported.coef_, rtol=1e-5, atol=1e-6)
    assert_allclose(refitted.intercept_, exported.intercept_, rtol=1e-5, atol=1e-6)


def test_exported_network_parameters(make_problem):
    X, y = make_problem(300, 5, 3, False)
    model = fit_quietly(SVMNetClassifier(hidden_layer_sizes=(6,), C=4.0, activation="tanh",
                                         learning_rate_init=0.01, max_iter=7,
                                         early_stopping=False, random_state=3), X, y)
    mlp = model.to_sklearn()
    assert mlp.hidden_layer_sizes == (6,)
    assert mlp.activation == "tanh"
    # MLPClassifier divides alpha by the minibatch's rows (200 of 300 here): the same
    # J = 1/2 ||W||^2 + C sum loss needs alpha = 200 / (C 300).
    assert mlp.alpha == pytest.approx(200 / (4.0 * 300))
    full_batch = fit_quietly(clone(model).set_params(batch_size=300), X, y).to_sklearn()
    assert full_batch.alpha == pytest.approx(1 / 4.0)
    assert mlp.learning_rate_init == 0.01 and mlp.random_state == 3
    assert mlp.n_layers_ == 3 and mlp.n_outputs_ == 3 and mlp.out_activation_ == "softmax"
    assert mlp.n_iter_ == model.n_iter_
    assert mlp.loss_curve_ == []  # a mean hinge is not MLPClassifier's quantity
    logistic = fit_quietly(LogisticNetClassifier(hidden_layer_sizes=(6,), max_iter=7,
                                                 random_state=3), X, y)
    assert logistic.to_sklearn().loss_curve_ == logistic.loss_curve_


@pytest.mark.parametrize("Estimator", [SVMNetClassifier, LogisticNetClassifier])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_exported_network_warm_starts_from_its_weights(make_problem, Estimator,
                                                       early_stopping):
    X, y = make_problem(300, 5, 3, False)
    model = fit_quietly(Estimator(hidden_layer_sizes=(6,), max_iter=5, random_state=0,
                                  early_stopping=early_stopping), X, y)
    mlp = model.to_sklearn().set_params(warm_start=True, max_iter=1,
                                        learning_rate_init=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    assert mlp.n_iter_ == 1  # (MLPClassifier counts the epochs of this fit)
    for W, ours in zip(mlp.coefs_, model.coefs_):  # one tiny step on from the export
        assert_allclose(W, ours, atol=1e-4)
        # (with early stopping, a step that does not beat the exported best keeps it)
        assert early_stopping or not np.array_equal(W, ours)


def test_unpenalised_network_exports_without_weight_decay(make_problem):
    X, y = make_problem(100, 5, 3, False)
    model = fit_quietly(LogisticNetClassifier(penalty=None, hidden_layer_sizes=(4,),
                                              max_iter=3, random_state=0), X, y)
    assert model.to_sklearn().alpha == 0.0


def test_export_keeps_feature_names(make_problem):
    pd = pytest.importorskip("pandas")
    X, y = make_problem(60, 4, 2, False)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticNetClassifier().fit(frame, y)
    exported = model.to_sklearn()
    assert_array_equal(exported.feature_names_in_, ["a", "b", "c", "d"])
    assert_array_equal(exported.predict(frame), model.predict(frame))
    with pytest.raises(ValueError, match="feature names"):  # its own checks run
        exported.predict(frame[["b", "a", "c", "d"]])


@pytest.mark.parametrize("estimator, n_classes, message", [
    (SVMNetClassifier(multi_class="weston_watkins"), 3, "weston_watkins"),
    (SVMNetClassifier(multi_class="crammer_singer"), 3, "loss='squared_hinge'"),
    (LogisticNetClassifier(multi_class="ovr"), 3, "multi_class='ovr' and 3 classes"),
    (SVMNetClassifier(multi_class="crammer_singer", **NETWORK), 3, "crammer_singer"),
    (LogisticNetClassifier(multi_class="ovr", **NETWORK), 3, "multi_class='ovr'"),
    (SVMNetClassifier(dropout=0.2, **NETWORK), 2, "dropout=0.2"),
    (LogisticNetClassifier(input_noise=0.1, **NETWORK), 2, "input_noise=0.1"),
    (SVMNetClassifier(class_weight="balanced", **NETWORK), 2, "class_weight='balanced'"),
])
def test_export_refuses_what_scikit_learn_cannot_state(estimator, n_classes, message,
                                                       make_problem):
    X, y = make_problem(90, 5, n_classes, False)
    model = fit_quietly(estimator, X, y)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        model.to_sklearn()


def test_binary_heads_export_whatever_multi_class_says(make_problem):
    # Two classes train one output whatever the head: nothing to refuse.
    X, y = make_problem(90, 5, 2, False)
    for model in (SVMNetClassifier(multi_class="weston_watkins").fit(X, y),
                  LogisticNetClassifier(multi_class="ovr").fit(X, y)):
        assert_array_equal(model.to_sklearn().predict(X), model.predict(X))


def test_export_needs_a_fitted_model():
    with pytest.raises(NotFittedError):
        SVMNetClassifier().to_sklearn()


@pytest.mark.parametrize("cls, exported_cls", [(SVMNetClassifierCV, LinearSVC),
                                               (LogisticNetClassifierCV,
                                                LogisticRegression)])
def test_cv_estimators_export_their_refitted_model(cls, exported_cls, make_problem):
    X, y = make_problem(120, 6, 3, False)
    search = cls(Cs=[0.01, 1.0], cv=3).fit(X, y)
    exported = search.to_sklearn()
    assert type(exported) is exported_cls
    assert exported.C == search.C_
    assert_array_equal(exported.predict(X), search.predict(X))
