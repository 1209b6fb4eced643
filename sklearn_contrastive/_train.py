"""One training run of ``ContrastiveEmbedder.fit``: the network, the net, the fit.

``train`` turns the estimator's validated parameter values into the module
(``_modules.py``) and the skorch net (``_net.py``), and trains it; the
estimator calls it inside its seeded torch generators and thread setting.
``build``, the module and the net without the training, is also how a loaded
model gets its net back (``_state.py``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from skorch import NeuralNet

from ._modules import build_module
from ._net import ContrastiveNet, build_net, train_net
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
    loader, loader_params = target.loader(
        sampler_rng, **pick(params, "samples_per_class", "corruption_rate")
    )
    world = current_world()
    if world is not None:
        # fit_distributed: every process draws the global batches, embeds
        # its slice of each.
        loader_params = {"base": loader, "world": world, **loader_params}
        loader = ShardedLoader
    net, width = build(
        probe,
        params,
        loader=loader,
        loader_params=loader_params,
        # Negative codes are views only when the loader made them so.
        views=target.uses_views,
        validation=validation,
        device=device,
        previous=previous,
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
    if world is not None:
        # An ordinary net from here on, with the loader it wrapped.
        net.iterator_train = net.iterator_train__base
        del net.iterator_train__base, net.iterator_train__world
    net.world_ = None
    return net, width


def build(
    probe: torch.Tensor,
    params: dict,
    *,
    loader: type,
    loader_params: dict,
    views: bool,
    validation: Validation | None,
    device: str,
    previous: NeuralNet | None,
) -> tuple[ContrastiveNet, int]:
    """The module and the untrained net of one fit, and the embedding width.

    Every net comes from here: a fit's (:func:`train`), and a loaded model's
    (``_state.restore_net``, which then loads the saved weights). The net
    keeps the parameters it was built with as ``estimator_params_``, so that
    it can be rebuilt after ``set_params`` changed the estimator's.

    Parameters
    ----------
    probe : torch.Tensor of shape (n_rows, n_features)
        Rows (two suffice) that a custom module's output is checked on.
    params : dict
        The estimator's parameters (``get_params(deep=False)``), validated.
    loader, loader_params
        The training loader class and its arguments (``TrainingTarget.loader``).
    views : bool
        Whether the batches carry views (the criterion's ``views``).
    """
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
    criterion_params = pick(params, "margin", "similar_weight", "pair_mining")
    net = build_net(
        module,
        criterion_params={**criterion_params, "views": views},
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
    # A copy: set_params after the fit must not change what built this net.
    net.estimator_params_ = {**params, "net_params": copy.copy(params["net_params"])}
    return net, width
