"""ONNX export of a fitted :class:`~sklearn_contrastive.ContrastiveEmbedder`.

:func:`to_onnx` exports the embedding network alone (what ``transform``
runs) with :func:`torch.onnx.export`; :func:`register_converter` registers a
converter with skl2onnx, so that :func:`skl2onnx.to_onnx` converts a whole
pipeline around the embedder (a scaler before it, a k-NN classifier after
it) into one ONNX graph that runs in onnxruntime without torch.

onnx, onnxscript (for torch's exporter) and skl2onnx are the optional extra
``onnx`` (``pip install "sklearn-contrastive[onnx]"``); they are imported
when a function here is called, so importing this module does not need them.

Read more in the :ref:`User Guide <user_guide_onnx>`.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import warnings
from collections.abc import Iterator

import torch
from sklearn.utils.validation import check_is_fitted
from torch.torch_version import TorchVersion

from ._embedder import ContrastiveEmbedder
from .networks import embedding_network

__all__ = ["register_converter", "to_onnx"]

#: The lowest ``ai.onnx`` opset written: torch's exporter builds opset 18
#: graphs and cannot convert them to older opsets.
_MIN_OPSET = 18

#: The first torch whose ``torch.onnx.export`` has the ``torch.export``-based
#: exporter this module uses (``dynamo=True``, ``ONNXProgram.model_proto``).
_MIN_TORCH = (2, 6)

#: skl2onnx's alias for the embedder (its converter and shape calculator).
_ALIAS = "SklearnContrastiveEmbedder"

_INSTALL_HINT = "pip install 'sklearn-contrastive[onnx]'"


def to_onnx(embedder, *, target_opset=None, input_name="X", output_name="embeddings"):
    """Export a fitted embedder's ``transform`` as an ONNX model.

    The network that ``transform`` runs (with its L2 normalisation when
    ``normalize=True``; without a projection head, which the embeddings do
    not use) is exported with :func:`torch.onnx.export`, torch's
    ``torch.export``-based exporter, in eval mode. The model has one float32
    input of shape ``(batch, n_features_in_)``, where the number of rows
    ``batch`` is free, and one float32 output, the embeddings, of shape
    ``(batch, n_components)``. onnxruntime gives the embeddings of
    ``transform`` to float32 rounding.

    To convert a pipeline that contains the embedder, use
    :func:`skl2onnx.to_onnx` after :func:`register_converter`.

    Read more in the :ref:`User Guide <user_guide_onnx>`.

    Parameters
    ----------
    embedder : ContrastiveEmbedder
        A fitted embedder; its network may be the default MLP or a custom
        ``module`` that :func:`torch.export.export` can trace.
    target_opset : int, default=None
        The ``ai.onnx`` opset of the model, 18 or later;
        ``None`` uses torch's default.
    input_name : str, default="X"
        Name of the model's input.
    output_name : str, default="embeddings"
        Name of the model's output.

    Returns
    -------
    model : onnx.ModelProto
        Save it with :func:`onnx.save`; run it with
        ``onnxruntime.InferenceSession(model.SerializeToString())``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``embedder`` is not fitted.
    ValueError
        If the network cannot be exported, or its graph depends on the number
        of rows, with torch's reason.

    See Also
    --------
    register_converter : Convert pipelines with the embedder with skl2onnx.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_contrastive import ContrastiveEmbedder
    >>> from sklearn_contrastive.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> embedder = ContrastiveEmbedder(n_components=2, hidden_layer_sizes=(8,),
    ...                                max_epochs=2, random_state=0).fit(X, y)
    >>> session = onnxruntime.InferenceSession(
    ...     to_onnx(embedder).SerializeToString())
    >>> embeddings = session.run(None, {"X": X})[0]
    >>> bool(np.abs(embeddings - embedder.transform(X)).max() < 1e-5)
    True
    """
    if not isinstance(embedder, ContrastiveEmbedder):
        raise TypeError(
            "to_onnx exports a fitted ContrastiveEmbedder; got a "
            f"{type(embedder).__name__}. Convert a pipeline with skl2onnx."
            "to_onnx(pipeline, X) after sklearn_contrastive.onnx."
            "register_converter()."
        )
    check_is_fitted(embedder)
    if target_opset is not None:
        _check_opset(target_opset, "sklearn_contrastive.onnx.to_onnx")
    return _export(embedder, target_opset, input_name, output_name)


def register_converter():
    """Register the embedder's converter with skl2onnx.

    Afterwards :func:`skl2onnx.to_onnx` and :func:`skl2onnx.convert_sklearn`
    convert a fitted :class:`~sklearn_contrastive.ContrastiveEmbedder`, alone
    or as a step of a :class:`~sklearn.pipeline.Pipeline` or
    :class:`~sklearn.compose.ColumnTransformer`: the converter exports its
    network with :func:`to_onnx` at the opset skl2onnx targets (skl2onnx's
    ``target_opset``, 18 or later) and inserts the graph
    into skl2onnx's, under names of its own, so that two embedders in one
    pipeline do not clash. A float64 or integer input is cast to float32
    first, as ``transform`` reads it, and a DataFrame's columns (one skl2onnx
    input each) are joined in their order. The embeddings are float32.

    skl2onnx converts an estimator from outside scikit-learn once its
    converter is registered with :func:`skl2onnx.update_registered_converter`
    (as for LightGBM or XGBoost); this function makes that call. Calling it
    again does no harm.

    Read more in the :ref:`User Guide <user_guide_onnx>`.

    See Also
    --------
    to_onnx : Export the embedder alone.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> import skl2onnx
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_contrastive import ContrastiveEmbedder
    >>> from sklearn_contrastive.onnx import register_converter
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> pipe = make_pipeline(
    ...     StandardScaler(),
    ...     ContrastiveEmbedder(n_components=2, hidden_layer_sizes=(8,),
    ...                         max_epochs=2, random_state=0),
    ...     KNeighborsClassifier(),
    ... ).fit(X, y)
    >>> register_converter()
    >>> model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    >>> session = onnxruntime.InferenceSession(model.SerializeToString())
    >>> labels = session.run(["label"], {"X": X})[0]
    >>> bool((labels == pipe.predict(X)).all())
    True
    """
    skl2onnx = _require("skl2onnx")
    skl2onnx.update_registered_converter(
        ContrastiveEmbedder,
        _ALIAS,
        _calculate_output_shapes,
        _convert,
        overwrite=True,
    )


def _check_opset(opset, caller: str) -> None:
    """``opset`` is an int, at least ``_MIN_OPSET``; ``caller`` is the call
    whose ``target_opset`` it is, for the message."""
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TypeError(
            f"target_opset must be an int (an ai.onnx opset, {_MIN_OPSET} or "
            f"later) or None; got {opset!r}."
        )
    if opset < _MIN_OPSET:
        raise ValueError(
            f"ContrastiveEmbedder exports to ONNX opset {_MIN_OPSET} or later "
            "(torch's exporter writes no older opset); got "
            f"target_opset={opset}. Pass {caller}(..., target_opset="
            f"{_MIN_OPSET}) or later (onnxruntime 1.14 and later run it)."
        )


def _require(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"ONNX export requires {name}: {_INSTALL_HINT} (the extra installs "
            "onnx, onnxscript, onnxruntime and skl2onnx)."
        ) from error


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what torch's exporter reports about itself on every call: a
    warning per torchvision operator when torchvision is absent, and torch's
    own deprecation of a pytree class it still uses."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")
            yield
    finally:
        registration.setLevel(level)


def _export(embedder, opset: int | None, input_name: str, output_name: str):
    """The embedding network of a fitted ``embedder`` as an ``onnx.ModelProto``."""
    for name in ("onnx", "onnxscript"):
        _require(name)
    if TorchVersion(torch.__version__) < _MIN_TORCH:
        raise ImportError(
            "ONNX export requires torch 2.6 or later (its torch.export-based "
            f"exporter); got torch {torch.__version__}. Upgrade torch."
        )
    # A copy on the CPU: exporting traces the network, and the fitted one may
    # live on a GPU; the estimator is left as it was.
    network = copy.deepcopy(embedding_network(embedder.net_.module_)).cpu().eval()
    label = _network_label(embedder)
    X = torch.zeros((2, embedder.n_features_in_), dtype=torch.float32)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                network,
                (X,),
                input_names=[input_name],
                output_names=[output_name],
                opset_version=opset,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                verbose=False,
            )
    except torch.onnx.OnnxExporterError as error:
        raise ValueError(
            f"{label} cannot be exported to ONNX: torch.onnx.export failed with "
            f"{_reason(error)}. A network exports when torch.export can trace "
            "its forward: tensor operations only, no .item(), .numpy() or "
            "Python branches on tensor values (see "
            "https://pytorch.org/docs/stable/export.html)."
        ) from error
    model = program.model_proto
    _check_free_batch(model, label)
    model.graph.name = type(embedder).__name__
    return model


def _network_label(embedder) -> str:
    module = embedder.module
    if module is None:
        return "ContrastiveEmbedder's network"
    name = module.__name__ if isinstance(module, type) else type(module).__name__
    return f"ContrastiveEmbedder(module={name})"


def _reason(error: BaseException) -> str:
    """The first line of the innermost error torch reports (torch.export's own,
    when tracing failed), with its type."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _check_free_batch(model, label: str) -> None:
    """Refuse a graph whose number of rows torch.export fixed: a forward that
    branches on, or reshapes to, the batch size of the example input."""
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        first = dims[0] if dims else None
        if first is not None and not first.dim_param:
            raise ValueError(
                f"{label} cannot be exported to ONNX with a free number of rows: "
                f"torch.export fixed the first axis of {value.name!r} at "
                f"{first.dim_value} rows, the rows of its example input, so its "
                "forward depends on the batch size (e.g. a branch on "
                "X.shape[0], or a reshape to a fixed number of rows). Reshape "
                "with -1 for the rows, e.g. X.view(-1, 1, 8, 8)."
            )


