"""Compute backends.

A backend turns parameters and data into numbers: loss values, gradients, dual coordinate
descent sweeps and minibatch epochs. It knows nothing about scikit-learn; solvers ask it for
numbers through the functions listed in :data:`INTERFACE`.

Backends are imported lazily so that ``import sksvmnet`` never compiles a kernel and an
optional backend that is not installed fails only when it is asked for.
"""

import importlib
import importlib.util

#: Backend name -> (module, what to install when it is missing).
BACKENDS = {
    "numba": ("sksvmnet.backends._numba", "numba"),
    "jax": ("sksvmnet.backends._jax", "jax"),
}

#: The functions every backend module provides.
INTERFACE = (
    "training_dtype",
    "head_loss",
    "linear_value_grad",
    "dcd",
    "cd_l1",
    "epoch",
)


def auto_backend():
    """The backend ``backend="auto"`` trains with.

    JAX when it is installed and sees an accelerator (GPU or TPU); numba otherwise, which
    on the CPU was as fast or faster in ``benchmarks/bench_backends.py`` (see
    docs/benchmarks.md) and compiles in a fraction of the time.
    """
    if importlib.util.find_spec("jax") is not None:
        try:
            import jax
        except ImportError:
            return "numba"
        if jax.default_backend() != "cpu":
            return "jax"
    return "numba"


def available_backends():
    """Names of the backends whose dependencies import in this process."""
    names = []
    for name in BACKENDS:
        try:
            get_backend(name)
        except ImportError:
            continue
        names.append(name)
    return names


def get_backend(name):
    """The backend module registered under ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a registered backend.
    ImportError
        If the backend's dependencies are missing, saying what to install.
    """
    if name not in BACKENDS:
        raise ValueError(
            f"Unknown backend {name!r}; the backends are {sorted(BACKENDS)}."
        )
    module, requirement = BACKENDS[name]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"The {name!r} backend needs {requirement!r}, which failed to import "
            f"({exc}). Install it with `pip install sksvmnet[{name}]`."
        ) from exc
