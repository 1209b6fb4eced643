"""ContrastiveEmbedder trained from explicit pairs, partial labels or no labels.

The toy data hold two classes told apart by their first feature alone, next to
five features of loud noise, so that raw 5-NN gets 0.86: training on pairs
(or on a few labels) must find the informative feature and do better.
"""

import pickle
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._data import ClassBalancedLoader, PairLoader, ViewLoader
from sklearn_contrastive._validation import pair_validation_split
from sklearn_contrastive.views import scarf_corrupt

# Not conftest's fast_params: batch_size stays at its default (256), one batch an
# epoch on the 200-row toy data.
FAST = {"max_epochs": 10, "hidden_layer_sizes": (16,), "n_components": 4, "lr": 1e-2}


def _blobs(n_samples=200, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % 2
    informative = 3.0 * y[:, None] + rng.normal(0, 0.3, size=(n_samples, 1))
    noise = rng.normal(0, 3.0, size=(n_samples, 5))
    return np.hstack([informative, noise]).astype(np.float32), y


def _pairs_from(y, n_pairs=400, seed=0):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(y), size=(n_pairs, 2))
    return pairs, y[pairs[:, 0]] == y[pairs[:, 1]]


def _separation(embedder, X, y):
    """5-NN accuracy on the last quarter of the rows, the rest as references."""
    Z = embedder.transform(X) if embedder is not None else X
    train = np.arange(len(X)) < 0.75 * len(X)
    return KNeighborsClassifier(5).fit(Z[train], y[train]).score(Z[~train], y[~train])


def test_raw_features_are_hard_for_knn():
    X, y = _blobs()
    assert _separation(None, X, y) == pytest.approx(0.86)


# -- explicit pairs


def test_fit_on_explicit_pairs_learns_and_transforms_single_rows():
    X, y = _blobs()
    pairs, similar = _pairs_from(y)
    embedder = ContrastiveEmbedder(random_state=0, **FAST)
    embedder.fit(X, pairs=pairs, similar=similar)
    assert embedder.net_.iterator_train is PairLoader
    assert _separation(embedder, X, y) > 0.95
    assert embedder.transform(X[:1]).shape == (1, 4)
    assert embedder.classes_.shape == (0,)
    assert embedder.n_iter_ == 10 and len(embedder.loss_curve_) == 10
    # Training pulled similar pairs together and pushed dissimilar ones apart.
    first, last = embedder.history_[0], embedder.history_[-1]
    assert (
        last["similar_distance"] / last["dissimilar_distance"]
        < 0.7 * first["similar_distance"] / first["dissimilar_distance"]
    )
    assert embedder.loss_curve_[-1] < 0.5 * embedder.loss_curve_[0]
    # 400 pairs at batch_size 256: two batches per epoch.
    assert embedder.history_[0]["train_batch_count"] == 2


def test_pairs_reproducible_clonable_and_picklable():
    X, y = _blobs()
    pairs, similar = _pairs_from(y)
    a = ContrastiveEmbedder(random_state=0, **FAST).fit(X, pairs=pairs, similar=similar)
    b = clone(a).fit(X, pairs=pairs, similar=similar)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.transform(X), a.transform(X))


def test_pairs_accept_lists_and_pandas():
    pd = pytest.importorskip("pandas")
    X, y = _blobs()
    pairs, similar = _pairs_from(y)
    embedder = ContrastiveEmbedder(random_state=0, **FAST)
    embedder.fit(
        pd.DataFrame(X),
        pairs=pd.DataFrame(pairs, columns=["a", "b"]),
        similar=similar.tolist(),
    )
    assert embedder.transform(X).shape == (len(X), 4)


