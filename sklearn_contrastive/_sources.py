"""Rows read on demand from arrays larger than memory: memmaps, HDF5, zarr, dask.

An *out-of-core source* is a 2-D array that ``fit`` and ``transform`` read a
few rows at a time instead of converting it whole (scikit-learn's
``validate_data`` would ``np.asarray`` it, and a read-only memmap would then
be copied again to make a writable tensor): a :class:`numpy.memmap` (or an
array view of one), an ``h5py.Dataset``, a ``zarr.Array``, a dask array, or
any other object with a 2-D ``shape``, a ``dtype`` and row slicing
(``X[i:j]``), that is not an in-memory array, a DataFrame, a sparse matrix or
a list.

:class:`RowSource` wraps one; :func:`check_source` validates it in chunks
(dimensions, dtype, finite values, ``n_features_in_``) in place of
``validate_data``. The loaders (``_data.py``), early stopping's held-out rows
(``_validation.py``) and ``transform`` then read rows through it: the rows
of one batch at a time, as a new float32 array. In-memory input never
comes here; it goes through ``validate_data`` and tensor indexing as before.

How rows are gathered, by kind of array (``RowSource.__getitem__``):

* memmap (or any mmap-backed ndarray): NumPy fancy indexing, which reads the
  rows' pages and copies only those rows;
* ``h5py.Dataset``: its fancy indexing needs increasing, distinct indices,
  so the rows are sorted and made unique, read in one call, then put back in
  the order asked for;
* ``zarr.Array``: the same, through ``get_orthogonal_selection``;
* ``dask.array.Array``: the same sorted, distinct rows as one fancy index,
  computed once (dask's own scheduler reads only the chunks they fall in);
  a slice per run would run the scheduler once per run, 17-80x slower;
* anything else: sorted, distinct rows, one slice per run of consecutive
  rows (the protocol asks for row slices only).
"""

from __future__ import annotations

import mmap
import warnings

import numpy as np
import scipy.sparse
import torch
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_y,
    check_consistent_length,
    validate_data,
)

from ._runtime import as_tensor
from ._sparse_frames import is_sparse_frame, sparse_frame_matrix
from .networks import embed, embed_batches

__all__ = [
    "RowSource",
    "SourceDataset",
    "as_rows",
    "check_fit_input",
    "check_transform_input",
    "embed_rows",
    "is_out_of_core",
    "read_all",
    "select_rows",
    "take_rows",
    "training_data",
]

#: Largest fraction of stored values at which ``transform`` hands a sparse
#: source's rows to a module as sparse tensors (``embed_rows``). Measured
#: (``benchmarks/bench_sparse.py``, default MLP, 2 cores): CSR batches
#: 4.2-12.8x the rows/s of densified ones at 0.2-0.3 % (TF-IDF of 18,951 and
#: 50,000 terms), 1.0-2.7x at 5 %, 1.9x at 10 %, 1.26x at 20 % (0.92x in
#: another run), 0.69x at 50 %.
SPARSE_BATCH_DENSITY = 0.1

#: Bytes of float32 rows read at once when a whole source is scanned
#: (validation, the column-scale sample) or gathered element by element
#: (SCARF views): bounds the memory of those passes whatever the source's
#: size (a float64 copy of a chunk for the column scales is twice this).
CHUNK_BYTES = 8 * 2**20


def is_out_of_core(X) -> bool:
    """Whether ``fit`` and ``transform`` read ``X`` as a :class:`RowSource`.

    True for a memmap (or an ndarray whose memory maps a file), a scipy
    sparse matrix or array (read as CSR, each batch densified), and any
    object with ``shape``, ``dtype`` and ``__getitem__`` that is not an
    in-memory array, a torch tensor, a pandas object or a list.
    """
    if isinstance(X, np.ndarray):
        return _maps_a_file(X)
    if scipy.sparse.issparse(X):
        return True  # rows densified a batch at a time
    if (
        isinstance(X, list | tuple | torch.Tensor | RowSource)
        or type(X).__module__.split(".")[0] == "pandas"
    ):
        return False
    return all(hasattr(X, name) for name in ("shape", "dtype", "__getitem__"))


def _maps_a_file(array: np.ndarray) -> bool:
    """Whether ``array``'s memory is a memory-mapped file (a memmap, or a
    view of one: ``np.asarray(memmap)``, a slice)."""
    base = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return isinstance(base, mmap.mmap)


