"""Threads: chosen per fit by the package, the user's limits respected.

OpenBLAS's threads spin-wait for a while after each call. Where numba's threads run
between BLAS calls, or call BLAS themselves, the spinning threads take the cores they
need: on two cores a sparse L-BFGS fit of a 600 x 18 problem ran 10x slower, and a
linear fit on standardised digits 30-100x slower with OpenBLAS's default two threads
than with one. The linear solvers spread their work over cores themselves (numba's
parallel kernels; one BLAS call per thread for the Hessians of Newton's method), so a
linear fit holds BLAS to one thread (:func:`linear_fit_threads`), and gives the backend
the threads BLAS was allowed before: all cores in a plain process, fewer inside a joblib
worker (joblib limits each worker's BLAS to its share of the cores) or under the user's
``threadpool_limits``. Minibatch training (networks, and the linear model under Adam
or SGD) multiplies small blocks by BLAS in one thread's loop: there BLAS keeps its
threads only where the products are large enough to gain by them
(:func:`minibatch_threads`). Nothing is left changed after the fit.
"""

import threading
from contextlib import contextmanager, nullcontext

from threadpoolctl import ThreadpoolController

_controller = None
#: BLAS's thread count is one setting for the whole process. Fits that run at once in
#: several threads share one limit: the first to need it sets it, the last to finish
#: restores what was there before the first (each restoring its own saved value, the
#: last to leave would put back the limit of one that another had set).
_limit_lock = threading.Lock()
_limit_holders = 0
_limiter = None


def _blas_controller():
    global _controller
    if _controller is None:  # inspecting the loaded libraries takes milliseconds: once
        _controller = ThreadpoolController()
    return _controller


@contextmanager
def one_blas_thread():
    """A context in which BLAS runs on the calling thread only; nested or overlapping
    contexts (other threads' fits) share one limit, lifted when the last one ends."""
    global _limit_holders, _limiter
    with _limit_lock:
        if _limit_holders == 0:
            _limiter = _blas_controller().limit(limits=1, user_api="blas")
        _limit_holders += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_holders -= 1
            if _limit_holders == 0:
                _limiter.restore_original_limits()
                _limiter = None


def blas_budget():
    """The threads this process lets BLAS use now (the fewest over the loaded BLAS
    libraries): the machine's cores, or a joblib worker's or the user's limit."""
    libraries = _blas_controller().select(user_api="blas").lib_controllers
    counts = [library.num_threads for library in libraries]
    return max(1, min(counts)) if counts else 1


@contextmanager
def linear_fit_threads():
    """BLAS held to one thread for a linear model's fit; yields the number of threads
    the backend's own parallel kernels may use (:func:`blas_budget` before the limit)."""
    budget = blas_budget()
    with one_blas_thread():
        yield budget


#: Minibatch training holds BLAS to one thread where no layer's product on a minibatch
#: reaches this many multiply-adds (``batch x fan_in x fan_out``). Below it, two BLAS
#: threads gained at most 10% an epoch on this 2-core machine when the second core was
#: quiet, and cost 40-70% whenever it was not (the epochs' many small products wait for
#: the slower thread each time), which in some runs held for minutes: float32 MNIST
#: epochs of a 784-100-10 network took 0.31 s on one thread, 0.26-0.31 s or 0.45-0.55 s
#: on two; 784-256-10, 20,000 rows, 0.26 s on one, 0.27-0.28 s on two. From 784-512-512
#: (80e6 multiply-adds a product) and 784-1024 on, two threads were faster when quiet
#: (0.67 s against 0.95 s; 0.93 s against 1.05 s).
MINIBATCH_BLAS_MIN_WORK = 2 ** 26


def minibatch_threads(batch_size, layer_sizes):
    """BLAS held to one thread for minibatch training (``layer_sizes``: the input, the
    hidden layers and the outputs) whose products are all below
    ``MINIBATCH_BLAS_MIN_WORK``; left as it is for larger ones."""
    largest = max((a * b for a, b in zip(layer_sizes, layer_sizes[1:])), default=0)
    if batch_size * largest < MINIBATCH_BLAS_MIN_WORK:
        return one_blas_thread()
    return nullcontext()