@pytest.mark.parametrize(
    ("pairs", "similar", "error", "message"),
    [
        (
            [[0, 200]],
            [True],
            ValueError,
            "pairs refer to rows of X by position, 0 to 199; got 200 (1 pairs",
        ),
        ([[-1, 3]], [True], ValueError, "0 to 199; got -1"),
        ([[0, 1, 2]], [True], ValueError, "shape (n_pairs, 2); got shape (1, 3)"),
        ([[0.0, 1.0]], [True], ValueError, "got shape (1, 2) and dtype float64"),
        ([[0, 1], [2, 3]], [1, 0], TypeError, "similar must be boolean"),
        ([[0, 1], [2, 3]], [1, 0], TypeError, "got dtype int64 with values [0, 1]"),
        ([[0, 1], [2, 3]], [True], ValueError, "shape (2,); got shape (1,)"),
        ([[0, 2], [2, 4]], [True, True], ValueError, "no dissimilar one"),
        ([[0, 1], [2, 3]], [False, False], ValueError, "no similar one"),
        (np.empty((0, 2), dtype=int), np.empty(0, dtype=bool), ValueError, "empty"),
        (
            [[0, 1], [5, 5], [7, 7], [2, 3]],
            [True, False, False, False],
            ValueError,
            "paired with itself as dissimilar: (5, 5) (2 such pairs)",
        ),
        (
            [[0, 1], [2, 3], [3, 2], [4, 5], [4, 5], [6, 8], [6, 8]],
            [True, True, False, False, False, True, False],
            ValueError,
            "the pair (2, 3) both similar and dissimilar (4 pairs contradict another",
        ),
    ],
)
def test_bad_pairs_are_refused_with_a_clear_error(pairs, similar, error, message):
    X, _ = _blobs()
    with pytest.raises(error, match=re.escape(message)):
        ContrastiveEmbedder(**FAST).fit(
            X, pairs=np.asarray(pairs), similar=np.asarray(similar)
        )


def test_repeated_pairs_with_one_label_and_similar_self_pairs_are_accepted():
    X, y = _blobs()
    pairs = np.array([[0, 1], [1, 0], [0, 1], [4, 4], [0, 150], [150, 0]])
    similar = np.array([True, True, True, True, False, False])
    embedder = ContrastiveEmbedder(random_state=0, **FAST)
    assert embedder.fit(X, pairs=pairs, similar=similar).transform(X).shape[0] == 200


def test_pairs_need_both_arguments_and_no_labels():
    X, y = _blobs()
    pairs, similar = _pairs_from(y)
    embedder = ContrastiveEmbedder(**FAST)
    with pytest.raises(ValueError, match="similar is missing"):
        embedder.fit(X, pairs=pairs)
    with pytest.raises(ValueError, match="pairs is missing"):
        embedder.fit(X, similar=similar)
    with pytest.raises(ValueError, match="not both; got both"):
        embedder.fit(X, y, pairs=pairs, similar=similar)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"samples_per_class": 4}, "samples_per_class=4 shapes batches"),
        ({"pair_mining": "hard"}, "with explicit pairs every pair given counts"),
    ],
)
def test_label_options_are_refused_with_pairs(params, message):
    X, y = _blobs()
    pairs, similar = _pairs_from(y)
    with pytest.raises(ValueError, match=re.escape(message)):
        ContrastiveEmbedder(**FAST, **params).fit(X, pairs=pairs, similar=similar)


def _held_out_pairs(embedder, pairs, similar):
    """The validation pairs of an early-stopping fit, as ``fit`` chose them."""
    _, valid = pair_validation_split(
        pairs, similar, embedder.validation_fraction, embedder._split_seed
    )
    return pairs[valid], similar[valid]


def _pair_loss_and_roc_auc(embedder, X, pairs, similar):
    Z = embedder.transform(X)
    distances = np.linalg.norm(Z[pairs[:, 0]] - Z[pairs[:, 1]], axis=1)
    hinge = np.maximum(embedder.margin - distances, 0)
    similar_term = embedder.similar_weight * 0.5 * distances**2
    loss = np.mean(np.where(similar, similar_term, 0.5 * hinge**2))
    return loss, roc_auc_score(similar, -distances)


