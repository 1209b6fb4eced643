"""Pair verification: threshold calibration, the pair-label convention, and
PairVerifier as a scikit-learn classifier over side-by-side pairs."""

import pickle
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._data import PairLoader
from sklearn_contrastive.verification import (
    PairVerifier,
    _items_and_pairs,
    calibrate_threshold,
)

# -- calibrate_threshold against a brute-force search


def _brute_force(distances, same, strategy, beta=1.0, far=0.01):
    best, best_t = -np.inf, None
    values = np.unique(distances)
    candidates = [values[0] - 1.0, *((values[:-1] + values[1:]) / 2), values[-1]]
    for t in candidates:
        called = distances <= t
        tp, fp = (called & same).sum(), (called & ~same).sum()
        if strategy == "accuracy":
            score = (called == same).mean()
        elif strategy == "f_beta":
            precision = tp / called.sum() if called.sum() else 0.0
            recall = tp / same.sum()
            b2 = beta**2
            denominator = b2 * precision + recall
            score = (1 + b2) * precision * recall / denominator if denominator else 0
        else:
            score = t if fp / (~same).sum() <= far else -np.inf
        if score > best:
            best, best_t = score, t
    return best_t


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "strategy, kwargs",
    [
        ("accuracy", {}),
        ("f_beta", {"beta": 1.0}),
        ("f_beta", {"beta": 0.5}),
        ("far", {"far": 0.1}),
        ("far", {"far": 0.0}),
    ],
)
def test_calibrate_threshold_matches_a_brute_force_search(seed, strategy, kwargs):
    rng = np.random.default_rng(seed)
    same = rng.random(60) < 0.4
    # Rounded: ties between distances are common.
    distances = np.round(
        np.where(same, rng.normal(0.5, 0.3, 60), rng.normal(1.2, 0.3, 60)), 1
    )
    got = calibrate_threshold(distances, same, strategy=strategy, **kwargs)
    assert got == pytest.approx(_brute_force(distances, same, strategy, **kwargs))


def test_far_threshold_respects_the_rate():
    rng = np.random.default_rng(0)
    same = rng.random(500) < 0.5
    distances = np.where(same, rng.normal(0.5, 0.3, 500), rng.normal(1.2, 0.3, 500))
    t = calibrate_threshold(distances, same, strategy="far", far=0.05)
    assert ((distances <= t) & ~same).sum() / (~same).sum() <= 0.05


def test_calibrate_threshold_refuses_an_unknown_strategy():
    with pytest.raises(ValueError, match="strategy must be one of"):
        calibrate_threshold([0.1, 0.2], [True, False], strategy="auc")


# -- PairVerifier


@pytest.fixture
def verifier_params(fast_params):
    """fast_params trained for 20 epochs, on one torch thread."""
    return {**fast_params, "max_epochs": 20, "n_threads": 1}


@pytest.fixture
def pairs(iris):
    X, y = iris
    rng = np.random.default_rng(0)
    # Dense enough that the same pairs link each class into one component.
    left, right = rng.integers(0, 150, size=(2, 1200))
    return X, y, np.hstack([X[left], X[right]]), y[left] == y[right]


