"""Shared scikit-learn glue for the two estimators.

The base class validates input, encodes labels, folds sample and class weights into one
weight per sample, picks a solver and a backend, and stores the fitted attributes. The
mathematics lives in ``_losses``, the algorithms in ``_solvers`` (which solver trains what
in ``_solvers.table``) and the arithmetic in the backends; nothing here imports a backend.
"""

import copy
import warnings
import weakref
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._available_if import available_if
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _solvers, _threads
from ._losses import forward

#: Activation names accepted by ``activation``.
ACTIVATIONS = ("identity", "relu", "tanh", "logistic")
#: ``early_stopping="auto"`` holds rows out only where the held-out fraction has at least
#: this many rows, and this many per class on average (times the classes). Early
#: stopping keeps the epoch of the best held-out accuracy: below 1,000 rows one row
#: moves that accuracy by more than the 0.1 point the network defaults are judged by,
#: and on small data the rows held out cost more accuracy than stopping saves (digits,
#: breast cancer, synthetic sets of 1,000 and 3,000 rows: CHANGELOG.md, issue 19). From
#: 1,000 rows on, a network's epochs cost enough for stopping to pay (MNIST,
#: Fashion-MNIST).
AUTO_VALIDATION_ROWS = 1000
AUTO_VALIDATION_ROWS_PER_CLASS = 10
#: Solvers that train one minibatch at a time (networks and the linear model).
STOCHASTIC_SOLVERS = _solvers.MINIBATCH_SOLVERS


#: Each estimator class's ``__init__`` and the parameter names read from it
#: (:meth:`BaseNetClassifier._get_param_names`); a class that goes away leaves.
_PARAM_NAMES = weakref.WeakKeyDictionary()


class BaseNetClassifier(ClassifierMixin, BaseEstimator):
    """Common code of :class:`SVMNetClassifier` and :class:`LogisticNetClassifier`.

    Subclasses define ``_loss_name``, ``_head`` and ``_intercept_penalty``, and may add
    argument checks (``_check_arguments``) and solver names (``_normalised_solver``);
    everything else is shared. Which solver trains what, and the one ``solver="auto"``
    picks, are the solver table's (``_solvers.table``).
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "C": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(_solvers.LEARNING_RATE_SCHEDULES))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "input_noise_decay": [Interval(Real, 0, 1, closed="both")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "warm_start": ["boolean"],
        "backend": [StrOptions({"auto", "numba", "jax"})],
        "dtype": [StrOptions({"auto", "float32", "float64"}), type, np.dtype],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------ subclass hooks

    def _loss_name(self):
        raise NotImplementedError

    def _head(self, n_classes):
        raise NotImplementedError

    def _intercept_penalty(self):
        return 0.0

    def _l2_penalised(self):
        return True

    def _check_arguments(self, config):
        """Raise on arguments the estimator refuses together, whatever the solver can
        train (``config``: :meth:`_configuration`)."""

    def _normalised_solver(self, X=None, config=None):
        """``solver`` as a name of the solver table, or ``"auto"``. Given X and the
        configuration, a name may stand for a choice made from them."""
        return self.solver

    # ------------------------------------------------------------------ helpers

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        for size in sizes:
            if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
                raise ValueError(
                    "hidden_layer_sizes must hold positive integers; got "
                    f"{self.hidden_layer_sizes!r}."
                )
        return [int(size) for size in sizes]

    def _penalty(self):
        """The penalty as the solver table names it: "l1", "l2" or "none"."""
        if getattr(self, "penalty", "l2") == "l1":
            return "l1"
        return "none" if self._effective_C() is None else "l2"

    def _configuration(self, n_classes):
        """What the solver table asks of a problem with ``n_classes`` classes."""
        return dict(loss=self._loss_name(), head=self._head(n_classes),
                    penalty=self._penalty(), network=bool(self._hidden_sizes()))

    def _check_solver(self, solver, config, backend=None):
        """Raise unless ``solver`` (a name of the solver table) trains ``config`` with
        these arguments (and ``backend``): the estimator's own checks first, then the
        table's."""
        self._check_arguments(config)
        _solvers.check(solver, name=None if self.solver == "auto" else self.solver,
                       backend=backend, **config)

    @classmethod
    def _get_param_names(cls):
        # (scikit-learn reads them from the signature of __init__ for every get_params,
        # clone and parameter check: 0.05 ms for this many, twice a fit. Read once for
        # each __init__ a class has had.)
        init, names = _PARAM_NAMES.get(cls, (None, None))
        if init is not cls.__init__:
            names = tuple(super()._get_param_names())
            _PARAM_NAMES[cls] = (cls.__init__, names)
        return list(names)

    def _resolve_solver(self, X, n_classes, backend=None):
        """The solver that trains on X with ``backend``: the named one, or the table's
        ``auto`` choice."""
        config = self._configuration(n_classes)
        solver = self._normalised_solver(X, config)
        if solver == "auto":
            self._check_arguments(config)  # (their messages before the table's)
            n_outputs = 1 if n_classes == 2 else n_classes
            solver = _solvers.choose(X, dual=self.dual, n_outputs=n_outputs,
                                     backend=backend, C=self._effective_C(), **config)
        self._check_solver(solver, config, backend)
        return solver

    def _validate_targets(self, y, classes=None):
        y_array = np.asarray(y)
        # Only an object array can mix strings and numbers; checking one is a Python loop.
        labels = y_array.ravel() if y_array.dtype == object else y_array.ravel()[:1]
        if len({isinstance(label, str) for label in labels}) > 1:
            found = sorted({type(label).__name__ for label in labels})
            raise ValueError(
                f"Mix of label input types (string and number) in y: found {found}. "
                "Use labels of one type."
            )
        seen = None
        if y_array.ndim == 1 and y_array.dtype.kind in "biu":
            seen = np.unique(y_array)
        # One column of integers or booleans is always a binary or multi-class target:
        # it needs scikit-learn's check (0.15 ms a fit) only where that may warn that
        # many distinct labels look like a regression target. Other kinds always do.
        if seen is None or 2 * len(seen) > y_array.size:
            check_classification_targets(y)
        if classes is None:  # (y is a checked 1-d array of one label type here)
            classes = np.unique(y_array.ravel()) if seen is None else seen
        if len(classes) < 2:
            found = np.asarray(classes).tolist()
            raise ValueError(
                "The number of classes has to be greater than one; got "
                + (f"one class: {found[0]!r}" if found else "none")
                + ". A classifier needs samples of at least 2 classes."
            )
        return np.asarray(classes)

    def _sample_weights(self, X, y_encoded, sample_weight, classes):
        s = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                 ensure_non_negative=True)
        if self.class_weight is not None:
            # ("balanced" weighs each class by its total sample weight, as
            # LogisticRegression and LinearSVC do)
            weights = compute_class_weight(self.class_weight, classes=classes,
                                           y=classes[y_encoded], sample_weight=sample_weight)
            s = s * weights[y_encoded]
        if not np.any(s > 0):
            raise ValueError(
                "The sample weights (times class weights) are all zero; at least one "
                "sample must have a positive weight."
            )
        return s

    def _effective_C(self):
        """C, or None when the model is unpenalised (LogisticRegression's C=np.inf)."""
        if not self._l2_penalised() or np.isinf(self.C):
            return None
        return float(self.C)

    def _asked_dtype(self):
        """``dtype`` resolved: None for ``"auto"``, else float32 or float64 (anything
        else is refused, the value named)."""
        return None if _is_auto(self.dtype) else _float_type(self.dtype)

    def _training_dtype(self, backend, input_dtype, hidden):
        """The float type the model trains in and keeps its weights in: ``dtype``, or
        for ``"auto"`` float32 for a network and the backend's choice for the linear
        model (the input's type, or float32 on an accelerator)."""
        asked = self._asked_dtype()
        if asked is not None:
            return asked
        return np.dtype(np.float32) if hidden else backend.training_dtype(input_dtype)

    def _minibatch_threads(self, X, hidden, n_outputs):
        """The BLAS threads of this minibatch training (``_threads.minibatch_threads``)."""
        return _threads.minibatch_threads(self._batch_size(X.shape[0]),
                                          [X.shape[1], *hidden, n_outputs])

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        return min(int(self.batch_size), n_samples)

    # --------------------------------------------------------------------- fit

    def _fit_guarded(self, fit, *args, **kwargs):
        """Run ``fit`` so that a failure restores the estimator exactly as it was."""
        saved = copy.copy(self.__dict__)
        try:
            return fit(*args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is used as CSR.
        y : array-like of shape (n_samples,)
            Target labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; a weight of k acts as k copies of the sample for the
            full-batch solvers.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_guarded(self._fit, X, y, sample_weight)

    def _validate_X_y(self, X, y, reset):
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"),
                             dtype=[np.float64, np.float32], reset=reset)
        if X.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}).")
        return X, y

    def _fit(self, X, y, sample_weight):
        for _ in self._fit_path(X, y, sample_weight, [self.C]):
            pass
        return self

    def _fit_path(self, X, y, sample_weight, Cs, tolerate=False):
        """Fit at each C of ``Cs`` in turn, yielding this estimator fitted at each.

        The input checks, the sample weights, the backend and the training copy of X
        are settled once, and the solver too unless ``solver="auto"`` chooses it by C
        (the dual of the log loss at small C), which it then does at each C. A
        full-batch solver's fit at each C starts from the one before it (its weights,
        and dual coordinate descent's dual variables): along an ascending ``Cs``, the
        regularization path. A stochastic solver's (a network,
        or a linear model under sgd or adam) trains anew at each C from the same
        initialisation (with an int ``random_state``), as separate fits do.

        With ``tolerate``, a C whose fit raises an ``Exception`` yields that exception
        instead, and the path goes on (the CV estimators' ``error_score``): a full-batch
        fit from the last C whose solver finished, the Cs that train together one after
        another; the checks before any fit still raise.
        """
        X, y = self._validate_X_y(X, y, reset=True)
        hidden = self._hidden_sizes()
        self._asked_dtype()  # (a bad dtype is refused before any work)
        classes = self._validate_targets(y)
        y_encoded = np.searchsorted(classes, y).astype(np.int64)
        n_outputs = 1 if len(classes) == 2 else len(classes)
        self._check_arguments(self._configuration(len(classes)))
        s = self._sample_weights(X, y_encoded, sample_weight, classes)
        name, backend = _solvers.resolve_backend(
            self.backend, X.shape[0], [X.shape[1], *hidden, n_outputs])
        solver = self._resolve_solver(X, len(classes), backend)
        X = _solvers.as_training_array(X, self._training_dtype(backend, X.dtype, hidden))
        head = self._head(len(classes))
        seed = _seed(self.random_state)

        # (a warm start needs the fitted layers' shapes; another shape starts afresh)
        warm = (self.warm_start and hasattr(self, "coefs_")
                and [tuple(W.shape) for W in self.coefs_] == list(
                    zip([X.shape[1], *hidden], [*hidden, n_outputs])))
        duals = None

        def stored(result, solver=solver):
            return self._stored(result, classes, name, backend, X.dtype, solver)

        def solver_at_C():
            # solver="auto" may choose by C (the dual of the log loss where C is small),
            # so along a path each C has its own choice; the first, above, checked the
            # arguments before any work.
            if self.solver != "auto" or solver in STOCHASTIC_SOLVERS:
                return solver
            return self._resolve_solver(X, len(classes), backend)

        def train_together():
            with self._minibatch_threads(X, hidden, n_outputs), backend.fit_scope():
                return self._fit_stochastic_path(X, y_encoded, s, solver, backend, head,
                                                 n_outputs, hidden, Cs, seed)

        results = None
        if (solver in STOCHASTIC_SOLVERS and len(Cs) > 1 and not warm
                and _solvers.SOLVERS[solver].runs_path_on(backend)
                and not (self._early_stopping(hidden, y_encoded) and seed is None)):
            # One program trains every C, and one that fails (a network that diverges)
            # fails them all: then the Cs train one after another below, so that only
            # those that fail alone count as failed.
            results = _attempt(train_together, tolerate)
        if results is not None and not isinstance(results, Exception):
            for C, result in zip(Cs, results):
                self.C = C
                yield _attempt(lambda: stored(result), tolerate)
            return

        def train_one(rng):
            nonlocal warm, duals
            solver = solver_at_C()
            if solver in STOCHASTIC_SOLVERS:
                # (Ctrl-C ends a single fit after its epoch; along a path of Cs it would
                # go on to the next C, so there it keeps its usual meaning.)
                with self._minibatch_threads(X, hidden, n_outputs), backend.fit_scope():
                    result = self._fit_stochastic(X, y_encoded, s, solver, backend, head,
                                                  n_outputs, hidden, rng, warm,
                                                  max_iter=self.max_iter,
                                                  interruptible=len(Cs) == 1)
            else:
                with (_threads.linear_fit_threads() as budget, backend.threads(budget),
                      backend.fit_scope()):
                    result = self._fit_full_batch(X, y_encoded, s, solver, backend, head,
                                                  n_outputs, rng, warm, duals)
                # (the next C starts from this one's solution, stored below)
                warm, duals = True, result.duals
            return stored(result, solver)

        for C in Cs:
            self.C = C
            yield _attempt(lambda: train_one(np.random.default_rng(seed)), tolerate)

    def _stored(self, result, classes, backend_name, backend, dtype, solver):
        """This estimator with ``result`` stored, having warned of how it ended."""
        self._store(result, classes, backend_name, backend, dtype)
        if result.interrupted:
            self._resume = result.resume
            warnings.warn(
                f"Training interrupted (Ctrl-C) after {self.n_iter_} of "
                f"max_iter={self.max_iter} epochs; the model holds the weights it had "
                "then. Fit again with warm_start=True to go on from there, schedules "
                "and optimiser state included.",
                ConvergenceWarning,
            )
        elif not result.converged:
            warnings.warn(
                f"The {solver!r} solver stopped at max_iter={self.max_iter} before "
                f"reaching tol={self.tol}; increase max_iter or tol.",
                ConvergenceWarning,
            )
        return self

    def _fit_full_batch(self, X, y, s, solver, backend, head, n_outputs, rng, warm,
                        duals=None):
        C = self._effective_C()
        # Every argument a full-batch solver takes; the table passes each its own.
        arguments = dict(
            backend=backend, C=C, loss=self._loss_name(), head=head, n_outputs=n_outputs,
            fit_intercept=self.fit_intercept, intercept_penalty=self._intercept_penalty(),
            intercept_scaling=self.intercept_scaling, tol=self.tol, max_iter=self.max_iter,
            random_state=rng)
        if warm:
            arguments.update(coef_init=_dense(self.coefs_[0]),
                             intercept_init=self.intercepts_[0], dual_init=duals)
        result = _solvers.run(solver, X, y, s, **arguments)
        if result.loss_curve:  # L-BFGS, subspace descent and one-vs-rest DCD end knowing it
            return result
        result.loss_curve = [_solvers.linear_objective(
            result, X, y, s, backend=backend, C=C, loss=self._loss_name(), head=head,
            fit_intercept=self.fit_intercept, intercept_penalty=self._intercept_penalty(),
            l1=self._penalty() == "l1")]
        return result

    def _fit_stochastic(self, X, y, s, solver, backend, head, n_outputs, hidden, rng,
                        warm, max_iter, partial=False, interruptible=False):
        # A warm start after a fit that Ctrl-C ended goes on with that fit's epochs, if
        # nothing but max_iter, verbose and warm_start changed since (and not the data).
        resume = getattr(self, "_resume", None) if warm and not partial else None
        if resume is not None and (len(resume["loss_curve"]) >= max_iter
                                   or resume["setup"] != self._resume_setup(X, solver)):
            resume = None
        coefs, intercepts, state = self._initial_network(X, solver, hidden, n_outputs,
                                                         rng, warm)
        if resume is not None:
            rng.bit_generator.state = resume["start"]  # (the same validation split)
        start = rng.bit_generator.state
        X_full = X
        X, y, s, validation = self._split(
            X, y, s,
            self._validation_rows(y, rng,
                                  self._early_stopping(hidden, y) and not partial))
        done = len(resume["loss_curve"]) if resume is not None else 0
        result = _solvers.run(
            solver, X, y, s, coefs=coefs, intercepts=intercepts, state=state,
            C=self._minibatch_C(), random_state=rng, max_iter=max_iter - done,
            first_epoch=(self.n_iter_ if partial and hasattr(self, "n_iter_") else done),
            interruptible=interruptible, resume=resume,
            **self._minibatch_options(X, backend, solver, head, hidden, validation))
        if partial:
            result.converged = True
        if result.interrupted:
            result.resume["start"] = start
            result.resume["setup"] = self._resume_setup(X_full, solver)
        return result

    def _resume_setup(self, X, solver):
        """What an interrupted fit's continuation must share with it."""
        params = {key: value for key, value in self.get_params(deep=False).items()
                  if key not in ("max_iter", "verbose", "warm_start")}
        return repr(sorted(params.items())), X.shape, str(X.dtype), solver

    def _fit_stochastic_path(self, X, y, s, solver, backend, head, n_outputs, hidden,
                             Cs, seed):
        """A network per C, trained together (the solver's ``path``): each starts as a
        separate fit at its C would (a generator seeded from ``random_state`` each)."""
        networks, generators, effective = [], [], []
        for C in Cs:
            rng = np.random.default_rng(seed)
            networks.append(self._initial_network(X, solver, hidden, n_outputs, rng,
                                                  warm=False))
            # Each generator draws the split as its separate fit would; the rows are
            # the same for every C (seed is an int where early stopping is on), so X
            # is split once, below.
            rows = self._validation_rows(y, rng, self._early_stopping(hidden, y))
            generators.append(rng)
            self.C = C
            effective.append(self._minibatch_C())
        X, y, s, validation = self._split(X, y, s, rows)
        return _solvers.run_path(
            solver, X, y, s, networks=networks, Cs=effective, random_states=generators,
            max_iter=self.max_iter,
            **self._minibatch_options(X, backend, solver, head, hidden, validation))

    def _initial_network(self, X, solver, hidden, n_outputs, rng, warm):
        """Weights and optimiser state to start from: the fitted ones (warm), or drawn."""
        dtype = X.dtype
        if warm:
            coefs = [np.array(_dense(W), dtype=dtype, order="C") for W in self.coefs_]
            intercepts = [b.astype(dtype, copy=True) for b in self.intercepts_]
            state = getattr(self, "_optimizer_state", None)
            if state is None or state.get("optimizer") != solver:
                state = _solvers.init_state(coefs, intercepts)
            else:  # (the moments in the weights' type: dtype may have changed since)
                state = {key: [np.array(a, dtype=dtype) for a in value]
                         if isinstance(value, list) else value
                         for key, value in state.items()}
        else:
            sizes = [X.shape[1], *hidden, n_outputs]
            coefs, intercepts = _solvers.init_params(sizes, self.activation, dtype, rng)
            state = _solvers.init_state(coefs, intercepts)
        state["optimizer"] = solver
        if not self.fit_intercept and not hidden:
            intercepts[-1][:] = 0.0
        return coefs, intercepts, state

    def _early_stopping(self, hidden, y):
        """``early_stopping`` resolved for encoded labels ``y``: ``"auto"`` is on for
        networks whose held-out split would hold ``AUTO_VALIDATION_ROWS`` rows and
        ``AUTO_VALIDATION_ROWS_PER_CLASS`` times the classes, off for smaller data and for
        the linear model (whose stochastic solvers then train to ``tol``, as without
        it)."""
        if self.early_stopping == "auto":
            held_out = self.validation_fraction * len(y)
            classes = max(int(np.max(y)) + 1, 2) if len(y) else 2
            return bool(hidden) and held_out >= max(
                AUTO_VALIDATION_ROWS, AUTO_VALIDATION_ROWS_PER_CLASS * classes)
        return bool(self.early_stopping)

    def _validation_rows(self, y, rng, early_stopping):
        """The training and validation rows ``early_stopping`` draws from ``rng``, or
        None without it."""
        if not early_stopping:
            return None
        counts = np.bincount(y)
        held_out = int(np.ceil(self.validation_fraction * len(y)))
        # (stratified where every class can give a row to each side)
        stratify = (y if counts.min() >= 2 and held_out >= len(counts)
                    and len(y) - held_out >= len(counts) else None)
        return train_test_split(np.arange(len(y)), test_size=self.validation_fraction,
                                random_state=_seed(rng), stratify=stratify)

    @staticmethod
    def _split(X, y, s, rows):
        """``X, y, s`` of the training rows and ``(X_val, y_val, s_val)`` of the held-out
        ones (None without them) for ``rows`` of :meth:`_validation_rows`."""
        if rows is None:
            return X, y, s, None
        train, val = rows
        return X[train], y[train], s[train], (X[val], y[val], s[val])

    def _minibatch_C(self):
        """C of the minibatch objective: ``np.inf`` for an unpenalised model."""
        C = self._effective_C()
        return np.inf if C is None else C

    def _minibatch_options(self, X, backend, solver, head, hidden, validation):
        """What every minibatch fit of this estimator passes its solver."""
        return dict(
            backend=backend, optimizer=solver, loss=self._loss_name(), head=head,
            activation=self.activation, batch_size=self._batch_size(X.shape[0]),
            learning_rate_init=self.learning_rate_init, momentum=self.momentum,
            tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            input_noise=self.input_noise, dropout=self.dropout, validation=validation,
            verbose=self.verbose, learning_rate=self.learning_rate,
            power_t=self.power_t, input_noise_decay=self.input_noise_decay,
            schedule_epochs=self.max_iter,
            train_output_bias=self.fit_intercept or bool(hidden))

    def _store(self, result, classes, backend_name, backend, dtype, partial=False):
        """Set every fitted attribute at once, after the solver succeeded."""
        # (A solver may hand back its (n_outputs, n_features) weights transposed, as the
        # dual ones do: kept as they are, a copy would double the fit's peak memory on
        # text, and coef_ is then C-ordered. Any other strided view is copied; warm
        # starts and partial_fit copy the weights into the layout their kernels take.)
        coefs = [W.astype(dtype, copy=False) if isinstance(W, np.ndarray)
                 and (W.flags.c_contiguous or W.flags.f_contiguous)
                 else np.ascontiguousarray(W, dtype=dtype) for W in result.coefs]
        intercepts = [np.asarray(b, dtype=dtype) for b in result.intercepts]
        for array in coefs + intercepts:
            if not np.all(np.isfinite(array)):
                raise FloatingPointError(
                    "Training produced non-finite weights; the fit diverged. Use a "
                    "smaller learning_rate_init or C, or scale the features."
                )
        self.__dict__.pop("_resume", None)  # (an interrupted fit's, now superseded)
        self.classes_ = classes
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        if partial and hasattr(self, "loss_curve_"):
            self.n_iter_ = int(self.n_iter_ + result.n_iter)
            self.loss_curve_ = self.loss_curve_ + list(result.loss_curve)
        else:
            self.n_iter_ = int(result.n_iter)
            self.loss_curve_ = list(result.loss_curve)
        self.loss_ = float(self.loss_curve_[-1])
        for name in ("validation_scores_", "validation_loss_curve_",
                     "best_validation_score_", "best_validation_loss_"):
            self.__dict__.pop(name, None)  # (a refit without early stopping has none)
        if result.validation_scores:
            self.validation_scores_ = list(result.validation_scores)
            self.validation_loss_curve_ = list(result.validation_losses)
            # (of the weights kept: the best held-out accuracy's epoch, else the last)
            best = -1 if result.best_epoch is None else result.best_epoch
            self.best_validation_loss_ = float(result.validation_losses[best])
            self.best_validation_score_ = float(result.validation_scores[best])
        self.backend_ = backend_name
        self.solver_ = result.solver
        self.device_ = backend.device()  # (every pass of a backend runs on its device)
        self._optimizer_state = result.state
        self._train_rows = result.train_rows  # (to_sklearn's MLPClassifier alpha)
        self.n_layers_ = len(coefs) + 1
        self.n_outputs_ = coefs[-1].shape[1]

    # ------------------------------------------------------------- partial_fit

    def _can_partial_fit(self):
        solver = self._normalised_solver()
        if solver not in ("auto", *STOCHASTIC_SOLVERS):
            raise AttributeError(
                f"partial_fit runs a stochastic solver; solver={self.solver!r} is a "
                f"full-batch one. Use one of {list(STOCHASTIC_SOLVERS)} or 'auto'."
            )
        if getattr(self, "penalty", "l2") == "l1":
            raise AttributeError("partial_fit is not available with penalty='l1'.")
        return True

    @available_if(_can_partial_fit)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of the stochastic solver on the given data.

        Schedules continue across calls: epoch ``n_iter_`` of ``max_iter`` sets the
        learning rate (``learning_rate="linear"`` or ``"invscaling"``) and the input noise
        (``input_noise_decay``); past ``max_iter`` the linear rate stays at its last value.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes that can appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit_guarded(self._partial_fit, X, y, classes, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def _partial_fit(self, X, y, classes, sample_weight):
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        self._asked_dtype()  # (refused on every call; the first call's type stays)
        if classes is not None:  # (in any order, as MLPClassifier takes them)
            classes = unique_labels(classes)
        if not first and classes is not None and not np.array_equal(
                classes, self.classes_):
            raise ValueError(
                f"classes={list(classes)!r} differs from the classes of the previous "
                f"call, {list(self.classes_)!r}."
            )
        fitted_sizes = [] if first else [W.shape[1] for W in self.coefs_[:-1]]
        if not first and self._hidden_sizes() != fitted_sizes:
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} differs from the layers "
                f"partial_fit trains, {tuple(fitted_sizes)!r}: partial_fit goes on with "
                f"the fitted network. Fit anew to change them.")
        if self.learning_rate == "adaptive":
            raise ValueError(
                "learning_rate='adaptive' divides the rate when the loss stalls over the "
                "epochs of one fit; partial_fit sees one epoch at a time. Use fit, or "
                "learning_rate in ('constant', 'linear', 'invscaling')."
            )
        solver = self._normalised_solver()
        solver = "adam" if solver == "auto" else solver
        n_classes = len(classes) if first else len(self.classes_)
        self._check_solver(solver, self._configuration(n_classes))
        X, y = self._validate_X_y(X, y, reset=first)
        all_classes = self._validate_targets(y, np.asarray(classes) if first
                                             else self.classes_)
        unseen = np.setdiff1d(np.unique(y), all_classes)
        if unseen.size:
            raise ValueError(
                f"y holds labels {list(unseen)!r} that are not in classes "
                f"{list(all_classes)!r}."
            )
        y_encoded = np.searchsorted(all_classes, y).astype(np.int64)
        s = self._sample_weights(X, y_encoded, sample_weight, all_classes)
        n_outputs = 1 if len(all_classes) == 2 else len(all_classes)
        hidden = self._hidden_sizes()
        name, backend = _solvers.resolve_backend(
            self.backend, X.shape[0], [X.shape[1], *hidden, n_outputs])
        dtype = (self.coefs_[0].dtype if not first
                 else self._training_dtype(backend, X.dtype, hidden))
        X = _solvers.as_training_array(X, dtype)
        if first or not hasattr(self, "_partial_rng"):
            self._partial_rng = np.random.default_rng(_seed(self.random_state))
        with self._minibatch_threads(X, hidden, n_outputs), backend.fit_scope():
            result = self._fit_stochastic(
                X, y_encoded, s, solver, backend, self._head(len(all_classes)), n_outputs,
                hidden, self._partial_rng, warm=not first, max_iter=1,
                partial=True)
        self._store(result, all_classes, name, backend, dtype, partial=True)
        return self

    # -------------------------------------------------------------- prediction

    def _decision(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"),
                          dtype=[np.float64, np.float32], reset=False)
        if sp.issparse(self.coefs_[0]):  # the linear model after sparsify()
            F = safe_sparse_dot(X, self.coefs_[0], dense_output=True)
            return F + self.intercepts_[0]
        F, _ = forward(self.coefs_, self.intercepts_, X, self.activation)
        return np.asarray(F)

    def decision_function(self, X):
        """Network outputs: signed scores for each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For a binary problem, the score of ``classes_[1]`` (positive means that
            class); otherwise one column per class.
        """
        F = self._decision(X)
        return F[:, 0] if F.shape[1] == 1 else F

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class of highest score.
        """
        F = self._decision(X)
        index = (F[:, 0] > 0).astype(np.intp) if F.shape[1] == 1 else F.argmax(axis=1)
        return self.classes_[index]

    def to_sklearn(self):
        """The fitted scikit-learn estimator that predicts as this model does.

        The linear SVM becomes a :class:`~sklearn.svm.LinearSVC`, the linear logistic
        model a :class:`~sklearn.linear_model.LogisticRegression` and a network an
        :class:`~sklearn.neural_network.MLPClassifier`, with this model's weights and,
        where the scikit-learn class has them, its parameters. ``predict`` is ours on any
        input, and so are ``decision_function`` (linear models) and ``predict_proba``
        (the logistic models). An exported SVM network's ``predict_proba`` is the
        logistic (two classes) or softmax of its scores, which the hinge never trained
        to be probabilities.

        Returns
        -------
        estimator : LinearSVC, LogisticRegression or MLPClassifier
            A fitted estimator; its arrays are copies.

        Raises
        ------
        ValueError
            Where the scikit-learn class cannot state this model: the Weston-Watkins
            head, Crammer-Singer with the squared hinge or with hidden layers, the
            one-vs-rest log loss on more than two classes (scikit-learn's probabilities
            are a softmax), ``dropout`` or ``input_noise`` (MLPClassifier has neither).

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sksvmnet import SVMNetClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> model = SVMNetClassifier().fit(X, y)
        >>> svc = model.to_sklearn()
        >>> type(svc).__name__, bool((svc.predict(X) == model.predict(X)).all())
        ('LinearSVC', True)
        """
        from ._export import to_sklearn  # (imports MLPClassifier: only when asked)

        return to_sklearn(self)

    # ---------------------------------------------------- the linear attributes

    def _check_linear(self, name):
        check_is_fitted(self)
        if len(self.coefs_) != 1:
            raise AttributeError(
                f"{name} exists only for the linear model (hidden_layer_sizes=()); "
                "this network's weights are in coefs_ and intercepts_."
            )

    @property
    def coef_(self):
        """Weights of the linear model, shape (1, n_features) or (n_classes, n_features).

        A view of ``coefs_[0].T``: setting it changes ``decision_function``. A sparse
        matrix after :meth:`sparsify`.
        """
        self._check_linear("coef_")
        return self.coefs_[0].T

    @coef_.setter
    def coef_(self, value):
        self._check_linear("coef_")
        shape = self.coefs_[0].T.shape
        if not sp.issparse(value):
            value = np.asarray(value, dtype=self.coefs_[0].dtype)
        if value.shape != shape:
            raise ValueError(f"coef_ must have shape {shape}; got {value.shape}.")
        if sp.issparse(value):
            self.coefs_[0] = sp.csc_matrix(value.T, dtype=self.coefs_[0].dtype)
        else:
            self.coefs_[0] = np.ascontiguousarray(value.T)

    def _can_sparsify(self):
        if self.hidden_layer_sizes is not None and not isinstance(
                self.hidden_layer_sizes, Integral) and len(self.hidden_layer_sizes) == 0:
            return True
        raise AttributeError(
            "sparsify and densify convert coef_, which exists only for the linear model "
            f"(hidden_layer_sizes=()); got hidden_layer_sizes={self.hidden_layer_sizes!r}."
        )

    @available_if(_can_sparsify)
    def sparsify(self):
        """Store ``coef_`` as a sparse matrix, as scikit-learn's linear models do.

        Worth it where most weights are zero (``penalty="l1"``): a sparse ``coef_`` takes
        less memory and makes ``decision_function`` faster on such models. Fitting again
        stores dense weights; ``warm_start`` starts from the sparse ones.

        Returns
        -------
        self : object
            The estimator, with ``coef_`` a ``scipy.sparse.csr_matrix``.
        """
        check_is_fitted(self)
        self.coef_ = sp.csr_matrix(self.coef_)
        return self

    @available_if(_can_sparsify)
    def densify(self):
        """Store ``coef_`` as a numpy array again (the inverse of :meth:`sparsify`).

        Returns
        -------
        self : object
            The estimator, with a dense ``coef_``.
        """
        check_is_fitted(self)
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

    @property
    def intercept_(self):
        """Intercepts of the linear model, shape (1,) or (n_classes,)."""
        self._check_linear("intercept_")
        return self.intercepts_[0]

    @intercept_.setter
    def intercept_(self, value):
        self._check_linear("intercept_")
        value = np.broadcast_to(np.asarray(value, dtype=self.intercepts_[0].dtype),
                                self.intercepts_[0].shape)
        self.intercepts_[0] = value.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _dense(W):
    """``W`` as a numpy array (a linear model's weights may be sparse after sparsify)."""
    return W.toarray() if sp.issparse(W) else W


def _attempt(work, tolerate):
    """``work()``, or with ``tolerate`` the ``Exception`` it raised."""
    try:
        return work()
    except Exception as error:
        if not tolerate:
            raise
        return error


def _seed(random_state):
    """An integer seed from None, an int, a RandomState or a Generator."""
    if random_state is None:
        return None
    if isinstance(random_state, Integral):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    return int(random_state.randint(np.iinfo(np.int32).max))


def _is_auto(dtype):
    return isinstance(dtype, str) and dtype == "auto"


def _float_type(dtype):
    """``dtype`` (a name, a numpy type or a dtype) as float32 or float64; anything else
    is refused with the value named."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be 'auto', np.float32 or np.float64 (or their names); "
                         f"got dtype={dtype!r}.")
    return resolved
