"""Compute backends.

A backend turns parameters and data into numbers: loss values, gradients, products with
the data, Hessians, dual coordinate descent sweeps and minibatch epochs. It knows nothing
about scikit-learn; solvers ask it for numbers through the functions listed in
:data:`INTERFACE` (every backend) and :data:`SEQUENTIAL` (those that suit its device).

Backends are imported lazily so that ``import sksvmnet`` never compiles a kernel and an
optional backend that is not installed fails only when it is asked for.
"""

import importlib
import importlib.metadata
import importlib.util
import os
import sys

#: Backend name -> (module, what to install when it is missing).
BACKENDS = {
    "numba": ("sksvmnet.backends._numba", "numba"),
    "jax": ("sksvmnet.backends._jax", "jax"),
}

#: The functions every backend module provides; each runs them on its ``device()`` (what
#: a fitted estimator's ``device_`` reports).
INTERFACE = (
    "training_dtype",
    "device",
    "threads",
    "fit_scope",
    "head_loss",
    "head_along",
    "linear_value_grad",
    "outputs",
    "transposed_product",
    "weighted_gram",
    "epoch",
)

#: The sequential kernels: one row or one feature at a time, each step waiting on the
#: last. A backend provides them where its device runs them well (numba, on the CPU
#: cores) and leaves them out where it does not (JAX); the solver table
#: (``_solvers.table``) offers the solvers that need them only with a backend that has
#: them, and trains those models by other solvers elsewhere.
SEQUENTIAL = (
    "newton_small",
    "dcd",
    "dcd_log",
    "cd_l1",
)


#: A network trains with JAX on the CPU where its widest hidden layer has at least this
#: many units and an epoch at least JAX_CPU_MIN_WORK multiply-adds (n_samples x network
#: weights). Measured with benchmarks/bench_backends.py on 2 cores, float32 (the
#: backends-hidden table of docs/benchmarks.md): JAX's epoch took 0.5-0.8x numba's for
#: hidden layers of 256 and 512 units (on 70 and on 784 features), 0.89x for (128, 128)
#: and 1.09-1.6x for (64,); 3.7x for 20-16-3. The width of the products decides, not the
#: number of weights: 784-64-10 has almost twice the weights of 70-128-128-10.
JAX_CPU_MIN_WIDTH = 256
#: JAX's import and first compilation cost about 1-2 s more than numba's start; at
#: 1e9 multiply-adds an epoch (5,000 rows of a 784-256-10 network) its faster epochs
#: repay that within about 60 epochs.
JAX_CPU_MIN_WORK = 1e9


def jax_suits_cpu(n_samples, layer_sizes):
    """Whether a network of ``layer_sizes`` (input, hidden..., output) on ``n_samples``
    rows trains faster with JAX than with numba on the CPU (the rule above)."""
    hidden = list(layer_sizes[1:-1])
    n_weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    return (bool(hidden) and max(hidden) >= JAX_CPU_MIN_WIDTH
            and n_samples * n_weights >= JAX_CPU_MIN_WORK)


def auto_backend(n_samples=0, layer_sizes=()):
    """The backend ``backend="auto"`` trains with.

    JAX when it is installed and sees an accelerator (GPU or TPU). On the CPU, JAX for a
    network wide and big enough (:func:`jax_suits_cpu`), numba otherwise: for the linear
    model the two run the same BLAS products, and numba starts without JAX's import and
    compile time.

    Importing JAX takes about a second, more than a small fit, so it is imported only to
    ask it about an accelerator that may be there (:func:`_accelerator_possible`) or to
    train a big network; a process that has imported it already is asked directly.
    """
    if not _jax_installed():
        return "numba"
    big_network = jax_suits_cpu(n_samples, layer_sizes)
    if "jax" not in sys.modules and not big_network and not _accelerator_possible():
        return "numba"
    try:
        import jax
    except ImportError:
        return "numba"
    if jax.default_backend() != "cpu" or big_network:
        return "jax"
    return "numba"


_accelerator_found = None
_jax_found = None


def _jax_installed():
    global _jax_found
    if _jax_found is None:  # a search of sys.path: once per process
        _jax_found = importlib.util.find_spec("jax") is not None
    return _jax_found


def _accelerator_possible():
    """Whether JAX could see anything but the CPU in this process: a PJRT plugin (CUDA,
    ROCm, Metal: the ``jax_plugins`` namespace or entry points, as JAX discovers them),
    ``libtpu``, or ``JAX_PLATFORMS`` naming another platform. Without any of them JAX
    runs on the CPU only, and need not be imported to say so."""
    global _accelerator_found
    if _accelerator_found is None:
        platforms = os.environ.get("JAX_PLATFORMS", "")
        _accelerator_found = bool(
            any(name.strip() not in ("", "cpu") for name in platforms.split(","))
            or importlib.util.find_spec("jax_plugins") is not None
            or importlib.util.find_spec("libtpu") is not None
            or any(True for _ in importlib.metadata.entry_points(group="jax_plugins")))
    return _accelerator_found


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
