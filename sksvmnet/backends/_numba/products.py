"""Passes over X: the objective and gradient of the linear model (a fused pass over dense
X), ``X W``, ``X^T G`` (from a CSC copy of wide sparse X kept for a fit:
:func:`keep_columns`) and the weighted Gram matrices of Newton's method."""

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from numba import get_num_threads, njit, prange

from ..._threads import one_blas_thread
from ._codes import HEAD_CODES, LOSS_CODES
from .heads import _head_kernel, _smoothing, head_loss
from .rows import _as_kernel_data, _even_shares, _prefetch_span


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


@njit(cache=True)
def _column_sums(G):
    """``G.sum(axis=0)`` in float64: numpy's reduction down the columns of a tall, narrow
    array costs ~30 us for 1,347 x 10, a tenth of a small fit's objective pass."""
    sums = np.zeros(G.shape[1])
    for i in range(G.shape[0]):
        for k in range(G.shape[1]):
            sums[k] += G[i, k]
    return sums


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
        return value, (X.T @ G).astype(np.float64), _column_sums(G)
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

    Small sparse X: one product by scipy; dense X, by BLAS in X's dtype, on numba's
    threads a block of rows each from ``THREADED_MIN_ENTRIES`` entries on. Larger CSR X:
    a kernel on all of numba's threads, each taking a share of the rows (scipy's product
    uses one thread), summing in float64. (A solver that passes the same ``out`` each
    iteration spares the memory system a fresh, page-faulting array a call.)
    """
    if not sp.issparse(X):
        if _dense_threaded(X):
            shape = (X.shape[0], W.shape[1])
            into = out if _is_result_array(out, shape) else np.empty(shape)
            _dense_matmat(X, np.ascontiguousarray(W, dtype=X.dtype),
                          _even_shares(X.shape[0], get_num_threads()), into)
            return into if out is None or into is out else _into(out, into)
        return _into(out, X @ W.astype(X.dtype, copy=False))
    if X.nnz < THREADED_MIN_NONZEROS:
        return _into(out, X @ W.astype(X.dtype, copy=False))
    _, data, indices, indptr, _ = _as_kernel_data(X)
    W = np.ascontiguousarray(W, dtype=np.float64)
    shares = _row_shares(indptr, get_num_threads())
    out = _result_array(out, (X.shape[0], W.shape[1]))
    if W.shape[1] == 1:  # (1-D arrays: numba indexes a column view as a strided array)
        _csr_matvec(data, indices, indptr, np.ascontiguousarray(W[:, 0]), shares,
                    out.reshape(-1))
    else:
        _csr_matmat(data, indices, indptr, W, shares, out,
                    _product_prefetch(*W.shape))
    return out


#: Entries of scratch that :func:`transposed_product` may take for CSR X (256 MiB).
TRANSPOSED_SCRATCH_ENTRIES = 2 ** 25

# Within a fit, X^T G of a CSR matrix with several outputs and no more rows than columns
# reads a CSC copy of X (:func:`keep_columns`), made at the fit's second such product
# (a fit that asks once, for an objective's value, does not pay for it): each thread
# sums its share of the columns straight into the result, gathering rows of G, where
# the CSR kernel scatters into a copy of the result per thread and sums the copies. The
# array read in a random order is then G, no bigger than one copy of the result,
# instead of the copies. Measured on two threads, 58 outputs: a training fold of the
# Debian text (12,000 x 106,837) took 12 ms against the copies' 36 ms, its conversion
# 7 ms once a fit; a 20,000 x 200,000 Zipf-distributed matrix 15 ms against 46; the
# full Debian text (48,550 x 292,071) 69 ms against 91 ms of the kernel that serves it
# without the copy (it has no room for two copies of the result, so each thread reads
# all of X for its share of the columns). Where rows outnumber columns the copies are
# the smaller array: a 100,000 x 50,000 matrix took 126 ms against 105, a 200,000 x
# 2,000 one 250 ms against 81.
_kept = threading.local()


@contextmanager
def keep_columns():
    """A context around one fit in which :func:`transposed_product` keeps a CSC copy of
    the wide sparse matrix it is asked about again (found by its identity, which the
    kept reference holds fixed) for the products that follow; the copy is let go at the
    end, so no later fit reads the copy of a matrix changed in place since. Per thread:
    fits running in several threads each keep their own; a nested fit keeps its own and
    gives the outer one's back."""
    previous = getattr(_kept, "columns", None)
    _kept.columns = [None, None]
    try:
        yield
    finally:
        _kept.columns = previous


def _kept_columns(X):
    """The CSC copy of ``X`` kept for this thread's fit: None outside a fit and at the
    first request for X (which is noted), made at the second and kept."""
    kept = getattr(_kept, "columns", None)
    if kept is None:
        return None
    if kept[0] is not X:
        kept[:] = [X, None]
    elif kept[1] is None:
        kept[1] = X.tocsc()
    return kept[1]


