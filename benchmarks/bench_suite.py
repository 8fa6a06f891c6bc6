"""The drop-in question over many problems: swap the import, keep everything else.

The other scripts measure one kind of problem each, at scale. This one asks what a user
who replaces ``LinearSVC`` by ``SVMNetClassifier`` and ``LogisticRegression`` by
``LogisticNetClassifier`` gets on the data they have, in the setup they have: every
estimator at its defaults (``C=1``), inside the ``Pipeline`` the problem calls for, in a
fresh process that sets no thread limit (what the libraries chose is recorded, through
``_common.run_record``). Rows:

====================  ================================================================
key                   estimator (reference: the row it is timed and judged against)
====================  ================================================================
LinearSVC             ``LinearSVC()``
SVMNet                ``SVMNetClassifier()``; reference LinearSVC
snapml-SVM            ``snapml.SnapSVMClassifier(loss="squared_hinge", fit_intercept=True,
                      regularizer=1/C, n_jobs=<usable cores>)``; reference LinearSVC
LogisticRegression    ``LogisticRegression(max_iter=1000)``
LogisticNet           ``LogisticNetClassifier(max_iter=1000)``; reference
                      LogisticRegression
snapml-LR             ``snapml.SnapLogisticRegression(fit_intercept=True,
                      regularizer=1/C, n_jobs=<usable cores>)``; reference
                      LogisticRegression
====================  ================================================================

``LogisticNetClassifier`` gets ``max_iter=1000`` because the drop-in swap keeps the
arguments: ``LogisticRegression()`` stops at 100 iterations with a warning on half of
these problems, so ``max_iter=1000`` is what its users write. The snapml rows run only
where ``snapml`` imports (``pip install snapml``), and the results file says when they
were skipped. Snap ML minimises ``sum loss + regularizer / 2 ||w||^2``, hence
``regularizer = 1 / C``; the parameters that define the problem are set to
scikit-learn's (the squared hinge, an intercept, penalised as liblinear does, since
snapml appends a constant feature), and ``n_jobs`` to the usable cores, as the other
libraries take them (snapml's default is one thread). With more than two classes its
logistic model is one-vs-rest, not LogisticRegression's multinomial one: its objective
is still computed, by the same formula, but it is not compared with the others'.

Problems (``--problems``; ``--list`` prints them with their sizes under the given flags
and says which data are missing):

- scikit-learn's bundled sets ``digits`` (1,797 × 64, 10 classes), ``breast-cancer``
  (569 × 30, binary), ``wine`` (178 × 13, 3 classes), ``iris`` (150 × 4, 3 classes):
  stratified 75/25 split, standardised;
- ``make_classification`` problems of ``--n`` training rows (20,000) and
  ``--n-features`` (100): ``standardised`` (binary, 20 informative features,
  standardised), ``standardised-f32`` (the same data in float32), ``raw`` (the same
  features rescaled by factors from 10^-2 to 10^3 and shifted far from zero, as raw
  measurements come, not standardised), ``redundant`` (10 informative, 60 redundant
  linear combinations of them and 10 repeated features: a nearly singular Gram matrix),
  ``heavy-tailed`` (3 classes; every entry divided by an independent sqrt(chi2(2.5) /
  2.5), which gives Student-t tails; standardised);
- shapes: ``tall-3class`` (n >> d: ``--tall-n`` 200,000 × 50, 3 classes, as generated),
  ``tall-binary`` (``--tall-binary-n`` 60,000 × 200, 50 informative, standardised),
  ``square`` (n ~ d: ``--square-n`` 1,000 rows and as many features, 10 classes,
  standardised; LinearSVC's dual coordinate descent runs to ``max_iter`` there: 45 s at
  1,000 on two cores, and an epoch's work grows as n d), ``wide`` (n < d: ``--wide-n``
  2,000 × ``--wide-features`` 5,000, binary, as generated);
- ``sparse-tfidf``: the synthetic TF-IDF-like CSR matrix of bench_linear.py
  (``--sparse-n`` 20,000 × ``--sparse-features`` 100,000, ``--sparse-nnz`` 100 non-zeros
  a row, binary);
- ``mnist``, ``fashion-mnist`` (pixels / 255; 60,000 × 784, or the first
  ``--pixel-rows``) and ``mnist-standardised``, ``fashion-mnist-standardised``
  (``StandardScaler`` on them; the first ``--standardised-pixel-rows``, 10,000: on
  standardised pixels LinearSVC's primal solver runs to ``max_iter=1000`` at about
  0.1 s an iteration per 3,000 rows, which extrapolates to 40 minutes a fit on all
  60,000), 10 classes, the
  idx files of ``--mnist-dir`` / ``--fashion-dir``;
- ``debian``: the Debian package descriptions, 58 sections, ``TfidfVectorizer(
  ngram_range=(1, 2), min_df=2, sublinear_tf=True)`` fitted on ``--debian-rows`` (15,000;
  0 for all 48,550) training rows drawn at random, the whole test split.

Synthetic problems draw a quarter as many test rows again. Sparse problems that say
"standardised" would get ``StandardScaler(with_mean=False)``; none does.

Each estimator is fitted once as a warm-up, timed apart, on the first training rows:
for sksvmnet ``--warmup-rows`` (10,000), which loads or compiles the numba kernels the
measured fits use (its backend's threaded passes start at 4,096 rows), for the
estimators compiled ahead of time ``--warmup-rows-compiled`` (200), which only pages
their code in; all rows where there are fewer, and more rows than features where the
problem has more (the solvers of sksvmnet and liblinear depend on that). Then up to
``--repeats`` (5) measured fits, stopping once they add up to ``--repeat-budget``
seconds (20; at least one fit), and 51 where each took under 20 ms (a few-millisecond
fit varies by as much as the targets allow it); the median is reported. Per row:
the fit time and its ratio to the reference's; the primal objective of the fitted model,
computed by one formula for every estimator (``_common.primal_objective``: the squared
hinge one-vs-rest with liblinear's penalised intercept, or the multinomial log loss with
an unpenalised one, at ``C=1``, on the training data as the estimator saw it, i.e. after
the scaler); its relative gap to the reference's and to the lowest objective of the rows
that solve the same problem; test accuracy on the held-out split; sksvmnet's ``solver_``;
``n_iter_``; any ConvergenceWarning.

Targets (the issue's; recorded in the results file with the verdicts): per row, a fit no
slower than the reference's (where the reference fits in under 5 ms: no more than 1 ms
slower), and an objective no more than 1e-6 (relative) above the reference's; over the
suite, the geometric mean of the fit-time ratios at most 0.2 for SVMNet and 0.5 for
LogisticNet.

``--grid`` runs the same comparison under model selection instead:
``GridSearchCV(estimator, {"C": np.logspace(-2, 2, 5)}, cv=StratifiedKFold(3,
shuffle=True, random_state=0), n_jobs=2)`` (``--grid-jobs``; the grid is over the
Pipeline's ``model__C``, and over ``regularizer = 1 / C`` for snapml) on the first
``--grid-rows`` training rows (2,000), timing the whole search (a warm-up search first,
which also starts joblib's worker processes and loads the kernels in them) and reporting
the ratio of the grids' wall times, the C each chose, the cross-validated and test
accuracy. Sixteen fits a search (with the refit), with C up to 100, cost far more than
one: LinearSVC's search on ``raw`` took 21 s on 1,000 rows, hence the row cap. Only
the refit runs in this process, so the workers' ConvergenceWarnings are printed by them
and not recorded.

``--drawn N`` replaces the named problems by N drawn at random (``--draw-seed``, 3), to
test the rule ``solver="auto"`` follows on problems nobody tuned it on (the named ones
are those it was written against). Each draw (``drawn_problem``): training rows
log-uniform from 300 to 10,000; 2, 3, 5, 10 or 20 classes (2 twice as likely); then one
of five kinds: ``standardised`` (3 in 10), ``raw`` (2 in 10), ``heavy-tailed`` and
``as-generated`` (3 in 20 each), all ``make_classification`` with features log-uniform
from 5 to 3,000 (at most a million entries), an informative share from 10% to 90% of
them, up to half the rest redundant, ``class_sep`` from 0.5 to 2 and ``flip_y`` up to
0.1, float32 one time in five; or ``sparse`` (2 in 10), the TF-IDF-like matrix above
with 1,000 to 50,000 columns and 5 to 100 non-zeros a row, labelled by the largest of
the classes' sparse linear teachers, 5% of the labels redrawn. Results go to
``bench_suite_drawn.json`` (``bench_suite_drawn_grid.json`` with ``--grid``).

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_suite.py --list
    python benchmarks/bench_suite.py [--problems NAME ...] [--repeats 5]
        [--output benchmarks/results/bench_suite.json] [--plot PATH]
    python benchmarks/bench_suite.py --grid [--grid-rows 2000]
        [--output benchmarks/results/bench_suite_grid.json] [--plot PATH]
    python benchmarks/bench_suite.py --drawn 16 [--draw-seed 3] [--grid]

It prints one table row per problem, and writes the results, settings, machine and
thread settings as JSON after every problem (so that an interrupted run keeps what it
measured); ``--plot`` draws the ratios per problem on a log scale.
"""

