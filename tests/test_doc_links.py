"""The HTML repr of each estimator links to its API page (the "?" icon)."""

import re
from pathlib import Path

import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_html_repr

from sklearn_contrastive import ContrastiveEmbedder, PairVerifier, __version__
from sklearn_contrastive._doc_links import DOCS_URL, docs_version

API = Path(__file__).parents[1] / "docs" / "api.rst"


@pytest.mark.parametrize(
    "estimator", [ContrastiveEmbedder(), PairVerifier(ContrastiveEmbedder())]
)
def test_the_html_repr_links_to_the_api_page(estimator):
    name = type(estimator).__name__
    link = (
        DOCS_URL.format(version=docs_version(__version__))
        + f"generated/sklearn_contrastive.{name}.html"
    )
    assert estimator._get_doc_link() == link
    assert f'href="{link}"' in estimator_html_repr(
        make_pipeline(StandardScaler(), estimator)
    )
    # docs/api.rst generates that page: the name in the autosummary of the
    # top-level module (the docs build checks the file exists).
    top_level = API.read_text().split(".. module:: sklearn_contrastive\n")[1]
    assert re.search(rf"^   {name}$", top_level.split(".. module::")[0], re.M)


@pytest.mark.parametrize(
    "version, docs",
    [("0.1.0.dev0", "latest"), ("0.2.0", "stable"), ("1.0.1", "stable")],
)
def test_a_release_links_to_the_stable_docs(version, docs):
    assert docs_version(version) == docs
