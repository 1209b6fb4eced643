"""ONNX export: ``sklearn_contrastive.onnx.to_onnx`` and the skl2onnx converter.

Every model here runs in onnxruntime and is compared with scikit-learn:
embeddings with ``transform`` (max absolute difference under 1e-5, float32
rounding), labels with ``predict`` exactly. The whole module is skipped
without the optional extra ``onnx``.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn_contrastive import onnx as sc_onnx  # noqa: E402

#: Small fits: a few hundred digits, two epochs.
PARAMS = dict(
    n_components=4,
    hidden_layer_sizes=(16,),
    max_epochs=2,
    batch_size=32,
    random_state=0,
)
TOLERANCE = 1e-5


class SmallCNN(nn.Module):
    """The convolutional network of examples/plot_custom_cnn.py, smaller."""

    def __init__(self, n_components: int, channels: int = 2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),  # (n, c, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, c, 4, 4)
            nn.Flatten(),
        )
        self.head = nn.Linear(channels * 4 * 4, n_components)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(X.view(-1, 1, 8, 8)))


class Clamped(nn.Module):
    """A linear map clamped from above: torch exports ``Clip`` without ``min``."""

    def __init__(self, n_features_in: int, n_components: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_components)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.linear(X), max=0.5)


class BranchOnValues(nn.Module):
    """A Python branch on a tensor's value: torch.export cannot trace it."""

    def __init__(self, n_features_in: int, n_components: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_components)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.sum().item() > 0:
            return self.linear(X)
        return -self.linear(X)


class BranchOnBatchSize(nn.Module):
    """A branch on the number of rows: torch.export fixes it at the example's."""

    def __init__(self, n_features_in: int, n_components: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_components)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.shape[0] == 2:
            return -self.linear(X)
        return self.linear(X)


@pytest.fixture(scope="module")
def digits():
    """600 digits, pixels in [0, 1], float32, split 400 / 200 (stratified)."""
    X, y = load_digits(return_X_y=True)
    X = (X[:600] / 16).astype(np.float32)
    return train_test_split(X, y[:600], test_size=200, stratify=y[:600], random_state=0)


@pytest.fixture(scope="module")
def embedder(digits):
    X_train, _, y_train, _ = digits
    return ContrastiveEmbedder(**PARAMS).fit(X_train, y_train)


@pytest.fixture(scope="module")
def pipeline(digits):
    X_train, _, y_train, _ = digits
    return make_pipeline(
        StandardScaler(), ContrastiveEmbedder(**PARAMS), KNeighborsClassifier()
    ).fit(X_train, y_train)


@pytest.fixture(scope="module", autouse=True)
def converter():
    sc_onnx.register_converter()


def _session(model):
    return ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _max_difference(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# -- the embedder alone


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"normalize": False},
        {"projection_head": (8,)},
        {"module": SmallCNN},
        {"module": Clamped},
    ],
    ids=["mlp", "unnormalized", "projection_head", "cnn", "clamp"],
)
def test_embeddings_match_transform_for_any_number_of_rows(digits, params):
    """One exported graph embeds 1, 7 and 5,000 rows as ``transform`` does,
    exported alone or converted by skl2onnx."""
    X_train, X_test, y_train, _ = digits
    embedder = ContrastiveEmbedder(**{**PARAMS, **params}).fit(X_train, y_train)
    many = np.random.default_rng(0).random((5000, X_train.shape[1]), dtype=np.float32)
    for model in (
        sc_onnx.to_onnx(embedder),
        skl2onnx.to_onnx(embedder, X_test[:1]),
    ):
        session = _session(model)
        for X in (X_test[:1], X_test[:7], many):
            (embeddings,) = session.run(None, {"X": X})
            assert embeddings.dtype == np.float32
            assert _max_difference(embeddings, embedder.transform(X)) < TOLERANCE


