"""Out-of-core X: fit and transform on memmaps, HDF5, zarr, dask and array-likes.

An out-of-core ``X`` is read a batch at a time (``_sources.RowSource``).
These tests check that it trains the same network as the same rows in
memory, bit for bit (the batches hold the same float32 values in the same
order, so every operation is the same), that nothing reads the whole array
at once, and that validation in chunks refuses what ``validate_data`` does.
The memory figure of a 4 GB fit is ``benchmarks/bench_out_of_core.py``'s.
"""

import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from sklearn.datasets import make_blobs

import sklearn_contrastive
from sklearn_contrastive import ContrastiveEmbedder, _sources
from sklearn_contrastive._sources import RowSource, is_out_of_core

#: Rows of float32 per validation chunk in these tests (10 features): 12
#: chunks over ``blobs``, so a late chunk is checked on its own.
CHUNK_ROWS = 50


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(_sources, "CHUNK_BYTES", CHUNK_ROWS * 10 * 4)


@pytest.fixture
def blobs():
    """600 rows, 10 features, 4 classes, float32."""
    X, y = make_blobs(600, n_features=10, centers=4, random_state=0)
    return X.astype(np.float32), y


class RowSlices:
    """The array-like protocol at its minimum: ``shape``, ``dtype`` and row
    slices. Records the most rows read at once, and refuses to be converted
    whole (``np.asarray``) or indexed any other way."""

    def __init__(self, X):
        self._X = X
        self.shape = X.shape
        self.dtype = X.dtype
        self.largest_read = 0

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError(f"RowSlices reads row slices only; got {index!r}")
        rows = self._X[index]
        self.largest_read = max(self.largest_read, len(rows))
        return rows.copy()

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole array-like was converted")


def make_source(kind, X, directory: Path):
    """``X`` stored as an out-of-core array of ``kind``."""
    if kind.startswith("memmap"):
        mode = kind.split("-")[1]
        dtype = np.float64 if kind.endswith("float64") else X.dtype
        path = directory / "X.npy"
        np.save(path, X.astype(dtype))
        return np.load(path, mmap_mode=mode.replace("rw", "r+"))
    if kind == "h5py":
        h5py = pytest.importorskip("h5py")
        store = h5py.File(directory / "X.h5", "w")
        return store.create_dataset("X", data=X, chunks=(64, X.shape[1]))
    if kind == "zarr":
        zarr = pytest.importorskip("zarr")
        array = zarr.open_array(
            str(directory / "X.zarr"),
            mode="w",
            shape=X.shape,
            chunks=(64, X.shape[1]),
            dtype=X.dtype,
        )
        array[:] = X
        return array
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        return da.from_array(X, chunks=(64, X.shape[1]))
    return RowSlices(X)


KINDS = [
    "memmap-r",
    "memmap-rw",
    "memmap-r-float64",
    "h5py",
    "zarr",
    "dask",
    "row-slices",
]

#: One fit per training signal and route through the code.
SETTINGS = {
    "labels": {},
    "early_stopping": {"early_stopping": True, "validation_fraction": 0.2},
    "no_labels": {},
    "partial_labels": {"unlabeled_label": -1},
    "pairs": {},
    "pairs_early_stopping": {"early_stopping": True, "validation_fraction": 0.2},
}


