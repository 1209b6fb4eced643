"""Data larger than memory: a fit and a transform on files, and their memory.

1. Writes ``--rows`` x ``--features`` float32 rows of 100 Gaussian classes
   to a ``.npy`` file in ``--dir`` (default 1,000,000 x 1,024: 4 GB; wide
   rows keep the per-row arrays a fit needs, the int64 labels and the
   sampler's permutations, at 8 MB per million rows), and the same first
   ``--small-rows`` rows as an HDF5 dataset (contiguous layout) and a zarr
   array (uncompressed chunks of 64 rows) when h5py / zarr are installed.
2. For each file, in a fresh process (``_harness.run_capped``): opens it
   (``np.load(path, mmap_mode="r")``, ``h5py.File``, ``zarr.open_array``),
   loads the labels, then fits ``ContrastiveEmbedder(max_epochs=1,
   random_state=0)`` and transforms every row, polling ``RssAnon`` (the
   process's anonymous memory, what a copy of the data would add; the file's
   pages are file-backed and the kernel may drop them) every 50 ms in a
   thread: the peak growth over the value just before ``fit`` (and before
   ``transform``), wall time and rows/s.
3. The price of random row access: reads ``--access-batches`` batches of
   256 rows from the memmap, rows drawn at random as the training sampler
   does, then as 4 random contiguous chunks of 64 rows (a chunk-shuffled
   sampler), with the file's pages dropped from the page cache before each
   (``os.posix_fadvise(..., POSIX_FADV_DONTNEED)``), and once more random
   rows with the file cached: rows/s of each.
4. Deletes the files.

    python benchmarks/bench_out_of_core.py [--rows 1000000] [--features 1024]
        [--small-rows 250000] [--dir /tmp] [--access-batches 400]
        [--formats npy h5py zarr] [--params '{"batch_size": 512}']
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402

MIB = 2**20
#: Rows written (and, in the access measurement, a batch's chunk) at once.
WRITE_ROWS = 16_384
CHUNK_ROWS = 64
BATCH_ROWS = 256


def anon_bytes() -> int:
    """This process's anonymous resident memory (``RssAnon``), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class AnonPeak:
    """Peak ``RssAnon`` growth inside a ``with`` block, polled in a thread."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s

    def __enter__(self):
        self.before = self.peak = anon_bytes()
        self._running = True
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while self._running:
            self.peak = max(self.peak, anon_bytes())
            time.sleep(self.interval_s)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, anon_bytes())
        self.growth = self.peak - self.before


def write_files(directory: Path, rows: int, features: int, small_rows: int):
    """The files of step 1: ``{format: path}`` and the labels' path."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((100, features)).astype(np.float32)
    labels = rng.integers(100, size=rows)
    np.save(directory / "y.npy", labels)
    paths = {"npy": directory / "X.npy"}
    X = np.lib.format.open_memmap(
        paths["npy"], mode="w+", dtype=np.float32, shape=(rows, features)
    )
    for start in range(0, rows, WRITE_ROWS):
        block = labels[start : start + WRITE_ROWS]
        X[start : start + len(block)] = centers[block] + rng.standard_normal(
            (len(block), features), dtype=np.float32
        )
    X.flush()
    small = X[:small_rows]
    try:
        import h5py

        paths["h5py"] = directory / "X.h5"
        with h5py.File(paths["h5py"], "w") as store:
            dataset = store.create_dataset("X", shape=small.shape, dtype=np.float32)
            for start in range(0, len(small), WRITE_ROWS):
                dataset[start : start + WRITE_ROWS] = small[start : start + WRITE_ROWS]
    except ImportError:
        pass
    try:
        import zarr

        paths["zarr"] = directory / "X.zarr"
        array = _uncompressed_zarr(zarr, paths["zarr"], small.shape)
        for start in range(0, len(small), WRITE_ROWS):
            array[start : start + WRITE_ROWS] = small[start : start + WRITE_ROWS]
    except ImportError:
        pass
    del X, small
    return paths, directory / "y.npy"


def _uncompressed_zarr(zarr, path: Path, shape: tuple):
    """A new float32 zarr array in chunks of ``CHUNK_ROWS`` whole rows, with
    no compression (zarr 3's ``create_array``, zarr 2's ``open_array``)."""
    chunks = (CHUNK_ROWS, shape[1])
    if int(zarr.__version__.split(".")[0]) >= 3:
        return zarr.create_array(
            str(path), shape=shape, chunks=chunks, dtype=np.float32, compressors=None
        )
    return zarr.open_array(
        str(path),
        mode="w",
        shape=shape,
        chunks=chunks,
        dtype=np.float32,
        compressor=None,
    )


def open_array(kind: str, path: Path):
    if kind == "npy":
        return np.load(path, mmap_mode="r")
    if kind == "h5py":
        import h5py

        return h5py.File(path, "r")["X"]
    import zarr

    return zarr.open_array(str(path), mode="r")