def test_model_has_a_free_batch_axis_and_the_fitted_width(embedder):
    model = sc_onnx.to_onnx(embedder, input_name="rows", output_name="codes")
    onnx.checker.check_model(model)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("rows", "codes")
    for value, width in ((inp, 64), (out, PARAMS["n_components"])):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        first, second = value.type.tensor_type.shape.dim
        assert first.dim_param and second.dim_value == width


def test_target_opset_is_the_models(embedder):
    model = sc_onnx.to_onnx(embedder, target_opset=19)
    assert {(o.domain, o.version) for o in model.opset_import} == {("", 19)}


def test_export_leaves_the_embedder_as_it_was(embedder, digits):
    X = digits[1]
    before = embedder.transform(X)
    training = embedder.net_.module_.training
    sc_onnx.to_onnx(embedder)
    assert embedder.net_.module_.training == training
    np.testing.assert_array_equal(embedder.transform(X), before)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_fitted_on_cuda_exports_from_a_cpu_copy(digits):
    X_train, X_test, y_train, _ = digits
    embedder = ContrastiveEmbedder(**PARAMS, device="cuda").fit(X_train, y_train)
    (embeddings,) = _session(sc_onnx.to_onnx(embedder)).run(None, {"X": X_test})
    # CUDA's matrix products round differently from the CPU's.
    assert _max_difference(embeddings, embedder.transform(X_test)) < 1e-4
    assert next(embedder.net_.module_.parameters()).is_cuda


# -- pipelines through skl2onnx


def test_pipeline_predicts_as_scikit_learn(pipeline, digits):
    """Scaler, embedder, k-NN: one ONNX graph, the same labels and
    probabilities as the pipeline."""
    _, X_test, _, _ = digits
    model = skl2onnx.to_onnx(pipeline, X_test[:1], options={"zipmap": False})
    labels, probabilities = _session(model).run(None, {"X": X_test})
    np.testing.assert_array_equal(labels, pipeline.predict(X_test))
    assert _max_difference(probabilities, pipeline.predict_proba(X_test)) < 1e-6


def test_pipeline_ending_with_two_embedders(digits):
    """Two embedders in one graph keep their weights apart; float64 rows are
    cast to float32, as ``transform`` reads them."""
    X_train, X_test, y_train, _ = digits
    pipe = make_pipeline(
        StandardScaler(),
        ContrastiveEmbedder(**{**PARAMS, "n_components": 8}),
        ContrastiveEmbedder(**{**PARAMS, "random_state": 1}),
    ).fit(X_train, y_train)
    X = X_test.astype(np.float64)
    model = skl2onnx.to_onnx(pipe, X[:1])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    (embeddings,) = _session(model).run(None, {"X": X})
    assert embeddings.dtype == np.float32
    assert _max_difference(embeddings, pipe.transform(X)) < TOLERANCE


def test_target_opset_of_skl2onnx_is_the_embedders(embedder, digits):
    X = digits[1]
    model = skl2onnx.to_onnx(embedder, X[:1], target_opset=19)
    assert {(o.domain, o.version) for o in model.opset_import} == {("", 19)}
    (embeddings,) = _session(model).run(None, {"X": X})
    assert _max_difference(embeddings, embedder.transform(X)) < TOLERANCE


