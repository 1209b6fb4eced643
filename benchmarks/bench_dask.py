"""Dask: a grid search on a LocalCluster, and fits on dask arrays.

Three measurements (docs/benchmarks.md, "Dask"):

* ``search``: bench_threads.py's grid search (digits, 4 margins x 2 folds
  plus the refit) with ``n_jobs=1`` in this process, and through joblib's
  ``"dask"`` backend on a ``LocalCluster`` of 2 worker processes x 1 thread,
  with the default ``n_threads=None`` (the nanny's ``OMP_NUM_THREADS=1``:
  one torch thread per worker) and with ``n_threads=2`` (oversubscribed);
  median of ``--repeats``, alternating.
* ``reads``: milliseconds to gather a batch of 256 random rows from a dask
  array, one slice per run of consecutive rows (the generic array-like
  route) against one fancy index computed once (the "dask" route), for a
  dask array wrapping memory and for a lazily generated one.
* ``memory``: a fit, in a fresh process, on a dask array over a 128 MB
  memmap, and on the memmap itself: the peak growth of anonymous memory
  (RssAnon, bench_out_of_core.py's ``AnonPeak``).

    python benchmarks/bench_dask.py [--repeats 3] [--part search reads memory]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import distributed
import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from bench_out_of_core import AnonPeak  # noqa: E402
from bench_threads import run_search  # noqa: E402
from datasets import digits  # noqa: E402

from sklearn_contrastive._sources import RowSource, _read_runs  # noqa: E402

SEARCHES = {
    "n_jobs=1 (this process)": dict(dask=False, n_jobs=1),
    "dask, 2 workers x 1 thread, n_threads=None": dict(dask=True, n_jobs=-1),
    "dask, 2 workers x 1 thread, n_threads=2": dict(dask=True, n_jobs=-1, n_threads=2),
}


def bench_search(repeats: int) -> None:
    X, _, y, _ = digits(0)
    times = {name: [] for name in SEARCHES}
    threads = {}
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        with joblib.parallel_backend("dask"):
            run_search(X, y, n_jobs=-1, max_epochs=1)  # warm the workers
        for _ in range(repeats):
            for name, case in SEARCHES.items():
                case = dict(case)
                backend = "dask" if case.pop("dask") else "loky"
                with joblib.parallel_backend(backend):
                    seconds, threads[name] = run_search(X, y, **case)
                times[name].append(seconds)
    print(
        f"# search: {platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, dask {dask.__version__}, distributed "
        f"{distributed.__version__}; median of {repeats}"
    )
    _harness.print_search_table(
        times, threads, SEARCHES, base="n_jobs=1 (this process)"
    )


def bench_reads(repeats: int = 7) -> None:
    rng = np.random.default_rng(0)
    n, features = 200_000, 64
    X = rng.standard_normal((n, features)).astype(np.float32)
    print(f"# reads: batch of 256 random rows of {n} x {features} float32, ms")
    print("| array | chunk rows | a slice per run | one fancy index |")
    print("|---|---|---|---|")
    for chunk_rows in (1_000, 10_000):
        arrays = {
            "da.from_array(ndarray)": da.from_array(X, chunks=(chunk_rows, features)),
            "lazily generated (da.random)": da.random.default_rng(0)
            .standard_normal((n, features), chunks=(chunk_rows, features))
            .astype(np.float32),
        }
        for name, array in arrays.items():
            source = RowSource(array)
            cells = []
            for read in (functools.partial(_read_runs, array), source._read):
                seconds = []
                for _ in range(repeats):
                    rows = np.unique(rng.integers(0, n, 256))
                    start = time.perf_counter()
                    read(rows)
                    seconds.append(time.perf_counter() - start)
                cells.append(f"{1e3 * statistics.median(seconds):.1f}")
            print(f"| {name} | {chunk_rows:,} | {cells[0]} | {cells[1]} |")


def fit_job(path: str, kind: str) -> dict:
    """A fit on the memmap at ``path`` (``kind="memmap"``) or on a dask array
    over it (``"dask"``), after a small fit for imports and first-call
    allocations; run in a fresh process."""
    from sklearn_contrastive import ContrastiveEmbedder

    X = np.load(path, mmap_mode="r")
    if kind == "dask":
        X = da.from_array(X, chunks=(1000, X.shape[1]))
    y = np.arange(X.shape[0]) % 10
    embedder = ContrastiveEmbedder(
        n_components=8,
        hidden_layer_sizes=(32,),
        max_epochs=1,
        batch_size=256,
        random_state=0,
    )
    embedder.fit(X[:2000], y[:2000])
    start = time.perf_counter()
    with AnonPeak() as peak:
        embedder.fit(X, y)
    seconds = time.perf_counter() - start
    return {"growth_mib": peak.growth / 2**20, "rows_per_s": X.shape[0] / seconds}


def bench_memory(features: int = 256) -> None:
    print("# memory: a fit (max_epochs=1, batch_size=256) on a memmap, and on")
    print("# da.from_array(memmap, chunks=(1000, n_features)), in a fresh process")
    print("| rows x features | file (MiB) | X | RssAnon growth (MiB) | rows/s |")
    print("|---|---|---|---|---|")
    for rows in (125_000, 250_000):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "X.npy"
            X = np.lib.format.open_memmap(
                path, mode="w+", dtype=np.float32, shape=(rows, features)
            )
            X[:] = np.random.default_rng(0).standard_normal((rows, features))
            X.flush()
            del X
            size_mib = path.stat().st_size / 2**20
            for kind in ("memmap", "dask"):
                record = _harness.run_capped(fit_job, str(path), kind)
                if record["status"] != "ok":
                    print(f"| {rows:,} x {features} | {kind} | {record['status']} |")
                    continue
                figures = record["result"]
                print(
                    f"| {rows:,} x {features} | {size_mib:.0f} | {kind} | "
                    f"{figures['growth_mib']:.0f} | {figures['rows_per_s']:,.0f} |"
                )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--part",
        nargs="+",
        default=["search", "reads", "memory"],
        choices=["search", "reads", "memory"],
    )
    args = parser.parse_args(argv)
    if "search" in args.part:
        bench_search(args.repeats)
    if "reads" in args.part:
        bench_reads()
    if "memory" in args.part:
        bench_memory()


if __name__ == "__main__":
    main()
