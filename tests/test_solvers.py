"""The solvers' own logic: schedules, stopping rules, what they ask the backend for."""

import numpy as np
import pytest

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
    with pytest.warns(Warning):  # stops at max_iter by design (tol=0)
        clf.fit(X, y)
    assert clf.score(X, y) > 0.85
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_partial_fit_refuses_the_adaptive_schedule():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="learning_rate='adaptive'"):
        SVMNetClassifier(learning_rate="adaptive").partial_fit(X, y, classes=[0, 1])
