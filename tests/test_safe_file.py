"""The safe file: ``save`` / ``load``, which runs none of the file's code.

Round trips of every kind of fit, and continued training after one, are in
``test_persistence.py``; here, what only this format does: its versions, its
refusals, the parameters given back to ``load``, and loading without pickle
or imports.
"""

import builtins
import importlib
import io
import json
import pickle
import re
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import LRScheduler
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder, PairVerifier
from sklearn_contrastive._safe_file import FORMAT_VERSION, METADATA_KEY

safetensors_numpy = pytest.importorskip("safetensors.numpy")

FAST = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32)


class TinyNet(nn.Module):
    def __init__(self, n_features_in, n_components):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_components)

    def forward(self, X):
        return self.linear(X)


@pytest.fixture(scope="module")
def data():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def embedder(data):
    X, y = data
    return ContrastiveEmbedder(**FAST, random_state=0).fit(X, y)


@pytest.fixture
def saved(embedder, tmp_path):
    path = tmp_path / "model.safetensors"
    embedder.save(path)
    return path


def _rewrite(path, change):
    """Rewrite the file's JSON document with ``change(document, tensors)``."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + size])["__metadata__"]
    document = json.loads(metadata[METADATA_KEY])
    tensors = safetensors_numpy.load(data)
    change(document, tensors)
    metadata = {METADATA_KEY: json.dumps(document)}
    path.write_bytes(safetensors_numpy.save(tensors, metadata=metadata))


def test_a_file_object_round_trips_too(embedder, data):
    X, _ = data
    file = io.BytesIO()
    embedder.save(file)
    loaded = ContrastiveEmbedder.load(io.BytesIO(file.getvalue()))
    np.testing.assert_array_equal(loaded.transform(X), embedder.transform(X))


def test_the_file_is_safetensors_with_a_json_document(embedder, saved):
    """Weights are readable by any safetensors reader; the rest is JSON."""
    tensors = safetensors_numpy.load_file(saved)
    weights = embedder.net_.module_.state_dict()
    for name, value in weights.items():
        np.testing.assert_array_equal(tensors[f"_net_state/module/{name}"], value)
    data = saved.read_bytes()
    size = int.from_bytes(data[:8], "little")
    document = json.loads(json.loads(data[8 : 8 + size])["__metadata__"][METADATA_KEY])
    assert document["format_version"] == FORMAT_VERSION
    assert document["estimator"] == "ContrastiveEmbedder"
    assert document["state"]["n_components"] == 4
    assert document["state"]["history_"][0]["epoch"] == 1


def test_loading_runs_no_pickle_and_imports_nothing(saved, data, monkeypatch):
    """No pickle, torch.load or import (of anything not imported yet) while
    loading: the file's content can name no code to run."""
    X, _ = data

    def refuse(*args, **kwargs):
        raise AssertionError("loading ran code it must not")

    for owner, name in [
        (pickle, "loads"),
        (pickle, "load"),
        (pickle, "Unpickler"),
        (torch, "load"),
        (importlib, "import_module"),
    ]:
        monkeypatch.setattr(owner, name, refuse)
    real_import = builtins.__import__

    def import_only_the_imported(name, globals=None, locals=None, fromlist=(), level=0):
        module = real_import(name, globals, locals, fromlist, level)
        if level == 0 and name not in before:
            raise AssertionError(f"loading imported {name}")
        return module

    before = set(sys.modules)
    monkeypatch.setattr(builtins, "__import__", import_only_the_imported)
    loaded = ContrastiveEmbedder.load(saved)
    monkeypatch.undo()
    assert loaded.transform(X).shape == (150, 4)


def test_names_in_the_file_are_data_never_imported(saved, monkeypatch):
    """A parameter naming a function stays a string; a class the file names
    is looked up among this library's estimators only."""
    monkeypatch.setattr(importlib, "import_module", pytest.fail)

    def name_a_function(document, tensors):
        document["state"]["optimizer"] = "os.system"

    _rewrite(saved, name_a_function)
    assert ContrastiveEmbedder.load(saved).optimizer == "os.system"

    def name_a_class(document, tensors):
        document["state"]["verbose"] = {"__estimator__": "os.system", "state": {}}

    _rewrite(saved, name_a_class)
    with pytest.raises(
        ValueError, match="'os.system' is not an estimator of this library"
    ):
        ContrastiveEmbedder.load(saved)


def test_a_newer_format_version_is_refused(saved):
    def from_the_future(document, tensors):
        document["format_version"] = FORMAT_VERSION + 1
        document["versions"]["sklearn-contrastive"] = "9.0"

    _rewrite(saved, from_the_future)
    message = (
        f"is in format version {FORMAT_VERSION + 1} of sklearn-contrastive's model "
        "files (written by sklearn-contrastive 9.0), but sklearn-contrastive "
    )
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        ContrastiveEmbedder.load(saved)
    assert f"reads format versions up to {FORMAT_VERSION}. Upgrade" in str(error.value)


