"""
Probabilities from an SVM: calibration
======================================

An SVM's scores are margins, not probabilities; :class:`~sksvmnet.SVMNetClassifier` has
no ``predict_proba``. :class:`~sklearn.calibration.CalibratedClassifierCV` maps its
scores to probabilities (Platt's sigmoid or isotonic regression, fitted on held-out
folds). The reliability diagram compares them with
:class:`~sksvmnet.LogisticNetClassifier`, whose log loss trains probabilities directly,
and with the raw scores squashed into [0, 1], which are not calibrated.
"""

import matplotlib.pyplot as plt
from sklearn.calibration import CalibratedClassifierCV, CalibrationDisplay
from sklearn.datasets import make_classification
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import train_test_split

from sksvmnet import LogisticNetClassifier, SVMNetClassifier

X, y = make_classification(n_samples=8000, n_features=20, n_informative=6,
                           n_redundant=4, class_sep=0.7, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5,
                                                    random_state=0)

svm = SVMNetClassifier(C=0.1).fit(X_train, y_train)
scores = svm.decision_function(X_test)
squashed = (scores - scores.min()) / (scores.max() - scores.min())
probabilities = {
    "SVM scores rescaled to [0, 1]": squashed,
    "SVM + CalibratedClassifierCV(sigmoid)": CalibratedClassifierCV(
        SVMNetClassifier(C=0.1), method="sigmoid", cv=5).fit(
        X_train, y_train).predict_proba(X_test)[:, 1],
    "SVM + CalibratedClassifierCV(isotonic)": CalibratedClassifierCV(
        SVMNetClassifier(C=0.1), method="isotonic", cv=5).fit(
        X_train, y_train).predict_proba(X_test)[:, 1],
    "LogisticNetClassifier": LogisticNetClassifier().fit(
        X_train, y_train).predict_proba(X_test)[:, 1],
}

fig, ax = plt.subplots(figsize=(6, 5.5))
for name, p in probabilities.items():
    CalibrationDisplay.from_predictions(y_test, p, n_bins=10, name=name, ax=ax)
    print(f"{name:40s} Brier score {brier_score_loss(y_test, p):.4f}")
ax.set_title("Reliability diagram (test half)")
fig.tight_layout()
