"""Solvers: the algorithms that minimise the primal objective of DESIGN.md.

A solver receives validated arrays and a backend module, asks the backend for numbers and
returns plain numpy results (a :class:`SolverResult`). It never inspects which backend it
has.

One module per algorithm, and one table:

- :mod:`.newton_method`: Newton's method (``"newton"``);
- :mod:`.quasi_newton`: L-BFGS (``"lbfgs"``);
- :mod:`.subspace_descent`: subspace descent (``"subspace"``);
- :mod:`.coordinate_descent`: liblinear's dual (``"dcd"``) and L1 primal (``"cd"``)
  coordinate descent, and the dual of the multinomial log loss (``"dcd_log"``);
- :mod:`.proximal`: accelerated proximal gradient for the L1 penalty (``"proximal"``);
- :mod:`.minibatch`: Adam and SGD over minibatches (``"adam"``, ``"sgd"``);
- :mod:`.table`: what each trains and costs; ``solver="auto"``'s rule, the checks of an
  explicit ``solver=`` and the dispatch;
- :mod:`._curvature` and :mod:`._common`: what several of them share.

The names below are the package's interface to the estimators, the tests and the
benchmarks; a module constant is read (and patched) in its own module.
"""

from ._common import (  # noqa: F401
    DUAL_GAP_FACTOR,
    LBFGS_DECREMENT_FACTOR,
    LBFGS_MARGIN_DECREMENT_FACTOR,
    SolverResult,
    _signed_targets,
    as_training_array,
    linear_objective,
    resolve_backend,
)
from ._curvature import (  # noqa: F401
    NEWTON_MAX_FEATURES,
    _hessian_diagonal,
    _preconditioner,
    newton_small_suits,
    newton_suits,
)
from .coordinate_descent import (  # noqa: F401
    DCD_LOG_MAX_SCALE,
    SMALL_PROBLEM_TOL,
    cd_l1,
    dcd,
    dcd_log,
    dcd_log_suits,
)
from .minibatch import (  # noqa: F401
    LEARNING_RATE_SCHEDULES,
    MIN_ADAPTIVE_RATE,
    _progress,
    init_params,
    init_state,
    stochastic,
    stochastic_path,
)
from .newton_method import _line_search, _updated_hessian, newton  # noqa: F401
from .proximal import proximal  # noqa: F401
from .quasi_newton import lbfgs  # noqa: F401
from .subspace_descent import (  # noqa: F401
    _direction_products,
    _duality_gap,
    _minimise_in_subspace,
    _remaining,
    subspace,
)
from .table import (  # noqa: F401
    MINIBATCH_SOLVERS,
    SOLVERS,
    check,
    choose,
    lbfgs_or_subspace,
    run,
    run_path,
    usable,
)
