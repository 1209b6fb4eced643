"""Helpers shared by the displays: matplotlib, axes, estimators, embeddings.

matplotlib is imported inside the functions that draw, never at import.
"""

from __future__ import annotations

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