def _fit_arguments(setting, y):
    if setting == "no_labels":
        return {}
    if setting == "partial_labels":
        y = y.copy()
        y[::3] = -1
        return {"y": y}
    if setting.startswith("pairs"):
        rng = np.random.default_rng(0)
        pairs = rng.integers(len(y), size=(400, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        return {"pairs": pairs, "similar": y[pairs[:, 0]] == y[pairs[:, 1]]}
    return {"y": y}


def _embedder(fast_params, **params):
    return ContrastiveEmbedder(**{**fast_params, "max_epochs": 2}, **params)


def test_the_package_under_test_is_this_checkout():
    assert Path(sklearn_contrastive.__file__).parents[1] == Path(__file__).parents[1]


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("kind", KINDS)
def test_fit_and_transform_match_the_rows_in_memory(
    kind, setting, blobs, fast_params, tmp_path
):
    X, y = blobs
    source = make_source(kind, X, tmp_path)
    arguments = _fit_arguments(setting, y)
    params = {**SETTINGS[setting], "random_state": 0}
    in_memory = _embedder(fast_params, **params).fit(X, **arguments)
    out_of_core = _embedder(fast_params, **params).fit(source, **arguments)
    np.testing.assert_array_equal(out_of_core.transform(source), in_memory.transform(X))
    np.testing.assert_array_equal(out_of_core.transform(X), in_memory.transform(X))
    assert out_of_core.loss_curve_ == in_memory.loss_curve_
    assert out_of_core.validation_scores_ == in_memory.validation_scores_
    assert out_of_core.n_features_in_ == 10
    assert not hasattr(out_of_core, "feature_names_in_")


@pytest.mark.parametrize("kind", ["memmap-r", "h5py", "row-slices"])
def test_partial_fit_matches_the_rows_in_memory(kind, blobs, fast_params, tmp_path):
    X, y = blobs
    source = make_source(kind, X, tmp_path)
    in_memory = _embedder(fast_params, random_state=0)
    out_of_core = _embedder(fast_params, random_state=0)
    for _ in range(2):
        in_memory.partial_fit(X, y)
        out_of_core.partial_fit(source, y)
    np.testing.assert_array_equal(out_of_core.transform(source), in_memory.transform(X))


def test_no_read_covers_the_whole_array(fast_params, monkeypatch):
    """Validation reads CHUNK_ROWS rows at a time, training one batch,
    early stopping's held-out rows a batch (and its ranked sample) at a time,
    transform 4096 rows: none of them the 6,000 rows, and the array-like is
    never converted whole."""
    X, y = make_blobs(6000, n_features=10, centers=4, random_state=0)
    source = RowSlices(X.astype(np.float32))
    embedder = _embedder(fast_params, early_stopping=True, random_state=0)
    embedder.fit(source, y)
    assert source.largest_read <= 2 * CHUNK_ROWS
    assert embedder.transform(source).shape == (6000, 4)
    assert source.largest_read == 4096


def test_a_fitted_model_keeps_no_reference_to_the_source(blobs, fast_params, tmp_path):
    pytest.importorskip("h5py")  # an h5py.Dataset cannot be pickled
    X, y = blobs
    source = make_source("h5py", X, tmp_path)
    embedder = _embedder(fast_params, early_stopping=True, random_state=0)
    embedder.fit(source, y)
    restored = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(restored.transform(X), embedder.transform(source))


def test_what_counts_as_out_of_core(blobs, tmp_path):
    X, _ = blobs
    memmap = make_source("memmap-r", X, tmp_path)
    assert is_out_of_core(memmap)
    assert is_out_of_core(np.asarray(memmap))  # an ndarray view of the file
    assert is_out_of_core(memmap[:, :5])
    assert is_out_of_core(RowSlices(X))
    # Sparse matrices are read as sources too: each batch densified.
    assert is_out_of_core(scipy.sparse.csr_matrix(X))
    for in_memory in (X, X.tolist(), pd.DataFrame(X), torch.from_numpy(X)):
        assert not is_out_of_core(in_memory)


def test_row_source_gathers_rows_in_the_order_asked(blobs, tmp_path):
    """Duplicates and any order: h5py reads sorted, distinct rows and the
    rows are put back in place; the other kinds agree."""
    X, _ = blobs
    rows = np.array([5, 3, 3, 599, 0, 4])
    for kind in ("memmap-r", "h5py", "zarr", "dask", "row-slices"):
        (tmp_path / kind).mkdir()
        source = RowSource(make_source(kind, X, tmp_path / kind))
        np.testing.assert_array_equal(source[rows], X[rows])
        np.testing.assert_array_equal(source.subset(rows[::-1])[1:3], X[[0, 599]])
        np.testing.assert_array_equal(source[rows, rows % 10], X[rows, rows % 10])
        batch = source[10:20]
        assert batch.flags.writeable and batch.flags.c_contiguous
        assert batch.dtype == np.float32


# -- errors, found in chunks ------------------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        (np.nan, "Input X contains NaN: row 597, column 3"),
        (np.inf, "Input X contains infinity or a value too large"),
        (1e39, "Input X contains infinity or a value too large"),
    ],
)
def test_non_finite_value_in_the_last_chunk_is_refused(
    value, message, blobs, fast_params, tmp_path
):
    X, y = blobs
    X = X.astype(np.float64)
    X[597, 3] = value
    source = make_source("memmap-r", X, tmp_path)
    with pytest.raises(ValueError, match=re.escape(message)):
        _embedder(fast_params).fit(source, y)