import argparse
import datetime
import importlib
import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp

from _common import (  # benchmarks/_common.py
    DEBIAN_PATH, FASHION_DIRS, HOW_TO_GET, MNIST_DIRS, RESULTS, debian_problem,
    find_idx_dir, load_average, pixel_problem, primal_objective, pyplot, render_table,
    run_record, save_figure, sparse_text_problem, timed, usable_cpus)

PACKAGES = ("sksvmnet", "scikit-learn", "numpy", "scipy", "numba", "threadpoolctl",
            "snapml")

#: The issue's targets, recorded in every results file. Per row: the fit takes at most
#: time_ratio times the reference's, or, where the reference fits in under
#: small_fit_seconds, at most small_fit_slack_seconds more; its objective is at most
#: objective_slack (relative) above the reference's. Over the suite: the geometric mean
#: of each row key's ratios at most geomean_ratio[key].
TARGETS = {"time_ratio": 1.0, "small_fit_seconds": 0.005, "small_fit_slack_seconds": 0.001,
           "objective_slack": 1e-6, "geomean_ratio": {"SVMNet": 0.2, "LogisticNet": 0.5}}
#: The C values of --grid, and the folds.
GRID_C = np.logspace(-2, 2, 5)
GRID_FOLDS = 3
#: The loss of each family's primal objective (``_common.primal_objective``).
LOSSES = {"svm": "squared_hinge", "logistic": "log_loss"}


# ------------------------------------------------------------------------ contenders


def _linear_svc():
    from sklearn.svm import LinearSVC

    return LinearSVC()


def _svmnet():
    from sksvmnet import SVMNetClassifier

    return SVMNetClassifier()


def _logistic_regression():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def _logisticnet():
    from sksvmnet import LogisticNetClassifier

    return LogisticNetClassifier(max_iter=1000)


def _snap_svm():
    from snapml import SnapSVMClassifier

    return SnapSVMClassifier(loss="squared_hinge", fit_intercept=True, regularizer=1.0,
                             n_jobs=usable_cpus())


def _snap_logistic():
    from snapml import SnapLogisticRegression

    return SnapLogisticRegression(fit_intercept=True, regularizer=1.0,
                                  n_jobs=usable_cpus())


def _inverse(C):
    return 1.0 / C


@dataclass(frozen=True)
class Contender:
    """One estimator as a user would construct it, and what it is judged against."""

    key: str
    #: "svm" or "logistic": the objective it minimises and the table column it fills.
    family: str
    #: The key of the row it is timed and judged against; None for the references.
    reference: str
    make: Callable
    #: The parameter --grid searches, and how a C becomes its value.
    c_param: str = "C"
    from_c: Callable = float
    #: A module it needs that the bench extra does not install; skipped without it.
    needs: str = None
    #: Whether its code is compiled on first use (numba), which its warm-up must cover.
    jit: bool = False


CONTENDERS = {contender.key: contender for contender in (
    Contender("LinearSVC", "svm", None, _linear_svc),
    Contender("SVMNet", "svm", "LinearSVC", _svmnet, jit=True),
    Contender("snapml-SVM", "svm", "LinearSVC", _snap_svm, "regularizer", _inverse,
              "snapml"),
    Contender("LogisticRegression", "logistic", None, _logistic_regression),
    Contender("LogisticNet", "logistic", "LogisticRegression", _logisticnet, jit=True),
    Contender("snapml-LR", "logistic", "LogisticRegression", _snap_logistic,
              "regularizer", _inverse, "snapml"),
)}


def available(keys):
    """The contenders among ``keys`` that can run here, and a note for each that cannot."""
    chosen, skipped = [], {}
    for key in keys:
        contender = CONTENDERS[key]
        if contender.needs:
            try:
                importlib.import_module(contender.needs)
            except ImportError as exc:
                skipped[key] = f"{contender.needs} does not import: {exc}"
                continue
        chosen.append(contender)
    return chosen, skipped