def test_early_stopping_on_pairs_holds_out_pairs_and_keeps_the_best_epoch():
    X, y = _blobs()
    pairs, similar = _pairs_from(y, n_pairs=600)
    # Repeats in the other order must stay on their pair's side of the split.
    pairs = np.vstack([pairs, pairs[:100, ::-1]])
    similar = np.concatenate([similar, similar[:100]])
    embedder = ContrastiveEmbedder(
        **{**FAST, "max_epochs": 80, "lr": 0.1},
        margin=2.0,
        similar_weight=0.5,
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
    )
    embedder.fit(X, pairs=pairs, similar=similar)
    # Stopped early; the held-out pairs' loss is the score (lower is better),
    # their ROC AUC is recorded too; no valid_loss (pairs are held out, not rows).
    assert embedder.n_iter_ < 80
    scores = embedder.validation_scores_
    assert scores == [epoch["valid_pair_loss"] for epoch in embedder.history_]
    assert all(0.5 < epoch["valid_pair_roc_auc"] <= 1 for epoch in embedder.history_)
    assert "valid_loss" not in embedder.history_[-1]
    assert min(scores) < scores[0]
    valid_pairs, valid_similar = _held_out_pairs(embedder, pairs, similar)
    # 10 % of the distinct pairs, stratified by similar, were held out ...
    _, first = np.unique(np.sort(pairs, axis=1), axis=0, return_index=True)
    _, valid_first = np.unique(np.sort(valid_pairs, axis=1), axis=0, return_index=True)
    assert len(valid_first) == np.ceil(0.1 * len(first))
    assert valid_similar[valid_first].mean() == pytest.approx(
        similar[first].mean(), abs=0.02
    )
    train, _ = pair_validation_split(
        pairs, similar, embedder.validation_fraction, embedder._split_seed
    )
    trained = pairs[train]  # the fitted net does not keep them
    assert len(trained) + len(valid_pairs) == len(pairs)
    # Repeats of a pair (in either order) stay on one side.
    as_set = lambda p: {tuple(sorted(pair)) for pair in p}  # noqa: E731
    assert not as_set(trained) & as_set(valid_pairs)
    # ... and the weights kept are those of the best epoch, whose scores are
    # what the returned model gives the held-out pairs.
    best = embedder.best_validation_score_
    assert best - embedder.tol <= min(scores) <= best
    (kept,) = [e for e in embedder.history_ if e["valid_pair_loss"] == best]
    loss, roc_auc = _pair_loss_and_roc_auc(embedder, X, valid_pairs, valid_similar)
    assert loss == pytest.approx(best, rel=1e-5)
    assert roc_auc == pytest.approx(kept["valid_pair_roc_auc"], abs=1e-6)
    assert kept["epoch"] < embedder.n_iter_
    # Reproducible, and the validation rows are not pickled with the model.
    again = clone(embedder).fit(X, pairs=pairs, similar=similar)
    np.testing.assert_array_equal(again.transform(X), embedder.transform(X))
    callback = dict(embedder.net_.callbacks_)["validation_pairs"]
    assert callback.X is None and callback.pairs is None


