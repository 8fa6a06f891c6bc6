"""LogisticNetClassifier: logistic regression, or a network with a logistic top layer."""

from numbers import Integral, Real

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseNetClassifier
from ._solvers import SOLVERS, lbfgs_or_subspace, newton_suits

#: Stands for L-BFGS or subspace descent, whichever ``solver="auto"`` would run between
#: them on the data's shape (``_solvers.table.lbfgs_or_subspace``).
QUASI_NEWTON = "lbfgs or subspace"
#: ``solver`` names -> the solver table's name of the algorithm that runs. Besides ours,
#: LogisticRegression's names: all of them minimise the same smooth convex objective, and
#: reach the same optimum. Its Newton names run our Newton's method; those of algorithms
#: we do not implement run L-BFGS or subspace descent, as do the Newton names with the
#: multinomial head, whose (K d)^2 Hessian Newton's method does not form, and newton-cg
#: where X lacks Newton's shape (``_normalised_solver``).
LOGISTIC_SOLVERS = {
    "auto": "auto",
    "lbfgs": "lbfgs",
    "subspace": "subspace",
    "dcd_log": "dcd_log",
    "newton-cg": "newton",
    "newton-cholesky": "newton",
    "sag": QUASI_NEWTON,
    "saga": QUASI_NEWTON,
    "liblinear": QUASI_NEWTON,
    "adam": "adam",
    "sgd": "sgd",
}
LOGISTIC_MULTI_CLASS = {
    "multinomial": "multinomial",
    "auto": "multinomial",
    "ovr": "ovr",
}


