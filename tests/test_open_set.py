"""Model selection for open-set use: the recipe of the user guide's page "New
classes at test time".

``GridSearchCV`` with ``GroupKFold`` and ``groups=y`` puts every class in one
test fold only, so each candidate is scored by retrieval among classes its
training fold never had; ``make_retrieval_scorer()`` (MAP@R) scores it with no
downstream model. The data are 12 well separated blobs of 15 rows, small
enough that the whole search runs in a few seconds.
"""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.metrics import make_retrieval_scorer


@pytest.fixture
def classes():
    """12 classes of 15 rows, 6 features."""
    return make_blobs(n_samples=180, centers=12, n_features=6, random_state=0)


def test_group_k_fold_by_class_tests_on_unseen_classes(classes):
    X, y = classes
    for train, test in GroupKFold(n_splits=3).split(X, y, groups=y):
        assert set(y[train]).isdisjoint(y[test])
        # Retrieval among the test rows needs two classes there.
        assert len(set(y[test])) >= 2


def test_grid_search_picks_a_margin_on_unseen_classes(classes, fast_params):
    X, y = classes
    pipeline = make_pipeline(
        StandardScaler(), ContrastiveEmbedder(**fast_params, random_state=0)
    )
    search = GridSearchCV(
        pipeline,
        param_grid={"contrastiveembedder__margin": [0.5, 1.0]},
        cv=GroupKFold(n_splits=3),
        scoring=make_retrieval_scorer(),
    )
    search.fit(X, y, groups=y)
    assert search.best_params_["contrastiveembedder__margin"] in (0.5, 1.0)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and ((0 <= scores) & (scores <= 1)).all()
    assert search.best_score_ == scores.max()
    # Refitted on every class, the best pipeline embeds all rows.
    assert search.best_estimator_[-1].classes_.tolist() == list(range(12))
    assert search.transform(X).shape == (len(X), fast_params["n_components"])


def test_each_candidate_trains_without_its_test_classes(classes, fast_params):
    """The fold estimators themselves: each one's classes_ and the classes it
    was scored on are disjoint, and its score is retrieval among the latter."""
    X, y = classes
    scorer = make_retrieval_scorer()
    results = cross_validate(
        ContrastiveEmbedder(**fast_params, random_state=0),
        X,
        y,
        groups=y,
        cv=GroupKFold(n_splits=3),
        scoring=scorer,
        return_estimator=True,
        return_indices=True,
    )
    folds = zip(
        results["estimator"],
        results["indices"]["test"],
        results["test_score"],
        strict=True,
    )
    for estimator, test, score in folds:
        assert set(estimator.classes_).isdisjoint(y[test])
        assert score == scorer(estimator, X[test], y[test])
        # The embedder's own score is the same MAP@R.
        assert score == pytest.approx(estimator.score(X[test], y[test]))


def test_early_stopping_on_held_out_classes_inside_the_search(classes, fast_params):
    """validation_split="classes" inside each fold: the fold's training
    classes are split again, whole classes held out for early stopping."""
    X, y = classes
    search = GridSearchCV(
        ContrastiveEmbedder(
            **fast_params,
            early_stopping=True,
            validation_split="classes",
            validation_fraction=0.25,
            random_state=0,
        ),
        param_grid={"margin": [0.5, 1.0]},
        cv=GroupKFold(n_splits=3),
        scoring=make_retrieval_scorer(),
    )
    search.fit(X, y, groups=y)
    assert search.best_params_["margin"] in (0.5, 1.0)
    assert search.best_estimator_.best_validation_score_ is not None
