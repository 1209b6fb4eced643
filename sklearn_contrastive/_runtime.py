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


#: Steps between two flushes of denormal values (:func:`flush_denormals`).
FLUSH_DENORMALS_EVERY = 10


def flush_denormals(module: torch.nn.Module, optimizer=None) -> None:
    """Set the denormal float32/float64 values of ``module``'s parameters and
    buffers, and of ``optimizer``'s state, to zero, in place (CPU tensors).

    Adam with weight decay drives the weights of units that get no gradient
    (a ReLU that never fires) geometrically towards zero, into the denormal
    range after some thousand steps, where CPU arithmetic on them is 10-100x
    slower: a default fit on 100,000 rows slowed from 0.9 to 2.4 s an epoch
    after epoch 5, and its transform from 1.5M to 155k rows/s (issue 17,
    docs/design.md). Denormals are below ``finfo.tiny`` (1.2e-38 in float32):
    zero is the same number to the network. Flushing in each thread
    (``torch.set_flush_denormal``) would miss torch's intra-op threads.
    Every 10 steps, the flush costs ~1% of a step and keeps the later epochs
    within ~10% of the first (transient denormals in activations remain).
    """
    tensors = [*module.parameters(), *module.buffers()]
    if optimizer is not None:
        for state in optimizer.state.values():
            tensors += [value for value in state.values() if torch.is_tensor(value)]
    with torch.no_grad():
        for tensor in tensors:
            if tensor.device.type == "cpu" and tensor.dtype in _TINY:
                # In slices: the temporaries (|x| and the mask) of a wide first
                # layer would be 1.25x its weights (64 MB at 50,000 inputs).
                flat = tensor.view(-1) if tensor.is_contiguous() else tensor
                for part in flat.split(_FLUSH_SLICE):
                    part.masked_fill_(part.abs() < _TINY[tensor.dtype], 0.0)


_TINY = {dtype: torch.finfo(dtype).tiny for dtype in (torch.float32, torch.float64)}
#: Elements flushed at once (4 MB of float32).
_FLUSH_SLICE = 2**20


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
