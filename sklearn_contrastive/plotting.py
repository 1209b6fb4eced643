"""Plots for choosing the margin and watching a fit, in scikit-learn's Display style.

Each display stores the data it draws; ``from_estimator`` and
``from_embeddings`` compute that data and call ``plot``, which draws on the
given matplotlib axes (or a new figure) and returns the display with ``ax_``
and ``figure_`` set, as :class:`sklearn.metrics.RocCurveDisplay` does.

* :class:`PairDistanceDisplay`: distances of similar and dissimilar pairs,
  with the margin; the main tool for choosing the margin.
* :class:`EmbeddingDisplay`: a 2-D view of the embedding coloured by class.
* :class:`TrainingCurveDisplay`: the losses and validation MAP@R per epoch
  from ``history_``.

matplotlib is optional (``pip install 'sklearn-contrastive[plot]'``): this
module imports it only when something is drawn.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
)

__all__ = ["EmbeddingDisplay", "PairDistanceDisplay", "TrainingCurveDisplay"]

#: Pairs whose distances are computed at once: bounds the memory of
#: ``from_embeddings`` to O(chunk x n_components) on top of O(max_pairs).
_PAIR_CHUNK = 2**16


def _check_matplotlib(caller: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib: pip install 'sklearn-contrastive[plot]'"
        ) from exc


def _new_axes(ax):
    """``ax``, or the axes of a new figure when ``ax`` is None."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def _final_step(estimator):
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def _default_name(estimator) -> str:
    return type(_final_step(estimator)).__name__


def _check_embeddings(embeddings, y, caller: str):
    embeddings = check_array(
        embeddings,
        dtype=[np.float64, np.float32],
        ensure_min_samples=2,
        input_name="embeddings",
    )
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{caller}: y must be 1-D class labels; got shape {y.shape}.")
    check_consistent_length(embeddings, y)
    return embeddings, y


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
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure with one axes.

        name : str, default=None
            Title of the axes; ``None`` uses the display's ``name``.

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
            heights, _, self.similar_patches_ = ax.hist(
                similar,
                bins=self.bin_edges_,
                color="tab:blue",
                label=f"similar pairs (n={similar.size:,})",
                **hist_kwargs,
            )
            top = max(top, np.max(heights))
        if dissimilar.size:
            heights, _, self.dissimilar_patches_ = ax.hist(
                dissimilar,
                bins=self.bin_edges_,
                color="tab:orange",
                label=f"dissimilar pairs (n={dissimilar.size:,})",
                **hist_kwargs,
            )
            top = max(top, np.max(heights))
        self.margin_line_ = None
        if margin is not None:
            label = f"margin = {margin:g}"
            if self.active_fraction_ is not None:
                label += f"\n{self.active_fraction_:.1%} of dissimilar pairs inside"
            line_kwargs = {
                "color": "black",
                "linestyle": "--",
                "label": label,
                **(line_kwargs or {}),
            }
            self.margin_line_ = ax.axvline(margin, **line_kwargs)

        ax.set(xlabel="Euclidean distance between embeddings", ylabel="Density")
        right = max(self.bin_edges_[-1], margin or 0.0)
        ax.set_xlim(min(0.0, self.bin_edges_[0]), right + 0.05 * abs(right))
        if top > 0:
            # Headroom above the bars, so that the legend covers none of them.
            ax.set_ylim(0, 1.4 * top)
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
        estimator : estimator instance
            A fitted transformer, e.g. a
            :class:`~sklearn_contrastive.ContrastiveEmbedder`, or a fitted
            :class:`~sklearn.pipeline.Pipeline` that ends with one; ``X`` is
            embedded with its ``transform``.

        X : array-like of shape (n_samples, n_features)
            Rows to embed; held-out rows show how the embedding generalises.

        y : array-like of shape (n_samples,)
            Their class labels.

        margin : float, default=None
            Margin to draw; ``None`` takes the ``margin`` parameter of the
            estimator (of the last step of a pipeline) when it has one, else
            draws none.

        max_pairs : int, default=100_000
            Most pairs measured: all ``n_samples * (n_samples - 1) / 2``
            pairs when there are no more, else ``max_pairs`` pairs drawn
            uniformly at random (with replacement).

        random_state : int, RandomState instance or None, default=None
            Draws the pairs when they are sampled. Pass an int for
            reproducible output.

        name : str, default=None
            Title of the axes; ``None`` uses the class name of the estimator
            (of the last step of a pipeline).

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure with one axes.

        bins : int, sequence or str, default=50
            Bins shared by both histograms; see :meth:`plot`.

        hist_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.hist`.

        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.axvline`.

        Returns
        -------
        display : PairDistanceDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")  # draw off-screen; not needed in a notebook
        >>> import matplotlib.pyplot as plt
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

        y : array-like of shape (n_samples,)
            Their class labels.

        margin : float, default=None
            Margin to draw; ``None`` draws none.

        max_pairs : int, default=100_000
            Most pairs measured: all ``n_samples * (n_samples - 1) / 2``
            pairs when there are no more, else ``max_pairs`` pairs ``(i, j)``
            with ``i != j`` drawn uniformly at random (with replacement).
            Memory is O(max_pairs), never ``n_samples x n_samples``.

        random_state : int, RandomState instance or None, default=None
            Draws the pairs when they are sampled. Pass an int for
            reproducible output.

        name : str, default=None
            Title of the axes; ``None`` sets none.

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure with one axes.

        bins : int, sequence or str, default=50
            Bins shared by both histograms; see :meth:`plot`.

        hist_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.hist`.

        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.axvline`.

        Returns
        -------
        display : PairDistanceDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")  # draw off-screen; not needed in a notebook
        >>> import matplotlib.pyplot as plt
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
        embeddings, y = _check_embeddings(embeddings, y, cls.__name__)
        margin = _check_margin(margin)
        if isinstance(max_pairs, bool) or not isinstance(max_pairs, numbers.Integral):
            raise TypeError(f"max_pairs must be an int; got {max_pairs!r}.")
        if max_pairs < 1:
            raise ValueError(f"max_pairs must be at least 1; got {max_pairs}.")
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError(
                f"{cls.__name__} needs at least 2 classes to form dissimilar pairs; "
                f"got 1 class ({classes.tolist()[0]!r})."
            )
        if counts.max() < 2:
            raise ValueError(
                f"{cls.__name__} needs a class with at least 2 rows to form similar "
                f"pairs; each of the {len(classes)} classes of y has 1 row."
            )
        similar, dissimilar = _pair_distances(
            embeddings, y, int(max_pairs), random_state
        )
        if similar.size == 0 or dissimilar.size == 0:
            kind = "similar" if similar.size == 0 else "dissimilar"
            raise ValueError(
                f"{cls.__name__} drew no {kind} pair among max_pairs={max_pairs} "
                f"random pairs of {len(y)} rows; raise max_pairs."
            )
        display = cls(similar, dissimilar, margin=margin, name=name)
        return display.plot(
            ax=ax, bins=bins, hist_kwargs=hist_kwargs, line_kwargs=line_kwargs
        )


