"""Embedding networks.

An embedding network maps a batch of shape ``(batch_size, n_features)`` to
embeddings of shape ``(batch_size, n_components)``. :class:`MLP` is the
default network of :class:`~sklearn_contrastive.ContrastiveEmbedder`; any
other :class:`torch.nn.Module` with that contract can replace it (its
``module`` parameter), and :class:`L2Normalize` puts such a module's output
on the unit sphere. :class:`WithProjectionHead` trains an embedding network
through a projection head that the embeddings do not use (SimCLR's head).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "MLP",
    "Dropout",
    "L2Normalize",
    "WithProjectionHead",
    "embed",
    "embed_batches",
    "embedding_network",
    "embedding_width",
]


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` that draws its mask faster on the CPU.

    On the CPU, torch's dropout draws a Bernoulli mask at about 6 ns an
    element, 2.8x the cost of uniform draws: a quarter of a default fit's
    time went to it (``benchmarks/bench_batch_size.py``, docs/design.md). In
    training on the CPU the mask here is ``torch.rand_like(x) >= p``, the same
    distribution (each element kept with probability ``1 - p`` and scaled by
    ``1 / (1 - p)``) from torch's generator; elsewhere (CUDA's fused kernel,
    evaluation, ``p`` of 0 or 1) it is :class:`torch.nn.Dropout`'s own.

    Examples
    --------
    >>> import torch
    >>> from sklearn_contrastive.networks import Dropout
    >>> _ = torch.manual_seed(0)
    >>> kept = Dropout(0.5)(torch.ones(1000)).ne(0).float().mean()
    >>> bool(0.45 < kept < 0.55)
    True
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if not self.training or X.device.type != "cpu" or not 0 < self.p < 1:
            return super().forward(X)
        # (X.shape) 0 or 1 / (1 - p), made in place from the uniform draws.
        mask = torch.rand_like(X).ge_(self.p).mul_(1 / (1 - self.p))
        if self.inplace:
            return X.mul_(mask)
        return X * mask


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

    #: ``forward`` also takes a torch sparse batch (CSR or COO): its first
    #: layer then multiplies the stored values only (``torch.sparse.addmm``),
    #: as ``transform`` hands it sparse rows (``_sources.embed_rows``).
    accepts_sparse = True

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
            # Always present (the identity at p=0): the layer layout, and so
            # the state_dict, does not depend on dropout.
            layers.append(Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_components))
        self.layers = nn.Sequential(*layers)
        self.normalize = normalize

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.layout == torch.strided:
            embeddings = self.layers(X)
        else:
            first = self.layers[0]
            # (batch, width): the sums over each row's stored values, the
            # dense ones' to float32 rounding (another order of the terms).
            hidden = torch.sparse.addmm(first.bias, X, first.weight.t())
            embeddings = self.layers[1:](hidden)
        if self.normalize:
            # eps keeps an all-zero output finite (it stays at zero).
            embeddings = F.normalize(embeddings, dim=1, eps=1e-12)
        return embeddings


class L2Normalize(nn.Module):
    """Scale each row to unit Euclidean norm (an all-zero row stays zero).

    Examples
    --------
    >>> import torch
    >>> from sklearn_contrastive.networks import L2Normalize
    >>> L2Normalize()(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return F.normalize(X, dim=1, eps=1e-12)


class WithProjectionHead(nn.Module):
    """An embedding network trained through a projection head.

    The loss sees ``head(encoder(X))``; the embeddings (what
    :func:`embedding_network` returns, and so ``transform``) are
    ``encoder(X)``. The head is a ReLU then an MLP of the same width in and
    out; its layers can fit the loss's pull of each training class to a
    point, so that the encoder keeps more of what tells rows apart, which is
    what new classes need (the representation below the projection head in
    Chen et al. 2020, SimCLR).

    Parameters
    ----------
    encoder : torch.nn.Module
        The embedding network, without normalisation: it maps ``(batch_size,
        n_features)`` to ``(batch_size, n_components)``.
    n_components : int
        Width of the encoder's output, and so of the head's input and output.
    hidden_layer_sizes : sequence of int, default=(128,)
        Widths of the head's hidden layers; ``()`` leaves a ReLU and one
        linear layer.
    normalize : bool, default=True
        Whether both the head's output (for the loss) and the embeddings are
        scaled to unit Euclidean norm.

    Examples
    --------
    >>> import torch
    >>> from sklearn_contrastive.networks import (
    ...     MLP, WithProjectionHead, embedding_network)
    >>> encoder = MLP(4, hidden_layer_sizes=(), n_components=3, normalize=False)
    >>> network = WithProjectionHead(encoder, n_components=3)
    >>> X = torch.zeros(2, 4)
    >>> network(X).shape, embedding_network(network)(X).shape
    (torch.Size([2, 3]), torch.Size([2, 3]))
    """

    def __init__(
        self,
        encoder: nn.Module,
        n_components: int,
        hidden_layer_sizes: Sequence[int] = (128,),
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        layers: list[nn.Module] = [nn.ReLU()]
        width = n_components
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, n_components))
        self.head = nn.Sequential(*layers)
        self.normalize = normalize

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        projections = self.head(self.encoder(X))
        if self.normalize:
            projections = F.normalize(projections, dim=1, eps=1e-12)
        return projections

    def embedding_network(self) -> nn.Module:
        """The encoder (then :class:`L2Normalize` when ``normalize``), sharing
        this module's weights."""
        if self.normalize:
            return nn.Sequential(self.encoder, L2Normalize())
        return self.encoder


