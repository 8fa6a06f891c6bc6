"""liblinear's dual coordinate descent: binary and one-vs-rest (one output per thread),
Weston-Watkins and Crammer-Singer, with duality-gap stopping tests."""

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ._codes import LOSS_CODES, _HINGE, _SQUARED_HINGE
from .rows import (
    PREFETCH_MIN_BYTES,
    _as_kernel_data,
    _mean_row_bytes,
    _prefetch_ahead,
    _row_axpy,
    _row_axpy_column,
    _row_dot,
    _row_sqnorm,
    _row_times_matrix,
    _shuffle,
    _shuffle_state,
)


@njit(cache=True)
def _dcd_binary(Xd, data, indices, indptr, sparse, t, cw, loss, B, tol, gap_tol,
                max_iter, seed, w, wb, alpha, prefetch_bytes):
    """liblinear's dual coordinate descent with shrinking (Hsieh et al. 2008).

    Solves ``min 1/2 ||w||^2 + 1/2 wb^2 + sum_i cw_i l(t_i (w x_i + B wb))`` for the hinge
    or squared hinge ``l``; ``B`` is the intercept scaling (0 without an intercept). The
    descent starts from the dual variables ``alpha`` and their weights ``w``, ``wb`` (a
    length-1 array), ``w = sum alpha_i t_i x_i``, ``wb = B sum alpha_i t_i``: zeros, or a
    feasible point's (a warm start); all three are updated in place.

    Stops on liblinear's test (the projected gradients span at most ``tol``) or once the
    duality gap certifies the primal objective within ``gap_tol`` of the optimum,
    relatively (0 turns the second test off). The gap costs a pass over the data, so it
    is computed after the first two epochs and then where its decay between the last two
    checks predicts it will be small enough (see :func:`_next_gap_check`). Returns
    ``(n_iter, converged, primal)``: the primal objective at the final weights (from the
    last gap test, or from a pass at the end).

    An epoch whose rows hold more than ``prefetch_bytes`` asks for each row a few visits
    before it reaches it (:func:`~.rows._prefetch_ahead`).
    """
    n = t.shape[0]
    state = _shuffle_state(seed)
    upper = np.empty(n)
    diag = np.empty(n)
    QD = np.empty(n)
    index = np.empty(n, dtype=np.int64)
    active = 0
    for i in range(n):
        if loss == _HINGE:
            upper[i] = cw[i]
            diag[i] = 0.0
        else:
            upper[i] = np.inf
            diag[i] = 0.5 / cw[i] if cw[i] > 0.0 else 0.0
        QD[i] = _row_sqnorm(Xd, data, indices, indptr, sparse, i) + B * B + diag[i]
        # An all-zero row without intercept (hinge: QD = 0) only adds a constant.
        if cw[i] > 0.0 and QD[i] > 0.0:
            index[active] = i
            active += 1
    n_active_total = active
    row_bytes = _mean_row_bytes(Xd, data, indices, indptr, sparse)
    pg_max_old = np.inf
    pg_min_old = -np.inf
    it = 0
    converged = False
    next_check, last_check, last_gap = 1, 0, -1.0
    while it < max_iter:
        it += 1
        pg_max = -np.inf
        pg_min = np.inf
        state = _shuffle(index, active, state)
        fetch_ahead = active * row_bytes > prefetch_bytes
        s = 0
        while s < active:
            if fetch_ahead:
                _prefetch_ahead(Xd, data, indices, indptr, sparse, index, s, active)
            i = index[s]
            ti = t[i]
            G = ti * (_row_dot(Xd, data, indices, indptr, sparse, i, w) + B * wb[0])
            G += -1.0 + diag[i] * alpha[i]
            PG = 0.0
            if alpha[i] == 0.0:
                if G > pg_max_old:
                    active -= 1
                    index[s], index[active] = index[active], index[s]
                    continue
                if G < 0.0:
                    PG = G
            elif alpha[i] == upper[i]:
                if G < pg_min_old:
                    active -= 1
                    index[s], index[active] = index[active], index[s]
                    continue
                if G > 0.0:
                    PG = G
            else:
                PG = G
            pg_max = max(pg_max, PG)
            pg_min = min(pg_min, PG)
            if abs(PG) > 1e-12:
                old = alpha[i]
                alpha[i] = min(max(old - G / QD[i], 0.0), upper[i])
                step = (alpha[i] - old) * ti
                _row_axpy(Xd, data, indices, indptr, sparse, i, step, w)
                wb[0] += step * B
            s += 1
        if pg_max - pg_min <= tol:
            if active == n_active_total:
                converged = True
                break
            # Converged on the shrunk set: check every sample again before stopping.
            active = n_active_total
            pg_max_old = np.inf
            pg_min_old = -np.inf
            continue
        if gap_tol > 0.0 and it >= next_check:
            gap, primal = _duality_gap(Xd, data, indices, indptr, sparse, t, cw, loss, B,
                                       QD, alpha, diag, w, wb[0])
            if gap <= gap_tol * primal:
                return it, True, primal
            next_check = _next_gap_check(it, gap, last_check, last_gap, gap_tol * primal)
            last_check, last_gap = it, gap
        pg_max_old = pg_max if pg_max > 0.0 else np.inf
        pg_min_old = pg_min if pg_min < 0.0 else -np.inf
    primal = _duality_gap(Xd, data, indices, indptr, sparse, t, cw, loss, B, QD, alpha,
                          diag, w, wb[0])[1]
    return it, converged, primal


