"""Data-parallel training on several processes with :mod:`torch.distributed`.

:func:`fit_distributed` runs an ordinary ``ContrastiveEmbedder.fit`` in each
process of an initialised process group (``torchrun`` sets one up; see
:mod:`sklearn_contrastive.train`):

* every process draws the same global batches (same ``random_state``) and
  embeds its own contiguous slice of each: rank ``r`` of ``W`` takes rows
  ``r B / W`` to ``(r + 1) B / W`` of a batch of ``B`` rows;
* the slices' embeddings are gathered (all-gather) into the global batch, the
  process's own slice carrying its gradient, the others' none, so that the
  loss sees every similar and dissimilar pair of the global batch, as one
  process with the whole batch would;
* after ``backward`` the processes' gradients are summed (one all-reduce of
  the flattened gradients): each process's gradient is the global loss's
  through its own rows, so the sum is the global loss's gradient, and every
  process takes the same optimizer step;
* the weights, the loss, the validation scores, early stopping and the loss
  guard are then the same in every process (same numbers, same decisions),
  and rank 0 returns the fitted estimator, an ordinary
  :class:`~sklearn_contrastive.ContrastiveEmbedder`.

Dropout draws its masks per process (rank 0 from the single-process seed,
rank ``r`` from that seed plus ``r``): with ``dropout > 0`` a distributed fit
does not repeat a single-process fit bit for bit.

The processes must compute the same floats: the same library versions and
CPU (or GPU) kind on every node, and no module buffers that training updates
from each slice (``BatchNorm``'s running statistics): early stopping and the
loss guard decide in each process on its own numbers.
"""

from __future__ import annotations

import contextvars
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["fit_distributed"]


@dataclass(frozen=True)
class _World:
    """The process group a fit runs in: this process's rank and their number."""

    rank: int
    size: int

    def shard(self, n_rows: int) -> slice:
        """This process's contiguous slice of a global batch of ``n_rows``."""
        bounds = [(n_rows * r) // self.size for r in range(self.size + 1)]
        return slice(bounds[self.rank], bounds[self.rank + 1])

    def gather(self, local: torch.Tensor, n_rows: int) -> torch.Tensor:
        """The global batch of ``n_rows`` embeddings from every process's slice,
        in rank order; only this process's slice carries a gradient."""
        largest = math.ceil(n_rows / self.size)
        padded = local.new_zeros((largest, *local.shape[1:]))
        padded[: len(local)] = local.detach()
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        pieces = []
        for rank, part in enumerate(parts):
            shard = _World(rank, self.size).shard(n_rows)
            rows = shard.stop - shard.start
            pieces.append(local if rank == self.rank else part[:rows])
        return torch.cat(pieces)

    def sum_gradients(self, parameters) -> None:
        """Sum the processes' gradients of ``parameters``, in one all-reduce."""
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers in every process."""
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor, src=0)


_WORLD: contextvars.ContextVar[_World | None] = contextvars.ContextVar(
    "sklearn_contrastive_world", default=None
)


def current_world() -> _World | None:
    """The process group of the distributed fit running, or None."""
    return _WORLD.get()


class ShardedLoader:
    """A training loader's global batches, cut to this process's slice.

    Yields ``(X[slice], y)``: the process embeds its own rows, and the loss
    reads the labels of the whole global batch, which every process draws
    the same. Takes the loader class to wrap as ``base`` and the process
    group as ``world``; the other arguments go to ``base``.
    """

    def __init__(self, dataset, *, base, world: _World, **kwargs) -> None:
        self.base = base(dataset, **kwargs)
        self.world = world

    def __len__(self) -> int:
        return len(self.base)

    def __iter__(self):
        # fit_distributed has refused explicit pairs: y holds one label (and
        # weight) per row of the global batch X.
        for X, y in self.base:
            if len(X) < self.world.size:
                raise ValueError(
                    f"A training batch of {len(X)} rows cannot be shared by "
                    f"{self.world.size} processes: raise batch_size (or use "
                    "fewer processes)."
                )
            yield X[self.world.shard(len(X))], y


def _agreed(values, what: str, fix: str) -> None:
    """Raise the same ValueError in every process unless ``values`` agree."""
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, values)
    if any(other != gathered[0] for other in gathered[1:]):
        described = ", ".join(
            f"rank {rank}: {value}" for rank, value in enumerate(gathered)
        )
        raise ValueError(f"The processes disagree on {what} ({described}); {fix}")


def _digest(values) -> str | None:
    """A short digest of an array's float64 values, None for None."""
    if values is None:
        return None
    data = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    return hashlib.sha256(data.tobytes()).hexdigest()[:16]


def fit_distributed(estimator, X, y=None, **fit_params):
    """Fit ``estimator`` data-parallel across the processes of a process group.

    Call it in every process of an initialised :mod:`torch.distributed`
    process group (``torch.distributed.init_process_group``; ``torchrun``
    sets the environment it reads), with the same data in each (a memmap of
    the same file, say). The processes train one model together: each embeds
    its share of every global batch of ``batch_size`` pairs' rows, the loss
    sees all pairs of the global batch, and the gradients are summed.

    Parameters
    ----------
    estimator : ContrastiveEmbedder
        Its ``random_state`` must be an int, the same in every process (every
        process draws the same global batches from it).
    X : array-like of shape (n_samples, n_features)
        The same training rows in every process.
    y : array-like of shape (n_samples,), default=None
        The same labels in every process. Explicit ``pairs`` are not
        supported.
    **fit_params
        Other arguments of ``fit``.

    Returns
    -------
    estimator : ContrastiveEmbedder or None
        In rank 0, ``estimator`` fitted: an ordinary estimator, which
        transforms and pickles without a process group. ``None`` in the
        other processes (their copy of the model is the same).
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "fit_distributed needs an initialised torch.distributed process "
            "group: call torch.distributed.init_process_group(backend) first "
            "(torchrun sets the environment it reads), or use fit in a single "
            "process."
        )
    if "pairs" in fit_params or "similar" in fit_params:
        raise TypeError(
            "fit_distributed trains on class labels (and views of unlabelled "
            "rows); explicit pairs are not supported yet. Fit in one process."
        )
    # Every check gathers first, so that all processes raise together
    # rather than one raising while the others wait in a collective.
    seed = estimator.get_params()["random_state"]
    _agreed(repr(seed), "random_state", "set the same int in every process.")
    if not isinstance(seed, int | np.integer):
        raise ValueError(
            "fit_distributed needs random_state set to an int, the same in "
            f"every process (each draws the same global batches); got {seed!r}."
        )
    X_shape = tuple(int(n) for n in (X.shape if hasattr(X, "shape") else np.shape(X)))
    _agreed(
        X_shape,
        "the shape of X (rows, features)",
        "give every process the same training rows.",
    )
    classes = None if y is None else sorted(np.unique(np.asarray(y)).tolist())
    _agreed(classes, "the classes of y", "give every process the same labels.")
    _agreed(
        _digest(fit_params.get("sample_weight")),
        "sample_weight (a digest of its values)",
        "give every process the same weights (or none to all).",
    )
    _agreed(
        (bool(estimator.get_params()["warm_start"]), hasattr(estimator, "net_")),
        "(warm_start, already fitted)",
        "start every process from the same estimator (a fresh one, or the "
        "same fitted one).",
    )
    world = _World(dist.get_rank(), dist.get_world_size())
    token = _WORLD.set(world)
    try:
        estimator.fit(X, y, **fit_params)
    finally:
        _WORLD.reset(token)
    return estimator if world.rank == 0 else None
