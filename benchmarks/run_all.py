"""Re-run every benchmark the docs quote, one at a time, then regenerate the docs' tables.

Each benchmark below is one documented command of one script, writing the results file
that docs/benchmarks.md and docs/tang2013.md read. They run in sequence, never two at
once (on two cores a second run would be measured against the first), with a short rest
between them. Afterwards every table between ``<!-- table: NAME -->`` and
``<!-- /table -->`` in those docs is regenerated from the results files (``_tables.py``):
each table states beneath it the file, commit, machine, thread settings and command its
numbers come from.

Run from the repository root::

    python benchmarks/run_all.py --list          # what runs, how long, what data
    python benchmarks/run_all.py                 # everything, then the tables
    python benchmarks/run_all.py --only compare_digits bench_linear:dense
    python benchmarks/run_all.py --only tang2013 --skip 'tang2013:probe-*'
    python benchmarks/run_all.py --tables-only   # tables from the files as they are
    python benchmarks/run_all.py --check         # exit 1 if a table is out of date

A selector is a benchmark's name, a group (the part before the colon: ``bench_linear``
selects every ``bench_linear:*``) or a shell pattern (``'tang2013:probe-*'``). Run it on
an otherwise idle machine, from a committed tree: every results file records the commit
and any uncommitted change, and the tables show them.
"""

import argparse
import datetime
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO, source_state
from _tables import DOCS, regenerate

DATA = REPO.parent / "shared" / "data"
#: Marks an environment variable whose value is a fresh temporary folder for the run.
FRESH_FOLDER = object()


@dataclass(frozen=True)
class Benchmark:
    """One documented command and what it writes."""

    name: str
    script: str
    args: tuple
    #: Results files (relative to the repository) the command writes; the first is JSON.
    outputs: tuple
    #: Seconds it is expected to take when no results file says (see ``estimate``).
    guess_seconds: float
    guess_source: str
    #: Data it cannot run without (paths; one of each inner tuple suffices).
    needs: tuple = ()
    env: dict = field(default_factory=dict)

    @property
    def command(self):
        prefix = [f"{key}=<fresh temporary folder>" if value is FRESH_FOLDER else
                  f"{key}={value}" for key, value in self.env.items()]
        return " ".join(prefix + [shlex.join(["python", f"benchmarks/{self.script}",
                                              *self.args])])


def _results(*names):
    return tuple(f"benchmarks/results/{name}" for name in names)


def _backends(name, preset, dtype, epochs=None, hidden=None, guess=60,
              source="guess: not measured yet", n_features=None, n_samples=None):
    args = ["--preset", preset, "--dtype", dtype]
    args += ["--n-features", str(n_features)] if n_features else []
    args += ["--n-samples", str(n_samples)] if n_samples else []
    args += ["--epochs", str(epochs)] if epochs else []
    outputs = _results(f"bench_backends_{name}.json")
    if hidden:
        args += ["--hidden", *map(str, hidden), "--skip", "mlp", "torch", "numba-fit",
                 "jax-fit", "numba-ftz"]
    else:
        outputs += _results(f"bench_backends_{name}.png")
    args += ["--output", outputs[0]] + (["--plot", outputs[1]] if len(outputs) > 1 else [])
    return Benchmark(f"bench_backends:{name.replace('_', '-')}", "bench_backends.py",
                     tuple(args), outputs, guess, source)


def _linear(name, args, output, guess, source, needs=(), plot=None):
    outputs = _results(output) + (_results(plot) if plot else ())
    args = [*args, "--output", outputs[0]] + (["--plot", outputs[1]] if plot else [])
    return Benchmark(f"bench_linear:{name}", "bench_linear.py", tuple(args), outputs,
                     guess, source, needs)


_FASHION = ((DATA / "fashion-mnist", Path("/usr/share/datasets/fashion-mnist")),)
_MNIST = ((DATA / "mnist",),)
_DEBIAN = ((DATA / "debian-descriptions" / "debian-descriptions.tsv.gz",),)


