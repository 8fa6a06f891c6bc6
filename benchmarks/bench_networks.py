"""Network defaults side by side: MLPClassifier, SVMNetClassifier, LogisticNetClassifier.

A user who swaps ``MLPClassifier(hidden)`` for ``SVMNetClassifier(hidden_layer_sizes=
hidden)`` or ``LogisticNetClassifier(hidden_layer_sizes=hidden)`` keeps every other
setting at its default. This script measures what that user gets, on digits (bundled
with scikit-learn), MNIST and Fashion-MNIST, in the setup people run: each estimator in
``Pipeline(StandardScaler(), estimator)``, no thread limits set (the libraries' own
choices are recorded), the same hidden layers and the same cap on epochs
(``--max-iter``, default MLPClassifier's 200) for all three. Each estimator stops by its
own default rule: MLPClassifier when its training loss stalls, ours by early stopping on a
held-out tenth (``early_stopping="auto"``, on for networks; the held-out loss).

Digits is small (450 test images: one image is 0.22 points), so it is split
``--digits-splits`` times (stratified 75/25, seeds 0, 1, ...) and every estimator's seed
follows the split; MNIST and Fashion-MNIST use their standard 60,000 / 10,000 split and
seeds ``--seeds``. Reported per data set: mean test accuracy, median fit time, mean
epochs, and for our estimators the accuracy difference in points and the time ratio to
MLPClassifier's, beside the targets (accuracy at least MLPClassifier's - 0.1 point, time
at most 0.5x).

Before the timed fits every estimator is fitted once on 500 rows (numba loads its cached
kernels, JAX compiles); a fresh process's first fit is measured by ``bench_fresh.py``.

Run from the repository root::

    python benchmarks/bench_networks.py [--datasets digits mnist fashion-mnist]
        [--hidden 100] [--max-iter 200] [--digits-splits 5] [--seeds 0] [--output PATH]

The pixel sets come from ``../shared/data/<name>`` (the idx files); a data set whose files
are absent is skipped, and the results say so.
"""

import argparse
import datetime
import json
import statistics
from pathlib import Path

from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksvmnet import LogisticNetClassifier, SVMNetClassifier

from _common import (  # benchmarks/_common.py
    DATA, find_idx_dir, load_average, pixel_problem, render_table, run_record, timed)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "bench_networks.json"
PACKAGES = ("sksvmnet", "scikit-learn", "numpy", "scipy", "numba", "jax", "threadpoolctl")
DATASETS = ("digits", "mnist", "fashion-mnist")
#: The issue's targets: accuracy no lower than MLPClassifier's by more than this many
#: points, fit time at most this fraction of its.
ACCURACY_MARGIN, TIME_RATIO = 0.1, 0.5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--hidden", type=int, nargs="+", default=[100],
                        help="hidden layer sizes (default 100, MLPClassifier's)")
    parser.add_argument("--max-iter", type=int, default=200,
                        help="epochs at most, for all three (default 200, "
                             "MLPClassifier's)")
    parser.add_argument("--digits-splits", type=int, default=5,
                        help="train/test splits of digits (default 5)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="random_state of the MNIST and Fashion-MNIST fits "
                             "(default 0)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    for name in ("max_iter", "digits_splits"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1; got "
                         f"{getattr(args, name)}.")
    if min(args.hidden) < 1:
        parser.error(f"--hidden sizes must be positive; got {args.hidden}.")
    return args


def estimators(hidden, max_iter, seed):
    """Each at its defaults but for the layers, the cap on epochs and the seed."""
    return {
        "MLPClassifier": MLPClassifier(hidden, max_iter=max_iter, random_state=seed),
        "SVMNetClassifier": SVMNetClassifier(hidden_layer_sizes=hidden, max_iter=max_iter,
                                             random_state=seed),
        "LogisticNetClassifier": LogisticNetClassifier(
            hidden_layer_sizes=hidden, max_iter=max_iter, random_state=seed),
    }