def transposed_product(X, G, out=None):
    """``X^T @ G`` in float64, written into ``out`` (d x K, C-contiguous float64) if given.

    Dense or small sparse X: as :func:`outputs` (threaded dense X: each thread's rows
    into its own copy, summed in float64). Larger sparse X with several outputs and no
    more rows than columns, within a fit: from a CSC copy kept for the fit, each thread
    writing a share of the result's rows (:func:`keep_columns`). Other larger sparse X:
    numba's threads each add a share of the CSR rows into their own copy of the result,
    summed at the end (a CSR matrix's columns are scattered, so the threads cannot share
    one). Where ``TRANSPOSED_SCRATCH_ENTRIES`` has no room for a copy per thread, each
    thread reads all of X instead and adds only the entries of its share of the
    columns, straight into the result: more reading of X, no scratch.
    """
    if not sp.issparse(X):
        if _dense_threaded(X):
            shares = _even_shares(X.shape[0], get_num_threads())
            parts = np.empty((len(shares) - 1, X.shape[1], G.shape[1]))
            _dense_rmatmat(X, np.ascontiguousarray(G, dtype=X.dtype), shares, parts)
            return _into(out, parts.sum(axis=0))
        return _into(out, X.T @ G.astype(X.dtype, copy=False))
    if X.nnz < THREADED_MIN_NONZEROS:
        return _into(out, X.T @ G.astype(X.dtype, copy=False))
    G = np.ascontiguousarray(G, dtype=np.float64)
    (n, d), K = X.shape, G.shape[1]
    columns = _kept_columns(X) if K > 1 and n <= d else None
    if columns is not None:
        # X's CSC arrays are X^T's CSR ones: X^T G is the product that gives outputs.
        _, data, indices, indptr, _ = _as_kernel_data(columns, layout="csc")
        out = _result_array(out, (d, K))
        _csr_matmat(data, indices, indptr, G, _row_shares(indptr, get_num_threads()), out,
                    _gather_prefetch(n, K))
        return out
    _, data, indices, indptr, _ = _as_kernel_data(X)
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
        _csr_rmatmat(data, indices, indptr, G, shares, parts, _product_prefetch(d, K))
    if n_parts > 1:
        np.sum(parts, axis=0, out=out)
    return out


#: Dense X with at least this many entries (16 MiB of float64) is multiplied by numba's
#: threads, a block of rows each (one single-threaded BLAS call per thread: BLAS itself
#: is held to one thread in a linear fit, ``sksvmnet._threads``). A product of X this
#: size reads memory for about a millisecond; two cores read it 1.5x faster than one.
THREADED_MIN_ENTRIES = 2 ** 21


def _dense_threaded(X):
    return X.size >= THREADED_MIN_ENTRIES and get_num_threads() > 1 and (
        X.flags.c_contiguous)


@njit(cache=True, parallel=True)
def _dense_matmat(X, W, shares, out):
    """``out = X W`` (float64), thread t on the rows ``shares[t]:shares[t + 1]``."""
    for t in prange(shares.shape[0] - 1):
        lo, hi = shares[t], shares[t + 1]
        out[lo:hi] = np.dot(X[lo:hi], W)


@njit(cache=True, parallel=True)
def _dense_rmatmat(X, G, shares, parts):
    """``sum(parts) = X^T G``, thread t adding its rows' share into ``parts[t]``."""
    for t in prange(shares.shape[0] - 1):
        lo, hi = shares[t], shares[t + 1]
        parts[t] = np.dot(X[lo:hi].T, G[lo:hi])


def _is_result_array(out, shape):
    """Whether ``out`` is what the kernels write into: C-contiguous float64 of ``shape``."""
    return (out is not None and out.shape == shape and out.dtype == np.float64
            and out.flags.c_contiguous)


def _result_array(out, shape):
    """``out`` checked to be what the kernels write into, or a new array."""
    if out is None:
        return np.empty(shape)
    if not _is_result_array(out, shape):
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
    """Bounds on the compressed axis (the rows of a CSR matrix, the columns of a CSC
    one) that deal its non-zeros evenly to ``n_parts`` threads."""
    targets = np.arange(n_parts + 1) * int(indptr[-1]) // n_parts
    after = np.searchsorted(indptr, targets)  # the first row start at or past a target
    before = np.maximum(after - 1, 0)
    bounds = np.where(targets - indptr[before] < indptr[after] - targets, before, after)
    bounds[0], bounds[-1] = 0, len(indptr) - 1
    return bounds.astype(np.int64)