@njit(cache=True)
def _duality_gap(Xd, data, indices, indptr, sparse, t, cw, loss, B, QD, alpha, diag, w,
                 wb):
    """``(P(w) - D(alpha), P(w))`` of the problem :func:`_dcd_binary` solves.

    ``D(alpha) = sum alpha - |w~|^2 / 2 - sum diag_i alpha_i^2 / 2`` with ``w~ = (w, wb)``
    the weights of ``alpha``; ``P - D >= P - min P``. Rows left out of the descent (zero
    weight ``cw``, or ``QD`` zero: empty without intercept under the hinge) add the same
    constant to both and are skipped.
    """
    norm = wb * wb
    for j in range(w.shape[0]):
        norm += w[j] * w[j]
    primal = 0.5 * norm
    dual = -0.5 * norm
    for i in range(t.shape[0]):
        if not (cw[i] > 0.0 and QD[i] > 0.0):
            continue
        m = 1.0 - t[i] * (_row_dot(Xd, data, indices, indptr, sparse, i, w) + B * wb)
        if m > 0.0:
            primal += cw[i] * (m if loss == _HINGE else m * m)
        dual += alpha[i] - 0.5 * diag[i] * alpha[i] * alpha[i]
    return primal - dual, primal


@njit(cache=True)
def _next_gap_check(epoch, gap, last_epoch, last_gap, target):
    """The epoch after which to compute the duality gap next.

    The gap falls about geometrically: from its decay since the last check (at
    ``last_epoch``, ``last_gap``; ``last_gap < 0`` when there was none) predict the
    epochs it needs to reach ``target`` and check after 80% of them, at least one and
    at most four times the epochs since the last check, so that a misprediction costs a
    check, not a long run past the target. Where the gap did not fall, check after the
    next epoch.
    """
    if last_gap <= 0.0 or not (0.0 < gap < last_gap) or not (target > 0.0):
        return epoch + 1
    span = epoch - last_epoch
    ahead = 0.8 * span * (np.log(gap) - np.log(target)) / (np.log(last_gap) - np.log(gap))
    if not (ahead >= 1.0):  # also NaN
        return epoch + 1
    return epoch + int(np.ceil(min(ahead, 4.0 * span)))


