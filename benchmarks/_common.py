"""Shared by the benchmark scripts: what a results file records, timed fits, plots, and
the data sets more than one script reads."""

import csv
import gzip
import math
import os
import platform
import shlex
import struct
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_info

REPO = Path(__file__).resolve().parent.parent
#: Where the scripts write their results. Changes under it do not make a run "dirty":
#: a sequence of runs (run_all.py) rewrites these files one after the other.
RESULTS = REPO / "benchmarks" / "results"
#: Environment variables that set thread counts, recorded whether set or not (None).
THREAD_ENVIRONMENT = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                      "NUMBA_NUM_THREADS")
#: Other settings that change what a run measures, recorded only when set.
OTHER_ENVIRONMENT = ("BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_THREADING_LAYER",
                     "NUMBA_CACHE_DIR", "XLA_FLAGS", "JAX_PLATFORMS", "JAX_ENABLE_X64")


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def cpu_model():
    """The CPU's model name: /proc/cpuinfo on Linux, where platform.processor() is empty."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def load_average():
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def memory_bytes():
    """Physical memory of the machine in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def machine_info(packages):
    """Platform, CPU model and cores, memory, Python and the versions of ``packages``."""
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "memory_bytes": memory_bytes(),
        "python": platform.python_version(),
        "packages": versions,
    }


def thread_settings():
    """The thread counts the libraries chose, and the environment that chose them.

    ``threadpoolctl.threadpool_info()`` sees only the BLAS and OpenMP libraries loaded so
    far, so call this after the work. These are the libraries' own counts: a script that
    limits BLAS around its fits (``--blas-threads``) says so in its settings.
    """
    try:
        import numba

        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet
            layer = None
        numba_threads = {"num_threads": numba.get_num_threads(),
                         "config_num_threads": numba.config.NUMBA_NUM_THREADS,
                         "threading_layer": layer}
    except ImportError:
        numba_threads = None
    return {
        "threadpools": [{key: info.get(key) for key in
                         ("user_api", "internal_api", "prefix", "num_threads", "version",
                          "architecture", "filepath")}
                        for info in threadpool_info()],
        "numba": numba_threads,
        "environment": {
            **{name: os.environ.get(name) for name in THREAD_ENVIRONMENT},
            **{name: os.environ[name] for name in OTHER_ENVIRONMENT if name in os.environ},
        },
    }


def _git(*args):
    result = subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True)
    return result.stdout if result.returncode == 0 else None


def source_state():
    """The commit the run measured and every change on top of it.

    ``dirty`` is true when any file outside ``benchmarks/results/`` differs from the
    commit (untracked files included); ``changed_files`` lists them.
    """
    try:
        commit = (_git("rev-parse", "HEAD") or "").strip() or None
        status = _git("status", "--porcelain", "--untracked-files=all")
    except OSError:  # no git
        return {"commit": None, "dirty": None, "changed_files": None}
    if commit is None or status is None:
        return {"commit": None, "dirty": None, "changed_files": None}
    results = RESULTS.relative_to(REPO).as_posix() + "/"
    changed = []
    for line in status.splitlines():
        path = line[3:].split(" -> ")[-1].strip('"')
        if path and not path.startswith(results):
            changed.append(f"{line[:2].strip()} {path}")
    return {"commit": commit,
            "commit_date": (_git("show", "-s", "--format=%cI", commit) or "").strip(),
            "dirty": bool(changed), "changed_files": changed}


def run_record(script, packages, argv=None):
    """What every results file records about how it was made.

    The command line (``command``: as run from the repository root, ``argv``: exactly as
    this process got it), the source (commit and uncommitted changes), the machine (CPU,
    cores, memory, package versions) and the thread settings. Call it after the work, so
    that the thread pools of every library the run loaded are seen.
    """
    args = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    return {
        "command": shlex.join(["python", f"benchmarks/{script}", *args]),
        "argv": [sys.executable, *(sys.argv if argv is None else [script, *args])],
        "cwd": os.getcwd(),
        "source": source_state(),
        "machine": machine_info(packages),
        "threads": thread_settings(),
    }