@pytest.mark.parametrize(
    ("similar_count", "validation_fraction", "message"),
    [
        (1, 0.1, "got 1 similar and 399 dissimilar distinct pairs. Add pairs"),
        (200, 0.001, "validation_fraction=0.001 of the distinct pairs (1 of 400)"),
        (3, 0.01, "got 3 similar and 397 dissimilar distinct pairs. Change"),
        (3, 0.9, "got 3 similar and 397 dissimilar distinct pairs. Change"),
    ],
)
def test_early_stopping_on_pairs_needs_both_kinds_on_both_sides(
    similar_count, validation_fraction, message
):
    X, _ = _blobs()
    # 400 distinct pairs of the 200 rows: (k, k + 1) and (k, k + 2).
    first = np.arange(400) % 200
    pairs = np.column_stack([first, (first + 1 + np.arange(400) // 200) % 200])
    similar = np.arange(400) < similar_count
    embedder = ContrastiveEmbedder(
        **FAST, early_stopping=True, validation_fraction=validation_fraction
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        embedder.fit(X, pairs=pairs, similar=similar)


# -- no labels


def test_fit_without_labels_learns_from_views():
    """Training brings two fresh views of a row closer, relative to views of
    other rows, than the same network untrained (lr ~ 0) puts them."""
    X, _ = _blobs()
    params = {**FAST, "max_epochs": 40, "hidden_layer_sizes": (32,)}
    params.update(n_components=8, corruption_rate=0.3, random_state=0)
    embedder = ContrastiveEmbedder(**params).fit(X)
    untrained = ContrastiveEmbedder(**{**params, "max_epochs": 1, "lr": 1e-6}).fit(X)
    assert embedder.net_.iterator_train is ViewLoader
    assert embedder.classes_.shape == (0,)

    def view_distance_ratio(estimator):
        a, b = (
            estimator.transform(scarf_corrupt(X, 0.3, random_state=seed))
            for seed in (1, 2)
        )
        same = np.linalg.norm(a - b, axis=1).mean()
        other = np.linalg.norm(a - np.roll(b, 1, axis=0), axis=1).mean()
        return same / other

    # Measured: 0.73 trained, 0.77 untrained (seeds 0-3: 0.70-0.73 vs 0.75-0.81).
    assert view_distance_ratio(embedder) < view_distance_ratio(untrained) - 0.02
    assert embedder.loss_curve_[-1] < embedder.loss_curve_[0]
    again = clone(embedder).fit(X)
    np.testing.assert_array_equal(again.transform(X), embedder.transform(X))
    assert ContrastiveEmbedder(random_state=0, **FAST).fit_transform(X).shape == (
        200,
        4,
    )


def test_partial_fit_without_labels():
    X, _ = _blobs()
    embedder = ContrastiveEmbedder(random_state=0, **FAST)
    embedder.partial_fit(X[:100]).partial_fit(X[100:])
    assert embedder.n_iter_ == 2


def test_partial_fit_without_labels_keeps_the_classes_seen():
    X, y = _blobs()
    embedder = ContrastiveEmbedder(random_state=0, **FAST)
    embedder.partial_fit(X[:100], y[:100]).partial_fit(X[100:])
    np.testing.assert_array_equal(embedder.classes_, [0, 1])
    assert embedder.net_.iterator_train is ViewLoader


def test_early_stopping_needs_labels():
    X, _ = _blobs()
    embedder = ContrastiveEmbedder(early_stopping=True, **FAST)
    with pytest.raises(ValueError, match="which training on no labels does not"):
        embedder.fit(X)
    # partial_fit ignores early stopping, with or without labels.
    assert embedder.partial_fit(X).n_iter_ == 1


# -- partial labels


def _partial(y, n_labelled=20, marker=-1):
    y_partial = np.asarray(y).astype(object if isinstance(marker, str) else int)
    y_partial[n_labelled:] = marker
    return y_partial


def test_unlabeled_rows_train_as_views_and_are_not_a_class():
    X, y = _blobs()
    embedder = ContrastiveEmbedder(unlabeled_label=-1, random_state=0, **FAST)
    embedder.fit(X, _partial(y))
    assert embedder.net_.iterator_train is ViewLoader
    np.testing.assert_array_equal(embedder.classes_, [0, 1])
    # 20 labels were enough to find the informative feature.
    assert _separation(embedder, X, y) > 0.9


def test_minus_one_is_a_class_unless_unlabeled_label_says_otherwise():
    X, y = _blobs()
    signed = np.where(y == 1, 1, -1)  # binary labels {-1, 1}
    embedder = ContrastiveEmbedder(random_state=0, **FAST).fit(X, signed)
    assert embedder.net_.iterator_train is ClassBalancedLoader
    np.testing.assert_array_equal(embedder.classes_, [-1, 1])


def test_unlabeled_label_may_be_a_string():
    X, y = _blobs()
    labels = np.array(["a", "b"], dtype=object)[y]
    labels[20:] = "?"
    embedder = ContrastiveEmbedder(unlabeled_label="?", random_state=0, **FAST)
    embedder.fit(X, labels)
    np.testing.assert_array_equal(embedder.classes_, ["a", "b"])


@pytest.mark.parametrize(
    ("labels", "marker", "message"),
    [
        (np.array(["0", "1"] * 100), -1, "unlabeled_label=-1 can never match y of"),
        (np.arange(200) % 2, "u", "unlabeled_label='u' can never match y of"),
    ],
)
def test_unlabeled_label_of_another_type_than_y_is_refused(labels, marker, message):
    X, _ = _blobs()
    with pytest.raises(ValueError, match=re.escape(message)):
        ContrastiveEmbedder(unlabeled_label=marker, **FAST).fit(X, labels)


def test_labelled_rows_need_two_classes():
    X, y = _blobs()
    y_partial = _partial(y)
    y_partial[:20] = 0
    with pytest.raises(
        ValueError, match=re.escape("got 1 class (0) among the labelled rows")
    ):
        ContrastiveEmbedder(unlabeled_label=-1, **FAST).fit(X, y_partial)


def test_samples_per_class_must_fit_the_labelled_half_of_a_batch():
    X, y = _blobs()
    y_partial = _partial(y)
    # 64 rows a batch, 32 of them labelled: at most 16 rows per class.
    params = {**FAST, "batch_size": 64, "unlabeled_label": -1}
    with pytest.raises(
        ValueError,
        match=re.escape("samples_per_class=20 is too large with unlabelled rows"),
    ):
        ContrastiveEmbedder(samples_per_class=20, **params).fit(X, y_partial)
    embedder = ContrastiveEmbedder(samples_per_class=16, random_state=0, **params)
    embedder.fit(X, y_partial)
    assert embedder.net_.iterator_train is ViewLoader
    # All rows labelled: the whole batch is the labelled half's limit.
    ContrastiveEmbedder(samples_per_class=20, **params).fit(X, y)


def test_all_rows_unlabelled_is_training_without_labels():
    X, y = _blobs()
    embedder = ContrastiveEmbedder(unlabeled_label=-1, random_state=0, **FAST)
    embedder.fit(X, np.full(len(y), -1))
    assert embedder.classes_.shape == (0,)
    np.testing.assert_array_equal(
        embedder.transform(X),
        ContrastiveEmbedder(random_state=0, **FAST).fit(X).transform(X),
    )


def test_early_stopping_validates_on_labelled_rows_only():
    X, y = _blobs(n_samples=200)
    embedder = ContrastiveEmbedder(
        unlabeled_label=-1,
        early_stopping=True,
        validation_fraction=0.25,
        random_state=0,
        **FAST,
    )
    embedder.fit(X, _partial(y, n_labelled=40))
    # 25 % of the 40 labelled rows are held out: the validation retrieval
    # scores exist, and every unlabelled row stayed in training.
    assert all(np.isfinite(embedder.validation_scores_))
    assert embedder.net_.iterator_train is ViewLoader


def test_score_leaves_unlabelled_rows_out():
    X, y = _blobs()
    y_partial = _partial(y, n_labelled=60)
    embedder = ContrastiveEmbedder(unlabeled_label=-1, random_state=0, **FAST)
    embedder.fit(X, y_partial)
    assert embedder.score(X, y_partial) == embedder.score(X[:60], y[:60])


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"corruption_rate": 1.0}, ValueError, "corruption_rate == 1.0, must be < 1"),
        (
            {"corruption_rate": -0.1},
            ValueError,
            "corruption_rate == -0.1, must be >= 0",
        ),
        ({"corruption_rate": "0.5"}, TypeError, "corruption_rate must be an instance"),
        ({"corruption_rate": float("nan")}, ValueError, "corruption_rate must be a"),
        ({"unlabeled_label": 1.5}, TypeError, "unlabeled_label must be None, an int"),
    ],
)
def test_new_parameters_are_validated(params, error, message):
    X, y = _blobs()
    with pytest.raises(error, match=re.escape(message)):
        ContrastiveEmbedder(**FAST, **params).fit(X, y)
