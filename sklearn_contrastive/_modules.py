"""The network one fit trains: the default MLP or the user's module.

``build_module`` is called by ``ContrastiveEmbedder._fit`` with the
(already validated) parameters that shape the network.
"""

from __future__ import annotations

import copy
import inspect

import torch
from torch import nn

from ._params import layer_sizes
from .networks import MLP, L2Normalize, WithProjectionHead, embedding_width


def build_module(
    module,
    X: torch.Tensor,
    *,
    n_components: int,
    hidden_layer_sizes: tuple[int, ...],
    normalize: bool,
    dropout: float,
    projection_head: tuple[int, ...] | None = None,
    module_kwargs: dict,
    previous: nn.Module | None = None,
) -> tuple[nn.Module, int]:
    """The network to train and its embedding width, previous weights loaded.

    Parameters
    ----------
    module : None, torch.nn.Module subclass or instance
        The estimator's ``module``: None builds the default MLP, a class is
        instantiated (with ``module_kwargs``), an instance is copied.
    X : torch.Tensor of shape (n_samples, n_features)
        Training rows; a custom module's width is read from its output on
        them.
    projection_head : tuple of int or None, default=None
        Hidden widths of a projection head to train the network through
        (:class:`~sklearn_contrastive.networks.WithProjectionHead`), or None.
    previous : torch.nn.Module, default=None
        The fitted network to continue from (warm start, partial_fit).
    """
    # With a head, the encoder stays unnormalised: the head normalises.
    normalize_encoder = normalize and projection_head is None
    if module is None:
        network = MLP(
            X.shape[1],
            hidden_layer_sizes=layer_sizes(hidden_layer_sizes),
            n_components=n_components,
            normalize=bool(normalize_encoder),
            dropout=float(dropout),
        )
        # Known by construction: no probe forward pass needed.
        width = n_components
    else:
        if isinstance(module, nn.Module):
            network = copy.deepcopy(module)
        else:
            network = instantiate_module_class(
                module, X.shape[1], n_components, module_kwargs
            )
        # Check the user's module itself, before anything is stacked on it.
        width = embedding_width(network, X)
        if (
            isinstance(module, type)
            and "n_components" in _accepted_arguments(module)
            and width != n_components
        ):
            raise ValueError(
                f"module {module.__name__} was built with n_components="
                f"{n_components} but returns embeddings of width {width}; "
                "make its output width follow its n_components argument."
            )
        if normalize_encoder:
            network = nn.Sequential(network, L2Normalize())
    if projection_head is not None:
        network = WithProjectionHead(
            network, width, layer_sizes(projection_head), normalize=bool(normalize)
        )
    if previous is not None:
        _load_previous_weights(network, previous)
    return network, width


def _load_previous_weights(network: nn.Module, previous: nn.Module) -> None:
    try:
        network.load_state_dict(previous.state_dict())
    except RuntimeError as error:
        raise ValueError(
            "warm_start=True and partial_fit continue training the fitted "
            "network, so its shape (n_components, hidden_layer_sizes, "
            "projection_head, module) must not change since the previous fit; set "
            "warm_start=False to train a new network. torch said: "
            + " ".join(line.strip() for line in str(error).splitlines()[1:3])
        ) from None


def _accepted_arguments(module_class: type) -> set[str]:
    """Names ``module_class(...)`` accepts; both ours when it takes ``**kwargs``."""
    parameters = inspect.signature(module_class).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return {"n_features_in", "n_components"}
    return {p.name for p in parameters}


def instantiate_module_class(
    module_class: type, n_features_in: int, n_components: int, module_kwargs: dict
) -> nn.Module:
    """``module_class(...)`` with ``n_features_in`` / ``n_components`` if
    accepted, plus ``module_kwargs`` (``net_params``' ``module__<name>``
    entries, prefix removed)."""
    accepted = _accepted_arguments(module_class)
    kwargs = {
        name: value
        for name, value in (
            ("n_features_in", n_features_in),
            ("n_components", n_components),
        )
        if name in accepted
    }
    return module_class(**{**kwargs, **module_kwargs})
