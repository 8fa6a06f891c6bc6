"""Choosing C: the CV estimators against the searches people run today, on the same folds.

Three comparisons, each in one process on the same folds, timed as a user times them
(``fit`` from start to end, the refit included; no thread limits set; the searches' own
``n_jobs``):

- ``svm``: the Debian text task (``--n-samples`` training rows, TF-IDF as in
  ``_common.debian_problem``), ``SVMNetClassifierCV(Cs=Cs, cv=folds)`` against
  ``GridSearchCV(LinearSVC(), {"C": Cs}, cv=folds, n_jobs=2)``; target <= 0.1x with the
  same chosen C.
- ``logistic``: the same data, ``LogisticNetClassifierCV(Cs=Cs, cv=folds)`` against
  ``LogisticRegressionCV(Cs=Cs, cv=folds)``; target <= 0.2x at an equal or better best
  mean CV score.
- ``network``: Fashion-MNIST (``--fashion-rows`` training rows, pixels in [0, 1]), a
  784-``--hidden``-10 ``SVMNetClassifier`` network for ``--epochs`` epochs over
  ``--network-cs`` values of C and ``--network-folds`` folds:
  ``SVMNetClassifierCV(refit=False)`` against ``GridSearchCV(refit=False)`` of the same
  estimator, the separate fits; target <= 0.7x on a CPU. Then, for each backend of
  ``--network-backends`` (default: numba), the same two with that backend named; every
  CV estimator's ratio is to the first row, the search at the defaults.

``Cs`` is ``np.logspace(-4, 4, --cs)`` (LogisticRegressionCV's grid for ``Cs=10``); the
folds are ``StratifiedKFold(--folds, shuffle=True, random_state=0)``. The results file
holds every method's time, chosen C, mean CV score at every C and the ratios; ``--plot``
draws the mean CV score against C for every method. With ``--repeats`` each task's
methods run that many times in turn and the median time is reported (the network task's
timings swing by more than the usual noise between runs).

Run from the repository root::

    python benchmarks/bench_cv.py [--tasks svm logistic network] [--n-samples 15000]
        [--plot benchmarks/results/bench_cv.png]
"""

import argparse
import datetime
import json
import time
import warnings
from pathlib import Path

import numpy as np

