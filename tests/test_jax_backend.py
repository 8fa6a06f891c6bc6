"""The JAX backend: against the numpy reference and numba, compilation reuse, scoped
float64, isolation.

Under ``backend="jax"`` only ``head_loss``, ``linear_value_grad`` (the objective of L-BFGS)
and the networks' ``epoch`` are JAX arithmetic. Newton's method, subspace descent and dual
and L1 coordinate descent run the numba backend's host kernels there too
(``_jax.HOST_FUNCTIONS``): a parity test of a fit by one of them would compare numba with
itself, so the fitted-model tests below keep to L-BFGS and the networks, and check that
the fit ran on the JAX device (``solver_``, ``device_``).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from sksvmnet import LogisticNetClassifier, SVMNetClassifier, _losses
from sksvmnet.backends import get_backend

jax = pytest.importorskip("jax", reason="the JAX backend needs the optional jax extra")
jax_backend = get_backend("jax")

LOSS_HEADS = [
    (loss, head)
    for loss in ("hinge", "squared_hinge", "log_loss")
    for head in ("binary", "ovr", "crammer_singer", "weston_watkins")
] + [("log_loss", "multinomial")]
#: Kernels against the float64 reference (measured: 4e-16 and 2e-7 at most).
KERNEL_RTOL = {np.float64: 1e-10, np.float32: 1e-5}
#: Loss curves of networks trained by the two backends, rounding compounded over epochs.
RTOL = {np.float64: 1e-6, np.float32: 1e-4}


def _problem(head, dtype, sparse, n=60, d=7, seed=0):
    rng = np.random.default_rng(seed)
    K = 1 if head == "binary" else 4
    X = rng.normal(size=(n, d)).astype(dtype)
    if sparse:
        X[rng.random(X.shape) < 0.6] = 0.0
        X = sp.csr_matrix(X)
    y = rng.integers(0, 2 if K == 1 else K, n)
    s = rng.uniform(0.5, 2.0, n)
    W = rng.normal(size=(d, K))
    b = rng.normal(size=K)
    return X, y, s, W, b


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_head_loss_matches_reference(loss, head, dtype, ties):
    # "ties": outputs from four values, so that rivals tie (the Crammer-Singer subgradient
    # is shared among them, which autodiff of max does not do by itself) and margins are
    # 0. No margin is 1, the hinge's kink (test_hinge_subgradient_at_the_kink_...).
    rng = np.random.default_rng(0)
    K = 1 if head == "binary" else 4
    n = 60  # padded to 64 rows of zero weight
    if ties:
        F = rng.choice([-0.4, 0.0, 0.3, 0.7], size=(n, K))
    else:
        F = 1.5 * rng.standard_normal((n, K))
    F = F.astype(dtype)
    y = rng.integers(0, max(K, 2), n)
    s = rng.uniform(0.5, 2.0, n)
    s[3] = 0.0
    value, G = jax_backend.head_loss(F, y, s, loss, head)
    expected_value, expected_G = _losses.head_loss(F, y, s.astype(dtype), loss, head)
    rtol = KERNEL_RTOL[dtype]
    assert G.shape == F.shape
    assert value == pytest.approx(expected_value, rel=rtol)
    np.testing.assert_allclose(G, expected_G, rtol=rtol, atol=rtol * np.abs(expected_G).max())
    assert np.all(G[3] == 0.0)


def _reference_objective(W, b, X, y, s, *, C, loss, head, intercept_penalty,
                         fit_intercept=True, l2=1.0):
    """``(J, dJ/dW, dJ/db)`` by the numpy reference, with linear_value_grad's options."""
    X = X.toarray() if sp.issparse(X) else X
    b = b if fit_intercept else np.zeros_like(b)
    value, (gW,), (gb,) = _losses.objective(
        [W], [b], X.astype(np.float64), y, s, C=C, loss=loss, head=head,
        intercept_penalty=intercept_penalty if fit_intercept else 0.0)
    if l2 == 0.0:
        value, gW = value - 0.5 * np.sum(W * W), gW - W
    return value, gW, gb if fit_intercept else np.zeros_like(b)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_linear_value_grad_matches_reference(loss, head, dtype, sparse):
    X, y, s, W, b = _problem(head, dtype, sparse)
    # Representable in the dtype, so that both sides see the same parameters.
    W, b = W.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)
    kw = dict(C=0.7, loss=loss, head=head, intercept_penalty=0.25)
    value, gW, gb = jax_backend.linear_value_grad(W, b, X, y, s, fit_intercept=True, **kw)
    expected = _reference_objective(W, b, X, y, s.astype(dtype), **kw)
    rtol = KERNEL_RTOL[dtype]
    assert value == pytest.approx(expected[0], rel=rtol)
    scale = np.abs(expected[1]).max()
    np.testing.assert_allclose(gW, expected[1], rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(gb, expected[2], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_linear_value_grad_without_intercept_or_penalty(loss, head, sparse):
    # fit_intercept=False (b ignored, its gradient zero) and l2=0 (C=None): traced apart.
    X, y, s, W, b = _problem(head, np.float64, sparse)
    kw = dict(C=0.7, loss=loss, head=head, intercept_penalty=0.25, fit_intercept=False,
              l2=0.0)
    value, gW, gb = jax_backend.linear_value_grad(W, b, X, y, s, **kw)
    expected = _reference_objective(W, b, X, y, s, **kw)
    rtol = KERNEL_RTOL[np.float64]
    assert value == pytest.approx(expected[0], rel=rtol)
    np.testing.assert_allclose(gW, expected[1], rtol=rtol,
                               atol=rtol * np.abs(expected[1]).max())
    np.testing.assert_array_equal(gb, 0.0)


def _classification(n_classes, layout):
    """Data for the fitted-model tests: "dense", "sparse" (the same shape as CSR, most
    entries zero) or "wide" (CSR with more features than rows)."""
    if layout == "wide":
        X, y = make_classification(60, 100, n_informative=10, n_classes=n_classes,
                                   random_state=0)
        return sp.csr_matrix(np.where(np.abs(X) < 1.0, 0.0, X)), y
    X, y = make_classification(200, 10, n_informative=6, n_classes=n_classes,
                               random_state=0)
    return (sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X)) if layout == "sparse"
            else X), y


