"""The one door to skorch: the net class one fit trains, and its construction.

Everything that subclasses skorch's :class:`~skorch.NeuralNet` (or its
``History`` and ``PassthroughScoring``) lives here. It goes through skorch's
override points: ``initialize_history``, the net's own ``on_train_begin`` and
``on_epoch_begin`` hooks, ``train_step``, ``train_step_single`` and
``get_loss``, and the ``_default_callbacks`` property, which skorch's own
``NeuralNetClassifier`` overrides the same way; ``fit_loop`` is wrapped, not
replaced, to see the interrupts skorch swallows. No private skorch method is
called.
The other modules use skorch only as a library: ``Callback`` subclasses
(``_callbacks.py``), ``Dataset`` and ``EarlyStopping``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    PassthroughScoring,
    PrintLog,
)
from skorch.dataset import unpack_data
from skorch.helper import predefined_split
from skorch.history import History
from skorch.utils import to_tensor
from torch import nn

from ._callbacks import (
    EpochProgressBar,
    FiniteLossGuard,
    PairDiagnostics,
    PlainPrintLog,
)
from ._data import BatchLoader
from ._history_keys import EPOCH, TRAIN_LOSS
from ._params import (
    EARLY_STOPPING,
    LOSS_GUARD,
    OPTIMIZERS,
    PAIR_DIAGNOSTICS,
    PROGRESS_BAR,
    resolve_optimizer,
)
from ._runtime import FLUSH_DENORMALS_EVERY, flush_denormals
from ._validation import Validation
from .losses import ContrastiveLoss

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

    Measured (``benchmarks/bench_overrides.py``, paired medians of fits with
    skorch's ``History`` against this one): 1.009 on wine, 0.986 on digits,
    1.01-1.02 in an earlier run; no gain this machine can tell from noise.
    """

    def __getitem__(self, i):
        if type(i) is int:
            return list.__getitem__(self, i)
        return super().__getitem__(i)


class EpochLoss(PassthroughScoring):
    """skorch's ``train_loss`` / ``valid_loss`` callback, made cheaper.

    Records the same value: the epoch's batch losses averaged with the batch
    sizes as weights (and ``<name>_best``), as a Python float where skorch's
    is a NumPy float64. skorch's version reads them back through the
    history's generic slicing and ``np.average``, ~0.2 ms an epoch in a fit
    (5 % of an epoch of one batch); this one walks the epoch's batch records
    directly. Measured (``benchmarks/bench_overrides.py``, paired medians of
    fits with skorch's callbacks against these): 1.034 on wine, 1.004 on
    digits, 1.04-1.05 in an earlier run.
    """

    def on_epoch_end(self, net, **kwargs):
        size_key = "train_batch_size" if self.on_train else "valid_batch_size"
        total = weight = 0.0
        for batch in net.history[-1]["batches"]:
            if self.name in batch:
                total += batch[self.name] * batch[size_key]
                weight += batch[size_key]
        if not weight:
            return  # no batches of this kind, e.g. no validation data
        score = total / weight
        is_best = self._is_best(score)
        if is_best:
            self.best_score_ = score
        net.history.record(self.name, score)
        if is_best is not None:
            net.history.record(self.name + "_best", bool(is_best))

    def _is_best(self, score: float) -> bool | None:
        """skorch's rule: better than ``best_score_``, None when unranked."""
        if self.lower_is_better is None:
            return None
        if self.lower_is_better:
            return score < self.best_score_
        return score > self.best_score_


