"""Time the linear models against scikit-learn's on large dense, sparse and real data.

The linear estimators of sksvmnet are drop-in replacements: ``SVMNetClassifier()`` for
``LinearSVC()`` (squared hinge, one-vs-rest, liblinear's penalised intercept) and
``LogisticNetClassifier()`` for ``LogisticRegression()`` (L2, multinomial). This script
checks the claim that goes with that: the same optimum, in a fraction of the time and
memory. For every data set and estimator it reports

- the fit time (median of ``--repeats`` measured fits, after one warm-up fit on the first
  ``--warmup-rows`` training rows, timed apart: numba loads or compiles its kernels there,
  JAX compiles its programs, scikit-learn touches its code; 10,000 rows by default, as
  the numba backend's fused objective pass only starts at 4,096 rows and a warm-up
  below that left its compilation, ~12 s on a stale cache, inside the timed fit);
- the peak memory of the fit (see "Memory" below);
- the primal objective ``J = 1/2 ||W||^2 [+ 1/2 b^2 / intercept_scaling^2] + C sum loss``
  of the fitted ``coef_`` and ``intercept_``, computed for every estimator by
  ``sksvmnet._losses.objective`` (the package's numpy reference) on the training data, and
  its relative gap to the reference estimator's objective and to the best objective any
  row reached on that problem;
- the test accuracy, and the fit-time ratio to the reference estimator.

Rows (``--estimators`` picks them by key; each data set has a default set):

==================  ========================================================  ==========
key                 estimator                                                 reference
==================  ========================================================  ==========
LinearSVC           ``LinearSVC(dual="auto")``, default tol 1e-4                   -
LinearSVC-tight     ``LinearSVC(dual="auto", tol=1e-8, max_iter=100000)``     LinearSVC
SVMNet              ``SVMNetClassifier(backend="numba")``, default tol 1e-4   LinearSVC
SVMNet-tight        ``SVMNetClassifier(backend="numba", tol=1e-8)``           LinearSVC
SVMNet-f32          ``SVMNet`` trained on float32 X                           LinearSVC
SVMNet-jax          ``SVMNetClassifier(backend="jax")`` (``--backends``)      LinearSVC
LogisticRegression  ``LogisticRegression(max_iter=1000)``, lbfgs, tol 1e-4         -
LogisticRegression  ``LogisticRegression(tol=1e-10, max_iter=10000)``         LogisticR.
  -tight
LogisticNet         ``LogisticNetClassifier(max_iter=1000, backend="numba")`` LogisticR.
LogisticNet-tight   ``LogisticNetClassifier(tol=1e-8, ...)``                  LogisticR.
LogisticNet-jax     ``LogisticNetClassifier(backend="jax")``                  LogisticR.
SGD-hinge           ``SGDClassifier(loss="hinge", alpha=1/(C n))``            (hinge)
LinearSVC-hinge     ``LinearSVC(loss="hinge", dual=True)``                         -
SVMNet-hinge        ``SVMNetClassifier(loss="hinge", backend="numba")``       LinearSVC-h.
==================  ========================================================  ==========

Every data set runs all rows but the costly ones (``DEFAULT_ROWS``: no dual hinge pair,
SGD or LinearSVC-tight on ten classes, no -tight rows on the pixel data, and only
LinearSVC and SVMNet on the Debian text); ``--estimators`` runs the rows named instead.
The default-tolerance scikit-learn rows are the references for time and objective: what a
user gets by default. The ``-tight`` rows exist to pin the optimum down independently;
the "gap vs best" column compares every row with the lowest objective of its problem.
``SGDClassifier`` gets ``alpha = 1 / (C n_train)``, which makes its objective the hinge
one of ``LinearSVC(loss="hinge", C=C)`` up to the unpenalised intercept; its time is
compared with ``LinearSVC-hinge`` when that row runs, else with ``LinearSVC``.

Data sets (``--datasets``):

- ``dense-binary``, ``dense-multiclass``: ``make_classification`` with ``--n`` training
  rows (default 100,000) plus ``--n-test`` test rows, 200 features (20 informative, 20
  redundant), 2 and 10 classes; the features are used as generated (roughly unit scale).
- ``sparse``: a synthetic TF-IDF-like text matrix, ``--sparse-n`` x ``--sparse-features``
  (20,000 x 100,000) with ``--sparse-nnz`` (100) non-zeros a row: each row draws tokens
  from a Zipf(1) distribution over the columns until it has that many distinct ones;
  values are ``(1 + log count) * idf``, rows are l2-normalised (as ``TfidfVectorizer``
  with ``sublinear_tf=True``); binary labels are the sign of a sparse linear teacher
  (2,000 non-zero Gaussian weights on random columns) minus its median, with 5% flipped.
- ``fashion-mnist``, ``mnist``: the idx files (``--fashion-dir``, ``--mnist-dir``), 60,000
  training and 10,000 test images, pixels scaled to [0, 1] by dividing by 255. Not
  standardised: ``StandardScaler`` blows up the nearly constant border pixels, which slows
  every solver alike and changes nothing in the comparison; [0, 1] is also what most
  users do with pixel data and it keeps the zeros.
- ``debian``: the Debian package descriptions (``--debian-path``), 58 sections,
  ``TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)`` fitted on the
  training split (48,550 x 292,071). Expensive (LogisticRegression takes ~280 s), so it
  runs only when named, and by default with the SVM rows only.

Memory: every estimator's fits run in a fresh worker process (this script started again
with ``--worker``) that loads the data set from a cache written once by the parent
process. Before each measured fit the worker releases free heap memory
(``malloc_trim``), resets the kernel's peak-RSS counter of the process (writing ``5`` to
``/proc/self/clear_refs``) and reads the resident set size; after the fit it reads the
peak (``VmHWM`` in ``/proc/self/status``). "peak extra" is the peak minus the resident
size before the fit, i.e. what the fit needed on top of the data already loaded (and the
imported libraries and compiled kernels); "peak total" is the peak itself. Both see
memory allocated by numba, BLAS, liblinear and XLA, which ``tracemalloc`` does not. Where
``clear_refs`` cannot be written (not Linux), the worker falls back to
``getrusage(RUSAGE_SELF).ru_maxrss``, which also counts the loading, and says so.

``--scaling`` instead fits ``SVMNet`` and ``LinearSVC`` (``--scaling-estimators``) on the
first n rows of one dense binary problem for n from 10^3 to ``--scaling-max-n`` (10^6)
with ``--scaling-steps`` points a decade, and plots fit time against n on log-log axes
with the fitted slope of each (1 is linear growth).

BLAS keeps the libraries' default threads, as in a user's process (sksvmnet chooses its
own per fit); ``--blas-threads N`` limits every fit to N to compare settings on purpose,
as in ``compare_digits.py``. XLA's own thread pool is not affected by that.

Run from the repository root, one benchmark at a time on a quiet machine::

    python benchmarks/bench_linear.py [--datasets dense-binary dense-multiclass sparse
        fashion-mnist mnist debian] [--n 100000] [--repeats 1] [--estimators KEY ...]
        [--backends numba jax] [--output PATH] [--plot PATH]
    python benchmarks/bench_linear.py --scaling [--scaling-max-n 1000000]

It prints one markdown table per data set and writes the results, the settings and a
description of the machine as JSON (``--output``, default
``benchmarks/results/bench_linear.json``, or ``bench_linear_scaling.json`` and
``bench_linear_scaling.png`` with ``--scaling``).
"""

