"""The objective's curvature: where forming it pays (:func:`newton_suits`), its value at
``W = 0`` (what L-BFGS and subspace descent are preconditioned with), and the dense
factorisations that solve with it."""

import numpy as np
import scipy.linalg
import scipy.special
import scipy.sparse as sp

from .._losses import MARGIN_CURVATURES


#: Newton's method forms a (d+1) x (d+1) Hessian per output from the rows in the margin,
#: ``n d^2`` multiply-adds; above this many features L-BFGS's ``n d`` per iteration wins.
NEWTON_MAX_FEATURES = 1000


def newton_suits(X):
    """Whether ``solver='auto'`` should train the linear model on X by Newton's method
    (and L-BFGS precondition it): more rows than features, and at most
    ``NEWTON_MAX_FEATURES`` of them. The shape decides, not the format: a sparse X of
    that shape is multiplied as sparse, and runs the algorithm its dense twin runs."""
    return X.shape[0] > X.shape[1] and X.shape[1] <= NEWTON_MAX_FEATURES


#: Newton's method runs in one compiled loop (``backend.newton_small``) where its
#: Hessians cost at most this many multiply-adds an iteration, ``n (d+1)^2 K``: there
#: the arithmetic takes microseconds and Python's calls around it (a few per output and
#: iteration) would take milliseconds. (Breast cancer, 426 x 30: 0.4e6; wine and iris a
#: tenth of that; digits one-vs-rest, 1,347 x 64 x 10: 57e6, where the Hessians of all
#: outputs at once on BLAS win.)
SMALL_NEWTON_WORK = 2 ** 20


def newton_small_suits(X, n_outputs):
    """Whether Newton's method on X runs as one compiled loop (:data:`SMALL_NEWTON_WORK`):
    Newton's shape and little work an iteration. The shape decides, not the format."""
    n, d = X.shape
    return newton_suits(X) and n * (d + 1) ** 2 * n_outputs <= SMALL_NEWTON_WORK


#: Where :func:`newton_suits` holds (more rows than features, at most
#: ``NEWTON_MAX_FEATURES`` of them; dense or sparse), L-BFGS works in
#: coordinates whitened by the objective's curvature at ``W = 0``
#: (:func:`_preconditioner`), estimated from at most this many evenly spaced rows (ten
#: a feature at ``NEWTON_MAX_FEATURES``).
PRECONDITION_ROWS = 10_000


def _hessian_diagonal(X, s, backend, C, l2, rho, loss, head, n_outputs, fit_intercept,
                      intercept=None):
    """The diagonal of :func:`_preconditioner`'s matrix, over all rows, flat like theta.

    ``C c sum_n s_n x_nj^2 + l2`` for each feature and output, ``C c sum(s) + rho`` for
    each intercept. Entries that would be zero (an empty column without a penalty) are
    one: their gradient stays zero. ``c`` is the head's curvature at zero outputs, or,
    for the log loss with zero weights and the intercept ``intercept`` (every row's
    outputs), each output's own there: the diagonal of the Hessian at that point.
    """
    if intercept is not None and loss == "log_loss":
        c = C * _log_loss_curvatures(intercept, head)
    else:
        c = np.full(n_outputs, C * _curvature_at_zero(loss, head, n_outputs))
    s = np.asarray(s, np.float64)[:, None]
    if sp.issparse(X):
        X = X.tocsr()  # (no copy for the CSR X that estimators pass)
        columns = sp.csr_matrix((np.square(X.data, dtype=np.float64), X.indices, X.indptr),
                                shape=X.shape)
        weights = backend.transposed_product(columns, s)
    else:  # by blocks of rows: squaring all of X at once would copy it
        weights = np.zeros((X.shape[1], 1))
        for lo in range(0, X.shape[0], PRECONDITION_ROWS):
            block = np.square(X[lo:lo + PRECONDITION_ROWS], dtype=np.float64)
            weights += block.T @ s[lo:lo + PRECONDITION_ROWS]
    intercepts = c * float(np.sum(s)) + rho if fit_intercept else np.ones(n_outputs)
    diagonal = np.concatenate([(weights[:, :1] * c[None, :] + l2).ravel(), intercepts])
    diagonal[diagonal <= 0] = 1.0
    return diagonal


