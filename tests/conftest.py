"""Shared fixtures: small data made here or bundled with scikit-learn, never files."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification


def _problem(n_samples, n_features, n_classes, sparse, seed=0):
    if sparse:
        rng = np.random.default_rng(seed)
        X = sp.random(n_samples, n_features, density=0.1, format="csr", random_state=seed)
        y = rng.integers(0, n_classes, n_samples)
        return X, y
    X, y = make_classification(n_samples, n_features, n_informative=min(n_features, 6),
                               n_redundant=0, n_classes=n_classes,
                               n_clusters_per_class=1, class_sep=1.0, random_state=seed)
    return X, y


@pytest.fixture(params=["dense", "sparse"])
def layout(request):
    return request.param


@pytest.fixture
def make_problem():
    """``make_problem(n_samples, n_features, n_classes, sparse)`` -> (X, y)."""
    return _problem
