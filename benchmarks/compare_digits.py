"""Compare sksvmnet's estimators with scikit-learn's on the bundled digits data.

Every estimator is fitted inside ``Pipeline(StandardScaler(), estimator)`` on the same
stratified 75/25 split. Each one is fitted once as a warm-up (this compiles or loads the
numba kernels), timed apart, and then ``--repeats`` more times; the table reports the
median of those measured fits. Each sksvmnet model is timed against the scikit-learn model
closest to it:

- ``SVMNetClassifier()`` against ``LinearSVC()``: the same objective (squared hinge,
  one-vs-rest, L2);
- ``LogisticNetClassifier()`` against ``LogisticRegression()``: the same objective
  (multinomial, L2);
- the one-hidden-layer networks against ``MLPClassifier`` with the same layer, activation,
  Adam settings, batch size, epochs and the penalty that matches ``C``. That is the same
  objective as ``LogisticNetClassifier``'s network; ``SVMNetClassifier``'s differs in the
  loss only.

Beside time and accuracy, every row records its iterations (``n_iter_``: epochs for the
networks) and every linear row its primal objective on the standardised training data,
computed the same way for all (``sksvmnet._losses``, as ``bench_linear.py`` does), with
its relative gap to the lowest objective of its problem: the lowest of the rows and of a
tight, untimed scikit-learn fit (``LinearSVC`` and ``LogisticRegression`` at
``tol=1e-10``), so that "how far above the optimum" is measured, not assumed.

Run from the repository root::

    python benchmarks/compare_digits.py [--seed 0] [--repeats 3] [--output PATH]

The results, the command, the commit, the machine and its thread settings are written as
JSON to ``--output``;
``--plot PATH`` also draws the fit times as a bar chart (needs matplotlib, which the
``bench`` extra installs).
"""

import argparse
import datetime
import json
import statistics
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from sksvmnet import LogisticNetClassifier, SVMNetClassifier

from _common import (  # benchmarks/_common.py
    load_average, primal_objective, pyplot, render_table, run_record, save_figure, timed)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "compare_digits.json"
PACKAGES = ("sksvmnet", "scikit-learn", "numpy", "scipy", "numba", "threadpoolctl")

#: The hidden layer of the network rows: wide enough to beat the linear models on digits,
#: small enough that a fit takes a second or two on two cores.
HIDDEN = (256,)
#: Epochs of Adam for every network (MLPClassifier's default max_iter). With seed 0 the
#: SVM network meets its stopping rule at epoch 166; the log-loss networks still improve
#: by about tol (1e-4) per epoch at 200, stop there and warn, which the notes show.
EPOCHS = 200
#: Adam's minibatch size under batch_size="auto", the default of MLPClassifier and
#: sksvmnet alike: min(200, n_samples).
BATCH_SIZE = 200
#: Tolerance of the untimed scikit-learn fits that pin each linear optimum down.
TIGHT_TOL = 1e-10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the train/test split and of the networks (default 0)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measured fits per estimator after the warm-up (default 3)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="where to write the JSON results "
                             "(default benchmarks/results/compare_digits.json)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also save a bar chart of the fit times here (PNG, SVG, ...)")
    parser.add_argument("--blas-threads", type=int, default=0,
                        help="BLAS threads for every fit, to compare settings on purpose; "
                             "the default 0 leaves each library its own choice, as in a "
                             "user's process (sksvmnet chooses its threads per fit)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}.")
    if args.blas_threads < 0:
        parser.error(f"--blas-threads must be 0 or positive; got {args.blas_threads}.")
    return args


CS_LINEARSVC = 'LinearSVC(multi_class="crammer_singer")'


