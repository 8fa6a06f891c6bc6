"""The heads and their losses: the data term and its gradient in the outputs, and along a
subspace's directions (subspace descent)."""

import numpy as np
from numba import get_num_threads, njit, prange

from ._codes import HEAD_CODES, LOSS_CODES, _HINGE, _LOG_LOSS, _MULTINOMIAL, _SQUARED_HINGE
from .rows import _even_shares


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


#: ``2^k`` for ``k = -1075 .. 0`` (the first is 0): the scale of :func:`_exp_nonpositive`,
#: read from a table so that the loop needs no bit manipulation and stays in SIMD lanes.
_POWERS_OF_TWO = np.ldexp(1.0, np.arange(-1075, 1))
# ln 2 in two parts, the first with trailing zeros so that k times it is exact; 1 / ln 2.
_LN2_HIGH, _LN2_LOW = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700


@njit(cache=True, fastmath={"contract"})
def _exp_nonpositive(x, out):
    """``out = exp(x)`` for a 1-D float64 ``x`` of entries at most 0, to 2 units in the
    last place, NaN kept. (``out`` may be ``x``, but then LLVM's check for overlap sends
    the loop down its scalar path.)

    numba calls libm's exp one entry at a time (no SIMD library here); this loop, with
    ``exp(x) = 2^k exp(r)``, ``|r| <= ln(2) / 2``, and exp(r) by its Taylor polynomial
    to degree 12 (truncation error 2e-16), is vectorised by LLVM: 4-5x faster, on a
    par with numpy's SIMD exp. Entries below -745.2 give 0, as exp does.
    """
    for e in range(x.shape[0]):
        v = x[e]
        clamped = v if v >= -746.0 else -746.0  # (NaN too: kept by the select below)
        k = np.floor(clamped * _INV_LN2 + 0.5)
        r = (clamped - k * _LN2_HIGH) - k * _LN2_LOW
        p = 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        index = min(max(np.int64(k) + 1075, 0), 1075)
        result = p * _POWERS_OF_TWO[index]
        out[e] = result if v == v else v


@njit(cache=True)
def _softmax_head(F, y, s, G):
    """The multinomial head of :func:`_head_kernel`: the rows' exponentials go through
    one flat :func:`_exp_nonpositive`, the largest output of each row subtracted."""
    n, K = F.shape
    top = np.empty(n)
    shifted = np.empty(n * K)
    exps = np.empty(n * K)
    for i in range(n):
        t = F[i, 0]
        for k in range(1, K):
            t = max(t, F[i, k])
        top[i] = t
        for k in range(K):
            shifted[i * K + k] = F[i, k] - t
    _exp_nonpositive(shifted, exps)
    total = 0.0
    for i in range(n):
        si = s[i]
        if si == 0.0:
            for k in range(K):
                G[i, k] = 0.0
            continue
        norm = 0.0
        for k in range(K):
            norm += exps[i * K + k]
        total += si * (top[i] + np.log(norm) - F[i, y[i]])
        scale = si / norm
        for k in range(K):
            G[i, k] = exps[i * K + k] * scale
        G[i, y[i]] -= si
    return total


@njit(cache=True)
def _head_kernel(F, y, s, loss, head, G, width):
    """Writes ``s_n * dloss_n/dF`` into ``G`` and returns ``sum_n s_n loss_n``, smoothed
    over ``width`` where that is positive (see :func:`head_loss`)."""
    n, K = F.shape
    if head == _MULTINOMIAL:
        return _softmax_head(F, y, s, G)
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
    return _even_shares(n, get_num_threads() if n >= HEAD_THREADED_MIN_ROWS else 1)


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