def _calculate_output_shapes(operator) -> None:
    """skl2onnx shape calculator: inputs of ``(N, k)`` numbers (one array, or
    one per column of a DataFrame) with ``n_features_in_`` columns in all,
    one float32 output of ``(N, n_components)``."""
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int32TensorType,
        Int64TensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_types

    embedder = operator.raw_operator
    check_is_fitted(embedder)
    check_input_and_output_types(
        operator,
        good_input_types=[
            FloatTensorType,
            DoubleTensorType,
            Int64TensorType,
            Int32TensorType,
        ],
    )
    widths = [
        variable.type.shape[1] if len(variable.type.shape) == 2 else None
        for variable in operator.inputs
    ]
    if all(isinstance(width, int) and width > 0 for width in widths):
        if sum(widths) != embedder.n_features_in_:
            raise ValueError(
                f"ContrastiveEmbedder was fitted on {embedder.n_features_in_} "
                f"features; its ONNX input has {sum(widths)} columns. Convert "
                "with rows of the features seen in fit (skl2onnx.to_onnx(model, "
                "X[:1]))."
            )
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n_rows, embedder._n_features_out])


def _convert(scope, operator, container) -> None:
    """skl2onnx converter: the inputs as one float32 matrix, then the exported
    network, inserted into the graph."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import FloatTensorType

    embedder = operator.raw_operator
    opset = container.target_opset
    _check_opset(opset, "skl2onnx.to_onnx")
    model = _export(embedder, opset, "X", "embeddings")
    sources = []
    for variable in operator.inputs:
        source = variable.full_name
        if not isinstance(variable.type, FloatTensorType):
            # transform reads rows as float32 too.
            source = scope.get_unique_variable_name(source + "_float32")
            container.add_node(
                "Cast",
                [variable.full_name],
                [source],
                name=scope.get_unique_operator_name("Cast"),
                to=TensorProto.FLOAT,
                op_version=opset,
            )
        sources.append(source)
    if len(sources) > 1:
        # One input per column of a DataFrame: side by side, in their order.
        joined = scope.get_unique_variable_name("X_joined")
        container.add_node(
            "Concat",
            sources,
            [joined],
            name=scope.get_unique_operator_name("Concat"),
            axis=1,
            op_version=opset,
        )
        sources = [joined]
    _insert_graph(model, sources[0], operator.outputs[0].full_name, scope, container)


def _insert_graph(model, source: str, target: str, scope, container) -> None:
    """Add ``model``'s graph to skl2onnx's ``container``, its input read from
    ``source`` and its output written to ``target``.

    As :func:`skl2onnx.helpers.add_onnx_graph`, but the graph's input and
    output are wired directly (no Identity nodes), and omitted optional
    inputs are handled (:func:`_fill_omitted_inputs`). Every other name
    (initializers, intermediate values, nodes) gets a new name unique in
    ``scope``.
    """
    from onnx import AttributeProto, helper, numpy_helper

    graph = model.graph
    names = {graph.input[0].name: source, graph.output[0].name: target}

    def rename(name: str) -> str:
        if name not in names:
            names[name] = scope.get_unique_variable_name(name)
        return names[name]

    for node in graph.node:
        if any(
            attribute.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS)
            for attribute in node.attribute
        ):
            raise ValueError(
                "ContrastiveEmbedder's exported network has a control-flow "
                f"node ({node.op_type}), whose subgraph cannot be inserted into "
                "skl2onnx's graph; export the embedder alone with "
                "sklearn_contrastive.onnx.to_onnx."
            )

    _fill_omitted_inputs(graph)
    for tensor in graph.initializer:
        # Through NumPy, so that the tensor's data is in raw_data, which is
        # what skl2onnx copies.
        container.add_initializer(
            rename(tensor.name),
            tensor.data_type,
            list(tensor.dims),
            numpy_helper.from_array(numpy_helper.to_array(tensor)),
        )
    for node in graph.node:
        copied = helper.make_node(
            node.op_type,
            [rename(name) for name in node.input],
            [rename(name) for name in node.output],
            name=scope.get_unique_operator_name(node.name or node.op_type),
            domain=node.domain or None,
        )
        copied.attribute.extend(node.attribute)
        container.nodes.append(copied)
    for opset in model.opset_import:
        container.node_domain_version_pair_sets.add((opset.domain, opset.version))


def _fill_omitted_inputs(graph) -> None:
    """Leave no omitted optional input (an empty name) in ``graph``, which
    skl2onnx cannot place when it sorts the nodes: trailing ones are dropped
    (the same node in ONNX), a ``Clip`` without ``min`` (``clamp(max=...)``)
    gets ``-inf`` from a new initializer; other omitted inputs are refused."""
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {tensor.name: tensor for tensor in graph.initializer}
    taken = set(initializers) | {
        name for node in graph.node for name in (*node.input, *node.output)
    }
    for node in graph.node:
        inputs = list(node.input)
        while inputs and not inputs[-1]:
            inputs.pop()
        if "" in inputs:
            if node.op_type != "Clip" or len(inputs) != 3 or inputs[1] != "":
                raise ValueError(
                    "ContrastiveEmbedder's exported network has a node that "
                    f"omits an optional input ({node.op_type} with inputs "
                    f"{inputs}), which skl2onnx cannot place in its graph; "
                    "export the embedder alone with "
                    "sklearn_contrastive.onnx.to_onnx."
                )
            # -inf of max's type, when max is an initializer (else float32).
            high = initializers.get(inputs[2])
            dtype = (
                np.float32
                if high is None
                else helper.tensor_dtype_to_np_dtype(high.data_type)
            )
            inputs[1] = f"{inputs[2]}_lowest"
            while inputs[1] in taken:
                inputs[1] += "_"
            taken.add(inputs[1])
            graph.initializer.append(
                numpy_helper.from_array(np.array(-np.inf, dtype), inputs[1])
            )
        del node.input[:]
        node.input.extend(inputs)
