"""ContrastiveEmbedder: a scikit-learn transformer trained with the contrastive loss."""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, check_scalar, validate_data
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, ProgressBar
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn

from ._callbacks import (
    ACTIVE_FRACTION,
    DISSIMILAR_DISTANCE,
    VALID_PRECISION_AT_1,
    FiniteLossGuard,
    PairDiagnostics,
    ValidationRetrieval,
)
from ._data import BatchLoader, ClassBalancedLoader
from .losses import ContrastiveLoss
from .networks import MLP, L2Normalize, embed, embedding_width
from .pairs import PAIR_MINING

__all__ = ["ContrastiveEmbedder"]

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

#: Rows per forward pass in ``transform``: bounds its memory for any ``len(X)``.
_TRANSFORM_BATCH_SIZE = 4096

#: skorch settings that ContrastiveEmbedder sets from its own parameters; the
#: value names the parameter to use instead.
_RESERVED_NET_PARAMS = {
    "module": "module",
    "criterion": "margin",
    "criterion__margin": "margin",
    "criterion__similar_weight": "similar_weight",
    "criterion__pair_mining": "pair_mining",
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
    "iterator_valid__batch_size": "batch_size",
    "dataset": "the estimator itself",
    "iterator_valid": "the estimator itself",
}

_NET_PARAMS_PREFIX = "net_params__"

#: Names of the callbacks every fit adds; user callbacks may not reuse them.
_INTERNAL_CALLBACKS = (
    "finite_loss_guard",
    "pair_diagnostics",
    "validation_retrieval",
    "early_stopping",
    "progress_bar",
)

