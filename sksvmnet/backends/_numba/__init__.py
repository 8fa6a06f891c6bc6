"""The numba CPU backend.

Kernels are module level and compiled once per type signature (``cache=True`` keeps them on
disk). Every kernel takes the data in one form, ``(Xd, data, indices, indptr, sparse)``: a
dense C-ordered array in ``Xd`` when ``sparse`` is False, else the three arrays of a CSR
matrix (CSC for the column-wise L1 solver and the gathering ``X^T G``), with empty
placeholders for the unused form.
One compiled kernel per dtype then serves dense and sparse data; the branch on ``sparse`` is
taken once per row and costs nothing measurable.

Losses, heads and activations are passed to kernels as small integer codes, private to this
backend (:mod:`._codes`); the names are the package's vocabulary.

The kernels live in modules named by what they compute: :mod:`.heads` (the losses and
their gradients), :mod:`.products` (passes over X), :mod:`.rows` (the data form and one
row's products), :mod:`.dual` (dual coordinate descent for the SVM), :mod:`.dual_log`
(for the multinomial log loss), :mod:`.primal_l1` (L1 coordinate descent), :mod:`.epoch`
(minibatch epochs) and :mod:`.newton` (Newton's compiled loop). This module gathers the
backend interface."""

from contextlib import contextmanager

import numpy as np
from numba import config, get_num_threads, set_num_threads

from ._codes import ACTIVATION_CODES, HEAD_CODES, LOSS_CODES, OPTIMIZER_CODES  # noqa: F401
from .dual import dcd  # noqa: F401
from .dual_log import dcd_log  # noqa: F401
from .epoch import epoch  # noqa: F401
from .epoch import forget as _forget_epoch_lists
from .heads import head_along, head_loss  # noqa: F401
from .newton import newton_small  # noqa: F401
from .primal_l1 import cd_l1  # noqa: F401
from .products import keep_columns
from .products import (  # noqa: F401
    linear_value_grad,
    outputs,
    transposed_product,
    weighted_gram,
)


def training_dtype(dtype):
    """The float type training runs in: the input's."""
    return np.dtype(dtype)


def device():
    """Where this backend computes: ``"host"``, the CPU cores of this process."""
    return "host"


@contextmanager
def fit_scope():
    """A context around one fit. What this backend keeps for a fit, the lists of its
    epochs (:func:`.epoch.forget`) and a CSC copy of wide sparse X for its products
    (:func:`.products.keep_columns`), it lets go of at the end."""
    try:
        with keep_columns():
            yield
    finally:
        _forget_epoch_lists()


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
