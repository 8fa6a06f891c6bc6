"""The solver table: what each algorithm trains and what it costs, in one place.

``solver="auto"`` (:func:`choose`), the checks of an explicit ``solver=`` (:func:`check`),
the estimators' dispatch (:func:`run`) and the
parametrised tests all read :data:`SOLVERS`.

A configuration is what an estimator's arguments and the data's classes make of the
problem: the ``loss`` (:data:`LOSSES`), the ``head`` (:data:`HEADS`; ``"binary"`` for two
classes, whatever ``multi_class`` says), the ``penalty`` (:data:`PENALTIES`; ``"none"``
for the unpenalised model, LogisticRegression's ``C=np.inf``) and whether the model is a
``network`` (hidden layers). Every solver takes dense and sparse X alike, and runs with
every backend that has its ``passes``: the JAX backend has no sequential kernels
(``backends.SEQUENTIAL``), so dual and L1 coordinate descent (``dcd``, ``dcd_log``,
``cd``) run on numba only.
"""

import functools
import inspect
from dataclasses import dataclass

from .._losses import HEADS as _HEAD_FUNCTIONS
from .._losses import MARGIN_LOSSES
from ._curvature import newton_small_suits, newton_suits
from .coordinate_descent import cd_l1, dcd, dcd_log, dcd_log_suits
from .minibatch import stochastic, stochastic_path
from .newton_method import newton
from .proximal import proximal
from .quasi_newton import lbfgs
from .subspace_descent import subspace

#: The losses of DESIGN.md.
LOSSES = tuple(MARGIN_LOSSES)
#: The heads of DESIGN.md.
HEADS = tuple(_HEAD_FUNCTIONS)
#: The penalties: the squared L2 norm of the weights, liblinear's L1 norm, or none.
PENALTIES = ("l2", "l1", "none")


@dataclass(frozen=True)
class Solver:
    """One algorithm: the function that runs it, what it trains and what it costs."""

    #: The module-level solver, ``function(X, y, s, **arguments) -> SolverResult``.
    function: object
    #: The losses, heads and penalties it trains (any combination of them).
    losses: frozenset
    heads: frozenset
    penalties: frozenset
    #: Whether it trains networks (hidden layers); every solver trains the linear model.
    networks: bool
    #: Whether it trains by minibatches, epoch by epoch (``partial_fit`` runs one epoch).
    minibatch: bool
    #: What its passes over the data ask the backend for; a backend that lacks one of
    #: them (the JAX backend has no sequential kernels) cannot run it.
    passes: tuple
    #: What an iteration (an epoch for the minibatch solvers) costs: n rows, d features,
    #: K outputs, nnz the stored entries of X (n d when dense).
    cost: str
    #: Backend functions it uses where the backend has them, and does without otherwise.
    optional_passes: tuple = ()
    #: Trains one model per C together, ``path(X, y, s, networks=, Cs=,
    #: random_states=, **arguments) -> [SolverResult]``, on a backend that has every
    #: one of ``path_passes``; None (or another backend): one C after another.
    path: object = None
    path_passes: tuple = ()

    def runs_path_on(self, backend):
        """Whether ``path`` trains several Cs at once on ``backend``."""
        return self.path is not None and all(hasattr(backend, name)
                                             for name in self.path_passes)

    def trains(self, *, loss, head, penalty, network, backend=None):
        """Whether it trains this configuration (with ``backend``, where one is given)."""
        return (loss in self.losses and head in self.heads and penalty in self.penalties
                and (self.networks or not network) and self.runs_on(backend))

    def runs_on(self, backend):
        """Whether ``backend`` (a backend module; None: any) has every pass it needs."""
        return backend is None or all(hasattr(backend, name) for name in self.passes)


_SMOOTH = frozenset({"squared_hinge", "log_loss"})  # differentiable: the hinge is not
_L2 = frozenset({"l2", "none"})
_ONE_VS_REST = frozenset({"binary", "ovr"})  # one independent margin per output

