"""Minibatch training over whole epochs (Adam; SGD with momentum) of networks and the
linear model alike: initialisation, optimiser state, learning-rate schedules, stopping."""

import time

import numpy as np

from .._losses import forward
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


def _accuracy(coefs, intercepts, X, y, activation):
    F, _ = forward(coefs, intercepts, X, activation)
    pred = (F[:, 0] > 0).astype(np.int64) if F.shape[1] == 1 else np.argmax(F, axis=1)
    return float(np.mean(pred == y))


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


def stochastic(X, y, s, *, backend, coefs, intercepts, state, optimizer, C, loss, head,
               activation, batch_size, learning_rate_init, momentum, max_iter, tol,
               n_iter_no_change, input_noise, dropout, random_state, X_val=None,
               y_val=None, verbose=0, train_output_bias=True, learning_rate="constant",
               power_t=0.5, input_noise_decay=1.0, first_epoch=0, schedule_epochs=None,
               beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Minibatch SGD with momentum or Adam over whole epochs.

    ``coefs`` and ``intercepts`` are updated in place. Training stops after ``max_iter``
    epochs, or when the objective (or the validation accuracy, when ``X_val`` is given)
    has not improved by ``tol`` for ``n_iter_no_change`` epochs, as MLPClassifier does.
    With a validation set the best parameters seen are the ones returned.
    ``train_output_bias=False`` keeps the output bias at its value (a linear model
    without intercept).

    Epoch ``e`` (counted from ``first_epoch``, for ``partial_fit``) trains with the rate
    ``LEARNING_RATE_SCHEDULES[learning_rate](learning_rate_init, e, schedule_epochs,
    power_t)`` and the input noise ``input_noise * input_noise_decay ** e``.
    """
    n = X.shape[0]
    # Minibatches estimate J / (C sum(s)), the scale the full-batch solvers report (and
    # MLPClassifier's, which divides by the sum of the weights): the weights rescaled to
    # mean 1, the penalty 1 / (C sum(s)). Estimating J / (C n) instead made every
    # gradient, and so every SGD step, grow with the level of the weights: with
    # class_weight={0: 1000, 1: 1e-4} the steps grew 500-fold and the fit diverged.
    total = float(np.sum(s))
    s = s * (n / total)
    penalty = 1.0 / (C * total)
    schedule = LEARNING_RATE_SCHEDULES[learning_rate]
    schedule_epochs = max_iter if schedule_epochs is None else schedule_epochs
    rate_scale = 1.0  # the "adaptive" schedule's divisions
    loss_curve, validation_scores = [], []
    best_loss, best_score, stall = np.inf, -np.inf, 0
    best_params = None
    converged = False
    fit_started = time.perf_counter()
    for it in range(max_iter):
        epoch_index = first_epoch + it
        rate = rate_scale * schedule(learning_rate_init,
                                     min(epoch_index, schedule_epochs - 1),
                                     schedule_epochs, power_t)
        noise = input_noise * input_noise_decay ** epoch_index
        perm = random_state.permutation(n).astype(np.int64)
        seed = int(random_state.integers(np.iinfo(np.int32).max))
        started = time.perf_counter()
        data = backend.epoch(
            (coefs, intercepts), state, X, y, s, perm, batch_size=batch_size,
            optimizer=optimizer, learning_rate=rate, momentum=momentum,
            beta1=beta1, beta2=beta2, epsilon=epsilon, penalty=penalty,
            activation=activation, loss=loss, head=head, input_noise=noise,
            dropout=dropout, train_output_bias=train_output_bias, seed=seed)
        seconds = time.perf_counter() - started
        with np.errstate(over="ignore", invalid="ignore"):
            value = data / n + 0.5 * penalty * sum(float(np.sum(W * W)) for W in coefs)
        _check_finite(value, optimizer)
        loss_curve.append(value)
        message = f"Epoch {it + 1}, loss = {value:.8f}"
        if X_val is not None:
            score = _accuracy(coefs, intercepts, X_val, y_val, activation)
            validation_scores.append(score)
            message += f", validation score = {score:.6f}"
            if score > best_score:
                best_params = ([W.copy() for W in coefs], [b.copy() for b in intercepts])
            improved = score > best_score + tol
            best_score = max(best_score, score)
        else:
            improved = value < best_loss - tol
        best_loss = min(best_loss, value)
        if verbose:
            elapsed = time.perf_counter() - fit_started
            print(f"{message}, learning rate = {rate:.3g}, time = {seconds:.2f}s "
                  f"{_progress(it + 1, max_iter, elapsed)}", flush=True)
        stall = 0 if improved else stall + 1
        if stall >= n_iter_no_change:
            if learning_rate == "adaptive" and rate / 5.0 >= MIN_ADAPTIVE_RATE:
                rate_scale /= 5.0
                stall = 0
                if verbose:
                    print(f"Learning rate divided by 5, to {rate / 5.0:.3g}")
                continue
            converged = True
            break
    if best_params is not None:
        for dst, src in zip(coefs + intercepts, best_params[0] + best_params[1]):
            dst[...] = src
    return SolverResult(coefs=coefs, intercepts=intercepts, n_iter=it + 1,
                        converged=converged, loss_curve=loss_curve,
                        validation_scores=validation_scores, best_loss=best_loss,
                        state=state, solver=optimizer)
