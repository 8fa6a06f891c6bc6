"""The JAX backend: every pass over the data jit-compiled by XLA, on CPU, GPU or TPU.

It computes the objectives, products, Hessians and minibatch epochs of the interface on
JAX's default device and imports nothing from the numba backend. It has no sequential
kernels (``backends.SEQUENTIAL``: dual and L1 coordinate descent, Newton's compiled
loop): the solver table trains those models by solvers made of passes instead.

Structure (losses, head, activation, optimizer, batch size, dtype, device count) is static
and keys the compiled programs; numbers (C, smoothing width, learning rate, weights, which
rows a Hessian takes) are traced. Data are padded on the host with zero-weight rows (and
sparse matrices with explicit zeros) to a few bucketed shapes, reusing a shape sent
before where it is close (:data:`ROW_REUSE`), so cross-validation folds, their refit and
a grid over C run the programs of the first fit (:data:`TRACE_COUNTS` counts the traces;
the tests count every XLA compilation). Over several devices the rows are split among
them.

No global JAX setting is changed: float64 training runs inside the scoped
``jax.enable_x64(True)`` context, which JAX keys its compilation cache on.
"""

import contextlib
import functools
import math
import threading
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse
from jax.sharding import Mesh, NamedSharding, PartitionSpec

#: How many times each jitted function has been traced (compiled) in this process.
TRACE_COUNTS = Counter()


def training_dtype(dtype):
    """float32 on accelerators unless float64 was asked for; the input's type on the CPU.

    A user asks for float64 on a GPU by passing float64 data with JAX's x64 mode switched
    on (``jax.config.update("jax_enable_x64", True)`` or ``JAX_ENABLE_X64=1``); a caller
    that names its training type itself does not ask this function.
    """
    dtype = np.dtype(dtype)
    if jax.default_backend() != "cpu" and dtype == np.float64 and not jax.config.jax_enable_x64:
        return np.dtype(np.float32)
    return dtype


def device():
    """JAX's default device as ``"jax:<platform>:<id>"`` (e.g. ``"jax:gpu:0"``)."""
    # (an array's placement honours jax.default_device, which jax.devices() does not)
    default = next(iter(jnp.zeros(()).devices()))
    return f"jax:{default.platform}:{default.id}"


def threads(n):
    """XLA sizes its own thread pools: nothing to set."""
    return contextlib.nullcontext()


@contextlib.contextmanager
def fit_scope():
    """A context around one fit: the device copies of its data (:func:`_device_matrix`,
    found by the arrays' identity) serve the fit's passes and are released at its end,
    so that no later fit reuses the copy of an array changed in place since, and the
    device's memory is freed."""
    _DEVICE_DATA.clear()
    try:
        yield
    finally:
        _DEVICE_DATA.clear()


def _x64(dtype):
    return jax.enable_x64(np.dtype(dtype) == np.float64)