def test_dataframe_through_a_column_transformer(digits):
    """pandas columns as skl2onnx's inputs, one per column: a ColumnTransformer
    joins them, and the embedder joins them itself when it comes first."""
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, _ = digits
    columns = [f"pixel_{i}" for i in range(X_train.shape[1])]

    def frame(X):
        df = pd.DataFrame(X, columns=columns)
        df["ink"] = np.where(X.sum(axis=1) > 18, "much", "little")
        return df

    def feeds(model, df):
        # skl2onnx names the inputs after the columns, in their order.
        return {
            i.name: df[[c]].to_numpy()
            for i, c in zip(model.graph.input, df, strict=True)
        }

    pipe = make_pipeline(
        ColumnTransformer(
            [("pixels", StandardScaler(), columns), ("ink", OneHotEncoder(), ["ink"])]
        ),
        ContrastiveEmbedder(**PARAMS),
        KNeighborsClassifier(),
    ).fit(frame(X_train), y_train)
    model = skl2onnx.to_onnx(pipe, frame(X_test[:1]), options={"zipmap": False})
    labels, _ = _session(model).run(None, feeds(model, frame(X_test)))
    np.testing.assert_array_equal(labels, pipe.predict(frame(X_test)))

    pixels = frame(X_train)[columns]
    embedder = ContrastiveEmbedder(**PARAMS).fit(pixels, y_train)
    model = skl2onnx.to_onnx(embedder, pixels[:1])
    assert len(model.graph.input) == len(columns)
    test = frame(X_test)[columns]
    (embeddings,) = _session(model).run(None, feeds(model, test))
    assert _max_difference(embeddings, embedder.transform(test)) < TOLERANCE


def test_exported_pipeline_runs_without_torch(pipeline, digits, tmp_path):
    """The saved graph runs in a process where ``import torch`` fails."""
    _, X_test, _, _ = digits
    model = skl2onnx.to_onnx(pipeline, X_test[:1], options={"zipmap": False})
    onnx.save(model, tmp_path / "pipeline.onnx")
    np.save(tmp_path / "X.npy", X_test)
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # import torch raises ImportError
        import numpy as np
        import onnxruntime
        session = onnxruntime.InferenceSession(
            "pipeline.onnx", providers=["CPUExecutionProvider"])
        labels = session.run(["label"], {"X": np.load("X.npy")})[0]
        np.save("labels.npy", labels)
        assert "torch" not in {name.split(".")[0] for name, module in
                               sys.modules.items() if module is not None}
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=120)
    labels = np.load(tmp_path / "labels.npy")
    np.testing.assert_array_equal(labels, pipeline.predict(X_test))


@pytest.mark.slow
def test_the_example_script_runs(tmp_path):
    """examples/onnx_export.py (not a gallery example) runs to the end."""
    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "onnx_export.py"), "model.onnx"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "labels equal to predict: True" in done.stdout
    assert "without torch: same labels True" in done.stdout
    assert (tmp_path / "model.onnx").stat().st_size > 0


