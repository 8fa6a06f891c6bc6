"""scikit-learn's own tests of LinearSVC and LogisticRegression, run with
SVMNetClassifier and LogisticNetClassifier in their place.

The test functions are imported from scikit-learn's test modules unchanged; only the
names they look up (``svm.LinearSVC`` and ``LinearSVC``; ``LogisticRegression``) are
pointed at our classes for the duration of each test. A drop-in replacement has to pass
the tests of the class it replaces, not only ours.
"""

import importlib
import types

import pytest

import sklearn.svm

from sklearn.utils.fixes import DOK_CONTAINERS, LIL_CONTAINERS

from sksvmnet import LogisticNetClassifier, SVMNetClassifier

# scikit-learn runs these tests with ConvergenceWarning shown, not raised: LinearSVC
# itself stops at max_iter on some of them (Crammer-Singer on iris).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

test_svm = pytest.importorskip(
    "sklearn.svm.tests.test_svm",
    reason="this scikit-learn installation ships without its test modules")
test_sparse = importlib.import_module("sklearn.svm.tests.test_sparse")
test_logistic = importlib.import_module("sklearn.linear_model.tests.test_logistic")

#: scikit-learn's ``svm`` module as the substituted tests see it.
_svm = types.SimpleNamespace(**{name: getattr(sklearn.svm, name)
                                for name in sklearn.svm.__all__})
_svm.LinearSVC = SVMNetClassifier

_MODULES = (test_svm, test_sparse)


@pytest.fixture(autouse=True)
def _substituted(monkeypatch):
    for module in _MODULES:
        monkeypatch.setattr(module, "svm", _svm)
        if hasattr(module, "LinearSVC"):
            monkeypatch.setattr(module, "LinearSVC", SVMNetClassifier)
    monkeypatch.setattr(test_logistic, "LogisticRegression", LogisticNetClassifier)


@pytest.fixture(params=[0, 42])
def global_random_seed(request):
    """scikit-learn's fixture of the same name: a few seeds instead of its one."""
    return request.param


# Every LinearSVC test of both modules: `test_linearsvc*` by name, and the ones whose
# name does not say LinearSVC but that fit it (scikit-learn's own list would drift; a
# missing function fails loudly here).
_SVM_TESTS = ("test_linearsvc_parameters", "test_linearsvc",
              "test_linearsvc_crammer_singer", "test_linearsvc_fit_sampleweight",
              "test_crammer_singer_binary", "test_linearsvc_iris", "test_liblinear_set_coef",
              "test_linearsvc_verbose")
_SPARSE_TESTS = ("test_linearsvc_iris",)

for _name in _SVM_TESTS:
    globals()[f"{_name}__svm"] = getattr(test_svm, _name)


def test_dense_liblinear_intercept_handling__svm(global_random_seed):
    # (its default argument bound scikit-learn's class when the module was imported)
    test_svm.test_dense_liblinear_intercept_handling(SVMNetClassifier, global_random_seed)


for _name in _SPARSE_TESTS:
    globals()[f"{_name}__sparse"] = getattr(test_sparse, _name)


@pytest.mark.parametrize("lil_container, dok_container",
                         list(zip(LIL_CONTAINERS, DOK_CONTAINERS)))
def test_linearsvc__sparse(lil_container, dok_container):
    # (its parametrize takes a zip, which pytest warns of)
    test_sparse.test_linearsvc(lil_container, dok_container)


# LogisticRegression's tests of the paths a drop-in must share: dense and sparse input,
# sparsify/densify, class weights (over the solver names we accept).
_LOGISTIC_TESTS = ("test_predict_2_classes", "test_predict_3_classes", "test_sparsify",
                   "test_logistic_regression_class_weights")
for _name in _LOGISTIC_TESTS:
    globals()[f"{_name}__logistic"] = getattr(test_logistic, _name)


def test_every_linearsvc_test_is_run():
    names = [name for module in _MODULES for name in dir(module)
             if name.startswith("test_linearsvc")]
    ours = {name for name in globals() if name.startswith("test_")}
    missing = [name for name in names
               if f"{name}__svm" not in ours and f"{name}__sparse" not in ours]
    assert not missing
