"""Property-based tests of fit and transform over random small problems.

Whatever the data (labels, explicit pairs or none), the parameters and the
seed, ``fit`` either raises one of the documented error types (``ValueError``
or ``TypeError``, whose messages name the parameter; see the user guide's
"Errors and what to do") or returns a model whose ``transform`` gives finite
float32 embeddings of shape ``(n_samples, n_components)``. A few dozen
examples run by default; the slow suite runs a few hundred.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_contrastive import ContrastiveEmbedder

#: The exceptions a fit may raise on bad input: the documented ones.
DOCUMENTED_ERRORS = (ValueError, TypeError)

DEFAULT_EXAMPLES = 30
SLOW_EXAMPLES = 300


@st.composite
def problems(draw):
    """``(X, fit_kwargs)``: data of 2-40 rows, and labels, pairs or nothing."""
    n_samples = draw(st.integers(2, 40))
    n_features = draw(st.integers(1, 6))
    X = draw(
        arrays(
            np.float64,
            (n_samples, n_features),
            elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
        )
    )
    kind = draw(st.sampled_from(["labels", "partial labels", "pairs", "none"]))
    if kind in ("labels", "partial labels"):
        # Classes in turn, then shuffled: mostly several classes (a single
        # one, refused, now and then).
        n_classes = draw(st.sampled_from([2, 3, 4, 5, 1]))
        order = draw(st.permutations(range(n_samples)))
        y = (np.asarray(order) % n_classes).astype(np.int64)
        if kind == "partial labels":
            n_unlabelled = draw(st.integers(1, max(1, n_samples // 2)))
            y[np.asarray(order)[:n_unlabelled]] = -1
        return X, {"y": y}
    if kind == "pairs":
        n_pairs = draw(st.integers(1, 30))
        pairs = draw(
            arrays(np.int64, (n_pairs, 2), elements=st.integers(0, n_samples - 1))
        )
        similar = draw(arrays(np.bool_, n_pairs))
        if draw(st.booleans()):
            # A usable set mostly: both kinds, no row paired with itself.
            similar[0], similar[-1] = True, False
            same = pairs[:, 0] == pairs[:, 1]
            pairs[same, 1] = (pairs[same, 0] + 1) % n_samples
        return X, {"pairs": pairs, "similar": similar}
    return X, {}


@st.composite
def parameters(draw):
    """Settings of ContrastiveEmbedder, sane ranges, small networks."""
    return {
        "n_components": draw(st.integers(1, 4)),
        "hidden_layer_sizes": draw(st.lists(st.integers(1, 8), max_size=2).map(tuple)),
        "projection_head": draw(st.sampled_from([None, (), (4,)])),
        "margin": draw(st.floats(0.05, 3.0)),
        "normalize": draw(st.booleans()),
        "similar_weight": draw(st.floats(0.0, 2.0)),
        "dropout": draw(st.floats(0.0, 0.6)),
        "pair_mining": draw(st.sampled_from(["all", "hard"])),
        "samples_per_class": draw(st.sampled_from([None, None, None, 2, 3])),
        "max_epochs": draw(st.integers(1, 3)),
        "batch_size": draw(st.integers(4, 32)),
        "lr": draw(st.floats(1e-4, 1e-1)),
        "early_stopping": draw(st.sampled_from([False, False, True])),
        "validation_split": draw(st.sampled_from(["stratified", "classes"])),
        "random_state": draw(st.integers(0, 2**16)),
        "n_threads": 1,
    }


def _check_fit_and_transform(problem, params):
    X, fit_kwargs = problem
    if "y" in fit_kwargs and (fit_kwargs["y"] == -1).any():
        params = {**params, "unlabeled_label": -1}
    est = ContrastiveEmbedder(**params)
    with warnings.catch_warnings():
        # Degenerate random problems are warned about; warnings are allowed.
        warnings.simplefilter("ignore")
        try:
            est.fit(X, **fit_kwargs)
        except DOCUMENTED_ERRORS as error:
            # A documented error says what is wrong, in a sentence.
            assert len(str(error)) > 20, repr(error)
            return
        Z = est.transform(X)
    assert Z.dtype == np.float32
    assert Z.shape == (len(X), params["n_components"])
    assert np.isfinite(Z).all()


_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=DEFAULT_EXAMPLES, **_SETTINGS)
@given(problem=problems(), params=parameters())
def test_fit_raises_documented_errors_or_embeds_finitely(problem, params):
    _check_fit_and_transform(problem, params)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **_SETTINGS)
@given(problem=problems(), params=parameters())
def test_fit_raises_documented_errors_or_embeds_finitely_many(problem, params):
    _check_fit_and_transform(problem, params)
