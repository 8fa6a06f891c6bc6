"""What several solvers share: the result they return, their finite check, the +-1
targets, the start of L-BFGS and subspace descent, the objective of a fitted linear model,
and the arrays and backend a fit trains with."""

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._threads import one_blas_thread
from ..backends import auto_backend, get_backend


@dataclass
class SolverResult:
    """What a solver hands back to an estimator."""

    coefs: list
    intercepts: list
    n_iter: int
    converged: bool
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    #: Early stopping: the held-out rows' mean loss per epoch, and the epoch (from 0)
    #: whose weights were kept.
    validation_losses: list = field(default_factory=list)
    best_epoch: int = None
    best_loss: float = np.inf
    state: dict = None
    #: The algorithm that ran (a key of :data:`table.SOLVERS`).
    solver: str = None
    #: Dual coordinate descent's dual variables (binary and one-vs-rest: shape
    #: ``(n_outputs, n_samples)``), from which a fit at another C may start.
    duals: np.ndarray = None
    #: A minibatch fit ended by Ctrl-C; ``resume`` is what its loop needs to go on.
    interrupted: bool = False
    resume: dict = None
    #: The rows a minibatch solver trained on (less a validation split).
    train_rows: int = None


def _check_finite(value, solver):
    if not np.isfinite(value):
        raise FloatingPointError(
            f"The {solver!r} solver produced a non-finite objective ({value}); the fit "
            "diverged. Use a smaller learning_rate_init, scale the features (e.g. with "
            "StandardScaler), or a smaller C."
        )


#: Preconditioned L-BFGS also waits until the decrease a Newton step with that curvature
#: predicts is at most this times ``tol`` times the objective (1e-6 at the default
#: tol=1e-4). L-BFGS converges linearly, so each further digit costs as many iterations
#: as the last; Newton's method, which converges quadratically, asks for one more.
LBFGS_DECREMENT_FACTOR = 1e-2
#: ... and this times ``tol`` for the binary and one-vs-rest heads, where L-BFGS stands
#: in for Newton's method (``table.choose``) and stops on its test (1e-7 at tol=1e-4):
#: it costs them at most a step or two (the curvature at ``W = 0`` is their Hessian
#: there); on the multinomial head's approximate one it cost digits 25% more iterations.
LBFGS_MARGIN_DECREMENT_FACTOR = 1e-3


#: Dual coordinate descent also stops a binary or one-vs-rest problem once its duality
#: gap is at most this times ``tol`` times its objective (a certified relative accuracy
#: of 1e-7 at the default tol=1e-4, as Newton's method's), which on sparse text comes
#: after 21 epochs where liblinear's projected-gradient test at ``tol`` needs 31.
DUAL_GAP_FACTOR = 1e-3


def _signed_targets(y, head, n_outputs):
    """The +-1 target of every row and output of the binary and one-vs-rest heads."""
    if head == "binary":
        return (2.0 * y - 1.0)[:, None]
    return np.where(y[:, None] == np.arange(n_outputs), 1.0, -1.0)


def linear_start(X, s, *, C, n_outputs, fit_intercept, intercept_penalty, coef_init=None,
                 intercept_init=None, y=None, loss=None, head=None):
    """Where L-BFGS and subspace descent start, and the scale of their objective:
    ``(l2, C, scale, rho, theta)``.

    ``C=None`` is the unpenalised model (LogisticRegression's C=np.inf): ``l2 = 0`` and
    ``C = 1``; otherwise ``l2 = 1``. Both minimise the objective times ``scale = 1 / (C *
    sum(s))`` (the mean weighted loss plus a scaled penalty, as scikit-learn's
    LogisticRegression does). ``rho`` is the intercept's penalty (0 without one);
    ``theta`` the flat ``[W.ravel(), b]`` of the start: ``coef_init`` and
    ``intercept_init`` where given, else zero weights and, for the log loss with an
    unpenalised intercept, the intercept-only model's optimum (:func:`_prior_intercept`).
    """
    n_features = X.shape[1]
    l2 = 0.0 if C is None else 1.0
    C = 1.0 if C is None else C
    scale = 1.0 / (C * float(np.sum(s)))
    size = n_features * n_outputs
    theta = np.zeros(size + n_outputs)
    rho = intercept_penalty if fit_intercept else 0.0
    if coef_init is not None:
        theta[:size] = np.asarray(coef_init, dtype=np.float64).ravel()
        theta[size:] = np.asarray(intercept_init, dtype=np.float64)
    elif fit_intercept and rho == 0 and loss == "log_loss" and y is not None:
        theta[size:] = _prior_intercept(y, s, head, n_outputs)
    return l2, C, scale, rho, theta


