"""TrainingCurveDisplay: the losses and validation MAP@R per epoch of a fit."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._embedding_step import embedding_part
from .._history_keys import (
    EPOCH,
    TRAIN_LOSS,
    VALID_LOSS,
    VALID_MAP_AT_R,
    VALID_PAIR_LOSS,
)
from ._common import (
    _check_matplotlib,
    _default_name,
    _fill_docstrings,
    _final_step,
    _new_axes,
)

#: The loss curves, by history key: label, colour, line style. Early stopping
#: monitors VALID_MAP_AT_R (drawn on a second y-axis), or VALID_PAIR_LOSS
#: (lower is better) after a fit on explicit pairs.
_HISTORY_CURVES = {
    TRAIN_LOSS: ("train loss", "tab:blue", "-"),
    VALID_LOSS: ("validation loss", "tab:blue", "--"),
    VALID_PAIR_LOSS: ("validation pair loss", "tab:blue", "--"),
}


def _check_history(history) -> list:
    """``history`` as a list of dicts, one an epoch; each must have ``epoch``
    and ``train_loss``."""
    if hasattr(history, "to_dict"):  # a pandas DataFrame
        history = history.to_dict("records")
    history = list(history)
    if not history:
        raise ValueError(
            "TrainingCurveDisplay needs a history with at least 1 epoch; got none."
        )
    missing = [key for key in (EPOCH, TRAIN_LOSS) if any(key not in e for e in history)]
    if missing:
        raise ValueError(
            f"TrainingCurveDisplay needs the keys {EPOCH!r} and {TRAIN_LOSS!r} in "
            f"every epoch of the history; {missing[0]!r} is missing. Pass "
            "ContrastiveEmbedder.history_."
        )
    return history


def _history_column(history, key):
    """(n_epochs,) float values of ``key``; nan where an epoch lacks it."""
    return np.array(
        [np.nan if epoch.get(key) is None else float(epoch[key]) for epoch in history]
    )


def _star(ax, epoch, value, score_text):
    """Mark the kept epoch at ``(epoch, value)`` with a red star."""
    (marker,) = ax.plot(
        epoch,
        value,
        marker="*",
        markersize=14,
        linestyle="none",
        color="tab:red",
        label=f"best epoch {epoch:g}: {score_text}",
    )
    return marker


class TrainingCurveDisplay:
    """Losses and validation MAP@R per epoch of a fit.

    Draws the training loss, the validation loss when there is one, and, on
    a second y-axis, the validation mean average precision at R (MAP@R) that
    early stopping monitors, with the epoch whose weights were kept. After
    early stopping on explicit pairs, the monitored loss of the held-out
    pairs is drawn with the losses instead, the kept epoch marked on it.

    Create one with :meth:`from_estimator`, or pass ``history_`` to the
    constructor.

    Parameters
    ----------
    history : list of dict or pandas.DataFrame
        One entry per epoch, as
        :attr:`ContrastiveEmbedder.history_
        <sklearn_contrastive.ContrastiveEmbedder.history_>` holds them, with at
        least ``epoch`` and ``train_loss``; ``valid_loss``,
        ``valid_pair_loss`` and ``valid_map_at_r`` are drawn when present.

    best_epoch : int, default=None
        Epoch to mark on the MAP@R curve (on the ``valid_pair_loss`` curve
        when there is no MAP@R); ``None`` marks the first epoch with the
        highest MAP@R (the lowest pair loss).

    name : str, default=None
        Title of the axes; ``None`` sets none.

    Attributes
    ----------
    lines_ : dict of matplotlib Line2D
        The curves drawn, by history key: ``"train_loss"``, and
        ``"valid_loss"``, ``"valid_pair_loss"`` and ``"valid_map_at_r"`` when
        present. Set by :meth:`plot`.

    best_marker_ : matplotlib Line2D or None
        The marker on the kept epoch; ``None`` without MAP@R or pair loss.

    ax_ : matplotlib Axes
        Axes with the losses.

    ax2_ : matplotlib Axes or None
        Second y-axis (sharing the x-axis) with the validation MAP@R and the
        legend of all curves; ``None`` when the history has no MAP@R.

    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    TrainingCurveDisplay.from_estimator : Training curves of a fitted
        embedder.

    Examples
    --------
    >>> from sklearn_contrastive.plotting import TrainingCurveDisplay
    >>> history = [
    ...     {"epoch": 1, "train_loss": 0.05, "valid_map_at_r": 0.6},
    ...     {"epoch": 2, "train_loss": 0.04, "valid_map_at_r": 0.7},
    ... ]
    >>> display = TrainingCurveDisplay(history)
    >>> display.plot()  # doctest: +SKIP
    """

    def __init__(self, history, *, best_epoch=None, name=None):
        self.history = history
        self.best_epoch = best_epoch
        self.name = name

    def plot(self, ax=None, *, name=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes for the losses; ``None`` creates a figure with one axes. The
            MAP@R axis is a twin of it (:meth:`~matplotlib.axes.Axes.twinx`).

        {plot_name}

        Returns
        -------
        display : TrainingCurveDisplay
            The display, with ``ax_``, ``ax2_`` and ``figure_`` set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        history = _check_history(self.history)
        name = self.name if name is None else name
        ax = _new_axes(ax)

        epochs = _history_column(history, EPOCH)
        self.lines_ = {}
        for key, (label, color, style) in _HISTORY_CURVES.items():
            values = _history_column(history, key)
            if not np.isnan(values).all():
                (self.lines_[key],) = ax.plot(
                    epochs, values, linestyle=style, color=color, label=label
                )
        ax.set(xlabel="epoch", ylabel="contrastive loss")
        # matplotlib's default ticks, whole epochs only.
        ax.xaxis.set_major_locator(
            MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True)
        )

        self.ax2_ = self.best_marker_ = None
        scores = _history_column(history, VALID_MAP_AT_R)
        if not np.isnan(scores).all():
            self.ax2_ = ax2 = ax.twinx()
            (self.lines_[VALID_MAP_AT_R],) = ax2.plot(
                epochs, scores, color="tab:green", label="validation MAP@R"
            )
            best = self._best_index(epochs, scores, np.nanargmax)
            self.best_marker_ = _star(
                ax2, epochs[best], scores[best], f"MAP@R {scores[best]:.3f}"
            )
            ax2.set_ylabel("validation MAP@R", color="tab:green")
            ax2.tick_params(axis="y", colors="tab:green")
            # The twin axes draws over the first; its legend holds every curve.
            handles = [*ax.get_lines(), *ax2.get_lines()]
            ax2.legend(handles, [h.get_label() for h in handles], loc="center right")
        else:
            pair_loss = _history_column(history, VALID_PAIR_LOSS)
            if not np.isnan(pair_loss).all():
                best = self._best_index(epochs, pair_loss, np.nanargmin)
                self.best_marker_ = _star(
                    ax,
                    epochs[best],
                    pair_loss[best],
                    f"pair loss {pair_loss[best]:.3g}",
                )
            ax.legend()
        if name is not None:
            ax.set_title(name)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    def _best_index(self, epochs, values, pick):
        """Row of ``best_epoch``, or ``pick(values)`` when it is None."""
        if self.best_epoch is None:
            return int(pick(values))
        (matches,) = np.nonzero(epochs == self.best_epoch)
        if not matches.size:
            raise ValueError(
                f"best_epoch={self.best_epoch} is not an epoch of the "
                f"history (epochs {epochs[0]:g} to {epochs[-1]:g})."
            )
        return int(matches[0])

    @classmethod
    def from_estimator(cls, estimator, *, name=None, ax=None):
        """Plot the training curves of a fitted embedder.

        Parameters
        ----------
        estimator : estimator instance
            A fitted :class:`~sklearn_contrastive.ContrastiveEmbedder`, or a
            fitted :class:`~sklearn.pipeline.Pipeline` that ends with one (or
            with a classifier after one): any estimator with a ``history_``
            attribute. With early stopping, the epoch whose weights were kept
            is marked.

        {name_from_estimator}

        {ax}

        Returns
        -------
        display : TrainingCurveDisplay

        {examples}
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_contrastive import ContrastiveEmbedder
        >>> from sklearn_contrastive.plotting import TrainingCurveDisplay
        >>> X, y = load_iris(return_X_y=True)
        >>> embedder = ContrastiveEmbedder(
        ...     max_epochs=4, early_stopping=True, validation_fraction=0.2,
        ...     random_state=0,
        ... ).fit(X, y)
        >>> display = TrainingCurveDisplay.from_estimator(embedder)
        >>> sorted(display.lines_)
        ['train_loss', 'valid_loss', 'valid_map_at_r']
        >>> plt.close(display.figure_)
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        estimator = embedding_part(estimator, f"{cls.__name__}.from_estimator")
        final = _final_step(estimator)
        check_is_fitted(final)
        if not hasattr(final, "history_"):
            raise TypeError(
                f"{cls.__name__} needs an estimator with a history_ attribute, "
                f"such as a fitted ContrastiveEmbedder; got {type(final).__name__}."
            )
        best_epoch = None
        best_score = getattr(final, "best_validation_score_", None)
        if best_score is not None:
            # The kept epoch: early stopping keeps the first epoch that
            # reached its best score (later ties are no improvement).
            scores = _history_column(final.history_, VALID_MAP_AT_R)
            if np.isnan(scores).all():  # early stopping on explicit pairs
                scores = _history_column(final.history_, VALID_PAIR_LOSS)
            (kept,) = np.nonzero(scores == best_score)
            if kept.size:
                best_epoch = final.history_[kept[0]][EPOCH]
        display = cls(
            final.history_,
            best_epoch=best_epoch,
            name=_default_name(estimator) if name is None else name,
        )
        return display.plot(ax=ax)


_fill_docstrings(TrainingCurveDisplay)
