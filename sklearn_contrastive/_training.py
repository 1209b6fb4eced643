"""Everything one fit needs around the skorch net: the module, the net with
its callbacks, the early-stopping split and the optimizer state to carry on.

``ContrastiveEmbedder._fit`` calls these in order; each reads the estimator's
(already validated) parameters and builds torch or skorch objects from them.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from skorch import NeuralNet
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    PassthroughScoring,
    ProgressBar,
)
from skorch.dataset import Dataset, unpack_data
from skorch.helper import predefined_split
from skorch.history import History
from skorch.utils import to_tensor
from torch import nn

from ._callbacks import (
    VALID_MAP_AT_R,
    VALID_PAIR_LOSS,
    EpochLoss,
    FiniteLossGuard,
    PairDiagnostics,
    ValidationPairs,
    ValidationRetrieval,
)
from ._data import BatchLoader
from ._params import OPTIMIZERS, resolve_optimizer
from .losses import ContrastiveLoss
from .networks import MLP, L2Normalize, embedding_width


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing memory with ``array``, copying only read-only input.

    torch warns on read-only arrays, such as the memmaps that joblib hands to
    GridSearchCV workers.
    """
    return torch.from_numpy(np.require(array, requirements="W"))


@contextlib.contextmanager
def torch_threads(n_threads: int | None):
    """Use ``n_threads`` CPU threads inside the block, then restore the setting."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def validation_split(
    est, y_encoded: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``(train, valid)`` of a stratified early-stopping split."""
    n_samples = len(y_encoded)
    counts = np.bincount(y_encoded)
    counts = counts[counts > 0]
    n_classes = len(counts)
    n_valid = math.ceil(est.validation_fraction * n_samples)
    if counts.min() < 2 or not n_classes <= n_valid <= n_samples - n_classes:
        raise ValueError(
            f"early_stopping=True holds out validation_fraction="
            f"{est.validation_fraction} of the rows ({n_valid} of {n_samples}) "
            "stratified by class, which needs at least one validation row and "
            "one training row of each class; got "
            f"{n_classes} classes, the smallest with {counts.min()} rows. "
            "Change validation_fraction, add rows, or set early_stopping=False."
        )
    train, valid = train_test_split(
        np.arange(n_samples),
        test_size=n_valid,
        stratify=y_encoded,
        random_state=seed,
    )
    if np.bincount(y_encoded[valid]).max() < 2:
        # Retrieval among the validation rows needs a class with two of them.
        raise ValueError(
            f"early_stopping=True scores retrieval among the {n_valid} validation "
            f"rows (validation_fraction={est.validation_fraction}), which needs "
            "two rows of some class there; every class got one. Raise "
            "validation_fraction, or set early_stopping=False."
        )
    return train, valid