import argparse
import ctypes
import datetime
import functools
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from _common import (  # benchmarks/_common.py
    DEBIAN_PATH, FASHION_DIRS, HOW_TO_GET, MNIST_DIRS, debian_problem, find_idx_dir,
    load_average, pixel_problem, primal_objective, pyplot, run_record, save_figure,
    sparse_text_problem, timed)

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("sksvmnet", "scikit-learn", "numpy", "scipy", "numba", "jax", "jaxlib",
            "threadpoolctl")
DATASETS = ("dense-binary", "dense-multiclass", "sparse", "fashion-mnist", "mnist",
            "debian")
DEFAULT_DATASETS = ("dense-binary", "dense-multiclass", "sparse", "fashion-mnist")


#: Tolerances of the rows that pin the optimum down. liblinear's primal Newton solver
#: and L-BFGS both stop on a gradient norm; these are far below what changes a
#: prediction and still take only a few more iterations than the defaults.
TIGHT_LIBLINEAR_TOL = 1e-8
TIGHT_LBFGS_TOL = 1e-10  # LogisticRegression: its gtol on the objective divided by n
TIGHT_SKSVMNET_TOL = 1e-8

#: Row key -> (objective it minimises, key of its reference row).
ROWS = {
    "LinearSVC": ("squared_hinge", None),
    "LinearSVC-tight": ("squared_hinge", "LinearSVC"),
    "SVMNet": ("squared_hinge", "LinearSVC"),
    "SVMNet-tight": ("squared_hinge", "LinearSVC"),
    "SVMNet-f32": ("squared_hinge", "LinearSVC"),
    "SVMNet-jax": ("squared_hinge", "LinearSVC"),
    "LogisticRegression": ("log_loss", None),
    "LogisticRegression-tight": ("log_loss", "LogisticRegression"),
    "LogisticNet": ("log_loss", "LogisticRegression"),
    "LogisticNet-tight": ("log_loss", "LogisticRegression"),
    "LogisticNet-jax": ("log_loss", "LogisticRegression"),
    "SGD-hinge": ("hinge", "LinearSVC-hinge"),
    "LinearSVC-hinge": ("hinge", None),
    "SVMNet-hinge": ("hinge", "LinearSVC-hinge"),
}
_ALL = tuple(ROWS)
_TEN_CLASS = ("LinearSVC", "SVMNet", "SVMNet-tight", "SVMNet-f32", "SVMNet-jax",
              "LogisticRegression", "LogisticRegression-tight", "LogisticNet",
              "LogisticNet-tight", "LogisticNet-jax")
_PIXELS = ("LinearSVC", "SVMNet", "SVMNet-f32", "SVMNet-jax", "LogisticRegression",
           "LogisticNet", "LogisticNet-jax")