def _probe(probe, extra, guess):
    # (the probes ran before the linear schedule became the script's default: their
    # noise decays geometrically, or stays constant at a decay of 1)
    output = _results(f"tang2013_probes/probe_{probe}.json")
    return Benchmark(
        f"tang2013:probe-{probe}", "tang2013_mnist.py",
        ("--dataset", "mnist", "--heads", "svm", "--epochs", "100", "--print-every", "25",
         "--noise-schedule", "geometric", *extra, "--output", output[0]), output, guess,
        "guess", _MNIST)


#: In the order they run: the short ones first, numba's cache warm before the memory
#: measurement (which must not count the compiler), the long network runs last. Where a
#: script's default output is the file, the command leaves --output out, as the earlier
#: results files' commands did.
BENCHMARKS = (
    Benchmark("compare_digits:cold", "compare_digits.py",
              ("--output", "benchmarks/results/compare_digits_cold.json"),
              _results("compare_digits_cold.json"), 35,
              "guess: README's first-run figure", env={"NUMBA_CACHE_DIR": FRESH_FOLDER}),
    Benchmark("bench_fresh", "bench_fresh.py", (), _results("bench_fresh.json"), 60,
              "guess: 36 processes of about 1.7 s"),
    Benchmark("compare_digits", "compare_digits.py",
              ("--plot", "benchmarks/results/compare_digits.png"),
              _results("compare_digits.json", "compare_digits.png"), 25, "guess"),
    _backends("small_float32", "small", "float32", guess=50),
    _backends("small_float64", "small", "float64", guess=50),
    _backends("mnist_float32", "mnist", "float32", epochs=5, guess=105),
    _backends("mnist_float64", "mnist", "float64", epochs=3, guess=115),
    _backends("hidden64_float32", "mnist", "float32", epochs=5, hidden=(64,), guess=30),
    _backends("hidden128x2_float32", "mnist", "float32", epochs=5, hidden=(128, 128),
              guess=40),
    _backends("hidden256x2_float32", "mnist", "float32", epochs=5, hidden=(256, 256),
              guess=60),
    # The same on MNIST's width of input, 784 features (10,000 rows).
    *(_backends(f"pixels_hidden{width}_float32", "mnist", "float32", epochs=3,
                hidden=(width,), n_features=784, n_samples=10_000, guess=40)
      for width in (64, 256, 512)),
    Benchmark("bench_backends:linear", "bench_backends.py",
              ("--linear", "--repeats", "1", "--debian-rows", "5000", "--output",
               "benchmarks/results/bench_backends_linear.json"),
              _results("bench_backends_linear.json"), 420, "guess", _DEBIAN),
    _linear("dense", ["--datasets", "dense-binary", "dense-multiclass", "--fit-timeout",
                      "400"], "bench_linear_dense.json", 520, "guess",
            plot="bench_linear_dense.png"),
    _linear("dense-memory", ["--datasets", "dense-binary", "--estimators", "LinearSVC",
                             "SVMNet-f32"], "bench_linear_dense_memory.json", 25, "guess"),
    _linear("sparse", ["--datasets", "sparse", "--repeats", "5", "--fit-timeout", "300"],
            "bench_linear_sparse.json", 150, "guess"),
    _linear("fashion-mnist", ["--datasets", "fashion-mnist", "--fit-timeout", "400"],
            "bench_linear_fashion.json", 440, "guess", _FASHION),
    _linear("mnist", ["--datasets", "mnist", "--fit-timeout", "400"],
            "bench_linear_mnist.json", 270, "guess", _MNIST),
    _linear("debian", ["--datasets", "debian", "--fit-timeout", "400"],
            "bench_linear_debian.json", 60, "guess", _DEBIAN),
    _linear("debian-logistic", ["--datasets", "debian", "--estimators",
                                "LogisticRegression", "LogisticNet", "--warmup-rows",
                                "2000", "--fit-timeout", "1200"],
            "bench_linear_debian_logistic.json", 420, "guess", _DEBIAN),
    _linear("scaling", ["--scaling", "--fit-timeout", "400"], "bench_linear_scaling.json",
            190, "guess", plot="bench_linear_scaling.png"),
    # Every problem at once; the ones whose data are missing are skipped inside the run.
    # The guesses scale smoke runs at small sizes and bench_linear's pixel timings up;
    # LinearSVC on the standardised pixels and on `square` (max_iter) is most of them.
    Benchmark("bench_suite", "bench_suite.py",
              ("--plot", "benchmarks/results/bench_suite.png"),
              _results("bench_suite.json", "bench_suite.png"), 2100,
              "guess: smoke runs scaled up"),
    # The whole Debian task (48,550 rows) with the suite's rows, Snap ML's included:
    # the comparison of the logistic fits with Snap ML's, in one run.
    Benchmark("bench_suite:debian-full", "bench_suite.py",
              ("--problems", "debian", "--debian-rows", "0", "--repeats", "1",
               "--output", "benchmarks/results/bench_suite_debian_full.json"),
              _results("bench_suite_debian_full.json"), 600,
              "guess: bench_linear's Debian fits", _DEBIAN),
    Benchmark("bench_suite:grid", "bench_suite.py",
              ("--grid", "--plot", "benchmarks/results/bench_suite_grid.png"),
              _results("bench_suite_grid.json", "bench_suite_grid.png"), 1500,
              "guess: smoke runs scaled up"),
    # Problems drawn at random, which the auto rule was not written against; the
    # scikit-learn and sksvmnet rows only (the rule is the question, not the peers).
    # Seed 1's draw prompted changes and seed 2's ran too long for the sizes of then
    # (CHANGELOG.md), so the docs show seed 3's.
    Benchmark("bench_suite:drawn", "bench_suite.py",
              ("--drawn", "16", "--draw-seed", "3", "--estimators", "LinearSVC", "SVMNet",
               "LogisticRegression", "LogisticNet", "--plot",
               "benchmarks/results/bench_suite_drawn.png"),
              _results("bench_suite_drawn.json", "bench_suite_drawn.png"), 600,
              "guess"),
    # Choosing C: the CV estimators against GridSearchCV / LogisticRegressionCV.
    Benchmark("bench_cv", "bench_cv.py", ("--plot", "benchmarks/results/bench_cv.png"),
              _results("bench_cv.json", "bench_cv.png"), 2400,
              "guess: one fold's path and fits scaled up", _DEBIAN + _FASHION),
    # Three seeds of the pixel sets: one seed's accuracy moves by tenths of a point.
    Benchmark("bench_networks", "bench_networks.py", ("--seeds", "0", "1", "2"),
              _results("bench_networks.json"), 600,
              "guess: six MLPClassifier fits of about 30-90 s", _MNIST + _FASHION),
    # The network rows again, three times in turn (their timings swing between runs).
    Benchmark("bench_cv:network", "bench_cv.py",
              ("--tasks", "network", "--repeats", "3", "--output",
               "benchmarks/results/bench_cv_network.json"),
              _results("bench_cv_network.json"), 450, "guess: bench_cv's network rows",
              _FASHION),
    Benchmark("tang2013:mnist", "tang2013_mnist.py",
              ("--dataset", "mnist", "--seeds", "0", "1", "2", "3", "4", "--plot",
               "benchmarks/results/tang2013_mnist.png"),
              _results("tang2013_mnist.json", "tang2013_mnist.png"), 5400,
              "guess: the script's docstring, five seeds", _MNIST),
    Benchmark("tang2013:fashion-mnist", "tang2013_mnist.py",
              ("--dataset", "fashion-mnist", "--seeds", "0", "1", "2", "3", "4", "--plot",
               "benchmarks/results/tang2013_fashion-mnist.png"),
              _results("tang2013_fashion_mnist.json", "tang2013_fashion-mnist.png"), 5400,
              "guess: the MNIST run's", _FASHION),
    # The probes behind --scale none (docs/tang2013.md); A-D standardise the components.
    _probe("A", ("--scale", "unit"), 265),
    _probe("B", ("--scale", "unit", "--dropout", "0.2"), 280),
    _probe("C", ("--scale", "unit", "--input-noise", "0.5", "--input-noise-decay", "1"),
           160),
    _probe("D", ("--scale", "unit", "--dropout", "0.2", "--input-noise", "0.5",
                 "--input-noise-decay", "1"), 180),
    _probe("E", ("--scale", "none"), 155),
    # The noise schedules over all 400 epochs, judged on held-out training rows; "floor"
    # holds the linear one at the noise of the linear run's best validation epoch.
    *(Benchmark(f"tang2013:validation-{name}", "tang2013_mnist.py",
                ("--dataset", "mnist", "--heads", "svm", "--validation", "10000",
                 "--noise-schedule", schedule, *extra, "--print-every", "50", "--output",
                 f"benchmarks/results/tang2013_probes/validation_{name}.json"),
                _results(f"tang2013_probes/validation_{name}.json"), 650, "guess", _MNIST)
      for name, schedule, extra in (("geometric", "geometric", ()),
                                    ("linear", "linear", ()),
                                    ("floor", "linear", ("--noise-floor", "0.25")))),
)
BY_NAME = {benchmark.name: benchmark for benchmark in BENCHMARKS}


