"""Embedding networks.

An embedding network maps a batch of shape ``(batch_size, n_features)`` to
embeddings of shape ``(batch_size, n_components)``. :class:`MLP` is the
default network of :class:`~sklearn_contrastive.ContrastiveEmbedder`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MLP"]


class MLP(nn.Module):
    """Multi-layer perceptron with ReLU activations and a linear output.

    Parameters
    ----------
    n_features_in : int
        Width of the input rows.
    hidden_layer_sizes : sequence of int, default=(256, 128)
        Width of each hidden layer; ``()`` gives a linear map.
    n_components : int, default=32
        Width of the embedding.
    normalize : bool, default=True
        Whether to scale each embedding to unit Euclidean norm, which fixes
        the scale of distances (at most 2) and so of a sensible margin.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_contrastive.networks import MLP
    >>> net = MLP(n_features_in=4, hidden_layer_sizes=(8,), n_components=2)
    >>> net(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        n_features_in: int,
        hidden_layer_sizes: Sequence[int] = (256, 128),
        n_components: int = 32,
        normalize: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features_in
        for size in hidden_layer_sizes:
            layers.append(nn.Linear(width, size))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_components))
        self.layers = nn.Sequential(*layers)
        self.normalize = normalize

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        embeddings = self.layers(X)
        if self.normalize:
            # eps keeps an all-zero output finite (it stays at zero).
            embeddings = F.normalize(embeddings, dim=1, eps=1e-12)
        return embeddings