def primal_objective(estimator, X, y, C, problem):
    """The objective of ``problem`` at the estimator's ``coef_``/``intercept_``, float64.

    ``problem`` is the loss, or ``"cs_"`` and the loss for the Crammer-Singer head.

    Dense X goes straight to ``sksvmnet._losses.objective``. That function densifies a
    sparse X, which a 20,000 x 100,000 or a 48,550 x 292,071 matrix does not survive, so
    for sparse X the outputs are formed by a sparse product and the same module's
    ``head_loss`` and penalty terms are added up exactly as ``objective`` does (checked
    against ``objective`` on the first rows).
    """
    from sksvmnet._losses import head_loss, objective

    W = np.asarray(estimator.coef_, dtype=np.float64).T
    b = np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1)
    y_encoded = np.searchsorted(estimator.classes_, y)
    head = None
    if problem.startswith("cs_"):  # the Crammer-Singer machine with the loss named after
        head, problem = "crammer_singer", problem[len("cs_"):]
    if len(estimator.classes_) == 2:
        head = "binary"
    elif head is None:
        head = "multinomial" if problem == "log_loss" else "ovr"
    # liblinear penalises the intercept as the weight of a synthetic feature of value
    # intercept_scaling (1 here); LogisticRegression's lbfgs does not penalise it.
    intercept_penalty = 0.0 if problem == "log_loss" else 1.0
    common = dict(C=C, loss=problem, head=head, intercept_penalty=intercept_penalty)
    if not sp.issparse(X):
        return objective([W], [b], X, y_encoded, np.ones(X.shape[0]), **common)[0]

    def sparse_value(X, y):
        F = np.asarray(X.astype(np.float64) @ W) + b
        data, _ = head_loss(F, y, np.ones(X.shape[0]), problem, head)
        return (C * data + 0.5 * float(np.sum(W * W))
                + 0.5 * intercept_penalty * float(np.sum(b ** 2)))

    rows = min(200, X.shape[0])
    check = objective([W], [b], X[:rows], y_encoded[:rows], np.ones(rows), **common)[0]
    mine = sparse_value(X[:rows], y_encoded[:rows])
    if not math.isclose(mine, check, rel_tol=1e-10):
        raise AssertionError(f"sparse objective {mine!r} != _losses.objective {check!r}")
    return sparse_value(X, y_encoded)


def timed(fit):
    """Run ``fit()``; return its seconds and the ConvergenceWarning messages it raised.

    Any other warning is shown as Python would have shown it.
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fit()
        seconds = time.perf_counter() - start
    notes = []
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            notes.append(" ".join(str(warning.message).split()))
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    return seconds, notes


def render_table(header, lines):
    """Aligned text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def render(cells):
        return "  ".join([cells[0].ljust(widths[0]),
                          *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))])

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines)])


