"""Validation of ContrastiveEmbedder's parameters.

Every check names the parameter, the value received and the fix. They run at
the start of ``fit``, never in ``__init__`` (scikit-learn's contract).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_scalar
from skorch.callbacks import Callback
from torch import nn

from .pairs import check_pair_mining, max_samples_per_class

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

#: Values of ``validation_split``: how early stopping holds out labelled rows.
VALIDATION_SPLITS = ("stratified", "classes")

#: ``net_params`` entries with this prefix are arguments of a custom module class.
MODULE_PREFIX = "module__"


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

#: Names of the callbacks every fit adds (``_net.net_callbacks``).
LOSS_GUARD = "finite_loss_guard"
PAIR_DIAGNOSTICS = "pair_diagnostics"
VALIDATION_RETRIEVAL = "validation_retrieval"
VALIDATION_PAIRS = "validation_pairs"
EARLY_STOPPING = "early_stopping"
PROGRESS_BAR = "progress_bar"
#: User callbacks may not reuse them.
INTERNAL_CALLBACKS = (
    LOSS_GUARD,
    PAIR_DIAGNOSTICS,
    VALIDATION_RETRIEVAL,
    VALIDATION_PAIRS,
    EARLY_STOPPING,
    PROGRESS_BAR,
)


#: Bounds of the numeric parameters, as ``check_scalar`` takes them:
#: ``(name, type, min_val, max_val, include_boundaries)``; None means
#: unbounded. ``samples_per_class``'s upper bound depends on ``batch_size``.
_SCALARS = (
    ("n_components", numbers.Integral, 1, None, "both"),
    ("margin", numbers.Real, 0, None, "neither"),
    ("similar_weight", numbers.Real, 0, None, "both"),
    ("dropout", numbers.Real, 0, 1, "left"),
    ("max_epochs", numbers.Integral, 1, None, "both"),
    ("batch_size", numbers.Integral, 2, None, "both"),
    ("lr", numbers.Real, 0, None, "neither"),
    ("weight_decay", numbers.Real, 0, None, "both"),
    ("validation_fraction", numbers.Real, 0, 1, "neither"),
    ("n_iter_no_change", numbers.Integral, 1, None, "both"),
    ("tol", numbers.Real, 0, None, "both"),
    ("corruption_rate", numbers.Real, 0, 1, "left"),
    ("verbose", numbers.Integral, 0, None, "both"),
    ("samples_per_class", numbers.Integral, 2, "batch_size", "both"),
    ("n_threads", numbers.Integral, 1, None, "both"),
)

#: Parameters that may be None (then unchecked).
_OPTIONAL = ("samples_per_class", "n_threads")

#: Parameters that must be True or False.
_FLAGS = ("normalize", "early_stopping", "warm_start")


#: Prefix of ``ContrastiveEmbedder``'s nested ``net_params__<name>`` keys.
NET_PARAMS_PREFIX = "net_params__"


class NestedNetParamsMixin:
    """``get_params`` / ``set_params`` with ``net_params__<name>`` keys.

    Single entries of the ``net_params`` dict can be read, set and searched
    (``GridSearchCV``) as ``net_params__<name>``, as scikit-learn does for
    the parameters of sub-estimators.
    """

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        if deep and isinstance(self.net_params, dict):
            for key, value in self.net_params.items():
                params[NET_PARAMS_PREFIX + key] = value
        return params

    def set_params(self, **params):
        nested = {
            key[len(NET_PARAMS_PREFIX) :]: params.pop(key)
            for key in list(params)
            if key.startswith(NET_PARAMS_PREFIX)
        }
        super().set_params(**params)
        if nested:
            current = self.net_params if isinstance(self.net_params, dict) else {}
            self.net_params = {**current, **nested}
        return self


def validate_params(params: dict) -> None:
    """Check the estimator's parameters (``get_params(deep=False)``); raise
    ValueError or TypeError for the first bad one, and warn of values that
    are allowed but cannot work (pointed at the caller of ``fit``, which calls
    this through ``_fit``)."""
    _check_numbers(params)
    for name in _FLAGS:
        if not isinstance(params[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {params[name]!r}.")
    check_pair_mining(params["pair_mining"])
    check_validation_split(params["validation_split"])
    resolve_optimizer(params["optimizer"])
    check_module(params["module"])
    check_callbacks(params["callbacks"])
    check_net_params(params["net_params"], params["module"], params["early_stopping"])
    _warn_if_margin_unreachable(params["margin"], params["normalize"], stacklevel=5)


def layer_sizes(sizes) -> tuple:
    """``hidden_layer_sizes`` as a tuple: an int ``n`` is one layer, ``(n,)``,
    as scikit-learn's ``MLPClassifier`` reads it."""
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        return (sizes,)
    return tuple(sizes) if isinstance(sizes, (tuple, list)) else sizes


def _check_hidden_layer_sizes(given) -> None:
    sizes = layer_sizes(given)
    if not (
        isinstance(sizes, (tuple, list))
        and all(
            isinstance(size, numbers.Integral)
            and not isinstance(size, bool)
            and size > 0
            for size in sizes
        )
    ):
        raise ValueError(
            "hidden_layer_sizes must be a tuple of positive integers such as "
            f"(256, 128), an int for one layer, or () for a linear map; got "
            f"{given!r}."
        )


