"""One epoch of minibatch training of a network (Adam or SGD), as one compiled kernel."""

import numpy as np
from numba import njit
from numba.typed import List

from ._codes import ACTIVATION_CODES, HEAD_CODES, LOSS_CODES, OPTIMIZER_CODES
from .heads import _head_kernel
from .rows import _as_kernel_data


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


#: ``(groups, lists)`` of the last epoch: the numba typed lists of its weights and moments.
#: A fit's epochs pass the same arrays every time (the kernel updates them in place), and
#: building the six lists anew cost about 0.4 ms an epoch, a third of an epoch of a
#: 64-100-10 network on digits. :func:`forget` (the backend's ``fit_scope``) drops them.
_last_lists = None


def _kernel_lists(groups):
    """Typed lists of ``groups`` (sequences of arrays): the last call's when it passed
    the same array objects, in the same groups."""
    global _last_lists
    groups = tuple(tuple(group) for group in groups)
    cached = _last_lists  # (read once: another thread's fit may replace it)
    if cached is not None and _same_objects(cached[0], groups):
        return cached[1]
    lists = tuple(List(group) for group in groups)
    _last_lists = (groups, lists)
    return lists


def _same_objects(these, those):
    """Whether two tuples of tuples hold the very same objects, in the same places."""
    shape = [len(group) for group in these]
    return shape == [len(group) for group in those] and all(
        a is b for mine, theirs in zip(these, those) for a, b in zip(mine, theirs))


def forget():
    """Drop the kept typed lists (and with them the last fit's arrays)."""
    global _last_lists
    _last_lists = None


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
        perm, int(batch_size),
        *_kernel_lists((coefs, intercepts, state["m_coefs"], state["m_intercepts"],
                        state["v_coefs"], state["v_intercepts"])),
        int(state["step"]), OPTIMIZER_CODES[optimizer], float(learning_rate),
        float(momentum), float(beta1), float(beta2), float(epsilon), float(penalty),
        ACTIVATION_CODES[activation], LOSS_CODES[loss], HEAD_CODES[head],
        float(input_noise), float(dropout), bool(train_output_bias), int(seed))
    return total