def c_of(estimator):
    """The C of an estimator's objective (snapml's regularizer is 1 / C)."""
    params = estimator.get_params()
    return float(params["C"]) if "C" in params else 1.0 / float(params["regularizer"])


def solves_reference_problem(contender, n_classes):
    """Whether the row minimises its reference's objective: not snapml's one-vs-rest
    logistic model on more than two classes, where LogisticRegression is multinomial."""
    return not (contender.key == "snapml-LR" and n_classes > 2)


# -------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    name: str
    #: (args) -> (X_train, X_test, y_train, y_test, description).
    load: Callable
    #: (args) -> the size in words, for --list, before anything is loaded.
    size: Callable
    #: StandardScaler (with_mean=False for sparse X) in a Pipeline before the estimator.
    standardise: bool = False


def _bundled(loader, seed):
    from sklearn.model_selection import train_test_split

    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


def bundled(name, loader_name, size):
    def load(args):
        import sklearn.datasets

        loader = getattr(sklearn.datasets, loader_name)
        return (*_bundled(loader, args.seed),
                f"sklearn.datasets.{loader_name}, stratified 75/25 split, seed {args.seed}")

    return Problem(name, load, lambda args: size, standardise=True)


def _classification(n_train, n_features, n_classes, seed, **kwargs):
    """``make_classification`` with a quarter as many test rows again, split in two."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n_train + max(n_train // 4, 1),
                               n_features=n_features, n_classes=n_classes,
                               random_state=seed, **kwargs)
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


def _raw(X, seed):
    """Scales from 10^-2 to 10^3 and offsets of a few times the scale, per feature."""
    rng = np.random.default_rng(seed + 1)
    scale = 10.0 ** rng.uniform(-2, 3, X.shape[1])
    return X * scale + rng.normal(0.0, 3.0, X.shape[1]) * scale


#: Degrees of freedom of the heavy-tailed problem's Student-t scale mixture.
HEAVY_TAIL_DF = 2.5


def _heavy_tailed(X, seed):
    rng = np.random.default_rng(seed + 1)
    return X * np.sqrt(HEAVY_TAIL_DF / rng.chisquare(HEAVY_TAIL_DF, size=X.shape))


def synthetic(name, rows, features, n_classes, words, standardise=False, transform=None,
              dtype=np.float64, seed=None, **kwargs):
    """A ``make_classification`` problem whose sizes are the flags ``rows``/``features``
    (attribute names of args, or numbers), its data drawn with ``seed`` (None: the
    flag ``--seed``)."""
    def sizes(args):
        n = getattr(args, rows) if isinstance(rows, str) else rows
        d = n if features == "same" else (getattr(args, features)
                                          if isinstance(features, str) else features)
        return n, d

    def load(args):
        n, d = sizes(args)
        data_seed = args.seed if seed is None else seed
        X, X_test, y, y_test = _classification(n, d, n_classes, data_seed, **kwargs)
        if transform is not None:
            X, X_test = np.vsplit(transform(np.vstack([X, X_test]), data_seed), [n])
        X, X_test = X.astype(dtype, copy=False), X_test.astype(dtype, copy=False)
        settings = ", ".join(f"{key}={value}" for key, value in kwargs.items())
        return (X, X_test, y, y_test,
                f"make_classification({n:,} + {max(n // 4, 1):,} test rows, {d:,} "
                f"features, {n_classes} classes, {settings}, seed {data_seed}); {words}")

    def size(args):
        n, d = sizes(args)
        return f"{n:,} × {d:,}, {n_classes} classes, {np.dtype(dtype).name}"

    return Problem(name, load, size, standardise)


def sparse_tfidf(args):
    return (*sparse_text_problem(args.sparse_n, args.sparse_features, args.sparse_nnz,
                                 args.seed),
            f"synthetic TF-IDF-like text (bench_linear.py's), {args.sparse_nnz} non-zeros "
            f"a row, labels of a sparse linear teacher with 5% flipped, seed {args.seed}")


def pixels(dataset, rows):
    """The idx files of ``dataset``, the first ``args.<rows>`` training rows (0: all)."""
    def load(args):
        given = args.fashion_dir if dataset == "fashion-mnist" else args.mnist_dir
        candidates = FASHION_DIRS if dataset == "fashion-mnist" else MNIST_DIRS
        folder = find_idx_dir(given, candidates)
        if folder is None:
            looked = given or ", ".join(map(str, candidates))
            raise MissingData(f"the idx files were not found (looked in {looked}); to "
                              f"run it, get {HOW_TO_GET[dataset]}")
        X, X_test, y, y_test = pixel_problem(folder)
        if getattr(args, rows):
            X, y = X[:getattr(args, rows)], y[:getattr(args, rows)]
        return X, X_test, y, y_test, f"{folder}, pixels / 255"

    return load


def debian(args):
    if not args.debian_path.is_file():
        raise MissingData(f"{args.debian_path} was not found; to run it, get "
                          f"{HOW_TO_GET['debian']}")
    rows = args.debian_rows or None
    fitted_on = (f"{rows:,} training rows drawn with seed {args.seed}" if rows
                 else "all training rows")
    return (*debian_problem(args.debian_path, rows, args.seed),
            f"{args.debian_path}, TfidfVectorizer(ngram_range=(1, 2), min_df=2, "
            f"sublinear_tf=True) fitted on {fitted_on}")


class MissingData(Exception):
    """A problem's data are not on this machine; the message says how to get them."""


def pixel_size(rows):
    return lambda args: f"{getattr(args, rows) or 60_000:,} × 784, 10 classes"


