"""Threads chosen per fit (sksvmnet._threads): BLAS held to one thread in linear fits, the
backend given the threads BLAS had, everything as it was afterwards."""

import warnings

import numba
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sksvmnet import LogisticNetClassifier, SVMNetClassifier
from sksvmnet._threads import blas_budget
from sksvmnet.backends import _numba


def _spy(monkeypatch, name):
    """Record (BLAS threads, numba threads) each time the backend's ``name`` runs."""
    seen, original = [], getattr(_numba, name)

    def spied(*args, **kwargs):
        seen.append((blas_budget(), numba.get_num_threads()))
        return original(*args, **kwargs)

    monkeypatch.setattr(_numba, name, spied)
    return seen


@pytest.mark.parametrize("Estimator, function", [
    (SVMNetClassifier, "newton_small"),             # Newton's method, compiled
    (LogisticNetClassifier, "linear_value_grad"),   # L-BFGS
])
def test_linear_fit_holds_blas_to_one_thread_and_restores_it(monkeypatch, Estimator,
                                                             function):
    X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
    seen = _spy(monkeypatch, function)
    before = (blas_budget(), numba.get_num_threads())
    Estimator(backend="numba").fit(X, y)
    assert seen and all(blas == 1 for blas, _ in seen)
    assert all(threads == min(before[0], numba.config.NUMBA_NUM_THREADS)
               for _, threads in seen)
    assert (blas_budget(), numba.get_num_threads()) == before


def test_users_blas_limit_also_limits_the_backends_threads(monkeypatch):
    # Inside threadpool_limits(1) (or a joblib worker, which sets the same limit) the
    # numba kernels run on one thread too, and the user's limit stands after the fit.
    X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
    seen = _spy(monkeypatch, "newton_small")
    numba_before = numba.get_num_threads()
    with threadpool_limits(limits=1, user_api="blas"):
        SVMNetClassifier(backend="numba").fit(X, y)
        assert blas_budget() == 1
    assert seen and all(record == (1, 1) for record in seen)
    assert numba.get_num_threads() == numba_before


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_minibatch_fit_holds_blas_to_one_thread_only_below_the_work_bound(
        monkeypatch, method):
    # A network's epoch multiplies small blocks by BLAS in one loop: BLAS on one thread
    # unless a layer's product on a minibatch reaches MINIBATCH_BLAS_MIN_WORK. (Whether
    # the limit is held is recorded, not the thread count: on a machine whose BLAS has
    # one thread anyway, the count could not tell.)
    from contextlib import contextmanager

    from sksvmnet import _threads

    held, original = [False], _threads.one_blas_thread

    @contextmanager
    def recorded():
        with original():
            held[0] = True
            try:
                yield
            finally:
                held[0] = False

    monkeypatch.setattr(_threads, "one_blas_thread", recorded)
    seen, epoch = [], _numba.epoch

    def spied(*args, **kwargs):
        seen.append((held[0], blas_budget()))
        return epoch(*args, **kwargs)

    monkeypatch.setattr(_numba, "epoch", spied)
    X, y = make_classification(100, 5, random_state=0)
    before = blas_budget()
    for bound, limited in ((_threads.MINIBATCH_BLAS_MIN_WORK, True),
                           (100 * 5 * 4, False)):  # (the first layer's product)
        monkeypatch.setattr(_threads, "MINIBATCH_BLAS_MIN_WORK", bound)
        seen.clear()
        clf = SVMNetClassifier(hidden_layer_sizes=(4,), max_iter=2, backend="numba")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            getattr(clf, method)(X, y, **({"classes": np.unique(y)}
                                          if method == "partial_fit" else {}))
        assert seen and all(record == (limited, 1 if limited else before)
                            for record in seen)
        assert blas_budget() == before and not held[0]


def test_a_failed_fit_restores_the_threads(monkeypatch):
    X, y = make_classification(100, 5, random_state=0)

    def broken(*args, **kwargs):
        raise FloatingPointError("boom")

    monkeypatch.setattr(_numba, "newton_small", broken)
    before = (blas_budget(), numba.get_num_threads())
    with pytest.raises(FloatingPointError):
        SVMNetClassifier(backend="numba").fit(X, y)
    assert (blas_budget(), numba.get_num_threads()) == before


def test_overlapping_limits_of_fits_in_threads_restore_the_first_setting():
    # Fits running at once in threads share the process's one BLAS setting: after A and
    # B overlap (A starts, B starts, A ends, B ends), BLAS has its threads back.
    from contextlib import ExitStack

    from sksvmnet._threads import one_blas_thread

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_budget()
        first, second = ExitStack(), ExitStack()
        first.enter_context(one_blas_thread())
        second.enter_context(one_blas_thread())
        assert blas_budget() == 1
        first.close()
        assert blas_budget() == 1  # (B still runs)
        second.close()
        assert blas_budget() == before
