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

from ._embedding import EmbeddingDisplay
from ._pair_distances import PairDistanceDisplay
from ._training_curve import TrainingCurveDisplay

__all__ = ["EmbeddingDisplay", "PairDistanceDisplay", "TrainingCurveDisplay"]
