"""Rows of the data as the kernels take it, ``(Xd, data, indices, indptr, sparse)``, and
the products of one row with the weights that the coordinate-descent sweeps make."""

import numpy as np
import scipy.sparse as sp
from numba import njit


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
