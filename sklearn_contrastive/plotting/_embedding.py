"""EmbeddingDisplay: a 2-D view of an embedding, one colour per class."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_consistent_length

from .._embedding_step import embedding_part
from ._common import (
    _DOC_PARTS,
    _check_embeddings,
    _check_matplotlib,
    _default_name,
    _fill_docstrings,
    _new_axes,
)

#: Docstring text of both ``from_*`` methods; see ``_fill_docstrings``.
_FROM_DOC_PARTS = {
    "plot_parameters": _DOC_PARTS["ax"]
    + """

cmap : str or matplotlib Colormap, default=None
    Colours of the classes; see :meth:`plot`.

scatter_kwargs : dict, default=None
    Keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.""",
}


#: Markers of the classes beyond the first ten, ten classes each.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


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
        {ax}

        {plot_name}

        cmap : str or matplotlib Colormap, default=None
            Colours of the classes. ``None``: the 10 distinct colours of
            ``"tab10"``, and above 10 classes the same colours again with
            another marker for each further ten (circles, squares,
            triangles...), so that no two classes look alike. A qualitative
            map gives its first colours, one per class; any other map evenly
            spaced colours.

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
        # A figure of its own is laid out to hold the legend beside the axes.
        ax = _new_axes(ax, layout="constrained")

        classes = np.unique(y)
        markers = ["o"] * len(classes)
        if cmap is None:
            # Neighbouring classes of a sequential map look alike: 10 distinct
            # colours, then the same colours with the next marker.
            tab10 = mpl.colormaps["tab10"]
            colors = [tab10(i % 10) for i in range(len(classes))]
            markers = [_MARKERS[(i // 10) % len(_MARKERS)] for i in range(len(classes))]
        else:
            cmap = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
            if len(classes) <= cmap.N < 256:
                # A qualitative map ("tab10"): its first colours, one per class.
                colors = [cmap(i) for i in range(len(classes))]
            else:
                colors = [cmap(t) for t in np.linspace(0, 1, len(classes))]
        scatter_kwargs = {"s": 12, "alpha": 0.8, **(scatter_kwargs or {})}
        self.scatters_ = [
            ax.scatter(
                *points[y == label].T,
                **{"color": color, "marker": marker, "label": str(label)},
                **{k: v for k, v in scatter_kwargs.items() if k != "marker"},
            )
            for label, color, marker in zip(classes, colors, markers, strict=True)
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
        {transformer}

        X : array-like of shape (n_samples, n_features)
            Rows to embed.

        {y}

        {name_from_estimator}

        {plot_parameters}

        {returns}

        {examples}
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
        estimator = embedding_part(estimator, f"{cls.__name__}.from_estimator")
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

        {y}

        {name}

        {plot_parameters}

        {returns}

        {examples}
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


_fill_docstrings(EmbeddingDisplay, **_FROM_DOC_PARTS)