#: Linear models that the JAX backend fits with its own arithmetic: L-BFGS on the jitted
#: linear_value_grad (preconditioned where X has few features, plain on "wide" X). Each
#: with the model it fits (loss, head, intercept penalty) and how close its fits come to
#: the optimum, relative to the largest weight (measured: 1e-8; 2e-6 for plain L-BFGS on
#: the wide, ill-conditioned problem).
LBFGS_FITS = [
    pytest.param(SVMNetClassifier, dict(solver="lbfgs", dual=False), 2, "dense",
                 "squared_hinge", "binary", 1.0, 1e-6, id="svm-binary-dense"),
    pytest.param(SVMNetClassifier, dict(solver="lbfgs", dual=False), 3, "sparse",
                 "squared_hinge", "ovr", 1.0, 1e-6, id="svm-ovr-sparse"),
    pytest.param(SVMNetClassifier, dict(multi_class="weston_watkins", dual=False), 3,
                 "dense", "squared_hinge", "weston_watkins", 1.0, 1e-6, id="svm-ww-dense"),
    pytest.param(SVMNetClassifier, dict(multi_class="weston_watkins", dual=False), 3,
                 "wide", "squared_hinge", "weston_watkins", 1.0, 2e-5, id="svm-ww-wide"),
    pytest.param(LogisticNetClassifier, dict(solver="lbfgs"), 2, "dense", "log_loss",
                 "binary", 0.0, 1e-6, id="logistic-binary-dense"),
    pytest.param(LogisticNetClassifier, dict(solver="lbfgs"), 3, "sparse", "log_loss",
                 "multinomial", 0.0, 1e-6, id="logistic-multinomial-sparse"),
    pytest.param(LogisticNetClassifier, dict(solver="lbfgs", multi_class="ovr"), 3,
                 "dense", "log_loss", "ovr", 0.0, 1e-6, id="logistic-ovr-dense"),
]


def _reference_minimum(W, b, X, y, s, **model):
    """``(W, b)`` moved to the minimum of the reference's objective by scipy's L-BFGS-B,
    started at ``(W, b)``: it stays put only if that is the minimum already."""
    d, K = W.shape

    def fun(theta):
        value, gW, gb = _reference_objective(theta[:d * K].reshape(d, K), theta[d * K:],
                                             X, y, s, **model)
        return value, np.concatenate([gW.ravel(), gb])

    result = scipy.optimize.minimize(
        fun, np.concatenate([W.ravel(), b]), jac=True, method="L-BFGS-B",
        options={"maxiter": 10_000, "gtol": 1e-14, "ftol": 0.0})
    return result.x[:d * K].reshape(d, K), result.x[d * K:]


@pytest.mark.parametrize(
    "Estimator, params, n_classes, layout, loss, head, intercept_penalty, rtol",
    LBFGS_FITS)
def test_fitted_linear_model_is_the_reference_optimum_and_numbas(
        Estimator, params, n_classes, layout, loss, head, intercept_penalty, rtol):
    X, y = _classification(n_classes, layout)
    s = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    kw = dict(tol=1e-10, max_iter=5000, **params)
    a = Estimator(backend="numba", **kw).fit(X, y, sample_weight=s)
    b = Estimator(backend="jax", **kw).fit(X, y, sample_weight=s)
    assert (b.backend_, b.solver_, a.solver_) == ("jax", "lbfgs", "lbfgs")
    assert b.device_ != "host"  # its arithmetic, not the host kernels
    # The oracle: the minimum of the reference's objective (C = 1), from the JAX fit.
    # (Scaling the JAX log loss by 1 + 1e-4, as C by as much, moves the fit by 3e-6.)
    W, intercept = _reference_minimum(b.coef_.T, b.intercept_, X, y, s, C=1.0, loss=loss,
                                      head=head, intercept_penalty=intercept_penalty)
    atol = rtol * np.abs(W).max()
    np.testing.assert_allclose(b.coef_, W.T, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b.intercept_, intercept, rtol=rtol, atol=atol)
    # numba's fit by the same solver, on the host: the same model.
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=rtol, atol=atol)
    np.testing.assert_allclose(b.intercept_, a.intercept_, rtol=rtol, atol=atol)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator, layout, solver", [
    (SVMNetClassifier(), "dense", "newton"),
    (SVMNetClassifier(dual=True), "dense", "dcd"),
    (SVMNetClassifier(penalty="l1", dual=False), "dense", "cd"),
    (LogisticNetClassifier(), "wide", "subspace"),
], ids=["newton", "dcd", "cd", "subspace"])
def test_host_solvers_under_jax_say_they_ran_on_the_host(estimator, layout, solver):
    # These run the numba backend's host kernels under backend="jax" (their oracles are
    # in test_solvers.py and test_numba_backend.py); the fitted model must not claim
    # the JAX device.
    X, y = _classification(3, layout)
    clf = clone(estimator).set_params(backend="jax").fit(X, y)
    assert (clf.backend_, clf.solver_, clf.device_) == ("jax", solver, "host")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("Estimator, params", [
    (SVMNetClassifier, dict(solver="adam")),
    (SVMNetClassifier, dict(solver="sgd", multi_class="crammer_singer")),
    (LogisticNetClassifier, dict(solver="adam", activation="tanh")),
])
def test_network_predictions_match_numba(Estimator, params, sparse, dtype):
    X, y = make_classification(600, 12, n_informative=8, n_classes=3, random_state=1)
    X = X.astype(dtype)
    X_train, X_test, y_train = X[:400], X[400:], y[:400]
    X_train = sp.csr_matrix(X_train) if sparse else X_train
    kw = dict(hidden_layer_sizes=(32, 16), max_iter=5, random_state=0,
              learning_rate_init=0.01, **params)
    a = Estimator(backend="numba", **kw).fit(X_train, y_train)
    b = Estimator(backend="jax", **kw).fit(X_train, y_train)
    assert b.device_ != "host"
    assert np.mean(a.predict(X_test) == b.predict(X_test)) >= 0.99
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=RTOL[dtype])


