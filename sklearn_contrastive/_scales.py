"""The column scales of the training rows: a warning when they differ widely.

Euclidean distances, which the contrastive loss and every nearest-neighbour
use downstream read, weigh each column by its scale, and the default network
starts from them: columns in grams next to columns in millimetres, or loud
noise columns, dominate until the network has learnt them away, which it
often does not. ``fit`` warns, naming the columns and the fix, rather than
scaling the data itself: pixel intensities and other data whose scales carry
meaning are better left as they are.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._sources import RowSource

#: Largest column standard deviation, over the median one, above which
#: ``fit`` warns. Measured (``python benchmarks/column_scales.py``; 5-NN
#: accuracy after the default embedding, seed 0): the hard synthetic set
#: unscaled, ratio 10.1, 0.264 against 0.633 after a StandardScaler; digits
#: with every other column x1000, ratio 1,018, 0.948 against 0.987; digits'
#: raw pixels, ratio 1.5, 0.983 against 0.989 (no warning).
MAX_SCALE_RATIO = 5.0

#: Rows the standard deviations are computed on, about (a strided sample
#: beyond twice as many): their float64 copy stays small however large X is.
_SAMPLE_ROWS = 10_000


def column_scale_ratio(X: np.ndarray | RowSource) -> tuple[float, int]:
    """``(ratio, column)``: the largest column standard deviation over the
    median one of the non-constant columns (1.0 without two of them), and
    the column of the largest."""
    step = max(1, len(X) // _SAMPLE_ROWS)
    source = X if isinstance(X, RowSource) else RowSource(X)
    # Read in chunks: a float64 copy of 10,000 wide rows (and np.std's of
    # its deviations) would not be small: 8 GB at 50,000 columns.
    scales = source.subset(np.arange(0, len(X), step)).column_std()
    varying = np.flatnonzero(scales > 0)
    if len(varying) < 2:
        return 1.0, 0
    median = float(np.median(scales[varying]))
    widest = int(varying[np.argmax(scales[varying])])
    return float(scales[widest] / median), widest


def warn_if_unscaled(X: np.ndarray | RowSource) -> None:
    """Warn (``UserWarning``) when :func:`column_scale_ratio` exceeds
    :data:`MAX_SCALE_RATIO`."""
    ratio, column = column_scale_ratio(X)
    if ratio > MAX_SCALE_RATIO:
        warnings.warn(
            f"The columns of X differ widely in scale: column {column}'s "
            f"standard deviation is {ratio:.3g} times the median column's. "
            "Distances, and so the embedding, are dominated by the widest "
            "columns; put a StandardScaler ahead of ContrastiveEmbedder "
            "(make_pipeline(StandardScaler(), ContrastiveEmbedder())) unless "
            "the scales carry meaning, and silence this warning then "
            "(warnings.filterwarnings('ignore', message='The columns of X')).",
            UserWarning,
            stacklevel=4,
        )
