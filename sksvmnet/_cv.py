"""Choosing C by cross-validation in one call: SVMNetClassifierCV and
LogisticNetClassifierCV.

Each fold trains the linear model along the regularization path, from the strongest
penalty (smallest C) to the weakest, with the input checks, sample weights and
training copy of the fold's rows settled once, and the solver chosen at each C
(:meth:`~._base.BaseNetClassifier._fit_path`). Every fit starts from the solution
before it: the full-batch primal solvers from its weights, dual coordinate descent
(binary and one-vs-rest) from its dual variables; the dual of the softmax from its own
start. Each fit stops on the estimator's own
test at its own ``tol``, as a separate fit would: the path changes where a fit starts,
not where it ends, so the fold scores are those of ``GridSearchCV``'s separate fits to
within the solver's tolerance. Networks train independently for every C, from the same
initialisation. The mean validation score over the folds chooses ``C_``, with which the
model is refitted on all the data.
"""

import copy
import inspect
import itertools
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import _fit_context, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._logistic import LogisticNetClassifier
from ._svm import SVMNetClassifier

#: The parameters the CV estimators add to those of the estimator they wrap.
CV_CONSTRAINTS = {
    "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
    "cv": ["cv_object"],
    "scoring": [str, callable, None],
    "refit": ["boolean"],
    "n_jobs": [Integral, None],
    "error_score": [StrOptions({"raise"}), Real],
}


def _never(self):
    raise AttributeError("The CV estimators choose C with fit; they have no partial_fit.")


def _fold_path(estimator, X, y, sample_weight, train, test, Cs, scorer, weigh_scores,
               error_score):
    """Validation scores, iterations and failures of ``estimator`` trained on ``train``
    at each C of ``Cs`` in turn (:meth:`~._base.BaseNetClassifier._fit_path`).

    The scores weigh the validation rows by ``sample_weight`` where ``weigh_scores``. A
    fit or a score that raises counts ``error_score`` (unless that is ``"raise"``), its
    iterations 0, and is reported as ``(C, "fit" or "score", error)``.
    """
    model = clone(estimator)
    weights = None if sample_weight is None else sample_weight[train]
    X_test, y_test = X[test], y[test]
    score_kwargs = ({"sample_weight": sample_weight[test]} if weigh_scores else {})
    scores, iterations, failures = [], [], []
    tolerate = error_score != "raise"
    path = model._fit_path(X[train], y[train], weights, Cs, tolerate=tolerate)
    try:
        first = next(path)  # (the path's checks run before its first fit)
    except Exception as error:
        # The fold's checks failed (e.g. its training rows hold one class): every C
        # fails with them, as each of GridSearchCV's fits would.
        if not tolerate:
            raise
        first = error
        path = iter([error] * (len(Cs) - 1))
    for C, fitted in zip(Cs, itertools.chain([first], path)):
        if isinstance(fitted, Exception):
            fitted.__traceback__ = None  # (its frames would hold the fold's data)
            scores.append(error_score)
            iterations.append(0)
            failures.append((C, "fit", fitted))
            continue
        try:
            scores.append(scorer(fitted, X_test, y_test, **score_kwargs))
        except Exception as error:
            if not tolerate:
                raise
            error.__traceback__ = None
            scores.append(error_score)
            failures.append((C, "score", error))
        iterations.append(int(np.max(fitted.n_iter_)))
    return scores, iterations, failures


def _scorer_takes_weights(scorer):
    """Whether ``scorer`` takes ``sample_weight`` (a scikit-learn scorer that passes it
    on, or a callable with that parameter), as GridSearchCV decides."""
    accepts = getattr(scorer, "_accept_sample_weight", None)
    if accepts is not None:
        return bool(accepts())
    try:
        return "sample_weight" in inspect.signature(scorer).parameters
    except (TypeError, ValueError):
        return False