PROBLEMS = {problem.name: problem for problem in (
    bundled("digits", "load_digits", "1,347 × 64, 10 classes"),
    bundled("breast-cancer", "load_breast_cancer", "426 × 30, 2 classes"),
    bundled("wine", "load_wine", "133 × 13, 3 classes"),
    bundled("iris", "load_iris", "112 × 4, 3 classes"),
    synthetic("standardised", "n", "n_features", 2, "standardised", standardise=True,
              n_informative=20, n_redundant=0),
    synthetic("standardised-f32", "n", "n_features", 2, "float32, standardised",
              standardise=True, dtype=np.float32, n_informative=20, n_redundant=0),
    synthetic("raw", "n", "n_features", 2, "features rescaled by 10^-2 to 10^3 and "
              "shifted, not standardised", transform=_raw, n_informative=20,
              n_redundant=0),
    synthetic("redundant", "n", "n_features", 2, "as generated", n_informative=10,
              n_redundant=60, n_repeated=10),
    synthetic("heavy-tailed", "n", "n_features", 3, "every entry divided by sqrt(chi2("
              f"{HEAVY_TAIL_DF}) / {HEAVY_TAIL_DF}) (Student-t tails), standardised",
              standardise=True, transform=_heavy_tailed, n_informative=20,
              n_redundant=0),
    synthetic("tall-3class", "tall_n", 50, 3, "as generated", n_informative=20,
              n_redundant=10),
    synthetic("tall-binary", "tall_binary_n", 200, 2, "standardised", standardise=True,
              n_informative=50, n_redundant=0),
    synthetic("square", "square_n", "same", 10, "standardised", standardise=True,
              n_informative=50, n_redundant=0),
    synthetic("wide", "wide_n", "wide_features", 2, "as generated", n_informative=50,
              n_redundant=0),
    Problem("sparse-tfidf", sparse_tfidf,
            lambda a: f"{a.sparse_n:,} × {a.sparse_features:,} CSR, {a.sparse_nnz} "
                      "non-zeros a row, 2 classes"),
    Problem("mnist", pixels("mnist", "pixel_rows"), pixel_size("pixel_rows")),
    Problem("mnist-standardised", pixels("mnist", "standardised_pixel_rows"),
            pixel_size("standardised_pixel_rows"), standardise=True),
    Problem("fashion-mnist", pixels("fashion-mnist", "pixel_rows"),
            pixel_size("pixel_rows")),
    Problem("fashion-mnist-standardised",
            pixels("fashion-mnist", "standardised_pixel_rows"),
            pixel_size("standardised_pixel_rows"), standardise=True),
    Problem("debian", debian,
            lambda a: f"{a.debian_rows or 48_550:,} × their vocabulary (106,837 columns "
                      "from 15,000 rows, 292,071 from all) CSR, 58 classes"),
)}


#: The kinds of drawn problem and their chances (see the docstring).
DRAWN_KINDS = {"standardised": 0.3, "raw": 0.2, "heavy-tailed": 0.15,
               "as-generated": 0.15, "sparse": 0.2}
#: Most training rows of a drawn problem, and entries of a drawn dense one: the sizes
#: keep a draw to minutes (LinearSVC took 756 s on one raw problem of 15,080 x 198).
DRAWN_MAX_ROWS = 10_000
DRAWN_MAX_ENTRIES = 1_000_000


def _log_uniform(rng, low, high):
    return int(round(10.0 ** rng.uniform(np.log10(low), np.log10(high))))


def _sparse_labels(X, n_classes, seed, flip=0.05, teacher_nnz=2000):
    """Labels of ``X`` (CSR) by the largest of ``n_classes`` sparse linear teachers'
    scores (at random where a row meets none of them), a share ``flip`` of them redrawn
    at random."""
    rng = np.random.default_rng(seed + 2)
    d = X.shape[1]
    teachers = np.zeros((d, n_classes))
    for k in range(n_classes):
        support = rng.choice(d, size=min(teacher_nnz, d), replace=False)
        teachers[support, k] = rng.standard_normal(support.size)
    scores = np.asarray(X @ teachers)
    y = np.argmax(scores, axis=1).astype(np.int64)
    # A row that shares no column with any teacher scores zero for every class: a
    # class at random, not argmax's first.
    unseen = ~np.any(scores, axis=1)
    y[unseen] = rng.integers(0, n_classes, int(unseen.sum()))
    redrawn = rng.random(y.size) < flip
    y[redrawn] = rng.integers(0, n_classes, int(redrawn.sum()))
    return y


