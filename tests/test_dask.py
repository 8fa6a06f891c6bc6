"""Dask: out-of-core training by partial_fit over a dask array's blocks, and searches run
on a cluster through joblib, each equal to the same work done in this process."""

import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

pytest.importorskip("distributed", reason="the optional dask extra is not installed")
pytest.importorskip("dask_ml", reason="the optional dask extra is not installed")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from joblib import parallel_backend  # noqa: E402
from dask_ml.wrappers import Incremental  # noqa: E402

from sksvmnet import (  # noqa: E402
    LogisticNetClassifier,
    SVMNetClassifier,
    SVMNetClassifierCV,
)

CLASSES = [0, 1, 2]


@pytest.fixture(scope="module")
def client():
    # Two worker processes on the loopback interface, closed at the end of the module.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    return make_classification(1200, 12, n_informative=6, n_classes=3,
                               random_state=0)


@pytest.mark.parametrize("estimator", [
    SVMNetClassifier(hidden_layer_sizes=(16,), random_state=0),
    LogisticNetClassifier(hidden_layer_sizes=(8, 8), activation="tanh", random_state=0),
    SVMNetClassifier(solver="sgd", learning_rate_init=0.01, random_state=0),
])
def test_incremental_trains_block_by_block_as_partial_fit_does(client, data, estimator):
    X, y = data
    blocks = 300
    incremental = Incremental(estimator, shuffle_blocks=False)
    incremental.fit(da.from_array(X, chunks=blocks), da.from_array(y, chunks=blocks),
                    classes=CLASSES)
    model = incremental.estimator_
    assert model.n_iter_ == len(X) // blocks  # one partial_fit per block
    local = estimator.__class__(**estimator.get_params())
    for start in range(0, len(X), blocks):
        local.partial_fit(X[start:start + blocks], y[start:start + blocks],
                          classes=CLASSES)
    for ours, theirs in zip(model.coefs_ + model.intercepts_,
                            local.coefs_ + local.intercepts_):
        assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert_array_equal(incremental.predict(da.from_array(X, chunks=blocks)).compute(),
                       local.predict(X))


def test_grid_search_runs_its_fits_on_the_cluster(client, data):
    X, y = data
    grid = {"C": [0.01, 1.0, 100.0], "loss": ["hinge", "squared_hinge"]}
    with parallel_backend("dask"), get_task_stream(client) as tasks:
        remote = GridSearchCV(SVMNetClassifier(max_iter=5000), grid, cv=3,
                              n_jobs=-1).fit(X, y)
    assert len(tasks.data) >= 3  # (the fits ran on the workers; joblib may batch them)
    local = GridSearchCV(SVMNetClassifier(max_iter=5000), grid, cv=3).fit(X, y)
    assert_array_equal(remote.cv_results_["mean_test_score"],
                       local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    assert_allclose(remote.best_estimator_.coef_, local.best_estimator_.coef_,
                    rtol=0, atol=1e-12)


def test_cv_estimator_runs_its_folds_on_the_cluster(client, data):
    X, y = data
    with parallel_backend("dask"), get_task_stream(client) as tasks:
        remote = SVMNetClassifierCV(Cs=6, cv=4, n_jobs=-1).fit(X, y)
    assert len(tasks.data) >= 1  # (the folds ran on the workers)
    local = SVMNetClassifierCV(Cs=6, cv=4).fit(X, y)
    assert_array_equal(remote.scores_, local.scores_)
    assert_array_equal(remote.n_iter_, local.n_iter_)
    assert remote.C_ == local.C_
    assert_allclose(remote.coef_, local.coef_, rtol=0, atol=1e-12)