class _CrossValidatedC:
    """What both CV estimators share: the path over the folds, the choice of C and the
    refit. The concrete class lists its wrapped estimator's parameters (less C) and the
    CV parameters, and names the wrapped estimator in ``_estimator_class``."""

    _estimator_class = None

    def _wrapped(self):
        """The wrapped estimator with this one's parameters (C set per fit)."""
        names = self._estimator_class._get_param_names()
        return self._estimator_class(**{name: getattr(self, name) for name in names
                                        if name != "C"})

    def _grid(self):
        if isinstance(self.Cs, Integral):
            return np.logspace(-4, 4, self.Cs)
        try:
            Cs = np.asarray(self.Cs, dtype=np.float64)
        except (TypeError, ValueError):
            Cs = None
        if (Cs is None or Cs.ndim != 1 or Cs.size == 0 or not np.all(np.isfinite(Cs))
                or np.any(Cs <= 0)):
            raise ValueError(f"Cs must be an int or a 1-d list of positive finite "
                             f"numbers; got {self.Cs!r}.")
        return Cs

    @available_if(_never)
    def partial_fit(self, X, y, classes=None, sample_weight=None):  # pragma: no cover
        raise AttributeError("no partial_fit")

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, groups=None):
        """Choose C by cross-validation, then refit on all the data with it.

        A fit that raises leaves the estimator as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, used by every fit and, where the scorer takes them, by
            the validation scores (as GridSearchCV uses them).
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group splitter given as ``cv`` (``GroupKFold``, ...).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_guarded(self._fit_cv, X, y, sample_weight, groups)

    def _fit_cv(self, X, y, sample_weight, groups):
        estimator = self._wrapped()
        estimator._validate_params()  # (the wrapped parameters' errors, before any work)
        # The last fit's model, removed once this one has succeeded (not its input
        # checks' n_features_in_ and feature_names_in_, which validate_data redoes).
        stale = [name for name in vars(self) if name.endswith("_")
                 and not name.startswith("_")
                 and name not in ("n_features_in_", "feature_names_in_")]
        Cs = self._grid()
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"),
                             dtype=[np.float64, np.float32], reset=True)
        # (mixed label types, one class: named here, as the wrapped estimator names them)
        estimator._validate_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y, groups))
        if not folds:
            raise ValueError(f"cv={self.cv!r} gave no folds to score the Cs on (an "
                             "empty iterable, or a generator a previous fit used up).")
        scorer = check_scoring(estimator, scoring=self.scoring)
        weigh_scores = sample_weight is not None and _scorer_takes_weights(scorer)
        if sample_weight is not None and not weigh_scores:
            warnings.warn(f"The scoring {scorer} does not take sample_weight: the "
                          "validation scores weigh every row alike.", UserWarning)
        order = np.argsort(Cs, kind="stable")  # the strongest penalty first
        runs = Parallel(n_jobs=self.n_jobs)(
            delayed(_fold_path)(estimator, X, y, sample_weight, train, test, Cs[order],
                                scorer, weigh_scores, self.error_score)
            for train, test in folds)
        scores = np.empty((len(folds), len(Cs)))
        iterations = np.empty((len(folds), len(Cs)), dtype=np.int64)
        failures = []
        for row, (fold_scores, fold_iterations, fold_failures) in enumerate(runs):
            scores[row, order] = fold_scores
            iterations[row, order] = fold_iterations
            failures += fold_failures
        self._warn_of_failures(failures, scores.size)
        # The first best in the order of Cs_, as GridSearchCV ranks ties; NaN last.
        means = scores.mean(axis=0)
        if np.all(np.isnan(means)):
            # (GridSearchCV would choose the first C; there is nothing to choose by)
            raise ValueError(
                "Every C has a NaN mean validation score (a fold's fit or score failed "
                "at each, or the scorer gave NaN), so none can be chosen.")
        if not np.all(np.isfinite(means)):
            warnings.warn(f"One or more of the mean validation scores are non-finite: "
                          f"{means}; they rank last.", UserWarning)
        best = int(np.argmax(np.where(np.isnan(means), -np.inf, means)))
        C = float(Cs[best])
        if self.refit:
            previous = getattr(self, "estimator_", None)
            # warm_start: the last refit's model, with this fit's parameters, goes on
            # from where it ended.
            model = (copy.deepcopy(previous).set_params(**estimator.get_params())
                     if self.warm_start and previous is not None else clone(estimator))
            model.set_params(C=C).fit(X, y, sample_weight=sample_weight)
        for name in stale:
            if hasattr(self, name):
                delattr(self, name)
        if self.refit:
            for name, value in vars(model).items():
                if name.endswith("_") and not name.startswith("_"):
                    setattr(self, name, value)
            self.estimator_ = model
        self.Cs_, self.C_, self.scores_, self.n_iter_ = Cs, C, scores, iterations
        return self

    def _warn_of_failures(self, failures, total):
        """Warn of the fits and scores that failed and count ``error_score``; raise
        where every fit failed, as GridSearchCV does."""
        fits = [f for f in failures if f[1] == "fit"]
        if fits and len(fits) == total:
            raise ValueError(f"All {total} fits failed; the first raised: "
                             f"{fits[0][2]!r}.") from fits[0][2]
        for kind, category in (("fit", FitFailedWarning), ("score", UserWarning)):
            these = [f for f in failures if f[1] == kind]
            if these:
                Cs = sorted({float(C) for C, _, _ in these})
                warnings.warn(
                    f"{len(these)} of the {total} {kind}s (folds x Cs) failed and score "
                    f"error_score={self.error_score!r}, at C in {Cs}; the first raised: "
                    f"{these[0][2]!r}.", category)

    def to_sklearn(self):
        """The refitted model (``estimator_``) as a scikit-learn estimator; see the
        wrapped estimator's ``to_sklearn``."""
        check_is_fitted(self)
        return self.estimator_.to_sklearn()

    def __sklearn_is_fitted__(self):
        # A model to predict with exists only after a refit.
        return hasattr(self, "estimator_")