def test_import_loads_no_onnx_package():
    code = (
        "import sys, sklearn_contrastive, sklearn_contrastive.onnx; "
        "loaded = {'onnx', 'onnxruntime', 'onnxscript', 'skl2onnx'} & "
        "set(sys.modules); assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- errors


def test_unfitted_embedder_raises_not_fitted(digits):
    X = digits[1]
    with pytest.raises(NotFittedError, match="ContrastiveEmbedder instance is not"):
        sc_onnx.to_onnx(ContrastiveEmbedder())
    with pytest.raises(NotFittedError, match="ContrastiveEmbedder instance is not"):
        skl2onnx.to_onnx(ContrastiveEmbedder(), X)


def test_to_onnx_refuses_what_is_not_an_embedder(pipeline):
    msg = (
        "to_onnx exports a fitted ContrastiveEmbedder; got a Pipeline. Convert a "
        "pipeline with skl2onnx.to_onnx(pipeline, X) after "
        "sklearn_contrastive.onnx.register_converter()."
    )
    with pytest.raises(TypeError, match=re.escape(msg)):
        sc_onnx.to_onnx(pipeline)


def test_untraceable_module_is_refused(digits):
    X_train, _, y_train, _ = digits
    embedder = ContrastiveEmbedder(**{**PARAMS, "module": BranchOnValues})
    embedder.fit(X_train, y_train)
    msg = (
        "ContrastiveEmbedder(module=BranchOnValues) cannot be exported to ONNX: "
        "torch.onnx.export failed with "
    )
    with pytest.raises(ValueError, match=re.escape(msg) + ".*no .item()"):
        sc_onnx.to_onnx(embedder)


def test_module_that_depends_on_the_batch_size_is_refused(digits):
    X_train, _, y_train, _ = digits
    embedder = ContrastiveEmbedder(**{**PARAMS, "module": BranchOnBatchSize})
    embedder.fit(X_train, y_train)
    msg = (
        "ContrastiveEmbedder(module=BranchOnBatchSize) cannot be exported to "
        "ONNX with a free number of rows: torch.export fixed the first axis of "
        "'X' at 2 rows"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        sc_onnx.to_onnx(embedder)


def test_opset_below_18_is_refused(embedder, digits):
    msg = "ContrastiveEmbedder exports to ONNX opset 18 or later"
    with pytest.raises(ValueError, match=msg + ".*to_onnx\\(..., target_opset=18\\)"):
        sc_onnx.to_onnx(embedder, target_opset=17)
    with pytest.raises(ValueError, match=re.escape("Pass skl2onnx.to_onnx(")):
        skl2onnx.to_onnx(embedder, digits[1][:1], target_opset=17)
    with pytest.raises(TypeError, match="target_opset must be an int"):
        sc_onnx.to_onnx(embedder, target_opset="18")


def test_input_of_another_width_is_refused(embedder):
    from skl2onnx.common.data_types import FloatTensorType

    msg = "ContrastiveEmbedder was fitted on 64 features; its ONNX input has 3"
    with pytest.raises(ValueError, match=msg):
        skl2onnx.convert_sklearn(
            embedder, initial_types=[("X", FloatTensorType([None, 3]))]
        )


def _replace_export(monkeypatch, node):
    """Make the converter insert a one-node graph, X -> node -> embeddings."""
    graph = onnx.helper.make_graph(
        [node],
        "handmade",
        [onnx.helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, ["N", 64])],
        [onnx.helper.make_tensor_value_info("embeddings", 1, ["N", 4])],
    )
    model = onnx.helper.make_model(graph)
    monkeypatch.setattr(sc_onnx, "_export", lambda *args: model)


def test_graph_with_control_flow_is_refused_by_the_converter(
    embedder, digits, monkeypatch
):
    branch = onnx.helper.make_graph([], "branch", [], [])
    node = onnx.helper.make_node(
        "If", ["X"], ["embeddings"], then_branch=branch, else_branch=branch
    )
    _replace_export(monkeypatch, node)
    msg = "ContrastiveEmbedder's exported network has a control-flow node (If)"
    with pytest.raises(ValueError, match=re.escape(msg)):
        skl2onnx.to_onnx(embedder, digits[1][:1])


def test_graph_omitting_an_inner_input_is_refused_by_the_converter(
    embedder, digits, monkeypatch
):
    node = onnx.helper.make_node("Resize", ["X", "", "scales"], ["embeddings"])
    _replace_export(monkeypatch, node)
    msg = (
        "ContrastiveEmbedder's exported network has a node that omits an "
        "optional input (Resize with inputs ['X', '', 'scales'])"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        skl2onnx.to_onnx(embedder, digits[1][:1])


def test_missing_extra_raises_import_error(monkeypatch, embedder):
    msg = "ONNX export requires skl2onnx: pip install 'sklearn-contrastive[onnx]'"
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(ImportError, match=re.escape(msg)):
        sc_onnx.register_converter()
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ImportError, match="ONNX export requires onnxscript"):
        sc_onnx.to_onnx(embedder)


def test_torch_before_2_6_is_refused(monkeypatch, embedder):
    monkeypatch.setattr(torch, "__version__", "2.5.1")
    msg = "ONNX export requires torch 2.6 or later (its torch.export-based exporter)"
    with pytest.raises(ImportError, match=re.escape(msg) + "; got torch 2.5.1"):
        sc_onnx.to_onnx(embedder)
