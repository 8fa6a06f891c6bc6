"""The numpy reference of :mod:`sksvmnet._losses`, the oracle of every backend.

An oracle needs its own oracle. Here that is finite differences (for every gradient), a few
values known in closed form, and the loss of each head written out by hand.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sksvmnet._base import ACTIVATIONS
from sksvmnet._losses import HEADS, MARGIN_LOSSES, forward, head_loss, objective

from _helpers import central_difference

N_CLASSES = 4

# The margins each head feeds to its margin loss, written from the table in DESIGN.md:
# head -> (F, y) -> array of shape (n_samples, n_margins). The multinomial head has none.
MARGINS = {
    "binary": lambda F, y: ((2.0 * y - 1.0) * F[:, 0])[:, None],
    "ovr": lambda F, y: np.where(np.arange(F.shape[1]) == y[:, None], F, -F),
    "crammer_singer": lambda F, y: (
        _true_output(F, y)[:, None] - _rivals(F, y).max(axis=1, keepdims=True)),
    "weston_watkins": lambda F, y: _true_output(F, y)[:, None] - _rivals(F, y),
    "multinomial": None,
}

# The margin losses, written naively (valid for moderate z).
HAND_LOSSES = {
    "hinge": lambda z: np.maximum(0.0, 1.0 - z),
    "squared_hinge": lambda z: np.maximum(0.0, 1.0 - z) ** 2,
    "log_loss": lambda z: np.log(1.0 + np.exp(-z)),
}

HEAD_LOSS_CASES = [(loss, head) for head in HEADS for loss in MARGIN_LOSSES]


def _true_output(F, y):
    return F[np.arange(len(y)), y]


def _rivals(F, y):
    """``F[n, j]`` for every ``j != y_n``, shape (n_samples, K - 1)."""
    mask = np.arange(F.shape[1]) != y[:, None]
    return F[mask].reshape(len(y), F.shape[1] - 1)


def _n_outputs(head):
    return 1 if head == "binary" else N_CLASSES


def _kink_distance(F, y, loss, head):
    """How far ``F`` is from the points where ``head_loss`` is not differentiable."""
    distance = np.inf
    if head == "crammer_singer":
        # The rival max_{j != y} f_j switches where the top two rivals tie.
        top2 = np.sort(_rivals(F, y), axis=1)[:, -2:]
        distance = np.min(top2[:, 1] - top2[:, 0])
    if loss != "log_loss" and MARGINS[head] is not None:
        distance = min(distance, np.min(np.abs(MARGINS[head](F, y) - 1.0)))
    return distance


def _draw_outputs(rng, n_samples, loss, head, scale=1.5, away=1e-3):
    """Random ``(F, y)`` at least ``away`` from every kink of the loss."""
    K = _n_outputs(head)
    for _ in range(100):
        F = scale * rng.standard_normal((n_samples, K))
        y = rng.integers(0, max(K, 2), n_samples)
        if _kink_distance(F, y, loss, head) > away:
            return F, y
    raise AssertionError("could not draw outputs away from the kinks")


def test_tables_cover_the_registries():
    # A new head or loss must come with its hand-written formula here.
    assert set(MARGINS) == set(HEADS)
    assert set(HAND_LOSSES) == set(MARGIN_LOSSES)


# ----------------------------------------------------------------- margin losses


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
def test_margin_loss_derivative_matches_finite_differences(loss):
    z = np.linspace(-3.0, 3.0, 61) + 0.0123  # never on the kink at z = 1
    _, dz = MARGIN_LOSSES[loss](z)
    eps = 1e-6
    value = MARGIN_LOSSES[loss]
    expected = (value(z + eps)[0] - value(z - eps)[0]) / (2 * eps)
    assert_allclose(dz, expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
def test_margin_loss_matches_hand_formula(loss):
    z = np.linspace(-5.0, 5.0, 41)
    value, _ = MARGIN_LOSSES[loss](z)
    assert_allclose(value, HAND_LOSSES[loss](z), rtol=1e-13, atol=1e-15)


def test_margin_loss_known_values():
    value, dz = MARGIN_LOSSES["log_loss"](np.array([0.0]))
    assert_allclose(value, np.log(2.0), rtol=1e-15)
    assert_allclose(dz, -0.5, rtol=1e-15)
    value, dz = MARGIN_LOSSES["hinge"](np.array([2.0, 1.0, 0.0, -1.0]))
    assert_allclose(value, [0.0, 0.0, 1.0, 2.0])
    assert_allclose(dz, [0.0, 0.0, -1.0, -1.0])
    value, dz = MARGIN_LOSSES["squared_hinge"](np.array([0.0, 2.0, -1.0]))
    assert_allclose(value, [1.0, 0.0, 4.0])
    assert_allclose(dz, [-2.0, 0.0, -4.0])


def test_log_loss_is_stable_for_large_margins():
    z = np.array([-1000.0, -40.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, dz = MARGIN_LOSSES["log_loss"](z)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(dz))
    # log(1 + e^-z) = -z + log(1 + e^z) = -z + e^z - ...; and e^-z - e^-2z / 2 for z > 0.
    assert_allclose(value[:2], [1000.0, 40.0 + np.exp(-40.0)], rtol=1e-15)
    assert_allclose(value[2], np.exp(-40.0), rtol=1e-14)
    assert 0.0 <= value[3] < 1e-300
    assert_allclose(dz, [-1.0, -1.0 + np.exp(-40.0), -np.exp(-40.0), 0.0], rtol=1e-14,
                    atol=1e-300)


# ------------------------------------------------------------------------ heads


@pytest.mark.parametrize("loss, head", HEAD_LOSS_CASES)
def test_head_loss_gradient_matches_finite_differences(loss, head):
    rng = np.random.default_rng(0)
    F, y = _draw_outputs(rng, 7, loss, head)
    s = rng.uniform(0.5, 2.0, len(y))
    value, G = head_loss(F, y, s, loss, head)
    assert np.isscalar(value) and G.shape == F.shape
    expected = central_difference(lambda: head_loss(F, y, s, loss, head)[0], F)
    assert_allclose(G, expected, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("loss, head", HEAD_LOSS_CASES)
def test_head_loss_matches_hand_formula(loss, head):
    rng = np.random.default_rng(1)
    F, y = _draw_outputs(rng, 9, loss, head)
    s = rng.uniform(0.5, 2.0, len(y))
    if head == "multinomial":
        P = np.exp(F) / np.exp(F).sum(axis=1, keepdims=True)
        per_sample = -np.log(P[np.arange(len(y)), y])
    else:
        per_sample = HAND_LOSSES[loss](MARGINS[head](F, y)).sum(axis=1)
    value, _ = head_loss(F, y, s, loss, head)
    assert_allclose(value, s @ per_sample, rtol=1e-12)


@pytest.mark.parametrize("loss, head", HEAD_LOSS_CASES)
def test_head_loss_is_linear_in_the_weights(loss, head):
    rng = np.random.default_rng(2)
    F, y = _draw_outputs(rng, 6, loss, head)
    s = rng.uniform(0.5, 2.0, len(y))
    value, G = head_loss(F, y, s, loss, head)
    value1, G1 = head_loss(F, y, np.ones_like(s), loss, head)
    assert_allclose(G, G1 * s[:, None], rtol=1e-14, atol=1e-300)
    # The value too: the weights times each sample's loss (its value at a unit weight).
    per_sample = [head_loss(F, y, weight, loss, head)[0] for weight in np.eye(len(y))]
    assert_allclose(value, s @ per_sample, rtol=1e-14)
    assert_allclose(value1, np.sum(per_sample), rtol=1e-14)
    # A zero weight removes a sample entirely.
    s[0] = 0.0
    value0, G0 = head_loss(F, y, s, loss, head)
    assert np.all(G0[0] == 0.0)
    assert_allclose(value0, head_loss(F[1:], y[1:], s[1:], loss, head)[0], rtol=1e-14)


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
def test_crammer_singer_shares_the_subgradient_among_tied_rivals(loss):
    # At W = 0 every rival ties, and the gradient of one arbitrary rival would not be a
    # descent direction there; the reference splits the subgradient equally instead.
    F = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 2.0, 0.5]])
    y = np.array([1, 0])
    s = np.array([1.0, 2.0])
    value, G = head_loss(F, y, s, loss, "crammer_singer")
    v, dz = MARGIN_LOSSES[loss](np.array([0.0, -1.0]))
    assert_allclose(value, s @ v, rtol=1e-15)
    expected = np.array([
        [-dz[0] / 3, dz[0], -dz[0] / 3, -dz[0] / 3],
        [2 * dz[1], -dz[1], -dz[1], 0.0],
    ])
    assert_allclose(G, expected, rtol=1e-15)


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
def test_multinomial_head_with_equal_outputs_is_log_k(loss):
    F = np.full((5, N_CLASSES), 0.7)
    y = np.arange(5) % N_CLASSES
    value, G = head_loss(F, y, np.ones(5), loss, "multinomial")
    assert_allclose(value, 5 * np.log(N_CLASSES), rtol=1e-15)
    assert_allclose(G.sum(axis=1), 0.0, atol=1e-15)


def test_multinomial_head_is_stable_for_large_outputs():
    F = np.array([[1000.0, -1000.0, 0.0, 999.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, G = head_loss(F, np.array([1]), np.ones(1), "log_loss", "multinomial")
    assert_allclose(value, 2000.0 + np.log1p(np.exp(-1.0)), rtol=1e-15)
    assert np.all(np.isfinite(G))


def test_binary_log_loss_head_is_stable_for_large_outputs():
    F = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y = np.array([1, 1, 0, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, G = head_loss(F, y, np.ones(4), "log_loss", "binary")
    assert_allclose(value, 2000.0, rtol=1e-15)
    assert_allclose(G[:, 0], [0.0, -1.0, 1.0, 0.0], atol=1e-300)


# -------------------------------------------------------------------- objective


def _network(rng, n_features, hidden, n_outputs, bias_scale=0.5):
    sizes = (n_features, *hidden, n_outputs)
    coefs = [rng.standard_normal((a, b)) / np.sqrt(a)
             for a, b in zip(sizes[:-1], sizes[1:])]
    intercepts = [bias_scale * rng.standard_normal(b) for b in sizes[1:]]
    return coefs, intercepts


def _objective_kink_distance(coefs, intercepts, X, y, loss, head, activation):
    """Distance of the network's relu pre-activations and its outputs from the kinks."""
    F, hidden = forward(coefs, intercepts, X, activation)
    distance = _kink_distance(F, y, loss, head)
    if activation == "relu":
        for H, W, b in zip(hidden, coefs[:-1], intercepts[:-1]):
            distance = min(distance, np.min(np.abs(H @ W + b)))
    return distance


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss, head", HEAD_LOSS_CASES)
def test_objective_gradient_matches_finite_differences(loss, head, activation):
    K = _n_outputs(head)
    for seed in range(100):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((8, 4))
        y = rng.integers(0, max(K, 2), 8)
        coefs, intercepts = _network(rng, 4, (5, 3), K)
        if _objective_kink_distance(coefs, intercepts, X, y, loss, head, activation) > 1e-4:
            break
    else:
        raise AssertionError("could not draw a network away from the kinks")
    s = rng.uniform(0.5, 2.0, 8)
    kwargs = dict(C=0.8, loss=loss, head=head, activation=activation)
    value, grad_coefs, grad_intercepts = objective(coefs, intercepts, X, y, s, **kwargs)
    assert np.isscalar(value)

    def fun():
        return objective(coefs, intercepts, X, y, s, **kwargs)[0]

    for param, grad in zip(coefs + intercepts, grad_coefs + grad_intercepts):
        assert grad.shape == param.shape
        assert_allclose(grad, central_difference(fun, param), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("intercept_penalty", [0.0, 0.25])
@pytest.mark.parametrize("loss, head", HEAD_LOSS_CASES)
def test_linear_objective_gradient_matches_finite_differences(loss, head,
                                                              intercept_penalty):
    K = _n_outputs(head)
    for seed in range(100):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((10, 3))
        y = rng.integers(0, max(K, 2), 10)
        coefs, intercepts = _network(rng, 3, (), K)
        F, _ = forward(coefs, intercepts, X, "relu")
        if _kink_distance(F, y, loss, head) > 1e-4:
            break
    else:
        raise AssertionError("could not draw a network away from the kinks")
    s = rng.uniform(0.5, 2.0, 10)
    kwargs = dict(C=1.3, loss=loss, head=head, intercept_penalty=intercept_penalty)
    value, grad_coefs, grad_intercepts = objective(coefs, intercepts, X, y, s, **kwargs)

    def fun():
        return objective(coefs, intercepts, X, y, s, **kwargs)[0]

    assert_allclose(grad_coefs[0], central_difference(fun, coefs[0]), rtol=1e-6, atol=1e-7)
    assert_allclose(grad_intercepts[0], central_difference(fun, intercepts[0]), rtol=1e-6,
                    atol=1e-7)
    # The penalty terms, by hand.
    data, _ = head_loss(X @ coefs[0] + intercepts[0], y, s, loss, head)
    expected = (1.3 * data + 0.5 * np.sum(coefs[0] ** 2)
                + 0.5 * intercept_penalty * np.sum(intercepts[0] ** 2))
    assert_allclose(value, expected, rtol=1e-14)


def test_objective_accepts_sparse_input():
    import scipy.sparse as sp  # (a dependency of the package: nothing to skip)

    rng = np.random.default_rng(0)
    X = sp.random(12, 5, density=0.4, format="csr", random_state=0)
    y = rng.integers(0, N_CLASSES, 12)
    coefs, intercepts = _network(rng, 5, (3,), N_CLASSES)
    kwargs = dict(C=1.0, loss="squared_hinge", head="ovr", activation="tanh")
    sparse = objective(coefs, intercepts, X, y, np.ones(12), **kwargs)
    dense = objective(coefs, intercepts, X.toarray(), y, np.ones(12), **kwargs)
    assert_allclose(sparse[0], dense[0], rtol=1e-15)
    for a, b in zip(sparse[1] + sparse[2], dense[1] + dense[2]):
        assert_allclose(a, b, rtol=1e-15)


def test_linear_binary_hinge_objective_is_the_svm_primal():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((15, 4))
    y = rng.integers(0, 2, 15)
    s = rng.uniform(0.5, 2.0, 15)
    W = rng.standard_normal((4, 1))
    b = rng.standard_normal(1)
    C = 0.6
    value, _, _ = objective([W], [b], X, y, s, C=C, loss="hinge", head="binary")
    t = 2.0 * y - 1.0
    f = X @ W[:, 0] + b[0]
    data = np.sum(s * np.maximum(0.0, 1.0 - t * f))
    assert 0.0 < data
    assert_allclose(value - 0.5 * np.sum(W ** 2), C * data, rtol=1e-14)
    assert_allclose(value, 0.5 * W[:, 0] @ W[:, 0] + C * data, rtol=1e-14)
