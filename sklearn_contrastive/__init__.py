"""Contrastive metric learning for scikit-learn."""

from ._embedder import ContrastiveEmbedder
from .losses import ContrastiveLoss, contrastive_loss
from .verification import PairVerifier

__all__ = [
    "ContrastiveEmbedder",
    "ContrastiveLoss",
    "PairVerifier",
    "contrastive_loss",
    "__version__",
]

__version__ = "0.1.0.dev0"
