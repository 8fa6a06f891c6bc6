"""The integer codes of losses, heads, activations and optimizers that the kernels take
for the package's names."""


LOSS_CODES = {"hinge": 0, "squared_hinge": 1, "log_loss": 2}
HEAD_CODES = {
    "binary": 0,
    "ovr": 1,
    "crammer_singer": 2,
    "weston_watkins": 3,
    "multinomial": 4,
}
ACTIVATION_CODES = {"identity": 0, "relu": 1, "tanh": 2, "logistic": 3}
OPTIMIZER_CODES = {"sgd": 0, "adam": 1}

_HINGE, _SQUARED_HINGE, _LOG_LOSS = 0, 1, 2
_MULTINOMIAL = HEAD_CODES["multinomial"]