@njit(cache=True, parallel=True)
def _dcd_one_vs_rest(Xd, data, indices, indptr, sparse, T, cw, loss, B, tol, gap_tol,
                     max_iter, seeds, W, Wb, A, n_iter, converged, primals,
                     prefetch_bytes):
    """The binary problems of one-vs-rest, independent, spread over the cores.

    Row ``k`` of ``T`` holds the +-1 targets of output ``k``; its descent starts from
    the dual variables ``A[k]`` and their weights ``W[k]``, ``Wb[k]``, which it leaves
    at the solution; its primal objective goes to ``primals[k]``. No BLAS runs here,
    so the threads compete with nothing.
    """
    for k in prange(T.shape[0]):
        n_iter[k], converged[k], primals[k] = _dcd_binary(
            Xd, data, indices, indptr, sparse, T[k], cw, loss, B, tol, gap_tol, max_iter,
            seeds[k], W[k], Wb[k:k + 1], A[k], prefetch_bytes)


@njit(cache=True)
def _visited_rows(Xd, data, indices, indptr, sparse, cw, B):
    """``(sqnorm, order, n_used)`` of the multi-class descents: each row's squared norm
    with its intercept column (``+ B^2``), and the ``n_used`` rows they visit, first in
    ``order``: those of positive weight and non-zero norm (an all-zero row without
    intercept only adds a constant to the objective)."""
    n = cw.shape[0]
    sqnorm = np.empty(n)
    order = np.empty(n, dtype=np.int64)
    n_used = 0
    for i in range(n):
        sqnorm[i] = _row_sqnorm(Xd, data, indices, indptr, sparse, i) + B * B
        if cw[i] > 0.0 and sqnorm[i] > 0.0:
            order[n_used] = i
            n_used += 1
    return sqnorm, order, n_used


@njit(cache=True)
def _dcd_weston_watkins(Xd, data, indices, indptr, sparse, y, cw, loss, B, tol,
                        max_iter, seed, W, Wb, prefetch_bytes):
    """Dual coordinate descent for the Weston-Watkins multi-class SVM.

    One dual variable per sample and rival class ``j``, for the constraint
    ``(w_y - w_j) x_i >= 1 - xi_ij``; each update is the binary DCD step on the pair.
    ``W`` (n_features, K) and ``Wb`` (K,) are updated in place.
    """
    n = y.shape[0]
    K = W.shape[1]
    state = _shuffle_state(seed)
    alpha = np.zeros((n, K))
    sqnorm, order, active = _visited_rows(Xd, data, indices, indptr, sparse, cw, B)
    row_bytes = _mean_row_bytes(Xd, data, indices, indptr, sparse)
    f = np.empty(K)
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        state = _shuffle(order, active, state)
        fetch_ahead = active * row_bytes > prefetch_bytes
        pg_max = -np.inf
        pg_min = np.inf
        for s in range(active):
            if fetch_ahead:
                _prefetch_ahead(Xd, data, indices, indptr, sparse, order, s, active)
            i = order[s]
            yi = y[i]
            if loss == _HINGE:
                upper = cw[i]
                diag = 0.0
            else:
                upper = np.inf
                diag = 0.5 / cw[i]
            _row_times_matrix(Xd, data, indices, indptr, sparse, i, W, f)
            for k in range(K):
                f[k] += B * Wb[k]
            for j in range(K):
                if j == yi:
                    continue
                a = alpha[i, j]
                G = f[yi] - f[j] - 1.0 + diag * a
                PG = G
                if a == 0.0 and G > 0.0:
                    PG = 0.0
                elif a == upper and G < 0.0:
                    PG = 0.0
                pg_max = max(pg_max, PG)
                pg_min = min(pg_min, PG)
                if abs(PG) > 1e-12:
                    new = min(max(a - G / (2.0 * sqnorm[i] + diag), 0.0), upper)
                    delta = new - a
                    alpha[i, j] = new
                    _row_axpy_column(Xd, data, indices, indptr, sparse, i, delta, W, yi)
                    _row_axpy_column(Xd, data, indices, indptr, sparse, i, -delta, W, j)
                    Wb[yi] += delta * B
                    Wb[j] -= delta * B
                    f[yi] += delta * sqnorm[i]
                    f[j] -= delta * sqnorm[i]
        if pg_max - pg_min <= tol:
            converged = True
            break
    return it, converged