def _kind(array) -> str:
    """How :class:`RowSource` gathers rows of ``array`` (see the module notes)."""
    if isinstance(array, np.ndarray):
        return "ndarray"
    if scipy.sparse.issparse(array):
        return "sparse"
    package = type(array).__module__.split(".")[0]
    if package == "h5py":
        return "h5py"
    if package == "zarr" and hasattr(array, "get_orthogonal_selection"):
        return "zarr"
    if package == "dask" and hasattr(array, "compute"):
        return "dask"
    return "slices"


def _float32(values) -> np.ndarray:
    """``values`` as a new, writable, C-contiguous float32 array (a copy only
    when ``values`` is not one already: a memmap slice is always copied)."""
    return np.require(values, dtype=np.float32, requirements=["C", "W", "O"])


class RowSource:
    """The rows of an out-of-core array, or of some of them, read on demand.

    Indexing reads: ``source[rows]`` (an array of positions, or a slice)
    returns those rows as a new float32 array, and ``source[rows, columns]``
    (two integer arrays of one shape) the single values, as SCARF's views
    draw them. :meth:`subset` narrows the rows without reading anything.

    Parameters
    ----------
    array : array-like of shape (n_rows, n_features)
        An object :func:`is_out_of_core` accepts.
    rows : ndarray of int of shape (n_samples,), default=None
        The rows of ``array`` this source covers, in order; None for all.
    """

    #: ``views.scarf_corrupt`` reads such a pool in place, value by value.
    reads_on_demand = True
    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, array, rows: np.ndarray | None = None) -> None:
        if scipy.sparse.issparse(array) and array.format != "csr":
            array = array.tocsr()  # rows are read fast from CSR only
        self.array = array
        self.rows = rows
        self._kind = _kind(array)
        n_rows = array.shape[0] if rows is None else len(rows)
        self.shape = (int(n_rows), int(array.shape[1]))

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def densifies(self) -> bool:
        """Whether reading rows densifies them (a sparse matrix)."""
        return self._kind == "sparse"

    @property
    def sparse_batches(self) -> bool:
        """Whether ``transform`` reads this source as sparse tensors: a
        sparse matrix with at most :data:`SPARSE_BATCH_DENSITY` of its
        values stored."""
        n_rows, n_columns = self.array.shape
        return self.densifies and self.array.nnz <= (
            SPARSE_BATCH_DENSITY * n_rows * n_columns
        )

    def __repr__(self) -> str:
        covered = "all rows" if self.rows is None else f"{len(self)} rows"
        return f"RowSource({type(self.array).__name__}, {covered})"

    def subset(self, positions) -> RowSource:
        """The rows at ``positions`` of this source, nothing read."""
        positions = np.asarray(positions, dtype=np.int64)
        return RowSource(
            self.array, positions if self.rows is None else self.rows[positions]
        )

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, tuple):
            return self._elements(*index)
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1 and self.rows is None and self._kind != "sparse":
                return _float32(self.array[start:stop])
            index = np.arange(start, stop, step)
        positions = np.asarray(index, dtype=np.int64)
        return self._read(positions if self.rows is None else self.rows[positions])

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of the array, in that order, as float32."""
        if self._kind == "ndarray":
            return _float32(np.asarray(self.array)[rows])
        if self._kind == "sparse":
            # float32 before densifying: no float64 copy of the batch.
            return self.array[rows].astype(np.float32).toarray()
        # h5py asks for increasing, distinct indices; the others read faster so.
        distinct, inverse = np.unique(rows, return_inverse=True)
        if self._kind == "h5py":
            values = self.array[distinct]
        elif self._kind == "zarr":
            values = self.array.get_orthogonal_selection((distinct, slice(None)))
        elif self._kind == "dask":
            values = self.array[distinct].compute()
        else:
            values = _read_runs(self.array, distinct)
        values = _float32(values)
        if len(distinct) == len(rows) and np.array_equal(distinct, rows):
            return values
        return values[inverse.ravel()]

    def sparse_rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of a sparse source as a float32 torch CSR
        tensor, nothing densified (for modules with ``accepts_sparse``)."""
        rows = slice(start, stop) if self.rows is None else self.rows[start:stop]
        block = self.array[rows].astype(np.float32)  # a copy, float32
        # torch's invariants: sorted, distinct columns in each row.
        block.sum_duplicates()
        with warnings.catch_warnings():
            # Said once a process: sparse CSR tensors are "in beta" in torch.
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            return torch.sparse_csr_tensor(
                torch.from_numpy(block.indptr.astype(np.int64)),
                torch.from_numpy(block.indices.astype(np.int64)),
                torch.from_numpy(block.data),
                size=block.shape,
                check_invariants=False,  # canonical by construction
            )

    def _elements(self, positions, columns) -> np.ndarray:
        """Values ``[positions[k], columns[k]]`` (arrays of one shape) as
        float32, the rows read a chunk at a time."""
        positions = np.asarray(positions, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        rows = positions if self.rows is None else self.rows[positions]
        if self._kind == "ndarray":
            return np.asarray(self.array)[rows, columns].astype(np.float32)
        if self._kind == "sparse":
            values = np.asarray(self.array[rows.ravel(), columns.ravel()])
            return values.astype(np.float32).reshape(rows.shape)
        distinct, inverse = np.unique(rows.ravel(), return_inverse=True)
        inverse, flat_columns = inverse.ravel(), columns.ravel()
        values = np.empty(rows.size, dtype=np.float32)
        step = self.rows_per_chunk()
        for start in range(0, len(distinct), step):
            block = self._read(distinct[start : start + step])
            here = (inverse >= start) & (inverse < start + step)
            values[here] = block[inverse[here] - start, flat_columns[here]]
        return values.reshape(rows.shape)

    def rows_per_chunk(self) -> int:
        """Rows of about :data:`CHUNK_BYTES` of float32, a multiple of the
        array's own row chunks (HDF5, zarr, dask) when it has larger ones."""
        step = max(1, CHUNK_BYTES // (4 * max(1, self.shape[1])))
        # dask's ``chunks`` lists every block's size; ``chunksize`` the largest.
        name = "chunksize" if self._kind == "dask" else "chunks"
        chunks = getattr(self.array, name, None)
        if isinstance(chunks, tuple) and chunks and 0 < chunks[0] <= step:
            step -= step % chunks[0]
        return step

    def column_std(self) -> np.ndarray:
        """Each column's standard deviation (float64, as ``np.std``), the
        rows read a chunk at a time and merged (Chan et al.'s pairwise
        update of the mean and the sum of squared deviations); a sparse
        matrix's from its stored values, nothing densified."""
        if self.densifies:
            return self._sparse_column_std()
        count, mean, squares = 0, 0.0, 0.0
        # A quarter chunk: its float64 copy and squares stay at CHUNK_BYTES.
        for _, rows in self.chunks(max(1, self.rows_per_chunk() // 4)):
            rows = rows.astype(np.float64)
            n, chunk_mean = len(rows), rows.mean(axis=0)
            delta = chunk_mean - mean
            squares = (
                squares
                + ((rows - chunk_mean) ** 2).sum(axis=0)
                + delta**2 * count * n / (count + n)
            )
            mean = mean + delta * n / (count + n)
            count += n
        return np.sqrt(squares / count)

    def _sparse_column_std(self) -> np.ndarray:
        """:meth:`column_std` of a sparse source: per column, the squared
        deviations of its stored values plus ``(n - stored) * mean^2`` for
        its zeros (two passes, as ``np.std``)."""
        rows = slice(None) if self.rows is None else self.rows
        # float32 first, as the rows are read, then float64 for the sums.
        block = self.array[rows].astype(np.float32).astype(np.float64)
        block.sum_duplicates()
        n, n_columns = block.shape
        mean = np.asarray(block.sum(axis=0)).ravel() / n
        deviations = (block.data - mean[block.indices]) ** 2
        squares = np.bincount(block.indices, deviations, minlength=n_columns)
        zeros = n - np.bincount(block.indices, minlength=n_columns)
        return np.sqrt((squares + zeros * mean**2) / n)

    def chunks(self, n_rows: int | None = None):
        """``(start, rows)`` for consecutive chunks of ``n_rows`` rows
        (default :meth:`rows_per_chunk`), each read as float32."""
        step = n_rows or self.rows_per_chunk()
        for start in range(0, len(self), step):
            yield start, self[start : start + step]


def _read_runs(array, rows: np.ndarray) -> np.ndarray:
    """Increasing ``rows`` of ``array``, one slice per run of consecutive rows."""
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts, ends = np.r_[0, breaks], np.r_[breaks, len(rows)]
    parts = [
        np.asarray(array[rows[s] : rows[e - 1] + 1])
        for s, e in zip(starts, ends, strict=True)
    ]
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def check_source(X, estimator, *, reset: bool, frame=None) -> RowSource:
    """``validate_data``'s checks on an out-of-core ``X``, read in chunks.

    2-D, a numeric dtype, at least one row and one feature, the features of
    ``fit`` when ``reset`` is False (scikit-learn's own check and message),
    and every value finite once converted to float32. Returns the source.
    ``frame``: the DataFrame ``X`` was read from, whose column names are
    ``feature_names_in_``.
    """
    name = type(estimator).__name__
    shape = tuple(X.shape)
    what = f"a {type(X).__name__} of shape {shape}"
    if len(shape) != 2:
        raise ValueError(
            f"Expected 2D array, got {len(shape)}D array instead: X is {what}. "
            f"{name} reads an array-like X of shape (n_samples, n_features) "
            "row by row; reshape it (a single feature is X[:, None] in memory, "
            "or store the file with shape (n_samples, 1))."
        )
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biuf":
        raise ValueError(
            f"X has dtype {dtype} ({what}); {name} converts its rows to float32, "
            "which needs a numeric dtype (bool, integer or float). Convert the "
            "data to numbers when you write the file."
        )
    for size, axis in ((shape[0], "sample"), (shape[1], "feature")):
        if size < 1:
            raise ValueError(
                f"Found array with 0 {axis}(s) (shape={shape}) while a minimum "
                f"of 1 is required by {name}."
            )
    source = RowSource(X)
    _check_feature_names(estimator, X if frame is None else frame, reset=reset)
    _check_n_features(estimator, source, reset=reset)
    if source.densifies and source.array.has_canonical_format:
        # Only the stored values can be non-finite: O(nnz), nothing densified
        # (in row-major order, so the first bad one is the dense scan's).
        values = source.array.data.astype(np.float32)
        if not np.isfinite(values.sum()):
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad):
                k = int(bad[0])
                row = int(np.searchsorted(source.array.indptr, k, side="right")) - 1
                column = int(source.array.indices[k])
                _refuse_value(values[k], row, column, shape, name)
        return source
    for start, rows in source.chunks():
        # A finite sum is the fast path; overflow to inf falls through.
        if not np.isfinite(rows.sum()):
            _refuse_non_finite(rows, start, shape, name)
    return source


def _refuse_non_finite(rows: np.ndarray, start: int, shape: tuple, name: str):
    """Raise for the first NaN or inf of a chunk starting at row ``start``."""
    bad = ~np.isfinite(rows)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        _refuse_value(rows[row, column], start + row, column, shape, name)


def _refuse_value(value, row: int, column: int, shape: tuple, name: str):
    """Raise for the non-finite ``value`` at ``(row, column)`` of ``X``."""
    if np.isnan(value):
        problem, fix = "NaN", "impute the missing values (SimpleImputer) first"
    else:
        problem = "infinity or a value too large for dtype('float32')"
        fix = "clip or rescale the values to float32's range first"
    raise ValueError(
        f"Input X contains {problem}: row {row}, column {column} of "
        f"an array of shape {shape}, read in chunks. {name} needs finite "
        f"values; {fix}."
    )


def check_fit_input(estimator, X, y, *, reset: bool):
    """``(X, y)`` for ``fit``: ``validate_data`` for in-memory ``X``, the
    chunked :func:`check_source` (and ``y`` checked as scikit-learn does)
    for an out-of-core one (a DataFrame with sparse columns read as a sparse
    matrix); ``y`` stays None when None."""
    frame = X if is_sparse_frame(X) else None
    if frame is not None:
        X = sparse_frame_matrix(frame)
    if not is_out_of_core(X):
        if y is None:
            return validate_data(estimator, X, dtype=np.float32, reset=reset), None
        return validate_data(estimator, X, y, dtype=np.float32, reset=reset)
    source = check_source(X, estimator, reset=reset, frame=frame)
    if y is not None:
        y = _check_y(y, estimator=estimator)
        check_consistent_length(source, y)
    return source, y


def check_transform_input(estimator, X):
    """``X`` for ``transform``: validated in memory, or a checked source
    (:func:`check_fit_input`'s checks, no ``y``, features kept)."""
    return check_fit_input(estimator, X, None, reset=False)[0]


def as_rows(X) -> torch.Tensor | RowSource:
    """Validated ``X`` as the loaders read it: a tensor sharing the memory of
    an in-memory array (copied only when read-only), or the source itself."""
    return X if isinstance(X, RowSource | torch.Tensor) else as_tensor(X)


def take_rows(X: torch.Tensor | RowSource, rows: np.ndarray) -> torch.Tensor:
    """Rows ``rows`` of ``X``: tensor indexing, or read from the source."""
    if isinstance(X, RowSource):
        return torch.from_numpy(X[rows])
    return X[torch.from_numpy(rows)]


def select_rows(X, rows: np.ndarray):
    """Rows ``rows`` of validated ``X``: a copy of an in-memory array, the
    row numbers only for a source (early stopping's split copies nothing)."""
    if isinstance(X, RowSource):
        return X.subset(rows)
    return X[rows]


def read_all(X) -> np.ndarray:
    """An in-memory ``X`` itself, or every row of a (small) source, read."""
    return X[:] if isinstance(X, RowSource) else X


class SourceDataset(torch.utils.data.Dataset):
    """The dataset skorch trains on when ``X`` is a :class:`RowSource`.

    Handed to ``NeuralNet.partial_fit`` in place of ``(X, y)`` tensors; our
    loaders read ``source`` a batch at a time (``_data.unwrap_dataset``).
    ``dataset[i]`` reads one row, for skorch's own ``DataLoader``.

    Parameters
    ----------
    X : RowSource
    y : ndarray or torch.Tensor of shape (n_samples,) or None
    """

    def __init__(self, X: RowSource, y=None) -> None:
        self.X = X
        self.y = None if y is None else torch.as_tensor(y)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):
        row = take_rows(self.X, np.array([i]))[0]
        return row, (torch.zeros(()) if self.y is None else self.y[i])


def training_data(X, y) -> tuple:
    """What ``NeuralNet.partial_fit`` receives: ``(X, y)`` tensors for
    in-memory ``X``, or ``(SourceDataset, None)``."""
    if isinstance(X, RowSource):
        return SourceDataset(X, y), None
    return as_rows(X), None if y is None else as_rows(y)


def embed_rows(
    module: torch.nn.Module,
    X: torch.Tensor | RowSource,
    device: torch.device | str = "cpu",
    batch_size: int = 4096,
    *,
    sparse_batches: bool = True,
) -> torch.Tensor:
    """:func:`~sklearn_contrastive.networks.embed` over a tensor, or over a
    source read ``batch_size`` rows at a time (the same batches, so the same
    embeddings as the rows in memory).

    A sparse source's rows go to a module with ``accepts_sparse`` (the
    default MLP) as torch sparse CSR batches when ``sparse_batches``, the
    device is the CPU and the matrix is sparse enough
    (:attr:`RowSource.sparse_batches`): 4-13x the
    rows/s of densified ones on TF-IDF rows, the same embeddings to float32
    rounding (``benchmarks/bench_sparse.py``). Otherwise, and for the
    embeddings a fit computes (``sparse_batches=False``, so that a sparse
    fit stays the densified one bit for bit), they are densified a few
    chunks at a time.
    """
    if not isinstance(X, RowSource):
        return embed(module, X, device, batch_size)
    if (
        sparse_batches
        and X.sparse_batches
        and getattr(module, "accepts_sparse", False)
        # Measured on CPUs only; a GPU multiplies the densified batch.
        and torch.device(device).type == "cpu"
    ):
        batches = (
            (start, X.sparse_rows(start, start + batch_size))
            for start in range(0, len(X), batch_size)
        )
    else:
        if X.densifies:
            # Sparse rows are wide: densify a few chunks' worth at a time.
            batch_size = min(batch_size, 4 * X.rows_per_chunk())
        batches = (
            (start, torch.from_numpy(rows)) for start, rows in X.chunks(batch_size)
        )
    return embed_batches(module, batches, len(X), device)
