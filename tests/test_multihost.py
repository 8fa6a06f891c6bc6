"""The multi-host search example, run as two JAX processes on this machine's CPU."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax", reason="the multi-host example needs the optional jax extra")

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "examples" / "multihost_search.py"
ARGUMENTS = ["--cpu", "--samples", "900", "--hidden", "12", "--epochs", "6", "--cs", "5"]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_two_processes_choose_what_one_process_chooses():
    coordinator = f"127.0.0.1:{_free_port()}"
    environment = dict(os.environ, JAX_PLATFORMS="cpu")
    processes = [subprocess.Popen(
        [sys.executable, str(SCRIPT), "--coordinator", coordinator, "--processes", "2",
         "--process-id", str(rank), *ARGUMENTS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        for rank in (0, 1)]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err
    result = json.loads(outputs[0][0].strip().splitlines()[-1])

    from sklearn.datasets import make_classification
    from sklearn.model_selection import StratifiedKFold

    from sksvmnet import SVMNetClassifierCV

    X, y = make_classification(900, 40, n_informative=15, n_classes=4, random_state=0)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    alone = SVMNetClassifierCV(Cs=np.logspace(-2, 3, 5), cv=folds, hidden_layer_sizes=(12,),
                               max_iter=6, random_state=0, backend="jax").fit(X, y)
    np.testing.assert_allclose(result["Cs"], alone.Cs_)
    # Each process trained a subset of the Cs together: the same networks, so the same
    # validation accuracies (a prediction flipped by rounding would move one by 1/300).
    np.testing.assert_allclose(result["scores"], alone.scores_, atol=1 / 300 + 1e-12)
    assert result["C"] == alone.C_
    assert result["training_accuracy"] == pytest.approx(alone.score(X, y))
