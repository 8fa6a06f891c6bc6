"""The JAX backend: every training step jit-compiled by XLA, on CPU, GPU or TPU.

Structure (losses, head, activation, optimizer, batch size, dtype, device count) is static
and keys the compiled programs; numbers (C, learning rate, weights) are traced. Data are
padded with zero-weight rows to a few bucketed shapes, so cross-validation folds of
different sizes and a grid over C reuse one compilation (:data:`TRACE_COUNTS` counts the
traces, so tests can prove it).

No global JAX setting is changed: float64 training runs inside the scoped
``jax.enable_x64(True)`` context, which JAX keys its compilation cache on.
"""

import contextlib
import functools
import math
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import _numba as _host

#: How many times each jitted function has been traced (compiled) in this process.
TRACE_COUNTS = Counter()


def training_dtype(dtype):
    """float32 on accelerators unless float64 was asked for; the input's type on the CPU.

    A user asks for float64 on a GPU by passing float64 data with JAX's x64 mode switched
    on (``jax.config.update("jax_enable_x64", True)`` or ``JAX_ENABLE_X64=1``).
    """
    dtype = np.dtype(dtype)
    if jax.default_backend() != "cpu" and dtype == np.float64 and not jax.config.jax_enable_x64:
        return np.dtype(np.float32)
    return dtype


#: The interface functions that run the numba backend's host kernels (see each one).
HOST_FUNCTIONS = ("outputs", "head_along", "transposed_product", "weighted_gram", "dcd",
                  "cd_l1", "newton_small")


def device():
    """JAX's default device as ``"jax:<platform>:<id>"`` (e.g. ``"jax:gpu:0"``)."""
    # (an array's placement honours jax.default_device, which jax.devices() does not)
    default = next(iter(jnp.zeros(()).devices()))
    return f"jax:{default.platform}:{default.id}"


def threads(n):
    """XLA sizes its own thread pools; the host kernels this backend calls run numba's
    (:data:`HOST_FUNCTIONS`), which take the process's numba setting."""
    return contextlib.nullcontext()


def _x64(dtype):
    return jax.enable_x64(np.dtype(dtype) == np.float64)


