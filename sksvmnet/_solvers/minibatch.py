"""Minibatch training over whole epochs (Adam; SGD with momentum) of networks and the
linear model alike: initialisation, optimiser state, learning-rate schedules, stopping."""

import signal
import sys
import threading
import time

import numpy as np

from .._losses import forward, head_loss
from ._common import SolverResult, _check_finite


def init_params(layer_sizes, activation, dtype, random_state):
    """Glorot-uniform weights and biases, drawn with numpy so every backend starts alike."""
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        factor = 2.0 if activation == "logistic" else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        intercepts.append(random_state.uniform(-bound, bound, fan_out).astype(dtype))
    return coefs, intercepts


def init_state(coefs, intercepts):
    """Zero optimizer moments (shared by SGD's velocity and Adam's two moments)."""
    return {
        "m_coefs": [np.zeros_like(W) for W in coefs],
        "m_intercepts": [np.zeros_like(b) for b in intercepts],
        "v_coefs": [np.zeros_like(W) for W in coefs],
        "v_intercepts": [np.zeros_like(b) for b in intercepts],
        "step": 0,
    }


def _validate(coefs, intercepts, validation, activation, loss, head):
    """The held-out rows' weighted mean loss (the objective's data term) and accuracy."""
    X, y, s = validation
    if not np.sum(s) > 0:  # (held-out rows whose weights are all 0: count them alike)
        s = np.ones_like(s)
    with np.errstate(over="ignore", invalid="ignore"):  # (a diverging fit: its own error)
        F, _ = forward(coefs, intercepts, X, activation)
        value = head_loss(F, y, s, loss, head)[0] / float(np.sum(s))
    pred = (F[:, 0] > 0).astype(np.int64) if F.shape[1] == 1 else np.argmax(F, axis=1)
    return float(value), float(np.mean(pred == y))


def _constant_rate(lr0, epoch, n_epochs, power_t):
    return lr0


def _linear_rate(lr0, epoch, n_epochs, power_t):
    # Tang (2013): from lr0 down to lr0 / n_epochs in the last epoch.
    return lr0 * (1.0 - epoch / n_epochs)


def _invscaling_rate(lr0, epoch, n_epochs, power_t):
    return lr0 / (epoch + 1) ** power_t


#: Learning-rate schedules: name -> rate of epoch ``epoch`` (0-based) of ``n_epochs``.
#: "adaptive" keeps the rate until the loss stalls, then divides it by 5 (MLPClassifier's
#: rule); the stopping loop applies that part.
LEARNING_RATE_SCHEDULES = {
    "constant": _constant_rate,
    "linear": _linear_rate,
    "invscaling": _invscaling_rate,
    "adaptive": _constant_rate,
}
#: "adaptive" stops once the rate falls below this, as MLPClassifier does.
MIN_ADAPTIVE_RATE = 1e-6


def _progress(done, total, elapsed, width=20):
    """A text progress bar with the time left at the mean pace so far (max_iter epochs;
    early stopping may end sooner)."""
    filled = width * done // total
    left = elapsed / done * (total - done)
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}, "
            f"{elapsed:.0f}s elapsed, ~{left:.0f}s left")