def test_verifier_learns_to_verify_pairs(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    labels = np.where(same, "same", "different")
    verifier = PairVerifier(ContrastiveEmbedder(**verifier_params, random_state=0))
    verifier.fit(X_pairs[:900], labels[:900])
    assert list(verifier.classes_) == ["different", "same"]
    assert verifier.score(X_pairs[900:], labels[900:]) > 0.85
    scores = verifier.decision_function(X_pairs[900:])
    assert roc_auc_score(labels[900:] == "same", scores) > 0.9
    # predict is the decision function's sign, and distances agree.
    np.testing.assert_array_equal(
        verifier.predict(X_pairs[900:]) == "same", scores >= 0
    )
    distances = verifier.pair_distances(X_pairs[900:])
    embed = verifier.embedder_.transform
    expected = np.linalg.norm(
        embed(X_pairs[900:, :4]) - embed(X_pairs[900:, 4:]), axis=1
    )
    np.testing.assert_allclose(distances, expected, atol=1e-5)


def test_a_contrastive_embedder_trains_on_the_pairs_themselves(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    verifier = PairVerifier(ContrastiveEmbedder(**verifier_params, random_state=0))
    verifier.fit(X_pairs, np.where(same, "same", "different"))
    assert verifier.embedder_.net_.iterator_train is PairLoader
    assert verifier.embedder_.classes_.shape == (0,)


def test_an_embedder_with_early_stopping_trains_on_the_pairs(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    embedder = ContrastiveEmbedder(
        **verifier_params, early_stopping=True, random_state=0
    )
    verifier = PairVerifier(embedder).fit(X_pairs, np.where(same, "same", "different"))
    assert verifier.embedder_.net_.iterator_train is PairLoader
    assert len(verifier.embedder_.validation_scores_) == verifier.embedder_.n_iter_


@pytest.mark.parametrize("params", [{"pair_mining": "hard"}, {"samples_per_class": 4}])
def test_label_only_options_train_on_classes_from_the_pairs(
    pairs, verifier_params, params
):
    X, y, X_pairs, same = pairs
    verifier = PairVerifier(
        ContrastiveEmbedder(**verifier_params, **params, random_state=0)
    )
    verifier.fit(X_pairs, np.where(same, "same", "different"))
    assert len(verifier.embedder_.classes_) == 3


def test_items_of_same_pairs_form_the_training_classes(pairs, verifier_params):
    """An embedder whose fit takes no pairs (here a pipeline) is trained on
    classes: three iris classes linked by same pairs give 3 classes."""
    X, y, X_pairs, same = pairs
    embedder = make_pipeline(StandardScaler(), ContrastiveEmbedder(**verifier_params))
    verifier = PairVerifier(embedder)
    verifier.fit(X_pairs, np.where(same, "same", "different"))
    assert len(verifier.embedder_[-1].classes_) == 3


@pytest.mark.parametrize("similar_label, different_label", [(1, 0), (0, 1)])
def test_numeric_labels_need_similar_label(
    pairs, verifier_params, similar_label, different_label
):
    X, y, X_pairs, same = pairs
    labels = np.where(same, similar_label, different_label)
    with pytest.raises(ValueError, match=re.escape("Pair labels are ambiguous")):
        PairVerifier(ContrastiveEmbedder(**verifier_params)).fit(X_pairs, labels)
    verifier = PairVerifier(
        ContrastiveEmbedder(**verifier_params, random_state=0),
        similar_label=similar_label,
    ).fit(X_pairs, labels)
    assert set(verifier.predict(X_pairs)) <= {0, 1}
    # decision_function scores classes_[1], whichever label that is.
    auc = roc_auc_score(labels, verifier.decision_function(X_pairs))
    assert auc > 0.9


def test_a_frozen_embedder_is_used_as_it_is(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    embedder = ContrastiveEmbedder(**verifier_params, random_state=0).fit(X, y)
    before = embedder.transform(X)
    verifier = PairVerifier(FrozenEstimator(embedder)).fit(
        X_pairs, np.where(same, "same", "different")
    )
    np.testing.assert_array_equal(embedder.transform(X), before)
    np.testing.assert_array_equal(verifier.embedder_.transform(X), before)


def test_verifier_in_pipeline_cross_val_and_grid_search(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    labels = np.where(same, "same", "different")
    pipe = make_pipeline(
        StandardScaler(),
        PairVerifier(ContrastiveEmbedder(**verifier_params, random_state=0)),
    )
    scores = cross_val_score(pipe, X_pairs, labels, cv=3, scoring="roc_auc")
    assert (scores > 0.8).all()
    search = GridSearchCV(
        PairVerifier(ContrastiveEmbedder(**verifier_params, random_state=0)),
        {"embedder__margin": [0.5, 1.0], "threshold": ["accuracy", "f_beta"]},
        cv=2,
    ).fit(X_pairs, labels)
    assert search.best_score_ > 0.8
    assert clone(search.best_estimator_).get_params()["embedder__margin"] in (0.5, 1.0)


def test_verifier_pickles(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    labels = np.where(same, "same", "different")
    verifier = PairVerifier(ContrastiveEmbedder(**verifier_params, random_state=0)).fit(
        X_pairs, labels
    )
    loaded = pickle.loads(pickle.dumps(verifier))
    np.testing.assert_array_equal(
        loaded.decision_function(X_pairs), verifier.decision_function(X_pairs)
    )


def test_fixed_threshold(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    labels = np.where(same, "same", "different")
    verifier = PairVerifier(
        ContrastiveEmbedder(**verifier_params, random_state=0), threshold=0.25
    ).fit(X_pairs, labels)
    assert verifier.threshold_ == 0.25


@pytest.mark.parametrize(
    "X_change, y_change, params, error, match",
    [
        (lambda X: X[:, :7], None, {}, ValueError, "even number of columns; got 7"),
        (None, lambda y: np.where(y, "yes", "no"), {}, ValueError, "ambiguous"),
        (
            None,
            lambda y: np.where(y, 1, 0),
            {"similar_label": 2},
            ValueError,
            re.escape("one of them similar_label=2; got [0, 1]"),
        ),
        (
            None,
            lambda y: np.full(len(y), "same"),
            {},
            ValueError,
            "needs pairs of both classes, same and different",
        ),
        (None, None, {"threshold": "auc"}, ValueError, "threshold must be one of"),
        (None, None, {"threshold": True}, TypeError, "threshold must be one of"),
        (None, None, {"beta": 0}, ValueError, "beta == 0, must be > 0"),
        (None, None, {"far": 1.5}, ValueError, "far == 1.5, must be <= 1"),
    ],
)
def test_bad_input_is_refused(
    pairs, verifier_params, X_change, y_change, params, error, match
):
    X, y, X_pairs, same = pairs
    X_pairs = X_change(X_pairs) if X_change else X_pairs
    labels = y_change(same) if y_change else np.where(same, "same", "different")
    with pytest.raises(error, match=match):
        PairVerifier(ContrastiveEmbedder(**verifier_params), **params).fit(
            X_pairs, labels
        )


def test_contradicting_pairs_are_refused(verifier_params):
    X = np.array([[0.0, 1.0], [1.0, 2.0], [0.0, 2.0]])
    # a~b and b~c are same, but a, c different: contradiction.
    X_pairs = np.array([[*X[0], *X[1]], [*X[1], *X[2]], [*X[0], *X[2]]])
    embedder = make_pipeline(StandardScaler(), ContrastiveEmbedder(**verifier_params))
    with pytest.raises(ValueError, match="Pair 2 is labelled different"):
        PairVerifier(embedder).fit(X_pairs, ["same", "same", "different"])


def test_noisy_pairs_train_a_contrastive_embedder_on_the_consistent_ones(
    pairs, verifier_params
):
    X, y, X_pairs, same = pairs
    # Label noise a classifier must accept: an item paired with itself as
    # different, and one pair given again with the other label.
    X_noisy = np.vstack([X_pairs, np.hstack([X[0], X[0]]), X_pairs[:1]])
    same_noisy = np.concatenate([same, [False], ~same[:1]])
    labels = np.where(same_noisy, "same", "different")
    verifier = PairVerifier(ContrastiveEmbedder(**verifier_params, random_state=0))
    verifier.fit(X_noisy, labels)
    assert verifier.score(X_pairs, np.where(same, "same", "different")) > 0.85
    # ContrastiveEmbedder itself refuses such pairs when given directly.
    with pytest.raises(ValueError, match="both similar and dissimilar"):
        ContrastiveEmbedder(**verifier_params).fit(
            X, pairs=np.array([[0, 1], [1, 0], [2, 3]]), similar=[True, False, True]
        )


# -- weighted pairs (sample_weight) --------------------------------------------


@pytest.mark.parametrize("strategy", ["accuracy", "f_beta", "far"])
def test_an_integer_weight_counts_a_pair_that_many_times(strategy):
    rng = np.random.default_rng(0)
    distances = rng.uniform(0, 2, 60)
    same = rng.random(60) < distances / 2  # overlapping classes
    counts = rng.integers(0, 4, 60)
    weighted = calibrate_threshold(
        distances, same, strategy=strategy, far=0.1, sample_weight=counts
    )
    repeated = calibrate_threshold(
        distances.repeat(counts), same.repeat(counts), strategy=strategy, far=0.1
    )
    # The same choice among the candidates both see (zero-weight pairs add
    # candidates between distances, not choices).
    kept = counts > 0
    assert np.searchsorted(np.sort(distances[kept]), weighted, side="right") == (
        np.searchsorted(np.sort(distances[kept]), repeated, side="right")
    )


def test_uniform_weights_calibrate_the_unweighted_threshold():
    rng = np.random.default_rng(1)
    distances, same = rng.uniform(0, 2, 50), rng.random(50) < 0.5
    for strategy in ("accuracy", "f_beta", "far"):
        assert calibrate_threshold(
            distances, same, strategy=strategy, sample_weight=np.full(50, 3.0)
        ) == calibrate_threshold(distances, same, strategy=strategy)


def test_pair_weights_go_to_the_embedder_and_the_threshold(pairs, verifier_params):
    """The verifier's embedder is the embedder fitted on the pairs with these
    weights as pair_weight, and its threshold the weighted calibration."""
    X, y, X_pairs, same = pairs
    weights = np.random.default_rng(0).uniform(0.1, 1.0, len(same))
    embedder = ContrastiveEmbedder(**verifier_params, random_state=0)
    verifier = PairVerifier(embedder).fit(
        X_pairs, np.where(same, "same", "different"), sample_weight=weights
    )
    plain = PairVerifier(embedder).fit(X_pairs, np.where(same, "same", "different"))
    assert not np.array_equal(
        verifier.embedder_.transform(X), plain.embedder_.transform(X)
    )
    items, item_pairs = _items_and_pairs(X_pairs[:, :4], X_pairs[:, 4:])
    direct = clone(embedder).fit(
        items, pairs=item_pairs, similar=same, pair_weight=weights
    )
    np.testing.assert_array_equal(verifier.embedder_.transform(X), direct.transform(X))
    expected = calibrate_threshold(
        verifier.pair_distances(X_pairs), same, sample_weight=weights
    )
    assert verifier.threshold_ == pytest.approx(expected)


def test_weights_that_leave_one_kind_of_pair_are_refused(pairs, verifier_params):
    X, y, X_pairs, same = pairs
    verifier = PairVerifier(ContrastiveEmbedder(**verifier_params))
    with pytest.raises(ValueError, match="only same pairs of positive sample_weight"):
        verifier.fit(
            X_pairs, np.where(same, "same", "different"), sample_weight=same * 1.0
        )