#: The jitted function behind each interface function that TRACE_COUNTS counts.
JITTED = {"epoch": "_epoch_jit", "linear_value_grad": "_linear_jit",
          "head_loss": "_head_jit"}


def _counted(monkeypatch, name):
    """Count the calls of the JAX backend's ``name``, and empty its jitted function's
    cache: a trace count alone cannot tell "compiled once" from "never called", or
    from "compiled by an earlier test"."""
    getattr(jax_backend, JITTED[name]).clear_cache()
    calls, original = [], getattr(jax_backend, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(jax_backend, name, counted)
    return calls


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_compiles_the_epoch_at_most_twice(monkeypatch):
    X, y = make_classification(1003, 10, n_informative=6, n_classes=3, random_state=0)
    calls = _counted(monkeypatch, "epoch")
    before = jax_backend.TRACE_COUNTS["epoch"]
    search = GridSearchCV(
        SVMNetClassifier(hidden_layer_sizes=(8,), max_iter=2, backend="jax",
                         random_state=0),
        {"C": [0.1, 1.0, 10.0, 100.0]}, cv=5)
    search.fit(X.astype(np.float32), y)
    assert len(calls) == (4 * 5 + 1) * 2  # two epochs of every fit, the refit's too
    assert 1 <= jax_backend.TRACE_COUNTS["epoch"] - before <= 2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("layout, objective, solver", [
    ("dense", "linear_value_grad", "lbfgs"),
    ("wide", "head_loss", "subspace"),  # (called once a fit: the rest is on the host)
    # (Sparse L-BFGS is left out: a BCOO matrix's number of stored entries is not padded
    # to a bucket, so it compiles linear_value_grad once per fold; the JAX-backend issue
    # owns that.)
])
def test_linear_folds_compile_the_objective_at_most_twice(layout, objective, solver,
                                                          monkeypatch):
    # Folds of slightly different sizes must share the compilation of the JAX function
    # that evaluates the objective.
    X, y = make_classification(1003, 10, n_informative=6, n_classes=3, random_state=0)
    if layout == "sparse":
        X = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    elif layout == "wide":
        X = sp.random(1003, 1500, density=0.01, format="csr", random_state=0)
    calls = _counted(monkeypatch, objective)
    before = jax_backend.TRACE_COUNTS[objective]
    search = GridSearchCV(LogisticNetClassifier(backend="jax"), {"C": [0.1, 1.0]}, cv=5)
    search.fit(X, y)
    assert search.best_estimator_.solver_ == solver
    assert len(calls) >= 2 * 5 + 1  # every fit evaluated it
    assert 1 <= jax_backend.TRACE_COUNTS[objective] - before <= 2


def test_float64_trains_in_float64_and_leaves_jax_config_unchanged():
    X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
    assert not jax.config.jax_enable_x64
    kw = dict(solver="lbfgs", tol=1e-10, max_iter=1000)
    clf = LogisticNetClassifier(backend="jax", **kw).fit(X, y)
    assert clf.device_ != "host"
    assert not jax.config.jax_enable_x64
    assert jax.numpy.zeros(1).dtype == np.float32
    # The arithmetic was float64: the same fit in float32 ends 7e-4 (relative) away from
    # numba's float64 one, the float64 fit 1e-12.
    reference = LogisticNetClassifier(backend="numba", **kw).fit(X, y)
    assert clf.coef_.dtype == np.float64
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(clf.coef_, reference.coef_, rtol=1e-9, atol=1e-9 * scale)


def _run(code, env=None):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_jax_model_predicts_where_jax_cannot_import(tmp_path):
    X, y = make_classification(100, 5, random_state=0)
    clf = LogisticNetClassifier(hidden_layer_sizes=(4,), backend="jax", max_iter=50,
                                random_state=0, tol=1e-2).fit(X, y)
    assert clf.device_ != "host"  # trained by the jitted epoch
    path = tmp_path / "model.pkl"
    import pickle
    path.write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X)
    expected = clf.predict_proba(X)
    out = _run(f"""
        import sys
        sys.modules["jax"] = None  # any `import jax` now raises ImportError
        import pickle, numpy as np
        clf = pickle.loads(open({str(path)!r}, "rb").read())
        np.save({str(tmp_path / 'p.npy')!r}, clf.predict_proba(np.load({str(tmp_path / 'X.npy')!r})))
        try:
            import jax
        except ImportError:
            print("jax blocked")
    """)
    assert "jax blocked" in out
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)