def _log_loss_curvatures(intercept, head):
    """Each output's curvature of the log loss where every row's outputs are
    ``intercept``: ``p (1 - p)``, with ``p`` the softmax (multinomial) or the sigmoid."""
    b = np.asarray(intercept, dtype=np.float64)
    if head != "multinomial":
        return MARGIN_CURVATURES["log_loss"](b)
    p = scipy.special.softmax(b)
    return p * (1.0 - p)


def _preconditioner(X, s, backend, C, l2, rho, loss, head, n_outputs, fit_intercept):
    """Lower Cholesky factor of ``C c A^T S A + diag(l2, ..., l2, rho)``.

    ``A`` is X with a column of ones when there is an intercept, ``S`` the sample weights
    and ``c`` the loss's curvature at zero outputs. That is each output's Hessian at
    ``W = 0`` for the binary and one-vs-rest heads (``c = l''(0)``) and for the
    multinomial (``c = 1/K``: its Hessian there is ``A^T S A`` times ``I/K - 1 1^T / K^2``,
    so this is it but along the direction the softmax ignores). For Weston-Watkins,
    ``c = 2 l''(0)`` matches the Hessian's ``2 l''(0) (I - 1 1^T / K)`` of balanced
    classes; for Crammer-Singer (trained through a soft maximum of the rivals)
    ``l''(0)`` is only a scale. ``A^T S A`` comes from an evenly spaced subset of the
    rows, scaled to all of them, which is plenty for a preconditioner.
    """
    n, d = X.shape
    curvature = _curvature_at_zero(loss, head, n_outputs)
    m = min(n, PRECONDITION_ROWS)  # evenly spaced, increasing, first and last included
    rows = np.arange(m, dtype=np.int64) * (n - 1) // max(m - 1, 1)
    weights = np.asarray(s, dtype=np.float64)[rows]
    keep = weights > 0
    H, v, total = backend.weighted_gram(X, rows[keep], weights[keep])
    factor = C * curvature * float(np.sum(s)) / max(total, 1e-300)
    M = factor * np.asarray(H, dtype=np.float64)
    M[np.diag_indices(d)] += l2
    if fit_intercept:
        M = _bordered(M, factor * np.asarray(v, dtype=np.float64), factor * total + rho)
    return _cholesky(M)


def _curvature_at_zero(loss, head, n_outputs):
    """``c`` of :func:`_preconditioner`: the head's curvature at zero outputs."""
    if head == "multinomial":
        return 1.0 / n_outputs
    curvature = float(MARGIN_CURVATURES[loss](np.zeros(1))[0])
    return 2.0 * curvature if head == "weston_watkins" else curvature


def _bordered(H, v, corner):
    """``[[H, v], [v^T, corner]]``: a Hessian with the intercept's row and column."""
    return np.block([[H, v[:, None]], [v[None, :], np.array([[corner]])]])


def _cholesky(M):
    """Lower Cholesky factor of a symmetric positive (semi-)definite M, damped if needed."""
    if not np.all(np.isfinite(M)):
        raise FloatingPointError(
            "The curvature matrix of the data (X^T X) has non-finite entries: the "
            "features are too large for the training dtype. Scale them (e.g. with "
            "StandardScaler) or train in float64.")
    damping = 0.0
    scale = max(float(np.trace(M)) / len(M), 1e-300)
    while True:
        try:
            return scipy.linalg.cholesky(M + damping * np.eye(len(M)) if damping else M,
                                         lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            damping = max(10.0 * damping, 1e-12 * scale)


def _solve_factored(L, g):
    """``(L L^T)^{-1} g`` for a lower Cholesky factor ``L``."""
    return scipy.linalg.cho_solve((L, True), g, check_finite=False)


def _low_rank_solve(M, g, L, U, weights, tolerance):
    """``M^{-1} g`` where ``M = L L^T + U diag(weights) U^T`` (``L`` a Cholesky factor, U
    of few columns), by the Sherman-Morrison-Woodbury identity: solves with L for g and
    U's columns, and an r x r system. Returns None where the result's residual in M is
    above ``tolerance`` times ``|g|`` (the factor was damped, or cancellation)."""
    solved = _solve_factored(L, np.column_stack([g, U]))
    base, Y = solved[:, 0], solved[:, 1:]
    capacitance = np.diag(1.0 / weights) + U.T @ Y
    try:
        x = base - Y @ np.linalg.solve(capacitance, U.T @ base)
    except np.linalg.LinAlgError:
        return None
    residual = M @ x - g
    if not np.sqrt(residual @ residual) <= tolerance * np.sqrt(g @ g):
        return None
    return x