def estimate(benchmark):
    """(seconds, where the figure comes from): the last results file's own total, if any."""
    path = REPO / benchmark.outputs[0]
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
        if data.get("total_seconds") is not None:
            source = f"{path.name} of {data.get('date_utc', '?')[:10]}"
            command = benchmark.command.split("=<fresh temporary folder> ")[-1]
            if data.get("command") != command:
                source += ", made by another command"
            return data["total_seconds"], source
    return benchmark.guess_seconds, benchmark.guess_source


def missing_data(benchmark):
    """The data a benchmark needs and this machine lacks, as a list of paths."""
    return [str(options[0]) for options in benchmark.needs
            if not any(Path(path).exists() for path in options)]


def select(only, skip):
    """The benchmarks the selectors name, in the order of BENCHMARKS."""
    def matches(selector, name):
        if selector in BY_NAME:
            return name == selector
        return name.startswith(selector + ":") or fnmatch.fnmatchcase(name, selector)

    for selector in [*(only or []), *(skip or [])]:
        if not any(matches(selector, benchmark.name) for benchmark in BENCHMARKS):
            raise SystemExit(f"No benchmark matches {selector!r}; --list shows the names.")
    chosen = [benchmark for benchmark in BENCHMARKS
              if only is None or any(matches(s, benchmark.name) for s in only)]
    return [benchmark for benchmark in chosen
            if not any(matches(s, benchmark.name) for s in skip or [])]


