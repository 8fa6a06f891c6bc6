"""Coordinate descent: liblinear's dual for the hinge and the squared hinge (every SVM
head), the dual of the multinomial log loss, and liblinear's primal for the L1-penalised
squared hinge. The sweeps are the backend's."""

import numpy as np
import scipy.sparse as sp

from ._common import DUAL_GAP_FACTOR, SolverResult


#: Dual coordinate descent visits the samples in a random order, so two fits stop at
#: different points within their tolerance. On binary and one-vs-rest problems this
#: small (rows times features times outputs: the shape, so that dense and sparse X are
#: alike), it runs both of its tests at ``SMALL_PROBLEM_TOL`` where ``tol`` is larger (a
#: certified gap of 1e-11 of the objective at most): the model then no longer depends on
#: the order, nor on X being dense or sparse, to 1e-5 for the squared hinge. (The
#: Crammer-Singer and Weston-Watkins duals converge too slowly where rows outnumber
#: features for that to be cheap, and their promise is 1e-3.)
SMALL_PROBLEM_ENTRIES = 2 ** 21
SMALL_PROBLEM_TOL = 1e-8


#: Dual coordinate descent for the multinomial log loss runs where ``C`` times the mean
#: squared norm of the rows is at most this. That product scales the dual's quadratic
#: term against its entropy, and the dual's conditioning with it. On the Debian text
#: (15,000 x 106,837 TF-IDF rows of norm 1, 58 classes) it stopped after 9, 9, 12, 33
#: and 98 epochs at C = 0.1, 1, 3, 10 and 30 (3-12x faster than subspace descent there,
#: at lower objectives), after 345 at C = 100 (0.8x subspace descent's time), and ran
#: out of 1,000 at C = 1,000.
DCD_LOG_MAX_SCALE = 30.0
#: ... and where at most this fraction of X's entries are non-zero. The dual's epoch
#: costs the same per non-zero whatever X's format, while the primal solvers multiply a
#: dense array by BLAS: on fully dense arrays the dual took about 2-4x subspace
#: descent's time at every C |x|^2 from 1 to 90 (``make_classification``, 667 x 1,000
#: standardised or raw with 10 classes, 500 x 2,000 with 5, 300 x 3,000 with 20), and
#: 1.1-1.6x on class centres plus noise (667 x 3,000, 10 classes). With a tenth of
#: the entries non-zero it took 1.0-1.4x and 0.2-0.4x of it, with a twentieth 0.7-0.8x.
#: A count rather than the format decides, so that a dense array and a sparse matrix
#: of the same values train the same model.
DCD_LOG_MAX_DENSITY = 0.1


def dcd_log_suits(X, C, n_outputs):
    """Whether ``solver='auto'`` should train the multinomial log loss on X by dual
    coordinate descent: at most :data:`DCD_LOG_MAX_DENSITY` of X's entries non-zero
    (counted, so a dense array and a sparse matrix of the same values agree), no more
    rows than features (LinearSVC's rule for its dual),
    ``C`` times the mean squared norm of the rows at most :data:`DCD_LOG_MAX_SCALE`
    (a pass over X's stored values; the sample weights are not read), and more than
    ``SMALL_PROBLEM_ENTRIES`` rows times features times outputs. ``C=None`` (no
    penalty): never.

    On smaller problems the primal solvers take milliseconds and are deterministic;
    the dual's model depends on its random order within its tolerance, and the dual
    of the log loss, unlike the SVM's, cannot cheaply be run to where it no longer
    does (:data:`SMALL_PROBLEM_TOL`): scikit-learn's check that
    weights equal repeated rows failed on a 15 x 30 problem."""
    n, d = X.shape
    if C is None or n > d or n * d * n_outputs <= SMALL_PROBLEM_ENTRIES:
        return False
    values = X.data if sp.issparse(X) else np.ravel(X)
    if np.count_nonzero(values) > DCD_LOG_MAX_DENSITY * n * d:
        return False
    squares = float(np.dot(values, values))
    return C * squares / n <= DCD_LOG_MAX_SCALE


def dcd(X, y, s, *, backend, C, loss, head, n_outputs, fit_intercept, intercept_scaling,
        tol, max_iter, random_state, dual_init=None):
    """Dual coordinate descent (liblinear's algorithm) for hinge and squared hinge.

    It starts from zero, as liblinear does, or (binary and one-vs-rest) from the dual
    variables ``dual_init`` of a fit on the same rows at another C: the regularization
    path of the CV estimators.
    """
    seed = int(random_state.integers(np.iinfo(np.int32).max))

    def run(tol):
        return backend.dcd(
            X, y, s, C=C, loss=loss, head=head, intercept_scaling=intercept_scaling,
            fit_intercept=fit_intercept, n_outputs=n_outputs, tol=tol, max_iter=max_iter,
            seed=seed, gap_tol=DUAL_GAP_FACTOR * tol,
            dual_init=dual_init)

    small = (head in ("binary", "ovr")
             and X.shape[0] * X.shape[1] * n_outputs <= SMALL_PROBLEM_ENTRIES)
    W, b, n_iter, converged, objective, duals = run(min(tol, SMALL_PROBLEM_TOL) if small else tol)
    if small and not converged and tol > SMALL_PROBLEM_TOL:
        # The tighter test is ours, not the user's: whether a run at ``tol`` converges
        # decides the warning (on tiny text problems at C=10, 1 fit in 250 ran out of
        # max_iter at 1e-8 and none at 1e-4). The model is the longer run's.
        converged = run(tol)[3]
    # The objective the kernel computed (binary and one-vs-rest) spares the estimator a
    # pass for it, whose gradient and scratch took twice the weights' memory on text.
    loss_curve = [] if objective is None else [objective / (C * float(np.sum(s)))]
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        loss_curve=loss_curve, solver="dcd", duals=duals)


def dcd_log(X, y, s, *, backend, C, n_outputs, fit_intercept, tol, max_iter,
            random_state):
    """Dual coordinate descent for the multinomial log loss (Yu, Huang and Lin, 2011):
    one row's dual variables (its predicted probabilities times ``C s_i``) at a time.

    It starts from the model that predicts each row's own class with probability
    ``1 - 1e-3`` (W near zero), never from given weights: like LinearSVC's dual, it
    has no use for a primal warm start. It stops once the duality gap with the
    intercept held is at most ``DUAL_GAP_FACTOR * tol`` times the objective and the
    intercept's gradient passes L-BFGS's scaled test at ``tol``; ``max_iter`` counts
    epochs (sweeps over the rows).
    """
    seed = int(random_state.integers(np.iinfo(np.int32).max))
    W, b, n_iter, converged, objective = backend.dcd_log(
        X, y, s, C=C, fit_intercept=fit_intercept, n_outputs=n_outputs, tol=tol,
        max_iter=max_iter, seed=seed, gap_tol=DUAL_GAP_FACTOR * tol)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        loss_curve=[objective / (C * float(np.sum(s)))], solver="dcd_log")


def cd_l1(X, y, s, *, backend, C, head, n_outputs, fit_intercept, intercept_scaling, tol,
          max_iter):
    """Primal coordinate descent for the L1-penalised squared-hinge SVM."""
    W, b, n_iter, converged = backend.cd_l1(
        X, y, s, C=C, head=head, intercept_scaling=intercept_scaling,
        fit_intercept=fit_intercept, n_outputs=n_outputs, tol=tol, max_iter=max_iter)
    return SolverResult(coefs=[W], intercepts=[b], n_iter=n_iter, converged=converged,
                        solver="cd")
