"""Reproduce the MNIST experiment of Tang (2013): a deep L2-SVM against a softmax network.

Tang, "Deep Learning using Linear Support Vector Machines" (ICML 2013 workshop), section
3.2: pixels reduced to 70 dimensions by PCA, two hidden layers of 512 ReLU units, and on
top either a softmax (0.99% test error) or a one-vs-rest squared-hinge SVM (the "DLSVM",
0.87%), both trained by SGD with momentum, minibatches of 200, a learning rate decaying
linearly from 0.1, strong Gaussian input noise, a weight cost and 400 epochs.

This script trains both heads on the same network with the same settings, seeds, noise
and schedule:

- pixels / 255, then PCA to ``--pca`` (70) dimensions, fitted on the training set; the
  components keep their natural scale (standard deviations from about 2.3 down to 0.3),
  so the input noise drowns the minor components first and lets them in as it decays.
  ``--scale unit`` standardises them instead, which made the SVM head's test error worse
  in 100-epoch probes (1.21% against 0.90% at epoch 75 of the same schedule);
- ``SVMNetClassifier(loss="squared_hinge", multi_class="ovr")`` (the deep L2-SVM) and
  ``LogisticNetClassifier()`` (softmax), hidden layers ``--hidden`` (512 512, ReLU);
- trained one epoch at a time with ``partial_fit``, which continues the learning-rate
  schedule and the noise decay from the epochs already run (``max_iter`` is set to
  ``--epochs`` so that the "linear" schedule spans the whole run; 4 ``partial_fit`` calls
  give the same weights as ``fit`` with ``max_iter=4``), and the test error is recorded
  after every epoch. The heads train round robin, one epoch each in turn, so that load
  from other processes falls on both alike.

At the end it reports, for every model, the comparison of the paper's Table 3 on the
training set (clean inputs): the mean cross-entropy of the softmax of the outputs (for the
SVM computed on its raw outputs, as the paper does), the mean one-vs-rest squared hinge,
and the weight cost ``1/2 sum ||W||^2 / (C n)``; the "objective" columns add the weight
cost, so the squared-hinge objective is the L2-SVM's ``J / (C n)``, the scale of
``loss_curve_``.

The recipe (the defaults) and what ``C`` means here
----------------------------------------------------
sksvmnet's objective is ``J = 1/2 sum_l ||W_l||^2 + C sum_n loss_n`` over every layer's
weights (not the biases). Each minibatch step descends ``J / (C n)``, i.e.
``lambda/2 sum ||W||^2 + mean_batch(loss)`` with the weight decay ``lambda = 1/(C n)``.
Tang used a weight cost of 0.001 on the top layer only; with n = 60,000 that is
``C = 1/(0.001 n) = 1/60`` for the top layer, but here the same ``lambda`` would also
fall on the 512 x 512 hidden weights, which Tang did not penalise. The default ``C = 0.1``
gives ``lambda = 1.7e-4`` on every layer, an ordinary weight decay for hidden layers.
Other code states C on other scales; translate before copying a value:

- ``1/2 ||W||^2 + C' * sum over the minibatch`` per step: ``C = C' * batch / n``;
- ``1/2 ||W||^2 + C' * mean over the minibatch`` per step: ``C = C' / n``;
- ``mean(W_top ** 2) + C' * mean over samples and classes`` (a common TensorFlow
  transcription, penalising only the top layer's P weights): ``C = C' P / (2 K n)``.

SGD with momentum (0.9), minibatches of 200 and a learning rate decaying linearly to
``learning_rate_init / epochs`` in the last epoch (``--learning-rate linear``) follow the
paper, but the rate starts at 0.05, not the paper's 0.1: at this objective's scale (the
one-vs-rest squared hinge sums ten squared margins, so its gradient is several times the
softmax's, and momentum 0.9 makes the effective step ten times the rate), 0.1 with noise
1.0 drove the SVM head's loss above its value at zero outputs (13.6 against 10) in the
first 30 steps of a 6,000-row probe and kept it near 8 for 120 steps, while 0.05 and 0.03
trained smoothly (loss 4.6, then 1.8 after 240 steps); the softmax head took 0.1.

Tang's noise (standard deviation 1.0, decayed linearly to 0) is the default
(``--noise-schedule linear``): ``input_noise_decay`` can only decay geometrically, so the
script sets ``input_noise`` before every epoch, from 1.0 down by 1/400 each epoch to
0.0025 in the last. ``--noise-schedule geometric`` multiplies it by
``--input-noise-decay`` after every epoch instead (``auto``: the factor that ends at 5% of
the start, 0.9925 for 400 epochs). Trained on 50,000 rows and judged on the other 10,000
(``--validation 10000``, seed 0, the SVM head; the test set unseen), the two schedules
ended at 0.96% (linear) and 1.00% (geometric) validation error, a difference of four
images, within the noise of one run; the paper's schedule was kept. ``--noise-floor``
holds the linear schedule at a floor; at 0.25 (from epoch 301 on) it also ended at 0.96%.

400 epochs are the paper's 120,000 updates; on two cores an epoch of this network on
60,000 rows takes about 1.2 s with JAX (what ``backend="auto"`` picks here) and 1.8 s with
numba, so a run of two heads and one seed takes about 17 minutes with JAX, 25 with numba;
``--seeds 0 1 2 3 4`` five times that. The summary gives each head's final error per seed
and their mean and sample standard deviation.

Run from the repository root::

    python benchmarks/tang2013_mnist.py [--dataset mnist|fashion-mnist] [--epochs 400]
        [--seeds 0] [--output PATH] [--plot PATH]

A smoke test in seconds: ``--n-train 3000 --epochs 2 --hidden 64 64``. The data come from
``--data-dir`` (the idx files, gzipped or not; default ``../shared/data/<dataset>`` beside
the repository), or from OpenML through ``sklearn.datasets.fetch_openml`` when that folder
does not hold them. Results, the command, the settings and a description of the machine
are written as JSON to ``--output``; ``--plot`` draws the test error per epoch.
"""