def drawn_problem(index, seed):
    """Problem ``index`` of the draw ``seed`` (``--drawn``): its sizes, kind and
    generator settings drawn from the docstring's distribution, independent of the
    other indices'."""
    rng = np.random.default_rng([seed, index])
    n = _log_uniform(rng, 300, DRAWN_MAX_ROWS)
    n_classes = int(rng.choice([2, 2, 3, 5, 10, 20]))
    kind = str(rng.choice(list(DRAWN_KINDS), p=list(DRAWN_KINDS.values())))
    data_seed = int(rng.integers(2 ** 31))
    name = f"drawn-{index + 1:02d}-{kind}"
    if kind == "sparse":
        d = _log_uniform(rng, 1_000, 50_000)
        nnz = min(_log_uniform(rng, 5, 100), d)

        def load(args):
            X, X_test, _, _ = sparse_text_problem(n, d, nnz, data_seed)
            y_all = _sparse_labels(sp.vstack([X, X_test]).tocsr(), n_classes, data_seed)
            return (X, X_test, y_all[:n], y_all[n:],
                    f"synthetic TF-IDF-like text (bench_linear.py's), {nnz} non-zeros a "
                    f"row, labels of the largest of {n_classes} sparse linear teachers, "
                    f"5% redrawn, seed {data_seed}")

        return Problem(name, load, lambda args: f"{n:,} × {d:,} CSR, {nnz} non-zeros a "
                                                f"row, {n_classes} classes")
    d = min(_log_uniform(rng, 5, 3_000), max(DRAWN_MAX_ENTRIES // n, 5))
    # (make_classification puts two clusters of each class at vertices of a hypercube
    # of the informative dimensions, so it needs 2 n_classes <= 2^n_informative)
    least = int(np.ceil(np.log2(2 * n_classes)))
    d = max(d, least)
    informative = min(d, max(least, int(round(d * rng.uniform(0.1, 0.9)))))
    redundant = int((d - informative) * rng.uniform(0.0, 0.5))
    settings = dict(n_informative=informative, n_redundant=redundant,
                    class_sep=round(float(rng.uniform(0.5, 2.0)), 2),
                    flip_y=round(float(rng.uniform(0.0, 0.1)), 3))
    dtype = np.float32 if rng.random() < 0.2 else np.float64
    transform = {"raw": _raw, "heavy-tailed": _heavy_tailed}.get(kind)
    words = {"standardised": "standardised", "as-generated": "as generated",
             "raw": "features rescaled by 10^-2 to 10^3 and shifted, not standardised",
             "heavy-tailed": f"every entry divided by sqrt(chi2({HEAVY_TAIL_DF}) / "
                             f"{HEAVY_TAIL_DF}) (Student-t tails), standardised"}[kind]
    # (the draw's own data seed, not --seed: each problem is another data set)
    return synthetic(name, n, d, n_classes, words,
                     standardise=kind in ("standardised", "heavy-tailed"),
                     transform=transform, dtype=dtype, seed=data_seed, **settings)


def drawn_problems(count, seed):
    """The ``count`` problems of the draw ``seed``, by name."""
    return {problem.name: problem
            for problem in (drawn_problem(i, seed) for i in range(count))}


# ------------------------------------------------------------------------- arguments


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Problems: " + ", ".join(PROBLEMS),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", choices=tuple(PROBLEMS),
                        default=None, metavar="NAME",
                        help="problems to run, in the suite's order (default: all; not "
                             "with --drawn)")
    parser.add_argument("--estimators", nargs="+", choices=tuple(CONTENDERS),
                        default=list(CONTENDERS), metavar="KEY",
                        help="rows to run (default: all that import); "
                             + ", ".join(CONTENDERS))
    parser.add_argument("--list", action="store_true",
                        help="print the problems with their sizes and the rows, and exit")
    parser.add_argument("--grid", action="store_true",
                        help="time GridSearchCV over C instead of single fits")
    parser.add_argument("--drawn", type=int, default=0, metavar="N",
                        help="run N problems drawn at random instead of the named ones "
                             "(default 0: the named ones)")
    parser.add_argument("--draw-seed", type=int, default=3,
                        help="seed of --drawn's draw (default 3)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the data and the splits (default 0)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="most measured fits per row after the warm-up (default 5)")
    parser.add_argument("--repeat-budget", type=float, default=20.0,
                        help="seconds of measured fits after which a row stops repeating "
                             "(default 20; at least one fit)")
    parser.add_argument("--warmup-rows", type=int, default=10_000,
                        help="training rows of sksvmnet's warm-up fit where there are "
                             "more; 0 for all (default 10000)")
    parser.add_argument("--warmup-rows-compiled", type=int, default=200,
                        help="training rows of the warm-up fit of the estimators compiled "
                             "ahead of time (scikit-learn, snapml); 0 for all (default "
                             "200)")
    sizes = parser.add_argument_group("sizes")
    sizes.add_argument("--n", type=int, default=20_000,
                       help="training rows of standardised, standardised-f32, raw, "
                            "redundant and heavy-tailed (default 20000)")
    sizes.add_argument("--n-features", type=int, default=100,
                       help="their features (default 100)")
    sizes.add_argument("--tall-n", type=int, default=200_000,
                       help="training rows of tall-3class, 50 features (default 200000)")
    sizes.add_argument("--tall-binary-n", type=int, default=60_000,
                       help="training rows of tall-binary, 200 features (default 60000)")
    sizes.add_argument("--square-n", type=int, default=1_000,
                       help="training rows and features of square (default 1000)")
    sizes.add_argument("--wide-n", type=int, default=2_000,
                       help="training rows of wide (default 2000)")
    sizes.add_argument("--wide-features", type=int, default=5_000,
                       help="features of wide (default 5000)")
    sizes.add_argument("--sparse-n", type=int, default=20_000,
                       help="training rows of sparse-tfidf (default 20000)")
    sizes.add_argument("--sparse-features", type=int, default=100_000,
                       help="columns of sparse-tfidf (default 100000)")
    sizes.add_argument("--sparse-nnz", type=int, default=100,
                       help="non-zeros a row of sparse-tfidf (default 100)")
    sizes.add_argument("--pixel-rows", type=int, default=0,
                       help="training rows of mnist and fashion-mnist; 0 for all 60000 "
                            "(default)")
    sizes.add_argument("--standardised-pixel-rows", type=int, default=10_000,
                       help="training rows of mnist-standardised and "
                            "fashion-mnist-standardised; 0 for all 60000 (default 10000)")
    sizes.add_argument("--debian-rows", type=int, default=15_000,
                       help="training rows of debian, drawn at random; 0 for all 48550 "
                            "(default 15000)")
    sizes.add_argument("--grid-rows", type=int, default=2_000,
                       help="with --grid, the first this many training rows of every "
                            "problem; 0 for all (default 2000)")
    sizes.add_argument("--grid-jobs", type=int, default=2,
                       help="n_jobs of GridSearchCV (default 2)")
    data = parser.add_argument_group("data")
    data.add_argument("--mnist-dir", type=Path, default=None,
                      help="folder of the MNIST idx .gz files (default "
                           "../shared/data/mnist from the repository root)")
    data.add_argument("--fashion-dir", type=Path, default=None,
                      help="folder of the Fashion-MNIST idx .gz files (default "
                           "../shared/data/fashion-mnist, then "
                           "/usr/share/datasets/fashion-mnist)")
    data.add_argument("--debian-path", type=Path, default=DEBIAN_PATH,
                      help="debian-descriptions.tsv.gz (default ../shared/data/"
                           "debian-descriptions/ from the repository root)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON results (default benchmarks/results/bench_suite.json, "
                             "or bench_suite_grid.json with --grid)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw the ratios per problem here (PNG, SVG, ...)")
    args = parser.parse_args(argv)
    for name in ("repeats", "n", "n_features", "tall_n", "tall_binary_n", "square_n",
                 "wide_n", "wide_features", "sparse_n", "sparse_features", "sparse_nnz",
                 "grid_jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1; got "
                         f"{getattr(args, name)}.")
    for name in ("warmup_rows", "warmup_rows_compiled", "pixel_rows",
                 "standardised_pixel_rows", "debian_rows", "grid_rows"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or positive; got "
                         f"{getattr(args, name)}.")
    if args.drawn < 0:
        parser.error(f"--drawn must be 0 or positive; got {args.drawn}.")
    if args.repeat_budget < 0:
        parser.error(f"--repeat-budget must be 0 or positive; got {args.repeat_budget}.")
    if args.sparse_nnz > args.sparse_features:
        parser.error(f"--sparse-nnz ({args.sparse_nnz}) cannot exceed --sparse-features "
                     f"({args.sparse_features}).")
    if args.drawn and args.problems is not None:
        parser.error("--problems names problems of the suite; --drawn draws its own, so "
                     "give one or the other.")
    if not args.drawn:  # (main names the drawn problems, once it has drawn them)
        chosen = PROBLEMS if args.problems is None else args.problems
        args.problems = [name for name in PROBLEMS if name in chosen]
    args.estimators = [key for key in CONTENDERS if key in args.estimators]
    return args


# ----------------------------------------------------------------------- measurement


def wrap(estimator, problem, sparse):
    """The estimator as the problem's user fits it: in a Pipeline after the scaler where
    the problem is standardised."""
    if not problem.standardise:
        return estimator
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler(with_mean=not sparse)),
                     ("model", estimator)])