class EmbeddingDisplay:
    """A 2-D view of an embedding, one colour per class.

    Embeddings with more than two components are projected on their first two
    principal components (:class:`~sklearn.decomposition.PCA`), which keeps
    distances as well as a linear map to 2-D can; classes that overlap in the
    projection may still be apart in the full embedding.

    Create one with :meth:`from_estimator` or :meth:`from_embeddings`; the
    constructor only stores the data.

    Parameters
    ----------
    embedding_2d : array-like of shape (n_samples, 2)
        Coordinates to draw.

    y : array-like of shape (n_samples,)
        Class labels; one colour and one legend entry per class.

    axis_labels : tuple of str, default=("component 1", "component 2")
        Labels of the x- and y-axes.

    name : str, default=None
        Title of the axes; ``None`` sets none.

    Attributes
    ----------
    scatters_ : list of matplotlib PathCollection
        One scatter per class, in the order of ``numpy.unique(y)``. Set by
        :meth:`plot`.

    ax_ : matplotlib Axes
        Axes with the scatter plot.

    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    EmbeddingDisplay.from_estimator : View of an embedder's embeddings of
        some data.
    EmbeddingDisplay.from_embeddings : View of given embeddings.

    Examples
    --------
    >>> from sklearn_contrastive.plotting import EmbeddingDisplay
    >>> display = EmbeddingDisplay([[0, 0], [1, 0], [5, 5]], ["a", "a", "b"])
    >>> display.plot()  # doctest: +SKIP
    """

    def __init__(self, embedding_2d, y, *, axis_labels=None, name=None):
        self.embedding_2d = embedding_2d
        self.y = y
        self.axis_labels = axis_labels
        self.name = name

    def plot(self, ax=None, *, name=None, cmap=None, scatter_kwargs=None):
        """Draw the embedding, one colour per class, with a legend.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure with one axes.

        name : str, default=None
            Title of the axes; ``None`` uses the display's ``name``.

        cmap : str or matplotlib Colormap, default=None
            Colours of the classes; ``None`` uses ``"tab10"`` for up to 10
            classes, ``"tab20"`` for up to 20 and ``"viridis"`` beyond.

        scatter_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter`, for
            every class.

        Returns
        -------
        display : EmbeddingDisplay
            The display, with ``ax_`` and ``figure_`` set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        import matplotlib as mpl

        points = np.asarray(self.embedding_2d)
        y = np.asarray(self.y)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(
                "EmbeddingDisplay draws 2-D points: embedding_2d must have shape "
                f"(n_samples, 2); got {points.shape}. Use "
                "EmbeddingDisplay.from_embeddings to project wider embeddings."
            )
        check_consistent_length(points, y)
        name = self.name if name is None else name
        ax = _new_axes(ax)

        classes = np.unique(y)
        if cmap is None:
            cmap = "tab10" if len(classes) <= 10 else "tab20"
            cmap = "viridis" if len(classes) > 20 else cmap
        cmap = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
        if len(classes) <= cmap.N < 256:
            # A qualitative map ("tab10"): its first colours, one per class.
            colors = [cmap(i) for i in range(len(classes))]
        else:
            colors = [cmap(t) for t in np.linspace(0, 1, len(classes))]
        scatter_kwargs = {"s": 12, "alpha": 0.8, **(scatter_kwargs or {})}
        self.scatters_ = [
            ax.scatter(
                *points[y == label].T, color=color, label=str(label), **scatter_kwargs
            )
            for label, color in zip(classes, colors, strict=True)
        ]
        xlabel, ylabel = self.axis_labels or ("component 1", "component 2")
        ax.set(xlabel=xlabel, ylabel=ylabel)
        # Distances are what an embedding is about: one unit, one length.
        ax.set_aspect("equal", adjustable="datalim")
        if name is not None:
            ax.set_title(name)
        ax.legend(
            title="class",
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            ncol=1 + (len(classes) - 1) // 20,
            markerscale=1.5,
        )
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls, estimator, X, y, *, name=None, ax=None, cmap=None, scatter_kwargs=None
    ):
        """View an embedder's embeddings of ``X`` in 2-D.

        Parameters
        ----------
        estimator : estimator instance
            A fitted transformer, e.g. a
            :class:`~sklearn_contrastive.ContrastiveEmbedder`, or a fitted
            :class:`~sklearn.pipeline.Pipeline` that ends with one; ``X`` is
            embedded with its ``transform``.

        X : array-like of shape (n_samples, n_features)
            Rows to embed.

        y : array-like of shape (n_samples,)
            Their class labels.

        name : str, default=None
            Title of the axes; ``None`` uses the class name of the estimator
            (of the last step of a pipeline).

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure with one axes.

        cmap : str or matplotlib Colormap, default=None
            Colours of the classes; see :meth:`plot`.

        scatter_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : EmbeddingDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")  # draw off-screen; not needed in a notebook
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_contrastive import ContrastiveEmbedder
        >>> from sklearn_contrastive.plotting import EmbeddingDisplay
        >>> X, y = load_iris(return_X_y=True)
        >>> embedder = ContrastiveEmbedder(n_components=8, max_epochs=3, random_state=0)
        >>> display = EmbeddingDisplay.from_estimator(embedder.fit(X, y), X, y)
        >>> display.ax_.get_xlabel()
        'PC1 (...% of variance)'
        >>> plt.close(display.figure_)
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        return cls.from_embeddings(
            estimator.transform(X),
            y,
            name=_default_name(estimator) if name is None else name,
            ax=ax,
            cmap=cmap,
            scatter_kwargs=scatter_kwargs,
        )

    @classmethod
    def from_embeddings(
        cls, embeddings, y, *, name=None, ax=None, cmap=None, scatter_kwargs=None
    ):
        """View given embeddings in 2-D.

        Parameters
        ----------
        embeddings : array-like of shape (n_samples, n_components)
            Embeddings with at least 2 components. With more than 2 they are
            projected on their first two principal components, and the axes
            say which share of the variance each keeps.

        y : array-like of shape (n_samples,)
            Their class labels.

        name : str, default=None
            Title of the axes; ``None`` sets none.

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure with one axes.

        cmap : str or matplotlib Colormap, default=None
            Colours of the classes; see :meth:`plot`.

        scatter_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : EmbeddingDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")  # draw off-screen; not needed in a notebook
        >>> import matplotlib.pyplot as plt
        >>> from sklearn_contrastive.plotting import EmbeddingDisplay
        >>> display = EmbeddingDisplay.from_embeddings(
        ...     [[0.0, 1.0], [0.5, 1.0], [3.0, 0.0]], ["cat", "cat", "dog"]
        ... )
        >>> display.axis_labels
        ('component 1', 'component 2')
        >>> [text.get_text() for text in display.ax_.get_legend().get_texts()]
        ['cat', 'dog']
        >>> plt.close(display.figure_)
        """
        _check_matplotlib(f"{cls.__name__}.from_embeddings")
        embeddings, y = _check_embeddings(embeddings, y, cls.__name__)
        n_components = embeddings.shape[1]
        if n_components < 2:
            raise ValueError(
                f"{cls.__name__} needs embeddings with at least 2 components to "
                f"draw in 2-D; got {n_components}. Use PairDistanceDisplay for a "
                "1-D embedding."
            )
        axis_labels = ("component 1", "component 2")
        if n_components > 2:
            pca = PCA(n_components=2)
            embeddings = pca.fit_transform(embeddings)
            axis_labels = tuple(
                f"PC{k} ({ratio:.0%} of variance)"
                for k, ratio in enumerate(pca.explained_variance_ratio_, start=1)
            )
        display = cls(embeddings, y, axis_labels=axis_labels, name=name)
        return display.plot(ax=ax, cmap=cmap, scatter_kwargs=scatter_kwargs)


