"""How a fit or a transform runs torch: threads, seeded generators, tensors.

Nothing here knows the estimator; each helper takes the values it uses.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import torch


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing memory with ``array``, copying only read-only input.

    torch warns on read-only arrays, such as the memmaps that joblib hands to
    GridSearchCV workers.
    """
    return torch.from_numpy(np.require(array, requirements="W"))


@contextlib.contextmanager
def torch_threads(n_threads: int | None):
    """Use ``n_threads`` CPU threads inside the block, then restore the setting."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: Held by every seeded block. Initial weights and dropout draw from torch's
#: process-wide generators (``nn.Dropout`` takes no generator), so two fits
#: in threads of one process would interleave their draws, and each one's
#: ``fork_rng`` would restore the other's state: they run one at a time
#: instead, each then bit-identical to a fit alone. Re-entrant, for a fit
#: inside a fit (``PairVerifier``'s embedder in a callback, say).
_TORCH_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_torch(seed: int, device: str):
    """Seed torch's CPU generator (and ``device``'s, on CUDA) for the block.

    ``fork_rng`` restores the CPU generator and the training device's one
    afterwards; seeding only those leaves every other generator of the
    caller alone. Blocks in other threads wait for this one to end
    (``_TORCH_RNG_LOCK``).
    """
    on_cuda = device.startswith("cuda")
    with (
        _TORCH_RNG_LOCK,
        torch.random.fork_rng(devices=[torch.device(device)] if on_cuda else []),
    ):
        torch.random.default_generator.manual_seed(seed)
        if on_cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield
