"""
Training curves and early stopping
==================================

Networks train by minibatch Adam, one epoch at a time. ``loss_curve_`` holds the
objective per epoch (``J / (C n)``, the scale MLPClassifier reports). Early stopping,
on by default for networks from 10,000 rows (``early_stopping="auto"``) and asked for
here on digits' 1,347, holds out a validation split
(``validation_fraction``) and scores it after each epoch: ``validation_loss_curve_``
holds its mean loss, ``validation_scores_`` its accuracy; training stops once neither
has improved by ``tol`` for ``n_iter_no_change`` epochs, and the model keeps the weights
of the best accuracy (of equal ones, the lowest loss).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksvmnet import LogisticNetClassifier, SVMNetClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

settings = dict(hidden_layer_sizes=(128,), max_iter=300, random_state=0,
                early_stopping=True)
models = {"deep L2-SVM": SVMNetClassifier(**settings),
          "softmax network": LogisticNetClassifier(**settings)}

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for name, model in models.items():
    pipe = make_pipeline(StandardScaler(), model).fit(X_train, y_train)
    scores, losses = model.validation_scores_, model.validation_loss_curve_
    best = max(range(len(scores)), key=lambda epoch: (scores[epoch], -losses[epoch]))
    left.semilogy(model.loss_curve_, label=f"{name}: loss_curve_")
    line, = right.plot(model.validation_loss_curve_, label=name)
    left.semilogy(model.validation_loss_curve_, color=line.get_color(), ls="--",
                  label=f"{name}: validation_loss_curve_")
    right.axvline(best, color=line.get_color(), ls=":", lw=1)
    print(f"{name}: {model.n_iter_} epochs, weights of epoch {best + 1} kept "
          f"(validation accuracy {model.best_validation_score_:.4f}), test accuracy "
          f"{pipe.score(X_test, y_test):.4f}")
left.set_xlabel("epoch")
left.set_ylabel("objective / held-out loss")
left.legend(fontsize=7)
right.set_xlabel("epoch")
right.set_ylabel("validation_loss_curve_ (held-out mean loss)")
right.legend()
fig.tight_layout()