#: The rows each data set runs unless --estimators says otherwise, chosen to keep each
#: data set within a few minutes on two cores. Left out of the defaults where they cost
#: minutes (measured at the default sizes, one BLAS thread): LinearSVC-tight and the
#: dual hinge pair on ten classes (ten liblinear solves each; LinearSVC-hinge took 153 s
#: on the binary problem alone); SGD-hinge on ten classes (238 s with alpha = 1/(C n));
#: every -tight row on the pixel data, where L-BFGS at tol 1e-8 ran past 300 s.
DEFAULT_ROWS = {
    "dense-binary": _ALL,
    "dense-multiclass": _TEN_CLASS,
    "sparse": _ALL,
    "fashion-mnist": _PIXELS,
    "mnist": _PIXELS,
    "debian": ("LinearSVC", "SVMNet"),
}
JAX_ROWS = {"SVMNet-jax": "SVMNet", "LogisticNet-jax": "LogisticNet"}
PROBLEM_NAMES = {"squared_hinge": "L2-SVM (squared hinge)", "hinge": "L1-SVM (hinge)",
                 "log_loss": "logistic"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS,
                        default=list(DEFAULT_DATASETS),
                        help="data sets to run, in this order (default: "
                             f"{' '.join(DEFAULT_DATASETS)}; debian and mnist only "
                             "when named)")
    parser.add_argument("--estimators", nargs="+", choices=tuple(ROWS), default=None,
                        help="rows to run on every data set (default: each data set's "
                             "own set, see the module docstring)")
    parser.add_argument("--backends", nargs="+", choices=("numba", "jax"),
                        default=["numba"],
                        help="backends of the SVMNet rows (default numba; 'jax' adds "
                             "SVMNet-jax)")
    parser.add_argument("--logistic-backends", nargs="+", choices=("numba", "jax"),
                        default=["numba", "jax"],
                        help="backends of the LogisticNet rows (default numba jax)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the data and of every estimator (default 0)")
    parser.add_argument("--C", type=float, default=1.0, help="C of every model (default 1)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measured fits per estimator after the warm-up (default 1)")
    parser.add_argument("--warmup-rows", type=int, default=10_000,
                        help="training rows of the warm-up fit; 0 for all (default 10000)")
    parser.add_argument("--n", type=int, default=100_000,
                        help="training rows of the dense synthetic problems (default "
                             "100000)")
    parser.add_argument("--n-test", type=int, default=20_000,
                        help="test rows of the dense synthetic problems (default 20000)")
    parser.add_argument("--n-features", type=int, default=200,
                        help="features of the dense synthetic problems (default 200)")
    parser.add_argument("--sparse-n", type=int, default=20_000,
                        help="training rows of the sparse problem (default 20000; a "
                             "quarter as many more are drawn for the test set)")
    parser.add_argument("--sparse-features", type=int, default=100_000,
                        help="columns of the sparse problem (default 100000)")
    parser.add_argument("--sparse-nnz", type=int, default=100,
                        help="non-zeros a row of the sparse problem (default 100)")
    parser.add_argument("--fashion-dir", "--data-dir", type=Path, default=None,
                        help="folder of the Fashion-MNIST idx .gz files (default "
                             "../shared/data/fashion-mnist from the repository root, "
                             "then /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--mnist-dir", type=Path, default=None,
                        help="folder of the MNIST idx .gz files (default "
                             "../shared/data/mnist from the repository root)")
    parser.add_argument("--debian-path", type=Path, default=DEBIAN_PATH,
                        help="debian-descriptions.tsv.gz (default ../shared/data/"
                             "debian-descriptions/ from the repository root)")
    parser.add_argument("--blas-threads", type=int, default=0,
                        help="BLAS threads in every fit; 0 (the default) leaves each "
                             "library its own choice, as a user's process does")
    parser.add_argument("--fit-timeout", type=float, default=None,
                        help="seconds after which a row's worker is stopped and the row "
                             "reported as timed out (default: none)")
    parser.add_argument("--scaling", action="store_true",
                        help="run the fit-time-versus-n scaling study instead")
    parser.add_argument("--scaling-max-n", type=int, default=1_000_000,
                        help="largest n of --scaling (default 1000000)")
    parser.add_argument("--scaling-steps", type=int, default=2,
                        help="sizes a decade in --scaling (default 2: 1e3, 3.2e3, 1e4, "
                             "...)")
    parser.add_argument("--scaling-estimators", nargs="+", choices=tuple(ROWS),
                        default=["SVMNet", "LinearSVC"],
                        help="rows of --scaling (default SVMNet LinearSVC)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON results (default benchmarks/results/bench_linear.json, "
                             "or bench_linear_scaling.json with --scaling)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="figure: fit time and gap per row, or with --scaling the "
                             "log-log plot (default there bench_linear_scaling.png)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the workers' copy of each data set is written "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("repeats", "n", "n_test", "n_features", "sparse_n", "sparse_features",
                 "sparse_nnz", "scaling_max_n", "scaling_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1; got "
                         f"{getattr(args, name)}.")
    if args.warmup_rows < 0 or args.blas_threads < 0:
        parser.error("--warmup-rows and --blas-threads must be 0 or positive; got "
                     f"{args.warmup_rows} and {args.blas_threads}.")
    if args.sparse_nnz > args.sparse_features:
        parser.error(f"--sparse-nnz ({args.sparse_nnz}) cannot exceed --sparse-features "
                     f"({args.sparse_features}).")
    if args.C <= 0:
        parser.error(f"--C must be positive; got {args.C}.")
    return args


# ------------------------------------------------------------------------ data sets


def dense_problem(n_train, n_test, n_features, n_classes, seed):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_train + n_test, n_features=n_features, n_informative=20,
        n_redundant=20, n_classes=n_classes, random_state=seed)
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


