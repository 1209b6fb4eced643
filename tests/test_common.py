"""scikit-learn's own estimator checks, over every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_contrastive import ContrastiveEmbedder


def _estimators():
    # Small settings: the checks fit dozens of times on tiny data.
    yield ContrastiveEmbedder(
        n_components=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0
    )
    # The other training paths: hard-pair mining and a held-out split.
    yield ContrastiveEmbedder(
        n_components=4,
        hidden_layer_sizes=(16,),
        max_epochs=3,
        pair_mining="hard",
        early_stopping=True,
        validation_fraction=0.3,
        random_state=0,
    )


@parametrize_with_checks(list(_estimators()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
