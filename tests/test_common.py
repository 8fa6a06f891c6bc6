"""scikit-learn's estimator checks over every public estimator, in several configurations."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sksvmnet import LogisticNetClassifier, SVMNetClassifier

NETWORK = dict(hidden_layer_sizes=(8,), max_iter=200, learning_rate_init=0.01)

ESTIMATORS = [
    SVMNetClassifier(),
    SVMNetClassifier(**NETWORK),
    # SGD's steps once grew with the level of the class weights (a fit with
    # class_weight={0: 1000, 1: 1e-4} diverged): check_class_weight_classifiers caught it.
    # (in float64: the float32 configurations cannot pass the sample-weight checks)
    SVMNetClassifier(solver="sgd", dtype="float64", **NETWORK),
    SVMNetClassifier(loss="hinge", multi_class="crammer_singer"),
    SVMNetClassifier(multi_class="crammer_singer"),
    SVMNetClassifier(multi_class="weston_watkins", dual=True),
    SVMNetClassifier(penalty="l1", dual=False),
    LogisticNetClassifier(),
    LogisticNetClassifier(**NETWORK),
    LogisticNetClassifier(dtype="float64", **NETWORK),  # (Adam in float64: see below)
    LogisticNetClassifier(multi_class="ovr", C=10.0),
]
try:  # the same checks on the JAX backend, when the optional extra is installed
    import jax  # noqa: F401

    # One network (the jitted epoch) and two linear models: L-BFGS (the jitted
    # objective, on every shape) and the SVM at its defaults (Newton's passes, subspace
    # descent or smoothed L-BFGS by the data's shape); more configurations would re-run
    # the same programs at the cost of minutes of compiling.
    ESTIMATORS += [
        SVMNetClassifier(backend="jax", **NETWORK),
        LogisticNetClassifier(backend="jax", solver="lbfgs"),
        SVMNetClassifier(backend="jax"),
    ]
except ImportError:
    pass



def _expected_failures(estimator):
    # (Networks in float64 pass the sample-weight checks: on their small data a
    # minibatch is the whole set, and the data term is scaled by the sum of the weights,
    # so a weight of 2 and a repeated row give the same steps.)
    if (isinstance(estimator, SVMNetClassifier) and not estimator.hidden_layer_sizes
            and estimator.penalty == "l2" and estimator.backend != "jax"):
        # The check compares decision functions to rtol=1e-7, finer than the default
        # tol=1e-4 at which dual coordinate descent stops on its data (30 features, fewer
        # rows: the dual; LinearSVC fails it too). test_estimators.py proves the
        # equivalence at a tight tol. (The JAX backend has no dual coordinate descent:
        # subspace descent trains that data there, and ends close enough to pass.)
        reason = "the solver stops at tol=1e-4; equivalence holds to that tolerance"
    elif estimator.hidden_layer_sizes and estimator.dtype == "auto":
        # A network trains in float32 by default: a weight of 2 and a repeated row give
        # the same steps, rounded differently (2e-6 apart), and the checks ask for
        # rtol=1e-7. The float64 network above passes them.
        reason = "float32 training: the same steps, rounded to float32, not to 1e-7"
    else:
        return {}
    return {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }


# The checks fit on tiny data with default iteration budgets; convergence itself is
# tested in test_solvers.py, so a ConvergenceWarning here is noise, not a failure.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
