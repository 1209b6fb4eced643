"""Corrupted views of a row: similar pairs that need no labels.

Two views of the same row form a similar pair, views of different rows a
dissimilar pair. A view is the row with a random subset of its features
replaced by the values those features take in other, randomly chosen rows
(SCARF, Bahri et al., 2022): each corrupted value still comes from the
feature's own distribution, so a view is a plausible row, and the network
must rely on the features left intact to recognise the pair.

:class:`~sklearn_contrastive.ContrastiveEmbedder` uses these views for the
rows of ``y`` marked unlabelled (semi-supervised) and for every row when
fitted without labels.

References
----------
Bahri, Jiang, Tay & Metzler. "SCARF: Self-Supervised Contrastive Learning
using Random Feature Corruption." ICLR 2022.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["scarf_corrupt"]


def scarf_corrupt(X, corruption_rate=0.6, *, pool=None, random_state=None):
    """A corrupted view of each row of ``X``, as in SCARF.

    In every row, ``round(corruption_rate * n_features)`` features chosen at
    random are replaced by the value of the same feature in a random row of
    ``pool``; the other features are kept.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows to corrupt. Not modified.
    corruption_rate : float, default=0.6
        Fraction of each row's features to replace, in ``[0, 1)``. SCARF's
        default is 0.6.
    pool : ndarray of shape (n_pool, n_features), default=None
        Rows the replacement values are drawn from (the training set, so
        that each feature keeps its marginal distribution). ``None`` uses
        ``X`` itself. An object with a true ``reads_on_demand`` attribute
        (the estimator's rows of an out-of-core array) is not converted: only
        the values drawn are read, as ``pool[rows, columns]``.
    random_state : int, RandomState instance, numpy.random.Generator or None
        Source of the random choices.

    Returns
    -------
    views : ndarray of shape (n_samples, n_features), dtype of ``X``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contrastive.views import scarf_corrupt
    >>> X = np.arange(12.0).reshape(3, 4)
    >>> view = scarf_corrupt(X, corruption_rate=0.5, random_state=0)
    >>> int((view != X).sum(axis=1).max()) <= 2  # two of four features per row
    True
    """
    X = np.asarray(X)
    if pool is None:
        pool = X
    elif not getattr(pool, "reads_on_demand", False):
        pool = np.asarray(pool)
    if not 0 <= corruption_rate < 1:
        raise ValueError(
            f"corruption_rate must be in [0, 1); got {corruption_rate!r}. It is "
            "the fraction of each row's features replaced in a view (SCARF "
            "uses 0.6)."
        )
    if pool.ndim != 2 or pool.shape[1] != X.shape[1] or len(pool) == 0:
        raise ValueError(
            f"pool must be a non-empty 2-D array with the {X.shape[1]} features "
            f"of X; got shape {pool.shape}."
        )
    n_samples, n_features = X.shape
    n_corrupted = round(corruption_rate * n_features)
    if n_corrupted == 0 or n_samples == 0:
        return X.copy()
    rng = (
        random_state
        if isinstance(random_state, np.random.Generator)
        else np.random.default_rng(check_random_state(random_state).randint(2**31))
    )
    # (n_samples, n_features): a random order of the features in each row;
    # the first n_corrupted of it are replaced.
    order = rng.random((n_samples, n_features)).argsort(axis=1)
    columns = order[:, :n_corrupted]
    donors = rng.integers(len(pool), size=(n_samples, n_corrupted))
    views = X.copy()
    rows = np.arange(n_samples)[:, None]
    views[rows, columns] = pool[donors, columns]
    return views