def _bucket(k):
    """Round ``k`` up to one of a few sizes: at most 25% padding, few distinct shapes."""
    if k <= 8:
        return k
    step = 2 ** (int(math.log2(k)) - 2)
    return -(-k // step) * step


# --------------------------------------------------------------------- losses


def _margin(z, loss, width=None):
    if loss == "hinge" and width is not None:  # smoothed (``_losses.smoothed_hinge``)
        r = 1.0 - z
        return jnp.where(r >= width, r - 0.5 * width,
                         jnp.where(r > 0.0, r * r / (2.0 * width), 0.0))
    if loss == "hinge":
        return jnp.maximum(0.0, 1.0 - z)
    if loss == "squared_hinge":
        r = jnp.maximum(0.0, 1.0 - z)
        return r * r
    return jnp.logaddexp(0.0, -z)


def _losses(F, y, loss, head, width=None):
    """Per-sample losses (the reference's ``HEADS``, written in jax.numpy), smoothed over
    ``width`` where one is given: the hinge's kink, the Crammer-Singer rivals' max."""
    K = F.shape[1]
    onehot = jax.nn.one_hot(y, K, dtype=F.dtype)
    if head == "binary":
        t = 2.0 * y.astype(F.dtype) - 1.0
        return _margin(t * F[:, 0], loss, width)
    if head == "ovr":
        return _margin((2.0 * onehot - 1.0) * F, loss, width).sum(axis=1)
    f_true = jnp.sum(F * onehot, axis=1)
    if head == "crammer_singer" and width is not None:
        # Smoothed: the soft maximum of the rivals (the numba kernel's), whose gradient
        # shares the slope among them by their softmax.
        others = jnp.where(onehot > 0, -jnp.inf, F)
        rival = width * jax.nn.logsumexp(others / width, axis=1)
        return _margin(f_true - rival, loss, width)
    if head == "crammer_singer":
        rival = jnp.max(jnp.where(onehot > 0, -jnp.inf, F), axis=1)
        return _margin(f_true - rival, loss, width)
    if head == "weston_watkins":
        return (_margin(f_true[:, None] - F, loss, width) * (1.0 - onehot)).sum(axis=1)
    return jax.nn.logsumexp(F, axis=1) - f_true


def _crammer_singer_fix(F, y, loss, head, G):
    """Share the Crammer-Singer subgradient among tied rivals, as the reference does.

    Autodiff of ``max`` sends it all to one tied entry; the reference splits it.
    """
    if head != "crammer_singer":
        return G
    onehot = jax.nn.one_hot(y, F.shape[1], dtype=F.dtype)
    others = jnp.where(onehot > 0, -jnp.inf, F)
    best = others.max(axis=1, keepdims=True)
    tied = (others == best).astype(F.dtype)
    rival_grad = (G * (1.0 - onehot)).sum(axis=1, keepdims=True)
    return G * onehot + tied * rival_grad / tied.sum(axis=1, keepdims=True)


@functools.partial(jax.jit, static_argnames=("loss", "head", "smoothed"))
def _head_jit(F, y, s, width, *, loss, head, smoothed):
    TRACE_COUNTS["head_loss"] += 1
    width = width if smoothed else None

    def total(F):
        return jnp.sum(s * _losses(F, y, loss, head, width))

    value, G = jax.value_and_grad(total)(F)
    return value, G if smoothed else _crammer_singer_fix(F, y, loss, head, G)


def head_loss(F, y, s, loss, head, width=None):
    """Weighted data term and its gradient with respect to the outputs ``F``; with a
    ``width``, smoothed as the numba backend's ``head_loss`` says.

    The rows are padded to a bucketed count with zero weights (as the data are), so that
    folds of different sizes share one compilation.
    """
    F = np.asarray(F)
    n, rows = F.shape[0], _padded_rows(F.shape[0])
    with _x64(F.dtype):
        value, G = _head_jit(_place(_padded(F, rows, F.dtype)),
                             _place(_padded(np.asarray(y), rows, np.int32)),
                             _place(_padded(np.asarray(s), rows, F.dtype)),
                             np.asarray(1.0 if width is None else width, F.dtype),
                             loss=loss, head=head, smoothed=width is not None)
        return float(value), np.asarray(G)[:n]


# ------------------------------------------------------------- data on device

_DEVICE_DATA = {}


def _device_matrix(X, dtype, form="matmul"):
    """X on the device, its rows padded with zeros to a bucketed count (:func:`_bucket`).

    Sparse X goes as a BCOO matrix for products (``form="matmul"``), its stored entries
    also padded to a bucketed count (explicit zeros at row 0, column 0), or in ELL form,
    ``(columns, values)`` of shape (rows, longest row), for gathering minibatch rows
    (``form="rows"``). Padding happens on the host, so that folds of different sizes
    reach the device in shapes that one compilation serves, and nothing is compiled to
    pad. Over several devices the rows of a dense or ELL matrix are sharded among them
    (:func:`_place`; a BCOO matrix stays on one). The last conversion is kept for the
    fit (:func:`fit_scope`): a solver calls the backend many times with one X.
    """
    key = (id(X), np.dtype(dtype).str, form)
    cached = _DEVICE_DATA.get("matrix")
    if cached is not None and cached[0] == key:
        return cached[2]
    n = X.shape[0]
    rows = _padded_rows(n)
    with _x64(dtype):
        if sp.issparse(X) and form == "matmul":
            X_dev = _bcoo(X.tocoo(), rows, dtype)
        elif sp.issparse(X):
            X_dev = _ell(X.tocsr(), rows, dtype)
        else:
            padded = np.zeros((rows, X.shape[1]), dtype=dtype)
            padded[:n] = X
            X_dev = _place(padded)
    _DEVICE_DATA["matrix"] = (key, X, X_dev)
    return X_dev


def _device_data(X, y, s, dtype, form="matmul"):
    """X (:func:`_device_matrix`), y and s on the device, padded to the same rows with
    label 0 and weight 0."""
    X_dev = _device_matrix(X, dtype, form)
    rows = _rows_of(X_dev)
    key = (id(y), id(s), np.dtype(dtype).str, rows)
    cached = _DEVICE_DATA.get("targets")
    if cached is None or cached[0] != key:
        with _x64(dtype):
            targets = (_place(_padded(np.asarray(y), rows, np.int32)),
                       _place(_padded(np.asarray(s), rows, dtype)))
        _DEVICE_DATA["targets"] = cached = (key, (y, s), targets)
    return (X_dev, *cached[2])


#: The padded row counts this process has sent data of to the device so far.
_ROW_COUNTS = set()
#: Data of n rows take the smallest row count already used that is at most this many
#: times n, so that a grid search's folds (four fifths of the rows, for 5 folds) and its
#: refit (all of them) share the shapes, and the programs, of the fit before.
ROW_REUSE = 1.5


#: The padded counts of stored entries of the sparse matrices sent so far.
_ENTRY_COUNTS = set()
_COUNTS_LOCK = threading.Lock()


def _padded_rows(n):
    """The rows that data of ``n`` rows are padded to (with zero weights): a count used
    before, within :data:`ROW_REUSE` times n, or else a new bucket (:func:`_bucket`),
    a multiple of the number of devices."""
    return _padded_count(n, _ROW_COUNTS, len(jax.local_devices()))


def _padded_count(n, used, multiple=1):
    """``n`` rounded up to a count in ``used`` (within ``ROW_REUSE`` times n), or to a
    new bucket that is a multiple of ``multiple``, then added to ``used``. (Which sizes
    were used depends on the fits before: the padding, not the model, changes with it;
    the zero-weight rows change sums by rounding at most.)"""
    with _COUNTS_LOCK:  # (fits in several threads share the sets)
        reuse = [count for count in used if n <= count <= ROW_REUSE * n]
        if reuse:
            return min(reuse)
        count = -(-_bucket(max(n, 1)) // multiple) * multiple
        used.add(count)
        return count


def _rows_of(X_dev):
    """The padded rows of a matrix on the device (dense, BCOO or ELL)."""
    return X_dev[0].shape[0] if isinstance(X_dev, tuple) else X_dev.shape[0]


def _padded(a, rows, dtype):
    """``a`` (1-D or 2-D) in ``dtype`` with zero rows appended up to ``rows``."""
    out = np.zeros((rows, *a.shape[1:]), dtype=dtype)
    out[:a.shape[0]] = a
    return out


def _mesh():
    devices = jax.local_devices()
    if len(devices) < 2:
        return None
    return Mesh(np.array(devices), ("batch",))


def _place(a):
    """A host array on the device; over several devices, its rows split among them (the
    jitted products then run data-parallel, the reductions over rows summed across)."""
    mesh = _mesh()
    if mesh is None or a.ndim == 0:
        return jax.device_put(a)  # (jnp.asarray would compile a copy per shape)
    spec = PartitionSpec("batch", *([None] * (a.ndim - 1)))
    return jax.device_put(a, NamedSharding(mesh, spec))


def _bcoo(X, rows, dtype):
    """COO X as a BCOO matrix of ``rows`` rows whose stored entries are padded with
    explicit zeros, as rows are (:func:`_padded_count`)."""
    nse = _padded_count(X.nnz, _ENTRY_COUNTS)
    indices = np.zeros((nse, 2), dtype=np.int32)
    indices[:X.nnz, 0] = X.row
    indices[:X.nnz, 1] = X.col
    data = np.zeros(nse, dtype=dtype)
    data[:X.nnz] = X.data
    return jsparse.BCOO((jax.device_put(data), jax.device_put(indices)),
                        shape=(rows, X.shape[1]))


def _ell(X, rows, dtype):
    """CSR -> ELL: per row, its column indices and values padded to the longest row."""
    lengths = np.diff(X.indptr)
    width = max(int(lengths.max()), 1)
    cols = np.zeros((rows, width), dtype=np.int32)
    vals = np.zeros((rows, width), dtype=dtype)
    row_of = np.repeat(np.arange(X.shape[0]), lengths)
    slot = np.arange(X.nnz) - X.indptr[row_of]
    cols[row_of, slot] = X.indices
    vals[row_of, slot] = X.data
    return (_place(cols), _place(vals), X.shape[1])


@functools.partial(jax.jit, static_argnames=("loss", "head", "fit_intercept", "smoothed"))
def _linear_jit(W, b, X, y, s, C, intercept_penalty, l2, width, *, loss, head,
                fit_intercept, smoothed):
    TRACE_COUNTS["linear_value_grad"] += 1
    width = width if smoothed else None

    def objective(W, b):
        F = X @ W
        if fit_intercept:
            F = F + b
        value = (C * jnp.sum(s * _losses(F, y, loss, head, width))
                 + 0.5 * l2 * jnp.sum(W * W))
        if fit_intercept:
            value = value + 0.5 * intercept_penalty * jnp.sum(b * b)
        return value

    if head != "crammer_singer":
        value, (gW, gb) = jax.value_and_grad(objective, argnums=(0, 1))(W, b)
        return value, gW, gb
    # Crammer-Singer: differentiate through the outputs to apply the tie rule.
    F = X @ W + (b if fit_intercept else 0.0)
    value, G = jax.value_and_grad(
        lambda F: jnp.sum(s * _losses(F, y, loss, head, width)))(F)
    data, G = value, C * (G if smoothed else _crammer_singer_fix(F, y, loss, head, G))
    value = C * data + 0.5 * l2 * jnp.sum(W * W)
    gW = (G.T @ X).T if not isinstance(X, jsparse.BCOO) else X.T @ G
    gb = G.sum(axis=0)
    if fit_intercept:
        value = value + 0.5 * intercept_penalty * jnp.sum(b * b)
        gb = gb + intercept_penalty * b
    else:
        gb = jnp.zeros_like(b)
    return value, gW + l2 * W, gb


def linear_value_grad(W, b, X, y, s, *, C, loss, head, intercept_penalty, fit_intercept,
                      l2=1.0, width=None):
    """Objective ``J`` of the linear model and its gradient (float64 numpy results);
    with a ``width``, of the smoothed hinge losses, as the numba backend's (the width is
    traced: every width shares one compilation)."""
    if width is not None and (loss not in ("hinge", "squared_hinge") or not width > 0):
        raise ValueError(f"width smooths the hinge losses and must be positive; got "
                         f"width={width!r} with loss={loss!r}.")
    dtype = X.dtype
    X_dev, y_dev, s_dev = _device_data(X, y, s, dtype)
    with _x64(dtype):
        scalars = [np.asarray(v, dtype=dtype) for v in
                   (C, intercept_penalty, l2, 1.0 if width is None else width)]
        value, gW, gb = _linear_jit(
            np.asarray(W, dtype=dtype), np.asarray(b, dtype=dtype), X_dev, y_dev, s_dev,
            *scalars, loss=loss, head=head, fit_intercept=fit_intercept,
            smoothed=width is not None)
        gW = np.asarray(gW, dtype=np.float64)
        gb = np.asarray(gb, dtype=np.float64) if fit_intercept else np.zeros_like(b)
        return float(value), gW, gb


# ------------------------------------ the passes of Newton's method and subspace descent


#: Products with fewer columns than this are padded to it (see _bucketed_columns).
MIN_COLUMNS = 8


def _bucketed_columns(A, dtype):
    """A (rows x K, host) with zero columns up to ``MIN_COLUMNS`` or a bucketed count:
    Newton's method passes as many columns as outputs are left, and each count would
    compile anew."""
    A = np.asarray(A)
    K = A.shape[1]
    columns = max(MIN_COLUMNS, _bucket(K))
    if columns == K:
        return A.astype(dtype, copy=False)
    out = np.zeros((A.shape[0], columns), dtype=dtype)
    out[:, :K] = A
    return out


@jax.jit
def _product_jit(X, W):
    TRACE_COUNTS["outputs"] += 1
    return X @ W


@jax.jit
def _transposed_jit(X, G):
    TRACE_COUNTS["transposed_product"] += 1
    return X.T @ G


def outputs(X, W, out=None):
    """``X @ W`` in float64 (written into ``out`` if given), computed on the device."""
    dtype = X.dtype
    X_dev = _device_matrix(X, dtype)
    K = W.shape[1]
    with _x64(dtype):
        F = np.asarray(_product_jit(X_dev, _bucketed_columns(W, dtype)),
                       dtype=np.float64)[:X.shape[0], :K]
    if out is None:
        return F
    out[...] = F
    return out


def transposed_product(X, G, out=None):
    """``X^T @ G`` in float64 (written into ``out`` if given), computed on the device."""
    dtype = X.dtype
    X_dev = _device_matrix(X, dtype)
    K = G.shape[1]
    G = _padded(_bucketed_columns(G, dtype), X_dev.shape[0], dtype)
    with _x64(dtype):
        R = np.asarray(_transposed_jit(X_dev, _place(G)), dtype=np.float64)[:, :K]
    if out is None:
        return R
    out[...] = R
    return out


@jax.jit
def _gram_jit(X, w):
    TRACE_COUNTS["weighted_gram"] += 1
    if isinstance(X, jsparse.BCOO):
        X = X.todense()  # (Newton's shape: at most NEWTON_MAX_FEATURES columns)
    scaled = X * w[:, None]
    return X.T @ scaled, X.T @ w


def weighted_gram(X, rows, weights):
    """``(X_R^T D X_R, X_R^T d, sum(d))`` over the rows ``R`` with weights ``d >= 0``,
    on the device: the weights go as a vector over every row, zero outside ``R``, so
    that every subset of rows shares one compilation."""
    dtype = X.dtype
    X_dev = _device_matrix(X, dtype)
    w = np.zeros(X_dev.shape[0], dtype=dtype)
    w[rows] = weights
    with _x64(dtype):
        H, v = _gram_jit(X_dev, _place(w))
        return (np.asarray(H, dtype=np.float64), np.asarray(v, dtype=np.float64),
                float(np.sum(weights)))


@functools.partial(jax.jit, static_argnames=("loss", "head"))
def _along_jit(Z, U, alpha, y, s, *, loss, head):
    TRACE_COUNTS["head_along"] += 1
    F = Z + jnp.tensordot(alpha, U, 1)
    value, G = jax.value_and_grad(lambda F: jnp.sum(s * _losses(F, y, loss, head)))(F)
    slopes = jnp.einsum("rnk,nk->r", U, G)
    # U D U^T with D the head's Hessian in F, in closed form (one pass over U, where
    # differentiating the slopes again would take one per direction).
    def gram(weights):  # sum over rows and outputs of U_a weights U_b, as one product
        V = (U * jnp.sqrt(weights)).reshape(U.shape[0], -1)
        return V @ V.T

    if head == "multinomial":
        P = jax.nn.softmax(F, axis=1)
        UP = jnp.einsum("rnk,nk->rn", U, P) * jnp.sqrt(s)
        H = gram(s[:, None] * P) - UP @ UP.T
    else:
        T = (2.0 * y.astype(F.dtype) - 1.0)[:, None] if head == "binary" else (
            2.0 * jax.nn.one_hot(y, F.shape[1], dtype=F.dtype) - 1.0)
        M = T * F
        if loss == "log_loss":
            p = jax.nn.sigmoid(-M)
            curvature = p * (1.0 - p)
        else:  # the squared hinge's generalised l'', 0 at the kink
            curvature = 2.0 * (M < 1.0).astype(F.dtype)
        H = gram(s[:, None] * curvature)
    return value, G, slopes, H


def head_along(Z, U, alpha, y, s, loss, head, G):
    """The head at ``F = Z + alpha U`` and its derivatives along the r directions of
    ``U`` (r x n x K), as the numba backend's ``head_along``, on the device: writes the
    head's gradient at F into ``G`` and returns the data term there (None for
    ``alpha=None``, F = Z), ``U G`` and ``U D U^T`` (D in closed form). The rows and the
    directions are padded (zero weights, zero directions) to bucketed counts, so that
    subspace descent's growing subspace compiles a few times, not once per size."""
    if loss not in ("log_loss", "squared_hinge") or head not in ("binary", "ovr",
                                                                 "multinomial"):
        raise ValueError(f"head_along knows the softmax head, and the log loss and the "
                         f"squared hinge on each output's own margin (the binary and "
                         f"one-vs-rest heads); got loss={loss!r}, head={head!r}.")
    n, K = Z.shape
    r = U.shape[0]
    rows, width = _padded_rows(n), -(-r // 4) * 4
    U_pad = np.zeros((width, rows, K))
    U_pad[:r, :n] = U
    a = np.zeros(width)
    if alpha is not None:
        a[:r] = alpha
    with _x64(np.float64):
        value, G_dev, slopes, H = _along_jit(
            _place(_padded(Z, rows, np.float64)), U_pad, a,
            _place(_padded(np.asarray(y), rows, np.int32)),
            _place(_padded(np.asarray(s), rows, np.float64)), loss=loss, head=head)
        if alpha is not None:
            G[...] = np.asarray(G_dev)[:n]
        return ((float(value) if alpha is not None else None),
                np.asarray(slopes)[:r].copy(), np.asarray(H)[:r, :r].copy())


# ----------------------------------------------------------- minibatch training


def _activate(Z, activation):
    if activation == "relu":
        return jnp.maximum(Z, 0.0)
    if activation == "tanh":
        return jnp.tanh(Z)
    if activation == "logistic":
        return jax.nn.sigmoid(Z)
    return Z


def _epoch_program(params, state, X, y, s, batches, valid, hyper, key, structure):
    """Scan over the minibatches of one epoch; the whole epoch is one XLA program."""
    (optimizer, activation, loss, head, train_output_bias, use_noise, use_dropout,
     n_devices, n_features) = structure
    lr, momentum, beta1, beta2, eps, penalty, noise, dropout = hyper
    mesh = _mesh() if n_devices > 1 else None
    n_layers = len(params[0])

    def batch_objective(params, Xb, yb, sb, m, key):
        coefs, intercepts = params
        noise_key, drop_key = jax.random.split(key)
        H = Xb
        if use_noise:
            H = H + noise * jax.random.normal(noise_key, H.shape, H.dtype)
        for layer in range(n_layers):
            H = H @ coefs[layer] + intercepts[layer]
            if layer < n_layers - 1:
                H = _activate(H, activation)
                if use_dropout:
                    drop_key, sub = jax.random.split(drop_key)
                    keep = jax.random.bernoulli(sub, 1.0 - dropout, H.shape)
                    H = jnp.where(keep, H / (1.0 - dropout), 0.0)
        data = jnp.sum(sb * _losses(H, yb, loss, head))
        reg = 0.5 * penalty * sum(jnp.sum(W * W) for W in coefs)
        return data / m + reg, data

    def step(carry, batch):
        params, state, key = carry
        idx, mask = batch
        m = mask.sum()

        def train(operand):
            params, state, key = operand
            key, sub = jax.random.split(key)
            if isinstance(X, tuple):  # ELL rows of a sparse matrix
                cols, vals = X[0][idx], X[1][idx]
                Xb = jnp.zeros((idx.shape[0], n_features), vals.dtype).at[
                    jnp.arange(idx.shape[0])[:, None], cols].add(vals)
            else:
                Xb = X[idx]
            if mesh is not None:
                Xb = jax.lax.with_sharding_constraint(
                    Xb, NamedSharding(mesh, PartitionSpec("batch", None)))
            yb = y[idx]
            sb = s[idx] * mask
            grads, data = jax.grad(batch_objective, has_aux=True)(
                params, Xb, yb, sb, m, sub)
            t = state["step"] + 1
            new_params, new_state = _optimizer_update(
                params, grads, state, t, optimizer, lr, momentum, beta1, beta2, eps,
                train_output_bias)
            return (new_params, new_state, key), data

        def skip(operand):
            return operand, jnp.zeros((), s.dtype)

        return jax.lax.cond(m > 0, train, skip, (params, state, key))

    (params, state, _), data = jax.lax.scan(step, (params, state, key), (batches, valid))
    return params, state, data.sum()


@functools.partial(jax.jit, static_argnames=("structure",))
def _epoch_jit(params, state, X, y, s, batches, valid, hyper, key, *, structure):
    TRACE_COUNTS["epoch"] += 1
    return _epoch_program(params, state, X, y, s, batches, valid, hyper, key, structure)


@functools.partial(jax.jit, static_argnames=("structure", "shared_order"))
def _epochs_jit(params, state, X, y, s, batches, valid, hyper, key, *, structure,
                shared_order):
    """One epoch of several networks at once: the weights, optimiser states,
    hyperparameters and keys carry a leading axis, one entry per network, and jax.vmap
    batches each minibatch's products. The minibatch orders do too, unless every
    network has the same (``shared_order``: the same ``random_state``); then each
    minibatch is gathered once, and its products with all the networks' first layers
    are one matrix product."""
    TRACE_COUNTS["epochs"] += 1
    order_axis = None if shared_order else 0
    return jax.vmap(
        lambda p, st, b, v, h, k: _epoch_program(p, st, X, y, s, b, v, h, k, structure),
        in_axes=(0, 0, order_axis, order_axis, 0, 0),
    )(params, state, batches, valid, hyper, key)


def _optimizer_update(params, grads, state, t, optimizer, lr, momentum, beta1, beta2, eps,
                      train_output_bias):
    """SGD with momentum or Adam, the same formulas as the numba kernel."""
    flat_p, tree = jax.tree_util.tree_flatten(params)
    flat_g = tree.flatten_up_to(grads)
    flat_m = tree.flatten_up_to((state["m_coefs"], state["m_intercepts"]))
    flat_v = tree.flatten_up_to((state["v_coefs"], state["v_intercepts"]))
    output_bias = len(flat_p) - 1  # leaves: coefs..., intercepts...; last is b_L
    new_p, new_m, new_v = [], [], []
    tf = t.astype(flat_p[0].dtype)
    for i, (p, g, m, v) in enumerate(zip(flat_p, flat_g, flat_m, flat_v)):
        if i == output_bias and not train_output_bias:
            new_p.append(p), new_m.append(m), new_v.append(v)
            continue
        if optimizer == "adam":
            m = beta1 * m + (1.0 - beta1) * g
            v = beta2 * v + (1.0 - beta2) * g * g
            lr_t = lr * jnp.sqrt(1.0 - beta2 ** tf) / (1.0 - beta1 ** tf)
            p = p - lr_t * m / (jnp.sqrt(v) + eps)
        else:
            m = momentum * m - lr * g
            p = p + m
        new_p.append(p), new_m.append(m), new_v.append(v)
    params = jax.tree_util.tree_unflatten(tree, new_p)
    half = len(new_m) // 2
    state = {"m_coefs": new_m[:half], "m_intercepts": new_m[half:],
             "v_coefs": new_v[:half], "v_intercepts": new_v[half:], "step": t}
    return params, state


def _batches(perm, batch_size):
    """Row indices and validity masks of the minibatches, padded to a bucketed count."""
    n = perm.shape[0]
    n_batches = -(-n // batch_size)
    padded = _bucket(n_batches)
    idx = np.zeros(padded * batch_size, dtype=np.int32)
    idx[:n] = perm
    valid = np.zeros(padded * batch_size, dtype=bool)
    valid[:n] = True
    return idx.reshape(padded, batch_size), valid.reshape(padded, batch_size)


def epochs(params, states, X, y, s, perms, *, batch_size, optimizer, learning_rates,
           momentum, beta1, beta2, epsilon, penalties, activation, loss, head, input_noise,
           dropout, train_output_bias, seeds):
    """One epoch of several networks of one structure on the same data, in one program.

    ``params``, ``states``, ``perms``, ``learning_rates``, ``penalties`` and ``seeds`` hold
    one entry per network; each network's entry is trained as ``epoch`` would train it
    (the same minibatches, objective and optimizer), and is updated in place. Returns
    each network's data term. With several devices the data stay placed as for
    ``epoch`` and XLA moves what the program needs (no sharding constraint: the speed of
    that case is unmeasured). Every network's weights and optimiser state are on the
    device at once.
    """
    count = len(params)
    dtype = params[0][0][0].dtype
    X_dev, y_dev, s_dev = _device_data(X, y, s, dtype, form="rows")
    if isinstance(X_dev, tuple):
        X_dev = X_dev[:2]
    shared_order = all(np.array_equal(perm, perms[0]) for perm in perms[1:])
    pairs = [_batches(perm, int(batch_size))
             for perm in (perms[:1] if shared_order else perms)]
    batches = np.stack([b for b, _ in pairs])
    valid = np.stack([v for _, v in pairs]).astype(dtype)
    if shared_order:
        batches, valid = batches[0], valid[0]
    structure = (optimizer, activation, loss, head, bool(train_output_bias),
                 input_noise > 0, dropout > 0, 1, X.shape[1])
    names = ("m_coefs", "m_intercepts", "v_coefs", "v_intercepts")
    with _x64(dtype):
        hyper = tuple(np.asarray(v, dtype=dtype) for v in (
            learning_rates, [momentum] * count, [beta1] * count, [beta2] * count,
            [epsilon] * count, penalties, [input_noise] * count, [dropout] * count))
        stacked = tuple([np.stack([p[part][layer] for p in params])
                         for layer in range(len(params[0][part]))] for part in (0, 1))
        stacked_state = {name: [np.stack([st[name][layer] for st in states])
                                for layer in range(len(states[0][name]))]
                         for name in names}
        stacked_state["step"] = np.asarray([st["step"] for st in states], dtype=np.int32)
        keys = jax.vmap(jax.random.key)(np.asarray(seeds, dtype=np.int32))
        new_params, new_state, totals = _epochs_jit(
            stacked, stacked_state, X_dev, y_dev, s_dev, batches, valid, hyper, keys,
            structure=structure, shared_order=shared_order)
        new_params = jax.tree_util.tree_map(np.asarray, new_params)
        new_state = jax.tree_util.tree_map(np.asarray, new_state)
        for i, (p, st) in enumerate(zip(params, states)):
            for dst, src in zip(p[0] + p[1], new_params[0] + new_params[1]):
                dst[...] = src[i]
            for name in names:
                for dst, src in zip(st[name], new_state[name]):
                    dst[...] = src[i]
            st["step"] = int(new_state["step"][i])
        return [float(total) for total in np.asarray(totals)]


def epoch(params, state, X, y, s, perm, *, batch_size, optimizer, learning_rate, momentum,
          beta1, beta2, epsilon, penalty, activation, loss, head, input_noise, dropout,
          train_output_bias, seed):
    """One epoch of minibatch training, updating ``params`` and ``state`` in place.

    Same contract as the numba backend's ``epoch``: the same minibatches in the same
    order, the same objective and optimizer. Noise and dropout draw from JAX's
    generator, so with them the two backends agree in distribution, not bitwise.
    """
    coefs, intercepts = params
    dtype = coefs[0].dtype
    X_dev, y_dev, s_dev = _device_data(X, y, s, dtype, form="rows")
    if isinstance(X_dev, tuple):
        X_dev = X_dev[:2]
    batches, valid = _batches(perm, int(batch_size))
    structure = (optimizer, activation, loss, head, bool(train_output_bias),
                 input_noise > 0, dropout > 0, len(jax.local_devices()), X.shape[1])
    with _x64(dtype):
        hyper = tuple(np.asarray(v, dtype=dtype) for v in (
            learning_rate, momentum, beta1, beta2, epsilon, penalty, input_noise, dropout))
        # (numpy arguments go to the device with the call: jnp.asarray would compile a
        # copy for every shape)
        dev_params = ([np.asarray(W) for W in coefs], [np.asarray(b) for b in intercepts])
        dev_state = {name: [np.asarray(a) for a in state[name]] for name in
                     ("m_coefs", "m_intercepts", "v_coefs", "v_intercepts")}
        dev_state["step"] = np.asarray(state["step"], dtype=np.int32)
        new_params, new_state, total = _epoch_jit(
            dev_params, dev_state, X_dev, y_dev, s_dev, batches,
            np.asarray(valid, dtype=dtype), hyper, jax.random.key(seed),
            structure=structure)
        for dst, src in zip(coefs + intercepts, new_params[0] + new_params[1]):
            dst[...] = np.asarray(src)
        for name in ("m_coefs", "m_intercepts", "v_coefs", "v_intercepts"):
            for dst, src in zip(state[name], new_state[name]):
                dst[...] = np.asarray(src)
        state["step"] = int(new_state["step"])
        return float(total)