def _minutes(seconds):
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def list_benchmarks(chosen):
    total = 0.0
    for benchmark in chosen:
        seconds, source = estimate(benchmark)
        total += seconds
        absent = missing_data(benchmark)
        print(f"{benchmark.name}\n    ~{_minutes(seconds)} ({source})"
              + (f"; MISSING DATA: {', '.join(absent)}" if absent else ""))
        print(f"    {benchmark.command}")
        print(f"    writes {', '.join(benchmark.outputs)}")
    print(f"\n{len(chosen)} benchmarks, about {_minutes(total)} in all, one at a time.")


def validate(chosen):
    """Parse every chosen command with its script's own parser, before anything runs.

    A long sequence should not fail at its twentieth benchmark on an option a script
    has since renamed. Returns the names whose arguments were refused.
    """
    import contextlib
    import importlib
    import io

    refused = []
    for benchmark in chosen:
        module = importlib.import_module(benchmark.script.removesuffix(".py"))
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                module.parse_args(list(benchmark.args))
        except SystemExit:
            refused.append(benchmark.name)
            print(f"{benchmark.name}: {benchmark.script} refuses its arguments:\n"
                  f"{errors.getvalue()}", file=sys.stderr)
    return refused


def run_one(benchmark, dry_run):
    """Run one benchmark; return (status, seconds)."""
    absent = missing_data(benchmark)
    if absent:
        print(f"skipped: missing {', '.join(absent)}", flush=True)
        return "skipped (no data)", 0.0
    env = dict(os.environ)
    fresh = []
    for key, value in benchmark.env.items():
        if value is FRESH_FOLDER:
            value = tempfile.mkdtemp(prefix=f"run_all_{key.lower()}_")
            fresh.append(value)
        env[key] = value
    command = [sys.executable, str(REPO / "benchmarks" / benchmark.script), *benchmark.args]
    if dry_run:
        print("would run: " + shlex.join(command), flush=True)
        return "dry run", 0.0
    started = time.perf_counter()
    try:
        code = subprocess.run(command, cwd=REPO, env=env).returncode
    finally:
        for folder in fresh:
            shutil.rmtree(folder, ignore_errors=True)
    seconds = time.perf_counter() - started
    return ("ok" if code == 0 else f"failed (exit {code})"), seconds


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Benchmarks: " + ", ".join(BY_NAME),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="SELECTOR",
                        help="run only these benchmarks (names, groups or patterns)")
    parser.add_argument("--skip", nargs="+", metavar="SELECTOR", default=[],
                        help="leave these out")
    parser.add_argument("--list", action="store_true",
                        help="list the selected benchmarks with their commands, expected "
                             "time and missing data; run nothing")
    parser.add_argument("--dry-run", action="store_true",
                        help="print each command instead of running it, then regenerate "
                             "the tables")
    parser.add_argument("--tables-only", action="store_true",
                        help="regenerate the docs' tables from the results files; run "
                             "nothing")
    parser.add_argument("--check", action="store_true",
                        help="run nothing, write nothing: exit 1 if a table in the docs "
                             "differs from what the results files give")
    parser.add_argument("--no-tables", action="store_true",
                        help="do not regenerate the tables after the runs")
    parser.add_argument("--pause", type=float, default=10.0,
                        help="seconds of rest between two benchmarks (default 10), for "
                             "the load of one to settle before the next")
    args = parser.parse_args(argv)
    if args.pause < 0:
        parser.error(f"--pause must be 0 or positive; got {args.pause}.")
    if args.tables_only and (args.only or args.skip):
        parser.error("--tables-only runs nothing; it takes no --only or --skip.")
    return args


