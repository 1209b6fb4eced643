"""DataFrames with sparse columns (``pd.SparseDtype``) as a sparse matrix.

scikit-learn's ``check_array`` keeps a DataFrame sparse only when every
column is sparse with a zero fill value (``DataFrame.sparse.to_coo``), and
densifies a frame that mixes sparse and dense columns, with a warning.
``fit`` and ``transform`` read any frame with a sparse column here instead,
one column at a time, into a CSC matrix (then read as CSR, a batch at a
time, as any sparse ``X``): a sparse column gives its stored values, a dense
one (``pd.get_dummies(..., sparse=True)`` leaves the numeric columns dense)
and a sparse one whose fill value is not zero give their nonzero values. The
frame is never densified whole; the matrix holds the frame's values exactly.
Its column names become ``feature_names_in_`` as for a dense frame.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

__all__ = ["is_sparse_frame", "sparse_frame_matrix"]


def is_sparse_frame(X) -> bool:
    """Whether ``X`` is a pandas DataFrame with at least one sparse column."""
    if type(X).__module__.split(".")[0] != "pandas" or getattr(X, "ndim", 0) != 2:
        return False
    import pandas as pd  # imported already: X is a pandas object

    return any(isinstance(dtype, pd.SparseDtype) for dtype in X.dtypes)


def sparse_frame_matrix(frame) -> scipy.sparse.csc_matrix:
    """The values of ``frame`` as a CSC matrix, read column by column.

    Raises
    ------
    ValueError
        For a column that is not numeric (bool, integer or float), named.
    """
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    data, indices, counts = [], [], []
    for position, (name, column) in enumerate(frame.items()):
        values = column.array
        if isinstance(column.dtype, pd.SparseDtype) and _is_zero(values.fill_value):
            rows, stored = values.sp_index.indices, values.sp_values
        elif is_numeric_dtype(column.dtype):
            # One column densified: a dense column (a view), or a sparse one
            # filled with something else than 0 (NaN is refused later).
            dense = (
                column.to_numpy()
                if isinstance(column.dtype, np.dtype)
                # Nullable and sparse dtypes: missing values become NaN.
                else column.to_numpy(dtype=np.float64, na_value=np.nan)
            )
            rows = np.flatnonzero(dense)
            stored = dense[rows]
        else:
            raise ValueError(
                f"Column {name!r} (position {position}) of the DataFrame X has "
                f"dtype {column.dtype}; ContrastiveEmbedder converts X to "
                "float32, which needs numeric columns (bool, integer or float). "
                "Encode it first (OneHotEncoder, pd.get_dummies(..., sparse=True))."
            )
        data.append(stored)
        indices.append(rows)
        counts.append(len(rows))
    values = np.concatenate(data)  # in the parts' common dtype
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return scipy.sparse.csc_matrix(
        (values, np.concatenate(indices), indptr), shape=frame.shape
    )


def _is_zero(fill_value) -> bool:
    # pd.NA == 0 is NA, which is not a truth value: test for missing first.
    import pandas as pd

    return not pd.isna(fill_value) and fill_value == 0
