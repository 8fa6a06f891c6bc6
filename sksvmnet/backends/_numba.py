"""The numba CPU backend.

Kernels are module level and compiled once per type signature (``cache=True`` keeps them on
disk). Every kernel takes the data in one form, ``(Xd, data, indices, indptr, sparse)``: a
dense C-ordered array in ``Xd`` when ``sparse`` is False, else the three arrays of a CSR
matrix (CSC for the column-wise L1 solver), with empty placeholders for the unused form.
One compiled kernel per dtype then serves dense and sparse data; the branch on ``sparse`` is
taken once per row and costs nothing measurable.

Losses, heads and activations are passed to kernels as small integer codes, private to this
module and derived from the name tables below; the names are the package's vocabulary.
"""

import math
from concurrent.futures import ThreadPoolExecutor

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from numba import config, get_num_threads, njit, prange, set_num_threads
from numba.typed import List

from .._threads import one_blas_thread

LOSS_CODES = {"hinge": 0, "squared_hinge": 1, "log_loss": 2}
HEAD_CODES = {
    "binary": 0,
    "ovr": 1,
    "crammer_singer": 2,
    "weston_watkins": 3,
    "multinomial": 4,
}
ACTIVATION_CODES = {"identity": 0, "relu": 1, "tanh": 2, "logistic": 3}
OPTIMIZER_CODES = {"sgd": 0, "adam": 1}

_HINGE, _SQUARED_HINGE, _LOG_LOSS = 0, 1, 2
_MULTINOMIAL = HEAD_CODES["multinomial"]


def training_dtype(dtype):
    """The float type training runs in: the input's."""
    return np.dtype(dtype)


#: Every function runs on the host: this backend's device is the host.
HOST_FUNCTIONS = ()


def device():
    """Where this backend computes: ``"host"``, the CPU cores of this process."""
    return "host"


