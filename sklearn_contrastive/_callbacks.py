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
import sys
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from skorch.callbacks import Callback, PrintLog

from ._history_keys import (
    ACTIVE_FRACTION,
    DISSIMILAR_DISTANCE,
    EPOCH,
    SIMILAR_DISTANCE,
    TRAIN_LOSS,
    VALID_MAP_AT_R,
    VALID_PAIR_LOSS,
    VALID_PAIR_ROC_AUC,
    VALID_PRECISION_AT_1,
)
from ._runtime import torch_threads
from ._sources import RowSource, as_rows, embed_rows, select_rows
from .losses import contrastive_loss
from .metrics import mean_average_precision_at_r, precision_at_k
from .networks import embedding_network


class FiniteLossGuard(Callback):
    """Stop training with advice as soon as a batch loss is not finite, and
    keep what shows a loss that grew but stayed finite.

    ``first_loss_`` is the fit's first training batch loss (the loss of the
    initial weights), ``peak_loss_`` the highest epoch ``train_loss`` of the
    fit and ``peak_epoch_`` its epoch; :func:`warn_if_degenerate` compares
    them. The batch losses are read where skorch has already synced them.
    """

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def _fail(self, what: str, net) -> None:
        raise FloatingPointError(
            f"ContrastiveEmbedder's {what} in epoch {len(net.history)}; fitting "
            "stopped rather than return a model of NaN. Scale the features (e.g. "
            "put a StandardScaler first in a Pipeline) or lower the learning rate "
            f"(got lr={self.lr})."
        )

    def on_train_begin(self, net, **kwargs):
        self.first_loss_ = None
        self.peak_loss_ = -math.inf
        self.peak_epoch_ = None

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is None:
            return
        # skorch has already read the loss with .item(): no extra device sync.
        value = loss.item()
        if not math.isfinite(value):
            which = "training" if training else "validation"
            self._fail(f"{which} loss became {value}", net)
        if training and self.first_loss_ is None:
            self.first_loss_ = value

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        loss = epoch.get(TRAIN_LOSS)  # recorded by skorch's callbacks, before ours
        if loss is not None and loss > self.peak_loss_:
            self.peak_loss_, self.peak_epoch_ = loss, epoch[EPOCH]

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


def _embed_during_training(net, X: torch.Tensor | RowSource) -> torch.Tensor:
    """Embeddings of ``X`` (on the CPU), the module's mode left as it was."""
    was_training = net.module_.training
    # Densified sparse rows: the scores of the densified fit, bit for bit.
    embeddings = embed_rows(
        embedding_network(net.module_), X, net.device, sparse_batches=False
    )
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
    X : torch.Tensor or RowSource of shape (n_valid, n_features)
        The rows, or a sparse source's (densified 4096 rows at a time).
    y : numpy.ndarray of shape (n_valid,)
    """

    def __init__(self, X: torch.Tensor | RowSource, y: np.ndarray) -> None:
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
    mean over all of them, weighted by ``weight`` when given, with the
    criterion's ``margin`` and ``similar_weight``), which early stopping on
    explicit pairs monitors;
    ``valid_pair_roc_auc`` is the ROC AUC of their negated distances against
    ``similar`` (the chance that a similar pair lies closer than a dissimilar
    one), to look at: it reaches 1 long before the embedding stops
    improving.

    Parameters
    ----------
    X : torch.Tensor or RowSource of shape (n_rows, n_features)
        The distinct rows of the validation pairs (a source's are read
        every epoch, 4096 at a time).
    pairs : numpy.ndarray of int of shape (n_pairs, 2)
        Row numbers into ``X``.
    similar : numpy.ndarray of bool of shape (n_pairs,)
        ``True`` for a similar pair.
    weight : numpy.ndarray of shape (n_pairs,), default=None
        The pairs' weights (``pair_weight``), for the loss's mean and the ROC
        AUC; None: unweighted.
    """

    def __init__(
        self,
        X: torch.Tensor | RowSource,
        pairs: np.ndarray,
        similar: np.ndarray,
        weight: np.ndarray | None = None,
    ):
        self.X = X
        self.pairs = pairs
        self.similar = similar
        self.weight = weight

    def on_epoch_end(self, net, **kwargs):
        embeddings = _embed_during_training(net, self.X)
        pairs = torch.from_numpy(self.pairs)
        distances = torch.linalg.vector_norm(
            embeddings[pairs[:, 0]] - embeddings[pairs[:, 1]], dim=1
        )
        criterion = net.criterion_
        weight = None if self.weight is None else torch.from_numpy(self.weight)
        loss = contrastive_loss(
            distances,
            torch.from_numpy(~self.similar),
            criterion.margin,
            similar_weight=criterion.similar_weight,
            weight=None if weight is None else weight.to(distances.dtype),
        )
        net.history.record(VALID_PAIR_LOSS, loss.item())
        # Non-finite weights are the loss guard's to report, at the end of the fit.
        finite = bool(torch.isfinite(distances).all())
        net.history.record(
            VALID_PAIR_ROC_AUC,
            roc_auc_score(self.similar, -distances.numpy(), sample_weight=self.weight)
            if finite
            else math.nan,
        )

    def on_train_end(self, net, **kwargs):
        # The fitted net is pickled with its callbacks: do not carry the data.
        self.X = self.pairs = self.similar = self.weight = None


def fit_diagnostics(
    net,
    X: np.ndarray | RowSource,
    dissimilar: tuple[np.ndarray, np.ndarray],
    *,
    n_threads: int | None,
) -> dict:
    """What :func:`warn_if_degenerate` reads from a trained ``net`` besides
    its history.

    ``eval_distance``: the mean distance between the rows ``dissimilar[0][k]``
    and ``dissimilar[1][k]`` of ``X`` (a bounded sample of dissimilar training
    pairs, ``TrainingTarget.dissimilar_sample``), embedded as ``transform``
    does, in eval mode with the final weights. The pair diagnostics of
    ``history_`` are training-mode distances, where dropout keeps rows apart
    that ``transform`` maps to one point. NaN without pairs.
    ``first_loss``, ``peak_loss``, ``peak_epoch``: this fit's first batch loss
    and highest epoch loss (see :class:`FiniteLossGuard`), None without the
    guard.
    """
    first, second = dissimilar
    eval_distance = math.nan
    if len(first):
        # The distinct rows, embedded once: at most 2 * len(first).
        rows, inverse = np.unique(np.concatenate([first, second]), return_inverse=True)
        # A source's rows are read in chunks (8,192 sparse rows densified at
        # once would be 8,192 x n_features floats).
        X_rows = as_rows(select_rows(X, rows))
        with torch_threads(n_threads):
            embeddings = embed_rows(
                embedding_network(net.module_),
                X_rows,
                net.device,
                sparse_batches=False,
            )
        distances = torch.linalg.vector_norm(
            embeddings[inverse[: len(first)]] - embeddings[inverse[len(first) :]],
            dim=1,
        )
        eval_distance = distances.mean().item()
    guard = next(
        (cb for _, cb in net.callbacks_ if isinstance(cb, FiniteLossGuard)), None
    )
    return {
        "eval_distance": eval_distance,
        "first_loss": getattr(guard, "first_loss_", None),
        "peak_loss": getattr(guard, "peak_loss_", None),
        "peak_epoch": getattr(guard, "peak_epoch_", None),
    }


#: Collapse: dissimilar pairs closer on average than this fraction of the margin.
COLLAPSE_FRACTION = 1e-2

#: Divergence: an epoch's training loss above this multiple of the fit's first
#: batch loss. Healthy fits of iris, wine, digits and breast cancer (raw and
#: standardised; defaults, lr=1e-2, normalize=False with lr up to 1e-2 or
#: margin=10; seeds 0, 1) peaked at 0.2-1.6 times their first batch loss;
#: normalize=False with lr=1 or 1e3 at 2e6-1e27 times (lr=0.1: 30-900 times).
LOSS_GROWTH = 1e3


def warn_if_degenerate(
    history: list[dict],
    *,
    margin: float,
    normalize: bool,
    similar_weight: float,
    lr: float,
    stacklevel: int,
    eval_distance: float = math.nan,
    first_loss: float | None = None,
    peak_loss: float | None = None,
    peak_epoch: int | None = None,
) -> None:
    """Warn when the fit's diagnostics say it went wrong.

    Divergence: an epoch's training loss grew to :data:`LOSS_GROWTH` times the
    first batch loss or more, finite all along. Collapse: dissimilar training
    pairs lie almost on top of each other as ``transform`` embeds them
    (``eval_distance``; the last epoch's training-mode distance when NaN). A
    margin too small: with ``normalize=False``, no dissimilar pair ever came
    inside it (not said after a divergence, whose distances mean nothing).
    ``margin`` to ``lr`` are the estimator's parameters, ``stacklevel``
    points the warnings at the user's call, and the keywords after it are
    :func:`fit_diagnostics`'s (without them, collapse is read off the history
    and divergence is not checked).
    """
    diverged = (
        first_loss is not None
        and first_loss > 0
        and peak_loss > LOSS_GROWTH * first_loss
    )
    if diverged:
        advice = f"Lower lr (got lr={lr})"
        if not normalize:
            advice += ", use normalize=True (unit-length embeddings bound the loss)"
        warnings.warn(
            "ContrastiveEmbedder's training diverged: the training loss grew "
            f"from {first_loss:.3g} at the first batch to {peak_loss:.3g} in "
            f"epoch {peak_epoch} (more than {LOSS_GROWTH:.0e} times), so the "
            f"embeddings are likely meaningless. {advice}, or clip the "
            "gradients with skorch's GradientNormClipping callback "
            "(callbacks=[GradientNormClipping(1.0)]; it bounds the steps of "
            "optimizer='sgd', not Adam's, which follow lr).",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    last = history[-1]
    dissimilar = last.get(DISSIMILAR_DISTANCE, math.nan)
    if math.isfinite(eval_distance):
        collapse, where = eval_distance, "as transform embeds them"
    else:
        collapse, where = dissimilar, "in the last sampled batches"
    if collapse < COLLAPSE_FRACTION * margin:
        warnings.warn(
            "ContrastiveEmbedder's embeddings collapsed to a point: dissimilar "
            f"training pairs lie {collapse:.3g} apart on average {where}, "
            f"against margin={margin}. Lower similar_weight (got "
            f"{similar_weight}) or lr (got {lr}), and check that the "
            "features vary (scale them, e.g. with a StandardScaler).",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    elif (
        not diverged
        and not normalize
        and all(epoch.get(ACTIVE_FRACTION, math.nan) == 0 for epoch in history)
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


class PlainPrintLog(PrintLog):
    """skorch's epoch table, without ANSI colour codes where the output is not
    a terminal (a log file, a notebook's captured stream, CI): there they
    show as ``\x1b[32m`` garbage around each new best value."""

    def format_row(self, row, key, color):
        if _is_terminal():
            return super().format_row(row, key, color)
        return super().format_row(row, key, "").replace("\x1b[0m", "")


def _is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


class EpochProgressBar(Callback):
    """A progress bar over the epochs of a fit (tqdm, on stderr), with the
    last epoch's training loss and validation score on it (``verbose=2``).

    skorch's ``ProgressBar`` counts the batches of one epoch, which on small
    data reads ``0/8`` and says nothing of the fit.
    """

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=net.max_epochs, unit="epoch", leave=True)

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        shown = {
            key: f"{epoch[key]:.4g}"
            for key in (TRAIN_LOSS, VALID_MAP_AT_R, VALID_PAIR_ROC_AUC)
            if isinstance(epoch.get(key), float)
        }
        self.bar_.set_postfix(shown, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is not None:
            bar.close()
