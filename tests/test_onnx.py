"""ONNX export: skl2onnx's to_onnx on our estimators, run by onnxruntime."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("skl2onnx", reason="the optional onnx extra is not installed")
onnxruntime = pytest.importorskip("onnxruntime",
                                  reason="the optional onnx extra is not installed")

import sksvmnet.onnx  # noqa: E402,F401  (registers the converters)
from skl2onnx import to_onnx  # noqa: E402

from _helpers import fit_quietly  # noqa: E402
from sksvmnet import (  # noqa: E402
    LogisticNetClassifier,
    LogisticNetClassifierCV,
    SVMNetClassifier,
    SVMNetClassifierCV,
)

NETWORK = dict(hidden_layer_sizes=(8, 6), max_iter=40, random_state=0)
ESTIMATORS = {
    "svm": SVMNetClassifier(),
    "svm-weston-watkins": SVMNetClassifier(multi_class="weston_watkins"),
    "deep-l2-svm": SVMNetClassifier(**NETWORK),
    "deep-svm-logistic-units": SVMNetClassifier(activation="logistic", **NETWORK),
    "logistic": LogisticNetClassifier(),
    "logistic-ovr": LogisticNetClassifier(multi_class="ovr"),
    "logistic-network": LogisticNetClassifier(activation="tanh", **NETWORK),
}
TOLERANCE = {np.float32: dict(rtol=1e-4, atol=1e-5),
             np.float64: dict(rtol=1e-12, atol=1e-12)}


def _run(onx, X):
    session = onnxruntime.InferenceSession(onx.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _is_logistic(model):
    return isinstance(model[-1] if hasattr(model, "steps") else model,
                      LogisticNetClassifier)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_onnx_gives_our_predictions_and_scores(name, n_classes, labels, dtype,
                                               make_problem):
    X, y = make_problem(150, 7, n_classes, False)
    if labels == "str":
        y = np.array(["no", "yes", "maybe"])[y]
    model = fit_quietly(ESTIMATORS[name], X.astype(dtype), y)
    X_test = make_problem(100, 7, n_classes, False, seed=1)[0].astype(dtype)
    logistic = _is_logistic(model)
    label, second = _run(to_onnx(model, X_test[:1],
                                 options={"zipmap": False} if logistic else None), X_test)
    assert_array_equal(label, model.predict(X_test))
    if logistic:
        assert_allclose(second, model.predict_proba(X_test), **TOLERANCE[dtype])
        _, raw = _run(to_onnx(model, X_test[:1],
                              options={"zipmap": False, "raw_scores": True}), X_test)
        scores = model.decision_function(X_test)
        expected = np.column_stack([-scores, scores]) if scores.ndim == 1 else scores
        assert_allclose(raw, expected, **TOLERANCE[dtype])
    else:
        # The decision values, (N, 1) for two classes as skl2onnx's LinearSVC gives them.
        assert_allclose(second.reshape(len(X_test), -1),
                        model.decision_function(X_test).reshape(len(X_test), -1),
                        **TOLERANCE[dtype])


def test_binary_deep_svm_threshold_is_zero_not_half(make_problem):
    # A deep L2-SVM whose scores sit in (0, 0.5) for some rows: a 0.5 threshold (an
    # MLPClassifier's on probabilities) would call them negative; ours, positive.
    X, y = make_problem(200, 5, 2, False)
    model = fit_quietly(SVMNetClassifier(**NETWORK), X, y)
    model.intercepts_[-1] = model.intercepts_[-1] - np.median(model.decision_function(X))
    scores = model.decision_function(X)
    assert np.any((scores > 0) & (scores < 0.5))
    label, _ = _run(to_onnx(model, X[:1]), X)
    assert_array_equal(label, model.predict(X))


def test_sparse_trained_model_exports(make_problem):
    X, y = make_problem(150, 20, 3, True)
    model = SVMNetClassifier().fit(X, y)
    dense = X.toarray().astype(np.float32)
    label, scores = _run(to_onnx(model, dense[:1]), dense)
    assert_array_equal(label, model.predict(X))
    assert_allclose(scores, model.decision_function(X), rtol=1e-4, atol=1e-5)


def test_zipmap_gives_a_dictionary_per_row(make_problem):
    X, y = make_problem(120, 5, 3, False)
    X = X.astype(np.float32)
    model = LogisticNetClassifier().fit(X, y)
    label, probabilities = _run(to_onnx(model, X[:1]), X)
    assert_array_equal(label, model.predict(X))
    expected = model.predict_proba(X)
    assert [sorted(row) for row in probabilities[:3]] == [[0, 1, 2]] * 3
    assert_allclose([[row[k] for k in range(3)] for row in probabilities], expected,
                    rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("estimator", [SVMNetClassifier(), LogisticNetClassifier(),
                                       SVMNetClassifier(**NETWORK)])
def test_pipeline_with_scaler_exports(estimator, make_problem):
    X, y = make_problem(150, 6, 3, False)
    X = (X * 50 + 7).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), clone(estimator)).fit(X, y)
    options = {id(pipe[-1]): {"zipmap": False}} if _is_logistic(pipe) else None
    label, _ = _run(to_onnx(pipe, X[:1], options=options), X)
    assert_array_equal(label, pipe.predict(X))


@pytest.mark.parametrize("cls", [SVMNetClassifierCV, LogisticNetClassifierCV])
def test_cv_estimators_export(cls, make_problem):
    X, y = make_problem(120, 5, 3, False)
    X = X.astype(np.float32)
    search = cls(Cs=[0.1, 10.0], cv=3).fit(X, y)
    options = {"zipmap": False} if cls is LogisticNetClassifierCV else None
    label, _ = _run(to_onnx(search, X[:1], options=options), X)
    assert_array_equal(label, search.predict(X))