import argparse
import datetime
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sksvmnet import LogisticNetClassifier, SVMNetClassifier
from sksvmnet._losses import forward, head_loss
from sksvmnet._solvers import LEARNING_RATE_SCHEDULES

from _common import (  # benchmarks/_common.py
    load_average, pyplot, read_idx, render_table, run_record, save_figure)

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("sksvmnet", "numpy", "scipy", "scikit-learn", "numba", "llvmlite", "jax",
            "jaxlib", "threadpoolctl", "matplotlib")

#: Dataset -> folders searched for its idx files (the first is ``--data-dir``'s
#: default) and its name on OpenML.
DATASETS = {
    "mnist": {"folders": [REPO_ROOT.parent / "shared" / "data" / "mnist"],
              "openml": "mnist_784"},
    "fashion-mnist": {"folders": [REPO_ROOT.parent / "shared" / "data" / "fashion-mnist",
                                  Path("/usr/share/datasets/fashion-mnist")],
                      "openml": "Fashion-MNIST"},
}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
N_TRAIN, N_TEST = 60_000, 10_000
#: Test errors of Tang (2013), Table 2 (MNIST).
PAPER_TEST_ERROR = {"svm": 0.0087, "softmax": 0.0099}
HEADS = {
    "svm": "SVMNetClassifier (squared hinge, one-vs-rest: the deep L2-SVM)",
    "softmax": "LogisticNetClassifier (softmax)",
}
#: Fraction of --input-noise left in the last epoch under --input-noise-decay auto.
AUTO_NOISE_FINAL = 0.05


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=sorted(DATASETS), default="mnist",
                      help="default mnist")
    data.add_argument("--data-dir", type=Path, default=None,
                      help="folder of the idx files (default ../shared/data/<dataset> "
                           "beside the repository; for fashion-mnist also "
                           "/usr/share/datasets/fashion-mnist); OpenML when absent")
    data.add_argument("--n-train", type=int, default=None,
                      help="train on a stratified subsample of this many rows, for "
                           "smoke tests (default all 60,000); the test set is whole")
    data.add_argument("--pca", type=int, default=70,
                      help="PCA dimensions (default 70)")
    data.add_argument("--scale", choices=("none", "unit"), default="none",
                      help="keep the PCA components' natural scale (default), or scale "
                           "them to unit variance")
    data.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                      help="training precision (default float32)")

    model = parser.add_argument_group("network and training (the same for both heads)")
    model.add_argument("--heads", nargs="+", choices=sorted(HEADS),
                       default=["svm", "softmax"], help="default both")
    model.add_argument("--hidden", type=int, nargs="*", default=[512, 512],
                       metavar="UNITS", help="hidden layer sizes (default 512 512)")
    model.add_argument("--epochs", type=int, default=400, help="default 400")
    model.add_argument("--seeds", type=int, nargs="+", default=[0],
                       help="random_state of each run: initialisation, batches, noise "
                            "(default 0)")
    model.add_argument("--C", type=float, default=0.1,
                       help="weight of the data term of J = 1/2 sum ||W||^2 + C sum "
                            "loss; each minibatch step decays the weights by 1/(C n) "
                            "(default 0.1)")
    model.add_argument("--solver", choices=("sgd", "adam"), default="sgd",
                       help="default sgd (with momentum)")
    model.add_argument("--learning-rate", choices=("constant", "linear", "invscaling"),
                       default="linear",
                       help="schedule over the epochs (default linear, to "
                            "rate/epochs in the last); 'adaptive' needs fit's stopping "
                            "loop and does nothing under partial_fit")
    model.add_argument("--learning-rate-init", type=float, default=0.05,
                       help="default 0.05")
    model.add_argument("--power-t", type=float, default=0.5,
                       help="exponent of the invscaling schedule (default 0.5)")
    model.add_argument("--momentum", type=float, default=0.9, help="default 0.9")
    model.add_argument("--batch-size", type=int, default=200, help="default 200")
    model.add_argument("--input-noise", type=float, default=1.0,
                       help="std of the Gaussian noise on the PCA inputs "
                            "(default 1.0)")
    model.add_argument("--noise-schedule", choices=("geometric", "linear"),
                       default="linear",
                       help="linear (default, Tang's): from --input-noise down by the "
                            "same amount every epoch to --input-noise / epochs (or "
                            "--noise-floor) in the last (the script sets it before "
                            "each epoch); geometric: "
                            "multiplied by --input-noise-decay after every epoch")
    model.add_argument("--noise-floor", type=float, default=0.0,
                       help="under the linear schedule, the noise never falls below "
                            "this (default 0: Tang's schedule, down to --input-noise / "
                            "epochs)")
    model.add_argument("--input-noise-decay", default="auto",
                       help="factor applied to the noise after every epoch under the "
                            "geometric schedule; the default 'auto' brings it to "
                            f"{AUTO_NOISE_FINAL:g} x --input-noise in the last epoch")
    model.add_argument("--dropout", type=float, default=0.0, help="default 0")
    model.add_argument("--backend", choices=("auto", "numba", "jax"), default="auto",
                       help="default auto: JAX for this network on the CPU")

    run = parser.add_argument_group("evaluation and output")
    run.add_argument("--validation", type=int, default=0, metavar="ROWS",
                     help="hold out this many training rows (stratified, fixed) and "
                          "report the error on them instead of the test set, which is "
                          "then never looked at: for probes that choose a setting "
                          "(default 0: train on all rows, report the test error)")
    run.add_argument("--output", type=Path, default=None,
                     help="JSON results (default benchmarks/results/tang2013_<dataset>"
                          ".json)")
    run.add_argument("--plot", type=Path, default=None,
                     help="also plot the test error per epoch here (PNG, SVG, ...)")
    run.add_argument("--print-every", type=int, default=10,
                     help="print progress every this many epochs, and the first and "
                          "the last (default 10)")
    run.add_argument("--blas-threads", type=int, default=0,
                     help="BLAS threads; the default 0 leaves the library's default, "
                          "fastest for this run on an otherwise idle machine")
    args = parser.parse_args(argv)

    for name in ("epochs", "batch_size", "pca", "print_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1; got "
                         f"{getattr(args, name)}.")
    if args.n_train is not None and args.n_train < 100:
        parser.error(f"--n-train must be at least 100; got {args.n_train}.")
    if args.blas_threads < 0:
        parser.error(f"--blas-threads must be 0 or positive; got {args.blas_threads}.")
    if args.validation < 0:
        parser.error(f"--validation must be 0 or positive; got {args.validation}.")
    if args.input_noise < 0:
        parser.error(f"--input-noise must be 0 or positive; got {args.input_noise}.")
    if not 0.0 <= args.noise_floor <= args.input_noise:
        parser.error(f"--noise-floor must be in [0, --input-noise = {args.input_noise:g}]; "
                     f"got {args.noise_floor}.")
    if args.noise_floor and args.noise_schedule != "linear":
        parser.error("--noise-floor applies to the linear schedule only; got "
                     f"--noise-schedule {args.noise_schedule}.")
    if args.noise_schedule == "linear":
        if args.input_noise_decay != "auto":
            parser.error("--input-noise-decay applies to the geometric schedule only; "
                         f"got {args.input_noise_decay!r} with --noise-schedule linear.")
        args.input_noise_decay = 1.0
        args.input_noise_decay_rule = "linear schedule: set before each epoch"
    elif args.input_noise_decay == "auto":
        args.input_noise_decay = (AUTO_NOISE_FINAL ** (1.0 / (args.epochs - 1))
                                  if args.epochs > 1 and args.input_noise > 0 else 1.0)
        args.input_noise_decay_rule = f"auto: {AUTO_NOISE_FINAL:g} of the start at the end"
    else:
        try:
            args.input_noise_decay = float(args.input_noise_decay)
        except ValueError:
            parser.error("--input-noise-decay must be a number in [0, 1] or 'auto'; got "
                         f"{args.input_noise_decay!r}.")
        args.input_noise_decay_rule = "given"
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must be distinct; got {args.seeds}.")
    args.heads = [head for head in HEADS if head in args.heads]  # fixed order, no repeats
    if args.output is None:
        args.output = RESULTS / f"tang2013_{args.dataset.replace('-', '_')}.json"
    return args


