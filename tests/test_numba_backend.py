"""The numba backend against the numpy reference of :mod:`sksvmnet._losses`.

Every kernel is compared with the reference for every loss, head, dtype and data layout;
gradients are also checked against finite differences (float64), and the solvers against
an independent optimiser of the same primal objective.
"""

import threading

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
import scipy.special
from numba import get_num_threads
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

from sksvmnet import LogisticNetClassifier, _losses, _solvers
from sksvmnet._base import ACTIVATIONS
from sksvmnet.backends import _numba as backend
from sksvmnet.backends._numba import (
    ACTIVATION_CODES,
    HEAD_CODES,
    LOSS_CODES,
    OPTIMIZER_CODES,
)

from sksvmnet.backends._numba.heads import _exp_nonpositive
from sksvmnet.backends._numba.rows import (
    _as_kernel_data,
    _prefetch_row,
    _shuffle,
    _shuffle_state,
)

from _helpers import central_difference

N_CLASSES = 4
DTYPES = (np.float32, np.float64)
# Agreement with the float64 reference: float32 kernels round their products.
HEAD_RTOL = {np.float32: 1e-5, np.float64: 1e-10}
LINEAR_RTOL = {np.float32: 1e-4, np.float64: 1e-9}

# The problems the dual coordinate descent solves (liblinear's): every other combination
# of the registries must be refused.
DCD_PROBLEMS = {
    ("hinge", "binary"), ("hinge", "ovr"), ("hinge", "weston_watkins"),
    ("hinge", "crammer_singer"),
    ("squared_hinge", "binary"), ("squared_hinge", "ovr"),
    ("squared_hinge", "weston_watkins"), ("squared_hinge", "crammer_singer"),
}
DCD_CASES = [(loss, head) for loss in LOSS_CODES for head in HEAD_CODES
             if (loss, head) in DCD_PROBLEMS]
# cd_l1 is the L1-penalised squared-hinge SVM, one output at a time.
CD_L1_HEADS = ("binary", "ovr")

@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    # The products here are tiny: BLAS threads only spin-wait, and while the other core is
    # busy that made the L-BFGS references 30x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _n_outputs(head):
    return 1 if head == "binary" else N_CLASSES


def _problem(make_problem, layout, head, dtype, n_samples, n_features, seed=0,
             conditioned=False):
    """``(X, y, s)`` in the training dtype, CSR when ``layout`` is sparse.

    The fixture's sparse data has near-empty rows with random labels, nearly parallel
    once the intercept feature is added: fine for kernels, but coordinate descent then
    needs ~1e5 epochs. ``conditioned=True`` instead sparsifies the dense problem.
    """
    n_classes = 2 if head == "binary" else N_CLASSES
    sparse = layout == "sparse"
    X, y = make_problem(n_samples, n_features, n_classes, sparse and not conditioned, seed)
    if sparse and conditioned:
        X = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    X = X.astype(dtype) if sp.issparse(X) else np.ascontiguousarray(X, dtype=dtype)
    s = np.random.default_rng(seed).uniform(0.5, 2.0, n_samples)
    return X, y.astype(np.int64), s


def _scaled_atol(rtol, *arrays):
    """An absolute tolerance for entries much smaller than the largest one."""
    return rtol * max(float(np.max(np.abs(a), initial=0.0)) for a in arrays)


def test_codes_cover_the_reference_registries():
    assert set(LOSS_CODES) == set(_losses.MARGIN_LOSSES)
    assert set(HEAD_CODES) == set(_losses.HEADS)
    assert set(ACTIVATION_CODES) == set(ACTIVATIONS)


