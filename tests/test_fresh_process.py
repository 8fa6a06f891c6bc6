"""What a fresh process pays for a first fit: nothing it does not need."""

import subprocess
import sys
import textwrap

import pytest

from sksvmnet import backends

# (The process is told that no accelerator can be there, so that the rule is tested on a
# machine with a GPU plugin too; whether one can be there is tested below.)
FIRST_FIT = textwrap.dedent("""
    import sys
    from sklearn.datasets import load_iris
    from sksvmnet import LogisticNetClassifier, SVMNetClassifier, backends
    backends._accelerator_found = False
    X, y = load_iris(return_X_y=True)
    for model in (SVMNetClassifier(), LogisticNetClassifier()):
        assert model.fit(X, y).backend_ == "numba"
    print("jax" in sys.modules)
""")


def test_a_linear_fit_without_an_accelerator_does_not_import_jax():
    pytest.importorskip("jax")
    done = subprocess.run([sys.executable, "-c", FIRST_FIT], capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["False"]


@pytest.mark.parametrize("platforms, expected", [("cuda", True), ("cpu", False),
                                                 ("cpu,tpu", True)])
def test_jax_platforms_naming_an_accelerator_counts(monkeypatch, platforms, expected):
    monkeypatch.setattr(backends, "_accelerator_found", None)
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(backends.importlib.metadata, "entry_points", lambda group: [])
    monkeypatch.setenv("JAX_PLATFORMS", platforms)
    assert backends._accelerator_possible() is expected
    monkeypatch.setattr(backends, "_accelerator_found", None)


def test_an_installed_plugin_counts(monkeypatch):
    monkeypatch.setattr(backends, "_accelerator_found", None)
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.setattr(backends.importlib.util, "find_spec",
                        lambda name: object() if name == "jax_plugins" else None)
    monkeypatch.setattr(backends.importlib.metadata, "entry_points", lambda group: [])
    assert backends._accelerator_possible() is True
    monkeypatch.setattr(backends, "_accelerator_found", None)