@njit(cache=True, fastmath={"reassoc", "contract"})
def _dense_row_dot(Xd, i, w):
    """``Xd[i] @ w``, summed in SIMD lanes (the reassociation lets them)."""
    acc = 0.0
    for j in range(Xd.shape[1]):
        acc += Xd[i, j] * w[j]
    return acc


@njit(cache=True)
def _row_times_classes(Xd, data, indices, indptr, sparse, i, W, classes, k, full, out):
    """``out[q] = x_i @ w_m`` for the classes ``m = classes[q]``, ``q < k``.

    ``W`` holds the classes' weights ``w_m`` as :func:`_dcd_crammer_singer` lays them
    out: rows of a (K, n_features) array for dense data, columns of an (n_features, K)
    array for CSR data. ``full`` is scratch of length K: with most classes in play a
    sparse row's products with all of them are formed with unit strides and gathered.
    """
    if not sparse:
        for q in range(k):
            out[q] = _dense_row_dot(Xd, i, W[classes[q]])
        return
    if 2 * k > W.shape[1]:
        _row_times_matrix(Xd, data, indices, indptr, sparse, i, W, full)
        for q in range(k):
            out[q] = full[classes[q]]
        return
    for q in range(k):
        out[q] = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        v = data[p]
        j = indices[p]
        for q in range(k):
            out[q] += v * W[j, classes[q]]


@njit(cache=True)
def _row_axpy_classes(Xd, data, indices, indptr, sparse, i, steps, classes, k, W):
    """``w_m += steps[q] * x_i`` for ``m = classes[q]``, ``q < k`` (layout as above)."""
    if not sparse:
        for q in range(k):
            _row_axpy(Xd, data, indices, indptr, sparse, i, steps[q], W[classes[q]])
        return
    for p in range(indptr[i], indptr[i + 1]):
        v = data[p]
        j = indices[p]
        for q in range(k):
            W[j, classes[q]] += steps[q] * v


@njit(cache=True)
def _cs_subproblem(A, A_y, Bv, Cv, yq, k, total, alpha_new, D, order):
    """Minimise ``sum_q A_q/2 a_q^2 + Bv_q a_q`` s.t. ``a_q <= Cv_q``, ``sum a_q = -rest``.

    One sample's step of the Crammer-Singer dual over its ``k`` classes in play. Every
    ``A_q`` is ``A`` but that of the true class, at ``yq`` (-1 when it is out of play),
    which is ``A_y``; ``Cv_q`` may be ``inf``. ``rest`` is the sum of the dual variables
    of the classes out of play, passed as ``total = rest + sum of the finite Cv_q``.

    Stationarity gives ``a_q = min(Cv_q, (beta - Bv_q) / A_q)``: ``a_q`` is capped from
    the breakpoint ``D_q = Bv_q + A_q Cv_q`` on, and ``beta`` is the root of the
    increasing piecewise-linear ``sum_q a_q(beta) + rest``. With the set ``U`` of
    uncapped classes, multiplied by ``A``: ``beta sum_U rho_q = sum_U rho_q D_q -
    A total`` with ``rho_q = A / A_q`` (``D_q`` read as ``Bv_q`` where ``Cv_q`` is
    infinite). ``U`` holds the classes of the largest breakpoints, taken in decreasing
    order until ``beta`` reaches the next one; they are selected one at a time rather
    than sorted, as the solution rarely leaves more than a few classes uncapped.
    """
    for q in range(k):
        a_q = A_y if q == yq else A
        D[q] = Bv[q] + a_q * Cv[q]
        order[q] = q
    num = -A * total
    den = 0.0
    beta = 0.0
    for r in range(k):
        best = r
        for t in range(r + 1, k):
            if D[order[t]] > D[order[best]]:
                best = t
        q = order[best]
        if r > 0 and beta >= D[q]:
            break
        order[best], order[r] = order[r], q
        rho = A / A_y if q == yq else 1.0
        num += rho * (Bv[q] if Cv[q] == np.inf else D[q])
        den += rho
        beta = num / den
    for q in range(k):
        alpha_new[q] = min(Cv[q], (beta - Bv[q]) / (A_y if q == yq else A))