# ------------------------------------------------------------------------- data


def find_idx(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_idx_folder(folder):
    """``(X_train, y_train, X_test, y_test, files)`` or None if a file is missing."""
    paths = {stem: find_idx(folder, stem) for pair in IDX_FILES.values() for stem in pair}
    if not all(paths.values()):
        return None
    arrays = []
    for images, labels in IDX_FILES.values():
        X = read_idx(paths[images])
        arrays += [X.reshape(X.shape[0], -1), read_idx(paths[labels]).astype(np.int64)]
    files = {path.name: sha256(path) for path in paths.values()}
    return (*arrays, files)


def load_dataset(name, data_dir):
    """The standard train/test split (uint8 pixels, int labels) and its provenance."""
    folders = [data_dir] if data_dir is not None else DATASETS[name]["folders"]
    for folder in folders:
        loaded = load_idx_folder(folder)
        if loaded is not None:
            *arrays, files = loaded
            return (*arrays, {"source": "idx", "folder": str(folder.resolve()),
                              "sha256": files})
    tried = ", ".join(str(folder) for folder in folders)
    openml = DATASETS[name]["openml"]
    print(f"No idx files of {name} in {tried}; fetching {openml!r} from OpenML "
          "(cached in ~/scikit_learn_data after the first download).", flush=True)
    try:
        from sklearn.datasets import fetch_openml

        bunch = fetch_openml(openml, version=1, as_frame=False, parser="liac-arff")
    except Exception as exc:  # no network, no cache, a moved dataset...
        wanted = ", ".join(f"{stem}[.gz]" for pair in IDX_FILES.values() for stem in pair)
        raise SystemExit(
            f"Could not load {name}: no idx files ({wanted}) in {tried}, and "
            f"fetch_openml({openml!r}) failed ({type(exc).__name__}: "
            f"{exc}). Pass --data-dir FOLDER holding the idx files, or run once with "
            "internet access."
        ) from None
    X = np.asarray(bunch.data, dtype=np.uint8)
    y = np.asarray(bunch.target).astype(np.int64)
    # OpenML keeps the original order: the 60,000 training images, then the 10,000 test.
    return (X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:],
            {"source": "openml", "name": openml})


