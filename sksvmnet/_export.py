"""A fitted model as the scikit-learn estimator that predicts as it does.

``to_sklearn`` builds a fitted ``LinearSVC`` or ``LogisticRegression`` from a linear model
and a fitted ``MLPClassifier`` from a network: the weights are ours, the parameters are
ours where the scikit-learn class has them. It refuses (``ValueError``, naming the
setting) where the scikit-learn class cannot state the model: a head its ``multi_class``
cannot name, probabilities it computes another way, or a regulariser it does not have, so
that a refit of the export would silently train something else.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

#: LogisticRegression's solver names, kept as they are; ours (and "auto") become lbfgs.
_LOGISTIC_REGRESSION_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga",
                                "liblinear")


def to_sklearn(model):
    """The scikit-learn estimator that predicts as the fitted ``model`` does."""
    check_is_fitted(model)
    head = model._head(len(model.classes_))
    if len(model.coefs_) > 1:
        exported = _mlp_classifier(model, head)
    elif model._loss_name() == "log_loss":
        exported = _logistic_regression(model, head)
    else:
        exported = _linear_svc(model, head)
    exported.classes_ = model.classes_.copy()
    exported.n_features_in_ = model.n_features_in_
    if hasattr(model, "feature_names_in_"):
        exported.feature_names_in_ = model.feature_names_in_.copy()
    return exported


def _refuse(model, what, why):
    raise ValueError(
        f"{type(model).__name__} with {what} has no scikit-learn counterpart: {why}"
    )


def _linear_svc(model, head):
    if head == "weston_watkins":
        _refuse(model, "multi_class='weston_watkins'",
                "LinearSVC's multi_class names one-vs-rest and Crammer-Singer only.")
    if head == "crammer_singer" and model.loss != "hinge":
        _refuse(model, f"multi_class='crammer_singer' and loss={model.loss!r}",
                "LinearSVC's Crammer-Singer head is trained with the hinge only "
                "(loss='hinge' exports).")
    svc = LinearSVC(
        penalty=model.penalty, loss=model.loss, dual=model.dual, tol=model.tol,
        C=model.C, multi_class="crammer_singer" if head == "crammer_singer" else "ovr",
        fit_intercept=model.fit_intercept, intercept_scaling=model.intercept_scaling,
        class_weight=model.class_weight, verbose=model.verbose,
        random_state=model.random_state, max_iter=model.max_iter)
    svc.coef_ = _copy(model.coef_)
    svc.intercept_ = np.array(model.intercept_, copy=True)
    svc.n_iter_ = int(model.n_iter_)
    return svc


def _logistic_regression(model, head):
    if head == "ovr":
        _refuse(model, f"multi_class='ovr' and {len(model.classes_)} classes",
                "LogisticRegression's probabilities are the softmax of the scores, not "
                "the normalised one-vs-rest sigmoids this model's are.")
    solver = (model.solver if model.solver in _LOGISTIC_REGRESSION_SOLVERS
              else "lbfgs")
    regression = LogisticRegression(
        C=model.C if model.penalty is not None else np.inf, l1_ratio=0.0, dual=False,
        tol=model.tol, fit_intercept=model.fit_intercept,
        intercept_scaling=model.intercept_scaling, class_weight=model.class_weight,
        random_state=model.random_state, solver=solver, max_iter=model.max_iter,
        verbose=model.verbose, warm_start=model.warm_start, n_jobs=model.n_jobs)
    regression.coef_ = _copy(model.coef_)
    regression.intercept_ = np.array(model.intercept_, copy=True)
    regression.n_iter_ = np.array([model.n_iter_], dtype=np.int32)
    return regression


def _mlp_classifier(model, head):
    if head in ("crammer_singer", "weston_watkins"):
        _refuse(model, f"multi_class={head!r}",
                "MLPClassifier's output layer is one-vs-rest (binary) or a softmax.")
    if head == "ovr" and model._loss_name() == "log_loss":
        _refuse(model, f"multi_class='ovr' and {len(model.classes_)} classes",
                "MLPClassifier's probabilities are the softmax of the outputs, not the "
                "normalised one-vs-rest sigmoids this network's are.")
    if model.class_weight is not None:
        _refuse(model, f"class_weight={model.class_weight!r} and hidden layers",
                "MLPClassifier has no class_weight; a refit of the export would train "
                "without it.")
    for name in ("dropout", "input_noise"):
        if getattr(model, name) > 0:
            _refuse(model, f"{name}={getattr(model, name)!r}",
                    f"MLPClassifier has no {name}; a refit of the export would train "
                    f"without it. Set {name}=0 on a copy to export the weights anyway.")
    solver = model._normalised_solver()
    learning_rate = model.learning_rate if model.learning_rate in (
        "constant", "invscaling", "adaptive") else "constant"
    mlp = MLPClassifier(
        hidden_layer_sizes=tuple(model._hidden_sizes()), activation=model.activation,
        solver=solver if solver in ("adam", "sgd") else "adam",
        alpha=_alpha(model), batch_size=model.batch_size, learning_rate=learning_rate,
        learning_rate_init=model.learning_rate_init, power_t=model.power_t,
        max_iter=model.max_iter, random_state=model.random_state, tol=model.tol,
        verbose=bool(model.verbose), warm_start=model.warm_start,
        momentum=model.momentum,
        early_stopping=hasattr(model, "validation_scores_"),  # (what the fit did)
        validation_fraction=model.validation_fraction,
        n_iter_no_change=model.n_iter_no_change)
    mlp.coefs_ = [np.array(W, copy=True) for W in model.coefs_]
    mlp.intercepts_ = [np.array(b, copy=True) for b in model.intercepts_]
    mlp.n_layers_ = len(mlp.coefs_) + 1
    mlp.n_outputs_ = mlp.coefs_[-1].shape[1]
    # One logistic output for two classes (its > 0.5 is our score > 0), a softmax else
    # (its argmax is our scores').
    mlp.out_activation_ = "logistic" if mlp.n_outputs_ == 1 else "softmax"
    mlp._label_binarizer = LabelBinarizer().fit(model.classes_)
    mlp.n_iter_ = int(model.n_iter_)
    if model._loss_name() == "log_loss":
        # Our epochs' J / (C n) is MLPClassifier's loss_curve_: its mean log loss plus
        # alpha / (2 n) ||W||^2. (The SVM's is a mean hinge: not carried over. Nor is
        # the optimiser's state: warm_start on the export starts afresh.)
        mlp.loss_curve_ = list(model.loss_curve_)
        mlp.loss_ = float(model.loss_)
        mlp.best_loss_ = (None if hasattr(model, "validation_scores_")
                          else float(np.min(model.loss_curve_)))
    if hasattr(model, "validation_scores_"):
        mlp.validation_scores_ = list(model.validation_scores_)
        mlp.best_validation_score_ = float(model.best_validation_score_)
    # What MLPClassifier's own fit would have left for a warm start to go on from: the
    # rows seen, no stall counted, these weights as the best so far, and (for the SVM,
    # whose mean hinge is not its loss) an empty loss curve to append to. Its optimiser
    # starts afresh.
    mlp.t_ = int(model.n_iter_) * int(getattr(model, "_train_rows", 0) or 0)
    mlp._no_improvement_count = 0
    mlp._best_coefs = [W.copy() for W in mlp.coefs_]
    mlp._best_intercepts = [b.copy() for b in mlp.intercepts_]
    if not hasattr(mlp, "loss_curve_"):
        mlp.loss_curve_ = []
        mlp.best_loss_ = None if mlp.early_stopping else np.inf
    return mlp


def _alpha(model):
    """MLPClassifier's ``alpha`` for our ``C`` (0 without a penalty): each minibatch's
    step follows its mean loss plus ``alpha/2 ||W||^2`` divided by its B rows, so over
    an epoch of n rows it minimises ``sum loss + (n / B) alpha/2 ||W||^2``, our
    ``J / C`` where ``alpha = B / (C n)`` (``1 / C`` for a full batch)."""
    C = model._effective_C()
    if C is None or not np.isfinite(C):  # no penalty
        return 0.0
    rows = getattr(model, "_train_rows", None)
    if not rows:
        return 1.0 / C
    return model._batch_size(rows) / (C * rows)


def _copy(coef):
    return coef.copy() if sp.issparse(coef) else np.array(coef, copy=True)
