"""Ctrl-C during a network fit: the fit ends after its epoch, usable, and resumes."""

import json
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows has no SIGINT to send to a child process (Ctrl-C reaches a console "
           "group as CTRL_C_EVENT): this test interrupts a fit the POSIX way")

# The child fits with verbose=1; the test sends SIGINT once it has printed epoch 3. It
# then resumes with warm_start=True and fits the same network without interruption, and
# reports both.
CHILD = textwrap.dedent("""
    import json, signal, sys, warnings
    # As in a terminal: Python's own SIGINT handler. (A process started in the
    # background by a non-interactive shell, as CI may be, inherits SIGINT ignored.)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    from sklearn.datasets import make_classification
    from sksvmnet import SVMNetClassifier

    X, y = make_classification(8000, 60, n_informative=20, n_classes=3, random_state=0)
    params = dict(hidden_layer_sizes=(128,), max_iter=40, learning_rate="linear",
                  learning_rate_init=0.005, n_iter_no_change=1000, random_state=0,
                  early_stopping={early_stopping}, backend={backend!r})
    model = SVMNetClassifier(verbose=1, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    interrupted = dict(n_iter=model.n_iter_, curve=len(model.loss_curve_),
                       warnings=[str(w.message) for w in caught],
                       score=model.score(X, y))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.set_params(warm_start=True, verbose=0).fit(X, y)
    reference = SVMNetClassifier(**params).fit(X, y)
    difference = max(float(np.max(np.abs(a - b)))
                     for a, b in zip(model.coefs_ + model.intercepts_,
                                     reference.coefs_ + reference.intercepts_))
    print("RESULT " + json.dumps(dict(
        interrupted=interrupted, resumed_n_iter=model.n_iter_,
        resumed_warnings=[str(w.message) for w in caught],
        curve_difference=float(np.max(np.abs(np.subtract(model.loss_curve_,
                                                         reference.loss_curve_)))),
        weight_difference=difference, reference_n_iter=reference.n_iter_)))
""")


def _interrupt_after_epoch_3(code):
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    lines = []
    for line in child.stdout:
        lines.append(line)
        if line.startswith("Epoch 3,"):
            child.send_signal(signal.SIGINT)
            break
    out, err = child.communicate(timeout=300)
    lines += out.splitlines(keepends=True)
    assert child.returncode == 0, err
    result = [line for line in lines if line.startswith("RESULT ")]
    assert result, "".join(lines) + err
    return json.loads(result[0][len("RESULT "):]), "".join(lines), err


@pytest.mark.parametrize("backend, early_stopping", [("numba", False), ("numba", True),
                                                     ("jax", False)])
def test_ctrl_c_ends_the_fit_after_its_epoch_and_warm_start_resumes(
        backend, early_stopping):
    if backend == "jax":
        pytest.importorskip("jax", reason="the optional jax extra is not installed")
    result, out, err = _interrupt_after_epoch_3(
        CHILD.format(backend=backend, early_stopping=early_stopping))
    interrupted = result["interrupted"]
    # Stopped early, after a whole epoch, with a usable model and a warning saying so.
    assert 3 <= interrupted["n_iter"] < 40
    assert interrupted["curve"] == interrupted["n_iter"]
    assert "Training interrupted (Ctrl-C)" in " ".join(interrupted["warnings"])
    assert f"after {interrupted['n_iter']} of max_iter=40" in " ".join(
        interrupted["warnings"])
    assert interrupted["score"] > 0.5
    assert "training stops at the end of this epoch" in err
    assert f"Epoch {interrupted['n_iter'] + 1}," not in out
    # warm_start goes on from the epoch it stopped at, with the learning-rate schedule,
    # the optimiser's moments, the sample order and (early stopping) the validation split
    # of the fit it continues: the result is the uninterrupted fit's.
    assert result["resumed_n_iter"] == result["reference_n_iter"] == 40
    assert not any("interrupted" in w for w in result["resumed_warnings"])
    assert result["curve_difference"] <= 1e-10
    assert result["weight_difference"] <= 1e-10


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("change, resumes", [({}, True), ({"C": 0.5}, False),
                                             ({"learning_rate_init": 0.01}, False),
                                             ({"max_iter": 12}, True)])
def test_only_an_unchanged_fit_resumes(change, resumes, monkeypatch):
    # In process, Ctrl-C stood in for by a press seen before the 4th epoch.
    import numpy as np
    from sklearn.datasets import make_classification

    from sksvmnet import SVMNetClassifier
    from sksvmnet._solvers import minibatch

    class PressedBeforeEpoch4:
        def __init__(self, enabled):
            self.enabled, self.reads = enabled, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        @property
        def pressed(self):
            self.reads += 1
            return self.enabled and self.reads > 3

    X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
    model = SVMNetClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    monkeypatch.setattr(minibatch, "_CtrlC", PressedBeforeEpoch4)
    with pytest.warns(Warning, match="interrupted"):
        model.fit(X, y)
    monkeypatch.undo()
    assert model.n_iter_ == 3
    first = list(model.loss_curve_)
    model.set_params(warm_start=True, **change).fit(X, y)
    # A resumed fit keeps the interrupted epochs in its curve and runs the rest; any
    # other change is an ordinary warm start: max_iter new epochs from those weights.
    assert (model.loss_curve_[:3] == first) is resumes
    assert model.n_iter_ == model.max_iter
    assert not hasattr(model, "_resume")
    np.testing.assert_array_equal(np.isfinite(model.coefs_[0]), True)