_CV_DOC = """
    Cs : int or array-like of float, default=10
        The values of C to try: an int gives that many values log-spaced between 1e-4
        and 1e4 (LogisticRegressionCV's grid).
    cv : int, cross-validation generator or iterable, default=5
        The folds, as ``GridSearchCV`` takes them; an int is that many stratified folds.
    scoring : str or callable, default=None
        The validation score (a scorer name or callable); None is the estimator's
        ``score``, accuracy.
    refit : bool, default=True
        Refit on all the data with ``C_``. Without a refit there is no model: ``predict``
        and the other methods need it.
    n_jobs : int, default=None
        Folds trained in parallel (joblib); each fold follows its path in order.
    error_score : 'raise' or float, default=np.nan
        The score of a C whose fit or validation score raises on a fold (with a
        ``FitFailedWarning``, or a ``UserWarning`` for a score), as in GridSearchCV;
        ``'raise'`` raises. After a failed fit the fold goes on to the next C (the
        linear model from the last solution its solver finished). NaN mean scores rank
        last; where every fit fails, ``fit`` raises, as GridSearchCV does, and also
        where every C's mean score is NaN (GridSearchCV would choose the first).

    Attributes
    ----------
    Cs_ : ndarray of shape (n_Cs,)
        The values of C tried, in the order given.
    C_ : float
        The C of the best mean validation score over the folds (the first of equals in
        the order of ``Cs_``). One value for all classes: every class's margins share
        the penalty of one objective (unlike LogisticRegressionCV's one-vs-rest, which
        chooses a C per class).
    scores_ : ndarray of shape (n_folds, n_Cs)
        The validation score of each fold at each C.
    n_iter_ : ndarray of shape (n_folds, n_Cs)
        The iterations (epochs for networks) of each fold's fit at each C; the refitted
        model's are ``estimator_.n_iter_``.
    estimator_ : estimator
        The refitted model (``refit=True``); its fitted attributes (``coef_``,
        ``coefs_``, ``classes_``, ``loss_curve_``, ``solver_``, ...) are also this
        estimator's, and ``predict`` and the other methods use it.
"""