@njit(cache=True)
def _cs_duality_gap(Xd, data, indices, indptr, sparse, y, cw, loss, B, sqnorm, alpha,
                    W, Wb, every, full, f):
    """``(P(W) + F(alpha), P(W))`` of the problem :func:`_dcd_crammer_singer` solves.

    ``F`` is the dual objective it minimises (``-F`` is the Lagrange dual), so ``P + F
    >= P - min P``. With ``sum_m alpha_i^m = 0`` its linear term ``sum_{m != y_i}
    alpha_i^m`` is ``-alpha_i^{y_i}``. Rows left out of the descent (zero weight, or
    empty without intercept: their slack is 1 whatever ``W``, and their dual variables'
    best value cancels it) are skipped in both. ``W`` is laid out as in
    :func:`_dcd_crammer_singer`; ``every`` lists the classes ``0 .. K-1``, ``full`` and
    ``f`` are scratch of length K.
    """
    K = Wb.shape[0]
    norm = 0.0
    for m in range(K):
        norm += Wb[m] * Wb[m]
    for a in range(W.shape[0]):
        for b in range(W.shape[1]):
            norm += W[a, b] * W[a, b]
    primal = 0.5 * norm
    dual = 0.5 * norm
    for i in range(y.shape[0]):
        if not (cw[i] > 0.0 and sqnorm[i] > 0.0):
            continue
        _row_times_classes(Xd, data, indices, indptr, sparse, i, W, every, K, full, f)
        yi = y[i]
        rival = -np.inf
        for m in range(K):
            if m != yi:
                rival = max(rival, f[m] + B * Wb[m])
        slack = 1.0 + rival - (f[yi] + B * Wb[yi])
        if slack > 0.0:
            primal += cw[i] * (slack if loss == _HINGE else slack * slack)
        a = alpha[i, yi]
        dual -= a
        if loss == _SQUARED_HINGE:
            dual += a * a / (4.0 * cw[i])
    return primal + dual, primal