def test_a_model_without_its_optimizer_state_is_smaller_and_trains_on_afresh(
    embedder, data, tmp_path
):
    X, y = data
    embedder.save(tmp_path / "full.safetensors")
    embedder.save(tmp_path / "weights.safetensors", include_optimizer=False)
    full, small = (tmp_path / f"{n}.safetensors" for n in ("full", "weights"))
    # Adam keeps two moments per weight.
    weights = sum(w.nbytes for w in embedder.net_.module_.state_dict().values())
    assert full.stat().st_size - small.stat().st_size > 2 * weights
    loaded = ContrastiveEmbedder.load(small)
    np.testing.assert_array_equal(loaded.transform(X), embedder.transform(X))
    assert loaded.net_.optimizer_.state_dict()["state"] == {}
    loaded.partial_fit(X, y)
    batches = loaded.history_[-1]["train_batch_count"]
    steps = {int(s["step"]) for s in loaded.net_.optimizer_.state.values()}
    assert steps == {batches}  # a fresh Adam, one epoch old
    kept = ContrastiveEmbedder.load(full).partial_fit(X, y)
    steps = {int(s["step"]) for s in kept.net_.optimizer_.state.values()}
    assert steps == {sum(e["train_batch_count"] for e in kept.history_)}


def test_parameters_stored_by_name_are_given_back_to_load(data, tmp_path):
    X, y = data
    callbacks = [LRScheduler(policy=torch.optim.lr_scheduler.StepLR, step_size=1)]
    est = ContrastiveEmbedder(
        **FAST, module=TinyNet, callbacks=callbacks, random_state=0
    ).fit(X, y)
    path = tmp_path / "model.safetensors"
    message = (
        f"ContrastiveEmbedder.save stores module (class {__name__}.TinyNet), "
        "callbacks (a list holding a skorch.callbacks.lr_scheduler.LRScheduler) "
        "by type name only: a safe file holds no code. Give it back when loading: "
        "ContrastiveEmbedder.load(file, module=..., callbacks=...)."
    )
    with pytest.warns(UserWarning, match=re.escape(message)):
        est.save(path)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Pass it to load: ContrastiveEmbedder.load(file, callbacks=..., module=...)"
        ),
    ):
        ContrastiveEmbedder.load(path)
    with pytest.raises(ValueError, match=re.escape("load(file, callbacks=...)")):
        ContrastiveEmbedder.load(path, module=TinyNet)
    loaded = ContrastiveEmbedder.load(path, module=TinyNet, callbacks=None)
    assert loaded.callbacks is None
    loaded = ContrastiveEmbedder.load(path, module=TinyNet, callbacks=callbacks)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    assert loaded.get_params() == est.get_params()