def final_step(model):
    return model[-1] if hasattr(model, "steps") else model


def seen_by_model(model, X):
    """X as the fitted model's last step saw it (after the scaler, if any)."""
    return model[:-1].transform(X) if hasattr(model, "steps") else X


def warmup_rows(n, d, contender, args):
    """Rows of the warm-up fit: all, or the first --warmup-rows (sksvmnet) or
    --warmup-rows-compiled (the others), and then more rows than features where the
    problem has more (the solvers of sksvmnet and liblinear depend on n against d)."""
    rows = args.warmup_rows if contender.jit else args.warmup_rows_compiled
    if rows == 0 or n <= rows:
        return n
    return min(n, max(rows, d + 1)) if n > d else rows


#: Fits of a few milliseconds vary by a millisecond from call to call on a busy machine,
#: as much as the targets' allowance there: where the first fits took under
#: ``SHORT_FIT_SECONDS`` each, the row repeats until it has ``SHORT_FIT_REPEATS``.
SHORT_FIT_SECONDS = 0.02
SHORT_FIT_REPEATS = 51


def repeat_fits(fit, args):
    """Up to --repeats calls of ``fit()`` (a fresh model each), stopping once they add up
    to --repeat-budget seconds, or ``SHORT_FIT_REPEATS`` of fits shorter than
    ``SHORT_FIT_SECONDS``; (seconds, ConvergenceWarning notes, the last model)."""
    times, notes, models = [], [], []
    while True:
        models.clear()  # only the last model is kept
        seconds, run_notes = timed(lambda: models.append(fit()))
        times.append(seconds)
        notes.extend(run_notes)
        wanted = (SHORT_FIT_REPEATS if args.repeats > 1 and max(times) < SHORT_FIT_SECONDS
                  else args.repeats)
        if len(times) >= wanted or sum(times) >= args.repeat_budget:
            break
    return times, sorted(set(notes)), models[-1]


def objective_of(model, X, y, family):
    """The primal objective of a fitted model, one formula for all (float64)."""
    Xt = seen_by_model(model, X)
    if not sp.issparse(Xt):
        Xt = np.asarray(Xt, dtype=np.float64)
    estimator = final_step(model)
    return float(primal_objective(estimator, Xt, y, c_of(estimator), LOSSES[family]))


def _described(estimator):
    return " ".join(repr(estimator).split())


def _sksvmnet_attributes(estimator):
    return {"solver": getattr(estimator, "solver_", None),
            "backend": getattr(estimator, "backend_", None),
            "device": (None if getattr(estimator, "device_", None) is None
                       else str(estimator.device_))}


def measure_fit(contender, problem, data, args):
    """One row: warm-up, measured fits, objective and accuracy of the last fit."""
    from sklearn.base import clone

    X, X_test, y, y_test = data
    estimator = wrap(contender.make(), problem, sp.issparse(X))
    warm = warmup_rows(X.shape[0], X.shape[1], contender, args)
    warmup, _ = timed(lambda: clone(estimator).fit(X[:warm], y[:warm]))
    times, notes, model = repeat_fits(lambda: clone(estimator).fit(X, y), args)
    last = final_step(model)
    n_iter = getattr(last, "n_iter_", None)
    return {
        "key": contender.key,
        "estimator": _described(estimator),
        "family": contender.family,
        "reference": contender.reference,
        "solves_reference_problem": solves_reference_problem(contender, len(last.classes_)),
        "dtype": str(X.dtype),
        "warmup_rows": int(warm),
        "warmup_seconds": warmup,
        "fit_seconds": times,
        "fit_seconds_median": statistics.median(times),
        "n_iter": None if n_iter is None else int(np.max(n_iter)),
        **_sksvmnet_attributes(last),
        "objective": objective_of(model, X, y, contender.family),
        "test_accuracy": float(model.score(X_test, y_test)),
        "convergence_warnings": notes,
    }