class _CtrlC:
    """Ctrl-C during the epochs: the first press ends the fit after the current epoch,
    a second one raises KeyboardInterrupt at once.

    Only in the main thread and only where SIGINT has Python's default handler (a user's
    own handler, a joblib worker or a thread keep theirs).
    """

    def __init__(self, enabled):
        self.enabled, self.pressed, self._previous = enabled, False, None

    def __enter__(self):
        if (self.enabled and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        print("Interrupted: training stops at the end of this epoch "
              "(Ctrl-C again to abort).", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class _Run:
    """One network's training: its weights, optimiser state and generator, and the
    bookkeeping of its epochs (rate schedule, curves, stopping test, best epoch)."""

    def __init__(self, coefs, intercepts, state, C, random_state, total, resume=None):
        self.coefs, self.intercepts, self.state = coefs, intercepts, state
        self.C, self.random_state = C, random_state
        self.penalty = 1.0 / (C * total)
        self.rate_scale = 1.0  # the "adaptive" schedule's divisions
        self.loss_curve, self.validation_scores, self.validation_losses = [], [], []
        self.best_loss, self.best_validation_loss, self.stall = np.inf, np.inf, 0
        self.best_score = -np.inf
        self.best_epoch = None
        self.best_params = None
        self.converged = self.done = False
        if resume is not None:
            random_state.bit_generator.state = resume["random_state"]
            self.rate_scale, self.stall = resume["rate_scale"], resume["stall"]
            self.best_loss = resume["best_loss"]
            self.best_validation_loss = resume["best_validation_loss"]
            self.best_score = resume["best_score"]
            self.best_epoch = resume["best_epoch"]
            self.loss_curve = list(resume["loss_curve"])
            self.validation_scores = list(resume["validation_scores"])
            self.validation_losses = list(resume["validation_losses"])
            self.best_params = resume["best_params"]
            if resume["params"] is not None:  # the last epoch's weights, not the best
                for dst, src in zip(coefs + intercepts, resume["params"]):
                    dst[...] = src

    def draw(self, n):
        """The epoch's minibatch order and its noise and dropout seed."""
        perm = self.random_state.permutation(n).astype(np.int64)
        return perm, int(self.random_state.integers(np.iinfo(np.int32).max))

    def record(self, data, n, validation, activation, loss, head, tol):
        """Book an epoch that took ``data``; return its log line.

        Without ``validation`` the epoch improved if the objective fell by ``tol``; with
        it (early stopping), if the held-out rows' loss fell or their accuracy rose by
        ``tol``, and the weights of the best accuracy (ties: the lower loss) are kept."""
        with np.errstate(over="ignore", invalid="ignore"):
            value = data / n + 0.5 * self.penalty * sum(float(np.sum(W * W))
                                                        for W in self.coefs)
        self.loss_curve.append(value)
        message = f"loss = {value:.8f}"
        if validation is not None:
            held_out, score = _validate(self.coefs, self.intercepts, validation,
                                        activation, loss, head)
            self.validation_losses.append(held_out)
            self.validation_scores.append(score)
            message += f", validation loss = {held_out:.8f}, validation score = {score:.6f}"
            # Kept: the best accuracy, ties to the lower loss. Stalled: neither the loss
            # nor the accuracy improved by tol (the loss goes on falling while a small
            # held-out set's accuracy sits on a plateau; a squared hinge's loss turns
            # up on a few confident mistakes while the accuracy still climbs).
            best = self.best_epoch
            if best is None or (score, -held_out) > (self.validation_scores[best],
                                                     -self.validation_losses[best]):
                self.best_params = ([W.copy() for W in self.coefs],
                                    [b.copy() for b in self.intercepts])
                self.best_epoch = len(self.loss_curve) - 1
            improved = (held_out < self.best_validation_loss - tol
                        or score > self.best_score + tol)
            self.best_validation_loss = min(self.best_validation_loss, held_out)
            self.best_score = max(self.best_score, score)
        else:
            improved = value < self.best_loss - tol
        self.best_loss = min(self.best_loss, value)
        self.stall = 0 if improved else self.stall + 1
        return value, message

    def stop_test(self, rate, learning_rate, n_iter_no_change, verbose):
        """After a stalled stretch: divide an adaptive rate, or stop."""
        if self.stall < n_iter_no_change:
            return
        if learning_rate == "adaptive" and rate / 5.0 >= MIN_ADAPTIVE_RATE:
            self.rate_scale /= 5.0
            self.stall = 0
            if verbose:
                print(f"Learning rate divided by 5, to {rate / 5.0:.3g}")
            return
        self.converged = self.done = True

    def result(self, optimizer, n, interrupted=False):
        resume = None
        if interrupted:
            resume = dict(
                random_state=self.random_state.bit_generator.state,
                rate_scale=self.rate_scale, stall=self.stall, best_loss=self.best_loss,
                best_validation_loss=self.best_validation_loss, best_epoch=self.best_epoch,
                best_score=self.best_score,
                loss_curve=list(self.loss_curve),
                validation_scores=list(self.validation_scores),
                validation_losses=list(self.validation_losses),
                best_params=self.best_params, params=None if self.best_params is None
                else [A.copy() for A in self.coefs + self.intercepts])
        if self.best_params is not None:
            for dst, src in zip(self.coefs + self.intercepts,
                                self.best_params[0] + self.best_params[1]):
                dst[...] = src
        return SolverResult(
            coefs=self.coefs, intercepts=self.intercepts, n_iter=len(self.loss_curve),
            converged=self.converged, loss_curve=self.loss_curve,
            validation_scores=self.validation_scores,
            validation_losses=self.validation_losses, best_epoch=self.best_epoch,
            best_loss=self.best_loss,
            state=self.state, solver=optimizer, interrupted=interrupted, resume=resume,
            train_rows=n)


def stochastic(X, y, s, *, backend, coefs, intercepts, state, optimizer, C, loss, head,
               activation, batch_size, learning_rate_init, momentum, max_iter, tol,
               n_iter_no_change, input_noise, dropout, random_state, validation=None,
               verbose=0, train_output_bias=True, learning_rate="constant",
               power_t=0.5, input_noise_decay=1.0, first_epoch=0, schedule_epochs=None,
               beta1=0.9, beta2=0.999, epsilon=1e-8, interruptible=False, resume=None):
    """Minibatch SGD with momentum or Adam over whole epochs.

    ``coefs`` and ``intercepts`` are updated in place. Training stops after ``max_iter``
    epochs, or when the objective has not improved by ``tol`` for ``n_iter_no_change``
    epochs, as MLPClassifier does. With ``validation = (X_val, y_val, s_val)`` (early
    stopping) the test is on the held-out rows instead (neither their weighted mean loss
    fell nor their accuracy rose by ``tol``), and the weights of the best accuracy (ties:
    the lower loss) are the ones returned.
    ``train_output_bias=False`` keeps the output bias at its value (a linear model
    without intercept).

    Epoch ``e`` (counted from ``first_epoch``, for ``partial_fit``) trains with the rate
    ``LEARNING_RATE_SCHEDULES[learning_rate](learning_rate_init, e, schedule_epochs,
    power_t)`` and the input noise ``input_noise * input_noise_decay ** e``.

    ``interruptible=True``: Ctrl-C ends the fit after the current epoch (``_CtrlC``); the
    result is then ``interrupted`` and its ``resume`` holds what the loop needs to go on
    exactly where it stopped: passed back as ``resume`` (with ``first_epoch`` the epochs
    done and the same optimiser ``state``), the epochs continue as if never stopped.
    """
    # Minibatches estimate J / (C sum(s)), the scale the full-batch solvers report (and
    # MLPClassifier's, which divides by the sum of the weights): the weights rescaled to
    # mean 1, the penalty 1 / (C sum(s)). Estimating J / (C n) instead made every
    # gradient, and so every SGD step, grow with the level of the weights: with
    # class_weight={0: 1000, 1: 1e-4} the steps grew 500-fold and the fit diverged.
    total = float(np.sum(s))
    s = s * (X.shape[0] / total)
    run = _Run(coefs, intercepts, state, C, random_state, total, resume)
    (result,) = _train(
        X, y, s, [run], backend=backend, optimizer=optimizer, loss=loss, head=head,
        activation=activation, batch_size=batch_size,
        learning_rate_init=learning_rate_init, momentum=momentum, max_iter=max_iter,
        tol=tol, n_iter_no_change=n_iter_no_change, input_noise=input_noise,
        dropout=dropout, validation=validation, verbose=verbose,
        train_output_bias=train_output_bias, learning_rate=learning_rate,
        power_t=power_t, input_noise_decay=input_noise_decay, first_epoch=first_epoch,
        schedule_epochs=schedule_epochs, beta1=beta1, beta2=beta2, epsilon=epsilon,
        interruptible=interruptible)
    return result


def stochastic_path(X, y, s, *, backend, networks, Cs, random_states, optimizer, **options):
    """Train one network per C together: each epoch of all of them is one call to the
    backend's ``epochs`` (one compiled program on JAX, vectorised over the networks).

    ``networks`` holds each network's ``(coefs, intercepts, state)``, ``random_states``
    its generator; every other option is ``stochastic``'s, shared. Each network draws
    its minibatch orders from its own generator and stops on its own test, so each
    result is what ``stochastic`` gives that network alone (to rounding). A network that
    has stopped trains on in scratch weights until the last one stops, so that the
    program's shapes stay those of the first epoch (no recompilation).
    """
    total = float(np.sum(s))
    s = s * (X.shape[0] / total)
    runs = [_Run(coefs, intercepts, state, C, rng, total)
            for (coefs, intercepts, state), C, rng in zip(networks, Cs, random_states)]
    return _train(X, y, s, runs, backend=backend, optimizer=optimizer, **options)


def _train(X, y, s, runs, *, backend, optimizer, loss, head, activation, batch_size,
           learning_rate_init, momentum, max_iter, tol, n_iter_no_change, input_noise,
           dropout, validation=None, verbose=0, train_output_bias=True,
           learning_rate="constant", power_t=0.5, input_noise_decay=1.0, first_epoch=0,
           schedule_epochs=None, beta1=0.9, beta2=0.999, epsilon=1e-8,
           interruptible=False):
    """The epochs of ``runs`` (one: ``backend.epoch``; several: ``backend.epochs``)."""
    n = X.shape[0]
    schedule = LEARNING_RATE_SCHEDULES[learning_rate]
    schedule_epochs = max_iter if schedule_epochs is None else schedule_epochs
    together = len(runs) > 1
    scratch = {}  # a stopped run's stand-in weights and state, while others train on
    interrupted = False
    fit_started = time.perf_counter()
    with _CtrlC(interruptible and not together) as ctrl_c:
        for it in range(max_iter):
            if all(run.done for run in runs):
                break
            if ctrl_c.pressed:  # (after the whole of the last epoch, its stopping test too)
                interrupted = True
                break
            epoch_index = first_epoch + it
            noise = input_noise * input_noise_decay ** epoch_index
            rates = [run.rate_scale * schedule(learning_rate_init,
                                               min(epoch_index, schedule_epochs - 1),
                                               schedule_epochs, power_t)
                     for run in runs]
            draws = [None if run.done else run.draw(n) for run in runs]
            # (a stopped run trains on in the first running one's order: where they all
            # share one, the program keeps the shared order it was compiled for)
            stand_in = next(draw for draw in draws if draw is not None)
            draws = [stand_in if draw is None else draw for draw in draws]
            started = time.perf_counter()
            shared = dict(batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                          beta1=beta1, beta2=beta2, epsilon=epsilon,
                          activation=activation, loss=loss, head=head,
                          input_noise=noise, dropout=dropout,
                          train_output_bias=train_output_bias)
            if together:
                weights = [scratch[id(run)] if run.done
                           else (run.coefs, run.intercepts, run.state) for run in runs]
                data = backend.epochs(
                    [(W, b) for W, b, _ in weights], [st for _, _, st in weights],
                    X, y, s, [perm for perm, _ in draws], learning_rates=rates,
                    penalties=[run.penalty for run in runs],
                    seeds=[seed for _, seed in draws], **shared)
            else:
                (run,) = runs
                data = [backend.epoch(
                    (run.coefs, run.intercepts), run.state, X, y, s, draws[0][0],
                    learning_rate=rates[0], penalty=run.penalty, seed=draws[0][1],
                    **shared)]
            seconds = time.perf_counter() - started
            for run, value, rate in zip(runs, data, rates):
                if run.done:
                    continue
                value, message = run.record(value, n, validation, activation, loss,
                                            head, tol)
                _check_finite(value, optimizer)
                if verbose:
                    elapsed = time.perf_counter() - fit_started
                    label = f"C={run.C:.4g}: " if together else ""
                    print(f"{label}Epoch {epoch_index + 1}, {message}, learning rate = "
                          f"{rate:.3g}, time = {seconds:.2f}s "
                          f"{_progress(it + 1, max_iter, elapsed)}", flush=True)
                run.stop_test(rate, learning_rate, n_iter_no_change, verbose)
                if run.done and together:
                    scratch[id(run)] = (
                        [W.copy() for W in run.coefs], [b.copy() for b in run.intercepts],
                        {key: [a.copy() for a in value] if isinstance(value, list)
                         else value for key, value in run.state.items()})
    return [run.result(optimizer, n, interrupted) for run in runs]