def preprocess(X_train, X_test, n_components, dtype, scale="none"):
    """pixels/255 -> PCA (-> unit variance with ``scale="unit"``), fitted on the training set.

    ``scale="none"`` keeps the PCA projections as they are: the leading components then
    have standard deviations of about 2 and the 70th about 0.3, so input noise of a fixed
    size drowns the minor components first.
    """
    steps = [PCA(n_components=n_components, svd_solver="full")]
    if scale == "unit":
        steps.append(StandardScaler())
    pipeline = make_pipeline(*steps)
    Z_train = pipeline.fit_transform(X_train / 255.0)
    Z_test = pipeline.transform(X_test / 255.0)
    explained = float(pipeline[0].explained_variance_ratio_.sum())
    return (np.ascontiguousarray(Z_train, dtype=dtype),
            np.ascontiguousarray(Z_test, dtype=dtype), explained)


# ----------------------------------------------------------------------- models


def make_estimator(head, args, seed):
    network = dict(
        hidden_layer_sizes=tuple(args.hidden), activation="relu", C=args.C,
        solver=args.solver, learning_rate=args.learning_rate,
        learning_rate_init=args.learning_rate_init, power_t=args.power_t,
        momentum=args.momentum, batch_size=args.batch_size,
        input_noise=args.input_noise, input_noise_decay=args.input_noise_decay,
        dropout=args.dropout, max_iter=args.epochs, random_state=seed,
        backend=args.backend)
    if head == "svm":
        return SVMNetClassifier(loss="squared_hinge", multi_class="ovr", **network)
    return LogisticNetClassifier(multi_class="multinomial", **network)


