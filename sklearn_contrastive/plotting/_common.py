"""Helpers shared by the displays: matplotlib, axes, estimators, embeddings, docs.

matplotlib is imported inside the functions that draw, never at import.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_array, check_consistent_length


def _check_matplotlib(caller: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib: pip install 'sklearn-contrastive[plot]'"
        ) from exc


def _new_axes(ax, layout=None):
    """``ax``, or the axes of a new figure (with ``layout``) when ``ax`` is None."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(layout=layout)
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


#: Docstring text that several displays' methods share, by marker: a line
#: ``{key}`` in a docstring filled by ``_fill_docstrings`` stands for it.
_DOC_PARTS = {
    "transformer": """\
estimator : estimator instance
    A fitted transformer, e.g. a
    :class:`~sklearn_contrastive.ContrastiveEmbedder`, or a fitted
    :class:`~sklearn.pipeline.Pipeline` that ends with one; ``X`` is
    embedded with its ``transform``. A pipeline that ends with a
    classifier embeds ``X`` with its steps up to and including its last
    ``ContrastiveEmbedder``.""",
    "y": """\
y : array-like of shape (n_samples,)
    Their class labels.""",
    "name": """\
name : str, default=None
    Title of the axes; ``None`` sets none.""",
    "plot_name": """\
name : str, default=None
    Title of the axes; ``None`` uses the display's ``name``.""",
    "name_from_estimator": """\
name : str, default=None
    Title of the axes; ``None`` uses the class name of the estimator
    (of the last step of a pipeline, or of the embedder before a
    classifier).""",
    "ax": """\
ax : matplotlib Axes, default=None
    Axes to draw on; ``None`` creates a figure with one axes.""",
    "examples": """\
Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")  # draw off-screen; not needed in a notebook
>>> import matplotlib.pyplot as plt""",
}

_MARKER = re.compile(r"^( *)\{(\w+)\}$", re.MULTILINE)


def _fill_docstrings(display: type, **parts: str) -> None:
    """Replace each line ``{key}`` in the docstrings of ``display``'s methods
    by the text of ``key`` in ``parts`` or ``_DOC_PARTS``, indented as that line.

    ``{returns}`` stands for the Returns section of a ``from_*`` method. The
    text is indented as its marker whether or not Python strips docstrings'
    indentation (3.13 does), and only whole-line markers are read, so other
    braces in a docstring stay as they are.
    """
    returns = f"Returns\n-------\ndisplay : {display.__name__}"
    parts = {**_DOC_PARTS, "returns": returns, **parts}
    for attribute in vars(display).values():
        function = getattr(attribute, "__func__", attribute)  # under a classmethod
        if callable(function) and function.__doc__:  # None under python -OO
            function.__doc__ = _MARKER.sub(
                lambda marker: textwrap.indent(parts[marker[2]], marker[1]),
                function.__doc__,
            )