def pair_validation_split(
    est, pairs: np.ndarray, similar: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pair numbers ``(train, valid)`` of an early-stopping split of explicit
    pairs, stratified by ``similar``.

    The split is over distinct pairs: repeats of two rows (in either order)
    all land on the same side, so that no validation pair is trained on.
    """
    distinct, which = np.unique(np.sort(pairs, axis=1), axis=0, return_inverse=True)
    which = which.ravel()
    # Repeats share one label (contradicting ones were refused).
    distinct_similar = np.zeros(len(distinct), dtype=bool)
    distinct_similar[which] = similar
    n_pairs = len(distinct)
    n_valid = math.ceil(est.validation_fraction * n_pairs)
    n_similar = int(np.count_nonzero(distinct_similar))
    counts = f"{n_similar} similar and {n_pairs - n_similar} dissimilar distinct pairs"
    if min(n_similar, n_pairs - n_similar) < 2:
        raise ValueError(
            "early_stopping=True holds out pairs, stratified by similar, which "
            "needs a similar and a dissimilar pair for training and for "
            f"validation; got {counts}. Add pairs of the rarer kind, or set "
            "early_stopping=False."
        )
    split = None
    if 2 <= n_valid <= n_pairs - 2:
        split = train_test_split(
            np.arange(n_pairs),
            test_size=n_valid,
            stratify=distinct_similar,
            random_state=seed,
        )
    if split is None or any(len(np.unique(distinct_similar[s])) < 2 for s in split):
        raise ValueError(
            f"early_stopping=True holds out validation_fraction="
            f"{est.validation_fraction} of the distinct pairs ({n_valid} of "
            f"{n_pairs}), stratified by similar, which needs a similar and a "
            f"dissimilar pair on each side; got {counts}. Change "
            "validation_fraction, add pairs, or set early_stopping=False."
        )
    _, valid = split
    in_valid = np.isin(which, valid)
    return np.flatnonzero(~in_valid), np.flatnonzero(in_valid)


#: Most validation rows the per-epoch retrieval score ranks: MAP@R costs
#: O(n_valid x R) neighbours (R = rows of the query's class), ~4 s an epoch at
#: 5,000 rows of 2 classes, so a large validation set is subsampled for it.
MAX_RETRIEVAL_ROWS = 2000


def retrieval_subset(
    X_valid: np.ndarray, y_valid: np.ndarray, seed: int
) -> tuple[torch.Tensor, np.ndarray]:
    """The validation rows early stopping ranks: all of them, or a stratified
    sample of ``MAX_RETRIEVAL_ROWS`` (the validation loss still uses all)."""
    if len(y_valid) > MAX_RETRIEVAL_ROWS:
        _, counts = np.unique(y_valid, return_counts=True)
        keep, _ = train_test_split(
            np.arange(len(y_valid)),
            train_size=MAX_RETRIEVAL_ROWS,
            # Stratifying needs two rows of every class.
            stratify=y_valid if counts.min() >= 2 else None,
            random_state=seed,
        )
        keep = np.sort(keep)
        X_valid, y_valid = X_valid[keep], y_valid[keep]
    return as_tensor(X_valid), y_valid


@dataclass(frozen=True)
class Validation:
    """What early stopping scores in a fit.

    Attributes
    ----------
    name : str
        The name of ``callback`` in the net.
    callback : skorch.callbacks.Callback
        Records the score every epoch.
    monitor : str
        The history key of the score early stopping watches.
    lower_is_better : bool
        Whether a lower ``monitor`` is better.
    dataset : skorch.dataset.Dataset or None
        The rows skorch computes ``valid_loss`` on, or None for no loss.
    """

    name: str
    callback: Callback
    monitor: str
    lower_is_better: bool
    dataset: Dataset | None


def row_validation(est, X_valid: np.ndarray, y_valid: np.ndarray) -> Validation:
    """Held-out labelled rows: retrieval MAP@R among them, and their loss."""
    return Validation(
        name="validation_retrieval",
        callback=ValidationRetrieval(
            *retrieval_subset(X_valid, y_valid, est._split_seed)
        ),
        monitor=VALID_MAP_AT_R,
        lower_is_better=False,
        dataset=Dataset(as_tensor(X_valid), as_tensor(y_valid)),
    )


def pair_validation(
    X: np.ndarray, pairs: np.ndarray, similar: np.ndarray
) -> Validation:
    """Held-out explicit pairs: their loss (monitored) and ROC AUC. Their rows
    may also be in training pairs; the pairs themselves are not trained on."""
    rows, positions = np.unique(pairs.ravel(), return_inverse=True)
    return Validation(
        name="validation_pairs",
        callback=ValidationPairs(
            as_tensor(X[rows]), positions.reshape(-1, 2), similar.astype(bool)
        ),
        monitor=VALID_PAIR_LOSS,
        lower_is_better=True,
        dataset=None,
    )


def build_module(est, X: torch.Tensor, previous) -> tuple[nn.Module, int]:
    """The network to train and its embedding width, previous weights loaded.

    ``previous`` is the fitted net to continue from (warm start, partial_fit)
    or None.
    """
    if est.module is None:
        module = MLP(
            X.shape[1],
            hidden_layer_sizes=tuple(est.hidden_layer_sizes),
            n_components=est.n_components,
            normalize=bool(est.normalize),
            dropout=float(est.dropout),
        )
        # Known by construction: no probe forward pass needed.
        width = est.n_components
    else:
        if isinstance(est.module, nn.Module):
            module = copy.deepcopy(est.module)
        else:
            module = instantiate_module_class(est, X.shape[1])
        # Check the user's module itself, before anything is stacked on it.
        width = embedding_width(module, X)
        if (
            isinstance(est.module, type)
            and "n_components" in _accepted_arguments(est.module)
            and width != est.n_components
        ):
            raise ValueError(
                f"module {est.module.__name__} was built with n_components="
                f"{est.n_components} but returns embeddings of width {width}; "
                "make its output width follow its n_components argument."
            )
        if est.normalize:
            module = nn.Sequential(module, L2Normalize())
    if previous is not None:
        try:
            module.load_state_dict(previous.module_.state_dict())
        except RuntimeError as error:
            raise ValueError(
                "warm_start=True and partial_fit continue training the fitted "
                "network, so its shape (n_components, hidden_layer_sizes, "
                "module) must not change since the previous fit; set "
                "warm_start=False to train a new network. torch said: "
                + " ".join(line.strip() for line in str(error).splitlines()[1:3])
            ) from None
    return module, width


def _accepted_arguments(module_class: type) -> set[str]:
    """Names ``module_class(...)`` accepts; both ours when it takes ``**kwargs``."""
    parameters = inspect.signature(module_class).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return {"n_features_in", "n_components"}
    return {p.name for p in parameters}


def instantiate_module_class(est, n_features_in: int) -> nn.Module:
    """``est.module(...)`` with ``n_features_in`` / ``n_components`` if accepted,
    plus ``net_params``' ``module__<name>`` entries."""
    accepted = _accepted_arguments(est.module)
    kwargs = {
        name: value
        for name, value in (
            ("n_features_in", n_features_in),
            ("n_components", est.n_components),
        )
        if name in accepted
    }
    prefix = "module__"
    for key, value in (est.net_params or {}).items():
        if key.startswith(prefix):
            kwargs[key[len(prefix) :]] = value
    return est.module(**kwargs)


#: Optimizers whose ``step`` evaluates a closure exactly once, first: for
#: them a step without the closure does the same arithmetic.
SINGLE_EVALUATION_OPTIMIZERS = frozenset(OPTIMIZERS.values())


class EpochHistory(History):
    """skorch's History, with the current epoch one list lookup away.

    skorch resolves every ``history[i]`` through its general indexing (which
    starts by copying the list of epochs), and every ``record``,
    ``record_batch`` and ``new_batch`` goes through ``history[-1]``: about
    2 us each, a dozen times an epoch. An integer index returns the same
    epoch dict here directly; every other index is skorch's.
    """

    def __getitem__(self, i):
        if type(i) is int:
            return list.__getitem__(self, i)
        return super().__getitem__(i)


class ContrastiveNet(NeuralNet):
    """skorch's NeuralNet, with targets that may be explicit pairs and a
    leaner training step.

    A batch's target is either a tensor of labels, or (explicit pairs) a
    dict of ``pairs`` and ``similar`` tensors that the criterion takes as
    keyword arguments.

    skorch's step is general: it passes a closure to the optimizer (LBFGS
    evaluates it several times), notifies ``on_grad_computed`` and puts the
    module in training mode on every batch. That bookkeeping cost ~0.3 ms a
    step, 4-7 % of a default fit on two CPU cores. Where it cannot matter
    (one of our named optimizers, no callback listening to
    ``on_grad_computed``, modules already in training mode) the step is the
    plain ``zero_grad``, forward, ``backward``, ``step`` of a hand-written
    loop; otherwise it is skorch's. Training mode is set through every
    submodule at the start of the fit, and again only when something (a
    validation step, a callback) left the module or criterion in eval mode.
    """

    @property
    def _default_callbacks(self):
        return [
            (
                name,
                EpochLoss(
                    name=callback.name,
                    lower_is_better=callback.lower_is_better,
                    on_train=callback.on_train,
                ),
            )
            if isinstance(callback, PassthroughScoring)
            else (name, callback)
            for name, callback in super()._default_callbacks
        ]

    def initialize_history(self):
        """Start an empty :class:`EpochHistory`, or clear a history given
        through ``net_params["history"]`` (kept, as skorch keeps it)."""
        if self.history_ is None or type(self.history_) is History:
            self.history_ = EpochHistory()
        return super().initialize_history()

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # Every submodule in training mode once: a module instance handed
        # over in eval mode may sit inside a wrapper that is not.
        self._set_training(True)
        # Decided once per fit: the callbacks and optimizers are set by now.
        self.plain_step_ = all(
            type(getattr(self, name + "_")) in SINGLE_EVALUATION_OPTIMIZERS
            for name in self._optimizers
        ) and not any(
            type(callback).on_grad_computed is not Callback.on_grad_computed
            for _, callback in self.callbacks_
        )
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    def train_step(self, batch, **fit_params):
        if not getattr(self, "plain_step_", False):
            return super().train_step(batch, **fit_params)
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self._step_optimizer(None)
        return step

    def train_step_single(self, batch, **fit_params):
        # skorch resets training mode through every submodule on each batch;
        # after the reset at the start of the fit, only a switch to eval mode
        # (a validation step, a callback) makes it necessary again.
        if not (self.module_.training and self.criterion_.training):
            self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        if isinstance(y_true, Mapping):
            return self.criterion_(y_pred, **y_true)
        return self.criterion_(y_pred, y_true)


def build_net(est, module, device, target, validation) -> NeuralNet:
    """The skorch net for one fit, with its callbacks in the order they run.

    Ours come first (loss guard, pair diagnostics, the validation score), then
    the user's and the progress bar, and early stopping last: it ends the fit
    from inside ``on_epoch_end``, so a callback after it would miss the final
    epoch. (skorch always runs its epoch table last; on the stopping epoch it
    prints the reason for stopping instead of a row.)
    """
    extra = copy.deepcopy(est.net_params) if est.net_params else {}
    extra = {k: v for k, v in extra.items() if not k.startswith("module__")}
    train_split = extra.pop("train_split", None)
    callbacks = [
        ("finite_loss_guard", FiniteLossGuard(lr=est.lr)),
        ("pair_diagnostics", PairDiagnostics()),
    ]
    if validation is not None:
        if validation.dataset is not None:
            train_split = predefined_split(validation.dataset)
        callbacks.append((validation.name, validation.callback))
    callbacks += copy.deepcopy(list(est.callbacks or []))
    if est.verbose >= 2:
        callbacks.append(("progress_bar", ProgressBar()))
    if validation is not None:
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(
                    monitor=validation.monitor,
                    lower_is_better=validation.lower_is_better,
                    threshold=float(est.tol),
                    threshold_mode="abs",
                    # MLPClassifier's meaning: n_iter_no_change epochs
                    # without improvement are allowed, the next one stops.
                    patience=int(est.n_iter_no_change) + 1,
                    load_best=True,
                ),
            )
        )
    params = {
        "module": module,
        "criterion": ContrastiveLoss,
        "criterion__margin": float(est.margin),
        "criterion__similar_weight": float(est.similar_weight),
        "criterion__pair_mining": est.pair_mining,
        # Negative labels are views only when the loader made them so.
        "criterion__views": target.kind in ("partial_labels", "no_labels"),
        "optimizer": resolve_optimizer(est),
        "lr": float(est.lr),
        "optimizer__weight_decay": float(est.weight_decay),
        "max_epochs": int(est.max_epochs),
        "batch_size": int(est.batch_size),
        "iterator_train": target.loader,
        **{f"iterator_train__{k}": v for k, v in target.loader_params.items()},
        "iterator_valid": BatchLoader,
        "train_split": train_split,
        "device": device,
        "verbose": int(est.verbose),
        "callbacks": callbacks,
    }
    if not est.verbose:
        # skorch's PrintLog formats its table every epoch even when it prints
        # nothing: 15 % of a fit of one batch per epoch.
        params["callbacks__print_log"] = None
    if train_split is None:
        # Nothing to validate: skorch's valid_loss scoring would still read
        # the history every epoch.
        params["callbacks__valid_loss"] = None
    params.update(extra)
    return ContrastiveNet(**params)