def _check_projection_head(sizes) -> None:
    if sizes is not None:
        try:
            _check_hidden_layer_sizes(sizes)
        except ValueError:
            raise ValueError(
                "projection_head must be None (no head) or a tuple of positive "
                f"integers such as (128,), the head's hidden widths; got {sizes!r}."
            ) from None


def _check_unlabeled_label(marker) -> None:
    if marker is not None and not isinstance(marker, (numbers.Integral, str)):
        raise TypeError(
            "unlabeled_label must be None, an int (scikit-learn's semi-supervised "
            f"convention is -1) or a str; got {marker!r}."
        )


#: Checks of non-numeric parameters that run right after a numeric one, so
#: that the first error a user sees does not depend on the table's layout.
_CHECKS_AFTER = {
    "n_components": ("hidden_layer_sizes", _check_hidden_layer_sizes),
    "dropout": ("projection_head", _check_projection_head),
    "corruption_rate": ("unlabeled_label", _check_unlabeled_label),
}


#: Distances between unit vectors lie in [0, 2].
MAX_NORMALIZED_DISTANCE = 2.0


def _warn_if_margin_unreachable(margin, normalize, *, stacklevel: int) -> None:
    """Warn when no dissimilar pair can ever reach the margin: unit-length
    embeddings (``normalize=True``) lie at most 2 apart."""
    if normalize and margin > MAX_NORMALIZED_DISTANCE:
        warnings.warn(
            f"margin={margin} can never be reached with normalize=True: the "
            "embeddings are unit vectors, at most 2 apart, so every dissimilar "
            "pair stays inside the margin and is pushed apart forever. Use a "
            "margin of at most 2 (the default is 1.0), or normalize=False to "
            "let the embeddings' scale follow the margin.",
            UserWarning,
            stacklevel=stacklevel,
        )


def _check_numbers(params: dict) -> None:
    """The numeric parameters: type, bounds, finiteness."""
    # bool is an int to check_scalar; refuse it before any bound is checked.
    for name, kind, *_ in _SCALARS:
        if kind is numbers.Integral and isinstance(params[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be an int; got {params[name]!r}.")
    for name, kind, min_val, max_val, boundaries in _SCALARS:
        if params[name] is None and name in _OPTIONAL:
            continue
        if max_val == "batch_size":
            max_val = max_samples_per_class(params["batch_size"])
        check_scalar(
            params[name],
            name,
            kind,
            min_val=min_val,
            max_val=max_val,
            include_boundaries=boundaries,
        )
        if name in _CHECKS_AFTER:
            other, check = _CHECKS_AFTER[name]
            check(params[other])
    for name, kind, *_ in _SCALARS:
        # check_scalar lets NaN and inf through its bounds.
        if kind is numbers.Real and not math.isfinite(params[name]):
            raise ValueError(f"{name} must be a finite number; got {params[name]!r}.")


def check_validation_split(validation_split) -> None:
    """Raise ValueError unless ``validation_split`` is one of
    :data:`VALIDATION_SPLITS`."""
    if validation_split not in VALIDATION_SPLITS:
        raise ValueError(
            f"validation_split must be one of {VALIDATION_SPLITS}; got "
            f"{validation_split!r}."
        )


def check_module(module) -> None:
    if module is None or isinstance(module, nn.Module):
        return
    if isinstance(module, type) and issubclass(module, nn.Module):
        return
    raise TypeError(
        "module must be None (the default MLP), a torch.nn.Module subclass or "
        f"a torch.nn.Module instance; got {module!r}."
    )


def check_callbacks(callbacks) -> None:
    if callbacks is None:
        return
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            "callbacks must be a list of skorch callbacks or (name, callback) "
            f"tuples; got {type(callbacks).__name__}."
        )
    for item in callbacks:
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


def check_net_params(net_params, module, early_stopping: bool) -> None:
    if net_params is None:
        return
    if not isinstance(net_params, dict):
        raise TypeError(
            "net_params must be a dict of skorch settings such as "
            "{'optimizer__momentum': 0.9}, or None; got "
            f"{type(net_params).__name__}."
        )
    custom_class = isinstance(module, type)
    for key in net_params:
        if key.startswith(MODULE_PREFIX) and not custom_class:
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
    if early_stopping and "train_split" in net_params:
        raise ValueError(
            "net_params may not set 'train_split' with early_stopping=True: "
            "early stopping holds out its own stratified validation split. "
            "Drop train_split or set early_stopping=False."
        )


def split_net_params(net_params: dict | None) -> tuple[dict, dict]:
    """``(module_kwargs, settings)``: ``net_params``' ``module__<name>`` entries
    as ``{name: value}``, and every other entry (skorch settings)."""
    module_kwargs, settings = {}, {}
    for key, value in (net_params or {}).items():
        if key.startswith(MODULE_PREFIX):
            module_kwargs[key[len(MODULE_PREFIX) :]] = value
        else:
            settings[key] = value
    return module_kwargs, settings


def pick(params: dict, *names: str) -> dict:
    """The entries ``names`` of ``params``, to pass on as keyword arguments."""
    return {name: params[name] for name in names}


def resolve_optimizer(optimizer) -> type:
    """The optimizer class that the ``optimizer`` parameter names."""
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]  # "Adam" as torch spells it
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise ValueError(
        f"optimizer must be one of {sorted(OPTIMIZERS)} or a subclass of "
        f"torch.optim.Optimizer; got {optimizer!r}."
    )


def resolve_device(device) -> str:
    """The torch device string to train on; ``"auto"`` resolved."""
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