class LogisticNetClassifier(BaseNetClassifier):
    """Logistic regression, or a neural network with a logistic-regression top layer.

    With ``hidden_layer_sizes=()`` (the default) this is
    :class:`sklearn.linear_model.LogisticRegression` with the L2 penalty: the same
    parameters, defaults, fitted attributes and optimum. Hidden layers turn it into a
    network trained through the same objective, ``J = 1/2 sum_l ||W_l||^2 + C sum_n s_n
    loss_n`` with the log loss.

    Parameters
    ----------
    penalty : {"l2", None}, default="l2"
        ``None`` removes the penalty (as does ``C=np.inf``). LogisticRegression's
        ``"deprecated"`` default is accepted and means ``"l2"``.
    hidden_layer_sizes : int or tuple of int, default=()
        Sizes of the hidden layers; empty for logistic regression.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the hidden layers.
    C : float, default=1.0
        Inverse regularisation strength; ``np.inf`` means no penalty.
    l1_ratio : float or None, default=0.0
        Accepted for LogisticRegression's signature; only ``0`` (or ``None``), the pure L2
        penalty, is implemented.
    dual : bool, default=False
        Accepted for LogisticRegression's signature; only ``False`` is implemented.
    tol : float, default=1e-4
        Stopping tolerance: the largest gradient entry of the objective divided by
        ``C * sum(sample weights)`` for L-BFGS; for dual coordinate descent, the
        duality gap (the intercept held) at most ``1e-3 * tol`` times the objective and
        the intercept's gradient passing L-BFGS's test; the loss improvement for the
        stochastic solvers.
    fit_intercept : bool, default=True
        Whether to learn an (unpenalised) intercept.
    intercept_scaling : float, default=1
        Accepted for LogisticRegression's signature. The intercept is not penalised, so
        it has no effect, as in LogisticRegression with any solver but liblinear.
    class_weight : dict or "balanced", default=None
        Weights of the classes, multiplying the sample weights.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the minibatch order and the noise, and the order in
        which dual coordinate descent visits the samples (two fits with different
        orders agree within ``tol``; fix it for identical models).
    solver : str, default="auto"
        "auto", "lbfgs", "subspace", "dcd_log", "adam" or "sgd", or
        LogisticRegression's other names. With the multinomial head, where at most a
        tenth of X's entries are non-zero (in a dense array or a sparse matrix alike),
        there are no more samples than features, ``C`` times the samples' mean squared
        norm is at most 30 (TF-IDF text at C up to 30, for one) and there are more
        than 2**21 samples x features x classes, "auto" picks dual coordinate descent
        ("dcd_log", numba backend only). Where samples outnumber
        features and there are at most 1000 of them (dense or sparse), it picks
        Newton's method for small binary and one-vs-rest problems (run as one compiled
        loop) and preconditioned L-BFGS for the others and for the multinomial head;
        subspace descent on other shapes.
        "newton-cholesky" selects Newton's method, and so does "newton-cg" where X has
        the shape "auto" gives Newton (elsewhere its Hessian, of as many rows and
        columns as there are features, would take longer than LogisticRegression's
        Hessian-free newton-cg); "sag", "saga" and "liblinear", "newton-cg" on other
        shapes and the Newton names with the multinomial head run L-BFGS or subspace
        descent as "auto" would choose between them. All reach the same optimum. Only
        "adam" and "sgd" train hidden layers.
    max_iter : int, default=100
        Iterations of Newton's method, L-BFGS or subspace descent, or epochs (sweeps
        over the samples) of dual coordinate descent or a stochastic solver.
    verbose : int, default=0
        Print progress when positive.
    warm_start : bool, default=False
        Start from the previous solution (every solver but dual coordinate descent,
        which starts from its own point, as liblinear's does in LogisticRegression).
    n_jobs : int, default=None
        Accepted for LogisticRegression's signature; the backend decides the threads.
    multi_class : {"multinomial", "ovr", "auto"}, default="multinomial"
        Softmax over the classes, or one logistic output per class. Binary problems use
        one sigmoid output whatever this says.
    batch_size, learning_rate, learning_rate_init, power_t, momentum, early_stopping, \
validation_fraction, n_iter_no_change, input_noise, input_noise_decay, dropout, backend, \
dtype
        As in :class:`SVMNetClassifier`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights of the linear model (only when ``hidden_layer_sizes=()``).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts of the linear model.
    coefs_, intercepts_ : lists of ndarray
        Weights and biases of every layer, as in MLPClassifier.
    n_iter_ : int
        Iterations or epochs run.
    loss_curve_ : list of float
        Objective divided by ``C * sum(sample weights)``.
    loss_ : float
        Last entry of ``loss_curve_``.
    validation_scores_ : list of float
        With early stopping: the held-out rows' accuracy after every epoch.
    validation_loss_curve_ : list of float
        With early stopping: the held-out rows' weighted mean loss after every epoch.
    best_validation_loss_, best_validation_score_ : float
        With early stopping: the held-out loss and accuracy of the weights kept (the
        epoch of the best held-out accuracy; of equal ones, the lowest loss).
    backend_ : str
        The backend that trained the model.
    solver_ : str
        The algorithm that ran: ``"newton"``, ``"lbfgs"``, ``"subspace"`` (subspace
        descent), ``"dcd_log"`` (dual coordinate descent), ``"adam"`` or ``"sgd"``.
    device_ : str
        Where the solver's passes over the data ran: ``"host"`` (numba kernels on this
        process's CPU cores), or a JAX device such as ``"jax:cpu:0"`` or ``"jax:gpu:0"``.
        With ``backend="jax"`` every solver's passes run on the JAX device.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Feature names, when X had string column names.

    See Also
    --------
    SVMNetClassifier : The same networks with an SVM head.
    sklearn.linear_model.LogisticRegression : The linear model this class replaces.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sksvmnet import LogisticNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticNetClassifier(max_iter=200).fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    >>> round(clf.score(X, y), 2)
    0.97
    """

    _parameter_constraints = {
        **BaseNetClassifier._parameter_constraints,
        "C": [Interval(Real, 0, None, closed="right")],  # C=np.inf: no penalty
        # "deprecated" is LogisticRegression's default since scikit-learn 1.8; it means l2.
        "penalty": [StrOptions({"l2", "deprecated"}), None],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "dual": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions(set(LOGISTIC_SOLVERS))],
        "multi_class": [StrOptions(set(LOGISTIC_MULTI_CLASS))],
        "n_jobs": [None, Integral],
    }

    def __init__(
        self,
        penalty="l2",
        *,
        hidden_layer_sizes=(),
        activation="relu",
        C=1.0,
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
        n_jobs=None,
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
        self.penalty = penalty
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.multi_class = multi_class
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.input_noise = input_noise
        self.input_noise_decay = input_noise_decay
        self.dropout = dropout
        self.backend = backend
        self.dtype = dtype

    def _loss_name(self):
        return "log_loss"

    def _head(self, n_classes):
        if n_classes == 2:
            return "binary"
        return LOGISTIC_MULTI_CLASS[self.multi_class]

    def _l2_penalised(self):
        return self.penalty is not None

    def _normalised_solver(self, X=None, config=None):
        solver = LOGISTIC_SOLVERS[self.solver]
        if X is None:
            return solver
        # (LogisticRegression's newton-cg never forms the d x d Hessian: on 2,000 x
        # 5,000 dense X it took 0.6 s where Newton's method with the Hessian took 26 s.)
        if solver == QUASI_NEWTON or (solver == "newton" and (
                config["head"] not in SOLVERS["newton"].heads
                or (self.solver == "newton-cg" and not newton_suits(X)))):
            return lbfgs_or_subspace(X, loss=config["loss"], head=config["head"],
                                     penalty=config["penalty"])
        return solver

    def _check_arguments(self, config):
        if self.l1_ratio not in (0, None):
            raise ValueError(
                f"l1_ratio={self.l1_ratio!r} asks for an L1 term; LogisticNetClassifier "
                "implements the L2 penalty only (l1_ratio=0)."
            )
        if self.dual:
            raise ValueError(
                "dual=True is liblinear's dual formulation, which LogisticNetClassifier "
                "does not implement; use dual=False."
            )

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        F = self._decision(X)
        if F.shape[1] == 1:
            p = expit(F[:, 0])
            return np.column_stack([1.0 - p, p])
        if self._head(len(self.classes_)) == "ovr":
            P = expit(F)
            return P / P.sum(axis=1, keepdims=True)
        return softmax(F, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        F = self._decision(X)
        if F.shape[1] == 1:
            return np.column_stack([-np.logaddexp(0, F[:, 0]), -np.logaddexp(0, -F[:, 0])])
        if self._head(len(self.classes_)) == "multinomial":
            return log_softmax(F, axis=1)
        return np.log(self.predict_proba(X))