def read_idx(path):
    """An idx file (gzipped when its name ends in .gz) as a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        zero, dtype_code, ndim = struct.unpack(">HBB", stream.read(4))
        if zero != 0 or dtype_code != 0x08:
            raise ValueError(f"{path} is not an idx file of unsigned bytes (magic "
                             f"{zero:#06x} {dtype_code:#04x}).")
        shape = struct.unpack(f">{ndim}I", stream.read(4 * ndim))
        data = np.frombuffer(stream.read(), dtype=np.uint8)
    if data.size != math.prod(shape):
        raise ValueError(f"{path} holds {data.size} bytes of data; its header says "
                         f"{shape}.")
    return data.reshape(shape)


# ------------------------------------------------------------ data sets shared by scripts

#: Where the real data sets are looked for, in order; the first of each is relative to
#: the repository root (DESIGN.md: ``../shared/data``).
DATA = REPO.parent / "shared" / "data"
FASHION_DIRS = (DATA / "fashion-mnist", Path("/usr/share/datasets/fashion-mnist"))
MNIST_DIRS = (DATA / "mnist",)
DEBIAN_PATH = DATA / "debian-descriptions" / "debian-descriptions.tsv.gz"
#: What to fetch when a data set is missing, and the option that points to it (the same
#: in every script that reads it).
HOW_TO_GET = {
    "fashion-mnist": "the four idx .gz files of https://github.com/zalandoresearch/"
                     "fashion-mnist (or Debian's dataset-fashion-mnist package, which "
                     "installs them in /usr/share/datasets/fashion-mnist); pass "
                     "--fashion-dir",
    "mnist": "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
             "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz of MNIST "
             "(e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/); pass --mnist-dir",
    "debian": "debian-descriptions.tsv.gz, built from Debian bookworm's Packages and "
              "Translation-en files as described in ../shared/data/README.md; pass "
              "--debian-path",
}


def sparse_text_problem(n_train, n_features, nnz, seed, flip=0.05, teacher_nnz=2000):
    """A TF-IDF-like matrix with Zipf column frequencies and a sparse linear teacher."""
    rng = np.random.default_rng(seed)
    n = n_train + n_train // 4
    cdf = np.cumsum(1.0 / np.arange(1, n_features + 1))
    cdf /= cdf[-1]
    # Column ids are shuffled so that frequent columns are not all at the front.
    columns = rng.permutation(n_features)
    rows, cols, counts = [], [], []
    pending = np.arange(n)
    draws = 4 * nnz
    kept = np.zeros(n, dtype=np.int64)
    while pending.size:
        tokens = np.searchsorted(cdf, rng.random((pending.size, draws)))
        tokens = np.minimum(tokens, n_features - 1)
        # Per row: distinct tokens in order of first appearance, with their counts.
        keys = pending[:, None] * n_features + tokens
        flat = keys.ravel()
        uniq, first, count = np.unique(flat, return_index=True, return_counts=True)
        row_of = uniq // n_features
        order = np.lexsort((first, row_of))
        uniq, count, row_of = uniq[order], count[order], row_of[order]
        start = np.searchsorted(row_of, row_of, side="left")
        rank = np.arange(uniq.size) - start
        take = rank < nnz
        rows.append(row_of[take])
        cols.append(columns[uniq[take] % n_features])
        counts.append(count[take])
        kept += np.bincount(row_of[take], minlength=n)
        pending = np.flatnonzero(kept < nnz)
        if pending.size:  # rare: too few distinct tokens; draw those rows again
            for part in (rows, cols, counts):
                part[-1] = part[-1][~np.isin(rows[-1], pending)]
            kept[pending] = 0
            draws *= 2
    rows, cols, counts = (np.concatenate(part) for part in (rows, cols, counts))
    X = sp.csr_matrix((1.0 + np.log(counts), (rows, cols)), shape=(n, n_features))
    df = np.bincount(X.indices, minlength=n_features)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    X = X @ sp.diags(idf)
    X = sp.csr_matrix(X)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / norms) @ X
    X = sp.csr_matrix(X)
    X.sort_indices()
    teacher = np.zeros(n_features)
    support = rng.choice(n_features, size=min(teacher_nnz, n_features), replace=False)
    teacher[support] = rng.standard_normal(support.size)
    score = X @ teacher
    y = (score > np.median(score)).astype(np.int64)
    flipped = rng.random(n) < flip
    y[flipped] = 1 - y[flipped]
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def find_idx_dir(given, candidates):
    for folder in ([given] if given is not None else list(candidates)):
        if all((folder / name).is_file() for name in IDX_FILES):
            return folder
    return None


def pixel_problem(folder):
    images, labels, test_images, test_labels = (read_idx(folder / name)
                                                for name in IDX_FILES)
    # [0, 1] pixels: bench_linear.py's docstring says why not StandardScaler.
    X = images.reshape(len(images), -1).astype(np.float64) / 255.0
    X_test = test_images.reshape(len(test_images), -1).astype(np.float64) / 255.0
    return X, X_test, labels.astype(np.int64), test_labels.astype(np.int64)


def debian_problem(path, train_rows=None, seed=0):
    """The Debian descriptions as TF-IDF: ``(X_train, X_test, y_train, y_test)``, CSR.

    ``TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)`` fitted on the
    training split, or on ``train_rows`` of its rows drawn at random with ``seed`` (all
    of them when None or larger); the test split is always whole. Labels index the
    sorted sections of the whole file, so a subset that misses a section keeps the
    others' codes.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        records = [(row["split"], row["section"], row["text"]) for row in reader]
    train = [r for r in records if r[0] == "train"]
    test = [r for r in records if r[0] == "test"]
    if train_rows is not None and train_rows < len(train):
        keep = np.sort(np.random.default_rng(seed).choice(len(train), train_rows,
                                                          replace=False))
        train = [train[i] for i in keep]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    X = vectorizer.fit_transform([r[2] for r in train])
    X_test = vectorizer.transform([r[2] for r in test])
    sections = sorted({r[1] for r in records})
    y = np.searchsorted(sections, [r[1] for r in train])
    y_test = np.searchsorted(sections, [r[1] for r in test])
    return X.tocsr(), X_test.tocsr(), y.astype(np.int64), y_test.astype(np.int64)


def save_figure(plt, fig, path):
    """Lay out ``fig``, write it to ``path`` (creating its folder) and close it."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def pyplot():
    """matplotlib.pyplot drawing to files only, or exit with what to install."""
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit(f"--plot needs matplotlib ({exc}); install it with "
                         "`pip install -e \".[bench]\"`.") from None
    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt
