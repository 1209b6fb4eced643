"""skorch callbacks that ContrastiveEmbedder adds to every fit, and the
warnings a fit's diagnostics call for.

The callbacks use skorch's public :class:`~skorch.callbacks.Callback` hooks
only. They record the per-epoch diagnostics of ``history_`` and guard
against a diverging loss. Early stopping itself is skorch's
:class:`~skorch.callbacks.EarlyStopping`, monitoring the validation MAP@R
(or, on explicit pairs, the held-out pairs' loss) recorded here.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from skorch.callbacks import Callback

from ._history_keys import (
    ACTIVE_FRACTION,
    DISSIMILAR_DISTANCE,
    SIMILAR_DISTANCE,
    VALID_MAP_AT_R,
    VALID_PAIR_LOSS,
    VALID_PAIR_ROC_AUC,
    VALID_PRECISION_AT_1,
)
from .losses import contrastive_loss
from .metrics import mean_average_precision_at_r, precision_at_k
from .networks import embed, embedding_network


class FiniteLossGuard(Callback):
    """Stop training with advice as soon as a batch loss is not finite."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def _fail(self, what: str, net) -> None:
        raise FloatingPointError(
            f"ContrastiveEmbedder's {what} in epoch {len(net.history)}; fitting "
            "stopped rather than return a model of NaN. Scale the features (e.g. "
            "put a StandardScaler first in a Pipeline) or lower the learning rate "
            f"(got lr={self.lr})."
        )

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        # skorch has already read the loss with .item(): no extra device sync.
        if loss is not None and not math.isfinite(loss.item()):
            which = "training" if training else "validation"
            self._fail(f"{which} loss became {loss.item()}", net)

    def on_train_end(self, net, **kwargs):
        # The last optimizer step comes after the last loss was checked.
        if not all(torch.isfinite(p).all() for p in net.module_.parameters()):
            self._fail("weights became non-finite", net)


#: PairDiagnostics reads the pairs of every STATISTICS_STRIDE-th training batch.
STATISTICS_STRIDE = 4


class PairDiagnostics(Callback):
    """Record per-epoch means of the training pairs' distances.

    Has the criterion compute ``last_pair_statistics`` on every
    ``STATISTICS_STRIDE``-th training batch of the fit (the first one
    included) and sums them on the device; one transfer at the end of an
    epoch gives the mean similar-pair distance, the mean dissimilar-pair
    distance and the fraction of dissimilar pairs still inside the margin
    (active) over that epoch's sampled batches. The sums cost ~0.25 ms a
    batch, 5-7 % of a step on small batches. An epoch of fewer batches than
    the stride may have none sampled; it records the latest values again.
    """

    def on_train_begin(self, net, **kwargs):
        self.batch_ = 0
        self.latest_ = None

    def on_epoch_begin(self, net, **kwargs):
        self.sums_ = None

    def on_batch_begin(self, net, training=None, **kwargs):
        if training:
            record = self.batch_ % STATISTICS_STRIDE == 0
            # Setting a Module attribute is slow enough to skip when unchanged.
            if net.criterion_.record_statistics != record:
                net.criterion_.record_statistics = record
            self.batch_ += 1

    def on_batch_end(self, net, training=None, **kwargs):
        statistics = net.criterion_.last_pair_statistics
        if not training or statistics is None:
            return
        self.sums_ = statistics if self.sums_ is None else self.sums_ + statistics

    def on_train_end(self, net, **kwargs):
        # Leave the criterion as constructed.
        net.criterion_.record_statistics = True

    def on_epoch_end(self, net, **kwargs):
        if self.sums_ is not None:
            similar_sum, n_similar, dissimilar_sum, n_dissimilar, n_active = (
                self.sums_.tolist()
            )
            self.latest_ = {
                SIMILAR_DISTANCE: _ratio(similar_sum, n_similar),
                DISSIMILAR_DISTANCE: _ratio(dissimilar_sum, n_dissimilar),
                ACTIVE_FRACTION: _ratio(n_active, n_dissimilar),
            }
            # A device tensor would tie the pickled model to its device.
            self.sums_ = None
        for key, value in (self.latest_ or {}).items():
            net.history.record(key, value)


def _ratio(total: float, count: float) -> float:
    return total / count if count else math.nan


def _embed_during_training(net, X: torch.Tensor) -> torch.Tensor:
    """Embeddings of ``X`` (on the CPU), the module's mode left as it was."""
    was_training = net.module_.training
    embeddings = embed(embedding_network(net.module_), X, net.device)
    net.module_.train(was_training)
    return embeddings


class ValidationRetrieval(Callback):
    """Record retrieval quality of the validation rows after every epoch.

    Each validation row is a query against the other validation rows:
    ``valid_precision_at_1`` (is the nearest one of the same class?) and
    ``valid_map_at_r`` (are all same-class rows ranked first?). Early
    stopping monitors MAP@R, which moves more smoothly.

    Parameters
    ----------
    X : torch.Tensor of shape (n_valid, n_features)
    y : numpy.ndarray of shape (n_valid,)
    """

    def __init__(self, X: torch.Tensor, y: np.ndarray) -> None:
        self.X = X
        self.y = y

    def on_epoch_end(self, net, **kwargs):
        embeddings = _embed_during_training(net, self.X).numpy()
        net.history.record(VALID_PRECISION_AT_1, precision_at_k(embeddings, self.y))
        net.history.record(
            VALID_MAP_AT_R, mean_average_precision_at_r(embeddings, self.y)
        )

    def on_train_end(self, net, **kwargs):
        # The fitted net is pickled with its callbacks: do not carry the data.
        self.X = self.y = None


class ValidationPairs(Callback):
    """Record how well the embeddings fit the held-out pairs, every epoch.

    ``valid_pair_loss`` is the contrastive loss of the validation pairs (the
    mean over all of them, with the criterion's ``margin`` and
    ``similar_weight``), which early stopping on explicit pairs monitors;
    ``valid_pair_roc_auc`` is the ROC AUC of their negated distances against
    ``similar`` (the chance that a similar pair lies closer than a dissimilar
    one), to look at: it reaches 1 long before the embedding stops
    improving.

    Parameters
    ----------
    X : torch.Tensor of shape (n_rows, n_features)
        The distinct rows of the validation pairs.
    pairs : numpy.ndarray of int of shape (n_pairs, 2)
        Row numbers into ``X``.
    similar : numpy.ndarray of bool of shape (n_pairs,)
        ``True`` for a similar pair.
    """

    def __init__(self, X: torch.Tensor, pairs: np.ndarray, similar: np.ndarray):
        self.X = X
        self.pairs = pairs
        self.similar = similar

    def on_epoch_end(self, net, **kwargs):
        embeddings = _embed_during_training(net, self.X)
        pairs = torch.from_numpy(self.pairs)
        distances = torch.linalg.vector_norm(
            embeddings[pairs[:, 0]] - embeddings[pairs[:, 1]], dim=1
        )
        criterion = net.criterion_
        loss = contrastive_loss(
            distances,
            torch.from_numpy(~self.similar),
            criterion.margin,
            similar_weight=criterion.similar_weight,
        )
        net.history.record(VALID_PAIR_LOSS, loss.item())
        # Non-finite weights are the loss guard's to report, at the end of the fit.
        finite = bool(torch.isfinite(distances).all())
        net.history.record(
            VALID_PAIR_ROC_AUC,
            roc_auc_score(self.similar, -distances.numpy()) if finite else math.nan,
        )

    def on_train_end(self, net, **kwargs):
        # The fitted net is pickled with its callbacks: do not carry the data.
        self.X = self.pairs = self.similar = None


#: Collapse: dissimilar pairs closer on average than this fraction of the margin.
COLLAPSE_FRACTION = 1e-2


def warn_if_degenerate(
    history: list[dict],
    *,
    margin: float,
    normalize: bool,
    similar_weight: float,
    lr: float,
    stacklevel: int,
) -> None:
    """Warn when the recorded pair distances say the fit went wrong.

    Collapse: the last epoch's dissimilar pairs lie almost on top of each
    other. A margin too small: with ``normalize=False``, no dissimilar pair
    ever came inside it. ``stacklevel`` points the warning at the user's call.
    """
    last = history[-1]
    dissimilar = last.get(DISSIMILAR_DISTANCE, math.nan)
    if dissimilar < COLLAPSE_FRACTION * margin:
        warnings.warn(
            "ContrastiveEmbedder's embeddings collapsed to a point: dissimilar "
            f"pairs of the last sampled batches were {dissimilar:.3g} apart "
            "on average, against "
            f"margin={margin}. Lower similar_weight (got "
            f"{similar_weight}) or lr (got {lr}), and check that the "
            "features vary (scale them, e.g. with a StandardScaler).",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    elif not normalize and all(
        epoch.get(ACTIVE_FRACTION, math.nan) == 0 for epoch in history
    ):
        # With normalize=True the scale is fixed: classes beyond the margin
        # from the start are a success, not a badly scaled margin.
        warnings.warn(
            "No dissimilar pair came within margin="
            f"{margin} in any epoch (they were {dissimilar:.3g} apart on "
            "average at the end), so the loss only pulled similar pairs "
            "together. The margin is too small for the scale of the "
            f"embeddings: raise it to about {2 * dissimilar:.2g}, or use "
            "normalize=True.",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