def schedule(args):
    """Learning rate and input noise of every epoch, as the solver computes them."""
    rule = LEARNING_RATE_SCHEDULES[args.learning_rate]
    rates = [rule(args.learning_rate_init, epoch, args.epochs, args.power_t)
             for epoch in range(args.epochs)]
    if args.noise_schedule == "linear":
        noise = [max(args.input_noise * (1.0 - epoch / args.epochs), args.noise_floor)
                 for epoch in range(args.epochs)]
    else:
        noise = [args.input_noise * args.input_noise_decay ** epoch
                 for epoch in range(args.epochs)]
    return rates, noise


def table3(model, X, y, C):
    """Tang's Table 3 on (X, y): losses of the raw outputs, and the weight cost."""
    coefs = [np.asarray(W, dtype=np.float64) for W in model.coefs_]
    intercepts = [np.asarray(b, dtype=np.float64) for b in model.intercepts_]
    F, _ = forward(coefs, intercepts, np.asarray(X, dtype=np.float64), model.activation)
    n = len(y)
    ones = np.ones(n)
    cross_entropy = head_loss(F, y, ones, "log_loss", "multinomial")[0] / n
    squared_hinge = head_loss(F, y, ones, "squared_hinge", "ovr")[0] / n
    weight_cost = 0.5 * sum(float(np.sum(W * W)) for W in coefs) / (C * n)
    return {
        "cross_entropy": cross_entropy,
        "squared_hinge": squared_hinge,
        "weight_cost": weight_cost,
        "cross_entropy_objective": cross_entropy + weight_cost,
        "squared_hinge_objective": squared_hinge + weight_cost,
        "error": float(np.mean(np.argmax(F, axis=1) != y)),
    }


def warm_up(args, X, y, classes):
    """One throwaway epoch per head (compilation, cache loading), timed apart."""
    seconds = {}
    for head in args.heads:
        model = make_estimator(head, args, seed=0)
        start = time.perf_counter()
        model.partial_fit(X, y, classes=classes)
        seconds[head] = time.perf_counter() - start
        print(f"warm-up {head}: {seconds[head]:.2f} s (backend {model.backend_})",
              flush=True)
    return seconds


def train(args, X_train, y_train, X_test, y_test, rates, noise):
    """Every (seed, head), round robin one epoch at a time; returns the run records."""
    classes = np.unique(y_train)
    records = []
    total_epochs = len(args.seeds) * len(args.heads) * args.epochs
    done, run_started = 0, time.perf_counter()
    for seed in args.seeds:
        models = {head: make_estimator(head, args, seed) for head in args.heads}
        runs = {head: {"head": head, "estimator": type(model).__name__, "seed": seed,
                       "params": {k: repr(v) for k, v in model.get_params().items()},
                       "test_error": [], "epoch_seconds": [], "eval_seconds": [],
                       "loss_curve": []}
                for head, model in models.items()}
        records.extend(runs.values())
        try:
            for epoch in range(args.epochs):
                for head, model in models.items():
                    run = runs[head]
                    if args.noise_schedule == "linear":
                        model.set_params(input_noise=noise[epoch])
                    start = time.perf_counter()
                    model.partial_fit(X_train, y_train, classes=classes)
                    run["epoch_seconds"].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    run["test_error"].append(1.0 - model.score(X_test, y_test))
                    run["eval_seconds"].append(time.perf_counter() - start)
                    run["loss_curve"] = list(model.loss_curve_)
                    run["backend"] = model.backend_
                    done += 1
                    last = epoch + 1 == args.epochs
                    if (epoch + 1) % args.print_every == 0 or epoch == 0 or last:
                        print(f"seed {seed} {head:7s} epoch {epoch + 1:4d}/{args.epochs} "
                              f"rate {rates[epoch]:.4g} noise {noise[epoch]:.3g} "
                              f"loss {model.loss_:.5f} test error "
                              f"{100 * run['test_error'][-1]:.2f}% "
                              f"({run['epoch_seconds'][-1]:.2f} s)", flush=True)
                    if epoch == 0 and seed == args.seeds[0] and head == args.heads[-1]:
                        per = (time.perf_counter() - run_started) / done
                        print(f"first epochs: {per:.2f} s per head and epoch with "
                              f"evaluation; about {per * total_epochs / 60:.1f} min for "
                              f"the {total_epochs} epochs of all runs", flush=True)
        except KeyboardInterrupt:
            print(f"\ninterrupted in epoch {epoch + 1}; reporting the epochs run so far",
                  flush=True)
            for run in runs.values():
                run["interrupted"] = True
            finish(args, models, runs, X_train, y_train)
            return records, True
        finish(args, models, runs, X_train, y_train)
    return records, False