#: Solver name -> :class:`Solver`, in the order error messages list them.
SOLVERS = {
    "newton": Solver(
        newton, losses=frozenset(LOSSES), heads=_ONE_VS_REST, penalties=_L2,
        networks=False, minibatch=False,
        passes=("outputs", "transposed_product", "weighted_gram"),
        optional_passes=("newton_small",),
        cost="X P and X^T G (2 nnz K); per output a Hessian from the rows where the loss "
             "is curved (n d^2; for the squared hinge updated by the rows that cross the "
             "margin) and its Cholesky factor (d^3 / 3; for the squared hinge kept while "
             "few rows cross, its solves corrected for them, 2 d^2 per row); few "
             "iterations, each with an exact line search (a few passes over the outputs, "
             "n K)"),
    "lbfgs": Solver(
        lbfgs, losses=frozenset(LOSSES), heads=frozenset(HEADS), penalties=_L2,
        networks=False, minibatch=False, passes=("linear_value_grad",),
        cost="about one objective and gradient, X W and X^T G (2 nnz K); where "
             "newton_suits, two triangular solves (d^2 K) and, once, a curvature "
             "from at most 10,000 rows and its Cholesky factor (d^3 / 3); the hinge "
             "through smoothed hinges of shrinking widths, a run for each"),
    "subspace": Solver(
        subspace, losses=_SMOOTH, heads=frozenset({"binary", "ovr", "multinomial"}),
        penalties=_L2, networks=False, minibatch=False,
        passes=("outputs", "transposed_product", "head_along"),
        cost="one X d and one X^T G (2 nnz K), and per Newton step in the span of at "
             "most 9 directions one pass over their outputs (n K r^2)"),
    "dcd": Solver(
        dcd, losses=frozenset({"hinge", "squared_hinge"}),
        heads=frozenset({"binary", "ovr", "crammer_singer", "weston_watkins"}),
        penalties=frozenset({"l2"}), networks=False, minibatch=False, passes=("dcd",),
        cost="an epoch: one sweep over the rows, each a product with the weights and "
             "an update (nnz K), and now and then a duality gap (another pass)"),
    "dcd_log": Solver(
        dcd_log, losses=frozenset({"log_loss"}), heads=frozenset({"multinomial"}),
        penalties=frozenset({"l2"}), networks=False, minibatch=False,
        passes=("dcd_log",),
        cost="an epoch: one sweep over the rows, each a product with the weights, a "
             "small Newton solve over its K dual variables (K exponentials a step) and "
             "an update (2 nnz K in all), and now and then a duality gap (another "
             "nnz K)"),
    "cd": Solver(
        cd_l1, losses=frozenset({"squared_hinge"}), heads=_ONE_VS_REST,
        penalties=frozenset({"l1"}), networks=False, minibatch=False, passes=("cd_l1",),
        cost="an epoch: one sweep over the features, each a pass over its column and "
             "the margins it touches (nnz per output)"),
    "proximal": Solver(
        proximal, losses=frozenset({"squared_hinge"}), heads=_ONE_VS_REST,
        penalties=frozenset({"l1"}), networks=False, minibatch=False,
        passes=("linear_value_grad",),
        cost="one objective and gradient, X W and X^T G (2 nnz K), a step, and as many "
             "more as the backtracking of the step length takes"),
    "adam": Solver(
        stochastic, losses=frozenset(LOSSES), heads=frozenset(HEADS), penalties=_L2,
        networks=True, minibatch=True, passes=("epoch",), path=stochastic_path,
        path_passes=("epochs",),
        cost="an epoch: a forward and a backward pass of every row through the network "
             "(about 3 multiply-adds per row and weight), a step per minibatch"),
    "sgd": Solver(
        stochastic, losses=frozenset(LOSSES), heads=frozenset(HEADS), penalties=_L2,
        networks=True, minibatch=True, passes=("epoch",), path=stochastic_path,
        path_passes=("epochs",),
        cost="an epoch: a forward and a backward pass of every row through the network "
             "(about 3 multiply-adds per row and weight), a step per minibatch"),
}

#: The solvers that train by minibatches.
MINIBATCH_SOLVERS = tuple(name for name, solver in SOLVERS.items() if solver.minibatch)


def usable(*, loss, head, penalty, network, backend=None):
    """The names of the solvers that train this configuration (with ``backend``, a
    backend module, where one is given), in the table's order."""
    return [name for name, solver in SOLVERS.items()
            if solver.trains(loss=loss, head=head, penalty=penalty, network=network,
                             backend=backend)]


