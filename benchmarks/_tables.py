"""The docs' benchmark tables, made from the results files and nothing else.

A doc marks each generated table with ``<!-- table: NAME -->`` and ``<!-- /table -->``;
:func:`regenerate` replaces what lies between with ``TABLES[NAME]()``: the table, then
where its numbers come from (results file, commit, date, machine, threads, versions,
command). A field a results file does not hold is shown as not recorded, never filled
in from elsewhere; a results file that does not exist yet gives a line that says which
``run_all.py`` benchmark makes it.
"""

import functools
import json
import re
import statistics
import subprocess
from pathlib import Path

import numpy as np

from _common import REPO, RESULTS, THREAD_ENVIRONMENT

#: The docs whose tables are generated.
DOCS = (REPO / "docs" / "benchmarks.md", REPO / "docs" / "tang2013.md")
NOT_RECORDED = "n/r"
#: A marker is a line of its own; the same words inside a sentence are not one.
MARKER = re.compile(
    r"^(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)^(<!-- /table -->)$",
    re.DOTALL | re.MULTILINE)

#: The fit-time targets of the issues: (data set, row key) -> largest ratio to the
#: reference row's time.
TARGETS = {
    ("dense-binary", "SVMNet"): 0.1,
    ("dense-multiclass", "SVMNet"): 0.03,
    ("dense-binary", "SVMNet-hinge"): 0.1,
    ("dense-binary", "LogisticNet"): 0.3,
    ("dense-multiclass", "LogisticNet"): 0.3,
    ("sparse", "SVMNet"): 0.7,
    ("sparse", "LogisticNet"): 0.3,
    ("debian", "SVMNet"): 0.7,
    ("debian", "LogisticNet"): 0.3,
}
#: Peak total memory of the float32 fit over LinearSVC's, dense binary problem.
MEMORY_TARGET = 0.6
#: Test accuracies published by Fashion-MNIST's authors for scikit-learn classifiers (the
#: best setting of each in their benchmark table): not measured here.
FASHION_MNIST_AUTHORS = {
    "source": "https://github.com/zalandoresearch/fashion-mnist#benchmark",
    "rows": [('`SVC(kernel="rbf")`', 0.897), ("`MLPClassifier(hidden_layer_sizes=(100,))`",
                                              0.877),
             ("`LogisticRegression`", 0.842), ("`LinearSVC`", 0.836)],
}
#: Tang (2013), Table 2: MNIST test errors.
TANG_2013 = {"svm": 0.0087, "softmax": 0.0099}

# Set by regenerate(): results file (relative to the repository) -> run_all.py benchmark.
_MAKERS = {}


# ------------------------------------------------------------------- reading results


def _rel(path):
    return Path(path).resolve().relative_to(REPO).as_posix()


def load(name):
    """The results file ``benchmarks/results/<name>`` as a dict, or None if missing."""
    path = RESULTS / name
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    data["_path"] = _rel(path)
    return data


def _git(*args):
    done = subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _source(data):
    """Commit, changes on top of it and later package commits, in words."""
    source = data.get("source") or {}
    commit = source.get("commit")
    if commit is None:
        words = "commit not recorded"
        if not _git("status", "--porcelain", "--", data["_path"]):
            committed = _git("log", "-1", "--format=%h", "--", data["_path"])
            if committed:
                words += f" (the file was committed with `{committed}`)"
        return words
    words = f"commit `{commit[:7]}`"
    if "changed_files" in source:  # run_record()'s fields
        changed = source["changed_files"] or []
        package = [line.split(" ", 1)[-1] for line in changed
                   if line.split(" ", 1)[-1].startswith("sksvmnet/")]
        if package:
            words += " plus uncommitted changes to " + ", ".join(
                f"`{path}`" for path in package)
        elif changed:
            words += f" plus uncommitted changes outside `sksvmnet/` ({len(changed)} files)"
        else:
            words += ", clean tree"
    elif "uncommitted_package_files" in source:  # bench_linear's earlier record
        package = source["uncommitted_package_files"]
        words += (" plus uncommitted changes to " + ", ".join(f"`{p}`" for p in package)
                  if package else ", no uncommitted change to `sksvmnet/` (the rest of the "
                  "tree not recorded)")
    later = _git("rev-list", "--count", f"{commit}..HEAD", "--", "sksvmnet")
    if later is None:
        words += "; not in this repository's history"
    elif later == "1":
        words += "; 1 later commit changes `sksvmnet/`"
    elif later != "0":
        words += f"; {later} later commits change `sksvmnet/`"
    return words


def _machine(data):
    machine = data.get("machine") or {}
    cpu = machine.get("processor") or f"CPU model {NOT_RECORDED}"
    cores = machine.get("cpu_count")
    usable = machine.get("usable_cpus")
    words = f"{cpu}, {cores if cores is not None else NOT_RECORDED} cores"
    if usable is not None and usable != cores:
        words += f" ({usable} usable)"
    memory = machine.get("memory_bytes")
    words += (f", {memory / 2 ** 30:.1f} GiB" if memory else ", memory not recorded")
    if machine.get("python"):
        words += f", Python {machine['python']}"
    return words


def _threads(data):
    threads = data.get("threads")
    pools = (threads or {}).get("threadpools",
                                (data.get("machine") or {}).get("threadpools"))
    parts = []
    for pool in pools or []:
        # OpenMP pools are told apart by their library (libgomp, libiomp), BLAS by theirs.
        name = (pool.get("prefix") if pool.get("user_api") == "openmp" else
                pool.get("internal_api")) or pool.get("user_api")
        version = f" {pool['version']}" if pool.get("version") else ""
        parts.append(f"{name}{version} {pool.get('num_threads')}")
    words = ("BLAS/OpenMP: " + ", ".join(sorted(set(parts)))) if parts else \
        f"BLAS/OpenMP {NOT_RECORDED}"
    if threads is None:
        return words + "; numba threads and thread environment variables not recorded"
    numba = threads.get("numba")
    words += f"; numba {numba['num_threads']}" if numba else "; numba not imported"
    environment = threads.get("environment", {})
    set_ = [f"{name}={environment[name]}" for name in environment
            if environment.get(name) is not None]
    unset = [name for name in THREAD_ENVIRONMENT if environment.get(name) is None]
    if set_:
        words += "; " + ", ".join(set_)
    if unset:
        words += "; unset: " + ", ".join(unset)
    return words


def _settings_note(data):
    blas = (data.get("settings") or {}).get("blas_threads")
    if blas in (None, 0, "library default"):
        return ""
    return f" (the script held BLAS to {blas} thread{'s' if blas != 1 else ''} in its fits)"


def _versions(data):
    packages = (data.get("machine") or {}).get("packages") or {}
    shown = [f"{name} {version}" for name, version in packages.items()
             if version and name not in ("sksvmnet", "llvmlite", "jaxlib", "threadpoolctl")]
    return ", ".join(shown) if shown else f"versions {NOT_RECORDED}"


def provenance(data, tag=None):
    """One paragraph: which file, commit, date, machine, threads, versions and command."""
    label = f"<sup>{tag}</sup> " if tag else ""
    date = (data.get("date_utc") or NOT_RECORDED).replace("T", " ").replace(
        "+00:00", " UTC")
    total = data.get("total_seconds")
    took = f", {total:.0f} s in all" if total is not None else ""
    load_before = data.get("load_average_before")
    load_after = data.get("load_average_after")
    load = (f"; load average {load_before[0]} before, {load_after[0]} after"
            if load_before and load_after else "")
    return (f"{label}Source: `{data['_path']}`, {_source(data)}; {date}{took}{load}. "
            f"Machine: {_machine(data)}. Threads: {_threads(data)}{_settings_note(data)}. "
            f"Versions: {_versions(data)}. Command: `{data.get('command', NOT_RECORDED)}`.")


def missing(name):
    maker = _MAKERS.get(f"benchmarks/results/{name}")
    how = (f"`python benchmarks/run_all.py --only {maker}` makes it" if maker
           else "no run_all.py benchmark makes it")
    return f"Not measured yet: `benchmarks/results/{name}` does not exist; {how}."