def make_estimators(seed, n_train):
    """The rows: ``(name, estimator, name of the reference row or None, problem)``.

    ``problem`` is the loss of a linear row, whose objective is computed; None for the
    networks.
    """
    # MLPClassifier divides its penalty alpha/2 ||W||^2 by the minibatch size, while
    # sksvmnet's objective 1/2 ||W||^2 + C sum(loss) divided by C n gives 1/(2 C n). The
    # same minibatch objective therefore needs alpha = batch / (C n); alpha = 1/C holds
    # only for full-batch training.
    C = 1.0
    alpha = min(BATCH_SIZE, n_train) / (C * n_train)
    # (early stopping off, as MLPClassifier's default: both train on every row)
    network = dict(hidden_layer_sizes=HIDDEN, max_iter=EPOCHS, early_stopping=False,
                   random_state=seed)
    mlp = f"MLPClassifier{HIDDEN}"
    return [
        ("LinearSVC", LinearSVC(C=C), None, "squared_hinge"),
        ("SVMNetClassifier", SVMNetClassifier(C=C), "LinearSVC", "squared_hinge"),
        ("LogisticRegression", LogisticRegression(C=C, max_iter=1000), None, "log_loss"),
        ("LogisticNetClassifier", LogisticNetClassifier(C=C, max_iter=1000),
         "LogisticRegression", "log_loss"),
        # Crammer-Singer: LinearSVC's hinge machine, ours with either loss (the dual
        # with its certified gap; the squared hinge's reference is LinearSVC's hinge).
        (CS_LINEARSVC, LinearSVC(C=C, multi_class="crammer_singer"), None, "cs_hinge"),
        ('SVMNetClassifier(multi_class="crammer_singer", loss="hinge")',
         SVMNetClassifier(C=C, multi_class="crammer_singer", loss="hinge"), CS_LINEARSVC,
         "cs_hinge"),
        ('SVMNetClassifier(multi_class="crammer_singer")',
         SVMNetClassifier(C=C, multi_class="crammer_singer"), CS_LINEARSVC,
         "cs_squared_hinge"),
        (mlp, MLPClassifier(alpha=alpha, **network), None, None),
        (f"SVMNetClassifier{HIDDEN}", SVMNetClassifier(C=C, **network), mlp, None),
        (f"LogisticNetClassifier{HIDDEN}", LogisticNetClassifier(C=C, **network), mlp,
         None),
    ]


def tight_estimators(C=1.0):
    """Untimed fits at a tight tolerance, one per linear problem: scikit-learn's, and
    for the squared-hinge Crammer-Singer machine (which scikit-learn lacks) ours, whose
    dual stops on a duality gap of at most 1e-3 * TIGHT_TOL of the objective."""
    return {
        "squared_hinge": LinearSVC(C=C, tol=TIGHT_TOL, max_iter=100_000),
        "log_loss": LogisticRegression(C=C, tol=TIGHT_TOL, max_iter=100_000),
        "cs_hinge": LinearSVC(C=C, multi_class="crammer_singer", tol=TIGHT_TOL,
                              max_iter=100_000),
        "cs_squared_hinge": SVMNetClassifier(C=C, multi_class="crammer_singer",
                                             tol=TIGHT_TOL, max_iter=100_000),
    }


def timed_fit(estimator, X_train, y_train, X_test, y_test):
    """Fit a fresh clone; return (seconds, test accuracy, notes, the fitted pipeline).

    ``notes`` are the ConvergenceWarning messages of the fit.
    """
    model = make_pipeline(StandardScaler(), clone(estimator))
    seconds, notes = timed(lambda: model.fit(X_train, y_train))
    return seconds, float(model.score(X_test, y_test)), notes, model


def objective_of(model, X_train, y_train, problem, C=1.0):
    """The primal objective of a fitted linear pipeline on its standardised data."""
    return float(primal_objective(model[-1], model[0].transform(X_train), y_train, C,
                                  problem))


def run(args):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed)
    rows = []
    for name, estimator, reference, problem in make_estimators(args.seed, len(X_train)):
        warmup, _, notes, _ = timed_fit(estimator, X_train, y_train, X_test, y_test)
        times, accuracies = [], []
        for _ in range(args.repeats):
            seconds, accuracy, run_notes, model = timed_fit(estimator, X_train, y_train,
                                                            X_test, y_test)
            times.append(seconds)
            accuracies.append(accuracy)
            notes.extend(run_notes)
        rows.append({
            "estimator": name,
            "params": {key: repr(value) for key, value in estimator.get_params().items()},
            "reference": reference,
            "problem": problem,
            "test_accuracy": statistics.median(accuracies),
            "test_accuracies": accuracies,
            "fit_seconds_median": statistics.median(times),
            "fit_seconds": times,
            "warmup_seconds": warmup,
            # Of the last measured fit; every fit is seeded alike.
            "n_iter": int(np.max(model[-1].n_iter_)),
            "solver": getattr(model[-1], "solver_", None),  # what sksvmnet says ran
            "objective": (objective_of(model, X_train, y_train, problem)
                          if problem else None),
            "convergence_warnings": sorted(set(notes)),
        })
    by_name = {row["estimator"]: row for row in rows}
    for row in rows:
        reference = by_name.get(row["reference"])
        row["fit_time_ratio"] = (row["fit_seconds_median"] / reference["fit_seconds_median"]
                                 if reference else None)
    optima = {}
    for problem, estimator in tight_estimators().items():
        _, _, notes, model = timed_fit(estimator, X_train, y_train, X_test, y_test)
        tight = objective_of(model, X_train, y_train, problem)
        lowest = min([tight] + [row["objective"] for row in rows
                                if row["problem"] == problem])
        optima[problem] = {"objective": lowest, "tight_estimator": repr(estimator),
                           "tight_objective": tight,
                           "tight_n_iter": int(np.max(model[-1].n_iter_)),
                           "tight_convergence_warnings": sorted(set(notes))}
    for row in rows:
        if row["problem"]:
            best = optima[row["problem"]]["objective"]
            row["objective_gap_vs_optimum"] = (row["objective"] - best) / abs(best)
    return rows, optima, {"n_train": len(X_train), "n_test": len(X_test),
                          "n_features": X.shape[1], "n_classes": len(np.unique(y))}


