"""The portable state of a fitted estimator: its skorch net as plain data.

A fitted ``ContrastiveEmbedder`` keeps a skorch net in ``net_``: an object
graph of torch modules, an optimizer, callbacks and loaders. Its portable
state is what it takes to build that net again: the parameters it was built
with, the device, the training loader's name and settings, the module's
``state_dict`` and the optimizer's state as NumPy arrays (param groups as
plain data); the net's history is the estimator's ``history_`` (skorch's
per-batch records are not kept). Nothing in it is a torch, skorch or
sklearn-contrastive object, and no array in it holds a training row.

:class:`PortableStateMixin` makes it the estimator's pickle (``__getstate__``
puts it in place of ``net_``, ``__setstate__`` rebuilds the net), so that
pickle, joblib and ``skops.io`` all store it; ``_safe_file.py`` writes the
same state as JSON and safetensors. A net is rebuilt through
``_train.build``, the code path of ``fit``, and then given the saved weights.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from skorch import NeuralNet

from ._data import ClassBalancedLoader, PairLoader, ViewLoader
from ._net import ContrastiveNet, load_optimizer_state, prepare_for_pickling
from ._params import resolve_device
from ._runtime import as_tensor, seeded_torch
from ._train import build

#: The key of the estimator's state that holds the net's portable state, in
#: place of ``net_``.
NET_STATE = "_net_state"

#: The training loaders a saved net may name (looked up, never imported).
LOADERS = {
    loader.__name__: loader for loader in (ClassBalancedLoader, PairLoader, ViewLoader)
}

_LOADER_PREFIX = "iterator_train__"


def net_state(net: NeuralNet, params: dict) -> dict:
    """The portable state of a trained ``net``, as :func:`restore_net` takes it.

    ``params`` are the estimator's parameters, used when the net does not say
    which it was built with (a net pickled by an earlier version). The
    arrays share memory with the net's CPU tensors: serialise, don't modify.
    """
    loader_params = {
        name[len(_LOADER_PREFIX) :]: value
        for name, value in vars(net).items()
        if name.startswith(_LOADER_PREFIX)
        and (value is None or isinstance(value, bool | int | float | str))
    }
    return {
        "params": dict(getattr(net, "estimator_params_", params)),
        "device": str(net.device),
        "loader": net.iterator_train.__name__,
        "loader_params": loader_params,
        "views": bool(getattr(net, "criterion__views", False)),
        "module": {
            name: _to_numpy(value, name)
            for name, value in net.module_.state_dict().items()
        },
        "optimizer": _optimizer_state(net.optimizer_),
    }


def restore_net(
    state: dict, *, n_features_in: int, width: int, history: list[dict]
) -> ContrastiveNet:
    """The net that :func:`net_state` described, with its weights, optimizer
    state (when saved) and ``history`` (the estimator's ``history_``), on its
    device or, without it, the CPU.

    The net is built by ``_train.build`` from the saved parameters, as ``fit``
    builds it (its initial weights drawn inside a seeded, forked torch
    generator, so the caller's is left alone), then given the saved state.
    Its callbacks are fresh: what they learnt in the fit (early stopping's
    best epoch, say) is in the history and the fitted attributes.
    """
    device = _loadable_device(state["device"])
    loader = LOADERS[state["loader"]]
    # Never drawn from: a fitted net is never trained again (each fit builds
    # its own, with its own stream).
    loader_params = {**state["loader_params"], "random_state": np.random.default_rng(0)}
    with seeded_torch(0, device):
        net, built_width = build(
            torch.zeros((2, n_features_in)),
            state["params"],
            loader=loader,
            loader_params=loader_params,
            views=state["views"],
            validation=None,
            device=device,
            previous=None,
        )
        net.initialize()
    if built_width != width:
        raise ValueError(
            f"The saved parameters build a network of width {built_width}, but "
            f"the saved model embeds in {width} dimensions."
        )
    try:
        net.module_.load_state_dict(_to_torch(state["module"]))
    except RuntimeError as error:
        raise ValueError(
            "The saved weights do not fit the network that the saved "
            "parameters build (was the module class given back another one?). "
            "torch said: " + " ".join(str(error).split())
        ) from None
    if state["optimizer"] is not None:
        _load_optimizer(net.optimizer_, state["optimizer"])
    # skorch's per-batch records are not kept: they grow with the batches
    # (100,000 dicts for 25 epochs of a million rows), and nothing reads
    # them after the fit.
    net.history.extend({**epoch, "batches": []} for epoch in history)
    net.module_.eval()  # as train_net leaves it
    prepare_for_pickling(net, drop_split=False)
    return net


class PortableStateMixin:
    """Pickles of a fitted estimator hold the portable state of ``net_``.

    ``pickle``, ``joblib`` and ``skops.io`` serialise an object through its
    ``__getstate__``: here the estimator's attributes, with the portable
    state of ``net_`` (:func:`net_state`) in its place, so that a pickle
    holds only dicts, lists, NumPy arrays, a ``RandomState`` and the
    parameters, and a skops file names no torch or skorch type. Loading
    rebuilds the net (:func:`restore_net`). Copies (``copy.copy``,
    ``copy.deepcopy``) copy the attributes as they are, net included.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        net = state.pop("net_", None)
        if net is not None:
            state[NET_STATE] = net_state(net, self.get_params(deep=False))
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop(NET_STATE, None)
        super().__setstate__(state)
        if saved is not None:
            self.net_ = restore_net(
                saved,
                n_features_in=self.n_features_in_,
                width=self._n_features_out,
                history=self.history_,
            )

    def __copy__(self):
        copied = type(self).__new__(type(self))
        copied.__dict__.update(vars(self))
        return copied

    def __deepcopy__(self, memo):
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy(vars(self), memo))
        return copied


def _to_numpy(value, name: str):
    """A tensor as a NumPy array (on the CPU); other values as they are."""
    if not torch.is_tensor(value):
        return value
    try:
        return value.detach().cpu().numpy()
    except TypeError:
        raise TypeError(
            f"The tensor {name!r} of the fitted network has dtype {value.dtype}, "
            "which NumPy cannot hold, so the model cannot be saved; use a "
            "float32 network (the estimator trains in float32)."
        ) from None


def _optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    saved = optimizer.state_dict()
    return {
        "state": {
            int(index): {key: _to_numpy(v, key) for key, v in entry.items()}
            for index, entry in saved["state"].items()
        },
        "param_groups": [
            {key: _to_numpy(v, key) for key, v in group.items()}
            for group in saved["param_groups"]
        ],
    }


def _to_torch(mapping: dict) -> dict:
    """The inverse of :func:`_to_numpy` over a dict's values."""
    return {
        key: as_tensor(value) if isinstance(value, np.ndarray) else value
        for key, value in mapping.items()
    }


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    groups = [_to_torch(group) for group in saved["param_groups"]]
    state = {int(index): _to_torch(entry) for index, entry in saved["state"].items()}
    try:
        # Its own device options kept, so that a GPU model loads on a CPU.
        load_optimizer_state(optimizer, {"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            "The saved optimizer state does not fit the optimizer that the "
            f"saved parameters build: {error}"
        ) from None


def _loadable_device(saved: str) -> str:
    """``saved`` (a device ``resolve_device`` gave the fit), or the CPU (with
    a warning) when this machine lacks it."""
    try:
        return resolve_device(saved)
    except ValueError:
        pass
    warnings.warn(
        f"This model was fitted on device {saved!r}, which this machine does "
        "not have (torch sees no such CUDA device): its network is loaded on "
        "the CPU. Set device='cpu' (or 'auto') before fitting it again.",
        UserWarning,
        stacklevel=4,
    )
    return "cpu"
