"""Persistence: pickle, joblib, skops and the safe file round-trip a fitted model.

Every way of saving holds the same portable state (``_state.py``): the
network's weights and optimizer state as NumPy arrays, the parameters and
fitted attributes, no torch or skorch object. The safe file's own behaviour
(versions, damaged files, parameters given back) is in ``test_safe_file.py``.
"""

import copy
import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder

FAST = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32)


class SmallNet(nn.Module):
    """A custom module class (at module level, so that pickle finds it)."""

    def __init__(self, n_features_in, n_components, width=6):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features_in, width), nn.ReLU(), nn.Linear(width, n_components)
        )

    def forward(self, X):
        return self.layers(X)


def _data():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def _fitted(kind):
    """A model fitted in one of the ways a fit can go, and the rows it embeds."""
    X, y = _data()
    est = ContrastiveEmbedder(**FAST, random_state=0)
    if kind == "labels":
        return est.fit(X, y), X
    if kind == "pandas":
        frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
        return est.fit(frame, np.array(["setosa", "versicolor", "virginica"])[y]), frame
    if kind == "pairs":
        rng = np.random.default_rng(0)
        pairs = rng.integers(0, len(X), size=(300, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        return est.fit(X, pairs=pairs, similar=y[pairs[:, 0]] == y[pairs[:, 1]]), X
    if kind == "no labels":
        return est.fit(X), X
    if kind == "partial labels":
        est.set_params(unlabeled_label=-1)
        return est.fit(X, np.where(np.arange(len(y)) % 3, y, -1)), X
    if kind == "early stopping":
        return est.set_params(early_stopping=True, n_iter_no_change=1).fit(X, y), X
    if kind == "projection head":
        return est.set_params(projection_head=(8,)).fit(X, y), X
    if kind == "partial_fit":
        return est.partial_fit(X, y).partial_fit(X, y), X
    if kind == "custom module":
        return est.set_params(module=SmallNet, net_params={"module__width": 5}).fit(
            X, y
        ), X
    raise AssertionError(kind)


KINDS = [
    "labels",
    "pandas",
    "pairs",
    "no labels",
    "partial labels",
    "early stopping",
    "projection head",
    "partial_fit",
    "custom module",
]


@pytest.fixture(scope="module")
def fitted():
    """Each kind of fit once for the module: ``{kind: (estimator, X)}``."""
    return {kind: _fitted(kind) for kind in KINDS}


def _round_trip(est, how, tmp_path):
    if how == "pickle":
        return pickle.loads(pickle.dumps(est))
    if how == "joblib":
        joblib.dump(est, tmp_path / "model.joblib")
        return joblib.load(tmp_path / "model.joblib")
    if how == "skops":
        sio = pytest.importorskip("skops.io")
        sio.dump(est, tmp_path / "model.skops")
        trusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
        return sio.load(tmp_path / "model.skops", trusted=trusted)
    if how == "safe":
        pytest.importorskip("safetensors")
        given = {name: getattr(est, name) for name in ("module", "callbacks")}
        given = {k: v for k, v in given.items() if v is not None}
        if given:
            with pytest.warns(UserWarning, match="by type name only"):
                est.save(tmp_path / "model.safetensors")
        else:
            est.save(tmp_path / "model.safetensors")
        return type(est).load(tmp_path / "model.safetensors", **given)
    raise AssertionError(how)


HOWS = ["pickle", "joblib", "skops", "safe"]


def _assert_same_model(loaded, est, X):
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    assert loaded.get_params() == est.get_params()
    for name in (
        "classes_",
        "n_iter_",
        "n_features_in_",
        "history_",
        "loss_curve_",
        "validation_scores_",
        "best_validation_score_",
        "_n_features_out",
        "_split_seed",
    ):
        np.testing.assert_equal(getattr(loaded, name), getattr(est, name))
    assert loaded.classes_.dtype == est.classes_.dtype
    assert loaded._random_state.get_state()[1].tolist() == (
        est._random_state.get_state()[1].tolist()
    )
    assert [e["epoch"] for e in loaded.net_.history] == [
        e["epoch"] for e in est.net_.history
    ]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_round_trip_gives_the_same_model(fitted, kind, how, tmp_path):
    est, X = fitted[kind]
    loaded = _round_trip(est, how, tmp_path)
    _assert_same_model(loaded, est, X)
    if kind == "pandas":
        np.testing.assert_array_equal(
            loaded.feature_names_in_, ["sl", "sw", "pl", "pw"]
        )


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("continued", ["partial_fit", "warm_start"])
def test_training_on_after_a_round_trip_is_bit_identical(continued, how, tmp_path):
    """A loaded model trains on exactly as the original does: same weights,
    optimizer state (partial_fit keeps Adam's moments), history and random
    stream."""
    X, y = _data()
    est = ContrastiveEmbedder(**FAST, warm_start=continued == "warm_start")
    est.set_params(random_state=0)
    est = est.partial_fit(X, y) if continued == "partial_fit" else est.fit(X, y)
    loaded = _round_trip(est, how, tmp_path)
    for model in (est, loaded):
        model.partial_fit(X, y) if continued == "partial_fit" else model.fit(X, y)
    for name, weights in est.net_.module_.state_dict().items():
        assert torch.equal(loaded.net_.module_.state_dict()[name], weights)
    assert loaded.loss_curve_ == est.loss_curve_
    assert _without_durations(loaded.history_) == _without_durations(est.history_)


def _without_durations(history):
    return [{k: v for k, v in epoch.items() if k != "dur"} for epoch in history]


def test_a_pickle_names_no_torch_or_skorch_object(fitted):
    """Unpickling imports NumPy, builtins and the estimator class, nothing else."""
    found = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(module)
            return super().find_class(module, name)

    est, X = fitted["early stopping"]
    loaded = Recorder(io.BytesIO(pickle.dumps(est))).load()
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    ours = {m for m in found if m.startswith("sklearn_contrastive")}
    assert ours == {"sklearn_contrastive._embedder"}
    assert not {m for m in found if m.split(".")[0] in ("torch", "skorch")}


def test_skops_lists_only_this_librarys_types(fitted, tmp_path):
    sio = pytest.importorskip("skops.io")
    est, X = fitted["early stopping"]
    sio.dump(est, tmp_path / "model.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert untrusted == ["sklearn_contrastive._embedder.ContrastiveEmbedder"]
    loaded = sio.load(tmp_path / "model.skops", trusted=untrusted)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_skops_lists_a_custom_module_class_too(fitted, tmp_path):
    """The user's own types are the user's to trust (documented)."""
    sio = pytest.importorskip("skops.io")
    est, _ = fitted["custom module"]
    sio.dump(est, tmp_path / "model.skops")
    assert sio.get_untrusted_types(file=tmp_path / "model.skops") == [
        "sklearn_contrastive._embedder.ContrastiveEmbedder",
        f"{__name__}.SmallNet",
    ]


@pytest.mark.parametrize("how", ["pickle", "safe"])
def test_a_model_fitted_on_a_gpu_loads_on_the_cpu_with_a_warning(
    fitted, how, tmp_path, monkeypatch
):
    """The saved device is unavailable: the network is rebuilt on the CPU."""
    est, X = fitted["labels"]
    expected = est.transform(X)
    gpu = copy.copy(est)
    gpu.net_ = copy.deepcopy(est.net_)
    gpu.net_.device = "cuda:1"  # what a GPU fit records; the tensors stay
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on device 'cuda:1', which this"):
        loaded = _round_trip(gpu, how, tmp_path)
    assert loaded.net_.device == "cpu"
    assert not next(loaded.net_.module_.parameters()).is_cuda
    np.testing.assert_array_equal(loaded.transform(X), expected)


@pytest.mark.parametrize("how", ["pickle", "safe"])
def test_parameters_changed_after_fit_do_not_change_the_loaded_network(how, tmp_path):
    """The net is rebuilt with the parameters of the fit that built it."""
    X, y = _data()
    est = ContrastiveEmbedder(**FAST, random_state=0).fit(X, y)
    expected = est.transform(X)
    est.set_params(hidden_layer_sizes=(8, 8), n_components=3, optimizer="sgd")
    loaded = _round_trip(est, how, tmp_path)
    np.testing.assert_array_equal(loaded.transform(X), expected)
    assert loaded.get_params()["hidden_layer_sizes"] == (8, 8)
    assert type(loaded.net_.optimizer_) is torch.optim.Adam


@pytest.mark.parametrize("how", ["pickle", "safe"])
def test_loading_leaves_the_global_rngs_alone(fitted, how, tmp_path):
    est, _ = fitted["labels"]
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002
    _round_trip(est, how, tmp_path)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002


def test_copies_copy_the_net_as_it_is(fitted):
    """copy.copy shares the net, copy.deepcopy copies it whole (callbacks'
    state included), as before: only serialisers use the portable state."""
    est, X = fitted["early stopping"]
    assert copy.copy(est).net_ is est.net_
    deep = copy.deepcopy(est)
    assert deep.net_ is not est.net_
    assert [name for name, _ in deep.net_.callbacks_] == [
        name for name, _ in est.net_.callbacks_
    ]
    np.testing.assert_array_equal(deep.transform(X), est.transform(X))


def test_a_loaded_net_has_fresh_callbacks_and_the_epochs_without_batches(fitted):
    est, _ = fitted["early stopping"]
    loaded = pickle.loads(pickle.dumps(est))
    assert "early_stopping" not in dict(loaded.net_.callbacks_)
    assert all(epoch["batches"] == [] for epoch in loaded.net_.history)
    assert loaded.net_.history[:, "train_loss"] == est.net_.history[:, "train_loss"]


def test_a_random_state_instance_stays_the_fits_stream(tmp_path):
    """``random_state=RandomState(...)`` is the stream later fits draw from;
    the loaded parameter and stream are still one object."""
    X, y = _data()
    est = ContrastiveEmbedder(**FAST, random_state=np.random.RandomState(0)).fit(X, y)
    for how in HOWS:
        loaded = _round_trip(est, how, tmp_path)
        assert loaded.random_state is loaded._random_state


def test_a_pickle_of_an_earlier_version_still_loads(fitted):
    """Earlier pickles hold the skorch net itself (and nets without the
    parameters they were built with): they load, and pickle again."""
    est, X = fitted["labels"]
    net = copy.deepcopy(est.net_)
    del net.estimator_params_
    old = ContrastiveEmbedder.__new__(ContrastiveEmbedder)
    old.__setstate__({**vars(est), "net_": net})
    assert old.net_ is net
    again = pickle.loads(pickle.dumps(old))
    np.testing.assert_array_equal(again.transform(X), est.transform(X))