def _described(*, loss, head, penalty, network, backend=None):
    model = "a network (hidden layers)" if network else "the linear model"
    where = "" if backend is None else f" with the {_backend_name(backend)!r} backend"
    return f"loss={loss!r}, head={head!r}, penalty={penalty!r} ({model}){where}"


def _backend_name(backend):
    return backend.__name__.rsplit("._", 1)[-1]


def check(solver, *, loss, head, penalty, network, name=None, backend=None):
    """Raise a ``ValueError`` unless ``solver`` trains the configuration (with
    ``backend``, where one is given).

    The message names the solver (as ``name``, the estimator's spelling, where given),
    the configuration, and the solvers that can train it (:func:`usable`).
    """
    if solver not in SOLVERS:
        raise ValueError(f"Unknown solver {solver!r}; the solvers are {list(SOLVERS)}.")
    config = dict(loss=loss, head=head, penalty=penalty, network=network)
    named = f"solver={solver!r}" if name in (None, solver) else (
        f"solver={name!r} (which runs {solver!r})")
    if SOLVERS[solver].trains(**config) and not SOLVERS[solver].runs_on(backend):
        missing = [p for p in SOLVERS[solver].passes if not hasattr(backend, p)]
        can = usable(**config, backend=backend)
        raise ValueError(
            f"{named} needs the backend's {missing}, which the "
            f"{_backend_name(backend)!r} backend does not have (a sequential kernel: one "
            f"row or feature at a time); with it the solvers that train "
            f"{_described(**config)} are {can}, or use backend='numba'.")
    if SOLVERS[solver].trains(**config):
        return
    can = usable(**config, backend=backend)
    others = (f"the solvers that can are {can}" if can else
              "no solver can")
    if network and SOLVERS[solver].trains(**dict(config, network=False)):
        raise ValueError(f"{named} trains only the linear model (no hidden layers), not "
                         f"{_described(**config)}; {others}.")
    raise ValueError(f"{named} cannot train {_described(**config)}; {others}.")


def _quasi_newton_rules(X):
    # Subspace descent where X lacks Newton's shape: it needs fewer passes over X than
    # L-BFGS there (one X d and one X^T G an iteration). Where X has it, L-BFGS works in
    # coordinates whitened by the curvature at W = 0, which Newton's shape makes cheap.
    return [("subspace", not newton_suits(X)), ("lbfgs", True)]


def _first(rules, config):
    """The first solver of ``rules`` (``(name, applies)`` pairs) that applies and trains
    ``config`` (a configuration, and the ``backend`` it runs with), or None."""
    for name, applies in rules:
        if applies and SOLVERS[name].trains(**config):
            return name
    return None


def lbfgs_or_subspace(X, *, loss, head, penalty):
    """``"subspace"`` or ``"lbfgs"``, the one :func:`choose` would run on X among the two:
    subspace descent where X lacks Newton's shape and it trains the configuration, L-BFGS
    otherwise (L-BFGS trains every loss and head of the linear model)."""
    return _first(_quasi_newton_rules(X),
                  dict(loss=loss, head=head, penalty=penalty, network=False))


def _newton_pays(X, loss, n_outputs, backend=None):
    # The squared and smoothed hinges' Hessians change only by the rows that cross the
    # margin, and Newton's method ends them in a few steps. The log loss's Hessian must
    # be formed afresh from every row each iteration (n d^2) and its line search
    # evaluates the loss on every row several times; L-BFGS preconditioned by the
    # curvature at W = 0 makes about one pass over X an iteration and needs 5-13 of them:
    # 2-4x faster from 5,000 x 10 to 100,000 x 20 and 20,000 x 300, raw or standardised.
    # Only where the whole method runs compiled (newton_small_suits) does Newton win.
    if not newton_suits(X):
        return False
    compiled = backend is None or all(
        hasattr(backend, name) for name in SOLVERS["newton"].optional_passes)
    return loss != "log_loss" or (compiled and newton_small_suits(X, n_outputs))


