"""One training run of ``ContrastiveEmbedder.fit``: the network, the net, the fit.

``train`` turns the estimator's validated parameter values into the module
(``_modules.py``) and the skorch net (``_net.py``), and trains it; the
estimator calls it inside its seeded torch generators and thread setting.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet

from ._modules import build_module
from ._net import build_net, train_net
from ._params import pick, split_net_params
from ._runtime import as_tensor
from ._sources import RowSource, training_data
from ._targets import TrainingTarget
from ._validation import Validation
from .distributed import ShardedLoader, current_world


def train(
    X: np.ndarray | RowSource,
    target: TrainingTarget,
    params: dict,
    *,
    sampler_rng: np.random.Generator,
    validation: Validation | None,
    device: str,
    previous: NeuralNet | None,
    incremental: bool,
) -> tuple[NeuralNet, int]:
    """Train one net on ``(X, target)``: the trained net and the embedding width.

    Parameters
    ----------
    X : ndarray or RowSource of shape (n_samples, n_features)
        Validated training rows, in memory or read on demand.
    params : dict
        The estimator's parameters (``get_params(deep=False)``), validated.
    sampler_rng : numpy.random.Generator
        Drives the training loader (batches, pair order, views).
    validation : Validation or None
        Early stopping's held-out data (``TrainingTarget.hold_out``).
    previous : skorch.NeuralNet or None
        The fitted net to continue (warm start, ``partial_fit``), or None.
    incremental : bool
        ``partial_fit``: one epoch, the optimizer's state kept.
    """
    X_fit, y_fit = training_data(X, target.y)
    # The module's width, and a custom module's output, read from two rows.
    probe = X_fit if isinstance(X_fit, torch.Tensor) else as_tensor(X[:2])
    module_kwargs, settings = split_net_params(params["net_params"])
    module, width = build_module(
        params["module"],
        probe,
        **pick(
            params,
            "n_components",
            "hidden_layer_sizes",
            "normalize",
            "projection_head",
        ),
        dropout=params["dropout"],
        module_kwargs=module_kwargs,
        previous=None if previous is None else previous.module_,
    )
    loader, loader_params = target.loader(
        sampler_rng, **pick(params, "samples_per_class", "corruption_rate")
    )
    world = current_world()
    if world is not None:
        # fit_distributed: every process draws the global batches, embeds
        # its slice of each.
        loader_params = {"base": loader, "world": world, **loader_params}
        loader = ShardedLoader
    criterion_params = pick(params, "margin", "similar_weight", "pair_mining")
    net = build_net(
        module,
        # Negative codes are views only when the loader made them so.
        criterion_params={**criterion_params, "views": target.uses_views},
        training_params=pick(
            params, "optimizer", "lr", "weight_decay", "max_epochs", "batch_size"
        ),
        loader=loader,
        loader_params=loader_params,
        validation=validation,
        early_stopping_params=pick(params, "tol", "n_iter_no_change"),
        user_callbacks=params["callbacks"],
        device=device,
        verbose=params["verbose"],
        settings=settings,
    )
    net.world_ = world
    train_net(
        net,
        X_fit,
        y_fit,
        previous=previous,
        incremental=incremental,
        drop_split=validation is not None,
        **pick(params, "lr", "weight_decay"),
    )
    net.world_ = None  # an ordinary net from here on
    return net, width
