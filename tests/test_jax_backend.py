"""The JAX backend: parity with numba, compilation reuse, scoped float64, isolation."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from sksvmnet import LogisticNetClassifier, SVMNetClassifier
from sksvmnet.backends import get_backend

jax = pytest.importorskip("jax", reason="the JAX backend needs the optional jax extra")
jax_backend = get_backend("jax")
numba_backend = get_backend("numba")

LOSS_HEADS = [
    (loss, head)
    for loss in ("hinge", "squared_hinge", "log_loss")
    for head in ("binary", "ovr", "crammer_singer", "weston_watkins")
] + [("log_loss", "multinomial")]
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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_head_loss_matches_numba(loss, head, dtype):
    X, y, s, W, b = _problem(head, dtype, sparse=False)
    F = (X @ W + b).astype(dtype)
    v_nb, g_nb = numba_backend.head_loss(F, y, s, loss, head)
    v_jx, g_jx = jax_backend.head_loss(F, y, s, loss, head)
    assert v_jx == pytest.approx(v_nb, rel=RTOL[dtype])
    np.testing.assert_allclose(g_jx, g_nb, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, head", LOSS_HEADS)
def test_linear_value_grad_matches_numba(loss, head, dtype, sparse):
    X, y, s, W, b = _problem(head, dtype, sparse)
    kw = dict(C=0.7, loss=loss, head=head, intercept_penalty=0.25, fit_intercept=True)
    v_nb, gW_nb, gb_nb = numba_backend.linear_value_grad(W, b, X, y, s, **kw)
    v_jx, gW_jx, gb_jx = jax_backend.linear_value_grad(W, b, X, y, s, **kw)
    rtol = RTOL[dtype]
    assert v_jx == pytest.approx(v_nb, rel=rtol)
    scale = np.abs(gW_nb).max()
    np.testing.assert_allclose(gW_jx, gW_nb, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(gb_jx, gb_nb, rtol=rtol, atol=rtol * scale)


SMOOTH_CONFIGS = [
    (SVMNetClassifier, dict()),
    (SVMNetClassifier, dict(multi_class="weston_watkins", dual=False)),
    (LogisticNetClassifier, dict()),
    (LogisticNetClassifier, dict(multi_class="ovr")),
]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("Estimator, params", SMOOTH_CONFIGS)
def test_fitted_linear_model_matches_numba(Estimator, params, n_classes, sparse):
    X, y = make_classification(200, 10, n_informative=6, n_classes=n_classes,
                               random_state=0)
    X = sp.csr_matrix(X) if sparse else X
    kw = dict(tol=1e-10, max_iter=5000, **params)
    a = Estimator(backend="numba", **kw).fit(X, y)
    b = Estimator(backend="jax", **kw).fit(X, y)
    assert b.backend_ == "jax"
    scale = np.abs(a.coef_).max()
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(b.intercept_, a.intercept_, rtol=1e-5, atol=1e-5 * scale)


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
    assert np.mean(a.predict(X_test) == b.predict(X_test)) >= 0.99
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=RTOL[dtype])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_compiles_the_epoch_at_most_twice():
    X, y = make_classification(1003, 10, n_informative=6, n_classes=3, random_state=0)
    before = jax_backend.TRACE_COUNTS["epoch"]
    search = GridSearchCV(
        SVMNetClassifier(hidden_layer_sizes=(8,), max_iter=2, backend="jax",
                         random_state=0),
        {"C": [0.1, 1.0, 10.0, 100.0]}, cv=5)
    search.fit(X.astype(np.float32), y)
    assert jax_backend.TRACE_COUNTS["epoch"] - before <= 2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_linear_folds_compile_the_head_loss_at_most_twice():
    # The objective of every linear fit, and each step of sparse subspace descent, goes
    # through head_loss: folds of slightly different sizes must share its compilation.
    X, y = make_classification(1003, 10, n_informative=6, n_classes=3, random_state=0)
    before = jax_backend.TRACE_COUNTS["head_loss"]
    search = GridSearchCV(LogisticNetClassifier(backend="jax"), {"C": [0.1, 1.0]}, cv=5)
    search.fit(sp.csr_matrix(X), y)
    assert jax_backend.TRACE_COUNTS["head_loss"] - before <= 2


def test_float64_leaves_jax_config_unchanged():
    X, y = make_classification(100, 5, random_state=0)
    assert not jax.config.jax_enable_x64
    clf = SVMNetClassifier(backend="jax").fit(X, y)
    assert clf.coef_.dtype == np.float64
    assert not jax.config.jax_enable_x64
    assert jax.numpy.zeros(1).dtype == np.float32


def _run(code, env=None):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_jax_model_predicts_where_jax_cannot_import(tmp_path):
    X, y = make_classification(100, 5, random_state=0)
    clf = LogisticNetClassifier(hidden_layer_sizes=(4,), backend="jax", max_iter=50,
                                random_state=0, tol=1e-2).fit(X, y)
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
    out = _run("""
        import sys
        sys.modules["jax"] = None
        import numpy as np
        from sksvmnet import SVMNetClassifier
        X = np.random.default_rng(0).normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
        print(SVMNetClassifier().fit(X, y).backend_)
        try:
            SVMNetClassifier(backend="jax").fit(X, y)
        except ImportError as exc:
            print("ImportError:", exc)
        print(hasattr(SVMNetClassifier(backend="jax"), "coefs_"))
    """)
    assert out.splitlines()[0] == "numba"
    assert "pip install sksvmnet[jax]" in out
    assert out.splitlines()[-1] == "False"


DATA_PARALLEL = """
    import numpy as np, jax
    from sklearn.datasets import make_classification
    from sksvmnet import SVMNetClassifier
    X, y = make_classification(800, 12, n_informative=8, n_classes=3, random_state=0)
    clf = SVMNetClassifier(hidden_layer_sizes=(32,), backend="jax", max_iter=3,
                           random_state=0, tol=0.0)
    import warnings; warnings.simplefilter("ignore")
    clf.fit(X, y)
    print(len(jax.local_devices()))
    np.save(OUT, clf.decision_function(X))
"""


def test_data_parallel_over_two_host_devices_equals_one(tmp_path):
    results = {}
    for count in (1, 2):
        env = dict(os.environ)
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
        out_file = tmp_path / f"out{count}.npy"
        out = _run(DATA_PARALLEL.replace("OUT", repr(str(out_file))), env=env)
        assert out.strip().splitlines()[-1] == str(count)
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
    X, y = make_classification(100, 5, random_state=0)
    assert SVMNetClassifier().fit(X, y).backend_ == auto_backend(100, 5, network=False)