def choose(X, *, loss, head, penalty, dual, network, n_outputs=1, backend=None, C=None):
    """The solver ``solver="auto"`` runs on X for this configuration.

    The first of these rules that applies and names a solver that trains the
    configuration (:data:`SOLVERS`) with ``backend`` (a backend module; None: any)
    decides:

    1. a network → ``"adam"``;
    2. ``penalty="l1"`` → ``"cd"``, or ``"proximal"`` on a backend without coordinate
       descent;
    3. the Crammer-Singer head → ``"dcd"``, liblinear's solver, with a certified gap
       for either loss;
    4. ``dual=True``, or ``dual="auto"`` with ``n_samples <= n_features`` → ``"dcd"``
       (LinearSVC's rule for choosing the dual; LogisticNetClassifier's ``dual`` is
       always False);
    5. the log loss with the multinomial head, where at most a tenth of X's entries
       are non-zero, there are no more rows than features, ``C`` times the rows' mean
       squared norm is small and the problem is not (``dcd_log_suits``) →
       ``"dcd_log"``, its dual;
    6. X of Newton's shape (``newton_suits``: more rows than features, at most
       ``NEWTON_MAX_FEATURES`` of them) → ``"newton"``; for the log loss only where the
       problem is small enough for its compiled loop (``newton_small_suits`` with
       ``n_outputs`` outputs), preconditioned L-BFGS (rule 9) otherwise;
    7. the hinge → ``"dcd"``;
    8. X not of Newton's shape → ``"subspace"``;
    9. ``"lbfgs"`` (the heads Newton's method and subspace descent do not train, and
       the hinge through smoothed hinges where the backend has no dual coordinate
       descent).

    Rules 8 and 9 are :func:`lbfgs_or_subspace`. ``C`` is the penalty's ``C`` (None
    without a penalty); only rule 5 reads it. A backend without the sequential
    kernels (the JAX backend: no ``dcd``, ``dcd_log`` nor ``cd_l1``) skips the rules
    that name them, except that ``dual=True`` asks for the dual explicitly: that
    raises. The rule reads X's shape (and rule 5 its values), never its format: a
    sparse X runs the algorithm its dense twin runs.
    Raises a ``ValueError`` where no solver trains the configuration.
    """
    config = dict(loss=loss, head=head, penalty=penalty, network=network)
    if dual is True and not network and not SOLVERS["dcd"].runs_on(backend):
        raise ValueError(
            f"dual=True asks for dual coordinate descent, which the "
            f"{_backend_name(backend)!r} backend does not run (a sequential kernel, one "
            f"row at a time); use dual='auto' (a primal solver) or backend='numba'.")
    n_samples, n_features = X.shape
    rules = [
        ("adam", network),
        ("cd", penalty == "l1"),
        ("proximal", penalty == "l1"),
        ("dcd", head == "crammer_singer"),
        ("dcd", dual is True or (dual == "auto" and n_samples <= n_features)),
        # (X is read only where the dual trains the configuration)
        ("dcd_log", SOLVERS["dcd_log"].trains(**config, backend=backend)
         and dcd_log_suits(X, C, n_outputs)),
        ("newton", _newton_pays(X, loss, n_outputs, backend)),
        ("dcd", loss == "hinge"),
        *_quasi_newton_rules(X),
        ("dcd", True),
    ]
    solver = _first(rules, dict(config, backend=backend))
    if solver is None:
        raise ValueError(f"No solver trains {_described(**config, backend=backend)}.")
    return solver


def run_path(solver, X, y, s, **arguments):
    """Train a model per C with ``solver``'s ``path`` (which takes every argument)."""
    return SOLVERS[solver].path(X, y, s, **arguments)


def run(solver, X, y, s, **arguments):
    """Train with ``solver``: its function, given those of ``arguments`` it takes.

    An estimator offers every argument any solver takes (``coef_init`` for a warm start
    reaches only the solvers that start from a given point; ``dual_init``, the last C's
    dual variables along a path, only dual coordinate descent).
    """
    function = SOLVERS[solver].function
    taken = _parameters(function)
    return function(X, y, s, **{key: value for key, value in arguments.items()
                                if key in taken})


@functools.cache
def _parameters(function):
    """The argument names ``function`` takes (read once: a signature costs tens of
    microseconds, a sizeable share of a millisecond fit)."""
    return frozenset(inspect.signature(function).parameters)