# Thread t of these kernels works on the rows shares[t]:shares[t + 1] of a CSR matrix. One
# output gets its own kernels: a loop over a run-time number of outputs per non-zero made
# the product 2-3x slower.

#: The several-output products ask for the row of the weights (or of the result) that
#: the non-zero this many places on will read (or add to) ...
PRODUCT_PREFETCH_AHEAD = 8
#: ... where that array holds more bytes than this: a feature's row is met in a random
#: order, which the CPU's prefetcher cannot follow once the rows leave the cache. On the
#: Debian text (15,000 x 106,837, one thread) it made X W 1.25x and X^T G 1.5x faster with
#: 55 outputs (47 MB of weights), and ~1.3x with 17 MB; with 4 MB it gained nothing and
#: sometimes lost.
PRODUCT_PREFETCH_MIN_BYTES = 2 ** 23


@njit(cache=True)
def _prefetch_nonzero_row(array, indices, p, ahead, last, K):
    """Ask for the K-wide row of ``array`` that the non-zero ``ahead`` places after
    ``p`` (up to ``last``) will touch: the kernels' look-ahead, none where ``ahead`` is
    0."""
    if ahead > 0 and p + ahead < last:
        row = np.int64(indices[p + ahead]) * K
        _prefetch_span(array, row, row + K)


def _product_prefetch(rows, columns):
    """The kernels' ``ahead``: ``PRODUCT_PREFETCH_AHEAD`` for a rows x columns float64
    array of more than ``PRODUCT_PREFETCH_MIN_BYTES``, else 0 (no requests)."""
    large = 8 * rows * columns > PRODUCT_PREFETCH_MIN_BYTES
    return PRODUCT_PREFETCH_AHEAD if large else 0


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
def _csr_matmat(data, indices, indptr, W, shares, out, ahead):
    """``out = X W``; each non-zero asks for the weights the one ``ahead`` places on
    will read (none where ``ahead`` is 0)."""
    K = W.shape[1]
    for t in prange(shares.shape[0] - 1):
        acc = np.empty(K)  # (summing into out[i] directly was 6x slower)
        last = np.int64(indptr[shares[t + 1]])
        for i in range(shares[t], shares[t + 1]):
            acc[:] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                _prefetch_nonzero_row(W, indices, p, ahead, last, K)
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
def _csr_rmatmat(data, indices, indptr, G, shares, parts, ahead):
    """``sum(parts) = X^T G``, thread t adding its rows into ``parts[t]``; each non-zero
    asks for the row of the result the one ``ahead`` places on will add to (none where
    ``ahead`` is 0)."""
    K = G.shape[1]
    for t in prange(shares.shape[0] - 1):
        acc = parts[t]
        last = np.int64(indptr[shares[t + 1]])
        for i in range(shares[t], shares[t + 1]):
            for p in range(indptr[i], indptr[i + 1]):
                _prefetch_nonzero_row(acc, indices, p, ahead, last, K)
                value = data[p]
                j = indices[p]
                for k in range(K):
                    acc[j, k] += value * G[i, k]


#: The gather from G (:func:`_csr_matmat` on X's CSC arrays, which are X^T's CSR ones)
#: asks ahead for its rows (``PRODUCT_PREFETCH_AHEAD``) where G holds more bytes than
#: this, about half the shared cache of this machine's 32 MiB: with 58 outputs that made
#: the full Debian text's product (G 22 MB) 1.8x faster and a 20,000-row one's (G 9 MB)
#: 1.8x slower.
GATHER_PREFETCH_MIN_BYTES = 2 ** 24


def _gather_prefetch(rows, columns):
    """The gather's ``ahead`` for a rows x columns float64 G (:func:`_product_prefetch`
    is the one for the weights of ``X W``)."""
    return PRODUCT_PREFETCH_AHEAD if 8 * rows * columns > GATHER_PREFETCH_MIN_BYTES else 0


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
#: :func:`weighted_gram` deals its blocks to threads only where they hold at least this
#: many multiply-adds (rows x features^2): starting a pool of threads and waiting for
#: them costs about half a millisecond, and 10,000 x 20 took 0.41 ms on one thread
#: against 0.82 ms on two, 10,000 x 60 3.7 ms against 1.6 ms (this machine).
GRAM_PARALLEL_MIN_WORK = 2 ** 23


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
    whatever BLAS's own thread setting; where that work is small
    (``GRAM_PARALLEL_MIN_WORK``) the calling thread does it all. Sums are float64;
    scratch memory is one block a thread.
    """
    every_row = len(rows) == X.shape[0]
    starts = range(0, len(rows), GRAM_BLOCK_ROWS)
    small = len(rows) * X.shape[1] ** 2 < GRAM_PARALLEL_MIN_WORK
    n_threads = 1 if small else max(1, min(get_num_threads(), len(starts)))
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
