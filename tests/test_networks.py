"""Tests for sklearn_contrastive.networks: the default MLP and custom modules."""

import copy
import re

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.networks import MLP, Dropout, L2Normalize


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
    """Defaults: 256 -> 128 hidden ReLU layers, 32 components, no dropout.

    A Dropout layer is always there (the identity at p=0), so that the layer
    layout, and with it the state_dict, does not depend on ``dropout``.
    """
    net = MLP(n_features_in=4)
    layers = list(net.layers)
    assert [type(layer) for layer in layers] == [
        nn.Linear,
        nn.ReLU,
        Dropout,
        nn.Linear,
        nn.ReLU,
        Dropout,
        nn.Linear,
    ]
    assert [m.p for m in layers if isinstance(m, nn.Dropout)] == [0.0, 0.0]
    widths = [(m.in_features, m.out_features) for m in layers[::3]]
    assert widths == [(4, 256), (256, 128), (128, 32)]
    assert MLP(4, dropout=0.3).state_dict().keys() == net.state_dict().keys()
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
def test_mlp_dropout_zero_is_the_identity(hidden_layer_sizes):
    torch.manual_seed(0)
    net = MLP(4, hidden_layer_sizes, 3, dropout=0.0).train()
    X = _inputs()
    torch.testing.assert_close(net(X), net.eval()(X))
    assert all(m.p == 0.0 for m in net.modules() if isinstance(m, nn.Dropout))


def test_mlp_dropout_after_each_hidden_activation():
    net = MLP(4, (8, 6), 3, dropout=0.3)
    assert [type(layer) for layer in net.layers] == [
        nn.Linear,
        nn.ReLU,
        Dropout,
        nn.Linear,
        nn.ReLU,
        Dropout,
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


# -- custom modules passed to ContrastiveEmbedder(module=...)
#
# The classes live at module level so that a fitted estimator pickles.

# Not conftest's fast_params: these tests pass module (and n_components) themselves,
# so no MLP settings. One torch thread: tiny networks only lose time to thread
# hand-offs.
FAST = dict(max_epochs=3, batch_size=32, n_threads=1, random_state=0)


class TwoLayerNet(nn.Module):
    """Built from the estimator's n_features_in and n_components (and ``hidden``)."""

    def __init__(self, n_features_in: int, n_components: int, hidden: int = 8) -> None:
        super().__init__()
        self.n_features_in = n_features_in
        self.n_components = n_components
        self.hidden = hidden
        self.layers = nn.Sequential(
            nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, n_components)
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.layers(X)


class TinyCNN(nn.Module):
    """Reshapes rows of 64 pixels to 1 x 8 x 8 images; X stays 2-D outside."""

    def __init__(self, n_components: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3, padding=1),  # (n, 4, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, 4, 4, 4)
            nn.Flatten(),  # (n, 64)
        )
        self.head = nn.Linear(64, n_components)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(X.view(-1, 1, 8, 8)))


class FixedWidthNet(nn.Module):
    """Takes n_features_in but not n_components: its width is its own."""

    def __init__(self, n_features_in: int, width: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features_in, width)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.linear(X)


class IgnoresNComponents(nn.Module):
    """Accepts n_components, yet always returns 2 columns."""

    def __init__(self, n_features_in: int, n_components: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features_in, 2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.linear(X)


class BadOutput(nn.Module):
    """Returns something other than a float (batch, width) tensor."""

    def __init__(self, n_features_in: int, kind: str) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features_in, 4)
        self.kind = kind

    def forward(self, X: torch.Tensor):
        out = self.linear(X)
        if self.kind == "3-D":
            return out.unsqueeze(1)  # (batch, 1, 4)
        if self.kind == "tuple":
            return out, out
        return out.argmax(dim=1, keepdim=True)  # (batch, 1) int64


def test_module_class_gets_n_features_in_and_n_components(iris):
    X, y = iris
    est = ContrastiveEmbedder(n_components=5, module=TwoLayerNet, **FAST).fit(X, y)
    net = est.net_.module_[0]
    assert type(net) is TwoLayerNet
    assert (net.n_features_in, net.n_components, net.hidden) == (4, 5, 8)
    assert est.transform(X).shape == (150, 5)
    assert est.module is TwoLayerNet