_HISTORY_CURVES = {
    "train_loss": ("train loss", "tab:blue", "-"),
    "valid_loss": ("validation loss", "tab:blue", "--"),
    "valid_pair_loss": ("validation pair loss", "tab:blue", "--"),
}
_VALID_SCORE = "valid_map_at_r"
#: What early stopping monitors after a fit on explicit pairs (lower is better).
_VALID_PAIR_LOSS = "valid_pair_loss"


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

        name : str, default=None
            Title of the axes; ``None`` uses the display's ``name``.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, with ``ax_``, ``ax2_`` and ``figure_`` set.
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        history = self.history
        if hasattr(history, "to_dict"):  # a pandas DataFrame
            history = history.to_dict("records")
        history = list(history)
        if not history:
            raise ValueError(
                "TrainingCurveDisplay needs a history with at least 1 epoch; got none."
            )
        missing = [
            key for key in ("epoch", "train_loss") if any(key not in e for e in history)
        ]
        if missing:
            raise ValueError(
                f"TrainingCurveDisplay needs the keys 'epoch' and 'train_loss' in "
                f"every epoch of the history; {missing[0]!r} is missing. Pass "
                "ContrastiveEmbedder.history_."
            )
        name = self.name if name is None else name
        ax = _new_axes(ax)

        epochs = _history_column(history, "epoch")
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
        scores = _history_column(history, _VALID_SCORE)
        if not np.isnan(scores).all():
            self.ax2_ = ax2 = ax.twinx()
            (self.lines_[_VALID_SCORE],) = ax2.plot(
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
            pair_loss = _history_column(history, _VALID_PAIR_LOSS)
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
            fitted :class:`~sklearn.pipeline.Pipeline` that ends with one: any
            estimator with a ``history_`` attribute. With early stopping, the
            epoch whose weights were kept is marked.

        name : str, default=None
            Title of the axes; ``None`` uses the class name of the estimator
            (of the last step of a pipeline).

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure with one axes.

        Returns
        -------
        display : TrainingCurveDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")  # draw off-screen; not needed in a notebook
        >>> import matplotlib.pyplot as plt
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
            scores = _history_column(final.history_, _VALID_SCORE)
            if np.isnan(scores).all():  # early stopping on explicit pairs
                scores = _history_column(final.history_, _VALID_PAIR_LOSS)
            (kept,) = np.nonzero(scores == best_score)
            if kept.size:
                best_epoch = final.history_[kept[0]]["epoch"]
        display = cls(
            final.history_,
            best_epoch=best_epoch,
            name=_default_name(estimator) if name is None else name,
        )
        return display.plot(ax=ax)