def finish(args, models, runs, X_train, y_train):
    """Summaries and Table 3 for the models of one seed."""
    for head, model in models.items():
        run = runs[head]
        errors = run["test_error"]
        if not errors:
            continue
        best = int(np.argmin(errors))
        run.update({
            # n_iter_, not len(errors): an interrupt can fall between an epoch and its
            # evaluation, and Table 3 describes the model as it is.
            "epochs": int(model.n_iter_),
            "best_test_error": float(errors[best]),
            "best_epoch": best + 1,
            "final_test_error": float(errors[-1]),
            "fit_seconds": float(sum(run["epoch_seconds"])),
            "train": table3(model, X_train, y_train, args.C),
        })


# --------------------------------------------------------------------- reporting


def format_table(records):
    header = ("head", "seed", "best test err", "final test err", "epochs", "train CE",
              "train sq-hinge J/(Cn)", "fit (s)")
    lines = []
    for run in records:
        if "epochs" not in run:
            continue
        lines.append((
            run["head"], str(run["seed"]),
            f"{100 * run['best_test_error']:.2f}% (ep {run['best_epoch']})",
            f"{100 * run['final_test_error']:.2f}%",
            str(run["epochs"]) + ("*" if run.get("interrupted") else ""),
            f"{run['train']['cross_entropy']:.4f}",
            f"{run['train']['squared_hinge_objective']:.4f}",
            f"{run['fit_seconds']:.1f}",
        ))
    return render_table(header, lines)


def summarize(records):
    """Per head: the final errors of its finished seeds, their mean and sample std."""
    summary = {}
    for head in HEADS:
        runs = [run for run in records if run["head"] == head
                and "final_test_error" in run and not run.get("interrupted")]
        if runs:
            finals = [run["final_test_error"] for run in runs]
            summary[head] = {
                "seeds": [run["seed"] for run in runs],
                "final_errors": finals,
                "mean": float(np.mean(finals)),
                "std": float(np.std(finals, ddof=1)) if len(finals) > 1 else None,
                "min": float(min(finals)), "max": float(max(finals)),
                "fit_seconds": [run["fit_seconds"] for run in runs],
            }
    return summary


def plot(plt, records, path, title, paper):
    from matplotlib import ticker

    colours = {"svm": "tab:blue", "softmax": "tab:orange"}
    seeds = list(dict.fromkeys(run["seed"] for run in records))
    styles = ["-", ":", "-.", (0, (5, 1)), (0, (1, 3))]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for run in records:
        errors = 100 * np.asarray(run["test_error"])
        if errors.size == 0:
            continue
        ax.plot(np.arange(1, errors.size + 1), errors, color=colours[run["head"]],
                linestyle=styles[seeds.index(run["seed"]) % len(styles)], linewidth=1,
                label=f"{run['estimator']} ({run['head']}), seed {run['seed']}")
    if paper:
        for head, error in PAPER_TEST_ERROR.items():
            ax.axhline(100 * error, color=colours[head], linestyle="--", linewidth=0.6,
                       label=f"Tang (2013) {head}: {100 * error:.2f}%")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%), log scale")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(plt, fig, path)