def continue_optimizer(est, net, previous):
    """Carry the optimizer's state (e.g. Adam's moments) over to ``net``."""
    if type(net.optimizer_) is not type(previous.optimizer_):
        return
    # Copied: a failed partial_fit must leave the previous net's state as it was.
    net.optimizer_.load_state_dict(copy.deepcopy(previous.optimizer_.state_dict()))
    for group in net.optimizer_.param_groups:
        # The current parameters win over the state's saved ones.
        group["lr"] = float(est.lr)
        group["weight_decay"] = float(est.weight_decay)


def resume_lr_schedules(net) -> None:
    """Let learning-rate schedules pick up at the epoch count of a continued fit.

    skorch's ``LRScheduler`` resumes a schedule at the history's length, and
    torch then requires each parameter group's ``initial_lr``, which only an
    optimizer that a scheduler has already driven has. A warm-start fit's
    fresh optimizer gets its current ``lr`` as that base (torch's own choice
    for a new schedule); a kept optimizer keeps its own.
    """
    for group in net.optimizer_.param_groups:
        group.setdefault("initial_lr", group["lr"])


def prepare_for_pickling(net: NeuralNet, *, drop_split: bool) -> None:
    """Make a trained net load anywhere, without the training data.

    skorch maps the attributes named in ``cuda_dependent_attributes_`` to the
    CPU when a GPU-trained net is loaded on a machine without one; the module
    *instance* we handed it (``module``) and the callbacks (their state may
    hold device tensors, e.g. a scheduler's optimizer) must be among them.
    With ``drop_split`` (our early-stopping split) the split is dropped, so
    that the model does not carry the validation rows.
    """
    net.cuda_dependent_attributes_ = [
        *net.cuda_dependent_attributes_,
        "module",
        "callbacks",
    ]
    if drop_split:
        net.train_split = None
