"""One training step: balanced batches and pair mining, the plain step against
skorch's closure step, and the module's training mode."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder

# -- pair mining


class _RecordClassCounts(Callback):
    def on_train_begin(self, net, **kwargs):
        self.counts = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.counts.append(torch.bincount(batch[1]).tolist())


@pytest.mark.parametrize("pair_mining", ["all", "hard"])
def test_pair_mining_learns_and_samples_per_class_shapes_batches(iris, pair_mining):
    X, y = iris
    recorder = _RecordClassCounts()
    est = ContrastiveEmbedder(
        n_components=4,
        hidden_layer_sizes=(32,),
        max_epochs=20,
        batch_size=16,
        pair_mining=pair_mining,
        samples_per_class=8,
        random_state=0,
        callbacks=[("classes", recorder)],
    ).fit(X, y)
    counts = dict(est.net_.callbacks_)["classes"].counts
    assert all(sorted(c for c in batch if c) == [8, 8] for batch in counts)
    assert est.net_.criterion_.pair_mining == pair_mining
    Z = est.transform(X)
    from sklearn.neighbors import KNeighborsClassifier

    assert KNeighborsClassifier(5).fit(Z, y).score(Z, y) > 0.9


# -- the plain step and skorch's step


class _ListensToGradients(Callback):
    """Counts ``on_grad_computed``: its presence makes skorch's closure step run."""

    def on_train_begin(self, net, **kwargs):
        self.calls_ = 0

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.calls_ += 1


class _StrictClosureAdam(torch.optim.Adam):
    """An Adam that, like LBFGS or SAM, cannot step without the closure."""

    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("this optimizer needs the closure")
        return super().step(closure)


def test_the_plain_step_does_the_arithmetic_of_skorchs_step(iris, fast_params):
    X, y = iris
    plain = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    listener = _ListensToGradients()
    general = ContrastiveEmbedder(
        **fast_params, random_state=0, callbacks=[("grads", listener)]
    ).fit(X, y)
    assert plain.net_.plain_step_ and not general.net_.plain_step_
    np.testing.assert_array_equal(plain.transform(X), general.transform(X))
    steps = sum(epoch["train_batch_count"] for epoch in general.history_)
    assert dict(general.net_.callbacks_)["grads"].calls_ == steps


def test_an_optimizer_of_the_user_steps_with_the_closure(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params, optimizer=_StrictClosureAdam, random_state=0
    )
    est.fit(X, y)
    assert not est.net_.plain_step_
    # The named optimizer steps fused (one kernel); the subclass does not.
    reference = ContrastiveEmbedder(
        **fast_params,
        optimizer="adam",
        net_params={"optimizer__fused": False},
        random_state=0,
    )
    np.testing.assert_array_equal(est.transform(X), reference.fit(X, y).transform(X))


# -- training mode


class _RecordsMode(nn.Module):
    """An MLP that notes whether each forward pass ran in training mode."""

    def __init__(self, n_features_in, n_components):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features_in, 16), nn.Dropout(0.1), nn.Linear(16, n_components)
        )
        self.modes = []

    def forward(self, X):
        self.modes.append(self.training)
        return self.layers(X)


class _EvalAfterEachBatch(Callback):
    def on_batch_end(self, net, **kwargs):
        net.module_.eval()


def test_a_module_instance_in_eval_mode_trains_in_training_mode(iris, fast_params):
    X, y = iris
    # normalize=True wraps the instance, so the wrapper's own flag says
    # training while the instance (and its dropout) would stay in eval mode.
    module = _RecordsMode(X.shape[1], 4).eval()
    est = ContrastiveEmbedder(**fast_params, module=module, normalize=True).fit(X, y)
    steps = sum(epoch["train_batch_count"] for epoch in est.history_)
    trained = est.net_.module_[0]
    assert trained.modes[1 : steps + 1] == [True] * steps
    assert not trained.layers[1].training  # transform's eval mode afterwards


def test_training_mode_is_restored_after_a_callback_leaves_eval_mode(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        module=_RecordsMode,
        normalize=False,
        callbacks=[_EvalAfterEachBatch()],
    ).fit(X, y)
    steps = sum(epoch["train_batch_count"] for epoch in est.history_)
    # The first forward pass is the width probe, in eval mode.
    modes = est.net_.module_.modes[1:]
    assert modes[:steps] == [True] * steps


class _RecordsDropoutMode(_RecordsMode):
    """Notes whether its dropout layer ran in training mode."""

    def forward(self, X):
        self.modes.append(self.layers[1].training)
        return self.layers(X)


class _DropoutOffAtTrainBegin(Callback):
    """Puts the network's dropout layer in eval mode when the fit starts."""

    def on_train_begin(self, net, **kwargs):
        net.module_.layers[1].eval()


def test_training_mode_is_set_after_the_callbacks_start(iris, fast_params):
    """A callback's on_train_begin runs before the first epoch; the training
    mode of every submodule is set after it, as skorch sets it per batch."""
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        module=_RecordsDropoutMode,
        normalize=False,
        callbacks=[_DropoutOffAtTrainBegin()],
    ).fit(X, y)
    steps = sum(epoch["train_batch_count"] for epoch in est.history_)
    # The first forward pass is the width probe, in eval mode.
    assert est.net_.module_.modes[1 : steps + 1] == [True] * steps


@pytest.mark.parametrize(
    "optimizer, net_params, fused",
    [
        ("adam", None, True),
        ("adamw", None, True),
        ("adam", {"optimizer__foreach": True}, None),
        ("adam", {"optimizer__fused": False}, False),
        ("sgd", None, None),
    ],
)
def test_adam_steps_fused_unless_net_params_choose(optimizer, net_params, fused):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    est = ContrastiveEmbedder(
        n_components=2,
        hidden_layer_sizes=(8,),
        max_epochs=1,
        optimizer=optimizer,
        net_params=net_params,
        random_state=0,
    ).fit(X, y)
    assert est.net_.optimizer_.defaults.get("fused") == fused


def test_adam_is_not_fused_on_the_cpu_before_torch_2_4(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.3.1+cpu")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    est = ContrastiveEmbedder(
        n_components=2, hidden_layer_sizes=(8,), max_epochs=1, random_state=0
    ).fit(X, np.repeat([0, 1], 20))
    assert est.net_.optimizer_.defaults.get("fused") is None
