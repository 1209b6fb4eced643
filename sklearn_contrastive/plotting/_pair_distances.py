"""PairDistanceDisplay: distances of similar and dissimilar pairs, with the margin."""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._embedding_step import embedding_part
from ._common import (
    _DOC_PARTS,
    _check_embeddings,
    _check_matplotlib,
    _default_name,
    _fill_docstrings,
    _final_step,
    _new_axes,
)

#: Pairs whose distances are computed at once: bounds the memory of
#: ``from_embeddings`` to O(chunk x n_components) on top of O(max_pairs).
_PAIR_CHUNK = 2**16


def _check_margin(margin):
    if margin is None:
        return None
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise TypeError(f"margin must be a positive number or None; got {margin!r}.")
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number or None; got {margin!r}.")
    return float(margin)


def _sample_pairs(n_samples: int, max_pairs: int, random_state):
    """Row numbers ``(i, j)`` of the pairs to measure, each of shape (n_pairs,).

    Every unordered pair ``i < j`` when there are at most ``max_pairs`` of
    them; otherwise ``max_pairs`` pairs ``i != j`` drawn uniformly with
    replacement. Never builds anything of size ``n_samples x n_samples``.
    """
    if n_samples * (n_samples - 1) // 2 <= max_pairs:
        return np.triu_indices(n_samples, k=1)
    rng = check_random_state(random_state)
    first = rng.randint(n_samples, size=max_pairs)
    # Uniform over the other n - 1 rows: skip over ``first``.
    second = rng.randint(n_samples - 1, size=max_pairs)
    second += second >= first
    return first, second


def _pair_distances(embeddings, y, max_pairs, random_state):
    """Euclidean distances of similar and dissimilar pairs, as float64."""
    first, second = _sample_pairs(len(embeddings), max_pairs, random_state)
    distances = np.empty(len(first))
    for start in range(0, len(first), _PAIR_CHUNK):
        chunk = slice(start, start + _PAIR_CHUNK)
        # (chunk, n_components) differences
        diff = embeddings[first[chunk]].astype(np.float64) - embeddings[second[chunk]]
        distances[chunk] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    similar = y[first] == y[second]
    return distances[similar], distances[~similar]


def _check_classes(y, caller: str) -> None:
    """Raise unless ``y`` can form both similar and dissimilar pairs."""
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"{caller} needs at least 2 classes to form dissimilar pairs; "
            f"got 1 class ({classes.tolist()[0]!r})."
        )
    if counts.max() < 2:
        raise ValueError(
            f"{caller} needs a class with at least 2 rows to form similar "
            f"pairs; each of the {len(classes)} classes of y has 1 row."
        )


def _distances_to_draw(embeddings, y, margin, max_pairs, random_state, caller: str):
    """Check the inputs of ``from_embeddings`` and measure the pairs.

    Returns ``(similar, dissimilar, margin)``: the distances of the similar
    and of the dissimilar pairs, and the checked margin.
    """
    embeddings, y = _check_embeddings(embeddings, y, caller)
    margin = _check_margin(margin)
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, numbers.Integral):
        raise TypeError(f"max_pairs must be an int; got {max_pairs!r}.")
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be at least 1; got {max_pairs}.")
    _check_classes(y, caller)
    similar, dissimilar = _pair_distances(embeddings, y, int(max_pairs), random_state)
    if similar.size == 0 or dissimilar.size == 0:
        kind = "similar" if similar.size == 0 else "dissimilar"
        raise ValueError(
            f"{caller} drew no {kind} pair among max_pairs={max_pairs} "
            f"random pairs of {len(y)} rows; raise max_pairs."
        )
    return similar, dissimilar, margin


def _histogram(ax, distances, bin_edges, kind: str, color: str, hist_kwargs):
    """Draw the histogram of one kind of pair; its patches and tallest bar."""
    heights, _, patches = ax.hist(
        distances,
        bins=bin_edges,
        color=color,
        label=f"{kind} pairs (n={distances.size:,})",
        **hist_kwargs,
    )
    return patches, np.max(heights)


def _margin_line(ax, margin: float, active_fraction, line_kwargs):
    """Draw the margin as a vertical line, labelled with ``active_fraction``."""
    label = f"margin = {margin:g}"
    if active_fraction is not None:
        label += f"\n{active_fraction:.1%} of dissimilar pairs inside"
    line_kwargs = {
        "color": "black",
        "linestyle": "--",
        "label": label,
        **(line_kwargs or {}),
    }
    return ax.axvline(margin, **line_kwargs)


def _set_limits(ax, bin_edges, margin, top) -> None:
    """x from 0 (or the first bin) to past the last bin and the margin."""
    right = max(bin_edges[-1], margin or 0.0)
    ax.set_xlim(min(0.0, bin_edges[0]), right + 0.05 * abs(right))
    if top > 0:
        # Headroom above the bars, so that the legend covers none of them.
        ax.set_ylim(0, 1.4 * top)