def load_dataset(name, args):
    """``(X_train, X_test, y_train, y_test, description)``, or None with a message."""
    if name in ("dense-binary", "dense-multiclass"):
        classes = 2 if name == "dense-binary" else 10
        return (*dense_problem(args.n, args.n_test, args.n_features, classes, args.seed),
                f"make_classification, {args.n_features} features (20 informative, 20 "
                f"redundant), {classes} classes, seed {args.seed}")
    if name == "sparse":
        return (*sparse_text_problem(args.sparse_n, args.sparse_features,
                                     args.sparse_nnz, args.seed),
                f"synthetic TF-IDF-like text, {args.sparse_nnz} non-zeros a row, Zipf(1) "
                "column frequencies, sublinear tf x idf, l2-normalised rows, labels of a "
                f"sparse linear teacher with 5% flipped, seed {args.seed}")
    if name in ("fashion-mnist", "mnist"):
        given = args.fashion_dir if name == "fashion-mnist" else args.mnist_dir
        candidates = FASHION_DIRS if name == "fashion-mnist" else MNIST_DIRS
        folder = find_idx_dir(given, candidates)
        if folder is None:
            looked = given or ", ".join(map(str, candidates))
            return None, (f"{name}: the idx files were not found (looked in {looked}). "
                          f"To run it, get {HOW_TO_GET[name]}.")
        return (*pixel_problem(folder), f"{folder}, pixels / 255")
    if not args.debian_path.is_file():
        return None, (f"debian: {args.debian_path} was not found. To run it, get "
                      f"{HOW_TO_GET['debian']}.")
    return (*debian_problem(args.debian_path),
            f"{args.debian_path}, TfidfVectorizer(ngram_range=(1, 2), min_df=2, "
            "sublinear_tf=True) fitted on the train split")