def fit_job(kind: str, path: str, labels_path: str, params: dict) -> dict:
    """Step 2, in a fresh process."""
    from sklearn_contrastive import ContrastiveEmbedder

    X = open_array(kind, Path(path))
    y = np.load(labels_path)[: X.shape[0]]
    embedder = ContrastiveEmbedder(**params)
    start = time.perf_counter()
    with AnonPeak() as fit_peak:
        embedder.fit(X, y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    with AnonPeak() as transform_peak:
        embeddings = embedder.transform(X)
    transform_s = time.perf_counter() - start
    return {
        "format": kind,
        "rows": int(X.shape[0]),
        "features": int(X.shape[1]),
        "file_mib": _size(Path(path)) / MIB,
        "fit_s": fit_s,
        "fit_rows_per_s": X.shape[0] / fit_s,
        "fit_anon_growth_mib": fit_peak.growth / MIB,
        "transform_s": transform_s,
        "transform_rows_per_s": X.shape[0] / transform_s,
        "transform_anon_growth_mib": transform_peak.growth / MIB,
        "output_mib": embeddings.nbytes / MIB,
    }


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def drop_from_page_cache(path: Path) -> None:
    """Ask the kernel to drop ``path``'s cached pages (written ones first)."""
    with open(path, "rb+") as file:
        os.fsync(file.fileno())
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def access_rates(path: Path, n_batches: int, seed: int = 0) -> dict:
    """Step 3: rows/s of random rows (cold, warm) and of chunk-shuffled rows."""
    X = np.load(path, mmap_mode="r")
    rng = np.random.default_rng(seed)
    n_chunks = len(X) // CHUNK_ROWS

    def random_rows():
        return np.sort(rng.choice(len(X), BATCH_ROWS, replace=False))

    def chunked_rows():
        chunks = rng.choice(n_chunks, BATCH_ROWS // CHUNK_ROWS, replace=False)
        return (chunks[:, None] * CHUNK_ROWS + np.arange(CHUNK_ROWS)).ravel()

    def rate(draw, cold: bool) -> float:
        if cold:
            drop_from_page_cache(path)
        batches = [draw() for _ in range(n_batches)]
        start = time.perf_counter()
        for rows in batches:
            np.asarray(X[rows]).sum()
        return n_batches * BATCH_ROWS / (time.perf_counter() - start)

    return {
        "random_cold_rows_per_s": rate(random_rows, cold=True),
        "chunked_cold_rows_per_s": rate(chunked_rows, cold=True),
        "random_warm_rows_per_s": rate(random_rows, cold=False),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--small-rows", type=int, default=250_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--access-batches", type=int, default=400)
    parser.add_argument(
        "--formats", nargs="+", default=["npy", "h5py", "zarr"], help="to fit"
    )
    parser.add_argument("--time-cap", type=float, default=1800.0)
    parser.add_argument("--params", default="{}", help="JSON: estimator settings")
    args = parser.parse_args(argv)
    params = {"max_epochs": 1, "random_state": 0, **json.loads(args.params)}
    need = args.rows * args.features * 4 * 1.6
    free = shutil.disk_usage(args.dir).free
    if free < need:
        parser.error(
            f"--dir {args.dir} has {free / 2**30:.1f} GiB free; the files need "
            f"{need / 2**30:.1f} GiB: pass a --dir with room, or fewer --rows."
        )
    directory = Path(tempfile.mkdtemp(prefix="bench_ooc_", dir=args.dir))
    print(f"# {_harness.machine_description()}")
    print(f"# ContrastiveEmbedder({params}), files in {directory}")
    try:
        start = time.perf_counter()
        paths, labels = write_files(
            directory, args.rows, args.features, min(args.small_rows, args.rows)
        )
        print(f"# wrote {', '.join(paths)} in {time.perf_counter() - start:.0f} s")
        header = (
            "| format | rows x features | file MiB | fit s | fit rows/s "
            "| fit RssAnon growth MiB | transform s | transform rows/s "
            "| transform RssAnon growth MiB (output MiB) |"
        )
        print(header)
        print("|---" * 9 + "|")
        records = []
        for kind, path in paths.items():
            if kind not in args.formats:
                continue
            record = _harness.run_capped(
                fit_job, kind, str(path), str(labels), params, time_cap=args.time_cap
            )
            if record["status"] != "ok":
                print(f"| {kind} | {_harness.status_label(record)} |", flush=True)
                records.append(record)
                continue
            r = record["result"]
            records.append(r)
            print(
                f"| {kind} | {r['rows']:,} x {r['features']:,} | {r['file_mib']:,.0f} "
                f"| {r['fit_s']:.1f} | {r['fit_rows_per_s']:,.0f} "
                f"| {r['fit_anon_growth_mib']:,.0f} | {r['transform_s']:.1f} "
                f"| {r['transform_rows_per_s']:,.0f} "
                f"| {r['transform_anon_growth_mib']:,.0f} ({r['output_mib']:,.0f}) |",
                flush=True,
            )
        access = access_rates(paths["npy"], args.access_batches)
        print(
            f"\n# memmap reads, batches of {BATCH_ROWS} rows: random rows, cold "
            f"cache {access['random_cold_rows_per_s']:,.0f} rows/s; "
            f"{BATCH_ROWS // CHUNK_ROWS} random chunks of {CHUNK_ROWS} rows, cold "
            f"{access['chunked_cold_rows_per_s']:,.0f} rows/s; random rows, "
            f"cached {access['random_warm_rows_per_s']:,.0f} rows/s"
        )
    finally:
        shutil.rmtree(directory)
    return {"records": records, "access": access}


if __name__ == "__main__":
    main()