def measure_grid(contender, problem, data, args):
    """One row of --grid: the whole GridSearchCV, warmed up, then timed."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    X, X_test, y, y_test = data
    estimator = wrap(contender.make(), problem, sp.issparse(X))
    param = ("model__" if problem.standardise else "") + contender.c_param
    search = GridSearchCV(
        estimator, {param: [contender.from_c(C) for C in GRID_C]},
        cv=StratifiedKFold(GRID_FOLDS, shuffle=True, random_state=0),
        n_jobs=args.grid_jobs)
    warm = warmup_rows(X.shape[0], X.shape[1], contender, args)
    warmup, _ = timed(lambda: clone(search).fit(X[:warm], y[:warm]))
    times, notes, fitted = repeat_fits(lambda: clone(search).fit(X, y), args)
    best = final_step(fitted.best_estimator_)
    return {
        "key": contender.key,
        "estimator": _described(search),
        "family": contender.family,
        "reference": contender.reference,
        "solves_reference_problem": solves_reference_problem(contender, len(best.classes_)),
        "dtype": str(X.dtype),
        "warmup_rows": int(warm),
        "warmup_seconds": warmup,
        "fit_seconds": times,
        "fit_seconds_median": statistics.median(times),
        "best_C": c_of(best),
        "best_cv_accuracy": float(fitted.best_score_),
        "mean_fit_seconds_per_C": [float(s) for s in fitted.cv_results_["mean_fit_time"]],
        **_sksvmnet_attributes(best),
        # The refitted model's objective, at its own best C.
        "objective": objective_of(fitted.best_estimator_, X, y, contender.family),
        "test_accuracy": float(fitted.score(X_test, y_test)),
        # Only the refit runs in this process: the workers' warnings are not seen here.
        "convergence_warnings": notes,
    }


def _relative(value, reference):
    return (value - reference) / abs(reference)


def add_comparisons(rows, grid):
    """Ratios, gaps and target verdicts of every row against its reference."""
    by_key = {row["key"]: row for row in rows}
    best = {}
    for row in rows:
        if row["solves_reference_problem"] and not grid:
            best[row["family"]] = min(best.get(row["family"], math.inf), row["objective"])
    for row in rows:
        ref = by_key.get(row["reference"])
        row["fit_time_ratio"] = (row["fit_seconds_median"] / ref["fit_seconds_median"]
                                 if ref else None)
        comparable = ref is not None and row["solves_reference_problem"]
        if grid:  # objectives compare only where both searches chose the same C
            comparable = comparable and math.isclose(row["best_C"], ref["best_C"])
        row["objective_gap_vs_reference"] = (
            _relative(row["objective"], ref["objective"]) if comparable else None)
        row["objective_gap_vs_best"] = (
            _relative(row["objective"], best[row["family"]])
            if row["family"] in best and row["solves_reference_problem"] else None)
        row["time_target_met"] = (None if ref is None else time_target_met(
            row["fit_seconds_median"], ref["fit_seconds_median"]))
        gap = row["objective_gap_vs_reference"]
        row["objective_target_met"] = (None if gap is None or grid
                                       else gap <= TARGETS["objective_slack"])
    return rows


def time_target_met(seconds, reference_seconds):
    if reference_seconds < TARGETS["small_fit_seconds"]:
        return seconds <= reference_seconds + TARGETS["small_fit_slack_seconds"]
    return seconds <= TARGETS["time_ratio"] * reference_seconds


def summarise(reports):
    """Per row key: the geometric mean of its fit-time ratios over the problems, and how
    many rows met each target."""
    summary = {}
    for key, contender in CONTENDERS.items():
        rows = [row for report in reports for row in report.get("results", [])
                if row["key"] == key and row.get("fit_time_ratio")]
        if not rows or contender.reference is None:
            continue
        ratios = [row["fit_time_ratio"] for row in rows]
        geomean = math.exp(statistics.fmean(math.log(r) for r in ratios))
        target = TARGETS["geomean_ratio"].get(key)
        summary[key] = {
            "reference": contender.reference,
            "problems": len(rows),
            "geomean_ratio": geomean,
            "geomean_target": target,
            "geomean_target_met": None if target is None else geomean <= target,
            "time_targets_met": sum(bool(row["time_target_met"]) for row in rows),
            "objective_targets_met": sum(bool(row["objective_target_met"]) for row in rows),
            "objective_targets_judged": sum(row["objective_target_met"] is not None
                                            for row in rows),
        }
    return summary


def describe_data(X, X_test, y, description, problem):
    sparse = sp.issparse(X)
    nonzero = X.nnz if sparse else int(np.count_nonzero(X))
    return {"n_train": int(X.shape[0]), "n_test": int(X_test.shape[0]),
            "n_features": int(X.shape[1]), "n_classes": int(len(np.unique(y))),
            "sparse": bool(sparse), "dtype": str(X.dtype),
            "nonzero_fraction": nonzero / (X.shape[0] * X.shape[1]),
            "standardised": problem.standardise, "description": description}


def run_problem(problem, contenders, args):
    print(f"\n## {problem.name}", flush=True)
    started = time.perf_counter()
    try:
        X, X_test, y, y_test, description = problem.load(args)
    except MissingData as exc:
        print(f"skipped: {exc}", flush=True)
        return {"problem": problem.name, "skipped": str(exc)}
    if args.grid and args.grid_rows:
        X, y = X[:args.grid_rows], y[:args.grid_rows]
    info = describe_data(X, X_test, y, description, problem)
    info["prepare_seconds"] = time.perf_counter() - started
    print(f"{info['n_train']:,} train / {info['n_test']:,} test rows, "
          f"{info['n_features']:,} features, {info['n_classes']} classes, {info['dtype']}"
          f"{', sparse' if info['sparse'] else ''}"
          f"{', standardised' if problem.standardise else ''}; prepared in "
          f"{info['prepare_seconds']:.1f} s", flush=True)
    measure = measure_grid if args.grid else measure_fit
    load_before = load_average()
    rows = []
    for contender in contenders:
        row = measure(contender, problem, (X, X_test, y, y_test), args)
        rows.append(row)
        print(f"  {contender.key}: {'grid' if args.grid else 'fit'} "
              f"{row['fit_seconds_median']:.4f} s (median of {len(row['fit_seconds'])}), "
              f"warm-up {row['warmup_seconds']:.3f} s, objective {row['objective']:.10g}, "
              f"accuracy {row['test_accuracy']:.4f}"
              + (f", solver {row['solver']}" if row["solver"] else "")
              + (f", best C {row['best_C']:g}" if args.grid else "")
              + (" *" if row["convergence_warnings"] else ""), flush=True)
    add_comparisons(rows, args.grid)
    return {"problem": problem.name, "data": info, "load_average_before": load_before,
            "load_average_after": load_average(), "results": rows}


# ---------------------------------------------------------------------------- output


def _ratio(row):
    if row is None or row.get("fit_time_ratio") is None:
        return "-"
    miss = "" if row["time_target_met"] else " !"
    return f"{row['fit_time_ratio']:.3f}x{miss}"


def _gap(row):
    if row is None or row.get("objective_gap_vs_reference") is None:
        return "-"
    miss = " !" if row["objective_target_met"] is False else ""
    return f"{row['objective_gap_vs_reference']:+.1e}{miss}"


def print_table(reports, grid):
    header = ["problem", "train shape", "classes", "LinearSVC (s)", "SVMNet", "gap",
              "LogReg (s)", "LogNet", "gap", "solvers"]
    lines = []
    for report in reports:
        if "skipped" in report:
            lines.append([report["problem"], "skipped", *[""] * (len(header) - 2)])
            continue
        data, rows = report["data"], {row["key"]: row for row in report["results"]}

        def seconds(key):
            row = rows.get(key)
            return "-" if row is None else f"{row['fit_seconds_median']:.4f}"

        solvers = "/".join(rows[key]["solver"] or "?" for key in ("SVMNet", "LogisticNet")
                           if key in rows)
        lines.append([report["problem"], f"{data['n_train']:,} x {data['n_features']:,}",
                      str(data["n_classes"]), seconds("LinearSVC"),
                      _ratio(rows.get("SVMNet")), _gap(rows.get("SVMNet")),
                      seconds("LogisticRegression"),
                      _ratio(rows.get("LogisticNet")), _gap(rows.get("LogisticNet")),
                      solvers])
    print(render_table(header, lines))
    print("\nSVMNet, LogNet: median fit time over LinearSVC's and LogisticRegression's"
          + (" (whole GridSearchCV)" if grid else "")
          + "; gap: (J - J_ref) / |J_ref| of the primal objective"
          + (" (only where both chose the same C)" if grid else "")
          + "; !: target missed (time: ratio <= 1, or within 1 ms where the reference "
            "fits in under 5 ms; objective: gap <= 1e-6).")


def print_summary(summary, grid):
    for key, entry in summary.items():
        target = entry["geomean_target"]
        met = "met" if entry["geomean_target_met"] else "MISSED"
        verdict = "" if target is None or grid else f" (target <= {target:g}: {met})"
        print(f"{key} / {entry['reference']}: geometric mean ratio "
              f"{entry['geomean_ratio']:.3f} over {entry['problems']} problems{verdict}; "
              f"time target met on {entry['time_targets_met']}/{entry['problems']}"
              + ("" if grid else f", objective target on {entry['objective_targets_met']}/"
                 f"{entry['objective_targets_judged']}"))


PLOTTED = (("SVMNet", "SVMNet / LinearSVC", "tab:blue"),
           ("LogisticNet", "LogisticNet / LogisticRegression", "tab:orange"),
           ("snapml-SVM", "snapml SVM / LinearSVC", "tab:cyan"),
           ("snapml-LR", "snapml LR / LogisticRegression", "tab:olive"))


def plot_ratios(plt, reports, summary, path, title, timed_what="fit time"):
    """Horizontal bars: each problem's fit-time ratios on a log axis, a line at 1."""
    reports = [report for report in reports if "results" in report][::-1]
    keys = [entry for entry in PLOTTED
            if any(row["key"] == entry[0] for r in reports for row in r["results"])]
    height = 0.8 / max(len(keys), 1)
    fig, ax = plt.subplots(figsize=(8, 0.2 * len(reports) * max(len(keys), 2) + 2.2))
    for i, (key, label, colour) in enumerate(keys):
        ys, ratios = [], []
        for y, report in enumerate(reports):
            row = next((row for row in report["results"] if row["key"] == key), None)
            if row and row.get("fit_time_ratio"):
                ys.append(y - 0.4 + (i + 0.5) * height)
                ratios.append(row["fit_time_ratio"])
        geomean = summary.get(key, {}).get("geomean_ratio")
        if geomean:
            label += f" (geometric mean {geomean:.2f})"
            ax.axvline(geomean, color=colour, linestyle=":", linewidth=1)
        # From 1 to the ratio: left of the line is faster than scikit-learn.
        ax.barh(ys, [r - 1.0 for r in ratios], left=1.0, height=height, color=colour,
                label=label)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(reports)),
                  [f"{r['problem']} ({r['data']['n_train']:,} × "
                   f"{r['data']['n_features']:,})" for r in reports], fontsize=8)
    ax.set_xlabel(f"{timed_what} / scikit-learn's, log scale (left of 1: faster; "
                  "dotted: geometric means)", fontsize=9)
    # Above the axes, with the title: the bars may reach any corner.
    ax.set_ylim(-0.6, len(reports) - 0.4)
    ax.legend(fontsize=7, title=title, title_fontsize=9, loc="lower center",
              bbox_to_anchor=(0.5, 1.0), ncol=1 if len(keys) <= 2 else 2, frameon=False)
    save_figure(plt, fig, path)