@njit(cache=True)
def _dcd_crammer_singer(Xd, data, indices, indptr, sparse, y, cw, loss, B, tol, gap_tol,
                        max_iter, seed, W, Wb, alpha, prefetch_bytes):
    """Sequential dual method for the Crammer-Singer SVM (Keerthi et al. 2008).

    Solves ``min 1/2 (||W||^2 + ||Wb||^2) + sum_i cw_i l(xi_i)`` with ``xi_i = max(0, 1 +
    max_{m != y_i} f_im - f_iy_i)``, ``f_im = w_m x_i + B Wb[m]``, for the hinge or the
    squared hinge ``l``, through liblinear's dual: ``w_m = sum_i alpha_i^m x_i`` (``Wb``
    likewise with ``B``), minimise ``F = 1/2 (||W||^2 + ||Wb||^2) + sum_i
    sum_{m != y_i} alpha_i^m [+ sum_i (alpha_i^{y_i})^2 / (4 cw_i)]`` subject to
    ``sum_m alpha_i^m = 0``, ``alpha_i^m <= 0`` for ``m != y_i`` and, for the hinge
    only, ``alpha_i^{y_i} <= cw_i``. Each step minimises ``F`` over one sample's
    variables (:func:`_cs_subproblem`). ``W``, ``Wb`` (K,) and ``alpha`` (n_samples, K),
    all zero (or consistent with each other), are updated in place. ``W`` holds
    ``w_m = W[m]`` in a (K, n_features) array for dense data, so that a row's products
    with a few classes' weights run over contiguous memory (in SIMD lanes), and ``w_m =
    W[:, m]`` in an (n_features, K) array for CSR data, where a feature's K weights share
    cache lines. Returns ``(n_iter, converged)``.

    Shrinking as liblinear's: a class at its bound whose gradient is below that of every
    class free to grow leaves the sample's subproblem, and a sample with one class left
    leaves the epoch; all come back once the violation falls below a threshold that
    halves down to ``tol``. Stops on liblinear's test (every sample's gradients over its
    classes span at most ``tol``, in an epoch that began with nothing shrunk) or once
    the duality gap certifies the primal objective within ``gap_tol`` of the optimum,
    relatively (0 turns the second test off; when to compute it: as
    :func:`_dcd_binary`).
    """
    n = y.shape[0]
    K = Wb.shape[0]
    squared = loss == _SQUARED_HINGE
    state = _shuffle_state(seed)
    sqnorm, order, n_used = _visited_rows(Xd, data, indices, indptr, sparse, cw, B)
    # Each sample's classes, those in its subproblem first.
    classes = np.empty((n, K), dtype=np.uint32)
    n_classes = np.full(n, K, dtype=np.int64)
    for i in range(n):
        for m in range(K):
            classes[i, m] = m
    f = np.empty(K)
    full = np.empty(K)
    G = np.empty(K)
    Bv = np.empty(K)
    Cv = np.empty(K)
    D = np.empty(K)
    sel = np.empty(K, dtype=np.int64)
    new = np.empty(K)
    steps = np.empty(K)
    moved = np.empty(K, dtype=np.uint32)
    every = np.arange(K).astype(np.uint32)
    active = n_used
    row_bytes = _mean_row_bytes(Xd, data, indices, indptr, sparse)
    shrink_tol = max(10.0 * tol, 1.0)
    from_all = True
    next_check, last_check, last_gap = 1, 0, -1.0
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        state = _shuffle(order, active, state)
        fetch_ahead = active * row_bytes > prefetch_bytes
        worst = 0.0
        s = 0
        while s < active:
            if fetch_ahead:
                _prefetch_ahead(Xd, data, indices, indptr, sparse, order, s, active)
            i = order[s]
            yi = y[i]
            A = sqnorm[i]
            c = cw[i]
            # The quadratic term of the true class gains (alpha^y)^2 / (4 c) from the
            # squared hinge, and loses its upper bound.
            A_y = A + 0.5 / c if squared else A
            cap = np.inf if squared else c
            k = n_classes[i]
            cls = classes[i]
            _row_times_classes(Xd, data, indices, indptr, sparse, i, W, cls, k, full, f)
            g_max = -np.inf
            g_min = np.inf
            for q in range(k):
                m = cls[q]
                a = alpha[i, m]
                if m == yi:
                    G[q] = f[q] + B * Wb[m] + (0.5 * a / c if squared else 0.0)
                    Cv[q] = cap
                else:
                    G[q] = f[q] + B * Wb[m] + 1.0
                    Cv[q] = 0.0
                g_max = max(g_max, G[q])
                if a < Cv[q]:
                    g_min = min(g_min, G[q])
            violation = g_max - g_min
            worst = max(worst, violation)
            q = 0
            while q < k:
                if alpha[i, cls[q]] == Cv[q] and G[q] < g_min:
                    k -= 1
                    cls[q], cls[k] = cls[k], cls[q]
                    G[q], G[k] = G[k], G[q]
                    Cv[q], Cv[k] = Cv[k], Cv[q]
                else:
                    q += 1
            n_classes[i] = k
            if k <= 1:
                active -= 1
                order[s], order[active] = order[active], order[s]
                continue
            s += 1
            if violation <= 1e-12:
                continue
            yq = -1
            for q in range(k):
                if cls[q] == yi:
                    yq = q
                Bv[q] = G[q] - (A_y if cls[q] == yi else A) * alpha[i, cls[q]]
            # The classes out of play sit at their bounds (0, or c for the hinge's true
            # class): the bounds' total is c for the hinge, in play or not, else 0.
            _cs_subproblem(A, A_y, Bv, Cv, yq, k, 0.0 if squared else c, new, D, sel)
            n_moved = 0
            for q in range(k):
                m = cls[q]
                step = new[q] - alpha[i, m]
                if step != 0.0:
                    alpha[i, m] = new[q]
                    steps[n_moved] = step
                    moved[n_moved] = m
                    n_moved += 1
                    Wb[m] += step * B
            _row_axpy_classes(Xd, data, indices, indptr, sparse, i, steps, moved, n_moved,
                              W)
        if worst <= shrink_tol:
            if worst <= tol and from_all:
                converged = True
                break
            active = n_used
            n_classes[:] = K
            shrink_tol = max(0.5 * shrink_tol, tol)
            from_all = True
        else:
            from_all = False
        if gap_tol > 0.0 and it >= next_check:
            gap, primal = _cs_duality_gap(Xd, data, indices, indptr, sparse, y, cw, loss,
                                          B, sqnorm, alpha, W, Wb, every, full, f)
            if gap <= gap_tol * primal:
                converged = True
                break
            next_check = _next_gap_check(it, gap, last_check, last_gap, gap_tol * primal)
            # The gap of the hinge often stalls, then drops within a few epochs once the
            # samples' supports settle, which a prediction from its past decay cannot
            # see: check again within half the epochs run so far, so that a drop is
            # seen at most 50% late (at the cost of a pass per 50% more epochs).
            next_check = min(next_check, it + max(1, it // 2))
            last_check, last_gap = it, gap
    return it, converged


#: Dense X with at most this fraction of non-zero entries is swept as a CSR copy: a row's
#: product then reads its non-zeros only. Raw MNIST pixels (19% non-zero, 10,000 rows,
#: the hinge, 1,000 epochs) took 4.5 s dense and 1.0 s as CSR, Fashion-MNIST's (50%)
#: 7.8 s and 4.6 s; on standardised data with a random half, quarter or none of its
#: entries zeroed, CSR was 2.0x, 1.4x faster and 1.1x slower. The copy (12 bytes a
#: non-zero) is smaller than the one liblinear makes of dense X (16 bytes a non-zero).
DCD_SPARSE_DENSITY = 0.5


def dcd(X, y, s, *, C, loss, head, intercept_scaling, fit_intercept, n_outputs, tol,
        max_iter, seed, gap_tol=0.0, dual_init=None,
        prefetch_min_bytes=PREFETCH_MIN_BYTES):
    """Linear SVM by dual coordinate descent, the liblinear algorithm.

    One-vs-rest and binary problems are solved one output at a time, each stopping on
    liblinear's test at ``tol`` or once its duality gap is at most ``gap_tol`` times its
    objective; Crammer-Singer jointly, on the same two tests; Weston-Watkins jointly, on
    liblinear's test alone.
    Returns ``(W, b, n_iter, converged, objective, duals)`` with ``W`` of shape
    ``(n_features, n_outputs)`` in float64, ``objective`` the primal objective ``J`` at
    ``(W, b)`` for the binary and one-vs-rest heads (the sum of the outputs' own, which
    their gap tests compute) and ``duals`` their dual variables, shape ``(n_outputs,
    n_samples)``; None for the other heads.

    ``dual_init`` (binary and one-vs-rest: such an array, from a fit on the same rows at
    another ``C``) starts the descent from those dual variables, projected onto this
    ``C``'s box (the hinge's upper bound ``C s_i``; none for the squared hinge), instead
    of from zero: a warm start along a regularization path.

    Dense X with at most ``DCD_SPARSE_DENSITY`` of its entries non-zero is swept as a
    CSR copy. The sweeps ask for the rows ahead of them (:func:`~.rows._prefetch_ahead`)
    in the epochs whose rows hold more than ``prefetch_min_bytes``; the fit is the same,
    bit for bit, whatever it is.
    """
    if loss not in ("hinge", "squared_hinge"):
        raise ValueError(f"dual coordinate descent solves the hinge and squared hinge "
                         f"losses; got loss={loss!r} (head={head!r})")
    if not sp.issparse(X) and np.count_nonzero(X) <= DCD_SPARSE_DENSITY * X.size:
        X = sp.csr_matrix(X)
    Xd, data, indices, indptr, sparse = _as_kernel_data(X)
    prefetch_min_bytes = float(prefetch_min_bytes)
    n_features = X.shape[1]
    B = float(intercept_scaling) if fit_intercept else 0.0
    cw = C * np.asarray(s, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    Wb = np.zeros(n_outputs)
    if head in ("binary", "ovr"):
        if head == "binary":
            T = (2.0 * y - 1.0)[None, :]
        else:
            T = np.where(y[None, :] == np.arange(n_outputs)[:, None], 1.0, -1.0)
        A = np.zeros((n_outputs, len(y)))
        W_rows = np.zeros((n_outputs, n_features))
        if dual_init is not None:
            upper = cw if loss == "hinge" else np.inf
            A[:] = np.clip(dual_init, 0.0, upper)
            A[:, cw <= 0.0] = 0.0  # (rows the descent leaves out)
            signed = A * T
            W_rows[:] = (X.T @ signed.T).T  # the weights of these dual variables
            Wb[:] = B * signed.sum(axis=1)
        iters = np.zeros(n_outputs, dtype=np.int64)
        oks = np.zeros(n_outputs, dtype=np.bool_)
        seeds = (seed + np.arange(n_outputs)) % np.iinfo(np.int32).max
        primals = np.zeros(n_outputs)
        _dcd_one_vs_rest(Xd, data, indices, indptr, sparse, T, cw, LOSS_CODES[loss], B,
                         tol, gap_tol, max_iter, seeds, W_rows, Wb, A, iters, oks, primals,
                         prefetch_min_bytes)
        W = W_rows.T  # a view: one copy of the weights, not two
        n_iter, converged = iters.max(), oks.all()
        return W, Wb * B, int(n_iter), bool(converged), float(primals.sum()), A
    if head == "crammer_singer":
        # Dense data: the weights class by class (see the kernel), returned as a view.
        W = np.zeros((n_features, n_outputs) if sparse else (n_outputs, n_features))
        n_iter, converged = _dcd_crammer_singer(Xd, data, indices, indptr, sparse, y, cw,
                                                LOSS_CODES[loss], B, tol, gap_tol,
                                                max_iter, seed, W, Wb,
                                                np.zeros((len(y), n_outputs)),
                                                prefetch_min_bytes)
        return (W if sparse else W.T), Wb * B, int(n_iter), bool(converged), None, None
    W = np.zeros((n_features, n_outputs))
    if head == "weston_watkins":
        n_iter, converged = _dcd_weston_watkins(Xd, data, indices, indptr, sparse, y, cw,
                                                LOSS_CODES[loss], B, tol, max_iter, seed,
                                                W, Wb, prefetch_min_bytes)
    else:
        raise ValueError(f"dual coordinate descent does not solve head={head!r} "
                         f"with loss={loss!r}")
    return W, Wb * B, int(n_iter), bool(converged), None, None
