"""Time one training epoch of a network on each backend and against its peers.

The network of the MNIST experiments of DESIGN.md: 70 inputs, two hidden layers of 512 ReLU
units, 10 outputs with a squared-hinge one-vs-rest head (``--head``, ``--loss``), trained
by Adam on minibatches of 200 from 60,000 synthetic Gaussian samples (``--preset mnist``,
the default). ``--preset small`` is a tiny 20-16-3 network on 1,000 samples, where fixed
per-call costs dominate. The contenders (``--skip`` leaves any out):

- ``numba``, ``jax``: the backends' ``epoch`` called directly, as the stochastic solver
  calls it, from the same ``init_params`` weights and the same minibatch order;
- ``numba-fit``, ``jax-fit``: a whole ``SVMNetClassifier`` fit of ``--epochs`` epochs
  (``LogisticNetClassifier`` for ``--head multinomial``), reported per epoch, to show the
  estimator's own cost on top of the kernels. It runs after the direct rows, so its
  kernels are compiled; the JAX row also counts the traces the fit caused (0 expected);
- ``mlp``: scikit-learn's ``MLPClassifier`` with the same layers, Adam settings and batch,
  one ``partial_fit`` (one epoch) at a time. Its head is softmax log-loss whatever
  ``--head`` says: scikit-learn has no other;
- ``torch``: a plain PyTorch loop with the same weights, minibatches, Adam (torch's fused
  kernel) and head, run with ``torch.set_flush_denormal(True)`` and one thread per core,
  if torch imports;
- ``numba-ftz``: the numba epoch again with flush-to-zero switched on (through torch), to
  show what denormal numbers cost the numba kernel. Flush-to-zero is switched on only
  around the ``torch`` and ``numba-ftz`` epochs and off again, so that the other rows run
  as a user's process would.

Every contender first runs one epoch alone, timed apart (the warm-up: compilation, cache
loading, first-touch allocation); then ``--epochs`` measured epochs run round robin, one
epoch of each contender in turn with a short untimed rest (``--pause``) before each, so
that load from other processes falls on all of them alike and no contender pays for the
still-spinning threads of the one before. The table gives the median and the fastest of
the measured epochs, the achieved GFLOP/s counting ``6 n sum(fan_in * fan_out)``
floating-point operations per epoch (forward, weight and input gradients of every layer),
and that as a percentage of the machine's matrix-multiply peak, measured in the same run
as the best of a few ``numpy`` products of two 2048 x 2048 matrices, before and after the
epochs (JAX's and torch's own products are reported alongside).

``--linear`` times whole fits of the linear models instead: ``SVMNetClassifier()`` and
``LogisticNetClassifier()`` at their defaults (``solver="auto"``, so each backend runs
the solvers the table gives it) with ``backend="numba"`` and ``backend="jax"``, on a
dense binary problem (``make_classification`` 20,000 x 100, standardised), a dense
10-class one (20,000 x 200, standardised) and the Debian text task (``--debian-rows``
training rows, TF-IDF, 58 sections; left out with a note where the data file is
missing). Each fit runs once untimed (the warm-up: JAX's compilation, numba's cache)
and then ``--repeats`` times; the table gives the median, the solver each backend ran
and the objective it reached.

Run from the repository root::

    python benchmarks/bench_backends.py [--preset mnist|small] [--dtype float32|float64]
        [--epochs N] [--head ovr] [--skip mlp torch] [--output PATH] [--plot PATH]
    python benchmarks/bench_backends.py --linear [--repeats N] [--debian-rows N]
        [--output PATH]

Results, settings and a description of the machine (CPU, cores, package versions, BLAS
thread pools, load average) are written as JSON to ``--output``.
"""

import argparse
import datetime
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from sksvmnet import LogisticNetClassifier, SVMNetClassifier, backends
from sksvmnet._solvers import init_params, init_state
from sksvmnet.backends import get_backend

