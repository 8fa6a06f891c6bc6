"""
Swapping LinearSVC for SVMNetClassifier in a pipeline
=====================================================

An existing pipeline keeps its code: import :class:`~sksvmnet.SVMNetClassifier` under
the name ``LinearSVC`` (or put it in the pipeline's last step). The parameters,
defaults, fitted attributes and the optimum are LinearSVC's, so the decision values
agree point by point, up to the solvers' stopping tolerances.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sksvmnet import SVMNetClassifier

X, y = load_digits(return_X_y=True)

theirs = make_pipeline(StandardScaler(), LinearSVC(C=0.1))
ours = make_pipeline(StandardScaler(), SVMNetClassifier(C=0.1))
theirs.fit(X, y)
ours.fit(X, y)

for name, pipe in (("LinearSVC", theirs), ("SVMNetClassifier", ours)):
    scores = cross_val_score(pipe, X, y, cv=5)
    print(f"{name:17s} coef_ {pipe[-1].coef_.shape}, 5-fold accuracy "
          f"{scores.mean():.4f} ± {scores.std():.4f}")
difference = np.abs(theirs[-1].coef_ - ours[-1].coef_).max()
print(f"largest difference between the two coef_: {difference:.2e}")

fig, ax = plt.subplots(figsize=(5, 5))
a, b = theirs.decision_function(X).ravel(), ours.decision_function(X).ravel()
ax.plot(a, b, ".", ms=2, alpha=0.4)
lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
ax.plot([lo, hi], [lo, hi], "k", lw=0.6)
ax.set_xlabel("LinearSVC.decision_function")
ax.set_ylabel("SVMNetClassifier.decision_function")
ax.set_title("Digits, 10 classes: every sample's score for every class")
fig.tight_layout()