def _bucket(k):
    """Round ``k`` up to one of a few sizes: at most 25% padding, few distinct shapes."""
    if k <= 8:
        return k
    step = 2 ** (int(math.log2(k)) - 2)
    return -(-k // step) * step


# --------------------------------------------------------------------- losses


def _margin(z, loss):
    if loss == "hinge":
        return jnp.maximum(0.0, 1.0 - z)
    if loss == "squared_hinge":
        r = jnp.maximum(0.0, 1.0 - z)
        return r * r
    return jnp.logaddexp(0.0, -z)


def _losses(F, y, loss, head):
    """Per-sample losses (the reference's ``HEADS``, written in jax.numpy)."""
    K = F.shape[1]
    onehot = jax.nn.one_hot(y, K, dtype=F.dtype)
    if head == "binary":
        t = 2.0 * y.astype(F.dtype) - 1.0
        return _margin(t * F[:, 0], loss)
    if head == "ovr":
        return _margin((2.0 * onehot - 1.0) * F, loss).sum(axis=1)
    f_true = jnp.sum(F * onehot, axis=1)
    if head == "crammer_singer":
        rival = jnp.max(jnp.where(onehot > 0, -jnp.inf, F), axis=1)
        return _margin(f_true - rival, loss)
    if head == "weston_watkins":
        return (_margin(f_true[:, None] - F, loss) * (1.0 - onehot)).sum(axis=1)
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


@functools.partial(jax.jit, static_argnames=("loss", "head"))
def _head_jit(F, y, s, *, loss, head):
    TRACE_COUNTS["head_loss"] += 1

    def total(F):
        return jnp.sum(s * _losses(F, y, loss, head))

    value, G = jax.value_and_grad(total)(F)
    return value, _crammer_singer_fix(F, y, loss, head, G)


def head_loss(F, y, s, loss, head):
    """Weighted data term and its gradient with respect to the outputs ``F``.

    The rows are padded to a bucketed count with zero weights (as the data are), so that
    folds of different sizes share one compilation.
    """
    F = np.asarray(F)
    n = F.shape[0]
    padding = _bucket(n) - n
    if padding:
        F = np.concatenate([F, np.zeros((padding, F.shape[1]), dtype=F.dtype)])
        y = np.concatenate([np.asarray(y), np.zeros(padding, dtype=np.asarray(y).dtype)])
        s = np.concatenate([np.asarray(s, dtype=F.dtype), np.zeros(padding, dtype=F.dtype)])
    with _x64(F.dtype):
        value, G = _head_jit(jnp.asarray(F), jnp.asarray(y), jnp.asarray(s, dtype=F.dtype),
                             loss=loss, head=head)
        return float(value), np.asarray(G)[:n]


# ------------------------------------------------------------- data on device

_DEVICE_DATA = {}


def _device_data(X, y, s, dtype, form="matmul"):
    """X, y and s on the device, rows padded to a bucketed count with zero weights.

    Sparse X goes to the device as a BCOO matrix for products (``form="matmul"``), or in
    ELL form, ``(columns, values)`` of shape (rows, longest row), for gathering
    minibatch rows (``form="rows"``). The last conversion is kept: a solver calls the
    backend many times with one X.
    """
    key = (id(X), id(y), id(s), np.dtype(dtype).str, form)
    cached = _DEVICE_DATA.get("entry")
    if cached is not None and cached[0] == key:
        return cached[2]
    _DEVICE_DATA.clear()
    n = X.shape[0]
    rows = _bucket(n)
    y_pad = np.zeros(rows, dtype=np.int32)
    y_pad[:n] = y
    s_pad = np.zeros(rows, dtype=dtype)
    s_pad[:n] = s
    with _x64(dtype):
        if sp.issparse(X) and form == "matmul":
            Xc = sp.vstack([X.tocsr(), sp.csr_matrix((rows - n, X.shape[1]))]).tocsr()
            X_dev = jsparse.BCOO.from_scipy_sparse(Xc.astype(dtype))
        elif sp.issparse(X):
            X_dev = _ell(X.tocsr(), rows, dtype)
        else:
            X_dev = jnp.zeros((rows, X.shape[1]), dtype=dtype).at[:n].set(
                jnp.asarray(X, dtype=dtype))
        data = (X_dev, jnp.asarray(y_pad), jnp.asarray(s_pad))
    _DEVICE_DATA["entry"] = (key, (X, y, s), data)
    return data


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
    return (jnp.asarray(cols), jnp.asarray(vals), X.shape[1])


@functools.partial(jax.jit, static_argnames=("loss", "head", "fit_intercept"))
def _linear_jit(W, b, X, y, s, C, intercept_penalty, l2, *, loss, head, fit_intercept):
    TRACE_COUNTS["linear_value_grad"] += 1

    def objective(W, b):
        F = X @ W
        if fit_intercept:
            F = F + b
        value = C * jnp.sum(s * _losses(F, y, loss, head)) + 0.5 * l2 * jnp.sum(W * W)
        if fit_intercept:
            value = value + 0.5 * intercept_penalty * jnp.sum(b * b)
        return value

    if head != "crammer_singer":
        value, (gW, gb) = jax.value_and_grad(objective, argnums=(0, 1))(W, b)
        return value, gW, gb
    # Crammer-Singer: differentiate through the outputs to apply the tie rule.
    F = X @ W + (b if fit_intercept else 0.0)
    data, G = _head_jit(F, y, s, loss=loss, head=head)
    G = C * G
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
                      l2=1.0):
    """Objective ``J`` of the linear model and its gradient (float64 numpy results)."""
    dtype = X.dtype
    X_dev, y_dev, s_dev = _device_data(X, y, s, dtype)
    with _x64(dtype):
        value, gW, gb = _linear_jit(
            jnp.asarray(W, dtype=dtype), jnp.asarray(b, dtype=dtype), X_dev, y_dev, s_dev,
            jnp.asarray(C, dtype=dtype), jnp.asarray(intercept_penalty, dtype=dtype),
            jnp.asarray(l2, dtype=dtype), loss=loss, head=head,
            fit_intercept=fit_intercept)
        gW = np.asarray(gW, dtype=np.float64)
        gb = np.asarray(gb, dtype=np.float64) if fit_intercept else np.zeros_like(b)
        return float(value), gW, gb