def main(argv=None):
    args = parse_args(argv)
    plt = pyplot() if args.plot is not None else None  # fail before the work, not after
    load_before = load_average()
    started = datetime.datetime.now(datetime.timezone.utc)

    X_train, y_train, X_test, y_test, source = load_dataset(args.dataset, args.data_dir)
    if args.n_train is not None and args.n_train < len(y_train):
        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=args.n_train, stratify=y_train, random_state=0)
    evaluated = "test"
    if args.validation:
        # The test set is set aside unseen; the held-out training rows take its place.
        X_train, X_test, y_train, y_test = train_test_split(
            X_train, y_train, test_size=args.validation, stratify=y_train, random_state=0)
        evaluated = "validation"
    X_train, X_test, explained = preprocess(X_train, X_test, args.pca, args.dtype,
                                            args.scale)
    n = len(y_train)
    scaling = "unit variance" if args.scale == "unit" else "natural scale"
    print(f"{args.dataset}: {n} train / {len(y_test)} {evaluated} rows, PCA {args.pca} "
          f"({100 * explained:.1f}% of the variance), {scaling}, {args.dtype}; "
          f"network {X_train.shape[1]}-{'-'.join(map(str, args.hidden))}-10 ReLU")
    print(f"{args.solver}, rate {args.learning_rate_init:g} ({args.learning_rate}), "
          f"momentum {args.momentum:g}, batch {args.batch_size}, C {args.C:g} "
          f"(weight decay 1/(C n) = {1 / (args.C * n):.3g}), input noise "
          f"{args.input_noise:g} ({args.noise_schedule}), dropout "
          f"{args.dropout:g}, {args.epochs} epochs, seeds {args.seeds}", flush=True)
    rates, noise = schedule(args)

    def work():
        with warnings.catch_warnings():
            # partial_fit never warns about convergence, but be explicit: one epoch per
            # call is the plan, not a solver giving up.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warm = warm_up(args, X_train, y_train, np.unique(y_train))
            return warm, *train(args, X_train, y_train, X_test, y_test, rates, noise)

    if args.blas_threads:
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            warmup, records, interrupted = work()
    else:
        warmup, records, interrupted = work()
    total = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()

    summary = summarize(records)
    print()
    print(format_table(records))
    print()
    if evaluated == "validation":
        print(f"The error columns are on the {len(y_test)} held-out training rows "
              "(--validation); the test set was not used.")
    for head, stats in summary.items():
        spread = "" if stats["std"] is None else f" +- {100 * stats['std']:.3f}"
        print(f"{head}: final {evaluated} error over seeds {stats['seeds']}: mean "
              f"{100 * stats['mean']:.3f}%{spread} (sample std), min "
              f"{100 * stats['min']:.2f}%, max {100 * stats['max']:.2f}%")
    print("train CE: mean softmax cross-entropy of the outputs on the clean training set "
          "(the SVM's raw outputs too);")
    print("train sq-hinge J/(Cn): mean one-vs-rest squared hinge plus the weight cost "
          "1/2 sum||W||^2/(C n) (Tang 2013, Table 3).")
    if args.dataset == "mnist":
        print(f"Tang (2013): deep L2-SVM {100 * PAPER_TEST_ERROR['svm']:.2f}%, softmax "
              f"{100 * PAPER_TEST_ERROR['softmax']:.2f}% test error after 400 epochs.")
    if interrupted:
        print("* interrupted before the last epoch.")

    settings = {key: value for key, value in vars(args).items()
                if key not in ("output", "plot", "data_dir")}
    settings["data_dir"] = None if args.data_dir is None else str(args.data_dir)
    result = {
        "benchmark": "tang2013_mnist",
        **run_record("tang2013_mnist.py", PACKAGES, argv),
        "date_utc": started.isoformat(timespec="seconds"),
        "total_seconds": total,
        "interrupted": interrupted,
        "settings": settings,
        "schedule": {"learning_rate": rates, "input_noise": noise},
        "data": {"dataset": args.dataset, **source, "n_train": n,
                 "n_test": int(len(y_test)), "evaluated_on": evaluated, "n_features": int(X_train.shape[1]),
                 "pca_explained_variance": explained},
        "paper_test_error": PAPER_TEST_ERROR if args.dataset == "mnist" else None,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "warmup_seconds": warmup,
        "summary": summary,
        "results": records,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output} ({total:.1f} s in all)")
    if args.plot is not None:
        plot(plt, records, args.plot,
             f"{args.dataset}, PCA-{args.pca}, {'-'.join(map(str, args.hidden))} ReLU, "
             f"{args.solver} {args.learning_rate_init:g} ({args.learning_rate}), C "
             f"{args.C:g}, noise {args.input_noise:g}, {n} train rows",
             paper=args.dataset == "mnist" and n == N_TRAIN)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