def makers():
    return {output: benchmark.name for benchmark in BENCHMARKS
            for output in benchmark.outputs}


def tables(check=False):
    done = regenerate(DOCS, makers(), check=check)
    for doc, names in done.items():
        verb = "out of date" if check else "regenerated"
        print(f"{doc.relative_to(REPO)}: {verb}: {', '.join(names)}")
    return done


def main(argv=None):
    args = parse_args(argv)
    if args.check:
        sys.exit(1 if tables(check=True) else 0)
    if args.tables_only:
        tables()
        return
    chosen = select(args.only, args.skip)
    if args.list:
        list_benchmarks(chosen)
        return
    if validate(chosen):
        sys.exit(2)
    source = source_state()
    if source.get("dirty"):
        print("note: the tree has uncommitted changes; every results file will record "
              f"them: {', '.join(source['changed_files'])}", flush=True)
    outcomes = []
    for i, benchmark in enumerate(chosen):
        if i and args.pause and not args.dry_run:
            time.sleep(args.pause)
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S UTC")
        seconds, _ = estimate(benchmark)
        print(f"\n=== [{i + 1}/{len(chosen)}] {benchmark.name} ({now}, expected "
              f"~{_minutes(seconds)})\n    {benchmark.command}", flush=True)
        outcomes.append((benchmark, *run_one(benchmark, args.dry_run)))
    print("\n=== summary")
    for benchmark, status, seconds in outcomes:
        print(f"{benchmark.name:32} {status:20} {_minutes(seconds) if seconds else ''}")
    if not args.no_tables:
        print()
        tables()
    if any(status.startswith("failed") for _, status, _ in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
