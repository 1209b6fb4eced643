"""A data-parallel fit on several processes with torch.distributed.

Run it with ``torchrun`` (here two processes on the CPU)::

    torchrun --nproc_per_node=2 examples/distributed_fit.py

Every process loads the same rows, joins the process group ``torchrun``
describes, and calls ``fit_distributed``: each embeds its half of every
global batch, the loss sees every pair of the batch, and the gradients are
summed. Rank 0 gets the fitted estimator, an ordinary ``ContrastiveEmbedder``;
the other ranks get ``None``. Not part of the gallery: it needs ``torchrun``.
"""

import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.distributed import fit_distributed

dist.init_process_group("gloo")  # "nccl" with one GPU per process
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
# random_state: an int, the same in every process (same global batches).
embedder = fit_distributed(
    ContrastiveEmbedder(random_state=0), scaler.transform(X_train), y_train
)
if embedder is not None:  # rank 0
    knn = KNeighborsClassifier(5).fit(
        embedder.transform(scaler.transform(X_train)), y_train
    )
    accuracy = knn.score(embedder.transform(scaler.transform(X_test)), y_test)
    print(f"{dist.get_world_size()} processes: 5-NN accuracy {accuracy:.3f}")
dist.barrier()  # no process leaves while another still talks to it
dist.destroy_process_group()
