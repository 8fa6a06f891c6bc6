"""BLAS threads: held to one where other threads do the parallel work.

OpenBLAS's threads spin-wait for a while after each call. Where numba's threads run
between BLAS calls, or call BLAS themselves, the spinning threads take the cores they
need: on two cores a sparse L-BFGS fit of a 600 x 18 problem ran 10x slower.
"""

from threadpoolctl import ThreadpoolController

_controller = None


def one_blas_thread():
    """A context in which BLAS runs on the calling thread only."""
    global _controller
    if _controller is None:  # inspecting the loaded libraries takes milliseconds: once
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
