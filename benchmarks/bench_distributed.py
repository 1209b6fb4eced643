"""Data-parallel fits: N processes against one, at equal global batch.

Writes ``--rows`` x ``--features`` rows of 10 Gaussian classes
(``datasets.gaussian_classes``) to ``.npy`` files, then for each number of
processes in ``--nprocs`` and each batch size in ``--batch-sizes`` launches

    torchrun --nproc_per_node=N -m sklearn_contrastive.train --X ... --y ...
        --params '{"max_epochs": E, "batch_size": B, "random_state": 0}'

on 127.0.0.1 (gloo on the CPU; ``--device cuda`` for NCCL, one GPU per
process), and reads the fitted model's history: seconds per epoch (median of
the epochs), training rows/s, and the wall time of the whole launch
(process start, imports, validation included). torchrun gives each process
``OMP_NUM_THREADS=1`` unless the variable is set; ``--threads`` sets it.

    python benchmarks/bench_distributed.py [--rows 100000] [--features 50]
        [--nprocs 1 2] [--batch-sizes 256 1024] [--max-epochs 2]
        [--threads T] [--device cpu] [--out benchmarks/results]

Writes ``distributed.md`` and ``distributed.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from datasets import gaussian_classes  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(folder: Path, nproc: int, params: dict, threads: int | None) -> dict:
    """One torchrun launch; the fitted model's epoch times and the wall time."""
    output = folder / f"model_{nproc}.pkl"
    command = [sys.executable, "-m", "torch.distributed.run"]
    command += [f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1"]
    command += [f"--master_port={_free_port()}", "-m", "sklearn_contrastive.train"]
    command += ["--X", str(folder / "X.npy"), "--y", str(folder / "y.npy")]
    command += ["--params", json.dumps(params), "--output", str(output)]
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=3600)
    wall_s = time.perf_counter() - start
    with open(output, "rb") as file:
        model = pickle.load(file)
    epoch_s = [epoch["dur"] for epoch in model.history_]
    return {
        "nproc": nproc,
        "batch_size": params["batch_size"],
        "s_per_epoch": statistics.median(epoch_s),
        "wall_s": wall_s,
        "epochs": len(epoch_s),
    }


def table(records: list[dict], n_rows: int) -> str:
    rows = []
    for r in records:
        single = next(
            o for o in records if o["nproc"] == 1 and o["batch_size"] == r["batch_size"]
        )
        rows.append(
            [
                str(r["nproc"]),
                f"{r['batch_size']:,}",
                f"{r['s_per_epoch']:.2f}",
                f"{n_rows / r['s_per_epoch']:,.0f}",
                f"{single['s_per_epoch'] / r['s_per_epoch']:.2f}",
                f"{r['wall_s']:.1f}",
            ]
        )
    header = [
        "processes",
        "global batch",
        "s / epoch",
        "training rows/s",
        "speed-up vs 1",
        "launch wall s",
    ]
    return _harness.markdown_table(header, rows)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--nprocs", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if 1 not in args.nprocs:
        parser.error("--nprocs must include 1 (the reference)")
    X, y = gaussian_classes(args.rows, args.features)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "X.npy", X)
        np.save(folder / "y.npy", y)
        for batch_size in args.batch_sizes:
            for nproc in sorted(args.nprocs):
                params = {
                    "max_epochs": args.max_epochs,
                    "batch_size": batch_size,
                    "random_state": 0,
                    "device": args.device,
                }
                records.append(launch(folder, nproc, params, args.threads))
                print(table(records, args.rows).splitlines()[-1], flush=True)
    machine = _harness.machine_description()
    markdown = (
        f"{machine}\n\n{args.rows:,} rows x {args.features} features, "
        f"{args.max_epochs} epochs, device {args.device}, OMP_NUM_THREADS "
        f"{args.threads or 'torchrun default (1)'}:\n\n{table(records, args.rows)}\n"
    )
    print(markdown)
    _harness.write_outputs(
        args.out,
        "distributed",
        markdown,
        _harness.raw_results(argv, machine, args, records),
    )
    return records


if __name__ == "__main__":
    main()