def _prior_intercept(y, s, head, n_outputs):
    """The log loss's optimal intercept where every weight is zero: the log-odds of the
    weighted class frequencies (centred for the multinomial head). Where a class has no
    weight its optimum is infinite, and every output starts from zero instead.

    Where the penalty dominates (a small C, as at the start of a regularization path)
    the optimum is close to it, and the intercept of a rare class, whose curvature is
    its tiny frequency, is the slowest coordinate to reach from zero: on 55 text classes
    at C=1e-4, 100 iterations did not get there.
    """
    totals = np.bincount(y, weights=s, minlength=max(n_outputs, 2))
    frequencies = totals / totals.sum()
    if not np.all(frequencies > 0):
        return np.zeros(n_outputs)
    if head == "binary":
        return np.array([np.log(frequencies[1] / frequencies[0])])
    if head == "ovr":
        return np.log(frequencies / (1.0 - frequencies))
    logs = np.log(frequencies)
    return logs - logs.mean()


def one_blas_thread_on_sparse(solver):
    """``solver`` with BLAS held to one thread where X is sparse.

    On sparse X the solver's own BLAS work is on vectors and a few small matrices while
    the backend's passes over X run on several threads: BLAS's idle threads would spin on
    the cores the backend needs (``sksvmnet._threads``).
    """
    @functools.wraps(solver)
    def run(X, y, s, **kwargs):
        if not sp.issparse(X):
            return solver(X, y, s, **kwargs)
        with one_blas_thread():
            return solver(X, y, s, **kwargs)
    return run


def linear_objective(result, X, y, s, *, backend, C, loss, head, fit_intercept,
                     intercept_penalty, l1=False):
    """Primal objective of a fitted linear model divided by ``C * sum(s)``.

    With ``l1`` the penalty is liblinear's ``||w||_1`` over the weights and the intercept
    feature; ``C=None`` means no penalty.
    """
    W = np.asarray(result.coefs[0], dtype=np.float64)
    b = np.asarray(result.intercepts[0], dtype=np.float64)
    C_value = 1.0 if C is None else C
    value, _, _ = backend.linear_value_grad(
        W, b, X, y, s, C=C_value, loss=loss, head=head,
        intercept_penalty=0.0 if l1 else intercept_penalty, fit_intercept=fit_intercept,
        l2=0.0 if (C is None or l1) else 1.0)
    if l1:
        value += float(np.abs(W).sum())
        if fit_intercept and intercept_penalty > 0:
            value += float(np.abs(b).sum()) * np.sqrt(intercept_penalty)
    return float(value) / (C_value * float(np.sum(s)))


def resolve_backend(name, n_samples=0, layer_sizes=()):
    """``(name, module)`` of the backend to train with (see ``backends.auto_backend``)."""
    if name == "auto":
        name = auto_backend(n_samples, layer_sizes)
    return name, get_backend(name)


def as_training_array(X, dtype):
    """X in the training dtype: CSR for sparse input, C-ordered otherwise (no copy if it
    is). Raises a ``ValueError`` where X (finite, as checked before) holds values beyond
    the range of a narrower training dtype, which the cast would turn into infinities."""
    values = X.data if sp.issparse(X) else X
    largest = float(np.finfo(dtype).max)
    if values.size and float(np.finfo(values.dtype).max) > largest:
        beyond = max(float(values.max()), -float(values.min()))
        if beyond > largest:
            raise ValueError(
                f"X holds values up to {beyond:.3g} in absolute value, beyond the range "
                f"of {np.dtype(dtype).name} ({largest:.3g}), the type training runs in "
                f"(see the estimator's dtype). Scale the features (e.g. with "
                f"StandardScaler) or pass dtype=np.float64.")
    if sp.issparse(X):
        return X.tocsr().astype(dtype, copy=False)
    return np.ascontiguousarray(X, dtype=dtype)
