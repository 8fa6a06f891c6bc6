"""What a fresh process pays: import the estimator and fit it once, as a script does.

Every command-line run, CI job and joblib worker of a grid search starts a new Python
process, imports the estimator and fits it. This script measures that whole cost: for
each estimator it starts ``python -c SCRIPT`` which imports scikit-learn's digits loader,
the pipeline and the estimator, loads digits and fits ``Pipeline(StandardScaler(),
estimator)`` once at the estimator's defaults (``LogisticRegression(max_iter=1000)``, as
everywhere in these benchmarks). It records the wall time of the process as the parent
sees it (start to exit), the child's own import and fit seconds, and its peak resident
memory (``ru_maxrss``).

Each estimator runs once untimed first, so that numba's kernels are in its on-disk cache
(a user's second run; ``compare_digits:cold`` in ``run_all.py`` measures the first) and
the files are in the page cache; then ``--repeats`` rounds run the four estimators in
turn, so that drift on the machine spreads evenly over them. The table reports medians
and the ratio of each sksvmnet model to the scikit-learn model it replaces.

Run from the repository root::

    python benchmarks/bench_fresh.py [--repeats 7] [--output PATH]
"""

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import load_average, render_table, run_record  # benchmarks/_common.py

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "bench_fresh.json"
PACKAGES = ("sksvmnet", "scikit-learn", "numpy", "scipy", "numba", "threadpoolctl", "jax")

#: key -> (import line, estimator expression, the scikit-learn model it replaces)
ESTIMATORS = {
    "LinearSVC": ("from sklearn.svm import LinearSVC", "LinearSVC()", None),
    "SVMNet": ("from sksvmnet import SVMNetClassifier", "SVMNetClassifier()", "LinearSVC"),
    "LogisticRegression": ("from sklearn.linear_model import LogisticRegression",
                           "LogisticRegression(max_iter=1000)", None),
    "LogisticNet": ("from sksvmnet import LogisticNetClassifier",
                    "LogisticNetClassifier(max_iter=1000)", "LogisticRegression"),
}

SCRIPT = """
import json, resource, sys, time
start = time.perf_counter()
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
{import_line}
imported = time.perf_counter()
X, y = load_digits(return_X_y=True)
make_pipeline(StandardScaler(), {expression}).fit(X, y)
fitted = time.perf_counter()
print(json.dumps({{"import_seconds": imported - start, "fit_seconds": fitted - imported,
                  "jax_imported": "jax" in sys.modules,
                  "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed rounds over the estimators (default 7)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="where to write the JSON results")
    return parser.parse_args(argv)


def run_once(key):
    import_line, expression, _ = ESTIMATORS[key]
    script = SCRIPT.format(import_line=import_line, expression=expression)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    wall = time.perf_counter() - start
    child = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_seconds": wall, **child}


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    before = load_average()
    for key in ESTIMATORS:  # numba's cache on disk, the files in the page cache
        run_once(key)
    runs = {key: [] for key in ESTIMATORS}
    for _ in range(args.repeats):
        for key in ESTIMATORS:
            runs[key].append(run_once(key))
    results = []
    for key, rows in runs.items():
        median = {field: statistics.median(row[field] for row in rows)
                  for field in ("wall_seconds", "import_seconds", "fit_seconds",
                                "max_rss_mib")}
        results.append({"key": key, "estimator": ESTIMATORS[key][1],
                        "reference": ESTIMATORS[key][2], "runs": rows,
                        "jax_imported": any(row["jax_imported"] for row in rows),
                        **{f"{field}_median": value for field, value in median.items()}})
    by_key = {row["key"]: row for row in results}
    for row in results:
        if row["reference"]:
            reference = by_key[row["reference"]]
            row["wall_ratio"] = row["wall_seconds_median"] / reference["wall_seconds_median"]
            row["rss_ratio"] = row["max_rss_mib_median"] / reference["max_rss_mib_median"]
            row["wall_target_met"] = row["wall_ratio"] <= 1.3
    print(render_table(
        ["estimator", "wall (s)", "import (s)", "fit (s)", "peak RSS (MiB)", "wall ratio"],
        [[row["estimator"], f"{row['wall_seconds_median']:.2f}",
          f"{row['import_seconds_median']:.2f}", f"{row['fit_seconds_median']:.2f}",
          f"{row['max_rss_mib_median']:.0f}",
          f"{row['wall_ratio']:.2f}" if "wall_ratio" in row else ""] for row in results]))
    result = {
        "benchmark": "bench_fresh",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "settings": {"repeats": args.repeats, "data": "sklearn.datasets.load_digits",
                     "numba_cache": "warm (one untimed run per estimator first)"},
        "load_average_before": before,
        "results": results,
        "total_seconds": time.perf_counter() - started,
        "load_average_after": load_average(),
        **run_record("bench_fresh.py", PACKAGES, argv),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