def embedding_network(module: nn.Module) -> nn.Module:
    """The part of a trained ``module`` that computes the embeddings: the
    encoder of a :class:`WithProjectionHead`, else ``module`` itself."""
    if isinstance(module, WithProjectionHead):
        return module.embedding_network()
    return module


def embed(
    module: nn.Module,
    X: torch.Tensor,
    device: torch.device | str = "cpu",
    batch_size: int = 4096,
) -> torch.Tensor:
    """Run ``module`` in eval mode over ``X`` in batches, without gradients.

    Memory stays bounded by ``batch_size`` rows of activations whatever
    ``len(X)``. The module is left in eval mode.

    Parameters
    ----------
    module : torch.nn.Module
    X : torch.Tensor of shape (n_samples, n_features)
        On any device; each batch is moved to ``device``.
    device : torch.device or str, default="cpu"
        Where ``module`` lives.
    batch_size : int, default=4096

    Returns
    -------
    embeddings : torch.Tensor of shape (n_samples, n_components), on the CPU
    """
    starts = range(0, max(len(X), 1), batch_size)
    batches = ((start, X[start : start + batch_size]) for start in starts)
    return embed_batches(module, batches, len(X), device)


def embed_batches(
    module: nn.Module,
    batches: Iterable[tuple[int, torch.Tensor]],
    n_rows: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """:func:`embed` over batches given as ``(start, batch)`` pairs.

    For rows that are not one tensor: read from a file a batch at a time, or
    torch sparse batches (which cannot be sliced). The module is left in eval
    mode.

    Parameters
    ----------
    module : torch.nn.Module
    batches : iterable of (int, torch.Tensor)
        Each batch with the position of its first row; together they cover
        rows ``0`` to ``n_rows - 1``.
    n_rows : int
        The number of rows the batches cover.
    device : torch.device or str, default="cpu"
        Where ``module`` lives; each batch is moved there.

    Returns
    -------
    embeddings : torch.Tensor of shape (n_rows, n_components), on the CPU
    """
    module.eval()
    embeddings = None
    # inference_mode: no_grad without autograd's version counters, ~10 % faster.
    with torch.inference_mode():
        for start, batch in batches:
            chunk = module(batch.to(device)).cpu()
            if embeddings is None:
                # Filled in place: holding the chunks and concatenating them
                # would need twice the output's memory.
                embeddings = torch.empty((n_rows, *chunk.shape[1:]), dtype=chunk.dtype)
            embeddings[start : start + len(chunk)] = chunk
    return embeddings


def embedding_width(module: nn.Module, X: torch.Tensor) -> int:
    """Width of the embeddings ``module`` returns for rows of ``X``.

    Runs the first two rows through ``module`` in eval mode and checks that the
    output is a float tensor of shape ``(2, n_components)``.

    Raises
    ------
    ValueError
        If the output has another shape, with the shape received.
    """
    # A module instance may already live on a GPU: probe it where it is.
    parameter = next(module.parameters(), None)
    probe = X[:2] if parameter is None else X[:2].to(parameter.device)
    with torch.no_grad():
        training = module.training
        output = module.eval()(probe)
        module.train(training)
    if (
        not isinstance(output, torch.Tensor)
        or output.ndim != 2
        or output.shape[0] != len(X[:2])
        or not output.is_floating_point()
    ):
        got = (
            f"output of shape {tuple(output.shape)} and dtype {output.dtype}"
            if isinstance(output, torch.Tensor)
            else f"a {type(output).__name__}"
        )
        raise ValueError(
            "module must map a float tensor of shape (batch_size, n_features) to "
            f"embeddings of shape (batch_size, n_components); got {got} for an "
            f"input of shape {tuple(X[:2].shape)}. Reshape inside the module "
            "(e.g. X.view(-1, 1, 8, 8) for images) and flatten its output."
        )
    return int(output.shape[1])
