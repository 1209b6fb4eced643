"""
A custom network: a small CNN on the digit images
=================================================

``ContrastiveEmbedder(module=...)`` trains any :class:`torch.nn.Module` that
maps rows of shape ``(batch_size, n_features)`` to embeddings of shape
``(batch_size, n_components)``. ``X`` stays 2-D, as scikit-learn requires, so
the network below reshapes each row of 64 pixels into a 1 x 8 x 8 image
inside ``forward``. Passed as a class, it is built at ``fit`` with the
``n_components`` of the estimator; ``normalize=True`` (the default) puts its
output on the unit sphere, as for the default network.

The example compares the 5-NN test accuracy of the convolutional embedding,
the default MLP embedding and the raw pixels, and shows the filters that the
first convolution learned.
"""

# %%
# The module
# ----------
# Two convolution blocks and a linear head. The comments give each tensor's
# shape for a batch of ``n`` rows. The constructor takes ``n_components``:
# ``ContrastiveEmbedder`` passes its own to a module class that accepts it.
# Other constructor arguments go in ``net_params`` with skorch's ``module__``
# prefix, e.g. ``net_params={"module__channels": 32}``.

import time

import matplotlib.pyplot as plt
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


# %%
# Three pipelines
# ---------------
# :class:`~sklearn.preprocessing.MinMaxScaler` keeps the pixels' spatial
# structure (every pixel scaled to ``[0, 1]``), which suits convolutions
# better than standardising each pixel on its own.

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

accuracies, fit_times = {}, {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_times[name] = time.perf_counter() - start
    accuracies[name] = model.score(X_test, y_test)

print(f"digits: {len(X_train)} training rows, {len(X_test)} test rows, 8x8 pixels")
print(f"{'representation':<22}{'5-NN test accuracy':>20}{'fit time (s)':>14}")
for name in models:
    print(f"{name:<22}{accuracies[name]:>20.3f}{fit_times[name]:>14.2f}")

cnn = models["SmallCNN"][1]
mlp = models["default MLP"][1]
for name, embedder in [("default MLP", mlp), ("SmallCNN", cnn)]:
    n_weights = sum(p.numel() for p in embedder.net_.module_.parameters())
    print(f"{name}: {n_weights} weights")

# %%
# With a sixth of the weights of the default MLP, the convolutional network
# embeds the digits at least as well: it shares its filters across the image
# instead of learning a weight for every pixel.

fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
names = list(models)
bars = ax.barh(names, [accuracies[n] for n in names], color=["gray", "C0", "C2"])
ax.bar_label(bars, fmt="%.3f", padding=3)
ax.set(xlim=(0.9, 1.0), xlabel="5-NN test accuracy")
ax.invert_yaxis()
plt.show()

# %%
# What the first convolution learned
# ----------------------------------
# The fitted network is ``net_.module_``. With ``normalize=True`` it is
# ``nn.Sequential(SmallCNN, L2Normalize())``, so ``net_.module_[0]`` is the
# fitted ``SmallCNN``. Its 16 first-layer filters are 3 x 3 each.

small_cnn = cnn.net_.module_[0]
filters = small_cnn.features[0].weight.detach().numpy()  # (16, 1, 3, 3)
fig, axes = plt.subplots(2, 8, figsize=(8, 2.3), layout="constrained")
for ax, kernel in zip(axes.ravel(), filters[:, 0], strict=True):
    limit = abs(kernel).max()
    ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_axis_off()
fig.suptitle("First-layer filters of the fitted SmallCNN (red > 0 > blue)")
plt.show()
