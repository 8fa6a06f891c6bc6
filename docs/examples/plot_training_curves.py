"""
Training curves and early stopping
==================================

Networks train by minibatch Adam, one epoch at a time. ``loss_curve_`` holds the
objective per epoch (``J / (C n)``, the scale MLPClassifier reports); with
``early_stopping=True`` a validation split (``validation_fraction``) is scored after each
epoch, ``validation_scores_`` holds those accuracies, training stops once they have not
improved for ``n_iter_no_change`` epochs, and the model keeps the best epoch's weights.
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

settings = dict(hidden_layer_sizes=(128,), early_stopping=True, n_iter_no_change=15,
                max_iter=300, random_state=0)
models = {"deep L2-SVM": SVMNetClassifier(**settings),
          "softmax network": LogisticNetClassifier(**settings)}

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for name, model in models.items():
    pipe = make_pipeline(StandardScaler(), model).fit(X_train, y_train)
    best = int(np.argmax(model.validation_scores_))
    left.semilogy(model.loss_curve_, label=name)
    line, = right.plot(model.validation_scores_, label=name)
    right.axvline(best, color=line.get_color(), ls=":", lw=1)
    print(f"{name}: {model.n_iter_} epochs, best validation epoch {best + 1}, "
          f"test accuracy {pipe.score(X_test, y_test):.4f}")
left.set_xlabel("epoch")
left.set_ylabel("loss_curve_")
right.set_xlabel("epoch")
right.set_ylabel("validation_scores_ (accuracy)")
right.legend()
fig.tight_layout()