# ------------------------------- Newton's method and coordinate descent: on the host


def outputs(X, W, out=None):
    """``X @ W`` for Newton's method: on the host, as :func:`dcd` (see there)."""
    return _host.outputs(X, W, out)


def head_along(Z, U, alpha, y, s, loss, head, G):
    """The head along a subspace's outputs for subspace descent, on the host: a pass
    over a few arrays of outputs in host memory, which the sparse products there feed."""
    return _host.head_along(Z, U, alpha, y, s, loss, head, G)


def transposed_product(X, G, out=None):
    """``X^T @ G`` for Newton's method, on the host."""
    return _host.transposed_product(X, G, out)


def weighted_gram(X, rows, weights):
    """The Hessian pieces of Newton's method, on the host with BLAS."""
    return _host.weighted_gram(X, rows, weights)


def dcd(X, y, s, **kwargs):
    """Dual coordinate descent.

    The method updates one sample at a time, each update depending on the last: it has
    no parallelism for XLA to use, and a compiled loop of scalar steps runs slower than
    the numba kernel. The JAX backend therefore runs it on the host, with the same
    kernels as the numba backend, and says so in ``docs/usage.md``.
    """
    return _host.dcd(X, y, s, **kwargs)


def newton_small(X, T, s, W, b, Z, **kwargs):
    """Newton's method on a small dense problem: a few hundred microseconds of scalar
    work, less than one dispatch to a device costs. It runs on the host, with the numba
    backend's kernel."""
    return _host.newton_small(X, T, s, W, b, Z, **kwargs)


def cd_l1(X, y, s, **kwargs):
    """Primal coordinate descent for the L1 penalty; host kernels, as :func:`dcd`."""
    return _host.cd_l1(X, y, s, **kwargs)


# ----------------------------------------------------------- minibatch training


def _activate(Z, activation):
    if activation == "relu":
        return jnp.maximum(Z, 0.0)
    if activation == "tanh":
        return jnp.tanh(Z)
    if activation == "logistic":
        return jax.nn.sigmoid(Z)
    return Z


def _mesh():
    devices = jax.local_devices()
    if len(devices) < 2:
        return None
    return Mesh(np.array(devices), ("batch",))


@functools.partial(jax.jit, static_argnames=("structure",))
def _epoch_jit(params, state, X, y, s, batches, valid, hyper, key, *, structure):
    """Scan over the minibatches of one epoch; the whole epoch is one XLA program."""
    TRACE_COUNTS["epoch"] += 1
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
        hyper = tuple(jnp.asarray(v, dtype=dtype) for v in (
            learning_rate, momentum, beta1, beta2, epsilon, penalty, input_noise, dropout))
        dev_params = ([jnp.asarray(W) for W in coefs], [jnp.asarray(b) for b in intercepts])
        dev_state = {name: [jnp.asarray(a) for a in state[name]] for name in
                     ("m_coefs", "m_intercepts", "v_coefs", "v_intercepts")}
        dev_state["step"] = jnp.asarray(state["step"], dtype=jnp.int32)
        new_params, new_state, total = _epoch_jit(
            dev_params, dev_state, X_dev, y_dev, s_dev, jnp.asarray(batches),
            jnp.asarray(valid, dtype=dtype), hyper, jax.random.key(seed),
            structure=structure)
        for dst, src in zip(coefs + intercepts, new_params[0] + new_params[1]):
            dst[...] = np.asarray(src)
        for name in ("m_coefs", "m_intercepts", "v_coefs", "v_intercepts"):
            for dst, src in zip(state[name], new_state[name]):
                dst[...] = np.asarray(src)
        state["step"] = int(new_state["step"])
        return float(total)
