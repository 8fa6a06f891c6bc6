"""ONNX export through skl2onnx (the optional ``onnx`` extra).

Importing this module registers converters for the four estimators with skl2onnx, after
which ``skl2onnx.to_onnx(model, X[:1])`` converts them, alone or as a step of a
``Pipeline``::

    import sksvmnet.onnx  # registers the converters
    from skl2onnx import to_onnx
    onx = to_onnx(model, X[:1].astype(np.float32))

The graph computes the network's scores layer by layer (``MatMul``, ``Add``, the
activation) in the input's float type, and takes the label as ``predict`` does: the score
above 0 for two classes (the deep L2-SVM's threshold; MLPClassifier's 0.5 on a
probability is the same test only for the log loss), the first highest score otherwise.
The outputs follow skl2onnx's classifiers:

- ``SVMNetClassifier``: ``label`` and ``probabilities``, which holds the
  ``decision_function`` scores, shape (N, 1) for two classes, as skl2onnx's LinearSVC.
- ``LogisticNetClassifier``: ``label`` and ``probabilities`` (``predict_proba``), a list of
  dictionaries unless the option ``zipmap=False``; with ``raw_scores=True`` the second
  output holds the scores instead ((N, 2) ``[-f, f]`` for two classes, as skl2onnx's
  LogisticRegression).
"""

import numpy as np

try:
    from onnx import TensorProto, numpy_helper
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
except ImportError as error:  # pragma: no cover
    raise ImportError(
        "sksvmnet.onnx needs skl2onnx and onnx: pip install \"sksvmnet[onnx]\""
    ) from error

from . import (
    LogisticNetClassifier,
    LogisticNetClassifierCV,
    SVMNetClassifier,
    SVMNetClassifierCV,
)
from ._base import _dense

__all__ = ["register"]

#: Our activation names -> the ONNX operator (identity: none).
_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid",
                   "identity": None}
_LOGISTIC_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False],
                     "raw_scores": [True, False]}


def _labels(classes):
    """The class labels as an ONNX tensor's element type and values (float labels are
    whole numbers: scikit-learn's classifiers take no others)."""
    if classes.dtype.kind in "OUS":
        return TensorProto.STRING, [str(label).encode("utf-8") for label in classes]
    return TensorProto.INT64, classes.astype(np.int64)


def _is_logistic(model):
    return model._loss_name() == "log_loss"


def _shapes(operator):
    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    kind, _ = _labels(model.classes_)
    label_type = StringTensorType if kind == TensorProto.STRING else Int64TensorType
    operator.outputs[0].type = label_type([n_rows])
    n_outputs = model.coefs_[-1].shape[1]
    width = n_outputs if not _is_logistic(model) else max(n_outputs, 2)
    float_type = (DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType)
                  else FloatTensorType)
    operator.outputs[1].type = float_type([n_rows, width])


class _Graph:
    """Adds nodes and constants to skl2onnx's container under unique names."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def constant(self, hint, values, kind=None):
        name = self.scope.get_unique_variable_name(hint)
        if kind == TensorProto.STRING:
            self.container.add_initializer(name, kind, [len(values)], values)
        else:
            tensor = numpy_helper.from_array(np.asarray(values), name)
            self.container.add_initializer(name, tensor.data_type, list(tensor.dims),
                                           tensor)
        return name

    def node(self, op_type, inputs, output=None, **attributes):
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(op_type, inputs, [output],
                                name=self.scope.get_unique_operator_name(op_type),
                                **attributes)
        return output


def _convert(scope, operator, container):
    model = operator.raw_operator
    source = operator.inputs[0]
    dtype = np.float64 if isinstance(source.type, DoubleTensorType) else np.float32
    graph = _Graph(scope, container)
    H = source.full_name
    if not isinstance(source.type, (FloatTensorType, DoubleTensorType)):
        H = graph.node("Cast", [H], to=TensorProto.FLOAT)
    n_layers = len(model.coefs_)
    for layer, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        H = graph.node("MatMul", [H, graph.constant("coef", _dense(W).astype(dtype))])
        H = graph.node("Add", [H, graph.constant("intercept", b.astype(dtype))])
        activation = _ACTIVATION_OPS[model.activation]
        if layer < n_layers - 1 and activation is not None:
            H = graph.node(activation, [H])
    scores = H  # (N, n_outputs)

    kind, labels = _labels(model.classes_)
    classes = graph.constant("classes", labels, kind)
    if model.coefs_[-1].shape[1] == 1:
        zero = graph.constant("zero", np.zeros(1, dtype))
        positive = graph.node("Greater", [scores, zero])
        index = graph.node("Cast", [positive], to=TensorProto.INT64)
        index = graph.node("Reshape", [index, graph.constant("shape", np.array([-1]))])
    else:
        index = graph.node("ArgMax", [scores], axis=1, keepdims=0)
    graph.node("Gather", [classes, index], operator.outputs[0].full_name, axis=0)

    second = operator.outputs[1].full_name
    if not _is_logistic(model):
        graph.node("Identity", [scores], second)
        return
    raw = scope.get_options(model, dict(raw_scores=False))["raw_scores"]
    binary = model.coefs_[-1].shape[1] == 1
    if raw:
        if binary:
            graph.node("Concat", [graph.node("Neg", [scores]), scores], second, axis=1)
        else:
            graph.node("Identity", [scores], second)
    elif binary:
        p = graph.node("Sigmoid", [scores])
        q = graph.node("Sub", [graph.constant("one", np.ones(1, dtype)), p])
        graph.node("Concat", [q, p], second, axis=1)
    elif model._head(len(model.classes_)) == "multinomial":
        graph.node("Softmax", [scores], second, axis=1)
    else:  # one-vs-rest: the sigmoids normalised to sum to 1
        P = graph.node("Sigmoid", [scores])
        ones = graph.constant("ones", np.ones((model.coefs_[-1].shape[1], 1), dtype))
        graph.node("Div", [P, graph.node("MatMul", [P, ones])], second)


def register():
    """Register the converters with skl2onnx (importing this module already did)."""
    for cls in (SVMNetClassifier, SVMNetClassifierCV):
        update_registered_converter(cls, f"Sksvmnet{cls.__name__}", _shapes, _convert)
    for cls in (LogisticNetClassifier, LogisticNetClassifierCV):
        update_registered_converter(cls, f"Sksvmnet{cls.__name__}", _shapes, _convert,
                                    options=dict(_LOGISTIC_OPTIONS))


register()
