"""What a GPU buys: training and transform rows/s by batch size, memory peak.

For each batch size (default 256 to 16,384), on ``--rows`` rows x
``--features`` features of 10 Gaussian classes (``datasets.gaussian_classes``):

1. fit ``ContrastiveEmbedder(max_epochs=1, batch_size=B, device=...,
   random_state=0)`` once on a tenth of the rows (warm-up: CUDA context,
   kernels), then on all rows: training rows/s is rows over that epoch's
   duration (``history_[-1]["dur"]``);
2. transform all rows once to warm up, then time one more: transform rows/s;
3. on CUDA, the peak of ``torch.cuda.max_memory_allocated`` over the fit;
4. the check: the fitted network's embeddings of 10,000 rows on the device
   against the same weights run on the CPU (a copy of the network), their
   largest absolute difference, which should stay at float32 rounding
   (below ``--tolerance``, default 1e-4).

Runs in this process, one batch size after the other.

    python benchmarks/bench_gpu.py [--device cuda] [--rows 1000000]
        [--features 50] [--batch-sizes 256 1024 4096 16384]

``--device cpu`` runs the same measurements on the CPU (for comparison, or
to check the script without a GPU). Exits with an error when the device is
not available.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from datasets import gaussian_classes  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402
from sklearn_contrastive.networks import embed, embedding_network  # noqa: E402

CHECK_ROWS = 10_000
MIB = 2**20


def measure(X, y, batch_size: int, device: str) -> dict:
    """One batch size: training and transform rows/s, memory peak, the check."""
    on_cuda = device.startswith("cuda")
    params = {"max_epochs": 1, "batch_size": batch_size, "device": device}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm = max(len(X) // 10, 2 * batch_size)
        ContrastiveEmbedder(**params, random_state=0).fit(X[:warm], y[:warm])
        if on_cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        embedder = ContrastiveEmbedder(**params, random_state=0).fit(X, y)
    epoch_s = embedder.history_[-1]["dur"]
    peak = torch.cuda.max_memory_allocated(device) / MIB if on_cuda else None

    embedder.transform(X)
    start = time.perf_counter()
    embedder.transform(X)
    transform_s = time.perf_counter() - start

    rows = torch.from_numpy(X[:CHECK_ROWS])
    on_device = embedder.transform(X[:CHECK_ROWS])
    on_cpu = embed(copy.deepcopy(embedding_network(embedder.net_.module_)).cpu(), rows)
    return {
        "batch_size": batch_size,
        "train_rows_per_s": len(X) / epoch_s,
        "transform_rows_per_s": len(X) / transform_s,
        "peak_mib": peak,
        "max_abs_diff_vs_cpu": float(np.abs(on_device - on_cpu.numpy()).max()),
    }


def _device_description(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} torch threads"


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument(
        "--batch-sizes", nargs="+", type=int, default=[256, 1024, 4096, 16384]
    )
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(
            f"--device {args.device}: CUDA is not available on this machine; "
            "run on a GPU machine, or pass --device cpu to measure the CPU."
        )
    X, y = gaussian_classes(args.rows, args.features)
    print(
        f"# {_device_description(args.device)}; torch {torch.__version__}; "
        f"{args.rows:,} rows x {args.features} features, one epoch"
    )
    print("| batch_size | training rows/s | transform rows/s | peak MiB ", end="")
    print("| max diff vs CPU |")
    print("|---|---|---|---|---|")
    records = []
    for batch_size in args.batch_sizes:
        r = measure(X, y, batch_size, args.device)
        records.append(r)
        peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:,.0f}"
        print(
            f"| {batch_size:,} | {r['train_rows_per_s']:,.0f} "
            f"| {r['transform_rows_per_s']:,.0f} | {peak} "
            f"| {r['max_abs_diff_vs_cpu']:.1e} |",
            flush=True,
        )
    worst = max(r["max_abs_diff_vs_cpu"] for r in records)
    if worst > args.tolerance:
        sys.exit(
            f"the embeddings on {args.device} differ from the same weights on the "
            f"CPU by up to {worst:.2e}, above --tolerance {args.tolerance:g}"
        )
    return records


if __name__ == "__main__":
    main()
