"""Custom module: a small convolutional network on the digits images.

``ContrastiveEmbedder(module=...)`` trains any :class:`torch.nn.Module` that
maps rows of shape ``(batch_size, n_features)`` to embeddings of shape
``(batch_size, n_components)``. ``X`` stays 2-D, as scikit-learn requires, so
the network below reshapes each row of 64 pixels into a 1 x 8 x 8 image
inside ``forward``. Passed as a class, it is built at ``fit`` with the
``n_components`` of the estimator; ``normalize=True`` (the default) puts its
output on the unit sphere.

Compares 5-NN test accuracy on the convolutional embedding, the default MLP
embedding and the raw pixels. Runs in a few seconds on 2 CPU cores:

    python examples/custom_cnn.py
"""

import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder


class SmallCNN(nn.Module):
    """Two convolution blocks and a linear layer, for 8 x 8 grey images.

    Parameters
    ----------
    n_components : int
        Width of the embedding; ContrastiveEmbedder passes its own.
    channels : int, default=16
        Channels of the first convolution; the second has twice as many.
    """

    def __init__(self, n_components: int, channels: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),  # (n, c, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, c, 4, 4)
            nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (n, 2c, 2, 2)
            nn.Flatten(),  # (n, 8c)
        )
        self.head = nn.Linear(2 * channels * 2 * 2, n_components)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        images = X.view(-1, 1, 8, 8)  # rows of 64 pixels -> 1-channel images
        return self.head(self.features(images))


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )

    models = {
        "raw pixels": make_pipeline(MinMaxScaler(), KNeighborsClassifier(5)),
        "default MLP": make_pipeline(
            MinMaxScaler(),
            ContrastiveEmbedder(n_components=32, random_state=0),
            KNeighborsClassifier(5),
        ),
        "SmallCNN": make_pipeline(
            MinMaxScaler(),
            ContrastiveEmbedder(module=SmallCNN, n_components=32, random_state=0),
            KNeighborsClassifier(5),
        ),
    }

    print(f"digits: {len(X_train)} training rows, {len(X_test)} test rows, 8x8 pixels")
    print(f"{'representation':<22}{'5-NN test accuracy':>20}{'fit time (s)':>14}")
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        print(f"{name:<22}{model.score(X_test, y_test):>20.3f}{fit_time:>14.2f}")


if __name__ == "__main__":
    main()