class ContrastiveNet(NeuralNet):
    """skorch's NeuralNet, with targets that may be explicit pairs and a
    leaner training step.

    A batch's target is either a tensor of labels, or a dict that the
    criterion takes as keyword arguments: ``labels`` and ``sample_weight``
    (weighted rows), or ``pairs`` and ``similar`` (explicit pairs, and
    ``pair_weight`` when weighted).

    skorch's step is general: it passes a closure to the optimizer (LBFGS
    evaluates it several times), notifies ``on_grad_computed`` and puts the
    module in training mode on every batch. Measured
    (``benchmarks/bench_overrides.py``, paired medians of fits with skorch's
    ``train_step`` and ``train_step_single`` against these): 1.015 on wine
    and on digits, 1.04-1.05 in an earlier run; the closure-free
    ``train_step`` alone measured 0.99-1.01, so the gain is the training
    mode set once rather than per batch. Where it cannot matter
    (one of our named optimizers, no callback listening to
    ``on_grad_computed``, modules already in training mode) the step is the
    plain ``zero_grad``, forward, ``backward``, ``step`` of a hand-written
    loop; otherwise it is skorch's. Training mode is set through every
    submodule at the start of the fit, and again only when something (a
    validation step, a callback) left the module or criterion in eval mode.

    skorch ends its loop quietly on any ``KeyboardInterrupt``: early
    stopping's, and Ctrl-C's. ``interrupt_`` keeps the latter for
    :func:`train_net` to raise again.
    """

    @property
    def _default_callbacks(self):
        # The one private name of skorch used here, overridden as skorch's own
        # NeuralNetClassifier does: get_default_callbacks and get_params (for
        # the callbacks__<name> parameters) both read it.
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
            # The same table, without colour codes outside a terminal.
            else (name, PlainPrintLog())
            if type(callback) is PrintLog
            else (name, callback)
            for name, callback in super()._default_callbacks
        ]

    def initialize_history(self):
        """Start an empty :class:`EpochHistory`, or clear a history given
        through ``net_params["history"]`` (kept, as skorch keeps it)."""
        if self.history_ is None or type(self.history_) is History:
            self.history_ = EpochHistory()
        return super().initialize_history()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        # Decided at the first epoch, after every callback's on_train_begin.
        self.plain_step_ = None

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop, noting in ``interrupt_`` a ``KeyboardInterrupt`` that
        is not an ``EarlyStopping`` callback ending the fit.

        skorch documents ``fit_loop`` as best left alone because of its book
        keeping; it is called unchanged here, only its exception is looked at
        on the way out (``partial_fit`` then swallows it, as skorch does, and
        runs the callbacks' ``on_train_end``).
        """
        self.interrupt_ = None
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as interrupt:
            if not self._stopped_early():
                self.interrupt_ = interrupt
            raise

    def _stopped_early(self) -> bool:
        # skorch's EarlyStopping raises KeyboardInterrupt exactly when its
        # misses reach its patience; a Ctrl-C at any other moment finds every
        # such callback short of it.
        return any(
            isinstance(callback, EarlyStopping)
            and callback.misses_ >= callback.patience
            for _, callback in self.callbacks_
        )

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if training and getattr(self, "world_", None) is not None:
            # skorch recorded this process's slice; the loss was the global
            # batch's, and the epoch's mean weighs it by that size.
            self.history.record_batch("train_batch_size", batch_rows(batch[1]))

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        if self.plain_step_ is not None:
            return
        # Every submodule in training mode once: a module instance handed
        # over in eval mode may sit inside a wrapper that is not, and a
        # callback's on_train_begin may have changed a mode.
        self._train_mode()
        # Once per fit: the callbacks and the optimizer are final by now.
        self.plain_step_ = type(
            self.optimizer_
        ) in SINGLE_EVALUATION_OPTIMIZERS and not any(
            type(callback).on_grad_computed is not Callback.on_grad_computed
            for _, callback in self.callbacks_
        )

    def _train_mode(self) -> None:
        self.module_.train(True)
        self.criterion_.train(True)

    def train_step(self, batch, **fit_params):
        if not getattr(self, "plain_step_", False):
            step = super().train_step(batch, **fit_params)
        else:
            self.optimizer_.zero_grad()
            step = self.train_step_single(batch, **fit_params)
            self.optimizer_.step()
        self.steps_ = getattr(self, "steps_", 0) + 1
        if self.steps_ % FLUSH_DENORMALS_EVERY == 0:
            flush_denormals(self.module_, self.optimizer_)
        return step

    def train_step_single(self, batch, **fit_params):
        # skorch resets training mode through every submodule on each batch;
        # after the reset at the start of the fit, only a switch to eval mode
        # (a validation step, a callback) makes it necessary again.
        if not (self.module_.training and self.criterion_.training):
            self._train_mode()
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        world = getattr(self, "world_", None)
        if world is not None:
            # Each process's gradient is the global loss's through its own
            # rows: their sum is the global loss's gradient.
            world.sum_gradients(self.module_.parameters())
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        world = getattr(self, "world_", None)
        if training and world is not None:
            # This process's slice, in the global batch the loss scores.
            y_pred = world.gather(y_pred, batch_rows(y_true))
        if isinstance(y_true, Mapping):
            return self.criterion_(y_pred, **y_true)
        return self.criterion_(y_pred, y_true)


def batch_rows(target) -> int:
    """The rows of a training batch, from its target: a label tensor, or a
    dict of labels and weights (explicit pairs do not reach this)."""
    return len(target["labels"] if isinstance(target, Mapping) else target)


def net_callbacks(
    validation: Validation | None,
    user_callbacks,
    *,
    lr: float,
    verbose: int,
    tol: float,
    n_iter_no_change: int,
) -> list[tuple[str, Callback]]:
    """The callbacks of one fit, in the order they run.

    Ours come first (loss guard, pair diagnostics, the validation score), then
    copies of the user's and the progress bar, and early stopping last: it
    ends the fit from inside ``on_epoch_end``, so a callback after it would
    miss the final epoch. (skorch always runs its epoch table last; on the
    stopping epoch it prints the reason for stopping instead of a row.)
    """
    callbacks = [
        (LOSS_GUARD, FiniteLossGuard(lr=lr)),
        (PAIR_DIAGNOSTICS, PairDiagnostics()),
    ]
    if validation is not None:
        callbacks.append((validation.name, validation.callback))
    callbacks += copy.deepcopy(list(user_callbacks or []))
    if verbose >= 2:
        callbacks.append((PROGRESS_BAR, EpochProgressBar()))
    if validation is not None:
        early_stopping = EarlyStopping(
            monitor=validation.monitor,
            lower_is_better=validation.lower_is_better,
            threshold=float(tol),
            threshold_mode="abs",
            # MLPClassifier's meaning: n_iter_no_change epochs without
            # improvement are allowed, the next one stops.
            patience=int(n_iter_no_change) + 1,
            load_best=True,
        )
        callbacks.append((EARLY_STOPPING, early_stopping))
    return callbacks


#: Optimizers whose ``fused=True`` implementation (CPU and CUDA) the net uses
#: unless ``net_params`` sets ``optimizer__fused`` or ``optimizer__foreach``.
FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def _has_fused_kernels(device: str) -> bool:
    """Whether torch fuses Adam on ``device``: CUDA, and the CPU from 2.4."""
    kind = torch.device(device).type
    if kind == "cuda":
        return True
    return kind == "cpu" and torch.torch_version.TorchVersion(torch.__version__) >= (
        2,
        4,
    )


def build_net(
    module: nn.Module,
    *,
    criterion_params: dict,
    training_params: dict,
    loader: type,
    loader_params: dict,
    validation: Validation | None,
    early_stopping_params: dict,
    user_callbacks,
    device: str,
    verbose: int,
    settings: dict,
) -> ContrastiveNet:
    """The skorch net for one fit.

    Parameters
    ----------
    criterion_params : dict
        Arguments of :class:`~sklearn_contrastive.losses.ContrastiveLoss`.
    training_params : dict
        ``optimizer`` (a name or class), ``lr``, ``weight_decay``, ``max_epochs`` and
        ``batch_size``.
    loader, loader_params
        The training loader class and its arguments (``TrainingTarget.loader``).
    validation : Validation or None
        Early stopping's held-out data; its dataset, if any, is skorch's
        validation split (for ``valid_loss``).
    early_stopping_params : dict
        ``tol`` and ``n_iter_no_change``, used with ``validation``.
    user_callbacks : list or None
        The estimator's ``callbacks``, copied (see :func:`net_callbacks`).
    settings : dict
        The user's other skorch settings (``net_params`` without the module's
        arguments), copied.
    """
    settings = copy.deepcopy(settings)
    train_split = settings.pop("train_split", None)
    if validation is not None and validation.dataset is not None:
        train_split = predefined_split(validation.dataset)
    params = {
        "module": module,
        "criterion": ContrastiveLoss,
        **{f"criterion__{k}": v for k, v in criterion_params.items()},
        "optimizer": resolve_optimizer(training_params["optimizer"]),
        "lr": float(training_params["lr"]),
        "optimizer__weight_decay": float(training_params["weight_decay"]),
        "max_epochs": int(training_params["max_epochs"]),
        "batch_size": int(training_params["batch_size"]),
        "iterator_train": loader,
        **{f"iterator_train__{k}": v for k, v in loader_params.items()},
        "iterator_valid": BatchLoader,
        "train_split": train_split,
        "device": device,
        "verbose": int(verbose),
        "callbacks": net_callbacks(
            validation,
            user_callbacks,
            lr=training_params["lr"],
            verbose=verbose,
            **early_stopping_params,
        ),
    }
    if not verbose:
        # skorch's PrintLog formats its table every epoch even when it prints
        # nothing: 15 % of a fit of one batch per epoch.
        params["callbacks__print_log"] = None
    if train_split is None:
        # Nothing to validate: skorch's valid_loss scoring would still read
        # the history every epoch.
        params["callbacks__valid_loss"] = None
    if (
        params["optimizer"] in FUSED_OPTIMIZERS
        and _has_fused_kernels(device)
        and not {"optimizer__fused", "optimizer__foreach"} & set(settings)
    ):
        # One kernel for the whole step instead of a dozen per parameter:
        # 7 % of a default fit's time on the CPU (docs/design.md).
        params["optimizer__fused"] = True
    params.update(settings)
    return ContrastiveNet(**params)


def train_net(
    net: NeuralNet,
    X: torch.Tensor | torch.utils.data.Dataset,
    y: torch.Tensor | None,
    *,
    previous: NeuralNet | None,
    incremental: bool,
    drop_split: bool,
    lr: float,
    weight_decay: float,
) -> None:
    """Initialise ``net``, train it on ``(X, y)`` and leave it ready to use.

    ``X`` is a tensor, or the dataset of an out-of-core source with ``y``
    None (``_sources.training_data``).

    A continued fit (``previous``, the fitted net of a warm start or of
    earlier ``partial_fit`` calls) extends its history; ``partial_fit``
    (``incremental``) also keeps its optimizer's state and trains one epoch.
    ``previous`` is only read. ``drop_split``: see :func:`prepare_for_pickling`.

    Raises the ``KeyboardInterrupt`` (Ctrl-C) that skorch swallows, after the
    callbacks' ``on_train_end``; early stopping's ends the fit as planned.
    """
    net.initialize()
    if previous is not None:
        net.history_ = copy.deepcopy(previous.history_)
        if incremental:
            continue_optimizer(net, previous, lr=lr, weight_decay=weight_decay)
        resume_lr_schedules(net)
    if getattr(net, "world_", None) is not None:
        net.world_.broadcast_parameters(net.module_)
        if net.world_.rank > 0:
            # Dropout masks of their own in each process (rank 0 keeps the
            # single-process stream): the same draws in every slice would
            # tie row k of each slice to row k of the others.
            torch.manual_seed(torch.initial_seed() + net.world_.rank)
    try:
        net.partial_fit(X, y, epochs=1 if incremental else None)
    finally:
        # Also when an on_train_end failed on the unfinished epoch: the
        # interrupt is what the user did, that error its consequence.
        interrupt = getattr(net, "interrupt_", None)
        if interrupt is not None:
            raise interrupt
    # Leave the module as transform uses it, so net_.module_(X) agrees, and
    # without the denormal weights that slow every later forward pass.
    net.module_.eval()
    flush_denormals(net.module_, net.optimizer_)
    # The last step's gradients, as large as the weights, are not needed:
    # every step starts from none (zero_grad), and pickles leave them out.
    net.module_.zero_grad(set_to_none=True)
    prepare_for_pickling(net, drop_split=drop_split)


#: Optimizer options that torch picks per device (:func:`build_net` turns
#: ``fused`` on where the device has the kernels, ``net_params`` may set them):
#: an optimizer given a saved state keeps its own.
OPTIMIZER_DEVICE_OPTIONS = ("fused", "foreach", "capturable", "differentiable")


def load_optimizer_state(optimizer: torch.optim.Optimizer, state_dict: dict) -> None:
    """``optimizer.load_state_dict(state_dict)``, keeping the optimizer's own
    :data:`OPTIMIZER_DEVICE_OPTIONS` (torch lets the saved param groups win,
    which would carry a GPU's ``fused`` to a CPU, or drop a ``foreach`` the
    net was built with)."""
    fresh = optimizer.state_dict()["param_groups"]
    groups = [
        {**group, **{key: new[key] for key in OPTIMIZER_DEVICE_OPTIONS if key in new}}
        for group, new in zip(state_dict["param_groups"], fresh, strict=False)
    ]
    optimizer.load_state_dict({**state_dict, "param_groups": groups})


def continue_optimizer(
    net: NeuralNet, previous: NeuralNet, *, lr: float, weight_decay: float
) -> None:
    """Carry the optimizer's state (e.g. Adam's moments) over to ``net``."""
    if type(net.optimizer_) is not type(previous.optimizer_):
        return
    # Copied: a failed partial_fit must leave the previous net's state as it was.
    load_optimizer_state(
        net.optimizer_, copy.deepcopy(previous.optimizer_.state_dict())
    )
    for group in net.optimizer_.param_groups:
        # The current parameters win over the state's saved ones.
        group["lr"] = float(lr)
        group["weight_decay"] = float(weight_decay)


def resume_lr_schedules(net: NeuralNet) -> None:
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
    that the model does not carry the validation rows. The training loader's
    array arguments (the explicit pairs and their ``similar`` flags) are
    dropped too: a trained net is never trained again (every fit, warm start
    and ``partial_fit`` call builds a new net with its own data, and takes
    only the weights, history and optimizer state of this one).
    """
    net.cuda_dependent_attributes_ = [
        *net.cuda_dependent_attributes_,
        "module",
        "callbacks",
    ]
    if drop_split:
        net.train_split = None
    for name, value in list(vars(net).items()):
        if name.startswith("iterator_train__") and isinstance(
            value, np.ndarray | torch.Tensor
        ):
            delattr(net, name)


def fitted_history(net: NeuralNet, monitor: str | None):
    """``history_``, ``loss_curve_``, ``validation_scores_`` and
    ``best_validation_score_`` of a trained net; ``monitor`` is the history
    key early stopping watched, or None."""
    history = [
        {key: value for key, value in epoch.items() if key != "batches"}
        for epoch in net.history
    ]
    loss_curve = [epoch[TRAIN_LOSS] for epoch in history]
    if not monitor:
        return history, loss_curve, None, None
    scores = [epoch.get(monitor, math.nan) for epoch in history]
    best_epoch = dict(net.callbacks_)[EARLY_STOPPING].best_epoch_
    kept = [e[monitor] for e in history if e[EPOCH] == best_epoch]
    # No epoch improved (the score was never defined): nothing was kept.
    return history, loss_curve, scores, kept[0] if kept else math.nan
