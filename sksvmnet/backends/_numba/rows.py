"""Rows of the data as the kernels take it, ``(Xd, data, indices, indptr, sparse)``, and
the products of one row with the weights that the coordinate-descent sweeps make."""

import llvmlite.ir as llvm_ir
import numpy as np
import scipy.sparse as sp
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: The sweeps ask for a row's memory this many rows before they reach it ...
PREFETCH_AHEAD = 2
#: ... where the rows an epoch visits hold more bytes than this (half the last-level
#: cache of the machine it was measured on, 32 MiB shared by its two cores): rows that
#: stay in a cache gain nothing, and the requests cost time. Squared-hinge fits on one
#: thread, the rows' bytes (data and indices) against the time with requests over that
#: without: synthetic text, 0.7 MiB 1.50x, 2.7 MiB 1.33x, 5.5 MiB 1.26x, 10 MiB 1.10x,
#: 14 MiB 1.06x, 21 MiB 0.86x; the Debian text one-vs-rest on two threads, 5,000 rows
#: (5.3 MiB) 1.40x, 15,000 (14 MiB) 1.19x, 30,000 (31 MiB) 0.95x, all 48,550 (50 MiB)
#: 1.0x (the threshold was 512 KiB, half a core's second-level cache, before).
PREFETCH_MIN_BYTES = 2 ** 24


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


def _even_shares(n, n_parts):
    """Row bounds ``shares`` that split ``n`` rows evenly into ``n_parts`` runs, run
    ``t`` being ``shares[t]:shares[t + 1]`` (for ``n_parts`` threads)."""
    return (np.arange(n_parts + 1) * n // n_parts).astype(np.int64)


def _unsigned(index):
    """The same non-negative integers, viewed as the unsigned type of their width."""
    return index.view(np.dtype(index.dtype.str.replace("i", "u")))


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask the CPU to bring the cache line of ``array``'s element ``index`` (counted
    over its buffer, whatever its dimensions) into its caches, for reading, without
    waiting for it: LLVM's ``prefetch`` intrinsic. It changes no value."""
    def codegen(context, builder, signature, args):
        buffer = context.make_array(signature.args[0])(context, builder, args[0])
        byte = llvm_ir.IntType(8).as_pointer()
        i32 = llvm_ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, llvm_ir.FunctionType(llvm_ir.VoidType(),
                                                 [byte, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        address = builder.bitcast(builder.gep(buffer.data, [args[1]]), byte)
        # (read, keep in all cache levels, data cache)
        builder.call(function, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, types.intp), codegen


@njit(cache=True)
def _prefetch_span(array, start, stop):
    """Ask for the cache lines of ``array``'s elements ``start:stop`` (counted over its
    buffer): one request per 64-byte line, counted from the line ``start`` lies in
    where the buffer starts on a line (a span starting mid-line then loses no line)."""
    step = max(1, 64 // array.itemsize)
    for p in range(start - start % step, stop, step):
        _prefetch(array, p)


@njit(cache=True)
def _prefetch_row(Xd, data, indices, indptr, sparse, i):
    """Start loading row ``i`` into the caches (a hint; nothing is read or written)."""
    if sparse:
        start, end = np.int64(indptr[i]), np.int64(indptr[i + 1])
        _prefetch_span(data, start, end)
        _prefetch_span(indices, start, end)
    else:
        d = Xd.shape[1]
        _prefetch_span(Xd, i * d, (i + 1) * d)


@njit(cache=True)
def _prefetch_ahead(Xd, data, indices, indptr, sparse, order, s, active):
    """Ask for the row a sweep over ``order[:active]``, now at position ``s``, visits
    ``PREFETCH_AHEAD`` visits later (:func:`_prefetch_row`).

    The coordinate-descent sweeps visit the rows in a random order, which the CPU's own
    prefetcher cannot follow: each row's first cache lines missed, and an epoch over
    sparse text took 2-3x as long as a pass in storage order. Asking for the row
    ``PREFETCH_AHEAD`` visits ahead halves that, where the rows an epoch visits hold
    more than ``PREFETCH_MIN_BYTES``.
    """
    if s + PREFETCH_AHEAD < active:
        _prefetch_row(Xd, data, indices, indptr, sparse, order[s + PREFETCH_AHEAD])


@njit(cache=True)
def _shuffle_state(seed):
    """The non-zero 64-bit state :func:`_shuffle` starts from, ``seed`` mixed by
    splitmix64's finaliser (so that the consecutive seeds of one-vs-rest's outputs start
    unrelated streams)."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z if z != np.uint64(0) else np.uint64(1)


@njit(cache=True)
def _shuffle(order, active, state):
    """Shuffle ``order[:active]`` in place (Fisher-Yates, drawing by xorshift64) and
    return the generator's next state.

    The coordinate-descent sweeps reorder their rows every epoch. ``np.random.shuffle``
    draws each position through the Mersenne twister with rejection, a cost per row
    that was up to a tenth of the sweep's own on sparse text, whose rows are cheap to
    update (CHANGELOG.md has the probes). The modulo's bias, below ``active / 2^64``,
    does not matter to a sweep order. ``state`` must be a uint64 (from
    :func:`_shuffle_state` or this function).
    """
    for q in range(active - 1, 0, -1):
        state ^= state << np.uint64(13)
        state ^= state >> np.uint64(7)
        state ^= state << np.uint64(17)
        r = np.int64(state % np.uint64(q + 1))
        order[q], order[r] = order[r], order[q]
    return state


@njit(cache=True)
def _mean_row_bytes(Xd, data, indices, indptr, sparse):
    """The bytes of storage a row of the data takes, on average."""
    if sparse:
        n = indptr.shape[0] - 1
        return (data.itemsize + indices.itemsize) * (indptr[n] - indptr[0]) / max(n, 1)
    return Xd.itemsize * Xd.shape[1]


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
def _row_minus_outer(Xd, data, indices, indptr, sparse, i, delta, W):
    """``W -= x_i^T delta`` for ``W`` of shape (n_features, K)."""
    K = W.shape[1]
    if sparse:
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            j = indices[p]
            for k in range(K):
                W[j, k] -= v * delta[k]
    else:
        for j in range(Xd.shape[1]):
            v = Xd[i, j]
            if v != 0.0:
                for k in range(K):
                    W[j, k] -= v * delta[k]


@njit(cache=True)
def _row_axpy_column(Xd, data, indices, indptr, sparse, i, a, W, k):
    """``W[:, k] += a * x_i``."""
    if sparse:
        for p in range(indptr[i], indptr[i + 1]):
            W[indices[p], k] += a * data[p]
    else:
        for j in range(Xd.shape[1]):
            W[j, k] += a * Xd[i, j]