def test_missing_jax_is_a_clear_import_error():
    # The failed fits leave nothing half-fitted: no model on a new estimator, and on a
    # fitted one (now asked for JAX) the model it had.
    out = _run("""
        import sys
        sys.modules["jax"] = None
        import numpy as np
        from sksvmnet import SVMNetClassifier
        X = np.random.default_rng(0).normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
        fitted = SVMNetClassifier().fit(X, y)
        print(fitted.backend_)
        coef = fitted.coef_.copy()
        new = SVMNetClassifier(backend="jax")
        for clf in (new, fitted.set_params(backend="jax")):
            try:
                clf.fit(X, y)
            except ImportError as exc:
                print("ImportError:", exc)
        print(hasattr(new, "coefs_"), fitted.backend_, np.array_equal(fitted.coef_, coef))
    """)
    lines = out.splitlines()
    assert lines[0] == "numba"
    errors = [line for line in lines if line.startswith("ImportError:")]
    assert len(errors) == 2 and all("pip install sksvmnet[jax]" in e for e in errors)
    assert lines[-1] == "False numba True"


DATA_PARALLEL = """
    import numpy as np, jax
    from sklearn.datasets import make_classification
    from sksvmnet import SVMNetClassifier
    # The batches the epoch shards over the devices (none on one device).
    sharded, constrain = [], jax.lax.with_sharding_constraint
    def spy(x, sharding):
        sharded.append(len(sharding.mesh.devices.flat))
        return constrain(x, sharding)
    jax.lax.with_sharding_constraint = spy
    X, y = make_classification(800, 12, n_informative=8, n_classes=3, random_state=0)
    clf = SVMNetClassifier(hidden_layer_sizes=(32,), backend="jax", max_iter=3,
                           random_state=0, tol=0.0)
    import warnings; warnings.simplefilter("ignore")
    clf.fit(X, y)
    print(len(jax.local_devices()), sorted(set(sharded)))
    np.save(OUT, clf.decision_function(X))
"""


def test_data_parallel_over_two_host_devices_equals_one(tmp_path):
    results = {}
    for count in (1, 2):
        env = dict(os.environ)
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
        out_file = tmp_path / f"out{count}.npy"
        out = _run(DATA_PARALLEL.replace("OUT", repr(str(out_file))), env=env)
        assert out.strip().splitlines()[-1] == f"{count} {[2] if count == 2 else []}"
        results[count] = np.load(out_file)
    np.testing.assert_allclose(results[2], results[1], rtol=1e-9, atol=1e-9)


def test_auto_backend_rule_on_the_cpu():
    from sksvmnet.backends import JAX_CPU_MIN_WORK, auto_backend

    assert jax.default_backend() == "cpu" or auto_backend() == "jax"
    if jax.default_backend() == "cpu":
        mnist_net = 70 * 512 + 512 * 512 + 512 * 10
        assert auto_backend(60_000, mnist_net, network=True) == "jax"
        assert auto_backend(1_000, 20 * 16 + 16 * 3, network=True) == "numba"
        assert auto_backend(10**6, 10**4, network=False) == "numba"  # linear: numba
        assert 1_000 * 368 < JAX_CPU_MIN_WORK < 60_000 * mnist_net
    # Through the estimators: the layer sizes they pass reach the rule.
    from sksvmnet._solvers import resolve_backend
    expected = "numba" if jax.default_backend() == "cpu" else "jax"
    assert resolve_backend("auto", 60_000, [70, 512, 512, 10])[0] == "jax"
    assert resolve_backend("auto", 1_000, [20, 16, 3])[0] == expected
    X, y = make_classification(100, 5, random_state=0)
    assert SVMNetClassifier().fit(X, y).backend_ == expected