# -------------------------------------------------------------------------- heads


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", HEAD_CODES)
@pytest.mark.parametrize("loss", LOSS_CODES)
def test_head_loss_matches_reference(loss, head, dtype, ties):
    rng = np.random.default_rng(0)
    n = 11
    F = 1.5 * rng.standard_normal((n, _n_outputs(head)))
    # Small integers: tied rivals and margins exactly on the kinks, where both sides must
    # follow the same subgradient conventions.
    F = (np.round(F) if ties else F).astype(dtype)
    y = rng.integers(0, max(F.shape[1], 2), n)
    s = rng.uniform(0.5, 2.0, n)
    s[3] = 0.0  # a padding row
    value, G = backend.head_loss(F, y, s, loss, head)
    expected_value, expected_G = _losses.head_loss(F, y, s.astype(dtype), loss, head)
    assert G.dtype == dtype and G.shape == F.shape
    rtol = HEAD_RTOL[dtype]
    assert_allclose(value, expected_value, rtol=rtol)
    assert_allclose(G, expected_G, rtol=rtol, atol=_scaled_atol(rtol, expected_G))
    assert np.all(G[3] == 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", HEAD_CODES)
def test_head_loss_is_stable_for_large_outputs(head, dtype):
    K = _n_outputs(head)
    F = np.where(np.arange(K) % 2 == 0, 1000.0, -1000.0) * np.array([[1.0], [-1.0]])
    F = F.astype(dtype)
    y = np.array([0, 1])
    value, G = backend.head_loss(F, y, np.ones(2), "log_loss", head)
    expected_value, expected_G = _losses.head_loss(F, y, np.ones(2), "log_loss", head)
    assert np.isfinite(value) and np.all(np.isfinite(G))
    assert_allclose(value, expected_value, rtol=HEAD_RTOL[dtype])
    assert_allclose(G, expected_G, rtol=HEAD_RTOL[dtype], atol=1e-30)


def test_exp_nonpositive_is_exp_to_two_units_in_the_last_place():
    rng = np.random.default_rng(0)
    x = np.concatenate([-np.abs(rng.standard_normal(100_000)) * 30,
                        -np.linspace(0.0, 750.0, 100_001),
                        [0.0, -0.0, -1e-300, -708.4, -709.0, -745.0, -745.2, -746.0,
                         -1e300, -np.inf, np.nan]])
    out = np.empty_like(x)
    _exp_nonpositive(x, out)
    expected = np.exp(x)
    normal = expected >= np.finfo(np.float64).tiny
    ulps = np.abs(out[normal] - expected[normal]) / np.spacing(expected[normal])
    assert ulps.max() <= 2.0
    assert np.all(np.abs(out[~normal & np.isfinite(x)] - expected[~normal & np.isfinite(x)])
                  <= 5e-324)  # (subnormal results: to the smallest step)
    assert out[np.isneginf(x)] == 0.0 and np.isnan(out[-1])
    assert_array_equal(out[x == 0.0], 1.0)


@pytest.mark.parametrize("head", HEAD_CODES)
@pytest.mark.parametrize("loss", LOSS_CODES)
def test_head_loss_gradient_matches_finite_differences(loss, head):
    rng = np.random.default_rng(1)
    F = 1.5 * rng.standard_normal((6, _n_outputs(head)))
    y = rng.integers(0, max(F.shape[1], 2), 6)
    s = rng.uniform(0.5, 2.0, 6)
    _, G = backend.head_loss(F, y, s, loss, head)
    expected = central_difference(lambda: backend.head_loss(F, y, s, loss, head)[0], F)
    assert_allclose(G, expected, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------- linear model


@pytest.mark.parametrize("l2", [1.0, 0.0])
@pytest.mark.parametrize("intercept_penalty", [0.0, 0.5])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", HEAD_CODES)
@pytest.mark.parametrize("loss", LOSS_CODES)
def test_linear_value_grad_matches_reference(make_problem, layout, loss, head, dtype,
                                             fit_intercept, intercept_penalty, l2):
    X, y, s = _problem(make_problem, layout, head, dtype, 30, 6)
    rng = np.random.default_rng(2)
    K = _n_outputs(head)
    # Representable in float32, so that both sides see the same parameters.
    W = (0.5 * rng.standard_normal((6, K))).astype(dtype).astype(np.float64)
    b = (0.5 * rng.standard_normal(K)).astype(dtype).astype(np.float64)
    C = 0.7
    value, gW, gb = backend.linear_value_grad(
        W, b, X, y, s, C=C, loss=loss, head=head, intercept_penalty=intercept_penalty,
        fit_intercept=fit_intercept, l2=l2)
    expected_value, (expected_gW,), (expected_gb,) = _losses.objective(
        [W], [b if fit_intercept else np.zeros(K)], X.astype(np.float64), y,
        s.astype(dtype), C=C, loss=loss, head=head,
        intercept_penalty=intercept_penalty if fit_intercept else 0.0)
    if l2 == 0.0:
        expected_value -= 0.5 * np.sum(W * W)
        expected_gW = expected_gW - W
    assert gW.dtype == np.float64 and gW.shape == W.shape
    assert gb.dtype == np.float64 and gb.shape == b.shape
    rtol = LINEAR_RTOL[dtype]
    assert_allclose(value, expected_value, rtol=rtol)
    assert_allclose(gW, expected_gW, rtol=rtol, atol=_scaled_atol(rtol, expected_gW))
    if fit_intercept:
        assert_allclose(gb, expected_gb, rtol=rtol, atol=_scaled_atol(rtol, expected_gb))
    else:
        assert_array_equal(gb, 0.0)


@pytest.mark.parametrize("head", HEAD_CODES)
@pytest.mark.parametrize("loss", LOSS_CODES)
def test_linear_value_grad_matches_finite_differences(make_problem, layout, loss, head):
    X, y, s = _problem(make_problem, layout, head, np.float64, 20, 4)
    rng = np.random.default_rng(3)
    K = _n_outputs(head)
    W = 0.5 * rng.standard_normal((4, K))
    b = 0.5 * rng.standard_normal(K)
    kwargs = dict(C=1.3, loss=loss, head=head, intercept_penalty=0.5, fit_intercept=True)
    _, gW, gb = backend.linear_value_grad(W, b, X, y, s, **kwargs)

    def fun():
        return backend.linear_value_grad(W, b, X, y, s, **kwargs)[0]

    assert_allclose(gW, central_difference(fun, W), rtol=1e-6, atol=1e-7)
    assert_allclose(gb, central_difference(fun, b), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------- minibatch epochs


def _epoch(params, state, X, y, s, *, activation="relu", loss="squared_hinge", head="ovr",
           batch_size=None, optimizer="sgd", learning_rate=1e-3, momentum=0.0,
           penalty=1e-2, input_noise=0.0, dropout=0.0, seed=0, perm=None):
    n = X.shape[0]
    return backend.epoch(
        params, state, X, y, s, np.arange(n, dtype=np.int64) if perm is None else perm,
        batch_size=n if batch_size is None else batch_size, optimizer=optimizer,
        learning_rate=learning_rate, momentum=momentum, beta1=0.9, beta2=0.999,
        epsilon=1e-8, penalty=penalty, activation=activation, loss=loss, head=head,
        input_noise=input_noise, dropout=dropout, train_output_bias=True, seed=seed)


def _network(n_features, head, activation, dtype, seed=0):
    sizes = (n_features, 6, 4, _n_outputs(head))
    return _solvers.init_params(sizes, activation, dtype, np.random.default_rng(seed))


@pytest.mark.parametrize("activation", ACTIVATION_CODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", HEAD_CODES)
@pytest.mark.parametrize("loss", LOSS_CODES)
def test_epoch_step_is_the_objective_gradient(make_problem, layout, loss, head, dtype,
                                              activation):
    # One batch of plain SGD moves every parameter by -lr * grad(J / (C n)).
    n, C = 24, 0.9
    X, y, s = _problem(make_problem, layout, head, dtype, n, 5)
    coefs, intercepts = _network(5, head, activation, dtype)
    before = [p.astype(np.float64) for p in coefs + intercepts]
    state = _solvers.init_state(coefs, intercepts)
    # float32 parameters need a larger step for the difference to carry the gradient.
    lr = 1e-3 if dtype == np.float64 else 1e-1
    perm = np.random.default_rng(4).permutation(n).astype(np.int64)
    total = _epoch((coefs, intercepts), state, X, y, s, activation=activation, loss=loss,
                   head=head, learning_rate=lr, penalty=1.0 / (C * n), perm=perm)
    L = len(coefs)
    _, grad_coefs, grad_intercepts = _losses.objective(
        before[:L], before[L:], X.astype(np.float64), y, s.astype(dtype), C=C, loss=loss,
        head=head, activation=activation)
    expected = [g / (C * n) for g in grad_coefs + grad_intercepts]
    rtol = 1e-7 if dtype == np.float64 else 1e-4
    atol = _scaled_atol(rtol, *expected)
    for after, old, grad in zip(coefs + intercepts, before, expected):
        assert after.dtype == dtype
        assert_allclose((old - after.astype(np.float64)) / lr, grad, rtol=rtol, atol=atol)
    assert state["step"] == 1
    # The returned loss is the data term at the parameters the epoch started from.
    F, _ = _losses.forward(before[:L], before[L:], X.astype(np.float64), activation)
    data, _ = _losses.head_loss(F, y, s.astype(dtype), loss, head)
    assert_allclose(total, data, rtol=1e-12 if dtype == np.float64 else 1e-5)


def _reference_step(params, grads, state, optimizer, lr, momentum, beta1=0.9, beta2=0.999,
                    eps=1e-8):
    """One optimizer step in numpy: SGD with momentum, or Adam as MLPClassifier has it."""
    state["t"] += 1
    for p, g, m, v in zip(params, grads, state["m"], state["v"]):
        if optimizer == "adam":
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g * g
            t = state["t"]
            p -= lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) * m / (np.sqrt(v) + eps)
        else:
            m[...] = momentum * m - lr * g
            p += m


@pytest.mark.parametrize("optimizer", OPTIMIZER_CODES)
def test_epoch_optimizer_steps_match_numpy(make_problem, layout, optimizer):
    # Three full-batch epochs: the moments carry over between calls through ``state``.
    n, C, lr, momentum = 20, 2.0, 0.05, 0.9
    X, y, s = _problem(make_problem, layout, "ovr", np.float64, n, 5)
    coefs, intercepts = _network(5, "ovr", "tanh", np.float64)
    L = len(coefs)
    params = [p.copy() for p in coefs + intercepts]
    reference = {"t": 0, "m": [np.zeros_like(p) for p in params],
                 "v": [np.zeros_like(p) for p in params]}
    state = _solvers.init_state(coefs, intercepts)
    for _ in range(3):
        _, grad_coefs, grad_intercepts = _losses.objective(
            params[:L], params[L:], X, y, s, C=C, loss="squared_hinge", head="ovr",
            activation="tanh")
        grads = [g / (C * n) for g in grad_coefs + grad_intercepts]
        _reference_step(params, grads, reference, optimizer, lr, momentum)
        _epoch((coefs, intercepts), state, X, y, s, activation="tanh", optimizer=optimizer,
               learning_rate=lr, momentum=momentum, penalty=1.0 / (C * n))
    assert state["step"] == 3
    for got, expected in zip(coefs + intercepts, params):
        assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_epoch_can_freeze_the_output_bias(make_problem):
    X, y, s = _problem(make_problem, "dense", "ovr", np.float64, 20, 5)
    coefs, intercepts = _network(5, "ovr", "relu", np.float64)
    before = [p.copy() for p in coefs + intercepts]
    state = _solvers.init_state(coefs, intercepts)
    backend.epoch((coefs, intercepts), state, X, y, s, np.arange(20), batch_size=7,
                  optimizer="adam", learning_rate=0.01, momentum=0.0, beta1=0.9,
                  beta2=0.999, epsilon=1e-8, penalty=0.01, activation="relu",
                  loss="squared_hinge", head="ovr", input_noise=0.0, dropout=0.0,
                  train_output_bias=False, seed=0)
    assert_array_equal(intercepts[-1], before[-1])
    assert all(not np.array_equal(p, q) for p, q in zip(coefs + intercepts[:-1], before))


@pytest.mark.parametrize("optimizer", OPTIMIZER_CODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_epoch_is_reproducible(make_problem, layout, dtype, optimizer):
    X, y, s = _problem(make_problem, layout, "ovr", dtype, 23, 5)
    perm = np.random.default_rng(5).permutation(23).astype(np.int64)

    def run(seed, input_noise=0.3, dropout=0.25):
        coefs, intercepts = _network(5, "ovr", "tanh", dtype)
        state = _solvers.init_state(coefs, intercepts)
        totals = [
            _epoch((coefs, intercepts), state, X, y, s, activation="tanh", batch_size=5,
                   optimizer=optimizer, learning_rate=0.01, momentum=0.9,
                   input_noise=input_noise, dropout=dropout, seed=seed, perm=perm)
            for _ in range(2)
        ]
        return totals, coefs + intercepts, state

    totals, params, state = run(seed=7)
    totals_again, params_again, state_again = run(seed=7)
    assert totals == totals_again
    assert state["step"] == state_again["step"] == 2 * 5  # five batches, the last of 3
    for a, b in zip(params, params_again):
        assert a.dtype == dtype
        assert_array_equal(a, b)
    for key in ("m_coefs", "m_intercepts", "v_coefs", "v_intercepts"):
        for a, b in zip(state[key], state_again[key]):
            assert_array_equal(a, b)
    # The noise and the dropout masks do come from the seed.
    for other in (run(seed=8), run(seed=7, input_noise=0.0, dropout=0.0)):
        assert not all(np.array_equal(a, b) for a, b in zip(params, other[1]))



def test_epochs_of_two_networks_in_turn_train_each_as_alone(make_problem, layout):
    # The epoch keeps the typed lists of the last call's arrays: two networks whose
    # epochs alternate must each train on their own weights and moments, as alone.
    X, y, s = _problem(make_problem, layout, "ovr", np.float64, 23, 5)
    perm = np.random.default_rng(5).permutation(23).astype(np.int64)

    def network(width):
        coefs, intercepts = _network(5, "ovr", "tanh", np.float64)
        if width:  # another architecture: a wider hidden layer
            rng = np.random.default_rng(width)
            coefs = [rng.standard_normal((coefs[0].shape[0], width)),
                     rng.standard_normal((width, coefs[1].shape[1]))]
            intercepts = [np.zeros(width), intercepts[1].copy()]
        return (coefs, intercepts), _solvers.init_state(coefs, intercepts)

    def step(params, state):
        _epoch(params, state, X, y, s, activation="tanh", batch_size=5,
               optimizer="adam", learning_rate=0.01, momentum=0.9, input_noise=0.0,
               dropout=0.0, seed=0, perm=perm)

    for width in (0, 9):
        alone = network(0), network(width)
        for params, state in alone:
            for _ in range(3):
                step(params, state)
        backend._forget_epoch_lists()
        in_turn = network(0), network(width)
        for _ in range(3):
            for params, state in in_turn:
                step(params, state)
        for (mine, _), (theirs, _) in zip(in_turn, alone):
            for a, b in zip(mine[0] + mine[1], theirs[0] + theirs[1]):
                assert_array_equal(a, b)

# ------------------------------------------------------------ linear solvers


def _without_empty_rows(X, y, s):
    keep = (X.getnnz(axis=1) if sp.issparse(X) else np.count_nonzero(X, axis=1)) > 0
    return X[keep], y[keep], s[keep]


def _primal(W, b, X, y, s, *, C, loss, head, intercept_scaling, fit_intercept):
    """liblinear's primal objective by the reference: the intercept is penalised."""
    value, _, _ = _losses.objective(
        [W], [b], X.astype(np.float64), y, s, C=C, loss=loss, head=head,
        intercept_penalty=1.0 / intercept_scaling ** 2 if fit_intercept else 0.0)
    return value


def _dcd(X, y, s, *, loss, head, C, fit_intercept, intercept_scaling, tol, seed=0):
    W, b, n_iter, converged, *_ = backend.dcd(
        X, y, s, C=C, loss=loss, head=head, intercept_scaling=intercept_scaling,
        fit_intercept=fit_intercept, n_outputs=_n_outputs(head), tol=tol,
        max_iter=100_000, seed=seed)
    assert converged and W.shape == (X.shape[1], _n_outputs(head))
    assert W.dtype == b.dtype == np.float64
    if not fit_intercept:
        assert_array_equal(b, 0.0)
    return W, b


def _hinge_dual_bound(W, b, X, y, s, *, C, head, intercept_scaling, fit_intercept):
    """A lower bound on the optimal hinge-loss primal objective, by weak duality.

    With ``V = [W; b / B]`` and ``x~ = [x, B]``, every margin constraint ``r`` of sample
    ``i`` reads ``<a_r, V> >= 1 - xi_g`` with ``a_r = x~_i e_r^T`` (``e_r`` the output
    combination of the head) and one slack ``xi_g`` per constraint, or per sample for
    Crammer-Singer. The dual is: maximise ``sum(alpha) - 1/2 ||sum_r alpha_r a_r||^2`` over
    ``alpha >= 0`` with ``sum_{r in g} alpha_r <= C s_g``. Any feasible ``alpha`` bounds the
    optimum from below; this one is the feasible ``alpha`` that best explains ``V`` (a
    linear program), which makes the bound tight when ``V`` is optimal.
    """
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    X = X.astype(np.float64)
    n, K = X.shape[0], _n_outputs(head)
    B = intercept_scaling if fit_intercept else 0.0
    Xt = np.hstack([X, np.full((n, 1), B)])
    rows, group, cost = [], [], []
    for i in range(n):
        if head == "binary":
            combos = [np.array([2.0 * y[i] - 1.0])]
        elif head == "ovr":
            combos = [(1.0 if y[i] == k else -1.0) * np.eye(K)[k] for k in range(K)]
        else:
            combos = [np.eye(K)[y[i]] - np.eye(K)[j] for j in range(K) if j != y[i]]
        for r, e in enumerate(combos):
            rows.append(np.outer(Xt[i], e).ravel())
            if head != "crammer_singer" or r == 0:
                cost.append(C * s[i])
            group.append(len(cost) - 1)
    A, group, cost = np.array(rows), np.array(group), np.array(cost)
    V = np.vstack([W, b[None, :] / intercept_scaling]).ravel()
    R, m = A.shape
    G = np.zeros((len(cost), R))
    G[group, np.arange(R)] = 1.0
    # max sum(alpha) - 1e3 ||A^T alpha - V||_1, the residual split as p - q.
    result = scipy.optimize.linprog(
        np.concatenate([-np.ones(R), np.full(2 * m, 1e3)]),
        A_ub=np.hstack([G, np.zeros((len(cost), 2 * m))]), b_ub=cost,
        A_eq=np.hstack([A.T, -np.eye(m), np.eye(m)]), b_eq=V, bounds=(0.0, None),
        method="highs")
    assert result.status == 0, result.message
    alpha = np.maximum(result.x[:R], 0.0)
    sums = np.bincount(group, alpha, len(cost))
    alpha *= np.minimum(1.0, cost / np.maximum(sums, 1e-300))[group]  # exactly feasible
    U = A.T @ alpha
    return alpha.sum() - 0.5 * U @ U


INTERCEPTS = pytest.mark.parametrize("fit_intercept, intercept_scaling",
                                     [(True, 2.0), (False, 1.0)])


@INTERCEPTS
@pytest.mark.parametrize("dtype", DTYPES)
# (Crammer-Singer's max has kinks where L-BFGS stalls, so it is no reference there:
# tests/test_crammer_singer.py checks that dual against a constrained solver instead.)
@pytest.mark.parametrize("head", [h for loss, h in DCD_CASES
                                  if loss == "squared_hinge" and h != "crammer_singer"])
def test_dcd_squared_hinge_reaches_the_lbfgs_optimum(make_problem, layout, head, dtype,
                                                     fit_intercept, intercept_scaling):
    X, y, s = _problem(make_problem, layout, head, dtype, 200, 10, conditioned=True)
    # A small C keeps the dual well conditioned: dcd then needs far fewer epochs.
    kwargs = dict(C=0.1, loss="squared_hinge", head=head, fit_intercept=fit_intercept)
    W, b = _dcd(X, y, s, intercept_scaling=intercept_scaling, tol=1e-10, **kwargs)
    reference = _solvers.lbfgs(
        X.astype(np.float64), y, s, backend=backend, n_outputs=_n_outputs(head),
        intercept_penalty=1.0 / intercept_scaling ** 2, tol=1e-10, max_iter=10_000,
        **kwargs)
    expected = _primal(reference.coefs[0], reference.intercepts[0], X, y, s,
                       intercept_scaling=intercept_scaling, **kwargs)
    value = _primal(W, b, X, y, s, intercept_scaling=intercept_scaling, **kwargs)
    assert_allclose(value, expected, rtol=1e-6)
    assert value <= expected * (1 + 1e-9)
    # The objective is strongly convex: the minimisers agree too.
    assert_allclose(W, reference.coefs[0], rtol=1e-3, atol=1e-3 * np.abs(W).max())


@INTERCEPTS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", [h for loss, h in DCD_CASES if loss == "hinge"])
def test_dcd_hinge_closes_the_duality_gap(make_problem, layout, head, dtype, fit_intercept,
                                          intercept_scaling):
    X, y, s = _without_empty_rows(
        *_problem(make_problem, layout, head, dtype, 30, 8, conditioned=True))
    kwargs = dict(C=0.5, head=head, fit_intercept=fit_intercept,
                  intercept_scaling=intercept_scaling)
    W, b = _dcd(X, y, s, loss="hinge", tol=1e-10, **kwargs)
    value = _primal(W, b, X, y, s, loss="hinge", **kwargs)
    bound = _hinge_dual_bound(W, b, X, y, s, **kwargs)
    assert bound <= value * (1 + 1e-12)
    assert value - bound <= 1e-6 * value


@INTERCEPTS
@pytest.mark.parametrize("loss", ["squared_hinge", "hinge"])
@pytest.mark.parametrize("head", ["binary", "ovr"])
def test_dcd_stops_once_the_duality_gap_certifies_the_objective(
        make_problem, layout, loss, head, fit_intercept, intercept_scaling):
    X, y, s = _problem(make_problem, layout, head, np.float64, 100, 20, conditioned=True)
    s[:5] = 0.0  # rows the descent leaves out must not count in the gap
    kwargs = dict(C=0.1, loss=loss, head=head, fit_intercept=fit_intercept,
                  intercept_scaling=intercept_scaling)
    common = dict(n_outputs=_n_outputs(head), max_iter=100_000, seed=0, tol=1e-9,
                  **kwargs)
    tight = backend.dcd(X, y, s, **common)
    gapped = backend.dcd(X, y, s, gap_tol=1e-5, **common)
    assert tight[3] and gapped[3]
    # The gap test fires long before the one at tol=1e-9 (for one-vs-rest n_iter is the
    # slowest output's, which may need both).
    assert gapped[2] < tight[2] if head == "binary" else gapped[2] <= tight[2]
    best = _primal(tight[0], tight[1], X, y, s, **kwargs)
    value = _primal(gapped[0], gapped[1], X, y, s, **kwargs)
    if head in ("binary", "ovr"):  # the objective the kernel reports is the primal's
        assert tight[4] == pytest.approx(best, rel=1e-10)
        assert gapped[4] == pytest.approx(value, rel=1e-10)
    else:
        assert tight[4] is None
    assert best * (1 - 1e-12) <= value <= best * (1 + 1e-5)


@pytest.mark.parametrize("loss", ["squared_hinge", "hinge"])
def test_duality_gap_is_primal_minus_dual(make_problem, layout, loss):
    from sksvmnet.backends._numba.dual import _duality_gap
    from sksvmnet.backends._numba.rows import _as_kernel_data
    X, y, s = _problem(make_problem, layout, "binary", np.float64, 50, 8, conditioned=True)
    rng = np.random.default_rng(3)
    t, cw, B = 2.0 * y - 1.0, 0.7 * s, 1.5
    used = rng.random(len(y)) > 0.2  # the others are marked left out by QD = 0
    diag = np.zeros(len(y)) if loss == "hinge" else 0.5 / cw
    alpha = np.where(used, rng.uniform(0, 1, len(y)) * (cw if loss == "hinge" else 1.0), 0)
    Xd = X.toarray() if sp.issparse(X) else X
    w = (alpha * t) @ Xd
    wb = B * float(alpha @ t)
    margins = 1.0 - t * (Xd @ w + B * wb)
    losses = np.maximum(margins, 0.0) ** (1 if loss == "hinge" else 2)
    norm = w @ w + wb * wb
    primal = 0.5 * norm + cw[used] @ losses[used]
    dual = alpha.sum() - 0.5 * norm - 0.5 * diag @ alpha ** 2
    gap, value = _duality_gap(*_as_kernel_data(X), t, cw, LOSS_CODES[loss], B,
                              used.astype(np.float64), alpha, diag, w, wb)
    assert_allclose([gap, value], [primal - dual, primal], rtol=1e-12)
    assert gap >= 0.0


def test_next_gap_check_stays_sane_on_any_input():
    from sksvmnet.backends._numba.dual import _next_gap_check
    assert _next_gap_check(1, 0.5, 0, -1.0, 1e-7) == 2  # no earlier check
    assert _next_gap_check(101, 1.0, 100, 1.0, 1e-7) == 102  # no fall
    assert _next_gap_check(101, 1.0 - 1e-15, 100, 1.0, 1e-7) == 105  # a tiny one: capped
    assert _next_gap_check(5, 0.3, 4, 0.2, 1e-7) == 6  # the gap rose
    assert _next_gap_check(5, np.nan, 4, 0.2, 1e-7) == 6
    assert _next_gap_check(2, 0.999, 1, 1.0, 1e-7) == 2 + 4  # capped at 4x the interval
    # Halving an epoch: 1e-3 -> 1e-7 needs ~13.3 epochs; capped at 4.
    assert _next_gap_check(10, 1e-3, 9, 2e-3, 1e-7) == 10 + 4
    # 30x in 10 epochs: 1e-3 -> 1e-7 needs 27.1 epochs, 80% of them is 21.7 -> 22.
    assert _next_gap_check(20, 1e-3, 10, 3e-2, 1e-7) == 20 + 22


@pytest.mark.parametrize("solver", ["dcd", "cd_l1"])
def test_sparse_kernels_take_int64_indices(make_problem, solver):
    X, y = make_problem(80, 12, 3, True)
    s = np.ones(len(y))
    X64 = X.copy()
    X64.indices, X64.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    assert X64.indices.dtype == np.int64
    kwargs = dict(C=1.0, head="ovr", intercept_scaling=1.0, fit_intercept=True, n_outputs=3,
                  tol=1e-4, max_iter=1000)
    if solver == "dcd":
        kwargs.update(loss="squared_hinge", seed=0, gap_tol=1e-7)
    fits = [getattr(backend, solver)(data, y, s, **kwargs) for data in (X, X64)]
    assert_array_equal(fits[0][0], fits[1][0])
    assert_array_equal(fits[0][1], fits[1][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("sparse", [True, False])
def test_prefetch_row_changes_nothing(dtype, index_dtype, sparse):
    # A hint to the caches: every row (the empty and the last ones included) of every
    # layout and type compiles and leaves the data as it was.
    X = sp.random(40, 70, density=0.1, format="csr", dtype=dtype, random_state=0)
    X = sp.vstack([X, sp.csr_matrix((2, 70), dtype=dtype)]).tocsr()
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    X = X if sparse else X.toarray()
    kernel_data = _as_kernel_data(X)
    before = [np.array(a, copy=True) for a in kernel_data[:4]]
    for i in range(X.shape[0]):
        assert _prefetch_row(*kernel_data, i) is None
    for old, new in zip(before, kernel_data[:4]):
        assert_array_equal(old, new)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, head", DCD_CASES)
def test_dcd_tight_and_loose_tolerances_agree(make_problem, layout, loss, head, dtype):
    X, y, s = _without_empty_rows(
        *_problem(make_problem, layout, head, dtype, 60, 8, conditioned=True))
    kwargs = dict(C=0.5, loss=loss, head=head, fit_intercept=True, intercept_scaling=1.0)
    W, b = _dcd(X, y, s, tol=1e-10, **kwargs)
    tight = _primal(W, b, X, y, s, **kwargs)
    loose = _primal(*_dcd(X, y, s, tol=1e-6, **kwargs), X, y, s, **kwargs)
    assert tight <= loose * (1 + 1e-12)
    assert_allclose(tight, loose, rtol=1e-6)
    # No small step of the weights improves on the tight solution.
    rng = np.random.default_rng(6)
    for _ in range(20):
        step = 1e-4 * rng.standard_normal(W.shape)
        assert _primal(W + step, b, X, y, s, **kwargs) >= tight * (1 - 1e-12)


@pytest.mark.parametrize("loss, head", DCD_CASES)
def test_dcd_without_intercept_ignores_empty_rows(make_problem, layout, loss, head):
    # Without an intercept an all-zero row adds a constant to the objective: same optimum.
    X, y, s = _without_empty_rows(*_problem(make_problem, "dense", head, np.float64, 40, 5))
    n_empty = 3
    X_empty = np.vstack([X, np.zeros((n_empty, X.shape[1]))])
    X_empty = sp.csr_matrix(X_empty) if layout == "sparse" else X_empty
    y_empty = np.concatenate([y, np.arange(n_empty) % max(_n_outputs(head), 2)])
    s_empty = np.concatenate([s, np.ones(n_empty)])
    kwargs = dict(C=1.0, loss=loss, head=head, fit_intercept=False, intercept_scaling=1.0,
                  tol=1e-10)
    W, _ = _dcd(X_empty, y_empty, s_empty, **kwargs)
    expected, _ = _dcd(X, y, s, **kwargs)
    assert_allclose(W, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("loss, head", DCD_CASES)
def test_dcd_zero_weight_drops_the_sample(make_problem, layout, loss, head):
    X, y, s = _without_empty_rows(
        *_problem(make_problem, layout, head, np.float64, 40, 8, conditioned=True))
    s[::4] = 0.0
    kwargs = dict(C=1.0, loss=loss, head=head, fit_intercept=True, intercept_scaling=1.0,
                  tol=1e-10)
    W, b = _dcd(X, y, s, **kwargs)
    keep = s > 0
    W_kept, b_kept = _dcd(X[keep], y[keep], s[keep], **kwargs)
    assert_allclose(W, W_kept, rtol=1e-6, atol=1e-6 * np.abs(W_kept).max())
    assert_allclose(b, b_kept, rtol=1e-6, atol=1e-6 * np.abs(W_kept).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", [h for loss, h in DCD_CASES if loss == "hinge"])
def test_dcd_is_deterministic_for_a_seed(make_problem, layout, head, dtype):
    X, y, s = _without_empty_rows(
        *_problem(make_problem, layout, head, dtype, 30, 8, conditioned=True))
    kwargs = dict(loss="hinge", head=head, C=1.0, fit_intercept=True,
                  intercept_scaling=1.0, tol=1e-3, seed=11)
    for a, b in zip(_dcd(X, y, s, **kwargs), _dcd(X, y, s, **kwargs)):
        assert_array_equal(a, b)


def test_shuffle_permutes_the_active_prefix_only():
    # The sweeps' order: a permutation of order[:active], the rest untouched, the same for
    # a seed and another for another seed; 0 and 1 active rows leave the order as it is.
    n, active = 200, 150
    orders = []
    for seed in (0, 1, 0):
        order = np.arange(n, dtype=np.int64)
        # (from Python the state is an int: as np.uint64 it compiles the kernels' type)
        state = np.uint64(_shuffle_state(seed))
        for _ in range(3):  # (three epochs: the state carries on)
            state = np.uint64(_shuffle(order, active, state))
        assert_array_equal(np.sort(order[:active]), np.arange(active))
        assert_array_equal(order[active:], np.arange(active, n))
        orders.append(order)
    assert not np.array_equal(orders[0][:active], np.arange(active))
    assert_array_equal(orders[0], orders[2])
    assert not np.array_equal(orders[0], orders[1])
    for few in (0, 1):
        order = np.arange(5, dtype=np.int64)
        _shuffle(order, few, np.uint64(_shuffle_state(7)))
        assert_array_equal(order, np.arange(5))


def test_shuffle_draws_every_position_about_evenly():
    # Each row lands in each place with about equal frequency (a biased or stuck
    # generator fails this): 6,000 shuffles of 6 rows, each cell expected 1,000 times.
    n, draws = 6, 6000
    counts = np.zeros((n, n))
    order = np.arange(n, dtype=np.int64)
    state = np.uint64(_shuffle_state(3))
    for _ in range(draws):
        state = np.uint64(_shuffle(order, n, state))
        counts[order, np.arange(n)] += 1
    expected = draws / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 80.0  # 25 degrees of freedom: p < 1e-6 above 80


def test_dcd_log_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    X = sp.random(40, 60, density=0.1, random_state=1, format="csr")
    y = rng.integers(0, 3, 40)
    kwargs = dict(C=1.0, fit_intercept=True, n_outputs=3, tol=1e-4, max_iter=50,
                  gap_tol=1e-7)
    first = backend.dcd_log(X, y, np.ones(40), seed=5, **kwargs)
    again = backend.dcd_log(X, y, np.ones(40), seed=5, **kwargs)
    other = backend.dcd_log(X, y, np.ones(40), seed=6, **kwargs)  # another order
    for a, b in zip(first, again):
        assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("loss, head", DCD_CASES)
def test_dcd_is_the_same_with_and_without_prefetching(make_problem, layout, loss, head):
    # Asking for the rows ahead is a hint to the caches: every epoch with it (0 bytes) and
    # none (inf) fit the same model, bit for bit, dual variables and objective included.
    X, y, s = _without_empty_rows(
        *_problem(make_problem, layout, head, np.float64, 60, 9, conditioned=True))
    fits = [backend.dcd(X, y, s, C=1.0, loss=loss, head=head, intercept_scaling=1.0,
                        fit_intercept=True, n_outputs=_n_outputs(head), tol=1e-3,
                        max_iter=5_000, seed=3, gap_tol=1e-7, prefetch_min_bytes=limit)
            for limit in (0, np.inf)]
    for with_prefetch, without in zip(*fits):
        if with_prefetch is None:
            assert without is None
        else:
            assert_array_equal(with_prefetch, without)


@pytest.mark.parametrize("loss, head", DCD_CASES)
def test_dcd_sweeps_mostly_zero_dense_x_as_its_csr_twin(make_problem, loss, head):
    # Dense X with at most DCD_SPARSE_DENSITY of its entries non-zero is swept as CSR:
    # the same fit as the CSR matrix's, bit for bit.
    X, y, s = _without_empty_rows(
        *_problem(make_problem, "dense", head, np.float64, 60, 9, conditioned=True))
    X = np.where(np.random.default_rng(0).random(X.shape) < 0.3, X, 0.0)
    X[:, 0] = 1.0  # (no empty rows)
    assert np.count_nonzero(X) <= backend.dual.DCD_SPARSE_DENSITY * X.size
    fits = [backend.dcd(data, y, s, C=1.0, loss=loss, head=head, intercept_scaling=1.0,
                        fit_intercept=True, n_outputs=_n_outputs(head), tol=1e-3,
                        max_iter=5_000, seed=3, gap_tol=1e-7)
            for data in (X, sp.csr_matrix(X))]
    for dense, csr in zip(*fits):
        if dense is None:
            assert csr is None
        else:
            assert_array_equal(dense, csr)


def _refused_cases():
    for loss in LOSS_CODES:
        for head in HEAD_CODES:
            if (loss, head) not in DCD_PROBLEMS:
                yield pytest.param("dcd", loss, head, id=f"dcd-{loss}-{head}")
    for head in HEAD_CODES:
        if head not in CD_L1_HEADS:
            yield pytest.param("cd_l1", "squared_hinge", head, id=f"cd_l1-{head}")


@pytest.mark.parametrize("solver, loss, head", list(_refused_cases()))
def test_linear_solvers_refuse_problems_they_do_not_solve(make_problem, solver, loss, head):
    X, y, s = _problem(make_problem, "dense", head, np.float64, 20, 3)
    kwargs = dict(C=1.0, head=head, intercept_scaling=1.0, fit_intercept=True,
                  n_outputs=_n_outputs(head), tol=1e-3, max_iter=10)
    with pytest.raises(ValueError, match=head):
        if solver == "dcd":
            backend.dcd(X, y, s, loss=loss, seed=0, **kwargs)
        else:
            backend.cd_l1(X, y, s, **kwargs)


def _l1_reference(X, y, s, *, C, head, intercept_scaling, fit_intercept):
    """Optimal ``||w||_1 + C sum s max(0, 1 - t w x)^2`` summed over outputs, by L-BFGS-B.

    ``w = u - v`` with ``u, v >= 0`` turns the L1 penalty into a smooth bound-constrained
    problem. The intercept is a penalised weight of a constant feature, as in liblinear.
    """
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    X = X.astype(np.float64)
    if fit_intercept:
        X = np.hstack([X, np.full((X.shape[0], 1), intercept_scaling)])
    d = X.shape[1]
    total = 0.0
    for k in range(_n_outputs(head)):
        t = 2.0 * (y == (1 if head == "binary" else k)) - 1.0

        def fun(uv):
            r = np.maximum(0.0, 1.0 - t * (X @ (uv[:d] - uv[d:])))
            g = X.T @ (-2.0 * C * s * t * r)
            return np.sum(uv) + C * np.sum(s * r * r), np.concatenate([1.0 + g, 1.0 - g])

        result = scipy.optimize.minimize(
            fun, np.zeros(2 * d), jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * 2 * d,
            options={"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-12})
        total += result.fun
    return total


@INTERCEPTS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", CD_L1_HEADS)
def test_cd_l1_reaches_the_optimum(make_problem, layout, head, dtype, fit_intercept,
                                   intercept_scaling):
    X, y, s = _problem(make_problem, layout, head, dtype, 60, 8, conditioned=True)
    kwargs = dict(C=0.5, head=head, intercept_scaling=intercept_scaling,
                  fit_intercept=fit_intercept)
    W, b, _, converged = backend.cd_l1(X, y, s, n_outputs=_n_outputs(head), tol=1e-10,
                                       max_iter=100_000, **kwargs)
    assert converged and W.shape == (8, _n_outputs(head))
    if not fit_intercept:
        assert_array_equal(b, 0.0)
    # The objective of cd_l1's solution: the reference's data term, the L1 penalty by hand.
    value, _, _ = _losses.objective([W], [b], X.astype(np.float64), y, s, C=0.5,
                                    loss="squared_hinge", head=head)
    value += -0.5 * np.sum(W * W) + np.abs(W).sum() + np.abs(b).sum() / intercept_scaling
    expected = _l1_reference(X, y, s, **kwargs)
    assert_allclose(value, expected, rtol=1e-6)
    assert value <= expected * (1 + 1e-9)


@pytest.mark.parametrize("dealt", [False, True], ids=["one-thread", "threads"])
@pytest.mark.parametrize("subset", [False, True], ids=["every-row", "subset"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_newton_products_match_numpy(make_problem, layout, dtype, subset, dealt,
                                     monkeypatch):
    # Small blocks, so that the gram is summed over several of them, on the calling
    # thread or dealt to a pool of three (a problem this small is otherwise never dealt;
    # the pool's size is numba's thread count, which may be one).
    monkeypatch.setattr(backend.products, "GRAM_BLOCK_ROWS", 7)
    monkeypatch.setattr(backend.products, "GRAM_PARALLEL_MIN_WORK", 0 if dealt else 2 ** 62)
    monkeypatch.setattr(backend.products, "get_num_threads", lambda: 3)
    X, _, s = _problem(make_problem, layout, "ovr", dtype, 40, 6)
    Xd = X.toarray() if sp.issparse(X) else X
    Xd = Xd.astype(np.float64)
    rng = np.random.default_rng(3)
    rows = np.flatnonzero(rng.random(40) < 0.5) if subset else np.arange(40)
    H, v, total = backend.weighted_gram(X, rows, s[rows])
    XR = Xd[rows]
    rtol = LINEAR_RTOL[dtype]
    assert_allclose(H, (XR.T * s[rows]) @ XR, rtol=rtol, atol=_scaled_atol(rtol, H))
    assert_allclose(v, XR.T @ s[rows], rtol=rtol, atol=_scaled_atol(rtol, v))
    assert total == pytest.approx(s[rows].sum())
    W, G = rng.normal(size=(6, 3)), rng.normal(size=(40, 3))
    assert_allclose(backend.outputs(X, W), Xd @ W, rtol=rtol, atol=_scaled_atol(rtol, Xd @ W))
    assert_allclose(backend.transposed_product(X, G), Xd.T @ G, rtol=rtol,
                    atol=_scaled_atol(rtol, Xd.T @ G))
    out = np.full((6, 3), np.nan)
    assert backend.transposed_product(X, G, out=out) is out
    assert_allclose(out, Xd.T @ G, rtol=rtol, atol=_scaled_atol(rtol, Xd.T @ G))
    out = np.full((40, 3), np.nan)
    assert backend.outputs(X, W, out=out) is out
    assert_allclose(out, Xd @ W, rtol=rtol, atol=_scaled_atol(rtol, Xd @ W))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", HEAD_CODES)
@pytest.mark.parametrize("loss", LOSS_CODES)
def test_fused_pass_matches_the_two_product_path(make_problem, loss, head, dtype,
                                                 monkeypatch):
    # Small problems take the two-product path; force the fused kernel, with blocks small
    # enough that both threads get several, and compare.
    X, y, s = _problem(make_problem, "dense", head, dtype, 50, 6)
    rng = np.random.default_rng(1)
    K = _n_outputs(head)
    W, b = rng.normal(size=(6, K)), rng.normal(size=K)
    common = dict(C=0.7, loss=loss, head=head, intercept_penalty=0.5, fit_intercept=True)
    plain = backend.linear_value_grad(W, b, X, y, s, **common)
    monkeypatch.setattr(backend.products, "FUSED_MIN_ROWS", 0)
    monkeypatch.setattr(backend.products, "PASS_BLOCK_ROWS", 7)
    fused = backend.linear_value_grad(W, b, X, y, s, **common)
    rtol = LINEAR_RTOL[dtype]
    assert fused[0] == pytest.approx(plain[0], rel=rtol)
    for a, c in zip(fused[1:], plain[1:]):
        assert_allclose(a, c, rtol=rtol, atol=_scaled_atol(rtol, c))


@pytest.mark.parametrize("n_outputs", [2, 9, 17])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_products_are_the_same_with_and_without_prefetching(
        dtype, index_dtype, n_outputs, monkeypatch):
    # Asking for the rows of the weights (and of the result) ahead is a hint to the
    # caches: with it on every product (0 bytes) the products are the same, bit for bit,
    # with rows that start mid-line (9, 17 outputs) and the last non-zeros of a share.
    rng = np.random.default_rng(1)
    X = sp.random(40, 300, density=0.1, format="csr", dtype=dtype, random_state=1)
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    W, G = rng.normal(size=(300, n_outputs)), rng.normal(size=(40, n_outputs))
    monkeypatch.setattr(backend.products, "THREADED_MIN_NONZEROS", 0)  # the kernels
    without = backend.outputs(X, W), backend.transposed_product(X, G)
    monkeypatch.setattr(backend.products, "PRODUCT_PREFETCH_MIN_BYTES", 0)
    assert backend.products._product_prefetch(*W.shape) > 0
    with_prefetch = backend.outputs(X, W), backend.transposed_product(X, G)
    for a, b in zip(with_prefetch, without):
        assert_array_equal(a, b)


@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_products_match_scipy_in_float64(dtype, index_dtype, n_outputs,
                                                monkeypatch):
    # Empty rows (first, last, in the middle) and a row holding most of the non-zeros, so
    # that one thread's share of the rows is a single row; both sums are float64 whatever
    # X's dtype, so they match scipy's float64 products of the same values.
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((30, 50)) < 0.1, rng.normal(size=(30, 50)), 0.0)
    dense[[0, 13, 29]] = 0.0
    dense[7] = rng.normal(size=50)
    monkeypatch.setattr(backend.products, "THREADED_MIN_NONZEROS", 0)  # the kernels, not scipy
    X = sp.csr_matrix(dense.astype(dtype))
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    exact = sp.csr_matrix(X.toarray().astype(np.float64))
    W, G = rng.normal(size=(50, n_outputs)), rng.normal(size=(30, n_outputs))
    G[5] = 0.0  # a row with no gradient is skipped
    assert_allclose(backend.outputs(X, W), exact @ W, rtol=1e-13, atol=1e-13)
    assert_allclose(backend.transposed_product(X, G), exact.T @ G, rtol=1e-13, atol=1e-13)
    _assert_written_into_out(X, W, G, exact)
    # Scratch for less than one copy of the result: one thread adds every row for one
    # output, the threads split the columns for several (on any number of threads).
    monkeypatch.setattr(backend.products, "TRANSPOSED_SCRATCH_ENTRIES", 50 * n_outputs - 1)
    assert_allclose(backend.transposed_product(X, G), exact.T @ G, rtol=1e-13, atol=1e-13)
    _assert_written_into_out(X, W, G, exact)
    # All the non-zeros in two columns: the other threads' shares of columns are empty.
    narrow = np.zeros((30, 50))
    narrow[:, [3, 4]] = rng.normal(size=(30, 2))
    X = sp.csr_matrix(narrow.astype(dtype))
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    exact = narrow.astype(dtype).astype(np.float64)
    assert_allclose(backend.transposed_product(X, G), exact.T @ G, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_threaded_dense_products_match_numpy(dtype, n_outputs, monkeypatch):
    # Row blocks of uneven sizes (7 rows over numba's threads), products in X's dtype.
    monkeypatch.setattr(backend.products, "THREADED_MIN_ENTRIES", 0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 40)).astype(dtype)
    W, G = rng.normal(size=(40, n_outputs)), rng.normal(size=(7, n_outputs))
    exact = X.astype(np.float64)
    rtol = 1e-13 if dtype == np.float64 else 1e-5
    assert_allclose(backend.outputs(X, W), exact @ W, rtol=rtol, atol=rtol)
    assert_allclose(backend.transposed_product(X, G), exact.T @ G, rtol=rtol, atol=rtol)
    for product, matrix, other in ((backend.outputs, exact, W),
                                   (backend.transposed_product, exact.T, G)):
        out = np.full((matrix.shape[0], other.shape[1]), np.nan)
        assert product(X, other, out=out) is out
        assert_allclose(out, matrix @ other, rtol=rtol, atol=rtol)
        strided = np.full((other.shape[1], matrix.shape[0]), np.nan).T  # column-major
        assert product(X, other, out=strided) is strided
        assert_allclose(strided, matrix @ other, rtol=rtol, atol=rtol)


def _assert_written_into_out(X, W, G, exact):
    """The products land in a given ``out``, whatever it held, and return it."""
    for product, matrix, other in ((backend.outputs, exact, W),
                                   (backend.transposed_product, exact.T, G)):
        out = np.full((matrix.shape[0], other.shape[1]), np.nan)
        assert product(X, other, out=out) is out
        assert_allclose(out, matrix @ other, rtol=1e-13, atol=1e-13)
        if other.shape[1] > 1:  # a column-major out would not receive the kernel's rows
            with pytest.raises(ValueError, match="C-contiguous float64"):
                product(X, other, out=np.asfortranarray(out))


@pytest.mark.parametrize("n_outputs", [2, 3])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_sparse_transposed_product_in_a_fit_gathers_from_a_kept_csc_copy(
        dtype, index_dtype, n_outputs, monkeypatch):
    # Within a fit, X^T G of CSR X with no more rows than columns reads a CSC copy, made
    # at the second product and kept until the fit ends; the CSR kernel is not called
    # once it is there. Empty columns (first, middle, last) get zero rows; one column
    # holds most of the non-zeros, so on 1-3 threads some shares are that column alone
    # and some are empty.
    rng = np.random.default_rng(2)
    dense = np.where(rng.random((30, 60)) < 0.01, rng.normal(size=(30, 60)), 0.0)
    dense[:, [0, 31, 59]] = 0.0
    dense[:, 7] = rng.normal(size=30) + 3.0
    monkeypatch.setattr(backend.products, "THREADED_MIN_NONZEROS", 0)
    X = sp.csr_matrix(dense.astype(dtype))
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    assert np.diff(X.tocsc().indptr)[7] > X.nnz / 2
    exact = X.toarray().astype(np.float64)
    W, G = rng.normal(size=(60, n_outputs)), rng.normal(size=(30, n_outputs))
    assert backend.products._kept_columns(X) is None  # outside a fit: no copy
    scatter_kernel = backend.products._csr_rmatmat

    def scatter(*args):
        raise AssertionError("the CSR kernel ran")

    with backend.fit_scope():
        kept = backend.products._kept.columns
        first = backend.transposed_product(X, G)  # (noted, not yet copied)
        assert kept[0] is X and kept[1] is None
        monkeypatch.setattr(backend.products, "_csr_rmatmat", scatter)
        result = backend.transposed_product(X, G)
        columns = kept[1]
        assert columns.format == "csc"
        # (scipy's conversion may narrow the indices; the kernel takes either width)
        wide = columns.copy()
        wide.indices, wide.indptr = (wide.indices.astype(index_dtype),
                                     wide.indptr.astype(index_dtype))
        _, data, indices, indptr, _ = _as_kernel_data(wide, layout="csc")
        out = np.empty((60, n_outputs))
        backend.products._csr_matmat(data, indices, indptr, G,
                                     backend.products._row_shares(indptr, 2), out, 0)
        assert_allclose(out, exact.T @ G, rtol=1e-13, atol=1e-13)
        assert_allclose(result, exact.T @ G, rtol=1e-13, atol=1e-13)
        assert_allclose(first, result, rtol=1e-13, atol=1e-13)
        _assert_written_into_out(X, W, G, exact)
        for n_threads in (1, 2, 3):
            with backend.threads(n_threads):
                assert_allclose(backend.transposed_product(X, G), exact.T @ G,
                                rtol=1e-13, atol=1e-13)
        assert kept[1] is columns  # made once, then kept
        # Asking for G's rows ahead changes nothing, bit for bit.
        monkeypatch.setattr(backend.products, "GATHER_PREFETCH_MIN_BYTES", 0)
        assert backend.products._gather_prefetch(*G.shape) > 0
        assert_array_equal(backend.transposed_product(X, G), result)
        # Another matrix takes the kept copy's place (its first product by the CSR
        # kernel).
        monkeypatch.setattr(backend.products, "_csr_rmatmat", scatter_kernel)
        other = sp.csr_matrix(X[::-1])
        for _ in range(2):
            assert_allclose(backend.transposed_product(other, G), exact[::-1].T @ G,
                            rtol=1e-13, atol=1e-13)
        assert kept[0] is other and kept[1] is not columns
    assert backend.products._kept_columns(X) is None  # let go at the end of the fit


def test_kept_csc_copy_belongs_to_one_fit_and_one_thread(monkeypatch):
    # A nested fit keeps its own copy and gives the outer one's back; a fit that raises
    # lets its copy go; another thread's fit does not see this thread's copy.
    monkeypatch.setattr(backend.products, "THREADED_MIN_NONZEROS", 0)
    X = sp.random(20, 40, density=0.2, format="csr", random_state=0)
    Y = sp.random(20, 40, density=0.2, format="csr", random_state=1)
    G = np.random.default_rng(0).normal(size=(20, 2))
    kept = backend.products._kept_columns
    with backend.fit_scope():
        kept(X)
        outer = kept(X)
        with backend.fit_scope():
            assert backend.products._kept.columns == [None, None]
            kept(Y)
            assert kept(Y) is not None
        assert kept(X) is outer
        seen = []
        worker = threading.Thread(target=lambda: seen.append(
            getattr(backend.products._kept, "columns", "none")))
        worker.start()
        worker.join()
        assert seen == ["none"]
    with pytest.raises(RuntimeError, match="fails"):
        with backend.fit_scope():
            kept(X)
            kept(X)
            raise RuntimeError("the fit fails")
    assert kept(X) is None
    with backend.fit_scope():
        for _ in range(2):
            assert_allclose(backend.transposed_product(X, G), X.toarray().T @ G,
                            rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("rows, copied", [(40, True), (41, False)])
def test_sparse_transposed_product_in_a_fit_copies_only_wide_matrices(rows, copied,
                                                                      monkeypatch):
    # No more rows than columns (square included): a CSC copy. More rows: the CSR
    # kernel's copies of the result are the smaller array, so no copy is made.
    monkeypatch.setattr(backend.products, "THREADED_MIN_NONZEROS", 0)
    X = sp.random(rows, 40, density=0.2, format="csr", random_state=0)
    G = np.random.default_rng(0).normal(size=(rows, 3))
    with backend.fit_scope():
        for _ in range(2):
            assert_allclose(backend.transposed_product(X, G), X.toarray().T @ G,
                            rtol=1e-13, atol=1e-13)
        assert (backend.products._kept.columns[1] is not None) == copied


def test_sparse_matrix_changed_in_place_between_fits_is_read_anew(monkeypatch):
    # The CSC copy is the fit's: a product in a later fit, after the matrix changed in
    # place, reads the new values; so does an estimator's refit, which trains on them
    # as a fit on a fresh copy of them does.
    monkeypatch.setattr(backend.products, "THREADED_MIN_NONZEROS", 0)
    rng = np.random.default_rng(3)
    X = sp.random(40, 80, density=0.2, format="csr", random_state=3)
    G = rng.normal(size=(40, 3))
    with backend.fit_scope():
        for _ in range(2):
            backend.transposed_product(X, G)
    X.data[:] = rng.normal(size=X.nnz)
    with backend.fit_scope():
        for _ in range(2):
            assert_allclose(backend.transposed_product(X, G), X.toarray().T @ G,
                            rtol=1e-13, atol=1e-13)
    y = rng.integers(0, 3, size=40)
    model = LogisticNetClassifier(solver="subspace", backend="numba").fit(X, y)
    before = model.coef_.copy()
    X.data[:] = rng.normal(size=X.nnz)
    model.fit(X, y)
    fresh = LogisticNetClassifier(solver="subspace", backend="numba").fit(X.copy(), y)
    assert not np.allclose(model.coef_, before)
    assert_array_equal(model.coef_, fresh.coef_)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("head, loss, K", [("binary", "log_loss", 1),
                                           ("binary", "squared_hinge", 1),
                                           ("ovr", "log_loss", 3),
                                           ("ovr", "squared_hinge", 3),
                                           ("multinomial", "log_loss", 4)])
def test_head_along_is_the_head_and_its_derivatives(head, loss, K, threaded, monkeypatch):
    # At F = Z + alpha U: the data term and G of head_loss, U G, and U D U^T as finite
    # differences of U G; over blocks that split the rows unevenly, in one share or in
    # several uneven ones (the threaded kernel, however many threads numba has: with
    # one, the threshold lowered would still give one share), with rows of zero weight.
    monkeypatch.setattr(backend.heads, "ALONG_BLOCK_ENTRIES", 5 * K)
    n, r = 53, 4
    if threaded:
        monkeypatch.setattr(backend.heads, "_head_shares", lambda rows: np.array([0, 1, 30, rows]))
    rng = np.random.default_rng(6)
    Z, U = rng.normal(size=(n, K)), rng.normal(size=(r, n, K))
    y = rng.integers(0, 2 if K == 1 else K, n)
    s = rng.uniform(0.0, 2.0, n)
    s[::6] = 0.0
    alpha = rng.normal(size=r) * 0.3
    G = np.full((n, K), np.nan)
    data, slope, H = backend.head_along(Z, U, alpha, y, s, loss, head, G)
    F = Z + np.tensordot(alpha, U, axes=1)
    expected, G_expected = backend.head_loss(F, y, s, loss, head)
    assert data == pytest.approx(expected, rel=1e-12)
    assert_allclose(G, G_expected, rtol=1e-12, atol=1e-15)
    assert_allclose(slope, U.reshape(r, -1) @ G.ravel(), rtol=1e-12, atol=1e-13)
    assert_allclose(H, _head_hessian_along(F, U, y, s, loss, head), rtol=1e-12, atol=1e-13)

    def along(a):
        _, G_a = backend.head_loss(F + np.tensordot(a, U, axes=1), y, s, loss, head)
        return U.reshape(r, -1) @ G_a.ravel()

    eps = 1e-6
    columns = np.array([(along(eps * e) - along(-eps * e)) / (2 * eps) for e in np.eye(r)])
    # (The squared hinge's kink is where no margin lies at these random outputs.)
    assert_allclose(H, columns.T, rtol=1e-5, atol=1e-7)
    # alpha=None: the outputs are Z and G is given; the derivatives alpha = 0 gives.
    at_zero = backend.head_along(Z, U, np.zeros(r), y, s, loss, head, G)
    given = G.copy()
    data, slope, H = backend.head_along(Z, U, None, y, s, loss, head, given)
    assert data is None
    assert_array_equal(given, G)
    assert_array_equal(slope, at_zero[1])
    assert_array_equal(H, at_zero[2])


def _head_hessian_along(F, U, y, s, loss, head):
    """``U D U^T`` in numpy from the reference losses: D the head's Hessian at F."""
    from scipy.special import softmax

    from sksvmnet._losses import MARGIN_CURVATURES
    r, n, K = U.shape
    if head == "multinomial":
        p = softmax(F, axis=1)
        mixed = np.einsum("rnk,nk->rn", U, p)
        return (np.einsum("ank,nk,bnk->ab", U, s[:, None] * p, U)
                - np.einsum("an,n,bn->ab", mixed, s, mixed))
    T = np.where(y[:, None] == (np.arange(K) if head == "ovr" else 1), 1.0, -1.0)
    weight = s[:, None] * MARGIN_CURVATURES[loss](T * F)
    return np.einsum("ank,nk,bnk->ab", U, weight, U)


def test_head_along_refuses_what_it_does_not_know():
    Z, U, G = np.zeros((4, 3)), np.zeros((2, 4, 3)), np.zeros((4, 3))
    for loss, head in (("hinge", "ovr"), ("log_loss", "crammer_singer"),
                       ("squared_hinge", "weston_watkins")):
        with pytest.raises(ValueError, match=f"got loss={loss!r}, head={head!r}"):
            backend.head_along(Z, U, None, np.zeros(4, dtype=np.int64), np.ones(4), loss,
                               head, G)


def test_row_shares_deal_the_non_zeros_evenly():
    for empty in ([0], [0, 0, 0]):  # no rows; rows without non-zeros
        bounds = backend.products._row_shares(np.array(empty), 4)
        assert bounds[0] == 0 and bounds[-1] == len(empty) - 1
        assert np.all(np.diff(bounds) >= 0)
    indptr = np.array([0, 0, 10, 10, 12, 30, 31, 31])
    for n_parts in (1, 2, 3, 7, 10):
        bounds = backend.products._row_shares(indptr, n_parts)
        assert bounds[0] == 0 and bounds[-1] == 7 and np.all(np.diff(bounds) >= 0)
        assert len(bounds) == n_parts + 1
    # Two threads: the 31 non-zeros split at the row boundary nearest their middle.
    assert_array_equal(backend.products._row_shares(indptr, 2), [0, 4, 7])


def test_head_loss_shares_its_rows_among_numbas_threads():
    n = backend.heads.HEAD_THREADED_MIN_ROWS
    assert_array_equal(backend.heads._head_shares(n - 1), [0, n - 1])
    shares = backend.heads._head_shares(n + 3)
    assert len(shares) == get_num_threads() + 1 and shares[-1] == n + 3
    assert np.all(np.diff(shares) >= (n + 3) // get_num_threads())


@pytest.mark.parametrize("head", HEAD_CODES)
@pytest.mark.parametrize("loss", LOSS_CODES)
def test_head_loss_on_threads_matches_one_thread(loss, head, monkeypatch):
    # Uneven shares, one of a single row, whatever the number of numba's threads (with
    # one thread the default split is a single share: the same kernel on both sides).
    rng = np.random.default_rng(2)
    n, K = 50, _n_outputs(head)
    F = rng.normal(size=(n, K))
    y = rng.integers(0, 2 if head == "binary" else K, n)
    s = rng.uniform(0.0, 2.0, n)
    one = np.empty_like(F)
    value = backend.heads._head_kernel(F, y, s, LOSS_CODES[loss], HEAD_CODES[head], one, 0.0)
    monkeypatch.setattr(backend.heads, "_head_shares", lambda rows: np.array([0, 1, 20, rows]))
    threaded_value, threaded = backend.head_loss(F, y, s, loss, head)
    assert_array_equal(threaded, one)
    assert threaded_value == pytest.approx(value, rel=1e-13)
    expected_value, expected = _losses.head_loss(F, y, s, loss, head)
    assert threaded_value == pytest.approx(expected_value, rel=HEAD_RTOL[np.float64])
    assert_allclose(threaded, expected, rtol=HEAD_RTOL[np.float64],
                    atol=_scaled_atol(HEAD_RTOL[np.float64], expected))


# ---------------------------------------------------------- the dual of the softmax


@pytest.mark.parametrize("a, c", [(0.0, 1.0), (1.0, 1.0), (3.0, 0.2), (1e3, 1e3),
                                  (2.0, 5e5)])
def test_softmax_subproblem_meets_its_optimality_conditions(a, c):
    # beta minimises a |beta - alpha|^2 / 2 - beta z + sum beta log beta on c times the
    # simplex: a (beta - alpha) - z + log beta is the same for every k, and sum beta = c.
    # Also where a c is large (rounding then exceeds any absolute tolerance) and where
    # a variable starts vanishingly small.
    from sksvmnet.backends._numba.dual_log import SUBPROBLEM_STEPS, _softmax_subproblem

    rng = np.random.default_rng(0)
    for K in (3, 7, 58):
        alpha = rng.dirichlet(np.ones(K)) * c
        alpha[0] = c * 1e-60
        alpha *= c / alpha.sum()
        z = rng.normal(scale=3.0, size=K)
        new_alpha, new_u, F, h = (np.empty(K) for _ in range(4))
        steps = _softmax_subproblem(a, c, alpha, np.log(alpha), z, new_alpha, new_u, F, h)
        assert steps < SUBPROBLEM_STEPS
        assert np.all(new_alpha > 0) and new_alpha.sum() == pytest.approx(c, rel=1e-14)
        assert_allclose(new_u, np.log(new_alpha), rtol=1e-12, atol=1e-12)
        stationary = a * (new_alpha - alpha) - z + np.log(new_alpha)
        scale = 1 + np.abs(a * (new_alpha + alpha)) + np.abs(z) + np.abs(np.log(new_alpha))
        assert np.ptp(stationary) <= 1e-9 * scale.max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_softmax_gap_is_the_primal_minus_the_dual_with_the_intercept_held(dtype, sparse):
    from sksvmnet.backends._numba.dual_log import _softmax_gap

    rng = np.random.default_rng(1)
    n, d, K = 30, 12, 4
    X = rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.5)
    X = X.astype(dtype)
    y = rng.integers(0, K, n)
    cw = rng.random(n) * 2.0
    cw[::7] = 0.0  # rows left out of the dual
    A = rng.dirichlet(np.ones(K), size=n) * cw[:, None]
    with np.errstate(divide="ignore"):
        U = np.log(A)
    Y = np.zeros((n, K))
    Y[np.arange(n), y] = cw
    W = np.ascontiguousarray(X.astype(np.float64).T @ (Y - A))
    r = (Y - A).sum(axis=0)
    b = rng.normal(size=K)
    data = _as_kernel_data(sp.csr_matrix(X) if sparse else X)
    g = np.empty(K)
    primal, gap, largest = _softmax_gap(*data, y, cw, W, b, r, A, U, np.empty(K), g)
    F = X.astype(np.float64) @ W + b
    P = scipy.special.softmax(F, axis=1)
    losses = scipy.special.logsumexp(F, axis=1) - F[np.arange(n), y]
    expected_primal = 0.5 * np.sum(W ** 2) + cw @ losses
    kept = A > 0
    dual = -0.5 * np.sum(W ** 2) - r @ b - np.sum(
        A[kept] * (U[kept] - np.log(np.broadcast_to(cw[:, None], A.shape)[kept])))
    assert primal == pytest.approx(expected_primal, rel=1e-12)
    assert gap == pytest.approx(expected_primal - dual, rel=1e-10)
    assert gap >= 0  # weak duality
    assert_allclose(g, cw @ P - Y.sum(axis=0), rtol=1e-10, atol=1e-12)
    assert largest == pytest.approx(np.abs(g).max())