def fits(repeats):
    return f"median of {repeats} fits" if repeats > 1 else "one fit"


def format_table(rows):
    header = ("estimator", "test acc", "fit (s)", "warm-up (s)", "vs sklearn", "n_iter",
              "gap to optimum")
    lines = []
    for row in rows:
        ratio = row["fit_time_ratio"]
        gap = row.get("objective_gap_vs_optimum")
        lines.append((
            row["estimator"] + (" *" if row["convergence_warnings"] else ""),
            f"{row['test_accuracy']:.4f}",
            f"{row['fit_seconds_median']:.3f}",
            f"{row['warmup_seconds']:.3f}",
            f"{ratio:.2f}x" if ratio is not None else "-",
            str(row["n_iter"]),
            f"{gap:.1e}" if gap is not None else "-",
        ))
    return render_table(header, lines)


def plot(plt, rows, path, title):
    """Horizontal bars of the median fit times, log scale, accuracy written beside."""
    names = [row["estimator"] for row in rows][::-1]
    times = [row["fit_seconds_median"] for row in rows][::-1]
    colours = ["tab:blue" if row["estimator"].startswith(("SVMNet", "LogisticNet"))
               else "tab:gray" for row in rows][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    ax.barh(names, times, color=colours)
    ax.set_xscale("log")
    ax.set_xlabel("median fit time (s), log scale")
    ax.set_title(title, fontsize=10)
    for y, row in enumerate(rows[::-1]):
        ax.text(row["fit_seconds_median"], y, f"  acc {row['test_accuracy']:.3f}",
                va="center", fontsize=8)
    ax.set_xlim(right=max(times) * 4)
    save_figure(plt, fig, path)


def main(argv=None):
    args = parse_args(argv)
    plt = pyplot() if args.plot is not None else None  # fail before the work, not after
    load_before = load_average()
    started = datetime.datetime.now(datetime.timezone.utc)
    if args.blas_threads:
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            rows, optima, data = run(args)
    else:
        rows, optima, data = run(args)
    total = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()

    print(f"digits: {data['n_train']} train / {data['n_test']} test samples, "
          f"{data['n_features']} features, {data['n_classes']} classes; seed {args.seed}, "
          f"{fits(args.repeats)} after one warm-up")
    print()
    print(format_table(rows))
    print()
    print("vs sklearn: median fit time over that of the scikit-learn model it is compared "
          "with")
    print("  (SVMNet vs LinearSVC, LogisticNet vs LogisticRegression, networks vs "
          "MLPClassifier).")
    print("n_iter: iterations of the last fit (epochs for the networks); gap to optimum: "
          "(J - J*) / J* of the primal objective,")
    print(f"  J* the lowest of the rows and of LinearSVC / LogisticRegression at tol="
          f"{TIGHT_TOL:g}: " + ", ".join(f"{problem} {optimum['objective']:.10g}"
                                         for problem, optimum in optima.items()))
    noted = [row for row in rows if row["convergence_warnings"]]
    if noted:
        print("* stopped with a ConvergenceWarning; the row still shows the fit as "
              "configured:")
        for row in noted:
            for message in row["convergence_warnings"]:
                print(f"  {row['estimator']}: {message}")

    result = {
        "benchmark": "compare_digits",
        **run_record("compare_digits.py", PACKAGES, argv),
        "date_utc": started.isoformat(timespec="seconds"),
        "total_seconds": total,
        "settings": {"seed": args.seed, "repeats": args.repeats, "test_size": 0.25,
                     "blas_threads": args.blas_threads or "library default",
                     "hidden_layer_sizes": list(HIDDEN), "epochs": EPOCHS,
                     "batch_size": BATCH_SIZE, "tight_tol": TIGHT_TOL},
        "data": data,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "optima": optima,
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output} ({total:.1f} s in all)")
    if args.plot is not None:
        plot(plt, rows, args.plot, f"digits, {data['n_train']} training samples, "
                                   f"{fits(args.repeats)} (blue: sksvmnet)")
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