#: Collapse: dissimilar pairs closer on average than this fraction of the margin.
_COLLAPSE_FRACTION = 1e-2


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing memory with ``array``, copying only read-only input.

    torch warns on read-only arrays, such as the memmaps that joblib hands to
    GridSearchCV workers.
    """
    return torch.from_numpy(np.require(array, requirements="W"))


@contextlib.contextmanager
def _torch_threads(n_threads: int | None):
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


class ContrastiveEmbedder(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    r"""Learn an embedding with the contrastive loss of Hadsell et al. (2006).

    ``fit(X, y)`` trains a neural network so that rows of the same class land
    close together and rows of different classes at least ``margin`` apart;
    ``transform(X)`` returns the embeddings, ready for k-nearest neighbours,
    clustering or retrieval. Pairs are formed from the class labels inside
    each mini-batch; training runs on :class:`skorch.NeuralNet`.

    Parameters
    ----------
    n_components : int, default=32
        Dimension of the embedding. A custom ``module`` class receives it as
        its ``n_components`` argument when it accepts one.

    module : torch.nn.Module subclass or instance, default=None
        The embedding network; ``None`` uses an MLP built from
        ``hidden_layer_sizes`` and ``dropout``. A class is instantiated at
        ``fit`` with the arguments it accepts among ``n_features_in`` and
        ``n_components``, plus ``net_params``' ``module__<name>`` entries; an
        instance is copied at ``fit`` (the object passed is never trained).
        The module must map a float tensor of shape ``(batch_size,
        n_features)`` to embeddings of shape ``(batch_size, n_components)``;
        reshape inside it (e.g. to images) so that ``X`` stays 2-D.
        ``hidden_layer_sizes`` and ``dropout`` do not apply to it.

    hidden_layer_sizes : tuple of int, default=(256, 128)
        Widths of the hidden layers of the default network, an MLP with ReLU
        activations. ``()`` learns a linear map.

    margin : float, default=1.0
        The margin ``m`` of the loss: dissimilar pairs farther apart than
        ``margin`` no longer contribute. With ``normalize=True`` distances lie
        in ``[0, 2]``.

    normalize : bool, default=True
        Whether to scale every embedding to unit Euclidean norm, so that the
        margin has a fixed scale. Applies to a custom ``module`` too (an
        :class:`~sklearn_contrastive.networks.L2Normalize` layer is appended).

    similar_weight : float, default=1.0
        Weight of the similar-pair term of the loss relative to the
        dissimilar-pair term. ``1.0`` is the loss of the paper.

    dropout : float, default=0.2
        Dropout probability after each hidden layer of the default network. It
        regularises: on a noisy benchmark it raised 5-NN accuracy from 0.575
        to 0.633 at the cost of 0.002 on digits (see the design notes).

    pair_mining : {"all", "hard"}, default="all"
        Which pairs of a batch the loss averages over. ``"all"``: every pair.
        ``"hard"``: per row, its farthest similar pair, and the dissimilar
        pairs still inside the margin (online hard-pair mining).

    samples_per_class : int, default=None
        Rows per class in a training batch (``M``; a batch holds
        ``batch_size // M`` classes). ``None`` spreads the batch over all
        classes when they fit, with at least 4 rows per class. At least 2,
        and at most ``batch_size // 2`` so that a batch holds two classes.

    max_epochs : int, default=25
        Number of passes over the training data (the most, with early
        stopping).

    batch_size : int, default=256
        Rows per mini-batch. Every pair of rows in a batch is scored, so a
        batch costs ``batch_size * (batch_size - 1) / 2`` pair terms.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    weight_decay : float, default=1e-3
        L2 penalty (weight decay) of the optimizer.

    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
            default="adam"
        The optimizer. Further options go in ``net_params``, e.g.
        ``net_params={"optimizer__momentum": 0.9}``.

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the rows, stratified by
        class, and stop when their precision@1 (the fraction of validation
        rows whose nearest other validation row shares their class) has not
        improved by at least ``tol`` for ``n_iter_no_change`` epochs. The
        weights of the best epoch are restored. Ignored by ``partial_fit``.

    validation_fraction : float, default=0.1
        Fraction of the rows held out for early stopping, in ``(0, 1)``.

    n_iter_no_change : int, default=5
        Number of epochs in a row allowed to miss an improvement of ``tol``
        before early stopping ends the fit.

    tol : float, default=1e-4
        Smallest rise of the validation precision@1 that counts as an
        improvement.

    warm_start : bool, default=False
        When ``True``, ``fit`` continues from the weights of the previous fit
        instead of starting over (with a fresh optimizer; the network's shape
        must not change). ``history_`` and ``n_iter_`` then count every epoch
        since the first fit.

    callbacks : list of skorch callbacks, default=None
        Extra :class:`skorch.callbacks.Callback` objects (or
        ``(name, callback)`` tuples), e.g. ``LRScheduler``, ``Checkpoint``,
        ``GradientNormClipping`` or your own. They are copied at ``fit``; the
        fitted ones are in ``net_.callbacks_``.

    device : str, default="cpu"
        Torch device to train and embed on: ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, or ``"auto"`` for CUDA when available, else CPU. A model
        fitted on a GPU loads on a machine without one, on the CPU.

    n_threads : int, default=None
        CPU threads torch may use during ``fit`` and ``transform``
        (``torch.set_num_threads``, restored afterwards; process-wide).
        ``None`` keeps torch's setting, which joblib already lowers to
        ``n_cores // n_jobs`` in ``GridSearchCV(n_jobs=...)`` workers. Set
        ``n_threads=1`` when other processes share the cores.

    random_state : int, RandomState instance or None, default=None
        The only source of randomness: initial weights, dropout, batch
        sampling, shuffling and the early-stopping split. Pass an int for
        reproducible output.

    verbose : int, default=0
        ``0`` prints nothing; ``1`` prints a table of losses and diagnostics
        per epoch; ``2`` adds a progress bar over batches.

    net_params : dict, default=None
        Any other :class:`skorch.NeuralNet` setting, with skorch's names:
        ``{"train_split": ValidSplit(0.1), "optimizer__momentum": 0.9}``.
        Single entries can be set and searched as ``net_params__<name>``, e.g.
        ``GridSearchCV(est, {"net_params__optimizer__momentum": [0.5, 0.9]})``.
        Settings that have a parameter of their own above (``lr``,
        ``max_epochs``, ``callbacks``...) are refused here.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted skorch net; ``net_.module_`` is the embedding network.

    history_ : list of dict
        One dict per epoch, ready for ``pandas.DataFrame(history_)``:
        ``epoch``, ``train_loss``, ``similar_distance`` and
        ``dissimilar_distance`` (mean distance of the epoch's similar and
        dissimilar training pairs), ``active_fraction`` (fraction of
        dissimilar pairs closer than the margin, the ones still pushed apart),
        ``dur`` (epoch time in seconds) and, with a validation split,
        ``valid_loss`` and ``valid_precision_at_1``.

    loss_curve_ : list of float
        Training loss of every epoch.

    validation_scores_ : list of float or None
        Validation precision@1 of every epoch; ``None`` without early stopping.

    best_validation_score_ : float or None
        The best of ``validation_scores_``, whose weights were kept; ``None``
        without early stopping.

    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit`` (all calls so far for ``partial_fit``).

    n_iter_ : int
        Number of epochs run.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    See Also
    --------
    sklearn.neighbors.NeighborhoodComponentsAnalysis : Linear supervised
        metric learning by stochastic nearest neighbours.
    sklearn_contrastive.losses.ContrastiveLoss : The training criterion.

    Notes
    -----
    With ``Y = 0`` for a similar pair (same class), ``Y = 1`` for a
    dissimilar pair, ``D`` the Euclidean distance between the two embeddings
    and ``m`` the margin, each pair costs

    .. math::

        L = (1 - Y) \cdot \tfrac{1}{2} D^2 + Y \cdot \tfrac{1}{2} \max(0, m - D)^2

    and a batch costs the mean over its pairs. Batches are class-balanced
    (``P`` classes x ``M`` rows each) and reshuffled every epoch, so every
    batch holds similar pairs; nothing of size ``n_samples x n_samples`` is
    ever built. Input is converted to float32 and so are the embeddings.

    A :class:`~sklearn.exceptions.ConvergenceWarning` says when the
    embeddings collapsed to a point or when no dissimilar pair ever came
    inside the margin (the margin is too small for the embeddings' scale).

    References
    ----------
    .. [1] R. Hadsell, S. Chopra and Y. LeCun, "Dimensionality Reduction by
       Learning an Invariant Mapping", CVPR 2006.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_contrastive import ContrastiveEmbedder
    >>> X, y = load_digits(return_X_y=True)
    >>> embedder = ContrastiveEmbedder(n_components=8, max_epochs=2, random_state=0)
    >>> embedder.fit_transform(X / 16, y).shape
    (1797, 8)
    """

    def __init__(
        self,
        n_components=32,
        *,
        module=None,
        hidden_layer_sizes=(256, 128),
        margin=1.0,
        normalize=True,
        similar_weight=1.0,
        dropout=0.2,
        pair_mining="all",
        samples_per_class=None,
        max_epochs=25,
        batch_size=256,
        lr=1e-3,
        weight_decay=1e-3,
        optimizer="adam",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        warm_start=False,
        callbacks=None,
        device="cpu",
        n_threads=None,
        random_state=None,
        verbose=0,
        net_params=None,
    ):
        self.n_components = n_components
        self.module = module
        self.hidden_layer_sizes = hidden_layer_sizes
        self.margin = margin
        self.normalize = normalize
        self.similar_weight = similar_weight
        self.dropout = dropout
        self.pair_mining = pair_mining
        self.samples_per_class = samples_per_class
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.net_params = net_params

    # -- nested net_params__<name> keys, as scikit-learn does for sub-estimators

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        if deep and isinstance(self.net_params, dict):
            for key, value in self.net_params.items():
                params[_NET_PARAMS_PREFIX + key] = value
        return params

    def set_params(self, **params):
        nested = {
            key[len(_NET_PARAMS_PREFIX) :]: params.pop(key)
            for key in list(params)
            if key.startswith(_NET_PARAMS_PREFIX)
        }
        super().set_params(**params)
        if nested:
            current = self.net_params if isinstance(self.net_params, dict) else {}
            self.net_params = {**current, **nested}
        return self

    # -- fitting

    def fit(self, X, y):
        """Train the embedding network on pairs formed from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows. Converted to float32; NaN and inf are refused.

        y : array-like of shape (n_samples,)
            Class labels (numbers or strings). Rows of the same class form
            similar pairs, rows of different classes dissimilar pairs.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """Train for one epoch on ``(X, y)``, continuing from the current weights.

        The first call initialises the network. Later calls keep the weights
        and the optimizer's state, may bring classes not seen before (pairs
        are formed within each call's rows) and must keep the features.
        Early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows of this step.

        y : array-like of shape (n_samples,)
            Their class labels; at least two classes per call.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
        return self._fit(X, y, incremental=True)

    def _fit(self, X, y, *, incremental):
        previous = None
        if (incremental or self.warm_start) and self.__sklearn_is_fitted__():
            previous = self.net_
        if previous is None:
            # A fit that fails part-way must not leave the previous net_ next
            # to this fit's classes_ and n_features_in_.
            self.__dict__.pop("net_", None)
        X, y = validate_data(self, X, y, dtype=np.float32, reset=previous is None)
        known = self.classes_ if incremental and previous is not None else None
        classes, y_encoded = self._encode_targets(y, known)
        self._validate_params()
        device = self._resolve_device()
        if previous is None:
            self._random_state = check_random_state(self.random_state)
        torch_seed, sampler_seed, split_seed = self._random_state.randint(
            np.iinfo(np.int32).max, size=3
        )
        sampler_rng = np.random.default_rng(sampler_seed)
        validation = None
        if self.early_stopping and not incremental:
            train, valid = self._validation_split(y_encoded, int(split_seed))
            validation = (X[valid], y_encoded[valid])
            X, y_encoded = X[train], y_encoded[train]

        on_cuda = device.startswith("cuda")
        # fork_rng restores the CPU generator and the training device's one;
        # seeding only those leaves every other generator of the caller alone.
        with (
            _torch_threads(self.n_threads),
            torch.random.fork_rng(devices=[torch.device(device)] if on_cuda else []),
        ):
            torch.random.default_generator.manual_seed(int(torch_seed))
            if on_cuda:
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(int(torch_seed))
            X_tensor = _as_tensor(X)
            module, width = self._build_module(X_tensor, previous)
            net = self._build_net(module, device, sampler_rng, validation)
            net.initialize()
            if previous is not None:
                net.history_ = copy.deepcopy(previous.history_)
                if incremental:
                    self._continue_optimizer(net, previous)
            net.partial_fit(
                X_tensor, _as_tensor(y_encoded), epochs=1 if incremental else None
            )
        # Leave the module as transform uses it, so net_.module_(X) agrees.
        net.module_.eval()

        self.net_ = net
        self.classes_ = classes
        self.n_iter_ = len(net.history)
        self._n_features_out = width
        self._record_history(net, validation is not None)
        self._warn_if_degenerate()
        return self

    def _encode_targets(self, y, known_classes=None):
        target_type = type_of_target(y, input_name="y", raise_unknown=True)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                "ContrastiveEmbedder needs class labels in y to form similar and "
                f"dissimilar pairs; got y of type {target_type!r}. Bin a "
                "continuous target into classes (e.g. with KBinsDiscretizer) first."
            )
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                "ContrastiveEmbedder needs at least 2 classes to form dissimilar "
                f"pairs; got 1 class ({encoder.classes_.tolist()[0]!r})."
                + (
                    " Each partial_fit call forms pairs within its own rows."
                    if known_classes is not None
                    else ""
                )
            )
        classes = encoder.classes_
        if known_classes is not None:
            classes = np.union1d(known_classes, classes)
        y_encoded = np.searchsorted(classes, y).astype(np.int64)
        return classes, y_encoded

    def _validate_params(self):
        check_scalar(self.n_components, "n_components", numbers.Integral, min_val=1)
        if not (
            isinstance(self.hidden_layer_sizes, (tuple, list))
            and all(
                isinstance(size, numbers.Integral)
                and not isinstance(size, bool)
                and size > 0
                for size in self.hidden_layer_sizes
            )
        ):
            raise ValueError(
                "hidden_layer_sizes must be a tuple of positive integers such as "
                f"(256, 128), or () for a linear map; got {self.hidden_layer_sizes!r}."
            )
        check_scalar(
            self.margin, "margin", numbers.Real, min_val=0, include_boundaries="neither"
        )
        check_scalar(self.similar_weight, "similar_weight", numbers.Real, min_val=0)
        check_scalar(
            self.dropout,
            "dropout",
            numbers.Real,
            min_val=0,
            max_val=1,
            include_boundaries="left",
        )
        check_scalar(self.max_epochs, "max_epochs", numbers.Integral, min_val=1)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=2)
        check_scalar(
            self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither"
        )
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)
        check_scalar(
            self.validation_fraction,
            "validation_fraction",
            numbers.Real,
            min_val=0,
            max_val=1,
            include_boundaries="neither",
        )
        check_scalar(
            self.n_iter_no_change, "n_iter_no_change", numbers.Integral, min_val=1
        )
        check_scalar(self.tol, "tol", numbers.Real, min_val=0)
        check_scalar(self.verbose, "verbose", numbers.Integral, min_val=0)
        if self.samples_per_class is not None:
            check_scalar(
                self.samples_per_class,
                "samples_per_class",
                numbers.Integral,
                min_val=2,
                max_val=self.batch_size // 2,
            )
        if self.n_threads is not None:
            check_scalar(self.n_threads, "n_threads", numbers.Integral, min_val=1)
        for name in (
            "n_components",
            "max_epochs",
            "batch_size",
            "n_iter_no_change",
            "verbose",
            "samples_per_class",
            "n_threads",
        ):
            if isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be an int; got {getattr(self, name)!r}.")
        for name in (
            "margin",
            "similar_weight",
            "dropout",
            "lr",
            "weight_decay",
            "validation_fraction",
            "tol",
        ):
            # check_scalar lets NaN and inf through its bounds.
            if not math.isfinite(getattr(self, name)):
                raise ValueError(
                    f"{name} must be a finite number; got {getattr(self, name)!r}."
                )
        for name in ("normalize", "early_stopping", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(
                    f"{name} must be True or False; got {getattr(self, name)!r}."
                )
        if self.pair_mining not in PAIR_MINING:
            raise ValueError(
                f"pair_mining must be one of {PAIR_MINING}; got {self.pair_mining!r}."
            )
        self._resolve_optimizer()
        self._check_module()
        self._check_callbacks()
        self._check_net_params()

    def _check_module(self):
        module = self.module
        if module is None or isinstance(module, nn.Module):
            return
        if isinstance(module, type) and issubclass(module, nn.Module):
            return
        raise TypeError(
            "module must be None (the default MLP), a torch.nn.Module subclass or "
            f"a torch.nn.Module instance; got {module!r}."
        )

    def _check_callbacks(self):
        if self.callbacks is None:
            return
        if not isinstance(self.callbacks, (list, tuple)):
            raise TypeError(
                "callbacks must be a list of skorch callbacks or (name, callback) "
                f"tuples; got {type(self.callbacks).__name__}."
            )
        for item in self.callbacks:
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
            if name in _INTERNAL_CALLBACKS:
                raise ValueError(
                    f"callbacks may not use the name {name!r}: ContrastiveEmbedder "
                    "adds a callback of that name itself. Choose another name."
                )

    def _check_net_params(self):
        if self.net_params is None:
            return
        if not isinstance(self.net_params, dict):
            raise TypeError(
                "net_params must be a dict of skorch settings such as "
                "{'optimizer__momentum': 0.9}, or None; got "
                f"{type(self.net_params).__name__}."
            )
        custom_class = isinstance(self.module, type)
        for key in self.net_params:
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
        if self.early_stopping and "train_split" in self.net_params:
            raise ValueError(
                "net_params may not set 'train_split' with early_stopping=True: "
                "early stopping holds out its own stratified validation split. "
                "Drop train_split or set early_stopping=False."
            )

    def _resolve_optimizer(self):
        if isinstance(self.optimizer, str) and self.optimizer in _OPTIMIZERS:
            return _OPTIMIZERS[self.optimizer]
        if isinstance(self.optimizer, type) and issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            return self.optimizer
        raise ValueError(
            f"optimizer must be one of {sorted(_OPTIMIZERS)} or a subclass of "
            f"torch.optim.Optimizer; got {self.optimizer!r}."
        )

    def _resolve_device(self):
        device = self.device
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
        return str(parsed)

    def _validation_split(self, y_encoded, seed):
        """Row numbers ``(train, valid)`` of a stratified early-stopping split."""
        n_samples = len(y_encoded)
        counts = np.bincount(y_encoded)
        counts = counts[counts > 0]
        n_classes = len(counts)
        n_valid = math.ceil(self.validation_fraction * n_samples)
        if counts.min() < 2 or not n_classes <= n_valid <= n_samples - n_classes:
            raise ValueError(
                f"early_stopping=True holds out validation_fraction="
                f"{self.validation_fraction} of the rows ({n_valid} of {n_samples}) "
                "stratified by class, which needs at least one validation row and "
                "one training row of each class; got "
                f"{n_classes} classes, the smallest with {counts.min()} rows. "
                "Change validation_fraction, add rows, or set early_stopping=False."
            )
        return train_test_split(
            np.arange(n_samples),
            test_size=n_valid,
            stratify=y_encoded,
            random_state=seed,
        )

    def _build_module(self, X, previous):
        """The network to train and its embedding width; previous weights loaded."""
        if self.module is None:
            module = MLP(
                X.shape[1],
                hidden_layer_sizes=tuple(self.hidden_layer_sizes),
                n_components=self.n_components,
                normalize=bool(self.normalize),
                dropout=float(self.dropout),
            )
        else:
            if isinstance(self.module, nn.Module):
                module = copy.deepcopy(self.module)
            else:
                module = self._instantiate_module_class(X.shape[1])
            if self.normalize:
                module = nn.Sequential(module, L2Normalize())
        width = embedding_width(module, X)
        if self.module is not None and width != self.n_components:
            accepts = "n_components" in inspect.signature(self.module).parameters
            if isinstance(self.module, type) and accepts:
                raise ValueError(
                    f"module {self.module.__name__} was built with n_components="
                    f"{self.n_components} but returns embeddings of width {width}; "
                    "make its output width follow its n_components argument."
                )
        if previous is not None:
            try:
                module.load_state_dict(previous.module_.state_dict())
            except RuntimeError as error:
                raise ValueError(
                    "warm_start=True and partial_fit continue training the fitted "
                    "network, so its shape (n_components, hidden_layer_sizes, "
                    "module) must not change since the previous fit; set "
                    "warm_start=False to train a new network. torch said: "
                    f"{str(error).splitlines()[0]}"
                ) from None
        return module, width

    def _instantiate_module_class(self, n_features_in):
        accepted = inspect.signature(self.module).parameters
        kwargs = {
            name: value
            for name, value in (
                ("n_features_in", n_features_in),
                ("n_components", self.n_components),
            )
            if name in accepted
        }
        prefix = "module__"
        for key, value in (self.net_params or {}).items():
            if key.startswith(prefix):
                kwargs[key[len(prefix) :]] = value
        return self.module(**kwargs)

    def _build_net(self, module, device, sampler_rng, validation):
        extra = copy.deepcopy(self.net_params) if self.net_params else {}
        extra = {k: v for k, v in extra.items() if not k.startswith("module__")}
        callbacks = [
            ("finite_loss_guard", FiniteLossGuard(lr=self.lr)),
            ("pair_diagnostics", PairDiagnostics()),
        ]
        train_split = extra.pop("train_split", None)
        if validation is not None:
            X_valid, y_valid = validation
            train_split = predefined_split(
                Dataset(_as_tensor(X_valid), _as_tensor(y_valid))
            )
            callbacks += [
                (
                    "validation_retrieval",
                    ValidationRetrieval(_as_tensor(X_valid), y_valid),
                ),
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor=VALID_PRECISION_AT_1,
                        lower_is_better=False,
                        threshold=float(self.tol),
                        threshold_mode="abs",
                        # MLPClassifier's meaning: n_iter_no_change epochs
                        # without improvement are allowed, the next one stops.
                        patience=int(self.n_iter_no_change) + 1,
                        load_best=True,
                    ),
                ),
            ]
        callbacks += copy.deepcopy(list(self.callbacks or []))
        if self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        params = {
            "module": module,
            "criterion": ContrastiveLoss,
            "criterion__margin": float(self.margin),
            "criterion__similar_weight": float(self.similar_weight),
            "criterion__pair_mining": self.pair_mining,
            "optimizer": self._resolve_optimizer(),
            "lr": float(self.lr),
            "optimizer__weight_decay": float(self.weight_decay),
            "max_epochs": int(self.max_epochs),
            "batch_size": int(self.batch_size),
            "iterator_train": ClassBalancedLoader,
            "iterator_train__random_state": sampler_rng,
            "iterator_train__samples_per_class": self.samples_per_class,
            "iterator_valid": BatchLoader,
            "train_split": train_split,
            "device": device,
            "verbose": int(self.verbose),
            "callbacks": callbacks,
        }
        params.update(extra)
        return NeuralNet(**params)

    def _continue_optimizer(self, net, previous):
        """Carry the optimizer's state (e.g. Adam's moments) over to ``net``."""
        if type(net.optimizer_) is not type(previous.optimizer_):
            return
        net.optimizer_.load_state_dict(previous.optimizer_.state_dict())
        for group in net.optimizer_.param_groups:
            # The current parameters win over the state's saved ones.
            group["lr"] = float(self.lr)
            group["weight_decay"] = float(self.weight_decay)

    def _record_history(self, net, validated):
        self.history_ = [
            {key: value for key, value in epoch.items() if key != "batches"}
            for epoch in net.history
        ]
        self.loss_curve_ = [epoch["train_loss"] for epoch in self.history_]
        if validated:
            self.validation_scores_ = [
                epoch.get(VALID_PRECISION_AT_1, math.nan) for epoch in self.history_
            ]
            self.best_validation_score_ = float(np.nanmax(self.validation_scores_))
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _warn_if_degenerate(self):
        last = self.history_[-1]
        dissimilar = last.get(DISSIMILAR_DISTANCE, math.nan)
        if dissimilar < _COLLAPSE_FRACTION * self.margin:
            warnings.warn(
                "ContrastiveEmbedder's embeddings collapsed to a point: dissimilar "
                f"pairs ended {dissimilar:.3g} apart on average, against "
                f"margin={self.margin}. Lower similar_weight (got "
                f"{self.similar_weight}) or lr (got {self.lr}), and check that the "
                "features vary (scale them, e.g. with a StandardScaler).",
                ConvergenceWarning,
                stacklevel=4,  # the caller of fit or partial_fit
            )
        elif all(epoch.get(ACTIVE_FRACTION, math.nan) == 0 for epoch in self.history_):
            warnings.warn(
                "No dissimilar pair came within margin="
                f"{self.margin} in any epoch (they were {dissimilar:.3g} apart on "
                "average at the end), so the loss only pulled similar pairs "
                "together. The margin is too small for the scale of the "
                f"embeddings: raise it to about {2 * dissimilar:.2g}, or use "
                "normalize=True.",
                ConvergenceWarning,
                stacklevel=4,  # the caller of fit or partial_fit
            )

    # -- embedding

    def transform(self, X):
        """Embed ``X`` with the trained network.

        Rows go through the network in batches of 4096, so memory stays
        bounded for any number of rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to embed, with the features seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components), dtype float32
            The embeddings.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        with _torch_threads(self.n_threads):
            embeddings = embed(
                self.net_.module_,
                _as_tensor(X),
                self.net_.device,
                _TRANSFORM_BATCH_SIZE,
            )
        return embeddings.numpy()

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