class SVMNetClassifierCV(_CrossValidatedC, SVMNetClassifier):
    """SVMNetClassifier with C chosen by cross-validation.

    Every parameter of :class:`SVMNetClassifier` but ``C`` (``warm_start`` applies to
    the refit: it starts from the previous call's model), and:
    """

    __doc__ += _CV_DOC
    _estimator_class = SVMNetClassifier
    _parameter_constraints = {
        **{key: value for key, value in SVMNetClassifier._parameter_constraints.items()
           if key != "C"},
        **CV_CONSTRAINTS,
    }

    def __init__(
        self,
        penalty="l2",
        loss="squared_hinge",
        *,
        Cs=10,
        cv=5,
        scoring=None,
        refit=True,
        n_jobs=None,
        error_score=np.nan,
        hidden_layer_sizes=(),
        activation="relu",
        dual="auto",
        tol=1e-4,
        multi_class="ovr",
        fit_intercept=True,
        intercept_scaling=1.0,
        class_weight=None,
        verbose=0,
        random_state=None,
        max_iter=1000,
        solver="auto",
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        momentum=0.9,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        input_noise=0.0,
        input_noise_decay=1.0,
        dropout=0.0,
        warm_start=False,
        backend="auto",
        dtype="auto",
    ):
        super().__init__(
            penalty=penalty, loss=loss, hidden_layer_sizes=hidden_layer_sizes,
            activation=activation, dual=dual, tol=tol, multi_class=multi_class,
            fit_intercept=fit_intercept, intercept_scaling=intercept_scaling,
            class_weight=class_weight, verbose=verbose, random_state=random_state,
            max_iter=max_iter, solver=solver, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, momentum=momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            input_noise=input_noise, input_noise_decay=input_noise_decay,
            dropout=dropout, warm_start=warm_start, backend=backend,
            dtype=dtype)
        del self.C  # chosen by fit (C_)
        self.Cs, self.cv, self.scoring, self.refit, self.n_jobs = (
            Cs, cv, scoring, refit, n_jobs)
        self.error_score = error_score


class LogisticNetClassifierCV(_CrossValidatedC, LogisticNetClassifier):
    """LogisticNetClassifier with C chosen by cross-validation.

    Every parameter of :class:`LogisticNetClassifier` but ``C`` (``warm_start`` applies
    to the refit: it starts from the previous call's model; ``n_jobs`` runs the folds in
    parallel), and:
    """

    __doc__ += _CV_DOC
    _estimator_class = LogisticNetClassifier
    _parameter_constraints = {
        **{key: value for key, value in LogisticNetClassifier._parameter_constraints.items()
           if key != "C"},
        **CV_CONSTRAINTS,
    }

    def __init__(
        self,
        penalty="l2",
        *,
        Cs=10,
        cv=5,
        scoring=None,
        refit=True,
        n_jobs=None,
        error_score=np.nan,
        hidden_layer_sizes=(),
        activation="relu",
        l1_ratio=0.0,
        dual=False,
        tol=1e-4,
        fit_intercept=True,
        intercept_scaling=1,
        class_weight=None,
        random_state=None,
        solver="auto",
        max_iter=100,
        verbose=0,
        warm_start=False,
        multi_class="multinomial",
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        momentum=0.9,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        input_noise=0.0,
        input_noise_decay=1.0,
        dropout=0.0,
        backend="auto",
        dtype="auto",
    ):
        super().__init__(
            penalty=penalty, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            l1_ratio=l1_ratio, dual=dual, tol=tol, fit_intercept=fit_intercept,
            intercept_scaling=intercept_scaling, class_weight=class_weight,
            random_state=random_state, solver=solver, max_iter=max_iter, verbose=verbose,
            warm_start=warm_start, n_jobs=n_jobs, multi_class=multi_class,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, momentum=momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, input_noise=input_noise,
            input_noise_decay=input_noise_decay, dropout=dropout, backend=backend,
            dtype=dtype)
        del self.C  # chosen by fit (C_)
        self.Cs, self.cv, self.scoring, self.refit = Cs, cv, scoring, refit
        self.error_score = error_score