@contextmanager
def threads(n):
    """A context in which numba's parallel kernels (and :func:`weighted_gram`'s pool)
    called from this thread use at most ``n`` threads; the setting is restored after."""
    previous = get_num_threads()
    set_num_threads(max(1, min(int(n), config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        set_num_threads(previous)


def _as_kernel_data(X, layout="csr"):
    """``(Xd, data, indices, indptr, sparse)`` for the kernels, without copying X.

    The index arrays are passed as unsigned views: numba then drops the negative-index
    wraparound it otherwise computes for every element of a sparse row, which made the
    coordinate-descent loops 1.3-1.4x slower than liblinear's.
    """
    if sp.issparse(X):
        X = X.tocsr() if layout == "csr" else X.tocsc()
        empty = np.empty((0, 0), dtype=X.dtype)
        return empty, X.data, _unsigned(X.indices), _unsigned(X.indptr), True
    X = np.ascontiguousarray(X)
    idx = np.empty(0, dtype=np.uint32)
    return X, np.empty(0, dtype=X.dtype), idx, idx, False


def _unsigned(index):
    """The same non-negative integers, viewed as the unsigned type of their width."""
    return index.view(np.dtype(index.dtype.str.replace("i", "u")))


# --------------------------------------------------------------------------- losses


@njit(cache=True)
def _margin(z, loss, width):
    """``(l(z), l'(z))`` of a margin loss, in float64; the hinge smoothed over ``width``
    (``_losses.smoothed_hinge``) where ``width > 0``."""
    if loss == _HINGE:
        r = 1.0 - z
        if r <= 0.0:
            return 0.0, 0.0
        if r >= width:
            return r - 0.5 * width, -1.0
        return r * r / (2.0 * width), -r / width
    if loss == _SQUARED_HINGE:
        if z < 1.0:
            r = 1.0 - z
            return r * r, -2.0 * r
        return 0.0, 0.0
    if z > 0.0:
        e = np.exp(-z)
        return np.log1p(e), -e / (1.0 + e)
    e = np.exp(z)
    return -z + np.log1p(e), -1.0 / (1.0 + e)


@njit(cache=True)
def _head_kernel(F, y, s, loss, head, G, width):
    """Writes ``s_n * dloss_n/dF`` into ``G`` and returns ``sum_n s_n loss_n``, smoothed
    over ``width`` where that is positive (see :func:`head_loss`)."""
    n, K = F.shape
    total = 0.0
    for i in range(n):
        si = s[i]
        yi = y[i]
        for k in range(K):
            G[i, k] = 0.0
        if si == 0.0:
            continue
        if head == 0:
            t = 2.0 * yi - 1.0
            v, dz = _margin(t * F[i, 0], loss, width)
            total += si * v
            G[i, 0] = si * t * dz
        elif head == 1:
            for k in range(K):
                t = 1.0 if k == yi else -1.0
                v, dz = _margin(t * F[i, k], loss, width)
                total += si * v
                G[i, k] = si * t * dz
        elif head == 2:
            best = -np.inf
            for k in range(K):
                if k != yi and F[i, k] > best:
                    best = F[i, k]
            if width > 0.0:
                # Smoothed: the rival is the soft maximum width * log sum exp(F / width),
                # whose gradient shares the slope among the rivals by their softmax.
                norm = 0.0
                for k in range(K):
                    if k != yi:
                        G[i, k] = np.exp((F[i, k] - best) / width)
                        norm += G[i, k]
                v, dz = _margin(F[i, yi] - best - width * np.log(norm), loss, width)
                total += si * v
                for k in range(K):
                    G[i, k] *= -si * dz / norm
                G[i, yi] = si * dz
                continue
            v, dz = _margin(F[i, yi] - best, loss, width)
            total += si * v
            G[i, yi] = si * dz
            # Rivals tied for the max share the subgradient (W = 0 ties them all).
            n_tied = 0
            for k in range(K):
                if k != yi and F[i, k] == best:
                    n_tied += 1
            for k in range(K):
                if k != yi and F[i, k] == best:
                    G[i, k] = -si * dz / n_tied
        elif head == 3:
            acc = 0.0
            for k in range(K):
                if k == yi:
                    continue
                v, dz = _margin(F[i, yi] - F[i, k], loss, width)
                total += si * v
                G[i, k] = -si * dz
                acc += si * dz
            G[i, yi] = acc
        else:
            top = F[i, 0]
            for k in range(1, K):
                top = max(top, F[i, k])
            norm = 0.0
            for k in range(K):  # (G holds exp(F - top) until it is scaled: one exp each)
                G[i, k] = np.exp(F[i, k] - top)
                norm += G[i, k]
            total += si * (top + np.log(norm) - F[i, yi])
            scale = si / norm
            for k in range(K):
                G[i, k] *= scale
            G[i, yi] -= si
    return total


@njit(cache=True, parallel=True)
def _head_parallel(F, y, s, loss, head, G, shares, width):
    """:func:`_head_kernel` with thread ``t`` on the rows ``shares[t]:shares[t + 1]``."""
    n_parts = shares.shape[0] - 1
    values = np.zeros(n_parts)
    for t in prange(n_parts):
        lo, hi = shares[t], shares[t + 1]
        values[t] = _head_kernel(F[lo:hi], y[lo:hi], s[lo:hi], loss, head, G[lo:hi],
                                 width)
    return values.sum()


#: From this many rows on, :func:`head_loss` and :func:`head_along` share the rows among
#: numba's threads (the loss kernel takes ~0.5 ms for 20,000 rows of the log loss; a
#: solver's line search calls it a few times per pass over X).
HEAD_THREADED_MIN_ROWS = 4096


def _head_shares(n):
    """Row bounds of the threads of the head's kernels: one share below
    ``HEAD_THREADED_MIN_ROWS`` rows, an even split among numba's threads from there."""
    n_parts = get_num_threads() if n >= HEAD_THREADED_MIN_ROWS else 1
    return np.arange(n_parts + 1) * n // n_parts


def head_loss(F, y, s, loss, head, width=None):
    """Weighted data term and its gradient with respect to the outputs ``F``.

    With a ``width``, smoothed: the hinge's kink rounded over it
    (``_losses.smoothed_hinge``), and the Crammer-Singer head's largest rival replaced by
    the soft maximum ``width * log sum exp(F / width)`` (either loss).

    From ``HEAD_THREADED_MIN_ROWS`` rows on, the rows are shared among numba's threads.
    """
    F = np.ascontiguousarray(F)
    G = np.empty_like(F)
    args = (F, y, s.astype(F.dtype, copy=False), LOSS_CODES[loss], HEAD_CODES[head], G)
    width = _smoothing(loss, width)
    shares = _head_shares(F.shape[0])
    if len(shares) == 2:
        return _head_kernel(*args, width), G
    return _head_parallel(*args, shares, width), G


def _smoothing(loss, width):
    """The kernels' ``width`` argument: positive to smooth (see :func:`head_loss`), else
    0."""
    if width is None:
        return 0.0
    if loss not in ("hinge", "squared_hinge") or not width > 0:
        raise ValueError(f"width smooths the hinge losses and must be positive; got "
                         f"width={width!r} with loss={loss!r}.")
    return float(width)


# Sums along contiguous runs may be reordered (vectorised): that changes their rounding,
# not what they compute; there are no infinities to keep.
@njit(cache=True, fastmath={"reassoc", "contract"})
def _along_rows(Z, U, alpha, evaluate, y, s, loss, head, G, lo, hi, block, F, weight,
                scaled, mixed, slope, H):
    """:func:`head_along` over the rows ``lo:hi``: returns their data term (0 unless
    ``evaluate``) and adds their shares of ``U G`` and ``U D U^T`` into ``slope`` and
    ``H``. ``F``, ``weight``, ``scaled``, ``mixed``: scratch for ``block`` rows."""
    r = U.shape[0]
    n, K = Z.shape
    Uf, Zf, Gf = U.reshape(r, n * K), Z.reshape(n * K), G.reshape(n * K)
    Ff, wf = F.reshape(F.shape[0] * K), weight.reshape(weight.shape[0] * K)
    total = 0.0
    for start in range(lo, hi, block):
        m = min(block, hi - start)
        e0, size = start * K, m * K  # the block's entries
        # (1-D slices in the loops below: with 2-D indexing LLVM does not vectorise them)
        Gb, Zb = Gf[e0:e0 + size], Zf[e0:e0 + size]
        if evaluate:
            for e in range(size):
                Ff[e] = Zb[e]
            for a in range(r):
                step, Ua = alpha[a], Uf[a, e0:e0 + size]
                if step != 0.0:
                    for e in range(size):
                        Ff[e] += step * Ua[e]
            total += _head_kernel(F[:m], y[start:start + m], s[start:start + m], loss,
                                  head, G[start:start + m], 0.0)
        # D's diagonal from G, without another exp: s p for the softmax (G = s (p -
        # onehot(y))); s q (1 - q) for the log loss, q = -t G / s = 1 / (1 + exp(t F));
        # 2 s where G is not zero (t F < 1) for the squared hinge. (The l'' of
        # _losses.MARGIN_CURVATURES, read off G.)
        for j in range(m):
            i = start + j
            for k in range(K):
                g = G[i, k]
                if s[i] == 0.0:
                    weight[j, k] = 0.0
                elif head == _MULTINOMIAL:
                    weight[j, k] = g + (s[i] if k == y[i] else 0.0)
                elif loss == _LOG_LOSS:
                    q = abs(g) / s[i]
                    weight[j, k] = s[i] * q * (1.0 - q)
                else:
                    weight[j, k] = 2.0 * s[i] if g != 0.0 else 0.0
        for a in range(r):
            Ua = Uf[a, e0:e0 + size]
            acc = 0.0
            for e in range(size):
                acc += Ua[e] * Gb[e]
            slope[a] += acc
            for e in range(size):
                scaled[e] = wf[e] * Ua[e]
            for b in range(a + 1):
                Ub = Uf[b, e0:e0 + size]
                acc = 0.0
                for e in range(size):
                    acc += scaled[e] * Ub[e]
                H[a, b] += acc
        if head == _MULTINOMIAL:  # its - s p p^T: - s (sum_k p_k U_k) (sum_k p_k U_k)^T
            for a in range(r):
                for j in range(m):
                    Uj, wj = Uf[a, e0 + j * K:e0 + (j + 1) * K], wf[j * K:(j + 1) * K]
                    acc = 0.0
                    for k in range(K):
                        acc += wj[k] * Uj[k]  # s p_k U_k
                    mixed[j, a] = acc
            for j in range(m):
                si = s[start + j]
                if si > 0.0:
                    for a in range(r):
                        x = mixed[j, a] / si
                        for b in range(a + 1):
                            H[a, b] -= x * mixed[j, b]
    return total


@njit(cache=True, parallel=True)
def _along_parallel(Z, U, alpha, evaluate, y, s, loss, head, G, shares, block, slopes,
                    Hs):
    """:func:`_along_rows` with thread ``t`` on the rows ``shares[t]:shares[t + 1]``,
    into ``slopes[t]`` and ``Hs[t]``; returns the data terms."""
    n_parts = shares.shape[0] - 1
    r, K = U.shape[0], Z.shape[1]
    totals = np.zeros(n_parts)
    for t in prange(n_parts):
        F, weight = np.empty((block, K)), np.empty((block, K))
        scaled, mixed = np.empty(block * K), np.empty((block, r))
        totals[t] = _along_rows(Z, U, alpha, evaluate, y, s, loss, head, G, shares[t],
                                shares[t + 1], block, F, weight, scaled, mixed, slopes[t],
                                Hs[t])
    return totals


#: Entries (rows x outputs) per block of :func:`head_along`: the block's copy of the
#: directions (r times this) stays in the core's cache for the three sums over it.
ALONG_BLOCK_ENTRIES = 2048


def head_along(Z, U, alpha, y, s, loss, head, G):
    """The head at the outputs ``F = Z + alpha U`` and its derivatives along ``U``.

    ``U`` (r x n x K) holds the outputs of r directions. Writes the head's gradient at F
    into ``G`` (as :func:`head_loss`) and returns the data term there, ``U G`` (r) and
    ``U D U^T`` (r x r), ``D`` the head's Hessian with respect to F: ``s l''(T F)`` for the
    binary and one-vs-rest heads (``T`` the +-1 targets; log loss or squared hinge, whose
    generalised ``l''`` is 0 at the kink), ``s (diag(p) - p p^T)`` in each row for the
    softmax. With ``alpha=None``, F is Z and ``G`` already holds the gradient there: only
    the derivatives are computed and the data term is None. One pass over U, in blocks
    that stay in cache, where forming F, then ``U G``, then the Hessian would make three.
    From ``HEAD_THREADED_MIN_ROWS`` rows on, the rows are shared among numba's threads.
    """
    # _along_rows reads D off G: the softmax's for the multinomial head, otherwise l'' of
    # the loss on each output's own margin, which the heads that couple the outputs
    # (through a max, or pairwise margins) do not have.
    own_margins = head in ("binary", "ovr")
    if loss not in ("log_loss", "squared_hinge") or not (head == "multinomial"
                                                         or own_margins):
        raise ValueError(f"head_along knows the softmax head, and the log loss and the "
                         f"squared hinge on each output's own margin (the binary and "
                         f"one-vs-rest heads); got loss={loss!r}, head={head!r}.")
    n, K = Z.shape
    r = U.shape[0]
    block = max(1, ALONG_BLOCK_ENTRIES // K)
    evaluate = alpha is not None
    args = (np.ascontiguousarray(Z, dtype=np.float64), np.ascontiguousarray(U, np.float64),
            np.zeros(r) if alpha is None else np.ascontiguousarray(alpha, np.float64),
            evaluate, y, np.asarray(s, np.float64), LOSS_CODES[loss], HEAD_CODES[head], G)
    shares = _head_shares(n)
    slopes, Hs = np.zeros((len(shares) - 1, r)), np.zeros((len(shares) - 1, r, r))
    if len(shares) == 2:
        scratch = (np.empty((block, K)), np.empty((block, K)), np.empty(block * K),
                   np.empty((block, r)))
        total = _along_rows(*args, 0, n, block, *scratch, slopes[0], Hs[0])
    else:
        total = _along_parallel(*args, shares, block, slopes, Hs).sum()
    H = np.tril(Hs.sum(axis=0))  # (the kernels sum the lower triangle)
    return (float(total) if evaluate else None), slopes.sum(axis=0), H + np.tril(H, -1).T


#: Rows per block of the fused pass: a block of X stays in the core's cache between the
#: product that gives its outputs and the one that adds its share of the gradient.
PASS_BLOCK_ROWS = 512

#: Below this many rows the fused pass is not worth compiling its parallel kernel (about
#: 13 s on a fresh checkout, once): two BLAS products do, and X fits in cache anyway.
FUSED_MIN_ROWS = 8 * PASS_BLOCK_ROWS


@njit(cache=True, parallel=True)
def _fused_pass(X, W, b, y, s, loss, head, block, gW_parts, gb_parts, width):
    """Data term and its gradient in one pass over dense X.

    The blocks of rows are dealt round robin to ``gW_parts.shape[0]`` threads; each
    computes a block's outputs ``X_b W + b``, the head's gradient ``G_b`` and adds
    ``X_b^T G_b`` to its own float64 accumulator while the block is still in its cache.
    Returns ``sum_n s_n loss_n``.
    """
    n, d = X.shape
    K = W.shape[1]
    n_parts = gW_parts.shape[0]
    n_blocks = (n + block - 1) // block
    values = np.zeros(n_parts)
    for p in prange(n_parts):
        F = np.empty((block, K), dtype=X.dtype)
        G = np.empty((block, K), dtype=X.dtype)
        total = 0.0
        for blk in range(p, n_blocks, n_parts):
            lo = blk * block
            hi = min(n, lo + block)
            Xb = X[lo:hi]
            Fb = F[:hi - lo]
            Gb = G[:hi - lo]
            np.dot(Xb, W, Fb)
            Fb += b
            total += _head_kernel(Fb, y[lo:hi], s[lo:hi], loss, head, Gb, width)
            gW_parts[p] += np.dot(Xb.T, Gb)
            for k in range(K):
                gb_parts[p, k] += Gb[:, k].sum()
        values[p] = total
    return values.sum()


def _data_term(W, b, X, y, s, loss, head, width):
    """``(sum_n s_n loss_n, X^T G, sum_n G_n)`` with ``G`` the head's gradient."""
    dtype = X.dtype
    Wd = W.astype(dtype, copy=False)
    bd = b.astype(dtype, copy=False)
    if sp.issparse(X):
        F = outputs(X, W)
        F += b
        value, G = head_loss(F, y, s, loss, head, width)
        return value, transposed_product(X, G), G.sum(axis=0)
    if X.shape[0] < FUSED_MIN_ROWS:
        F = X @ Wd
        F += bd
        value, G = head_loss(F, y, s, loss, head, width)
        return value, (X.T @ G).astype(np.float64), G.sum(axis=0, dtype=np.float64)
    n_parts = max(1, min(get_num_threads(), -(-X.shape[0] // PASS_BLOCK_ROWS)))
    gW = np.zeros((n_parts, *W.shape))
    gb = np.zeros((n_parts, W.shape[1]))
    with one_blas_thread():
        value = _fused_pass(np.ascontiguousarray(X), np.ascontiguousarray(Wd), bd, y,
                            s.astype(dtype, copy=False), LOSS_CODES[loss], HEAD_CODES[head],
                            PASS_BLOCK_ROWS, gW, gb, _smoothing(loss, width))
    return value, gW.sum(axis=0), gb.sum(axis=0)


def linear_value_grad(W, b, X, y, s, *, C, loss, head, intercept_penalty, fit_intercept,
                      l2=1.0, width=None):
    """Objective ``J`` of the linear model and its gradient; with a ``width``, of the
    smoothed hinge losses (see :func:`head_loss`).

    ``W`` has shape ``(n_features, n_outputs)``. Dense X with at least
    ``FUSED_MIN_ROWS`` rows is read once per call by :func:`_fused_pass` on all of numba's
    threads (products in X's dtype, sums in float64); sparse X by :func:`outputs` and
    :func:`transposed_product`, in float64. ``l2=0`` drops the penalty on ``W``. Returns
    float64 values.
    """
    if not fit_intercept:
        b = np.zeros_like(b)
    data, gW, gb = _data_term(W, b, X, y, s, loss, head, width)
    value = C * data + 0.5 * l2 * float(np.sum(W * W))
    gW *= C
    gW += l2 * W
    if fit_intercept:
        gb = C * gb + intercept_penalty * b
        value += 0.5 * intercept_penalty * float(b @ b)
    else:
        gb = np.zeros_like(b)
    return value, gW, gb


#: Sparse X with fewer non-zeros than this is multiplied by scipy: the threaded kernels
#: are faster from 10,000 non-zeros on, but each costs seconds to compile on a fresh
#: checkout, which a small fit should not pay.
THREADED_MIN_NONZEROS = 2 ** 18


def outputs(X, W, out=None):
    """``X @ W`` in float64, written into ``out`` (n x K, C-contiguous float64) if given.

    Dense or small sparse X: one product by BLAS or scipy in X's dtype. Larger CSR X: a
    kernel on all of numba's threads, each taking a share of the rows (scipy's product
    uses one thread), summing in float64. (A solver that passes the same ``out`` each
    iteration spares the memory system a fresh, page-faulting array a call.)
    """
    if not sp.issparse(X) or X.nnz < THREADED_MIN_NONZEROS:
        return _into(out, X @ W.astype(X.dtype, copy=False))
    _, data, indices, indptr, _ = _as_kernel_data(X)
    W = np.ascontiguousarray(W, dtype=np.float64)
    shares = _row_shares(indptr, get_num_threads())
    out = _result_array(out, (X.shape[0], W.shape[1]))
    if W.shape[1] == 1:  # (1-D arrays: numba indexes a column view as a strided array)
        _csr_matvec(data, indices, indptr, np.ascontiguousarray(W[:, 0]), shares,
                    out.reshape(-1))
    else:
        _csr_matmat(data, indices, indptr, W, shares, out)
    return out


#: Entries of scratch that :func:`transposed_product` may take for CSR X (256 MiB).
TRANSPOSED_SCRATCH_ENTRIES = 2 ** 25


def transposed_product(X, G, out=None):
    """``X^T @ G`` in float64, written into ``out`` (d x K, C-contiguous float64) if given.

    Dense or small sparse X: as :func:`outputs`. Larger CSR X: numba's threads each add a
    share of the rows into their own copy of the result, summed at the end (a CSR
    matrix's columns are scattered, so the threads cannot share one). Where
    ``TRANSPOSED_SCRATCH_ENTRIES`` has no room for a copy per thread, each thread reads
    all of X instead and adds only the entries of its share of the columns, straight
    into the result: more reading of X, no scratch.
    """
    if not sp.issparse(X) or X.nnz < THREADED_MIN_NONZEROS:
        return _into(out, X.T @ G.astype(X.dtype, copy=False))
    _, data, indices, indptr, _ = _as_kernel_data(X)
    G = np.ascontiguousarray(G, dtype=np.float64)
    d, K = X.shape[1], G.shape[1]
    out = _result_array(out, (d, K))
    n_threads = get_num_threads()
    n_parts = min(n_threads, TRANSPOSED_SCRATCH_ENTRIES // max(d * K, 1))
    if n_parts < n_threads and K > 1:
        out[...] = 0.0
        counts = np.bincount(indices, minlength=d)
        bounds = _row_shares(np.concatenate([[0], np.cumsum(counts)]), n_threads)
        _csr_rmatmat_by_columns(data, indices, indptr, G, bounds, out)
        return out
    n_parts = max(n_parts, 1)
    shares = _row_shares(indptr, n_parts)
    if n_parts == 1:
        out[...] = 0.0
        parts = out[None]
    else:
        parts = np.zeros((n_parts, d, K))
    if K == 1:
        _csr_rmatvec(data, indices, indptr, np.ascontiguousarray(G[:, 0]), shares,
                     parts[:, :, 0])
    else:
        _csr_rmatmat(data, indices, indptr, G, shares, parts)
    if n_parts > 1:
        np.sum(parts, axis=0, out=out)
    return out


def _result_array(out, shape):
    """``out`` checked to be what the kernels write into, or a new array."""
    if out is None:
        return np.empty(shape)
    if out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 array of shape {shape}; got "
                         f"{out.dtype} of shape {out.shape}.")
    return out


def _into(out, product):
    """A product of scipy or BLAS as float64, in ``out`` when given."""
    if out is None:
        return np.asarray(product, dtype=np.float64)
    out[...] = product
    return out


def _row_shares(indptr, n_parts):
    """Row bounds that deal a CSR matrix's non-zeros evenly to ``n_parts`` threads."""
    targets = np.arange(n_parts + 1) * int(indptr[-1]) // n_parts
    after = np.searchsorted(indptr, targets)  # the first row start at or past a target
    before = np.maximum(after - 1, 0)
    bounds = np.where(targets - indptr[before] < indptr[after] - targets, before, after)
    bounds[0], bounds[-1] = 0, len(indptr) - 1
    return bounds.astype(np.int64)


# Thread t of these kernels works on the rows shares[t]:shares[t + 1] of a CSR matrix. One
# output gets its own kernels: a loop over a run-time number of outputs per non-zero made
# the product 2-3x slower.


@njit(cache=True, parallel=True)
def _csr_matvec(data, indices, indptr, w, shares, out):
    """``out = X w``."""
    for t in prange(shares.shape[0] - 1):
        for i in range(shares[t], shares[t + 1]):
            acc = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                acc += data[p] * w[indices[p]]
            out[i] = acc


@njit(cache=True, parallel=True)
def _csr_matmat(data, indices, indptr, W, shares, out):
    """``out = X W``."""
    K = W.shape[1]
    for t in prange(shares.shape[0] - 1):
        acc = np.empty(K)  # (summing into out[i] directly was 6x slower)
        for i in range(shares[t], shares[t + 1]):
            acc[:] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                value = data[p]
                j = indices[p]
                for k in range(K):
                    acc[k] += value * W[j, k]
            out[i] = acc


@njit(cache=True, parallel=True)
def _csr_rmatvec(data, indices, indptr, g, shares, parts):
    """``sum(parts) = X^T g``, thread t adding its rows into ``parts[t]``."""
    for t in prange(shares.shape[0] - 1):
        acc = parts[t]
        for i in range(shares[t], shares[t + 1]):
            gi = g[i]
            if gi != 0.0:
                for p in range(indptr[i], indptr[i + 1]):
                    acc[indices[p]] += data[p] * gi


@njit(cache=True, parallel=True)
def _csr_rmatmat(data, indices, indptr, G, shares, parts):
    """``sum(parts) = X^T G``, thread t adding its rows into ``parts[t]``."""
    K = G.shape[1]
    for t in prange(shares.shape[0] - 1):
        acc = parts[t]
        for i in range(shares[t], shares[t + 1]):
            for p in range(indptr[i], indptr[i + 1]):
                value = data[p]
                j = indices[p]
                for k in range(K):
                    acc[j, k] += value * G[i, k]


@njit(cache=True, parallel=True)
def _csr_rmatmat_by_columns(data, indices, indptr, G, bounds, out):
    """``out = X^T G`` (out zeroed), thread t adding the columns bounds[t]:bounds[t + 1]."""
    K = G.shape[1]
    n = indptr.shape[0] - 1
    for t in prange(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        for i in range(n):
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                if lo <= j < hi:
                    value = data[p]
                    for k in range(K):
                        out[j, k] += value * G[i, k]


#: Rows gathered per product in :func:`weighted_gram` (bounds its scratch memory).
GRAM_BLOCK_ROWS = 4096


def _gram_of_blocks(X, rows, weights, blocks, every_row):
    """The sums of :func:`weighted_gram` over the blocks starting at ``blocks``."""
    d = X.shape[1]
    H = np.zeros((d, d))
    v = np.zeros(d)
    for lo in blocks:
        hi = lo + GRAM_BLOCK_ROWS
        w = weights[lo:hi].astype(X.dtype)
        Xb = X[lo:hi] if every_row else X[rows[lo:hi]]
        if sp.issparse(Xb):
            scaled = sp.diags(np.sqrt(w)) @ Xb
            H += (scaled.T @ scaled).toarray()
            v += np.asarray(Xb.T @ w).ravel()
        else:
            v += w @ Xb
            scaled = np.multiply(Xb, np.sqrt(w)[:, None], out=None if every_row else Xb)
            H += scaled.T @ scaled  # numpy calls BLAS syrk for A.T @ A
    return H, v


def weighted_gram(X, rows, weights):
    """``(X_R^T D X_R, X_R^T d, sum(d))`` over the rows ``R`` with weights ``d >= 0``.

    ``rows`` is sorted. Blocks of rows are scaled by ``sqrt(d)`` (gathered first unless
    ``R`` is every row) and multiplied by BLAS in X's dtype; the blocks are dealt to as
    many threads as numba uses, each calling BLAS on one thread, so both cores work
    whatever BLAS's own thread setting. Sums are float64; scratch memory is one block a
    thread.
    """
    every_row = len(rows) == X.shape[0]
    starts = range(0, len(rows), GRAM_BLOCK_ROWS)
    n_threads = max(1, min(get_num_threads(), len(starts)))
    if n_threads == 1:
        H, v = _gram_of_blocks(X, rows, weights, starts, every_row)
        return H, v, float(np.sum(weights))
    with one_blas_thread(), ThreadPoolExecutor(n_threads) as pool:
        parts = list(pool.map(
            lambda first: _gram_of_blocks(X, rows, weights, starts[first::n_threads],
                                          every_row),
            range(n_threads)))
    H = sum(part[0] for part in parts)
    v = sum(part[1] for part in parts)
    return H, v, float(np.sum(weights))


# ------------------------------------------------------------------- row access


@njit(cache=True)
def _row_sqnorm(Xd, data, indices, indptr, sparse, i):
    acc = 0.0
    if sparse:
        for p in range(indptr[i], indptr[i + 1]):
            acc += data[p] * data[p]
    else:
        for j in range(Xd.shape[1]):
            acc += Xd[i, j] * Xd[i, j]
    return acc


@njit(cache=True)
def _row_dot(Xd, data, indices, indptr, sparse, i, w):
    acc = 0.0
    if sparse:
        # Four running sums: one chain of additions waits on each add's latency.
        a1 = a2 = a3 = 0.0
        p, end = np.int64(indptr[i]), np.int64(indptr[i + 1])  # (uint64 + 4 is a float)
        while p + 4 <= end:
            acc += data[p] * w[indices[p]]
            a1 += data[p + 1] * w[indices[p + 1]]
            a2 += data[p + 2] * w[indices[p + 2]]
            a3 += data[p + 3] * w[indices[p + 3]]
            p += 4
        while p < end:
            acc += data[p] * w[indices[p]]
            p += 1
        acc = (acc + a1) + (a2 + a3)
    else:
        for j in range(Xd.shape[1]):
            acc += Xd[i, j] * w[j]
    return acc


@njit(cache=True)
def _row_axpy(Xd, data, indices, indptr, sparse, i, a, w):
    if sparse:
        for p in range(indptr[i], indptr[i + 1]):
            w[indices[p]] += a * data[p]
    else:
        for j in range(Xd.shape[1]):
            w[j] += a * Xd[i, j]


@njit(cache=True)
def _row_times_matrix(Xd, data, indices, indptr, sparse, i, W, out):
    """``out = x_i @ W`` for ``W`` of shape (n_features, K)."""
    K = W.shape[1]
    for k in range(K):
        out[k] = 0.0
    if sparse:
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            j = indices[p]
            for k in range(K):
                out[k] += v * W[j, k]
    else:
        for j in range(Xd.shape[1]):
            v = Xd[i, j]
            if v != 0.0:
                for k in range(K):
                    out[k] += v * W[j, k]


@njit(cache=True)
def _row_axpy_column(Xd, data, indices, indptr, sparse, i, a, W, k):
    """``W[:, k] += a * x_i``."""
    if sparse:
        for p in range(indptr[i], indptr[i + 1]):
            W[indices[p], k] += a * data[p]
    else:
        for j in range(Xd.shape[1]):
            W[j, k] += a * Xd[i, j]


# --------------------------------------------------- dual coordinate descent


@njit(cache=True)
def _dcd_binary(Xd, data, indices, indptr, sparse, t, cw, loss, B, tol, gap_tol,
                max_iter, seed, w, wb):
    """liblinear's dual coordinate descent with shrinking (Hsieh et al. 2008).

    Solves ``min 1/2 ||w||^2 + 1/2 wb^2 + sum_i cw_i l(t_i (w x_i + B wb))`` for the hinge
    or squared hinge ``l``; ``B`` is the intercept scaling (0 without an intercept). ``w``
    and ``wb`` (a length-1 array) are updated in place. Returns ``(n_iter, converged)``.

    Stops on liblinear's test (the projected gradients span at most ``tol``) or once the
    duality gap certifies the primal objective within ``gap_tol`` of the optimum,
    relatively (0 turns the second test off). The gap costs a pass over the data, so it
    is computed after the first two epochs and then where its decay between the last two
    checks predicts it will be small enough (see :func:`_next_gap_check`). Returns
    ``(n_iter, converged, primal)``: the primal objective at the final weights (from the
    last gap test, or from a pass at the end).
    """
    n = t.shape[0]
    np.random.seed(seed)
    alpha = np.zeros(n)
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
    pg_max_old = np.inf
    pg_min_old = -np.inf
    it = 0
    converged = False
    next_check, last_check, last_gap = 1, 0, -1.0
    while it < max_iter:
        it += 1
        pg_max = -np.inf
        pg_min = np.inf
        np.random.shuffle(index[:active])
        s = 0
        while s < active:
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
                     max_iter, seeds, W, Wb, n_iter, converged, primals):
    """The binary problems of one-vs-rest, independent, spread over the cores.

    Row ``k`` of ``T`` holds the +-1 targets of output ``k``; its solution goes to
    ``W[k]`` and ``Wb[k]``, its primal objective to ``primals[k]``. No BLAS runs here,
    so the threads compete with nothing.
    """
    for k in prange(T.shape[0]):
        n_iter[k], converged[k], primals[k] = _dcd_binary(
            Xd, data, indices, indptr, sparse, T[k], cw, loss, B, tol, gap_tol, max_iter,
            seeds[k], W[k], Wb[k:k + 1])


@njit(cache=True)
def _dcd_weston_watkins(Xd, data, indices, indptr, sparse, y, cw, loss, B, tol,
                        max_iter, seed, W, Wb):
    """Dual coordinate descent for the Weston-Watkins multi-class SVM.

    One dual variable per sample and rival class ``j``, for the constraint
    ``(w_y - w_j) x_i >= 1 - xi_ij``; each update is the binary DCD step on the pair.
    ``W`` (n_features, K) and ``Wb`` (K,) are updated in place.
    """
    n = y.shape[0]
    K = W.shape[1]
    np.random.seed(seed)
    alpha = np.zeros((n, K))
    sqnorm = np.empty(n)
    order = np.empty(n, dtype=np.int64)
    active = 0
    for i in range(n):
        sqnorm[i] = _row_sqnorm(Xd, data, indices, indptr, sparse, i) + B * B
        # An all-zero row without intercept only adds a constant to the objective.
        if cw[i] > 0.0 and sqnorm[i] > 0.0:
            order[active] = i
            active += 1
    f = np.empty(K)
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        np.random.shuffle(order[:active])
        pg_max = -np.inf
        pg_min = np.inf
        for s in range(active):
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
                        max_iter, seed, W, Wb, alpha):
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
    np.random.seed(seed)
    sqnorm = np.empty(n)
    order = np.empty(n, dtype=np.int64)
    n_used = 0
    for i in range(n):
        sqnorm[i] = _row_sqnorm(Xd, data, indices, indptr, sparse, i) + B * B
        if cw[i] > 0.0 and sqnorm[i] > 0.0:
            order[n_used] = i
            n_used += 1
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
    shrink_tol = max(10.0 * tol, 1.0)
    from_all = True
    next_check, last_check, last_gap = 1, 0, -1.0
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        np.random.shuffle(order[:active])
        worst = 0.0
        s = 0
        while s < active:
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


def dcd(X, y, s, *, C, loss, head, intercept_scaling, fit_intercept, n_outputs, tol,
        max_iter, seed, gap_tol=0.0):
    """Linear SVM by dual coordinate descent, the liblinear algorithm.

    One-vs-rest and binary problems are solved one output at a time, each stopping on
    liblinear's test at ``tol`` or once its duality gap is at most ``gap_tol`` times its
    objective; Crammer-Singer jointly, on the same two tests; Weston-Watkins jointly, on
    liblinear's test alone.
    Returns ``(W, b, n_iter, converged, objective)`` with ``W`` of shape ``(n_features,
    n_outputs)`` in float64 and ``objective`` the primal objective ``J`` at ``(W, b)``
    for the binary and one-vs-rest heads (the sum of the outputs' own, which their gap
    tests compute), None for the others.
    """
    if loss not in ("hinge", "squared_hinge"):
        raise ValueError(f"dual coordinate descent solves the hinge and squared hinge "
                         f"losses; got loss={loss!r} (head={head!r})")
    Xd, data, indices, indptr, sparse = _as_kernel_data(X)
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
        W_rows = np.zeros((n_outputs, n_features))
        iters = np.zeros(n_outputs, dtype=np.int64)
        oks = np.zeros(n_outputs, dtype=np.bool_)
        seeds = (seed + np.arange(n_outputs)) % np.iinfo(np.int32).max
        primals = np.zeros(n_outputs)
        _dcd_one_vs_rest(Xd, data, indices, indptr, sparse, T, cw, LOSS_CODES[loss], B,
                         tol, gap_tol, max_iter, seeds, W_rows, Wb, iters, oks, primals)
        W = W_rows.T  # a view: one copy of the weights, not two
        n_iter, converged = iters.max(), oks.all()
        return W, Wb * B, int(n_iter), bool(converged), float(primals.sum())
    if head == "crammer_singer":
        # Dense data: the weights class by class (see the kernel), returned as a view.
        W = np.zeros((n_features, n_outputs) if sparse else (n_outputs, n_features))
        n_iter, converged = _dcd_crammer_singer(Xd, data, indices, indptr, sparse, y, cw,
                                                LOSS_CODES[loss], B, tol, gap_tol,
                                                max_iter, seed, W, Wb,
                                                np.zeros((len(y), n_outputs)))
        return (W if sparse else W.T), Wb * B, int(n_iter), bool(converged), None
    W = np.zeros((n_features, n_outputs))
    if head == "weston_watkins":
        n_iter, converged = _dcd_weston_watkins(Xd, data, indices, indptr, sparse, y, cw,
                                                LOSS_CODES[loss], B, tol, max_iter, seed,
                                                W, Wb)
    else:
        raise ValueError(f"dual coordinate descent does not solve head={head!r} "
                         f"with loss={loss!r}")
    return W, Wb * B, int(n_iter), bool(converged), None


# ------------------------------------------------ L1-penalised primal descent


@njit(cache=True)
def _cd_l1_squared_hinge(data, indices, indptr, n_samples, t, cw, B, tol, max_iter, w):
    """Primal coordinate descent for ``||w||_1 + sum_i cw_i max(0, 1 - t_i w x_i)^2``.

    The CDN method of Yuan et al. (2010) that liblinear uses: a one-variable Newton step
    on the smooth part plus the absolute value, then a backtracking line search. ``X`` is
    CSC; when ``B > 0`` the last weight is the intercept's, a constant column of value B.
    Returns ``(n_iter, converged)``.
    """
    n_features = indptr.shape[0] - 1
    n_weights = w.shape[0]
    margin = np.ones(n_samples)  # b_i = 1 - t_i w x_i
    for j in range(n_weights):
        if w[j] != 0.0:
            if j < n_features:
                for p in range(indptr[j], indptr[j + 1]):
                    margin[indices[p]] -= t[indices[p]] * w[j] * data[p]
            else:
                for i in range(n_samples):
                    margin[i] -= t[i] * w[j] * B
    sigma = 0.01
    first_violation = -1.0
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        max_violation = 0.0
        for j in range(n_weights):
            G = 0.0
            H = 0.0
            if j < n_features:
                for p in range(indptr[j], indptr[j + 1]):
                    i = indices[p]
                    if margin[i] > 0.0:
                        v = data[p]
                        G -= 2.0 * cw[i] * t[i] * v * margin[i]
                        H += 2.0 * cw[i] * v * v
            else:
                for i in range(n_samples):
                    if margin[i] > 0.0:
                        G -= 2.0 * cw[i] * t[i] * B * margin[i]
                        H += 2.0 * cw[i] * B * B
            H = max(H, 1e-12)
            wj = w[j]
            if wj > 0.0:
                violation = abs(G + 1.0)
            elif wj < 0.0:
                violation = abs(G - 1.0)
            else:
                violation = max(G - 1.0, -1.0 - G, 0.0)
            max_violation = max(max_violation, violation)
            if G + 1.0 <= H * wj:
                d = -(G + 1.0) / H
            elif G - 1.0 >= H * wj:
                d = -(G - 1.0) / H
            else:
                d = -wj
            if abs(d) < 1e-12:
                continue
            # Backtracking line search on the exact change of the objective.
            step = 1.0
            bound = G * d + abs(wj + d) - abs(wj)
            for _ in range(30):
                delta = step * d
                change = abs(wj + delta) - abs(wj)
                if j < n_features:
                    for p in range(indptr[j], indptr[j + 1]):
                        i = indices[p]
                        old = max(margin[i], 0.0)
                        nb = max(margin[i] - t[i] * delta * data[p], 0.0)
                        change += cw[i] * (nb * nb - old * old)
                else:
                    for i in range(n_samples):
                        old = max(margin[i], 0.0)
                        nb = max(margin[i] - t[i] * delta * B, 0.0)
                        change += cw[i] * (nb * nb - old * old)
                if change <= sigma * step * bound:
                    break
                step *= 0.5
            delta = step * d
            w[j] = wj + delta
            if j < n_features:
                for p in range(indptr[j], indptr[j + 1]):
                    margin[indices[p]] -= t[indices[p]] * delta * data[p]
            else:
                for i in range(n_samples):
                    margin[i] -= t[i] * delta * B
        if first_violation < 0.0:
            first_violation = max_violation
        if max_violation <= tol * max(first_violation, 1e-12):
            converged = True
            break
    return it, converged


def cd_l1(X, y, s, *, C, head, intercept_scaling, fit_intercept, n_outputs, tol, max_iter):
    """L1-penalised linear SVM (squared hinge), one output at a time.

    Returns ``(W, b, n_iter, converged)``; the intercept is penalised as liblinear does.
    """
    if head not in ("binary", "ovr"):
        raise ValueError(f"the L1 coordinate descent solves binary and one-vs-rest "
                         f"problems; got head={head!r}")
    Xc = sp.csc_matrix(X) if not sp.issparse(X) else X.tocsc()
    Xc.sort_indices()
    n_samples, n_features = Xc.shape
    B = float(intercept_scaling) if fit_intercept else 0.0
    cw = C * np.asarray(s, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    W = np.zeros((n_features, n_outputs))
    b = np.zeros(n_outputs)
    n_iter, converged = 0, True
    for k in range(n_outputs):
        target = y if head == "binary" else (y == k).astype(np.int64)
        t = 2.0 * target - 1.0
        w = np.zeros(n_features + (1 if fit_intercept else 0))
        it, ok = _cd_l1_squared_hinge(Xc.data, _unsigned(Xc.indices),
                                      _unsigned(Xc.indptr), n_samples, t, cw, B, tol,
                                      max_iter, w)
        W[:, k] = w[:n_features]
        if fit_intercept:
            b[k] = w[-1] * B
        n_iter = max(n_iter, it)
        converged = converged and ok
    return W, b, int(n_iter), bool(converged)


# ----------------------------------------------------------- minibatch training


@njit(cache=True)
def _activate_inplace(Z, act, D):
    """Applies the activation to ``Z`` and writes its derivative into ``D``."""
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            z = Z[i, j]
            if act == 1:
                if z > 0.0:
                    D[i, j] = 1.0
                else:
                    Z[i, j] = 0.0
                    D[i, j] = 0.0
            elif act == 2:
                h = np.tanh(z)
                Z[i, j] = h
                D[i, j] = 1.0 - h * h
            elif act == 3:
                h = 1.0 / (1.0 + np.exp(-z))
                Z[i, j] = h
                D[i, j] = h * (1.0 - h)
            else:
                D[i, j] = 1.0


@njit(cache=True)
def _update(P, grad, M, V, opt, lr, momentum, beta1, beta2, eps, step):
    """One optimizer step on a flat view of a parameter array."""
    if opt == 1:
        lr_t = lr * np.sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step)
        for i in range(P.shape[0]):
            g = grad[i]
            M[i] = beta1 * M[i] + (1.0 - beta1) * g
            V[i] = beta2 * V[i] + (1.0 - beta2) * g * g
            P[i] -= lr_t * M[i] / (np.sqrt(V[i]) + eps)
    else:
        for i in range(P.shape[0]):
            M[i] = momentum * M[i] - lr * grad[i]
            P[i] += M[i]


@njit(cache=True)
def _epoch_kernel(Xd, data, indices, indptr, sparse, y, s, perm, batch_size, Ws, bs,
                  MW, Mb, VW, Vb, step, opt, lr, momentum, beta1, beta2, eps, penalty,
                  act, loss, head, noise, dropout, train_output_bias, seed):
    """One pass of minibatch training over ``perm``; returns ``(sum s_n loss_n, step)``.

    Each batch minimises ``penalty/2 sum ||W_l||^2 + mean_batch(s_n loss_n)``, the primal
    objective divided by ``C n`` (``penalty = 1/(C n)``), so learning rates mean what they
    mean in MLPClassifier.
    """
    np.random.seed(seed)
    n = perm.shape[0]
    n_features = Ws[0].shape[0]
    n_layers = len(Ws)
    total = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        m = stop - start
        Xb = np.zeros((m, n_features), dtype=Ws[0].dtype)
        yb = np.empty(m, dtype=y.dtype)
        sb = np.empty(m, dtype=Ws[0].dtype)
        for r in range(m):
            i = perm[start + r]
            yb[r] = y[i]
            sb[r] = s[i]
            if sparse:
                for p in range(indptr[i], indptr[i + 1]):
                    Xb[r, indices[p]] = data[p]
            else:
                for j in range(n_features):
                    Xb[r, j] = Xd[i, j]
        if noise > 0.0:
            for r in range(m):
                for j in range(n_features):
                    Xb[r, j] += noise * np.random.standard_normal()
        hidden = [Xb]
        derivs = [Xb]
        H = Xb
        for layer in range(n_layers):
            Z = H @ Ws[layer]
            Z += bs[layer]
            if layer < n_layers - 1:
                D = np.empty_like(Z)
                _activate_inplace(Z, act, D)
                if dropout > 0.0:
                    keep = 1.0 / (1.0 - dropout)
                    for r in range(Z.shape[0]):
                        for c in range(Z.shape[1]):
                            if np.random.random() < dropout:
                                Z[r, c] = 0.0
                                D[r, c] = 0.0
                            else:
                                Z[r, c] *= keep
                                D[r, c] *= keep
                hidden.append(Z)
                derivs.append(D)
            H = Z
        G = np.empty_like(H)
        total += _head_kernel(H, yb, sb, loss, head, G, 0.0)
        inv_m = 1.0 / m
        for r in range(G.shape[0]):
            for c in range(G.shape[1]):
                G[r, c] *= inv_m
        step += 1
        for layer in range(n_layers - 1, -1, -1):
            W = Ws[layer]
            gW = hidden[layer].T @ G
            for r in range(W.shape[0]):
                for c in range(W.shape[1]):
                    gW[r, c] += penalty * W[r, c]
            gb = np.zeros(G.shape[1], dtype=G.dtype)
            for r in range(G.shape[0]):
                gb += G[r]
            if layer > 0:
                G = (G @ W.T) * derivs[layer]
            _update(W.reshape(-1), gW.reshape(-1), MW[layer].reshape(-1),
                    VW[layer].reshape(-1), opt, lr, momentum, beta1, beta2, eps, step)
            if layer < n_layers - 1 or train_output_bias:
                _update(bs[layer], gb, Mb[layer], Vb[layer], opt, lr, momentum, beta1,
                        beta2, eps, step)
    return total, step


def epoch(params, state, X, y, s, perm, *, batch_size, optimizer, learning_rate, momentum,
          beta1, beta2, epsilon, penalty, activation, loss, head, input_noise, dropout,
          train_output_bias, seed):
    """One epoch of minibatch training, updating ``params`` and ``state`` in place.

    ``params`` is ``(coefs, intercepts)``, lists of arrays in the training dtype;
    ``state`` holds the optimizer moments and the step count (a dict). Returns the epoch's
    weighted data loss ``sum_n s_n loss_n``.
    """
    Xd, data, indices, indptr, sparse = _as_kernel_data(X)
    coefs, intercepts = params
    total, state["step"] = _epoch_kernel(
        Xd, data, indices, indptr, sparse, y, s.astype(coefs[0].dtype, copy=False),
        perm, int(batch_size), List(coefs), List(intercepts), List(state["m_coefs"]),
        List(state["m_intercepts"]), List(state["v_coefs"]), List(state["v_intercepts"]),
        int(state["step"]), OPTIMIZER_CODES[optimizer], float(learning_rate),
        float(momentum), float(beta1), float(beta2), float(epsilon), float(penalty),
        ACTIVATION_CODES[activation], LOSS_CODES[loss], HEAD_CODES[head],
        float(input_noise), float(dropout), bool(train_output_bias), int(seed))
    return total


# ---------------------------------------------------------------- Newton on small problems
# A small problem's Newton iteration is a few microseconds of arithmetic and a few hundred
# of Python around it (one call per output for the Hessian, its Cholesky factor and the
# line search). These kernels run the whole method in compiled code: the same
# iterations, Hessians, steps and stopping tests as the solvers' Newton's method.


@njit(cache=True, inline="always")
def _margin_terms(m, loss, width):
    """(l, l', l'') at margin m of the log loss, the squared hinge or the hinge smoothed
    over ``width`` (the package's ``_losses`` definitions)."""
    if loss == _LOG_LOSS:
        if m > 0.0:
            e = math.exp(-m)
            p = e / (1.0 + e)  # sigmoid(-m)
            return math.log1p(e), -p, p * (1.0 - p)
        e = math.exp(m)
        p = 1.0 / (1.0 + e)
        return -m + math.log1p(e), -p, p * (1.0 - p)
    r = 1.0 - m
    if r <= 0.0:
        return 0.0, 0.0, 0.0
    if loss == _SQUARED_HINGE:
        return r * r, -2.0 * r, 2.0
    if r >= width:
        return r - 0.5 * width, -1.0, 0.0
    return r * r / (2.0 * width), -r / width, 1.0 / width


@njit(cache=True)
def _cholesky_solve(H, g, out):
    """out = H^-1 g for symmetric positive semi-definite H (m x m), by Cholesky, with
    the diagonal damped by growing multiples of its largest entry until it factors."""
    m = H.shape[0]
    L = np.empty_like(H)
    largest = 0.0
    for i in range(m):
        largest = max(largest, abs(H[i, i]))
    damping = 0.0
    while True:
        ok = True
        for j in range(m):
            total = H[j, j] + damping
            for p in range(j):
                total -= L[j, p] * L[j, p]
            if not total > 0.0:
                ok = False
                break
            L[j, j] = math.sqrt(total)
            for i in range(j + 1, m):
                total = H[i, j]
                for p in range(j):
                    total -= L[i, p] * L[j, p]
                L[i, j] = total / L[j, j]
        if ok:
            break
        damping = max(10.0 * damping, 1e-12 * max(largest, 1e-300))
    for i in range(m):  # L u = g, then L^T out = u
        total = g[i]
        for p in range(i):
            total -= L[i, p] * out[p]
        out[i] = total / L[i, i]
    for i in range(m - 1, -1, -1):
        total = out[i]
        for p in range(i + 1, m):
            total -= L[p, i] * out[p]
        out[i] = total / L[i, i]


@njit(cache=True)
def _small_line_search(z, q, t, s, C, wp, pp, loss, width):
    """The exact minimiser ``alpha >= 0`` of one output's objective along ``(p, pb)``:
    Newton's method on its derivative, safeguarded by bisection (as the solvers' line
    search of Newton's method)."""
    n = z.shape[0]
    slope0 = wp
    for i in range(n):
        slope0 += C * s[i] * t[i] * q[i] * _margin_terms(t[i] * z[i], loss, width)[1]
    slope0 = abs(slope0)
    lo, hi, alpha = 0.0, np.inf, 1.0
    for _ in range(60):
        slope = wp + alpha * pp
        curvature = pp
        for i in range(n):
            _, d1, d2 = _margin_terms(t[i] * (z[i] + alpha * q[i]), loss, width)
            slope += C * s[i] * t[i] * q[i] * d1
            curvature += C * s[i] * q[i] * q[i] * d2
        if abs(slope) <= 1e-12 * slope0:
            break
        if slope > 0.0:
            hi = alpha
        else:
            lo = alpha
        step = alpha - slope / curvature if curvature > 0.0 else np.inf
        if lo < step < hi:
            alpha = step
        elif hi < np.inf:
            alpha = 0.5 * (lo + hi)
        else:
            alpha = 2.0 * max(alpha, 1.0)
        if hi - lo <= 1e-15 * max(alpha, 1.0):
            break
    return alpha


@njit(cache=True)
def _newton_small(X, T, s, W, b, Z, C, l2, rho, loss, width, fit_intercept, decrement_tol,
                  gradient_tol, max_iter, iters, oks):
    """Newton's method on each output in turn, in place on W, b and Z = X W + b."""
    n, d = X.shape
    K = T.shape[1]
    m = d + 1 if fit_intercept else d
    total_s = 0.0
    for i in range(n):
        total_s += s[i]
    scale = 1.0 / (C * total_s)
    H = np.empty((m, m))
    g = np.empty(m)
    p = np.empty(m)
    q = np.empty(n)
    z = np.empty(n)
    t = np.empty(n)
    for k in range(K):
        for i in range(n):
            z[i] = Z[i, k]
            t[i] = T[i, k]
        iters[k] = 0
        oks[k] = False
        while iters[k] < max_iter:
            H[:, :] = 0.0
            g[:] = 0.0
            value = 0.0
            for i in range(n):
                v, d1, d2 = _margin_terms(t[i] * z[i], loss, width)
                value += s[i] * v
                gi = C * s[i] * t[i] * d1
                hi = C * s[i] * d2
                for j in range(d):
                    g[j] += gi * X[i, j]
                if fit_intercept:
                    g[d] += gi
                if hi != 0.0:
                    for j in range(d):
                        xj = hi * X[i, j]
                        for l in range(j + 1):
                            H[j, l] += xj * X[i, l]
                    if fit_intercept:
                        for l in range(d):
                            H[d, l] += hi * X[i, l]
                        H[d, d] += hi
            penalty = 0.0
            largest = 0.0
            for j in range(d):
                penalty += l2 * W[j, k] * W[j, k]
                g[j] += l2 * W[j, k]
                H[j, j] += l2
                largest = max(largest, abs(g[j]))
            if fit_intercept:
                penalty += rho * b[k] * b[k]
                g[d] += rho * b[k]
                H[d, d] += rho
                largest = max(largest, abs(g[d]))
            objective = 0.5 * penalty + C * value
            if largest * scale <= gradient_tol:
                oks[k] = True
                break
            for j in range(m):
                for l in range(j):
                    H[l, j] = H[j, l]
            _cholesky_solve(H, g, p)  # p = H^-1 g; the step is -p
            decrement = 0.0
            for j in range(m):
                p[j] = -p[j]
                decrement -= 0.5 * g[j] * p[j]
            pb = p[d] if fit_intercept else 0.0
            for i in range(n):
                total = pb
                for j in range(d):
                    total += X[i, j] * p[j]
                q[i] = total
            wp = rho * b[k] * pb
            pp = rho * pb * pb
            for j in range(d):
                wp += l2 * W[j, k] * p[j]
                pp += l2 * p[j] * p[j]
            alpha = _small_line_search(z, q, t, s, C, wp, pp, loss, width)
            if not np.isfinite(alpha):
                return False
            for j in range(d):
                W[j, k] += alpha * p[j]
            b[k] += alpha * pb
            for i in range(n):
                z[i] += alpha * q[i]
            iters[k] += 1
            if decrement <= decrement_tol * objective:
                oks[k] = True
                break
        for i in range(n):
            Z[i, k] = z[i]
    return True


def newton_small(X, T, s, W, b, Z, *, C, l2, rho, loss, width, fit_intercept,
                 decrement_tol, gradient_tol, max_iter):
    """Newton's method for the binary and one-vs-rest heads on a small dense X.

    Each output ``k`` (targets ``T[:, k]`` of +-1) is trained from ``W[:, k]``,
    ``b[k]`` with ``Z = X W + b`` given; all three are updated in place (float64). Per
    iteration: the exact Hessian ``l2 I + C X^T diag(s l'') X`` bordered by the
    intercept (penalty ``rho``), its Cholesky factor (damped if singular), the exact line
    search; an output stops when its largest gradient entry times ``1 / (C sum(s))`` is
    at most ``gradient_tol``, or after a step whose Newton decrement was at most
    ``decrement_tol`` times its objective. ``loss`` "hinge" means the hinge smoothed
    over ``width``. Returns ``(iterations, converged)``, one entry per output.
    """
    if loss == "hinge" and not (width or 0.0) > 0.0:
        raise ValueError(f"the hinge is trained smoothed: width must be > 0, got {width!r}")
    n_outputs = T.shape[1]
    iters = np.zeros(n_outputs, dtype=np.int64)
    oks = np.zeros(n_outputs, dtype=np.bool_)
    finite = _newton_small(np.ascontiguousarray(X, dtype=np.float64), T,
                           np.asarray(s, dtype=np.float64), W, b, Z, float(C), float(l2),
                           float(rho), LOSS_CODES[loss], float(width or 0.0),
                           bool(fit_intercept), float(decrement_tol), float(gradient_tol),
                           int(max_iter), iters, oks)
    if not finite:
        raise FloatingPointError("Newton's line search produced a non-finite step.")
    return iters, oks
