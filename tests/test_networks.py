"""Tests for sklearn_contrastive.networks: the default MLP."""

import pytest
import torch
from torch import nn

from sklearn_contrastive.networks import MLP


def _inputs(n_samples=7, n_features=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n_samples, n_features, generator=generator)


@pytest.mark.parametrize("hidden_layer_sizes", [(), (8,), (16, 8), (5, 5, 5)])
@pytest.mark.parametrize("n_components", [1, 2, 5])
@pytest.mark.parametrize("normalize", [True, False])
def test_mlp_output_shape(hidden_layer_sizes, n_components, normalize):
    torch.manual_seed(0)
    net = MLP(4, hidden_layer_sizes, n_components, normalize=normalize)
    out = net(_inputs())
    assert out.shape == (7, n_components)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_mlp_default_architecture():
    """Defaults: 256 -> 128 hidden ReLU layers, 32 components, no dropout."""
    net = MLP(n_features_in=4)
    layers = list(net.layers)
    assert [type(layer) for layer in layers] == [
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    widths = [(m.in_features, m.out_features) for m in layers[::2]]
    assert widths == [(4, 256), (256, 128), (128, 32)]
    assert net.normalize is True
    assert net(_inputs()).shape == (7, 32)


def test_mlp_handles_a_batch_of_one():
    torch.manual_seed(0)
    out = MLP(4, (8,), 3)(_inputs(n_samples=1))
    assert out.shape == (1, 3)


def test_mlp_normalize_gives_unit_norms():
    torch.manual_seed(0)
    X = 100 * _inputs(n_samples=50)
    out = MLP(4, (16,), 6, normalize=True)(X)
    torch.testing.assert_close(torch.linalg.norm(out, dim=1), torch.ones(50))


def test_mlp_without_normalize_does_not_rescale():
    """normalize=False returns the last linear layer's output unchanged."""
    torch.manual_seed(0)
    X = _inputs(n_samples=50)
    net = MLP(4, (16,), 6, normalize=False)
    out = net(X)
    torch.testing.assert_close(out, net.layers(X))
    assert not torch.allclose(torch.linalg.norm(out, dim=1), torch.ones(50))


def test_mlp_normalize_is_direction_of_unnormalized_output():
    torch.manual_seed(0)
    X = _inputs()
    net = MLP(4, (16,), 6, normalize=True)
    raw = net.layers(X)
    expected = raw / torch.linalg.norm(raw, dim=1, keepdim=True)
    torch.testing.assert_close(net(X), expected)


def test_mlp_normalize_all_zero_output_stays_finite():
    """An all-zero embedding stays zero, with finite gradients, instead of NaN."""
    torch.manual_seed(0)
    net = MLP(4, (8,), 3, normalize=True)
    last = net.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    X = _inputs().requires_grad_(True)
    out = net(X)
    assert torch.equal(out, torch.zeros(7, 3))
    out.sum().backward()
    assert torch.isfinite(X.grad).all()
    for parameter in net.parameters():
        assert torch.isfinite(parameter.grad).all()


def test_mlp_without_hidden_layers_is_a_single_linear_map():
    """hidden_layer_sizes=() is X @ W.T + b, with no activation."""
    torch.manual_seed(0)
    net = MLP(4, (), 3, normalize=False)
    assert len(net.layers) == 1
    linear = net.layers[0]
    assert isinstance(linear, nn.Linear)
    assert (linear.in_features, linear.out_features) == (4, 3)
    X = _inputs()
    torch.testing.assert_close(net(X), X @ linear.weight.T + linear.bias)
    # Affine, so negative inputs are not clipped the way a ReLU would clip them.
    zero = net(torch.zeros(1, 4))
    torch.testing.assert_close(net(-X) - zero, -(net(X) - zero))


@pytest.mark.parametrize("hidden_layer_sizes", [(), (8,), (8, 6)])
def test_mlp_no_dropout_layers_when_dropout_is_zero(hidden_layer_sizes):
    net = MLP(4, hidden_layer_sizes, 3, dropout=0.0)
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())


def test_mlp_dropout_after_each_hidden_activation():
    net = MLP(4, (8, 6), 3, dropout=0.3)
    assert [type(layer) for layer in net.layers] == [
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
    ]
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3]


def test_mlp_dropout_active_in_train_mode_only():
    """Train mode draws masks; eval mode is deterministic and skips dropout."""
    torch.manual_seed(0)
    net = MLP(4, (64, 64), 5, normalize=False, dropout=0.5)
    X = _inputs(n_samples=20)

    net.train()
    assert not torch.equal(net(X), net(X))

    net.eval()
    out = net(X)
    torch.testing.assert_close(net(X), out)
    without_dropout = X
    for layer in net.layers:
        if not isinstance(layer, nn.Dropout):
            without_dropout = layer(without_dropout)
    torch.testing.assert_close(out, without_dropout)


def test_mlp_is_trainable_end_to_end():
    """Every parameter receives a gradient."""
    torch.manual_seed(0)
    net = MLP(4, (8, 6), 3, dropout=0.1)
    net(_inputs()).pow(2).sum().backward()
    for parameter in net.parameters():
        assert parameter.grad is not None
        assert torch.isfinite(parameter.grad).all()
