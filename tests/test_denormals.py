"""Denormal weights: flushed to zero during training and after it.

Adam with weight decay drives the weights of units without gradient into the
denormal range, where CPU arithmetic is 10-100x slower (docs/design.md,
"Denormal weights").
"""

import numpy as np
import torch
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder, _net
from sklearn_contrastive._runtime import FLUSH_DENORMALS_EVERY, flush_denormals

DENORMAL = 1e-40  # below float32's finfo.tiny (1.2e-38), above 0


def _count_denormals(tensor):
    tiny = torch.finfo(tensor.dtype).tiny
    return int(((tensor.abs() < tiny) & (tensor != 0)).sum())


def test_flush_zeroes_denormals_of_parameters_buffers_and_optimizer_state():
    module = nn.Linear(3, 2)
    module.register_buffer("running", torch.tensor([DENORMAL, 1.0]))
    optimizer = torch.optim.Adam(module.parameters())
    module(torch.ones(1, 3)).sum().backward()
    optimizer.step()  # the optimizer has state now
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[DENORMAL, 0.5, -DENORMAL], [1e-30, 0, 2]]))
    optimizer.state[module.weight]["exp_avg"][0, 0] = DENORMAL
    double = nn.Linear(2, 2).double()
    with torch.no_grad():
        double.weight[0, 0] = 1e-310  # float64's denormals are smaller

    flush_denormals(module, optimizer)
    flush_denormals(double)

    for tensor in [*module.parameters(), module.running, double.weight]:
        assert _count_denormals(tensor) == 0
    assert _count_denormals(optimizer.state[module.weight]["exp_avg"]) == 0
    # Normal values, however small, stay.
    assert module.weight[1, 0].item() == torch.tensor(1e-30).item()
    assert module.running[1] == 1.0


class _WithDenormalWeights(nn.Module):
    def __init__(self, n_features_in, n_components):
        super().__init__()
        self.layer = nn.Linear(n_features_in, n_components)
        with torch.no_grad():
            self.layer.weight[:, 0] = DENORMAL

    def forward(self, X):
        return self.layer(X)


def test_a_fit_flushes_every_few_steps_and_leaves_no_denormal_weight(monkeypatch):
    calls = []
    monkeypatch.setattr(
        _net, "flush_denormals", lambda *a: calls.append(len(a)) or flush_denormals(*a)
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    X[:, 0] = 0.0  # no gradient reaches the weights of column 0: they stay
    y = np.repeat(np.arange(4), 100)
    est = ContrastiveEmbedder(
        module=_WithDenormalWeights,
        n_components=3,
        batch_size=20,
        max_epochs=2,
        lr=1e-9,
        random_state=0,
    ).fit(X, y)
    steps = est.net_.steps_
    assert steps >= 2 * FLUSH_DENORMALS_EVERY
    # Every FLUSH_DENORMALS_EVERY steps, and once after training.
    assert len(calls) == steps // FLUSH_DENORMALS_EVERY + 1
    weight = est.net_.module_[0].layer.weight
    assert _count_denormals(weight) == 0 and (weight[:, 0] == 0).all()
