"""
Choosing C on several machines with JAX
=======================================

A script to run once on every machine, each with its own GPUs (one process per
machine). ``jax.distributed.initialize`` connects the processes; each trains its share of
the values of C with :class:`~sksvmnet.SVMNetClassifierCV` on its local devices (on the
JAX backend the Cs of a fold train together, one program per epoch), the validation
scores are gathered from every process with ``process_allgather``, and every process
chooses the same C and refits the network with it::

    # on machine 0 (its address: host0), and on machines 1 .. N-1 with their id:
    python multihost_search.py --coordinator host0:1234 --processes N --process-id 0

The search's result equals that of one process training every C (the tests run this
script as two CPU processes on one machine and compare). Training one network over the
devices of several machines (data parallel across hosts) is another matter: sksvmnet's
device mesh spans the devices of one process.
"""

import argparse
import json

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description="Choose C over several JAX processes.")
    parser.add_argument("--coordinator", required=True, help="host:port of process 0")
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--cpu", action="store_true",
                        help="CPU processes on one machine (a test, or a try-out)")
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cs", type=int, default=6, help="np.logspace(-2, 3, CS)")
    args = parser.parse_args(argv)

    import jax
    if args.cpu:  # (CPU processes exchange arrays through gloo)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=args.coordinator,
                               num_processes=args.processes,
                               process_id=args.process_id)
    from jax.experimental import multihost_utils
    from sklearn.datasets import make_classification
    from sklearn.model_selection import StratifiedKFold

    from sksvmnet import SVMNetClassifier, SVMNetClassifierCV

    # Every process holds the same data (here generated; in practice read from shared
    # storage) and the same folds.
    X, y = make_classification(args.samples, 40, n_informative=15, n_classes=4,
                               random_state=0)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    Cs = np.logspace(-2, 3, args.cs)
    network = dict(hidden_layer_sizes=(args.hidden,), max_iter=args.epochs,
                   random_state=0, backend="jax")

    # This process's share of the Cs, its scores padded to the longest share.
    share = np.arange(args.process_id, len(Cs), args.processes)
    width = -(-len(Cs) // args.processes)
    scores = np.full((len(folds), width), np.nan)
    if share.size:
        search = SVMNetClassifierCV(Cs=Cs[share], cv=folds, refit=False, **network)
        scores[:, :share.size] = search.fit(X, y).scores_
    gathered = np.asarray(multihost_utils.process_allgather(scores))
    all_scores = np.empty((len(folds), len(Cs)))
    for process in range(args.processes):
        mine = np.arange(process, len(Cs), args.processes)
        all_scores[:, mine] = gathered[process][:, :mine.size]

    best = int(np.argmax(all_scores.mean(axis=0)))  # the first of equals, in Cs' order
    model = SVMNetClassifier(C=Cs[best], **network).fit(X, y)
    if args.process_id == 0:
        print(json.dumps({"Cs": Cs.tolist(), "scores": all_scores.tolist(),
                          "C": float(Cs[best]), "training_accuracy": model.score(X, y)}))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