#: Docstring text of both ``from_*`` methods; see ``_fill_docstrings``.
_FROM_DOC_PARTS = {
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Draws the pairs when they are sampled. Pass an int for
    reproducible output.""",
    "plot_parameters": _DOC_PARTS["ax"]
    + """

bins : int, sequence or str, default=50
    Bins shared by both histograms; see :meth:`plot`.

hist_kwargs : dict, default=None
    Keyword arguments of :meth:`matplotlib.axes.Axes.hist`.

line_kwargs : dict, default=None
    Keyword arguments of :meth:`matplotlib.axes.Axes.axvline`.""",
}


class PairDistanceDisplay:
    """Distributions of similar-pair and dissimilar-pair distances.

    Two density histograms on shared bins: distances between embeddings of
    the same class (similar pairs) and of different classes (dissimilar
    pairs), with the margin as a vertical line. The contrastive loss pulls
    similar pairs towards 0 and pushes dissimilar pairs out to the margin;
    only dissimilar pairs inside the margin (``active_fraction_``) still
    contribute. A margin far below the dissimilar distances teaches nothing
    (no active pairs); a margin above almost all of them keeps pushing every
    pair. On held-out data, the overlap of the two histograms shows how well
    the classes separate. (``history_``'s ``active_fraction`` is the same
    fraction over the training batches' pairs.)

    Create one with :meth:`from_estimator` or :meth:`from_embeddings`; the
    constructor only stores the data.

    Parameters
    ----------
    similar_distances : array-like of shape (n_similar_pairs,)
        Distances between embeddings of the same class.

    dissimilar_distances : array-like of shape (n_dissimilar_pairs,)
        Distances between embeddings of different classes.

    margin : float, default=None
        Margin drawn as a vertical line; ``None`` draws none.

    name : str, default=None
        Title of the axes; ``None`` sets none.

    Attributes
    ----------
    active_fraction_ : float or None
        Fraction of the dissimilar distances below ``margin`` (the pairs the
        loss still pushes apart); ``None`` without a margin or dissimilar
        pairs.

    bin_edges_ : ndarray of shape (n_bins + 1,)
        Bin edges shared by both histograms. Set by :meth:`plot`.

    similar_patches_ : list of matplotlib Patch
        The similar-pair histogram. Set by :meth:`plot`.

    dissimilar_patches_ : list of matplotlib Patch
        The dissimilar-pair histogram. Set by :meth:`plot`.

    margin_line_ : matplotlib Line2D or None
        The margin line; ``None`` without a margin. Set by :meth:`plot`.

    ax_ : matplotlib Axes
        Axes with the histograms.

    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    PairDistanceDisplay.from_estimator : Pair distances of an embedder's
        embeddings of some data.
    PairDistanceDisplay.from_embeddings : Pair distances of given embeddings.

    Examples
    --------
    >>> from sklearn_contrastive.plotting import PairDistanceDisplay
    >>> display = PairDistanceDisplay(
    ...     similar_distances=[0.1, 0.3, 0.2],
    ...     dissimilar_distances=[0.5, 1.2, 1.5, 0.9],
    ...     margin=1.0,
    ... )
    >>> display.active_fraction_
    0.5
    >>> display.plot()  # doctest: +SKIP
    """

    def __init__(
        self, similar_distances, dissimilar_distances, *, margin=None, name=None
    ):
        self.similar_distances = similar_distances
        self.dissimilar_distances = dissimilar_distances
        self.margin = margin
        self.name = name

    @property
    def active_fraction_(self):
        dissimilar = np.asarray(self.dissimilar_distances, dtype=np.float64)
        if self.margin is None or dissimilar.size == 0:
            return None
        return float(np.mean(dissimilar < self.margin))

    def plot(self, ax=None, *, name=None, bins=50, hist_kwargs=None, line_kwargs=None):
        """Draw the histograms and the margin.

        Parameters
        ----------
        {ax}

        {plot_name}

        bins : int, sequence or str, default=50
            Bins shared by both histograms, as
            :func:`numpy.histogram_bin_edges` takes them, computed over the
            distances of all pairs.

        hist_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.hist`, for both
            histograms (e.g. ``{"alpha": 0.3}``).

        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.axvline` for the
            margin line.

        Returns
        -------
        display : PairDistanceDisplay
            The display, with ``ax_`` and ``figure_`` set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        margin = _check_margin(self.margin)
        similar = np.asarray(self.similar_distances, dtype=np.float64).ravel()
        dissimilar = np.asarray(self.dissimilar_distances, dtype=np.float64).ravel()
        if similar.size == 0 and dissimilar.size == 0:
            raise ValueError(
                "PairDistanceDisplay has no distances to draw: both "
                "similar_distances and dissimilar_distances are empty."
            )
        name = self.name if name is None else name
        ax = _new_axes(ax)

        self.bin_edges_ = np.histogram_bin_edges(
            np.concatenate([similar, dissimilar]), bins=bins
        )
        hist_kwargs = {
            "histtype": "stepfilled",
            "alpha": 0.5,
            "density": True,
            **(hist_kwargs or {}),
        }
        self.similar_patches_ = self.dissimilar_patches_ = []
        top = 0.0
        if similar.size:
            self.similar_patches_, height = _histogram(
                ax, similar, self.bin_edges_, "similar", "tab:blue", hist_kwargs
            )
            top = max(top, height)
        if dissimilar.size:
            self.dissimilar_patches_, height = _histogram(
                ax, dissimilar, self.bin_edges_, "dissimilar", "tab:orange", hist_kwargs
            )
            top = max(top, height)
        self.margin_line_ = None
        if margin is not None:
            self.margin_line_ = _margin_line(
                ax, margin, self.active_fraction_, line_kwargs
            )

        ax.set(xlabel="Euclidean distance between embeddings", ylabel="Density")
        _set_limits(ax, self.bin_edges_, margin, top)
        if name is not None:
            ax.set_title(name)
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        margin=None,
        max_pairs=100_000,
        random_state=None,
        name=None,
        ax=None,
        bins=50,
        hist_kwargs=None,
        line_kwargs=None,
    ):
        """Plot the pair distances of an embedder's embeddings of ``X``.

        Parameters
        ----------
        {transformer}

        X : array-like of shape (n_samples, n_features)
            Rows to embed; held-out rows show how the embedding generalises.

        {y}

        margin : float, default=None
            Margin to draw; ``None`` takes the ``margin`` parameter of the
            estimator (of the last step of a pipeline, or of the embedder
            before a classifier) when it has one, else draws none.

        max_pairs : int, default=100_000
            Most pairs measured: all ``n_samples * (n_samples - 1) / 2``
            pairs when there are no more, else ``max_pairs`` pairs drawn
            uniformly at random (with replacement).

        {random_state}

        {name_from_estimator}

        {plot_parameters}

        {returns}

        {examples}
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn_contrastive import ContrastiveEmbedder
        >>> from sklearn_contrastive.plotting import PairDistanceDisplay
        >>> X, y = load_iris(return_X_y=True)
        >>> pipe = make_pipeline(
        ...     StandardScaler(),
        ...     ContrastiveEmbedder(n_components=4, max_epochs=3, random_state=0),
        ... ).fit(X, y)
        >>> display = PairDistanceDisplay.from_estimator(pipe, X, y)
        >>> display.margin
        1.0
        >>> len(display.similar_distances) + len(display.dissimilar_distances)
        11175
        >>> plt.close(display.figure_)
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        estimator = embedding_part(estimator, f"{cls.__name__}.from_estimator")
        if margin is None:
            margin = getattr(_final_step(estimator), "margin", None)
        return cls.from_embeddings(
            estimator.transform(X),
            y,
            margin=margin,
            max_pairs=max_pairs,
            random_state=random_state,
            name=_default_name(estimator) if name is None else name,
            ax=ax,
            bins=bins,
            hist_kwargs=hist_kwargs,
            line_kwargs=line_kwargs,
        )

    @classmethod
    def from_embeddings(
        cls,
        embeddings,
        y,
        *,
        margin=None,
        max_pairs=100_000,
        random_state=None,
        name=None,
        ax=None,
        bins=50,
        hist_kwargs=None,
        line_kwargs=None,
    ):
        """Plot the pair distances of given embeddings.

        Parameters
        ----------
        embeddings : array-like of shape (n_samples, n_components)
            Embeddings, e.g. the output of ``transform``; at least 2 rows.

        {y}

        margin : float, default=None
            Margin to draw; ``None`` draws none.

        max_pairs : int, default=100_000
            Most pairs measured: all ``n_samples * (n_samples - 1) / 2``
            pairs when there are no more, else ``max_pairs`` pairs ``(i, j)``
            with ``i != j`` drawn uniformly at random (with replacement).
            Memory is O(max_pairs), never ``n_samples x n_samples``.

        {random_state}

        {name}

        {plot_parameters}

        {returns}

        {examples}
        >>> from sklearn_contrastive.plotting import PairDistanceDisplay
        >>> embeddings = [[0.0, 0.0], [0.0, 0.5], [2.0, 0.0], [2.0, 1.0]]
        >>> display = PairDistanceDisplay.from_embeddings(
        ...     embeddings, [0, 0, 1, 1], margin=2.05
        ... )
        >>> display.similar_distances.tolist()
        [0.5, 1.0]
        >>> display.active_fraction_
        0.25
        >>> plt.close(display.figure_)
        """
        _check_matplotlib(f"{cls.__name__}.from_embeddings")
        similar, dissimilar, margin = _distances_to_draw(
            embeddings, y, margin, max_pairs, random_state, cls.__name__
        )
        display = cls(similar, dissimilar, margin=margin, name=name)
        return display.plot(
            ax=ax, bins=bins, hist_kwargs=hist_kwargs, line_kwargs=line_kwargs
        )


_fill_docstrings(PairDistanceDisplay, **_FROM_DOC_PARTS)
