"""
Hinge, squared hinge and log loss
=================================

The three losses of the top layer as functions of the margin ``m = t f(x)`` (``t = ±1``
the label, ``f(x)`` the score). The hinge is zero beyond ``m = 1`` and grows linearly
below: only the samples on or inside the margin (the support vectors) shape the model.
The squared hinge is smooth and punishes large violations more; the log loss is never
zero, so every sample pulls a little. On the right, the margins of the training samples
under the three fitted linear models.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification

from sksvmnet import LogisticNetClassifier, SVMNetClassifier

m = np.linspace(-2, 3, 500)
losses = {
    "hinge": np.maximum(0, 1 - m),
    "squared hinge": np.maximum(0, 1 - m) ** 2,
    "log loss": np.log1p(np.exp(-m)),
}

X, y = make_classification(n_samples=600, n_features=10, n_informative=4,
                           class_sep=0.8, flip_y=0.05, random_state=0)
t = 2 * y - 1
models = {
    "hinge": SVMNetClassifier(loss="hinge", max_iter=10_000),
    "squared hinge": SVMNetClassifier(loss="squared_hinge"),
    "log loss": LogisticNetClassifier(),
}

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for name, values in losses.items():
    left.plot(m, values, label=name)
left.axvline(1, color="k", lw=0.6, ls=":")
left.set_ylim(0, 4)
left.set_xlabel("margin t f(x)")
left.set_ylabel("loss")
left.legend()

bins = np.linspace(-4, 6, 60)
for name, model in models.items():
    margins = t * model.fit(X, y).decision_function(X)
    right.hist(margins, bins=bins, histtype="step", label=name)
    inside = np.mean(margins < 1)
    print(f"{name:14s} share of samples with margin < 1: {inside:.3f}")
right.axvline(1, color="k", lw=0.6, ls=":")
right.set_xlabel("margin t f(x) of the training samples")
right.set_ylabel("samples")
right.legend()
fig.tight_layout()