def save_dataset(folder, X_train, X_test, y_train, y_test):
    """Write the arrays for the workers; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, array in (("X_train", X_train), ("X_test", X_test), ("y_train", y_train),
                       ("y_test", y_test)):
        if sp.issparse(array):
            path = folder / f"{key}.npz"
            sp.save_npz(path, sp.csr_matrix(array), compressed=False)
        else:
            path = folder / f"{key}.npy"
            np.save(path, np.ascontiguousarray(array))
        paths[key] = str(path)
    return paths


def load_array(path, n_rows=None):
    if path.endswith(".npz"):
        X = sp.load_npz(path).tocsr()
        return X[:n_rows] if n_rows is not None else X
    if n_rows is None:
        return np.load(path)
    return np.array(np.load(path, mmap_mode="r")[:n_rows])


# -------------------------------------------------------------------- the estimators


def make_estimator(key, C, seed, n_train):
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.svm import LinearSVC

    from sksvmnet import LogisticNetClassifier, SVMNetClassifier

    svmnet = dict(C=C, random_state=seed, backend="numba")
    lognet = dict(C=C, random_state=seed, max_iter=1000, backend="numba")
    factories = {
        "LinearSVC": lambda: LinearSVC(C=C, dual="auto", random_state=seed),
        "LinearSVC-tight": lambda: LinearSVC(C=C, dual="auto", tol=TIGHT_LIBLINEAR_TOL,
                                             max_iter=100_000, random_state=seed),
        "SVMNet": lambda: SVMNetClassifier(**svmnet),
        "SVMNet-tight": lambda: SVMNetClassifier(**svmnet, tol=TIGHT_SKSVMNET_TOL,
                                                 max_iter=10_000),
        "SVMNet-f32": lambda: SVMNetClassifier(**svmnet),
        "SVMNet-jax": lambda: SVMNetClassifier(**{**svmnet, "backend": "jax"}),
        "LogisticRegression": lambda: LogisticRegression(C=C, max_iter=1000),
        "LogisticRegression-tight": lambda: LogisticRegression(
            C=C, tol=TIGHT_LBFGS_TOL, max_iter=10_000),
        "LogisticNet": lambda: LogisticNetClassifier(**lognet),
        "LogisticNet-tight": lambda: LogisticNetClassifier(
            **{**lognet, "max_iter": 10_000}, tol=TIGHT_SKSVMNET_TOL),
        "LogisticNet-jax": lambda: LogisticNetClassifier(**{**lognet, "backend": "jax"}),
        # alpha = 1/(C n): SGD's (1/n) sum loss + alpha/2 ||w||^2 is J/(C n).
        "SGD-hinge": lambda: SGDClassifier(loss="hinge", alpha=1.0 / (C * n_train),
                                           random_state=seed),
        "LinearSVC-hinge": lambda: LinearSVC(C=C, loss="hinge", dual=True,
                                             random_state=seed),
        "SVMNet-hinge": lambda: SVMNetClassifier(**svmnet, loss="hinge"),
    }
    return factories[key]()


def describe(estimator):
    """The estimator as scikit-learn prints it: only the non-default parameters."""
    return " ".join(repr(estimator).split())


# ------------------------------------------------------------------------ the worker


def _status_kb():
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                fields[key] = int(value.split()[0])
    return fields


class PeakMemory:
    """Peak resident memory of a block, in MiB, as described in the module docstring."""

    def __init__(self):
        try:
            self._libc = ctypes.CDLL("libc.so.6")
        except OSError:
            self._libc = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = ("VmHWM after resetting it through /proc/self/clear_refs, "
                           "minus VmRSS before the fit")
        except OSError:
            self.method = ("ru_maxrss of the worker (includes loading the data), minus "
                           "the resident size before the fit")

    def __enter__(self):
        if self._libc is not None:
            self._libc.malloc_trim(0)
        if self.method.startswith("VmHWM"):
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.before = _status_kb()["VmRSS"] / 1024
        else:
            self.before = _current_rss_mib()
        return self

    def __exit__(self, *exc):
        if self.method.startswith("VmHWM"):
            self.peak = _status_kb()["VmHWM"] / 1024
        else:
            import resource
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.extra = self.peak - self.before


def _current_rss_mib():
    try:
        return _status_kb()["VmRSS"] / 1024
    except OSError:
        return float("nan")


def run_worker(spec_path):
    """Fit one row on one data set; write what was measured next to the spec."""
    spec = json.loads(Path(spec_path).read_text())
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    key, problem = spec["key"], ROWS[spec["key"]][0]
    files = spec["files"]
    X = load_array(files["X_train"], spec.get("n_rows"))
    y = np.load(files["y_train"])[:X.shape[0]]
    X_test, y_test = load_array(files["X_test"]), np.load(files["y_test"])
    if key == "SVMNet-f32":
        X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    estimator = make_estimator(key, spec["C"], spec["seed"], X.shape[0])
    limits = (threadpool_limits(limits=spec["blas_threads"], user_api="blas")
              if spec["blas_threads"] else None)
    try:
        warm_rows = spec["warmup_rows"] or X.shape[0]
        warm_X, warm_y = X[:warm_rows], y[:warm_rows]
        warm_model = clone(estimator).set_params(
            **({"alpha": 1.0 / (spec["C"] * warm_rows)} if key == "SGD-hinge" else {}))
        warmup, _ = timed(functools.partial(warm_model.fit, warm_X, warm_y))
        del warm_X, warm_y, warm_model
        times, extras, peaks, notes = [], [], [], []
        meter = PeakMemory()
        for _ in range(spec["repeats"]):
            model = clone(estimator)
            with meter:
                seconds, run_notes = timed(functools.partial(model.fit, X, y))
            times.append(seconds)
            extras.append(meter.extra)
            peaks.append(meter.peak)
            notes.extend(run_notes)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    n_iter = np.max(model.n_iter_) if hasattr(model, "n_iter_") else None
    result = {
        "key": key,
        "estimator": describe(estimator),
        "problem": problem,
        "dtype": str(X.dtype),
        "n_train": int(X.shape[0]),
        "warmup_rows": int(min(warm_rows, X.shape[0])),
        "warmup_seconds": warmup,
        "fit_seconds": times,
        "fit_seconds_median": statistics.median(times),
        "peak_extra_mib": extras,
        "peak_extra_mib_median": statistics.median(extras),
        "peak_total_mib": peaks,
        "peak_total_mib_median": statistics.median(peaks),
        "memory_method": meter.method,
        "n_iter": None if n_iter is None else int(n_iter),
        "backend": getattr(model, "backend_", None),
        # What sksvmnet says ran (None for scikit-learn's estimators, and for versions
        # of sksvmnet before these attributes).
        "solver": getattr(model, "solver_", None),
        "device": None if getattr(model, "device_", None) is None else str(model.device_),
        "objective": primal_objective(model, X, y, spec["C"], problem),
        "test_accuracy": float(model.score(X_test, y_test)),
        "convergence_warnings": sorted(set(notes)),
    }
    Path(spec["result"]).write_text(json.dumps(result, indent=2) + "\n")


# ------------------------------------------------------------------------ the parent


def spawn(key, files, args, workdir, n_rows=None):
    """Run one row in a fresh worker process; its result dict (or one saying why not)."""
    tag = f"{key}-{n_rows}" if n_rows is not None else key
    spec = {"key": key, "files": files, "n_rows": n_rows, "C": args.C, "seed": args.seed,
            "repeats": args.repeats, "warmup_rows": args.warmup_rows,
            "blas_threads": args.blas_threads,
            "result": str(workdir / f"result-{tag}.json")}
    spec_path = workdir / f"spec-{tag}.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["result"]).unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, timeout=args.fit_timeout, capture_output=True,
                              text=True, cwd=REPO)
    except subprocess.TimeoutExpired as exc:  # subprocess.run killed the worker
        return {"key": key, "problem": ROWS[key][0], "failed":
                f"timed out after {args.fit_timeout:g} s (--fit-timeout)",
                "stderr": (exc.stderr or b"")[-2000:].decode(errors="replace")
                if isinstance(exc.stderr, bytes) else (exc.stderr or "")[-2000:]}
    wall = time.perf_counter() - started
    if done.returncode != 0 or not Path(spec["result"]).is_file():
        return {"key": key, "problem": ROWS[key][0],
                "failed": f"worker exited with status {done.returncode}",
                "stderr": done.stderr[-3000:]}
    result = json.loads(Path(spec["result"]).read_text())
    result["worker_seconds"] = wall
    if done.stderr.strip():
        result["stderr"] = done.stderr[-3000:]
    return result


def rows_for(dataset, args):
    keys = list(args.estimators) if args.estimators else list(DEFAULT_ROWS[dataset])
    wanted = []
    for key in keys:
        if key in JAX_ROWS:
            backends = args.backends if key.startswith("SVMNet") else args.logistic_backends
            if "jax" not in backends:
                continue
        elif key.startswith("SVMNet") and "numba" not in args.backends:
            continue
        elif key.startswith("LogisticNet") and "numba" not in args.logistic_backends:
            continue
        wanted.append(key)
    if any(key in JAX_ROWS for key in wanted):
        try:
            importlib.import_module("jax")
        except ImportError as exc:
            print(f"note: jax does not import ({exc}); the -jax rows are skipped")
            wanted = [k for k in wanted if k not in JAX_ROWS]
    return wanted


def add_comparisons(rows):
    """Fit-time ratios, objective gaps and accuracy differences against the references."""
    by_key = {row["key"]: row for row in rows if "failed" not in row}
    best = {}
    for row in by_key.values():
        best[row["problem"]] = min(best.get(row["problem"], np.inf), row["objective"])
    for row in rows:
        if "failed" in row:
            continue
        reference = ROWS[row["key"]][1]
        if row["key"] == "SGD-hinge" and reference not in by_key:
            reference = "LinearSVC"  # time only: a different objective
        ref = by_key.get(reference)
        row["reference"] = reference if ref is not None else None
        row["fit_time_ratio"] = (row["fit_seconds_median"] / ref["fit_seconds_median"]
                                 if ref is not None else None)
        row["peak_extra_ratio"] = (row["peak_extra_mib_median"]
                                   / ref["peak_extra_mib_median"]
                                   if ref is not None and ref["peak_extra_mib_median"] > 0
                                   else None)
        row["peak_total_ratio"] = (row["peak_total_mib_median"]
                                   / ref["peak_total_mib_median"]
                                   if ref is not None else None)
        same_problem = ref is not None and ref["problem"] == row["problem"]
        row["objective_gap_vs_reference"] = (
            (row["objective"] - ref["objective"]) / abs(ref["objective"])
            if same_problem else None)
        row["objective_gap_vs_best"] = ((row["objective"] - best[row["problem"]])
                                        / abs(best[row["problem"]]))
        row["accuracy_diff_points"] = (100.0 * (row["test_accuracy"]
                                                - ref["test_accuracy"])
                                       if ref is not None else None)
    return rows


def _fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def _points(value):
    """Accuracy difference in points, without a "-0.00" for a rounding-level difference."""
    if value is None:
        return "-"
    return "0.00" if abs(value) < 0.005 else f"{value:+.2f}"


def _gap(value):
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:+.1e}"


def markdown_table(rows):
    header = ("row", "problem", "fit (s)", "× ref", "warm-up (s)", "peak extra (MiB)",
              "× ref", "peak total (MiB)", "objective", "gap vs ref", "gap vs best",
              "test acc", "Δ acc (pts)", "iters")
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join(["---", "---"] + ["---:"] * (len(header) - 2)) + " |"]
    for row in rows:
        if "failed" in row:
            lines.append(f"| {row['key']} | {PROBLEM_NAMES[row['problem']]} | "
                         f"{row['failed']} |" + " |" * (len(header) - 3))
            continue
        name = row["key"] + (" \\*" if row["convergence_warnings"] else "")
        if row["dtype"] != "float64":
            name += f" ({row['dtype']})"
        lines.append("| " + " | ".join([
            name,
            PROBLEM_NAMES[row["problem"]],
            f"{row['fit_seconds_median']:.3f}",
            _fmt(row["fit_time_ratio"], ".3f") + ("×" if row["fit_time_ratio"] else ""),
            f"{row['warmup_seconds']:.2f}",
            f"{row['peak_extra_mib_median']:.0f}",
            _fmt(row["peak_extra_ratio"], ".2f")
            + ("×" if row["peak_extra_ratio"] else ""),
            f"{row['peak_total_mib_median']:.0f}",
            f"{row['objective']:.10g}",
            _gap(row["objective_gap_vs_reference"]),
            _gap(row["objective_gap_vs_best"]),
            f"{row['test_accuracy']:.4f}",
            _points(row["accuracy_diff_points"]),
            _fmt(row["n_iter"], "d"),
        ]) + " |")
    return "\n".join(lines)


def run_dataset(name, args, cache):
    print(f"\n## {name}", flush=True)
    started = time.perf_counter()
    loaded = load_dataset(name, args)
    if loaded[0] is None:
        print(f"skipped: {loaded[1]}", flush=True)
        return {"dataset": name, "skipped": loaded[1]}
    X_train, X_test, y_train, y_test, description = loaded
    prepare = time.perf_counter() - started
    data = {"n_train": int(X_train.shape[0]), "n_test": int(X_test.shape[0]),
            "n_features": int(X_train.shape[1]),
            "n_classes": int(len(np.unique(y_train))),
            "sparse": bool(sp.issparse(X_train)),
            "nnz_per_row": (float(X_train.nnz / X_train.shape[0])
                            if sp.issparse(X_train) else None),
            "description": description, "prepare_seconds": prepare}
    files = save_dataset(cache / name, X_train, X_test, y_train, y_test)
    del X_train, X_test, y_train, y_test
    sparsity = (f" (sparse, {data['nnz_per_row']:.0f} non-zeros a row)"
                if data["sparse"] else "")
    print(f"{data['n_train']} train / {data['n_test']} test rows, {data['n_features']} "
          f"features{sparsity}, {data['n_classes']} classes; prepared in {prepare:.1f} s",
          flush=True)
    load_before = load_average()
    rows = []
    for key in rows_for(name, args):
        row = spawn(key, files, args, cache / name)
        rows.append(row)
        if "failed" in row:
            print(f"  {key}: FAILED, {row['failed']}\n{row.get('stderr', '')}", flush=True)
        else:
            print(f"  {key}: fit {row['fit_seconds_median']:.3f} s, warm-up "
                  f"{row['warmup_seconds']:.2f} s, peak +{row['peak_extra_mib_median']:.0f}"
                  f" MiB, objective {row['objective']:.10g}, accuracy "
                  f"{row['test_accuracy']:.4f}", flush=True)
    add_comparisons(rows)
    shutil.rmtree(cache / name, ignore_errors=True)
    return {"dataset": name, "data": data, "load_average_before": load_before,
            "load_average_after": load_average(), "results": rows}


def print_dataset(report, args):
    if "skipped" in report:
        return
    data = report["data"]
    print(f"\n### {report['dataset']}: {data['n_train']:,} × {data['n_features']:,}"
          f"{', sparse' if data['sparse'] else ''}, {data['n_classes']} classes "
          f"({data['n_test']:,} test rows)\n")
    print(markdown_table(report["results"]))
    noted = [row for row in report["results"]
             if "failed" not in row and row["convergence_warnings"]]
    for row in noted:
        for message in row["convergence_warnings"]:
            print(f"\n\\* {row['key']}: {message}")
    print(f"\nLoad average (1, 5, 15 min) before: {report['load_average_before']}, "
          f"after: {report['load_average_after']}.")


def plot_rows(plt, reports, path):
    """Per data set: fit time (bars, log scale), with the gap to the best objective."""
    reports = [r for r in reports if "results" in r]
    fig, axes = plt.subplots(len(reports), 1,
                             figsize=(8, sum(0.32 * len(r["results"]) + 1.0
                                             for r in reports) + 0.5), squeeze=False)
    for ax, report in zip(axes[:, 0], reports):
        rows = [row for row in report["results"] if "failed" not in row][::-1]
        names = [row["key"] for row in rows]
        times = [row["fit_seconds_median"] for row in rows]
        colours = ["tab:blue" if n.startswith(("SVMNet", "LogisticNet")) else "tab:gray"
                   for n in names]
        ax.barh(names, times, color=colours)
        ax.set_xscale("log")
        for y, row in enumerate(rows):
            ax.text(row["fit_seconds_median"], y,
                    f"  gap {_gap(row['objective_gap_vs_best'])}, acc "
                    f"{row['test_accuracy']:.4f}", va="center", fontsize=7)
        ax.set_xlim(right=max(times) * 30)
        ax.set_title(report["dataset"], fontsize=9)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("fit time (s), log scale; blue: sksvmnet")
    save_figure(plt, fig, path)


# ------------------------------------------------------------------------- scaling


def scaling_sizes(max_n, steps):
    sizes = []
    k = 0
    while True:
        n = int(round(10 ** (3 + k / steps)))
        if n > max_n:
            break
        sizes.append(n)
        k += 1
    if not sizes or sizes[-1] != max_n and max_n > sizes[-1] * 1.05:
        sizes.append(max_n)
    return sizes


def loglog_slope(ns, times):
    """Least-squares slope of log(time) on log(n)."""
    if len(ns) < 2:
        return None
    return float(np.polyfit(np.log(ns), np.log(times), 1)[0])


def run_scaling(args, cache):
    sizes = scaling_sizes(args.scaling_max_n, args.scaling_steps)
    print(f"## scaling: dense binary, {args.n_features} features, n = "
          f"{', '.join(f'{n:,}' for n in sizes)}", flush=True)
    started = time.perf_counter()
    X_train, X_test, y_train, y_test = dense_problem(
        max(sizes), args.n_test, args.n_features, 2, args.seed)
    files = save_dataset(cache / "scaling", X_train, X_test, y_train, y_test)
    del X_train, X_test, y_train, y_test
    print(f"prepared in {time.perf_counter() - started:.1f} s", flush=True)
    load_before = load_average()
    rows = []
    for n in sizes:
        group = []
        for key in args.scaling_estimators:
            row = spawn(key, files, args, cache / "scaling", n_rows=n)
            row["n"] = n
            group.append(row)
            if "failed" in row:
                print(f"  n={n}: {key} FAILED, {row['failed']}\n{row.get('stderr', '')}",
                      flush=True)
            else:
                print(f"  n={n}: {key} fit {row['fit_seconds_median']:.3f} s, peak "
                      f"+{row['peak_extra_mib_median']:.0f} MiB, objective "
                      f"{row['objective']:.10g}", flush=True)
        rows.extend(add_comparisons(group))
    shutil.rmtree(cache / "scaling", ignore_errors=True)
    slopes = {}
    for key in args.scaling_estimators:
        mine = [r for r in rows if r["key"] == key and "failed" not in r]
        big = [r for r in mine if r["n"] >= 10_000]
        slopes[key] = {
            "all": loglog_slope([r["n"] for r in mine],
                                [r["fit_seconds_median"] for r in mine]),
            "n>=1e4": loglog_slope([r["n"] for r in big],
                                   [r["fit_seconds_median"] for r in big]),
        }
    return {"sizes": sizes, "results": rows, "slopes": slopes,
            "load_average_before": load_before, "load_average_after": load_average()}


def print_scaling(report, keys):
    header = ["n"]
    for key in keys:
        header += [f"{key} fit (s)", f"{key} peak extra (MiB)"]
    header += ["× ref time", "gap vs ref", "Δ acc (pts)"]
    print("\n| " + " | ".join(header) + " |")
    print("| " + " | ".join(["---:"] * len(header)) + " |")
    for n in report["sizes"]:
        group = {r["key"]: r for r in report["results"] if r["n"] == n}
        cells = [f"{n:,}"]
        compared = None
        for key in keys:
            row = group.get(key)
            if row is None or "failed" in row:
                cells += [row["failed"] if row else "-", "-"]
                continue
            cells += [f"{row['fit_seconds_median']:.3f}",
                      f"{row['peak_extra_mib_median']:.0f}"]
            if row.get("fit_time_ratio") is not None:
                compared = row
        cells += ([f"{compared['fit_time_ratio']:.3f}×",
                   _gap(compared["objective_gap_vs_reference"]),
                   _points(compared["accuracy_diff_points"])]
                  if compared else ["-", "-", "-"])
        print("| " + " | ".join(cells) + " |")
    print()
    for key, slope in report["slopes"].items():
        print(f"log-log slope of fit time in n, {key}: {_fmt(slope['all'], '.2f')} over "
              f"all sizes, {_fmt(slope['n>=1e4'], '.2f')} for n >= 10^4")
    print(f"Load average before: {report['load_average_before']}, after: "
          f"{report['load_average_after']}.")


def plot_scaling(plt, report, keys, path, title):
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for key, marker in zip(keys, "os^vD"):
        mine = [r for r in report["results"] if r["key"] == key and "failed" not in r]
        ns = np.array([r["n"] for r in mine], dtype=float)
        ts = np.array([r["fit_seconds_median"] for r in mine])
        slope = report["slopes"][key]["n>=1e4"]
        label = key + (f" (slope {slope:.2f} for n ≥ 10⁴)" if slope is not None else "")
        ax.loglog(ns, ts, marker=marker, label=label)
    all_ns = np.array(report["sizes"], dtype=float)
    first = [r for r in report["results"] if "failed" not in r and r["n"] == all_ns[-1]]
    if first:
        t_ref = min(r["fit_seconds_median"] for r in first)
        ax.loglog(all_ns, t_ref * all_ns / all_ns[-1], ":", color="gray",
                  label="linear in n")
    ax.set_xlabel("training rows n")
    ax.set_ylabel("fit time (s)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(plt, fig, path)


# ------------------------------------------------------------------------------ main


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        run_worker(args.worker)
        return
    if args.output is None:
        args.output = RESULTS / ("bench_linear_scaling.json" if args.scaling
                                 else "bench_linear.json")
    if args.scaling and args.plot is None:
        args.plot = args.output.with_suffix(".png")
    plt = pyplot() if args.plot is not None else None  # fail before the work
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="bench_linear_"))
    cache.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    print(f"load average before: {load_before}", flush=True)
    settings = {key: (str(value) if isinstance(value, Path) else value)
                for key, value in vars(args).items() if key != "worker"}
    settings.update(tight_liblinear_tol=TIGHT_LIBLINEAR_TOL,
                    tight_lbfgs_tol=TIGHT_LBFGS_TOL,
                    tight_sksvmnet_tol=TIGHT_SKSVMNET_TOL)
    # The fits run in worker processes; this records the parent's view of the machine
    # and its thread pools (the workers start from the same environment).
    record = run_record("bench_linear.py", PACKAGES, argv)
    command = record["command"]
    result = {"benchmark": "bench_linear" + ("_scaling" if args.scaling else ""),
              "date_utc": started.isoformat(timespec="seconds"),
              "settings": settings, **record, "load_average_before": load_before}

    def write(complete):
        result["complete"] = complete
        result["total_seconds"] = (datetime.datetime.now(datetime.timezone.utc)
                                   - started).total_seconds()
        result["load_average_after"] = load_average()
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2, default=float) + "\n")

    try:
        if args.scaling:
            report = run_scaling(args, cache)
            result.update(report)
        else:
            # Written after every data set, so that an interrupted run keeps the rest.
            reports = result["datasets"] = []
            for name in args.datasets:
                reports.append(run_dataset(name, args, cache))
                write(complete=False)
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache, ignore_errors=True)
    write(complete=True)
    total = result["total_seconds"]
    print(f"\nCommand: `{command}`; {total:.0f} s in all; load average before "
          f"{load_before}, after {result['load_average_after']}. C = {args.C:g}, "
          f"BLAS threads {args.blas_threads or 'library default'}, "
          f"{'one measured fit' if args.repeats == 1 else f'median of {args.repeats} fits'}"
          f" after a warm-up on {args.warmup_rows or 'all'} rows.")
    if args.scaling:
        print_scaling(report, args.scaling_estimators)
    else:
        for report in reports:
            print_dataset(report, args)
        print("\nfit: median fit time; × ref: over the reference row's (LinearSVC, "
              "LogisticRegression, LinearSVC-hinge); peak extra: peak resident memory "
              "during the fit minus that before it; gap: (J - J_ref) / |J_ref| of the "
              "primal objective J on the training data; Δ acc: test accuracy minus the "
              "reference's, in points; \\*: ConvergenceWarning.")
    print(f"\nwrote {args.output}")
    if args.plot is not None:
        if args.scaling:
            plot_scaling(plt, report, args.scaling_estimators, args.plot,
                         f"dense binary, {args.n_features} features: fit time vs n "
                         f"(BLAS threads {args.blas_threads or 'default'})")
        else:
            plot_rows(plt, reports, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
