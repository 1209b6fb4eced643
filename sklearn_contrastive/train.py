"""Command line: a data-parallel fit launched by ``torchrun``.

One node, two processes on the CPU::

    torchrun --nproc_per_node=2 -m sklearn_contrastive.train \\
        --X rows.npy --y labels.npy --params '{"random_state": 0}' \\
        --output model.pkl

Every process opens ``--X`` as a memmap (read a batch at a time) and ``--y``,
joins the process group ``torchrun`` describes (``gloo`` on the CPU,
``nccl`` with ``"device": "cuda"`` in ``--params``, each process on the GPU
of its ``LOCAL_RANK``), and runs
:func:`~sklearn_contrastive.distributed.fit_distributed`; rank 0 pickles the
fitted estimator to ``--output``. Several nodes: the same command on each,
with ``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint`` (see the user
guide's "Scaling out").
"""

from __future__ import annotations

import argparse
import json
import os
import pickle

import numpy as np
import torch
import torch.distributed as dist

from ._embedder import ContrastiveEmbedder
from .distributed import fit_distributed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_contrastive.train",
        description="A data-parallel ContrastiveEmbedder fit (launch with torchrun).",
    )
    parser.add_argument("--X", required=True, help="training rows, a .npy file")
    parser.add_argument(
        "--y", default=None, help="labels, a .npy file (none: views of the rows)"
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="ContrastiveEmbedder parameters as JSON; random_state is needed",
    )
    parser.add_argument("--output", required=True, help="where rank 0 pickles it")
    parser.add_argument(
        "--backend", default=None, help="gloo or nccl (default: from the device)"
    )
    args = parser.parse_args(argv)
    params = dict(args.params)  # JSON lists are valid layer sizes
    on_cuda = str(params.get("device", "cpu")).startswith("cuda")
    if on_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        params["device"] = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    dist.init_process_group(args.backend or ("nccl" if on_cuda else "gloo"))
    try:
        X = np.load(args.X, mmap_mode="r")
        y = None if args.y is None else np.load(args.y)
        fitted = fit_distributed(ContrastiveEmbedder(**params), X, y)
        if fitted is not None:
            with open(args.output, "wb") as file:
                pickle.dump(fitted, file)
        # No process leaves while another still talks to it.
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