def test_module_class_takes_extra_arguments_from_net_params(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        n_components=3,
        module=TwoLayerNet,
        net_params={"module__hidden": 6},
        **FAST,
    ).fit(X, y)
    net = est.net_.module_[0]
    assert net.hidden == 6
    assert net.layers[0].out_features == 6
    assert est.transform(X).shape == (150, 3)
    # The entry is one of net_params' nested keys, so it can be searched.
    assert est.get_params()["net_params__module__hidden"] == 6


def test_module_class_that_reshapes_rows_to_images_learns_digits():
    """A CNN on 8 x 8 digits: X stays (n_samples, 64), the module makes images.

    Chance is 0.1 for 10 classes; 5-NN on the embedding must do far better.
    """
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16, y[:400]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    est = ContrastiveEmbedder(
        n_components=8,
        module=TinyCNN,
        max_epochs=10,
        batch_size=64,
        n_threads=1,
        random_state=0,
    )
    Z_train = est.fit(X_train, y_train).transform(X_train)
    Z_test = est.transform(X_test)
    assert Z_train.shape == (280, 8)
    assert Z_test.shape == (120, 8)
    assert Z_test.dtype == np.float32
    knn = KNeighborsClassifier(5).fit(Z_train, y_train)
    assert knn.score(Z_test, y_test) > 0.7


def test_module_instance_is_copied_and_wrapped_by_normalize(iris):
    """fit trains a copy; normalize=True appends an L2Normalize layer."""
    X, y = iris
    torch.manual_seed(0)
    instance = nn.Linear(4, 3)
    before = copy.deepcopy(instance.state_dict())
    est = ContrastiveEmbedder(module=instance, **FAST).fit(X, y)

    assert est.module is instance
    for name, value in instance.state_dict().items():
        assert torch.equal(value, before[name])
    wrapped = est.net_.module_
    assert isinstance(wrapped, nn.Sequential)
    assert len(wrapped) == 2
    assert isinstance(wrapped[0], nn.Linear) and wrapped[0] is not instance
    assert isinstance(wrapped[1], L2Normalize)
    assert not torch.equal(wrapped[0].weight, instance.weight)  # it trained
    Z = est.transform(X)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)


