"""
Tabular data: a pandas DataFrame through a ColumnTransformer
============================================================

Real tables mix numeric and categorical columns. A
:class:`~sklearn.compose.ColumnTransformer` prepares each kind (scaling the
numbers, one-hot encoding the categories) and hands
:class:`~sklearn_contrastive.ContrastiveEmbedder` a single float matrix; the
embedding then feeds a :class:`~sklearn.neighbors.KNeighborsClassifier`. With
``set_output(transform="pandas")`` every step returns a DataFrame with named
columns, the embedding's included.

The data are scikit-learn's wine recognition set (178 wines of 3 cultivars,
13 chemical measurements) with one synthetic categorical column added.
"""

# %%
# A DataFrame with a categorical column
# -------------------------------------
# ``region`` stands for the categorical columns of real tables. It is drawn
# to be weakly informative: 60 % of the wines get their cultivar's home
# region, the others one of the four regions at random.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_wine
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.plotting import EmbeddingDisplay

wine = load_wine(as_frame=True)
X = wine.data
y = wine.target.map({i: str(name) for i, name in enumerate(wine.target_names)})

rng = np.random.default_rng(0)
regions = np.array(["north", "south", "east", "west"])
home = regions[wine.target.to_numpy()]
X["region"] = np.where(rng.random(len(X)) < 0.6, home, rng.choice(regions, len(X)))
X = X.astype({"region": "category"})
print(f"{X.shape[0]} rows, {X.shape[1]} columns; classes {y.value_counts().to_dict()}")
X.iloc[:5, [0, 1, 2, -1]]

# %%
# The pipeline
# ------------
# Numeric columns are selected by dtype and standardised; ``region`` is
# one-hot encoded (dense output, so that it can become a DataFrame). The
# embedding has 8 dimensions. Calling ``set_output`` on the pipeline before
# fitting makes every transformer in it return a DataFrame, so the embedder
# sees the ColumnTransformer's column names and records them in
# ``feature_names_in_``.

preprocess = ColumnTransformer(
    [
        ("num", StandardScaler(), make_column_selector(dtype_include="number")),
        ("cat", OneHotEncoder(sparse_output=False), ["region"]),
    ]
)
pipe = make_pipeline(
    preprocess,
    ContrastiveEmbedder(n_components=8, random_state=0),
    KNeighborsClassifier(n_neighbors=5),
).set_output(transform="pandas")

X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
pipe.fit(X_train, y_train)
embedder = pipe.named_steps["contrastiveembedder"]
print(f"the embedder's input columns: {list(embedder.feature_names_in_[-5:])} ...")
print(f"5-NN test accuracy: {pipe.score(X_test, y_test):.3f}")

# %%
# The embedding as a DataFrame
# ----------------------------
# ``pipe[:-1]`` is the pipeline up to the embedder. Its output keeps the rows'
# index and names the columns after the embedder,
# ``contrastiveembedder0`` to ``contrastiveembedder7``
# (``get_feature_names_out``).

embedding = pipe[:-1].transform(X_test)
embedding.head().round(3)

# %%
# Against the prepared columns alone
# ----------------------------------
# With 178 rows, a single split is a noisy judge, so both pipelines are
# compared by 5-fold cross-validation on the whole table: 5-NN on the scaled
# and encoded columns, and 5-NN on their contrastive embedding.

cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
without = make_pipeline(preprocess, KNeighborsClassifier(n_neighbors=5))
for name, model in [("prepared columns", without), ("ContrastiveEmbedder", pipe)]:
    scores = cross_val_score(model, X, y, cv=cv)
    print(f"{name:<22} 5-NN accuracy {scores.mean():.3f} +/- {scores.std():.3f}")

# %%
# The test wines in the embedding
# -------------------------------
# :class:`~sklearn_contrastive.plotting.EmbeddingDisplay` accepts a pipeline
# that ends with the embedder; it projects the 8 dimensions on their first two
# principal components.

fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
EmbeddingDisplay.from_estimator(pipe[:-1], X_test, y_test, name="test wines", ax=ax)
plt.show()