from _common import (  # benchmarks/_common.py
    DATA,
    DEBIAN_PATH,
    debian_problem,
    load_average,
    pixel_problem,
    pyplot,
    render_table,
    run_record,
    save_figure,
)

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "bench_cv.json"
PACKAGES = ("sksvmnet", "scikit-learn", "numpy", "scipy", "numba", "threadpoolctl")
TASKS = ("svm", "logistic", "network")
#: The ratio each task's CV estimator must reach against its reference.
TARGETS = {"svm": 0.1, "logistic": 0.2, "network": 0.7}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--n-samples", type=int, default=15_000,
                        help="Debian training rows (drawn with seed 0; 0: all)")
    parser.add_argument("--cs", type=int, default=10, help="values of C, linear tasks")
    parser.add_argument("--folds", type=int, default=5, help="folds, linear tasks")
    parser.add_argument("--fashion-rows", type=int, default=12_000,
                        help="Fashion-MNIST training rows (the first ones)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=10, help="network max_iter")
    parser.add_argument("--network-cs", type=int, default=8,
                        help="values of C for the network: np.logspace(-2, 5, N)")
    parser.add_argument("--network-folds", type=int, default=3)
    parser.add_argument("--network-backends", nargs="*", default=["numba"],
                        help="backends named explicitly for the network task, beside "
                             "backend='auto' (default: numba; 'auto' picks JAX for this "
                             "network where JAX is installed)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each method, alternating; the median is reported")
    parser.add_argument("--debian-path", type=Path, default=DEBIAN_PATH)
    parser.add_argument("--fashion-dir", type=Path, default=DATA / "fashion-mnist")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--plot", type=Path, default=None)
    return parser.parse_args(argv)


def _timed_fit(estimator, X, y):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, sorted({type(w.message).__name__ for w in caught})


def _ours(name, estimator, X, y):
    seconds, warned = _timed_fit(estimator, X, y)
    return {"method": name, "seconds": seconds, "warnings": warned,
            "C": float(estimator.C_), "Cs": estimator.Cs_.tolist(),
            "mean_scores": estimator.scores_.mean(axis=0).tolist(),
            "n_iter": estimator.n_iter_.tolist()}


def _grid(name, search, X, y):
    seconds, warned = _timed_fit(search, X, y)
    results = search.cv_results_
    return {"method": name, "seconds": seconds, "warnings": warned,
            "C": float(search.best_params_["C"]),
            "Cs": [float(C) for C in results["param_C"]],
            "mean_scores": results["mean_test_score"].tolist(),
            "mean_fit_seconds": results["mean_fit_time"].tolist()}


def _logistic_regression_cv(name, estimator, X, y):
    seconds, warned = _timed_fit(estimator, X, y)
    scores = next(iter(estimator.scores_.values()))  # (one array for the multinomial)
    return {"method": name, "seconds": seconds, "warnings": warned,
            "C": float(estimator.C_[0]), "Cs": estimator.Cs_.tolist(),
            "mean_scores": scores.mean(axis=0).tolist(),
            "n_iter": np.asarray(estimator.n_iter_).tolist()}


def run_linear(task, X, y, args):
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import LinearSVC

    from sksvmnet import LogisticNetClassifierCV, SVMNetClassifierCV

    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    Cs = np.logspace(-4, 4, args.cs)
    if task == "svm":
        rows = [
            _grid("GridSearchCV(LinearSVC(), n_jobs=2)",
                  GridSearchCV(LinearSVC(), {"C": Cs}, cv=folds, n_jobs=2), X, y),
            _ours("SVMNetClassifierCV()", SVMNetClassifierCV(Cs=Cs, cv=folds), X, y),
        ]
    else:
        rows = [
            _logistic_regression_cv("LogisticRegressionCV()",
                                    LogisticRegressionCV(Cs=Cs, cv=folds), X, y),
            _ours("LogisticNetClassifierCV()", LogisticNetClassifierCV(Cs=Cs, cv=folds),
                  X, y),
        ]
    return rows


def run_network(X, y, args):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from sksvmnet import SVMNetClassifier, SVMNetClassifierCV

    folds = StratifiedKFold(args.network_folds, shuffle=True, random_state=0)
    Cs = np.logspace(-2, 5, args.network_cs)
    # (a fixed number of epochs: early stopping, on by default for networks, is off)
    network = dict(hidden_layer_sizes=(args.hidden,), max_iter=args.epochs,
                   early_stopping=False, random_state=0)
    rows = [
        _grid("GridSearchCV(SVMNetClassifier(network), refit=False)",
              GridSearchCV(SVMNetClassifier(**network), {"C": Cs}, cv=folds,
                           refit=False), X, y),
        _ours("SVMNetClassifierCV(network, refit=False)",
              SVMNetClassifierCV(Cs=Cs, cv=folds, refit=False, **network), X, y),
    ]
    for backend in args.network_backends:
        # The backend named: its separate fits, then its CV estimator (on JAX, the Cs
        # of a fold in one program per epoch). Compilation counts: it is part of fit.
        named = dict(network, backend=backend)
        rows += [
            _grid(f"GridSearchCV(SVMNetClassifier(network, backend={backend!r}), "
                  "refit=False)",
                  GridSearchCV(SVMNetClassifier(**named), {"C": Cs}, cv=folds,
                               refit=False), X, y),
            _ours(f"SVMNetClassifierCV(network, backend={backend!r}, refit=False)",
                  SVMNetClassifierCV(Cs=Cs, cv=folds, refit=False, **named), X, y),
        ]
    return rows


def _repeated(run, repeats):
    """``run()``'s rows ``repeats`` times, alternating methods; the median time."""
    runs = [run() for _ in range(repeats)]
    rows = runs[0]
    for index, row in enumerate(rows):
        times = [rows_[index]["seconds"] for rows_ in runs]
        row["seconds_all"] = times
        row["seconds"] = float(np.median(times))
    return rows


def _compare(task, rows):
    """Every CV estimator's row against the reference (the first row)."""
    for row in rows[1:]:
        if row["method"].startswith(("SVMNetClassifierCV", "LogisticNetClassifierCV")):
            _compare_row(task, rows[0], row)


def _compare_row(task, reference, ours):
    ours["ratio"] = ours["seconds"] / reference["seconds"]
    ours["target"] = TARGETS[task]
    ours["same_C"] = bool(np.isclose(ours["C"], reference["C"]))
    ours["best_mean_score"] = max(ours["mean_scores"])
    reference["best_mean_score"] = max(reference["mean_scores"])
    ours["score_vs_reference"] = ours["best_mean_score"] - reference["best_mean_score"]
    ours["largest_mean_score_difference"] = float(np.max(np.abs(
        np.asarray(ours["mean_scores"]) - np.asarray(reference["mean_scores"]))))
    met = ours["ratio"] <= ours["target"]
    if task == "svm":
        met = met and ours["same_C"]
    elif task == "logistic":
        met = met and ours["score_vs_reference"] >= 0
    ours["target_met"] = bool(met)


def plot(results, path):
    plt = pyplot()
    tasks = [task for task in TASKS if any(row["task"] == task for row in results)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for row in (row for row in results if row["task"] == task):
            ax.semilogx(row["Cs"], row["mean_scores"], marker="o", label=row["method"])
        ax.set_title({"svm": "linear SVM, Debian", "logistic": "logistic, Debian",
                      "network": "network, Fashion-MNIST"}[task])
        ax.set_xlabel("C")
        ax.set_ylabel("mean CV accuracy")
        ax.legend(fontsize=7)
    save_figure(plt, fig, path)


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    before = load_average()
    results, data = [], {}
    linear = [task for task in args.tasks if task != "network"]
    if linear:
        rows = None if args.n_samples == 0 else args.n_samples
        X, _, y, _ = debian_problem(args.debian_path, rows)
        data["debian"] = {"shape": list(X.shape), "nnz": int(X.nnz),
                          "classes": int(len(np.unique(y)))}
        for task in linear:
            rows = _repeated(lambda: run_linear(task, X, y, args), args.repeats)
            _compare(task, rows)
            results += [{"task": task, **row} for row in rows]
    if "network" in args.tasks:
        X, _, y, _ = pixel_problem(args.fashion_dir)
        X, y = X[:args.fashion_rows], y[:args.fashion_rows]
        data["fashion-mnist"] = {"shape": list(X.shape)}
        rows = _repeated(lambda: run_network(X, y, args), args.repeats)
        _compare("network", rows)
        results += [{"task": "network", **row} for row in rows]
    print(render_table(
        ["task", "method", "fit (s)", "ratio", "C", "best mean score"],
        [[row["task"], row["method"], f"{row['seconds']:.1f}",
          f"{row['ratio']:.2f}" if "ratio" in row else "", f"{row['C']:.3g}",
          f"{max(row['mean_scores']):.4f}"] for row in results]))
    result = {
        "benchmark": "bench_cv",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "settings": {key: (str(value) if isinstance(value, Path) else value)
                     for key, value in vars(args).items()},
        "data": data,
        "load_average_before": before,
        "results": results,
        "total_seconds": time.perf_counter() - started,
        "load_average_after": load_average(),
        **run_record("bench_cv.py", PACKAGES, argv),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