def test_module_instance_without_normalize_is_not_wrapped(iris):
    X, y = iris
    torch.manual_seed(0)
    instance = nn.Linear(4, 3)
    est = ContrastiveEmbedder(module=instance, normalize=False, **FAST).fit(X, y)
    trained = est.net_.module_
    assert type(trained) is nn.Linear and trained is not instance
    Z = est.transform(X)
    expected = trained(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(Z, expected, rtol=1e-6)
    assert not np.allclose(np.linalg.norm(Z, axis=1), 1.0)


@pytest.mark.parametrize(
    "module, width",
    [(FixedWidthNet, 3), (nn.Linear(4, 5), 5)],
    ids=["class without n_components", "instance"],
)
def test_feature_names_follow_the_module_width(iris, module, width):
    """n_components=32 does not apply; the module's own width does."""
    X, y = iris
    est = ContrastiveEmbedder(n_components=32, module=module, **FAST).fit(X, y)
    assert est.transform(X).shape == (150, width)
    names = est.get_feature_names_out()
    assert names.tolist() == [f"contrastiveembedder{i}" for i in range(width)]


def test_module_class_ignoring_n_components_is_refused(iris):
    X, y = iris
    est = ContrastiveEmbedder(n_components=4, module=IgnoresNComponents, **FAST)
    msg = (
        "module IgnoresNComponents was built with n_components=4 but returns "
        "embeddings of width 2"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.fit(X, y)


@pytest.mark.parametrize(
    "kind, got, normalize",
    [
        ("3-D", "got output of shape (2, 1, 4) and dtype torch.float32", False),
        ("3-D", "got output of shape (2, 1, 4) and dtype torch.float32", True),
        ("tuple", "got a tuple", False),
        ("tuple", "got a tuple", True),
        ("int", "got output of shape (2, 1) and dtype torch.int64", False),
        ("int", "got output of shape (2, 1) and dtype torch.int64", True),
    ],
)
def test_module_with_wrong_output_is_refused(iris, kind, got, normalize):
    X, y = iris
    est = ContrastiveEmbedder(
        module=BadOutput,
        normalize=normalize,
        net_params={"module__kind": kind},
        **FAST,
    )
    msg = (
        "module must map a float tensor of shape (batch_size, n_features) to "
        f"embeddings of shape (batch_size, n_components); {got} for an input of "
        "shape (2, 4)."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.fit(X, y)


@pytest.mark.parametrize("module", ["cnn", int, MLP(4).forward])
def test_module_of_wrong_type_is_refused(iris, module):
    X, y = iris
    msg = (
        "module must be None (the default MLP), a torch.nn.Module subclass or a "
        f"torch.nn.Module instance; got {module!r}."
    )
    with pytest.raises(TypeError, match=re.escape(msg)):
        ContrastiveEmbedder(module=module, **FAST).fit(X, y)


@pytest.mark.parametrize(
    "module", [None, nn.Linear(4, 3)], ids=["default MLP", "instance"]
)
def test_module_params_are_refused_without_a_module_class(iris, module):
    X, y = iris
    est = ContrastiveEmbedder(module=module, net_params={"module__hidden": 8}, **FAST)
    msg = (
        "net_params may not set 'module__hidden': module__<name> entries go to a "
        "custom module class (module=MyModule)"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.fit(X, y)


def test_custom_module_survives_clone_and_joblib(iris, tmp_path):
    """Same seed, same module class: a clone refits and a pickle loads bit-exact."""
    X, y = iris
    est = ContrastiveEmbedder(
        n_components=3,
        module=TwoLayerNet,
        net_params={"module__hidden": 6},
        **FAST,
    ).fit(X, y)
    Z = est.transform(X)

    copied = clone(est)
    assert copied.module is TwoLayerNet
    assert copied.net_params == {"module__hidden": 6}
    assert not hasattr(copied, "net_")
    np.testing.assert_array_equal(copied.fit(X, y).transform(X), Z)

    joblib.dump(est, tmp_path / "embedder.joblib")
    loaded = joblib.load(tmp_path / "embedder.joblib")
    assert type(loaded.net_.module_[0]) is TwoLayerNet
    np.testing.assert_array_equal(loaded.transform(X), Z)


class KeywordNet(TwoLayerNet):
    """Takes everything as ``**kwargs``: it receives both of the estimator's."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)


def test_module_class_with_kwargs_receives_both_arguments(iris):
    X, y = iris
    est = ContrastiveEmbedder(module=KeywordNet, n_components=3, **FAST).fit(X, y)
    inner = est.net_.module_[0]
    assert (inner.n_features_in, inner.n_components) == (4, 3)


@pytest.mark.parametrize(
    "key, use",
    [
        ("module__n_components", "use n_components instead"),
        ("module__n_features_in", "it is the number of columns of X"),
    ],
)
def test_module_params_may_not_override_the_estimator(iris, key, use):
    X, y = iris
    est = ContrastiveEmbedder(module=TwoLayerNet, net_params={key: 3}, **FAST)
    with pytest.raises(ValueError, match=re.escape(f"may not set {key!r}")) as info:
        est.fit(X, y)
    assert use in str(info.value)


# -- Dropout -------------------------------------------------------------------


def test_dropout_keeps_each_element_with_probability_one_minus_p_and_rescales():
    torch.manual_seed(0)
    out = Dropout(0.2)(torch.ones(200, 500))
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.8) < 0.01
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.8))


def test_dropout_gradient_is_the_mask_and_the_draw_follows_the_seed():
    X = torch.randn(50, 40, requires_grad=True)
    torch.manual_seed(3)
    out = Dropout(0.3)(X)
    out.sum().backward()
    torch.testing.assert_close(X.grad, (out.detach() / X.detach()).nan_to_num())
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.3)(X), out)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_at_the_ends_and_in_eval_mode_is_torchs(p):
    X = torch.randn(10, 10)
    assert torch.equal(Dropout(p)(X), nn.functional.dropout(X, p))
    assert torch.equal(Dropout(0.5).eval()(X), X)


def test_dropout_in_place_changes_its_input():
    X = torch.ones(20, 20)
    out = Dropout(0.5, inplace=True)(X)
    assert out is X and (X == 0).any()


def test_the_default_network_uses_the_fast_dropout():
    net = MLP(n_features_in=4, hidden_layer_sizes=(8, 8), dropout=0.1)
    assert sum(isinstance(layer, Dropout) for layer in net.layers) == 2
