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
``threadpool_limits``. Nothing is left changed after the fit.
"""

from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_controller = None


def _blas_controller():
    global _controller
    if _controller is None:  # inspecting the loaded libraries takes milliseconds: once
        _controller = ThreadpoolController()
    return _controller


def one_blas_thread():
    """A context in which BLAS runs on the calling thread only."""
    return _blas_controller().limit(limits=1, user_api="blas")


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
