"""SVMNetClassifier: a linear SVM, or a network with an SVM on top."""

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseNetClassifier
from ._solvers import SOLVERS

#: Multi-class heads of the SVM: name -> what it penalises (DESIGN.md).
SVM_MULTI_CLASS = {
    "ovr": "one binary SVM per class, all trained jointly",
    "crammer_singer": "the margin of the true class over its strongest rival",
    "weston_watkins": "the margin of the true class over every other class",
}
#: The solver names ``solver`` takes: "auto" and the solver table's solvers of the SVM's
#: losses (what each trains is the table's, ``_solvers.table.SOLVERS``).
SVM_SOLVERS = ("auto", *(name for name, solver in SOLVERS.items()
                         if solver.losses & {"hinge", "squared_hinge"}))


class SVMNetClassifier(BaseNetClassifier):
    """Linear SVM, or a neural network with a linear SVM as its top layer.

    With ``hidden_layer_sizes=()`` (the default) this is a linear support vector
    classifier with the parameters, defaults and fitted attributes of
    :class:`sklearn.svm.LinearSVC`, and it reaches the same primal optimum. Hidden layers
    turn it into the "deep L2-SVM" of Tang (2013): the network is trained end to end
    through the primal SVM objective

    ``J = 1/2 sum_l ||W_l||^2 + C sum_n s_n loss_n``.

    Parameters
    ----------
    penalty : {"l2", "l1"}, default="l2"
        Norm of the penalty. ``"l1"`` (linear model, squared hinge) gives sparse
        ``coef_``, as in LinearSVC.
    loss : {"squared_hinge", "hinge"}, default="squared_hinge"
        Margin loss. ``"squared_hinge"`` is the L2-SVM of Tang (2013).
    hidden_layer_sizes : int or tuple of int, default=()
        Sizes of the hidden layers; empty for the linear SVM.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the hidden layers.
    dual : "auto" or bool, default="auto"
        LinearSVC's switch between the dual and the primal problem, used by
        ``solver="auto"``: True selects dual coordinate descent, False a primal solver,
        "auto" the primal one when ``n_samples > n_features``.
    tol : float, default=1e-4
        Stopping tolerance of the solver.
    C : float, default=1.0
        Weight of the data term; larger means less regularisation. Must be positive.
    multi_class : {"ovr", "crammer_singer", "weston_watkins"}, default="ovr"
        Multi-class head. Unlike LinearSVC, which always uses the hinge for
        ``"crammer_singer"``, the chosen ``loss`` applies; pass ``loss="hinge"`` to get
        LinearSVC's model. Binary problems use one output whatever this says.
    fit_intercept : bool, default=True
        Whether to learn an intercept.
    intercept_scaling : float, default=1.0
        For the linear model, the intercept is the weight of a synthetic feature of this
        value and is penalised with the other weights, as in LinearSVC.
    class_weight : dict or "balanced", default=None
        Weights of the classes, multiplying the sample weights.
    verbose : int, default=0
        Print progress when positive.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the minibatch order, the noise and the dual solver's
        sample order.
    max_iter : int, default=1000
        Iterations of a full-batch solver, or epochs of a stochastic one.
    solver : {"auto", "newton", "lbfgs", "subspace", "dcd", "cd", "proximal", "adam", \
"sgd"}, default="auto"
        Algorithm: Newton's method, L-BFGS, subspace descent, dual coordinate descent,
        L1 primal coordinate descent, accelerated proximal gradient (L1), or minibatch
        Adam or SGD (the only ones that train hidden layers). For the linear model
        "auto" picks coordinate descent for ``penalty="l1"``, dual coordinate descent
        for the Crammer-Singer head and where LinearSVC's ``dual`` would (``dual=True``,
        or ``"auto"`` with n_samples <= n_features), else Newton's method for binary and
        one-vs-rest problems with more samples than features and at most 1000 of them
        (dense or sparse), else dual coordinate descent for the hinge, else subspace
        descent (those heads, squared hinge) or L-BFGS (Weston-Watkins). The JAX backend
        has no coordinate descent: there "auto" picks proximal gradient for the L1
        penalty and L-BFGS on smoothed objectives, with a certified duality gap, for
        the hinge and the Crammer-Singer head, and ``dual=True`` is an error.
        docs/usage.md gives the rule and the measurements behind it. Adam for
        networks.
    batch_size : int or "auto", default="auto"
        Minibatch size of the stochastic solvers; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "linear", "invscaling", "adaptive"}, \
default="constant"
        Schedule of the stochastic solvers' step size over epochs: constant;
        decaying linearly to ``learning_rate_init / max_iter`` in the last epoch (the
        schedule of Tang 2013); ``learning_rate_init / (epoch + 1) ** power_t``; or
        divided by 5 each time the loss stalls for ``n_iter_no_change`` epochs, stopping
        below 1e-6 (as MLPClassifier's "adaptive").
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    learning_rate_init : float, default=0.001
        Step size of the stochastic solvers.
    momentum : float, default=0.9
        Momentum of ``solver="sgd"``.
    early_stopping : bool or "auto", default="auto"
        Stochastic solvers (``fit`` only): hold out ``validation_fraction`` of the data
        (stratified) and stop when for ``n_iter_no_change`` epochs neither the held-out
        rows' mean loss (the objective's data term) has fallen by ``tol`` nor their
        accuracy risen by ``tol``; the weights of the best accuracy are kept (of equal
        ones, those of the lowest loss). ``"auto"`` turns it on for networks
        (``hidden_layer_sizes`` not empty) whose held-out rows number at least 1,000
        and 10 per class on average (10,000 rows at the default
        ``validation_fraction``), and off for smaller data, where the rows held out
        cost more accuracy than stopping saves, and for the linear model. Unlike
        MLPClassifier's, which watches the held-out accuracy alone, the loss keeps
        improving while predictions grow surer, so small data sets are not stopped on an
        early plateau of their accuracy (see the user guide, "Network defaults").
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` before a stochastic solver stops.
    input_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the inputs while training.
    input_noise_decay : float, default=1.0
        Factor applied to ``input_noise`` after every epoch (1 keeps it constant).
    dropout : float, default=0.0
        Probability of dropping a hidden unit while training.
    warm_start : bool, default=False
        Start from the previous solution (L-BFGS and the stochastic solvers; dual
        coordinate descent always starts from zero, as liblinear does).
    backend : {"auto", "numba", "jax"}, default="auto"
        Compute backend. "numba" runs compiled kernels on the CPU; "jax" compiles every
        training step with XLA and runs on JAX's default device (a GPU or TPU when JAX
        sees one; pin another with ``jax.default_device``). "auto" picks JAX when it is
        installed and sees an accelerator, or on the CPU for a network wide and big
        enough to gain by it, numba otherwise (docs/usage.md, "Backends").
        ``backend_`` records the choice. Dual and primal coordinate descent are
        sequential: the JAX backend does not run them, and trains those models by
        whole-data passes instead (see ``solver``).
    dtype : {"auto", "float32", "float64"} or numpy float type, default="auto"
        Float type the model trains in and keeps its weights in. "auto": float32 for a
        network, as deep-learning frameworks train (its products cost half as much as in
        float64, and a network's accuracy does not depend on the last digits); for the
        linear model the input's type (float32 or float64; float32 on an accelerator
        unless JAX's x64 mode is on), so that it reaches the optimum LinearSVC does.
        Ask for float64 to train a network in double precision. ``partial_fit`` keeps
        the type of its first call; ``warm_start`` continues in the type asked for now.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights of the linear model (only when ``hidden_layer_sizes=()``).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts of the linear model.
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` of shape (fan_in, fan_out), as in MLPClassifier.
    intercepts_ : list of ndarray
        Bias vectors.
    n_iter_ : int
        Iterations (or epochs) run; the largest over classes for one-vs-rest.
    loss_curve_ : list of float
        Objective divided by ``C * sum(sample weights)``: per epoch for the stochastic
        solvers, the final value for the full-batch ones.
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
        The algorithm that ran: ``solver``, or the one ``"auto"`` picked.
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
    LogisticNetClassifier : The same networks with the logistic loss.
    sklearn.svm.LinearSVC : The linear model this class replaces.

    Notes
    -----
    There is no ``predict_proba``; wrap the estimator in
    :class:`sklearn.calibration.CalibratedClassifierCV` for probabilities.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sksvmnet import SVMNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SVMNetClassifier(C=0.5).fit(X, y)
    >>> clf.coef_.shape
    (3, 4)
    >>> round(clf.score(X, y), 2)
    0.97
    """

    _parameter_constraints = {
        **BaseNetClassifier._parameter_constraints,
        "penalty": [StrOptions({"l1", "l2"})],
        "loss": [StrOptions({"hinge", "squared_hinge"})],
        "dual": ["boolean", StrOptions({"auto"})],
        "multi_class": [StrOptions(set(SVM_MULTI_CLASS))],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions(set(SVM_SOLVERS))],
    }

    def __init__(
        self,
        penalty="l2",
        loss="squared_hinge",
        *,
        hidden_layer_sizes=(),
        activation="relu",
        dual="auto",
        tol=1e-4,
        C=1.0,
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
        self.penalty = penalty
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dual = dual
        self.tol = tol
        self.C = C
        self.multi_class = multi_class
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.verbose = verbose
        self.random_state = random_state
        self.max_iter = max_iter
        self.solver = solver
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
        self.warm_start = warm_start
        self.backend = backend
        self.dtype = dtype

    def _loss_name(self):
        return self.loss

    def _head(self, n_classes):
        return "binary" if n_classes == 2 else self.multi_class

    def _intercept_penalty(self):
        # liblinear: the intercept is intercept_scaling times a penalised weight.
        return 1.0 / self.intercept_scaling ** 2 if not self._hidden_sizes() else 0.0

    def _check_liblinear_arguments(self):
        """Refuse LinearSVC's unsupported combinations with LinearSVC's message."""
        reason = None
        if self.penalty == "l1" and self.loss == "hinge":
            reason = "the L1 penalty is implemented for the squared hinge only"
        elif self.penalty == "l1" and self.dual is True:
            reason = "the L1 penalty is solved in the primal; use dual=False or 'auto'"
        elif self.loss == "hinge" and self.dual is False:
            reason = "the hinge is solved in the dual; use dual=True or 'auto'"
        if reason is not None:
            raise ValueError(
                f"Unsupported set of arguments: penalty={self.penalty!r}, "
                f"loss={self.loss!r}, dual={self.dual!r}: {reason}, as in LinearSVC."
            )

    def _check_arguments(self, config):
        if not config["network"]:
            self._check_liblinear_arguments()
        if self.solver != "auto" and self.dual != "auto":
            wanted_dual = self.solver == "dcd"
            if bool(self.dual) != wanted_dual:
                raise ValueError(
                    f"dual={self.dual!r} contradicts solver={self.solver!r}; leave "
                    "dual='auto' when naming a solver."
                )