def test_non_finite_value_is_refused_at_transform(blobs, fast_params, tmp_path):
    X, y = blobs
    embedder = _embedder(fast_params).fit(X, y)
    X = X.copy()
    X[420, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN: row 420, column 0"):
        embedder.transform(RowSlices(X))


def test_strings_are_refused_by_dtype(fast_params):
    X = RowSlices(np.full((20, 3), "a", dtype="<U1"))
    with pytest.raises(ValueError, match=r"X has dtype <U1 .*needs a numeric dtype"):
        _embedder(fast_params).fit(X)


def test_one_dimensional_source_is_refused(blobs, fast_params, tmp_path):
    X, y = blobs
    source = make_source("memmap-r", X[:, 0].copy(), tmp_path)
    with pytest.raises(ValueError, match=r"Expected 2D array, got 1D array instead"):
        _embedder(fast_params).fit(source, y)


def test_empty_source_is_refused(fast_params):
    with pytest.raises(ValueError, match=re.escape("Found array with 0 sample(s)")):
        _embedder(fast_params).fit(RowSlices(np.zeros((0, 3), dtype=np.float32)))


def test_wrong_number_of_features_at_transform(blobs, fast_params, tmp_path):
    X, y = blobs
    embedder = _embedder(fast_params).fit(make_source("memmap-r", X, tmp_path), y)
    message = "X has 3 features, but ContrastiveEmbedder is expecting 10 features"
    with pytest.raises(ValueError, match=message):
        embedder.transform(RowSlices(X[:, :3]))


def test_labels_of_another_length_are_refused(blobs, fast_params):
    X, y = blobs
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _embedder(fast_params).fit(RowSlices(X), y[:-1])


# -- memory, in a process of its own ------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import numpy as np
    from sklearn_contrastive import ContrastiveEmbedder

    def anon_kib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])

    X = np.load(sys.argv[1], mmap_mode="r")
    y = np.arange(len(X)) % 10
    embedder = ContrastiveEmbedder(n_components=8, hidden_layer_sizes=(32,),
                                   max_epochs=1, batch_size=256, random_state=0)
    embedder.fit(X[:2000], y[:2000])  # imports and first-call allocations
    peak, before, running = [0], anon_kib(), [True]

    def poll():
        while running[0]:
            peak[0] = max(peak[0], anon_kib())
            time.sleep(0.01)

    thread = threading.Thread(target=poll)
    thread.start()
    embedder.fit(X, y)
    embedder.early_stopping = True
    embedder.fit(X, y)
    running[0] = False
    thread.join()
    print(json.dumps({"growth_kib": max(peak[0], anon_kib()) - before}))
    """
)


@pytest.mark.slow
def test_fit_on_a_memmap_adds_far_less_than_the_file(tmp_path):
    """A 128 MB read-only memmap (joblib hands such to GridSearchCV workers):
    a fit, and one with early stopping, add far less anonymous memory than
    the file (today's full copy added its size)."""
    path = tmp_path / "X.npy"
    rows, features = 125_000, 256
    X = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(rows, features)
    )
    rng = np.random.default_rng(0)
    for start in range(0, rows, 25_000):
        X[start : start + 25_000] = rng.standard_normal((25_000, features))
    X.flush()
    del X
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    growth = int(result.stdout.strip().splitlines()[-1].split(":")[1].strip(" }"))
    file_kib = path.stat().st_size // 1024
    assert growth < 0.25 * file_kib, (growth, file_kib)