def markdown(header, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _tags(sources):
    """Tag each distinct file with a letter when a table draws on more than one."""
    distinct = list(dict.fromkeys(id(data) for data in sources if data is not None))
    if len(distinct) < 2:
        return {key: None for key in distinct}
    return {key: "abcdefghij"[i] for i, key in enumerate(distinct)}


def _footer(sources, tags):
    seen, lines = set(), []
    for data in sources:
        if data is None or id(data) in seen:
            continue
        seen.add(id(data))
        lines.append(provenance(data, tags.get(id(data))))
    return "\n\n".join(lines)


def _sup(tags, data):
    tag = tags.get(id(data))
    return f"<sup>{tag}</sup>" if tag else ""


# --------------------------------------------------------------------- number format


def _num(value, spec):
    return NOT_RECORDED if value is None else format(value, spec)


def _seconds(value):
    if value is None:
        return NOT_RECORDED
    if value >= 100:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _ratio(value, bold=False):
    if value is None:
        return ""
    text = f"{value:.3f}×" if value < 0.1 else f"{value:.2f}×"
    return f"**{text}**" if bold else text


def _signed(text):
    return text.replace("-", "−") if text.startswith("-") else text


def _exponent(value, spec):
    """``value`` in ``spec`` (an ``e`` format), the exponent without padding: 4.1e-3."""
    mantissa, exponent = format(value, spec).split("e")
    return f"{mantissa}e{int(exponent)}"


def _gap(value):
    """A relative objective gap: percent from 1%, else mantissa and exponent."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    if abs(value) >= 1e-2:
        return _signed(f"{100 * value:+.1f}%")
    return _signed(_exponent(value, "+.1e"))


def _target(ratio, limit):
    if limit is None or ratio is None:
        return ""
    return f"≤ {limit:g}× — {'met' if ratio <= limit else '**missed**'}"


# ------------------------------------------------------------------ compare_digits


def _digits_name(row, settings):
    name, params = row["estimator"], row.get("params", {})
    if name.startswith("MLPClassifier"):
        alpha = float(params.get("alpha", "nan"))
        return (f"`MLPClassifier({tuple(settings.get('hidden_layer_sizes', []))}, "
                f"alpha={alpha:.3g}, max_iter={settings.get('epochs')})`")
    if "(" in name and row.get("problem"):  # a linear row named with its parameters
        return f"`{name}`"
    if "(" in name:
        base = name.split("(")[0]
        hidden = tuple(settings.get("hidden_layer_sizes", []))
        return f"`{base}({hidden}, max_iter={settings.get('epochs')})`"
    if params.get("max_iter") not in (None, "100", "1000") or name.startswith("Logistic"):
        return f"`{name}(max_iter={params.get('max_iter')})`"
    return f"`{name}()`"


def _digits_gap(row):
    if "objective_gap_vs_optimum" in row:
        return _gap(row["objective_gap_vs_optimum"])
    if "problem" in row or "(" in row["estimator"]:  # a network: no objective computed
        return ""
    return NOT_RECORDED  # a linear row of a file made before objectives were recorded


def table_digits():
    data = load("compare_digits.json")
    if data is None:
        return missing("compare_digits.json")
    settings = data.get("settings", {})
    repeats = settings.get("repeats", NOT_RECORDED)
    header = ["estimator", "compared with", "solver", "test accuracy",
              f"fit (s), median of {repeats}", "warm-up (s)", "vs sklearn", "iterations",
              "objective above the optimum"]
    rows, notes = [], []
    for row in data["results"]:
        warned = bool(row.get("convergence_warnings"))
        if warned:
            message = row["convergence_warnings"][0].rstrip(".")
            notes.append(f"{row['estimator']}: {message}")
        rows.append([
            _digits_name(row, settings) + (" \\*" if warned else ""),
            (f"`{row['reference'] if row.get('problem') else row['reference'].split('(')[0]}`"
             if row.get("reference") else ""),
            ((f"`{row['solver']}`" if row.get("solver") else NOT_RECORDED)
             if row["estimator"].startswith(("SVMNet", "LogisticNet")) else ""),
            f"{row['test_accuracy']:.4f}",
            f"{row['fit_seconds_median']:.3f}",
            f"{row['warmup_seconds']:.3f}",
            _ratio(row.get("fit_time_ratio")),
            _num(row.get("n_iter"), "d"),
            _digits_gap(row),
        ])
    text = markdown(header, rows, ["---", "---", "---"] + ["---:"] * 6)
    legend = ["Solver: the fitted `solver_`, what sksvmnet ran. "
              "Iterations: `n_iter_` of the last measured fit (epochs for the networks). "
              "Objective above the optimum: (J − J\\*) / J\\* of the primal objective on "
              "the "
              "standardised training data, J\\* the lowest of the rows and of an untimed "
              "fit at `tol=1e-10` (LinearSVC / LogisticRegression; for the squared-hinge "
              "Crammer–Singer machine, which scikit-learn lacks, SVMNetClassifier's dual "
              "stopped by its certified duality gap)."]
    optima = data.get("optima")
    if optima:
        legend.append("J\\*: " + "; ".join(
            f"{problem} {optimum['objective']:.6f}" for problem, optimum in optima.items())
            + ".")
    if any(NOT_RECORDED in row for row in rows):
        legend.append(f"{NOT_RECORDED}: not recorded in this results file.")
    if notes:
        legend.append("\\* Stopped with a ConvergenceWarning: " + "; ".join(
            dict.fromkeys(notes)) + ".")
    return "\n\n".join([text, " ".join(legend), provenance(data)])


def table_digits_cold():
    data = load("compare_digits_cold.json")
    if data is None:
        return missing("compare_digits_cold.json")
    settings = data.get("settings", {})
    rows = [[_digits_name(row, settings), f"{row['warmup_seconds']:.3f}",
             f"{row['fit_seconds_median']:.3f}"] for row in data["results"]]
    rows.append(["the whole script", _seconds(data.get("total_seconds")), ""])
    text = markdown(["estimator", "first fit, empty numba cache (s)",
                     "later fits, median (s)"], rows)
    return "\n\n".join([text, provenance(data)])


def table_fresh():
    data = load("bench_fresh.json")
    if data is None:
        return missing("bench_fresh.json")
    rows = [[f"`{row['estimator']}`", f"{row['wall_seconds_median']:.2f}",
             f"{row['import_seconds_median']:.2f}", f"{row['fit_seconds_median']:.2f}",
             f"{row['max_rss_mib_median']:.0f}",
             f"{row['wall_ratio']:.2f}x" if row.get("wall_ratio") else "",
             "yes" if row.get("jax_imported") else "no"] for row in data["results"]]
    text = markdown(["estimator", "process wall (s)", "imports (s)", "load + fit (s)",
                     "peak RSS (MiB)", "wall / scikit-learn's", "JAX imported"], rows)
    legend = (f"Medians of {data['settings']['repeats']} rounds; each row is a new "
              "`python -c` process that imports the estimator and fits "
              "`Pipeline(StandardScaler(), estimator)` on digits once, numba's cache warm.")
    return "\n\n".join([text, legend, provenance(data)])


def table_backends_linear():
    data = load("bench_backends_linear.json")
    if data is None:
        return missing("bench_backends_linear.json")
    by = {}
    for row in data["results"]:
        by.setdefault((row["problem"], row["estimator"]), {})[row["backend"]] = row
    rows = []
    for (problem, family), fits in by.items():
        numba, jax = fits.get("numba"), fits.get("jax")
        cells = [problem, f"`{family}Classifier()`"]
        for fit in (numba, jax):
            cells += (["", ""] if fit is None else
                      [f"{fit['solver']}", _seconds(fit["fit_seconds_median"])])
        gap = jax.get("objective_vs_numba") if jax else None
        cells += [_ratio(jax["vs_numba"]) if jax and jax.get("vs_numba") else "",
                  "" if gap is None else f"{gap:+.1e}",
                  jax["device"] if jax else ""]
        rows.append(cells)
    text = markdown(["problem", "estimator", "numba solver", "numba fit (s)",
                     "JAX solver", "JAX fit (s)", "JAX / numba", "JAX objective vs numba",
                     "JAX device"], rows)
    problems = {row["problem"]: row["data"] for row in data["results"]}
    repeats = data["settings"]["repeats"]
    legend = ("Defaults (`solver=\"auto\"`): each backend runs the solvers the table gives "
              "it (JAX has no coordinate descent). Fit: "
              + ("one fit" if repeats == 1 else f"median of {repeats} fits")
              + " after an untimed warm-up fit "
              "(compilation, caches). Objective vs numba: the relative difference of the "
              "fitted objectives. " + "; ".join(f"{name}: {text}"
                                                 for name, text in problems.items()) + ".")
    return "\n\n".join([text, legend, provenance(data)])


#: Why a target of the CV issue is missed, where it is (the figures are in the table).
#: Each task's reason reads its figures from the task's rows, the reference and the CV
#: estimator first (:func:`_cv_svm_reason`, :func:`_cv_logistic_reason`,
#: :func:`_cv_network_reason`).
SVM_MAX_ITER, LOGISTIC_MAX_ITER = 1000, 100  # the estimators' default max_iter


def _c(C):
    """A C for prose: 0.36, 21.5, 1,292, 10,000."""
    return f"{C:,.0f}" if C >= 1000 else f"{C:.3g}"


def _cs(Cs, columns):
    """``C = a``, ``C = a and b`` or ``C = a, b and c`` for the Cs at ``columns``."""
    named = [_c(Cs[j]) for j in columns]
    return "C = " + (named[0] if len(named) == 1 else
                     ", ".join(named[:-1]) + " and " + named[-1])


def _small(x):
    """4.1e-3 rather than 4.1e-03."""
    return _exponent(x, ".1e")


def _span(values):
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def _sentences(parts):
    """``parts`` as sentences: each after the first capitalised (the first follows the
    legend's ``task:``)."""
    return ". ".join(part if i == 0 else part[0].upper() + part[1:]
                     for i, part in enumerate(parts))


def _common_Cs(reference, ours):
    """The Cs of two rows of a CV task, which must be the same."""
    Cs = ours["Cs"]
    if not np.allclose(Cs, reference["Cs"]):
        raise ValueError(f"the two rows have other Cs: {Cs} and {reference['Cs']}")
    return Cs


def _path_columns(reference, ours, max_iter):
    """``(Cs, n_iter, capped, done)``: the Cs, ours' iterations (folds x Cs), the Cs at
    which every fold ran ``max_iter`` and those at which none did."""
    Cs, n_iter = _common_Cs(reference, ours), np.asarray(ours["n_iter"])
    capped = [j for j in range(len(Cs)) if np.all(n_iter[:, j] >= max_iter)]
    done = [j for j in range(len(Cs)) if np.all(n_iter[:, j] < max_iter)]
    return Cs, n_iter, capped, done


def _cv_svm_reason(reference, ours, *_):
    """Where the SVM's path spends its epochs, and how its mean fold scores compare with
    the search's at the Cs where every fold converged and where none did."""
    Cs, n_iter, capped, done = _path_columns(reference, ours, SVM_MAX_ITER)
    difference = np.abs(np.subtract(ours["mean_scores"], reference["mean_scores"]))
    sentences = []
    seconds = reference.get("mean_fit_seconds")
    if seconds and capped:
        share = sum(seconds[j] for j in capped) / sum(seconds)
        sentences.append(f"GridSearchCV spent {share:.0%} of its fit time at "
                         f"{_cs(Cs, capped)}")
    if done:
        last = done[-1]
        sentences.append(f"dual coordinate descent needs {_span(n_iter[:, last].tolist())}"
                         f" epochs at {_cs(Cs, [last])}")
    if capped:
        sentences.append(
            f"at {_cs(Cs, capped)} every fold stops unconverged at max_iter="
            f"{SVM_MAX_ITER} (also LinearSVC's default), and starting from the last C's "
            "dual variables does not shorten that (the dual is so ill-conditioned there "
            "that a near start still takes the full run), so the gain is the cheaper "
            "epoch and the shared setup, not fewer epochs")
    if done:
        largest = difference[done].max()
        sentences.append(
            "the mean fold scores " + ("equal GridSearchCV's" if largest == 0 else
                                       f"differ from GridSearchCV's by at most "
                                       f"{_small(largest)}")
            + " at the Cs where every fold converged")
    if capped:
        sentences.append(
            f"at those where none did they differ by up to "
            f"{_small(difference[capped].max())}: there our models stopped short of "
            f"their optimum after {SVM_MAX_ITER:,} epochs, from the last C's duals "
            "where a separate fit starts from zero")
    return _sentences(sentences) or "the table has the figures"


def _cv_logistic_reason(reference, ours, *_):
    """What LogisticNetClassifierCV's path spends its iterations on, against
    LogisticRegressionCV's early stops."""
    Cs, n_iter, capped, _ = _path_columns(reference, ours, LOGISTIC_MAX_ITER)
    theirs = np.asarray(reference["n_iter"]).reshape(-1, len(Cs))
    sentences = []
    if ours["ratio"] > ours["target"]:
        sentences.append(f"the ratio is past the target by "
                         f"{100 * (ours['ratio'] / ours['target'] - 1):.1f}%")
    behind = max(reference["mean_scores"]) - max(ours["mean_scores"])
    if behind > 0:
        sentences.append(f"the best mean score is {_small(behind)} below "
                         "LogisticRegressionCV's")
    if capped:
        first = capped[0]
        text = (f"at {_cs(Cs, capped)} every fold's fit runs the full "
                f"max_iter={LOGISTIC_MAX_ITER} iterations without meeting its tests")
        if first > 0:
            text += (f"; below them the Cs train in "
                     f"{_span(n_iter[:, :first].ravel().tolist())} iterations or epochs")
        text += (". LogisticRegressionCV's lbfgs stops on its gradient test after "
                 f"{_span(theirs[:, first].tolist())} iterations at {_cs(Cs, [first])}")
        stopped = [j for j in capped if np.all(theirs[:, j] == 0)]
        if stopped:
            text += (f" and after none at {_cs(Cs, stopped)}: its models there are the "
                     "last C's, so its scores stop changing")
        sentences.append(text)
        best = int(np.argmax(ours["mean_scores"]))
        if ours["mean_scores"][best] > max(reference["mean_scores"]):
            sentences.append(f"ours go on to a higher best mean score, at "
                             f"{_cs(Cs, [best])}")
    return _sentences(sentences) or "the table has the figures"


def _cv_network_reason(reference, ours, *others):
    """Why the vectorised network grid gains little on the CPU, with the run's figures:
    its ratio, the same search on numba's, and how its fold scores compare."""
    sentences = [
        "backend='auto' trains this network with JAX on the CPU, in float32 "
        "(dtype='auto'), the separate fits of the default search as much as the CV "
        "estimator, whose Cs of a fold train in one program per epoch, vectorised over "
        f"C: {ours['ratio']:.2f}x. On two CPU cores the epoch is bound by its "
        "multiply-adds, which batching the Cs does not reduce (it shares each "
        "minibatch's gather and makes the first layer's products one)"]
    numba = {row["method"].split("(")[0]: row for row in others
             if "backend='numba'" in row["method"]}
    if "GridSearchCV" in numba:
        search = numba["GridSearchCV"]["seconds"]
        text = (f"against the same search on numba, the JAX CV estimator took "
                f"{ours['seconds'] / search:.2f}x")
        if "SVMNetClassifierCV" in numba:
            text += (f", the numba CV estimator (one C after another) "
                     f"{numba['SVMNetClassifierCV']['seconds'] / search:.2f}x")
        sentences.append(text)
    Cs = _common_Cs(reference, ours)
    theirs, mine = np.asarray(reference["mean_scores"]), np.asarray(ours["mean_scores"])

    def best(scores):  # (every C that ties for the best mean score)
        return np.flatnonzero(np.isclose(scores, scores.max(), rtol=0.0, atol=1e-12))

    sentences.append(
        "in float32 the vectorised program's sums round otherwise than the separate "
        "fits', and the mean fold scores differ by up to "
        f"{_small(float(np.abs(mine - theirs).max()))}: the default search's best is "
        f"{theirs.max():.4f} at {_cs(Cs, best(theirs))}, the CV "
        f"estimator's {mine.max():.4f} at {_cs(Cs, best(mine))}")
    sentences.append("a GPU, where the separate fits' small products leave the device "
                     "idle, is where one program should pay")
    return _sentences(sentences)


CV_REASONS = {
    "svm": _cv_svm_reason,
    "logistic": _cv_logistic_reason,
    "network": _cv_network_reason,
}


def table_cv():
    data = load("bench_cv.json")
    if data is None:
        return missing("bench_cv.json")
    # The network rows of bench_cv:network (repeated runs) replace one run's, where made.
    network = load("bench_cv_network.json")
    entries = [(row, data) for row in data["results"]
               if network is None or row["task"] != "network"]
    if network is not None:
        entries += [(row, network) for row in network["results"]]
    tags = _tags([source for _, source in entries])
    rows = []
    for row, source in entries:
        ratio = row.get("ratio")
        times = row.get("seconds_all", [])
        rows.append([
            row["task"] + _sup(tags, source), f"`{row['method']}`",
            _seconds(row["seconds"]) + (f" (median of {len(times)}: "
                                        + ", ".join(_seconds(t) for t in times) + ")"
                                        if len(times) > 1 else ""),
            "" if ratio is None else _ratio(ratio, bold=row.get("target_met", False)),
            "" if ratio is None else (f"≤ {row['target']:g}× — "
                                      + ("met" if row["target_met"] else "**missed**")),
            f"{row['C']:.3g}", f"{max(row['mean_scores']):.4f}"])
    text = markdown(["task", "method", "fit (s)", "ratio", "target", "chosen C",
                     "best mean CV score"], rows)
    settings = data["settings"]
    parts = []
    shapes = {**data["data"], **(network["data"] if network else {})}
    if "debian" in shapes:
        shape = shapes["debian"]
        parts.append(
            f"Debian: {shape['shape'][0]:,} training rows x {shape['shape'][1]:,} TF-IDF "
            f"features, {shape['classes']} classes; `Cs = np.logspace(-4, 4, "
            f"{settings['cs']})`, `StratifiedKFold({settings['folds']}, shuffle=True, "
            "random_state=0)`")
    if "fashion-mnist" in shapes:
        net = (network or data)["settings"]
        parts.append(
            f"Fashion-MNIST: the first {shapes['fashion-mnist']['shape'][0]:,} training "
            f"rows, a 784-{net['hidden']}-10 network, {net['epochs']} epochs, "
            f"`Cs = np.logspace(-2, 5, {net['network_cs']})`, "
            f"{net['network_folds']} folds, the same `random_state` for every fit")
    missed = []
    for task, reason in CV_REASONS.items():
        rows_of = [row for row, _ in entries if row["task"] == task]
        if any(row.get("target_met") is False for row in rows_of):
            missed.append(f"{task}: " + reason(*rows_of))
    legend = ("Fit: one `fit` call, the refit included (none for the network rows). "
              "Ratio: the CV estimator's time over its task's first row, the search "
              "people run today. "
              + "; ".join(parts) + ".")
    if missed:
        legend += " Where a target is missed, what stands in the way: " + "; ".join(
            missed) + "."
    return "\n\n".join([text, legend, _footer([source for _, source in entries], tags)])


#: Why a target of the speed issue is missed, where it is (the measured figures are in
#: the table; this says what stands in the way).
SPEED_REASONS = {
    "suite: LogisticNet time, digits": (
        "LogisticRegression's lbfgs stops on its gradient test far above the optimum; "
        "ours also waits for the predicted decrease, and ends lower by the gap shown"),
    "suite: LogisticNet time, square": (
        "LogisticRegression's lbfgs stops on its gradient test after a few iterations, "
        "far above the optimum (the gap shown); ours runs on to the lower objective"),
    "suite: LogisticNet time, wide": (
        "on separable n < d data lbfgs's gradient test stops early; subspace descent "
        "runs on to a much lower objective (the gap shown)"),
    "standardised dense binary 60k × 200: LogisticNet": (
        "ours is a few preconditioned L-BFGS iterations, each one pass over X, plus a "
        "curvature from 10,000 rows for the preconditioner, with BLAS held to one "
        "thread; LogisticRegression multiplies by BLAS on two. The same fits were "
        "0.42× in the suite's run on an AMD EPYC "
        "(`6fb9fb7:benchmarks/results/bench_suite.json`); the ratio moves with the "
        "machine (CHANGELOG.md)"),
    "Debian, full: SVMNet / LinearSVC": (
        "the one-vs-rest dual runs liblinear's algorithm per class; ours gains by the "
        "duality-gap stop and two threads, not by fewer passes over the rows: the "
        "sweeps, the gap checks and the updates each still read X several times per "
        "class (CHANGELOG.md, issue 15, has the probes; asking for rows ahead of the "
        "random sweep no longer gains here). An epoch over all classes at once, each "
        "row read once, was slower on one core: the weights of all classes leave the "
        "cache that one class's stay in"),
    "GridSearchCV(n_jobs=2), Debian: SVMNet / LinearSVC": (
        "each worker has one core, so the two-thread advantage of the single fit is "
        "gone, and the rows of a fold stay in the cache, where asking for rows ahead "
        "gains nothing (and is not done); most of the time is C = 10 and 100 (the "
        "per-C fit times of the results file). liblinear's primal trust-region Newton "
        "(LinearSVC(dual=False)) was slower than its dual there at every C tried "
        "(CHANGELOG.md, issue 15)"),
    "Debian, full: LogisticNet / Snap ML's LogisticRegression": (
        "Snap ML fits 58 one-vs-rest models (a different, easier problem; its "
        "objective on the multinomial one is higher by the gap shown); the multinomial "
        "fit by the dual of the softmax (`dcd_log`) solves the harder "
        "one"),
}


def _row(data, problem, key):
    for report in data.get("problems", []):
        if report["problem"] == problem:
            for row in report.get("results", []):
                if row["key"] == key:
                    return row
    return None


def _ratio_line(name, value, target, extra=""):
    met = value is not None and value <= target
    shown = NOT_RECORDED if value is None else f"{value:.2f}×"
    return [name, f"≤ {target:g}×", shown + extra, "yes" if met else "no",
            "" if met else SPEED_REASONS.get(name, "")]


def table_speed_targets():
    """Every measured target of the speed issue (issue 15), met or not, with the reason
    where it is not; made from the results files it names."""
    suite = load("bench_suite.json")
    full = load("bench_suite_debian_full.json")
    grid = load("bench_suite_grid.json")
    fresh = load("bench_fresh.json")
    debian = load("bench_linear_debian.json")
    logistic = load("bench_linear_debian_logistic.json")
    dense = load("bench_linear_dense.json")
    rows, sources = [], []
    if suite:
        sources.append(suite)
        for key in ("SVMNet", "LogisticNet"):
            summary = suite["summary"][key]
            rows.append(_ratio_line(f"suite: {key} geometric mean",
                                    summary["geomean_ratio"],
                                    summary["geomean_target"]))
            rows.append([f"suite: {key} time targets", "every problem",
                         f"{summary['time_targets_met']} of {summary['problems']}",
                         "yes" if summary["time_targets_met"] == summary["problems"]
                         else "no", ""])
            rows.append([f"suite: {key} objective ≤ reference's + 1e-6",
                         "every problem",
                         f"{summary['objective_targets_met']} of "
                         f"{summary['objective_targets_judged']}",
                         "yes" if summary["objective_targets_met"]
                         == summary["objective_targets_judged"] else "no", ""])
            for report in suite["problems"]:
                row = _row(suite, report["problem"], key)
                if row and row.get("time_target_met") is False:
                    name = f"suite: {key} time, {report['problem']}"
                    gap = row.get("objective_gap_vs_reference")
                    rows.append(_ratio_line(name, row["fit_time_ratio"], 1.0,
                                            f" (gap {gap:+.1e})" if gap is not None
                                            else ""))
        row = _row(suite, "tall-binary", "LogisticNet")
        if row:
            rows.append(_ratio_line("standardised dense binary 60k × 200: LogisticNet",
                                    row["fit_time_ratio"], 0.5))
    if grid:
        sources.append(grid)
        row = _row(grid, "debian", "SVMNet")
        rows.append(_ratio_line("GridSearchCV(n_jobs=2), Debian: SVMNet / LinearSVC",
                                row and row["fit_time_ratio"], 0.5))
    if full:
        sources.append(full)
        row = _row(full, "debian", "SVMNet")
        rows.append(_ratio_line("Debian, full: SVMNet / LinearSVC",
                                row and row["fit_time_ratio"], 0.3))
        ours, snap = _row(full, "debian", "LogisticNet"), _row(full, "debian", "snapml-LR")
        if ours and snap:
            reference = _row(full, "debian", "LogisticRegression")
            snap_gap = ((snap["objective"] - reference["objective"])
                        / abs(reference["objective"]))
            rows.append(_ratio_line(
                "Debian, full: LogisticNet / Snap ML's LogisticRegression",
                ours["fit_seconds_median"] / snap["fit_seconds_median"], 1.0,
                f" (ours {ours['objective_gap_vs_reference']:+.1e}, Snap ML "
                f"{snap_gap:+.1e} from LogisticRegression's objective)"))
    if fresh:
        sources.append(fresh)
        for row in fresh["results"]:
            if row.get("wall_ratio") is not None:
                rows.append(_ratio_line(
                    f"fresh process, digits: {row['key']} / {row['reference']} wall",
                    row["wall_ratio"], 1.3))
    for data, label in ((debian, "Debian, full"), (logistic, "Debian, full"),
                        (dense, None)):
        if not data:
            continue
        sources.append(data)
        for dataset in data["datasets"]:
            X = dataset["data"]
            half_x = (None if X["sparse"] else
                      X["n_train"] * X["n_features"] * 8 / 2 ** 20 / 2)
            results = {row["key"]: row for row in dataset["results"]}
            for key in ("SVMNet", "LogisticNet"):
                row = results.get(key)
                if not row or not row.get("reference") in results:
                    continue
                ours = row.get("peak_extra_mib_median")
                theirs = results[row["reference"]].get("peak_extra_mib_median")
                if ours is None or theirs is None:
                    continue
                allowed = max(theirs, half_x or 0.0)
                name = (f"{label or dataset['dataset']}: {key} peak extra memory / "
                        f"{row['reference']}'s")
                rows.append([name, "≤ 1.0× (or half of X)",
                             f"{ours:.0f} / {theirs:.0f} MiB"
                             + (f" (half of X: {half_x:.0f})" if half_x else ""),
                             "yes" if ours <= allowed else "no", ""])
    if not rows:
        return missing("bench_suite.json")
    text = markdown(["target", "bound", "measured", "met", "why not"], rows,
                    align=["---", "---", "---:", "---", "---"])
    return "\n\n".join([text] + [provenance(data) for data in sources])


# ------------------------------------------------------------------ bench_backends

CONTENDER_NAMES = {
    "numba": "sksvmnet, numba `epoch`",
    "jax": "sksvmnet, JAX `epoch`",
    "numba-fit": "`SVMNetClassifier` fit, numba",
    "jax-fit": "`SVMNetClassifier` fit, JAX",
    "mlp": "`MLPClassifier`",
    "torch": "PyTorch loop",
    "numba-ftz": "numba `epoch`, flush-to-zero",
}


def _by_contender(data):
    return {row["contender"]: row for row in data["results"]} if data else {}


def _first_epoch(row):
    if row is None or row.get("warmup_seconds") is None:
        return ""
    setup = row.get("setup_seconds")
    extra = f" (+{setup:.2f} setup)" if setup and setup >= 0.5 else ""
    return f"{_seconds(row['warmup_seconds'])}{extra}"


def _percent_of_peak(value):
    return f"{value:.0f}%" if value >= 10 else f"{value:.1f}%"


def _backends_pair(files, unit):
    datas = [load(name) for name in files]
    present = [data for data in datas if data is not None]
    if not present:
        return " ".join(missing(name) for name in files)
    scale, digits = (1000, ".1f") if unit == "ms" else (1, ".2f")
    header = ["contender"]
    for data, name in zip(datas, files):
        dtype = data["data"]["dtype"] if data else name
        header += [f"{dtype} first epoch (s)", f"{dtype} epoch ({unit})",
                   f"{dtype} % of peak", f"{dtype} vs `MLPClassifier`"]
    rows = []
    for contender, label in CONTENDER_NAMES.items():
        cells, found = [label], False
        for data in datas:
            by = _by_contender(data)
            row, mlp = by.get(contender), by.get("mlp")
            if row is None:
                cells += ["not run" if data else ""] + [""] * 3
                continue
            found = True
            if contender == "jax-fit" and row.get("jax_traces_during_fit") is not None:
                cells[0] = f"{label} ({row['jax_traces_during_fit']} recompilations)"
            ratio = (row["epoch_seconds_median"] / mlp["epoch_seconds_median"]
                     if mlp and contender != "mlp" else None)
            epoch = format(scale * row["epoch_seconds_median"], digits)
            cells += [_first_epoch(row), epoch,
                      _percent_of_peak(row["percent_of_peak"]), _ratio(ratio)]
        if found:
            rows.append(cells)
    peaks = []
    for data in present:
        numpy_peak = data.get("matmul_peak_gflops", {}).get("numpy", {})
        peaks.append(f"{data['data']['dtype']} run: float32 "
                     f"{numpy_peak.get('float32', 0):.0f}, float64 "
                     f"{numpy_peak.get('float64', 0):.0f} GFLOP/s")
    shape = present[0]["data"]
    legend = (f"{'-'.join(map(str, shape['layer_sizes']))} ReLU network, "
              f"{shape['n_samples']:,} rows, head {shape['head']} ({shape['loss']}), Adam, "
              f"batch {shape['batch_size']}; epoch: median of "
              + " and ".join(dict.fromkeys(str(data["settings"]["epochs"])
                                           for data in present))
              + " measured epochs. % of peak: against numpy's matrix-multiply peak "
              "measured in the same run (2048², best of a few): " + "; ".join(peaks) + ".")
    return "\n\n".join([markdown(header, rows), legend,
                        "\n\n".join(provenance(data) for data in present)])


def table_backends_mnist():
    return _backends_pair(["bench_backends_mnist_float32.json",
                           "bench_backends_mnist_float64.json"], "s")


def table_backends_small():
    return _backends_pair(["bench_backends_small_float32.json",
                           "bench_backends_small_float64.json"], "ms")


#: The network sizes behind the backend="auto" rule on the CPU (float32; the rows and
#: features are each file's).
HIDDEN_SWEEP = ("bench_backends_small_float32.json", "bench_backends_hidden64_float32.json",
                "bench_backends_pixels_hidden64_float32.json",
                "bench_backends_hidden128x2_float32.json",
                "bench_backends_pixels_hidden256_float32.json",
                "bench_backends_hidden256x2_float32.json",
                "bench_backends_pixels_hidden512_float32.json",
                "bench_backends_mnist_float32.json")


def table_backends_hidden():
    try:
        from sksvmnet.backends import JAX_CPU_MIN_WIDTH, JAX_CPU_MIN_WORK, jax_suits_cpu
    except ImportError:
        JAX_CPU_MIN_WIDTH = JAX_CPU_MIN_WORK = jax_suits_cpu = None
    datas = [load(name) for name in HIDDEN_SWEEP]
    tags = _tags(datas)
    rows, absent = [], []
    for name, data in zip(HIDDEN_SWEEP, datas):
        if data is None:
            absent.append(missing(name))
            continue
        by = _by_contender(data)
        numba, jax = by.get("numba"), by.get("jax")
        work = data["data"]["flops_per_epoch"] / 6
        start = (None if not (numba and jax) else
                 (jax["setup_seconds"] + jax["warmup_seconds"])
                 - (numba["setup_seconds"] + numba["warmup_seconds"]))
        picks = ("" if jax_suits_cpu is None else
                 "JAX" if jax_suits_cpu(data["data"]["n_samples"],
                                        data["data"]["layer_sizes"]) else "numba")
        rows.append([
            f"{'-'.join(map(str, data['data']['layer_sizes']))}{_sup(tags, data)}",
            f"{data['data']['n_samples']:,}", f"{work:.1e}",
            _num(numba and numba["epoch_seconds_median"], ".4f"),
            _num(jax and jax["epoch_seconds_median"], ".4f"),
            _ratio(jax["epoch_seconds_median"] / numba["epoch_seconds_median"])
            if numba and jax else "",
            _num(start, "+.2f"), picks])
    parts = []
    if rows:
        parts.append(markdown(["network", "rows", "multiply-adds per epoch",
                               "numba epoch (s)", "JAX epoch (s)", "JAX / numba",
                               "JAX's extra start (s)", "`backend=\"auto\"` on the CPU"],
                              rows))
        parts.append("Multiply-adds per epoch: `n_samples × Σ fan_in·fan_out`, what "
                     "`JAX_CPU_MIN_WORK` is compared with"
                     + (f" (now {JAX_CPU_MIN_WORK:.0e}, with a widest hidden layer of at "
                        f"least `JAX_CPU_MIN_WIDTH` = {JAX_CPU_MIN_WIDTH} units)"
                        if JAX_CPU_MIN_WORK else "")
                     + ". JAX's extra start: its import, setup and first epoch "
                     "(compilation) minus numba's, paid once per process and network "
                     "structure. Float32, Adam, batch 200, squared-hinge one-vs-rest head.")
    parts += absent
    if rows:
        parts.append(_footer(datas, tags))
    return "\n\n".join(parts)


# ------------------------------------------------------------------ bench_linear

LINEAR_NAMES = {
    "LinearSVC": "LinearSVC()",
    "LinearSVC-tight": "LinearSVC(tol=1e-8)",
    "SVMNet": "SVMNetClassifier()",
    "SVMNet-tight": "SVMNetClassifier(tol=1e-8)",
    "SVMNet-f32": "SVMNetClassifier(), float32",
    "SVMNet-jax": 'SVMNetClassifier(backend="jax")',
    "LogisticRegression": "LogisticRegression()",
    "LogisticRegression-tight": "LogisticRegression(tol=1e-10)",
    "LogisticNet": "LogisticNetClassifier()",
    "LogisticNet-tight": "LogisticNetClassifier(tol=1e-8)",
    "LogisticNet-jax": 'LogisticNetClassifier(backend="jax")',
    "SGD-hinge": "SGDClassifier(loss=\"hinge\", alpha=1/(C n))",
    "LinearSVC-hinge": 'LinearSVC(loss="hinge", dual=True)',
    "SVMNet-hinge": 'SVMNetClassifier(loss="hinge")',
}
PROBLEMS = {"squared_hinge": "squared hinge", "hinge": "hinge", "log_loss": "log loss"}


def _linear_rows(data, dataset):
    for report in (data or {}).get("datasets", []):
        if report["dataset"] == dataset:
            return {row["key"]: row for row in report["results"]}
    return {}


def _newest_with(datas, dataset, key):
    """The newest results file that ran row ``key`` on ``dataset``."""
    holding = [data for data in datas if data and key in _linear_rows(data, dataset)]
    return max(holding, key=lambda data: data.get("date_utc", "")) if holding else None


def _linear_table(files, groups, columns, lead=None):
    """Rows of bench_linear results grouped by problem, each group from one file.

    ``groups`` are ``(label, dataset, keys)``; a group's rows come from the newest file
    that holds its first key (the reference), so that its ratios and gaps are of one run.
    """
    datas = [load(name) for name in files]
    chosen = [_newest_with(datas, dataset, keys[0]) for _, dataset, keys in groups]
    tags = _tags(chosen)
    header = (lead or []) + ["estimator"] + [title for title, _ in columns]
    rows = []
    for (label, dataset, keys), data in zip(groups, chosen):
        found = _linear_rows(data, dataset)
        first = True
        for key in keys:
            row = found.get(key)
            if row is None:
                continue
            cells = ([label + _sup(tags, data)] if first else [""]) if lead else []
            first = False
            name = LINEAR_NAMES.get(key, key)
            if row.get("convergence_warnings"):
                name += " \\*"
            cells.append(name)
            if "failed" in row:
                cells += [row["failed"]] + [""] * (len(columns) - 1)
            else:
                cells += [render(row, dataset) for _, render in columns]
            rows.append(cells)
    absent = [missing(name) for name, data in zip(files, datas) if data is None]
    if not rows:
        return " ".join(absent)
    parts = [markdown(header, rows, ["---"] * (len(lead or []) + 1)
                      + ["---:"] * len(columns))]
    repeats = sorted({data["settings"].get("repeats", 1) for data in chosen if data})
    solver_note = ("solver: the fitted `solver_`, what sksvmnet ran; "
                   f"{NOT_RECORDED} where the results file predates that attribute. "
                   if any(title == "solver" for title, _ in columns) else "")
    def rows_text(data):
        rows = data["settings"].get("warmup_rows")
        return NOT_RECORDED if rows is None else "all" if rows == 0 else f"{rows:,}"

    distinct = list({id(data): data for data in chosen if data}.values())
    warmup = (rows_text(distinct[0]) if len({rows_text(d) for d in distinct}) == 1 else
              ", ".join(rows_text(data) + _sup(tags, data) for data in distinct))
    legend = solver_note + (
        "fit: the median of " + " or ".join(map(str, repeats)) + " measured fits "
        "(`--repeats`)" if repeats != [1] else "fit: one measured fit") + (
        f" after a warm-up fit on the first {warmup} rows (`--warmup-rows`).")
    if any("\\*" in row[len(lead or [])] for row in rows):
        legend += " \\* Stopped at `max_iter` with a ConvergenceWarning."
    parts.append(legend)
    parts.append(_footer(chosen, tags))
    return "\n\n".join(parts)


def _fit(row, dataset):
    return _seconds(row.get("fit_seconds_median"))


def _vs_reference(row, dataset):
    limit = TARGETS.get((dataset, row["key"]))
    return _ratio(row.get("fit_time_ratio"), bold=limit is not None) if row.get(
        "reference") else "1"


def _gap_reference(row, dataset):
    return _gap(row.get("objective_gap_vs_reference")) if row.get("reference") else "0"


def _gap_best(row, dataset):
    return _gap(row.get("objective_gap_vs_best"))


def _iterations(row, dataset):
    return _num(row.get("n_iter"), "d")


def _accuracy(row, dataset):
    return f"{row['test_accuracy']:.4f}"


def _peak_extra(row, dataset):
    return _num(row.get("peak_extra_mib_median"), ".0f")


def _solver(row, dataset):
    if not row["key"].startswith(("SVMNet", "LogisticNet")):
        return ""
    return f"`{row['solver']}`" if row.get("solver") else NOT_RECORDED


def _target_cell(row, dataset):
    return _target(row.get("fit_time_ratio"), TARGETS.get((dataset, row["key"])))


STANDARD = [("solver", _solver), ("fit (s)", _fit), ("vs reference", _vs_reference),
            ("objective gap vs reference", _gap_reference), ("gap vs best row", _gap_best),
            ("iterations", _iterations), ("test accuracy", _accuracy)]


def table_linear_dense():
    svm = ["LinearSVC", "SVMNet", "SVMNet-f32"]
    logistic = ["LogisticRegression", "LogisticNet", "LogisticNet-jax"]
    return _linear_table(
        ["bench_linear_dense.json", "bench_linear_dense_binary_svm.json"],
        [("binary, squared hinge", "dense-binary", svm),
         ("10-class, squared hinge", "dense-multiclass", svm),
         ("binary, hinge", "dense-binary",
          ["LinearSVC-hinge", "SVMNet-hinge", "SGD-hinge"]),
         ("binary, log loss", "dense-binary", logistic),
         ("10-class, log loss", "dense-multiclass", logistic)],
        STANDARD + [("target", _target_cell)], lead=["problem"])


def table_linear_memory():
    data = load("bench_linear_dense_memory.json")
    if data is None:
        return missing("bench_linear_dense_memory.json")
    found = _linear_rows(data, "dense-binary")
    rows = []
    for key, row in found.items():
        ratio = row.get("peak_total_ratio") if row.get("reference") else None
        rows.append([LINEAR_NAMES.get(key, key), _seconds(row["fit_seconds_median"]),
                     f"{row['peak_extra_mib_median']:.0f}",
                     f"{row['peak_total_mib_median']:.0f}",
                     _ratio(ratio, bold=key == "SVMNet-f32") if ratio else "1",
                     _target(ratio, MEMORY_TARGET) if key == "SVMNet-f32" else ""])
    text = markdown(["estimator", "fit (s)", "peak extra (MiB)", "peak total (MiB)",
                     "peak total vs LinearSVC", "target"], rows)
    return "\n\n".join([text, provenance(data)])


def table_linear_pixels():
    svm = ["LinearSVC", "SVMNet", "SVMNet-f32"]
    logistic = ["LogisticRegression", "LogisticNet", "LogisticNet-jax"]
    return _linear_table(
        ["bench_linear_fashion.json", "bench_linear_mnist.json"],
        [("Fashion-MNIST, squared hinge", "fashion-mnist", svm),
         ("Fashion-MNIST, log loss", "fashion-mnist", logistic),
         ("MNIST, squared hinge", "mnist", svm),
         ("MNIST, log loss", "mnist", logistic)],
        STANDARD, lead=["data, problem"])


def table_linear_sparse():
    return _linear_table(
        ["bench_linear_sparse.json", "bench_linear_sparse_repeats.json"],
        [("squared hinge", "sparse", ["LinearSVC", "SVMNet", "SVMNet-f32"]),
         ("hinge", "sparse", ["LinearSVC-hinge", "SVMNet-hinge"]),
         ("log loss", "sparse", ["LogisticRegression", "LogisticNet", "LogisticNet-jax"])],
        STANDARD + [("target", _target_cell)], lead=["problem"])


def table_linear_debian():
    return _linear_table(
        ["bench_linear_debian.json", "bench_linear_debian_logistic.json"],
        [("squared hinge", "debian", ["LinearSVC", "SVMNet"]),
         ("log loss (multinomial)", "debian", ["LogisticRegression", "LogisticNet"])],
        [("solver", _solver), ("fit (s)", _fit), ("vs reference", _vs_reference),
         ("objective gap vs reference", _gap_reference), ("iterations", _iterations),
         ("test accuracy", _accuracy), ("peak extra (MiB)", _peak_extra),
         ("target", _target_cell)], lead=["problem"])


def table_linear_scaling():
    data = load("bench_linear_scaling.json")
    if data is None:
        return missing("bench_linear_scaling.json")
    keys = data.get("settings", {}).get("scaling_estimators", ["SVMNet", "LinearSVC"])
    rows = []
    for n in data["sizes"]:
        group = {row["key"]: row for row in data["results"] if row["n"] == n}
        cells, compared = [f"{n:,}"], None
        for key in keys:
            row = group.get(key, {})
            cells.append(_seconds(row.get("fit_seconds_median")))
            if row.get("fit_time_ratio") is not None:
                compared = row
        cells += [_ratio(compared["fit_time_ratio"]) if compared else "",
                  _gap(compared["objective_gap_vs_reference"]) if compared else ""]
        cells += [_num(group.get(key, {}).get("peak_extra_mib_median"), ".0f")
                  for key in keys]
        rows.append(cells)
    header = (["n"] + [f"{key} fit (s)" for key in keys] + ["ratio", "objective gap"]
              + [f"{key} peak extra (MiB)" for key in keys])
    slopes = "; ".join(
        f"{key} {slope['n>=1e4']:.2f} for n ≥ 10⁴, {slope['all']:.2f} over all sizes"
        for key, slope in data.get("slopes", {}).items())
    return "\n\n".join([markdown(header, rows),
                        f"Fitted log-log slope of fit time in n (1 is linear): {slopes}.",
                        provenance(data)])


# --------------------------------------------------------------------- bench_suite

#: The pairs of the suite's table: (row key, its reference's, column title).
SUITE_PAIRS = (("SVMNet", "LinearSVC", "SVMNet"),
               ("LogisticNet", "LogisticRegression", "LogisticNet"))
#: Peers shown when a results file has them: (row key, column title).
SUITE_PEERS = (("snapml-SVM", "snapml SVM"), ("snapml-LR", "snapml LR"))


def _short_seconds(value):
    return f"{1000 * value:.1f} ms" if value < 0.1 else f"{_seconds(value)} s"


def _suite_ratio(value):
    """A ratio with two significant digits at least: the suite's reach 10⁻⁴."""
    return f"{value:.2g}×" if value is not None and value < 0.01 else _ratio(value)


def _suite_shape(data):
    shape = f"{data['n_train']:,} × {data['n_features']:,}"
    if data["dtype"] != "float64":
        shape += f", {data['dtype']}"
    return shape + (", standardised" if data["standardised"] else "")


def _suite_density(data):
    """The share of non-zero entries, and the format X was given in."""
    share = data["nonzero_fraction"]
    if data["sparse"]:
        return f"CSR, {100 * share:.2g}%"
    return "dense" if share > 0.99 else f"dense, {100 * share:.2g}%"


def table_suite(name):
    """One row per problem of ``bench_suite.py`` (or of its ``--grid`` run): the
    references' times, sksvmnet's ratios, objective gaps and solvers, the targets."""
    data = load(name)
    if data is None:
        return missing(name)
    grid = data["benchmark"].endswith("_grid")
    targets = data["settings"]["targets"]
    reports = [report for report in data["problems"] if "results" in report]
    peers = [(key, title) for key, title in SUITE_PEERS
             if any(row["key"] == key for r in reports for row in r["results"])]
    what = "grid" if grid else "fit"
    header = ["problem", "train rows × features", "classes", "non-zeros"]
    for key, reference, title in SUITE_PAIRS:
        header += [f"{reference} {what}", f"{title} vs it",
                   "best C (theirs / ours)" if grid else "objective gap"]
    header += [f"{title} vs reference" for _, title in peers]
    header += ["solvers (SVMNet / LogisticNet)", "targets missed"]
    rows, warned, other_problem = [], False, False
    for report in reports:
        by_key = {row["key"]: row for row in report["results"]}
        cells = [report["problem"], _suite_shape(report["data"]),
                 str(report["data"]["n_classes"]), _suite_density(report["data"])]
        missed = []
        for key, reference, title in SUITE_PAIRS:
            ours, theirs = by_key.get(key), by_key.get(reference)
            if theirs is None or ours is None:
                cells += ["", "", ""]
                continue
            stars = []
            for row in (theirs, ours):
                stars.append(" \\*" if row["convergence_warnings"] else "")
                warned = warned or bool(row["convergence_warnings"])
            cells.append(_short_seconds(theirs["fit_seconds_median"]) + stars[0])
            cells.append(_suite_ratio(ours["fit_time_ratio"]) + stars[1])
            if grid:
                cells.append(f"{theirs['best_C']:g} / {ours['best_C']:g}")
            else:
                cells.append(_gap(ours["objective_gap_vs_reference"]))
            if ours["time_target_met"] is False:
                missed.append(f"{title} time")
            if ours["objective_target_met"] is False:
                missed.append(f"{title} objective")
        for key, _ in peers:
            row = by_key.get(key)
            if row is None or row.get("fit_time_ratio") is None:
                cells.append("")
                continue
            gap = row.get("objective_gap_vs_reference")
            if not row["solves_reference_problem"]:
                gap_text = ", another problem †"
                other_problem = True
            else:
                gap_text = f", {_gap(gap)}" if gap is not None and not grid else ""
            cells.append(_suite_ratio(row["fit_time_ratio"]) + gap_text)
        cells.append(" / ".join(f"`{by_key[key]['solver']}`" if by_key.get(key) else "-"
                                for key in ("SVMNet", "LogisticNet")))
        cells.append(", ".join(missed) if missed else "none")
        rows.append(cells)
    text = markdown(header, rows, ["---", "---", "---:", "---"]
                    + ["---:"] * (len(header) - 6) + ["---", "---"])
    summary = []
    for key, entry in data["summary"].items():
        line = (f"{key} / {entry['reference']}: {_suite_ratio(entry['geomean_ratio'])} "
                f"over {entry['problems']} problem{'s' if entry['problems'] != 1 else ''}")
        if entry.get("geomean_target") is not None and not grid:
            line += " (" + _target(entry["geomean_ratio"], entry["geomean_target"]) + ")"
        line += f"; time target met on {entry['time_targets_met']} of {entry['problems']}"
        if not grid:
            line += (f", objective target on {entry['objective_targets_met']} of "
                     f"{entry['objective_targets_judged']}")
        summary.append(line)
    parts = [text, "Geometric mean of the time ratios: " + "; ".join(summary) + "."]
    settings = data["settings"]
    one, many = ("search", "searches") if grid else ("fit", "fits")
    legend = (f"{what}: " + (
        f"the median of up to {settings['repeats']} measured {many}, as many as fit in "
        f"{settings['repeat_budget']:g} s (at least one; 51 where each took under "
        "20 ms)" if settings["repeats"] > 1 else f"one measured {one}")
        + ", after a warm-up timed apart; vs it: that time over the reference's. ")
    if grid:
        legend += (f"Each {what} is the whole `GridSearchCV` over C in "
                   + ", ".join(f"{c:g}" for c in settings["grid_C"])
                   + f" ({settings['grid_folds']}-fold, `n_jobs={settings['grid_jobs']}`) "
                   f"on the first {settings['grid_rows']:,} training rows; best C: the C "
                   "each search chose. ")
    else:
        legend += ("objective gap: (J − J_ref) / |J_ref| of the primal objective at C=1 "
                   "on the training data as the model saw it, the same formula for every "
                   "estimator (`_common.primal_objective`). ")
    legend += (f"Targets, per row: a {what} no slower than the reference's (within "
               f"{1000 * targets['small_fit_slack_seconds']:g} ms where the reference "
               f"takes under {1000 * targets['small_fit_seconds']:g} ms)")
    if not grid:
        slack = f"{targets['objective_slack']:.0e}".replace("e-0", "e-")
        legend += (f" and an objective at most {slack} above the "
                   "reference's (relative); over the suite, a geometric mean of at most "
                   + ", ".join(f"{ratio:g}× for {key}"
                               for key, ratio in targets["geomean_ratio"].items()))
    legend += ". Solvers: the fitted `solver_`."
    if warned:
        legend += " \\* At least one fit stopped with a ConvergenceWarning."
    if other_problem:
        legend += (" † snapml's logistic model is one-vs-rest on more than two classes, "
                   "not LogisticRegression's multinomial one: no objective gap.")
    if peers:
        legend += (" snapml: `regularizer = 1 / C`, the squared hinge for the SVM, an "
                   "intercept (penalised: a constant feature), `n_jobs` = the usable "
                   "cores.")
    parts.append(legend)
    skipped = [f"{report['problem']} ({report['skipped']})" for report in data["problems"]
               if "skipped" in report]
    skipped += [f"{key} ({why})" for key, why in data.get("skipped_estimators", {}).items()]
    if skipped:
        parts.append("Not run: " + "; ".join(skipped) + ".")
    parts.append(provenance(data))
    return "\n\n".join(parts)


# ------------------------------------------------------------------ bench_networks

def table_networks():
    data = load("bench_networks.json")
    if data is None:
        return missing("bench_networks.json")
    settings = data["settings"]
    hidden = tuple(settings["hidden"])
    targets = settings["targets"]
    rows = []
    for entry in data["summary"]:
        ours = "points" in entry
        label = (f"`{entry['estimator']}(hidden_layer_sizes={hidden})`" if ours
                 else f"`MLPClassifier({hidden})`")
        met = ""
        if ours:
            met = ", ".join(
                f"{what} {'met' if entry[key] else '**missed**'}"
                for what, key in (("accuracy", "accuracy_target_met"),
                                  ("time", "time_target_met")))
        rows.append([entry["dataset"], label, f"{entry['accuracy']:.4f}",
                     f"{entry['points']:+.2f}" if ours else "",
                     f"{entry['fit_seconds']:.2f}",
                     f"{entry['time_ratio']:.2f}×" if ours else "",
                     f"{entry['epochs']:.0f}", str(entry["runs"]), met])
    text = markdown(["data", "estimator", "test accuracy", "vs MLP (points)", "fit (s)",
                     "time vs MLP", "epochs", "runs", "targets"], rows,
                    ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---"])
    skipped = (f" Skipped, no data files: {', '.join(data['skipped'])}."
               if data.get("skipped") else "")
    legend = (f"Every estimator in `Pipeline(StandardScaler(), estimator)` at its defaults "
              f"but for the hidden layers {hidden} and `max_iter={settings['max_iter']}`, "
              f"the same for all; `random_state` the run's seed. Test accuracy: the mean "
              f"over the runs (digits: {settings['digits_splits']} stratified 75/25 "
              f"splits; MNIST and Fashion-MNIST: their standard split, seeds "
              f"{settings['seeds']}); fit: the median. Epochs: `n_iter_`, the mean. "
              f"Targets (issue 19): accuracy at least MLPClassifier's "
              f"{targets['accuracy_points']:+g} point, fit time at most "
              f"{targets['time_ratio']:g}× its.{skipped}")
    return "\n\n".join([text, legend, provenance(data)])


# ------------------------------------------------------------------ tang2013_mnist

HEAD_NAMES = {"svm": "deep L2-SVM: `SVMNetClassifier` (squared hinge, one-vs-rest)",
              "softmax": "softmax: `LogisticNetClassifier`, same network and recipe"}


def _percent(value):
    return NOT_RECORDED if value is None else f"{100 * value:.2f}%"


def _spread(values):
    """``mean ± sample std`` in percent (the mean alone for one value)."""
    if len(values) == 1:
        return _percent(values[0])
    return f"{100 * statistics.mean(values):.2f}% ± {100 * statistics.stdev(values):.2f}"


def table_tang2013_mnist():
    data = load("tang2013_mnist.json")
    if data is None:
        return missing("tang2013_mnist.json")
    records = [record for record in data["results"] if "final_test_error" in record]
    seeds = list(dict.fromkeys(record["seed"] for record in records))
    epochs = data["settings"]["epochs"]
    rows = []
    for head in dict.fromkeys(record["head"] for record in records):
        runs = [record for record in records if record["head"] == head]
        finals = [record["final_test_error"] for record in runs]
        rows.append([
            HEAD_NAMES.get(head, head), f"**{_spread(finals)}**",
            f"{_percent(min(finals))} – {_percent(max(finals))}",
            _percent(TANG_2013.get(head)),
            f"{statistics.mean(record['fit_seconds'] for record in runs) / 60:.1f}",
            f"{statistics.median(s for record in runs for s in record['epoch_seconds']):.2f}",
            runs[0].get("backend", NOT_RECORDED)])
    what = data["data"].get("evaluated_on", "test")
    summary = markdown(["model", f"{what} error after epoch {epochs}, mean ± std over "
                        f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}",
                        "lowest – highest seed", "Tang (2013)", "training per seed (min)",
                        "median epoch (s)", "backend"], rows)
    per_seed = []
    heads = list(dict.fromkeys(record["head"] for record in records))
    for seed in seeds:
        cells = [str(seed)]
        for head in heads:
            record = next((r for r in records if r["seed"] == seed and r["head"] == head),
                          None)
            cells += ([_percent(record["final_test_error"]),
                       f"{_percent(record['best_test_error'])} (epoch "
                       f"{record['best_epoch']})"] if record else ["", ""])
        per_seed.append(cells)
    header = ["seed"]
    for head in heads:
        name = "deep L2-SVM" if head == "svm" else head
        header += [f"{name}: final", f"{name}: lowest (its epoch)"]
    seeds_table = markdown(header, per_seed)
    return "\n\n".join([
        summary, seeds_table,
        "Final: the error after the last epoch, the result. The lowest error and its "
        "epoch are chosen on the test set: they describe the run, they are not results. "
        "Std: the sample standard deviation over the seeds. Training: the fits' own "
        "seconds; the run's total (data, PCA, evaluation after every epoch) is below.",
        provenance(data)])


def _objectives(name):
    data = load(name)
    if data is None:
        return missing(name)
    records = [record for record in data["results"] if "train" in record]
    rows = []
    for head in dict.fromkeys(record["head"] for record in records):
        runs = [record["train"] for record in records if record["head"] == head]

        def cell(key):
            values = [run[key] for run in runs]
            if len(values) == 1:
                return f"{values[0]:.4g}"
            return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"

        rows.append([HEAD_NAMES.get(head, head).split(":")[0], str(len(runs)),
                     cell("cross_entropy"), cell("squared_hinge_objective")])
    text = markdown(["model", "seeds", "cross-entropy of the softmax of its outputs",
                     "squared-hinge objective `J/(C n)`"], rows)
    return "\n\n".join([text, "Mean ± sample standard deviation over the seeds, on the "
                         "clean training set.", provenance(data)])


def table_tang2013_mnist_objectives():
    return _objectives("tang2013_mnist.json")


def table_tang2013_fashion_objectives():
    return _objectives("tang2013_fashion_mnist.json")


PROBES = ("A", "B", "C", "D", "E")


def table_tang2013_probes():
    datas = [load(f"tang2013_probes/probe_{probe}.json") for probe in PROBES]
    tags = _tags(datas)
    rows, absent = [], []
    for probe, data in zip(PROBES, datas):
        if data is None:
            absent.append(missing(f"tang2013_probes/probe_{probe}.json"))
            continue
        settings = data["settings"]
        scale = settings.get("scale")
        components = {"unit": "unit variance", "none": "natural scale"}.get(
            scale, f"{NOT_RECORDED} †")
        noise, decay = settings["input_noise"], settings["input_noise_decay"]
        final = noise * decay ** (settings["epochs"] - 1)
        noise_text = (f"{noise:g} constant" if decay == 1 else
                      f"{noise:g} → {final:.2g} geometric")
        errors = data["results"][0]["test_error"]
        at = [errors[epoch - 1] if len(errors) >= epoch else None for epoch in (75, 100)]
        rows.append([probe + _sup(tags, data), data["data"]["dataset"], components,
                     noise_text, f"{settings['dropout']:g}",
                     f"{_percent(at[0])} / {_percent(at[1])}"])
    parts = []
    if rows:
        parts.append(markdown(["probe", "data", "components", "input noise", "dropout",
                               "test error at epoch 75 / 100"], rows,
                              ["---", "---", "---", "---", "---:", "---:"]))
        if any("†" in row[2] for row in rows):
            parts.append(f"† {NOT_RECORDED}: the file has no `scale` setting; it was "
                         "made before the script had `--scale`.")
    parts += absent
    if rows:
        parts.append(_footer(datas, tags))
    return "\n\n".join(parts)


def table_tang2013_validation():
    names = [f"tang2013_probes/validation_{schedule}.json"
             for schedule in ("geometric", "linear", "floor")]
    datas = [load(name) for name in names]
    tags = _tags(datas)
    rows = []
    for data in datas:
        if data is None:
            continue
        settings = data["settings"]
        record = data["results"][0]
        noise = data["schedule"]["input_noise"]
        errors = record["test_error"]
        floor = settings.get("noise_floor", 0.0)
        rows.append([f"{settings.get('noise_schedule', 'geometric')}"
                     f"{f', floor {floor:g}' if floor else ''}{_sup(tags, data)}",
                     f"{noise[0]:g} → {noise[len(noise) // 2]:.2g} (epoch "
                     f"{len(noise) // 2 + 1}) → {noise[-1]:.2g}",
                     f"**{_percent(record['final_test_error'])}**",
                     f"{_percent(record['best_test_error'])} (epoch "
                     f"{record['best_epoch']})",
                     f"{_percent(min(errors[len(errors) // 2:]))} – "
                     f"{_percent(max(errors[len(errors) // 2:]))}"])
    parts = []
    if rows:
        parts.append(markdown(["noise schedule", "input noise", "validation error after "
                               "the last epoch", "lowest (its epoch)",
                               "range over the second half"], rows,
                              ["---", "---", "---:", "---:", "---:"]))
        parts.append("The SVM head, seed 0, 400 epochs, trained on 50,000 training rows "
                     "and judged on the other 10,000 (`--validation 10000`); the test "
                     "set was not used.")
    parts += [missing(name) for name, data in zip(names, datas) if data is None]
    if rows:
        parts.append(_footer(datas, tags))
    return "\n\n".join(parts)


def table_tang2013_fashion():
    deep = load("tang2013_fashion_mnist.json")
    linear = load("bench_linear_fashion.json")
    tags = _tags([deep, linear])
    rows = []
    records = [record for record in (deep or {}).get("results", [])
               if "final_test_error" in record]
    for head in dict.fromkeys(record["head"] for record in records):
        model = {"svm": "`SVMNetClassifier`, {h}, squared hinge (deep L2-SVM)",
                 "softmax": "`LogisticNetClassifier`, {h}, softmax"}[head]
        hidden = "70-" + "-".join(map(str, deep["settings"]["hidden"]))
        accuracies = [1 - record["final_test_error"] for record in records
                      if record["head"] == head]
        spread = (f" ± {statistics.stdev(accuracies):.4f} ({len(accuracies)} seeds)"
                  if len(accuracies) > 1 else "")
        rows.append((statistics.mean(accuracies), model.format(h=hidden),
                     f"this page's run{_sup(tags, deep)}", spread))
    found = _linear_rows(linear, "fashion-mnist")
    for key, model in (("LogisticNet", "`LogisticNetClassifier()` (linear)"),
                       ("SVMNet", "`SVMNetClassifier()` (linear)")):
        if key in found:
            rows.append((found[key]["test_accuracy"], model,
                         f"bench_linear.py, pixels / 255{_sup(tags, linear)}", ""))
    for model, accuracy in FASHION_MNIST_AUTHORS["rows"]:
        rows.append((accuracy, model, "Fashion-MNIST authors (not measured here)", ""))
    rows.sort(key=lambda row: -row[0])
    text = markdown(["model", "test accuracy", "source"],
                    [[model, (f"{accuracy:.4f}" if "authors" not in source else
                              f"{accuracy:.3f}") + spread, source]
                     for accuracy, model, source, spread in rows],
                    ["---", "---:", "---"])
    parts = [text, "The authors' figures: their benchmark table, the best setting of each "
             f"classifier ({FASHION_MNIST_AUTHORS['source']})."]
    parts += [missing(name) for name, data in (("tang2013_fashion_mnist.json", deep),
                                              ("bench_linear_fashion.json", linear))
              if data is None]
    parts.append(_footer([deep, linear], tags))
    return "\n\n".join(part for part in parts if part)


TABLES = {
    "digits": table_digits,
    "digits-cold": table_digits_cold,
    "fresh": table_fresh,
    "backends-mnist": table_backends_mnist,
    "backends-small": table_backends_small,
    "backends-hidden": table_backends_hidden,
    "backends-linear": table_backends_linear,
    "linear-dense": table_linear_dense,
    "linear-memory": table_linear_memory,
    "linear-pixels": table_linear_pixels,
    "linear-sparse": table_linear_sparse,
    "linear-debian": table_linear_debian,
    "linear-scaling": table_linear_scaling,
    "suite": functools.partial(table_suite, "bench_suite.json"),
    "suite-grid": functools.partial(table_suite, "bench_suite_grid.json"),
    "suite-debian-full": functools.partial(table_suite, "bench_suite_debian_full.json"),
    "suite-drawn": functools.partial(table_suite, "bench_suite_drawn.json"),
    "speed-targets": table_speed_targets,
    "cv": table_cv,
    "networks": table_networks,
    "tang2013-mnist": table_tang2013_mnist,
    "tang2013-mnist-objectives": table_tang2013_mnist_objectives,
    "tang2013-probes": table_tang2013_probes,
    "tang2013-validation": table_tang2013_validation,
    "tang2013-fashion": table_tang2013_fashion,
    "tang2013-fashion-objectives": table_tang2013_fashion_objectives,
}


def regenerate(docs=DOCS, makers=None, check=False):
    """Rewrite every marked table of ``docs``; return ``{doc: [table names]}``.

    With ``check`` nothing is written, and the docs whose tables would change are
    returned instead. An unknown table name or a marker without its end is an error.
    """
    _MAKERS.clear()
    _MAKERS.update(makers or {})
    done = {}
    for doc in docs:
        text = doc.read_text()
        opened = len(re.findall(r"^<!-- table: ", text, re.MULTILINE))
        names = []

        def fill(match):
            name = match.group("name")
            if name not in TABLES:
                raise SystemExit(f"{_rel(doc)}: unknown table {name!r}; known: "
                                 f"{', '.join(TABLES)}.")
            names.append(name)
            return f"{match.group(1)}\n{TABLES[name]()}\n\n{match.group(4)}"

        new = MARKER.sub(fill, text)
        if len(names) != opened:
            raise SystemExit(f"{_rel(doc)}: {opened} table markers but {len(names)} "
                             "closed by <!-- /table -->.")
        if check:
            if new != text:
                done[doc] = names
        else:
            doc.write_text(new)
            done[doc] = names
    return done