def problems(name, args):
    """(seed, X_train, X_test, y_train, y_test) for every run of data set ``name``."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        for seed in range(args.digits_splits):
            yield (seed, *train_test_split(X, y, test_size=0.25, stratify=y,
                                           random_state=seed))
        return
    folder = find_idx_dir(None, [DATA / name])
    if folder is None:
        return
    X, X_test, y, y_test = pixel_problem(folder)
    for seed in args.seeds:
        yield seed, X, X_test, y, y_test


def warm_up(hidden, X, y):
    for estimator in estimators(hidden, 2, 0).values():
        timed(lambda: make_pipeline(StandardScaler(), estimator).fit(X[:500], y[:500]))


def run(args):
    hidden = tuple(args.hidden)
    rows, skipped = [], []
    for name in args.datasets:
        found = False
        for seed, X, X_test, y, y_test in problems(name, args):
            if not found:  # (the data set's first run)
                warm_up(hidden, X, y)
                found = True
            for label, estimator in estimators(hidden, args.max_iter, seed).items():
                pipeline = make_pipeline(StandardScaler(), clone(estimator))
                seconds, notes = timed(lambda: pipeline.fit(X, y))
                model = pipeline[-1]
                rows.append({
                    "dataset": name, "seed": seed, "estimator": label,
                    "accuracy": float(pipeline.score(X_test, y_test)),
                    "fit_seconds": seconds, "epochs": int(model.n_iter_),
                    "backend": getattr(model, "backend_", None),
                    # (trained on all the rows, or on all but a held-out split)
                    "held_out": getattr(model, "validation_scores_", None) is not None,
                    "n_train": int(len(y)), "n_test": int(len(y_test)),
                    "convergence_warnings": notes,
                })
                print(f"{name:14s} seed {seed} {label:22s} accuracy "
                      f"{rows[-1]['accuracy']:.4f}  {seconds:7.2f} s  "
                      f"{rows[-1]['epochs']:4d} epochs", flush=True)
        if not found:
            skipped.append(name)
            print(f"{name}: no idx files under {DATA / name}; skipped", flush=True)
    return rows, skipped


def summarize(rows):
    """Per data set and estimator: mean accuracy, median time, mean epochs, and ours
    against MLPClassifier's with the targets."""
    summary = []
    for name in dict.fromkeys(row["dataset"] for row in rows):
        of = {label: [row for row in rows if row["dataset"] == name
                      and row["estimator"] == label]
              for label in ("MLPClassifier", "SVMNetClassifier", "LogisticNetClassifier")}
        stats = {label: {"accuracy": statistics.mean(r["accuracy"] for r in runs),
                         "fit_seconds": statistics.median(r["fit_seconds"] for r in runs),
                         "epochs": statistics.mean(r["epochs"] for r in runs),
                         "runs": len(runs)}
                 for label, runs in of.items() if runs}
        reference = stats["MLPClassifier"]
        for label, entry in stats.items():
            if label != "MLPClassifier":
                points = 100 * (entry["accuracy"] - reference["accuracy"])
                ratio = entry["fit_seconds"] / reference["fit_seconds"]
                entry.update(points=points, time_ratio=ratio,
                             accuracy_target_met=points >= -ACCURACY_MARGIN,
                             time_target_met=ratio <= TIME_RATIO)
            summary.append({"dataset": name, "estimator": label, **entry})
    return summary


def main(argv=None):
    args = parse_args(argv)
    load_before = load_average()
    started = datetime.datetime.now(datetime.timezone.utc)
    rows, skipped = run(args)
    summary = summarize(rows)
    total = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    lines = [(s["dataset"], s["estimator"], f"{s['accuracy']:.4f}",
              "" if "points" not in s else f"{s['points']:+.2f}",
              f"{s['fit_seconds']:.2f}",
              "" if "time_ratio" not in s else f"{s['time_ratio']:.2f}x",
              f"{s['epochs']:.0f}") for s in summary]
    print()
    print(render_table(("data", "estimator", "accuracy", "points", "fit (s)", "ratio",
                        "epochs"), lines))
    result = {
        "benchmark": "bench_networks",
        **run_record("bench_networks.py", PACKAGES, argv),
        "date_utc": started.isoformat(timespec="seconds"),
        "total_seconds": total,
        "settings": {"datasets": args.datasets, "hidden": list(args.hidden),
                     "max_iter": args.max_iter, "digits_splits": args.digits_splits,
                     "seeds": args.seeds, "pipeline": "StandardScaler() + estimator",
                     "targets": {"accuracy_points": -ACCURACY_MARGIN,
                                 "time_ratio": TIME_RATIO}},
        "skipped": skipped,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "summary": summary,
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output} ({total:.1f} s in all)")


if __name__ == "__main__":
    main()