def list_problems(args, problems):
    print("Problems (sizes under the given flags):")
    for problem in problems.values():
        print(f"  {problem.name:28} {problem.size(args)}"
              f"{', standardised' if problem.standardise else ''}")
    missing = []
    if find_idx_dir(args.mnist_dir, MNIST_DIRS) is None:
        missing.append("mnist")
    if find_idx_dir(args.fashion_dir, FASHION_DIRS) is None:
        missing.append("fashion-mnist")
    if not args.debian_path.is_file():
        missing.append("debian")
    if missing and not args.drawn:  # (drawn problems need no data)
        print("Data not found (those problems are skipped): " + ", ".join(missing))
    chosen, skipped = available(CONTENDERS)
    print("Rows: " + ", ".join(f"{c.key} (vs {c.reference})" if c.reference else c.key
                               for c in chosen))
    for key, why in skipped.items():
        print(f"  skipped: {key}: {why}")


def main(argv=None):
    args = parse_args(argv)
    problems = PROBLEMS
    if args.drawn:
        problems = drawn_problems(args.drawn, args.draw_seed)
        args.problems = list(problems)
    if args.list:
        list_problems(args, problems)
        return
    benchmark = ("bench_suite" + ("_drawn" if args.drawn else "")
                 + ("_grid" if args.grid else ""))
    if args.output is None:
        args.output = RESULTS / f"{benchmark}.json"
    plt = pyplot() if args.plot is not None else None  # fail before the work
    contenders, skipped = available(args.estimators)
    for key, why in skipped.items():
        print(f"note: {key} skipped: {why}", flush=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    settings = {key: (str(value) if isinstance(value, Path) else value)
                for key, value in vars(args).items() if key not in ("list",)}
    settings.update(grid_C=GRID_C.tolist() if args.grid else None,
                    grid_folds=GRID_FOLDS if args.grid else None,
                    targets=TARGETS, blas_threads="library default")
    result = {"benchmark": benchmark,
              "date_utc": started.isoformat(timespec="seconds"), "settings": settings,
              "estimators": {c.key: {"family": c.family, "reference": c.reference}
                             for c in contenders},
              "skipped_estimators": skipped, "load_average_before": load_before}

    def write(reports, complete):
        # run_record after the work: the thread pools of every library loaded so far.
        result.update(run_record("bench_suite.py", PACKAGES, argv))
        result.update(problems=reports, summary=summarise(reports), complete=complete,
                      total_seconds=(datetime.datetime.now(datetime.timezone.utc)
                                     - started).total_seconds(),
                      load_average_after=load_average())
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2, default=float) + "\n")

    reports = []
    for name in args.problems:
        reports.append(run_problem(problems[name], contenders, args))
        write(reports, complete=False)
    write(reports, complete=True)
    print(f"\nCommand: `{result['command']}`; {result['total_seconds']:.0f} s in all; "
          f"load average before {load_before}, after {result['load_average_after']}; "
          f"threads as the libraries chose (none limited).\n")
    print_table(reports, args.grid)
    print()
    print_summary(result["summary"], args.grid)
    for key, why in skipped.items():
        print(f"{key} skipped: {why}")
    print(f"\nwrote {args.output}")
    if plt is not None:
        what = "GridSearchCV over C" if args.grid else "one fit at the defaults"
        plot_ratios(plt, reports, result["summary"], args.plot,
                    f"sksvmnet against scikit-learn, {what}, per problem",
                    "search time" if args.grid else "fit time")
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
