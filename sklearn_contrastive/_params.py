"""Validation of ContrastiveEmbedder's parameters.

Every check names the parameter, the value received and the fix. They run at
the start of ``fit``, never in ``__init__`` (scikit-learn's contract).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_scalar
from skorch.callbacks import Callback
from torch import nn

from .pairs import PAIR_MINING

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

#: skorch settings that ContrastiveEmbedder sets from its own parameters; the
#: value names the parameter to use instead.
_RESERVED_NET_PARAMS = {
    "module": "module",
    "criterion": "margin",
    "criterion__margin": "margin",
    "criterion__similar_weight": "similar_weight",
    "criterion__pair_mining": "pair_mining",
    "criterion__views": "unlabeled_label (views are used for unlabelled rows)",
    "optimizer": "optimizer",
    "lr": "lr",
    "optimizer__lr": "lr",
    "optimizer__weight_decay": "weight_decay",
    "max_epochs": "max_epochs",
    "batch_size": "batch_size",
    "device": "device",
    "verbose": "verbose",
    "callbacks": "callbacks",
    "warm_start": "warm_start",
    "iterator_train": "the estimator itself",
    "iterator_train__random_state": "random_state",
    "iterator_train__batch_size": "batch_size",
    "iterator_train__samples_per_class": "samples_per_class",
    "iterator_train__corruption_rate": "corruption_rate",
    "iterator_train__pairs": "fit's pairs argument",
    "iterator_train__similar": "fit's similar argument",
    "iterator_valid__batch_size": "batch_size",
    "dataset": "the estimator itself",
    "iterator_valid": "the estimator itself",
    "module__n_components": "n_components",
    "module__n_features_in": "the data (it is the number of columns of X)",
}

#: Names of the callbacks every fit adds; user callbacks may not reuse them.
INTERNAL_CALLBACKS = (
    "finite_loss_guard",
    "pair_diagnostics",
    "validation_retrieval",
    "validation_pairs",
    "early_stopping",
    "progress_bar",
)


def validate_params(est) -> None:
    """Check every parameter of ``est``; raise ValueError or TypeError."""
    # bool is an int to check_scalar; refuse it before any bound is checked.
    for name in (
        "n_components",
        "max_epochs",
        "batch_size",
        "n_iter_no_change",
        "verbose",
        "samples_per_class",
        "n_threads",
    ):
        if isinstance(getattr(est, name), (bool, np.bool_)):
            raise TypeError(f"{name} must be an int; got {getattr(est, name)!r}.")
    check_scalar(est.n_components, "n_components", numbers.Integral, min_val=1)
    if not (
        isinstance(est.hidden_layer_sizes, (tuple, list))
        and all(
            isinstance(size, numbers.Integral)
            and not isinstance(size, bool)
            and size > 0
            for size in est.hidden_layer_sizes
        )
    ):
        raise ValueError(
            "hidden_layer_sizes must be a tuple of positive integers such as "
            f"(256, 128), or () for a linear map; got {est.hidden_layer_sizes!r}."
        )
    check_scalar(
        est.margin, "margin", numbers.Real, min_val=0, include_boundaries="neither"
    )
    check_scalar(est.similar_weight, "similar_weight", numbers.Real, min_val=0)
    check_scalar(
        est.dropout,
        "dropout",
        numbers.Real,
        min_val=0,
        max_val=1,
        include_boundaries="left",
    )
    check_scalar(est.max_epochs, "max_epochs", numbers.Integral, min_val=1)
    check_scalar(est.batch_size, "batch_size", numbers.Integral, min_val=2)
    check_scalar(est.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither")
    check_scalar(est.weight_decay, "weight_decay", numbers.Real, min_val=0)
    check_scalar(
        est.validation_fraction,
        "validation_fraction",
        numbers.Real,
        min_val=0,
        max_val=1,
        include_boundaries="neither",
    )
    check_scalar(est.n_iter_no_change, "n_iter_no_change", numbers.Integral, min_val=1)
    check_scalar(est.tol, "tol", numbers.Real, min_val=0)
    check_scalar(
        est.corruption_rate,
        "corruption_rate",
        numbers.Real,
        min_val=0,
        max_val=1,
        include_boundaries="left",
    )
    if est.unlabeled_label is not None and not isinstance(
        est.unlabeled_label, (numbers.Integral, str)
    ):
        raise TypeError(
            "unlabeled_label must be None, an int (scikit-learn's semi-supervised "
            f"convention is -1) or a str; got {est.unlabeled_label!r}."
        )
    check_scalar(est.verbose, "verbose", numbers.Integral, min_val=0)
    if est.samples_per_class is not None:
        check_scalar(
            est.samples_per_class,
            "samples_per_class",
            numbers.Integral,
            min_val=2,
            max_val=est.batch_size // 2,
        )
    if est.n_threads is not None:
        check_scalar(est.n_threads, "n_threads", numbers.Integral, min_val=1)
    for name in (
        "margin",
        "similar_weight",
        "dropout",
        "lr",
        "weight_decay",
        "validation_fraction",
        "tol",
        "corruption_rate",
    ):
        # check_scalar lets NaN and inf through its bounds.
        if not math.isfinite(getattr(est, name)):
            raise ValueError(
                f"{name} must be a finite number; got {getattr(est, name)!r}."
            )
    for name in ("normalize", "early_stopping", "warm_start"):
        if not isinstance(getattr(est, name), (bool, np.bool_)):
            raise TypeError(
                f"{name} must be True or False; got {getattr(est, name)!r}."
            )
    if est.pair_mining not in PAIR_MINING:
        raise ValueError(
            f"pair_mining must be one of {PAIR_MINING}; got {est.pair_mining!r}."
        )
    resolve_optimizer(est)
    check_module(est)
    check_callbacks(est)
    check_net_params(est)


def check_module(est):
    module = est.module
    if module is None or isinstance(module, nn.Module):
        return
    if isinstance(module, type) and issubclass(module, nn.Module):
        return
    raise TypeError(
        "module must be None (the default MLP), a torch.nn.Module subclass or "
        f"a torch.nn.Module instance; got {module!r}."
    )


def check_callbacks(est):
    if est.callbacks is None:
        return
    if not isinstance(est.callbacks, (list, tuple)):
        raise TypeError(
            "callbacks must be a list of skorch callbacks or (name, callback) "
            f"tuples; got {type(est.callbacks).__name__}."
        )
    for item in est.callbacks:
        name, callback = item if isinstance(item, tuple) else (None, item)
        is_callback = isinstance(callback, Callback) or (
            isinstance(callback, type) and issubclass(callback, Callback)
        )
        if not is_callback or not (name is None or isinstance(name, str)):
            raise TypeError(
                "callbacks must be a list of skorch callbacks or (name, "
                f"callback) tuples; got the item {item!r}. Wrap your own "
                "logic in a subclass of skorch.callbacks.Callback."
            )
        if name in INTERNAL_CALLBACKS:
            raise ValueError(
                f"callbacks may not use the name {name!r}: ContrastiveEmbedder "
                "adds a callback of that name itself. Choose another name."
            )


def check_net_params(est):
    if est.net_params is None:
        return
    if not isinstance(est.net_params, dict):
        raise TypeError(
            "net_params must be a dict of skorch settings such as "
            "{'optimizer__momentum': 0.9}, or None; got "
            f"{type(est.net_params).__name__}."
        )
    custom_class = isinstance(est.module, type)
    for key in est.net_params:
        if key.startswith("module__") and not custom_class:
            raise ValueError(
                f"net_params may not set {key!r}: module__<name> entries go to "
                "a custom module class (module=MyModule); for the default MLP "
                "use hidden_layer_sizes / n_components / dropout instead."
            )
        if key in _RESERVED_NET_PARAMS:
            raise ValueError(
                f"net_params may not set {key!r}: ContrastiveEmbedder sets it "
                f"from its own parameters; use {_RESERVED_NET_PARAMS[key]} "
                "instead."
            )
    if est.early_stopping and "train_split" in est.net_params:
        raise ValueError(
            "net_params may not set 'train_split' with early_stopping=True: "
            "early stopping holds out its own stratified validation split. "
            "Drop train_split or set early_stopping=False."
        )


def resolve_optimizer(est):
    if isinstance(est.optimizer, str) and est.optimizer in OPTIMIZERS:
        return OPTIMIZERS[est.optimizer]
    if isinstance(est.optimizer, type) and issubclass(
        est.optimizer, torch.optim.Optimizer
    ):
        return est.optimizer
    raise ValueError(
        f"optimizer must be one of {sorted(OPTIMIZERS)} or a subclass of "
        f"torch.optim.Optimizer; got {est.optimizer!r}."
    )


def resolve_device(est) -> str:
    """The torch device string to train on; ``"auto"`` resolved."""
    device = est.device
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {device!r}."
        )
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but this torch build sees no CUDA device; "
            "use device='cpu' or device='auto'."
        )
    if parsed.type == "cuda" and parsed.index is not None:
        n_devices = torch.cuda.device_count()
        if parsed.index >= n_devices:
            raise ValueError(
                f"device={device!r} but torch sees {n_devices} CUDA device(s), "
                f"numbered 0 to {n_devices - 1}; use one of those or 'cuda'."
            )
    return str(parsed)