def test_load_takes_only_the_parameters_the_file_lacks(saved):
    message = (
        "holds n_components: ContrastiveEmbedder.load takes only the parameters "
        "that the file lacks. Change it after loading, with set_params."
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        ContrastiveEmbedder.load(saved, n_components=3)


def test_a_module_class_given_back_must_fit_the_weights(data, tmp_path):
    X, y = data
    est = ContrastiveEmbedder(**FAST, module=TinyNet, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="by type name only"):
        est.save(tmp_path / "model.safetensors")

    class OtherNet(TinyNet):
        def __init__(self, n_features_in, n_components):
            super().__init__(n_features_in, n_components)
            self.extra = nn.Linear(1, 1)

    with pytest.raises(ValueError, match="The saved weights do not fit the network"):
        ContrastiveEmbedder.load(tmp_path / "model.safetensors", module=OtherNet)


def test_save_needs_a_fitted_estimator(tmp_path):
    with pytest.raises(NotFittedError):
        ContrastiveEmbedder().save(tmp_path / "model.safetensors")


def test_save_refuses_a_fitted_attribute_it_cannot_store(data, tmp_path):
    """A verifier's fitted pipeline is not this library's estimator."""
    X, y = data
    rng = np.random.default_rng(0)
    left, right = rng.integers(0, len(X), size=(2, 300))
    pairs = np.hstack([X[left], X[right]])
    same = np.where(y[left] == y[right], "same", "different")
    embedder = make_pipeline(StandardScaler(), ContrastiveEmbedder(**FAST))
    verifier = PairVerifier(embedder).fit(pairs, same)
    message = (
        "PairVerifier.save cannot store embedder_, a sklearn.pipeline.Pipeline: a "
        "safe file holds plain data"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        verifier.save(tmp_path / "verifier.safetensors")


@pytest.mark.parametrize("frozen", [False, True])
def test_a_pair_verifier_round_trips(data, tmp_path, frozen):
    X, y = data
    rng = np.random.default_rng(0)
    left, right = rng.integers(0, len(X), size=(2, 300))
    pairs = np.hstack([X[left], X[right]])
    same = np.where(y[left] == y[right], "same", "different")
    embedder = ContrastiveEmbedder(**FAST, random_state=0)
    if frozen:
        embedder = FrozenEstimator(embedder.fit(X, y))
    verifier = PairVerifier(embedder).fit(pairs, same)
    verifier.save(tmp_path / "verifier.safetensors")
    loaded = PairVerifier.load(tmp_path / "verifier.safetensors")
    np.testing.assert_array_equal(
        loaded.decision_function(pairs), verifier.decision_function(pairs)
    )
    np.testing.assert_array_equal(loaded.predict(pairs), verifier.predict(pairs))
    assert type(loaded.embedder_) is type(verifier.embedder_)
    with pytest.raises(
        ValueError, match="holds a PairVerifier, not a ContrastiveEmbedder; load it"
    ):
        ContrastiveEmbedder.load(tmp_path / "verifier.safetensors")


def test_pair_verifiers_list_only_this_librarys_types_in_skops(data, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = data
    left, right = np.random.default_rng(0).integers(0, len(X), size=(2, 300))
    pairs = np.hstack([X[left], X[right]])
    same = np.where(y[left] == y[right], "same", "different")
    verifier = PairVerifier(ContrastiveEmbedder(**FAST, random_state=0))
    verifier.fit(pairs, same)
    sio.dump(verifier, tmp_path / "verifier.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "verifier.skops")
    assert untrusted == [
        "sklearn_contrastive._embedder.ContrastiveEmbedder",
        "sklearn_contrastive.verification.PairVerifier",
    ]
    loaded = sio.load(tmp_path / "verifier.skops", trusted=untrusted)
    np.testing.assert_array_equal(
        loaded.decision_function(pairs), verifier.decision_function(pairs)
    )


def _drop_a_tensor(document, tensors):
    del tensors[next(k for k in tensors if k.startswith("_net_state/module/"))]


def _drop_a_parameter(document, tensors):
    del document["state"]["margin"]


def _shadow_a_method(document, tensors):
    document["state"]["transform"] = 1


def _break_the_state(document, tensors):
    document["state"]["_net_state"]["module"] = [1, 2]


@pytest.mark.parametrize(
    "damage, message",
    [
        (_drop_a_tensor, "is damaged: it lacks the tensor '_net_state/module/"),
        (_drop_a_parameter, "lacks the parameters ['margin'] (was it written by"),
        (_shadow_a_method, "'transform' is not an attribute a ContrastiveEmbedder"),
        (_break_the_state, "cannot be loaded: AttributeError"),
    ],
)
def test_a_damaged_document_is_refused(saved, damage, message):
    _rewrite(saved, damage)
    with pytest.raises(ValueError, match=re.escape(message)):
        ContrastiveEmbedder.load(saved)


def test_files_not_written_by_save_are_refused(saved, tmp_path):
    other = tmp_path / "other.safetensors"
    other.write_bytes(safetensors_numpy.save({"w": np.zeros(3)}))
    with pytest.raises(ValueError, match="is a safetensors file without a sklearn"):
        ContrastiveEmbedder.load(other)
    other.write_bytes(b"\x80\x04 not a model at all")
    with pytest.raises(ValueError, match="is not a safetensors file"):
        ContrastiveEmbedder.load(other)
    other.write_bytes(saved.read_bytes()[:-100])  # truncated
    with pytest.raises(ValueError, match="is damaged"):
        ContrastiveEmbedder.load(other)


def test_a_clear_error_without_safetensors(embedder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    message = (
        "ContrastiveEmbedder.save needs the safetensors package (the safe model "
        "file is a safetensors file): pip install 'sklearn-contrastive[safetensors]'."
    )
    with pytest.raises(ImportError, match=re.escape(message)):
        embedder.save(tmp_path / "model.safetensors")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_fitted_on_cuda_loads_there_and_on_a_machine_without_one(
    data, tmp_path, monkeypatch
):
    X, y = data
    est = ContrastiveEmbedder(**FAST, device="cuda", random_state=0).fit(X, y)
    est.save(tmp_path / "model.safetensors")
    on_gpu = ContrastiveEmbedder.load(tmp_path / "model.safetensors")
    assert next(on_gpu.net_.module_.parameters()).is_cuda
    np.testing.assert_array_equal(on_gpu.transform(X), est.transform(X))
    on_gpu.partial_fit(X, y)  # the optimizer state went back to the GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="its network is loaded on the CPU"):
        on_cpu = ContrastiveEmbedder.load(tmp_path / "model.safetensors")
    assert on_cpu.net_.device == "cpu"
    np.testing.assert_allclose(on_cpu.transform(X), est.transform(X), atol=1e-5)
