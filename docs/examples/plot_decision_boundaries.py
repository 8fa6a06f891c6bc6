"""
Decision boundaries: LinearSVC, the linear SVMNet and a deep SVM
================================================================

With no hidden layer, :class:`~sksvmnet.SVMNetClassifier` is a linear SVM: it minimises
LinearSVC's objective and reaches the same optimum, so its boundary is LinearSVC's line.
Hidden layers under the same squared-hinge top layer give the "deep L2-SVM" of Tang
(2013), whose boundary bends with the data. The dashed lines are the margins, where the
decision function is -1 and +1.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.inspection import DecisionBoundaryDisplay
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sksvmnet import SVMNetClassifier

X, y = make_moons(n_samples=400, noise=0.2, random_state=0)

models = {
    "LinearSVC()": make_pipeline(StandardScaler(), LinearSVC()),
    "SVMNetClassifier()": make_pipeline(StandardScaler(), SVMNetClassifier()),
    "SVMNetClassifier(hidden_layer_sizes=(64, 64))": make_pipeline(
        StandardScaler(),
        SVMNetClassifier(hidden_layer_sizes=(64, 64), learning_rate_init=0.01,
                         max_iter=300, random_state=0)),
}

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharex=True, sharey=True)
for ax, (name, model) in zip(axes, models.items()):
    model.fit(X, y)
    DecisionBoundaryDisplay.from_estimator(
        model, X, response_method="decision_function", plot_method="contourf",
        levels=np.linspace(-3, 3, 13), extend="both", cmap="RdBu", alpha=0.5, ax=ax)
    DecisionBoundaryDisplay.from_estimator(
        model, X, response_method="decision_function", plot_method="contour",
        levels=[-1, 0, 1], colors="k", linestyles=["--", "-", "--"], ax=ax)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolors="k", s=14)
    ax.set_title(f"{name}\ntraining accuracy {model.score(X, y):.3f}", fontsize=9)
fig.tight_layout()

# %%
# The two linear models are one model: their weights agree to the solvers' tolerance.
svc, net = models["LinearSVC()"][-1], models["SVMNetClassifier()"][-1]
print("LinearSVC coef_:       ", np.round(svc.coef_, 5), svc.intercept_.round(5))
print("SVMNetClassifier coef_:", np.round(net.coef_, 5), net.intercept_.round(5))