from _common import (  # benchmarks/_common.py
    load_average, pyplot, render_table, run_record, save_figure, usable_cpus)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "bench_backends.json"
PACKAGES = ("sksvmnet", "numpy", "scipy", "scikit-learn", "numba", "llvmlite", "jax",
            "jaxlib", "torch", "threadpoolctl")

#: Network and data of each preset; ``epochs`` is the default of ``--epochs``. The small
#: preset's epochs take about a millisecond, so it measures more of them.
PRESETS = {
    "mnist": {"n_samples": 60_000, "n_features": 70, "hidden": (512, 512),
              "n_classes": 10, "epochs": 3},
    "small": {"n_samples": 1_000, "n_features": 20, "hidden": (16,),
              "n_classes": 3, "epochs": 20},
}
CONTENDERS = ("numba", "jax", "numba-fit", "jax-fit", "mlp", "torch", "numba-ftz")
HEADS = ("ovr", "crammer_singer", "weston_watkins", "multinomial")
BATCH_SIZE = 200
LEARNING_RATE = 1e-3
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8
C = 1.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="mnist",
                        help="mnist: 70-512-512-10 on 60,000 samples (default); "
                             "small: 20-16-3 on 1,000 samples")
    parser.add_argument("--n-samples", type=int, default=None,
                        help="training samples (default: the preset's)")
    parser.add_argument("--n-features", type=int, default=None,
                        help="input features (default: the preset's; 784 is MNIST's "
                             "pixels)")
    parser.add_argument("--hidden", type=int, nargs="*", default=None, metavar="UNITS",
                        help="hidden layer sizes (default: the preset's), to sweep the "
                             "network size")
    parser.add_argument("--epochs", type=int, default=None,
                        help="measured epochs after the warm-up epoch (default 3 for "
                             "mnist, 20 for small)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="training dtype of every contender (default float32)")
    parser.add_argument("--head", choices=HEADS, default="ovr",
                        help="multi-class head (default ovr, one-vs-rest)")
    parser.add_argument("--loss", choices=("squared_hinge", "hinge"),
                        default="squared_hinge",
                        help="margin loss of the SVM heads (default squared_hinge)")
    parser.add_argument("--skip", nargs="*", choices=CONTENDERS, default=[],
                        metavar="NAME", help="contenders to leave out, among "
                                             + ", ".join(CONTENDERS))
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds of rest, untimed, before each measured epoch "
                             "(default 0.25): long enough for the thread pools of the "
                             "contender before (OpenBLAS, OpenMP, XLA) to stop spinning, "
                             "which would otherwise slow the next one down on two cores")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the data, the weights and the minibatch order")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="where to write the JSON results "
                             "(default benchmarks/results/bench_backends.json)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also save a bar chart of the epoch times here "
                             "(PNG, SVG, ...)")
    parser.add_argument("--linear", action="store_true",
                        help="time fits of the linear models on both backends instead "
                             "of network epochs (see the module docstring)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="--linear: timed fits after the warm-up fit (default 3)")
    parser.add_argument("--debian-rows", type=int, default=15_000,
                        help="--linear: training rows of the Debian text task (default "
                             "15,000; 0 leaves it out)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}.")
    if args.debian_rows < 0:
        parser.error(f"--debian-rows must be 0 or positive; got {args.debian_rows}.")
    preset = PRESETS[args.preset]
    args.n_samples = preset["n_samples"] if args.n_samples is None else args.n_samples
    args.n_features = (preset["n_features"] if args.n_features is None
                       else args.n_features)
    args.epochs = preset["epochs"] if args.epochs is None else args.epochs
    args.hidden = preset["hidden"] if args.hidden is None else tuple(args.hidden)
    if any(units < 1 for units in args.hidden):
        parser.error(f"--hidden sizes must be positive; got {list(args.hidden)}.")
    if args.pause < 0:
        parser.error(f"--pause must be 0 or positive; got {args.pause}.")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1; got {args.epochs}.")
    if args.n_samples < preset["n_classes"]:
        parser.error(f"--n-samples must be at least {preset['n_classes']}; "
                     f"got {args.n_samples}.")
    if args.head == "multinomial":
        args.loss = "log_loss"
    return args


# ----------------------------------------------------------------------- data


def make_data(n_samples, n_features, n_classes, dtype, seed):
    """Gaussian classes of unit variance around random centres about 4 apart.

    The classes overlap (roughly MNIST's difficulty for a linear model), so the loss stays
    away from zero: with separable classes the margin losses and their gradients vanish
    after an epoch or two, and the timings would be those of a network that has stopped
    learning (and whose optimizer moments decay towards denormal numbers).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.83 / np.sqrt(n_features), size=(n_classes, n_features))
    y = rng.integers(n_classes, size=n_samples)
    X = centres[y] + rng.normal(size=(n_samples, n_features))
    return np.ascontiguousarray(X, dtype=dtype), y.astype(np.int64)


def network_flops(layer_sizes, n_samples):
    """Floating-point operations of one epoch: 6 n sum(fan_in * fan_out)."""
    return 6.0 * n_samples * sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def matmul_peak(dtype, size=2048, repeats=5):
    """GFLOP/s of numpy's best ``size`` x ``size`` product (BLAS at its default threads)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((size, size)).astype(dtype)
    B = rng.standard_normal((size, size)).astype(dtype)
    A @ B
    best = min(_timed(lambda: A @ B) for _ in range(repeats))
    return 2.0 * size ** 3 / best / 1e9


def jax_matmul_peak(dtype, size=2048, repeats=5):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(dtype == "float64"):
        A = jnp.asarray(np.random.default_rng(0).standard_normal((size, size)), dtype=dtype)
        product = jax.jit(lambda a, b: a @ b)
        product(A, A).block_until_ready()
        best = min(_timed(lambda: product(A, A).block_until_ready())
                   for _ in range(repeats))
    return 2.0 * size ** 3 / best / 1e9


def torch_matmul_peak(torch, dtype, size=2048, repeats=5):
    A = torch.randn(size, size, dtype=getattr(torch, dtype))
    A @ A
    best = min(_timed(lambda: A @ A) for _ in range(repeats))
    return 2.0 * size ** 3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------- contenders


class Setup:
    """What every contender shares: data, network shape, minibatch orders, weights."""

    def __init__(self, args):
        preset = PRESETS[args.preset]
        self.args = args
        self.dtype = np.dtype(args.dtype)
        self.X, self.y = make_data(args.n_samples, args.n_features,
                                   preset["n_classes"], self.dtype, args.seed)
        self.s = np.ones(args.n_samples, dtype=np.float64)
        self.hidden = args.hidden
        n_outputs = preset["n_classes"] if preset["n_classes"] > 2 else 1
        self.layer_sizes = [args.n_features, *self.hidden, n_outputs]
        self.n_classes = preset["n_classes"]
        self.head = args.head if n_outputs > 1 else "binary"
        self.batch_size = min(BATCH_SIZE, args.n_samples)
        self.penalty = 1.0 / (C * args.n_samples)
        rng = np.random.default_rng(args.seed + 1)
        # One minibatch order and noise seed per epoch (warm-up first), shared by all.
        self.perms = [rng.permutation(args.n_samples).astype(np.int64)
                      for _ in range(args.epochs + 1)]
        self.seeds = [int(rng.integers(np.iinfo(np.int32).max))
                      for _ in range(args.epochs + 1)]

    def initial_params(self):
        """The same Glorot-uniform draw for every contender."""
        return init_params(self.layer_sizes, "relu", self.dtype,
                           np.random.default_rng(self.args.seed + 2))


class BackendEpoch:
    """A backend's ``epoch``, called directly as the stochastic solver calls it."""

    def __init__(self, setup, backend_name, flush_denormal=None):
        self.setup = setup
        self.backend = get_backend(backend_name)
        self.coefs, self.intercepts = setup.initial_params()
        self.state = init_state(self.coefs, self.intercepts)
        self.flush_denormal = flush_denormal

    def epoch(self, i):
        setup = self.setup
        if self.flush_denormal is not None:
            self.flush_denormal(True)
        try:
            data = self.backend.epoch(
                (self.coefs, self.intercepts), self.state, setup.X, setup.y, setup.s,
                setup.perms[i], batch_size=setup.batch_size, optimizer="adam",
                learning_rate=LEARNING_RATE, momentum=0.9, beta1=BETA1, beta2=BETA2,
                epsilon=EPSILON, penalty=setup.penalty, activation="relu",
                loss=setup.args.loss, head=setup.head, input_noise=0.0, dropout=0.0,
                train_output_bias=True, seed=setup.seeds[i])
        finally:
            if self.flush_denormal is not None:
                self.flush_denormal(False)
        return data / setup.X.shape[0]


class MLPEpoch:
    """scikit-learn's MLPClassifier, one epoch per ``partial_fit``."""

    def __init__(self, setup):
        self.setup = setup
        n = setup.X.shape[0]
        # MLPClassifier divides alpha/2 ||W||^2 by the batch size; this alpha gives the
        # same minibatch penalty as sksvmnet's 1/(C n).
        self.model = MLPClassifier(
            hidden_layer_sizes=setup.hidden, batch_size=setup.batch_size, solver="adam",
            alpha=setup.batch_size / (C * n), learning_rate_init=LEARNING_RATE,
            beta_1=BETA1, beta_2=BETA2, epsilon=EPSILON, random_state=setup.args.seed,
            shuffle=True)
        self.classes = np.arange(setup.n_classes)

    def epoch(self, i):
        self.model.partial_fit(self.setup.X, self.setup.y, classes=self.classes)
        return float(self.model.loss_)


class TorchEpoch:
    """The same network, minibatches, Adam and head as a plain PyTorch loop."""

    def __init__(self, setup, torch):
        self.setup = setup
        self.torch = torch
        torch.manual_seed(setup.args.seed)
        torch.set_num_threads(usable_cpus())
        coefs, intercepts = setup.initial_params()
        self.coefs = [torch.tensor(W, requires_grad=True) for W in coefs]
        self.intercepts = [torch.tensor(b, requires_grad=True) for b in intercepts]
        # Adam's L2 term (weight_decay) adds penalty * W to the weights' gradients only,
        # which is sksvmnet's minibatch objective penalty/2 sum ||W||^2 + mean(loss).
        # The fused kernel, the fastest Adam torch has on the CPU (about 1.4x the default
        # multi-tensor one here, on the optimizer step alone).
        self.optimizer = torch.optim.Adam(
            [{"params": self.coefs, "weight_decay": setup.penalty},
             {"params": self.intercepts, "weight_decay": 0.0}],
            lr=LEARNING_RATE, betas=(BETA1, BETA2), eps=EPSILON, fused=True)
        self.X = torch.from_numpy(setup.X)
        self.y = torch.from_numpy(setup.y)

    def losses(self, F, y):
        torch, head, loss = self.torch, self.setup.head, self.setup.args.loss
        if head == "multinomial":
            return torch.nn.functional.cross_entropy(F, y, reduction="none")

        def margin(z):
            r = torch.clamp(1.0 - z, min=0.0)
            return r * r if loss == "squared_hinge" else r

        onehot = torch.nn.functional.one_hot(y, F.shape[1]).to(F.dtype)
        if head == "binary":
            return margin((2.0 * y.to(F.dtype) - 1.0) * F[:, 0])
        if head == "ovr":
            return margin((2.0 * onehot - 1.0) * F).sum(dim=1)
        f_true = (F * onehot).sum(dim=1)
        if head == "crammer_singer":
            rival = F.masked_fill(onehot > 0, -torch.inf).max(dim=1).values
            return margin(f_true - rival)
        return (margin(f_true[:, None] - F) * (1.0 - onehot)).sum(dim=1)

    def epoch(self, i):
        torch = self.torch
        torch.set_flush_denormal(True)  # returns whether it is supported, not the old state
        try:
            perm = torch.from_numpy(self.setup.perms[i])
            total = 0.0
            n_layers = len(self.coefs)
            for start in range(0, perm.shape[0], self.setup.batch_size):
                idx = perm[start:start + self.setup.batch_size]
                H = self.X[idx]
                for layer in range(n_layers):
                    H = torch.addmm(self.intercepts[layer], H, self.coefs[layer])
                    if layer < n_layers - 1:
                        H = torch.relu(H)
                losses = self.losses(H, self.y[idx])
                self.optimizer.zero_grad(set_to_none=True)
                losses.mean().backward()
                self.optimizer.step()
                total += float(losses.detach().sum())
        finally:
            torch.set_flush_denormal(False)
        return total / perm.shape[0]


def estimator(setup, backend_name, epochs):
    """The sksvmnet estimator that trains this network for exactly ``epochs`` epochs."""
    common = dict(hidden_layer_sizes=setup.hidden, activation="relu", C=C,
                  max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                  early_stopping=False,
                  batch_size=setup.batch_size, learning_rate_init=LEARNING_RATE,
                  random_state=setup.args.seed, backend=backend_name, solver="adam",
                  dtype=setup.dtype)  # (networks train in float32 unless told)
    if setup.args.head == "multinomial":
        return LogisticNetClassifier(multi_class="multinomial", **common)
    return SVMNetClassifier(loss=setup.args.loss, multi_class=setup.args.head, **common)


def time_estimator_fit(setup, backend_name, epochs):
    """``(seconds per epoch, final loss, traces)`` of a whole fit; kernels are warm."""
    model = estimator(setup, backend_name, epochs)
    traces = None
    if backend_name == "jax":
        counts = get_backend("jax").TRACE_COUNTS
        before = sum(counts.values())
    with warnings.catch_warnings():
        # max_iter stops the fit on purpose: it says so with a ConvergenceWarning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(setup.X, setup.y)
        seconds = time.perf_counter() - start
    if model.n_iter_ != epochs:
        raise RuntimeError(f"the {backend_name} fit ran {model.n_iter_} epochs, "
                           f"not {epochs}")
    if backend_name == "jax":
        traces = sum(counts.values()) - before
    return seconds / epochs, float(model.loss_), traces


# ----------------------------------------------------------------------- run


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(args):
    setup = Setup(args)
    numpy_peak = {dt: matmul_peak(dt) for dt in ("float32", "float64")}
    torch = import_torch() if {"torch", "numba-ftz"} - set(args.skip) else None
    makers = {
        "numba": lambda: BackendEpoch(setup, "numba"),
        "jax": lambda: BackendEpoch(setup, "jax"),
        "mlp": lambda: MLPEpoch(setup),
        "torch": lambda: TorchEpoch(setup, torch),
        "numba-ftz": lambda: BackendEpoch(setup, "numba", torch.set_flush_denormal),
    }
    notes = {}
    epoch_rows = {}
    for name, make in makers.items():
        if name in args.skip:
            continue
        if name in ("torch", "numba-ftz") and torch is None:
            notes[name] = "skipped: torch does not import"
            continue
        start = time.perf_counter()
        try:
            contender = make()  # imports the backend: jax's import is part of its cost
        except ImportError as exc:
            notes[name] = f"skipped: {exc}"
            continue
        setup_seconds = time.perf_counter() - start
        time.sleep(args.pause)
        start = time.perf_counter()
        value = contender.epoch(0)
        warmup = time.perf_counter() - start
        epoch_rows[name] = {"contender": contender, "setup_seconds": setup_seconds,
                            "warmup_seconds": warmup, "epoch_seconds": [],
                            "losses": [value]}
        print(f"  warm-up {name}: {warmup:.3f} s", flush=True)
    for i in range(1, args.epochs + 1):
        for name, row in epoch_rows.items():
            time.sleep(args.pause)
            start = time.perf_counter()
            value = row["contender"].epoch(i)
            row["epoch_seconds"].append(time.perf_counter() - start)
            row["losses"].append(value)
        print(f"  epoch {i}: " + ", ".join(f"{name} {row['epoch_seconds'][-1]:.3f} s"
                                          for name, row in epoch_rows.items()), flush=True)

    rows = []
    for name, row in epoch_rows.items():
        rows.append({"contender": name, "kind": "epoch",
                     "setup_seconds": row["setup_seconds"],
                     "warmup_seconds": row["warmup_seconds"],
                     "epoch_seconds": row["epoch_seconds"],
                     "epoch_seconds_median": statistics.median(row["epoch_seconds"]),
                     "epoch_seconds_min": min(row["epoch_seconds"]),
                     "mean_loss_per_epoch": row["losses"]})
    for backend_name in ("numba", "jax"):
        name = f"{backend_name}-fit"
        if name in args.skip:
            continue
        if not importable(backend_name):
            notes.setdefault(name, f"skipped: the {backend_name} backend does not import")
            continue
        time.sleep(args.pause)
        per_epoch, loss, traces = time_estimator_fit(setup, backend_name, args.epochs)
        print(f"  {name}: {per_epoch:.3f} s per epoch", flush=True)
        rows.append({"contender": name, "kind": "fit", "setup_seconds": None,
                     "warmup_seconds": None, "epoch_seconds": None,
                     "epoch_seconds_median": per_epoch, "epoch_seconds_min": None,
                     "final_objective": loss,
                     "jax_traces_during_fit": traces})

    flops = network_flops(setup.layer_sizes, args.n_samples)
    # The second measurement of numpy's peak; run() took the first before any epoch.
    # Their maximum is the peak: load from other processes only ever lowers it.
    for dt in ("float32", "float64"):
        numpy_peak[dt] = max(numpy_peak[dt], matmul_peak(dt))
    peaks = {"numpy": numpy_peak}
    if importable("jax") and not {"jax", "jax-fit"} <= set(args.skip):
        peaks["jax"] = {dt: jax_matmul_peak(dt) for dt in ("float32", "float64")}
    if torch is not None:
        peaks["torch"] = {dt: torch_matmul_peak(torch, dt) for dt in ("float32", "float64")}
    peak = peaks["numpy"][args.dtype]
    reference = next((row for row in rows if row["contender"] == "numba"), None)
    for row in rows:
        seconds = row["epoch_seconds_median"]
        row["gflops"] = flops / seconds / 1e9
        row["percent_of_peak"] = 100.0 * row["gflops"] / peak
        row["vs_numba"] = (seconds / reference["epoch_seconds_median"]
                           if reference else None)
    data = {"n_samples": args.n_samples, "layer_sizes": setup.layer_sizes,
            "n_classes": setup.n_classes, "head": setup.head, "loss": args.loss,
            "dtype": args.dtype, "batch_size": setup.batch_size,
            "flops_per_epoch": flops}
    return rows, data, peaks, notes


def linear_problems(args):
    """``(name, X, y, description)`` of the --linear problems (loaded lazily)."""
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    from _common import DEBIAN_PATH, debian_problem

    for name, n, d, k in (("dense-binary", 20_000, 100, 2), ("dense-10class", 20_000, 200, 10)):
        X, y = make_classification(n, d, n_informative=50, n_classes=k,
                                   random_state=args.seed)
        yield (name, StandardScaler().fit_transform(X), y,
               f"make_classification({n}, {d}, n_informative=50, n_classes={k}), "
               "standardised, float64")
    if args.debian_rows and DEBIAN_PATH.exists():
        X, _, y, _ = debian_problem(DEBIAN_PATH, args.debian_rows, seed=args.seed)
        yield ("debian", X, y, f"Debian descriptions, {X.shape[0]:,} training rows, "
                               f"TF-IDF (1-2 grams), {X.shape[1]:,} features, CSR")
    elif args.debian_rows:
        print(f"debian: skipped, {DEBIAN_PATH} is missing", flush=True)


def run_linear(args):
    """Fit times of the linear models at their defaults on both backends."""
    rows = []
    for problem, X, y, description in linear_problems(args):
        for family, Estimator in (("SVMNet", SVMNetClassifier),
                                  ("LogisticNet", LogisticNetClassifier)):
            fits = {}
            for backend_name in ("numba", "jax"):
                if not importable(backend_name):
                    continue
                clf = Estimator(backend=backend_name)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    warm = _timed(lambda: clf.fit(X, y))
                    seconds = []
                    for _ in range(args.repeats):
                        time.sleep(args.pause)
                        seconds.append(_timed(lambda: clf.fit(X, y)))
                fits[backend_name] = {
                    "problem": problem, "data": description, "shape": list(X.shape),
                    "n_classes": int(len(np.unique(y))), "estimator": family,
                    "backend": backend_name, "solver": clf.solver_,
                    "device": clf.device_, "n_iter": int(np.max(clf.n_iter_)),
                    "objective": float(clf.loss_curve_[-1]),
                    "warmup_seconds": warm, "fit_seconds": seconds,
                    "fit_seconds_median": statistics.median(seconds),
                    "convergence_warnings": sorted({str(w.message) for w in caught})}
                print(f"  {problem} {family} {backend_name}: {clf.solver_} on "
                      f"{clf.device_}, {statistics.median(seconds):.3f} s (warm-up "
                      f"{warm:.2f} s), objective {clf.loss_curve_[-1]:.10g}", flush=True)
            numba_fit = fits.get("numba")
            for row in fits.values():
                row["vs_numba"] = (row["fit_seconds_median"] / numba_fit["fit_seconds_median"]
                                   if numba_fit else None)
                row["objective_vs_numba"] = (row["objective"] / numba_fit["objective"] - 1.0
                                             if numba_fit else None)
                rows.append(row)
    return rows


def importable(backend_name):
    try:
        get_backend(backend_name)
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- reporting


def numba_cache_files():
    """Cached numba kernels on disk before the run: the warm-up loads or compiles them."""
    folder = Path(backends.__file__).parent / "_numba" / "__pycache__"  # (no numba import)
    return len(list(folder.glob("epoch._epoch_kernel-*.nbi")))


def format_table(rows):
    header = ("contender", "setup (s)", "warm-up (s)", "epoch (s)", "best (s)", "GFLOP/s",
              "% peak", "vs numba", "loss")
    lines = []
    for row in rows:
        if row["kind"] == "fit":
            loss = f"J={row['final_objective']:.4g}"
            if row["jax_traces_during_fit"] is not None:
                loss += f" traces={row['jax_traces_during_fit']}"
        else:
            loss = f"{row['mean_loss_per_epoch'][-1]:.4g}"
        lines.append((
            row["contender"],
            "-" if row["setup_seconds"] is None else f"{row['setup_seconds']:.3f}",
            "-" if row["warmup_seconds"] is None else f"{row['warmup_seconds']:.3f}",
            f"{row['epoch_seconds_median']:.4f}",
            "-" if row["epoch_seconds_min"] is None else f"{row['epoch_seconds_min']:.4f}",
            f"{row['gflops']:.1f}",
            f"{row['percent_of_peak']:.0f}%",
            "-" if row["vs_numba"] is None else f"{row['vs_numba']:.2f}x",
            loss,
        ))
    return render_table(header, lines)


def plot(plt, rows, path, title):
    names = [row["contender"] for row in rows][::-1]
    times = [row["epoch_seconds_median"] for row in rows][::-1]
    colours = ["tab:blue" if name.startswith(("numba", "jax")) else "tab:gray"
               for name in names]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    ax.barh(names, times, color=colours)
    ax.set_xlabel("median epoch time (s)")
    ax.set_title(title, fontsize=10)
    for y, row in enumerate(rows[::-1]):
        ax.text(row["epoch_seconds_median"], y,
                f"  {row['percent_of_peak']:.0f}% of peak", va="center", fontsize=8)
    ax.set_xlim(right=max(times) * 1.35)
    save_figure(plt, fig, path)


def write_result(result, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def main_linear(args, argv):
    load_before = load_average()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"linear models, both backends; load average {load_before}", flush=True)
    rows = run_linear(args)
    total = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    load_after = load_average()
    result = {
        "benchmark": "bench_backends_linear",
        **run_record("bench_backends.py", PACKAGES, argv),
        "date_utc": started.isoformat(timespec="seconds"),
        "total_seconds": total,
        "settings": {"repeats": args.repeats, "debian_rows": args.debian_rows,
                     "seed": args.seed, "pause": args.pause},
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": rows,
    }
    print(f"load average before {load_before}, after {load_after}; {total:.1f} s in all")
    write_result(result, args.output)


def main(argv=None):
    args = parse_args(argv)
    if args.linear:
        if args.output == DEFAULT_OUTPUT:
            args.output = DEFAULT_OUTPUT.with_name("bench_backends_linear.json")
        return main_linear(args, argv)
    plt = pyplot() if args.plot is not None else None  # fail before the work, not after
    load_before = load_average()
    cached = numba_cache_files()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"{args.preset}: {PRESETS[args.preset]}, hidden={args.hidden}, "
          f"n_samples={args.n_samples}, "
          f"dtype={args.dtype}, head={args.head}, loss={args.loss}; load average "
          f"{load_before}", flush=True)
    rows, data, peaks, notes = run(args)
    total = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    load_after = load_average()

    sizes = "-".join(map(str, data["layer_sizes"]))
    print(f"\n{sizes} ReLU network, {data['n_samples']} samples, {args.dtype}, head "
          f"{data['head']} ({data['loss']}), Adam, batch {data['batch_size']}; median of "
          f"{args.epochs} epochs after one warm-up epoch")
    print(format_table(rows))
    print("\nmatmul peak (GFLOP/s, 2048x2048): " + "; ".join(
        f"{lib} f32 {p['float32']:.0f}, f64 {p['float64']:.0f}" for lib, p in peaks.items())
        + f". % peak is against numpy's {args.dtype} peak; "
          f"{data['flops_per_epoch'] / 1e9:.2f} GFLOP per epoch.")
    print("epoch: median of the measured epochs (GFLOP/s, % peak and vs numba use it); "
          "best: the fastest, what the code does when no other process gets in the way")
    print("setup: building the contender, importing its backend (jax, numba) or "
          "library; warm-up: the first epoch, compilation included")
    print("loss: mean data loss of the last epoch (mlp: softmax log-loss plus penalty); "
          "J: the fit's final objective; traces: JAX compilations during the fit")
    for name, note in notes.items():
        print(f"{name}: {note}")
    print(f"load average before {load_before}, after {load_after}; {total:.1f} s in all")

    result = {
        "benchmark": "bench_backends",
        **run_record("bench_backends.py", PACKAGES, argv),
        "date_utc": started.isoformat(timespec="seconds"),
        "total_seconds": total,
        "settings": {"preset": args.preset, "hidden": list(args.hidden),
                     "n_features": args.n_features,
                     "epochs": args.epochs, "seed": args.seed,
                     "optimizer": "adam", "learning_rate": LEARNING_RATE, "C": C,
                     "skip": args.skip, "pause": args.pause,
                     "numba_epoch_kernel_cache_files_before": cached},
        "data": data,
        "matmul_peak_gflops": peaks,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "notes": notes,
        "results": rows,
    }
    write_result(result, args.output)
    if plt is not None:
        plot(plt, rows, args.plot, f"{sizes}, {data['n_samples']} samples, {args.dtype}")
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
