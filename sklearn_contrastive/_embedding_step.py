"""The part of a fitted estimator that embeds: what the displays and scorers call.

A leaf module (it imports nothing of ours, so that ``metrics.py`` and the
plots can both use it): a ``ContrastiveEmbedder`` is recognised by what a
fitted one has, ``transform`` and ``history_``, not by its class.
"""

from __future__ import annotations

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted


def _is_fitted_embedder(step) -> bool:
    return hasattr(step, "transform") and hasattr(step, "history_")


def embedding_part(estimator, caller: str):
    """The estimator whose ``transform`` embeds ``X`` for ``caller``.

    ``estimator`` itself, unless it is a :class:`~sklearn.pipeline.Pipeline`
    whose last step cannot transform (a classifier after the embedder): then
    the pipeline up to and including its last fitted ``ContrastiveEmbedder``,
    ``estimator[: i + 1]``, so that the embedding the classifier is fitted on
    is the one drawn or scored. Steps of nested pipelines are not searched.

    Parameters
    ----------
    estimator : estimator instance
        A fitted transformer, or a fitted pipeline.

    caller : str
        Name of the display or scorer, for error messages.

    Returns
    -------
    embedder : estimator instance
        ``estimator`` or a sub-pipeline of it, with a ``transform``.
    """
    if not isinstance(estimator, Pipeline) or hasattr(estimator, "transform"):
        return estimator
    check_is_fitted(estimator)
    for i in range(len(estimator) - 1, -1, -1):
        if _is_fitted_embedder(estimator[i]):
            return estimator[: i + 1]
    steps = [name for name, _ in estimator.steps]
    raise TypeError(
        f"{caller} needs a fitted ContrastiveEmbedder to embed X; got a Pipeline "
        f"whose last step ({type(estimator[-1]).__name__}) has no transform and "
        f"whose top-level steps {steps} include none. Pass a pipeline with a "
        "ContrastiveEmbedder among its top-level steps, or the part of this one "
        "that transforms (e.g. pipe[:-1])."
    )
