"""ContrastiveEmbedder: a scikit-learn transformer trained with the contrastive loss."""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, check_scalar, validate_data
from skorch import NeuralNet
from skorch.callbacks import Callback

from ._data import BatchLoader, ClassBalancedLoader
from .losses import ContrastiveLoss
from .networks import MLP

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
    "module": "the estimator itself",
    "criterion": "margin",
    "criterion__margin": "margin",
    "criterion__similar_weight": "similar_weight",
    "optimizer": "optimizer",
    "lr": "lr",
    "optimizer__lr": "lr",
    "optimizer__weight_decay": "weight_decay",
    "max_epochs": "max_epochs",
    "batch_size": "batch_size",
    "device": "device",
    "verbose": "verbose",
    "iterator_train": "the estimator itself",
    "iterator_train__random_state": "random_state",
    "iterator_train__batch_size": "batch_size",
    "iterator_valid__batch_size": "batch_size",
    "dataset": "the estimator itself",
    "iterator_valid": "the estimator itself",
}

_NET_PARAMS_PREFIX = "net_params__"


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing memory with ``array``, copying only read-only input.

    torch warns on read-only arrays, such as the memmaps that joblib hands to
    GridSearchCV workers.
    """
    return torch.from_numpy(np.require(array, requirements="W"))


class _FiniteLossGuard(Callback):
    """Stop training with advice as soon as a batch loss is not finite."""

    def __init__(self, estimator_params: dict) -> None:
        self.estimator_params = estimator_params

    def _fail(self, what, net):
        raise FloatingPointError(
            f"ContrastiveEmbedder's {what} in epoch {len(net.history)}; fitting "
            "stopped rather than return a model of NaN. Scale the features (e.g. "
            "put a StandardScaler first in a Pipeline) or lower the learning rate "
            f"(got lr={self.estimator_params['lr']})."
        )

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is not None and not torch.isfinite(loss).all():
            self._fail(f"training loss became {loss.item()}", net)

    def on_train_end(self, net, **kwargs):
        # The last optimizer step comes after the last loss was checked.
        if not all(torch.isfinite(p).all() for p in net.module_.parameters()):
            self._fail("weights became non-finite", net)


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
        Dimension of the embedding.

    hidden_layer_sizes : tuple of int, default=(256, 128)
        Widths of the hidden layers of the default network, an MLP with ReLU
        activations. ``()`` learns a linear map.

    margin : float, default=1.0
        The margin ``m`` of the loss: dissimilar pairs farther apart than
        ``margin`` no longer contribute. With ``normalize=True`` distances lie
        in ``[0, 2]``.

    normalize : bool, default=True
        Whether to scale every embedding to unit Euclidean norm, so that the
        margin has a fixed scale.

    similar_weight : float, default=1.0
        Weight of the similar-pair term of the loss relative to the
        dissimilar-pair term. ``1.0`` is the loss of the paper.

    dropout : float, default=0.2
        Dropout probability after each hidden layer. It regularises: on a
        noisy benchmark it raised 5-NN accuracy from 0.575 to 0.633 at the
        cost of 0.002 on digits (see the design notes).

    max_epochs : int, default=25
        Number of passes over the training data.

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

    device : str, default="cpu"
        Torch device to train and embed on: ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, or ``"auto"`` for CUDA when available, else CPU.

    random_state : int, RandomState instance or None, default=None
        The only source of randomness: initial weights, dropout, batch
        sampling and shuffling. Pass an int for reproducible output.

    verbose : int, default=0
        ``0`` prints nothing; ``1`` prints skorch's table of losses per epoch.

    net_params : dict, default=None
        Any other :class:`skorch.NeuralNet` setting, with skorch's names:
        ``{"callbacks": [...], "train_split": ValidSplit(0.1),
        "optimizer__momentum": 0.9}``. Single entries can be set and searched
        as ``net_params__<name>``, e.g.
        ``GridSearchCV(est, {"net_params__optimizer__momentum": [0.5, 0.9]})``.
        Settings that have a parameter of their own above (``lr``,
        ``max_epochs``...) are refused here.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted skorch net; ``net_.module_`` is the embedding network and
        ``net_.history`` the per-epoch record of the fit.

    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``.

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

    and a batch costs the mean over all its pairs. Batches are class-balanced
    (``P`` classes x ``M`` rows each) and reshuffled every epoch, so every
    batch holds similar pairs; nothing of size ``n_samples x n_samples`` is
    ever built. Input is converted to float32 and so are the embeddings.

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
        hidden_layer_sizes=(256, 128),
        margin=1.0,
        normalize=True,
        similar_weight=1.0,
        dropout=0.2,
        max_epochs=25,
        batch_size=256,
        lr=1e-3,
        weight_decay=1e-3,
        optimizer="adam",
        device="cpu",
        random_state=None,
        verbose=0,
        net_params=None,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.margin = margin
        self.normalize = normalize
        self.similar_weight = similar_weight
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.device = device
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
        # A fit that fails part-way must not leave the previous net_ next to
        # this fit's classes_ and n_features_in_.
        self.__dict__.pop("net_", None)
        X, y = validate_data(self, X, y, dtype=np.float32)
        y_encoded = self._encode_targets(y)
        self._validate_params()
        device = self._resolve_device()
        rng = check_random_state(self.random_state)
        torch_seed = int(rng.randint(np.iinfo(np.int32).max))
        sampler_rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))

        net = self._build_net(X.shape[1], device, sampler_rng)
        on_cuda = device.startswith("cuda")
        # fork_rng restores the CPU generator and the training device's one;
        # seeding only those leaves every other generator of the caller alone.
        with torch.random.fork_rng(devices=[torch.device(device)] if on_cuda else []):
            torch.random.default_generator.manual_seed(torch_seed)
            if on_cuda:
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(torch_seed)
            net.fit(_as_tensor(X), _as_tensor(y_encoded))
        # Leave the module as transform uses it, so net_.module_(X) agrees.
        net.module_.eval()

        self.net_ = net
        self.n_iter_ = len(net.history)
        self._n_features_out = self.n_components
        return self

    def _encode_targets(self, y):
        target_type = type_of_target(y, input_name="y", raise_unknown=True)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                "ContrastiveEmbedder needs class labels in y to form similar and "
                f"dissimilar pairs; got y of type {target_type!r}. Bin a "
                "continuous target into classes (e.g. with KBinsDiscretizer) first."
            )
        encoder = LabelEncoder()
        y_encoded = encoder.fit_transform(y).astype(np.int64)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                "ContrastiveEmbedder needs at least 2 classes to form dissimilar "
                f"pairs; got 1 class ({self.classes_.tolist()[0]!r})."
            )
        return y_encoded

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
        check_scalar(self.verbose, "verbose", numbers.Integral, min_val=0)
        for name in ("n_components", "max_epochs", "batch_size", "verbose"):
            if isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be an int; got {getattr(self, name)!r}.")
        for name in ("margin", "similar_weight", "dropout", "lr", "weight_decay"):
            # check_scalar lets NaN and inf through its bounds.
            if not math.isfinite(getattr(self, name)):
                raise ValueError(
                    f"{name} must be a finite number; got {getattr(self, name)!r}."
                )
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise TypeError(f"normalize must be True or False; got {self.normalize!r}.")
        self._resolve_optimizer()
        if self.net_params is not None:
            if not isinstance(self.net_params, dict):
                raise TypeError(
                    "net_params must be a dict of skorch settings such as "
                    "{'callbacks': [...]}, or None; got "
                    f"{type(self.net_params).__name__}."
                )
            for key in self.net_params:
                if key in _RESERVED_NET_PARAMS or key.startswith("module__"):
                    use = _RESERVED_NET_PARAMS.get(
                        key, "hidden_layer_sizes / n_components"
                    )
                    raise ValueError(
                        f"net_params may not set {key!r}: ContrastiveEmbedder sets it "
                        f"from its own parameters; use {use} instead."
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

    def _build_net(self, n_features_in, device, sampler_rng):
        extra = copy.deepcopy(self.net_params) if self.net_params else {}
        callbacks = list(extra.pop("callbacks", None) or [])
        callbacks.append(("finite_loss_guard", _FiniteLossGuard({"lr": self.lr})))
        params = {
            "module": MLP,
            "module__n_features_in": n_features_in,
            "module__hidden_layer_sizes": tuple(self.hidden_layer_sizes),
            "module__n_components": self.n_components,
            "module__normalize": bool(self.normalize),
            "module__dropout": float(self.dropout),
            "criterion": ContrastiveLoss,
            "criterion__margin": float(self.margin),
            "criterion__similar_weight": float(self.similar_weight),
            "optimizer": self._resolve_optimizer(),
            "lr": float(self.lr),
            "optimizer__weight_decay": float(self.weight_decay),
            "max_epochs": int(self.max_epochs),
            "batch_size": int(self.batch_size),
            "iterator_train": ClassBalancedLoader,
            "iterator_train__random_state": sampler_rng,
            "iterator_valid": BatchLoader,
            "train_split": None,
            "device": device,
            "verbose": int(self.verbose),
            "callbacks": callbacks,
        }
        params.update(extra)
        return NeuralNet(**params)

    # -- embedding

    def transform(self, X):
        """Embed ``X`` with the trained network.

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
        module = self.net_.module_.eval()
        device = self.net_.device
        X = _as_tensor(X)
        with torch.no_grad():
            chunks = [
                module(X[start : start + _TRANSFORM_BATCH_SIZE].to(device)).cpu()
                for start in range(0, len(X), _TRANSFORM_BATCH_SIZE)
            ]
        return torch.cat(chunks).numpy()

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
